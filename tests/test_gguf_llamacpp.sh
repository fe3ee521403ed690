#!/usr/bin/env bash
# tests/test_gguf_llamacpp.sh — `qpeft merge --to gguf | gguf-lora` checked by llama.cpp itself:
# the prebuilt binaries of the npm package node-llama-cpp (tests/llamacpp/, `make test-deps`),
# driven by tests/llamacpp/oracle.mjs; qpeft's side by build/tests/test_gguf's tool modes.
#  1. tinystories-1M as an F32 GGUF: llama.cpp's greedy 200 tokens from BOS and 64 after "Once
#     upon a time" (or until BOS, where both stop) == `qpeft generate --temperature 0`, text included; ln p within 1e-4 over 159
#     positions (F32 KV cache).
#  2. A LoRA text run: adapter.gguf over base.gguf in llama.cpp within 1e-4 of qpeft's unmerged
#     model, and the adapters matter (llama.cpp without them is > 0.05 away).
#  3. A QER-trained mxint3 text run (lr 1e-2) merged --lossless --to gguf: every linear Q4_0, its
#     values (model/gguf.c) == W_qer == merge --to llama2c, bit for bit; llama.cpp's ln p within
#     max 0.5 / mean 0.05 of qpeft's (llama.cpp rounds activations to Q8_0 for Q4_0 matmuls: the
#     file is exact, the arithmetic is not; tests/oracle_gguf_q8act.py models that and matches
#     llama.cpp to 1e-4 over the first 32 positions).
#  4. .qm bases without a checkpoint (mxint6 -> q8_0 exact, mxint3-b16 fallbacks with warnings,
#     nf4 -> q4_0 rounded with its error), and the refusals.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
TOK=$A/models/tinystories-1M/tok2048.model
G=${BUILD:-build}/tests/test_gguf
ORACLE="node $(cd "$(dirname "$0")" && pwd)/llamacpp/oracle.mjs"
PY=${PYTHON:-/usr/bin/python3}
W=$(mktemp -d "$T/ggufl.XXXXXX")
trap 'rm -rf "$W"' EXIT
if [ ! -d "$(dirname "$0")/llamacpp/node_modules/node-llama-cpp" ]; then
  fail "node-llama-cpp is not installed in tests/llamacpp (run make test-deps)"; exit 1
fi
json_get() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(eval("d"+sys.argv[1]))' "$1"; }

# ---- 1. F32 GGUF of tinystories-1M -------------------------------------------------------------
out=$("$Q" merge --model "$M" --to gguf --gguf-type f32 --out "$W/f32" 2>"$W/e1")
[ "$(printf '%s' "$out" | json_get '["lossy_tensors"]')" = 0 ] && [ "$(printf '%s' "$out" | grep -c '^  blk.*f32 ')" = 54 ] \
  && pass "merge --to gguf --gguf-type f32 (no checkpoint): 56 tensors, all exact" || fail "f32 export: $(tail -1 "$W/e1") $out"
q=$("$Q" generate --model "$M" --temperature 0 --steps 200 2>/dev/null)
l=$($ORACLE --model "$W/f32/model.gguf" gen 200 2>"$W/e2")
lt=$(printf '%s' "$l" | json_get '["text"]')
[ -n "$q" ] && [ "$q" = "$lt" ] && pass "llama.cpp greedy 200 from BOS == qpeft generate (text, $(printf '%s' "$l" | json_get '["ids"].__len__()') tokens)" \
  || fail "greedy from BOS: qpeft [$q] llama.cpp [$lt] $(tail -1 "$W/e2")"
printf 'Once upon a time\n' >"$W/prompt.txt"
"$G" ids "$TOK" "$W/prompt.txt" 100 "$W/prompt.ids"
np=$(wc -w <"$W/prompt.ids")
q=$("$Q" generate --model "$M" --temperature 0 --steps $((np - 1 + 64)) --prompt "Once upon a time" 2>/dev/null)
l=$($ORACLE --model "$W/f32/model.gguf" gen $((np - 1 + 64)) "Once upon a time" 2>>"$W/e2")
lt=$(printf '%s' "$l" | json_get '["text"]')
[ "$(printf '%s' "$l" | json_get '["prompt_ids"]' | tr -d '[],')" = "$(sed 's/ $//' "$W/prompt.ids")" ] \
  && pass "llama.cpp tokenizes \"Once upon a time\" as qpeft does: $(printf '%s' "$l" | json_get '["prompt_ids"]')" \
  || fail "prompt ids: llama.cpp $(printf '%s' "$l" | json_get '["prompt_ids"]') qpeft $(cat "$W/prompt.ids")"
