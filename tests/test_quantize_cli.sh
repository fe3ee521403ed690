#!/usr/bin/env bash
# tests/test_quantize_cli.sh — `qpeft quantize` end to end: its --json line parses and matches
# the measured tinystories-1M error table (docs/quantization.md), --out writes a .qm file that
# ppl, generate and info take as --model (ppl equal to quantizing in process), and bad flags or
# bad files give one clear line.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M
BIN=$M/tinystories-1M.bin
TOK=$M/tok2048.model
PY=${PYTHON:-/usr/bin/python3}
D=$(mktemp -d "$T/quantize_cli.XXXXXX")
trap 'rm -rf "$D"' EXIT

# field NAME: read one field of the JSON object on stdin's last line.
field() { tail -1 | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); print(d[sys.argv[1]])" "$1"; }

# Measured on tinystories-1M, all seven linears (docs/quantization.md): format, bits/w, rel error.
while read -r fmt bpw rel; do
  args=${fmt//_/ }
  js=$("$Q" quantize --model "$BIN" --format $args --json 2>/dev/null | tail -1)
  if ! printf '%s\n' "$js" | "$PY" -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null; then
    fail "quantize $args --json: last line is not JSON: [$js]"; continue
  fi
  got_b=$(printf '%s\n' "$js" | field bits_per_weight); got_r=$(printf '%s\n' "$js" | field rel_frobenius_error)
  if awk -v b="$got_b" -v r="$got_r" -v eb="$bpw" -v er="$rel" 'BEGIN { exit !((b-eb)^2 < 1e-6 && (r-er)^2 < 1e-6) }'; then
    pass "quantize $args: bits/weight $got_b (table $bpw), rel_frobenius_error $got_r (table $rel, within 1e-3)"
  else
    fail "quantize $args: bits/weight $got_b vs $bpw, rel_frobenius_error $got_r vs $rel"
  fi
done <<'EOF'
nf4 4.5111 0.0918
mxint3 3.25 0.2518
mxint2_--block_16 2.5 0.4701
int4 4.3833 0.0903
nf3 3.5111 0.2011
nf2 2.5111 0.5607
fp4 4.5111 0.1213
bf16 16 0.0017
EOF

# The JSON object carries the required keys and consistent byte counts.
js=$("$Q" quantize --model "$BIN" --format nf4 --json 2>/dev/null | tail -1)
printf '%s\n' "$js" | "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read())
need = ["format", "block", "bits_per_weight", "rel_frobenius_error", "model_bytes_fp32", "model_bytes_packed", "per_module"]
miss = [k for k in need if k not in d]
assert not miss, miss
assert d["format"] == "nf4" and d["block"] == 64, (d["format"], d["block"])
assert d["model_bytes_fp32"] == 1369728 * 4, d["model_bytes_fp32"]
assert abs(d["linear_bytes_packed"] * 8 / d["quantized_weights"] - d["bits_per_weight"]) < 1e-5
assert len(d["per_module"]) == 7
' 2>"$D/py.err" && pass "quantize --json has format, block, bits, error, model bytes fp32 vs packed" \
  || fail "quantize --json keys: $(cat "$D/py.err" | tail -1)"
# Human table: one row per layer and linear, then totals; the JSON line is the last line.
out=$("$Q" quantize --model "$BIN" --format mxint3 2>/dev/null)
rows=$(printf '%s\n' "$out" | grep -cE '^[0-9]+ +(q|k|v|o|gate|up|down)_proj ')
[ "$rows" -eq 42 ] && printf '%s\n' "$out" | grep -q '^total ' && pass "quantize prints 42 per-layer rows and a total" \
  || fail "quantize table: $rows rows"
# --modules: only those kinds.
js=$("$Q" quantize --model "$BIN" --format nf4 --modules q_proj,down_proj --json 2>/dev/null | tail -1)
nm=$(printf '%s\n' "$js" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["quantized_weights"], ",".join(d["per_module"]))')
[ "$nm" = "368640 q_proj,down_proj" ] && pass "quantize --modules q_proj,down_proj: $nm" || fail "quantize --modules: [$nm]"

# --out, then every verb takes the file as --model.
QM=$D/ts-nf4.qm
"$Q" quantize --model "$BIN" --format nf4 --out "$QM" --json >"$D/q.out" 2>"$D/q.err" && [ -s "$QM" ] \
  && pass "quantize --out wrote $(stat -c %s "$QM") bytes" || fail "quantize --out: $(cat "$D/q.err")"
[ "$(field out_file_bytes <"$D/q.out")" = "$(stat -c %s "$QM")" ] && pass "JSON out_file_bytes is the file size" \
  || fail "out_file_bytes"
ls "$D" | grep -q tmp && fail "quantize --out left a temporary file" || pass "quantize --out leaves no temporary"
a=$("$Q" ppl --model "$QM" --tokenizer "$TOK" --max-windows 8 2>/dev/null)
b=$("$Q" ppl --model "$BIN" --format nf4 --max-windows 8 2>/dev/null)
c=$("$Q" ppl --model "$BIN" --max-windows 8 2>/dev/null)
case "$a" in loss*) pass "ppl --model out.qm: $a";; *) fail "ppl on the .qm: [$a]";; esac
[ -n "$a" ] && [ "$a" = "$b" ] && pass "ppl of the .qm equals ppl --format nf4 in process (same loss)" \
  || fail "ppl .qm [$a] vs in-process [$b]"
