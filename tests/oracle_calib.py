#!/usr/bin/python3
# tests/oracle_calib.py — independent float64 PyTorch computation of the calibration statistics
# that tests/test_calibrate.c compares with init/calibrate.c: the inputs of every adapted linear
# of tinystories-1M (ln1 -> q/k/v, attention output -> o, ln2 -> gate/up, silu(gate)*up -> down)
# on a fixed right-padded batch, and per (layer, input) the row count, Σx², Σ|x| and Σxᵀx over
# the real positions only (padding excluded) and over all positions (padding included).
# The model is read from the llama2.c file by tests/oracle_llama.py (not shared with the C code).
# usage: oracle_calib.py MODEL.bin OUTDIR
import os, sys
import numpy as np
import torch

from oracle_llama import load_llama2c

model_path, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
dims, P = load_llama2c(model_path)
C, H, L, NH, NKV, V, HS = (dims[k] for k in ('C', 'H', 'L', 'NH', 'NKV', 'V', 'HS'))

rng = np.random.default_rng(2385)
B, T = 3, 24
lens = np.array([24, 13, 5], dtype=np.int32)
ids = rng.integers(3, V, size=(B, T)).astype(np.int32)
ids[:, 0] = 1  # BOS
for b in range(B): ids[b, lens[b]:] = 2  # pad with EOS, as batch_pad_id does for Llama tokenizers
ids.tofile(os.path.join(out, 'ids.bin')); lens.tofile(os.path.join(out, 'lens.bin'))
with open(os.path.join(out, 'dims.txt'), 'w') as fh:
    fh.write(f"{B} {T}\n")

def rope(x):  # (B,T,heads,HS), llama2.c interleaved pairs
    i = torch.arange(0, HS, 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * (1.0 / (10000.0 ** (i / HS)))[None, :]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)

def rms(x, g):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * g

valid = torch.tensor(np.arange(T)[None, :] < lens[:, None])  # (B,T)
def stats(name, x):
    x2 = x.reshape(B * T, -1)
    for tag, rows in (('ex', x2[valid.reshape(-1)]), ('in', x2)):
        np.array([rows.shape[0]], dtype=np.int64).tofile(os.path.join(out, f'{name}_{tag}_count.bin'))
        (rows * rows).sum(0).numpy().tofile(os.path.join(out, f'{name}_{tag}_sum_sq.bin'))
        rows.abs().sum(0).numpy().tofile(os.path.join(out, f'{name}_{tag}_sum_abs.bin'))
        (rows.T @ rows).numpy().tofile(os.path.join(out, f'{name}_{tag}_xtx.bin'))

x = P['tok_emb'][torch.tensor(ids, dtype=torch.long)]
mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
for l in range(L):
    h = rms(x, P['attn_norm'][l]); stats(f'l{l}_attn_in', h)
    q = rope((h @ P['wq'][l].T).view(B, T, NH, HS)).transpose(1, 2)
    k = rope((h @ P['wk'][l].T).view(B, T, NKV, HS)).transpose(1, 2)
    v = (h @ P['wv'][l].T).view(B, T, NKV, HS).transpose(1, 2)
    k = k.repeat_interleave(NH // NKV, 1); v = v.repeat_interleave(NH // NKV, 1)
    att = torch.softmax(((q @ k.transpose(-1, -2)) / np.sqrt(HS)).masked_fill(mask, float('-inf')), -1)
    y = (att @ v).transpose(1, 2).reshape(B, T, NH * HS); stats(f'l{l}_o_in', y)
    x = x + y @ P['wo'][l].T
    h = rms(x, P['ffn_norm'][l]); stats(f'l{l}_mlp_in', h)
    hm = torch.nn.functional.silu(h @ P['w_gate'][l].T) * (h @ P['w_up'][l].T); stats(f'l{l}_down_in', hm)
    x = x + hm @ P['w_down'][l].T
print("oracle ok")