ng=$(printf '%s' "$l" | json_get '["ids"].__len__()'); bos=$(printf '%s' "$l" | json_get '["stopped_at_bos"]')
[ -n "$q" ] && [ "$q" = "$lt" ] && { [ "$ng" = 64 ] || [ "$bos" = True ]; } \
  && pass "llama.cpp greedy after the prompt == qpeft generate ($ng tokens, both stop at BOS: $bos): $(printf '%s' "$q" | head -c 60)..." \
  || fail "greedy after prompt: qpeft [$q] llama.cpp [$lt]"
head -c 4000 "$A/text/tinystories_valid_head.txt" >"$W/valid.txt"
"$G" ids "$TOK" "$W/valid.txt" 160 "$W/valid.ids"
$ORACLE --model "$W/f32/model.gguf" logprobs "$W/valid.ids" "$W/f32.lp" >/dev/null 2>>"$W/e2" || fail "oracle logprobs: $(tail -1 "$W/e2")"
"$G" logprobs "$M" - "$W/valid.ids" "$W/f32.lp" 1e-4 "F32 GGUF"

# ---- 2. LoRA GGUF over the base GGUF -------------------------------------------------------------
head -c 60000 "$A/text/tinystories_train_head.txt" >"$W/train.txt"; head -c 12000 "$A/text/tinystories_valid_head.txt" >"$W/dev.txt"
txt=(--text "$W/train.txt" --dev "$W/dev.txt" --seq-len 64 --threads 1 --quiet)
"$Q" train --model "$M" "${txt[@]}" --mode lora --rank 8 --max-steps 30 --batch 4 --lr 1e-2 --out "$W/lora" 2>"$W/e3" \
  || fail "lora text run: $(tail -1 "$W/e3")"
out=$("$Q" merge --model "$M" --checkpoint "$W/lora/last.h5" --to gguf-lora --out "$W/gl" 2>"$W/e4")
[ -s "$W/gl/adapter.gguf" ] && [ -s "$W/gl/base.gguf" ] && printf '%s' "$out" | grep -q "exactly W~" \
  && pass "merge --to gguf-lora wrote adapter.gguf + base.gguf (base exact)" || fail "gguf-lora: $(tail -1 "$W/e4") $out"
$ORACLE --model "$W/gl/base.gguf" --lora "$W/gl/adapter.gguf" logprobs "$W/valid.ids" "$W/lora.lp" >/dev/null 2>>"$W/e4" \
  || fail "oracle with --lora: $(tail -1 "$W/e4")"
"$G" logprobs "$M" "$W/lora/last.h5" "$W/valid.ids" "$W/lora.lp" 1e-4 "LoRA GGUF over base GGUF vs unmerged checkpoint"
$ORACLE --model "$W/gl/base.gguf" logprobs "$W/valid.ids" "$W/base.lp" >/dev/null 2>>"$W/e4"
d=$("$PY" -c 'import numpy as n,sys; a=n.fromfile(sys.argv[1]); b=n.fromfile(sys.argv[2]); print(float(n.abs(a-b)[(a>-60)&(b>-60)].max()))' "$W/lora.lp" "$W/base.lp")
"$PY" -c "import sys; sys.exit(0 if $d > 0.05 else 1)" && pass "the adapters matter: llama.cpp with vs without them differs by $d in ln p" \
  || fail "adapters do not matter (max |d ln p| $d)"
out=$("$Q" merge --model "$M" --checkpoint "$W/lora/last.h5" --to gguf --out "$W/gm" 2>"$W/e5")
[ "$(printf '%s' "$out" | json_get '["gguf"]["lossy_tensors"]')" = 0 ] && pass "merge --to gguf of the LoRA run: every tensor exact (f32 merge)" \
  || fail "lora merge to gguf: $(tail -1 "$W/e5")"

