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

// W~ = dq(q(W)) in place of out (rows, cols): the "fake quantization" init/ uses.
void quant_fake(float *out, const float *w, int rows, int cols, const quant_format *fmt);

// Serialise a tensor (format header + codes + scales) to an open file and read it back with
// full validation (format id known, block legal, sizes consistent with the shape, no read
// past `limit` bytes). `what` names the file in messages. Return 0 or -1.
int quant_tensor_write(const QuantTensor *q, FILE *fp, const char *what, qp_status *st);
QuantTensor *quant_tensor_read(FILE *fp, const char *what, qp_status *st);
#endif
