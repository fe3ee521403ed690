#!/usr/bin/python3
# tests/oracle_gguf_q8act.py — an independent numpy forward of a llama2.c model that rounds the
# input of every linear to ggml's Q8_0 (blocks of 32: d = amax/127 stored as fp16, q = round(x/d)
# half to even, as ggml's AVX quantize_row_q8_0), which is what llama.cpp's CPU backend does
# before a Q4_0/Q8_0 matmul; everything else in float64. It explains the gap between llama.cpp on
# a Q4_0 GGUF and qpeft's exact forward on the same weights: tests/test_gguf_llamacpp.sh checks
# llama.cpp against it tightly and against qpeft within the gap it predicts.
# usage: oracle_gguf_q8act.py MODEL.bin IDS_FILE OUT (float64 ln p, (n-1) × V)
import sys
import os
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_llama import load_llama2c  # the shared reader of the llama2.c file (float64 tensors)

model_path, ids_path, out = sys.argv[1:4]
dims, P = load_llama2c(model_path)
C, H, L, NH, NKV, V, HS = (dims[k] for k in ('C', 'H', 'L', 'NH', 'NKV', 'V', 'HS'))
tok_emb, attn_norm, ffn_norm, final_norm = (P[k].numpy() for k in ('tok_emb', 'attn_norm', 'ffn_norm', 'final_norm'))
wq, wk, wv, wo = (P[k].numpy() for k in ('wq', 'wk', 'wv', 'wo'))
w_gate, w_up, w_down = (P[k].numpy() for k in ('w_gate', 'w_up', 'w_down'))
lm_head = P['lm_head'].numpy()
eps, theta = 1e-5, 10000.0

def q8_0(x):  # (T, n) rows, n a multiple of 32
    b = x.astype(np.float32).reshape(x.shape[0], -1, 32)
    amax = np.abs(b).max(axis=2, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide='ignore'):
        idv = np.where(amax > 0, np.float32(127) / amax, 0).astype(np.float32)
    q = np.rint(b * idv)
    d16 = d.astype(np.float16).astype(np.float64)
    return (q * d16).reshape(x.shape)

def lin(x, w):
    return q8_0(x) @ w.T

def rmsnorm(x, w):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * w

def rope(x, nh):  # llama2.c / llama.cpp NORM mode: adjacent pairs
    T = x.shape[0]
    x = x.reshape(T, nh, HS // 2, 2)
    freq = theta ** (-np.arange(0, HS, 2) / HS)
    ang = np.arange(T)[:, None] * freq[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0], x[..., 1]
    return np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(T, nh * HS)

ids = np.array(open(ids_path).read().split(), dtype=np.int64)
T = len(ids)
x = tok_emb[ids]
mask = np.triu(np.full((T, T), -np.inf), 1)
for l in range(L):
    h = rmsnorm(x, attn_norm[l])
    q = rope(lin(h, wq[l]), NH).reshape(T, NH, HS)
    k = rope(lin(h, wk[l]), NKV).reshape(T, NKV, HS)
    v = lin(h, wv[l]).reshape(T, NKV, HS)
    att = np.empty((T, NH, HS))
    for hh in range(NH):
        g = hh // (NH // NKV)
        s = q[:, hh] @ k[:, g].T / np.sqrt(HS) + mask
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        att[:, hh] = p @ v[:, g]
    x = x + lin(att.reshape(T, NH * HS), wo[l])
    h = rmsnorm(x, ffn_norm[l])
    a, u = lin(h, w_gate[l]), lin(h, w_up[l])
    x = x + lin(a / (1 + np.exp(-a)) * u, w_down[l])
logits = rmsnorm(x, final_norm) @ lm_head.T  # F32 output: no Q8_0 activations
m = logits.max(axis=1, keepdims=True)
lp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
lp[:-1].astype(np.float64).tofile(out)
