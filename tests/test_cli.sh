#!/usr/bin/env bash
# tests/test_cli.sh — the first CLI verbs end to end: run.c's golden greedy output from the .bin
# and the HF directory, prompts and step counts against an independent reading of run.c's
# semantics, the perplexity recipe of the tinystories-1M README, `info`, and one-line errors for
# bad flags and bad model files.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M
BIN=$M/tinystories-1M.bin
HF=$M/tinystories-1M-hf

# run.c's output for `run tinystories-1M.bin -z tok2048.bin -t 0 -n 200`, from the model's README.
golden=$(sed -n '/^```$/,/^```$/p' "$M/README.md" | sed '1d;$d')
[ -n "$golden" ] && pass "golden text found in README" || fail "golden text not found in $M/README.md"
out=$("$Q" generate --model "$BIN" --tokenizer "$M/tok2048.model" --temperature 0 --steps 200 2>/dev/null)
[ "$out" = "$golden" ] && pass "generate .bin greedy 200 steps equals run.c" || fail "generate .bin differs from run.c: [$out]"
out=$("$Q" generate --model "$HF" --temperature 0 --steps 200 2>/dev/null)
[ "$out" = "$golden" ] && pass "generate HF dir greedy 200 steps equals run.c" || fail "generate HF differs from run.c: [$out]"
# Prefixes: with --steps N the output is the first N-1 tokens of the same greedy run, so it is
# a prefix of the 200-step text.
for n in 2 17 64; do
  out=$("$Q" generate --model "$BIN" --tokenizer "$M/tok2048.model" --temperature 0 --steps $n 2>/dev/null)
  case "$golden" in "$out"*) pass "generate --steps $n is a prefix of the golden run";; *) fail "generate --steps $n: [$out]";; esac
done
# A prompt is forced through (its tokens are printed as decoded, then generation continues).
out=$("$Q" generate --model "$BIN" --tokenizer "$M/tok2048.model" --temperature 0 --steps 40 --prompt "Once upon a time" 2>/dev/null)
case "$out" in "Once upon a time"*) pass "generate --prompt echoes the prompt first: [${out:0:60}...]";; *) fail "prompt run: [$out]";; esac
out2=$("$Q" generate --model "$HF" --temperature 0 --steps 40 --prompt "Once upon a time" 2>/dev/null)
[ "$out" = "$out2" ] && pass "prompt run identical for .bin and HF" || fail "prompt run .bin vs HF differ"
# stdout carries only text: stderr has the timing line, stdout none of it.
"$Q" generate --model "$BIN" --steps 20 --seed 7 >"$T/gen.out" 2>"$T/gen.err"
grep -q "tok/s" "$T/gen.out" && fail "timing leaked into stdout" || pass "stdout holds only generated text"
s1=$("$Q" generate --model "$BIN" --steps 30 --seed 7 2>/dev/null); s2=$("$Q" generate --model "$BIN" --steps 30 --seed 7 2>/dev/null)
[ "$s1" = "$s2" ] && [ -n "$s1" ] && pass "sampling with the same seed repeats" || fail "sampling not reproducible"

# Perplexity recipe of the README: all 910 windows of 256 tokens, 2.918786 within 1e-3.
line=$("$Q" ppl --model "$BIN" --text "$A/text/tinystories_valid_head.txt" 2>/dev/null)
loss=$(printf '%s' "$line" | awk '{print $2}'); wins=$(printf '%s' "$line" | awk '{print $6}')
awk -v l="$loss" 'BEGIN{d=l-2.918786; if (d<0) d=-d; exit !(d<1e-3)}' && pass "ppl recipe loss $loss (ref 2.918786)" || fail "ppl loss $loss vs 2.918786: [$line]"
[ "$wins" = 910 ] && pass "ppl used 910 windows" || fail "ppl windows $wins"
line=$("$Q" ppl --model "$HF" --max-windows 64 2>/dev/null); loss=$(printf '%s' "$line" | awk '{print $2}')
awk -v l="$loss" 'BEGIN{d=l-2.71853; if (d<0) d=-d; exit !(d<1e-3)}' && pass "ppl HF first 64 windows $loss (README 2.71853)" || fail "ppl HF 64 windows: [$line]"
line=$("$Q" ppl --model "$BIN" --seq-len 128 --max-windows 16 2>/dev/null)
printf '%s' "$line" | grep -q "seq_len 128" && pass "ppl --seq-len 128: $line" || fail "ppl --seq-len: [$line]"

