// checkpoints/merge.h — merging adapters into the base (W' = W~ + s·B·A per adapted linear) and
// the measurements `qpeft merge` reports: re-quantization weight error and logits differences.
// Tested by tests/test_export.c (merged and re-loaded logits equal the unmerged model's; PEFT
// oracle tests/oracle_peft.py recomputes W' in float64 from the exported files).
#ifndef QP_CHECKPOINTS_MERGE_H
#define QP_CHECKPOINTS_MERGE_H
#include "checkpoints/export.h"
#include "core/status.h"
#include "model/model.h"

// Fresh fp32 weights (*out, config *cfg = m->cfg) holding m's merged model: every linear's base
// W~ (packed bases dequantized, fp32 ones copied) plus s·B·A where an adapter sits (la_sgemm,
// fp32 accumulate), all other tensors and the head copied. A full fine-tuning model is copied.
// In QER mode (m->adapter_quant == AQUANT_SAME) an adapted linear's slot is the weight its forward
// uses, W_qer (model/linear.h), so the merged fp32 model's logits are the checkpoint model's.
int merge_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st);
// Every adapted linear as its QER weight W_qer, whatever m's mode (the same as merge_weights in QER
// mode): the unmerged quantized-adapter model `merge --lossless` must reproduce. Needs every
// adapted linear over a packed MXINT base (qer_check_model).
int merge_qer_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st);
// The same without the adapters: the base W~ a PEFT user must load under the adapters.
int merge_base_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st);
// Overwrite w's linear slots with the dequantized packed tensors q[l*LIN_COUNT + k] that are
// non-NULL (e.g. `merge --lossless`'s merged MXINT bases, for an export of their exact values).
void merge_fill_packed(ModelWeights *w, const ModelConfig *cfg, QuantTensor *const *q);
// Does m have any packed (quantized) base?
int merge_has_packed_base(const Model *m);

// Round every float of w's allocation to dt and back (round-to-nearest-even): what a reader of an
// f16/bf16 export sees (f32: no-op). A Model keeps its head outside w.mem: round that separately.
void merge_round_weights(ModelWeights *w, export_dtype dt);

// Re-quantization error of m's packed bases against its own fp32 weights m->w (for a model built
// from merged weights W' and then model_quantize_base'd): rel = ‖W'−dq(q(W'))‖_F / ‖W'‖_F over all
// packed linears together, worst_rel the largest single-tensor value (and where).
typedef struct {
    double rel, worst_rel;
    int worst_layer, worst_kind;
    int n_tensors;
} merge_quant_error;
void merge_requant_error(const Model *m, merge_quant_error *e);

// Forward a and b on the same ids (B,T) without targets and compare their logits ((B,T,V) for LM
// heads, (B,NL) for sequence heads; both models must have the same head and activation arenas
// of at least (B,T)): max |Δ| and the mean of Δ².
void merge_logits_diff(Model *a, Model *b, const int *ids, int B, int T, double *max_abs, double *mse);
#endif
