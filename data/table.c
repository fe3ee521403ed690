// data/table.c — loads labelled examples from a delimited table by a ds_table_spec (dataset.h):
// column resolution by name or index, label mapping, malformed-row policy. Tested by tests/test_data.c.
#include "data/dataset.h"
#include "data/tsv.h"
#include "core/check.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 64

typedef struct {
    const ds_table_spec *spec;
    tsv_reader r;
    int n_fields;
    int col[3];                 // text1, text2 (-1), label
    const char **label_str;     // per example, while labels are still being collected
    size_t cap;
    ds_bad_rows policy;
} loader;

static int is_index(const char *s) {
    if (!*s) return 0;
    for (; *s; s++) if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

// Column spec -> 0-based index, against the header (may be NULL) and the row width.
static int resolve_col(loader *L, const char *name, char **header, int n_header, qp_status *st) {
    int idx = -1;
    if (is_index(name)) {
        idx = atoi(name);
    } else {
        if (!header)
            return qp_fail(st, "%s: column '%s' is given by name but the file is read without a header", L->r.path,
                           name);
        for (int i = 0; i < n_header && i < MAX_FIELDS; i++)
            if (strcmp(header[i], name) == 0) { idx = i; break; }
        if (idx < 0) {
            char names[512] = "";
            size_t pos = 0;
            for (int i = 0; i < n_header && i < MAX_FIELDS && pos < sizeof names; i++)
                pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s'%s'", i ? ", " : "", header[i]);
            return qp_fail(st, "%s:1: no column named '%s' in the header (columns: %s)", L->r.path, name, names);
        }
    }
    if (idx >= L->n_fields)
        return qp_fail(st, "%s: column %s is index %d, but rows have %d fields", L->r.path, name, idx, L->n_fields);
    return idx;
}

static int resolve_cols(loader *L, char **header, int n_header, qp_status *st) {
    const ds_table_spec *sp = L->spec;
    const char *names[3] = {sp->text_cols[0], sp->text_cols[1], sp->label_col};
    for (int k = 0; k < 3; k++) {
        L->col[k] = -1;
        if (!names[k]) {
            if (k == 1) continue;
            return qp_fail(st, "%s: no %s column given", L->r.path, k == 0 ? "text" : "label");
        }
        if ((L->col[k] = resolve_col(L, names[k], header, n_header, st)) < 0) return -1;
    }
    return 0;
}

// A malformed row: fail, or count it and keep the first message. Returns -1 to fail, 0 to skip.
static int bad_row(loader *L, ds_dataset *ds, qp_status *st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_row(loader *L, ds_dataset *ds, qp_status *st, const char *fmt, ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (L->policy == DS_BAD_ROWS_FAIL) return qp_fail(st, "%s:%lld: %s", L->r.path, (long long)L->r.line, what);
    // (a message cut at 1 KiB is fine; testing the return value tells gcc the cut is intended)
    if (ds->n_skipped++ == 0 &&
        snprintf(ds->first_skip, sizeof ds->first_skip, "%s:%lld: %s", L->r.path, (long long)L->r.line, what) < 0)
        ds->first_skip[0] = '\0';
    return 0;
}

static int parse_score(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

// One data row -> an example (or a bad-row verdict). Returns 1 added, 0 skipped, -1 failed.
static int add_row(loader *L, ds_dataset *ds, char **f, int nf, qp_status *st) {
    const ds_table_spec *sp = L->spec;
    if (nf != L->n_fields)
        return bad_row(L, ds, st, "expected %d fields separated by '%s', found %d", L->n_fields,
                       sp->delim == '\t' ? "\\t" : ",", nf);
    ds_example e = {{f[L->col[0]], L->col[1] >= 0 ? f[L->col[1]] : NULL}, -1, 0.0f, L->r.line};
    const char *lab = f[L->col[2]];
    if (sp->kind == DS_REGRESS) {
        if (parse_score(lab, &e.score)) return bad_row(L, ds, st, "score '%s' is not a finite number", lab);
    } else if (sp->labels) {
        for (int c = 0; c < sp->n_labels; c++)
            if (strcmp(lab, sp->labels[c]) == 0) { e.label = c; break; }
        if (e.label < 0) {
            char opts[256] = "";
            size_t pos = 0;
            for (int c = 0; c < sp->n_labels && pos < sizeof opts; c++)
                pos += (size_t)snprintf(opts + pos, sizeof opts - pos, "%s'%s'", c ? ", " : "", sp->labels[c]);
            return bad_row(L, ds, st, "unknown label '%s' (expected one of %s)", lab, opts);
        }
        e.score = (float)e.label;
    }
    if (ds->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 1024;
        ds->ex = xrealloc(ds->ex, L->cap * sizeof *ds->ex);
        L->label_str = xrealloc(L->label_str, L->cap * sizeof *L->label_str);
    }
    L->label_str[ds->n] = lab;
    ds->ex[ds->n++] = e;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// Label names: the fixed list, or the sorted distinct strings seen; then map every example.
static void build_labels(loader *L, ds_dataset *ds) {
    const ds_table_spec *sp = L->spec;
    if (sp->kind == DS_REGRESS) return;
    if (sp->labels) {
        ds->n_classes = sp->n_labels;
        ds->label_names = xmalloc((size_t)sp->n_labels * sizeof(char *));
        for (int c = 0; c < sp->n_labels; c++) ds->label_names[c] = xstrdup(sp->labels[c]);
        return;
    }
    const char **u = xmalloc(ds->n * sizeof *u);
    memcpy(u, L->label_str, ds->n * sizeof *u);
    qsort(u, ds->n, sizeof *u, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (k == 0 || strcmp(u[i], u[k - 1]) != 0) u[k++] = u[i];
    ds->n_classes = (int)k;
    ds->label_names = xmalloc(k * sizeof(char *));
    for (size_t c = 0; c < k; c++) ds->label_names[c] = xstrdup(u[c]);
    for (size_t i = 0; i < ds->n; i++) {
        const char **hit = bsearch(&L->label_str[i], u, k, sizeof *u, cmp_str);
        QP_ASSERT(hit);
        ds->ex[i].label = (int)(hit - u);
        ds->ex[i].score = (float)ds->ex[i].label;
    }
    free(u);
}

static int read_rows(loader *L, ds_dataset *ds, qp_status *st) {
    const ds_table_spec *sp = L->spec;
    char *f[MAX_FIELDS];
    int nf, have_cols = 0;
    L->n_fields = sp->n_fields;
    if (sp->has_header) {
        char *h[MAX_FIELDS];
        int nh = tsv_next(&L->r, h, MAX_FIELDS, st);
        if (nh < 0) return -1;
        if (nh == 0) return qp_fail(st, "%s: empty file, expected a header line", L->r.path);
        if (nh > MAX_FIELDS) return qp_fail(st, "%s:%lld: header has %d fields, at most %d supported", L->r.path,
                                            (long long)L->r.line, nh, MAX_FIELDS);
        if (L->n_fields && nh != L->n_fields)
            return qp_fail(st, "%s:%lld: header has %d fields, expected %d", L->r.path, (long long)L->r.line, nh,
                           L->n_fields);
        L->n_fields = nh;
        if (resolve_cols(L, h, nh, st)) return -1;
        have_cols = 1;
    }
    while ((nf = tsv_next(&L->r, f, MAX_FIELDS, st)) > 0) {
        if (!have_cols) {  // no header: the first row fixes the width unless the spec did
            if (!L->n_fields) L->n_fields = nf;
            if (L->n_fields > MAX_FIELDS)
                return qp_fail(st, "%s: rows have %d fields, at most %d supported", L->r.path, L->n_fields, MAX_FIELDS);
            if (resolve_cols(L, NULL, 0, st)) return -1;
            have_cols = 1;
        }
        if (add_row(L, ds, f, nf, st) < 0) return -1;
    }
    if (nf < 0) return -1;
    if (ds->n == 0)
        return qp_fail(st, "%s: no usable data rows (%zu malformed%s%s)", L->r.path, ds->n_skipped,
                       ds->n_skipped ? ", first: " : "", ds->first_skip);
    return 0;
}

int ds_load_table(ds_dataset *ds, const char *path, const ds_table_spec *spec, ds_bad_rows policy, qp_status *st) {
    memset(ds, 0, sizeof *ds);
    snprintf(ds->path, sizeof ds->path, "%s", path);
    ds->kind = spec->kind;
    ds->n_pair = spec->text_cols[1] ? 2 : 1;
    loader L = {.spec = spec, .policy = policy};
    if (spec->kind == DS_CLASSIFY && spec->labels && spec->n_labels < 1)
        return qp_fail(st, "%s: a fixed label list needs at least one label", path);
    if (tsv_open(&L.r, path, spec->delim, spec->csv_quotes, st)) return -1;
    int rc = read_rows(&L, ds, st);
    if (rc == 0) {
        build_labels(&L, ds);
        ds->storage = tsv_take_buffer(&L.r);
        ds->ex = xrealloc(ds->ex, ds->n * sizeof *ds->ex);
    } else {
        free(ds->ex);
        ds->ex = NULL;
        ds->n = 0;
    }
    free(L.label_str);
    tsv_close(&L.r);
    return rc;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int ds_load_generic(ds_dataset *ds, const char *path, int has_header, const char *text_col1, const char *text_col2,
                    const char *label_col, ds_kind kind, ds_bad_rows policy, qp_status *st) {
    int csv = ends_with(path, ".csv") || ends_with(path, ".CSV");
    int named = (text_col1 && !is_index(text_col1)) || (text_col2 && !is_index(text_col2)) ||
                (label_col && !is_index(label_col));
    ds_table_spec spec = {.delim = csv ? ',' : '\t', .csv_quotes = csv, .has_header = has_header < 0 ? named : has_header,
                          .text_cols = {text_col1, text_col2}, .label_col = label_col, .kind = kind};
    return ds_load_table(ds, path, &spec, policy, st);
}

void ds_label_counts(const ds_dataset *ds, size_t *counts) {
    for (int c = 0; c < ds->n_classes; c++) counts[c] = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->ex[i].label >= 0 && ds->ex[i].label < ds->n_classes) counts[ds->ex[i].label]++;
}

void ds_free(ds_dataset *ds) {
    for (int c = 0; c < ds->n_classes; c++) free(ds->label_names[c]);
    free(ds->label_names);
    free(ds->ex);
    free(ds->storage);
    memset(ds, 0, sizeof *ds);
}
