// quant/mxint.c — MXINT-w (QERA's MX emulation): one shared E8M0 exponent per block of 16/32,
// sign-magnitude w-bit elements. Tested by tests/test_quant.c + tests/oracle_quant.py.
#include "quant/quant_internal.h"
#include "core/check.h"
#include <stdlib.h>
#include <math.h>
#include <string.h>

// Shared exponent of a block: e = floor(log2 max|x|), exact through frexp (max = f * 2^k,
// f in [0.5,1) => e = k-1), clamped to E8M0's finite range [-127, 127] (byte 255 is NaN in
// E8M0 and never written). An all-zero block stores e = -127 (byte 0) and all codes 0.
// Subnormal inputs need no special case: frexp gives their exact exponent, and e < -127 is
// clamped, which only makes the block's elements smaller than its grid (they round to 0..).
static int block_exponent(float amax) {
    if (!(amax > 0.0f)) return -127;
    int k;
    frexpf(amax, &k);
    int e = k - 1;
    return e < -127 ? -127 : e > 127 ? 127 : e;
}

// Element code: m = round-half-even(|x| * 2^(w-2-e)) clamped to 2^(w-1)-1; code = sign bit
// (x < 0) at bit w-1, magnitude below. The scaling is a power of two, exact in double.
static unsigned elem_code_ref(float x, int e, int w) {
    double m = nearbyint(ldexp(fabs((double)x), w - 2 - e));
    double mmax = (double)((1 << (w - 1)) - 1);
    if (m > mmax) m = mmax;
    return (x < 0 ? 1u << (w - 1) : 0u) | (unsigned)m;
}

// Value of a code: ±m * 2^(e-(w-2)); exact in float32 (m < 2^7, result >= 2^-149 granular).
static float elem_value_ref(unsigned c, int e, int w) {
    unsigned m = c & ((1u << (w - 1)) - 1);
    double v = ldexp((double)m, e - (w - 2));
    return (float)(c >> (w - 1) ? -v : v);
}

static float block_amax(const float *x, int n) {
    float m = 0.0f;
    for (int j = 0; j < n; j++) m = fmaxf(m, fabsf(x[j]));
    return m;
}

void mxint_quantize_ref(QuantTensor *q, const float *w) {
    const int B = q->fmt.block, W = q->fmt.bits;
    for (int r = 0; r < q->rows; r++) {
        uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = q->cols - j0 < B ? q->cols - j0 : B;
            const float *x = w + (size_t)r * q->cols + j0;
            int e = block_exponent(block_amax(x, n));
            q->sec[QUANT_SEC_SCALE][(size_t)r * q->nblk + b] = (uint8_t)(e + 127);
            for (int j = 0; j < n; j++) pack_set_ref(row, j0 + j, W, elem_code_ref(x[j], e, W));
        }
    }
}

void mxint_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) {
    const int W = q->fmt.bits;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int j = 0; j < q->cols; j++) {
            int e = (int)q->sec[QUANT_SEC_SCALE][(size_t)r * q->nblk + j / q->fmt.block] - 127;
            out[(size_t)(r - r0) * q->cols + j] = elem_value_ref(pack_get_ref(row, j, W), e, W);
        }
    }
}

// Fast quantize: while 2^(w-2-e) is a normal float (e >= w-128) the scaling is exact in
// float32 too, and nearbyintf rounds half to even in the default rounding mode; blocks
// with tinier exponents take the double path.
static void quantize_block(uint8_t *codes, const float *x, int n, int e, int W) {
    int k = W - 2 - e;
    if (k > 127) { for (int j = 0; j < n; j++) codes[j] = (uint8_t)elem_code_ref(x[j], e, W); return; }
    const float s = ldexpf(1.0f, k), mmax = (float)((1 << (W - 1)) - 1);
    const unsigned sbit = 1u << (W - 1);
    for (int j = 0; j < n; j++) {
        float m = fminf(nearbyintf(fabsf(x[j]) * s), mmax);
        codes[j] = (uint8_t)((x[j] < 0 ? sbit : 0u) | (unsigned)m);
    }
}

