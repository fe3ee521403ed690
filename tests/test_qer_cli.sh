#!/usr/bin/env bash
# tests/test_qer_cli.sh — `qpeft merge --lossless` (QER, trainer/qer_cli.h) end to end on a
# qera-approx mxint4 adapter checkpoint of tinystories-1M: model.qm at the base's bits/weight and
# byte size, logits bit-identical to the unmerged quantized-adapter model, error and overflow
# reported, the file loads for `qpeft ppl`, the error-aware calibration runs; one-line refusals
# (nf4 base, --requant together, --qer-* without --lossless) that leave nothing behind.
set -u
. "$(dirname "$0")/lib.sh"
BIN=$A/models/tinystories-1M/tinystories-1M.bin
W=$(mktemp -d "$T/qer.XXXXXX")
PY=${PYTHON:-/usr/bin/python3}
json_get() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(eval("d"+sys.argv[1]))' "$1"; }

"$Q" init --model "$BIN" --format mxint4 --rank 8 --init qera-approx --calib-text "$A/text/tinystories_train_head.txt" \
  --samples 8 --seq-len 64 --out "$W/q4.h5" >/dev/null 2>&1 && pass "qera-approx mxint4 checkpoint made" || fail "qpeft init failed"
"$Q" quantize --model "$BIN" --format mxint4 --out "$W/base.qm" >/dev/null 2>&1 && pass "plain mxint4 .qm made" || fail "quantize failed"

out=$("$Q" merge --model "$BIN" --checkpoint "$W/q4.h5" --out "$W/l4" --lossless 2>/dev/null); rc=$?
bpw=$(printf '%s' "$out" | json_get '["lossless"]["bits_per_weight"]' 2>/dev/null)
eq=$(printf '%s' "$out" | json_get '["lossless"]["max_abs_dlogit_vs_unmerged"]' 2>/dev/null)
err=$(printf '%s' "$out" | json_get '["lossless"]["weight_rel_err"]' 2>/dev/null)
ov=$(printf '%s' "$out" | json_get '["lossless"]["overflow"]' 2>/dev/null)
[ $rc -eq 0 ] && [ "$bpw" = "4.25" ] && pass "merge --lossless: $bpw bits/weight (mxint4-b32's)" || fail "lossless rc=$rc bpw=[$bpw]"
[ "$eq" = "0" ] && printf '%s' "$out" | grep -q "differ in bits (bit for bit)" \
  && pass "merged vs unmerged quantized-adapter logits: bit for bit" || fail "equality [$eq]"
"$PY" -c 'import sys,math; e=float(sys.argv[1]); sys.exit(0 if math.isfinite(e) and 0 < e < 0.5 else 1)' "$err" \
  && [ -n "$ov" ] && pass "error vs fp adapters $err and $ov overflowed codes reported" || fail "error [$err] overflow [$ov]"
s1=$(stat -c %s "$W/l4/model.qm" 2>/dev/null); s0=$(stat -c %s "$W/base.qm")
[ "$s1" = "$s0" ] && pass "merged model.qm $s1 bytes == plain mxint4 .qm" || fail "sizes $s1 vs $s0"
"$Q" ppl --model "$W/l4/model.qm" --max-windows 2 --seq-len 64 >"$W/ppl.txt" 2>&1 && grep -q "^loss" "$W/ppl.txt" \
  && pass "merged model.qm loads and scores: $(grep '^loss' "$W/ppl.txt")" || fail "ppl on model.qm: $(tail -1 "$W/ppl.txt")"

out=$("$Q" merge --model "$BIN" --checkpoint "$W/q4.h5" --out "$W/l4c" --lossless --qer-steps 3 --qer-samples 4 2>/dev/null); rc=$?
[ $rc -eq 0 ] && printf '%s' "$out" | grep -q "^qer calibration (3 Adam steps" && printf '%s' "$out" | grep -q "(bit for bit)" \
  && pass "--qer-steps 3: calibration reported, merge still bit for bit" || fail "calibrated merge rc=$rc"

"$Q" init --model "$BIN" --format nf4 --rank 4 --init qlora --out "$W/n4.h5" >/dev/null 2>&1
expect_error "nf4 base refused" "MXINT-k base.*nf4" "$Q" merge --model "$BIN" --checkpoint "$W/n4.h5" --out "$W/bad1" --lossless
[ -e "$W/bad1" ] || ls -d "$W"/bad1.tmp-* >/dev/null 2>&1 && fail "refusal left output behind" || pass "refusal left nothing behind"
expect_error "--lossless with --requant refused" "choose one" "$Q" merge --model "$BIN" --checkpoint "$W/q4.h5" --out "$W/bad2" --lossless --requant mxint4
expect_error "--qer-steps without --lossless refused" "need --lossless" "$Q" merge --model "$BIN" --checkpoint "$W/q4.h5" --out "$W/bad3" --qer-steps 3
rm -rf "$W"
