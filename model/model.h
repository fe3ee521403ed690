// model/model.h — the Llama model as explicit layer-by-layer forward/backward calls (llm.c's
// gpt2_forward style): frozen base (fp32 or packed), adapters and head in one trainable block,
// activations in one arena sized from (config, B, T, rank) at start-up.
// Tested by tests/test_model.c (PyTorch float64 oracle, finite differences) and the golden runs.
#ifndef QP_MODEL_MODEL_H
#define QP_MODEL_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "model/config.h"
#include "model/linear.h"
#include "model/weights.h"
#include "quant/quant.h"

// The seven adapted linears of a layer, in this fixed order everywhere (checkpoints, CSV, docs).
typedef enum { LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_UP, LIN_DOWN, LIN_COUNT } lin_kind;
extern const char *const lin_names[LIN_COUNT];  // "q_proj", ..., "down_proj" (HF names)

typedef enum { HEAD_LM = 0, HEAD_CLASSIFY, HEAD_REGRESS } head_kind;
typedef enum { TRAIN_NONE = 0, TRAIN_FULL, TRAIN_ADAPTERS } train_kind;
// How the adapters enter the forward: fp32 (W~ + s·B·A) or, AQUANT_SAME, quantized in the packed
// MXINT base's own format and merged on its grid (QER, model/linear.h). Names "none", "same".
typedef enum { AQUANT_NONE = 0, AQUANT_SAME, AQUANT_COUNT } adapter_quant_kind;
extern const char *const adapter_quant_names[AQUANT_COUNT];
// The kind named s ("none", "same"), or -1 for any other string.
int adapter_quant_parse(const char *s);

// Activations kept for backward; leading L dimension as llm.c. Sizes in model_acts_floats.
typedef struct {
    float *x;        // (L+1, B, T, C) residual stream entering each layer; x[L] leaves the last
    float *ln1;      // (L, B, T, C)
    float *ln1_rstd; // (L, B, T)
    float *q;        // (L, B, T, NH*HS) after RoPE
    float *k;        // (L, B, T, NKV*HS) after RoPE
    float *v;        // (L, B, T, NKV*HS)
    float *att;      // (L, B, NH, T, T) softmax probabilities
    float *atty;     // (L, B, T, NH*HS) attention output, input of o_proj
    float *xmid;     // (L, B, T, C) residual after attention
    float *ln2;      // (L, B, T, C)
    float *ln2_rstd; // (L, B, T)
    float *gate;     // (L, B, T, H)
    float *up;       // (L, B, T, H)
    float *hmlp;     // (L, B, T, H) silu(gate)*up, input of down_proj
    float *xa;       // (L, LIN_COUNT, B, T, R) adapter intermediates
    float *lnf;      // (B, T, C)
    float *lnf_rstd; // (B, T)
    float *logits;   // (B, T, V) for the LM head; (B, NL) for classify/regress. After a forward
                     // WITH targets/labels it holds softmax probabilities (fused cross-entropy).
    float *losses;   // (B, T) per-position losses of the last forward
    // one-layer gradient scratch for backward (reused across layers)
    float *dx, *dln, *dq, *dk, *dv, *datt, *datty, *dh, *dgate, *dup, *dlogits_head;
    float *lin_scratch;  // linear_forward/backward scratch
    size_t att_scratch_floats; // datt's size (attention_scratch_floats)
    float *drop;         // one dropout mask (B, T, max(C,H))
    float *rope_cos, *rope_sin; // (T, HS/2)
    float *mem; size_t n_floats;
} ModelActs;

typedef struct {
    ModelConfig cfg;
    ModelWeights w;              // fp32 weights; base of every linear unless packed below
    QuantTensor **qbase;         // (L*LIN_COUNT) packed frozen bases, NULL entries = fp32
    int rank;                    // R (0 = no adapters)
    float alpha;                 // scale s = alpha/R
    unsigned target_mask;        // bit i set: lin_kind i carries an adapter
    head_kind head;
    train_kind train;
    adapter_quant_kind adapter_quant; // AQUANT_SAME: every adapted linear runs in QER mode
    // Trainable block: adapters (per layer, per target: A (R,IC) then B (OC,R)) then the
    // score head (n_labels, C) when present; in full fine-tuning it is the weights' own block.
    float *params, *grads; size_t n_params;
    float *A[64 * LIN_COUNT], *B[64 * LIN_COUNT];    // pointer table into params (NULL if untargeted)
    float *dA[64 * LIN_COUNT], *dB[64 * LIN_COUNT];  // mirror into grads
    ModelWeights gw;             // full fine-tuning: gradient pointers mirroring w; else zeros
    float *dscore;               // gradient of the head (n_labels, C), or NULL
    float dropout;               // adapter dropout probability (training only)
    uint64_t dropout_seed;       // key of the counter-based dropout masks
    uint64_t step;               // training step (part of the dropout key)
    int drop_row0;               // global batch row of this process's row 0 (data-parallel share;
                                 // part of the dropout key, so a row's mask is the same on any rank)
    int drop_T;                  // T of the current forward/backward (rows of the mask)
    int max_B, max_T;            // arena shape
    int *full_lens;              // (max_B) all T: the pooled position when a forward gets lens == NULL
    int rope_llama2c;            // 1: RoPE table computed as llama2.c run.c does (fp32 powf/cosf), for golden runs
    ModelActs acts;
} Model;

#define MODEL_MAX_LAYERS 64

// Set up from loaded weights (takes ownership of w). rank 0 = no adapters.
int model_init(Model *m, const ModelConfig *cfg, ModelWeights *w, int rank, float alpha, unsigned target_mask,
               head_kind head, train_kind train, qp_status *st);
// Quantize the selected linears' bases (target bits of `quant_mask`) into packed tensors.
void model_quantize_base(Model *m, const quant_format *fmt, unsigned quant_mask);
// Allocate the activation arena for batches up to (B, T); prints its size with qp_info.
void model_alloc_acts(Model *m, int B, int T);
void model_free(Model *m);
// The Linear descriptor of layer l, kind k (base + adapter + grads per the training mode).
Linear model_linear(const Model *m, int l, int k);

// Forward pass. ids (B,T) right-padded; lens (B) real lengths (NULL = all T).
// LM: targets (B,T) with -1 = ignore (NULL = logits only). classify: labels (B) int.
// regress: scores (B) float. Returns the mean loss (0 when no targets given).
// `training` enables adapter dropout. Logits land in acts.logits.
double model_forward(Model *m, const int *ids, const int *lens, int B, int T, const int *targets,
                     const int *labels, const float *scores, int training);
// Backward of the last forward (same arguments); accumulates into grads (caller zeroes).
void model_backward(Model *m, const int *ids, const int *lens, int B, int T, const int *targets,
                    const int *labels, const float *scores, int training);
void model_zero_grad(Model *m);
// Number of parameters (all, and trainable).
size_t model_param_count(const Model *m);
#endif
