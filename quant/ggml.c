// quant/ggml.c — ggml's block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, Q8_K)
// as frozen bases: the raw blocks of a GGUF tensor, kept packed and dequantized on the fly.
// The layouts' references and sizes are rows of quant/ggml_blocks.c (the one table of ggml
// types, shared with the GGUF reader and writer); Q4_0's and Q8_0's references live there.
// Tested by tests/test_ggml_quant.c (fast == ref on random blocks, block sizes) and
// tests/test_ggml_oracle.sh (bit-equal to libggml's own dequantize_row_* on blocks quantized by
// ggml_quantize_chunk, random and tinystories-1M tensors).
//
// The layouts follow ggml-common.h. Every block starts with (or ends in) fp16 super-scales; a
// row of `cols` weights is cols/QK blocks back to back, no padding, no row alignment. There is
// no qpeft quantizer for these kinds: they come from a file (quant_tensor_from_raw).
//
// Bit-exactness with ggml: both sides compute each weight with the same float operations in the
// same order (e.g. Q4_K: (d·sc)·q − (dmin·m), two fp32 products and a difference), and qpeft is
// compiled in ISO C mode where GCC does not contract a·b − c into an FMA.
#include "quant/quant_internal.h"
#include "core/check.h"
#include <string.h>

#define QK 32      // elements of a Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 block
#define QK_K GGML_QK_K  // elements of a K-quant super-block

// ---- block layouts (field order and sizes as ggml-common.h) ------------------------------------
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_1;
typedef struct { uint16_t d; int8_t qs[QK]; } blk_q8_0;
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } blk_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } blk_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } blk_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } blk_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } blk_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } blk_q8_K;

// The sizes are ggml's on-disk block sizes: a GGUF tensor's bytes are rows·(cols/QK)·size.
_Static_assert(sizeof(blk_q4_0) == 18, "q4_0 block: fp16 + 16 bytes of nibbles");
_Static_assert(sizeof(blk_q4_1) == GGML_Q4_1_BYTES, "q4_1 block: 2 fp16 + 16 bytes of nibbles");
_Static_assert(sizeof(blk_q5_0) == GGML_Q5_0_BYTES, "q5_0 block: fp16 + 4 bytes of high bits + 16 of nibbles");
_Static_assert(sizeof(blk_q5_1) == GGML_Q5_1_BYTES, "q5_1 block: 2 fp16 + 4 + 16");
_Static_assert(sizeof(blk_q8_0) == 34, "q8_0 block: fp16 + 32 int8");
_Static_assert(sizeof(blk_q2_K) == GGML_Q2_K_BYTES, "q2_K super-block: 16 scale bytes + 64 code bytes + 2 fp16");
_Static_assert(sizeof(blk_q3_K) == GGML_Q3_K_BYTES, "q3_K super-block: 32 hmask + 64 codes + 12 scales + fp16");
_Static_assert(sizeof(blk_q4_K) == GGML_Q4_K_BYTES, "q4_K super-block: 2 fp16 + 12 scale bytes + 128 nibble bytes");
_Static_assert(sizeof(blk_q5_K) == GGML_Q5_K_BYTES, "q5_K super-block: 2 fp16 + 12 + 32 high bits + 128 nibbles");
_Static_assert(sizeof(blk_q6_K) == GGML_Q6_K_BYTES, "q6_K super-block: 128 low nibbles + 64 high pairs + 16 int8 scales + fp16");
_Static_assert(sizeof(blk_q8_K) == GGML_Q8_K_BYTES, "q8_K super-block: fp32 + 256 int8 + 16 int16 sums");

static float h2f(uint16_t h) { return quant_f16_to_f32(h); }

// Q4_K/Q5_K: eight 6-bit (scale, min) pairs in 12 bytes. Pairs 0..3 are the low 6 bits of
// bytes 0..3 (scale) and 4..7 (min); pairs 4..7 keep their low 4 bits in the nibbles of bytes
// 8..11 (scale low, min high) and their top 2 bits in the spare top bits of bytes 0..7.
static void k4_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
        *m = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

// Q3_K: sixteen 6-bit scales (stored +32) in 12 bytes: low nibbles are bytes 0..7 (scales
// 0..7 in the low nibble, 8..15 in the high), top 2 bits are the four 2-bit fields of bytes
// 8..11 (scale s in byte 8 + s%4, field s/4).
static int k3_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
    int hi = s[8 + j % 4] >> (2 * (j / 4)) & 3;
    return (lo | hi << 4) - 32;
}

