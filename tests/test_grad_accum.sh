#!/usr/bin/env bash
# tests/test_grad_accum.sh — gradient accumulation is a batch split, nothing more: 4 optimizer
# steps with --grad-accum 2 --batch 8 equal 4 steps with --batch 16 (same seed, so the same
# examples in each step) to fp32 rounding — the logged loss and pre-clip gradient norm of every
# step and every dataset of last.h5 (adapters, head, AdamW moments). With adapter dropout on the
# same holds, because dropout masks are keyed per example (model/model.h, ModelTrainStep):
# (seed, optimizer step, example, position, layer, linear, feature). Controls: dropout 0.1 against
# dropout 0, and another --seed, must NOT match (the comparison sees dropout and data order).
set -u
. "$(dirname "$0")/lib.sh"
M=$A/models/tinystories-1M/tinystories-1M.bin
PY=${PYTHON:-/usr/bin/python3}
W=$T/gaccum; rm -rf "$W"; mkdir -p "$W"
head -n 65 "$A/glue/SST-2/train.tsv" >"$W/train.tsv"   # 64 examples: 4 steps of 16 = one epoch
head -n 17 "$A/glue/SST-2/dev.tsv" >"$W/dev.tsv"
base=(--model "$M" --tsv "$W/train.tsv" --dev "$W/dev.tsv" --text-cols sentence --label-col label --max-len 32
      --rank 4 --lr 2e-3 --max-steps 4 --log-every 1 --threads 2 --quiet)
run() {  # run NAME flags...
  local name=$1; shift
  "$Q" train "${base[@]}" "$@" --out "$W/$name" 2>"$W/$name.err" || fail "$name: rc=$?: $(tail -1 "$W/$name.err")"
}
# same A B: exit 0 when the runs agree to fp32 rounding, 1 (printing the largest gap) when not.
same() {
  "$PY" - "$W/$1" "$W/$2" <<'PY'
import h5py, json, sys
import numpy as np
def log(d):
    return [json.loads(l) for l in open(d + "/log.jsonl") if '"eval"' not in l]
a, b = log(sys.argv[1]), log(sys.argv[2])
gaps = []
if [r["step"] for r in a] != [r["step"] for r in b]:
    print("different steps logged"); sys.exit(1)
# The log prints 6 significant digits; summation order (B=8 twice vs B=16) moves fp32 by ~1e-7.
for k in ("loss", "grad_norm"):
    x, y = np.array([r[k] for r in a]), np.array([r[k] for r in b])
    gaps.append((float(np.max(np.abs(x - y) / np.abs(y))), k, 2e-5))
def tensors(p):
    out = {}
    with h5py.File(p, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
    return out
ta, tb = tensors(sys.argv[1] + "/last.h5"), tensors(sys.argv[2] + "/last.h5")
if ta.keys() != tb.keys():
    print("different datasets"); sys.exit(1)
# Parameters and AdamW moments: elementwise within 1e-4 of the tensor's largest |value| (fp32
# rounding of the gradient sums shows at ~1e-6). Exception: Adam divides each update by
# sqrt(v), so an element whose gradient is at the rounding level of its sums can move by up to
# the step's lr with either sign; at most 1 in 10^4 elements may differ more, each by at most the
# summed lr of the run (Adam's bound on a parameter's travel).
sum_lr = sum(r["lr"] for r in b) * 1.01
total = outliers = 0
for n in ta:
    x, y = ta[n].astype(np.float64), tb[n].astype(np.float64)
    scale = max(float(np.max(np.abs(y))), 1e-30)
    d = np.abs(x - y)
    big = d > 1e-4 * scale
    total += d.size
    outliers += int(big.sum())
    if n.startswith("optimizer/"):  # the moments accumulate raw gradients: no outliers allowed
        gaps.append((float(d.max()) / scale, n, 1e-4))
    else:
        gaps.append((float(np.max(d[~big], initial=0)) / scale, n, 1e-4))
        if big.any():
            gaps.append((float(d.max()), n + " (an Adam-amplified element, absolute)", sum_lr))
gaps.append((outliers / total, f"share of parameters beyond 1e-4 ({outliers} of {total})", 1e-4))
worst = max(gaps, key=lambda g: g[0] / g[2])
print(f"worst: {worst[1]} relative gap {worst[0]:.2g} (limit {worst[2]:g})")
sys.exit(0 if worst[0] <= worst[2] else 1)
PY
}
check_same() { local out; out=$(same "$2" "$3"); [ $? -eq 0 ] && pass "$1: $out" || fail "$1: $out"; }
check_differ() { local out; out=$(same "$2" "$3"); [ $? -ne 0 ] && pass "$1 ($out)" || fail "$1: runs agree: $out"; }

run k1 --batch 16 --dropout 0
run k2 --batch 8 --grad-accum 2 --dropout 0
check_same "grad-accum 2 x batch 8 = batch 16, dropout 0" k1 k2
run k1d --batch 16 --dropout 0.1
run k2d --batch 8 --grad-accum 2 --dropout 0.1
check_same "grad-accum 2 x batch 8 = batch 16, dropout 0.1 (masks keyed per example)" k1d k2d
run k4d --batch 4 --grad-accum 4 --dropout 0.1
check_same "grad-accum 4 x batch 4 = batch 16, dropout 0.1" k1d k4d
check_differ "control: dropout 0.1 differs from dropout 0" k1d k1
run k1s --batch 16 --dropout 0 --seed 7
check_differ "control: --seed 7 differs from --seed 42" k1s k1
