#!/usr/bin/env bash
# trainer/demo.sh — `make demo`: the main job on the default assets. Quantize tinystories-1M to
# MXINT3, fine-tune rank-8 adapters on SST-2 from a QLoRA init and from a QERA-approx init
# (same steps, seed and learning rate), print both dev accuracies, then merge the better run
# into a Hugging Face checkpoint and export its adapters in PEFT's layout. ~5 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."
Q=${QPEFT_BIN:-build/qpeft}
ASSETS=${QPEFT_ASSETS:-$(cd .. && pwd)/shared/assets}
export QPEFT_ASSETS=$ASSETS
M=$ASSETS/models/tinystories-1M/tinystories-1M.bin
OUT=${DEMO_OUT:-demo-out}
STEPS=${DEMO_STEPS:-1200}
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== qpeft demo: tinystories-1M, SST-2, MXINT3 base (3.25 bits/weight), rank 8, $STEPS steps per run; output in $OUT/"
echo "== 1. the quantized base (qpeft quantize)"
"$Q" quantize --model "$M" --format mxint3 --out "$OUT/tinystories-1M.mxint3.qm" | tail -3
run() {  # run NAME INIT
  echo "== 2. training with --init $2"
  "$Q" train --model "$M" --task sst2 --format mxint3 --rank 8 --init "$2" --calib-text "$ASSETS/text/tinystories_train_head.txt" \
    --batch 16 --lr 1e-3 --max-steps "$STEPS" --eval-every 400 --log-every 100 --seed 42 --out "$OUT/$1"
}
run qlora qlora
run qera-approx qera-approx
acc() { grep '"eval"' "$OUT/$1/log.jsonl" | tail -1 | sed 's/.*"accuracy": \([0-9.]*\).*/\1/'; }
a1=$(acc qlora); a2=$(acc qera-approx)
echo "== SST-2 dev accuracy after $STEPS steps: qlora $a1, qera-approx $a2"
best=qlora; awk -v a="$a1" -v b="$a2" 'BEGIN{exit !(b > a)}' && best=qera-approx
echo "== 3. merge the $best run (W~ + s·AB) into a Hugging Face checkpoint, and export its adapters for PEFT"
"$Q" merge --model "$M" --checkpoint "$OUT/$best/best.h5" --to hf --out "$OUT/merged-hf"
"$Q" merge --model "$M" --checkpoint "$OUT/$best/best.h5" --to peft --out "$OUT/adapters-peft"
echo "== done: $OUT/{qlora,qera-approx}/ (config.json, log.jsonl, best.h5, last.h5), $OUT/merged-hf/, $OUT/adapters-peft/"
