#!/usr/bin/python3
"""tests/fuzz/make_gguf_seeds.py OUT — seed GGUF files for tests/fuzz/fuzz_gguf_base.c (GGUF bases).

Tiny llama GGUF v3 files (dim 32, 2 heads, 1 kv head, hidden 256, vocab 16, 1 or 2 layers) whose
linears come in several ggml types: all F32, Q8_0 + Q4_0, Q5_0/Q5_1/Q4_1 + a Q4_K ffn_down (its
rows are 256 wide), F16/BF16 + Q6_K/Q2_K/Q3_K/Q5_K/Q8_K ffn_down, and a tied/untied head. Block
contents are seeded random bytes (the loader checks shapes and sizes, not values); the fuzzer
mutates from there: truncations, wrong counts, offsets, dimensions, types, keys.
"""
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ggml_fixtures import write_gguf  # noqa: E402  (the fixtures' GGUF writer)

# ggml type id -> (weights per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292)}


def kv_bytes(items):
    out = b""
    for key, kind, val in items:
        k = key.encode()
        out += struct.pack("<Q", len(k)) + k
        if kind == "str":
            v = val.encode()
            out += struct.pack("<IQ", 8, len(v)) + v
        elif kind == "u32":
            out += struct.pack("<II", 4, val)
        elif kind == "f32":
            out += struct.pack("<If", 6, val)
        elif kind == "strs":
            out += struct.pack("<IIQ", 9, 8, len(val))
            for s in val:
                out += struct.pack("<Q", len(s.encode())) + s.encode()
    return out, len(items)


def model(rng, layers, lin_types, down_type, tied):
    C, H, V, NH, NKV = 32, 256, 16, 2, 1
    HS = C // NH
    items = [("general.architecture", "str", "llama"), ("llama.embedding_length", "u32", C),
             ("llama.feed_forward_length", "u32", H), ("llama.block_count", "u32", layers),
             ("llama.attention.head_count", "u32", NH), ("llama.attention.head_count_kv", "u32", NKV),
             ("llama.context_length", "u32", 64), ("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
             ("llama.rope.freq_base", "f32", 10000.0), ("tokenizer.ggml.model", "str", "llama"),
             ("tokenizer.ggml.tokens", "strs", ["<unk>", "<s>", "</s>"] + [chr(97 + i) for i in range(V - 3)])]
    kv, n_kv = kv_bytes(items)

    def tensor(name, ne, t):
        qk, nb = BLOCKS[t]
        n = 1
        for d in ne:
            n *= d
        if t == 0:
            data = struct.pack(f"<{n}f", *[rng.uniform(-0.5, 0.5) for _ in range(n)])
        else:
            data = bytes(rng.randrange(256) for _ in range(n // qk * nb))
            if t in (1, 30):
                data = struct.pack(f"<{n}H", *[rng.randrange(0x3000, 0x3C00) for _ in range(n)])
        return (name, ne, t, data)

    ts = [tensor("token_embd.weight", [C, V], 0), tensor("output_norm.weight", [C], 0)]
    if not tied:
        ts.append(tensor("output.weight", [C, V], lin_types[0]))
    shapes = {"attn_q": [C, NH * HS], "attn_k": [C, NKV * HS], "attn_v": [C, NKV * HS], "attn_output": [NH * HS, C],
              "ffn_gate": [C, H], "ffn_up": [C, H], "ffn_down": [H, C]}
    for layer in range(layers):
        ts.append(tensor(f"blk.{layer}.attn_norm.weight", [C], 0))
        ts.append(tensor(f"blk.{layer}.ffn_norm.weight", [C], 0))
        for i, (name, ne) in enumerate(shapes.items()):
            t = down_type if name == "ffn_down" else lin_types[i % len(lin_types)]
            ts.append(tensor(f"blk.{layer}.{name}.weight", ne, t))
    return kv, n_kv, ts


def main():
    out = os.path.join(sys.argv[1], "fuzz_gguf_base")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(2385)
    plans = [("f32", 1, [0], 0, True), ("q8_0_q4_0", 2, [8, 2], 8, False), ("q5_q4_1_q4_K", 1, [6, 7, 3], 12, True),
             ("f16_q6_K", 1, [1], 14, True), ("bf16_q2_K", 1, [30], 10, False), ("q3_K", 1, [8], 11, True),
             ("q5_K", 1, [2], 13, True), ("q8_K", 1, [8], 15, True)]
    for name, layers, lin, down, tied in plans:
        kv, n_kv, ts = model(rng, layers, lin, down, tied)
        write_gguf(os.path.join(out, name + ".gguf"), 3, kv, n_kv, 32, ts)


if __name__ == "__main__":
    main()
