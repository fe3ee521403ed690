#!/usr/bin/env bash
# docs/run_glue_table.sh — the commands behind the GLUE table in docs/results.md: one
# `qpeft compare` per task on tinystories-1M, 2/3/4-bit bases, four initialisations, two seeds.
# usage: bash docs/run_glue_table.sh [OUT_ROOT] ; each task's summary.md is then in OUT_ROOT/<task>/.
set -eu
cd "$(dirname "$0")/.."
Q=${QPEFT_BIN:-build/qpeft}
A=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
OUT=${1:-glue-table}
for task in sst2 mrpc stsb; do
  "$Q" compare --model "$A/models/tinystories-1M/tinystories-1M.bin" --task "$task" --data "$A/glue" \
    --format mxint2-b16,mxint3-b32,nf4-b64 --ranks 8 --inits qlora,loftq,qera-approx,qera-exact \
    --seeds 42,1 --lrs 1e-3 --max-steps 400 --batch 16 --jobs 2 --threads 2 --out "$OUT/$task"
done
