// quant/intk.c — INT-k (k = 2..8): asymmetric min-max per group, fp16 scale + uint8 zero point.
// Tested by tests/test_quant.c (grid round trips, error bound, fast == ref, numpy oracle).
#include "quant/quant_internal.h"
#include "core/check.h"
#include <math.h>
#include <stdlib.h>

// Group parameters. The range is [lo, hi] = [min(min x, 0), max(max x, 0)] (GPTQ's
// convention: 0 is always inside, so the zero point is an exact code in [0, 2^k-1] and a
// constant group c needs no special case: it becomes [0, c] or [c, 0]). The scale is
// fp16(fp32((hi-lo) / (2^k-1))) rounded to nearest even, saturated to 65504 instead of
// infinity; zero = clamp(rint(-lo / s), 0, 2^k-1) with s the stored (fp16) scale. An all-zero
// group, or one whose scale underflows fp16 to 0, stores scale 0, zero 0 and codes 0.
typedef struct { uint16_t s16; float s; float z; } int_group;

static int_group group_params(const float *x, int n, int bits) {
    float lo = 0.0f, hi = 0.0f;
    for (int j = 0; j < n; j++) { lo = fminf(lo, x[j]); hi = fmaxf(hi, x[j]); }
    const float qmax = (float)((1 << bits) - 1);
    int_group g;
    g.s16 = quant_f32_to_f16((hi - lo) / qmax);
    if ((g.s16 & 0x7FFF) == 0x7C00) g.s16 = 0x7BFF;
    g.s = quant_f16_to_f32(g.s16);
    g.z = g.s > 0.0f ? fminf(fmaxf(rintf(-lo / g.s), 0.0f), qmax) : 0.0f;
    return g;
}

// code = clamp(rint(x / s) + zero, 0, 2^k-1), rint = round half to even.
static inline unsigned int_code(float x, const int_group *g, float qmax) {
    if (!(g->s > 0.0f)) return 0;
    return (unsigned)fminf(fmaxf(rintf(x / g->s) + g->z, 0.0f), qmax);
}

static void store_group(QuantTensor *q, size_t i, const int_group *g) {
    ((uint16_t *)q->sec[QUANT_SEC_SCALE])[i] = g->s16;
    q->sec[QUANT_SEC_AUX][i] = (uint8_t)g->z;
}

void intk_quantize_ref(QuantTensor *q, const float *w) {
    const int B = q->fmt.block, bits = q->fmt.bits;
    const float qmax = (float)((1 << bits) - 1);
    for (int r = 0; r < q->rows; r++) {
        uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = q->cols - j0 < B ? q->cols - j0 : B;
            const float *x = w + (size_t)r * q->cols + j0;
            int_group g = group_params(x, n, bits);
            store_group(q, (size_t)r * q->nblk + b, &g);
            for (int j = 0; j < n; j++) pack_set_ref(row, j0 + j, bits, int_code(x[j], &g, qmax));
        }
    }
}

// value = (code - zero) * scale
void intk_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) {
    const uint16_t *s16 = (const uint16_t *)q->sec[QUANT_SEC_SCALE];
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int j = 0; j < q->cols; j++) {
            size_t i = (size_t)r * q->nblk + j / q->fmt.block;
            int c = (int)pack_get_ref(row, j, q->fmt.bits), z = q->sec[QUANT_SEC_AUX][i];
            out[(size_t)(r - r0) * q->cols + j] = (float)(c - z) * quant_f16_to_f32(s16[i]);
        }
    }
}

void intk_quantize(QuantTensor *q, const float *w) {
    const int B = q->fmt.block, bits = q->fmt.bits, cols = q->cols;
    const float qmax = (float)((1 << bits) - 1);
#pragma omp parallel if ((size_t)q->rows * cols > QUANT_OMP_MIN)
    {
        uint8_t *codes = xmalloc((size_t)cols);
#pragma omp for schedule(static)
        for (int r = 0; r < q->rows; r++) {
            for (int b = 0; b < q->nblk; b++) {
                int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
                const float *x = w + (size_t)r * cols + j0;
                int_group g = group_params(x, n, bits);
                store_group(q, (size_t)r * q->nblk + b, &g);
                if (!(g.s > 0.0f)) { for (int j = 0; j < n; j++) codes[j0 + j] = 0; continue; }
                for (int j = 0; j < n; j++)
                    codes[j0 + j] = (uint8_t)fminf(fmaxf(rintf(x[j] / g.s) + g.z, 0.0f), qmax);
            }
            pack_codes(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, codes, cols, bits);
        }
        free(codes);
    }
}

void intk_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) {
    const int B = q->fmt.block, bits = q->fmt.bits, cols = q->cols;
    const uint16_t *s16 = (const uint16_t *)q->sec[QUANT_SEC_SCALE];
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++) {
        uint8_t codes[QUANT_MAX_BLOCK];
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        float *o = out + (size_t)(r - r0) * cols;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
            size_t i = (size_t)r * q->nblk + b;
            const float s = quant_f16_to_f32(s16[i]), z = (float)q->sec[QUANT_SEC_AUX][i];
            unpack_codes(codes, row, j0, n, bits);
            for (int j = 0; j < n; j++) o[j0 + j] = ((float)codes[j] - z) * s;
        }
    }
}
