// trainer/task.h — what the trainer trains on, in one shape for every source: a GLUE task
// (TSV release), a generic TSV/CSV task, or a plain-text file for language modelling. Each
// becomes encoded train and dev splits (data/dataset.h's ds_encoded) plus the head and the
// metrics that go with it. Text windows are stored as examples of T+1 tokens (inputs are the
// first T, targets the last T), so batching is the same code for every task.
// Tested by tests/test_train.sh (every source through `qpeft train`) and tests/test_data.c.
#ifndef QP_TRAINER_TASK_H
#define QP_TRAINER_TASK_H
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "trainer/metrics.h"

typedef struct {
    const char *task;       // GLUE name, or NULL
    const char *data_dir;   // GLUE release directory (NULL: the assets' glue/)
    const char *tsv;        // generic table, or NULL
    const char *text_cols;  // "a" or "a,b" (names or 0-based indices)
    const char *label_col;
    int regression;
    const char *dev;        // generic table's dev file / text's dev file (NULL: see task_load)
    const char *text;       // plain-text LM file, or NULL
    int max_len;            // token limit per example (classification/regression)
    int seq_len;            // LM window length T
    int skip_bad_rows;      // 1: skip malformed rows (counted); 0: fail
} TaskSpec;

typedef struct {
    char name[64];          // "sst2", ..., "tsv", "text"
    head_kind head;
    int n_labels;           // classes (classify), 1 (regress), 0 (LM)
    char **label_names;     // (n_labels) strings of the classes, for predictions (NULL for LM/regress)
    metric_kind main_metric;// classification/regression main metric (unused for LM: loss)
    int seq_len;            // LM: T (examples hold T+1 tokens); else max_len
    ds_encoded train, dev;
    size_t n_skipped;       // malformed rows skipped in both splits
} TaskData;

// Load and encode both splits. Text: windows of seq_len from `text`; dev windows from `dev`
// when given, else the last 5% (at least one) of the text's windows are held out.
int task_load(TaskData *td, const TaskSpec *spec, const Tokenizer *tok, qp_status *st);
void task_free(TaskData *td);
// "loss"/"perplexity" for LM; metric_name(main_metric) otherwise.
const char *task_main_metric_name(const TaskData *td);
#endif
