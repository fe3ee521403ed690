#!/usr/bin/env bash
# tests/fuzz/run.sh HARNESS... — run each libFuzzer harness ($FUZZ_BUILD/fuzz/<h>) for
# $FUZZ_SECONDS on its corpus ($FUZZ_BUILD/corpus/<h>, kept between runs) plus fresh seeds
# (tests/fuzz/make_seeds.sh), one at a time. Prints executions and exec/s per harness; any crash,
# leak, timeout or out-of-memory fails the run and its input is copied to
# tests/fuzz/regressions/<h>/ (replayed by tests/test_fuzz_regress.sh).
set -u
cd "$(dirname "$0")/../.."
FB=${FUZZ_BUILD:-build-fuzz}
secs=${FUZZ_SECONDS:-30}
seeds=$FB/seeds
rm -rf "$seeds"
bash tests/fuzz/make_seeds.sh "$seeds" "${QPEFT_BIN:-build/qpeft}" || { echo "fuzz: seed generation failed"; exit 1; }
failed=0
printf '%-14s %10s %8s %7s  %s\n' harness execs exec/s corpus result
for h in "$@"; do
  bin=$FB/fuzz/$h
  mkdir -p "$FB/corpus/$h" "$FB/artifacts/$h"
  log=$FB/logs/$h.log
  mkdir -p "$(dirname "$log")"
  dict=(); [ -f "tests/fuzz/$h.dict" ] && dict=(-dict="tests/fuzz/$h.dict")
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$FB/artifacts/$h/" "${dict[@]}" "$FB/corpus/$h" "$seeds/$h" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  ncorp=$(ls "$FB/corpus/$h" | wc -l)
  if [ $rc -eq 0 ]; then res=ok; else
    res="FAILED (rc=$rc, see $log)"; failed=$((failed + 1))
    mkdir -p "tests/fuzz/regressions/$h"
    for a in "$FB/artifacts/$h"/*; do [ -f "$a" ] && cp "$a" "tests/fuzz/regressions/$h/" && echo "  new regression input: tests/fuzz/regressions/$h/$(basename "$a")"; done
    grep -m3 -E 'ERROR|SUMMARY|runtime error' "$log" | sed 's/^/  | /'
  fi
  printf '%-14s %10s %8s %7s  %s\n' "$h" "${execs:-?}" "${eps:-?}" "$ncorp" "$res"
done
[ $failed -eq 0 ] && echo "fuzz: all ${#} harnesses ran ${secs}s without a crash" || echo "fuzz: $failed harness(es) crashed"
[ $failed -eq 0 ]
