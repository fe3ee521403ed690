// model/model.c — model set-up, the trainable block, the activation arena, and the explicit
// layer-by-layer forward and backward. Tested by tests/test_model.c (PyTorch float64 oracle on
// tinystories-1M for all three heads, with non-zero adapters on every linear).
#include "model/model.h"
#include "core/check.h"
#include "core/la.h"
#include "model/layers.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const lin_names[LIN_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
const char *const adapter_quant_names[AQUANT_COUNT] = {"none", "same"};

int adapter_quant_parse(const char *s) {
    for (int k = 0; k < AQUANT_COUNT; k++)
        if (!strcmp(s, adapter_quant_names[k])) return k;
    return -1;
}

static int lin_in(const ModelConfig *c, int k) {
    if (k == LIN_O) return c->n_heads * config_head_size(c);
    if (k == LIN_DOWN) return c->hidden_dim;
    return c->dim;
}

static int lin_out(const ModelConfig *c, int k) {
    int hs = config_head_size(c);
    switch (k) {
    case LIN_Q: return c->n_heads * hs;
    case LIN_K: case LIN_V: return c->n_kv_heads * hs;
    case LIN_O: case LIN_DOWN: return c->dim;
    default: return c->hidden_dim;
    }
}

// Base fp32 weight of layer l, kind k (inside the weights block).
static float *base_ptr(const ModelWeights *w, const ModelConfig *c, int l, int k) {
    size_t per = (size_t)lin_out(c, k) * lin_in(c, k);
    float *base[LIN_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    return base[k] ? base[k] + (size_t)l * per : NULL;
}

static int targeted(const Model *m, int k) { return m->rank > 0 && (m->target_mask >> k & 1u); }

// Point A/B (and dA/dB) at their slots; returns the floats used by adapters.
static size_t layout_adapters(Model *m, float *p, float *g) {
    const ModelConfig *c = &m->cfg;
    size_t off = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            m->A[i] = m->B[i] = m->dA[i] = m->dB[i] = NULL;
            if (!targeted(m, k)) continue;
            size_t na = (size_t)m->rank * lin_in(c, k), nb = (size_t)lin_out(c, k) * m->rank;
            if (p) { m->A[i] = p + off; m->B[i] = p + off + na; }
            if (g) { m->dA[i] = g + off; m->dB[i] = g + off + na; }
            off += na + nb;
        }
    return off;
}

// Mirror of weights_alloc's pointer layout over a gradient block of the same size.
static void mirror_weights(ModelWeights *gw, const ModelWeights *w, float *g) {
    *gw = *w;
    float **dst = &gw->tok_emb;
    float *const *src = &w->tok_emb;
    for (float *const *s = src; s <= &w->score; s++, dst++)
        *dst = *s ? g + (*s - w->mem) : NULL;
    gw->mem = g;
}

