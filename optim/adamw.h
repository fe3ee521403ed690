// optim/adamw.h — AdamW over one flat float block (params, grads, m, v mirror each other),
// PyTorch torch.optim.AdamW semantics. Tested by tests/test_optim.c against tests/oracle_optim.py.
#ifndef QP_OPTIM_ADAMW_H
#define QP_OPTIM_ADAMW_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

// Hyper-parameters; adamw_defaults() gives PyTorch's AdamW defaults (betas 0.9/0.999, eps 1e-8,
// weight_decay 0.01). The learning rate is not one of them: each adamw_step takes the step's lr
// (the base lr times the schedule, optim/schedule.h).
typedef struct {
    double beta1, beta2;
    double eps;
    double weight_decay;  // decoupled: p -= lr*wd*p, applied before the Adam update
} adamw_hparams;

// One range of the flat block and whether weight decay applies to it. Elements that no range
// covers get decay (PyTorch decays every parameter of a group with weight_decay > 0); the
// caller lists the ranges that must NOT be decayed (norms, biases, ...), or any mix.
typedef struct {
    size_t offset, len;
    int decay;  // 1 = decay, 0 = no decay
} adamw_range;

// A maximal run of elements with one decay setting; the segments tile [0, n) in order.
typedef struct {
    size_t offset, len;
    int decay;
} adamw_segment;

// Optimizer state: what a checkpoint saves is t, m and v (and the hparams).
typedef struct {
    size_t n;             // number of trainable floats
    adamw_hparams hp;
    int64_t t;            // optimizer steps taken so far (PyTorch's state['step'])
    float *m, *v;         // first/second moments, n each, owned (zeroed by adamw_init)
    adamw_segment *seg;   // decay segments tiling [0, n), owned
    size_t n_seg;
} adamw_state;

adamw_hparams adamw_defaults(void);
// Allocate m, v (zeroed) and a single decay segment covering everything; t = 0. Dies on OOM.
void adamw_init(adamw_state *s, size_t n, adamw_hparams hp);
void adamw_free(adamw_state *s);
// Install a decay mask. Ranges must lie inside [0, n) and must not overlap (any order);
// uncovered elements decay. Returns 0, or -1 with st naming the bad range.
int adamw_set_decay_ranges(adamw_state *s, const adamw_range *r, size_t count, qp_status *st);
// Number of elements that receive weight decay (for the start-up summary).
size_t adamw_decayed_count(const adamw_state *s);

// One AdamW step with learning rate lr (= base lr * schedule factor; the caller computes it so
// the schedule stays separate). Increments t first, then for every element i:
//   p -= lr*wd_i*p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// Arithmetic per element is in double, state is stored as float. Elementwise and OpenMP-parallel
// over elements, so the result does not depend on the thread count.
void adamw_step(adamw_state *s, float *params, const float *grads, double lr);
#endif
