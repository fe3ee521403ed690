// data/encode.c — turns dataset examples into token ids: [BOS] s1 or [BOS] s1 [EOS] s2, truncated
// longest-first to max_len (see dataset.h). Tested by tests/test_data.c (hand-built expectations).
#include "data/dataset.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>

// Cut a pair to `budget` text tokens: drop from the end of the longer one (s2 on ties).
static void truncate_longest_first(int *n1, int *n2, int budget) {
    while (*n1 + *n2 > budget) {
        if (*n1 > *n2) (*n1)--;
        else (*n2)--;
    }
}

static int encode_text(const Tokenizer *tok, const char *text, int **ids, int *n, const ds_dataset *ds,
                       const ds_example *e, qp_status *st) {
    if (tok_encode(tok, text, 0, ids, n, st) == 0) return 0;
    char why[1024];
    snprintf(why, sizeof why, "%s", st->msg);
    return qp_fail(st, "%s:%lld: %s", ds->path, (long long)e->line, why);
}

int ds_encode(ds_encoded *enc, const ds_dataset *ds, const Tokenizer *tok, int max_len, qp_status *st) {
    memset(enc, 0, sizeof *enc);
    int bos = tok_bos_id(tok), eos = tok_eos_id(tok), pair = ds->n_pair == 2;
    if (bos < 0) return qp_fail(st, "%s: the tokenizer has no BOS id, which every example starts with", ds->path);
    if (pair && eos < 0) return qp_fail(st, "%s: sentence pairs need an EOS id as separator; the tokenizer has none", ds->path);
    if (max_len < 2 + pair) return qp_fail(st, "max_len %d too small: expected at least %d", max_len, 2 + pair);
    enc->n = ds->n;
    enc->max_len = max_len;
    enc->off = xmalloc((ds->n + 1) * sizeof *enc->off);
    enc->label = xmalloc((ds->n ? ds->n : 1) * sizeof *enc->label);
    enc->score = xmalloc((ds->n ? ds->n : 1) * sizeof *enc->score);
    size_t cap = 4096, used = 0;
    enc->ids = xmalloc(cap * sizeof *enc->ids);
    enc->off[0] = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const ds_example *e = &ds->ex[i];
        int *a = NULL, *b = NULL, na = 0, nb = 0;
        if (encode_text(tok, e->text[0], &a, &na, ds, e, st) ||
            (pair && encode_text(tok, e->text[1] ? e->text[1] : "", &b, &nb, ds, e, st))) {
            free(a);
            ds_encoded_free(enc);
            return -1;
        }
        int budget = max_len - 1 - pair, ka = na, kb = nb;
        if (pair) truncate_longest_first(&ka, &kb, budget);
        else if (ka > budget) ka = budget;
        if (ka != na || kb != nb) enc->n_truncated++;
        size_t len = (size_t)(1 + ka + (pair ? 1 + kb : 0));
        while (used + len > cap) { cap *= 2; enc->ids = xrealloc(enc->ids, cap * sizeof *enc->ids); }
        int *o = enc->ids + used;
        *o++ = bos;
        memcpy(o, a, (size_t)ka * sizeof(int)); o += ka;
        if (pair) { *o++ = eos; memcpy(o, b, (size_t)kb * sizeof(int)); }
        used += len;
        enc->off[i + 1] = (int64_t)used;
        if ((int)len > enc->longest) enc->longest = (int)len;
        enc->label[i] = ds->kind == DS_CLASSIFY ? e->label : -1;
        enc->score[i] = e->score;
        free(a);
        free(b);
    }
    return 0;
}

void ds_encoded_free(ds_encoded *enc) {
    free(enc->ids);
    free(enc->off);
    free(enc->label);
    free(enc->score);
    memset(enc, 0, sizeof *enc);
}