int model_init(Model *m, const ModelConfig *cfg, ModelWeights *w, int rank, float alpha, unsigned target_mask,
               head_kind head, train_kind train, qp_status *st) {
    memset(m, 0, sizeof *m);
    if (cfg->n_layers > MODEL_MAX_LAYERS) return qp_fail(st, "model has %d layers; qpeft supports at most %d", cfg->n_layers, MODEL_MAX_LAYERS);
    if (rank < 0 || rank > 4096) return qp_fail(st, "--rank must be in 0..4096, got %d", rank);
    if (head != HEAD_LM && cfg->n_labels <= 0) return qp_fail(st, "a classification/regression head needs n_labels > 0");
    m->cfg = *cfg;
    m->w = *w;
    memset(w, 0, sizeof *w);
    m->rank = rank;
    m->alpha = alpha;
    m->target_mask = target_mask;
    m->head = head;
    m->train = train;
    m->qbase = xcalloc((size_t)cfg->n_layers * LIN_COUNT, sizeof *m->qbase);
    size_t n_score = (size_t)cfg->n_labels * cfg->dim;
    if (train == TRAIN_FULL) {
        m->params = m->w.mem;
        m->n_params = m->w.n_floats;
        m->grads = xcalloc(m->n_params, sizeof(float));
        mirror_weights(&m->gw, &m->w, m->grads);
        m->dscore = m->gw.score;
        layout_adapters(m, NULL, NULL);
        if (rank > 0) return qp_fail(st, "full fine-tuning trains every weight; it takes no adapters (rank 0)");
        return 0;
    }
    size_t n_ad = layout_adapters(m, NULL, NULL);
    m->n_params = n_ad + n_score;
    m->params = xcalloc(m->n_params ? m->n_params : 1, sizeof(float));
    m->grads = xcalloc(m->n_params ? m->n_params : 1, sizeof(float));
    layout_adapters(m, m->params, m->grads);
    if (n_score) {  // the head moves into the trainable block (PEFT's modules_to_save)
        memcpy(m->params + n_ad, m->w.score, n_score * sizeof(float));
        m->w.score = m->params + n_ad;
        m->dscore = m->grads + n_ad;
    }
    if (train == TRAIN_NONE) { free(m->grads); m->grads = NULL; layout_adapters(m, m->params, NULL); m->dscore = NULL; }
    return 0;
}

void model_quantize_base(Model *m, const quant_format *fmt, unsigned quant_mask) {
    const ModelConfig *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(quant_mask >> k & 1u)) continue;
            QuantTensor **q = &m->qbase[l * LIN_COUNT + k];
            if (*q) quant_tensor_free(*q);
            *q = quant_tensor_quantize(base_ptr(&m->w, c, l, k), lin_out(c, k), lin_in(c, k), fmt);
        }
}

Linear model_linear(const Model *m, int l, int k) {
    const ModelConfig *c = &m->cfg;
    int i = l * LIN_COUNT + k;
    Linear lin = {0};
    lin.in = lin_in(c, k);
    lin.out = lin_out(c, k);
    lin.qw = m->qbase ? m->qbase[i] : NULL;
    lin.w = lin.qw ? NULL : base_ptr(&m->w, c, l, k);
    if (m->train == TRAIN_FULL && m->grads) lin.dw = base_ptr(&m->gw, c, l, k);
    if (targeted(m, k)) {
        lin.rank = m->rank;
        lin.scale = m->alpha / (float)m->rank;
        lin.A = m->A[i]; lin.B = m->B[i];
        lin.dA = m->dA[i]; lin.dB = m->dB[i];
        lin.qer = m->adapter_quant == AQUANT_SAME;
    }
    return lin;
}

static size_t max_scratch(const Model *m, int BT) {
    size_t s = 0;
    for (int k = 0; k < LIN_COUNT; k++) {
        Linear lin = model_linear(m, 0, k);
        // a packed base may be added, or QER mode set, after allocation: always count the
        // dequantization tile and QER's quantized adapters (linear_scratch_floats)
        size_t n = (size_t)lin.out * lin.in + 2 * (size_t)BT * lin.in + (size_t)BT * m->rank +
                   (size_t)m->rank * (lin.in + lin.out);
        if (n > s) s = n;
    }
    return s;
}

