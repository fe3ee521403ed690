// init/qer.h — QER at the model level: the adapters of every adapted linear quantized to the
// base's own MXINT-k format (A~ = q(A) in blocks along IC, B~ = q(B) in blocks along R), their
// product s·B~·A~ rounded onto the base's grid and merged by integer addition of codes
// (quant/qer.h); the error of that merge against the fp-adapter model W~ + s·B·A split into its
// two sources; and the error-aware calibration objective that trains both sources down.
// Rule and exactness in docs/methods.md ("QER"). Tested by tests/test_qer.c, tests/test_qer_cli.sh.
#ifndef QP_INIT_QER_H
#define QP_INIT_QER_H
#include <stdint.h>
#include "core/status.h"
#include "init/calibrate.h"
#include "model/model.h"
#include "quant/qer.h"

// Weight-space accounting over the adapted linears, against W_ref = W~ + s·B·A (fp adapters):
//   W_qer = dq(merged codes)            (what the lossless merge stores)
//   quant    = W~ + Δ·d − W_ref         (adapter quantization + rounding onto the base grid)
//   overflow = W_qer − (W~ + Δ·d)       (the clamp of v + d into [−M, M]; zero unless overflowed)
// so W_qer − W_ref = quant + overflow. Sums of squares; rel_* divide by ref_sq under a sqrt.
typedef struct {
    int n_linears;                       // adapted linears merged
    quant_qer_count codes;               // summed over them (max_excess: the largest)
    double ref_sq, err_sq, quant_sq, overflow_sq;
    double max_abs;                      // max |W_qer − W_ref|
    double rel_err, rel_quant, rel_overflow;
} qer_report;

// Can m be merged losslessly? Needs adapters (rank > 0, not full fine-tuning), and every adapted
// linear on a packed MXINT base, all packed bases one format. Else -1 with one line.
int qer_check_model(const Model *m, qp_status *st);

// Correction codes d (OC,IC) of layer l, kind k (an adapted linear of a checked model):
// d = rint(s·B~·A~ / Δ) with the product formed in double, r = 0..R−1 in order (every term is
// exact; the sum is exact unless one dot product spans > ~30 binades — deterministic either way).
// Optionally Pq (OC,IC) gets the fp32 of that unrounded product and Pf the fp adapter product
// s·B·A (both may be NULL).
void qer_linear_codes(const Model *m, int l, int k, int32_t *d, float *Pq, float *Pf);

// The lossless merge: *merged gets a calloc'd (L*LIN_COUNT) array of packed tensors, every
// adapted linear's = quant_qer_merge_codes(base, d), every other packed base a copy, NULL where m
// has an fp32 base. rep (may be NULL) gets the accounting above. Free with qmodel_free_bases.
int qer_merge(const Model *m, QuantTensor ***merged, qer_report *rep, qp_status *st);
// The unmerged quantized-adapter model as fresh fp32 weights, after qer_check_model: every adapted
// linear's slot = W_qer as QER mode's forward computes it (linear_qer_weight, through
// merge_qer_weights; equal to quant_qer_effective(base, d), computed without the merged codes),
// other packed linears dq(base), the head copied. Equal bit for bit to dq(merged).
int qer_effective_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st);

// Output-space accounting with calibration statistics Σ = E[xᵀx] of each linear's input:
// ‖E‖²_Σ = tr(E·Σ·Eᵀ) (the mean squared layer-output error) for E in {W_qer − W_ref, quant,
// overflow}, each relative to Σ‖W_ref‖²_Σ over the adapted linears.
typedef struct { double rel_err, rel_quant, rel_overflow; int64_t n_overflow; } qer_out_error;

// Error-aware calibration (QER's objective): per adapted linear, `steps` Adam steps on its A, B
// minimising ‖W_qer(A,B) − W_ref‖²_Σ, W_ref fixed to the fp-adapter weights at entry, with
// straight-through gradients through q(A), q(B), the rounding onto the grid and the clamp:
// G = 2·(W_qer − W_ref)·Σ, dB = s·G·A~ᵀ, dA = s·B~ᵀ·G. Step sizes lr·rms(A) and lr·rms(B) of
// the entry values. The iterate with the lowest true loss is kept (so the loss never rises).
// m's adapters are updated in place; before/after get the output errors. stats needs Σxᵀx.
// overflow_penalty λ > 0 makes the steps overflow-aware: at a clamped code the gradient of the
// output error is 0 (W_qer does not move there), so instead of passing straight through the clamp
// it is replaced by the gradient of λ·σ̄·‖W_unc − W_qer‖² (σ̄ = tr Σ / IC), which pulls the code
// back into range; the iterate kept is the one with the lowest output error + that penalty.
// λ = 0: straight-through everywhere, the iterate with the lowest output error is kept.
typedef struct { int steps; double lr; int log; double overflow_penalty; } qer_calib_opts;
int qer_calibrate(Model *m, const CalibSet *stats, const qer_calib_opts *o, qer_out_error *before,
                  qer_out_error *after, qp_status *st);
// Just the output errors of m's current adapters (no training).
int qer_output_error(const Model *m, const CalibSet *stats, qer_out_error *e, qp_status *st);
#endif