# ---- 3. QER-trained mxint3 text run, merged --lossless --to gguf -----------------------------------
"$Q" train --model "$M" "${txt[@]}" --format mxint3 --adapter-quant same --max-steps 10 --batch 4 --lr 1e-2 --out "$W/qer" 2>"$W/e6" \
  || fail "qer text run: $(tail -1 "$W/e6")"
out=$("$Q" merge --model "$M" --checkpoint "$W/qer/last.h5" --lossless --to gguf --out "$W/gq" 2>"$W/e7")
[ "$(printf '%s' "$out" | json_get '["gguf"]["q4_0"]')" = 42 ] && [ "$(printf '%s' "$out" | json_get '["gguf"]["lossy_tensors"]')" = 0 ] \
  && pass "merge --lossless --to gguf (auto): 42 linears q4_0, nothing rounded, $(printf '%s' "$out" | json_get '["gguf"]["linear_bits_per_weight"]') bits/weight over the linears" \
  || fail "lossless gguf: $(tail -1 "$W/e7") $(printf '%s' "$out" | tail -1)"
"$Q" merge --model "$M" --checkpoint "$W/qer/last.h5" --to llama2c --out "$W/ql2c" >/dev/null 2>&1 || fail "merge --to llama2c of the QER run"
"$G" tensors "$W/gq/model.gguf" "$M" "$W/qer/last.h5" "$W/ql2c/model.bin" q4_0
$ORACLE --model "$W/gq/model.gguf" logprobs "$W/valid.ids" "$W/qer.lp" >/dev/null 2>>"$W/e7" || fail "oracle q4_0: $(tail -1 "$W/e7")"
# llama.cpp's CPU backend rounds every Q4_0 matmul's input to Q8_0; tests/oracle_gguf_q8act.py does the
# same on the exact weights (merge --to llama2c) in float64. Over the first 32 positions it must
# agree with llama.cpp to 1e-4 (later, float-level RoPE differences flip Q8_0 roundings and the two
# drift apart by rounding steps); the gap it predicts between exact and Q8_0-activation arithmetic
# over all positions sets the tolerance of qpeft vs llama.cpp: max 0.5, mean 0.05 in ln p (about 3x
# the predicted max 0.16 and mean 0.02 measured on this run; the file's values are checked exactly above).
"$PY" "$(dirname "$0")/oracle_gguf_q8act.py" "$W/ql2c/model.bin" "$W/valid.ids" "$W/emu.lp" || fail "oracle_gguf_q8act.py"
QPEFT_GGUF_DUMP=$W/qpeft.lp "$G" logprobs "$M" "$W/qer/last.h5" "$W/valid.ids" "$W/qer.lp" 0.5 "Q4_0 GGUF (llama.cpp's Q8_0 activations) vs the QER checkpoint" 0.05
"$PY" - "$W/qer.lp" "$W/emu.lp" "$W/qpeft.lp" <<'PYEOF'
import sys, numpy as n
l, e, q = (n.fromfile(p).reshape(159, -1) for p in sys.argv[1:4])
m = (l > -60) & (e > -60)
d32 = n.abs(l - e)[:32][m[:32]].max()
gap_e, gap_l = n.abs(e - q)[m], n.abs(l - q)[m]
ok = d32 <= 1e-4
print(("PASS" if ok else "FAIL") + f" llama.cpp on the Q4_0 GGUF == exact weights with Q8_0-rounded activations (oracle_gguf_q8act.py), first 32 positions: max |d ln p| {d32:.3g} <= 1e-4")
ok2 = gap_l.mean() <= 2 * gap_e.mean() + 0.005
print(("PASS" if ok2 else "FAIL") + f" qpeft-vs-llama.cpp gap (mean {gap_l.mean():.4f}, max {gap_l.max():.3f}) is the Q8_0-activation gap the oracle predicts (mean {gap_e.mean():.4f}, max {gap_e.max():.3f})")
PYEOF
# The same merge as F32: llama.cpp's float arithmetic on the same values is within 1e-4, so the gap
# above is the Q8_0 activations of ggml's Q4_0 matmul, not the file.
"$Q" merge --model "$M" --checkpoint "$W/qer/last.h5" --lossless --to gguf --gguf-type f32 --out "$W/gq32" >/dev/null 2>&1 || fail "f32 lossless merge"
$ORACLE --model "$W/gq32/model.gguf" logprobs "$W/valid.ids" "$W/qer32.lp" >/dev/null 2>>"$W/e7"
"$G" logprobs "$M" "$W/qer/last.h5" "$W/valid.ids" "$W/qer32.lp" 1e-4 "F32 GGUF of the same QER merge vs the QER checkpoint"

