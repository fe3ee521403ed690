# tests/oracle_llama.py — the float64 PyTorch Llama shared by the oracles that need a whole model
# (tests/oracle_model.py: one forward/backward; tests/oracle_train.py: ten AdamW steps). Written
# from the llama2.c legacy file layout and the HF Llama definition, independently of qpeft's C.
import numpy as np
import torch

# HF names of the seven linears of a layer, in qpeft's order, and their llama2.c tensor keys.
LIN_NAMES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
LIN_KEYS = ['wq', 'wk', 'wv', 'wo', 'w_gate', 'w_up', 'w_down']
NORM_KEYS = ['attn_norm', 'ffn_norm', 'final_norm']


def load_llama2c(path):
    """Reads a llama2.c legacy .bin: returns (dims dict, {name: float64 tensor}).
    P['lm_head'] is P['tok_emb'] itself when the embeddings are tied (dims['shared'])."""
    raw = open(path, 'rb').read()
    C, H, L, NH, NKV, V, TMAX = (int(x) for x in np.frombuffer(raw[:28], dtype=np.int32))
    shared = V > 0
    V = abs(V)
    HS = C // NH
    f = np.frombuffer(raw[28:], dtype=np.float32)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = f[off:off + n].reshape(shape)
        off += n
        return torch.tensor(a.astype(np.float64))
    P = {}
    P['tok_emb'] = take(V, C); P['attn_norm'] = take(L, C)
    P['wq'] = take(L, NH * HS, C); P['wk'] = take(L, NKV * HS, C); P['wv'] = take(L, NKV * HS, C)
    P['wo'] = take(L, C, NH * HS); P['ffn_norm'] = take(L, C)
    P['w_gate'] = take(L, H, C); P['w_down'] = take(L, C, H); P['w_up'] = take(L, H, C)
    P['final_norm'] = take(C)
    off += TMAX * HS  # freq_cis real + imag (unused)
    P['lm_head'] = P['tok_emb'] if shared else take(V, C)
    dims = dict(C=C, H=H, L=L, NH=NH, NKV=NKV, V=V, HS=HS, shared=shared)
    return dims, P


def rope(x, HS):  # x (B,T,heads,HS), llama2.c interleaved pairs
    T = x.shape[1]
    i = torch.arange(0, HS, 2, dtype=torch.float64)
    freq = 1.0 / (10000.0 ** (i / HS))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    cos, sin = ang.cos()[None, :, None, :].to(x.dtype), ang.sin()[None, :, None, :].to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1).flatten(-2)


def rms(x, g):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * g


def final_hidden(W, dims, ids, lin):
    """The final-normed hidden states (B,T,C) of ids (B,T). W holds the tensors of load_llama2c
    (or trainable copies); lin(x, l, k) applies linear k of layer l (base plus any adapter)."""
    B, T = ids.shape
    NH, NKV, HS = dims['NH'], dims['NKV'], dims['HS']
    x = W['tok_emb'][torch.tensor(ids, dtype=torch.long)]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(dims['L']):
        h = rms(x, W['attn_norm'][l])
        q = rope(lin(h, l, 0).view(B, T, NH, HS), HS).transpose(1, 2)
        k = rope(lin(h, l, 1).view(B, T, NKV, HS), HS).transpose(1, 2)
        v = lin(h, l, 2).view(B, T, NKV, HS).transpose(1, 2)
        k = k.repeat_interleave(NH // NKV, 1); v = v.repeat_interleave(NH // NKV, 1)
        att = (q @ k.transpose(-1, -2)) / np.sqrt(HS)
        att = torch.softmax(att.masked_fill(mask, float('-inf')), -1)
        y = (att @ v).transpose(1, 2).reshape(B, T, NH * HS)
        x = x + lin(y, l, 3)
        h = rms(x, W['ffn_norm'][l])
        x = x + lin(torch.nn.functional.silu(lin(h, l, 4)) * lin(h, l, 5), l, 6)
    return rms(x, W['final_norm'])