void model_alloc_acts(Model *m, int B, int T) {
    const ModelConfig *c = &m->cfg;
    ModelActs *a = &m->acts;
    if (a->mem) free(a->mem);
    memset(a, 0, sizeof *a);
    m->max_B = B; m->max_T = T;
    size_t L = c->n_layers, BT = (size_t)B * T, C = c->dim, H = c->hidden_dim, HS = config_head_size(c);
    size_t NH = c->n_heads, NKV = c->n_kv_heads, R = m->rank, V = c->vocab_size;
    size_t QD = NH * HS, KD = NKV * HS, NL = c->n_labels > 0 ? c->n_labels : 1;
    size_t att = (size_t)B * NH * T * T;
    size_t logits = m->head == HEAD_LM ? BT * V : (size_t)B * NL;
    size_t wide = C > H ? C : H;
    size_t att_scratch = attention_scratch_floats(B, T, (int)NKV);
    if (att_scratch < att) att_scratch = att;
    size_t sizes[] = {
        (L + 1) * BT * C, L * BT * C, L * BT, L * BT * QD, L * BT * KD, L * BT * KD, L * att, L * BT * QD,
        L * BT * C, L * BT * C, L * BT, L * BT * H, L * BT * H, L * BT * H, L * LIN_COUNT * BT * R, BT * C, BT,
        logits, BT,
        BT * C, BT * wide, BT * QD, BT * KD, BT * KD, att_scratch, BT * QD, BT * H, BT * H, BT * H, (size_t)B * NL,
        max_scratch(m, (int)BT), BT * wide, (size_t)T * HS / 2, (size_t)T * HS / 2};
    float **ptrs[] = {&a->x, &a->ln1, &a->ln1_rstd, &a->q, &a->k, &a->v, &a->att, &a->atty,
                      &a->xmid, &a->ln2, &a->ln2_rstd, &a->gate, &a->up, &a->hmlp, &a->xa, &a->lnf, &a->lnf_rstd,
                      &a->logits, &a->losses,
                      &a->dx, &a->dln, &a->dq, &a->dk, &a->dv, &a->datt, &a->datty, &a->dh, &a->dgate, &a->dup,
                      &a->dlogits_head, &a->lin_scratch, &a->drop, &a->rope_cos, &a->rope_sin};
    size_t n = sizeof sizes / sizeof sizes[0], total = 0;
    for (size_t i = 0; i < n; i++) total += sizes[i];
    a->mem = xcalloc(total, sizeof(float));
    a->n_floats = total;
    float *p = a->mem;
    for (size_t i = 0; i < n; i++) { *ptrs[i] = p; p += sizes[i]; }
    free(m->full_lens);
    m->full_lens = xmalloc((size_t)B * sizeof(int));
    a->att_scratch_floats = att_scratch;
    rope_table(a->rope_cos, a->rope_sin, T, (int)HS, c->rope_theta, m->rope_llama2c);
    qp_info("activations: %.1f MiB for B=%d T=%d (attention probabilities %.1f MiB)", total * 4.0 / 1048576, B, T,
            L * att * 4.0 / 1048576);
}

void model_free(Model *m) {
    if (m->qbase)
        for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++) quant_tensor_free(m->qbase[i]);
    free(m->qbase);
    if (m->train != TRAIN_FULL) free(m->params);
    free(m->grads);
    weights_free(&m->w);
    free(m->acts.mem);
    free(m->full_lens);
    memset(m, 0, sizeof *m);
}

size_t model_param_count(const Model *m) {
    return weights_count(&m->cfg) + (m->train == TRAIN_FULL ? 0 : m->n_params - (size_t)m->cfg.n_labels * m->cfg.dim);
}

void model_zero_grad(Model *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

// Counter-based dropout masks: the same (seed, step, layer, kind) key regenerates the same
// mask in backward, so no mask is stored per linear. Each row is keyed by its global row in the
// batch (drop_row0 + b) and counts positions t*in + j within the row: a row's mask depends on
// neither the other rows, the padded length T, nor which data-parallel rank holds it, so N ranks
// drop exactly what one process drops for the same global batch.
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const float *dropout_mask(Model *m, int l, int k, int BT, int in, int training) {
    if (!training || m->dropout <= 0.0f || !targeted(m, k)) return NULL;
    float *d = m->acts.drop, keep = 1.0f / (1.0f - m->dropout);
    uint64_t key = mix64(m->dropout_seed ^ mix64(m->step * 0x9e3779b97f4a7c15ULL + (uint64_t)(l * LIN_COUNT + k)));
    uint64_t thresh = (uint64_t)((double)m->dropout * 18446744073709551616.0);
    const size_t row = (size_t)m->drop_T * in, n = (size_t)BT * in;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t row_key = mix64(key + (uint64_t)(m->drop_row0 + (int64_t)(i / row)) * 0xd1b54a32d192ed03ULL);
        d[i] = mix64(row_key + (i % row) * 0x9e3779b97f4a7c15ULL) < thresh ? 0.0f : keep;
    }
    return d;
}

