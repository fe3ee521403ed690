// trainer/evaluate.c — see evaluate.h.
#include "trainer/evaluate.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/progress.h"
#include "data/batch.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eval_buffers_alloc(EvalBuffers *eb, int B, int T, size_t n_examples) {
    size_t bt = (size_t)B * (T + 1);
    eb->B = B; eb->T = T; eb->cap = n_examples;
    eb->ids = xmalloc(bt * sizeof(int));
    eb->inputs = xmalloc(bt * sizeof(int));
    eb->targets = xmalloc(bt * sizeof(int));
    eb->lens = xmalloc((size_t)B * sizeof(int));
    eb->labels = xmalloc((size_t)B * sizeof(int));
    eb->scores = xmalloc((size_t)B * sizeof(float));
    eb->pred = xmalloc((n_examples ? n_examples : 1) * sizeof(int));
    eb->pred_score = xmalloc((n_examples ? n_examples : 1) * sizeof(float));
    eb->gather = dist_size() > 1 ? xmalloc((n_examples ? n_examples : 1) * sizeof(double)) : NULL;
}

void eval_buffers_free(EvalBuffers *eb) {
    free(eb->ids); free(eb->inputs); free(eb->targets); free(eb->lens); free(eb->labels);
    free(eb->scores); free(eb->pred); free(eb->pred_score); free(eb->gather);
    memset(eb, 0, sizeof *eb);
}

