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

# Anything still missing comes from CRAN.
DEPS_WHAT=$what Rscript -e '
need <- c("cli", "rlang", "testthat", "withr", "roxygen2", "pkgbuild", "future", "future.apply",
          "progressr", "glmnet", "Matrix", "knitr", "rmarkdown", "ECOSolveR")
if (Sys.getenv("DEPS_WHAT") %in% c("test", "check"))
  need <- c(need, "shiny", "callr", "chromote", "learnr", # issue 22; Debian lacks the last two
            "generics", "MASS") # the tidiers and the formula tests (issue 19)
# Two passes: on a fresh machine a package can fail to lazy-load against an older
# Debian copy of a dependency that the same pass upgrades from CRAN (learnr against
# xfun did); the second pass then succeeds.
for (pass in 1:2) {
  miss <- need[!vapply(need, requireNamespace, logical(1), quietly = TRUE)]
  if (!length(miss)) break
  message("deps: installing from CRAN: ", paste(miss, collapse = ", "))
  install.packages(miss, repos = "https://cloud.r-project.org")
}
miss <- need[!vapply(need, requireNamespace, logical(1), quietly = TRUE)]
if (length(miss)) stop("deps: could not install ", paste(miss, collapse = ", "))'
