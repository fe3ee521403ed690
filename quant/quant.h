// quant/quant.h — quantized tensor formats (NF4, FP4, NF2/NF3, MXINT-k, INT-k, BF16/FP16):
// quantize, dequantize, pack, bits accounting. A QuantTensor carries its own format, block,
// shape, codes and scales: there is no global state. Blocks run along the input dimension
// (contiguous elements of one row of an (out, in) weight); a row whose length is not a
// multiple of the block ends in a partial block with its own scale.
#ifndef QP_QUANT_QUANT_H
#define QP_QUANT_QUANT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/status.h"

typedef enum {
    QUANT_F32 = 0,  // unquantized (the "no format" case)
    QUANT_BF16,
    QUANT_F16,
    QUANT_NF4,
    QUANT_FP4,
    QUANT_NF3,
    QUANT_NF2,
    QUANT_MXINT,    // bits 2..8
    QUANT_INT,      // bits 2..8, asymmetric min-max
    // ggml's block formats (quant/ggml.c), read from GGUF files: dequantized, never quantized
    // by qpeft. bits is the nominal code width, block ggml's QK (32, or 256 for the K-quants).
    QUANT_Q4_0,
    QUANT_Q4_1,
    QUANT_Q5_0,
    QUANT_Q5_1,
    QUANT_Q8_0,
    QUANT_Q2_K,
    QUANT_Q3_K,
    QUANT_Q4_K,
    QUANT_Q5_K,
    QUANT_Q6_K,
    QUANT_Q8_K,
    QUANT_KIND_COUNT
} quant_kind;

typedef struct {
    quant_kind kind;
    int bits;          // bits per code (4 for nf4/fp4, 2..8 for mxint/int, 16 for bf16/f16, 32 f32)
    int block;         // elements per block along a row (0 for f32/bf16/f16)
    int double_quant;  // nf4/fp4: bitsandbytes-style second-level quantization of the absmax
} quant_format;

// Parse "nf4", "fp4", "nf3", "nf2", "mxint3", "int4", "bf16", "fp16", "f32"; block 0 means
// the format's default (nf*/fp4: 64, mxint: 32, int: 64). Range errors name the value.
int quant_parse_format(const char *name, int block, int double_quant, quant_format *out, qp_status *st);
// "mxint3", "nf4", ... (static string) and a full label such as "mxint3-b32".
const char *quant_format_name(const quant_format *f, char *buf, size_t n);

typedef struct QuantTensor QuantTensor;

// Is the kind one of ggml's block formats? Those are dequantize-only: quantizing into one dies
// with a message (qpeft takes them from GGUF files), so CLIs check this before quantizing.
int quant_kind_is_ggml(quant_kind kind);
// ggml_type id of the GGUF tensor-info record <-> format; -1 / nonzero when qpeft has no such
// ggml block format (F32/F16/BF16 map to QUANT_F32/F16/BF16, not listed here).
int quant_ggml_type(quant_kind kind);
int quant_format_from_ggml_type(int ggml_type, quant_format *out);

// Quantize W (rows, cols) row-major into a newly allocated packed tensor.
QuantTensor *quant_tensor_quantize(const float *w, int rows, int cols, const quant_format *fmt);
void quant_tensor_free(QuantTensor *q);
int quant_tensor_rows(const QuantTensor *q);
int quant_tensor_cols(const QuantTensor *q);
const quant_format *quant_tensor_format(const QuantTensor *q);
// Dequantize rows [r0, r1) into out ((r1-r0), cols) row-major.
void quant_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out);
// Stored bytes (codes + every scale/exponent/zero, partial blocks included) and bits/weight.
size_t quant_tensor_bytes(const QuantTensor *q);
double quant_tensor_bits_per_weight(const QuantTensor *q);
// Bits/weight of a format for a (rows, cols) tensor, from the formula (no data needed).
double quant_bits_per_weight(const quant_format *f, int rows, int cols);

// A tensor whose only section is its codes (f32, bf16, fp16 and ggml's block formats: the
// bytes of a GGUF tensor) from `bytes` raw bytes, copied. The shape must fit the format (ggml:
// cols a multiple of the block) and bytes must equal its size; `what` names the tensor in the
// one-line message. NULL on error.
QuantTensor *quant_tensor_from_raw(const quant_format *fmt, int rows, int cols, const void *data, size_t bytes,
                                   const char *what, qp_status *st);

// The format mix of n tensors (NULL entries skipped) in buf: "q4_K x35, q6_K x7: 4.7500
// bits/weight" (kinds in enum order, bits over all their weights); "none" when all are NULL.
const char *quant_mix_summary(QuantTensor *const *q, int n, char *buf, size_t cap);

