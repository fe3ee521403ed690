// model/attention.c — grouped-query causal self-attention, forward and backward, as per-head
// BLAS products inside an OpenMP loop. Tested by tests/test_layers.c (float64 reference forward,
// finite-difference backward, thread-count invariance).
#include "model/layers.h"
#include "core/check.h"
#include "core/la.h"
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Row t of a (T,T) score block: causal softmax over columns 0..t, zeros after, in place.
static void softmax_causal_row(float *row, int t, int T) {
    float mx = row[0];
    for (int j = 1; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j <= t; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j <= t; j++) row[j] *= inv;
    for (int j = t + 1; j < T; j++) row[j] = 0.0f;
}

// Per (b, h): S = Q Kᵀ / sqrt(HS) (full (T,T) product: one BLAS call beats skipping the upper
// triangle by hand at T = 256), causal softmax in place, O = P V (P is zero above the diagonal,
// so the product needs no mask). Q, K, V, O are strided views into the (B,T,heads,HS) tensors.
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HS) {
    QP_ASSERT(NKV > 0 && NH % NKV == 0);
    int G = NH / NKV;  // query heads per kv head
    int ldq = NH * HS, ldk = NKV * HS;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, g = h / G;
        const float *Q = q + (size_t)b * T * ldq + (size_t)h * HS;
        const float *K = k + (size_t)b * T * ldk + (size_t)g * HS;
        const float *Vv = v + (size_t)b * T * ldk + (size_t)g * HS;
        float *A = att + (size_t)bh * TT;
        float *O = out + (size_t)b * T * ldq + (size_t)h * HS;
        la_sgemm(0, 1, T, T, HS, scale, Q, ldq, K, ldk, 0.0f, A, T);
        for (int t = 0; t < T; t++) softmax_causal_row(A + (size_t)t * T, t, T);
        la_sgemm(0, 0, T, HS, T, 1.0f, A, T, Vv, ldk, 0.0f, O, ldq);
    }
}

static int backward_threads(int B, int NKV) {
    int nt = max_threads();
    return nt < B * NKV ? nt : B * NKV;
}

size_t attention_scratch_floats(int B, int T, int NKV) {
    int nt = backward_threads(B, NKV);
    return (size_t)(nt > 0 ? nt : 1) * T * T;
}

// For one query head, with P = softmax(S), S = scale Q Kᵀ, O = P V:
//   dV += Pᵀ dO
//   dP  = dO Vᵀ
//   dS_tj = P_tj (dP_tj - sum_j' P_tj' dP_tj')      (softmax Jacobian, row by row; 0 above diagonal)
//   dQ += scale dS K;   dK += scale dSᵀ Q
// The loop runs over (b, kv head) so the G query heads that share a kv head add into dK, dV
// from one thread in a fixed order: no races and a thread-count-independent sum.
void attention_backward(float *dq, float *dk, float *dv, float *scratch, size_t scratch_floats,
                        const float *dout, const float *att, const float *q, const float *k, const float *v,
                        int B, int T, int NH, int NKV, int HS) {
    QP_ASSERT(NKV > 0 && NH % NKV == 0);
    int G = NH / NKV;
    int ldq = NH * HS, ldk = NKV * HS;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
    QP_ASSERT(scratch_floats >= TT);
    int nt = backward_threads(B, NKV);
    if ((size_t)nt > scratch_floats / TT) nt = (int)(scratch_floats / TT);
    if (nt < 1) nt = 1;
#pragma omp parallel num_threads(nt)
    {
        float *dP = scratch + (size_t)thread_id() * TT;
#pragma omp for schedule(static)
        for (int bg = 0; bg < B * NKV; bg++) {
            int b = bg / NKV, g = bg % NKV;
            const float *K = k + (size_t)b * T * ldk + (size_t)g * HS;
            const float *Vv = v + (size_t)b * T * ldk + (size_t)g * HS;
            float *dK = dk + (size_t)b * T * ldk + (size_t)g * HS;
            float *dV = dv + (size_t)b * T * ldk + (size_t)g * HS;
            for (int h = g * G; h < (g + 1) * G; h++) {
                const float *Q = q + (size_t)b * T * ldq + (size_t)h * HS;
                const float *dO = dout + (size_t)b * T * ldq + (size_t)h * HS;
                float *dQ = dq + (size_t)b * T * ldq + (size_t)h * HS;
                const float *P = att + ((size_t)b * NH + h) * TT;
                la_sgemm(1, 0, T, HS, T, 1.0f, P, T, dO, ldq, 1.0f, dV, ldk);
                la_sgemm(0, 1, T, T, HS, 1.0f, dO, ldq, Vv, ldk, 0.0f, dP, T);
                for (int t = 0; t < T; t++) {
                    const float *p = P + (size_t)t * T;
                    float *d = dP + (size_t)t * T;
                    float dot = 0.0f;
                    for (int j = 0; j <= t; j++) dot += p[j] * d[j];
                    for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot);
                    for (int j = t + 1; j < T; j++) d[j] = 0.0f;
                }
                la_sgemm(0, 0, T, HS, T, scale, dP, T, K, ldk, 1.0f, dQ, ldq);
                la_sgemm(1, 0, T, HS, T, scale, dP, T, Q, ldq, 1.0f, dK, ldk);
            }
        }
    }
}
