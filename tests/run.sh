#!/usr/bin/env bash
# tests/run.sh — runs every test program (build/tests/test_*) and shell test (tests/test_*.sh),
# counts their PASS/FAIL lines, and ends with "N passed, N failed". A program that exits
# non-zero without printing a FAIL line (a crash) counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export QPEFT_ASSETS=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
export QPEFT_BIN=${QPEFT_BIN:-$PWD/$BUILD/qpeft}
export PYTHON=/usr/bin/python3
export TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qpeft-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
passed=0; failed=0
filter=${TEST_FILTER:-}
for t in "$BUILD"/tests/test_* tests/test_*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *.d|*.o) continue;; esac
  name=$(basename "$t")
  if [ -n "$filter" ] && [[ "$name" != *$filter* ]]; then continue; fi
  log="$TEST_TMP/$name.log"
  start=$(date +%s)
  if [[ "$t" == *.sh ]]; then bash "$t" >"$log" 2>&1; else "$t" >"$log" 2>&1; fi
  rc=$?
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name: exited with status $rc without a FAIL line" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-28s %4d passed %3d failed  (%ds)\n' "$name" "$p" "$f" $(( $(date +%s) - start ))
  if [ "$f" -gt 0 ]; then grep -E '^FAIL ' "$log" | head -20 | sed 's/^/    /'; tail -5 "$log" | sed 's/^/    | /'; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
