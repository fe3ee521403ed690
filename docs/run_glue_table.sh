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
