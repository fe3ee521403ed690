// data/batch.h — batches of encoded examples: an epoch order (seeded shuffle, optional length
// bucketing) and filling of caller-preallocated arrays, with no allocation per batch.
// Tested by tests/test_data.c (permutation property, determinism, bucketing, padding layout).
#ifndef QP_DATA_BATCH_H
#define QP_DATA_BATCH_H
#include <stddef.h>
#include <stdint.h>
#include "core/rng.h"
#include "core/status.h"
#include "data/dataset.h"
#include "data/tokenizer.h"

typedef struct {
    const ds_encoded *enc;
    int B;               // rows per batch (the last batch of an epoch may be shorter)
    int shuffle;         // 0: dataset order (evaluation); 1: seeded shuffle per epoch
    int bucket;          // 0: off; k > 0: after shuffling, sort each run of k*B examples by length
                         //   and shuffle the order of the batches, so a batch holds similar lengths
    uint64_t seed;
    int epoch;           // current epoch; its order depends only on (seed, epoch), for resuming
    size_t n, n_batches;
    size_t next_batch;   // index of the next batch to hand out (set it to resume mid-epoch)
    int *order;          // (n) example indices in this epoch's order
    size_t *batch_start; // (n_batches) offset into order of each batch, in hand-out order
    int64_t *keys;       // (n) scratch for the length sort
    int *tmp;            // (n) scratch
} batch_sampler;

// All memory is taken here; B >= 1, bucket >= 0. The sampler starts at epoch 0.
int batch_sampler_init(batch_sampler *s, const ds_encoded *enc, int B, int shuffle, int bucket, uint64_t seed,
                       qp_status *st);
// Lay out epoch `epoch` (deterministic in seed and epoch) and rewind to its first batch.
void batch_sampler_set_epoch(batch_sampler *s, int epoch);
// Point *idx at the next batch's example indices and return their count (1..B); 0 when the
// epoch is over (call batch_sampler_set_epoch(s, s->epoch + 1) to go on).
int batch_sampler_next(batch_sampler *s, const int **idx);
void batch_sampler_free(batch_sampler *s);

// Padding id: the tokenizer's pad id; Llama tokenizers have none, so EOS; failing that 0. Padded
// positions are also marked by lens, so the loss and pooling must use lens, not the pad id.
int batch_pad_id(const Tokenizer *tok);

// Fill one batch of the nb examples idx[0..nb):
//   ids    (nb, T) row-major: example tokens then pad_id to the right
//   lens   (nb)    tokens per row before padding
//   labels (nb)    class index (-1 for regression); may be NULL
//   scores (nb)    regression target (class index as float for classification); may be NULL
// T = T_fixed if > 0 (every example must fit: encode with max_len <= T_fixed), else the longest
// row of this batch. Returns T. ids must hold nb*T ints (nb*enc->max_len always suffices).
int batch_fill(const ds_encoded *enc, const int *idx, int nb, int T_fixed, int pad_id, int *ids, int *lens,
               int *labels, float *scores);
#endif
