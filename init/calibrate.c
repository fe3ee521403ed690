// init/calibrate.c — the calibration forward passes and the per-layer accumulation of the
// inputs of every adapted linear. Tested by tests/test_calibrate.c (PyTorch float64 oracle
// tests/oracle_calib.py, padding excluded) and tests/test_init_cli.sh.
#include "init/calibrate.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/progress.h"
#include "data/batch.h"
#include <stdlib.h>
#include <string.h>

const char *const calib_input_names[CALIB_IN_COUNT] = {"attn_in", "o_in", "mlp_in", "down_in"};
const char *const calib_input_feeds[CALIB_IN_COUNT] = {"q_proj,k_proj,v_proj", "o_proj", "gate_proj,up_proj",
                                                       "down_proj"};

calib_input calib_input_of(lin_kind k) {
    switch (k) {
    case LIN_Q: case LIN_K: case LIN_V: return CALIB_IN_ATTN;
    case LIN_O: return CALIB_IN_O;
    case LIN_GATE: case LIN_UP: return CALIB_IN_MLP;
    default: return CALIB_IN_DOWN;
    }
}

int calib_input_dim(const ModelConfig *c, calib_input i) {
    switch (i) {
    case CALIB_IN_O: return c->n_heads * config_head_size(c);
    case CALIB_IN_DOWN: return c->hidden_dim;
    default: return c->dim;
    }
}

void calib_set_init(CalibSet *set, const ModelConfig *c, int with_xtx) {
    memset(set, 0, sizeof *set);
    set->n_layers = c->n_layers;
    set->with_xtx = with_xtx;
    set->s = xcalloc((size_t)c->n_layers * CALIB_IN_COUNT, sizeof *set->s);
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < CALIB_IN_COUNT; i++)
            set->s[l * CALIB_IN_COUNT + i] = calib_alloc(calib_input_dim(c, (calib_input)i), with_xtx);
}

void calib_set_free(CalibSet *set) {
    if (set->s)
        for (int j = 0; j < set->n_layers * CALIB_IN_COUNT; j++) calib_free(set->s[j]);
    free(set->s);
    memset(set, 0, sizeof *set);
}

void calib_set_reset(CalibSet *set) {
    for (int j = 0; j < set->n_layers * CALIB_IN_COUNT; j++) calib_reset(set->s[j]);
    set->samples = 0;
}

const CalibStats *calib_set_get(const CalibSet *set, int l, lin_kind k) {
    QP_ASSERT(l >= 0 && l < set->n_layers);
    return set->s[l * CALIB_IN_COUNT + calib_input_of(k)];
}

void calib_set_add_forward(CalibSet *set, const Model *m, const int *lens, int B, int T, int include_padding,
                           unsigned char *valid) {
    const ModelConfig *c = &m->cfg;
    const ModelActs *a = &m->acts;
    const size_t BT = (size_t)B * T;
    const unsigned char *mask = NULL;
    if (lens && !include_padding) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) valid[(size_t)b * T + t] = t < lens[b];
        mask = valid;
    }
    // The saved activations are laid out (L, B, T, n) for THIS call's B and T (model_forward).
    const float *base[CALIB_IN_COUNT] = {a->ln1, a->atty, a->ln2, a->hmlp};
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < CALIB_IN_COUNT; i++) {
            size_t n = (size_t)calib_input_dim(c, (calib_input)i);
            calib_accumulate(set->s[l * CALIB_IN_COUNT + i], base[i] + (size_t)l * BT * n, (int64_t)BT, mask);
        }
}

void calib_set_reduce(CalibSet *set) {
    for (int j = 0; j < set->n_layers * CALIB_IN_COUNT; j++) calib_reduce(set->s[j]);
}

// Is batch j of a calibration this rank's (batch j goes to rank j mod size)?
static int my_batch(int64_t j) { return j % dist_size() == dist_rank(); }

int calib_model_is_full_precision(const Model *m) {
    for (int j = 0; j < m->cfg.n_layers * LIN_COUNT; j++) {
        if (m->qbase && m->qbase[j]) return 0;
        if (m->rank > 0 && m->B[j]) {
            Linear lin = model_linear(m, j / LIN_COUNT, j % LIN_COUNT);
            for (size_t e = 0; e < (size_t)lin.out * m->rank; e++)
                if (m->B[j][e] != 0.0f) return 0;
        }
    }
    return 1;
}

