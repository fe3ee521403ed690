#!/usr/bin/python3
"""tests/oracle_ggml.py — ggml itself as the oracle for qpeft's ggml block formats (quant/ggml.c).

usage: oracle_ggml.py OUTDIR [MODEL.bin]

Loads libggml-base.so from the node-llama-cpp npm package (`make test-deps` installs it in
tests/llamacpp/; QPEFT_GGML_LIB overrides the path) through ctypes and writes, for every type:
  * random values quantized by ggml_quantize_chunk (high-entropy rows: mixed scales, outliers,
    an all-zero block, a tiny block, an all-negative block),
  * random block bytes (every bit of scales and codes exercised, fp16 super-scales kept finite),
  * with MODEL.bin (llama2.c format, tinystories-1M): the embedding and the linears of the first
    and last layer quantized by ggml_quantize_chunk. The K-quants need rows of 256 weights and
    this model's rows are 128 or 352 wide, so for them each tensor is viewed as rows of 256
    (the same weights in the same order; only the row split differs),
each as NAME.raw (the blocks, exactly as a GGUF tensor stores them) and NAME.f32 (ggml's
dequantize_row_<type> of those blocks). OUTDIR/manifest.tsv lists
  name  type  ggml_type  rows  cols  bytes
one tensor per line. tests/test_ggml_quant.c feeds the blocks to quant/ and compares bit for bit.
The same files are the fixture form of tests/ggml_fixtures.py.
"""
import ctypes
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIB = os.path.join(HERE, "llamacpp", "node_modules", "@node-llama-cpp", "linux-x64", "bins",
                           "linux-x64", "libggml-base.so")

# name -> (ggml_type id, weights per block, bytes per block, byte offsets of fp16 super-scales)
TYPES = {
    "q4_0": (2, 32, 18, [0]),
    "q4_1": (3, 32, 20, [0, 2]),
    "q5_0": (6, 32, 22, [0]),
    "q5_1": (7, 32, 24, [0, 2]),
    "q8_0": (8, 32, 34, [0]),
    "q2_K": (10, 256, 84, [80, 82]),
    "q3_K": (11, 256, 110, [108]),
    "q4_K": (12, 256, 144, [0, 2]),
    "q5_K": (13, 256, 176, [0, 2]),
    "q6_K": (14, 256, 210, [208]),
    "q8_K": (15, 256, 292, []),  # fp32 scale at 0, set separately
}


def load_ggml():
    path = os.environ.get("QPEFT_GGML_LIB", DEFAULT_LIB)
    if not os.path.exists(path):
        sys.exit(f"oracle_ggml.py: {path} not found (run `make test-deps`: it installs node-llama-cpp in tests/llamacpp)")
    lib = ctypes.CDLL(path)
    lib.ggml_type_name.restype = ctypes.c_char_p
    lib.ggml_type_size.restype = ctypes.c_size_t
    lib.ggml_blck_size.restype = ctypes.c_int64
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def check_type_table(lib):
    """Our table of ids and block sizes must be ggml's own (ggml_type_name/size/blck_size)."""
    for name, (tid, qk, nbytes, _) in TYPES.items():
        got = (lib.ggml_type_name(tid).decode(), lib.ggml_blck_size(tid), lib.ggml_type_size(tid))
        if got != (name, qk, nbytes):
            sys.exit(f"oracle_ggml.py: ggml type {tid} is {got}, expected {(name, qk, nbytes)}")