# info
out=$("$Q" info --model "$BIN" 2>/dev/null)
printf '%s' "$out" | grep -q "parameters     1369728" && pass "info counts 1,369,728 parameters" || fail "info: [$out]"
h1=$(printf '%s' "$out" | awk '/weights hash/{print $3}'); h2=$("$Q" info --model "$HF" 2>/dev/null | awk '/weights hash/{print $3}')
[ -n "$h1" ] && [ "$h1" = "$h2" ] && pass "llama2.c and HF copies hash alike ($h1)" || fail "hash .bin $h1 vs HF $h2"

# One-line errors with a non-zero exit.
expect_error "unknown verb" "unknown verb" "$Q" frobnicate
expect_error "unknown flag" "unknown option|unknown flag" "$Q" ppl --model "$BIN" --bogus 1
expect_error "malformed int" "expects an integer" "$Q" generate --model "$BIN" --steps abc
expect_error "out of range" "must be in" "$Q" generate --model "$BIN" --temperature -1
expect_error "missing value" "needs a value|expects a value|missing" "$Q" generate --model
expect_error "missing model file" "no such model" "$Q" info --model "$T/nope.bin"
expect_error "a device as --model says what it is" "/dev/null: not a model file or directory \\(a device" "$Q" info --model /dev/null
head -c 1000 "$BIN" >"$T/trunc.bin"
expect_error "truncated model" "trunc.bin" "$Q" info --model "$T/trunc.bin"
printf '' >"$T/empty.bin"
expect_error "empty model file" "empty.bin" "$Q" info --model "$T/empty.bin"
mkdir -p "$T/notok" && cp "$BIN" "$T/notok/m.bin"
expect_error "no tokenizer" "tokenizer" "$Q" generate --model "$T/notok/m.bin" --steps 5
expect_error "corrupt tokenizer" "tok.model" sh -c "printf garbage >'$T/tok.model'; '$Q' generate --model '$BIN' --tokenizer '$T/tok.model' --steps 5"
expect_error "missing text" "nope.txt" "$Q" ppl --model "$BIN" --text "$T/nope.txt"
expect_error "seq-len beyond context" "exceeds" "$Q" ppl --model "$BIN" --seq-len 4096
"$Q" generate --help >/dev/null 2>&1 && pass "generate --help exits 0" || fail "generate --help"

# ppl with an initialiser's reconstruction terms and no training (the QERA paper's Table 3 use):
# zero-rank w-only quantization vs qera-exact rank 16 on mxint3; the terms must bring the loss
# toward the fp32 model's.
fp=$("$Q" ppl --model "$BIN" --max-windows 16 --quiet | awk '{print $2}')
wo=$("$Q" ppl --model "$BIN" --format mxint3 --max-windows 16 --quiet | awk '{print $2}')
qe=$("$Q" ppl --model "$BIN" --format mxint3 --rank 16 --init qera-exact --calib-text "$A/text/tinystories_train_head.txt" --max-windows 16 --quiet | awk '{print $2}')
awk -v f="$fp" -v w="$wo" -v q="$qe" 'BEGIN{exit !(f < q && q < w)}' && pass "ppl: fp32 $fp < qera-exact r16 $qe < w-only mxint3 $wo" || fail "ppl Table-3 order: fp32 $fp qera-exact $qe w-only $wo"
expect_error "ppl --init without --format" "needs --format" "$Q" ppl --model "$BIN" --init qera-exact --rank 8
