// model/weights.c — the fp32 weight block (one allocation, pointer table in struct order), its
// hash, the q/k RoPE row permutations and the path dispatch of model_load_weights.
// Tested by tests/test_loaders.c (llama2.c vs HF copies of tinystories-1M bit-identical, same hash).
#include "model/weights.h"
#include "model/weights_internal.h"
#include "core/check.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Per-tensor float counts, in the struct's order; the layout of ModelWeights.mem.
// Returns 0 on size_t overflow. Dimensions are assumed >= 0 (config_validate checks the rest).
enum { S_TOK, S_ATTN_NORM, S_WQ, S_WK, S_WV, S_WO, S_FFN_NORM, S_GATE, S_UP, S_DOWN, S_FINAL, S_LM,
       S_BQ, S_BK, S_BV, S_QNORM, S_KNORM, S_SCORE, S_COUNT };
typedef struct { size_t n[S_COUNT]; } Sizes;

static int mul3(size_t a, size_t b, size_t c, size_t *out) {
    size_t t;
    return qp_size_mul(a, b, &t) && qp_size_mul(t, c, out);
}

static int sizes_of(const ModelConfig *c, Sizes *s, size_t *total) {
    if (c->dim <= 0 || c->n_heads <= 0 || c->n_kv_heads < 0 || c->hidden_dim < 0 || c->n_layers < 0 ||
        c->vocab_size < 0 || c->n_labels < 0)
        return 0;
    size_t C = (size_t)c->dim, H = (size_t)c->hidden_dim, L = (size_t)c->n_layers, V = (size_t)c->vocab_size;
    size_t HS = c->head_dim > 0 ? (size_t)c->head_dim : C / (size_t)c->n_heads, QD = HS * (size_t)c->n_heads, KVD = HS * (size_t)c->n_kv_heads;
    int ok = qp_size_mul(V, C, &s->n[S_TOK]) && qp_size_mul(L, C, &s->n[S_ATTN_NORM]) &&
             mul3(L, QD, C, &s->n[S_WQ]) && mul3(L, KVD, C, &s->n[S_WK]) && mul3(L, KVD, C, &s->n[S_WV]) &&
             mul3(L, C, QD, &s->n[S_WO]) && qp_size_mul(L, C, &s->n[S_FFN_NORM]) &&
             mul3(L, H, C, &s->n[S_GATE]) && mul3(L, H, C, &s->n[S_UP]) && mul3(L, C, H, &s->n[S_DOWN]) &&
             qp_size_mul(c->tied_embeddings ? 0 : V, C, &s->n[S_LM]) &&
             qp_size_mul((size_t)c->n_labels, C, &s->n[S_SCORE]) &&
             qp_size_mul(c->attn_bias ? L : 0, QD, &s->n[S_BQ]) && qp_size_mul(c->attn_bias ? L : 0, KVD, &s->n[S_BK]) &&
             qp_size_mul(c->attn_bias ? L : 0, KVD, &s->n[S_BV]) && qp_size_mul(c->qk_norm ? L : 0, HS, &s->n[S_QNORM]) &&
             qp_size_mul(c->qk_norm ? L : 0, HS, &s->n[S_KNORM]);
    if (!ok) return 0;
    s->n[S_FINAL] = C;
    size_t t = 0;
    for (int i = 0; i < S_COUNT; i++)
        if (!qp_size_add(t, s->n[i], &t)) return 0;
    *total = t;
    return 1;
}

size_t weights_count(const ModelConfig *c) {
    Sizes s;
    size_t total;
    return sizes_of(c, &s, &total) ? total : 0;
}

int weights_alloc(ModelWeights *w, const ModelConfig *c, qp_status *st) {
    memset(w, 0, sizeof *w);
    if (config_validate(c, "weights_alloc", st)) return -1;
    Sizes s;
    size_t total, bytes;
    if (!sizes_of(c, &s, &total) || !qp_size_mul(total, sizeof(float), &bytes))
        return qp_fail(st, "weights_alloc: weight buffer size must fit in size_t, found an overflow");
    // calloc, not xcalloc: a config from a file may ask for more memory than there is, and
    // that is a user error to report, not a crash.
    float *m = calloc(total, sizeof(float));
    if (!m) return qp_fail(st, "weights_alloc: %zu bytes of memory for the weights, found none available", bytes);
    float **ptrs[S_COUNT] = {&w->tok_emb, &w->attn_norm, &w->wq, &w->wk, &w->wv, &w->wo, &w->ffn_norm,
                             &w->w_gate, &w->w_up, &w->w_down, &w->final_norm, &w->lm_head,
                             &w->bq, &w->bk, &w->bv, &w->q_norm, &w->k_norm, &w->score};
    float *p = m;
    for (int i = 0; i < S_COUNT; i++) { *ptrs[i] = s.n[i] || i <= S_LM ? p : NULL; p += s.n[i]; }
    if (c->tied_embeddings) w->lm_head = w->tok_emb;
    if (c->n_labels == 0) w->score = NULL;
    w->mem = m;
    w->n_floats = total;
    return 0;
}

