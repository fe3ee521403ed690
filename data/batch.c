// data/batch.c — epoch orders (shuffle, length buckets) and batch filling for ds_encoded data.
// Tested by tests/test_data.c.
#include "data/batch.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>

int batch_sampler_init(batch_sampler *s, const ds_encoded *enc, int B, int shuffle, int bucket, uint64_t seed,
                       qp_status *st) {
    memset(s, 0, sizeof *s);
    if (B < 1) return qp_fail(st, "batch size %d: expected at least 1", B);
    if (bucket < 0) return qp_fail(st, "length bucketing %d: expected 0 (off) or a positive number of batches", bucket);
    if (enc->n == 0) return qp_fail(st, "batching: the dataset has no examples");
    if (enc->n > (size_t)INT32_MAX) return qp_fail(st, "batching: %zu examples, at most %d supported", enc->n, INT32_MAX);
    s->enc = enc;
    s->B = B;
    s->shuffle = shuffle;
    s->bucket = bucket;
    s->seed = seed;
    s->n = enc->n;
    s->n_batches = (s->n + (size_t)B - 1) / (size_t)B;
    s->order = xmalloc(s->n * sizeof *s->order);
    s->batch_start = xmalloc(s->n_batches * sizeof *s->batch_start);
    s->keys = xmalloc(s->n * sizeof *s->keys);
    s->tmp = xmalloc(s->n * sizeof *s->tmp);
    batch_sampler_set_epoch(s, 0);
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// Sort order[lo, hi) by encoded length, ties kept in their shuffled order (key = len<<32 | pos).
static void sort_run_by_length(batch_sampler *s, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) {
        s->keys[i] = ((int64_t)ds_encoded_len(s->enc, (size_t)s->order[i]) << 32) | (int64_t)(i - lo);
        s->tmp[i] = s->order[i];
    }
    qsort(s->keys + lo, hi - lo, sizeof *s->keys, cmp_i64);
    for (size_t i = lo; i < hi; i++) s->order[i] = s->tmp[lo + (size_t)(s->keys[i] & 0xffffffff)];
}

void batch_sampler_set_epoch(batch_sampler *s, int epoch) {
    s->epoch = epoch;
    s->next_batch = 0;
    for (size_t i = 0; i < s->n; i++) s->order[i] = (int)i;
    for (size_t b = 0; b < s->n_batches; b++) s->batch_start[b] = b * (size_t)s->B;
    if (!s->shuffle) return;
    // One stream per (seed, epoch), so a resumed run rebuilds the same order without replaying.
    qp_rng rng;
    rng_seed(&rng, s->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(epoch + 1)));
    rng_shuffle_ints(&rng, s->order, (int)s->n);
    if (!s->bucket) return;
    size_t run = (size_t)s->bucket * (size_t)s->B;
    for (size_t lo = 0; lo < s->n; lo += run) sort_run_by_length(s, lo, lo + run < s->n ? lo + run : s->n);
    // Shuffle whole batches so lengths do not rise and fall in a saw-tooth over the epoch.
    for (size_t i = s->n_batches - 1; i > 0; i--) {
        size_t j = rng_below(&rng, (uint32_t)(i + 1));
        size_t t = s->batch_start[i]; s->batch_start[i] = s->batch_start[j]; s->batch_start[j] = t;
    }
}

int batch_sampler_next(batch_sampler *s, const int **idx) {
    if (s->next_batch >= s->n_batches) return 0;
    size_t start = s->batch_start[s->next_batch++];
    size_t left = s->n - start;
    *idx = s->order + start;
    return (int)(left < (size_t)s->B ? left : (size_t)s->B);
}

void batch_sampler_free(batch_sampler *s) {
    free(s->order);
    free(s->batch_start);
    free(s->keys);
    free(s->tmp);
    memset(s, 0, sizeof *s);
}

int batch_pad_id(const Tokenizer *tok) {
    if (tok_pad_id(tok) >= 0) return tok_pad_id(tok);
    if (tok_eos_id(tok) >= 0) return tok_eos_id(tok);
    return 0;
}

int batch_fill(const ds_encoded *enc, const int *idx, int nb, int T_fixed, int pad_id, int *ids, int *lens,
               int *labels, float *scores) {
    int T = T_fixed;
    if (T <= 0)
        for (int b = 0; b < nb; b++) {
            int l = ds_encoded_len(enc, (size_t)idx[b]);
            if (l > T) T = l;
        }
    for (int b = 0; b < nb; b++) {
        size_t i = (size_t)idx[b];
        QP_ASSERT(i < enc->n);
        int l = ds_encoded_len(enc, i);
        QP_ASSERT(l <= T);  // T_fixed smaller than the encoding max_len is a caller bug
        int *row = ids + (size_t)b * (size_t)T;
        memcpy(row, enc->ids + enc->off[i], (size_t)l * sizeof(int));
        for (int t = l; t < T; t++) row[t] = pad_id;
        lens[b] = l;
        if (labels) labels[b] = enc->label[i];
        if (scores) scores[b] = enc->score[i];
    }
    return T;
}
