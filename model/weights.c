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
#include <unistd.h>

// Per-tensor float counts, in the struct's order; the layout of ModelWeights.mem.
// Returns 0 on size_t overflow. Dimensions are assumed >= 0 (config_validate checks the rest).
typedef struct { size_t n[WT_COUNT]; } Sizes;
enum { S_TOK = WT_TOK, S_ATTN_NORM, S_WQ, S_WK, S_WV, S_WO, S_FFN_NORM, S_GATE, S_UP, S_DOWN, S_FINAL, S_LM,
       S_BQ, S_BK, S_BV, S_QNORM, S_KNORM, S_SCORE, S_COUNT };
_Static_assert((int)S_COUNT == (int)WT_COUNT, "one tensor order");

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

static const int LIN_TENSOR[7] = {S_WQ, S_WK, S_WV, S_WO, S_GATE, S_UP, S_DOWN};

int weights_lin_tensor(int k) { QP_ASSERT(k >= 0 && k < 7); return LIN_TENSOR[k]; }

int weights_tensor_lin(int t) {
    for (int k = 0; k < 7; k++)
        if (LIN_TENSOR[k] == t) return k;
    return -1;
}

size_t weights_count(const ModelConfig *c) {
    Sizes s;
    size_t total;
    return sizes_of(c, &s, &total) ? total : 0;
}

int weights_alloc(ModelWeights *w, const ModelConfig *c, qp_status *st) { return weights_alloc_packed(w, c, 0, st); }

