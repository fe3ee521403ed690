// checkpoints/merge.c — W' = W~ + s·B·A, the dtype rounding a written file implies, and the error
// measurements of `qpeft merge`. Tested by tests/test_export.c.
#include "checkpoints/merge.h"
#include "core/check.h"
#include "core/la.h"
#include "quant/quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Base slot of layer l, kind k inside w (same layout for every ModelWeights of one config).
static float *slot(const ModelWeights *w, const Linear *lin, int l, int k) {
    float *const base[LIN_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    return base[k] + (size_t)l * lin->out * lin->in;
}

void merge_fill_packed(ModelWeights *w, const ModelConfig *cfg, QuantTensor *const *q) {
    float *const base[LIN_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    for (int l = 0; q && l < cfg->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantTensor *t = q[l * LIN_COUNT + k];
            if (!t) continue;
            size_t n = (size_t)quant_tensor_rows(t) * (size_t)quant_tensor_cols(t);
            quant_dequantize_rows(t, 0, quant_tensor_rows(t), base[k] + (size_t)l * n);
        }
}

int merge_has_packed_base(const Model *m) {
    for (int i = 0; m->qbase && i < m->cfg.n_layers * LIN_COUNT; i++)
        if (m->qbase[i]) return 1;
    return 0;
}

// Which adapters a merge adds: none (the base alone), the ones the model's forward uses, or every
// adapter as the QER weight W_qer whatever the model's mode (the reference of `merge --lossless`).
enum { MERGE_BASE, MERGE_AS_MODEL, MERGE_AS_QER };

static int merge(const Model *m, int what, ModelConfig *cfg, ModelWeights *out, qp_status *st) {
    const int with_adapters = what != MERGE_BASE;
    *cfg = m->cfg;
    if (weights_alloc(out, cfg, st)) return -1;
    QP_ASSERT(out->n_floats == m->w.n_floats);
    // Everything first (norms, embeddings, untouched linears), then the head from wherever the
    // Model keeps it (the trainable block in adapter modes), then each linear's W~ (+ s·B·A).
    memcpy(out->mem, m->w.mem, out->n_floats * sizeof(float));
    if (cfg->n_labels > 0) memcpy(out->score, m->w.score, (size_t)cfg->n_labels * cfg->dim * sizeof(float));
    float *Aq = NULL, *Bq = NULL;  // QER mode's quantized adapters (largest linear)
    for (int l = 0; l < cfg->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear lin = model_linear(m, l, k);
            float *dst = slot(out, &lin, l, k);
            if (what == MERGE_AS_QER && lin.rank > 0) lin.qer = 1;
            if (with_adapters && lin.qer) {
                // QER (--adapter-quant same): the layer computes x·W_qerᵀ; W_qer is the weight.
                if (!Aq) {  // IC, OC ≤ max(C, H) for every linear
                    size_t n = (size_t)lin.rank * (size_t)(cfg->dim > cfg->hidden_dim ? cfg->dim : cfg->hidden_dim);
                    Aq = xmalloc(n * sizeof(float));
                    Bq = xmalloc(n * sizeof(float));
                }
                linear_qer_weight(&lin, dst, Aq, Bq);
                continue;
            }
            if (lin.qw) quant_dequantize_rows(lin.qw, 0, lin.out, dst);
            // W (OC,IC) += s · B (OC,R) · A (R,IC): the adapter path y += s·(x·Aᵀ)·Bᵀ = x·(s·B·A)ᵀ.
            if (with_adapters && lin.rank > 0)
                la_sgemm(0, 0, lin.out, lin.in, lin.rank, lin.scale, lin.B, lin.rank, lin.A, lin.in, 1.0f, dst, lin.in);
        }
    free(Aq);
    free(Bq);
    return 0;
}

int merge_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st) { return merge(m, MERGE_AS_MODEL, cfg, out, st); }
int merge_base_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st) { return merge(m, MERGE_BASE, cfg, out, st); }
int merge_qer_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st) { return merge(m, MERGE_AS_QER, cfg, out, st); }

void merge_round_weights(ModelWeights *w, export_dtype dt) {
    if (dt == EXPORT_F32) return;
    for (size_t i = 0; i < w->n_floats; i++) w->mem[i] = export_dtype_round(w->mem[i], dt);
}

void merge_requant_error(const Model *m, merge_quant_error *e) {
    memset(e, 0, sizeof *e);
    e->worst_layer = e->worst_kind = -1;
    double num = 0, den = 0;
    float *scratch = NULL;
    size_t cap = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear lin = model_linear(m, l, k);
            if (!lin.qw) continue;
            size_t n = (size_t)lin.out * lin.in;
            if (n > cap) { free(scratch); scratch = xmalloc(n * sizeof(float)); cap = n; }
            quant_dequantize_rows(lin.qw, 0, lin.out, scratch);
            const float *w = slot(&m->w, &lin, l, k);
            double d2 = 0, w2 = 0;
            for (size_t i = 0; i < n; i++) {
                double d = (double)w[i] - scratch[i];
                d2 += d * d;
                w2 += (double)w[i] * w[i];
            }
            num += d2;
            den += w2;
            double rel = w2 > 0 ? sqrt(d2 / w2) : 0;
            if (rel > e->worst_rel || e->worst_layer < 0) { e->worst_rel = rel; e->worst_layer = l; e->worst_kind = k; }
            e->n_tensors++;
        }
    free(scratch);
    e->rel = den > 0 ? sqrt(num / den) : 0;
}

void merge_logits_diff(Model *a, Model *b, const int *ids, int B, int T, double *max_abs, double *mse) {
    QP_ASSERT(a->head == b->head && a->cfg.vocab_size == b->cfg.vocab_size && a->cfg.n_labels == b->cfg.n_labels);
    QP_ASSERT(a->max_B >= B && a->max_T >= T && b->max_B >= B && b->max_T >= T);
    // Every row is a full T tokens (passed explicitly: the sequence heads pool at lens[b]-1).
    int *lens = xmalloc((size_t)B * sizeof(int));
    for (int i = 0; i < B; i++) lens[i] = T;
    model_forward(a, ids, lens, B, T, NULL, NULL, NULL, 0);
    model_forward(b, ids, lens, B, T, NULL, NULL, NULL, 0);
    free(lens);
    size_t n = a->head == HEAD_LM ? (size_t)B * T * a->cfg.vocab_size
                                  : (size_t)B * (a->head == HEAD_REGRESS ? 1 : a->cfg.n_labels);
    double mx = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->acts.logits[i] - b->acts.logits[i];
        if (!(fabs(d) <= mx)) mx = fabs(d);  // a NaN sticks
        s += d * d;
    }
    *max_abs = mx;
    *mse = n ? s / (double)n : 0;
}
