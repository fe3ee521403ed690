// init/init_model.h — initialise a whole Model: init_adapter (init/adapter_init.h) on every
// adapted linear, A/B written into the model's trainable block, and the packed frozen base
// m->qbase set to the W~ the initialiser used. Tested by tests/test_calibrate.c (s·BA + W~ at
// the model level, rank 0 = plain quantized model, packed base == initialiser's W~ bit for bit)
// and tests/test_init_cli.sh.
//
// The packed base IS the initialiser's W~. The fake quantizer handed to init_adapter quantizes
// into a packed QuantTensor and dequantizes it; the tensor of the initialiser's last call (the
// one whose result it returns as W~) becomes m->qbase[i]. So dq(qbase) == W~ bit for bit by
// construction, for every format, whether or not q(dq(q(x))) == q(x) holds for the format
// (tests/test_calibrate.c measures that idempotence separately). It is checked after each linear.
//
// Random draws (qlora) use the same generator and order as trainer/train_setup.c's
// setup_init_lora, so a qlora init equals the trainer's LoRA init for the same seed.
#ifndef QP_INIT_INIT_MODEL_H
#define QP_INIT_INIT_MODEL_H
#include <stdint.h>
#include "core/status.h"
#include "init/adapter_init.h"
#include "init/calibrate.h"
#include "model/model.h"
#include "quant/quant.h"

// The plain quantization q(W), dq(q(W)) of every selected linear of a model in one format:
// computed once and shared by every initialiser whose W~ is dq(q(W)) (qlora, zeroquant-v2,
// lqer, qera-*, loftq with one iteration, rank 0).
typedef struct {
    quant_format fmt;
    unsigned quant_mask;     // kinds quantized (same in every layer)
    int n;                   // L*LIN_COUNT
    QuantTensor **q;         // (n) packed, NULL outside quant_mask
    float **wq;              // (n) dequantized (OC,IC), NULL outside quant_mask
    double bits_per_weight;  // stored bits / weights over the packed tensors
    double seconds;
} InitQuantCache;

void init_quant_cache_build(InitQuantCache *qc, const Model *m, const quant_format *fmt, unsigned quant_mask);
void init_quant_cache_free(InitQuantCache *qc);

typedef struct {
    init_method method;
    quant_format fmt;        // base format (kind QUANT_F32: no packed base, W~ = W)
    unsigned quant_mask;     // kinds that get a packed base (default all seven)
    int loftq_iters;         // default 5
    int srr_keep;            // -1 automatic (adapter_init.h)
    double eig_floor;        // 0: INIT_EIG_FLOOR_DEFAULT
    init_exact_route exact_route; // qera-exact: Cholesky (default) or eigen (adapter_init.h)
    uint64_t seed;           // qlora's A
    const InitQuantCache *plain;  // optional cache of the same format and mask (NULL: quantize here)
    int log_layers;          // 1: one qp_info line per layer with its time
    WeightsSource *source;   // where W is read, one linear at a time, when m has no fp32 copy of it
                             // (loaded with packed bases, model/weights.h); NULL: m->w
} InitModelOptions;

void init_model_options_default(InitModelOptions *o, init_method method, const quant_format *fmt);

typedef struct {
    double seconds;                          // whole model
    double layer_seconds[MODEL_MAX_LAYERS];
    int base_changed;                        // some W~ differs from dq(q(W)) (loftq ≥ 2 iterations, srr)
    double bits_per_weight;                  // of the packed bases (0 when none)
    int srr_keep_min, srr_keep_max;          // srr: range of the k' chosen (-1 otherwise)
} InitModelReport;

// Initialise m (fp32 weights in m->w; rank, alpha and targets from model_init). For every layer
// and kind: a kind in quant_mask gets m->qbase = the initialiser's packed W~ (old entries are
// freed); an adapted kind gets A, B from init_adapter with scale alpha/rank; a kind outside
// quant_mask keeps its fp32 base (its quantizer is the identity, so error-fitting methods give
// a zero correction there). stats is needed by lqer/qera-*/srr when rank > 0 (with Σxᵀx for
// qera-exact). Returns 0 or -1 with st naming the layer and linear; on failure m's adapters and
// bases may be partly written.
int init_model_apply(Model *m, const InitModelOptions *o, const CalibSet *stats, InitModelReport *rep,
                     qp_status *st);
#endif