void mxint_quantize(QuantTensor *q, const float *w) {
    const int B = q->fmt.block, W = q->fmt.bits, cols = q->cols;
#pragma omp parallel if ((size_t)q->rows * cols > QUANT_OMP_MIN)
    {
        uint8_t *codes = xmalloc((size_t)cols);
#pragma omp for schedule(static)
        for (int r = 0; r < q->rows; r++) {
            for (int b = 0; b < q->nblk; b++) {
                int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
                const float *x = w + (size_t)r * cols + j0;
                int e = block_exponent(block_amax(x, n));
                q->sec[QUANT_SEC_SCALE][(size_t)r * q->nblk + b] = (uint8_t)(e + 127);
                quantize_block(codes + j0, x, n, e, W);
            }
            pack_codes(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, codes, cols, W);
        }
        free(codes);
    }
}

// Fake quantization dq(q(x)) without a QuantTensor (nothing allocated: QER's training step uses
// it on the adapters every step). The fast quantizer's rule — same exponent, m = min(rint(|x|·2^k),
// M) (so a NaN element becomes +M like fminf there), the sign kept for m = 0 (a stored −0
// dequantizes to −0.0f) — and the exact value ±m·2^(e−(w−2)), so the result equals quant_fake's
// bit for bit (tests/test_qer_train.c checks it with memcmp, −0 and NaN included).
void mxint_fake_rows(float *out, const float *w, int rows, int cols, int W, int B) {
    const double mmax = (double)((1 << (W - 1)) - 1);
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > QUANT_OMP_MIN)
    for (int r = 0; r < rows; r++)
        for (int j0 = 0; j0 < cols; j0 += B) {
            int n = cols - j0 < B ? cols - j0 : B;
            const float *x = w + (size_t)r * cols + j0;
            float *o = out + (size_t)r * cols + j0;
            int e = block_exponent(block_amax(x, n));
            for (int j = 0; j < n; j++) {
                double m = fmin(nearbyint(ldexp(fabs((double)x[j]), W - 2 - e)), mmax);
                float v = (float)ldexp(m, e - (W - 2));
                o[j] = x[j] < 0 ? -v : v;
            }
        }
}

#if defined(__AVX512VBMI__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#include <immintrin.h>
// AVX-512 dequantization of one row, 64 codes per step (blocks of 16 and more). The 8W bytes
// of 64 codes are loaded once (masked: never past the row), lane q of a zmm gets bytes
// [qW, qW+8) (8 whole codes, since 8 codes are W bytes), vpmultishiftqb picks code i of the
// lane at bit i·W, and each 16-code quarter becomes ±m·2^(e−(W−2)) by int->float, one multiply
// and a sign xor — the same exact product as the scalar path, so results are bit-identical.
// bf16 output converts pairs of quarters with vcvtne2ps2bf16 (exact for these values; the
// instruction flushes results below 2^-126 to zero, which quant_dequantize_rows_bf16_ref mirrors).
typedef struct { __m512i idx, ctl, mask; } mx_unpacker;

static mx_unpacker mx_unpacker_for(int W) {
    uint8_t idx[64], ctl[64];
    for (int q = 0; q < 8; q++)
        for (int i = 0; i < 8; i++) { int b = q * W + i; idx[q * 8 + i] = (uint8_t)(b < 64 ? b : 63); ctl[q * 8 + i] = (uint8_t)(i * W); }
    return (mx_unpacker){_mm512_loadu_si512(idx), _mm512_loadu_si512(ctl), _mm512_set1_epi8((char)((1 << W) - 1))};
}

static inline __m512i mx_codes64(const mx_unpacker *u, const uint8_t *p, int nbytes) {
    __m512i raw = _mm512_maskz_loadu_epi8(nbytes >= 64 ? ~0ULL : (1ULL << nbytes) - 1, p);
    __m512i lanes = _mm512_permutexvar_epi8(u->idx, raw);
    return _mm512_and_si512(_mm512_multishift_epi64_epi8(u->ctl, lanes), u->mask);
}

static inline __m512 mx_quarter(__m512i codes, int k, int W, float s) {
    __m128i c8;
    switch (k) {  // the extract's lane index must be a constant
    case 0: c8 = _mm512_extracti32x4_epi32(codes, 0); break;
    case 1: c8 = _mm512_extracti32x4_epi32(codes, 1); break;
    case 2: c8 = _mm512_extracti32x4_epi32(codes, 2); break;
    default: c8 = _mm512_extracti32x4_epi32(codes, 3); break;
    }
    __m512i c = _mm512_cvtepu8_epi32(c8);
    __m512i mag = _mm512_and_si512(c, _mm512_set1_epi32((1 << (W - 1)) - 1));
    __m512i sgn = _mm512_slli_epi32(_mm512_srli_epi32(c, W - 1), 31);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(mag), _mm512_set1_ps(s));
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sgn));
}

