// trainer/task.c — see task.h.
#include "trainer/task.h"
#include "core/check.h"
#include "data/glue.h"
#include "data/text.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char **copy_label_names(const ds_dataset *ds) {
    if (ds->kind != DS_CLASSIFY) return NULL;
    char **names = xcalloc((size_t)ds->n_classes, sizeof(char *));
    for (int i = 0; i < ds->n_classes; i++) names[i] = xstrdup(ds->label_names[i]);
    return names;
}

// The dev split must use the train split's label ids; a generic table that sorts its own
// distinct labels could disagree, so check the names match.
static int check_same_labels(const ds_dataset *tr, const ds_dataset *dv, qp_status *st) {
    if (tr->kind != dv->kind) return qp_fail(st, "%s: task kind differs from %s", dv->path, tr->path);
    if (tr->kind != DS_CLASSIFY) return 0;
    if (dv->n_classes > tr->n_classes) goto differ;
    for (int i = 0; i < dv->n_classes; i++)
        if (strcmp(dv->label_names[i], tr->label_names[i])) goto differ;
    return 0;
differ:
    return qp_fail(st, "%s: its labels differ from the training file %s's (%d vs %d classes); use the same label set",
                   dv->path, tr->path, dv->n_classes, tr->n_classes);
}

static int load_tables(TaskData *td, const TaskSpec *sp, const Tokenizer *tok, qp_status *st) {
    ds_dataset tr = {0}, dv = {0};
    ds_bad_rows pol = sp->skip_bad_rows ? DS_BAD_ROWS_SKIP : DS_BAD_ROWS_FAIL;
    int rc;
    if (sp->task) {
        const glue_task *g = glue_task_find(sp->task);
        if (!g) return qp_fail(st, "--task %s: unknown (cola, sst2, mrpc, rte, stsb, wnli, qnli, mnli, qqp)", sp->task);
        snprintf(td->name, sizeof td->name, "%s", g->name);
        rc = glue_load(&tr, sp->data_dir, g->name, "train", pol, st);
        if (rc == 0) rc = glue_load(&dv, sp->data_dir, g->name, g->dev_split, pol, st);
    } else {
        snprintf(td->name, sizeof td->name, "tsv");
        if (!sp->text_cols || !sp->label_col) return qp_fail(st, "--tsv needs --text-cols and --label-col");
        char cols[256];
        snprintf(cols, sizeof cols, "%s", sp->text_cols);
        char *c2 = strchr(cols, ',');
        if (c2) *c2++ = 0;
        ds_kind kind = sp->regression ? DS_REGRESS : DS_CLASSIFY;
        rc = ds_load_generic(&tr, sp->tsv, -1, cols, c2, sp->label_col, kind, pol, st);
        if (rc == 0 && !sp->dev) rc = qp_fail(st, "--tsv needs --dev FILE (the evaluation split)");
        if (rc == 0) rc = ds_load_generic(&dv, sp->dev, -1, cols, c2, sp->label_col, kind, pol, st);
        if (rc == 0) rc = check_same_labels(&tr, &dv, st);
    }
    if (rc == 0) rc = ds_encode(&td->train, &tr, tok, sp->max_len, st);
    if (rc == 0) rc = ds_encode(&td->dev, &dv, tok, sp->max_len, st);
    if (rc == 0) {
        td->head = tr.kind == DS_REGRESS ? HEAD_REGRESS : HEAD_CLASSIFY;
        td->n_labels = tr.kind == DS_REGRESS ? 1 : tr.n_classes;
        td->label_names = copy_label_names(&tr);
        td->main_metric = tr.kind == DS_REGRESS && !sp->task ? METRIC_PEARSON : metric_main_for_task(td->name);
        td->seq_len = sp->max_len;
        td->n_skipped = tr.n_skipped + dv.n_skipped;
        if (tr.n_skipped) qp_warn("%s: skipped %zu malformed rows (first: %s)", tr.path, tr.n_skipped, tr.first_skip);
        if (dv.n_skipped) qp_warn("%s: skipped %zu malformed rows (first: %s)", dv.path, dv.n_skipped, dv.first_skip);
    }
    ds_free(&tr);
    ds_free(&dv);
    return rc;
}

// Windows [w0, w1) of a text stream as examples of T+1 tokens.
static void windows_to_examples(ds_encoded *enc, const text_stream *ts, int T, int64_t w0, int64_t w1) {
    size_t n = (size_t)(w1 - w0);
    memset(enc, 0, sizeof *enc);
    enc->n = n;
    enc->ids = xmalloc(n * (size_t)(T + 1) * sizeof(int));
    enc->off = xmalloc((n + 1) * sizeof(int64_t));
    enc->label = xmalloc(n * sizeof(int));
    enc->score = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        memcpy(enc->ids + i * (size_t)(T + 1), text_window_inputs(ts, T, w0 + (int64_t)i), (size_t)(T + 1) * sizeof(int));
        enc->off[i] = (int64_t)i * (T + 1);
        enc->label[i] = -1;
        enc->score[i] = 0;
    }
    enc->off[n] = (int64_t)n * (T + 1);
    enc->max_len = enc->longest = T + 1;
}

static int load_text(TaskData *td, const TaskSpec *sp, const Tokenizer *tok, qp_status *st) {
    text_stream tr = {0}, dv = {0};
    int T = sp->seq_len;
    snprintf(td->name, sizeof td->name, "text");
    td->head = HEAD_LM;
    td->seq_len = T;
    if (text_load(&tr, sp->text, tok, st) != 0) return -1;
    int64_t n = text_n_windows(&tr, T);
    int64_t n_dev = 0;
    if (sp->dev) {
        if (text_load(&dv, sp->dev, tok, st) != 0) { text_free(&tr); return -1; }
        n_dev = text_n_windows(&dv, T);
        if (n_dev < 1) { text_free(&tr); text_free(&dv); return qp_fail(st, "%s: fewer than %d+1 tokens, no dev window", sp->dev, T); }
    } else {
        n_dev = n / 20 > 0 ? n / 20 : 1;
        n -= n_dev;
    }
    if (n < 1) {
        text_free(&tr); text_free(&dv);
        return qp_fail(st, "%s: %lld tokens make too few %d-token windows to train on (need at least 2)", sp->text,
                       (long long)tr.n_tokens, T);
    }
    windows_to_examples(&td->train, &tr, T, 0, n);
    if (sp->dev) windows_to_examples(&td->dev, &dv, T, 0, n_dev);
    else windows_to_examples(&td->dev, &tr, T, n, n + n_dev);
    text_free(&tr);
    text_free(&dv);
    return 0;
}

int task_load(TaskData *td, const TaskSpec *spec, const Tokenizer *tok, qp_status *st) {
    memset(td, 0, sizeof *td);
    int sources = !!spec->task + !!spec->tsv + !!spec->text;
    if (sources != 1) return qp_fail(st, "give exactly one of --task, --tsv or --text (got %d)", sources);
    int rc = spec->text ? load_text(td, spec, tok, st) : load_tables(td, spec, tok, st);
    if (rc != 0) task_free(td);
    return rc;
}

void task_free(TaskData *td) {
    ds_encoded_free(&td->train);
    ds_encoded_free(&td->dev);
    if (td->label_names)
        for (int i = 0; i < td->n_labels; i++) free(td->label_names[i]);
    free(td->label_names);
    memset(td, 0, sizeof *td);
}

const char *task_main_metric_name(const TaskData *td) {
    return td->head == HEAD_LM ? "loss" : metric_name(td->main_metric);
}
