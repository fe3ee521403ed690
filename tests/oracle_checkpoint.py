#!/usr/bin/python3
# tests/oracle_checkpoint.py — h5py side of tests/test_checkpoint.c: reads a checkpoint written by
# checkpoints/checkpoint.c and checks it against docs/formats.md. The expected values are
# recomputed here from the test's formulas and the documented layout (not read from C).
#   oracle_checkpoint.py check FILE           -> PASS/FAIL lines (counted by tests/run.sh)
#   oracle_checkpoint.py reshape FILE DSET    -> replace DSET by a float32 array one row longer
#   oracle_checkpoint.py setint FILE NAME V   -> set root attribute NAME to int64 V
import sys

import h5py
import numpy as np

# The test's tiny model (tests/test_checkpoint.c, tiny_config and the adapter settings).
C, H, L, NH, NKV, V, T, NL = 64, 96, 2, 4, 2, 50, 16, 3
HS = C // NH
R, ALPHA = 4, 8.0
TARGETS = ["q_proj", "v_proj", "o_proj", "down_proj"]
LIN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QUANT_MXINT = 7  # quant_kind id in quant/quant.h


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + "h5py: " + what, flush=True)


def val(n, salt, off=0):
    # The test's exactly-representable fill: ((i*7919 + salt*104729) % 4001 - 2000) / 2048.
    i = np.arange(off, off + n, dtype=np.int64)
    return (((i * 7919 + salt * 104729) % 4001) - 2000).astype(np.float32) / np.float32(2048)


def lin_dims(name):
    q, kv = NH * HS, NKV * HS
    return {"q_proj": (C, q), "k_proj": (C, kv), "v_proj": (C, kv), "o_proj": (q, C),
            "gate_proj": (C, H), "up_proj": (C, H), "down_proj": (H, C)}[name]


def expect_ds(f, path, dtype, shape, values=None):
    if path not in f:
        check(False, f"{path} missing")
        return None
    d = f[path]
    ok = d.dtype == np.dtype(dtype) and d.shape == tuple(shape)
    if ok and values is not None:
        ok = np.array_equal(d[()], np.asarray(values).reshape(shape))
    check(ok, f"{path} is {np.dtype(dtype)}{tuple(shape)}" + (" with the expected values" if values is not None else "")
          + ("" if ok else f" (found {d.dtype}{d.shape})"))
    return d[()]


def check_attrs(a):
    want = {"format_version": 1, "dim": C, "hidden_dim": H, "n_layers": L, "n_heads": NH, "n_kv_heads": NKV,
            "vocab_size": V, "max_seq_len": T, "tied_embeddings": 0, "n_labels": NL, "rank": R, "bits": 3,
            "block": 32, "double_quant": 0, "step": 37, "epoch": 2, "seed": 1234, "quant": "mxint3", "mode": "qpeft",
            "init": "loftq", "task": "sst2", "head": "classify", "target_modules": ",".join(TARGETS),
            "quant_modules": ",".join(LIN), "qpeft_version": "0.1-test", "model_hash_len": 16,
            "labels": "negative\tpositive\tneutral", "command": "qpeft train --rank 4 --alpha 8 \"x y\"",
            "extra_keys": "labels,command"}
    for k, v in want.items():
        if k == "model_hash_len":
            h = a.get("model_hash", "")
            check(isinstance(h, str) and len(h) == 16 and all(c in "0123456789abcdef" for c in h), f"model_hash '{h}' is 16 hex digits")
            continue
        got = a.get(k)
        ok = got is not None and (got == v if isinstance(v, str) else int(got) == v and np.issubdtype(type(got), np.integer))
        check(ok, f"attribute {k} = {v!r} (found {got!r})")
    check(a.get("alpha") == ALPHA and isinstance(a.get("alpha"), np.float64), "attribute alpha = 8.0 float64")
    check(abs(a.get("norm_eps", 0) - np.float64(np.float32(1e-5))) == 0, "attribute norm_eps = float32(1e-5) as float64")
    check(a.get("rope_theta") == 10000.0, "attribute rope_theta = 10000")
    # mxint3, block 32: 3 code bits + one 8-bit shared exponent per 32 weights; every row here is whole blocks.
    check(a.get("bits_per_weight") == 3.25, f"bits_per_weight = 3.25 (found {a.get('bits_per_weight')})")


