// quant/quant_internal.h — private to quant/: the QuantTensor definition, section sizes, the
// per-family quantize/dequantize entry points and the bit packer. Tested by tests/test_quant.c.
#ifndef QP_QUANT_INTERNAL_H
#define QP_QUANT_INTERNAL_H
#include "quant/quant.h"
#include "quant/ggml_blocks.h"
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "quant/ stores sections in host order and assumes a little-endian host"
#endif
// Sections are raw arrays of these fixed-size types; the file format depends on it.
_Static_assert(sizeof(float) == 4, "fp32 absmax/scales are 4 bytes");
_Static_assert(sizeof(uint16_t) == 2, "fp16/bf16 codes are 2 bytes");

// Double quantization of the absmax (bitsandbytes compress_statistics) groups 256 block
// scales under one fp32 second-level absmax.
#define QUANT_DQ_GROUP 256
// Largest block of any kind: the fast dequantizer unpacks one block into a stack buffer.
#define QUANT_MAX_BLOCK 4096

struct QuantTensor {
    quant_format fmt;
    int rows, cols;
    int nblk;           // blocks per row: ceil(cols / block) (0 for f32/bf16/f16)
    size_t row_bytes;   // packed code bytes per row
    uint8_t *sec[QUANT_SEC_COUNT];
    size_t sec_bytes[QUANT_SEC_COUNT];
};

// Section sizes of a legal format for (rows, cols); returns 0, or -1 if a size overflows.
int quant_section_sizes(const quant_format *f, int rows, int cols, size_t sec_bytes[QUANT_SEC_COUNT],
                        size_t *row_bytes);
int quant_code_bits(const quant_format *f);
// Allocate a tensor with zeroed sections of the right sizes (format must be legal).
QuantTensor *quant_tensor_alloc(const quant_format *f, int rows, int cols);

// Families. `_ref` = scalar reference; the others are the fast paths (OpenMP over rows).
void nf_quantize(QuantTensor *q, const float *w);
void nf_quantize_ref(QuantTensor *q, const float *w);
void nf_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
void nf_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);
void mxint_quantize(QuantTensor *q, const float *w);
void mxint_quantize_ref(QuantTensor *q, const float *w);
void mxint_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
void mxint_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);
void mxint_dequantize_rows_bf16(const QuantTensor *q, int r0, int r1, uint16_t *out);
// Any kind to bf16 through one fp32 row per thread (the path for formats without a direct one).
void quant_rows_bf16_via_f32(const QuantTensor *q, int r0, int r1, uint16_t *out);
// out (rows, cols) = dq(q(w)) in MXINT-W with blocks of B, no allocation (QER's training step).
void mxint_fake_rows(float *out, const float *w, int rows, int cols, int W, int B);
void intk_quantize(QuantTensor *q, const float *w);
void intk_quantize_ref(QuantTensor *q, const float *w);
void intk_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
void intk_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);
void half_quantize(QuantTensor *q, const float *w);
void half_quantize_ref(QuantTensor *q, const float *w);
void half_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
void half_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);

// ggml block formats (quant/ggml.c): one row of the table per format. A row of a tensor is
// cols/block blocks of `bytes` each, back to back (the GGUF layout).
// The layout (name, block, bytes, scalar reference) is the type's row of quant/ggml_blocks.h.
typedef struct {
    quant_kind kind;
    int ggml_type;      // ggml_type id in GGUF tensor infos: ggml_blocks_type(ggml_type)
    int bits;           // nominal code width
    void (*dq)(const uint8_t *blk, float *y);      // fast path, one block
} ggml_kind_info;
// Bytes per block of the read-only ggml types (ggml-common.h; static-asserted in quant/ggml.c).
enum { GGML_Q4_1_BYTES = 20, GGML_Q5_0_BYTES = 22, GGML_Q5_1_BYTES = 24, GGML_Q2_K_BYTES = 84, GGML_Q3_K_BYTES = 110,
       GGML_Q4_K_BYTES = 144, GGML_Q5_K_BYTES = 176, GGML_Q6_K_BYTES = 210, GGML_Q8_K_BYTES = 292, GGML_QK_K = 256 };
// Scalar references of quant/ggml.c (the dequant_ref of their ggml_blocks rows).
void ggml_q4_1_dequant_ref(const uint8_t *blk, float *y);
void ggml_q5_0_dequant_ref(const uint8_t *blk, float *y);
void ggml_q5_1_dequant_ref(const uint8_t *blk, float *y);
void ggml_q2_K_dequant_ref(const uint8_t *blk, float *y);
void ggml_q3_K_dequant_ref(const uint8_t *blk, float *y);
void ggml_q4_K_dequant_ref(const uint8_t *blk, float *y);
void ggml_q5_K_dequant_ref(const uint8_t *blk, float *y);
void ggml_q6_K_dequant_ref(const uint8_t *blk, float *y);
void ggml_q8_K_dequant_ref(const uint8_t *blk, float *y);
const ggml_kind_info *ggml_block_info(quant_kind kind);   // NULL for qpeft's own kinds
const ggml_kind_info *ggml_block_by_name(const char *name);  // case-insensitive
const ggml_kind_info *ggml_block_by_type(int ggml_type);
void ggml_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
void ggml_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);

// Bit packing (quant/pack.c), layout in quant/quant.h. `row` points at a row's first byte.
size_t pack_row_bytes(int n, int bits);
// Pack n codes (each < 2^bits) into the row's first pack_row_bytes(n, bits) bytes.
void pack_codes(uint8_t *row, const uint8_t *codes, int n, int bits);
// Unpack codes [j0, j0+n) of a row; j0*bits must be a multiple of 8 (block starts are).
void unpack_codes(uint8_t *codes, const uint8_t *row, int j0, int n, int bits);
// out[j] = tab[codes[j]] for codes < 16 (AVX2: in-register permutes instead of gathers).
void pack_lookup16(float *out, const uint8_t *codes, int n, const float *tab);
// Bit-by-bit reference accessors.
void pack_set_ref(uint8_t *row, int j, int bits, unsigned code);
unsigned pack_get_ref(const uint8_t *row, int j, int bits);

// Work on more than this many elements is split over OpenMP threads.
#define QUANT_OMP_MIN ((size_t)1 << 15)
#endif
