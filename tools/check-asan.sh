#!/usr/bin/env bash
# Builds advtrain with AddressSanitizer and UndefinedBehaviorSanitizer into a temporary
# library and runs the test suite (or the files matching $1) against it. R itself is
# not instrumented, so the ASan runtime is preloaded. Any sanitizer report fails the run.
# Usage: tools/check-asan.sh [test filter regex]
set -euo pipefail
filter=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cat > "$tmp/Makevars" <<MV
CFLAGS = -g -O1 $san
LDFLAGS = $san
MV
mkdir -p "$tmp/lib"
R_MAKEVARS_USER="$tmp/Makevars" R CMD INSTALL --preclean --no-test-load -l "$tmp/lib" . > "$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
rm -f src/*.o src/*.so
grep -q -- "-fsanitize=address" "$tmp/install.log" || { echo "sanitizer flags not used"; exit 1; }
# R allocates and keeps memory on purpose (its heap, cached objects), so leak checking
# is valgrind's job (make valgrind); ASan here looks for invalid accesses.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export R_LIBS="$tmp/lib" ADVTRAIN_SANITIZER=1
set +e
Rscript tools/run-tests.R $filter > "$tmp/tests.log" 2>&1
status=$?
set -e
unset LD_PRELOAD
tail -n 3 "$tmp/tests.log"
if grep -E "ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$tmp/tests.log"; then
  echo "check-asan: sanitizer reports (above)"; grep -B2 -A30 "ERROR: AddressSanitizer\|runtime error:" "$tmp/tests.log" | head -80; exit 1
fi
[ $status -eq 0 ] || { echo "check-asan: tests failed"; grep -A15 "Failure\|Error (" "$tmp/tests.log" | head -60; exit 1; }
echo "check-asan: zero sanitizer reports"
