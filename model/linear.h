// model/linear.h — the one place a frozen base weight (fp32 or packed quantized) meets its
// low-rank adapter:  out = inp·Wᵀ + s·((inp⊙drop)·Aᵀ)·Bᵀ.
// A is (R, IC) and B is (OC, R), PEFT's lora_A/lora_B layouts, so export is a copy.
// QER mode (qer = 1, `train --adapter-quant same`, docs/methods.md "QER"): the adapter is stored
// in the packed MXINT base's own format and merged on its grid, so the layer computes
//   out = inp·W_qerᵀ,  W_qer = clamp(v + rint(s·q(B)·q(A)/Δ), −M, M)·Δ   (quant/qer.h)
// — exactly the weight `merge --lossless` deploys — with straight-through gradients to the fp
// masters A, B: dA = s·q(B)ᵀ·G, dB = s·G·q(A)ᵀ, G = doutᵀ·inp (never formed: computed as the
// low-rank products below), dinp = dout·W_qer (exact). No dropout in this mode.
// Tested by tests/test_linear.c, tests/test_layers.c (finite differences) and
// tests/test_qer_train.c (QER mode).
#ifndef QP_MODEL_LINEAR_H
#define QP_MODEL_LINEAR_H
#include <stddef.h>
#include "quant/quant.h"

typedef struct {
    int in, out;            // IC, OC
    const float *w;         // (OC, IC) fp32 base, or NULL when qw is set
    const QuantTensor *qw;  // packed frozen base, or NULL
    float *dw;              // (OC, IC) gradient of w (full fine-tuning only), else NULL
    int rank;               // R; 0 = no adapter
    float scale;            // s = alpha / R
    const float *A;         // (R, IC)
    const float *B;         // (OC, R)
    float *dA, *dB;         // gradients (accumulated, +=), or NULL when frozen
    int qer;                // 1: QER mode (above); needs qw in MXINT and rank > 0
    int bf16;               // 1: the frozen-base products inp·W~ᵀ and dout·W~ run in bf16 with fp32
                            // accumulation (`--compute bf16`; needs la_bf16_available()). The
                            // adapter, its gradients and dw stay fp32; ignored in QER mode and
                            // when dw is set (full fine-tuning trains W itself in fp32).
} Linear;

// Floats of scratch linear_forward/backward need for BT rows (bf16 compute included).
size_t linear_scratch_floats(const Linear *lin, int BT);

// QER mode: the layer's weight W_qer (OC,IC) into w, and q(A) (R,IC), q(B) (OC,R) into Aq, Bq —
// what linear_forward uses, for the merge's reference (init/qer.h) and merge_weights.
void linear_qer_weight(const Linear *lin, float *w, float *Aq, float *Bq);

// out (BT,OC); xa (BT,R) saved for backward (QER mode: inp·q(A)ᵀ) (may be NULL when R == 0);
// inp (BT,IC); drop (BT,IC) dropout multipliers (0 or 1/(1-p)) on the adapter path, or NULL.
void linear_forward(float *out, float *xa, const float *inp, const float *drop, const Linear *lin,
                    int BT, float *scratch);
// dinp (BT,IC) accumulated (+=) unless NULL; lin->dA, dB, dw accumulated when non-NULL;
// dout (BT,OC); inp, drop, xa as saved by the forward.
void linear_backward(float *dinp, const float *dout, const float *inp, const float *drop, const float *xa,
                     const Linear *lin, int BT, float *scratch);
#endif