// ---- scalar references: one weight at a time, indices straight from the layout -------------
static float q4_1_at(const uint8_t *p, int i) {
    const blk_q4_1 *b = (const blk_q4_1 *)p;
    int q = i < 16 ? b->qs[i] & 15 : b->qs[i - 16] >> 4;  // element j low nibble, j+16 high
    return (float)q * h2f(b->d) + h2f(b->m);
}

// Q5_0/Q5_1: element i's fifth bit is bit i of the little-endian 32-bit qh.
static int q5_code(const uint8_t *qh, const uint8_t *qs, int i) {
    int lo = i < 16 ? qs[i] & 15 : qs[i - 16] >> 4;
    return lo | (qh[i / 8] >> (i % 8) & 1) << 4;
}

static float q5_0_at(const uint8_t *p, int i) {
    const blk_q5_0 *b = (const blk_q5_0 *)p;
    return (float)(q5_code(b->qh, b->qs, i) - 16) * h2f(b->d);
}

static float q5_1_at(const uint8_t *p, int i) {
    const blk_q5_1 *b = (const blk_q5_1 *)p;
    return (float)q5_code(b->qh, b->qs, i) * h2f(b->d) + h2f(b->m);
}

// Q2_K: 16 groups of 16, group g scaled by d·(scales[g] & 15) and offset by dmin·(scales[g] >> 4).
// The 2-bit code of weight i sits in byte 32·(i/128) + i%32 at bit 2·((i%128)/32).
static float q2_K_at(const uint8_t *p, int i) {
    const blk_q2_K *b = (const blk_q2_K *)p;
    int sc = b->scales[i / 16];
    int q = b->qs[i / 128 * 32 + i % 32] >> (2 * (i % 128 / 32)) & 3;
    float dl = h2f(b->d) * (float)(sc & 15), ml = h2f(b->dmin) * (float)(sc >> 4);
    return dl * (float)q - ml;
}

// Q3_K: the 2-bit low part as Q2_K; the high bit of weight i is bit i/32 of hmask[i%32], and a
// clear high bit means "subtract 4" (codes -4..3).
static float q3_K_at(const uint8_t *p, int i) {
    const blk_q3_K *b = (const blk_q3_K *)p;
    int lo = b->qs[i / 128 * 32 + i % 32] >> (2 * (i % 128 / 32)) & 3;
    int high = b->hmask[i % 32] >> (i / 32) & 1;
    float dl = h2f(b->d) * (float)k3_scale(b->scales, i / 16);
    return dl * (float)(lo - (high ? 0 : 4));
}

// Q4_K: 8 sub-blocks of 32; codes of sub-blocks 2c and 2c+1 share bytes 32c..32c+31 (low and
// high nibble). Weight = (d·sc)·q − (dmin·m).
static float q4_K_at(const uint8_t *p, int i) {
    const blk_q4_K *b = (const blk_q4_K *)p;
    uint8_t sc, m;
    k4_scale_min(b->scales, i / 32, &sc, &m);
    uint8_t byte = b->qs[i / 64 * 32 + i % 32];
    int q = (i / 32) % 2 ? byte >> 4 : byte & 15;
    return h2f(b->d) * (float)sc * (float)q - h2f(b->dmin) * (float)m;
}

// Q5_K: Q4_K plus a fifth bit, bit i/32 of qh[i%32].
static float q5_K_at(const uint8_t *p, int i) {
    const blk_q5_K *b = (const blk_q5_K *)p;
    uint8_t sc, m;
    k4_scale_min(b->scales, i / 32, &sc, &m);
    uint8_t byte = b->qs[i / 64 * 32 + i % 32];
    int q = ((i / 32) % 2 ? byte >> 4 : byte & 15) | (b->qh[i % 32] >> (i / 32) & 1) << 4;
    return h2f(b->d) * (float)sc * (float)q - h2f(b->dmin) * (float)m;
}

// Q6_K: two halves of 128; in half h, quarter k (32 weights), lane l: low nibble from
// ql[64h + l + 32(k%2)] (high nibble when k >= 2), top 2 bits from qh[32h + l] at bit 2k.
// Code − 32, times d·scales[i/16].
static float q6_K_at(const uint8_t *p, int i) {
    const blk_q6_K *b = (const blk_q6_K *)p;
    int h = i / 128, k = i % 128 / 32, l = i % 32;
    uint8_t lb = b->ql[64 * h + l + 32 * (k % 2)];
    int lo = k >= 2 ? lb >> 4 : lb & 15, hi = b->qh[32 * h + l] >> (2 * k) & 3;
    return h2f(b->d) * (float)b->scales[i / 16] * (float)((lo | hi << 4) - 32);
}

static float q8_K_at(const uint8_t *p, int i) {
    const blk_q8_K *b = (const blk_q8_K *)p;
    return b->d * (float)b->qs[i];
}

