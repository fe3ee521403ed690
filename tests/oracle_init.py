# tests/oracle_init.py — independent numpy float64 implementation of the LQER / QERA-approx /
# QERA-exact corrections, run by tests/test_init.c on the files it writes to DIR:
#   w.f32, wq.f32 (OC,IC); mean_abs.f64, mean_sq.f64 (IC); r.f64 (IC,IC) = E[xᵀx]
# and writes DIR/c_<method>.f64 (OC,IC): C_kᵀ, the rank-k correction the adapter's s·B·A must
# equal. Usage: /usr/bin/python3 tests/oracle_init.py DIR OC IC K
import sys

import numpy as np


def rank_k(E_p, left, left_inv, k):
    # Best rank-k approximation of E_p in the metric ‖left·(E_p − C)‖_F: SVD of left·E_p.
    U, s, Vt = np.linalg.svd(left @ E_p, full_matrices=False)
    return left_inv @ (U[:, :k] * s[:k]) @ Vt[:k]


def main():
    d, OC, IC, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    W = np.fromfile(f"{d}/w.f32", dtype=np.float32).reshape(OC, IC).astype(np.float64)
    Wq = np.fromfile(f"{d}/wq.f32", dtype=np.float32).reshape(OC, IC).astype(np.float64)
    mean_abs = np.fromfile(f"{d}/mean_abs.f64", dtype=np.float64)
    mean_sq = np.fromfile(f"{d}/mean_sq.f64", dtype=np.float64)
    R = np.fromfile(f"{d}/r.f64", dtype=np.float64).reshape(IC, IC)
    E_p = (W - Wq).T                                   # (IC, OC), y = x W_p
    out = {}
    out["lqer"] = rank_k(E_p, np.diag(mean_abs), np.diag(1 / mean_abs), k)
    rms = np.sqrt(mean_sq)
    out["qera-approx"] = rank_k(E_p, np.diag(rms), np.diag(1 / rms), k)
    lam, V = np.linalg.eigh((R + R.T) / 2)
    assert lam.min() > 0, "oracle expects a non-singular R"
    Rh = (V * np.sqrt(lam)) @ V.T
    Rih = (V / np.sqrt(lam)) @ V.T
    out["qera-exact"] = rank_k(E_p, Rh, Rih, k)
    for name, C in out.items():
        np.ascontiguousarray(C.T).astype(np.float64).tofile(f"{d}/c_{name}.f64")
    # The closed form the C test also checks, reported for the log.
    s = np.linalg.svd(Rh @ E_p, compute_uv=False)
    print(f"oracle: qera-exact residual sum_{{i>k}} sigma^2 = {np.sum(s[k:] ** 2):.10g}")


if __name__ == "__main__":
    main()
