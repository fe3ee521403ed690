#!/usr/bin/env python3
# tests/oracle_loaders.py — writes the fixtures of tests/test_loaders.c into DIR: a tiny random
# Llama as llama2.c files (ak42 v1 tied, legacy v0 untied with negative vocab) and as Hugging Face
# directories (F16, BF16, sharded, sequence classification), plus the canonical fp32 tensors the C
# loaders must produce (ref_*.f32, in weights_alloc order, q/k rows interleaved), and a set of
# malformed safetensors directories. Written independently of the C code, from the formats'
# specs: llama2.c export.py (legacy_export / version1_export) and the safetensors layout.
# Usage: oracle_loaders.py DIR
import json
import os
import struct
import sys

import numpy as np
import torch

C, NH, NKV, H, V, L, T = 48, 4, 2, 80, 67, 2, 16
HS = C // NH
KVD = NKV * HS
NLAB = 3


def model(seed, untied, n_labels=0):
    """Canonical tensors (llama2.c interleaved q/k rows) as float32 numpy arrays, high entropy."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, s=0.2385):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * s).float().numpy()

    m = {
        "tok_emb": rnd(V, C, s=0.7),
        "attn_norm": 1.0 + rnd(L, C),
        "wq": rnd(L, C, C), "wk": rnd(L, KVD, C), "wv": rnd(L, KVD, C), "wo": rnd(L, C, C),
        "ffn_norm": 1.0 + rnd(L, C),
        "w_gate": rnd(L, H, C), "w_up": rnd(L, H, C), "w_down": rnd(L, C, H),
        "final_norm": 1.0 + rnd(C),
    }
    # values that exercise F16 subnormals, signed zero and the top of the F16 range
    m["tok_emb"][0, :8] = [3.1e-6, -4.7e-7, 6.0e-8, 2.9e-8, -0.0, 0.0, 60000.0, -1.0e-5]
    if untied:
        m["lm_head"] = rnd(V, C, s=0.5)
    if n_labels:
        m["score"] = rnd(n_labels, C)
    return m


ORDER = ["tok_emb", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down",
         "final_norm", "lm_head", "score"]


def write_ref(path, m):
    with open(path, "wb") as f:
        for k in ORDER:
            if k in m:
                f.write(np.ascontiguousarray(m[k], dtype="<f4").tobytes())


def fnv1a_hex(m):
    """weights_hash: 64-bit FNV-1a over the LE fp32 bytes of every tensor but score, in order."""
    h, mask = 0xCBF29CE484222325, (1 << 64) - 1
    for k in ORDER[:-1]:
        if k in m:
            for b in np.ascontiguousarray(m[k], dtype="<f4").tobytes():
                h = ((h ^ b) * 0x100000001B3) & mask
    return f"{h:016x}"


def f32(f, a):
    f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def write_ak42_v1(path, m):
    tied = "lm_head" not in m
    with open(path, "wb") as f:
        f.write(struct.pack("<Ii", 0x616B3432, 1))
        f.write(struct.pack("<7i", C, H, L, NH, NKV, V, T))
        f.write(struct.pack("<B", int(tied)))
        f.write(b"\0" * (256 - f.tell()))
        for k in ["attn_norm", "ffn_norm", "final_norm", "tok_emb", "wq", "wk", "wv", "wo", "w_gate", "w_down", "w_up"]:
            f32(f, m[k])
        if not tied:
            f32(f, m["lm_head"])


def write_legacy(path, m):
    tied = "lm_head" not in m
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", C, H, L, NH, NKV, V if tied else -V, T))
        for k in ["tok_emb", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_down", "w_up", "final_norm"]:
            f32(f, m[k])
        freqs = 1.0 / (10000.0 ** (np.arange(0, HS, 2)[: HS // 2] / HS))
        ang = np.outer(np.arange(T), freqs)
        f32(f, np.cos(ang))
        f32(f, np.sin(ang))
        if not tied:
            f32(f, m["lm_head"])


def to_hf_rows(w, nh):
    """llama2.c interleaved rows -> HF rotate-half rows (HF's convert_llama_weights_to_hf permute)."""
    return w.reshape(nh, HS // 2, 2, w.shape[1]).transpose(0, 2, 1, 3).reshape(nh * HS, w.shape[1])


def hf_tensors(m):
    t = {"model.embed_tokens.weight": m["tok_emb"], "model.norm.weight": m["final_norm"]}
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "self_attn.q_proj.weight"] = to_hf_rows(m["wq"][l], NH)
        t[p + "self_attn.k_proj.weight"] = to_hf_rows(m["wk"][l], NKV)
        t[p + "self_attn.v_proj.weight"] = m["wv"][l]
        t[p + "self_attn.o_proj.weight"] = m["wo"][l]
        t[p + "mlp.gate_proj.weight"] = m["w_gate"][l]
        t[p + "mlp.up_proj.weight"] = m["w_up"][l]
        t[p + "mlp.down_proj.weight"] = m["w_down"][l]
        t[p + "input_layernorm.weight"] = m["attn_norm"][l]
        t[p + "post_attention_layernorm.weight"] = m["ffn_norm"][l]
    if "lm_head" in m:
        t["lm_head.weight"] = m["lm_head"]
    if "score" in m:
        t["score.weight"] = m["score"]
    return t


def encode(a, dtype):
    """(bytes, exactly-rounded fp32 values) of a for a safetensors dtype."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes(), a
    if dtype == "F16":
        h = a.astype(np.float16)  # IEEE round-to-nearest-even, subnormals kept
        return h.astype("<f2").tobytes(), h.astype(np.float32)
    if dtype == "BF16":
        b = torch.from_numpy(a.copy()).to(torch.bfloat16)  # round-to-nearest-even
        raw = b.view(torch.int16).numpy().astype("<i2").tobytes()
        return raw, b.float().numpy()
    raise ValueError(dtype)


def write_st(path, entries, header_patch=None, raw_header=None, hlen_override=None, truncate=None):
    """entries: name -> (dtype, shape, bytes). header_patch(h) may edit the header dict."""
    header, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
    for name in sorted(entries):
        dt, shape, b = entries[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    if header_patch:
        header_patch(header)
    hb = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    blob = struct.pack("<Q", len(hb) if hlen_override is None else hlen_override) + hb + data
    if truncate is not None:
        blob = blob[:truncate]
    with open(path, "wb") as f:
        f.write(blob)


def config(tied, arch="LlamaForCausalLM", extra=None):
    c = {"architectures": [arch], "model_type": "llama", "hidden_size": C, "intermediate_size": H,
         "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV,
         "vocab_size": V, "max_position_embeddings": T, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
         "tie_word_embeddings": tied, "hidden_act": "silu", "torch_dtype": "float32"}
    c.update(extra or {})
    return c


def hf_dir(path, m, dtype, tied, arch="LlamaForCausalLM", extra=None, shards=1, drop=(), patch=None, **kw):
    """Write an HF dir; returns the exactly-rounded canonical tensors (what C must load)."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config(tied, arch, extra), f, indent=2)
    t = {k: v for k, v in hf_tensors(m).items() if k not in drop}
    enc, rounded = {}, {}
    for k, a in t.items():
        b, r = encode(a, dtype)
        enc[k] = (dtype, a.shape, b)
        rounded[k] = r
    if shards == 1:
        write_st(os.path.join(path, "model.safetensors"), enc, patch, **kw)
    else:
        names = sorted(enc)
        parts = [names[: len(names) // 2], names[len(names) // 2:]]
        wmap = {}
        for i, part in enumerate(parts):
            fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            write_st(os.path.join(path, fn), {k: enc[k] for k in part})
            wmap.update({k: fn for k in part})
        if patch:
            patch(wmap)
        with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f, indent=1)
    # back to canonical order: undo the q/k permutation on the rounded values
    out = {k: v.copy() for k, v in m.items()}
    for k, r in rounded.items():
        if k == "model.embed_tokens.weight": out["tok_emb"] = r
        elif k == "model.norm.weight": out["final_norm"] = r
        elif k == "lm_head.weight": out["lm_head"] = r
        elif k == "score.weight": out["score"] = r
        else:
            l, rest = int(k.split(".")[2]), ".".join(k.split(".")[3:])
            key = {"self_attn.q_proj.weight": "wq", "self_attn.k_proj.weight": "wk", "self_attn.v_proj.weight": "wv",
                   "self_attn.o_proj.weight": "wo", "mlp.gate_proj.weight": "w_gate", "mlp.up_proj.weight": "w_up",
                   "mlp.down_proj.weight": "w_down", "input_layernorm.weight": "attn_norm",
                   "post_attention_layernorm.weight": "ffn_norm"}[rest]
            if key in ("wq", "wk"):
                nh = NH if key == "wq" else NKV
                r = r.reshape(nh, 2, HS // 2, C).transpose(0, 2, 1, 3).reshape(nh * HS, C)
            out[key][l] = r
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    j = lambda *p: os.path.join(d, *p)
    tied = model(1, untied=False)
    untied = model(2, untied=True)
    write_ak42_v1(j("tied.ak42"), tied)
    write_ref(j("ref_tied.f32"), tied)
    write_legacy(j("untied.bin"), untied)
    write_ref(j("ref_untied.f32"), untied)
    for name, m in (("tied", tied), ("untied", untied)):
        with open(j(f"hash_{name}.txt"), "w") as f:
            f.write(fnv1a_hex(m) + "\n")

    write_ref(j("ref_f16.f32"), hf_dir(j("hf_f16"), tied, "F16", True))
    write_ref(j("ref_bf16.f32"), hf_dir(j("hf_bf16"), untied, "BF16", False))
    write_ref(j("ref_sharded.f32"), hf_dir(j("hf_sharded"), tied, "F32", True, shards=2))
    seq = model(3, untied=True, n_labels=NLAB)
    seq_loaded = hf_dir(j("hf_seqcls"), seq, "F32", False, "LlamaForSequenceClassification", {"num_labels": NLAB})
    write_ref(j("ref_seqcls.f32"), seq_loaded)
    with open(j("hash_seqcls.txt"), "w") as f:
        f.write(fnv1a_hex(seq_loaded) + "\n")
    # SeqCls without an LM head and with id2label only: the loader ties lm_head to the embedding
    seq2 = {k: v for k, v in seq.items() if k != "lm_head"}
    write_ref(j("ref_seqcls_nolm.f32"), hf_dir(j("hf_seqcls_nolm"), seq2, "F32", False, "LlamaForSequenceClassification",
                                               {"id2label": {"0": "neg", "1": "neu", "2": "pos"}}))

    # ---- malformed safetensors dirs (tests/test_loaders.c checks each message) ----
    good = {k: ("F32", a.shape, np.ascontiguousarray(a, "<f4").tobytes()) for k, a in hf_tensors(tied).items()}
    def bad(name, **kw):
        os.makedirs(j(name), exist_ok=True)
        with open(j(name, "config.json"), "w") as f:
            json.dump(config(kw.pop("tied", True), kw.pop("arch", "LlamaForCausalLM")), f)
        write_st(j(name, "model.safetensors"), kw.pop("entries", good), **kw)
    size = 8 + sum(len(b) for _, _, b in good.values())
    bad("st_hlen_big", hlen_override=size * 2)
    bad("st_not_json", raw_header=b"{\"model.norm.weight\": [1, 2,]}")
    bad("st_short", truncate=5)
    def shape(h): h["model.embed_tokens.weight"]["shape"] = [V, C + 1]
    bad("st_shape", header_patch=shape)
    def dtype(h): h["model.norm.weight"]["dtype"] = "I64"
    bad("st_dtype", header_patch=dtype)
    def offs(h): h["model.norm.weight"]["data_offsets"] = [size, size + 4 * C]
    bad("st_offsets", header_patch=offs)
    def offlen(h): h["model.norm.weight"]["data_offsets"][1] -= 4
    bad("st_offlen", header_patch=offlen)
    bad("st_missing", entries={k: v for k, v in good.items() if k != "model.layers.1.mlp.up_proj.weight"})
    extra = dict(good); extra["model.layers.0.self_attn.q_proj.bias"] = ("F32", [C], b"\0" * 4 * C)
    bad("st_extra", entries=extra)
    oob = dict(good); oob["model.layers.2.input_layernorm.weight"] = ("F32", [C], b"\0" * 4 * C)
    bad("st_layer_oob", entries=oob)
    nan = dict(good); a = tied["final_norm"].copy(); a[7] = np.nan
    nan["model.norm.weight"] = ("F32", [C], a.astype("<f4").tobytes())
    bad("st_nan", entries=nan)
    inf16 = {k: v for k, v in good.items()}; inf16["model.norm.weight"] = ("F16", [C], np.full(C, np.inf, "<f2").tobytes())
    bad("st_inf16", entries=inf16)
    bad("st_untied_nolm", tied=False)
    bad("st_seqcls_noscore", arch="LlamaForSequenceClassification")
    dup = dict(good); dup["score.weight"] = ("F32", [2, C], b"\0" * 8 * C)
    bad("st_score_causal", entries=dup)
    bad("st_truncated", truncate=size - 100)
    # sharded: the index names a shard that is not there / puts a tensor under the wrong shard
    hf_dir(j("idx_missing_shard"), tied, "F32", True, shards=2)
    os.remove(j("idx_missing_shard", "model-00002-of-00002.safetensors"))
    hf_dir(j("idx_wrong_shard"), tied, "F32", True, shards=2,
           patch=lambda w: w.update({"model.norm.weight": "model-00001-of-00002.safetensors"
                                     if w["model.norm.weight"].startswith("model-00002") else "model-00002-of-00002.safetensors"}))
    hf_dir(j("idx_escape"), tied, "F32", True, shards=2,
           patch=lambda w: w.update({"model.norm.weight": "../x.safetensors"}))
    print("oracle_loaders: wrote fixtures to", d)


if __name__ == "__main__":
    main()
