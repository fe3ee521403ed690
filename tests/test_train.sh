#!/usr/bin/env bash
# tests/test_train.sh — `qpeft train` / `qpeft eval` end to end on tinystories-1M: every mode and
# task kind runs and learns, the outputs scripts rely on exist and parse, resuming from a step
# checkpoint continues the run bit for bit, a non-finite loss stops with the last checkpoint
# kept, and bad flags fail with one line.
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
PY=${PYTHON:-/usr/bin/python3}
common=(--model "$M" --threads 2 --quiet)

# jsonl field of the last line matching a key
last_eval() { grep '"eval"' "$1/log.jsonl" | tail -1; }

# learns NAME RUN FLAGS...: RUN learned: it is repeated with --lr 0 (same seed: the same batches,
# dropout masks and initial weights) and, step by step, RUN's training loss must be below the
# control's on average and on more than half of the steps, once the updates have had an effect (the steps after
# the first with lr > 0). A run that trains nothing (lr 0, a lost gradient) fails.
learns() {
  local name=$1 run=$2; shift 2
  "$Q" train "$@" --lr 0 --out "$run.lr0" 2>"$run.lr0.err" || { fail "$name: control rc=$?: $(tail -1 "$run.lr0.err")"; return; }
  local out; out=$("$PY" - "$run" "$run.lr0" <<'PY'
import json, sys
def log(d):
    return [json.loads(l) for l in open(d + "/log.jsonl") if '"eval"' not in l]
a, c = log(sys.argv[1]), log(sys.argv[2])
assert [r["step"] for r in a] == [r["step"] for r in c], "runs logged different steps"
first = next(i for i, r in enumerate(a) if r["lr"] > 0) + 1  # losses from here on saw an update
d = [x["loss"] - y["loss"] for x, y in zip(a[first:], c[first:])]
below = sum(v < 0 for v in d)
mean = sum(d) / max(len(d), 1)
print(f"{len(d)} steps after the first update: loss below the lr-0 control's on {below}, mean difference {mean:+.4g}")
sys.exit(0 if d and mean < 0 and below > len(d) / 2 else 1)
PY
)
  [ $? -eq 0 ] && pass "$name learns: $out" || fail "$name does not learn: $out"
}

# 1. LoRA (fp32 base) on SST-2: outputs exist and parse; the training loss goes down.
R=$T/sst2-lora
a1=("${common[@]}" --task sst2 --max-steps 60 --batch 16 --eval-every 30)
"$Q" train "${a1[@]}" --lr 2e-3 --out "$R" 2>"$T/err1" || fail "train lora sst2 rc=$?: $(tail -2 "$T/err1")"
learns "lora sst2 (60 steps)" "$R" "${a1[@]}"
for f in config.json log.jsonl last.h5 best.h5; do [ -s "$R/$f" ] && pass "wrote $f" || fail "missing $R/$f"; done
"$PY" - "$R" <<'PY' && pass "config.json and log.jsonl parse; steps 1..60 logged" || fail "log/config check"
import json, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
assert cfg["mode"] == "lora" and cfg["task"] == "sst2" and cfg["rank"] == 8 and cfg["alpha"] == 16, cfg
lines = [json.loads(l) for l in open(d + "/log.jsonl")]
tr = [l for l in lines if "loss" in l and "eval" not in l]
ev = [l for l in lines if "eval" in l]
assert [l["step"] for l in tr] == list(range(1, 61)), [l["step"] for l in tr][:5]
assert all(k in tr[0] for k in ("step", "loss", "lr", "tokens_per_s"))
assert len(ev) >= 2 and "accuracy" in ev[-1]["eval"], ev
PY
"$PY" - "$R/last.h5" <<'PY' && pass "last.h5 readable by h5py with adapters of every layer" || fail "h5py read of last.h5"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
names = []
f.visit(names.append)
assert any(n.endswith("/A") for n in names) and any(n.endswith("/B") for n in names), names[:20]
PY

# 2. eval of the last checkpoint reproduces the run's final evaluation and writes predictions.
out=$("$Q" eval --model "$M" --checkpoint "$R/last.h5" --task sst2 --predictions "$T/pred.tsv" --quiet 2>"$T/err2" | tail -1)
want=$(last_eval "$R" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["eval"]["accuracy"])')
got=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["accuracy"])' 2>/dev/null)
[ -n "$got" ] && [ "$got" = "$want" ] && pass "eval accuracy $got equals the run's last eval" || fail "eval [$out] vs log $want: $(tail -1 "$T/err2")"
n=$(($(wc -l <"$T/pred.tsv") - 1))
[ "$n" = 872 ] && pass "predictions: 872 rows" || fail "predictions rows $n"
cut -f2 "$T/pred.tsv" | tail -n +2 | sort -u | grep -qvE '^(0|1)$' && fail "prediction labels not 0/1" || pass "prediction labels are the dataset's strings"

