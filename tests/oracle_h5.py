#!/usr/bin/python3
# tests/oracle_h5.py — h5py side of tests/test_h5.c: checks a file written by checkpoints/h5.c
# value by value (values recomputed here from the same formulas), and writes an h5py file for C.
#   oracle_h5.py check FILE   -> prints PASS/FAIL lines (counted by tests/run.sh)
#   oracle_h5.py write FILE
import sys

import h5py
import numpy as np


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + "h5py: " + what, flush=True)


def expect_array(f, path, dtype, shape, values):
    if path not in f:
        check(False, f"{path} missing")
        return
    d = f[path]
    got = d[()]
    ok = d.dtype == np.dtype(dtype) and d.shape == shape and np.array_equal(got, values)
    check(ok, f"{path} {d.dtype}{d.shape} equals the expected {np.dtype(dtype)}{shape}")
    if d.size:
        check(d.fletcher32 and d.chunks is not None, f"{path} is chunked ({d.chunks}) with fletcher32")


def run_check(fn):
    f = h5py.File(fn, "r")
    a = f.attrs
    check(a.get("format") == "qpeft-test", f"root attr format = {a.get('format')!r}")
    check(a.get("note") == "na\u00efve \u2713", f"root attr note (UTF-8) = {a.get('note')!r}")
    v = a.get("version")
    check(isinstance(v, np.int64) and v == 3, f"root attr version int64 = {v!r}")
    lr = a.get("lr")
    check(isinstance(lr, np.float64) and lr == 2.385e-4, f"root attr lr float64 = {lr!r}")
    check(f["model/layers/0"].attrs.get("name") == "layer zero", "group attr on model/layers/0")
    check(f["model/b"].attrs.get("units") == "nats", "dataset attr on model/b")
    i = np.arange(3 * 5 * 7, dtype=np.float64)
    expect_array(f, "model/layers/0/w", "<f4", (3, 5, 7), (i * 0.375 - 11.5).astype(np.float32).reshape(3, 5, 7))
    expect_array(f, "model/b", "<f8", (4,), np.array([np.pi, -1.0 / 3.0, 1e-300, 1.7976931348623157e308]))
    ids = np.arange(6, dtype=np.int64) ** 2 - 7
    ids[0] = -(2 ** 31)
    expect_array(f, "ids", "<i4", (2, 3), ids.astype(np.int32).reshape(2, 3))
    expect_array(f, "counts", "<i8", (5,), np.array([0, -1, 2 ** 40 + 1, 2 ** 63 - 1, -(2 ** 63)], dtype=np.int64))
    expect_array(f, "mask", "u1", (10,), (np.arange(10) * 29 % 256).astype(np.uint8))
    j = np.arange(300 * 1000)
    expect_array(f, "big", "<f4", (300, 1000), ((j % 1000) * 0.5 - (j // 1000)).astype(np.float32).reshape(300, 1000))
    expect_array(f, "empty", "<f4", (0, 4), np.zeros((0, 4), np.float32))
    check(sorted(f.keys()) == ["big", "counts", "empty", "ids", "mask", "model"], f"root children {sorted(f.keys())}")


def run_write(fn):
    with h5py.File(fn, "w") as f:
        f.attrs["s_vlen"] = "hello from h5py"
        f.attrs["s_fixed"] = np.bytes_(b"fixed!")
        f.attrs["n32"] = np.int32(-7)
        f.attrs["x"] = 0.5
        f.create_dataset("d_be", data=np.array([[1.5, 2.5], [3.5, -4.5]], dtype=">f8"))
        f.create_dataset("half", data=np.array([1, 2, 3], dtype=np.float16))
        f.create_dataset("u16", data=np.array([1, 2], dtype=np.uint16))
        f.create_dataset("scalar", data=np.float32(1.0))
        g = f.create_group("g")
        for name in ("b", "a", "c"):
            g.create_group(name)


if __name__ == "__main__":
    {"check": run_check, "write": run_write}[sys.argv[1]](sys.argv[2])
