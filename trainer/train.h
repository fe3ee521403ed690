// trainer/train.h — the training loop: batches -> forward/backward (gradient accumulation) ->
// non-finite check -> global-norm clipping -> AdamW with the schedule's learning rate ->
// logging, evaluation, best/last/step checkpoints, exact resume. Everything is allocated
// before the first step. Tested by tests/test_train.sh (loss decreases, resume bit for bit,
// NaN stop keeps the last checkpoint, outputs and log format).
#ifndef QP_TRAINER_TRAIN_H
#define QP_TRAINER_TRAIN_H
#include <stdint.h>
#include "checkpoints/checkpoint.h"
#include "model/model.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "trainer/task.h"

typedef struct {
    const char *out_dir;
    const char *resume;        // checkpoint to continue from, or NULL
    const char *mode;          // "full" | "lora" | "qpeft"
    const char *init;          // adapter init method name ("none" in full mode)
    const char *model_hash;    // base weights' hash (hex)
    const char *command_line;
    const char *config_json;   // every resolved setting as one JSON object (written to config.json)
    int batch, grad_accum, epochs, max_steps, log_every, eval_every, save_every, eval_batch;
    int evals;  // > 0 and eval_every 0: that many evaluations spread evenly over the run
    int bucket;                // length bucketing factor (0 = off)
    double lr, clip;
    double dropout;            // adapter dropout probability (masks keyed per example: model.h)
    adamw_hparams adam;
    sched_kind schedule;
    int warmup_steps;
    double warmup_ratio;
    uint64_t seed;
    int save_base;             // store the packed base in checkpoints (init changed W~)
} TrainConfig;

// Train m on td. Returns 0; dies with one line on a fatal error (the last good checkpoint
// stays). Writes out_dir/{config.json, log.jsonl, last.h5, best.h5, step-N.h5}.
int train_run(const TrainConfig *tc, Model *m, const TaskData *td);
#endif