# 3. Resume: 20 straight steps vs 10 + resume 10; the logged losses of steps 11..20 are identical.
S=$T/straight; RS=$T/resumed
args=(--task rte --max-steps 20 --batch 8 --lr 1e-3 --format mxint3 --log-every 1 --dropout 0.1)
"$Q" train "${common[@]}" "${args[@]}" --save-every 10 --out "$S" 2>/dev/null
"$Q" train "${common[@]}" "${args[@]}" --out "$RS" --resume "$S/step-10.h5" 2>"$T/err3"
a=$(grep -v eval "$S/log.jsonl" | awk -F'"loss": ' '{split($2,x,","); print x[1]}' | sed -n 11,20p)
b=$(grep -v eval "$RS/log.jsonl" | awk -F'"loss": ' '{split($2,x,","); print x[1]}')
s1=$(grep -v eval "$RS/log.jsonl" | head -1 | sed 's/.*"step": \([0-9]*\).*/\1/')
[ "$s1" = 11 ] && pass "first step after resuming from step-10.h5 is 11" || fail "first resumed step [$s1]: $(tail -1 "$T/err3")"
[ -n "$a" ] && [ "$a" = "$b" ] && pass "resumed losses equal the straight run's bit for bit (steps 11-20)" || fail "resume differs: [$a] vs [$b]"

# 4. qpeft on text: LM fine-tuning over an mxint3 base learns (Jane Austen, 40 steps).
head -c 300000 "$A/text/janeausten.txt" >"$T/austen.txt"
L=$T/lm
a4=("${common[@]}" --text "$T/austen.txt" --seq-len 128 --format mxint3 --max-steps 40 --batch 8)
"$Q" train "${a4[@]}" --lr 3e-3 --out "$L" 2>"$T/err4"
learns "qpeft text (40 steps)" "$L" "${a4[@]}"
"$PY" - "$L" <<'PY' && pass "qpeft text: loss falls, eval reports perplexity" || fail "qpeft text run: $(tail -1 "$T/err4")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1] + "/log.jsonl")]
tr = [l["loss"] for l in lines if "eval" not in l]
ev = [l["eval"] for l in lines if "eval" in l]
assert sum(tr[-10:]) / 10 < sum(tr[:10]) / 10, tr
assert "perplexity" in ev[-1]
PY

# 5. full fine-tuning (regression head, STS-B) runs and reports both correlations.
F=$T/full
a5=("${common[@]}" --mode full --task stsb --max-steps 10 --batch 8)
"$Q" train "${a5[@]}" --lr 1e-4 --out "$F" 2>"$T/err5"
last_eval "$F" | grep -q pearson && last_eval "$F" | grep -q spearman && pass "full stsb: pearson and spearman" || fail "full stsb: $(tail -1 "$T/err5")"
learns "full stsb (10 steps)" "$F" "${a5[@]}"


# 5b. A generic TSV task (classification by column names) and a CSV regression task.
head -201 "$A/glue/SST-2/train.tsv" >"$T/g_train.tsv"; head -81 "$A/glue/SST-2/dev.tsv" >"$T/g_dev.tsv"
a5b=("${common[@]}" --tsv "$T/g_train.tsv" --text-cols sentence --label-col label --dev "$T/g_dev.tsv" --max-steps 8 --batch 8)
"$Q" train "${a5b[@]}" --lr 2e-3 --out "$T/gtsv" 2>"$T/err5b"
last_eval "$T/gtsv" | grep -q accuracy && pass "generic TSV task reports accuracy" || fail "generic TSV: $(tail -1 "$T/err5b")"
learns "generic TSV (8 steps)" "$T/gtsv" "${a5b[@]}"
"$PY" - "$A/glue/STS-B/train.tsv" "$T/s_train.csv" 200 <<'PY'
import csv, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][1:int(sys.argv[3]) + 1]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f); w.writerow(["a", "b", "score"])
    for r in rows: w.writerow([r[7], r[8], r[9]])
PY
a5c=("${common[@]}" --tsv "$T/s_train.csv" --text-cols a,b --label-col score --regression --dev "$T/s_train.csv" --max-steps 8 --batch 8)
"$Q" train "${a5c[@]}" --lr 2e-3 --out "$T/gcsv" 2>"$T/err5c"
last_eval "$T/gcsv" | grep -q pearson && pass "generic CSV sentence-pair regression reports pearson" || fail "generic CSV: $(tail -1 "$T/err5c")"
learns "generic CSV regression (8 steps)" "$T/gcsv" "${a5c[@]}"
printf 'sentence\tlabel\nfine\t1\nbroken row without tab\n' >"$T/bad.tsv"
expect_error "malformed TSV row names file:line" "bad.tsv:3" "$Q" train --model "$M" --tsv "$T/bad.tsv" --text-cols sentence --label-col label --dev "$T/bad.tsv" --out "$T/x" --quiet

