// data/glue.h — the GLUE tasks as table specs over their standard TSV release
// (<glue_dir>/<DIR>/<split>.tsv, or <dir>/<split>.tsv when given the task directory itself). Tested by tests/test_data.c (row counts and label distributions
// of the shipped files, fixture files in the QNLI/MNLI/QQP layouts, malformed rows).
#ifndef QP_DATA_GLUE_H
#define QP_DATA_GLUE_H
#include "data/dataset.h"

typedef struct {
    const char *name;          // "cola", "sst2", "mrpc", "rte", "stsb", "wnli", "qnli", "mnli", "qqp"
    const char *dir;           // directory in the GLUE release: "CoLA", "SST-2", ...
    ds_table_spec spec;        // columns by header name (CoLA, which has no header, by index)
    const char *dev_split;     // the default evaluation split: "dev", or "dev_matched" for MNLI
} glue_task;

// The task named `name` (case-insensitive; "sst-2"/"sts-b" accepted), or NULL.
const glue_task *glue_task_find(const char *name);
// Every task, in the order above; *n gets the count.
const glue_task *glue_tasks(int *n);

// Load split `split` ("train", "dev" — for MNLI "dev" means "dev_matched" —, "dev_matched",
// "dev_mismatched") of task `name` from glue_dir (NULL: qp_assets_dir()/glue).
// Classes: CoLA/SST-2/MRPC/WNLI/QQP labels "0","1"; RTE/QNLI "entailment","not_entailment";
// MNLI "entailment","neutral","contradiction"; STS-B is DS_REGRESS (score 0..5).
int glue_load(ds_dataset *ds, const char *glue_dir, const char *name, const char *split, ds_bad_rows policy,
              qp_status *st);
#endif