// One row: out_f32 or out_bf16 (exactly one non-NULL). stab[b] = 2^(b−127−(W−2)).
static void mx_row_avx512(const QuantTensor *q, int r, const float *stab, float *of, uint16_t *ob) {
    const int B = q->fmt.block, W = q->fmt.bits, cols = q->cols;
    const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
    const uint8_t *sc = q->sec[QUANT_SEC_SCALE] + (size_t)r * q->nblk;
    const mx_unpacker u = mx_unpacker_for(W);
    for (int j = 0; j < cols; j += 64) {
        size_t byte0 = (size_t)j * W / 8;
        int nbytes = (int)(q->row_bytes - byte0 < (size_t)8 * W ? q->row_bytes - byte0 : (size_t)8 * W);
        __m512i codes = mx_codes64(&u, row + byte0, nbytes);
        int n = cols - j < 64 ? cols - j : 64;
        __m512 v[4];
        for (int k = 0; k < 4 && 16 * k < n; k++) v[k] = mx_quarter(codes, k, W, stab[sc[(j + 16 * k) / B]]);
        for (int k = 0; k < 4 && 16 * k < n; k++) {
            int m = n - 16 * k;
            __mmask16 mk = m >= 16 ? 0xffff : (__mmask16)((1u << m) - 1);
            if (of) { _mm512_mask_storeu_ps(of + j + 16 * k, mk, v[k]); continue; }
            __m256i h = (__m256i)_mm512_cvtneps_pbh(v[k]);
            _mm256_mask_storeu_epi16(ob + j + 16 * k, mk, h);
        }
    }
}

static int mx_vector_ok(const QuantTensor *q) { return q->fmt.block >= 16; }

static void mx_rows_avx512(const QuantTensor *q, int r0, int r1, float *of, uint16_t *ob) {
    const int W = q->fmt.bits, cols = q->cols;
    float stab[256];
    for (int b = 0; b < 255; b++) stab[b] = ldexpf(1.0f, b - 127 - (W - 2));
    stab[255] = stab[254];  // never written (E8M0 NaN)
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++)
        mx_row_avx512(q, r, stab, of ? of + (size_t)(r - r0) * cols : NULL, ob ? ob + (size_t)(r - r0) * cols : NULL);
}
#define MX_HAVE_AVX512 1
#endif

// Fast dequantize: per block one scale 2^(e-(w-2)) (ldexpf is exact, also when subnormal),
// then value = (±m as float) * scale, the same exact product as the reference.
void mxint_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) {
    const int B = q->fmt.block, W = q->fmt.bits, cols = q->cols;
#ifdef MX_HAVE_AVX512
    if (mx_vector_ok(q)) { mx_rows_avx512(q, r0, r1, out, NULL); return; }
#endif
    float sv[256];  // signed magnitude of each code
    for (unsigned c = 0; c < (1u << W); c++) {
        float m = (float)(c & ((1u << (W - 1)) - 1));
        sv[c] = c >> (W - 1) ? -m : m;
    }
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++) {
        uint8_t codes[QUANT_MAX_BLOCK];
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        float *o = out + (size_t)(r - r0) * cols;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
            int e = (int)q->sec[QUANT_SEC_SCALE][(size_t)r * q->nblk + b] - 127;
            const float s = ldexpf(1.0f, e - (W - 2));
            unpack_codes(codes, row, j0, n, W);
            if (W <= 4) {  // scaled 16-entry table: the same products, looked up in registers
                float tab[16];
                for (int c = 0; c < 16; c++) tab[c] = c < (1 << W) ? sv[c] * s : 0.0f;
                pack_lookup16(o + j0, codes, n, tab);
            } else {
                for (int j = 0; j < n; j++) o[j0 + j] = sv[codes[j]] * s;
            }
        }
    }
}

// bf16 output: straight from the blocks with AVX-512, else through an f32 row.
void mxint_dequantize_rows_bf16(const QuantTensor *q, int r0, int r1, uint16_t *out) {
#ifdef MX_HAVE_AVX512
    if (mx_vector_ok(q)) { mx_rows_avx512(q, r0, r1, NULL, out); return; }
#endif
    quant_rows_bf16_via_f32(q, r0, r1, out);
}
