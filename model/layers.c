// model/layers.c — the elementwise and per-row layer kernels: token embedding, RMSNorm
// and SwiGLU, forward and backward. Tested by tests/test_layers.c (finite differences).
#include "model/layers.h"
#include "core/check.h"
#include <math.h>

// Parameter-gradient reductions run in parallel over blocks of this many channels, each block
// summing over all (b,t) rows in order: no races, no float atomics, and a result that does not
// depend on the thread count. 16 floats = one cache line, so blocks never share a line.
#define CHAN_BLOCK 16

// ---------------------------------------------------------------------------------------------
// encoder

void encoder_forward(float *out, const int *ids, const float *tok_emb, int B, int T, int C, int V) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        int id = ids[bt];
        QP_ASSERT(id >= 0 && id < V);
        const float *src = tok_emb + (size_t)id * C;
        float *dst = out + bt * C;
        for (int c = 0; c < C; c++) dst[c] = src[c];
    }
}

// dtok_emb[ids[bt], c] += dout[bt, c]. Two rows with the same id would race if split over
// rows, so the split is over channel blocks; each block walks the rows in order.
void encoder_backward(float *dtok_emb, const float *dout, const int *ids, int B, int T, int C, int V) {
    size_t BT = (size_t)B * T;
    int nblk = (C + CHAN_BLOCK - 1) / CHAN_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CHAN_BLOCK, c1 = c0 + CHAN_BLOCK < C ? c0 + CHAN_BLOCK : C;
        for (size_t bt = 0; bt < BT; bt++) {
            int id = ids[bt];
            QP_ASSERT(id >= 0 && id < V);
            float *d = dtok_emb + (size_t)id * C;
            const float *g = dout + bt * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int B, int T, int C, float eps) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        const float *x = inp + bt * C;
        double ss = 0.0;  // sum of squares in double: C can be thousands
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        float r = (float)(1.0 / sqrt(ss / C + (double)eps));
        float *y = out + bt * C;
        for (int c = 0; c < C; c++) y[c] = x[c] * r * weight[c];
        rstd[bt] = r;
    }
}

// y_i = g_i x_i r with r = (m + eps)^(-1/2), m = (1/C) sum_j x_j^2.
//   dr/dx_i = -1/2 (m + eps)^(-3/2) * 2 x_i / C = -r^3 x_i / C
//   dx_i = r g_i dy_i + (sum_j dy_j g_j x_j) dr/dx_i = r g_i dy_i - (r^3 / C) x_i sum_j dy_j g_j x_j
//   dg_i = sum over rows of dy_i x_i r
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *rstd,
                      const float *weight, int B, int T, int C) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        const float *x = inp + bt * C, *dy = dout + bt * C;
        float *dx = dinp + bt * C;
        double dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)dy[c] * weight[c] * x[c];
        float r = rstd[bt];
        float k = (float)((double)r * r * r * dot / C);
        for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - k * x[c];
    }
    if (!dweight) return;
    // dweight: parallel over channel blocks, rows summed in order in double -> deterministic.
    int nblk = (C + CHAN_BLOCK - 1) / CHAN_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CHAN_BLOCK, n = c0 + CHAN_BLOCK < C ? CHAN_BLOCK : C - c0;
        double acc[CHAN_BLOCK] = {0};
        for (size_t bt = 0; bt < BT; bt++) {
            const float *x = inp + bt * C + c0, *dy = dout + bt * C + c0;
            double r = rstd[bt];
            for (int j = 0; j < n; j++) acc[j] += (double)dy[j] * x[j] * r;
        }
        for (int j = 0; j < n; j++) dweight[c0 + j] += (float)acc[j];
    }
}

// ---------------------------------------------------------------------------------------------
// SwiGLU

void swiglu_forward(float *out, const float *gate, const float *up, int B, int T, int H) {
    size_t N = (size_t)B * T * H;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + expf(-g));
        out[i] = g * s * up[i];
    }
}

// out = silu(g) u with silu(g) = g s, s = sigmoid(g), s' = s (1 - s):
//   d silu/dg = s + g s (1 - s) = s (1 + g (1 - s))
//   dgate = dout * u * s (1 + g (1 - s));   dup = dout * g s
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int B, int T, int H) {
    size_t N = (size_t)B * T * H;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + expf(-g));
        dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] += dout[i] * g * s;
    }
}
