#!/usr/bin/env bash
# docs/run_table3.sh — the perplexity table of docs/results.md (the QERA paper's Table 3 use):
# tinystories-1M quantized, with each initialiser's rank-16 reconstruction terms, no training,
# scored on the first 128 validation windows of 256 tokens.
set -eu
cd "$(dirname "$0")/.."
Q=${QPEFT_BIN:-build/qpeft}
A=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
M=$A/models/tinystories-1M/tinystories-1M.bin
C=$A/text/tinystories_train_head.txt
echo "format,method,rank,loss,perplexity"
printf 'fp32,-,0,%s\n' "$("$Q" ppl --model "$M" --max-windows 128 --quiet | awk '{printf "%s,%s", $2, $4}')"
for f in mxint2-b16 mxint3-b32 nf4-b64; do
  printf '%s,w-only,0,%s\n' "$f" "$("$Q" ppl --model "$M" --format "$f" --max-windows 128 --quiet | awk '{printf "%s,%s", $2, $4}')"
  for m in zeroquant-v2 loftq lqer qera-approx qera-exact; do
    printf '%s,%s,16,%s\n' "$f" "$m" "$("$Q" ppl --model "$M" --format "$f" --rank 16 --init "$m" --calib-text "$C" \
      --max-windows 128 --quiet | awk '{printf "%s,%s", $2, $4}')"
  done
done