int weights_alloc_packed(ModelWeights *w, const ModelConfig *c, unsigned packed_mask, qp_status *st) {
    memset(w, 0, sizeof *w);
    if (config_validate(c, "weights_alloc", st)) return -1;
    Sizes s;
    size_t total, bytes;
    if (!sizes_of(c, &s, &total) || !qp_size_mul(total, sizeof(float), &bytes))
        return qp_fail(st, "weights_alloc: weight buffer size must fit in size_t, found an overflow");
    for (int k = 0; k < 7; k++)
        if (packed_mask >> k & 1u) { total -= s.n[LIN_TENSOR[k]]; s.n[LIN_TENSOR[k]] = 0; }
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
    for (int k = 0; k < 7; k++)
        if (packed_mask >> k & 1u) *ptrs[LIN_TENSOR[k]] = NULL;
    w->packed_mask = packed_mask;
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

#define FNV_OFFSET 0xcbf29ce484222325ULL

uint64_t weights_hash(const ModelWeights *w, const ModelConfig *c) {
    if (w->packed_mask) return w->hash;  // no fp32 copy to hash: the loader's streamed hash
    Sizes s;
    size_t total;
    QP_ASSERT(sizes_of(c, &s, &total));
    const float *t[S_COUNT] = {w->tok_emb, w->attn_norm, w->wq, w->wk, w->wv, w->wo, w->ffn_norm,
                               w->w_gate, w->w_up, w->w_down, w->final_norm, w->lm_head,
                               w->bq, w->bk, w->bv, w->q_norm, w->k_norm, w->score};
    uint64_t h = FNV_OFFSET;
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
    return model_load_weights_packed(path, c, w, NULL, st);
}

int weights_source_open(const char *path, ModelConfig *c, WeightsSource **out, qp_status *st) {
    struct stat sb;
    *out = NULL;
    if (stat(path, &sb) != 0)
        return qp_fail(st, "%s: expected a model file or directory, found none (%s)", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return weights_hf_open(path, c, out, st);
    if (S_ISREG(sb.st_mode)) return weights_llama2c_open(path, c, out, st);
    return qp_fail(st, "%s: expected a model file or directory, found another kind of file", path);
}

int weights_source_read(WeightsSource *s, int t, int l, float *dst, qp_status *st) { return s->read(s->impl, t, l, dst, st); }

void weights_source_close(WeightsSource *s) {
    if (!s) return;
    s->close(s->impl);
    free(s);
}

// Input width of a linear tensor: o_proj reads the heads, down_proj the MLP, the rest the stream.
static int lin_cols(const ModelConfig *c, int t) {
    if (t == S_WO) return c->n_heads * config_head_size(c);
    return t == S_DOWN ? c->hidden_dim : c->dim;
}

// Per-layer tensors are read (and packed) layer by layer; the others whole.
static int per_layer_tensor(int t) { return (t >= WT_ATTN_NORM && t <= WT_DOWN) || (t >= WT_BQ && t <= WT_KNORM); }

int weights_source_load(WeightsSource *src, const ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                        qp_status *st) {
    unsigned mask = pack ? pack->mask & 0x7fu : 0;
    if (weights_alloc_packed(w, c, mask, st)) return -1;
    Sizes s;
    size_t total;
    QP_ASSERT(sizes_of(c, &s, &total));
    float *const ptrs[S_COUNT] = {w->tok_emb, w->attn_norm, w->wq, w->wk, w->wv, w->wo, w->ffn_norm,
                                  w->w_gate, w->w_up, w->w_down, w->final_norm, w->lm_head,
                                  w->bq, w->bk, w->bv, w->q_norm, w->k_norm, w->score};
    size_t L = (size_t)c->n_layers, stage_n = 0;
    for (int k = 0; k < 7; k++)
        if (mask >> k & 1u && s.n[LIN_TENSOR[k]] / L > stage_n) stage_n = s.n[LIN_TENSOR[k]] / L;
    float *stage = stage_n ? malloc(stage_n * sizeof(float)) : NULL;
    if (stage_n && !stage) { weights_free(w); return qp_fail(st, "memory for a %zu-float staging buffer, found none", stage_n); }
    uint64_t h = FNV_OFFSET;
    int rc = 0;
    for (int t = 0; t < S_COUNT && rc == 0; t++) {
        if (s.n[t] == 0 || (t == S_LM && c->tied_embeddings)) continue;
        int k = weights_tensor_lin(t), packed = k >= 0 && (mask >> k & 1u);
        size_t nl = per_layer_tensor(t) ? L : 1, per = s.n[t] / nl;
        for (size_t l = 0; l < nl && rc == 0; l++) {
            float *dst = packed ? stage : ptrs[t] + l * per;
            rc = weights_source_read(src, t, (int)l, dst, st);
            if (rc) break;
            if (t != S_SCORE) h = fnv1a(h, dst, per);
            if (!packed || !pack->fmt) continue;  // no format: read for the hash only
            int IC = lin_cols(c, t), OC = (int)(per / (size_t)IC);
            QuantTensor **q = &pack->out[l * 7 + (size_t)k];
            quant_tensor_free(*q);
            *q = quant_tensor_quantize(stage, OC, IC, pack->fmt);
        }
    }
    free(stage);
    if (rc) { weights_free(w); return -1; }
    w->hash = h;
    return 0;
}

int weights_load_via(weights_open_fn open_fn, const char *path, ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                     qp_status *st) {
    WeightsSource *src;
    memset(w, 0, sizeof *w);
    if (open_fn(path, c, &src, st)) return -1;
    int rc = weights_source_load(src, c, w, pack, st);
    weights_source_close(src);
    return rc;
}

int model_load_weights_packed(const char *path, ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                              qp_status *st) {
    return weights_load_via(weights_source_open, path, c, w, pack, st);
}

int weights_pread_exact(int fd, void *p, size_t n, size_t off, const char *path, qp_status *st) {
    unsigned char *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return qp_fail(st, "%s: readable data at byte %zu, found a read error (%s)", path, off, strerror(errno));
        if (r == 0) return qp_fail(st, "%s: %zu more bytes at byte %zu, found end of file (file changed while loading?)", path, n, off);
        b += r; off += (size_t)r; n -= (size_t)r;
    }
    return 0;
}

int weights_check_finite(const float *x, size_t n, size_t per_layer, const char *path, const char *tensor, qp_status *st) {
    return weights_check_finite_at(x, n, 0, per_layer, path, tensor, st);
}

int weights_check_finite_at(const float *x, size_t n, size_t first, size_t per_layer, const char *path,
                            const char *tensor, qp_status *st) {
    for (size_t j = 0; j < n; j++) {
        if (isfinite(x[j])) continue;
        size_t i = first + j;
        const char *kind = isnan(x[j]) ? "nan" : "inf";
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
