// tests/fuzz/fuzz_tsv.c — libFuzzer harness for data/table.c + data/tsv.c: the first input byte
// picks a table spec (every GLUE task's, or a generic TSV/CSV task with columns by name or index,
// classification or regression) and the bad-row policy; the rest is written as the table file.
// Seeds: the first lines of each GLUE asset (tests/fuzz/make_seeds.sh) and tests/fixtures.
#include "tests/fuzz/fuzz_util.h"
#include "data/dataset.h"
#include "data/glue.h"

static void check(const ds_dataset *ds) {
    for (size_t i = 0; i < ds->n; i++) {
        const ds_example *e = &ds->ex[i];
        if (!e->text[0] || (ds->n_pair == 2) != (e->text[1] != NULL)) abort();
        (void)strlen(e->text[0]);
        if (e->text[1]) (void)strlen(e->text[1]);
        if (ds->kind == DS_CLASSIFY && (e->label < 0 || e->label >= ds->n_classes)) abort();
    }
    if (ds->kind == DS_CLASSIFY && ds->n_classes > 0) {
        size_t *counts = calloc((size_t)ds->n_classes, sizeof *counts);
        ds_label_counts(ds, counts);
        free(counts);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned sel = data[0];
    int n_tasks;
    const glue_task *tasks = glue_tasks(&n_tasks);
    ds_bad_rows policy = (sel & 0x80) ? DS_BAD_ROWS_SKIP : DS_BAD_ROWS_FAIL;
    unsigned which = (sel & 0x7f) % (unsigned)(n_tasks + 6);
    int csv = which == (unsigned)n_tasks + 5;
    const char *path = fz_path(csv ? "table.csv" : "table.tsv");
    fz_write(path, data + 1, size - 1);
    ds_dataset ds;
    qp_status st = {0};
    int rc;
    if (which < (unsigned)n_tasks) {
        rc = ds_load_table(&ds, path, &tasks[which].spec, policy, &st);
    } else {
        switch (which - (unsigned)n_tasks) {
        case 0: rc = ds_load_generic(&ds, path, -1, "sentence", NULL, "label", DS_CLASSIFY, policy, &st); break;
        case 1: rc = ds_load_generic(&ds, path, 0, "0", "1", "2", DS_CLASSIFY, policy, &st); break;
        case 2: rc = ds_load_generic(&ds, path, 1, "sentence1", "sentence2", "label", DS_REGRESS, policy, &st); break;
        case 3: rc = ds_load_generic(&ds, path, -1, "1", NULL, "3", DS_REGRESS, policy, &st); break;
        case 4: rc = ds_load_generic(&ds, path, 1, "1", "sentence2", "label", DS_CLASSIFY, policy, &st); break;
        default: rc = ds_load_generic(&ds, path, 1, "text", NULL, "label", DS_CLASSIFY, policy, &st); break;
        }
    }
    if (rc == 0) {
        check(&ds);
        ds_free(&ds);
    } else if (!st.msg[0] || strchr(st.msg, '\n')) {
        abort();
    }
    return 0;
}
