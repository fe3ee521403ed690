// optim/schedule.h — learning-rate multipliers as in Hugging Face transformers' schedules
// (constant/linear/cosine with linear warm-up). Tested by tests/test_optim.c against torch LambdaLR.
#ifndef QP_OPTIM_SCHEDULE_H
#define QP_OPTIM_SCHEDULE_H
#include <stdint.h>
#include "core/status.h"

typedef enum {
    SCHED_CONSTANT,  // HF get_constant_schedule_with_warmup
    SCHED_LINEAR,    // HF get_linear_schedule_with_warmup (decays to 0 at total_steps)
    SCHED_COSINE,    // HF get_cosine_schedule_with_warmup, num_cycles = 0.5 (half a cosine to 0)
    SCHED_COUNT
} sched_kind;

typedef struct {
    sched_kind kind;
    int64_t total_steps;   // number of optimizer steps of the run (HF num_training_steps)
    int64_t warmup_steps;  // HF num_warmup_steps
    double num_cycles;     // cosine only; 0.5 as in HF's default
} sched_config;

// Warm-up as a step count (warmup_steps > 0 wins) or else as a ratio of total_steps,
// resolved like HF TrainingArguments.get_warmup_steps: ceil(total_steps * warmup_ratio).
// Fails on total_steps < 1, negative warm-up, ratio outside [0, 1] or warm-up > total_steps.
int sched_init(sched_config *s, sched_kind kind, int64_t total_steps, int64_t warmup_steps, double warmup_ratio,
               qp_status *st);
// "constant" (or HF's "constant_with_warmup"), "linear", "cosine".
int sched_parse_kind(const char *name, sched_kind *out, qp_status *st);
const char *sched_kind_name(sched_kind k);

// The multiplier lambda(step) of HF's lr_lambda; the learning rate is base_lr * lambda(step).
// STEP INDEXING: torch's LambdaLR sets lr = base*lambda(0) at construction and lambda(k) after
// the k-th scheduler.step(), and HF's Trainer calls scheduler.step() after each optimizer step.
// So the optimizer step that takes the state from t to t+1 (adamw_state.t == t before the call,
// t = 0 for the very first step) uses sched_lambda(t). Pass the number of optimizer steps already
// taken, NOT the 1-based step number. With warm-up the first step therefore has lr 0 (as in HF).
//   warm-up (step < W): step / max(1, W)
//   constant: 1
//   linear:   max(0, (total - step) / max(1, total - W))
//   cosine:   max(0, 0.5 * (1 + cos(pi * num_cycles * 2 * progress))),
//             progress = (step - W) / max(1, total - W)   (not clamped, exactly as HF)
double sched_lambda(const sched_config *s, int64_t step);
#endif
