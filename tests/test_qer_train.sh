#!/usr/bin/env bash
# tests/test_qer_train.sh — `qpeft train --adapter-quant same` (QER training, model/linear.h) end to
# end on tinystories-1M with an mxint4 base (WNLI: its 71-example dev split keeps evaluation
# cheap): the mode is recorded (config.json, checkpoint root attribute), the run moves base codes,
# `qpeft eval` of its checkpoint reproduces the run's own evaluation (the quantized-adapter model),
# `merge --lossless` of it gives logits bit for bit equal to that model and a model.qm whose
# `qpeft eval` (no checkpoint) is identical — for WNLI and for a text (LM) run; resuming continues
# bit for bit; and the one-line refusals.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
PY=${PYTHON:-/usr/bin/python3}
W=$(mktemp -d "$T/qert.XXXXXX")
run=(--threads 1 --quiet)
common=(--model "$M" "${run[@]}")
qer=(--format mxint4 --adapter-quant same)
args=(--task wnli --max-steps 20 --batch 8 --lr 5e-3 --eval-every 10 --save-every 10 --seed 3)
json_get() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(eval("d"+sys.argv[1]))' "$1"; }

# 1. A short run: recorded mode, finite falling-ish losses, checkpoints.
S=$W/straight
"$Q" train "${common[@]}" "${qer[@]}" "${args[@]}" --out "$S" 2>"$W/err1"; rc=$?
[ $rc -eq 0 ] && [ -s "$S/best.h5" ] && [ -s "$S/step-10.h5" ] || fail "train rc=$rc: $(tail -2 "$W/err1")"  # (outputs checked below)
"$PY" - "$S" <<'PY' && pass "config.json adapter_quant same, dropout 0; checkpoint root attribute adapter_quant = same; losses finite" \
  || fail "recorded mode"
import json, sys, math, h5py
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
assert cfg["adapter_quant"] == "same" and cfg["dropout"] == 0 and cfg["format"] == "mxint4-b32", cfg
for f in ("best.h5", "last.h5", "step-10.h5"):
    a = h5py.File(d + "/" + f, "r").attrs
    assert a["adapter_quant"] == "same", (f, a.get("adapter_quant"))
tr = [json.loads(l) for l in open(d + "/log.jsonl") if '"eval"' not in l]
tr = [l for l in tr if "loss" in l]
assert len(tr) == 20 and all(math.isfinite(l["loss"]) for l in tr)
PY

# 2. eval of a checkpoint scores the quantized-adapter model: it reproduces the run's own
#    evaluation at that step (same eval batch), which the fp-adapter model would not.
logged=$(grep '"eval"' "$S/log.jsonl" | grep '"step": 20' | "$PY" -c 'import json,sys; e=json.loads(sys.stdin.read())["eval"]; print(e["loss"], e["accuracy"])')
ev=$("$Q" eval "${common[@]}" --checkpoint "$S/last.h5" --task wnli --batch 8 2>/dev/null | tail -1)
got=$(printf '%s' "$ev" | json_get '["loss"]') ; acc=$(printf '%s' "$ev" | json_get '["accuracy"]')
[ -n "$logged" ] && [ "$logged" = "$got $acc" ] && pass "eval last.h5 == the run's step-20 evaluation ($logged)" \
  || fail "eval [$got $acc] vs logged [$logged]"

# 3. merge --lossless of it: codes moved, logits bit for bit the checkpoint model's, and the merged
#    model.qm scores exactly what the checkpoint scores.
out=$("$Q" merge --model "$M" --checkpoint "$S/last.h5" --out "$W/m" --lossless 2>/dev/null); rc=$?
ch=$(printf '%s' "$out" | json_get '["lossless"]["changed"]' 2>/dev/null)
bd=$(printf '%s' "$out" | json_get '["lossless"]["bits_differ_vs_checkpoint"]' 2>/dev/null)
fp=$(printf '%s' "$out" | json_get '["lossless"]["max_abs_dlogit"]' 2>/dev/null)
[ $rc -eq 0 ] && [ "$bd" = 0 ] && printf '%s' "$out" | grep -q "checkpoint's QER-trained model.*(bit for bit)" \
  && pass "merge --lossless: logits bit for bit the checkpoint's QER model" || fail "merge rc=$rc bits_differ [$bd]"
[ -n "$ch" ] && [ "$ch" -gt 1000 ] && "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$fp" \
  && pass "training moved $ch base codes; vs the fp-adapter model max |dlogit| $fp (a different model)" || fail "changed [$ch] fp [$fp]"
e1=$("$Q" eval "${common[@]}" --checkpoint "$S/last.h5" --task wnli --batch 16 2>/dev/null | tail -1)
e2=$("$Q" eval "${run[@]}" --model "$W/m/model.qm" --task wnli --batch 16 2>/dev/null | tail -1)
[ -n "$e1" ] && [ "$e1" = "$e2" ] && pass "eval of the merged model.qm (no checkpoint) == eval of the checkpoint: $e2" \
  || fail "merged eval [$e2] vs checkpoint [$e1]"
