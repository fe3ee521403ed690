// init/calib.c — accumulation of calibration statistics (Σx², Σ|x|, Σxᵀx in float64).
// Tested by tests/test_init.c (against naive double loops, padding rows skipped).
#include "init/calib.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/la.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

CalibStats *calib_alloc(int n, int with_xtx) {
    QP_ASSERT(n > 0);
    CalibStats *c = xcalloc(1, sizeof *c);
    c->n = n;
    c->sum_sq = xcalloc((size_t)n, sizeof(double));
    c->sum_abs = xcalloc((size_t)n, sizeof(double));
    if (with_xtx) {
        size_t nn;
        QP_ASSERT(qp_size_mul((size_t)n, (size_t)n, &nn));
        c->xtx = xcalloc(nn, sizeof(double));
        c->blk = xmalloc((size_t)CALIB_BLOCK_ROWS * (size_t)n * sizeof(double));
    }
    return c;
}

void calib_free(CalibStats *c) {
    if (!c) return;
    free(c->sum_sq); free(c->sum_abs); free(c->xtx); free(c->blk);
    free(c);
}

void calib_reset(CalibStats *c) {
    size_t n = (size_t)c->n;
    c->count = 0;
    memset(c->sum_sq, 0, n * sizeof(double));
    memset(c->sum_abs, 0, n * sizeof(double));
    if (c->xtx) memset(c->xtx, 0, n * n * sizeof(double));
}

// Σxᵀx += blkᵀ·blk for nb rows by dsyrk (half a dgemm's flops: at real shapes these float64
// products cost as much as the fp32 forward pass that produced x).
static void flush_block(CalibStats *c, int nb) {
    if (nb == 0) return;
    la_dsyrk_ata(c->n, nb, c->blk, c->xtx);
}

void calib_accumulate(CalibStats *c, const float *x, int64_t N, const unsigned char *valid) {
    const int n = c->n;
    int nb = 0;
    for (int64_t r = 0; r < N; r++) {
        if (valid && !valid[r]) continue;
        const float *xr = x + (size_t)r * (size_t)n;
        // Per-row sums in a fixed order: deterministic whatever the thread count.
        for (int i = 0; i < n; i++) {
            double v = (double)xr[i];
            c->sum_sq[i] += v * v;
            c->sum_abs[i] += fabs(v);
        }
        c->count++;
        if (c->xtx) {
            double *b = c->blk + (size_t)nb * (size_t)n;
            for (int i = 0; i < n; i++) b[i] = (double)xr[i];
            if (++nb == CALIB_BLOCK_ROWS) { flush_block(c, nb); nb = 0; }
        }
    }
    if (c->xtx) flush_block(c, nb);
}

void calib_merge(CalibStats *dst, const CalibStats *src) {
    QP_ASSERT(dst->n == src->n);
    size_t n = (size_t)dst->n;
    dst->count += src->count;
    for (size_t i = 0; i < n; i++) { dst->sum_sq[i] += src->sum_sq[i]; dst->sum_abs[i] += src->sum_abs[i]; }
    if (dst->xtx && src->xtx)
        for (size_t i = 0; i < n * n; i++) dst->xtx[i] += src->xtx[i];
}

void calib_reduce(CalibStats *c) {
    if (dist_size() == 1) return;
    double count = (double)c->count;  // exact: row counts stay far below 2^53
    dist_sum_double(&count, 1);
    c->count = (int64_t)count;
    dist_sum_double(c->sum_sq, (size_t)c->n);
    dist_sum_double(c->sum_abs, (size_t)c->n);
    if (c->xtx) dist_sum_double(c->xtx, (size_t)c->n * (size_t)c->n);
}

static double inv_count(const CalibStats *c) { return c->count > 0 ? 1.0 / (double)c->count : 0.0; }

void calib_mean_sq(const CalibStats *c, double *out) {
    double f = inv_count(c);
    for (int i = 0; i < c->n; i++) out[i] = c->sum_sq[i] * f;
}

void calib_mean_abs(const CalibStats *c, double *out) {
    double f = inv_count(c);
    for (int i = 0; i < c->n; i++) out[i] = c->sum_abs[i] * f;
}

void calib_rms(const CalibStats *c, double *out) {
    calib_mean_sq(c, out);
    for (int i = 0; i < c->n; i++) out[i] = sqrt(out[i]);
}

void calib_second_moment(const CalibStats *c, double *R) {
    QP_ASSERT(c->xtx != NULL);
    double f = inv_count(c);
    size_t nn = (size_t)c->n * (size_t)c->n;
    for (size_t i = 0; i < nn; i++) R[i] = c->xtx[i] * f;
}