def check_packed(buf, rows, cols, what):
    b = bytes(buf)
    u32 = lambda o: int.from_bytes(b[o:o + 4], "little")
    u64 = lambda o: int.from_bytes(b[o:o + 8], "little")
    secs = [u64(32 + 8 * i) for i in range(4)]
    codes, scales = rows * ((cols * 3 + 7) // 8), rows * ((cols + 31) // 32)
    ok = (b[:4] == b"QTNS" and u32(4) == 1 and u32(8) == QUANT_MXINT and u32(12) == 3 and u32(16) == 32
          and u32(24) == rows and u32(28) == cols and secs == [codes, scales, 0, 0] and len(b) == 64 + codes + scales)
    check(ok, f"{what}: QTNS header mxint3 b32 ({rows},{cols}), sections {secs} == [{codes}, {scales}, 0, 0]")


def run_check(fn):
    f = h5py.File(fn, "r")
    check_attrs(f.attrs)
    off, names = 0, set()
    for l in range(L):
        for k in TARGETS:
            ic, oc = lin_dims(k)
            expect_ds(f, f"adapters/layer{l}/{k}/A", "<f4", (R, ic), val(R * ic, 1, off))
            off += R * ic
            expect_ds(f, f"adapters/layer{l}/{k}/B", "<f4", (oc, R), val(oc * R, 1, off))
            off += oc * R
            names |= {f"adapters/layer{l}/{k}/A", f"adapters/layer{l}/{k}/B"}
    expect_ds(f, "head/score", "<f4", (NL, C), val(NL * C, 1, off))
    off += NL * C
    names |= {"head/score", "optimizer/m", "optimizer/v", "state/rng", "state/data_epoch", "state/data_pos"}
    check(int(f.attrs.get("n_params", -1)) == off, f"n_params {f.attrs.get('n_params')} == documented block size {off}")
    expect_ds(f, "optimizer/m", "<f4", (off,), val(off, 2))
    expect_ds(f, "optimizer/v", "<f4", (off,), np.abs(val(off, 3)))
    check("optimizer" in f and int(f["optimizer"].attrs.get("t", -1)) == 37, "optimizer attribute t = 37")
    rng = np.array([0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 1, 0xFFFFFFFFFFFFFFFF], dtype=np.uint64).view(np.int64)
    expect_ds(f, "state/rng", "<i8", (4,), rng)
    expect_ds(f, "state/data_epoch", "<i8", (1,), [2])
    expect_ds(f, "state/data_pos", "<i8", (1,), [129])
    for l in range(L):
        for k in LIN:
            ic, oc = lin_dims(k)
            p = f"base/layer{l}/{k}/packed"
            names.add(p)
            d = f.get(p)
            if d is None or d.dtype != np.uint8 or d.ndim != 1:
                check(False, f"{p} is a 1-D uint8 dataset")
                continue
            check_packed(d[()], oc, ic, p)
    found = set()
    f.visititems(lambda n, o: found.add(n) if isinstance(o, h5py.Dataset) else None)
    check(found == names, f"exactly the documented {len(names)} datasets (extra {sorted(found - names)[:4]}, missing {sorted(names - found)[:4]})")


def reshape(fn, path):
    with h5py.File(fn, "r+") as f:
        d = f[path][()]
        del f[path]
        f.create_dataset(path, data=np.zeros((d.shape[0] + 1,) + d.shape[1:], dtype=np.float32))


if __name__ == "__main__":
    if sys.argv[1] == "check":
        run_check(sys.argv[2])
    elif sys.argv[1] == "reshape":
        reshape(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "setint":
        with h5py.File(sys.argv[2], "r+") as f:
            f.attrs[sys.argv[3]] = np.int64(sys.argv[4])
