// init/errors.c — layer output and weighted errors of an initialised linear, all in float64.
// Tested by tests/test_init.c. These run once per layer at evaluation time, so they allocate.
#include "init/errors.h"
#include "core/check.h"
#include "core/la.h"
#include <stdlib.h>
#include <string.h>

void init_delta(double *D, const float *W, const float *Wq, const float *A, const float *B, float s,
                int OC, int IC, int R) {
    for (int o = 0; o < OC; o++) {
        double *d = D + (size_t)o * IC;
        for (int i = 0; i < IC; i++) d[i] = (double)Wq[(size_t)o * IC + i] - (double)W[(size_t)o * IC + i];
        for (int j = 0; j < R; j++) {
            double b = (double)s * (double)B[(size_t)o * R + j];
            const float *a = A + (size_t)j * IC;
            for (int i = 0; i < IC; i++) d[i] += b * (double)a[i];
        }
    }
}

// Σ_o M[o,:]·R·M[o,:]ᵀ for M (OC,IC) in double; T scratch (OC,IC).
static double quad_trace(const double *R, const double *M, double *T, int OC, int IC) {
    la_dgemm(0, 0, OC, IC, IC, 1.0, M, IC, R, IC, 0.0, T, IC);
    double t = 0;
    for (size_t i = 0; i < (size_t)OC * IC; i++) t += M[i] * T[i];
    return t;
}

double init_output_error_R(const double *R, const float *W, const float *Wq, const float *A, const float *B,
                           float s, int OC, int IC, int Rk, double *num) {
    size_t n = (size_t)OC * IC;
    double *D = xmalloc(n * sizeof(double)), *Wd = xmalloc(n * sizeof(double)), *T = xmalloc(n * sizeof(double));
    init_delta(D, W, Wq, A, B, s, OC, IC, Rk);
    for (size_t i = 0; i < n; i++) Wd[i] = W[i];
    double e = quad_trace(R, D, T, OC, IC), ref = quad_trace(R, Wd, T, OC, IC);
    free(D); free(Wd); free(T);
    if (num) *num = e;
    return ref > 0 ? e / ref : 0.0;
}

double init_output_error_stats(const CalibStats *c, const float *W, const float *Wq, const float *A,
                               const float *B, float s, int OC, int IC, int Rk, double *num) {
    QP_ASSERT(c->n == IC && c->xtx);
    double *R = xmalloc((size_t)IC * IC * sizeof(double));
    calib_second_moment(c, R);
    double e = init_output_error_R(R, W, Wq, A, B, s, OC, IC, Rk, num);
    free(R);
    return e;
}

double init_output_error_samples(const float *x, int64_t N, const unsigned char *valid, const float *W,
                                 const float *Wq, const float *A, const float *B, float s, int OC, int IC,
                                 int Rk, double *num) {
    size_t n = (size_t)OC * IC;
    double *D = xmalloc(n * sizeof(double));
    init_delta(D, W, Wq, A, B, s, OC, IC, Rk);
    double e = 0, ref = 0;
    int64_t cnt = 0;
    for (int64_t r = 0; r < N; r++) {
        if (valid && !valid[r]) continue;
        const float *xr = x + (size_t)r * IC;
        for (int o = 0; o < OC; o++) {
            double yd = 0, yw = 0;
            for (int i = 0; i < IC; i++) {
                yd += (double)xr[i] * D[(size_t)o * IC + i];
                yw += (double)xr[i] * (double)W[(size_t)o * IC + i];
            }
            e += yd * yd; ref += yw * yw;
        }
        cnt++;
    }
    free(D);
    if (num) *num = cnt ? e / (double)cnt : 0.0;
    return ref > 0 ? e / ref : 0.0;
}

double init_weighted_error(const double *S, const float *W, const float *Wq, const float *A, const float *B,
                           float s, int OC, int IC, int Rk) {
    double *D = xmalloc((size_t)OC * IC * sizeof(double));
    init_delta(D, W, Wq, A, B, s, OC, IC, Rk);
    double e = 0;
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double v = D[(size_t)o * IC + i] * (S ? S[i] : 1.0);
            e += v * v;
        }
    free(D);
    return e;
}