// W~ = dq(q(W)) in place of out (rows, cols): the "fake quantization" init/ uses.
void quant_fake(float *out, const float *w, int rows, int cols, const quant_format *fmt);

// Serialise a tensor (format header + codes + scales) to an open file and read it back with
// full validation (format id known, block legal, sizes consistent with the shape, no read
// past `limit` bytes). `what` names the file in messages. Return 0 or -1.
int quant_tensor_write(const QuantTensor *q, FILE *fp, const char *what, qp_status *st);
QuantTensor *quant_tensor_read(FILE *fp, const char *what, qp_status *st);

// ---- additions: shorthand, validation, reference paths, introspection -------------------
// Bits shorthand of the CLI: 2 -> mxint2 block 16, 3 -> mxint3 block 32, 4 -> nf4 block 64.
// Returns 0, or -1 for any other value (out untouched).
int quant_format_from_bits(int bits, quant_format *out);
// Is the format legal (known kind, bits of that kind, block legal, double_quant only on the
// absmax kinds)? Messages name the offending value. Return 0 or -1.
int quant_format_check(const quant_format *f, qp_status *st);

// Scalar reference quantize/dequantize: simple, obviously-correct loops that the fast paths
// above must match bit for bit (tests/test_quant.c checks it on every format).
QuantTensor *quant_tensor_quantize_ref(const float *w, int rows, int cols, const quant_format *fmt);
void quant_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out);

// Packed layout (docs/quantization.md): codes of one row form a little-endian bit stream —
// code j occupies stream bits [j*b, (j+1)*b), stream bit k is bit (k mod 8) of byte k/8 —
// and every row starts on a byte boundary (row stride ceil(cols*b/8) bytes). So 4-bit codes
// are two per byte, element 2j in the low nibble; 2-bit four per byte from the low bits;
// 3-bit eight per three bytes. Sections of a tensor, in this order (absent ones are empty):
//   0 codes (rows * row stride bytes; f32/bf16/f16 hold the values themselves)
//   1 per-block scale: nf*/fp4 fp32 absmax, or with double_quant the uint8 code of
//     (absmax - mean) in the signed dynamic map; mxint one E8M0 byte; int fp16 scale
//   2 nf*/fp4 double_quant: fp32 absmax of each group of 256 block codes; int: uint8 zero point
//   3 nf*/fp4 double_quant: the fp32 mean of all absmax
enum { QUANT_SEC_CODES = 0, QUANT_SEC_SCALE, QUANT_SEC_AUX, QUANT_SEC_AUX2, QUANT_SEC_COUNT };
// Code j of row r, unpacked (tests and tools; slow).
unsigned quant_tensor_code(const QuantTensor *q, int r, int j);
// Raw bytes of section i (NULL when empty); *bytes gets its size.
const uint8_t *quant_tensor_section(const QuantTensor *q, int i, size_t *bytes);
// Value of each code: NF4/NF3/NF2 ascending (code = index), FP4 by code (bit 3 = sign).
// *n gets 2^bits. NULL for other kinds.
const float *quant_nf_table(quant_kind kind, int *n);
// bitsandbytes' signed 8-bit dynamic map (create_dynamic_map(signed=True)), ascending.
const float *quant_dynamic_map(void);

// ---- bf16 compute (`--compute bf16`, docs/formats.md "bf16 compute") -----------------------
// Rows [r0, r1) of W~ straight into bf16 ((r1-r0), cols): round to nearest even, and values
// below 2^-126 in magnitude flushed to a signed zero (what the AVX512-BF16 conversion does).
// MXINT-k (k <= 8) values are bf16 numbers, so that format converts exactly; NF4/FP4/INT-k
// values are rounded. _ref: the scalar oracle (reference dequantize, then quant_f32_to_bf16_ftz).
void quant_dequantize_rows_bf16(const QuantTensor *q, int r0, int r1, uint16_t *out);
void quant_dequantize_rows_bf16_ref(const QuantTensor *q, int r0, int r1, uint16_t *out);
// n floats to bf16 with the rounding above (activations and fp32 bases in bf16 compute).
void quant_f32_to_bf16_n(uint16_t *out, const float *x, size_t n);
uint16_t quant_f32_to_bf16_ftz(float x);

// IEEE round-to-nearest-even conversions (scalar reference versions).
uint16_t quant_f32_to_bf16(float x);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float x);
float quant_f16_to_f32(uint16_t h);
#endif
