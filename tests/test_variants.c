// tests/test_variants.c — backward of the Llama variants against central finite differences of the
// forward loss: an explicit head_dim (q/o width NH*HS != C) with GQA under each RoPE scaling (none,
// linear, llama3 with all three frequency bands populated), Qwen2's q/k/v biases and Qwen3's
// per-head q/k RMSNorm; adapters on all seven linears (lora) and every weight trainable (full). The forward itself is checked against a float64 PyTorch oracle
// by tests/test_variants.sh. Tolerance: |g - fd| <= 3e-3 + 3e-2 |fd| (fp32 loss, step 1e-2).
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "model/model.h"
#include <math.h>
#include <string.h>

enum { B = 2, T = 7, R = 2 };

static ModelConfig tiny(rope_scaling_kind kind, int bias, int qk_norm) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.dim = 24; c.hidden_dim = 40; c.n_layers = 2; c.n_heads = 4; c.n_kv_heads = 2; c.head_dim = 8;  // NH*HS = 32
    c.vocab_size = 37; c.max_seq_len = 16; c.norm_eps = 1e-5f; c.rope_theta = 500000.0f; c.tied_embeddings = 1;
    c.rope_scaling.kind = kind;
    c.attn_bias = bias;
    c.qk_norm = qk_norm;
    c.rope_scaling.factor = 8.0f;
    // Head size 8, theta 5e5: pair wavelengths 6.3, 168, 4.4e3, 1.2e5 against the band edges
    // 256/4 = 64 and 256/1 = 256: pair 0 kept, pair 1 smoothed, pairs 2-3 divided by the factor.
    c.rope_scaling.low_freq_factor = 1.0f; c.rope_scaling.high_freq_factor = 4.0f; c.rope_scaling.original_max_pos = 256;
    return c;
}

static double loss_of(Model *m, const int *ids, const int *tg) { return model_forward(m, ids, NULL, B, T, tg, NULL, NULL, 0); }

// Central differences on `n_probe` entries of p (spread over its length) against g.
static void fd_check(const char *name, Model *m, float *p, const float *g, size_t n, const int *ids, const int *tg) {
    const int n_probe = 24;
    double worst = 0, biggest = 0;
    int bad = 0;
    for (int k = 0; k < n_probe; k++) {
        size_t i = (size_t)((k * 2654435761u) % n);
        float keep = p[i];
        const float h = 1e-2f;
        p[i] = keep + h; double lp = loss_of(m, ids, tg);
        p[i] = keep - h; double lm = loss_of(m, ids, tg);
        p[i] = keep;
        double fd = (lp - lm) / (2.0 * h), err = fabs(g[i] - fd);
        if (err > 3e-3 + 3e-2 * fabs(fd)) { bad++; if (bad <= 3) printf("  %s[%zu]: grad %.6g fd %.6g\n", name, i, g[i], fd); }
        if (err > worst) worst = err;
        if (fabs(fd) > biggest) biggest = fabs(fd);
    }
    CHECK(bad == 0 && biggest > 1e-2, "%s: backward vs finite differences on %d entries (worst |g-fd| %.2e, max |fd| %.3g)",
          name, n_probe, worst, biggest);
}

static void run(rope_scaling_kind kind, int bias, int qk_norm, const char *kname, int full) {
    ModelConfig c = tiny(kind, bias, qk_norm);
    ModelWeights w; qp_status st = {0};
    if (weights_alloc(&w, &c, &st)) { CHECK(0, "weights_alloc: %s", st.msg); return; }
    qp_rng rng;
    rng_seed(&rng, 2385);
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = 0.3f * rng_normal(&rng);
    for (int l = 0; l < c.n_layers; l++)
        for (int i = 0; i < c.dim; i++) { w.attn_norm[l * c.dim + i] += 1.0f; w.ffn_norm[l * c.dim + i] += 1.0f; }
    for (int i = 0; i < c.dim; i++) w.final_norm[i] += 1.0f;
    for (int i = 0; qk_norm && i < c.n_layers * c.head_dim; i++) { w.q_norm[i] += 1.0f; w.k_norm[i] += 1.0f; }
    Model m;
    if (model_init(&m, &c, &w, full ? 0 : R, 4.0f, full ? 0 : 0x7f, HEAD_LM, full ? TRAIN_FULL : TRAIN_ADAPTERS, &st)) {
        CHECK(0, "model_init: %s", st.msg);
        return;
    }
    if (!full) for (size_t i = 0; i < m.n_params; i++) m.params[i] = 0.2f * rng_normal(&rng);  // A and B non-zero
    qp_quiet++;
    model_alloc_acts(&m, B, T);
    qp_quiet--;
    int ids[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++) { ids[i] = (int)rng_below(&rng, (uint32_t)c.vocab_size); tg[i] = (int)rng_below(&rng, (uint32_t)c.vocab_size); }
    tg[3] = -1;
    model_zero_grad(&m);
    loss_of(&m, ids, tg);
    model_backward(&m, ids, NULL, B, T, tg, NULL, NULL, 0);
    char name[96];
    if (full) {
        size_t QD = (size_t)c.n_heads * c.head_dim, KD = (size_t)c.n_kv_heads * c.head_dim;
        snprintf(name, sizeof name, "%s full dwq", kname); fd_check(name, &m, m.w.wq, m.gw.wq, c.n_layers * QD * c.dim, ids, tg);
        snprintf(name, sizeof name, "%s full dwk", kname); fd_check(name, &m, m.w.wk, m.gw.wk, c.n_layers * KD * c.dim, ids, tg);
        snprintf(name, sizeof name, "%s full dwo", kname); fd_check(name, &m, m.w.wo, m.gw.wo, c.n_layers * c.dim * QD, ids, tg);
        if (bias) {
            snprintf(name, sizeof name, "%s full dbq", kname); fd_check(name, &m, m.w.bq, m.gw.bq, c.n_layers * QD, ids, tg);
            snprintf(name, sizeof name, "%s full dbk", kname); fd_check(name, &m, m.w.bk, m.gw.bk, c.n_layers * KD, ids, tg);
            snprintf(name, sizeof name, "%s full dbv", kname); fd_check(name, &m, m.w.bv, m.gw.bv, c.n_layers * KD, ids, tg);
        }
        if (qk_norm) {
            size_t HS = (size_t)c.head_dim;
            snprintf(name, sizeof name, "%s full dq_norm", kname); fd_check(name, &m, m.w.q_norm, m.gw.q_norm, c.n_layers * HS, ids, tg);
            snprintf(name, sizeof name, "%s full dk_norm", kname); fd_check(name, &m, m.w.k_norm, m.gw.k_norm, c.n_layers * HS, ids, tg);
        }
    } else {
        snprintf(name, sizeof name, "%s lora dadapters", kname);
        fd_check(name, &m, m.params, m.grads, m.n_params, ids, tg);
    }
    model_free(&m);
}

int main(void) {
    const char *names[ROPE_SCALING_COUNT] = {"rope none", "rope linear", "rope llama3"};
    for (int k = 0; k < ROPE_SCALING_COUNT; k++) { run((rope_scaling_kind)k, 0, 0, names[k], 0); run((rope_scaling_kind)k, 0, 0, names[k], 1); }
    for (int full = 0; full < 2; full++) {
        run(ROPE_SCALING_NONE, 1, 0, "qwen2 biases", full);
        run(ROPE_SCALING_NONE, 0, 1, "qwen3 q/k norm", full);
    }
    return tl_finish();
}
