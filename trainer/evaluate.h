// trainer/evaluate.h — score a model on an encoded split: mean loss, and the GLUE metrics of
// the task (accuracy always for classification; F1 for MRPC/QQP; MCC for CoLA; Pearson and
// Spearman for regression; perplexity for text). Tested by tests/test_train.sh and
// tests/test_metrics.c (the metric functions).
#ifndef QP_TRAINER_EVALUATE_H
#define QP_TRAINER_EVALUATE_H
#include "trainer/task.h"

typedef struct {
    size_t n;                   // examples scored
    double loss;                // mean loss (per token for LM, per example otherwise)
    int has[METRIC_COUNT];
    double metric[METRIC_COUNT];
    double perplexity;          // LM only
    double main;                // the task's main metric (higher is better; LM: -loss)
} EvalResult;

// Batch buffers for evaluation, allocated once (B rows of at most T tokens).
typedef struct {
    int B, T;
    int *ids, *lens, *labels, *targets, *inputs, *pred;
    float *scores, *pred_score;
    size_t cap;                 // examples the prediction arrays hold
    double *gather;             // (cap) predictions of every rank, summed (data parallel)
} EvalBuffers;

void eval_buffers_alloc(EvalBuffers *eb, int B, int T, size_t n_examples);
void eval_buffers_free(EvalBuffers *eb);

// Evaluate m (whose arena must hold (eb->B, eb->T)) on split. Predictions per example land in
// eb->pred (class) / eb->pred_score (regression). show_progress: bar on a TTY. Under mpirun the
// examples are dealt out in contiguous shares, and the loss sums and predictions are summed over
// the ranks, so every rank returns the whole split's result.
void evaluate(Model *m, const TaskData *td, const ds_encoded *split, EvalBuffers *eb, int show_progress,
              EvalResult *out);
// Write the result as a JSON object {"loss":..., "accuracy":..., ...} into buf.
void eval_result_json(const EvalResult *r, const TaskData *td, char *buf, size_t cap);
#endif