// ---- fast paths: one whole block per call, loops the compiler vectorizes ---------------------
static void q4_0_block(const uint8_t *p, float *y) {
    const blk_q4_0 *b = (const blk_q4_0 *)p;
    const float d = h2f(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b->qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
    }
}

static void q8_0_block(const uint8_t *p, float *y) {
    const blk_q8_0 *b = (const blk_q8_0 *)p;
    const float d = h2f(b->d);
    for (int j = 0; j < QK; j++) y[j] = (float)b->qs[j] * d;
}

static void q4_1_block(const uint8_t *p, float *y) {
    const blk_q4_1 *b = (const blk_q4_1 *)p;
    const float d = h2f(b->d), m = h2f(b->m);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b->qs[j] & 15) * d + m;
        y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
    }
}

static void q5_0_block(const uint8_t *p, float *y) {
    const blk_q5_0 *b = (const blk_q5_0 *)p;
    const float d = h2f(b->d);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < 16; j++) {
        int x0 = (b->qs[j] & 15) | (int)(qh >> j & 1) << 4, x1 = (b->qs[j] >> 4) | (int)(qh >> (j + 16) & 1) << 4;
        y[j] = (float)(x0 - 16) * d;
        y[j + 16] = (float)(x1 - 16) * d;
    }
}

static void q5_1_block(const uint8_t *p, float *y) {
    const blk_q5_1 *b = (const blk_q5_1 *)p;
    const float d = h2f(b->d), m = h2f(b->m);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < 16; j++) {
        int x0 = (b->qs[j] & 15) | (int)(qh >> j & 1) << 4, x1 = (b->qs[j] >> 4) | (int)(qh >> (j + 16) & 1) << 4;
        y[j] = (float)x0 * d + m;
        y[j + 16] = (float)x1 * d + m;
    }
}

static void q2_K_block(const uint8_t *p, float *y) {
    const blk_q2_K *b = (const blk_q2_K *)p;
    const float d = h2f(b->d), dmin = h2f(b->dmin);
    for (int g = 0; g < 16; g++) {  // group g: 16 weights, one scale byte
        const float dl = d * (float)(b->scales[g] & 15), ml = dmin * (float)(b->scales[g] >> 4);
        const uint8_t *q = b->qs + g / 8 * 32 + g % 2 * 16;
        const int shift = 2 * (g % 8 / 2);
        for (int l = 0; l < 16; l++) y[16 * g + l] = dl * (float)(q[l] >> shift & 3) - ml;
    }
}

static void q3_K_block(const uint8_t *p, float *y) {
    const blk_q3_K *b = (const blk_q3_K *)p;
    const float d = h2f(b->d);
    for (int g = 0; g < 16; g++) {
        const float dl = d * (float)k3_scale(b->scales, g);
        const uint8_t *q = b->qs + g / 8 * 32 + g % 2 * 16, *hm = b->hmask + g % 2 * 16;
        const int shift = 2 * (g % 8 / 2), bit = g / 2;
        for (int l = 0; l < 16; l++)
            y[16 * g + l] = dl * (float)((q[l] >> shift & 3) - (hm[l] >> bit & 1 ? 0 : 4));
    }
}

// Q4_K and Q5_K share the sub-block walk; qh is NULL for Q4_K.
static void k45_block(float d, float dmin, const uint8_t *scales, const uint8_t *qh, const uint8_t *qs, float *y) {
    for (int s = 0; s < 8; s++) {
        uint8_t sc, m;
        k4_scale_min(scales, s, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        const uint8_t *q = qs + s / 2 * 32;
        const int shift = 4 * (s % 2);
        if (qh)
            for (int l = 0; l < 32; l++) y[32 * s + l] = d1 * (float)((q[l] >> shift & 15) | (qh[l] >> s & 1) << 4) - m1;
        else
            for (int l = 0; l < 32; l++) y[32 * s + l] = d1 * (float)(q[l] >> shift & 15) - m1;
    }
}

static void q4_K_block(const uint8_t *p, float *y) {
    const blk_q4_K *b = (const blk_q4_K *)p;
    k45_block(h2f(b->d), h2f(b->dmin), b->scales, NULL, b->qs, y);
}

static void q5_K_block(const uint8_t *p, float *y) {
    const blk_q5_K *b = (const blk_q5_K *)p;
    k45_block(h2f(b->d), h2f(b->dmin), b->scales, b->qh, b->qs, y);
}

static void q6_K_block(const uint8_t *p, float *y) {
    const blk_q6_K *b = (const blk_q6_K *)p;
    const float d = h2f(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        float *o = y + 128 * h;
        for (int k = 0; k < 4; k++) {
            const float s0 = d * (float)b->scales[8 * h + 2 * k], s1 = d * (float)b->scales[8 * h + 2 * k + 1];
            const uint8_t *lb = ql + 32 * (k % 2);
            const int nshift = 4 * (k / 2);
            for (int l = 0; l < 32; l++) {
                int q = ((lb[l] >> nshift & 15) | (qh[l] >> (2 * k) & 3) << 4) - 32;
                o[32 * k + l] = (l < 16 ? s0 : s1) * (float)q;
            }
        }
    }
}

static void q8_K_block(const uint8_t *p, float *y) {
    const blk_q8_K *b = (const blk_q8_K *)p;
    for (int j = 0; j < QK_K; j++) y[j] = b->d * (float)b->qs[j];
}

// ---- the table ------------------------------------------------------------------------------
// The references, one weight at a time: the dequant_ref of quant/ggml_blocks.c's table rows.
#define REF_BLOCK(name, n)                                                          \
    void ggml_##name##_dequant_ref(const uint8_t *p, float *y) {                    \
        for (int i = 0; i < (n); i++) y[i] = name##_at(p, i);                        \
    }
