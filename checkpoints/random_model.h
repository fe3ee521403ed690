// checkpoints/random_model.h — random Llama checkpoints of real shapes, for benches and tests
// (issue 12): a Hugging Face directory with config.json, sharded safetensors plus
// model.safetensors.index.json, and a tokenizer.model copy; every linear and embedding
// N(0, 0.02²), every norm 1. Written tensor by tensor through export_safetensors_write's
// streaming source, so memory stays at one chunk whatever the shape (7B included).
// Tested by tests/test_scale.c (the mid-44m shape loads through model/load_hf.c, values and
// shapes as drawn) and used by bench/gen_model.c (`make bench-scale`).
#ifndef QP_CHECKPOINTS_RANDOM_MODEL_H
#define QP_CHECKPOINTS_RANDOM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "checkpoints/export.h"

typedef struct {
    uint64_t seed;
    size_t shard_bytes;     // start a new shard when the next tensor would pass this (0: 2 GiB)
    export_dtype dtype;     // EXPORT_BF16 like the published checkpoints
    const char *tokenizer;  // SentencePiece model copied as tokenizer.model (NULL: none)
} random_model_opts;

// Write a new directory `dir` (refused when it exists non-empty; all-or-nothing through a
// staging directory). Element j of tensor t is a function of (seed, t, j) only.
int random_model_write(const char *dir, const ModelConfig *cfg, const random_model_opts *o, qp_status *st);
#endif
