#!/usr/bin/python3
# tests/oracle_model.py — independent float64 PyTorch implementation of the Llama forward/backward
# used as the oracle for tests/test_model.c. It reads tinystories-1M.bin itself (llama2.c legacy
# layout), builds its own inputs and non-zero adapters, and writes everything as raw float64/int32
# files into OUTDIR so the C side can load the same inputs and compare every tensor.
# usage: oracle_model.py MODEL.bin OUTDIR
import os, sys
import numpy as np
import torch

from oracle_llama import LIN_KEYS, LIN_NAMES, final_hidden, load_llama2c

model_path, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
dims, P = load_llama2c(model_path)
C, L, V, shared = dims['C'], dims['L'], dims['V'], dims['shared']

rng = np.random.default_rng(1234)
B, T, R, ALPHA, NL = 3, 16, 4, 8.0, 3
lens = np.array([16, 11, 7], dtype=np.int32)
ids = rng.integers(3, V, size=(B, T)).astype(np.int32)
for b in range(B): ids[b, lens[b]:] = 0
targets = np.full((B, T), -1, dtype=np.int32)
for b in range(B): targets[b, :lens[b] - 1] = ids[b, 1:lens[b]]
labels = np.array([2, 0, 1], dtype=np.int32)
scores = np.array([3.25, 0.5, 4.125], dtype=np.float32)
names, wkey = LIN_NAMES, LIN_KEYS
AD = {}
for l in range(L):
    for k, n in enumerate(names):
        oc, ic = P[wkey[k]].shape[1:]
        AD[(l, k, 'A')] = (rng.standard_normal((R, ic)) * 0.2).astype(np.float32)
        AD[(l, k, 'B')] = (rng.standard_normal((oc, R)) * 0.2).astype(np.float32)
score = (rng.standard_normal((NL, C)) * 0.1).astype(np.float32)

def dump(name, a, dtype=np.float64):
    np.ascontiguousarray(np.asarray(a), dtype=dtype).tofile(os.path.join(out, name + '.bin'))
dump('ids', ids, np.int32); dump('lens', lens, np.int32); dump('targets', targets, np.int32)
dump('labels', labels, np.int32); dump('scores', scores, np.float32); dump('score_w', score, np.float32)
adapters = np.concatenate([np.concatenate([AD[(l, k, 'A')].ravel(), AD[(l, k, 'B')].ravel()])
                           for l in range(L) for k in range(7)])
dump('adapters', adapters, np.float32)
with open(os.path.join(out, 'dims.txt'), 'w') as fh:
    fh.write(f"{B} {T} {R} {ALPHA} {NL}\n")

def bfr(t):  # round to bf16 (nearest even) and back: the operands of --compute bf16's base products
    return t.to(torch.bfloat16).to(t.dtype)

class BaseMM(torch.autograd.Function):
    """y = bf16(x)·bf16(W)ᵀ, dx = bf16(dy)·bf16(W), W frozen: qpeft's bf16 compute, summed in float64."""
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(w)
        return bfr(x) @ bfr(w).T
    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return bfr(g) @ bfr(w), None

def run(mode, head, bf16=False, dt=torch.float64):
    """dt float32 (bf16 cases only): the same computation in float32, to measure how far fp32
    intermediates move bf16-rounded results (operands crossing a rounding midpoint)."""
    out = {}
    W = {k: v.to(dt).clone().requires_grad_(mode == 'full') for k, v in P.items() if k != 'lm_head'}
    W['lm_head'] = W['tok_emb'] if shared else P['lm_head'].to(dt).clone().requires_grad_(mode == 'full')
    A = {key: torch.tensor(v.astype(np.float64)).to(dt).requires_grad_(True) for key, v in AD.items()} if mode == 'lora' else None
    S = torch.tensor(score.astype(np.float64)).to(dt).requires_grad_(True)
    def lin(x, l, k):
        y = BaseMM.apply(x, W[wkey[k]][l]) if bf16 else x @ W[wkey[k]][l].T
        if A is not None:
            y = y + (ALPHA / R) * ((x @ A[(l, k, 'A')].T) @ A[(l, k, 'B')].T)
        return y
    hf = final_hidden(W, dims, ids, lin)
    if head == 'lm':
        logits = BaseMM.apply(hf, W['lm_head']) if bf16 else hf @ W['lm_head'].T
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.tensor(targets, dtype=torch.long).reshape(-1), ignore_index=-1)
    else:
        pooled = hf[torch.arange(B), torch.tensor(lens, dtype=torch.long) - 1]
        nl = NL if head == 'cls' else 1
        logits = pooled @ S[:nl].T
        if head == 'cls':
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels, dtype=torch.long))
        else:
            loss = ((logits[:, 0] - torch.tensor(scores.astype(np.float64)).to(dt)) ** 2).mean()
    loss.backward()
    tag = f"{mode}_{head}" + ("_bf16" if bf16 else "")
    out[f"{tag}_logits"] = logits.detach(); out[f"{tag}_loss"] = torch.tensor([loss.item()])
    if head != 'lm': out[f"{tag}_dscore"] = S.grad[:nl]
    if A is not None:
        out[f"{tag}_dadapters"] = torch.cat([torch.cat([A[(l, k, 'A')].grad.ravel(), A[(l, k, 'B')].grad.ravel()])
                                             for l in range(L) for k in range(7)])
    if mode == 'full':
        for key in ['tok_emb', 'attn_norm', 'wq', 'wk', 'wv', 'wo', 'ffn_norm', 'w_gate', 'w_up', 'w_down', 'final_norm']:
            out[f"{tag}_d{key}"] = W[key].grad
    if dt == torch.float64:
        for name, a in out.items(): dump(name, a.double())
    return out

def run_bf16(mode, head):
    """The bf16-rounding oracle, and per tensor the spread: max |float32 run - float64 run|."""
    ref, f32 = run(mode, head, True), run(mode, head, True, torch.float32)
    for name, a in ref.items():
        dump(name + "_spread", [float((a - f32[name].double()).abs().max())])

run('lora', 'lm'); run('lora', 'cls'); run('lora', 'reg'); run('full', 'lm'); run('full', 'cls')
run_bf16('lora', 'lm'); run_bf16('lora', 'cls')
print("oracle ok")
