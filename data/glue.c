// data/glue.c — the GLUE task table (file layouts, label strings) and the split loader.
// Tested by tests/test_data.c.
#include "data/glue.h"
#include "core/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

static const char *const BINARY[] = {"0", "1"};
static const char *const ENTAIL2[] = {"entailment", "not_entailment"};
static const char *const ENTAIL3[] = {"entailment", "neutral", "contradiction"};

#define TSV(hdr_, nf_, c1_, c2_, lab_, kind_, labels_, nl_) \
    {.delim = '\t', .csv_quotes = 0, .has_header = (hdr_), .n_fields = (nf_), .text_cols = {(c1_), (c2_)}, \
     .label_col = (lab_), .kind = (kind_), .labels = (labels_), .n_labels = (nl_)}

// n_fields 0 = "as many as the header has": MNLI train has one label column (12 fields) and its dev
// splits five (16), so the header, not the task, fixes the width.
static const glue_task TASKS[] = {
    // CoLA: no header; source, label, original label, sentence.
    {"cola", "CoLA", TSV(0, 4, "3", NULL, "1", DS_CLASSIFY, BINARY, 2), "dev"},
    {"sst2", "SST-2", TSV(1, 2, "sentence", NULL, "label", DS_CLASSIFY, BINARY, 2), "dev"},
    {"mrpc", "MRPC", TSV(1, 5, "#1 String", "#2 String", "Quality", DS_CLASSIFY, BINARY, 2), "dev"},
    {"rte", "RTE", TSV(1, 4, "sentence1", "sentence2", "label", DS_CLASSIFY, ENTAIL2, 2), "dev"},
    {"stsb", "STS-B", TSV(1, 10, "sentence1", "sentence2", "score", DS_REGRESS, NULL, 0), "dev"},
    {"wnli", "WNLI", TSV(1, 4, "sentence1", "sentence2", "label", DS_CLASSIFY, BINARY, 2), "dev"},
    {"qnli", "QNLI", TSV(1, 4, "question", "sentence", "label", DS_CLASSIFY, ENTAIL2, 2), "dev"},
    {"mnli", "MNLI", TSV(1, 0, "sentence1", "sentence2", "gold_label", DS_CLASSIFY, ENTAIL3, 3), "dev_matched"},
    {"qqp", "QQP", TSV(1, 6, "question1", "question2", "is_duplicate", DS_CLASSIFY, BINARY, 2), "dev"},
};
#define N_TASKS ((int)(sizeof TASKS / sizeof TASKS[0]))

const glue_task *glue_tasks(int *n) {
    *n = N_TASKS;
    return TASKS;
}

const glue_task *glue_task_find(const char *name) {
    for (int i = 0; i < N_TASKS; i++)
        if (strcasecmp(name, TASKS[i].name) == 0 || strcasecmp(name, TASKS[i].dir) == 0) return &TASKS[i];
    return NULL;
}

int glue_load(ds_dataset *ds, const char *glue_dir, const char *name, const char *split, ds_bad_rows policy,
              qp_status *st) {
    memset(ds, 0, sizeof *ds);
    const glue_task *t = glue_task_find(name);
    if (!t) return qp_fail(st, "unknown GLUE task '%s': expected cola, sst2, mrpc, rte, stsb, wnli, qnli, mnli or qqp", name);
    int mnli = strcmp(t->name, "mnli") == 0;
    if (strcmp(split, "dev") == 0) split = t->dev_split;
    int ok = strcmp(split, "train") == 0 || strcmp(split, "dev") == 0 ||
             (mnli && (strcmp(split, "dev_matched") == 0 || strcmp(split, "dev_mismatched") == 0));
    if (!ok)
        return qp_fail(st, "GLUE task %s: unknown split '%s', expected train or dev%s", t->name, split,
                       mnli ? " (dev_matched, dev_mismatched)" : "");
    char root[1024], path[2048];
    if (glue_dir) snprintf(root, sizeof root, "%s", glue_dir);
    else snprintf(root, sizeof root, "%s/glue", qp_assets_dir());
    // root may be the GLUE release (root/<TASK>/split.tsv) or the task's own directory.
    snprintf(path, sizeof path, "%s/%s.tsv", root, split);
    if (access(path, F_OK) != 0) snprintf(path, sizeof path, "%s/%s/%s.tsv", root, t->dir, split);
    return ds_load_table(ds, path, &t->spec, policy, st);
}
