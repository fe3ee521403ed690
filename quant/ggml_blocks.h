// quant/ggml_blocks.h — ggml's tensor types as GGUF files store them (ggml-common.h layouts):
// F32, F16, BF16 and the 32-element blocks Q8_0 and Q4_0, one row of the table each. Every type
// has a scalar _ref dequantizer (what ggml's dequantize_row_* computes), ggml's own rounding
// quantizer (re-quantizing a float model) and an exact encoder that succeeds only when the
// values dequantize back bit for bit (exporting a base already on a low-bit grid, e.g. MXINT).
// The GGUF reader (model/gguf.c) and writer (checkpoints/gguf.c) use this one table; more
// block types (Q4_1, Q5_*, K-quants) are further rows. Tested by tests/test_gguf.c (layouts by
// hand-built blocks, exact fit, fallbacks) and, through llama.cpp itself, tests/test_gguf_llamacpp.sh.
#ifndef QP_QUANT_GGML_BLOCKS_H
#define QP_QUANT_GGML_BLOCKS_H
#include <stddef.h>
#include <stdint.h>

// ggml's `enum ggml_type` ids (what a GGUF tensor info stores).
enum { GGML_ID_F32 = 0, GGML_ID_F16 = 1, GGML_ID_Q4_0 = 2, GGML_ID_Q4_1 = 3, GGML_ID_Q5_0 = 6, GGML_ID_Q5_1 = 7,
       GGML_ID_Q8_0 = 8, GGML_ID_Q2_K = 10, GGML_ID_Q3_K = 11, GGML_ID_Q4_K = 12, GGML_ID_Q5_K = 13,
       GGML_ID_Q6_K = 14, GGML_ID_Q8_K = 15, GGML_ID_BF16 = 30 };

// Why an exact encoding failed (GGML_FIT_OK = it did not).
typedef enum {
    GGML_FIT_OK = 0,
    GGML_FIT_NONFINITE,  // an Inf/NaN value
    GGML_FIT_RANGE,      // the block needs more levels than the type has (exponent gap too large)
    GGML_FIT_SCALE,      // the scale 2^k it needs lies outside fp16's range
    GGML_FIT_ROUND,      // f16/bf16: a value is not representable
    GGML_FIT_COUNT
} ggml_fit;
extern const char *const ggml_fit_names[GGML_FIT_COUNT];

typedef struct {
    int id;            // ggml type id
    const char *name;  // "q4_0", ... (the --gguf-type spelling)
    int block;         // elements per block (1 for the float types)
    size_t bytes;      // bytes per block
    // One block: values of `block` elements from the packed bytes (ggml's dequantize_row_*).
    void (*dequant_ref)(const uint8_t *blk, float *out);
    // One block by ggml's rounding rule (quantize_row_*_ref): the lossy path. NULL (and
    // exact_ref NULL) for the types qpeft only reads: Q4_1, Q5_0, Q5_1 and the K-quants.
    void (*quant_ref)(const float *x, uint8_t *blk);
    // One block exactly: GGML_FIT_OK and blk written when dequant_ref(blk) reproduces x (a −0
    // comes back as +0: ggml's (q−8)·d has no negative zero), else the reason.
    ggml_fit (*exact_ref)(const float *x, uint8_t *blk);
} ggml_block_type;

// The row of type id, or NULL when qpeft does not know it.
const ggml_block_type *ggml_blocks_type(int id);
// The row named `name` ("f32", "f16", "bf16", "q8_0", "q4_0"), or NULL.
const ggml_block_type *ggml_blocks_by_name(const char *name);
// Bytes of n elements (n a multiple of t->block; else 0).
size_t ggml_blocks_row_bytes(const ggml_block_type *t, int64_t n);
// Bits per weight of the type (8 * bytes / block).
double ggml_blocks_bits_per_weight(const ggml_block_type *t);

// n elements (a multiple of t->block) between floats and packed blocks.
void ggml_blocks_dequantize_ref(const ggml_block_type *t, const uint8_t *src, float *out, int64_t n);
void ggml_blocks_quantize_ref(const ggml_block_type *t, const float *x, uint8_t *dst, int64_t n);
// Exact encoding of n elements: GGML_FIT_OK, or the reason of the first block that can't be exact
// (*bad_block gets its index; dst is then partly written). dst may be NULL (a fit check only).
ggml_fit ggml_blocks_encode_exact(const ggml_block_type *t, const float *x, uint8_t *dst, int64_t n, int64_t *bad_block);
#endif
