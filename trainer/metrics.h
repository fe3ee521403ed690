// trainer/metrics.h — GLUE evaluation metrics as fractions (accuracy, F1 of class 1, Matthews
// correlation, Pearson, Spearman with average ranks for ties) and each task's main metric.
// Tested by tests/test_metrics.c (hand-computed cases + a numpy oracle, tests/oracle_metrics.py).
#ifndef QP_TRAINER_METRICS_H
#define QP_TRAINER_METRICS_H
#include <stddef.h>

typedef enum { METRIC_ACCURACY = 0, METRIC_F1, METRIC_MCC, METRIC_PEARSON, METRIC_SPEARMAN, METRIC_COUNT } metric_kind;

// Classification metrics over n (prediction, gold) class indices. n == 0 gives 0.
double metric_accuracy(const int *pred, const int *gold, size_t n);
// Binary F1 of the positive class 1: 2TP / (2TP + FP + FN); 0 when there is no TP, FP or FN
// (sklearn's zero_division=0).
double metric_f1(const int *pred, const int *gold, size_t n);
// Matthews correlation, multiclass form (Gorodkin's R_K; the usual phi for two classes) over
// classes 0..n_classes-1; 0 when its denominator is 0 (sklearn's convention). Indices outside
// [0, n_classes) make the call return NAN (a caller bug made visible).
double metric_mcc(const int *pred, const int *gold, size_t n, int n_classes);
// Correlations of two real sequences (computed in double). NAN if n < 2 or a variance is 0.
double metric_pearson(const float *x, const float *y, size_t n);
double metric_spearman(const float *x, const float *y, size_t n);  // Pearson of average ranks

// The reported metric of a GLUE task: cola -> MCC, stsb -> Pearson, every other -> accuracy
// (also for unknown names, e.g. a generic TSV task).
metric_kind metric_main_for_task(const char *task);
const char *metric_name(metric_kind k);  // "accuracy", "f1", "mcc", "pearson", "spearman"
#endif
