// quant/ggml_blocks.c — ggml's F32/F16/BF16/Q8_0/Q4_0 tensor types: block layouts, ggml's
// dequantization and rounding quantizer (scalar references), and the exact encoder of values
// already on a power-of-two grid. Tested by tests/test_gguf.c and tests/test_gguf_llamacpp.sh.
#include "quant/ggml_blocks.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include <math.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF data is little-endian; quant/ggml_blocks.c reads it in host order"
#endif

// ggml-common.h: block_q4_0 = { ggml_half d; uint8_t qs[QK4_0/2]; }, block_q8_0 = { ggml_half d;
// int8_t qs[QK8_0]; }, QK = 32. Q4_0's byte j holds element j (low nibble) and j+16 (high);
// value = (q − 8)·d. Q8_0's value = q·d.
enum { QK = 32, Q4_0_BYTES = 2 + QK / 2, Q8_0_BYTES = 2 + QK };
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;
typedef struct { uint16_t d; int8_t qs[QK]; } blk_q8_0;
_Static_assert(sizeof(blk_q4_0) == Q4_0_BYTES, "block_q4_0 is 18 bytes");
_Static_assert(sizeof(blk_q8_0) == Q8_0_BYTES, "block_q8_0 is 34 bytes");

const char *const ggml_fit_names[GGML_FIT_COUNT] = {
    "exact", "an Inf/NaN value", "more levels than the type has (exponent gap too large)",
    "a scale outside fp16's range", "a value the type cannot represent"};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

// ---- float types ------------------------------------------------------------------------------
static void f32_dq(const uint8_t *b, float *o) { memcpy(o, b, 4); }
static void f32_q(const float *x, uint8_t *b) { memcpy(b, x, 4); }
static ggml_fit f32_exact(const float *x, uint8_t *b) { memcpy(b, x, 4); return GGML_FIT_OK; }
static void f16_dq(const uint8_t *b, float *o) { *o = quant_f16_to_f32(rd16(b)); }
static void f16_q(const float *x, uint8_t *b) { wr16(b, quant_f32_to_f16(*x)); }
static void bf16_dq(const uint8_t *b, float *o) { *o = quant_bf16_to_f32(rd16(b)); }
static void bf16_q(const float *x, uint8_t *b) { wr16(b, quant_f32_to_bf16(*x)); }

static int same_bits(float a, float b) { return !memcmp(&a, &b, 4); }
static ggml_fit f16_exact(const float *x, uint8_t *b) {
    if (!isfinite(*x)) return GGML_FIT_NONFINITE;
    f16_q(x, b);
    return same_bits(quant_f16_to_f32(rd16(b)), *x) ? GGML_FIT_OK : GGML_FIT_ROUND;
}
static ggml_fit bf16_exact(const float *x, uint8_t *b) {
    if (!isfinite(*x)) return GGML_FIT_NONFINITE;
    bf16_q(x, b);
    return same_bits(quant_bf16_to_f32(rd16(b)), *x) ? GGML_FIT_OK : GGML_FIT_ROUND;
}