def quantize(lib, name, x):
    """ggml's quantizer on a (rows, cols) float32 matrix -> raw block bytes."""
    tid, qk, nbytes, _ = TYPES[name]
    rows, cols = x.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.zeros(rows * (cols // qk) * nbytes, dtype=np.uint8)
    if name == "q8_K":  # not in ggml_quantize_chunk (an activation format): its row quantizer
        fn = lib.quantize_row_q8_K_ref
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(x.ctypes.data, out.ctypes.data, x.size)
        return out
    n = lib.ggml_quantize_chunk(tid, x.ctypes.data, out.ctypes.data, 0, rows, cols, None)
    if n != out.size:
        sys.exit(f"oracle_ggml.py: ggml_quantize_chunk({name}) wrote {n} bytes, expected {out.size}")
    return out


def dequantize(lib, name, raw, count):
    fn = getattr(lib, "dequantize_row_" + name)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    y = np.zeros(count, dtype=np.float32)
    fn(raw.ctypes.data, y.ctypes.data, count)
    return y


def random_values(rng, rows, cols):
    x = (0.02385 * (1 + 3 * rng.random((rows, cols))) * rng.standard_normal((rows, cols))).astype(np.float32)
    x[rng.random((rows, cols)) < 0.01] *= 9.3  # outliers
    x[0, :256] = 0.0  # an all-zero block (every type's block fits in 256)
    x[1, :256] *= 1e-6  # tiny values
    x[2, :256] = -np.abs(x[2, :256])  # one sign only: the K-quants' min path
    return x


def random_blocks(rng, name, nblocks):
    """Arbitrary bytes with finite super-scales: exercises bit patterns a quantizer rarely writes."""
    tid, qk, nbytes, f16_offsets = TYPES[name]
    raw = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
    for off in f16_offsets:
        h = rng.integers(0, 0x7C00, size=nblocks, dtype=np.uint16) | (rng.integers(0, 2, size=nblocks, dtype=np.uint16) << 15)
        h = np.minimum(h & 0x7FFF, 0x3C00) | (h & 0x8000)  # |d| <= 1: keep products finite
        raw[:, off:off + 2] = h.astype("<u2").view(np.uint8).reshape(nblocks, 2)
    if name == "q8_K":
        d = (rng.standard_normal(nblocks) * 0.01).astype("<f4")
        raw[:, 0:4] = d.view(np.uint8).reshape(nblocks, 4)
    return raw.reshape(-1)


def read_model(path):
    """A llama2.c legacy file: (header (dim, hidden, layers, heads, kv_heads, vocab, seq), tensors by name)."""
    with open(path, "rb") as f:
        hdr = struct.unpack("<7i", f.read(28))
        w = np.frombuffer(f.read(), dtype="<f4")
    dim, hidden, layers, heads, kv, vocab, _ = hdr
    kvdim = dim * kv // heads
    order = [("tok", (abs(vocab), dim)), ("rms_att", (layers, dim)), ("wq", (layers, dim, dim)),
             ("wk", (layers, kvdim, dim)), ("wv", (layers, kvdim, dim)), ("wo", (layers, dim, dim)),
             ("rms_ffn", (layers, dim)), ("w1", (layers, hidden, dim)), ("w2", (layers, dim, hidden)),
             ("w3", (layers, hidden, dim))]
    out, off = {}, 0
    for name, shape in order:
        n = int(np.prod(shape))
        out[name] = w[off:off + n].reshape(shape)
        off += n
    return hdr, out


def read_llama2c(path):
    """tinystories-1M's embedding and the linears of its first and last layer."""
    hdr, out = read_model(path)
    layers = hdr[2]
    tensors = [("tok_embeddings", out["tok"])]
    for layer in (0, layers - 1):
        for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
            tensors.append((f"l{layer}.{name}", out[name][layer]))
    return tensors


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    lib = load_ggml()
    check_type_table(lib)
    rng = np.random.default_rng(2385)
    model = read_llama2c(sys.argv[2]) if len(sys.argv) == 3 else []
    lines = []

    def emit(tname, name, raw, rows, cols):
        y = dequantize(lib, name, raw, rows * cols)
        raw.tofile(os.path.join(outdir, tname + ".raw"))
        y.tofile(os.path.join(outdir, tname + ".f32"))
        lines.append(f"{tname}\t{name}\t{TYPES[name][0]}\t{rows}\t{cols}\t{raw.size}\n")

    for name, (_, qk, _, _) in TYPES.items():
        rows, cols = 8, 512
        emit(f"rand.{name}", name, quantize(lib, name, random_values(rng, rows, cols)), rows, cols)
        emit(f"bytes.{name}", name, random_blocks(rng, name, 4 * 512 // qk), 4, 512)
        for tname, w in model:
            x = w if w.shape[1] % qk == 0 else w.reshape(-1, qk)
            emit(f"ts.{tname}.{name}", name, quantize(lib, name, x), x.shape[0], x.shape[1])
    with open(os.path.join(outdir, "manifest.tsv"), "w") as f:
        f.writelines(lines)
    print(f"oracle_ggml.py: {len(lines)} tensors in {outdir}")


if __name__ == "__main__":
    main()