static int check_model(Model *m, int batch, int T, qp_status *st) {
    if (!calib_model_is_full_precision(m))
        return qp_fail(st, "calibration needs the full-precision model (no packed base, zero adapters)");
    // Any head will do: the head does not change any linear's input.
    if (m->max_B < batch || m->max_T < T) model_alloc_acts(m, batch, T);
    return 0;
}

static void record_hash(CalibSet *set, const Model *m) {
    weights_hash_hex(weights_hash(&m->w, &m->cfg), set->model_hash);
}

int calib_set_run_text(CalibSet *set, Model *m, const text_stream *ts, int T, int64_t first, int64_t n, int batch,
                       qp_status *st) {
    int64_t avail = text_n_windows(ts, T);
    if (T < 1 || n < 1 || first < 0 || batch < 1)
        return qp_fail(st, "calibration: expected T, samples, batch >= 1, found T=%d samples=%lld batch=%d", T,
                       (long long)n, batch);
    QP_ASSERT(dist_size() == 1 || set->samples == 0);  // the closing sum over ranks needs an empty set
    if (first + n > avail)
        return qp_fail(st, "calibration text: %lld tokens give %lld windows of %d, but windows %lld..%lld are needed",
                       (long long)ts->n_tokens, (long long)avail, T, (long long)first, (long long)(first + n - 1));
    if (batch > n) batch = (int)n;
    if (check_model(m, batch, T, st)) return -1;
    int *ids = xmalloc((size_t)batch * T * sizeof(int)), *tgt = xmalloc((size_t)batch * T * sizeof(int));
    int64_t *win = xmalloc((size_t)batch * sizeof(int64_t));
    qp_progress pr;
    progress_start(&pr, "calibrate", n);
    for (int64_t w0 = 0; w0 < n; w0 += batch) {
        int nb = (int)(n - w0 < batch ? n - w0 : batch);
        if (my_batch(w0 / batch)) {
            for (int i = 0; i < nb; i++) win[i] = first + w0 + i;
            text_fill_batch(ts, T, win, nb, ids, tgt);
            model_forward(m, ids, NULL, nb, T, NULL, NULL, NULL, 0);
            calib_set_add_forward(set, m, NULL, nb, T, 0, NULL);
        }
        progress_update(&pr, w0 + nb);
    }
    progress_end(&pr);
    calib_set_reduce(set);
    free(ids); free(tgt); free(win);
    record_hash(set, m);
    snprintf(set->source, sizeof set->source, "text");
    set->samples += n;
    set->seq_len = T;
    set->include_padding = 0;
    return 0;
}

int calib_set_run_examples(CalibSet *set, Model *m, const ds_encoded *enc, int64_t n, uint64_t seed, int batch,
                           int pad_id, int include_padding, qp_status *st) {
    if (n < 1 || batch < 1) return qp_fail(st, "calibration: expected samples, batch >= 1");
    if (enc->n == 0) return qp_fail(st, "calibration: the task's training split is empty");
    QP_ASSERT(dist_size() == 1 || set->samples == 0);
    if ((size_t)n > enc->n) n = (int64_t)enc->n;
    if (batch > n) batch = (int)n;
    int T = enc->longest;
    if (check_model(m, batch, T, st)) return -1;
    batch_sampler bs;
    if (batch_sampler_init(&bs, enc, batch, 1, 0, seed, st)) return -1;
    int *ids = xmalloc((size_t)batch * enc->max_len * sizeof(int)), *lens = xmalloc((size_t)batch * sizeof(int));
    unsigned char *valid = xmalloc((size_t)batch * T);
    qp_progress pr;
    progress_start(&pr, "calibrate", n);
    int64_t done = 0;
    const int *idx;
    for (int64_t j = 0; done < n; j++) {
        int nb = batch_sampler_next(&bs, &idx);
        QP_ASSERT(nb > 0);  // n <= enc->n: epoch 0 always has enough examples
        if (nb > n - done) nb = (int)(n - done);
        if (my_batch(j)) {
            int Tb = batch_fill(enc, idx, nb, 0, pad_id, ids, lens, NULL, NULL);
            model_forward(m, ids, lens, nb, Tb, NULL, NULL, NULL, 0);
            calib_set_add_forward(set, m, lens, nb, Tb, include_padding, valid);
        }
        done += nb;
        progress_update(&pr, done);
    }
    progress_end(&pr);
    calib_set_reduce(set);
    free(ids); free(lens); free(valid);
    batch_sampler_free(&bs);
    record_hash(set, m);
    set->samples += n;
    set->seq_len = enc->max_len;
    set->include_padding = include_padding;
    return 0;
}