// ---- Q4_0 / Q8_0 ------------------------------------------------------------------------------
static void q4_0_dq(const uint8_t *b, float *o) {
    const float d = quant_f16_to_f32(rd16(b));
    for (int j = 0; j < QK / 2; j++) {
        o[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
        o[j + QK / 2] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

static void q8_0_dq(const uint8_t *b, float *o) {
    const float d = quant_f16_to_f32(rd16(b));
    for (int j = 0; j < QK; j++) o[j] = (float)(int8_t)b[2 + j] * d;
}

static void q4_0_pack(uint8_t *b, uint16_t d, const int *q) {  // q in [0, 15]
    wr16(b, d);
    for (int j = 0; j < QK / 2; j++) b[2 + j] = (uint8_t)(q[j] | q[j + QK / 2] << 4);
}

static void q8_0_pack(uint8_t *b, uint16_t d, const int *q) {  // q in [-128, 127]
    wr16(b, d);
    for (int j = 0; j < QK; j++) b[2 + j] = (uint8_t)(int8_t)q[j];
}

// ggml's Q4_0 rule: d = m/−8 where m is the value of largest magnitude (sign kept, so it maps to
// code 0 exactly); q = min(15, trunc(x/d + 8.5)). The codes use 1/d before d is rounded to fp16.
static void q4_0_q(const float *x, uint8_t *b) {
    float amax = 0, m = 0;
    for (int j = 0; j < QK; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); m = x[j]; }
    const float d = m / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[QK];
    for (int j = 0; j < QK; j++) {
        int v = (int)(int8_t)(x[j] * id + 8.5f);
        q[j] = v < 15 ? v : 15;
    }
    q4_0_pack(b, quant_f32_to_f16(d), q);
}

// ggml's Q8_0 rule: d = amax/127, q = round-half-away(x/d).
static void q8_0_q(const float *x, uint8_t *b) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[QK];
    for (int j = 0; j < QK; j++) q[j] = (int)roundf(x[j] * id);
    q8_0_pack(b, quant_f32_to_f16(d), q);
}

// Exponent of the lowest set bit of a finite non-zero float: x = ±odd·2^lsb.
static int lsb_exponent(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t e = u >> 23 & 0xFF, m = u & 0x7FFFFF;
    if (e) m |= 0x800000;
    return (e ? (int)e - 150 : -149) + __builtin_ctz(m);
}

// A block of values on one power-of-two grid: the scale d = 2^k with the largest k that keeps
// every x/d an integer (k = the smallest lowest-set-bit exponent, capped at fp16's largest power,
// 2^15), so the integers are as small as they can be; then they must lie in [lo, hi] and 2^k in
// fp16's range (down to the subnormal 2^−24). An all-zero block takes d = 0. This is MXINT's
// m·2^(e−(w−2)) for one b32 block (d = 2^(e−(w−2)), q = m), and two b16 halves with exponents
// e1 ≤ e2 land on d = 2^(e1−(w−2)) when m·2^(e2−e1) still fits: no case analysis needed.
static ggml_fit grid_fit(const float *x, int lo, int hi, uint16_t *d, int *q) {
    int k = 15, any = 0;
    for (int j = 0; j < QK; j++) {
        if (!isfinite(x[j])) return GGML_FIT_NONFINITE;
        if (x[j] != 0.0f) { int l = lsb_exponent(x[j]); if (l < k) k = l; any = 1; }
    }
    if (!any) { *d = 0; memset(q, 0, QK * sizeof *q); return GGML_FIT_OK; }
    if (k < -24) return GGML_FIT_SCALE;
    for (int j = 0; j < QK; j++) {
        double v = ldexp((double)x[j], -k);  // an integer by the choice of k (|v| < 2^24·2^…, exact)
        if (v < lo || v > hi) return GGML_FIT_RANGE;
        q[j] = (int)v;
    }
    *d = quant_f32_to_f16(ldexpf(1.0f, k));
    return GGML_FIT_OK;
}

// An exact block of a grid type: grid_fit's integers, shifted by `bias` into the stored codes.
static ggml_fit grid_exact(const float *x, uint8_t *b, int lo, int hi, int bias, void (*pack)(uint8_t *, uint16_t, const int *)) {
    uint16_t d;
    int q[QK];
    ggml_fit f = grid_fit(x, lo, hi, &d, q);
    if (f) return f;
    for (int j = 0; j < QK; j++) q[j] += bias;
    pack(b, d, q);
    return GGML_FIT_OK;
}
static ggml_fit q4_0_exact(const float *x, uint8_t *b) { return grid_exact(x, b, -8, 7, 8, q4_0_pack); }
static ggml_fit q8_0_exact(const float *x, uint8_t *b) { return grid_exact(x, b, -128, 127, 0, q8_0_pack); }

// ---- the table ----------------------------------------------------------------------------------
static const ggml_block_type TYPES[] = {
    {GGML_ID_F32, "f32", 1, 4, f32_dq, f32_q, f32_exact},
    {GGML_ID_F16, "f16", 1, 2, f16_dq, f16_q, f16_exact},
    {GGML_ID_BF16, "bf16", 1, 2, bf16_dq, bf16_q, bf16_exact},
    {GGML_ID_Q8_0, "q8_0", QK, Q8_0_BYTES, q8_0_dq, q8_0_q, q8_0_exact},
    {GGML_ID_Q4_0, "q4_0", QK, Q4_0_BYTES, q4_0_dq, q4_0_q, q4_0_exact},
    // Read-only rows (GGUF bases): layouts and references in quant/ggml.c.
    {GGML_ID_Q4_1, "q4_1", QK, GGML_Q4_1_BYTES, ggml_q4_1_dequant_ref, NULL, NULL},
    {GGML_ID_Q5_0, "q5_0", QK, GGML_Q5_0_BYTES, ggml_q5_0_dequant_ref, NULL, NULL},
    {GGML_ID_Q5_1, "q5_1", QK, GGML_Q5_1_BYTES, ggml_q5_1_dequant_ref, NULL, NULL},
    {GGML_ID_Q2_K, "q2_K", GGML_QK_K, GGML_Q2_K_BYTES, ggml_q2_K_dequant_ref, NULL, NULL},
    {GGML_ID_Q3_K, "q3_K", GGML_QK_K, GGML_Q3_K_BYTES, ggml_q3_K_dequant_ref, NULL, NULL},
    {GGML_ID_Q4_K, "q4_K", GGML_QK_K, GGML_Q4_K_BYTES, ggml_q4_K_dequant_ref, NULL, NULL},
    {GGML_ID_Q5_K, "q5_K", GGML_QK_K, GGML_Q5_K_BYTES, ggml_q5_K_dequant_ref, NULL, NULL},
    {GGML_ID_Q6_K, "q6_K", GGML_QK_K, GGML_Q6_K_BYTES, ggml_q6_K_dequant_ref, NULL, NULL},
    {GGML_ID_Q8_K, "q8_K", GGML_QK_K, GGML_Q8_K_BYTES, ggml_q8_K_dequant_ref, NULL, NULL},
};
enum { N_TYPES = sizeof TYPES / sizeof TYPES[0] };

const ggml_block_type *ggml_blocks_type(int id) {
    for (int i = 0; i < N_TYPES; i++)
        if (TYPES[i].id == id) return &TYPES[i];
    return NULL;
}

const ggml_block_type *ggml_blocks_by_name(const char *name) {
    for (int i = 0; name && i < N_TYPES; i++)
        if (!strcmp(TYPES[i].name, name)) return &TYPES[i];
    return NULL;
}

size_t ggml_blocks_row_bytes(const ggml_block_type *t, int64_t n) {
    if (n < 0 || n % t->block) return 0;
    return (size_t)(n / t->block) * t->bytes;
}

double ggml_blocks_bits_per_weight(const ggml_block_type *t) { return 8.0 * (double)t->bytes / t->block; }

void ggml_blocks_dequantize_ref(const ggml_block_type *t, const uint8_t *src, float *out, int64_t n) {
    for (int64_t i = 0; i < n / t->block; i++) t->dequant_ref(src + (size_t)i * t->bytes, out + i * t->block);
}

void ggml_blocks_quantize_ref(const ggml_block_type *t, const float *x, uint8_t *dst, int64_t n) {
    for (int64_t i = 0; i < n / t->block; i++) t->quant_ref(x + i * t->block, dst + (size_t)i * t->bytes);
}

ggml_fit ggml_blocks_encode_exact(const ggml_block_type *t, const float *x, uint8_t *dst, int64_t n, int64_t *bad_block) {
    uint8_t scratch[64];
    _Static_assert(Q8_0_BYTES <= 64, "scratch holds one block");
    for (int64_t i = 0; i < n / t->block; i++) {
        ggml_fit f = t->exact_ref(x + i * t->block, dst ? dst + (size_t)i * t->bytes : scratch);
        if (f) { if (bad_block) *bad_block = i; return f; }
    }
    return GGML_FIT_OK;
}
