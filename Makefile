# advtrain: the two commands of the README, and the checks CI runs.
R ?= R
RSCRIPT ?= Rscript
PKG := advtrain
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)

.PHONY: demo test deps-demo deps-test install document check strict-build clean \
	check-asan valgrind check-gctorture site check-readme

demo: deps-demo install
	$(RSCRIPT) inst/scripts/demo.R

test: deps-test install
	$(RSCRIPT) tools/run-tests.R

# Runs README.md's R chunks with the installed package and fails when a printed output
# shown in the README differs from what the code prints (conventions in the script).
check-readme: deps-test install
	$(RSCRIPT) tools/check-readme.R README.md

deps-demo:
	@bash tools/deps.sh demo

deps-test:
	@bash tools/deps.sh test

install:
	@$(R) CMD INSTALL --preclean --no-multiarch . > .install.log 2>&1 || (cat .install.log; exit 1)
	@rm -f src/*.o src/*.so
	@echo "installed $(PKG) $(VERSION)"

document:
	$(RSCRIPT) -e 'roxygen2::roxygenise()'
	@rm -f src/*.o src/*.so

# R CMD check --as-cran on the built tarball; fails on any ERROR, WARNING or NOTE other
# than the new-submission one.
check: deps-test
	@bash tools/deps.sh check
	@bash tools/check.sh

# Compiles the C code with -Wall -Wextra -pedantic and fails on any warning; then
# builds without OpenMP into a temporary library to show that works too.
strict-build:
	@bash tools/strict-build.sh

# The whole test suite with AddressSanitizer + UBSan (FILTER=regex for a subset).
check-asan: deps-test
	@bash tools/check-asan.sh "$(FILTER)"

# The test suite under valgrind memcheck (slow; FILTER=regex for a subset).
valgrind: deps-test install
	@bash tools/valgrind.sh "$(FILTER)"

# Every .Call entry point under gctorture(TRUE), to catch PROTECT mistakes.
check-gctorture: deps-test install
	ADVTRAIN_GCTORTURE=true $(RSCRIPT) tools/run-tests.R entrypoints

# The pkgdown site (Debian's r-cran-pkgdown) in docs/.
site: deps-test install
	@dpkg-query -W -f='$${Status}' r-cran-pkgdown 2>/dev/null | grep -q "install ok installed" || \
	  (apt-get install -y -qq r-cran-pkgdown >/dev/null || $(RSCRIPT) -e 'install.packages("pkgdown", repos = "https://cloud.r-project.org")')
	$(RSCRIPT) -e 'pkgdown::build_site(preview = FALSE, new_process = FALSE)'

clean:
	rm -rf src/*.o src/*.so $(PKG)_*.tar.gz $(PKG).Rcheck check .install.log
