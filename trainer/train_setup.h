// trainer/train_setup.h — turn the model/mode/quantization/adapter/task flags shared by
// `train`, `eval` and `compare` into a ready Model and TaskData: base loaded and hashed, task
// head added, base quantized (qpeft mode), adapters initialised by the chosen method.
// Tested by tests/test_train.sh.
#ifndef QP_TRAINER_TRAIN_SETUP_H
#define QP_TRAINER_TRAIN_SETUP_H
#include <stdint.h>
#include "data/tokenizer.h"
#include "model/model.h"
#include "trainer/task.h"

typedef struct {
    const char *model, *tokenizer;
    const char *mode;        // NULL: "qpeft" when format is given, else "lora"
    const char *format;      // NULL: no quantization
    int block, double_quant;
    int rank;
    double alpha;            // 0: 2*rank
    const char *targets;     // comma list of lin_names
    const char *init;        // method name (qpeft mode)
    int loftq_iters;
    const char *calib_text, *calib_stats;
    uint64_t seed;
    int for_training;
    const TaskSpec *task;
} SetupRequest;

typedef struct {
    Model model;
    TaskData task;
    Tokenizer *tok;
    char model_hash[17];
    const char *mode_name;   // "full" | "lora" | "qpeft"
    const char *init_name;   // "none" (full), "lora" (fp32 base), or the qpeft method
    char format_name[32];    // "" when the base is fp32
    double bits_per_weight;  // of the packed bases (0 when fp32)
    int base_changed;        // the initialiser changed W~ (LoftQ, SRR): checkpoints carry the base
    struct WeightsSource *source; // open while the frozen linears were packed at load (no fp32 copy):
                                  // the initialiser reads each W from it; closed after set-up
} Setup;

// Dies with one line on any bad flag or file.
void setup_build(const SetupRequest *rq, Setup *su);
void setup_free(Setup *su);
// qpeft mode's base and adapters on an already initialised su->model (rank, alpha, targets set):
// quantize rq->format and run rq->init (calibrating on rq->calib_text, rq->calib_stats or the
// task's training split when the method needs statistics). Uses su->tok, su->model_hash and
// su->task.train; fills format_name, bits_per_weight, base_changed and init_name.
void setup_init_adapters(const SetupRequest *rq, Setup *su);
// Kaiming-uniform A (bound 1/sqrt(IC), PEFT's LoRA default) and B = 0 for every adapter.
void setup_init_lora(Model *m, uint64_t seed);
#endif