[ "$a" != "$c" ] && pass "and differs from fp32 [$c]" || fail "quantized ppl equals fp32 ppl"
# Partial module set and another format, the same way.
"$Q" quantize --model "$BIN" --format mxint3 --modules q_proj,v_proj,down_proj --out "$D/mx.qm" >/dev/null 2>&1
a=$("$Q" ppl --model "$D/mx.qm" --tokenizer "$TOK" --max-windows 4 2>/dev/null)
b=$("$Q" ppl --model "$BIN" --format mxint3 --modules q_proj,v_proj,down_proj --max-windows 4 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "mxint3 on q,v,down: .qm ppl equals in-process ($a)" || fail "mxint3 partial: [$a] vs [$b]"
out=$("$Q" info --model "$QM" 2>&1) && printf '%s\n' "$out" | grep -q '^dim  *128' && pass "info --model out.qm works" \
  || fail "info on the .qm: [$out]"
g1=$("$Q" generate --model "$QM" --tokenizer "$TOK" --temperature 0 --steps 30 2>/dev/null)
g2=$("$Q" generate --model "$BIN" --temperature 0 --steps 30 2>/dev/null)
[ -n "$g1" ] && pass "generate --model out.qm: [${g1:0:50}...]" || fail "generate on the .qm produced nothing"
[ "$g1" != "$g2" ] || echo "# note: nf4 greedy text equals fp32's for 30 steps"

# Errors: one line, non-zero exit.
expect_error "quantize without --format" "format is required" "$Q" quantize --model "$BIN"
expect_error "quantize without --model" "model is required" "$Q" quantize --format nf4
expect_error "quantize --format nf5" "nf5" "$Q" quantize --model "$BIN" --format nf5
expect_error "quantize --block 48" "48" "$Q" quantize --model "$BIN" --format nf4 --block 48
expect_error "quantize --block -1" "block" "$Q" quantize --model "$BIN" --format nf4 --block -1
expect_error "quantize --double-quant on mxint3" "double" "$Q" quantize --model "$BIN" --format mxint3 --double-quant
expect_error "quantize --modules foo" "--modules 'foo'" "$Q" quantize --model "$BIN" --format nf4 --modules foo
expect_error "quantize --modules empty" "--modules" "$Q" quantize --model "$BIN" --format nf4 --modules ""
expect_error "quantize --format f32" "f32" "$Q" quantize --model "$BIN" --format f32
expect_error "quantize unknown flag" "--bogus" "$Q" quantize --model "$BIN" --format nf4 --bogus
# Training on a .qm: the file implies its format (--format optional; a contradicting one refused).
head -c 20000 "$A/text/janeausten.txt" >"$D/austen.txt"
tq=(--model "$D/mx.qm" --tokenizer "$TOK" --text "$D/austen.txt" --seq-len 32 --max-steps 2 --batch 4 --threads 2 --quiet)
"$Q" train "${tq[@]}" --out "$D/qmrun" 2>"$D/qm.err"
got=$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["mode"], c["format"], c["bits_per_weight"] > 3)' "$D/qmrun/config.json" 2>/dev/null)
[ "$got" = "qpeft mxint3-b32 True" ] && pass "train on an mxint3 .qm without --format records mode, format and bits: $got" \
  || fail "train on .qm: [$got] $(tail -1 "$D/qm.err")"
expect_error "train on an mxint3 .qm with --format nf4" "--format nf4-b64 contradicts .*mx.qm, whose bases are mxint3-b32" \
  "$Q" train "${tq[@]}" --format nf4 --out "$D/qmbad"
"$Q" train "${tq[@]}" --format mxint3 --out "$D/qmrun2" 2>"$D/qm2.err" && pass "train on an mxint3 .qm with its own --format mxint3" \
  || fail "train .qm --format mxint3: $(tail -1 "$D/qm2.err")"
expect_error "train on a .qm with another init" "trains in qpeft mode with --init qlora only" \
  "$Q" train "${tq[@]}" --init loftq --out "$D/qmbad"
expect_error "quantize a .qm again" "already a quantized model" "$Q" quantize --model "$QM" --format nf4
expect_error "quantize --out into a missing directory" "no/such/dir" "$Q" quantize --model "$BIN" --format nf4 --out "$D/no/such/dir/x.qm"
expect_error "ppl --format on a .qm" "already a quantized model" "$Q" ppl --model "$QM" --tokenizer "$TOK" --format nf4
expect_error "ppl --block without --format" "need --format" "$Q" ppl --model "$BIN" --block 32
head -c 100000 "$QM" >"$D/trunc.qm"
expect_error "ppl on a truncated .qm" "trunc.qm: truncated" "$Q" ppl --model "$D/trunc.qm" --tokenizer "$TOK"
expect_error "info on a truncated .qm" "trunc.qm: truncated" "$Q" info --model "$D/trunc.qm"
cp "$QM" "$D/badfmt.qm"; printf '\x63' | dd of="$D/badfmt.qm" bs=1 seek=64 conv=notrunc 2>/dev/null
expect_error "ppl on a .qm with an unknown format id" "badfmt.qm: unknown quantization format id 99" \
  "$Q" ppl --model "$D/badfmt.qm" --tokenizer "$TOK"
