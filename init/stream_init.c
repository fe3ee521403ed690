// init/stream_init.c — see stream_init.h.
#include "init/stream_init.h"
#include "core/check.h"
#include "core/progress.h"
#include "data/batch.h"
#include "model/layers.h"
#include <stdlib.h>
#include <string.h>

static void cb_add(CalibBatches *cb, int nb, int T, const int *ids, const int *lens) {
    cb->nb = xrealloc(cb->nb, (size_t)(cb->n + 1) * sizeof(int));
    cb->T = xrealloc(cb->T, (size_t)(cb->n + 1) * sizeof(int));
    cb->ids = xrealloc(cb->ids, (size_t)(cb->n + 1) * sizeof(int *));
    cb->lens = xrealloc(cb->lens, (size_t)(cb->n + 1) * sizeof(int *));
    cb->nb[cb->n] = nb; cb->T[cb->n] = T;
    cb->ids[cb->n] = xmalloc((size_t)nb * T * sizeof(int));
    memcpy(cb->ids[cb->n], ids, (size_t)nb * T * sizeof(int));
    cb->lens[cb->n] = NULL;
    if (lens) {
        cb->lens[cb->n] = xmalloc((size_t)nb * sizeof(int));
        memcpy(cb->lens[cb->n], lens, (size_t)nb * sizeof(int));
    }
    cb->n++;
}

int calib_batches_text(CalibBatches *cb, const text_stream *ts, int T, int64_t first, int64_t n, int batch, qp_status *st) {
    memset(cb, 0, sizeof *cb);
    if (T < 1 || n < 1 || first < 0 || batch < 1)
        return qp_fail(st, "calibration: expected T, samples, batch >= 1, found T=%d samples=%lld batch=%d", T, (long long)n, batch);
    if (first + n > text_n_windows(ts, T))
        return qp_fail(st, "calibration text: %lld tokens give %lld windows of %d, but windows %lld..%lld are needed",
                       (long long)ts->n_tokens, (long long)text_n_windows(ts, T), T, (long long)first, (long long)(first + n - 1));
    if (batch > n) batch = (int)n;
    int *ids = xmalloc((size_t)batch * T * sizeof(int)), *tgt = xmalloc((size_t)batch * T * sizeof(int));
    int64_t *win = xmalloc((size_t)batch * sizeof(int64_t));
    for (int64_t w0 = 0; w0 < n; w0 += batch) {
        int nb = (int)(n - w0 < batch ? n - w0 : batch);
        for (int i = 0; i < nb; i++) win[i] = first + w0 + i;
        text_fill_batch(ts, T, win, nb, ids, tgt);
        cb_add(cb, nb, T, ids, NULL);
    }
    free(ids); free(tgt); free(win);
    cb->samples = n; cb->seq_len = T;
    snprintf(cb->source, sizeof cb->source, "text");
    return 0;
}

int calib_batches_examples(CalibBatches *cb, const ds_encoded *enc, int64_t n, uint64_t seed, int batch, int pad_id,
                           int include_padding, qp_status *st) {
    memset(cb, 0, sizeof *cb);
    if (n < 1 || batch < 1) return qp_fail(st, "calibration: expected samples, batch >= 1");
    if (enc->n == 0) return qp_fail(st, "calibration: the task's training split is empty");
    if ((size_t)n > enc->n) n = (int64_t)enc->n;
    if (batch > n) batch = (int)n;
    batch_sampler bs;
    if (batch_sampler_init(&bs, enc, batch, 1, 0, seed, st)) return -1;
    int *ids = xmalloc((size_t)batch * enc->max_len * sizeof(int)), *lens = xmalloc((size_t)batch * sizeof(int));
    const int *idx;
    for (int64_t done = 0; done < n;) {
        int nb = batch_sampler_next(&bs, &idx);
        QP_ASSERT(nb > 0);
        if (nb > n - done) nb = (int)(n - done);
        int Tb = batch_fill(enc, idx, nb, 0, pad_id, ids, lens, NULL, NULL);
        cb_add(cb, nb, Tb, ids, lens);
        done += nb;
    }
    free(ids); free(lens);
    batch_sampler_free(&bs);
    cb->samples = n; cb->seq_len = enc->max_len; cb->include_padding = include_padding;
    return 0;
}

void calib_batches_free(CalibBatches *cb) {
    for (int i = 0; i < cb->n; i++) { free(cb->ids[i]); free(cb->lens[i]); }
    free(cb->nb); free(cb->T); free(cb->ids); free(cb->lens);
    memset(cb, 0, sizeof *cb);
}

