#!/usr/bin/env bash
# docs/run_glue_table.sh — the commands behind the GLUE table in docs/results.md: one
# `qpeft compare` per task on tinystories-1M, 2/3/4-bit bases, four initialisations, rank 8.
# SST-2 with two seeds and 400 steps; MRPC and STS-B (longer sentence pairs) with one seed and
# 300 steps, to fit the 2-core budget. usage: bash docs/run_glue_table.sh [OUT_ROOT]; each
# task's summary.md is then in OUT_ROOT/<task>/.
set -eu
cd "$(dirname "$0")/.."
Q=${QPEFT_BIN:-build/qpeft}
A=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
OUT=${1:-glue-table}
common=(--model "$A/models/tinystories-1M/tinystories-1M.bin" --data "$A/glue" --ranks 8 --lrs 1e-3 --batch 16
        --format mxint2-b16,mxint3-b32,nf4-b64 --inits qlora,loftq,qera-approx,qera-exact --jobs 2 --threads 2)
"$Q" compare "${common[@]}" --task sst2 --seeds 42,1 --max-steps 400 --out "$OUT/sst2"
for task in mrpc stsb; do
  "$Q" compare "${common[@]}" --task "$task" --seeds 42 --max-steps 300 --out "$OUT/$task"
done
# One Table-1-shaped table over the tasks: rows method × format, a column per task, mean ± std over
# the seeds (sample std, n−1; a single seed shows no ±), bold the best method of each format.
awk -F, 'FNR == 1 { next }
  { k = $2 SUBSEP $3 SUBSEP $8; t[$1] = 1; key[$2 SUBSEP $3] = 1; bits[$3] = $4; fmt[$3] = 1; meth[$2] = 1
    n[$1, $2, $3]++; s[$1, $2, $3] += $9; q[$1, $2, $3] += $9 * $9; name[$1] = $8 }
  END {
    nt = split("cola sst2 mrpc rte stsb wnli qnli mnli qqp", order, " ")
    printf "| method | format | bits/weight |"; for (i = 1; i <= nt; i++) if (order[i] in t) printf " %s (%s) |", order[i], name[order[i]]; print ""
    printf "|---|---|---|"; for (i = 1; i <= nt; i++) if (order[i] in t) printf "---|"; print ""
    nm = split("qlora loftq zeroquant-v2 lqer qera-approx qera-exact srr", mo, " ")
    nf = split("mxint2-b16 mxint3-b32 nf4-b64", fo, " ")
    for (j = 1; j <= nf; j++) { f = fo[j]; if (!(f in fmt)) continue
      for (i = 1; i <= nt; i++) { tk = order[i]; best[tk] = -1e9
        for (m = 1; m <= nm; m++) if (n[tk, mo[m], f]) { v = s[tk, mo[m], f] / n[tk, mo[m], f]; if (v > best[tk]) best[tk] = v } }
      for (m = 1; m <= nm; m++) { me = mo[m]; if (!((me SUBSEP f) in key)) continue
        printf "| %s | %s | %s |", me, f, bits[f]
        for (i = 1; i <= nt; i++) { tk = order[i]; if (!(tk in t)) continue; c = n[tk, me, f]
          if (!c) { printf " – |"; continue }
          mu = s[tk, me, f] / c; sd = c > 1 ? sqrt((q[tk, me, f] - c * mu * mu) / (c - 1)) : -1; if (sd != -1 && sd < 0) sd = 0
          cell = sd >= 0 ? sprintf("%.4f ± %.4f", mu, sd) : sprintf("%.4f", mu)
          printf " %s |", mu == best[tk] ? "**" cell "**" : cell }
        print "" } } }' "$OUT"/*/results.csv >"$OUT/glue_table.md"
echo "GLUE table -> $OUT/glue_table.md"