// Split rows of T+1 tokens into inputs (first T) and targets (last T).
static void lm_rows(const int *rows, int nb, int T, int *inputs, int *targets) {
    for (int b = 0; b < nb; b++) {
        memcpy(inputs + (size_t)b * T, rows + (size_t)b * (T + 1), (size_t)T * sizeof(int));
        memcpy(targets + (size_t)b * T, rows + (size_t)b * (T + 1) + 1, (size_t)T * sizeof(int));
    }
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

// One batch: forward, loss (returned as a sum over scored units), predictions into eb.
static double eval_batch(Model *m, const TaskData *td, const ds_encoded *split, const int *idx, int nb,
                         EvalBuffers *eb, size_t *units) {
    if (td->head == HEAD_LM) {
        int T = td->seq_len;
        batch_fill(split, idx, nb, T + 1, 0, eb->ids, eb->lens, NULL, NULL);
        lm_rows(eb->ids, nb, T, eb->inputs, eb->targets);
        *units = (size_t)nb * T;
        return model_forward(m, eb->inputs, NULL, nb, T, eb->targets, NULL, NULL, 0) * nb * T;
    }
    int T = batch_fill(split, idx, nb, 0, 0, eb->ids, eb->lens, eb->labels, eb->scores);
    double loss = model_forward(m, eb->ids, eb->lens, nb, T, NULL, td->head == HEAD_CLASSIFY ? eb->labels : NULL,
                                td->head == HEAD_REGRESS ? eb->scores : NULL, 0);
    for (int b = 0; b < nb; b++) {
        const float *row = m->acts.logits + (size_t)b * td->n_labels;
        if (td->head == HEAD_CLASSIFY) eb->pred[idx[b]] = argmax(row, td->n_labels);
        else eb->pred_score[idx[b]] = row[0];
    }
    *units = (size_t)nb;
    return loss * nb;
}

static void fill_metrics(const TaskData *td, const ds_encoded *split, const EvalBuffers *eb, EvalResult *r) {
    size_t n = split->n;
    if (td->head == HEAD_LM) {
        r->perplexity = exp(r->loss);
        r->main = -r->loss;
        return;
    }
    if (td->head == HEAD_REGRESS) {
        r->has[METRIC_PEARSON] = r->has[METRIC_SPEARMAN] = 1;
        r->metric[METRIC_PEARSON] = metric_pearson(eb->pred_score, split->score, n);
        r->metric[METRIC_SPEARMAN] = metric_spearman(eb->pred_score, split->score, n);
    } else {
        r->has[METRIC_ACCURACY] = 1;
        r->metric[METRIC_ACCURACY] = metric_accuracy(eb->pred, split->label, n);
        if (td->main_metric == METRIC_F1 || !strcmp(td->name, "mrpc") || !strcmp(td->name, "qqp")) {
            r->has[METRIC_F1] = 1;
            r->metric[METRIC_F1] = metric_f1(eb->pred, split->label, n);
        }
        if (td->main_metric == METRIC_MCC) {
            r->has[METRIC_MCC] = 1;
            r->metric[METRIC_MCC] = metric_mcc(eb->pred, split->label, n, td->n_labels);
        }
    }
    r->main = r->metric[td->main_metric];
}

static const ds_encoded *g_by_len;  // qsort's context (evaluation is single-threaded here)
static int by_len(const void *a, const void *b) {
    int la = ds_encoded_len(g_by_len, (size_t)*(const int *)a), lb = ds_encoded_len(g_by_len, (size_t)*(const int *)b);
    if (la != lb) return la < lb ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

// Little work on padded positions (issue 12): a sequence-level split is scored in length order,
// B examples per batch, so each batch pads only to the longest of B neighbours in length (on
// SST-2 dev with B=4, counted in words: 0.4% of positions, against 30% in file order; batches of
// exactly one length would pad nothing but
// cost ~2.5x the batches, and a forward over a packed base costs one dequantization of every
// weight per batch whatever its size). Predictions land by example index, so order is
// invisible. LM windows all have the same length already and keep their order.
static int *eval_order(const TaskData *td, const ds_encoded *split) {
    int *order = xmalloc((split->n ? split->n : 1) * sizeof(int));
    for (size_t i = 0; i < split->n; i++) order[i] = (int)i;
    if (td->head != HEAD_LM) {
        g_by_len = split;
        qsort(order, split->n, sizeof(int), by_len);
    }
    return order;
}

// Data parallel: each example's prediction was made by one rank (mine: the examples this rank
// scored); the others hold zeros there in the gather buffer, so the sum over ranks is every
// prediction, exactly.
static void gather_predictions(const TaskData *td, size_t n, const int *mine, size_t n_mine, EvalBuffers *eb) {
    if (td->head == HEAD_LM || !eb->gather) return;
    const int cls = td->head == HEAD_CLASSIFY;
    memset(eb->gather, 0, n * sizeof *eb->gather);
    for (size_t j = 0; j < n_mine; j++) {
        size_t i = (size_t)mine[j];
        eb->gather[i] = cls ? (double)eb->pred[i] : (double)eb->pred_score[i];
    }
    dist_sum_double(eb->gather, n);
    for (size_t i = 0; i < n; i++) {
        if (cls) eb->pred[i] = (int)eb->gather[i];
        else eb->pred_score[i] = (float)eb->gather[i];
    }
}

void evaluate(Model *m, const TaskData *td, const ds_encoded *split, EvalBuffers *eb, int show_progress,
              EvalResult *r) {
    QP_ASSERT(split->n <= eb->cap);
    memset(r, 0, sizeof *r);
    size_t lo, hi;
    dist_share(split->n, dist_rank(), dist_size(), &lo, &hi);
    qp_progress pr;
    progress_start(&pr, "eval", (int64_t)(hi - lo));
    if (!show_progress) pr.tty = 0;
    // Each rank scores its share of the length order (dist_share: all of it in one process).
    int *order = eval_order(td, split);
    double sums[2] = {0, 0};  // loss summed over scored units, units
    for (size_t i0 = lo; i0 < hi;) {
        int nb = (int)(hi - i0 < (size_t)eb->B ? hi - i0 : (size_t)eb->B);
        size_t u;
        sums[0] += eval_batch(m, td, split, order + i0, nb, eb, &u);
        sums[1] += (double)u;
        i0 += (size_t)nb;
        progress_update(&pr, (int64_t)(i0 - lo));
    }
    progress_end(&pr);
    dist_sum_double(sums, 2);
    gather_predictions(td, split->n, order + lo, hi - lo, eb);
    free(order);
    r->n = split->n;
    r->loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
    fill_metrics(td, split, eb, r);
}

static void json_num(char *buf, size_t cap, size_t *n, const char *key, double v) {
    if (*n >= cap) return;
    if (isfinite(v)) *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\": %.6g", *n > 1 ? ", " : "", key, v);
    else *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\": null", *n > 1 ? ", " : "", key);
}

void eval_result_json(const EvalResult *r, const TaskData *td, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "{");
    json_num(buf, cap, &n, "loss", r->loss);
    if (td->head == HEAD_LM) json_num(buf, cap, &n, "perplexity", r->perplexity);
    for (int k = 0; k < METRIC_COUNT; k++)
        if (r->has[k]) json_num(buf, cap, &n, metric_name((metric_kind)k), r->metric[k]);
    if (n < cap) snprintf(buf + n, cap - n, "}");
}