static void run_linear(Model *m, float *out, int l, int k, const float *inp, int BT, int training) {
    Linear lin = model_linear(m, l, k);
    float *xa = m->acts.xa + ((size_t)l * LIN_COUNT + k) * BT * m->rank;
    const float *drop = dropout_mask(m, l, k, BT, lin.in, training);
    linear_forward(out, xa, inp, drop, &lin, BT, m->acts.lin_scratch);
}

static void run_linear_backward(Model *m, float *dinp, const float *dout, int l, int k, const float *inp, int BT,
                                int training) {
    Linear lin = model_linear(m, l, k);
    const float *xa = m->acts.xa + ((size_t)l * LIN_COUNT + k) * BT * m->rank;
    const float *drop = dropout_mask(m, l, k, BT, lin.in, training);
    linear_backward(dinp, dout, inp, drop, xa, &lin, BT, m->acts.lin_scratch);
}

static void add_inplace(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static double head_forward(Model *m, int B, int T, const int *lens, const int *targets, const int *labels,
                           const float *scores) {
    const ModelConfig *c = &m->cfg;
    ModelActs *a = &m->acts;
    int BT = B * T;
    if (m->head == HEAD_LM) {
        la_sgemm(0, 1, BT, c->vocab_size, c->dim, 1.0f, a->lnf, c->dim, m->w.lm_head, c->dim, 0.0f, a->logits, c->vocab_size);
        if (!targets) return 0.0;
        return crossentropy_softmax_forward(a->logits, a->losses, a->logits, targets, B, T, c->vocab_size);
    }
    int NL = m->head == HEAD_REGRESS ? 1 : c->n_labels;
    if (!lens) {  // no padding: every row pools its last position
        for (int b = 0; b < B; b++) m->full_lens[b] = T;
        lens = m->full_lens;
    }
    seqhead_forward(a->logits, a->lnf, lens, m->w.score, B, T, c->dim, NL);
    if (m->head == HEAD_CLASSIFY)
        return labels ? crossentropy_softmax_forward(a->logits, a->losses, a->logits, labels, B, 1, NL) : 0.0;
    return scores ? mse_forward(a->logits, scores, B) : 0.0;
}

double model_forward(Model *m, const int *ids, const int *lens, int B, int T, const int *targets,
                     const int *labels, const float *scores, int training) {
    const ModelConfig *c = &m->cfg;
    ModelActs *a = &m->acts;
    QP_ASSERT(B <= m->max_B && T <= m->max_T);
    m->drop_T = T;
    const int BT = B * T, C = c->dim, H = c->hidden_dim, HS = config_head_size(c);
    const int NH = c->n_heads, NKV = c->n_kv_heads;
    const size_t sC = (size_t)BT * C, sH = (size_t)BT * H, sQ = (size_t)BT * NH * HS, sK = (size_t)BT * NKV * HS;
    const size_t sAtt = (size_t)B * NH * T * T;
    encoder_forward(a->x, ids, m->w.tok_emb, B, T, C, c->vocab_size);
    for (int l = 0; l < c->n_layers; l++) {
        float *x = a->x + l * sC, *ln1 = a->ln1 + l * sC, *q = a->q + l * sQ, *k = a->k + l * sK, *v = a->v + l * sK;
        float *att = a->att + l * sAtt, *atty = a->atty + l * sQ, *xmid = a->xmid + l * sC, *ln2 = a->ln2 + l * sC;
        float *gate = a->gate + l * sH, *up = a->up + l * sH, *hmlp = a->hmlp + l * sH, *tmp = a->dln;
        rmsnorm_forward(ln1, a->ln1_rstd + (size_t)l * BT, x, m->w.attn_norm + (size_t)l * C, B, T, C, c->norm_eps);
        run_linear(m, q, l, LIN_Q, ln1, BT, training);
        run_linear(m, k, l, LIN_K, ln1, BT, training);
        run_linear(m, v, l, LIN_V, ln1, BT, training);
        rope_forward(q, a->rope_cos, a->rope_sin, B, T, NH, HS, 0);
        rope_forward(k, a->rope_cos, a->rope_sin, B, T, NKV, HS, 0);
        attention_forward(atty, att, q, k, v, B, T, NH, NKV, HS);
        run_linear(m, tmp, l, LIN_O, atty, BT, training);
        memcpy(xmid, x, sC * sizeof(float));
        add_inplace(xmid, tmp, sC);
        rmsnorm_forward(ln2, a->ln2_rstd + (size_t)l * BT, xmid, m->w.ffn_norm + (size_t)l * C, B, T, C, c->norm_eps);
        run_linear(m, gate, l, LIN_GATE, ln2, BT, training);
        run_linear(m, up, l, LIN_UP, ln2, BT, training);
        swiglu_forward(hmlp, gate, up, B, T, H);
        run_linear(m, tmp, l, LIN_DOWN, hmlp, BT, training);
        float *xnext = a->x + (l + 1) * sC;
        memcpy(xnext, xmid, sC * sizeof(float));
        add_inplace(xnext, tmp, sC);
    }
    rmsnorm_forward(a->lnf, a->lnf_rstd, a->x + (size_t)c->n_layers * sC, m->w.final_norm, B, T, C, c->norm_eps);
    return head_forward(m, B, T, lens, targets, labels, scores);
}

// Backward of the head into acts.dx (gradient of lnf), and into the head's own weights.
static void head_backward(Model *m, int B, int T, const int *lens, const int *targets, const int *labels,
                          const float *scores) {
    const ModelConfig *c = &m->cfg;
    ModelActs *a = &m->acts;
    int BT = B * T, C = c->dim;
    memset(a->dx, 0, (size_t)BT * C * sizeof(float));
    if (m->head == HEAD_LM) {
        crossentropy_softmax_backward(a->logits, a->logits, targets, B, T, c->vocab_size, 1.0f);  // probs become dlogits
        la_sgemm(0, 0, BT, C, c->vocab_size, 1.0f, a->logits, c->vocab_size, m->w.lm_head, C, 0.0f, a->dx, C);
        if (m->train == TRAIN_FULL && m->grads)
            la_sgemm(1, 0, c->vocab_size, C, BT, 1.0f, a->logits, c->vocab_size, a->lnf, C, 1.0f, m->gw.lm_head, C);
        return;
    }
    int NL = m->head == HEAD_REGRESS ? 1 : c->n_labels;
    if (!lens) lens = m->full_lens;  // filled by the forward
    float *dlog = a->dlogits_head;
    memset(dlog, 0, (size_t)B * NL * sizeof(float));
    if (m->head == HEAD_CLASSIFY) crossentropy_softmax_backward(dlog, a->logits, labels, B, 1, NL, 1.0f);
    else mse_backward(dlog, a->logits, scores, B, 1.0f);
    seqhead_backward(a->dx, m->dscore, dlog, a->lnf, lens, m->w.score, B, T, C, NL);
}

void model_backward(Model *m, const int *ids, const int *lens, int B, int T, const int *targets,
                    const int *labels, const float *scores, int training) {
    const ModelConfig *c = &m->cfg;
    ModelActs *a = &m->acts;
    const int BT = B * T, C = c->dim, H = c->hidden_dim, HS = config_head_size(c);
    const int NH = c->n_heads, NKV = c->n_kv_heads, L = c->n_layers;
    const size_t sC = (size_t)BT * C, sH = (size_t)BT * H, sQ = (size_t)BT * NH * HS, sK = (size_t)BT * NKV * HS;
    const size_t sAtt = (size_t)B * NH * T * T;
    const int full = m->train == TRAIN_FULL && m->grads;
    m->drop_T = T;
    head_backward(m, B, T, lens, targets, labels, scores);
    // dx now holds dL/dlnf; through the final norm into dL/dx[L] (kept in dln, then swapped)
    memset(a->dln, 0, sC * sizeof(float));
    rmsnorm_backward(a->dln, full ? m->gw.final_norm : NULL, a->dx, a->x + (size_t)L * sC, a->lnf_rstd,
                     m->w.final_norm, B, T, C);
    memcpy(a->dx, a->dln, sC * sizeof(float));  // dx: gradient of the residual stream
    for (int l = L - 1; l >= 0; l--) {
        float *x = a->x + l * sC, *ln1 = a->ln1 + l * sC, *q = a->q + l * sQ, *k = a->k + l * sK, *v = a->v + l * sK;
        float *att = a->att + l * sAtt, *atty = a->atty + l * sQ, *xmid = a->xmid + l * sC, *ln2 = a->ln2 + l * sC;
        float *gate = a->gate + l * sH, *up = a->up + l * sH, *hmlp = a->hmlp + l * sH;
        // MLP branch: x[l+1] = xmid + down(swiglu(gate(ln2), up(ln2)))
        memset(a->dh, 0, sH * sizeof(float));
        run_linear_backward(m, a->dh, a->dx, l, LIN_DOWN, hmlp, BT, training);
        memset(a->dgate, 0, sH * sizeof(float));
        memset(a->dup, 0, sH * sizeof(float));
        swiglu_backward(a->dgate, a->dup, a->dh, gate, up, B, T, H);
        memset(a->dln, 0, sC * sizeof(float));
        run_linear_backward(m, a->dln, a->dgate, l, LIN_GATE, ln2, BT, training);
        run_linear_backward(m, a->dln, a->dup, l, LIN_UP, ln2, BT, training);
        rmsnorm_backward(a->dx, full ? m->gw.ffn_norm + (size_t)l * C : NULL, a->dln, xmid,
                         a->ln2_rstd + (size_t)l * BT, m->w.ffn_norm + (size_t)l * C, B, T, C);
        // attention branch: xmid = x + o(attention(rope(q(ln1)), rope(k(ln1)), v(ln1)))
        memset(a->datty, 0, sQ * sizeof(float));
        run_linear_backward(m, a->datty, a->dx, l, LIN_O, atty, BT, training);
        memset(a->dq, 0, sQ * sizeof(float));
        memset(a->dk, 0, sK * sizeof(float));
        memset(a->dv, 0, sK * sizeof(float));
        attention_backward(a->dq, a->dk, a->dv, a->datt, a->att_scratch_floats, a->datty, att, q, k, v, B, T, NH, NKV, HS);
        rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, NH, HS, 0);
        rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, NKV, HS, 0);
        memset(a->dln, 0, sC * sizeof(float));
        run_linear_backward(m, a->dln, a->dq, l, LIN_Q, ln1, BT, training);
        run_linear_backward(m, a->dln, a->dk, l, LIN_K, ln1, BT, training);
        run_linear_backward(m, a->dln, a->dv, l, LIN_V, ln1, BT, training);
        rmsnorm_backward(a->dx, full ? m->gw.attn_norm + (size_t)l * C : NULL, a->dln, x,
                         a->ln1_rstd + (size_t)l * BT, m->w.attn_norm + (size_t)l * C, B, T, C);
    }
    if (full) encoder_backward(m->gw.tok_emb, a->dx, ids, B, T, C, c->vocab_size);
}
