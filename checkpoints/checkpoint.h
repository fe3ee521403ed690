// checkpoints/checkpoint.h — the trainer's checkpoint file: one HDF5 file per checkpoint with the
// adapters (or all weights), head, AdamW state, run state and, optionally, the initialiser's
// packed base W~; layout in docs/formats.md. Tested by tests/test_checkpoint.c (+ h5py oracle
// tests/oracle_checkpoint.py): bit-exact round trip, every refusal, truncation, fault injection.
//
// Writes are atomic (checkpoints/h5.h): the final name always holds a whole checkpoint, the old
// one until the rename, the new one after. Reads go only through the strict qh5_* readers, and
// ckpt_load refuses any file that does not fit the Model it is loading into, with one line naming
// the file and what differs. A failed ckpt_load leaves the Model untouched.
#ifndef QP_CHECKPOINTS_CHECKPOINT_H
#define QP_CHECKPOINTS_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "model/config.h"
#include "model/model.h"

// The program's version, as checkpoints record it (root attribute qpeft_version).
#define QPEFT_VERSION "0.1.0"

enum {
    CKPT_FORMAT_VERSION = 1,
    CKPT_STR = 128,           // capacity of the short string fields (incl. NUL)
    CKPT_MAX_STATE = 16,      // named int64 run-state vectors (rng, data position, ...)
    CKPT_STATE_MAX_LEN = 8,   // values per state vector
    CKPT_MAX_EXTRA = 8,       // free-form string attributes
    CKPT_EXTRA_VALUE = 4096,  // capacity of one free-form value (incl. NUL)
};

// One named vector of int64 run state, stored as dataset state/<name> (len) int64. uint64
// values (RNG words) are stored bit for bit as int64.
typedef struct {
    char name[32];
    int len;
    int64_t v[CKPT_STATE_MAX_LEN];
} ckpt_state_var;

// A free-form string attribute of the root group (label names joined by tabs, command line...).
typedef struct {
    char key[64];
    char value[CKPT_EXTRA_VALUE];
} ckpt_extra;

// Everything a checkpoint says beyond the tensors. On ckpt_save the caller fills the
// "caller" fields; the "model" fields are ignored there (they are written from the Model) and
// are filled by ckpt_read_meta / ckpt_load so a caller can build a matching Model first.
typedef struct {
    // caller
    char qpeft_version[CKPT_STR];
    char model_hash[17];       // weights_hash_hex of the BASE weights (before any initialiser)
    char mode[16];             // "full" | "lora" | "qpeft"
    char init[CKPT_STR];       // adapter init method ("lora", "loftq", "qera-exact", ..., "none")
    char task[CKPT_STR];       // e.g. "sst2", "lm"
    int64_t step, epoch, seed;
    // Training facts a later verb needs (written when has_* is set; on read, has_* says whether
    // the file holds them: files from before they were recorded do not).
    int has_dropout;
    double dropout;            // adapter dropout the run trained with (merge's PEFT lora_dropout)
    int has_best;
    double best_metric;        // main metric of the best evaluation so far (-inf: none yet)
    int64_t best_step;         // its step (-1: none yet)
    int n_state;
    ckpt_state_var state[CKPT_MAX_STATE];
    int n_extra;
    ckpt_extra extra[CKPT_MAX_EXTRA];
    // model (written from the Model; filled on read)
    int format_version;
    int rank;
    float alpha;
    unsigned target_mask;      // bit k: lin_kind k carries an adapter
    head_kind head;
    train_kind train;
    adapter_quant_kind adapter_quant; // root attribute adapter_quant: "none" | "same" (absent: none)
    compute_kind compute;      // root attribute compute: "f32" | "bf16" the run trained with (absent: f32)
    unsigned quant_mask;       // bit k: lin_kind k has a packed base (in every layer)
    quant_format quant;        // format of the packed bases (kind QUANT_F32 when none or mixed)
    int quant_mixed;           // root attribute quant "mixed": the packed bases differ in format (a
                               // GGUF base such as Q4_K_M); each packed tensor carries its own
    double bits_per_weight;    // stored bits / weights over the packed bases (0 when none)
    int64_t n_params;          // floats in the trainable block
    int has_optimizer;         // optimizer/m, v present
    int has_base;              // base/... packed W~ present
    int64_t opt_t;             // optimizer step count (attribute t of optimizer/)
} ckpt_meta;

// Set / get a run-state vector by name (n <= CKPT_STATE_MAX_LEN). set replaces an existing
// entry; get returns 0 and copies exactly n values, or -1 if the name is absent or its length
// is not n.
int ckpt_state_set(ckpt_meta *meta, const char *name, const int64_t *v, int n, qp_status *st);
int ckpt_state_get(const ckpt_meta *meta, const char *name, int64_t *v, int n);
// Set / get a free-form string attribute (keys must not clash with the reserved root names).
int ckpt_extra_set(ckpt_meta *meta, const char *key, const char *value, qp_status *st);
const char *ckpt_extra_get(const ckpt_meta *meta, const char *key);  // NULL if absent

// Write a checkpoint of m to `path` atomically. opt_m, opt_v (n_params, trainable-block order)
// may both be NULL (no optimizer state). save_base: also store every packed base (needed when
// an initialiser such as LoftQ changed W~, so training, eval and merge see the same base).
int ckpt_save(const char *path, const Model *m, const ckpt_meta *meta, const float *opt_m, const float *opt_v,
              int64_t opt_t, int save_base, qp_status *st);

// Read only the metadata and the model config (cheap; no tensors), so the caller can build a
// matching Model before ckpt_load.
int ckpt_read_meta(const char *path, ckpt_meta *meta, ModelConfig *cfg, qp_status *st);

// Load a checkpoint into m after validating it against m: format version, model hash (when
// expected_hash is non-NULL), config, training mode, adapter quantization, rank, alpha, target
// set, head, quantized set and format, n_params and every shape. Replaces m's trainable values and, when the file
// has them, its packed bases. opt_m/opt_v (n_params) may be NULL to skip the optimizer state;
// if given, the file must have it. On failure m is untouched (opt_m/opt_v may be partly written).
int ckpt_load(const char *path, Model *m, const char *expected_hash, ckpt_meta *meta, float *opt_m, float *opt_v,
              int64_t *opt_t, qp_status *st);

// "lm" | "classify" | "regress", and the inverse (-1 if unknown).
const char *ckpt_head_name(head_kind h);
int ckpt_head_parse(const char *s);
// target mask <-> "q_proj,v_proj" (lin_names order); parse returns -1 on an unknown name.
void ckpt_mask_to_names(unsigned mask, char *buf, size_t cap);
int ckpt_mask_from_names(const char *s, unsigned *mask);
#endif
