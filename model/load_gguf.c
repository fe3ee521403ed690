// model/load_gguf.c — a llama GGUF as a qpeft model with packed frozen bases (model/load_gguf.h).
// Tested by tests/test_gguf_base.c.
//
// GGUF conventions met here: a tensor's ne[0] is its contiguous (input) dimension, so a linear
// (out, in) is ne = [in, out]; llama.cpp's converter stores q/k rows in the interleaved-pair RoPE
// order qpeft uses internally (llama2.c's), so rows are taken as they are; a missing
// output.weight means the head is tied to token_embd.
#include "model/load_gguf.h"
#include "core/check.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "quant/ggml_blocks.h"
#include <stdlib.h>
#include <string.h>

// llama.cpp's names of the seven linears, in lin_kind order.
static const char *const GGUF_LINEAR[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

int gguf_is_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    fclose(f);
    return ok;
}

// An integer key of any integer GGUF type; def when absent and def >= 0, else an error.
static int get_int(const gguf_file *g, const char *key, long long def, int *out, qp_status *st) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) {
        if (def < 0) return qp_fail(st, "%s: key %s is missing (a llama GGUF has it)", g->path, key);
        *out = (int)def;
        return 0;
    }
    long long v;
    switch (kv->n == 1 ? kv->type : GGUF_ARR) {
    case GGUF_U32: v = *(const uint32_t *)kv->data; break;
    case GGUF_I32: v = *(const int32_t *)kv->data; break;
    case GGUF_U64: { uint64_t u = *(const uint64_t *)kv->data; v = u > (1ull << 31) ? -1 : (long long)u; break; }
    case GGUF_I64: v = *(const int64_t *)kv->data; break;
    default: return qp_fail(st, "%s: key %s: an integer, found another value type", g->path, key);
    }
    if (v <= 0 || v > 1 << 30) return qp_fail(st, "%s: key %s: a positive integer below 2^30, found %lld", g->path, key, v);
    *out = (int)v;
    return 0;
}

static int get_float(const gguf_file *g, const char *key, float def, float *out, qp_status *st) {
    if (!gguf_find(g, key) && def >= 0) { *out = def; return 0; }
    return gguf_get_f32(g, key, out, st);
}

static int read_config(const gguf_file *g, ModelConfig *c, qp_status *st) {
    memset(c, 0, sizeof *c);
    const char *arch = gguf_get_str(g, "general.architecture", st);
    if (!arch) return -1;
    if (strcmp(arch, "llama"))
        return qp_fail(st, "%s: architecture '%s' is not supported (qpeft reads llama GGUF files)", g->path, arch);
    if (get_int(g, "llama.embedding_length", -1, &c->dim, st) || get_int(g, "llama.feed_forward_length", -1, &c->hidden_dim, st) ||
        get_int(g, "llama.block_count", -1, &c->n_layers, st) || get_int(g, "llama.attention.head_count", -1, &c->n_heads, st) ||
        get_int(g, "llama.attention.head_count_kv", c->n_heads, &c->n_kv_heads, st) ||
        get_int(g, "llama.context_length", -1, &c->max_seq_len, st) ||
        get_float(g, "llama.attention.layer_norm_rms_epsilon", -1.0f, &c->norm_eps, st) ||
        get_float(g, "llama.rope.freq_base", 10000.0f, &c->rope_theta, st))
        return -1;
    int rope_dims = 0;
    if (c->n_heads > 0 && get_int(g, "llama.rope.dimension_count", c->dim / c->n_heads, &rope_dims, st)) return -1;
    if (c->n_heads > 0 && rope_dims != c->dim / c->n_heads)
        return qp_fail(st, "%s: llama.rope.dimension_count %d: partial RoPE is not supported (head size %d)", g->path, rope_dims,
                       c->dim / c->n_heads);
    int emb = gguf_find_tensor(g, "token_embd.weight");
    if (emb < 0) return qp_fail(st, "%s: tensor token_embd.weight is missing", g->path);
    if (g->t[emb].ne[1] <= 0 || g->t[emb].ne[1] > 1 << 24)
        return qp_fail(st, "%s: token_embd.weight: a vocabulary of 1..2^24 rows, found %lld", g->path, (long long)g->t[emb].ne[1]);
    c->vocab_size = (int)g->t[emb].ne[1];
    c->tied_embeddings = gguf_find_tensor(g, "output.weight") < 0;
    return config_validate(c, g->path, st);
}

// Tensor `name` of shape (rows, cols) (ne = [cols, rows]): its index, or -1 with a message.
static int find_shaped(const gguf_file *g, const char *name, int64_t rows, int64_t cols, qp_status *st) {
    int i = gguf_find_tensor(g, name);
    if (i < 0) return qp_fail(st, "%s: tensor %s is missing", g->path, name);
    const gguf_tensor_info *t = &g->t[i];
    int64_t r = 1;
    for (int d = 1; d < t->n_dims; d++) r *= t->ne[d];
    if (t->ne[0] != cols || r != rows)
        return qp_fail(st, "%s: tensor %s: shape [%lld, %lld] (ne0 = inputs), found [%lld, %lld]", g->path, name, (long long)cols,
                       (long long)rows, (long long)t->ne[0], (long long)r);
    return i;
}