int calib_set_run_batches(CalibSet *set, Model *m, const CalibBatches *cb, qp_status *st) {
    if (!calib_model_is_full_precision(m))
        return qp_fail(st, "calibration needs the full-precision model (no packed base, zero adapters)");
    int maxB = 1, maxT = 1;
    for (int b = 0; b < cb->n; b++) {
        if (cb->nb[b] > maxB) maxB = cb->nb[b];
        if (cb->T[b] > maxT) maxT = cb->T[b];
    }
    if (m->max_B < maxB || m->max_T < maxT) model_alloc_acts(m, maxB, maxT);
    unsigned char *valid = xmalloc((size_t)maxB * maxT);
    for (int b = 0; b < cb->n; b++) {
        model_forward(m, cb->ids[b], cb->lens[b], cb->nb[b], cb->T[b], NULL, NULL, NULL, 0);
        calib_set_add_forward(set, m, cb->lens[b], cb->nb[b], cb->T[b], cb->include_padding, valid);
    }
    free(valid);
    set->samples += cb->samples;
    set->seq_len = cb->seq_len;
    set->include_padding = cb->include_padding;
    snprintf(set->source, sizeof set->source, "%s", cb->source);
    return 0;
}

// Layer l's norms and seven linears, fp32, into the one-layer model's weights.
static int read_layer(const Model *m, WeightsSource *src, int l, ModelWeights *w1, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->dim;
    memcpy(w1->attn_norm, m->w.attn_norm + l * C, C * sizeof(float));
    memcpy(w1->ffn_norm, m->w.ffn_norm + l * C, C * sizeof(float));
    float *const dst[LIN_COUNT] = {w1->wq, w1->wk, w1->wv, w1->wo, w1->w_gate, w1->w_up, w1->w_down};
    const float *const full[LIN_COUNT] = {m->w.wq, m->w.wk, m->w.wv, m->w.wo, m->w.w_gate, m->w.w_up, m->w.w_down};
    for (int k = 0; k < LIN_COUNT; k++) {
        Linear lin = model_linear(m, l, k);
        size_t per = (size_t)lin.out * lin.in;
        if (full[k]) { memcpy(dst[k], full[k] + (size_t)l * per, per * sizeof(float)); continue; }
        if (!src) return qp_fail(st, "layer %d %s: no fp32 weight and no checkpoint to read it from", l, lin_names[k]);
        if (weights_source_read(src, weights_lin_tensor(k), l, dst[k], st)) return -1;
    }
    return 0;
}

// Run the one-layer model over every batch: states H in, statistics into set (when non-NULL),
// outputs into Hn (when non-NULL).
static void layer_pass(Model *m1, const CalibBatches *cb, const float *H, float *Hn, CalibSet *set, unsigned char *valid) {
    size_t off = 0, C = (size_t)m1->cfg.dim;
    for (int b = 0; b < cb->n; b++) {
        size_t rows = (size_t)cb->nb[b] * cb->T[b];
        memcpy(m1->acts.x, H + off * C, rows * C * sizeof(float));
        model_layer_forward(m1, 0, cb->nb[b], cb->T[b], NULL);
        if (set) calib_set_add_forward(set, m1, cb->lens[b], cb->nb[b], cb->T[b], cb->include_padding, valid);
        if (Hn) memcpy(Hn + off * C, m1->acts.x + rows * C, rows * C * sizeof(float));
        off += rows;
    }
}

