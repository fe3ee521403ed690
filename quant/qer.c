// quant/qer.c — QER's integer merge of correction codes into an MXINT-k base (quant/qer.h).
// Tested by tests/test_qer.c (merged codes against a direct recount, fp32 exactness by memcmp).
#include "quant/qer.h"
#include "quant/quant_internal.h"
#include "core/check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int quant_qer_check_format(const quant_format *f, qp_status *st) {
    char name[64];
    quant_format_name(f, name, sizeof name);
    if (f->kind != QUANT_MXINT)
        return qp_fail(st, "QER lossless merge needs an MXINT-k base (shared power-of-two exponent per block, "
                           "integer codes); found %s", name);
    return quant_format_check(f, st);
}

int quant_qer_block_exponent(const QuantTensor *q, int r, int b) {
    QP_ASSERT(q->fmt.kind == QUANT_MXINT && r >= 0 && r < q->rows && b >= 0 && b < q->nblk);
    return (int)q->sec[QUANT_SEC_SCALE][(size_t)r * q->nblk + b] - 127;
}

// Sign-magnitude code c -> signed integer, and back (0 always as code 0).
static int code_to_signed(unsigned c, int W) {
    int m = (int)(c & ((1u << (W - 1)) - 1));
    return c >> (W - 1) ? -m : m;
}
static unsigned signed_to_code(int v, int W) { return v < 0 ? (1u << (W - 1)) | (unsigned)(-v) : (unsigned)v; }

// Merged signed code of v + d and whether it overflowed.
static int merged_code(int v, int32_t d, int M, int *excess) {
    int s = v + d;
    *excess = s > M ? s - M : s < -M ? -M - s : 0;
    return s > M ? M : s < -M ? -M : s;
}

int quant_qer_signed_code(const QuantTensor *q, int r, int j) {
    QP_ASSERT(q->fmt.kind == QUANT_MXINT);
    return code_to_signed(quant_tensor_code(q, r, j), q->fmt.bits);
}

// d = rint(P/Δ) with P/Δ = P·2^((k−2)−e): a power-of-two scaling, exact in double; saturated.
static int32_t correction_code(double P, int e, int W) {
    double x = nearbyint(ldexp(P, (W - 2) - e));
    if (!(x <= QUANT_QER_D_MAX)) x = isnan(x) ? 0 : QUANT_QER_D_MAX;  // NaN: no correction
    if (x < -QUANT_QER_D_MAX) x = -QUANT_QER_D_MAX;
    return (int32_t)x;
}

void quant_qer_correction_codes(const QuantTensor *base, const double *P, int32_t *d) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT);
    const int W = base->fmt.bits, Bk = base->fmt.block, cols = base->cols;
    for (int r = 0; r < base->rows; r++)
        for (int j = 0; j < cols; j++)
            d[(size_t)r * cols + j] = correction_code(P[(size_t)r * cols + j], quant_qer_block_exponent(base, r, j / Bk), W);
}

void quant_qer_fake(float *out, const float *w, int rows, int cols, const quant_format *f) {
    QP_ASSERT(f->kind == QUANT_MXINT && f->block > 0);
    mxint_fake_rows(out, w, rows, cols, f->bits, f->block);
}

// p[j] = s·Σ_r bq[r]·Aq[r, j0 + j] for j < n, in double: per element the sum runs r = 0..R−1 in
// order from 0 and is multiplied by s last (the order init/qer.c's accounting uses); the loop over
// j inside is only there so the compiler can vectorise it — it changes no element's operations.
enum { QER_CHUNK = 64 };
static void adapter_products(double *p, const float *Aq, const float *bq, int R, float s, int cols, int j0, int n) {
    for (int j = 0; j < n; j++) p[j] = 0.0;
    for (int r = 0; r < R; r++) {
        const double b = (double)bq[r];
        const float *a = Aq + (size_t)r * cols + j0;
        for (int j = 0; j < n; j++) p[j] += b * (double)a[j];
    }
    for (int j = 0; j < n; j++) p[j] *= (double)s;
}

void quant_qer_adapter_codes(const QuantTensor *base, const float *Aq, const float *Bq, int R, float s, int32_t *d) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT);
    const int W = base->fmt.bits, Bk = base->fmt.block, cols = base->cols;
#pragma omp parallel for schedule(static) if ((size_t)base->rows * cols * R > QUANT_OMP_MIN)
    for (int r = 0; r < base->rows; r++) {
        double p[QER_CHUNK];
        for (int j0 = 0; j0 < cols; j0 += QER_CHUNK) {
            int n = cols - j0 < QER_CHUNK ? cols - j0 : QER_CHUNK;
            adapter_products(p, Aq, Bq + (size_t)r * R, R, s, cols, j0, n);
            for (int j = 0; j < n; j++)
                d[(size_t)r * cols + j0 + j] = correction_code(p[j], quant_qer_block_exponent(base, r, (j0 + j) / Bk), W);
        }
    }
}

