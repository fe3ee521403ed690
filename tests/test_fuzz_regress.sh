#!/usr/bin/env bash
# tests/test_fuzz_regress.sh — replays every libFuzzer harness (tests/fuzz/fuzz_*.c, linked with
# tests/fuzz/replay_main.c in this build: plain under `make test`, ASan+UBSan under `make asan`)
# on its regression inputs (tests/fuzz/regressions/<harness>/: inputs that once crashed) and on
# its seed corpus (tests/fuzz/make_seeds.sh). No clang needed; `make fuzz` does the fuzzing.
set -u
. "$(dirname "$0")/lib.sh"
R=$(dirname "$Q")/tests/replay
S=$T/fuzz-seeds
if ! bash "$(dirname "$0")/fuzz/make_seeds.sh" "$S" "$Q" >"$T/fuzz-seeds.log" 2>&1; then
  fail "fuzz seeds: make_seeds.sh failed: $(tail -1 "$T/fuzz-seeds.log")"
fi
n=0
for bin in "$R"/fuzz_*; do
  case "$bin" in *.d) continue;; esac
  [ -x "$bin" ] || continue
  h=$(basename "$bin"); n=$((n + 1))
  inputs=()
  [ -d "tests/fuzz/regressions/$h" ] && inputs+=("tests/fuzz/regressions/$h")
  [ -d "$S/$h" ] && inputs+=("$S/$h")
  if [ ${#inputs[@]} -eq 0 ]; then fail "$h: no seeds or regression inputs"; continue; fi
  out=$("$bin" "${inputs[@]}" 2>"$T/$h.replay.err"); rc=$?
  nreg=$(ls "tests/fuzz/regressions/$h" 2>/dev/null | wc -l)
  if [ $rc -eq 0 ]; then pass "$h replays $nreg regression inputs + seeds ($out)"
  else fail "$h: rc=$rc on replay: $(grep -m2 -E 'ERROR|runtime error|SUMMARY|Assertion' "$T/$h.replay.err" | tr '\n' ' ')"; fi
done
[ $n -ge 7 ] && pass "found $n replay harnesses" || fail "expected >= 7 replay harnesses in $R, found $n"
