// init/calibrate.h — calibration of a whole model: run the full-precision model over N samples
// (consecutive T-token text windows, or a task's training examples, one padded example each)
// and accumulate, per layer, the input statistics of every adapted linear (init/calib.h).
// Tested by tests/test_calibrate.c (against tests/oracle_calib.py, an independent float64
// PyTorch computation, with right padding) and tests/test_init_cli.sh.
//
// Statistics are kept per DISTINCT INPUT, not per linear: q/k/v read the same x (ln1), gate/up
// read the same x (ln2), so a layer has four inputs (calib_input below) and the seven linears
// map onto them with calib_input_of. The statistics file (checkpoints/stats.h) has the same
// layout, each group naming the linears it feeds. This saves 3 of 7 Σxᵀx per layer, which is
// most of the memory: for a (C,C) Σxᵀx in float64 that is 8·C² bytes per input.
#ifndef QP_INIT_CALIBRATE_H
#define QP_INIT_CALIBRATE_H
#include <stdint.h>
#include "core/status.h"
#include "data/dataset.h"
#include "data/text.h"
#include "init/calib.h"
#include "model/model.h"

typedef enum {
    CALIB_IN_ATTN = 0,  // ln1 (B,T,C): input of q_proj, k_proj, v_proj
    CALIB_IN_O,         // atty (B,T,NH*HS): input of o_proj
    CALIB_IN_MLP,       // ln2 (B,T,C): input of gate_proj, up_proj
    CALIB_IN_DOWN,      // hmlp (B,T,H): input of down_proj
    CALIB_IN_COUNT
} calib_input;

extern const char *const calib_input_names[CALIB_IN_COUNT];  // "attn_in", "o_in", "mlp_in", "down_in"
extern const char *const calib_input_feeds[CALIB_IN_COUNT];  // "q_proj,k_proj,v_proj", ...
calib_input calib_input_of(lin_kind k);
int calib_input_dim(const ModelConfig *c, calib_input i);   // n of that input: C, NH*HS, C or H

// All statistics of one calibration, plus what the statistics file records about it.
typedef struct {
    int n_layers;
    int with_xtx;                 // Σxᵀx collected (qera-exact, layer errors)
    CalibStats **s;               // (L*CALIB_IN_COUNT) s[l*CALIB_IN_COUNT + i]
    char model_hash[17];          // weights_hash_hex of the model calibrated
    char data[1024];              // the text file or task data directory
    char source[80];              // "text" or "task:<name>"
    int64_t samples;              // windows / examples run
    int seq_len;                  // T of the windows, or the task's token limit
    int include_padding;          // 1: padded positions were counted too (not the default)
} CalibSet;

void calib_set_init(CalibSet *set, const ModelConfig *c, int with_xtx);
void calib_set_free(CalibSet *set);
void calib_set_reset(CalibSet *set);
// Statistics of the input of layer l, linear kind k.
const CalibStats *calib_set_get(const CalibSet *set, int l, lin_kind k);

// Add the inputs of every adapted linear saved by the last model_forward(m, ..., B, T): rows
// (b,t) with t < lens[b] (lens NULL: all rows), or every row when include_padding.
// valid is caller scratch of B*T bytes (no allocation here: it runs once per batch).
void calib_set_add_forward(CalibSet *set, const Model *m, const int *lens, int B, int T, int include_padding,
                           unsigned char *valid);

// Calibrate on text: windows first .. first+n-1 of T tokens (data/text.h), `batch` windows per
// forward. Fails when the stream has fewer windows. m must be full precision (no packed base,
// adapters zero); its activations are (re)allocated for (batch, T) if too small. Records
// source/samples/seq_len/model hash in set (data is left to the caller). Progress bar on a TTY.
int calib_set_run_text(CalibSet *set, Model *m, const text_stream *ts, int T, int64_t first, int64_t n, int batch,
                       qp_status *st);
// Calibrate on encoded examples: the first n (all if fewer) of a seeded shuffle (data/batch.h's
// epoch-0 order for `seed`), each right-padded to the longest of its batch with pad_id; padded
// positions excluded unless include_padding.
int calib_set_run_examples(CalibSet *set, Model *m, const ds_encoded *enc, int64_t n, uint64_t seed, int batch,
                           int pad_id, int include_padding, qp_status *st);

// Data parallel: the run functions below deal their batches out over the MPI ranks (batch j to
// rank j mod size) and end with calib_set_reduce, so every rank returns the statistics of all
// n samples, equal to a single process's up to float64 summation order. Under MPI they take an
// empty set (the closing sum would count earlier contents once per rank).
void calib_set_reduce(CalibSet *set);

// Does m compute the full-precision function (no packed base, every adapter B zero)?
int calib_model_is_full_precision(const Model *m);
#endif
