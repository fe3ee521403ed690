#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py OUT ASSETS — seed corpora for the libFuzzer harnesses (stdlib only).

Writes OUT/<harness>/<name> for fuzz_json, fuzz_llama2c, fuzz_hf, fuzz_tsv, fuzz_options and
fuzz_h5, from tiny generated models (dim 8, one layer, so libFuzzer can mutate every byte) and
the heads of the real assets (tinystories-1M .bin / -hf, GLUE TSVs). fuzz_qmodel's seeds are
written by tests/fuzz/make_seeds.sh with `qpeft quantize` from OUT/tiny/*.bin.
"""
import json, os, random, struct, sys

out, assets = sys.argv[1], sys.argv[2]
C, H, L, NH, NKV, V, T = 8, 16, 1, 2, 1, 12, 4
HS, KVD = C // NH, NKV * (C // NH)
rng = random.Random(2385)


def put(h, name, data):
    os.makedirs(os.path.join(out, h), exist_ok=True)
    with open(os.path.join(out, h, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def floats(n, one=False):
    return struct.pack("<%df" % n, *[(1.0 if one else 0.0) + rng.uniform(-0.3, 0.3) for _ in range(n)])


def weights(untied):
    w = {"tok": floats(V * C), "an": floats(L * C, True), "wq": floats(L * C * C), "wk": floats(L * KVD * C),
         "wv": floats(L * KVD * C), "wo": floats(L * C * C), "fn": floats(L * C, True), "w1": floats(L * H * C),
         "w2": floats(L * C * H), "w3": floats(L * H * C), "fin": floats(C, True)}
    if untied:
        w["cls"] = floats(V * C)
    return w


def legacy(untied):
    w = weights(untied)
    b = struct.pack("<7i", C, H, L, NH, NKV, -V if untied else V, T)
    for k in ["tok", "an", "wq", "wk", "wv", "wo", "fn", "w1", "w2", "w3", "fin"]:
        b += w[k]
    b += floats(T * HS)  # freq_cis (cos, sin): skipped by the loader
    return b + w.get("cls", b"")


def ak42(untied):
    w = weights(untied)
    b = struct.pack("<Ii7iB", 0x616B3432, 1, C, H, L, NH, NKV, V, T, 0 if untied else 1)
    b += b"\0" * (256 - len(b))
    for k in ["an", "fn", "fin", "tok", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]:
        b += w[k]
    return b + w.get("cls", b"")


def safetensors(dtype="F32", untied=False, score=0):
    names = {"model.embed_tokens.weight": [V, C], "model.norm.weight": [C]}
    for l in range(L):
        p = f"model.layers.{l}."
        names.update({p + "self_attn.q_proj.weight": [C, C], p + "self_attn.k_proj.weight": [KVD, C],
                      p + "self_attn.v_proj.weight": [KVD, C], p + "self_attn.o_proj.weight": [C, C],
                      p + "mlp.gate_proj.weight": [H, C], p + "mlp.up_proj.weight": [H, C],
                      p + "mlp.down_proj.weight": [C, H], p + "input_layernorm.weight": [C],
                      p + "post_attention_layernorm.weight": [C]})
    if untied:
        names["lm_head.weight"] = [V, C]
    if score:
        names["score.weight"] = [score, C]
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for n in sorted(names):
        cnt = 1
        for d in names[n]:
            cnt *= d
        raw = floats(cnt, n.endswith("norm.weight") or "layernorm" in n)
        if dtype != "F32":  # F16/BF16: keep the top half of each float (exact for BF16, a valid F16 pattern)
            raw = b"".join(raw[i + 2:i + 4] for i in range(0, len(raw), 4))
        header[n] = {"dtype": dtype, "shape": names[n], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + data, hb


def config(tied=True, arch="LlamaForCausalLM", extra=None):
    c = {"architectures": [arch], "model_type": "llama", "hidden_size": C, "intermediate_size": H,
         "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV, "vocab_size": V,
         "max_position_embeddings": T, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tied,
         "hidden_act": "silu", "torch_dtype": "float32"}
    c.update(extra or {})
    return json.dumps(c, indent=1)


SEP = b"\n==> model.safetensors <==\n"
ts = os.path.join(assets, "models/tinystories-1M")

# llama2.c: tiny legacy/ak42, tied and untied; truncated real file; the tiny model files for .qm seeds
for untied in (0, 1):
    put("fuzz_llama2c", f"legacy_{'untied' if untied else 'tied'}.bin", legacy(untied))
    put("fuzz_llama2c", f"ak42_{'untied' if untied else 'tied'}.bin", ak42(untied))
    put("tiny", f"tiny_{'untied' if untied else 'tied'}.bin", legacy(untied))
with open(os.path.join(ts, "tinystories-1M.bin"), "rb") as f:
    put("fuzz_llama2c", "tinystories_head4k.bin", f.read(4096))

# HF: config + safetensors pairs
for name, (cfg, st) in {
        "f32_tied": (config(True), safetensors("F32")),
        "bf16_untied": (config(False), safetensors("BF16", untied=True)),
        "f16_seqcls": (config(False, "LlamaForSequenceClassification", {"num_labels": 3}), safetensors("F16", True, 3)),
}.items():
    put("fuzz_hf", name, cfg.encode() + SEP + st[0])
    put("fuzz_json", "st_header_" + name + ".json", st[1])
    put("fuzz_json", "config_" + name + ".json", cfg)
with open(os.path.join(ts, "tinystories-1M-hf/config.json"), "rb") as f:
    realcfg = f.read()
with open(os.path.join(ts, "tinystories-1M-hf/model.safetensors"), "rb") as f:
    head = f.read(8)
    n = struct.unpack("<Q", head)[0]
    realhdr = f.read(n)
put("fuzz_hf", "tinystories_truncated", realcfg + SEP + head + realhdr + b"\0" * 64)
put("fuzz_json", "tinystories_config.json", realcfg)
put("fuzz_json", "tinystories_st_header.json", realhdr)
put("fuzz_json", "misc.json", '{"a": [1, -2.5e-3, true, false, null, "\\u00e9\\ud83d\\ude00"], "b": {"c": {}}, "d": []}')

# TSV: selector byte (data/glue.c order: cola sst2 mrpc rte stsb wnli qnli mnli qqp; 9.. generic) + head of the file
tasks = [("CoLA", 0), ("SST-2", 1), ("MRPC", 2), ("RTE", 3), ("STS-B", 4), ("WNLI", 5)]
for d, sel in tasks:
    with open(os.path.join(assets, "glue", d, "train.tsv"), "rb") as f:
        lines = f.read(1 << 16).split(b"\n")[:12]
    put("fuzz_tsv", d, bytes([sel]) + b"\n".join(lines) + b"\n")
    put("fuzz_tsv", d + "_skip", bytes([sel | 0x80]) + b"\n".join(lines[:4]) + b"\nbroken row\n")
put("fuzz_tsv", "generic_sentence", b"\x09sentence\tlabel\nit is good\tpos\nbad\tneg\n")
put("fuzz_tsv", "generic_index", b"\x0aa\tb\tyes\nc\td\tno\n")
put("fuzz_tsv", "generic_regress", b"\x0bsentence1\tsentence2\tlabel\nx\ty\t3.5\nu\tv\t0.25\n")
put("fuzz_tsv", "generic_csv", b"\x0etext,label\n\"a, quoted \"\"one\"\"\",x\nplain,y\n")

# options: one argument per line
for i, args in enumerate([
        ["--model", "m.bin", "--rank", "16", "--alpha", "32", "--lr", "2e-4", "--out", "r"],
        ["--rank=4096", "--batch=1", "--max-steps=2147483647", "--double-quant", "--quiet"],
        ["--ranks", "4,8,16", "--lrs", "1e-3,3e-4", "--inits", "lora,loftq,qera-exact"],
        ["--lr", "nan"], ["--rank", "-1"], ["--batch", "99999999999"], ["--warmup-ratio", "1.5"],
        ["--seed", "0x10"], ["--weight-decay", "1e-400"], ["--ranks", "4,,8"], ["--unknown"], ["stray"]]):
    put("fuzz_options", f"args{i:02d}", "\n".join(args))

# HDF5 edit scripts (tests/fuzz/fuzz_h5.c)
for name, text in {
        "ckpt": "ckpt\n", "qckpt": "qckpt\n", "stats": "stats\n",
        "rank0": "ckpt\nint /@rank 0\n",
        "big_dim": "ckpt\nint /@dim 1073741824\nint /@hidden_dim 1073741824\n",
        "nparams": "ckpt\nint /@n_params 9223372036854775807\n",
        "mode": "ckpt\nstr /@mode qlora\n",
        "targets": "ckpt\nstr /@target_modules q_proj,,v_proj\n",
        "alpha_nan": "ckpt\nflt /@alpha nan\n",
        "eps_type": "ckpt\nstr /@norm_eps 1e-5\n",
        "shapeA": "ckpt\nshape adapters/layer0/q_proj/A f32 2,15\n",
        "typeA": "ckpt\nshape adapters/layer0/q_proj/A f64 2,16\n",
        "nanA": "ckpt\npoke adapters/layer1/v_proj/B 3 nan\n",
        "state": "ckpt\nshape state/rng i64 9\n",
        "noopt": "ckpt\ndel optimizer/m\n",
        "extra": "ckpt\nstr /@extra_keys labels,missing\n",
        "quant": "qckpt\nstr /@quant nf4\nint /@bits 4\n",
        "packed": "qckpt\nbytes base/layer0/q_proj/packed 0 ffffffff\n",
        "packed_short": "qckpt\nshape base/layer1/down_proj/packed u8 40\n",
        "stats_xtx": "stats\nshape layer0/attn_in/xtx f64 16,15\n",
        "stats_count": "stats\nint layer1/mlp_in@count -1\n",
        "stats_kind": "stats\nstr /@kind qpeft-checkpoint\n",
        "stats_nan": "stats\npoke layer0/down_in/sum_sq 2 inf\n",
        "stats_nolayer": "stats\nint /@n_layers 64\n",
}.items():
    put("fuzz_h5", name, text)

# fuzz_gguf: small GGUF v3 files built here by hand (layout: docs/formats.md, "--to gguf"): keys of
# several types (string, u32, f32, bool, arrays of strings/f32/i32) and tensors f32, f16, q8_0, q4_0.
def gguf(kvs, tensors, version=3):
    s = lambda t: struct.pack("<Q", len(t.encode())) + t.encode()
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, typ, payload in kvs:
        out += s(k) + struct.pack("<I", typ) + payload
    off, datas = 0, b""
    for name, ne, typ, data in tensors:
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", typ, off)
        pad = (-len(data)) % 32
        datas += data + b"\0" * pad
        off += len(data) + pad
    out += b"\0" * ((-len(out)) % 32)
    return out + datas
arr = lambda et, items: struct.pack("<IQ", et, len(items)) + b"".join(items)
gs = lambda t: struct.pack("<Q", len(t.encode())) + t.encode()
kv = [("general.architecture", 8, gs("llama")), ("llama.block_count", 4, struct.pack("<I", 1)),
      ("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)), ("tokenizer.ggml.add_bos_token", 7, b"\1"),
      ("tokenizer.ggml.tokens", 9, arr(8, [gs("<unk>"), gs("\u2581a"), gs("<0x0A>")])),
      ("tokenizer.ggml.scores", 9, arr(6, [struct.pack("<f", v) for v in (0.0, -1.5, 2.25)])),
      ("tokenizer.ggml.token_type", 9, arr(5, [struct.pack("<i", v) for v in (2, 1, 6)]))]
q8 = struct.pack("<e", 0.25) + bytes(range(32))
q4 = struct.pack("<e", -0.5) + bytes((i * 37) & 255 for i in range(16))
ts = [("output_norm.weight", [8], 0, struct.pack("<8f", *[1.5] * 8)), ("h", [4, 2], 1, struct.pack("<8e", *range(8))),
      ("blk.0.attn_q.weight", [32, 2], 8, q8 * 2), ("blk.0.ffn_up.weight", [32, 1], 2, q4)]
put("fuzz_gguf", "small.gguf", gguf(kv, ts))
put("fuzz_gguf", "meta_only.gguf", gguf(kv, []))
put("fuzz_gguf", "v2.gguf", gguf(kv[:2], ts[:2], version=2))