// out NULL: only check the tensor is there with its shape (the pass before any allocation).
static int read_f32(const gguf_file *g, const char *name, int64_t rows, int64_t cols, float *out, qp_status *st) {
    int i = find_shaped(g, name, rows, cols, st);
    return i < 0 ? -1 : out ? gguf_read_f32(g, i, out, st) : 0;
}

// The packed format of a GGUF tensor type; -1 for F32 (kept fp32).
static int base_format(int ggml_type, quant_format *f) {
    if (ggml_type == GGML_ID_F32) return -1;
    if (ggml_type == GGML_ID_F16) { *f = (quant_format){QUANT_F16, 16, 0, 0}; return 0; }
    if (ggml_type == GGML_ID_BF16) { *f = (quant_format){QUANT_BF16, 16, 0, 0}; return 0; }
    return quant_format_from_ggml_type(ggml_type, f) ? -1 : 0;
}

// Linear k of layer l: packed into *q (dequantized copy in dst), or read as fp32 (F32 type);
// dst NULL: only the shape and type checks.
static int read_linear(const gguf_file *g, const ModelConfig *c, int l, int k, float *dst, QuantTensor **q, qp_status *st) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, GGUF_LINEAR[k]);
    int oc, ic;
    model_lin_shape(c, k, &oc, &ic);
    int i = find_shaped(g, name, oc, ic, st);
    if (i < 0) return -1;
    quant_format f;
    if (base_format(g->t[i].type, &f)) return dst ? gguf_read_f32(g, i, dst, st) : 0;
    if (!dst) return 0;
    uint8_t *raw = xmalloc((size_t)g->t[i].bytes + 1);
    int rc = gguf_read_raw(g, i, raw, st);
    if (!rc) {
        *q = quant_tensor_from_raw(&f, oc, ic, raw, (size_t)g->t[i].bytes, name, st);
        if (*q) quant_dequantize_rows(*q, 0, oc, dst);
        else rc = -1;
    }
    free(raw);
    return rc;
}

// w NULL: the dry pass — every tensor present with the config's shape — so that the weights
// are allocated only for a config the file's own tensors bear out (a hostile key cannot ask for
// terabytes).
static int read_weights(const gguf_file *g, const ModelConfig *c, ModelWeights *w, QuantTensor **qb, unsigned *mask, qp_status *st) {
    const int64_t C = c->dim, V = c->vocab_size;
    if (read_f32(g, "token_embd.weight", V, C, w ? w->tok_emb : NULL, st) ||
        read_f32(g, "output_norm.weight", 1, C, w ? w->final_norm : NULL, st))
        return -1;
    if (!c->tied_embeddings && read_f32(g, "output.weight", V, C, w ? w->lm_head : NULL, st)) return -1;
    *mask = (1u << LIN_COUNT) - 1;
    for (int l = 0; l < c->n_layers; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if (read_f32(g, name, 1, C, w ? w->attn_norm + l * C : NULL, st)) return -1;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if (read_f32(g, name, 1, C, w ? w->ffn_norm + l * C : NULL, st)) return -1;
        for (int k = 0; k < LIN_COUNT; k++) {
            QuantTensor **q = &qb[l * LIN_COUNT + k];
            if (read_linear(g, c, l, k, w ? model_lin_weight(w, c, l, k) : NULL, q, st)) return -1;
            if (!*q) *mask &= ~(1u << k);
        }
    }
    return 0;
}

const char *gguf_base_types(QuantTensor *const *qbase, int n, char *buf, size_t cap) {
    int seen[QUANT_KIND_COUNT] = {0};
    for (int i = 0; i < n; i++)
        if (qbase[i]) seen[quant_tensor_format(qbase[i])->kind] = 1;
    buf[0] = 0;
    for (int k = 0; k < QUANT_KIND_COUNT; k++) {
        if (!seen[k]) continue;
        quant_format f = {(quant_kind)k, 0, 0, 0};
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", len ? "+" : "", quant_format_name(&f, NULL, 0));
    }
    if (!buf[0]) snprintf(buf, cap, "f32");
    return buf;
}

int gguf_load_model(const char *path, ModelConfig *c, ModelWeights *w, QuantTensor ***qbase, unsigned *mask,
                    qp_status *st) {
    gguf_file g;
    if (gguf_open(&g, path, st)) return -1;
    ModelConfig cfg;
    unsigned m = 0;
    int rc = read_config(&g, &cfg, st);
    QuantTensor **qb = rc ? NULL : xcalloc((size_t)cfg.n_layers * LIN_COUNT, sizeof *qb);
    if (!rc) rc = read_weights(&g, &cfg, NULL, qb, &m, st);
    if (!rc) rc = weights_alloc(w, &cfg, st);
    if (rc) { free(qb); gguf_close(&g); return -1; }
    rc = read_weights(&g, &cfg, w, qb, &m, st);
    gguf_close(&g);
    if (rc) {
        qmodel_free_bases(qb, cfg.n_layers);
        weights_free(w);
        return -1;
    }
    *c = cfg;
    if (mask) *mask = m;
    if (qbase) *qbase = qb;
    else qmodel_free_bases(qb, cfg.n_layers);
    return 0;
}
