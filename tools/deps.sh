#!/usr/bin/env bash
# Installs what advtrain needs on a Debian machine with R from Debian, as root.
# Debian's prebuilt r-cran-* packages first; CRAN for anything Debian lacks.
# Idempotent: packages already present are not touched, so a second run is quick.
# Usage: tools/deps.sh [demo|test|check]
set -euo pipefail
what=${1:-test}

debs="r-base-dev r-cran-cli r-cran-rlang r-cran-testthat r-cran-withr r-cran-roxygen2 r-cran-pkgbuild"
debs="$debs r-cran-future r-cran-future.apply r-cran-progressr r-cran-glmnet r-cran-matrix r-cran-ecosolver"
debs="$debs r-cran-knitr r-cran-rmarkdown pandoc qpdf"
case "$what" in
  demo) debs="$debs dataset-fashion-mnist" ;;
  check) debs="$debs tidy" ;;
esac
# the teaching app and its browser test, the tutorials (issue 22)
case "$what" in
  test|check) debs="$debs r-cran-shiny r-cran-callr r-cran-curl chromium r-cran-generics r-cran-mass" ;;
esac

missing=""
for p in $debs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing (run as root to install)" >&2
  else
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || true
  fi
fi

# Anything still missing comes from CRAN. Each pass checks in a fresh R process what
# does not load, then installs it: a package installed from CRAN can pull in a newer
# dependency that breaks an older Debian package already present (CRAN's xfun 0.62,
# brought in by learnr, no longer exports what Debian's knitr 1.42 imports), and only a
# fresh process sees that; the next pass then upgrades the broken one from CRAN. A
# check inside the installing process would still see the copies it had loaded.
export DEPS_WHAT=$what
for pass in 1 2 3 4; do
  miss=$(Rscript -e '
need <- c("cli", "rlang", "testthat", "withr", "roxygen2", "pkgbuild", "future", "future.apply",
          "progressr", "glmnet", "Matrix", "knitr", "rmarkdown", "ECOSolveR")
if (Sys.getenv("DEPS_WHAT") %in% c("test", "check"))
  need <- c(need, "shiny", "callr", "chromote", "learnr", # issue 22; Debian lacks the last two
            "generics", "MASS") # the tidiers and the formula tests (issue 19)
# one process per package: a failed load leaves nothing behind for the next check
ok <- vapply(need, function(p) {
  r <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"),
                                c("-e", shQuote(sprintf("quit(status = !requireNamespace(\"%s\", quietly = TRUE))", p))),
                                stdout = FALSE, stderr = FALSE))
  identical(as.integer(r), 0L)
}, logical(1))
cat(need[!ok])')
  [ -z "$miss" ] && break
  if [ "$pass" = 4 ]; then
    echo "deps: could not install:$miss" >&2
    exit 1
  fi
  echo "deps: installing from CRAN: $miss"
  DEPS_MISS="$miss" Rscript -e 'install.packages(strsplit(Sys.getenv("DEPS_MISS"), " ")[[1]],
                                  repos = "https://cloud.r-project.org")' || true
done
