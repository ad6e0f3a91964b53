#!/usr/bin/env bash
# R CMD build + R CMD check --as-cran --no-manual; fails on ERROR, WARNING, or a NOTE
# other than the new-submission one.
set -euo pipefail
rm -rf check && mkdir -p check
cd check
R CMD build .. > build.log 2>&1 || { cat build.log; exit 1; }
tarball=$(ls advtrain_*.tar.gz)
# No network here: skip the remote CRAN look-ups and the clock check (a web time
# service), which would otherwise give NOTEs that say nothing about the package.
export _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_SYSTEM_CLOCK_=false
set +e
R CMD check --as-cran --no-manual "$tarball" > check.log 2>&1
status=$?
set -e
tail -n 25 check.log
log=advtrain.Rcheck/00check.log
[ $status -eq 0 ] || { echo "R CMD check failed (status $status)"; exit 1; }
if grep -E "^\* .*\.\.\. (ERROR|WARNING)" "$log"; then
  echo "R CMD check: ERROR or WARNING"; exit 1
fi
notes=$(grep -E "^\* .*\.\.\. NOTE" "$log" | grep -v "checking CRAN incoming feasibility" || true)
if [ -n "$notes" ]; then
  echo "R CMD check: unexpected NOTE:"; echo "$notes"; exit 1
fi
echo "R CMD check: OK (no ERROR, WARNING or unexpected NOTE)"
