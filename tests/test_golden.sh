#!/usr/bin/env bash
# tests/test_golden.sh — the 10-step golden run (llm.c's test_gpt2): `qpeft train` for 10 AdamW
# steps on a few text windows, against tests/oracle_train.py's independent float64 PyTorch run
# of the same recipe; the loss, lr and pre-clip gradient norm of every step and the final
# trainable parameters must agree. Two modes: full fine-tuning (every weight, norms undecayed) and
# QPEFT (mxint3 base, rank-4 qlora adapters on all seven linears). Clipping (active on most
# steps: the oracle asserts it), 2 warm-up steps, linear decay and weight decay 0.5 are all on,
# so a wrong clipping order, schedule offset, bias correction or decay mask changes the numbers.
# The batch holds every window, so the data order plays no part; dropout is off.
# Last, the oracle itself is mutated (no weight decay; clipping after the step) to show the
# comparison notices a difference of that size.
set -u
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
O=$(dirname "$0")/oracle_train.py
D=$A/models/tinystories-1M
W=$T/golden; rm -rf "$W"; mkdir -p "$W"
head -c 1500 "$A/text/janeausten.txt" >"$W/train.txt"
head -c 700 "$A/text/janeausten.txt" >"$W/dev.txt"
# One recipe, given to both sides.
lr=1e-3 wd=0.5 clip=0.5 warmup=2 seed=42 rank=4 alpha=8
hp=(T=16 steps=10 lr=$lr wd=$wd clip=$clip b1=0.9 b2=0.999 eps=1e-8 warmup=$warmup schedule=linear seed=$seed
    rank=$rank alpha=$alpha bits=3 block=32)
flags=(--model "$D/tinystories-1M.bin" --text "$W/train.txt" --dev "$W/dev.txt" --seq-len 16 --batch 64 --max-steps 10
       --lr $lr --weight-decay $wd --clip $clip --warmup $warmup --schedule linear --beta1 0.9 --beta2 0.999 --eps 1e-8
       --seed $seed --dropout 0 --log-every 1 --threads 2 --quiet)

golden() {  # golden MODE qpeft-flags...
  local mode=$1; shift
  "$Q" train "${flags[@]}" "$@" --out "$W/$mode" 2>"$W/$mode.err" \
    || { fail "golden $mode: qpeft train rc=$?: $(tail -1 "$W/$mode.err")"; return; }
  "$PY" "$O" run "$D/tinystories-1M.bin" "$D/tok2048.model" "$W/train.txt" "$mode" "$W/$mode.npz" "${hp[@]}" \
    >"$W/$mode.oracle" 2>&1 || { fail "golden $mode: oracle: $(tail -1 "$W/$mode.oracle")"; return; }
  echo "# $(cat "$W/$mode.oracle")"
  "$PY" "$O" check "$W/$mode" "$W/$mode.npz" "golden $mode"
}
golden full --mode full
golden qpeft --mode qpeft --format mxint3 --block 32 --rank $rank --alpha $alpha --init qlora

# The comparison can fail: the same check against oracles with one thing wrong.
mutant() {  # mutant NAME key=value...: the full-mode run must NOT match this oracle
  local name=$1; shift
  "$PY" "$O" run "$D/tinystories-1M.bin" "$D/tok2048.model" "$W/train.txt" full "$W/m.npz" "${hp[@]}" "$@" >/dev/null 2>&1
  local out; out=$("$PY" "$O" check "$W/full" "$W/m.npz" "mutant")
  printf '%s\n' "$out" | grep -q '^FAIL' && pass "golden check notices $name: $(printf '%s\n' "$out" | grep '^FAIL' | head -1 | cut -c1-160)" \
    || fail "golden check does not notice $name"
}
mutant "weight decay 0.25 instead of 0.5" wd=0.25
mutant "warm-up of 3 steps instead of 2" warmup=3
