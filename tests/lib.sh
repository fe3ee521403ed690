# tests/lib.sh — helpers for shell tests: each check prints "PASS name" or "FAIL name: why".
Q=${QPEFT_BIN:-build/qpeft}
A=${QPEFT_ASSETS:-../shared/assets}
T=${TEST_TMP:-/tmp}
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }
# expect_error NAME PATTERN CMD...: CMD must exit 1..125, print exactly one stderr line matching PATTERN.
expect_error() {
  local name=$1 pat=$2; shift 2
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  local nlines; nlines=$(printf '%s\n' "$err" | grep -c .)
  if [ $rc -ge 1 ] && [ $rc -le 125 ] && printf '%s' "$err" | grep -qE -- "$pat" && [ "$nlines" -eq 1 ]; then
    pass "$name (rc=$rc: $err)"
  else
    fail "$name: rc=$rc lines=$nlines stderr=[$err] wanted /$pat/"
  fi
}
