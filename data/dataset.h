// data/dataset.h — labelled text examples (one or two sentences + class index or score) loaded
// from a delimited table, and their token encoding. GLUE tasks are specs over this (data/glue.h).
// Tested by tests/test_data.c (fixtures, real GLUE files, error messages with file:line).
#ifndef QP_DATA_DATASET_H
#define QP_DATA_DATASET_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "data/tokenizer.h"

typedef enum { DS_CLASSIFY = 0, DS_REGRESS = 1, DS_KIND_COUNT } ds_kind;
// What to do with a malformed row (wrong field count, unknown label, non-numeric score).
typedef enum { DS_BAD_ROWS_FAIL = 0, DS_BAD_ROWS_SKIP = 1, DS_BAD_ROWS_COUNT } ds_bad_rows;

typedef struct {
    const char *text[2];  // text[1] is NULL for single-sentence tasks; strings owned by the dataset
    int label;            // class index in [0, n_classes) (DS_CLASSIFY); -1 for DS_REGRESS
    float score;          // regression target (DS_REGRESS); the class index as a float otherwise
    int64_t line;         // 1-based source line, for messages
} ds_example;

typedef struct {
    char path[1024];
    ds_kind kind;
    int n_pair;           // 1 single sentence, 2 sentence pairs
    int n_classes;        // 0 for DS_REGRESS
    char **label_names;   // (n_classes) the label string of each class index
    ds_example *ex;       // (n)
    size_t n;
    size_t n_skipped;     // malformed rows skipped under DS_BAD_ROWS_SKIP
    char first_skip[1024];// message of the first skipped row ("" if none)
    char *storage;        // the file buffer the example strings point into
} ds_dataset;

// How to read one table. A column is named either by its header name (needs has_header) or by
// its 0-based index written in decimal ("3").
typedef struct {
    char delim;                   // '\t' or ','
    int csv_quotes;               // honour "..." quoting (CSV only; GLUE TSVs have none)
    int has_header;               // first non-empty line names the columns
    int n_fields;                 // exact fields per row; 0 = the header's count (or the first row's)
    const char *text_cols[2];     // text_cols[1] NULL for single-sentence tasks
    const char *label_col;
    ds_kind kind;
    const char *const *labels;    // DS_CLASSIFY: fixed label strings (class i = labels[i]) or NULL
    int n_labels;                 //   for the sorted (strcmp) distinct strings found in the file
} ds_table_spec;

// Load `path` by `spec`. Malformed rows fail with "<path>:<line>: ..." or, under
// DS_BAD_ROWS_SKIP, are counted in ds->n_skipped (first message kept). A file with no usable row,
// a missing column name or an index beyond the field count always fails. On failure nothing is
// left allocated in *ds.
int ds_load_table(ds_dataset *ds, const char *path, const ds_table_spec *spec, ds_bad_rows policy, qp_status *st);

// Generic user task: a TSV (or, if path ends in ".csv", a CSV with "..." quoting). has_header:
// 1 yes, 0 no, -1 = yes exactly when some column is given by name. text_col2 may be NULL.
// DS_CLASSIFY labels are the sorted (strcmp) distinct label strings.
int ds_load_generic(ds_dataset *ds, const char *path, int has_header, const char *text_col1, const char *text_col2,
                    const char *label_col, ds_kind kind, ds_bad_rows policy, qp_status *st);

// counts[c] = number of examples of class c (counts has n_classes entries).
void ds_label_counts(const ds_dataset *ds, size_t *counts);
void ds_free(ds_dataset *ds);

// ---- encoding --------------------------------------------------------------------------------
// Single sentence -> [BOS] s1.  Pair -> [BOS] s1 [EOS] s2: Llama tokenizers have no separator or
// CLS token, so EOS marks the boundary. No EOS is appended at the end. If the result is longer
// than max_len, the single sentence is cut at the end; a pair is cut "longest first": one token
// at a time from the end of the currently longer sentence (s2 when they tie), as Hugging Face's
// `longest_first` does.
#define DS_DEFAULT_MAX_LEN 128

typedef struct {
    int *ids;            // all examples' tokens back to back
    int64_t *off;        // (n+1) example i is ids[off[i] .. off[i+1])
    int *label;          // (n) class index, -1 for regression
    float *score;        // (n) regression target (class index as float for classification)
    size_t n;
    int max_len;         // the limit used
    int longest;         // longest encoded example (<= max_len)
    size_t n_truncated;  // examples that were cut
} ds_encoded;

// Needs a tokenizer with BOS (and EOS for pairs); max_len >= 2 (>= 3 for pairs).
int ds_encode(ds_encoded *enc, const ds_dataset *ds, const Tokenizer *tok, int max_len, qp_status *st);
static inline int ds_encoded_len(const ds_encoded *enc, size_t i) { return (int)(enc->off[i + 1] - enc->off[i]); }
void ds_encoded_free(ds_encoded *enc);
#endif