void quant_qer_adapter_weight(const QuantTensor *base, const float *Aq, const float *Bq, int R, float s, float *out) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT && base->fmt.block <= QUANT_MAX_BLOCK);
    const int W = base->fmt.bits, M = (1 << (W - 1)) - 1, Bk = base->fmt.block, cols = base->cols;
#pragma omp parallel for schedule(static) if ((size_t)base->rows * cols * R > QUANT_OMP_MIN)
    for (int r = 0; r < base->rows; r++) {
        uint8_t codes[QUANT_MAX_BLOCK];
        double p[QER_CHUNK];
        const uint8_t *brow = base->sec[QUANT_SEC_CODES] + (size_t)r * base->row_bytes;
        const float *bq = Bq + (size_t)r * R;
        float *o = out + (size_t)r * cols;
        for (int b0 = 0; b0 < cols; b0 += Bk) {
            int nb = cols - b0 < Bk ? cols - b0 : Bk, e = quant_qer_block_exponent(base, r, b0 / Bk), ex;
            // Both scalings are exact powers of two, so multiplying by them is the same correctly
            // rounded operation as correction_code's ldexp (and ldexpf below): identical results.
            const double to_grid = ldexp(1.0, (W - 2) - e);
            const float delta = ldexpf(1.0f, e - (W - 2));
            unpack_codes(codes, brow, b0, nb, W);
            for (int c0 = 0; c0 < nb; c0 += QER_CHUNK) {
                int n = nb - c0 < QER_CHUNK ? nb - c0 : QER_CHUNK;
                adapter_products(p, Aq, bq, R, s, cols, b0 + c0, n);
                for (int j = 0; j < n; j++) {
                    double x = nearbyint(p[j] * to_grid);
                    if (!(x <= QUANT_QER_D_MAX)) x = isnan(x) ? 0 : QUANT_QER_D_MAX;  // as correction_code
                    if (x < -QUANT_QER_D_MAX) x = -QUANT_QER_D_MAX;
                    int sg = merged_code(code_to_signed(codes[c0 + j], W), (int32_t)x, M, &ex);
                    // clamp(v + d)·Δ: an integer of at most 7 bits times a power of two, exact in
                    // fp32; it equals dq(v) + (clamp(v + d) − v)·Δ (quant_qer_effective) bit for
                    // bit, 0 as +0.
                    o[b0 + c0 + j] = (float)sg * delta;
                }
            }
        }
    }
}

QuantTensor *quant_qer_merge_codes(const QuantTensor *base, const int32_t *d, quant_qer_count *cnt) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT);
    const int W = base->fmt.bits, M = (1 << (W - 1)) - 1, cols = base->cols;
    QuantTensor *q = quant_tensor_alloc(&base->fmt, base->rows, cols);
    memcpy(q->sec[QUANT_SEC_SCALE], base->sec[QUANT_SEC_SCALE], base->sec_bytes[QUANT_SEC_SCALE]);
    quant_qer_count c = {0};
    c.n_codes = (int64_t)base->rows * cols;
    if (!d) {  // no correction: an exact copy (−0 codes kept)
        memcpy(q->sec[QUANT_SEC_CODES], base->sec[QUANT_SEC_CODES], base->sec_bytes[QUANT_SEC_CODES]);
        if (cnt) *cnt = c;
        return q;
    }
    uint8_t *codes = xmalloc((size_t)cols);
    for (int r = 0; r < base->rows; r++) {
        const uint8_t *brow = base->sec[QUANT_SEC_CODES] + (size_t)r * base->row_bytes;
        for (int j = 0; j < cols; j++) {
            int v = code_to_signed(pack_get_ref(brow, j, W), W), ex;
            int s = merged_code(v, d[(size_t)r * cols + j], M, &ex);
            codes[j] = (uint8_t)signed_to_code(s, W);
            c.n_changed += s != v;
            if (ex) { c.n_overflow++; if (ex > c.max_excess) c.max_excess = ex; }
        }
        pack_codes(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, codes, cols, W);
    }
    free(codes);
    if (cnt) *cnt = c;
    return q;
}

void quant_qer_effective(const QuantTensor *base, const int32_t *d, float *out) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT);
    const int W = base->fmt.bits, M = (1 << (W - 1)) - 1, Bk = base->fmt.block, cols = base->cols;
    quant_dequantize_rows(base, 0, base->rows, out);
    for (int r = 0; r < base->rows; r++) {
        const uint8_t *brow = base->sec[QUANT_SEC_CODES] + (size_t)r * base->row_bytes;
        for (int j = 0; j < cols; j++) {
            int v = code_to_signed(pack_get_ref(brow, j, W), W), ex;
            int s = merged_code(v, d[(size_t)r * cols + j], M, &ex);
            int e = quant_qer_block_exponent(base, r, j / Bk);
            // dq(base) + (s − v)·Δ: both integers times Δ, exact in fp32 (see the header).
            out[(size_t)r * cols + j] += ldexpf((float)(s - v), e - (W - 2));
        }
    }
}
