// trainer/metrics.c — GLUE metrics (see metrics.h), all accumulated in double.
// Tested by tests/test_metrics.c.
#include "trainer/metrics.h"
#include "core/check.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

double metric_accuracy(const int *pred, const int *gold, size_t n) {
    if (n == 0) return 0.0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) ok += pred[i] == gold[i];
    return (double)ok / (double)n;
}

double metric_f1(const int *pred, const int *gold, size_t n) {
    size_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int p = pred[i] == 1, g = gold[i] == 1;
        tp += p && g;
        fp += p && !g;
        fn += !p && g;
    }
    if (tp + fp + fn == 0) return 0.0;
    return 2.0 * (double)tp / (double)(2 * tp + fp + fn);
}

// MCC from the confusion matrix C (K×K, rows gold, columns predicted):
//   mcc = (c·s − Σ_k p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²))
// with c = trace(C), s = n, p_k = column sums (predicted k), t_k = row sums (true k).
double metric_mcc(const int *pred, const int *gold, size_t n, int n_classes) {
    if (n_classes < 1) return NAN;
    double *p = xcalloc((size_t)n_classes, sizeof(double)), *t = xcalloc((size_t)n_classes, sizeof(double));
    double c = 0;
    for (size_t i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= n_classes || gold[i] < 0 || gold[i] >= n_classes) {
            free(p); free(t);
            return NAN;
        }
        p[pred[i]] += 1;
        t[gold[i]] += 1;
        c += pred[i] == gold[i];
    }
    double s = (double)n, pt = 0, pp = 0, tt = 0;
    for (int k = 0; k < n_classes; k++) { pt += p[k] * t[k]; pp += p[k] * p[k]; tt += t[k] * t[k]; }
    free(p); free(t);
    double den = (s * s - pp) * (s * s - tt);
    if (den <= 0) return 0.0;
    return (c * s - pt) / sqrt(den);
}

static double pearson_d(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
    mx /= (double)n; my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;  // centred sums: two passes avoid cancellation
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return NAN;
    return sxy / sqrt(sxx * syy);
}

double metric_pearson(const float *x, const float *y, size_t n) {
    double *a = xmalloc((n ? n : 1) * sizeof(double)), *b = xmalloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) { a[i] = x[i]; b[i] = y[i]; }
    double r = pearson_d(a, b, n);
    free(a); free(b);
    return r;
}

// glibc's qsort_r (the Makefile defines _GNU_SOURCE) passes the values without a global.
static int cmp_by_val(const void *a, const void *b, void *vals) {
    const float *v = vals;
    float x = v[*(const size_t *)a], y = v[*(const size_t *)b];
    return (x > y) - (x < y);
}

// 1-based ranks of v; a run of equal values gets the mean of the ranks it spans.
static void average_ranks(const float *v, size_t n, double *rank, size_t *idx) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, n, sizeof *idx, cmp_by_val, (void *)v);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
        double r = 0.5 * (double)(i + j) + 1.0;  // mean of ranks i+1 .. j+1
        for (size_t k = i; k <= j; k++) rank[idx[k]] = r;
        i = j + 1;
    }
}

double metric_spearman(const float *x, const float *y, size_t n) {
    if (n < 2) return NAN;
    double *rx = xmalloc(n * sizeof(double)), *ry = xmalloc(n * sizeof(double));
    size_t *idx = xmalloc(n * sizeof(size_t));
    average_ranks(x, n, rx, idx);
    average_ranks(y, n, ry, idx);
    double r = pearson_d(rx, ry, n);
    free(rx); free(ry); free(idx);
    return r;
}

metric_kind metric_main_for_task(const char *task) {
    if (task && strcasecmp(task, "cola") == 0) return METRIC_MCC;
    if (task && (strcasecmp(task, "stsb") == 0 || strcasecmp(task, "sts-b") == 0)) return METRIC_PEARSON;
    return METRIC_ACCURACY;
}

const char *metric_name(metric_kind k) {
    static const char *names[METRIC_COUNT] = {"accuracy", "f1", "mcc", "pearson", "spearman"};
    return k >= 0 && k < METRIC_COUNT ? names[k] : "?";
}
