#!/usr/bin/python3
"""tests/ggml_fixtures.py — model fixtures quantized by ggml's own quantizer, for qpeft's GGUF bases.

usage: ggml_fixtures.py OUTDIR MODEL.bin [--wide WIDE.bin]
       ggml_fixtures.py --gguf OUTDIR BASE.gguf [WIDEBASE.gguf]

For each fixture type (q4_0, q8_0, q4_K, q5_K, q6_K, q4_K_m) writes OUTDIR/<fixture>/ with
manifest.tsv (name type ggml_type rows cols bytes, GGUF tensor names) and, per tensor, NAME.raw
(the blocks a GGUF file would hold) and NAME.f32 (ggml's dequantize_row_<type> of them): the
token embedding and every layer's seven linears of MODEL.bin (llama2.c format), quantized by
ggml_quantize_chunk of libggml-base.so (tests/oracle_ggml.py). The form is the raw-block form of
tests/oracle_ggml.py, fed to quant_tensor_from_raw until the GGUF reader holds these tensors.

The K-quants need rows that are whole 256-weight super-blocks. tinystories-1M's rows are 128
(dim) or 352 (hidden) wide, so no tensor of it can be a K-quant in a GGUF file: llama.cpp's
llama-quantize then falls back per tensor (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0) and so does
this builder; the manifest names the type actually used. --wide also writes WIDE.bin, a
llama2.c model of seeded random weights with dim 256 and hidden 768 (2 layers, 4 heads, 2 kv
heads, vocab 512, context 64), and its fixtures as OUTDIR/wide.<fixture>/, where every K-quant
applies natively.

The --gguf form then takes an F32 GGUF of MODEL.bin (qpeft merge --to gguf --gguf-type f32,
vocabulary included) and writes OUTDIR/<fixture>.gguf: the same file with token_embd and the
linears replaced by the fixture's ggml blocks (metadata copied byte for byte), so llama.cpp and
qpeft run the very same file; WIDEBASE.gguf (of WIDE.bin) gives OUTDIR/wide.<fixture>.gguf.

q4_K_m is "Q4_K_M-like": llama.cpp's rule for LLAMA_FTYPE_MOSTLY_Q4_K_M on a plain Llama —
attn_v and ffn_down in Q6_K in the layers use_more_bits picks (the first and last eighth and
every third in between), every other linear and token_embd in Q4_K.
"""
import os
import struct
import sys

import numpy as np

import oracle_ggml as og

LINEARS = [("wq", "attn_q"), ("wk", "attn_k"), ("wv", "attn_v"), ("wo", "attn_output"),
           ("w1", "ffn_gate"), ("w3", "ffn_up"), ("w2", "ffn_down")]
FALLBACK = {"q4_K": "q5_0", "q5_K": "q5_1", "q6_K": "q8_0"}  # llama-quantize, rows not 256-aligned
FIXTURES = ["q4_0", "q8_0", "q4_K", "q5_K", "q6_K", "q4_K_m"]


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def planned_type(fixture, gguf_name, layer, n_layers):
    if fixture != "q4_K_m":
        return fixture
    if gguf_name in ("attn_v", "ffn_down") and use_more_bits(layer, n_layers):
        return "q6_K"
    return "q4_K"


