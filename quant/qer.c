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

int quant_qer_signed_code(const QuantTensor *q, int r, int j) {
    QP_ASSERT(q->fmt.kind == QUANT_MXINT);
    return code_to_signed(quant_tensor_code(q, r, j), q->fmt.bits);
}

void quant_qer_correction_codes(const QuantTensor *base, const double *P, int32_t *d) {
    QP_ASSERT(base->fmt.kind == QUANT_MXINT);
    const int W = base->fmt.bits, Bk = base->fmt.block, cols = base->cols;
    for (int r = 0; r < base->rows; r++)
        for (int j = 0; j < cols; j++) {
            int e = quant_qer_block_exponent(base, r, j / Bk);
            // P/Δ = P·2^((k−2)−e): a power-of-two scaling, exact in double.
            double x = nearbyint(ldexp(P[(size_t)r * cols + j], (W - 2) - e));
            if (!(x <= QUANT_QER_D_MAX)) x = isnan(x) ? 0 : QUANT_QER_D_MAX;  // NaN: no correction
            if (x < -QUANT_QER_D_MAX) x = -QUANT_QER_D_MAX;
            d[(size_t)r * cols + j] = (int32_t)x;
        }
}

// Merged signed code of v + d and whether it overflowed.
static int merged_code(int v, int32_t d, int M, int *excess) {
    int s = v + d;
    *excess = s > M ? s - M : s < -M ? -M - s : 0;
    return s > M ? M : s < -M ? -M : s;
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