out=$("$Q" merge --model "$M" --checkpoint "$S/last.h5" --out "$W/hf" 2>/dev/null)
printf '%s' "$out" | grep -q '^check: merged (f32) vs unmerged logits.*max |dlogit| 0,' \
  && pass "merge --to hf of a QER checkpoint writes W_qer (logits identical)" || fail "hf merge: $(printf '%s' "$out" | grep '^check')"

# 4. Text (LM head): the same equality on perplexity.
L=$W/lm
head -c 60000 "$A/text/tinystories_train_head.txt" >"$W/train.txt"; head -c 12000 "$A/text/tinystories_valid_head.txt" >"$W/dev.txt"
txt=(--text "$W/train.txt" --dev "$W/dev.txt" --seq-len 32)
"$Q" train "${common[@]}" "${qer[@]}" "${txt[@]}" --max-steps 6 --batch 4 --lr 5e-3 --out "$L" 2>"$W/err4" \
  && "$Q" merge --model "$M" --checkpoint "$L/last.h5" --out "$W/lmm" --lossless >/dev/null 2>&1 \
  && pass "text run with --adapter-quant same, merged losslessly" || fail "text run: $(tail -1 "$W/err4")"
e1=$("$Q" eval "${common[@]}" --checkpoint "$L/last.h5" "${txt[@]}" --batch 8 2>/dev/null | tail -1)
e2=$("$Q" eval "${run[@]}" --model "$W/lmm/model.qm" "${txt[@]}" --batch 8 2>/dev/null | tail -1)
[ -n "$e1" ] && [ "$e1" = "$e2" ] && printf '%s' "$e2" | grep -q perplexity \
  && pass "text: eval of the merged model.qm == eval of the checkpoint: $e2" || fail "text eval [$e2] vs [$e1]"

# 5. Resume: 10 steps + resume 10 == 20 straight, bit for bit.
RS=$W/resumed
"$Q" train "${common[@]}" "${qer[@]}" "${args[@]}" --out "$RS" --resume "$S/step-10.h5" 2>"$W/err5"
a=$(grep -v '"eval"' "$S/log.jsonl" | "$PY" -c 'import json,sys; print([json.loads(l)["loss"] for l in sys.stdin if "loss" in l][10:])')
b=$(grep -v '"eval"' "$RS/log.jsonl" | "$PY" -c 'import json,sys; print([json.loads(l)["loss"] for l in sys.stdin if "loss" in l])')
[ -n "$a" ] && [ "$a" = "$b" ] && pass "resumed QER run's losses (steps 11-20) == the straight run's, bit for bit" \
  || fail "resume differs: [$a] vs [$b] ($(tail -1 "$W/err5"))"
"$PY" - "$S/last.h5" "$RS/last.h5" <<'PY' && pass "resumed last.h5 adapters == straight last.h5 adapters, bit for bit" || fail "last.h5 differ"
import h5py, sys, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) and not n.startswith("state") else None)
assert names and all(np.array_equal(a[n][()], b[n][()]) for n in names), [n for n in names if not np.array_equal(a[n][()], b[n][()])][:3]
PY

# 6. Refusals: one line each, before any work.
expect_error "nf4 base refused" "adapter-quant same: .*MXINT-k base.*nf4" "$Q" train "${common[@]}" --task wnli --format nf4 --adapter-quant same --out "$W/r1"
expect_error "lora mode refused" "needs --mode qpeft" "$Q" train "${common[@]}" --task wnli --adapter-quant same --out "$W/r2"
expect_error "full mode refused" "needs --mode qpeft.*found --mode full" "$Q" train "${common[@]}" --task wnli --mode full --adapter-quant same --out "$W/r3"
expect_error "adapter dropout refused" "no adapter dropout" "$Q" train "${common[@]}" "${qer[@]}" --task wnli --dropout 0.1 --out "$W/r4"
expect_error "unknown value refused" "none or same" "$Q" train "${common[@]}" --task wnli --format mxint4 --adapter-quant int --out "$W/r5"
expect_error "resume without the mode refused" "adapter-quant same, this model has none" \
  "$Q" train "${common[@]}" --format mxint4 "${args[@]}" --dropout 0 --out "$W/r6" --resume "$S/step-10.h5"
expect_error "merge --to peft refused" "PEFT.*cannot express" "$Q" merge --model "$M" --checkpoint "$S/last.h5" --out "$W/r7" --to peft
expect_error "merge --lossless --qer-steps refused" "would change it" "$Q" merge --model "$M" --checkpoint "$S/last.h5" --out "$W/r8" --lossless --qer-steps 2
rm -rf "$W"
