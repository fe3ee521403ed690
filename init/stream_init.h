// init/stream_init.h — calibration and initialisation one decoder layer at a time (issue 12).
// The calibration samples' hidden states (rows × C floats) are kept between layers; for layer l
// its fp32 weights are read (from the checkpoint when the model holds no fp32 copy), its inputs'
// statistics (Σx², Σ|x|, Σxᵀx) are built by running that layer alone over every batch, its
// adapters and packed bases are computed (init_model_apply on a one-layer model), the statistics
// are handed to an optional callback (calibrate --out writes them as each layer finishes) and
// freed. Peak memory: one layer's fp32 weights and statistics plus the hidden states.
// The default is the paper's: every layer calibrated on the full-precision model's states.
// `sequential` (GPTQ-style) instead feeds layer l+1 the output of layer l as quantized and
// initialised. Tested by tests/test_scale.c (equal to calib_set_run_* + init_model_apply, bit
// for bit, for every method).
#ifndef QP_INIT_STREAM_INIT_H
#define QP_INIT_STREAM_INIT_H
#include <stdint.h>
#include "core/status.h"
#include "data/dataset.h"
#include "data/text.h"
#include "init/calibrate.h"
#include "init/init_model.h"
#include "model/model.h"

// The calibration as its list of batches, in the order calib_set_run_text/_examples use.
typedef struct {
    int n;                   // batches
    int *nb, *T;             // (n) rows and tokens of each
    int **ids, **lens;       // (n) ids (nb,T); lens (nb) or NULL (no padding)
    int64_t samples;
    int seq_len, include_padding;
    char source[80];
} CalibBatches;

int calib_batches_text(CalibBatches *cb, const text_stream *ts, int T, int64_t first, int64_t n, int batch, qp_status *st);
int calib_batches_examples(CalibBatches *cb, const ds_encoded *enc, int64_t n, uint64_t seed, int batch, int pad_id,
                           int include_padding, qp_status *st);
void calib_batches_free(CalibBatches *cb);
// The whole-model calibration over these batches (m full precision, as calib_set_run_text):
// model_forward and calib_set_add_forward per batch; records samples, seq_len, source.
int calib_set_run_batches(CalibSet *set, Model *m, const CalibBatches *cb, qp_status *st);

typedef struct {
    int sequential;          // 1: layer l+1 sees the quantized, initialised layers 0..l
    int with_xtx;            // collect Σxᵀx even when the method does not need it (calibrate --out)
    int skip_init;           // 1: statistics only (calibrate --out), no adapters
    // Called with layer l's complete statistics (a one-layer CalibSet) before they are freed.
    int (*on_layer)(void *ctx, int l, const CalibSet *layer, qp_status *st);
    void *ctx;
} StreamInitOptions;

// Initialise m layer by layer as above. m: adapters laid out (model_init), fp32 linears in m->w
// or, when absent (loaded with a WeightsPack), read from src. o as for init_model_apply
// (o->source is ignored). Returns 0 or -1 with st naming the layer.
int init_model_streamed(Model *m, WeightsSource *src, const InitModelOptions *o, const CalibBatches *cb,
                        const StreamInitOptions *so, InitModelReport *rep, qp_status *st);
#endif
