#!/usr/bin/env bash
# 1. Compile with -Wall -Wextra -pedantic and fail on any warning from our sources.
# 2. Install without OpenMP (SHLIB_OPENMP_CFLAGS empty) into a temporary library and
#    run a short smoke test, to show a compiler without OpenMP still builds it.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'CFLAGS = -O2 -Wall -Wextra -pedantic\n' > "$tmp/Makevars.strict"
mkdir -p "$tmp/lib1" "$tmp/lib2"
R_MAKEVARS_USER="$tmp/Makevars.strict" R CMD INSTALL --preclean -l "$tmp/lib1" . > "$tmp/strict.log" 2>&1 ||
  { cat "$tmp/strict.log"; exit 1; }
rm -f src/*.o src/*.so
if grep -E "warning:" "$tmp/strict.log"; then
  echo "strict build: compiler warnings (above)"; exit 1
fi
echo "strict build: no warnings under -Wall -Wextra -pedantic"
printf 'SHLIB_OPENMP_CFLAGS =\n' > "$tmp/Makevars.noomp"
R_MAKEVARS_USER="$tmp/Makevars.noomp" R CMD INSTALL --preclean -l "$tmp/lib2" . > "$tmp/noomp.log" 2>&1 ||
  { cat "$tmp/noomp.log"; exit 1; }
rm -f src/*.o src/*.so
if grep -q -- "-fopenmp" "$tmp/noomp.log"; then echo "no-OpenMP build still used -fopenmp"; exit 1; fi
R_LIBS="$tmp/lib2" Rscript -e 'library(advtrain); stopifnot(adv_threads() == 1L);
  o <- adv_optimum(rep(1, 10), c(0.5, 1)); stopifnot(abs(o$risk[1] - 5.38521) < 1e-5)' 
echo "no-OpenMP build: installs and runs (1 thread)"
