#!/usr/bin/env bash
# tests/test_compare.sh — `qpeft compare` end to end on tinystories-1M + MRPC (tiny runs): every
# output file, the CSV header and rows, the summary table, PNGs that gnuplot wrote, and a killed
# sweep that restarts with only the missing runs.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
O=$T/cmp
args=(--model "$M" --task mrpc --data "$A/glue/MRPC" --format mxint3 --ranks 8 --inits qlora,loftq,qera-approx
      --seeds 42,1 --max-steps 6 --evals 3 --batch 8 --jobs 2 --threads 2 --out "$O")

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
[ $rc -eq 0 ] || fail "re-run rc=$rc: $(tail -2 "$T/cmp2.err")"  # (what it did is checked below)
grep -q "$before already in" "$T/cmp2.err" && pass "re-run skipped the $before recorded runs" || fail "re-run did not skip: $(grep 'runs in the grid' "$T/cmp2.err")"
n=$(($(wc -l <"$O/results.csv") - 1))
[ "$n" = 6 ] && pass "results.csv has 6 rows (3 inits x 2 seeds)" || fail "results.csv rows $n"
head -1 "$O/results.csv" | grep -qx "task,method,format,bits_per_weight,rank,seed,lr,metric_name,metric,best_step,seconds,adapter_quant,unmerged_metric,requant_metric,requant_bytes,lossless_metric,lossless_bytes" \
  && pass "results.csv header (the original 11 columns, then the --merge ones)" || fail "header: $(head -1 "$O/results.csv")"
[ "$(tail -n +2 "$O/results.csv" | cut -d, -f12-17 | sort -u)" = "none,nan,nan,0,nan,0" ] \
  && pass "without --merge: adapter_quant none, merge columns nan/0" || fail "merge columns: $(tail -n +2 "$O/results.csv" | cut -d, -f12-17 | sort -u)"
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
# --evals 3 over 6 steps: dev evaluations at steps 2, 4, 6, so each method's dev curve has 3 points.
pts=$(awk 'NF && $1 !~ /^#/' "$O/dev_mxint3_r8_qlora.dat" 2>/dev/null | wc -l)
[ "$pts" = 3 ] && pass "dev-metric figure: 3 points per run with --evals 3" || fail "dev curve points: $pts ($(cat "$O/dev_mxint3_r8_qlora.dat" 2>&1 | head -5))"
ls "$O"/error_mxint3_*.dat >/dev/null 2>&1 && [ "$(ls "$O"/error_mxint3_*.dat | wc -l)" -ge 3 ] && pass "Figure-1 data: a series per method" || fail "error series"
expect_error "compare needs --out" "--out" "$Q" compare --model "$M" --task mrpc
expect_error "compare bad rank list" "not an integer" "$Q" compare --model "$M" --task mrpc --ranks 8,x --out "$T/c2"

# --adapter-quant none,same --merge both: "fp adapters + requant merge vs QER lossless merge" from
# one command (WNLI: a 71-example dev split). Each run's best.h5 is merged both ways into model.qm
# files of the base's size and scored; the QER-trained run's lossless merge scores exactly its
# checkpoint, and the unmerged evaluation reproduces the training run's own.
O2=$T/cmpq
qargs=(--model "$M" --task wnli --data "$A/glue/WNLI" --format mxint4 --ranks 8 --inits qlora --adapter-quant none,same
       --merge both --seeds 42 --max-steps 6 --batch 8 --jobs 1 --threads 2 --error-ranks 4 --out "$O2")
"$Q" compare "${qargs[@]}" >"$T/cmpq.out" 2>"$T/cmpq.err"; rc=$?
[ $rc -eq 0 ] && [ "$(($(wc -l <"$O2/results.csv") - 1))" = 2 ] && pass "compare --adapter-quant none,same --merge both: 2 rows" \
  || fail "compare --merge rc=$rc: $(tail -2 "$T/cmpq.err")"
"${PYTHON:-/usr/bin/python3}" - "$O2" <<'PY' && pass "merge columns: sizes equal and on disk, unmerged == training eval, QER lossless == unmerged exactly" || fail "merge columns"
import csv, json, os, sys
d = sys.argv[1]
rows = {r["adapter_quant"]: r for r in csv.DictReader(open(d + "/results.csv"))}
assert set(rows) == {"none", "same"}, rows.keys()
for aq, r in rows.items():
    run = d + "/runs/qlora_mxint4_r8_s42_lr0.001" + ("_aqsame" if aq == "same" else "")
    cfg = json.load(open(run + "/config.json"))
    assert cfg["adapter_quant"] == aq and cfg["dropout"] == (0 if aq == "same" else 0.1), (aq, cfg["dropout"])
    for k in ("requant", "lossless"):
        assert int(r[k + "_bytes"]) == os.path.getsize(run + "/merged-%s/model.qm" % k) > 0, (aq, k)
        assert r[k + "_metric"] != "nan", (aq, k)
    assert r["requant_bytes"] == r["lossless_bytes"], r
    assert r["unmerged_metric"] == r["metric"], (aq, r["unmerged_metric"], r["metric"])
assert rows["same"]["lossless_metric"] == rows["same"]["unmerged_metric"], rows["same"]
assert rows["none"]["requant_bytes"] == rows["same"]["lossless_bytes"]
PY
grep -q "^## After merging" "$O2/summary.md" && grep -q "^| qlora (adapter-quant same) | mxint4 | 4.250 | 8 | [0-9.]* ± [0-9.]* \[n=1\] |" "$O2/summary.md" \
  && pass "summary.md: the merged-model table with the QER row" || fail "summary merge table: $(grep -A4 'After merging' "$O2/summary.md" | tail -2)"
expect_error "compare --merge bogus refused" "none, requant, lossless or both" "$Q" compare --model "$M" --task mrpc --merge x --out "$T/c3"
expect_error "compare --adapter-quant same over nf4 refused" "MXINT-k base.*nf4" "$Q" compare --model "$M" --task mrpc --format nf4 --adapter-quant same --out "$T/c4"