# ---- 4. .qm bases, fallbacks, rounding, refusals ------------------------------------------------------
"$Q" quantize --model "$M" --format mxint6 --out "$W/m6.qm" >/dev/null 2>&1
out=$("$Q" merge --model "$W/m6.qm" --tokenizer "$TOK" --to gguf --out "$W/g6" 2>/dev/null)
[ "$(printf '%s' "$out" | json_get '["lossy_tensors"]')" = 0 ] && [ "$(printf '%s' "$out" | grep -c '^  blk.*q8_0 ')" = 42 ] \
  && pass "mxint6 .qm -> every linear q8_0, exact" || fail "mxint6: $out"
expect_error "q4_0 for an mxint6 base refused" "q4_0 cannot hold them exactly" "$Q" merge --model "$W/m6.qm" --tokenizer "$TOK" --to gguf --gguf-type q4_0 --out "$W/r1"
"$Q" quantize --model "$M" --format mxint3 --block 16 --out "$W/m3b16.qm" >/dev/null 2>&1
out=$("$Q" merge --model "$W/m3b16.qm" --tokenizer "$TOK" --to gguf --out "$W/g3" 2>"$W/e8")
nfb=$(printf '%s' "$out" | json_get '["fallbacks"]'); nw=$(grep -c 'not exact in q4_0' "$W/e8")
[ "$(printf '%s' "$out" | json_get '["lossy_tensors"]')" = 0 ] && [ "$nfb" -gt 0 ] && [ "$nfb" = "$nw" ] \
  && pass "mxint3-b16: $nfb linears whose halves' exponent gap is too large move to a wider exact type, one warning each ($(head -1 "$W/e8"))" \
  || fail "b16 fallbacks: $nfb vs $nw warnings, $out"
"$Q" quantize --model "$M" --format nf4 --out "$W/nf4.qm" >/dev/null 2>&1
out=$("$Q" merge --model "$W/nf4.qm" --tokenizer "$TOK" --to gguf --gguf-type q4_0 --out "$W/gn" 2>/dev/null)
e=$(printf '%s' "$out" | json_get '["weight_rel_err"]')
[ "$(printf '%s' "$out" | json_get '["lossy_tensors"]')" = 42 ] && "$PY" -c "import sys; sys.exit(0 if 0 < $e < 0.2 else 1)" \
  && pass "nf4 base -> q4_0 re-quantized by ggml's rule, weight error reported: $e" || fail "nf4 q4_0: $out"
expect_error "unwritable --out refused" "usable output path" "$Q" merge --model "$M" --to gguf --out "$W/f32/model.gguf/x"
[ ! -e "$W/f32/model.gguf.tmp-"* ] 2>/dev/null; ls "$W" | grep -q tmp- && fail "a staging directory was left behind" || pass "nothing half-written"
cp "$M" "$W/other.bin"; printf '\x01' | dd of="$W/other.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_error "checkpoint from another model refused" "other.bin|hash|another model|different" "$Q" merge --model "$W/other.bin" --tokenizer "$TOK" --checkpoint "$W/lora/last.h5" --to gguf --out "$W/r2"
expect_error "--to gguf-lora of a QER checkpoint refused" "cannot express" "$Q" merge --model "$M" --checkpoint "$W/qer/last.h5" --to gguf-lora --out "$W/r3"
expect_error "--dtype with --to gguf refused" "takes --gguf-type, not --dtype" "$Q" merge --model "$M" --to gguf --dtype f16 --out "$W/r4"
expect_error "--dtype q4_0 for HF refused" "dtype must be f32, f16 or bf16.*GGUF type" "$Q" merge --model "$M" --checkpoint "$W/lora/last.h5" --dtype q4_0 --out "$W/r5"
expect_error "unknown --gguf-type refused" "gguf-type must be" "$Q" merge --model "$M" --to gguf --gguf-type q5_k --out "$W/r6"
for r in r1 r2 r3 r4 r5 r6; do [ -e "$W/$r" ] && fail "refusal $r left $W/$r behind"; done
true
