// model/config.c — range and divisibility checks on ModelConfig, run by every loader before
// any size is trusted. Tested by tests/test_loaders.c (absurd header values, overflow).
#include "model/config.h"
#include "model/weights.h"
#include "core/check.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MODEL_MAX_DIM     65536
#define MODEL_MAX_LAYERS  64
#define MODEL_MAX_VOCAB   (1 << 22)
#define MODEL_MAX_SEQ     (1 << 20)
#define MODEL_MAX_HIDDEN  (1 << 20)
#define MODEL_MAX_LABELS  (1 << 16)

// "<what>: <field> must be in [lo, hi], found N"
static int check_range(const char *what, const char *field, int v, int lo, int hi, qp_status *st) {
    if (v < lo || v > hi) return qp_fail(st, "%s: %s must be in [%d, %d], found %d", what, field, lo, hi, v);
    return 0;
}

const char *config_family_name(model_family f) {
    static const char *const NAMES[FAMILY_COUNT] = {"llama", "mistral", "qwen2", "qwen3"};
    return f >= 0 && f < FAMILY_COUNT ? NAMES[f] : "?";
}

static int rope_scaling_check(const RopeScaling *r, const char *what, qp_status *st) {
    if (r->kind == ROPE_SCALING_NONE) return 0;
    if (r->kind < 0 || r->kind >= ROPE_SCALING_COUNT) return qp_fail(st, "%s: unknown rope_scaling kind %d", what, (int)r->kind);
    if (!(isfinite(r->factor) && r->factor >= 1.0f && r->factor <= 1e6f))
        return qp_fail(st, "%s: rope_scaling factor must be in [1, 1e6], found %g", what, (double)r->factor);
    if (r->kind == ROPE_SCALING_LLAMA3 &&
        !(isfinite(r->low_freq_factor) && isfinite(r->high_freq_factor) && r->low_freq_factor > 0 &&
          r->high_freq_factor > r->low_freq_factor && r->original_max_pos > 0))
        return qp_fail(st, "%s: rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor and "
                       "original_max_position_embeddings > 0, found %g, %g, %d", what, (double)r->low_freq_factor,
                       (double)r->high_freq_factor, r->original_max_pos);
    return 0;
}

int config_validate(const ModelConfig *c, const char *what, qp_status *st) {
    if (check_range(what, "dim", c->dim, 1, MODEL_MAX_DIM, st) ||
        check_range(what, "hidden_dim", c->hidden_dim, 1, MODEL_MAX_HIDDEN, st) ||
        check_range(what, "n_layers", c->n_layers, 1, MODEL_MAX_LAYERS, st) ||
        check_range(what, "n_heads", c->n_heads, 1, c->dim, st) ||
        check_range(what, "n_kv_heads", c->n_kv_heads, 1, c->n_heads, st) ||
        check_range(what, "vocab_size", c->vocab_size, 1, MODEL_MAX_VOCAB, st) ||
        check_range(what, "max_seq_len", c->max_seq_len, 1, MODEL_MAX_SEQ, st) ||
        check_range(what, "tied_embeddings", c->tied_embeddings, 0, 1, st) ||
        check_range(what, "n_labels", c->n_labels, 0, MODEL_MAX_LABELS, st) ||
        check_range(what, "attn_bias", c->attn_bias, 0, 1, st) || check_range(what, "qk_norm", c->qk_norm, 0, 1, st))
        return -1;
    if (c->head_dim < 0 || c->head_dim > MODEL_MAX_DIM)
        return qp_fail(st, "%s: head_dim must be in [0, %d], found %d", what, MODEL_MAX_DIM, c->head_dim);
    if (c->head_dim == 0 && c->dim % c->n_heads)
        return qp_fail(st, "%s: dim must be a multiple of n_heads (%d), found %d", what, c->n_heads, c->dim);
    if (c->n_heads % c->n_kv_heads)
        return qp_fail(st, "%s: n_heads must be a multiple of n_kv_heads (%d), found %d", what, c->n_kv_heads, c->n_heads);
    if (config_head_size(c) % 2)  // RoPE rotates pairs of a head
        return qp_fail(st, c->head_dim ? "%s: head_dim must be even, found %d" : "%s: head size dim/n_heads must be even, found %d",
                       what, config_head_size(c));
    if (c->family < 0 || c->family >= FAMILY_COUNT) return qp_fail(st, "%s: unknown model family %d", what, (int)c->family);
    if (rope_scaling_check(&c->rope_scaling, what, st)) return -1;
    if (!(isfinite(c->norm_eps) && c->norm_eps > 0.0f && c->norm_eps < 1.0f))
        return qp_fail(st, "%s: norm_eps must be finite and in (0, 1), found %g", what, (double)c->norm_eps);
    if (!(isfinite(c->rope_theta) && c->rope_theta > 1.0f))
        return qp_fail(st, "%s: rope_theta must be finite and > 1, found %g", what, (double)c->rope_theta);
    // Every buffer the weights need, in bytes, must fit size_t (weights_count returns 0 on overflow).
    size_t n = weights_count(c), bytes;
    if (n == 0 || !qp_size_mul(n, sizeof(float), &bytes))
        return qp_fail(st, "%s: weight buffer size must fit in size_t, found an overflow (dim %d, hidden %d, layers %d, vocab %d)",
                       what, c->dim, c->hidden_dim, c->n_layers, c->vocab_size);
    return 0;
}

// dim, hidden, layers, heads, kv heads, vocab, context; all untied, eps 1e-5, theta 10000 (the
// published TinyLlama-1.1B and Llama-2-7B configs; the test shapes keep Llama-2's vocabulary so
// they use its tokenizer).
static const struct { const char *name; int C, H, L, NH, NKV, V, T; } PRESETS[] = {
    {"tinyllama-1.1b", 2048, 5632, 22, 32, 4, 32000, 2048},
    {"llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096},
    {"mid-44m", 512, 1376, 4, 8, 4, 32000, 512},
    {"tiny-2l", 64, 176, 2, 4, 2, 32000, 128},
};

int config_preset(const char *name, ModelConfig *c, qp_status *st) {
    size_t n = sizeof PRESETS / sizeof PRESETS[0];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, PRESETS[i].name)) continue;
        memset(c, 0, sizeof *c);  // plain Llama: no explicit head_dim, RoPE scaling, biases or q/k norms
        *c = (ModelConfig){.dim = PRESETS[i].C, .hidden_dim = PRESETS[i].H, .n_layers = PRESETS[i].L,
                           .n_heads = PRESETS[i].NH, .n_kv_heads = PRESETS[i].NKV, .vocab_size = PRESETS[i].V,
                           .max_seq_len = PRESETS[i].T, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
        return 0;
    }
    return qp_fail(st, "shape '%s': expected tinyllama-1.1b, llama2-7b, mid-44m or tiny-2l", name);
}
