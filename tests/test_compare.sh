#!/usr/bin/env bash
# tests/test_compare.sh — `qpeft compare` end to end on tinystories-1M + MRPC (tiny runs): every
# output file, the CSV header and rows, the summary table, PNGs that gnuplot wrote, and a killed
# sweep that restarts with only the missing runs.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
O=$T/cmp
args=(--model "$M" --task mrpc --data "$A/glue/MRPC" --format mxint3 --ranks 8 --inits qlora,loftq,qera-approx
      --seeds 42,1 --max-steps 6 --batch 8 --jobs 2 --threads 2 --out "$O")

# Kill the sweep once the first run is recorded, then re-run: only the missing runs execute.
"$Q" compare "${args[@]}" >"$T/cmp1.out" 2>"$T/cmp1.err" &
pid=$!
for i in $(seq 1 600); do
  [ -f "$O/results.csv" ] && [ "$(wc -l <"$O/results.csv")" -ge 2 ] && break
  sleep 0.2
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
before=$(($(wc -l <"$O/results.csv") - 1))
[ "$before" -ge 1 ] && [ "$before" -lt 6 ] && pass "killed sweep left $before of 6 rows" || fail "kill left $before rows"
"$Q" compare "${args[@]}" >"$T/cmp2.out" 2>"$T/cmp2.err"
rc=$?
[ $rc -eq 0 ] && pass "re-run finished" || fail "re-run rc=$rc: $(tail -2 "$T/cmp2.err")"
grep -q "$before already in" "$T/cmp2.err" && pass "re-run skipped the $before recorded runs" || fail "re-run did not skip: $(grep 'runs in the grid' "$T/cmp2.err")"
n=$(($(wc -l <"$O/results.csv") - 1))
[ "$n" = 6 ] && pass "results.csv has 6 rows (3 inits x 2 seeds)" || fail "results.csv rows $n"
head -1 "$O/results.csv" | grep -qx "task,method,format,bits_per_weight,rank,seed,lr,metric_name,metric,best_step,seconds" \
  && pass "results.csv header" || fail "header: $(head -1 "$O/results.csv")"
[ "$(cut -d, -f1-3 "$O/results.csv" | tail -n +2 | sort | uniq -c | awk '{print $1}' | sort -u)" = 2 ] \
  && pass "each (task, method, format) has both seeds" || fail "rows per method"
for m in qlora loftq qera-approx; do grep -q "| $m | mxint3 | 3.250 | 8 | " "$O/summary.md" && pass "summary row $m" || fail "summary missing $m"; done
grep -q '\*\*' "$O/summary.md" && pass "summary marks the best cell" || fail "no bold cell"
for p in train_loss_mxint3_r8 dev_mxint3_r8 error_mxint3; do
  if [ -s "$O/$p.png" ] && [ "$(head -c 8 "$O/$p.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] && [ -s "$O/$p.gp" ]; then
    pass "$p.png is a PNG with its .gp script"
  else fail "$p.png missing or not a PNG"; fi
done
grep -q "set xlabel" "$O/error_mxint3.gp" && grep -q "set title" "$O/error_mxint3.gp" && pass "plot scripts set title and labels" || fail "gp labels"
ls "$O"/error_mxint3_*.dat >/dev/null 2>&1 && [ "$(ls "$O"/error_mxint3_*.dat | wc -l)" -ge 3 ] && pass "Figure-1 data: a series per method" || fail "error series"
expect_error "compare needs --out" "--out" "$Q" compare --model "$M" --task mrpc
expect_error "compare bad rank list" "not an integer" "$Q" compare --model "$M" --task mrpc --ranks 8,x --out "$T/c2"
