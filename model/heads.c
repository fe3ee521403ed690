// model/heads.c — loss heads: fused softmax cross-entropy (LM over (B,T), classification with
// T = 1), last-token pooling + linear score for sequence heads, and MSE for regression.
// Tested by tests/test_layers.c (finite differences, hand-derived losses).
#include "model/layers.h"
#include "core/check.h"
#include <math.h>

// Per row: probs = softmax(logits), loss = logsumexp(logits) - logits[y]. The loss is formed
// from the log-sum-exp rather than -log(prob) so a tiny probability does not underflow to
// log(0). logits[y] is read before the row is overwritten, which is what makes probs == logits
// (in place) safe.
// Row max and sum in 16 float lanes, combined in a fixed order: the compiler vectorizes the lane
// loops (a serial double sum would not), and the result still depends only on the row, never
// on the thread count. Over a 32000-wide row each lane adds ~2000 terms in [0, 1], so the float
// partials lose nothing measurable before the double combine.
enum { ROW_LANES = 16 };
static float row_max(const float *x, int n) {
    float m[ROW_LANES];
    int i = 0;
    for (int k = 0; k < ROW_LANES; k++) m[k] = x[0];
    for (; i + ROW_LANES <= n; i += ROW_LANES)
        for (int k = 0; k < ROW_LANES; k++) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
    float mx = m[0];
    for (int k = 1; k < ROW_LANES; k++) mx = m[k] > mx ? m[k] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

static double row_sum(const float *x, int n) {
    float a[ROW_LANES] = {0};
    int i = 0;
    for (; i + ROW_LANES <= n; i += ROW_LANES)
        for (int k = 0; k < ROW_LANES; k++) a[k] += x[i + k];
    double s = 0.0;
    for (int k = 0; k < ROW_LANES; k++) s += a[k];
    for (; i < n; i++) s += x[i];
    return s;
}

double crossentropy_softmax_forward(float *probs, float *losses, const float *logits, const int *targets,
                                    int B, int T, int V) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        const float *l = logits + bt * V;
        float *p = probs + bt * V;
        int y = targets[bt];
        QP_ASSERT(y >= -1 && y < V);
        float ly = y >= 0 ? l[y] : 0.0f;
        float mx = row_max(l, V);
        for (int i = 0; i < V; i++) p[i] = expf(l[i] - mx);
        double sum = row_sum(p, V);
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < V; i++) p[i] *= inv;
        losses[bt] = y >= 0 ? (float)(log(sum) - ((double)ly - mx)) : 0.0f;
    }
    // fixed-order sum in double: the mean does not depend on the thread count
    double total = 0.0;
    size_t n = 0;
    for (size_t bt = 0; bt < BT; bt++)
        if (targets[bt] >= 0) { total += losses[bt]; n++; }
    return n ? total / (double)n : 0.0;
}

// d loss / d logits_i = (p_i - [i == y]) / N per non-ignored row (N rows averaged).
void crossentropy_softmax_backward(float *dlogits, const float *probs, const int *targets, int B, int T, int V,
                                   float dloss) {
    size_t BT = (size_t)B * T, n = 0;
    for (size_t bt = 0; bt < BT; bt++) n += targets[bt] >= 0;
    int in_place = dlogits == probs;
    float s = n ? dloss / (float)n : 0.0f;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        float *d = dlogits + bt * V;
        const float *p = probs + bt * V;
        int y = targets[bt];
        if (y < 0) {
            if (in_place)
                for (int i = 0; i < V; i++) d[i] = 0.0f;
            continue;
        }
        for (int i = 0; i < V; i++) {
            float g = p[i] * s;
            d[i] = in_place ? g : d[i] + g;
        }
        d[y] -= s;
    }
}

// logits[b,k] = sum_c h[b, lens[b]-1, c] score[k, c]; dot products in double (B*NL*C is tiny).
void seqhead_forward(float *logits, const float *h, const int *lens, const float *score, int B, int T, int C, int NL) {
    for (int b = 0; b < B; b++) {
        QP_ASSERT(lens[b] >= 1 && lens[b] <= T);
        const float *x = h + ((size_t)b * T + (size_t)(lens[b] - 1)) * C;
        for (int kk = 0; kk < NL; kk++) {
            const float *w = score + (size_t)kk * C;
            double acc = 0.0;
            for (int c = 0; c < C; c++) acc += (double)x[c] * w[c];
            logits[(size_t)b * NL + kk] = (float)acc;
        }
    }
}

//   dh[b, lens[b]-1, c] += sum_k dlogits[b,k] score[k,c]
//   dscore[k, c]        += sum_b dlogits[b,k] h[b, lens[b]-1, c]   (b in order: deterministic)
void seqhead_backward(float *dh, float *dscore, const float *dlogits, const float *h, const int *lens,
                      const float *score, int B, int T, int C, int NL) {
    for (int b = 0; b < B; b++) {
        QP_ASSERT(lens[b] >= 1 && lens[b] <= T);
        size_t row = ((size_t)b * T + (size_t)(lens[b] - 1)) * C;
        const float *x = h + row;
        float *dx = dh + row;
        for (int kk = 0; kk < NL; kk++) {
            float g = dlogits[(size_t)b * NL + kk];
            const float *w = score + (size_t)kk * C;
            for (int c = 0; c < C; c++) dx[c] += g * w[c];
            if (dscore) {
                float *dw = dscore + (size_t)kk * C;
                for (int c = 0; c < C; c++) dw[c] += g * x[c];
            }
        }
    }
}

double mse_forward(const float *pred, const float *target, int B) {
    double s = 0.0;
    for (int b = 0; b < B; b++) {
        double d = (double)pred[b] - target[b];
        s += d * d;
    }
    return B ? s / B : 0.0;
}

// d/dpred_b of (1/B) sum (pred - y)^2 = 2 (pred_b - y_b) / B.
void mse_backward(float *dpred, const float *pred, const float *target, int B, float dloss) {
    for (int b = 0; b < B; b++) dpred[b] += dloss * 2.0f * (pred[b] - target[b]) / (float)B;
}
