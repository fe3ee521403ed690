#!/usr/bin/python3
# tests/oracle_variants.py — tiny random Hugging Face checkpoints of the Llama-family variants qpeft
# loads (Llama-3.2 style: explicit head_dim != hidden/heads, GQA, rope_scaling llama3, tied; Mistral:
# untied, sliding_window; Llama with rope_scaling linear; Qwen2: q/k/v biases, theta 1e6, tied; Qwen3:
# per-head q/k RMSNorm, explicit head_dim, untied), and an independent float64 PyTorch forward written
# from transformers' modeling_llama / mistral / qwen2 / qwen3 and modeling_rope_utils semantics (HF's
# rotate-half q/k layout as stored; no code shared with qpeft), for tests/test_variants.sh.
# usage: oracle_variants.py gen OUTDIR FAMILY SEED   -> OUTDIR/{config.json, model.safetensors}
#        oracle_variants.py ref MODELDIR IDSFILE NEW -> JSON {"loss", "greedy", "margin"}
import json, math, os, struct, sys
import numpy as np
import torch

FAMILIES = {
    # hidden 48, 4 heads of head_dim 16 (q width 64 != 48), 2 kv heads, llama3 scaling whose three
    # frequency bands (kept, smoothed, divided) are all populated at head_dim 16, theta 5e5.
    'llama3': dict(model_type='llama', arch='LlamaForCausalLM', hidden_size=48, intermediate_size=80,
                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   rope_theta=500000.0, tie_word_embeddings=True, max_position_embeddings=128,
                   rope_scaling=dict(rope_type='llama3', factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64)),
    'mistral': dict(model_type='mistral', arch='MistralForCausalLM', hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, rope_theta=10000.0,
                    tie_word_embeddings=False, max_position_embeddings=256, sliding_window=64, rope_scaling=None),
    'linear': dict(model_type='llama', arch='LlamaForCausalLM', hidden_size=32, intermediate_size=48,
                   num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, rope_theta=10000.0,
                   tie_word_embeddings=False, max_position_embeddings=128,
                   rope_scaling=dict(rope_type='linear', factor=4.0)),
    'qwen2': dict(model_type='qwen2', arch='Qwen2ForCausalLM', hidden_size=32, intermediate_size=56,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
                  tie_word_embeddings=True, max_position_embeddings=128, use_sliding_window=False,
                  sliding_window=4096, rope_scaling=None),
    'qwen3': dict(model_type='qwen3', arch='Qwen3ForCausalLM', hidden_size=32, intermediate_size=56,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                  rope_theta=1000000.0, tie_word_embeddings=False, max_position_embeddings=128,
                  attention_bias=False, use_sliding_window=False, rope_scaling=None),
}
VOCAB = 512  # the assets' tok512 SentencePiece model can drive training on them