int init_model_streamed(Model *m, WeightsSource *src, const InitModelOptions *o, const CalibBatches *cb,
                        const StreamInitOptions *so, InitModelReport *rep, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    StreamInitOptions dso = {0};
    if (!so) so = &dso;
    InitModelReport dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    rep->srr_keep_min = rep->srr_keep_max = -1;
    // The one-layer model: this layer's weights, a vocabulary of one (its embedding is never read).
    ModelConfig c1 = *c;
    c1.n_layers = 1; c1.vocab_size = 1; c1.tied_embeddings = 1; c1.n_labels = 0;
    ModelWeights w1;
    if (weights_alloc(&w1, &c1, st)) return -1;
    Model m1;
    if (model_init(&m1, &c1, &w1, m->rank, m->alpha, m->target_mask, HEAD_LM, TRAIN_NONE, st)) return -1;
    int maxB = 1, maxT = 1;
    size_t rows = 0;
    for (int b = 0; b < cb->n; b++) {
        if (cb->nb[b] > maxB) maxB = cb->nb[b];
        if (cb->T[b] > maxT) maxT = cb->T[b];
        rows += (size_t)cb->nb[b] * cb->T[b];
    }
    model_alloc_acts(&m1, maxB, maxT);
    float *H = xmalloc(rows * c->dim * sizeof(float)), *Hn = xmalloc(rows * c->dim * sizeof(float));
    unsigned char *valid = xmalloc((size_t)maxB * maxT);
    size_t off = 0;
    for (int b = 0; b < cb->n; b++) {
        encoder_forward(H + off * c->dim, cb->ids[b], m->w.tok_emb, cb->nb[b], cb->T[b], c->dim, c->vocab_size);
        off += (size_t)cb->nb[b] * cb->T[b];
    }
    qp_info("layer-streamed calibration: %d batches, %zu rows; hidden states %.1f MiB x 2", cb->n, rows,
            rows * c->dim * 4.0 / 1048576);
    InitModelOptions o1 = *o;
    o1.source = NULL;
    o1.log_layers = 0;
    int need_xtx = so->with_xtx || init_method_needs_xtx(o->method);
    const int sequential = so->sequential && !so->skip_init;
    double bits = 0, nw = 0, t_all = qp_now();
    int rc = 0;
    for (int l = 0; l < c->n_layers && rc == 0; l++) {
        double t0 = qp_now();
        if ((rc = read_layer(m, src, l, &m1.w, st))) break;
        for (int k = 0; k < LIN_COUNT; k++) { quant_tensor_free(m1.qbase[k]); m1.qbase[k] = NULL; }
        if (m1.n_params) memset(m1.params, 0, m1.n_params * sizeof(float));  // the fp32 function
        CalibSet set;
        calib_set_init(&set, &c1, need_xtx);
        layer_pass(&m1, cb, H, sequential ? NULL : Hn, &set, valid);
        set.samples = cb->samples; set.seq_len = cb->seq_len; set.include_padding = cb->include_padding;
        snprintf(set.source, sizeof set.source, "%s", cb->source);
        if (so->on_layer && (rc = so->on_layer(so->ctx, l, &set, st))) { calib_set_free(&set); break; }
        if (!so->skip_init) {
            InitModelReport r1;
            if ((rc = init_model_apply(&m1, &o1, &set, &r1, st))) {
                char msg[sizeof st->msg];
                snprintf(msg, sizeof msg, "%s", st->msg);
                qp_fail(st, "layer %d: %s", l, msg);
                calib_set_free(&set);
                break;
            }
            rep->base_changed |= r1.base_changed;
            if (r1.srr_keep_min >= 0 && (rep->srr_keep_min < 0 || r1.srr_keep_min < rep->srr_keep_min)) rep->srr_keep_min = r1.srr_keep_min;
            if (r1.srr_keep_max > rep->srr_keep_max) rep->srr_keep_max = r1.srr_keep_max;
            for (int k = 0; k < LIN_COUNT; k++) {
                int i = l * LIN_COUNT + k;
                Linear lin = model_linear(m, l, k);
                if (m1.qbase[k]) {
                    quant_tensor_free(m->qbase[i]);
                    m->qbase[i] = m1.qbase[k];
                    m1.qbase[k] = NULL;
                    bits += 8.0 * (double)quant_tensor_bytes(m->qbase[i]);
                    nw += (double)lin.out * lin.in;
                }
                if (m->A[i]) {
                    memcpy(m->A[i], m1.A[k], (size_t)m->rank * lin.in * sizeof(float));
                    memcpy(m->B[i], m1.B[k], (size_t)lin.out * m->rank * sizeof(float));
                }
                // back into m1 for the sequential pass (its qbase moved: re-borrow it)
                m1.qbase[k] = m->qbase[i];
            }
            if (sequential) layer_pass(&m1, cb, H, Hn, NULL, valid);
            for (int k = 0; k < LIN_COUNT; k++) m1.qbase[k] = NULL;  // owned by m
        }
        calib_set_free(&set);
        float *t = H; H = Hn; Hn = t;
        rep->layer_seconds[l] = qp_now() - t0;
        if (o->log_layers) qp_info("init %s (layer-streamed): layer %d/%d in %.3f s", init_method_name(o->method), l + 1,
                                   c->n_layers, rep->layer_seconds[l]);
    }
    rep->seconds = qp_now() - t_all;
    rep->bits_per_weight = nw > 0 ? bits / nw : 0;
    free(H); free(Hn); free(valid);
    model_free(&m1);
    return rc;
}