REF_BLOCK(q4_1, QK)
REF_BLOCK(q5_0, QK)
REF_BLOCK(q5_1, QK)
REF_BLOCK(q2_K, QK_K)
REF_BLOCK(q3_K, QK_K)
REF_BLOCK(q4_K, QK_K)
REF_BLOCK(q5_K, QK_K)
REF_BLOCK(q6_K, QK_K)
REF_BLOCK(q8_K, QK_K)

// qpeft's kinds over ggml's types: the layout facts (name, block, bytes, reference) are the
// rows of quant/ggml_blocks.c; this table adds the QuantTensor kind, the nominal width and the
// fast path.
static const ggml_kind_info TYPES[] = {
    {QUANT_Q4_0, GGML_ID_Q4_0, 4, q4_0_block},
    {QUANT_Q4_1, GGML_ID_Q4_1, 4, q4_1_block},
    {QUANT_Q5_0, GGML_ID_Q5_0, 5, q5_0_block},
    {QUANT_Q5_1, GGML_ID_Q5_1, 5, q5_1_block},
    {QUANT_Q8_0, GGML_ID_Q8_0, 8, q8_0_block},
    {QUANT_Q2_K, GGML_ID_Q2_K, 2, q2_K_block},
    {QUANT_Q3_K, GGML_ID_Q3_K, 3, q3_K_block},
    {QUANT_Q4_K, GGML_ID_Q4_K, 4, q4_K_block},
    {QUANT_Q5_K, GGML_ID_Q5_K, 5, q5_K_block},
    {QUANT_Q6_K, GGML_ID_Q6_K, 6, q6_K_block},
    {QUANT_Q8_K, GGML_ID_Q8_K, 8, q8_K_block},
};
#define NTYPES (int)(sizeof TYPES / sizeof *TYPES)

const ggml_kind_info *ggml_block_info(quant_kind kind) {
    for (int i = 0; i < NTYPES; i++)
        if (TYPES[i].kind == kind) return &TYPES[i];
    return NULL;
}

const ggml_kind_info *ggml_block_by_name(const char *name) {
    for (int i = 0; i < NTYPES; i++)
        if (!strcasecmp(ggml_blocks_type(TYPES[i].ggml_type)->name, name)) return &TYPES[i];
    return NULL;
}

const ggml_kind_info *ggml_block_by_type(int ggml_type) {
    for (int i = 0; i < NTYPES; i++)
        if (TYPES[i].ggml_type == ggml_type) return &TYPES[i];
    return NULL;
}

// ---- tensor paths ---------------------------------------------------------------------------
static void dequantize_rows_with(const QuantTensor *q, int r0, int r1, float *out, int ref) {
    const ggml_kind_info *g = ggml_block_info(q->fmt.kind);
    const ggml_block_type *t = g ? ggml_blocks_type(g->ggml_type) : NULL;
    QP_ASSERT(t && q->cols % t->block == 0);
    void (*block)(const uint8_t *, float *) = ref ? t->dequant_ref : g->dq;
    const int nblk = q->cols / t->block;
#pragma omp parallel for schedule(static) if (!ref && (size_t)(r1 - r0) * q->cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        float *o = out + (size_t)(r - r0) * q->cols;
        for (int b = 0; b < nblk; b++) block(row + (size_t)b * t->bytes, o + (size_t)b * (size_t)t->block);
    }
}

void ggml_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) { dequantize_rows_with(q, r0, r1, out, 0); }
void ggml_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) { dequantize_rows_with(q, r0, r1, out, 1); }
