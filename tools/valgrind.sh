#!/usr/bin/env bash
# Runs the test suite (or the test files matching $1) against the installed package
# under valgrind's memcheck. Fails on any memcheck error or definite leak.
# Usage: tools/valgrind.sh [test filter regex]
set -euo pipefail
filter=${1:-}
log=$(mktemp)
set +e
ADVTRAIN_VALGRIND=1 R -d "valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1" \
  --vanilla --slave -f tools/run-tests.R --args $filter > "$log" 2>&1
status=$?
set -e
grep -E "passed, .* failed|ERROR SUMMARY|definitely lost" "$log" || true
if [ $status -ne 0 ]; then
  grep -B3 -A25 "Invalid \|uninitialised\|definitely lost in" "$log" | head -120 || true
  # test failures, as testthat reports them
  grep -v "^==" "$log" | grep -A12 "^Failure\|^Error" | head -80 || true
  echo "valgrind: errors, leaks or test failures (status $status)"
  rm -f "$log"; exit 1
fi
rm -f "$log"
echo "valgrind: zero memcheck errors, no definite leaks"
