#!/usr/bin/python3
# tests/oracle_optim.py — float64 torch reference for optim/: AdamW with param groups (decay
# mask), clip_grad_norm_, and HF-style schedules through torch LambdaLR. Driven by tests/test_optim.c.
#
#   oracle_optim.py adamw IN OUT n steps lr b1 b2 eps wd max_norm kind total wsteps wratio RANGES
#     IN: float32 params[n] then float32 grads[steps][n] (raw little-endian, written by the C test)
#     RANGES: "off:len:decay,..." or "-" (uncovered elements decay, as in optim/adamw.h)
#     OUT (float64): per step: lr used, pre-clip norm, params after the step [n];
#                    then exp_avg [n], exp_avg_sq [n], then the final state['step'].
#   oracle_optim.py sched OUT base_lr "kind:total:wsteps:wratio;..."
#     OUT (float64): for each spec, the lr in effect at optimizer steps 0..total (total+1 values).
import math
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


# The HF transformers lr_lambda formulas (optimization.py), written out here because the
# transformers package is not installed; LambdaLR supplies the step indexing.
def hf_lambda(kind, total, w):
    def lam(step):
        if step < w:
            return float(step) / float(max(1, w))
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return max(0.0, float(total - step) / float(max(1, total - w)))
        if kind == "cosine":
            progress = float(step - w) / float(max(1, total - w))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
        raise ValueError(kind)
    return lam


def warmup_steps(total, wsteps, wratio):
    # HF TrainingArguments.get_warmup_steps
    return wsteps if wsteps > 0 else math.ceil(total * wratio)


def groups_from_ranges(n, spec):
    mask = np.ones(n, dtype=bool)
    if spec != "-":
        for r in spec.split(","):
            off, ln, dec = (int(x) for x in r.split(":"))
            mask[off:off + ln] = bool(dec)
    runs, start = [], 0
    for i in range(1, n + 1):
        if i == n or mask[i] != mask[start]:
            runs.append((start, i, bool(mask[start])))
            start = i
    return runs


def run_adamw(a):
    inp, out = a[0], a[1]
    n, steps = int(a[2]), int(a[3])
    lr, b1, b2, eps, wd, max_norm = (float(x) for x in a[4:10])
    kind, total, wsteps, wratio, ranges = a[10], int(a[11]), int(a[12]), float(a[13]), a[14]
    raw = np.fromfile(inp, dtype="<f4").astype(np.float64)
    assert raw.size == n * (steps + 1), (raw.size, n, steps)
    p0, grads = raw[:n], raw[n:].reshape(steps, n)
    runs = groups_from_ranges(n, ranges)
    params = [torch.tensor(p0[lo:hi], requires_grad=True) for lo, hi, _ in runs]
    groups = [{"params": [t], "weight_decay": wd if dec else 0.0} for t, (_, _, dec) in zip(params, runs)]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(b1, b2), eps=eps, foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(kind, total, warmup_steps(total, wsteps, wratio)))
    res = []
    for k in range(steps):
        for t, (lo, hi, _) in zip(params, runs):
            t.grad = torch.tensor(grads[k, lo:hi])
        if max_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        else:
            norm = float(torch.linalg.vector_norm(torch.cat([t.grad for t in params])))
        res.append(opt.param_groups[0]["lr"])
        res.append(norm)
        opt.step()
        sched.step()
        res.extend(torch.cat([t.detach() for t in params]).tolist())
    res.extend(torch.cat([opt.state[t]["exp_avg"] for t in params]).tolist())
    res.extend(torch.cat([opt.state[t]["exp_avg_sq"] for t in params]).tolist())
    res.append(float(opt.state[params[0]]["step"]))
    np.asarray(res, dtype="<f8").tofile(out)


def run_sched(a):
    out, base_lr, specs = a[0], float(a[1]), a[2]
    res = []
    for spec in specs.split(";"):
        kind, total, wsteps, wratio = spec.split(":")
        total = int(total)
        w = warmup_steps(total, int(wsteps), float(wratio))
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base_lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(kind, total, w))
        for _ in range(total + 1):
            res.append(opt.param_groups[0]["lr"])  # lr the next optimizer step would use
            opt.step()
            sched.step()
    np.asarray(res, dtype="<f8").tofile(out)


if __name__ == "__main__":
    {"adamw": run_adamw, "sched": run_sched}[sys.argv[1]](sys.argv[2:])