# 6. A non-finite loss stops training with one line; the checkpoints already written stay intact.
N=$T/nan
"$Q" train "${common[@]}" --task sst2 --max-steps 4 --save-every 2 --out "$N" 2>/dev/null
sum_before=$(cat "$N"/step-4.h5 "$N"/last.h5 | md5sum)
# QPEFT_FAULT_NAN_STEP=k (test-only) poisons one adapter weight before step k.
QPEFT_FAULT_NAN_STEP=6 "$Q" train "${common[@]}" --task sst2 --max-steps 30 --save-every 2 --resume "$N/step-4.h5" --out "$N" 2>"$T/err6"
rc=$?
[ $rc -ge 1 ] && [ $rc -le 125 ] && grep -q "non-finite loss at step 6" "$T/err6" && pass "non-finite stops with rc=$rc: $(grep non-finite "$T/err6")" || fail "NaN run rc=$rc: $(tail -2 "$T/err6")"
[ "$(cat "$N"/step-4.h5 "$N"/last.h5 | md5sum)" = "$sum_before" ] && pass "step-4.h5 and last.h5 untouched by the failed run" || fail "checkpoints changed after NaN"

# 6b. --out creates missing parent directories.
"$Q" train "${common[@]}" --task rte --max-steps 1 --batch 4 --out "$T/deep/a/b/run" 2>"$T/err6b"
[ -s "$T/deep/a/b/run/config.json" ] && [ -s "$T/deep/a/b/run/last.h5" ] && pass "--out a/b/run creates the parents" \
  || fail "--out with missing parents: $(tail -1 "$T/err6b")"

# 6c. A checkpoint scored on another task (same number of classes) is refused, not scored.
expect_error "eval of an sst2 checkpoint on mrpc" "trained on task 'sst2', not 'mrpc'" \
  "$Q" eval --model "$M" --checkpoint "$R/last.h5" --task mrpc --quiet

# 7. Bad flags.
expect_error "lora with format" "mode lora" "$Q" train --model "$M" --task sst2 --mode lora --format nf4 --out "$T/x"
expect_error "qpeft without format" "needs --format" "$Q" train --model "$M" --task sst2 --mode qpeft --out "$T/x"
expect_error "unknown task" "unknown" "$Q" train --model "$M" --task glue9 --out "$T/x"
expect_error "two sources" "exactly one" "$Q" train --model "$M" --task sst2 --text "$T/austen.txt" --out "$T/x"
expect_error "no out" "--out" "$Q" train --model "$M" --task sst2
expect_error "bad schedule" "schedule" "$Q" train --model "$M" --task sst2 --schedule zigzag --out "$T/x"
expect_error "resume from another run" "format|task|seed|hash|rank" "$Q" train --model "$M" --task sst2 --quiet --out "$T/y" --resume "$S/step-10.h5"

# 8. --compute bf16 (issue 13): recorded in config.json and the checkpoint; a resume with another
#    compute type is refused; the f32 fallback (QPEFT_NO_BF16=1) warns once and records f32; a
#    bf16 resume continues the run bit for bit like an f32 one.
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
    BF=$T/bf16; BR=$T/bf16r
    bargs=(--task rte --max-steps 6 --batch 8 --lr 1e-3 --format mxint4 --dropout 0 --compute bf16)
    "$Q" train "${common[@]}" "${bargs[@]}" --save-every 3 --out "$BF" 2>"$T/err8"
    grep -q '"compute": "bf16"' "$BF/config.json" && pass "config.json records compute bf16" || fail "config.json compute: $(tail -1 "$T/err8")"
    "$PY" -c 'import h5py,sys; v=h5py.File(sys.argv[1],"r").attrs["compute"]; v=v.decode() if isinstance(v,bytes) else v; assert v=="bf16", v' "$BF/step-3.h5" \
        && pass "checkpoint root attribute compute = bf16" || fail "checkpoint compute attribute"
    expect_error "resume with another --compute" "trained with --compute bf16, this run computes in f32" \
        "$Q" train "${common[@]}" "${bargs[@]/bf16/f32}" --out "$BR" --resume "$BF/step-3.h5"
    "$Q" train "${common[@]}" "${bargs[@]}" --out "$BR" --resume "$BF/step-3.h5" 2>/dev/null
    a=$(grep -v eval "$BF/log.jsonl" | awk -F'"loss": ' '{split($2,x,","); print x[1]}' | sed -n 4,6p)
    b=$(grep -v eval "$BR/log.jsonl" | awk -F'"loss": ' '{split($2,x,","); print x[1]}')
    [ -n "$a" ] && [ "$a" = "$b" ] && pass "bf16 resume: steps 4..6 identical to the straight bf16 run" || fail "bf16 resume [$a] vs [$b]"
else
    echo "SKIP bf16 train/resume: this CPU has neither avx512_bf16 nor amx_bf16"
fi
QPEFT_NO_BF16=1 "$Q" train "${common[@]}" --task rte --max-steps 2 --batch 8 --compute bf16 --out "$T/nobf" 2>"$T/err8b"
grep -c 'computing in f32' "$T/err8b" | grep -qx 1 && grep -q '"compute": "f32"' "$T/nobf/config.json" \
    && pass "bf16 unavailable: one warning line, config.json records f32" || fail "fallback: $(cat "$T/err8b")"
expect_error "bad --compute" "--compute must be f32 or bf16, got 'fp16'" "$Q" train --model "$M" --task sst2 --compute fp16 --out "$T/x"