def write_wide(path):
    """A llama2.c model of seeded random weights whose rows are multiples of 256."""
    dim, hidden, layers, heads, kv, vocab, seq = 256, 768, 2, 4, 2, 512, 64
    kvdim = dim * kv // heads
    rng = np.random.default_rng(256)

    def mat(*shape):  # fan-in scaled, with a few outliers as trained weights have
        x = rng.standard_normal(shape) / np.sqrt(shape[-1])
        x[rng.random(shape) < 0.002] *= 8
        return x.astype("<f4")

    parts = [mat(vocab, dim) * 4, 1 + 0.1 * rng.standard_normal((layers, dim)), mat(layers, dim, dim),
             mat(layers, kvdim, dim), mat(layers, kvdim, dim), mat(layers, dim, dim),
             1 + 0.1 * rng.standard_normal((layers, dim)), mat(layers, hidden, dim), mat(layers, dim, hidden),
             mat(layers, hidden, dim), 1 + 0.1 * rng.standard_normal(dim), np.zeros(seq * (dim // heads))]
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq))
        for p in parts:
            f.write(np.asarray(p, dtype="<f4").tobytes())


def build(lib, model_path, outdir, prefix=""):
    hdr, w = og.read_model(model_path)
    n_layers = hdr[2]
    for fixture in FIXTURES:
        d = os.path.join(outdir, prefix + fixture)
        os.makedirs(d, exist_ok=True)
        tensors = [("token_embd.weight", "token_embd", 0, w["tok"])]
        for layer in range(n_layers):
            for src, gname in LINEARS:
                tensors.append((f"blk.{layer}.{gname}.weight", gname, layer, w[src][layer]))
        lines = []
        for name, gname, layer, x in tensors:
            t = planned_type(fixture, gname, layer, n_layers)
            if x.shape[1] % og.TYPES[t][1]:
                t = FALLBACK[t]
            raw = og.quantize(lib, t, x)
            y = og.dequantize(lib, t, raw, x.size)
            raw.tofile(os.path.join(d, name + ".raw"))
            y.tofile(os.path.join(d, name + ".f32"))
            lines.append(f"{name}\t{t}\t{og.TYPES[t][0]}\t{x.shape[0]}\t{x.shape[1]}\t{raw.size}\n")
        with open(os.path.join(d, "manifest.tsv"), "w") as f:
            f.writelines(lines)


GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_gguf(path):
    """(version, raw metadata bytes, n_kv, alignment, [(name, ne, type, bytes)]) of a GGUF file."""
    buf = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def skip_value(t):
        nonlocal pos
        if t == 8:
            n = take("Q")  # (not `pos += take(..)`: that adds to the value before the read)
            pos += n
        elif t == 9:
            et, n = take("I"), take("Q")
            for _ in range(n):
                skip_value(et)
        else:
            pos += GGUF_SCALAR[t]

    magic, version, n_t, n_kv = take("4s"), take("I"), take("Q"), take("Q")
    assert magic == b"GGUF", path
    kv_start, align = pos, 32
    for _ in range(n_kv):
        n = take("Q")
        key = buf[pos:pos + n].decode()
        pos += n
        t = take("I")
        if key == "general.alignment":
            align = struct.unpack_from("<I", buf, pos)[0]
        skip_value(t)
    kv = buf[kv_start:pos]
    infos = []
    for _ in range(n_t):
        n = take("Q")
        name = buf[pos:pos + n].decode()
        pos += n
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    data = pos + (-pos % align)
    tensors = []
    for name, ne, t, off in infos:
        qk, nbytes = (1, 4) if t == 0 else og.TYPES[[k for k, v in og.TYPES.items() if v[0] == t][0]][1:3]
        size = int(np.prod(ne)) // qk * nbytes
        tensors.append((name, ne, t, buf[data + off:data + off + size]))
    return version, kv, n_kv, align, tensors


def write_gguf(path, version, kv, n_kv, align, tensors):
    head = struct.pack("<4sIQQ", b"GGUF", version, len(tensors), n_kv) + kv
    off, infos, blobs = 0, b"", []
    for name, ne, t, data in tensors:
        nb = name.encode()
        infos += struct.pack("<Q", len(nb)) + nb + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", t, off)
        pad = -len(data) % align
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head += infos
    head += b"\0" * (-len(head) % align)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


def requant_gguf(lib, base, fixture_dir, out):
    """base's tensors, with those of fixture_dir's manifest replaced by its blocks."""
    version, kv, n_kv, align, tensors = read_gguf(base)
    blocks = {}
    for line in open(os.path.join(fixture_dir, "manifest.tsv")):
        name, t, tid, rows, cols, nbytes = line.split()
        blocks[name] = (int(tid), open(os.path.join(fixture_dir, name + ".raw"), "rb").read())
    new = []
    for name, ne, t, data in tensors:
        if name in blocks:
            assert t == 0, f"{base}: {name} is not F32"
            t, data = blocks[name]
        new.append((name, ne, t, data))
    write_gguf(out, version, kv, n_kv, align, new)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--gguf":
        if len(args) not in (3, 4):
            sys.exit(__doc__)
        lib = og.load_ggml()
        for base, prefix in zip(args[2:], ("", "wide.")):
            for fixture in FIXTURES:
                d = os.path.join(args[1], prefix + fixture)
                requant_gguf(lib, base, d, d + ".gguf")
        print(f"ggml_fixtures.py: GGUF fixtures in {args[1]}")
        return
    wide = None
    if "--wide" in args:
        i = args.index("--wide")
        wide = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    outdir, model = args
    lib = og.load_ggml()
    og.check_type_table(lib)
    build(lib, model, outdir)
    if wide:
        write_wide(wide)
        build(lib, wide, outdir, "wide.")
    print(f"ggml_fixtures.py: fixtures in {outdir}")


if __name__ == "__main__":
    main()
