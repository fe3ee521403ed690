// model/linear.c — base + low-rank adapter linear layer, forward and backward.
// Tested by tests/test_linear.c (finite differences, packed vs fp32 bit-equality).
#include "model/linear.h"
#include "core/check.h"
#include "core/la.h"
#include "quant/qer.h"
#include <stdint.h>
#include <string.h>

// Scratch layout: [dequantized base (OC*IC) if packed | xin (BT*IC) | dxa (BT*R) | tmp (BT*IC)];
// bf16 compute: [W~ in bf16 (OC*IC) | inp or dout in bf16 (BT*max(IC,OC))] (16-bit elements,
// counted in floats) in place of the first part; QER mode: [W_qer (OC*IC) | q(A) (R*IC) |
// q(B) (OC*R) | dxa (BT*R)].
static int uses_bf16(const Linear *lin) { return lin->bf16 && !lin->qer && !lin->dw; }

static size_t bf16_part_floats(const Linear *lin, int BT) {
    size_t wide = (size_t)(lin->in > lin->out ? lin->in : lin->out);
    return ((size_t)lin->out * lin->in + 1) / 2 + ((size_t)BT * wide + 1) / 2 + 48;  // 48: the 64-byte alignments
}

size_t linear_scratch_floats(const Linear *lin, int BT) {
    size_t n = 0;
    if (lin->qer) return (size_t)lin->out * lin->in + (size_t)lin->rank * (lin->in + lin->out) + (size_t)BT * lin->rank;
    if (uses_bf16(lin)) n += bf16_part_floats(lin, BT);
    else if (lin->qw) n += (size_t)lin->out * lin->in;
    if (lin->rank > 0) n += 2 * (size_t)BT * lin->in + (size_t)BT * lin->rank;
    return n;
}

void linear_qer_weight(const Linear *lin, float *w, float *Aq, float *Bq) {
    QP_ASSERT(lin->qer && lin->qw && lin->rank > 0);
    const quant_format *f = quant_tensor_format(lin->qw);
    quant_qer_fake(Aq, lin->A, lin->rank, lin->in, f);   // A (R,IC): blocks along IC, aligned with W's
    quant_qer_fake(Bq, lin->B, lin->out, lin->rank, f);  // B (OC,R): blocks along R
    quant_qer_adapter_weight(lin->qw, Aq, Bq, lin->rank, lin->scale, w);
}

// QER forward: out = inp·W_qerᵀ (the same sgemm as a merged packed base, so the logits of the
// merged model are bit for bit these), and xa = inp·q(A)ᵀ for dB.
static void qer_forward(float *out, float *xa, const float *inp, const Linear *lin, int BT, float *scratch) {
    const int IC = lin->in, OC = lin->out, R = lin->rank;
    float *w = scratch, *Aq = w + (size_t)OC * IC, *Bq = Aq + (size_t)R * IC;
    linear_qer_weight(lin, w, Aq, Bq);
    la_sgemm(0, 1, BT, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
    la_sgemm(0, 1, BT, R, IC, 1.0f, inp, IC, Aq, IC, 0.0f, xa, R);
}

// QER backward, straight through q(A), q(B), the rounding onto the grid and the clamp (W_qer's
// Jacobian in the product P = s·q(B)·q(A) taken as the identity). With g = dL/dout and
// G = gᵀ·inp = dL/dW_qer:  dB = s·G·q(A)ᵀ = s·gᵀ·(inp·q(A)ᵀ) = s·gᵀ·xa,
// dA = s·q(B)ᵀ·G = (s·g·q(B))ᵀ·inp = dxaᵀ·inp, and dinp = g·W_qer (the true derivative).
// W_qer and q(B) are recomputed from the unchanged A, B (the same values as the forward's).
static void qer_backward(float *dinp, const float *dout, const float *inp, const float *xa, const Linear *lin,
                         int BT, float *scratch) {
    const int IC = lin->in, OC = lin->out, R = lin->rank;
    float *w = scratch, *Aq = w + (size_t)OC * IC, *Bq = Aq + (size_t)R * IC, *dxa = Bq + (size_t)OC * R;
    linear_qer_weight(lin, w, Aq, Bq);
    la_sgemm(0, 0, BT, R, OC, lin->scale, dout, OC, Bq, R, 0.0f, dxa, R);
    if (lin->dB) la_sgemm(1, 0, OC, R, BT, lin->scale, dout, OC, xa, R, 1.0f, lin->dB, R);
    if (lin->dA) la_sgemm(1, 0, R, IC, BT, 1.0f, dxa, R, inp, IC, 1.0f, lin->dA, IC);
    if (dinp) la_sgemm(0, 0, BT, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
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

// bf16 compute: W~ filled into bf16 (straight from the packed blocks, or converted from the fp32
// copy) at the start of scratch, and the activation operand converted behind it; scratch moves
// past both. Returns the activation buffer; *wb gets the weight.
static uint16_t *bf16_operands(const Linear *lin, int BT, float **scratch, const uint16_t **wb) {
    uintptr_t p = ((uintptr_t)*scratch + 63) & ~(uintptr_t)63;
    uint16_t *w = (uint16_t *)p, *act = w + (((size_t)lin->out * lin->in + 31) & ~(size_t)31);
    if (lin->qw) quant_dequantize_rows_bf16(lin->qw, 0, lin->out, w);
    else quant_f32_to_bf16_n(w, lin->w, (size_t)lin->out * lin->in);
    *wb = w;
    *scratch += bf16_part_floats(lin, BT);
    return act;
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
    if (lin->qer) {
        QP_ASSERT(!drop && !lin->dw);  // no adapter dropout, no full fine-tuning in QER mode
        qer_forward(out, xa, inp, lin, BT, scratch);
        return;
    }
    if (uses_bf16(lin)) {  // out (BT,OC) = bf16(inp) · bf16(W~)ᵀ, fp32 accumulation
        const uint16_t *wb;
        uint16_t *xb = bf16_operands(lin, BT, &scratch, &wb);
        quant_f32_to_bf16_n(xb, inp, (size_t)BT * IC);
        la_gemm_bf16(1, BT, OC, IC, xb, wb, 0.0f, out);
    } else {
        const float *w = base_weight(lin, &scratch);
        // out (BT,OC) = inp (BT,IC) · wᵀ
        la_sgemm(0, 1, BT, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
    }
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
    if (lin->qer) {
        QP_ASSERT(!drop && !lin->dw);
        qer_backward(dinp, dout, inp, xa, lin, BT, scratch);
        return;
    }
    if (lin->dw) la_sgemm(1, 0, OC, IC, BT, 1.0f, dout, OC, inp, IC, 1.0f, lin->dw, IC);
    if (dinp && uses_bf16(lin)) {  // dinp += bf16(dout) · bf16(W~)
        const uint16_t *wb;
        uint16_t *gb = bf16_operands(lin, BT, &scratch, &wb);
        quant_f32_to_bf16_n(gb, dout, (size_t)BT * OC);
        la_gemm_bf16(0, BT, IC, OC, gb, wb, 1.0f, dinp);
    } else if (dinp) {
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
