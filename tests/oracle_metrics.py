# tests/oracle_metrics.py — independent numpy formulas for tests/test_metrics.c.
# Usage: oracle_metrics.py IN OUT. IN (int32 n, int32 K, then int32 pred[n], int32 gold[n],
# float32 x[n], float32 y[n]); OUT: accuracy f1 mcc pearson spearman as text, one per line.
import sys
import numpy as np

raw = open(sys.argv[1], "rb").read()
n, K = np.frombuffer(raw[:8], dtype=np.int32)
o = 8
pred = np.frombuffer(raw[o:o + 4 * n], dtype=np.int32).astype(np.int64); o += 4 * n
gold = np.frombuffer(raw[o:o + 4 * n], dtype=np.int32).astype(np.int64); o += 4 * n
x = np.frombuffer(raw[o:o + 4 * n], dtype=np.float32).astype(np.float64); o += 4 * n
y = np.frombuffer(raw[o:o + 4 * n], dtype=np.float32).astype(np.float64)

acc = np.mean(pred == gold)
tp = np.sum((pred == 1) & (gold == 1)); fp = np.sum((pred == 1) & (gold != 1)); fn = np.sum((pred != 1) & (gold == 1))
prec = tp / (tp + fp); rec = tp / (tp + fn)
f1 = 2 * prec * rec / (prec + rec)

# MCC as the correlation of one-hot indicator matrices (Gorodkin): cov(X,Y)/sqrt(cov(X,X)cov(Y,Y)),
# with cov summed over classes.
X = np.eye(K)[pred]; Y = np.eye(K)[gold]
Xc = X - X.mean(0); Yc = Y - Y.mean(0)
mcc = np.sum(Xc * Yc) / np.sqrt(np.sum(Xc * Xc) * np.sum(Yc * Yc))

pearson = np.corrcoef(x, y)[0, 1]

def avg_rank(v):
    # rank_i = #(v < v_i) + (#(v == v_i) + 1) / 2, by broadcasting (no sorting)
    less = (v[None, :] < v[:, None]).sum(1)
    eq = (v[None, :] == v[:, None]).sum(1)
    return less + (eq + 1) / 2.0

spearman = np.corrcoef(avg_rank(x), avg_rank(y))[0, 1]
with open(sys.argv[2], "w") as f:
    for v in (acc, f1, mcc, pearson, spearman):
        f.write("%.17g\n" % v)
