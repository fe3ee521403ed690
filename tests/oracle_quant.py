# tests/oracle_quant.py — independent numpy/torch reimplementation of qpeft's quant formats.
# Run by tests/test_quant.c: reads DIR/w.f32 (rows x cols), writes DIR/<fmt>.codes (uint8 per
# element), DIR/<fmt>.dq (float32) and DIR/tables.f32 (nf4, fp4, nf3, nf2, dynamic map).
# Usage: /usr/bin/python3 tests/oracle_quant.py DIR ROWS COLS
import sys
from statistics import NormalDist

import numpy as np
import torch

f32 = np.float32

NF4 = np.array([-1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1], dtype=f32)


def loftq_normal_map(num_bits, offset=0.9677083):
    # LoftQ create_normal_map(symmetric=False): torch float32 linspace, normal quantiles
    # (statistics.NormalDist here instead of scipy), sorted, divided by the maximum.
    ppf = NormalDist().inv_cdf
    v = 2 ** num_bits
    v1 = [ppf(float(p)) for p in torch.linspace(offset, 0.5, v // 2 + 1)[:-1]]
    v3 = [-ppf(float(p)) for p in torch.linspace(offset, 0.5, v // 2)[:-1]]
    t = torch.tensor(v1 + [0.0] + v3, dtype=torch.float32).sort().values
    t /= t.max()
    return t.numpy()


def linspace_scalar(start, end, n):
    # torch's scalar float32 linspace formula: step in float32, the first half counted up
    # from start, the second half down from end. torch's vectorised kernel (used for longer
    # ranges) rounds some points differently by one ulp, and differently per CPU, so the
    # definition qpeft documents is this scalar one; main() reports the gap to torch.
    start, end = f32(start), f32(end)
    step = f32((end - start) / f32(n - 1))
    return np.array([f32(start + f32(step * f32(i))) if i < n // 2 else f32(end - f32(step * f32(n - i - 1)))
                     for i in range(n)], dtype=f32)


def dynamic_map(lin=linspace_scalar):
    # bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)
    data = []
    for i in range(7):
        b = torch.from_numpy(lin(0.1, 1, 2 ** i + 1))
        means = (b[:-1] + b[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0.0, 1.0]
    assert len(data) == 256
    return np.sort(np.array(data, dtype=f32))


def fp4_values():
    mags = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3], dtype=f32) / f32(12)
    return np.concatenate([mags, -mags]).astype(f32)


def mids(sorted_vals):
    s = sorted_vals.astype(f32)
    return ((s[:-1] + s[1:]) / f32(2)).astype(f32)


def nearest(x, sorted_vals):
    # number of float32 midpoints strictly below x: ties go to the lower neighbour
    return np.searchsorted(mids(sorted_vals), x, side="left")


def blocks(cols, b):
    return [(j, min(j + b, cols)) for j in range(0, cols, b)]


def absmax_format(w, table_codes, block, dq, fp4=False):
    rows, cols = w.shape
    codes = np.zeros(w.shape, np.uint8)
    am = []
    for r in range(rows):
        for j0, j1 in blocks(cols, block):
            x = w[r, j0:j1]
            a = f32(np.max(np.abs(x)))
            am.append(a)
            xn = (x / a).astype(f32) if a > 0 else np.zeros_like(x)
            if fp4:
                vals = fp4_values()
                order = np.argsort(vals[:8], kind="stable")
                rank = nearest(np.abs(xn), vals[:8][order])
                codes[r, j0:j1] = order[rank] | np.where(xn < 0, 8, 0)
            else:
                codes[r, j0:j1] = nearest(xn, table_codes)
    am = np.array(am, dtype=f32)
    if dq:
        mean = f32(np.sum(am.astype(np.float64)) / len(am))
        d = (am - mean).astype(f32)
        dyn = dynamic_map()
        amq = np.zeros_like(am)
        for g0 in range(0, len(d), 256):
            g = d[g0:g0 + 256]
            s2 = f32(np.max(np.abs(g)))
            xn = (g / s2).astype(f32) if s2 > 0 else np.zeros_like(g)
            c = nearest(xn, dyn)
            amq[g0:g0 + 256] = (dyn[c] * s2).astype(f32) + mean
        am = amq.astype(f32)
    vals = fp4_values() if fp4 else table_codes
    out = np.zeros(w.shape, f32)
    k = 0
    for r in range(rows):
        for j0, j1 in blocks(cols, block):
            out[r, j0:j1] = (vals[codes[r, j0:j1]] * am[k]).astype(f32)
            k += 1
    return codes, out


def mxint(w, bits, block):
    rows, cols = w.shape
    codes = np.zeros(w.shape, np.uint8)
    out = np.zeros(w.shape, f32)
    mmax = 2 ** (bits - 1) - 1
    for r in range(rows):
        for j0, j1 in blocks(cols, block):
            x = w[r, j0:j1].astype(np.float64)
            amax = np.max(np.abs(x))
            e = int(np.frexp(amax)[1]) - 1 if amax > 0 else -127
            e = max(-127, min(127, e))
            m = np.minimum(np.rint(np.abs(x) * 2.0 ** (bits - 2 - e)), mmax)
            neg = x < 0
            codes[r, j0:j1] = (m.astype(np.uint8) | np.where(neg, 1 << (bits - 1), 0)).astype(np.uint8)
            out[r, j0:j1] = np.where(neg, -m, m) * 2.0 ** (e - (bits - 2))
    return codes, out


def intk(w, bits, block):
    rows, cols = w.shape
    codes = np.zeros(w.shape, np.uint8)
    out = np.zeros(w.shape, f32)
    qmax = f32(2 ** bits - 1)
    for r in range(rows):
        for j0, j1 in blocks(cols, block):
            x = w[r, j0:j1]
            lo, hi = min(f32(x.min()), f32(0)), max(f32(x.max()), f32(0))
            s = f32(np.float16(f32(hi - lo) / qmax))
            if s == 0:
                continue
            z = f32(min(max(np.rint(f32(-lo / s)), 0), qmax))
            c = np.clip(np.rint((x / s).astype(f32)) + z, 0, qmax)
            codes[r, j0:j1] = c.astype(np.uint8)
            out[r, j0:j1] = ((c - z) * s).astype(f32)
    return codes, out


def main():
    d, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    w = np.fromfile(f"{d}/w.f32", dtype=f32).reshape(rows, cols)
    nf3, nf2 = loftq_normal_map(3), loftq_normal_map(2)
    torch_dyn = dynamic_map(lambda a, b, n: torch.linspace(a, b, n).numpy())
    np.concatenate([NF4, fp4_values(), nf3, nf2, dynamic_map(), torch_dyn]).astype(f32).tofile(f"{d}/tables.f32")
    fmts = {
        "nf4-b64": lambda: absmax_format(w, NF4, 64, False),
        "nf4-b64-dq": lambda: absmax_format(w, NF4, 64, True),
        "fp4-b64": lambda: absmax_format(w, None, 64, False, fp4=True),
        "nf3-b64": lambda: absmax_format(w, nf3, 64, False),
        "nf2-b64": lambda: absmax_format(w, nf2, 64, False),
        "mxint2-b16": lambda: mxint(w, 2, 16),
        "mxint3-b32": lambda: mxint(w, 3, 32),
        "mxint4-b32": lambda: mxint(w, 4, 32),
        "mxint8-b32": lambda: mxint(w, 8, 32),
        "int4-b64": lambda: intk(w, 4, 64),
        "int3-b32": lambda: intk(w, 3, 32),
    }
    for name, fn in fmts.items():
        c, o = fn()
        c.astype(np.uint8).tofile(f"{d}/{name}.codes")
        o.astype(f32).tofile(f"{d}/{name}.dq")
    print("oracle ok", len(fmts))


if __name__ == "__main__":
    main()
