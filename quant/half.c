// quant/half.c — bf16 / fp16 storage (round-to-nearest-even) and the f32 "format" (a copy).
// Tested by tests/test_quant.c (reference conversion vs F16C hardware, exact grid round trips).
#include "quant/quant_internal.h"
#include <math.h>
#include <string.h>
#if defined(__F16C__) || defined(__AVX512BF16__)
#include <immintrin.h>
#endif

static uint32_t f32_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float bits_f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

// bf16 = the top half of the fp32 pattern, rounded to nearest even on the dropped 16 bits;
// NaN stays NaN (quiet bit forced so the payload cannot round to infinity).
uint16_t quant_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if (isnan(x)) return (uint16_t)(u >> 16 | 0x0040);
    u += 0x7FFFu + (u >> 16 & 1u);
    return (uint16_t)(u >> 16);
}

// The conversion bf16 compute uses everywhere (AVX512-BF16's vcvtneps2bf16): as above, but a
// subnormal input becomes a zero of its sign.
uint16_t quant_f32_to_bf16_ftz(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7F800000u) == 0) return (uint16_t)(u >> 16 & 0x8000u);
    return quant_f32_to_bf16(x);
}

void quant_f32_to_bf16_n(uint16_t *out, const float *x, size_t n) {
    size_t i = 0;
#ifdef __AVX512BF16__
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(out + i, (__m512i)v);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i < 16 ? n - i : 16)) - 1);
        for (; i < n; i += 16) {
            if (n - i < 16) m = (__mmask16)((1u << (n - i)) - 1);
            _mm256_mask_storeu_epi16(out + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
        }
    }
#endif
    for (; i < n; i++) out[i] = quant_f32_to_bf16_ftz(x[i]);
}

float quant_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

// fp16 reference: work on |x| in double, where every scaling by a power of two is exact and
// rint() rounds half to even. Overflow rounds to infinity (|x| >= 65520, the midpoint past
// 65504); values below 2^-14 become subnormals m * 2^-24.
uint16_t quant_f32_to_f16(float x) {
    uint16_t sign = (uint16_t)(f32_bits(x) >> 16 & 0x8000u);
    double a = fabs((double)x);
    if (isnan(x)) return (uint16_t)(sign | 0x7E00);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7C00);
    if (a < 0x1p-14) return (uint16_t)(sign | (uint16_t)rint(a * 0x1p24));  // 1024 = min normal
    int e;
    frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): floor(log2 a) = e - 1
    e -= 1;
    double m = rint(ldexp(a, 10 - e));  // in [1024, 2048]
    if (m == 2048.0) { m = 1024.0; e += 1; }
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)(m - 1024.0));
}

float quant_f16_to_f32(uint16_t h) {
    int e = h >> 10 & 31, m = h & 1023;
    float s = (h & 0x8000) ? -1.0f : 1.0f;
    if (e == 31) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexpf((float)m, -24);
    return s * ldexpf((float)(m + 1024), e - 25);
}

// ---- tensor paths -------------------------------------------------------------------------
static uint16_t *row16(const QuantTensor *q, int r) { return (uint16_t *)(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes); }

void half_quantize_ref(QuantTensor *q, const float *w) {
    for (int r = 0; r < q->rows; r++) {
        const float *x = w + (size_t)r * q->cols;
        if (q->fmt.kind == QUANT_F32) { memcpy(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, x, q->row_bytes); continue; }
        uint16_t *c = row16(q, r);
        for (int j = 0; j < q->cols; j++)
            c[j] = q->fmt.kind == QUANT_BF16 ? quant_f32_to_bf16(x[j]) : quant_f32_to_f16(x[j]);
    }
}

void half_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) {
    for (int r = r0; r < r1; r++) {
        float *o = out + (size_t)(r - r0) * q->cols;
        if (q->fmt.kind == QUANT_F32) { memcpy(o, q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, q->row_bytes); continue; }
        const uint16_t *c = row16(q, r);
        for (int j = 0; j < q->cols; j++)
            o[j] = q->fmt.kind == QUANT_BF16 ? quant_bf16_to_f32(c[j]) : quant_f16_to_f32(c[j]);
    }
}

static void f16_row_from_f32(uint16_t *c, const float *x, int n) {
    int j = 0;
#ifdef __F16C__
    for (; j + 8 <= n; j += 8)
        _mm_storeu_si128((__m128i *)(c + j), _mm256_cvtps_ph(_mm256_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; j < n; j++) c[j] = quant_f32_to_f16(x[j]);
}

static void f16_row_to_f32(float *o, const uint16_t *c, int n) {
    int j = 0;
#ifdef __F16C__
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(o + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + j))));
#endif
    for (; j < n; j++) o[j] = quant_f16_to_f32(c[j]);
}

// bf16 by integer ops the compiler vectorises (NaN handled as in the reference).
static void bf16_row_from_f32(uint16_t *c, const float *x, int n) {
    for (int j = 0; j < n; j++) {
        uint32_t u = f32_bits(x[j]);
        uint32_t rnd = (u + 0x7FFFu + (u >> 16 & 1u)) >> 16;
        int nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
        c[j] = (uint16_t)(nan ? (u >> 16 | 0x0040) : rnd);
    }
}

static void bf16_row_to_f32(float *o, const uint16_t *c, int n) {
    uint32_t *u = (uint32_t *)o;
    for (int j = 0; j < n; j++) u[j] = (uint32_t)c[j] << 16;
}

void half_quantize(QuantTensor *q, const float *w) {
    size_t n = (size_t)q->rows * q->cols;
#pragma omp parallel for schedule(static) if (n > QUANT_OMP_MIN)
    for (int r = 0; r < q->rows; r++) {
        const float *x = w + (size_t)r * q->cols;
        if (q->fmt.kind == QUANT_F32) memcpy(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, x, q->row_bytes);
        else if (q->fmt.kind == QUANT_BF16) bf16_row_from_f32(row16(q, r), x, q->cols);
        else f16_row_from_f32(row16(q, r), x, q->cols);
    }
}

void half_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) {
    size_t n = (size_t)(r1 - r0) * q->cols;
#pragma omp parallel for schedule(static) if (n > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++) {
        float *o = out + (size_t)(r - r0) * q->cols;
        if (q->fmt.kind == QUANT_F32) memcpy(o, q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, q->row_bytes);
        else if (q->fmt.kind == QUANT_BF16) bf16_row_to_f32(o, row16(q, r), q->cols);
        else f16_row_to_f32(o, row16(q, r), q->cols);
    }
}