def gen(out, fam, seed):
    f = FAMILIES[fam]
    rng = np.random.default_rng(seed)
    C, H, L = f['hidden_size'], f['intermediate_size'], f['num_hidden_layers']
    NH, NKV = f['num_attention_heads'], f['num_key_value_heads']
    HD = f.get('head_dim', C // NH)
    t = {}
    def rnd(*shape, s=0.15):
        return (rng.standard_normal(shape) * s).astype(np.float32)
    t['model.embed_tokens.weight'] = rnd(VOCAB, C, s=0.5)
    for l in range(L):
        p = f'model.layers.{l}.'
        t[p + 'self_attn.q_proj.weight'] = rnd(NH * HD, C)
        t[p + 'self_attn.k_proj.weight'] = rnd(NKV * HD, C)
        t[p + 'self_attn.v_proj.weight'] = rnd(NKV * HD, C)
        t[p + 'self_attn.o_proj.weight'] = rnd(C, NH * HD)
        t[p + 'mlp.gate_proj.weight'] = rnd(H, C)
        t[p + 'mlp.up_proj.weight'] = rnd(H, C)
        t[p + 'mlp.down_proj.weight'] = rnd(C, H)
        if f['model_type'] == 'qwen2':  # Qwen2Attention: bias=True on q, k, v (not o)
            t[p + 'self_attn.q_proj.bias'] = rnd(NH * HD, s=0.5)
            t[p + 'self_attn.k_proj.bias'] = rnd(NKV * HD, s=0.5)
            t[p + 'self_attn.v_proj.bias'] = rnd(NKV * HD, s=0.5)
        if f['model_type'] == 'qwen3':  # Qwen3Attention: RMSNorm(head_dim) on q and k
            t[p + 'self_attn.q_norm.weight'] = 1 + rnd(HD, s=0.3)
            t[p + 'self_attn.k_norm.weight'] = 1 + rnd(HD, s=0.3)
        t[p + 'input_layernorm.weight'] = (1 + rnd(C, s=0.2))
        t[p + 'post_attention_layernorm.weight'] = (1 + rnd(C, s=0.2))
    t['model.norm.weight'] = 1 + rnd(C, s=0.2)
    if not f['tie_word_embeddings']:
        t['lm_head.weight'] = rnd(VOCAB, C, s=0.5)
    os.makedirs(out, exist_ok=True)
    cfg = {k: v for k, v in f.items() if k != 'arch'}
    cfg.update(architectures=[f['arch']], vocab_size=VOCAB, rms_norm_eps=1e-5, hidden_act='silu',
               bos_token_id=1, eos_token_id=2, torch_dtype='float32')
    json.dump(cfg, open(os.path.join(out, 'config.json'), 'w'), indent=1)
    header, blobs, off = {}, [], 0
    for k, a in t.items():
        b = np.ascontiguousarray(a).tobytes()
        header[k] = dict(dtype='F32', shape=list(a.shape), data_offsets=[off, off + len(b)])
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(os.path.join(out, 'model.safetensors'), 'wb') as fp:
        fp.write(struct.pack('<Q', len(h))); fp.write(h)
        for b in blobs: fp.write(b)


def load(d):
    cfg = json.load(open(os.path.join(d, 'config.json')))
    raw = open(os.path.join(d, 'model.safetensors'), 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); base = 8 + n
    W = {}
    for k, e in hdr.items():
        if k == '__metadata__': continue
        a, b = e['data_offsets']
        W[k] = torch.tensor(np.frombuffer(raw[base + a:base + b], dtype=np.float32).reshape(e['shape']).astype(np.float64))
    return cfg, W


def inv_freq(cfg, hd):
    # modeling_rope_utils: default, linear and llama3 (in float64 here).
    inv = 1.0 / (cfg.get('rope_theta', 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = cfg.get('rope_scaling')
    if not rs: return inv
    kind = rs.get('rope_type', rs.get('type'))
    if kind == 'linear': return inv / rs['factor']
    assert kind == 'llama3'
    factor, lo, hi, old = rs['factor'], rs['low_freq_factor'], rs['high_freq_factor'], rs['original_max_position_embeddings']
    low_wl, high_wl = old / lo, old / hi
    wl = 2 * math.pi / inv
    out = torch.where(wl > low_wl, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wl < high_wl) & ~(wl > low_wl)
    return torch.where(medium, smoothed, out)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def logits_of(cfg, W, ids):
    C, NH = cfg['hidden_size'], cfg['num_attention_heads']
    NKV = cfg.get('num_key_value_heads') or NH
    HD = cfg.get('head_dim') or C // NH
    eps, T = cfg['rms_norm_eps'], len(ids)
    x = W['model.embed_tokens.weight'][torch.tensor(ids)]
    fr = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq(cfg, HD))
    emb = torch.cat((fr, fr), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float('-inf'), dtype=torch.float64).triu(1)
    sw = cfg.get('sliding_window') if cfg.get('model_type') == 'mistral' else None
    if sw:  # Mistral: keys more than sliding_window back are masked too
        i = torch.arange(T)
        mask = mask.masked_fill((i[:, None] - i[None, :]) >= sw, float('-inf'))
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        h = rms(x, W[p + 'input_layernorm.weight'], eps)
        def proj(name, n):
            y = h @ W[p + f'self_attn.{name}_proj.weight'].T
            if p + f'self_attn.{name}_proj.bias' in W: y = y + W[p + f'self_attn.{name}_proj.bias']
            y = y.view(T, n, HD)
            if p + f'self_attn.{name}_norm.weight' in W: y = rms(y, W[p + f'self_attn.{name}_norm.weight'], eps)
            return y.transpose(0, 1)
        q, k, v = proj('q', NH), proj('k', NKV), proj('v', NKV)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // NKV, dim=0); v = v.repeat_interleave(NH // NKV, dim=0)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(HD) + mask, dim=-1) @ v
        x = x + a.transpose(0, 1).reshape(T, NH * HD) @ W[p + 'self_attn.o_proj.weight'].T
        h = rms(x, W[p + 'post_attention_layernorm.weight'], eps)
        g = h @ W[p + 'mlp.gate_proj.weight'].T
        x = x + (torch.nn.functional.silu(g) * (h @ W[p + 'mlp.up_proj.weight'].T)) @ W[p + 'mlp.down_proj.weight'].T
    x = rms(x, W['model.norm.weight'], eps)
    lm = W['lm_head.weight'] if 'lm_head.weight' in W else W['model.embed_tokens.weight']
    return x @ lm.T


def ref(d, ids_file, n_new):
    cfg, W = load(d)
    ids = [int(s) for s in open(ids_file).read().split()]
    lg = logits_of(cfg, W, ids)
    loss = torch.nn.functional.cross_entropy(lg[:-1], torch.tensor(ids[1:])).item()
    seq, margin = list(ids), float('inf')
    for _ in range(n_new):
        last = logits_of(cfg, W, seq)[-1]
        top = torch.topk(last, 2).values
        margin = min(margin, (top[0] - top[1]).item())
        seq.append(int(last.argmax()))
    print(json.dumps(dict(loss=loss, greedy=seq[len(ids):], margin=margin)))


if __name__ == '__main__':
    if sys.argv[1] == 'gen': gen(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else: ref(sys.argv[2], sys.argv[3], int(sys.argv[4]))
