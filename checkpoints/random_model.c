// checkpoints/random_model.c — see random_model.h. Tensor names and order are the HF Llama
// checkpoint's (embed, layers 0..L-1, final norm, lm_head), as model/load_hf.c reads them.
#include "checkpoints/random_model.h"
#include "core/check.h"
#include "core/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DRAW_BLOCK = 4096 };  // elements per independently seeded block (fill parallelises over them)

typedef struct { uint64_t seed, tensor; int ones; } Draw;

static void fill_random(float *dst, size_t first, size_t n, void *vctx) {
    const Draw *d = vctx;
    if (d->ones) { for (size_t i = 0; i < n; i++) dst[i] = 1.0f; return; }
    QP_ASSERT(first % DRAW_BLOCK == 0);
    long nb = (long)((n + DRAW_BLOCK - 1) / DRAW_BLOCK);
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        qp_rng r;
        uint64_t block = (first / DRAW_BLOCK) + (uint64_t)b;
        rng_seed(&r, d->seed ^ (d->tensor * 0x9e3779b97f4a7c15ULL) ^ (block * 0xd1b54a32d192ed03ULL));
        size_t lo = (size_t)b * DRAW_BLOCK, hi = lo + DRAW_BLOCK < n ? lo + DRAW_BLOCK : n;
        for (size_t i = lo; i < hi; i++) dst[i] = 0.02f * rng_normal(&r);
    }
}

typedef struct { char name[80]; int ndim; int64_t shape[2]; int ones; } Spec;

// The tensors of cfg in checkpoint order; returns their count (cap: 3 + 9 L).
static int specs_of(const ModelConfig *c, Spec *s) {
    const int64_t C = c->dim, H = c->hidden_dim, V = c->vocab_size, HS = config_head_size(c);
    const int64_t QD = c->n_heads * HS, KVD = c->n_kv_heads * HS;
    int n = 0;
#define ADD(ONES, R, CC, ...) do { snprintf(s[n].name, sizeof s[n].name, __VA_ARGS__); \
        s[n].ndim = (CC) ? 2 : 1; s[n].shape[0] = (R); s[n].shape[1] = (CC); s[n].ones = (ONES); n++; } while (0)
    ADD(0, V, C, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(1, C, 0, "model.layers.%d.input_layernorm.weight", l);
        ADD(0, QD, C, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(0, KVD, C, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(0, KVD, C, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(0, C, QD, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(1, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(0, H, C, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(0, H, C, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(0, C, H, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(1, C, 0, "model.norm.weight");
    if (!c->tied_embeddings) ADD(0, V, C, "lm_head.weight");
#undef ADD
    return n;
}

static int path_in(char *out, const char *dir, const char *name, qp_status *st) {
    if ((size_t)snprintf(out, EXPORT_PATH_MAX, "%s/%s", dir, name) >= EXPORT_PATH_MAX)
        return qp_fail(st, "%s: a path shorter than %d bytes, found a longer one", dir, EXPORT_PATH_MAX);
    return 0;
}

static int write_all(const char *dir, const ModelConfig *c, const random_model_opts *o, qp_status *st) {
    static const size_t BYTES[EXPORT_DTYPE_COUNT] = {4, 2, 2};
    size_t cap = o->shard_bytes ? o->shard_bytes : (size_t)2 << 30;
    Spec *s = xcalloc((size_t)(3 + 9 * c->n_layers), sizeof *s);
    int n = specs_of(c, s);
    int *shard = xcalloc((size_t)n, sizeof *shard);
    int n_shards = 1;
    size_t used = 0;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t b = (size_t)s[i].shape[0] * (size_t)(s[i].ndim == 2 ? s[i].shape[1] : 1) * BYTES[o->dtype];
        if (used > 0 && used + b > cap) { n_shards++; used = 0; }
        shard[i] = n_shards - 1;
        used += b;
        total += b;
    }
    char (*files)[64] = xcalloc((size_t)n_shards, sizeof *files);
    for (int j = 0; j < n_shards; j++)
        snprintf(files[j], sizeof files[j], "model-%05d-of-%05d.safetensors", j + 1, n_shards);
    export_tensor *t = xcalloc((size_t)n, sizeof *t);
    Draw *d = xcalloc((size_t)n, sizeof *d);
    char path[EXPORT_PATH_MAX];
    int rc = 0;
    for (int j = 0; j < n_shards && rc == 0; j++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (shard[i] != j) continue;
            d[i] = (Draw){o->seed, (uint64_t)i, s[i].ones};
            t[m++] = (export_tensor){s[i].name, NULL, s[i].ndim, {s[i].shape[0], s[i].shape[1]}, 0, fill_random, &d[i]};
        }
        rc = path_in(path, dir, files[j], st) || export_safetensors_write(path, t, m, o->dtype, st) ? -1 : 0;
    }
    if (rc == 0) {
        const char **names = xcalloc((size_t)n, sizeof *names), **where = xcalloc((size_t)n, sizeof *where);
        for (int i = 0; i < n; i++) { names[i] = s[i].name; where[i] = files[shard[i]]; }
        rc = path_in(path, dir, "model.safetensors.index.json", st) ||
             export_safetensors_index_write(path, names, where, n, total, st) ? -1 : 0;
        free(names); free(where);
    }
    export_hf_opts ho = {o->dtype, HEAD_LM, NULL, NULL};
    if (rc == 0) rc = path_in(path, dir, "config.json", st) || export_write_hf_config(path, c, &ho, st) ? -1 : 0;
    if (rc == 0 && o->tokenizer)
        rc = path_in(path, dir, "tokenizer.model", st) || export_copy_file(o->tokenizer, path, st) ? -1 : 0;
    free(t); free(d); free(files); free(shard); free(s);
    return rc;
}

int random_model_write(const char *dir, const ModelConfig *cfg, const random_model_opts *o, qp_status *st) {
    if (config_validate(cfg, dir, st)) return -1;
    if (o->dtype >= EXPORT_DTYPE_COUNT) return qp_fail(st, "%s: a known dtype, found %d", dir, (int)o->dtype);
    export_stage stg;
    if (export_stage_begin(&stg, dir, st)) return -1;
    if (write_all(stg.tmp, cfg, o, st)) { export_stage_abort(&stg); return -1; }
    return export_stage_commit(&stg, st);
}
