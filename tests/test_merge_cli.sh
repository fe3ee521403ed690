#!/usr/bin/env bash
# tests/test_merge_cli.sh — `qpeft merge` end to end on a LoftQ adapter checkpoint of
# tinystories-1M (NF4 base, rank 4, all seven linears; `qpeft init` makes it in a second):
# the logits check of every export, HF and llama2.c exports scoring the same perplexity, the
# PEFT export against tests/oracle_peft.py, --requant writing a .qm that loads, and one-line
# refusals that leave nothing behind.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M
BIN=$M/tinystories-1M.bin
W=$(mktemp -d "$T/merge.XXXXXX")
PY=${PYTHON:-/usr/bin/python3}
json_get() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(eval("d"+sys.argv[1]))' "$1"; }
lt() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }

"$Q" init --model "$BIN" --format nf4 --rank 4 --init loftq --loftq-iters 1 --out "$W/ckpt.h5" >/dev/null 2>&1 \
  && pass "loftq adapter checkpoint made" || fail "qpeft init failed"

# HF f32 with --requant: the merged model reproduces the unmerged logits.
out=$("$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/hf" --requant nf4 2>/dev/null); rc=$?
mx=$(printf '%s' "$out" | json_get '["max_abs_dlogit"]' 2>/dev/null)
[ $rc -eq 0 ] && lt "$mx" 1e-4 && pass "merge --to hf: max |dlogit| $mx < 1e-4" || fail "merge hf rc=$rc out=[$out]"
for f in config.json model.safetensors tokenizer.model model.qm; do
  [ -s "$W/hf/$f" ] && pass "hf export has $f" || fail "hf export lacks $f"
done
rq=$(printf '%s' "$out" | json_get '["requant"]["weight_rel_err"]' 2>/dev/null)
lt 0.01 "$rq" && lt "$rq" 0.2 && pass "requant nf4 weight error $rq reported" || fail "requant weight error [$rq]"
ls -d "$W"/hf.tmp-* >/dev/null 2>&1 && fail "staging directory left behind" || pass "no staging directory left"

# llama2.c export: the same fp32 weights, so the same perplexity to the last digit.
out=$("$Q" merge --model "$M/tinystories-1M-hf" --checkpoint "$W/ckpt.h5" --out "$W/l2c" --to llama2c 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ -s "$W/l2c/model.bin" ] && pass "merge --to llama2c (base given as the HF dir)" || fail "merge llama2c rc=$rc [$out]"
p1=$("$Q" ppl --model "$W/hf" --max-windows 8 --seq-len 64 2>/dev/null); p2=$("$Q" ppl --model "$W/l2c/model.bin" --max-windows 8 --seq-len 64 2>/dev/null)
[ -n "$p1" ] && [ "$p1" = "$p2" ] && pass "ppl of HF and llama2.c exports identical: $p1" || fail "ppl hf [$p1] vs llama2c [$p2]"
p3=$("$Q" ppl --model "$W/hf/model.qm" --tokenizer "$W/hf/tokenizer.model" --max-windows 8 --seq-len 64 2>/dev/null)
[ -n "$p3" ] && pass "requantized model.qm loads and scores: $p3" || fail "ppl of model.qm failed"

# bf16: half the bytes, a bounded logits change.
out=$("$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/bf16" --dtype bf16 2>/dev/null); rc=$?
mx=$(printf '%s' "$out" | json_get '["max_abs_dlogit"]' 2>/dev/null)
s32=$(stat -c %s "$W/hf/model.safetensors"); s16=$(stat -c %s "$W/bf16/model.safetensors" 2>/dev/null || echo 0)
[ $rc -eq 0 ] && lt "$mx" 0.5 && [ $((s16 * 2)) -le $((s32 + 16384)) ] && pass "merge --dtype bf16: max |dlogit| $mx, $s16 vs $s32 bytes" \
  || fail "merge bf16 rc=$rc mx=$mx sizes $s16/$s32"

# PEFT: adapters + the dequantized base; the oracle applies PEFT's merge and compares with hf/.
out=$("$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/peft" --to peft 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ -s "$W/peft/adapter_model.safetensors" ] && [ -s "$W/peft/adapter_config.json" ] && [ -s "$W/peft/base/model.safetensors" ] \
  && pass "merge --to peft wrote adapters and base/" || fail "merge peft rc=$rc [$out]"
grep -q "\"base_model_name_or_path\": \"$(cd "$W" && pwd -P)/peft/base\"" "$W/peft/adapter_config.json" \
  && pass "adapter_config.json points at the written base" || fail "base_model_name_or_path: $(grep base_model "$W/peft/adapter_config.json")"
"$PY" "$(dirname "$0")/oracle_peft.py" cli "$W/peft" "$W/peft/base" "$W/hf"   # prints its own PASS/FAIL lines

# Refusals: one line, exit 1, nothing written.
mkdir -p "$W/full" && echo keep >"$W/full/keep"
expect_error "merge into a non-empty --out refused" "refusing to overwrite" \
  "$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/full"
[ "$(ls "$W/full")" = keep ] && pass "non-empty --out untouched" || fail "non-empty --out changed: $(ls "$W/full")"
expect_error "bad --dtype refused" "--dtype must be f32, f16 or bf16, found 'f8'" \
  "$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/x1" --dtype f8
expect_error "bad --to refused" "--to must be hf, llama2c, peft, gguf or gguf-lora" \
  "$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/x2" --to onnx
expect_error "llama2c with bf16 refused" "fp32 only" \
  "$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/x3" --to llama2c --dtype bf16
expect_error "bad --requant format refused" "--requant" \
  "$Q" merge --model "$BIN" --checkpoint "$W/ckpt.h5" --out "$W/x4" --requant nf9
expect_error "missing checkpoint refused" "nope.h5" \
  "$Q" merge --model "$BIN" --checkpoint "$W/nope.h5" --out "$W/x5"
expect_error "checkpoint over the wrong base refused" "hash" \
  "$Q" merge --model "$W/hf" --checkpoint "$W/ckpt.h5" --out "$W/x6"
left=$(ls -d "$W"/x* 2>/dev/null)
[ -z "$left" ] && pass "refused merges left nothing behind" || fail "left behind: $left"
rm -rf "$W"