void weights_free(ModelWeights *w) {
    if (!w) return;
    free(w->mem);
    memset(w, 0, sizeof *w);
}

// FNV-1a over the little-endian bytes of each float, so the hash is the same on any host.
static uint64_t fnv1a(uint64_t h, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int b = 0; b < 4; b++) { h ^= (u >> (8 * b)) & 0xFF; h *= 0x100000001b3ULL; }
    }
    return h;
}

uint64_t weights_hash(const ModelWeights *w, const ModelConfig *c) {
    Sizes s;
    size_t total;
    QP_ASSERT(sizes_of(c, &s, &total));
    const float *t[S_COUNT] = {w->tok_emb, w->attn_norm, w->wq, w->wk, w->wv, w->wo, w->ffn_norm,
                               w->w_gate, w->w_up, w->w_down, w->final_norm, w->lm_head,
                               w->bq, w->bk, w->bv, w->q_norm, w->k_norm, w->score};
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < S_SCORE; i++)  // score excluded; s.n[S_LM] is 0 when tied, the extras 0 when absent
        h = fnv1a(h, t[i], s.n[i]);
    return h;
}

void weights_hash_hex(uint64_t h, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

// HF's checkpoint converter permutes each head's rows so that RoPE can rotate halves
// (x[i], x[i+HS/2]) instead of pairs (x[2i], x[2i+1]). Row (h, 2i+p) of the interleaved
// layout is row (h, p*HS/2 + i) of HF's, p in {0,1}, i < HS/2.
void weights_rows_hf_to_interleaved(float *dst, const float *src, int n_heads, int head_size, int cols) {
    size_t C = (size_t)cols, half = (size_t)head_size / 2;
    for (size_t h = 0; h < (size_t)n_heads; h++)
        for (size_t i = 0; i < half; i++)
            for (size_t p = 0; p < 2; p++)
                memcpy(dst + (h * head_size + 2 * i + p) * C, src + (h * head_size + p * half + i) * C, C * sizeof(float));
}

void weights_rows_interleaved_to_hf(float *dst, const float *src, int n_heads, int head_size, int cols) {
    size_t C = (size_t)cols, half = (size_t)head_size / 2;
    for (size_t h = 0; h < (size_t)n_heads; h++)
        for (size_t i = 0; i < half; i++)
            for (size_t p = 0; p < 2; p++)
                memcpy(dst + (h * head_size + p * half + i) * C, src + (h * head_size + 2 * i + p) * C, C * sizeof(float));
}

int model_load_weights(const char *path, ModelConfig *c, ModelWeights *w, qp_status *st) {
    struct stat sb;
    memset(w, 0, sizeof *w);
    if (stat(path, &sb) != 0)
        return qp_fail(st, "%s: expected a model file or directory, found none (%s)", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return weights_load_hf(path, c, w, st);
    if (S_ISREG(sb.st_mode)) return weights_load_llama2c(path, c, w, st);
    return qp_fail(st, "%s: expected a model file or directory, found another kind of file", path);
}

int weights_check_finite(const float *x, size_t n, size_t per_layer, const char *path, const char *tensor, qp_status *st) {
    for (size_t i = 0; i < n; i++) {
        if (isfinite(x[i])) continue;
        const char *kind = isnan(x[i]) ? "nan" : "inf";
        if (per_layer)
            return qp_fail(st, "%s: finite values in %s, found %s at layer %zu, element %zu", path, tensor, kind,
                           i / per_layer, i % per_layer);
        return qp_fail(st, "%s: finite values in %s, found %s at element %zu", path, tensor, kind, i);
    }
    return 0;
}

void weights_le32_to_host(void *p, size_t n) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    if (first) return;  // little-endian host: the file's byte order already
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++, b += 4) {
        unsigned char t0 = b[0], t1 = b[1];
        b[0] = b[3]; b[1] = b[2]; b[2] = t1; b[3] = t0;
    }
}
