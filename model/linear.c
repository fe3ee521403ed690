// model/linear.c — base + low-rank adapter linear layer, forward and backward.
// Tested by tests/test_linear.c (finite differences, packed vs fp32 bit-equality).
#include "model/linear.h"
#include "core/la.h"
#include <string.h>

// Scratch layout: [dequantized base (OC*IC) if packed | xin (BT*IC) | dxa (BT*R) | tmp (BT*IC)].
size_t linear_scratch_floats(const Linear *lin, int BT) {
    size_t n = 0;
    if (lin->qw) n += (size_t)lin->out * lin->in;
    if (lin->rank > 0) n += 2 * (size_t)BT * lin->in + (size_t)BT * lin->rank;
    return n;
}

// The base weight as fp32: the stored copy, or the packed one dequantized whole into scratch.
// Whole-matrix dequantization keeps every sgemm identical to the fp32 path (same products in
// the same order), which the bit-equality test relies on; tiles would split backward's sums.
static const float *base_weight(const Linear *lin, float **scratch) {
    if (!lin->qw) return lin->w;
    float *wbuf = *scratch;
    quant_dequantize_rows(lin->qw, 0, lin->out, wbuf);
    *scratch += (size_t)lin->out * lin->in;
    return wbuf;
}

// The adapter's input: inp itself, or inp ⊙ drop written into buf.
static const float *adapter_input(const float *inp, const float *drop, size_t n, float *buf) {
    if (!drop) return inp;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) buf[i] = inp[i] * drop[i];
    return buf;
}

void linear_forward(float *out, float *xa, const float *inp, const float *drop, const Linear *lin,
                    int BT, float *scratch) {
    const int IC = lin->in, OC = lin->out, R = lin->rank;
    const float *w = base_weight(lin, &scratch);
    // out (BT,OC) = inp (BT,IC) · wᵀ
    la_sgemm(0, 1, BT, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
    if (R == 0) return;
    const float *xin = adapter_input(inp, drop, (size_t)BT * IC, scratch);
    // xa (BT,R) = xin · Aᵀ ;  out += s · xa · Bᵀ
    la_sgemm(0, 1, BT, R, IC, 1.0f, xin, IC, lin->A, IC, 0.0f, xa, R);
    la_sgemm(0, 1, BT, OC, R, lin->scale, xa, R, lin->B, R, 1.0f, out, OC);
}

// With y = x Wᵀ + s·(x⊙m) Aᵀ Bᵀ and g = dL/dy:
//   dx  = g W + ((s·g B) A) ⊙ m        dW = gᵀ x
//   dxa = s·g B                        dB = s·gᵀ xa     dA = dxaᵀ (x⊙m)
void linear_backward(float *dinp, const float *dout, const float *inp, const float *drop, const float *xa,
                     const Linear *lin, int BT, float *scratch) {
    const int IC = lin->in, OC = lin->out, R = lin->rank;
    if (lin->dw) la_sgemm(1, 0, OC, IC, BT, 1.0f, dout, OC, inp, IC, 1.0f, lin->dw, IC);
    if (dinp) {
        const float *w = base_weight(lin, &scratch);
        la_sgemm(0, 0, BT, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
    }
    if (R == 0) return;
    float *xin_buf = scratch, *dxa = scratch + (size_t)BT * IC, *tmp = dxa + (size_t)BT * R;
    la_sgemm(0, 0, BT, R, OC, lin->scale, dout, OC, lin->B, R, 0.0f, dxa, R);
    if (lin->dB) la_sgemm(1, 0, OC, R, BT, lin->scale, dout, OC, xa, R, 1.0f, lin->dB, R);
    if (lin->dA) {
        const float *xin = adapter_input(inp, drop, (size_t)BT * IC, xin_buf);
        la_sgemm(1, 0, R, IC, BT, 1.0f, dxa, R, xin, IC, 1.0f, lin->dA, IC);
    }
    if (!dinp) return;
    if (!drop) {
        la_sgemm(0, 0, BT, IC, R, 1.0f, dxa, R, lin->A, IC, 1.0f, dinp, IC);
        return;
    }
    la_sgemm(0, 0, BT, IC, R, 1.0f, dxa, R, lin->A, IC, 0.0f, tmp, IC);
    size_t n = (size_t)BT * IC;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dinp[i] += tmp[i] * drop[i];
}
