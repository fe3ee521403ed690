// init/init_model.c — init_adapter over every linear of a Model, with the packed base taken
// from the initialiser's own quantizer calls. Tested by tests/test_calibrate.c and
// tests/test_init_cli.sh.
#include "init/init_model.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/la.h"
#include "core/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Base fp32 weight (OC,IC) of layer l, kind k, and its shape (weights.h layout).
static float *lin_weight(const Model *m, int l, int k, int *OC, int *IC) {
    model_lin_shape(&m->cfg, k, OC, IC);
    return model_lin_weight(&m->w, &m->cfg, l, k);
}

// A packed tensor as bytes and back, through its own serialisation (quant_tensor_write/read):
// for a deep copy (the cache keeps its tensor, the model owns an independent one, model_free
// frees qbase) and for handing a tensor from one MPI rank to the others.
static char *qt_to_bytes(const QuantTensor *q, size_t *len) {
    char *buf = NULL;
    qp_status st = {0};
    FILE *ms = open_memstream(&buf, len);
    if (!ms) qp_die("open_memstream failed");
    if (quant_tensor_write(q, ms, "clone", &st)) qp_die("%s", st.msg);
    fclose(ms);
    return buf;
}

static QuantTensor *qt_from_bytes(const char *buf, size_t len) {
    qp_status st = {0};
    FILE *rd = fmemopen((void *)buf, len, "rb");
    if (!rd) qp_die("fmemopen failed");
    QuantTensor *c = quant_tensor_read(rd, "clone", &st);
    fclose(rd);
    if (!c) qp_die("%s", st.msg);
    return c;
}

static QuantTensor *qt_clone(const QuantTensor *q) {
    size_t len = 0;
    char *buf = qt_to_bytes(q, &len);
    QuantTensor *c = qt_from_bytes(buf, len);
    free(buf);
    return c;
}

void init_quant_cache_build(InitQuantCache *qc, const Model *m, const quant_format *fmt, unsigned quant_mask) {
    double t0 = qp_now();
    memset(qc, 0, sizeof *qc);
    qc->fmt = *fmt;
    qc->quant_mask = quant_mask;
    qc->n = m->cfg.n_layers * LIN_COUNT;
    qc->q = xcalloc((size_t)qc->n, sizeof *qc->q);
    qc->wq = xcalloc((size_t)qc->n, sizeof *qc->wq);
    double bits = 0, nw = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(quant_mask >> k & 1u)) continue;
            int OC, IC, i = l * LIN_COUNT + k;
            const float *W = lin_weight(m, l, k, &OC, &IC);
            qc->q[i] = quant_tensor_quantize(W, OC, IC, fmt);
            qc->wq[i] = xmalloc((size_t)OC * IC * sizeof(float));
            quant_dequantize_rows(qc->q[i], 0, OC, qc->wq[i]);
            bits += 8.0 * (double)quant_tensor_bytes(qc->q[i]);
            nw += (double)OC * IC;
        }
    qc->bits_per_weight = nw > 0 ? bits / nw : 0;
    qc->seconds = qp_now() - t0;
}

void init_quant_cache_free(InitQuantCache *qc) {
    for (int i = 0; i < qc->n; i++) { quant_tensor_free(qc->q[i]); free(qc->wq[i]); }
    free(qc->q); free(qc->wq);
    memset(qc, 0, sizeof *qc);
}

void init_model_options_default(InitModelOptions *o, init_method method, const quant_format *fmt) {
    memset(o, 0, sizeof *o);
    o->method = method;
    if (fmt) o->fmt = *fmt; else o->fmt = (quant_format){QUANT_F32, 32, 0, 0};
    o->quant_mask = (1u << LIN_COUNT) - 1;
    o->loftq_iters = 5;
    o->srr_keep = -1;
}

// The quantizer init_adapter calls. It remembers the packed codes of its latest call, so the
// model can keep exactly the W~ the initialiser returned. init_adapter passes ctx as const;
// this callback is its only user and owns the record, hence the cast.
typedef struct {
    const quant_format *fmt;       // NULL: identity (an unquantized kind)
    const float *W;                // the layer's original weight
    const float *plain_wq;         // cached dq(q(W)) and q(W), or NULL
    const QuantTensor *plain_q;
    QuantTensor *last;             // codes of the latest call (owned), NULL when it was q(W) from the cache
    int last_was_W;                // the latest call quantized W itself
} FakeqRecord;

static void fakeq_record(float *out, const float *w, int rows, int cols, const void *vctx) {
    FakeqRecord *r = (FakeqRecord *)vctx;
    size_t n = (size_t)rows * cols;
    if (!r->fmt) { if (out != w) memcpy(out, w, n * sizeof(float)); r->last_was_W = 1; return; }
    r->last_was_W = memcmp(w, r->W, n * sizeof(float)) == 0;
    quant_tensor_free(r->last);
    r->last = NULL;
    if (r->last_was_W && r->plain_wq) { memcpy(out, r->plain_wq, n * sizeof(float)); return; }
    r->last = quant_tensor_quantize(w, rows, cols, r->fmt);
    quant_dequantize_rows(r->last, 0, rows, out);
}

// What initialising one linear leaves besides A, B and m->qbase: for the report, and for the
// ranks that did not compute it.
typedef struct {
    int done;          // initialised (here or, after share_linears, by its owner)
    int base_changed;  // packed W~ differs from dq(q(W))
    int srr_keep;      // srr's preserved rank k'
} LinearResult;

// Initialise layer l, kind k of m: A, B and (when packed) m->qbase from init_adapter.
static int init_linear(Model *m, const InitModelOptions *o, const CalibSet *stats, int l, int k, unsigned qmask,
                       InitWorkspace *ws, float *Wq, float *chk, float *Wsrc, qp_rng *rng, LinearResult *res,
                       qp_status *st) {
    const int R = m->rank, i = l * LIN_COUNT + k;
    const int adapted = R > 0 && m->A[i] != NULL;
    const int packed = qmask >> k & 1u;
    int OC, IC;
    const float *W = lin_weight(m, l, k, &OC, &IC);
    if (!W) {  // packed at load: read this one linear from the checkpoint
        if (!o->source) return qp_fail(st, "layer %d %s: no fp32 weight and no checkpoint to read it from", l, lin_names[k]);
        if (weights_source_read(o->source, weights_lin_tensor(k), l, Wsrc, st)) return -1;
        W = Wsrc;
    }
    FakeqRecord rec = {packed ? &o->fmt : NULL, W, NULL, NULL, NULL, 0};
    if (packed && o->plain) { rec.plain_wq = o->plain->wq[i]; rec.plain_q = o->plain->q[i]; }
    InitOptions io;
    init_options_default(&io, o->method);
    io.rank = adapted ? R : 0;
    io.scale = adapted ? m->alpha / (float)R : 1.0f;
    io.fakeq = fakeq_record;
    io.fakeq_ctx = &rec;
    io.loftq_iters = o->loftq_iters;
    io.srr_keep = o->srr_keep;
    if (o->eig_floor > 0) io.eig_floor = o->eig_floor;
    io.exact_route = o->exact_route;
    io.rng = rng;
    InitInfo info;
    const CalibStats *cs = stats && init_method_needs_stats(o->method) ? calib_set_get(stats, l, (lin_kind)k) : NULL;
    if (init_adapter(ws, &io, W, OC, IC, cs, Wq, adapted ? m->A[i] : NULL, adapted ? m->B[i] : NULL, &info, st)) {
        char msg[sizeof st->msg];
        snprintf(msg, sizeof msg, "%s", st->msg);
        quant_tensor_free(rec.last);
        return qp_fail(st, "layer %d %s: %s", l, lin_names[k], msg);
    }
    res->done = 1;
    res->srr_keep = info.srr_keep;
    if (!packed) return 0;  // identity quantizer: the fp32 base stays as it is
    res->base_changed = !rec.last_was_W;
    QuantTensor *q = rec.last ? rec.last : rec.plain_q ? qt_clone(rec.plain_q) : NULL;
    QP_ASSERT(q != NULL);
    // The packed base must reproduce the initialiser's W~ exactly (see the header).
    quant_dequantize_rows(q, 0, OC, chk);
    if (memcmp(chk, Wq, (size_t)OC * IC * sizeof(float))) {
        quant_tensor_free(q);
        return qp_fail(st, "layer %d %s: internal error: packed base differs from the initialiser's W~", l,
                       lin_names[k]);
    }
    if (m->qbase[i]) quant_tensor_free(m->qbase[i]);
    m->qbase[i] = q;
    return 0;
}

// Data parallel: every dealt-out linear goes from its owner (item j: rank j mod size) to all
// ranks, as the owner's bytes (A, B, the packed base's serialisation, the result record), so
// every rank ends with the single-process model bit for bit.
static void share_linears(Model *m, unsigned qmask, LinearResult *res) {
    const int R = m->rank;
    int item = 0;
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++) {
        const int k = i % LIN_COUNT, adapted = R > 0 && m->A[i] != NULL, packed = qmask >> k & 1u;
        if (!adapted && !packed) continue;
        const int owner = item++ % dist_size(), mine = owner == dist_rank();
        Linear lin = model_linear(m, i / LIN_COUNT, k);
        if (adapted) {
            dist_bcast(m->A[i], (size_t)R * lin.in * sizeof(float), owner);
            dist_bcast(m->B[i], (size_t)lin.out * R * sizeof(float), owner);
        }
        dist_bcast(&res[i], sizeof res[i], owner);
        if (!packed) continue;
        size_t len = 0;
        char *buf = mine ? qt_to_bytes(m->qbase[i], &len) : NULL;
        uint64_t len64 = len;
        dist_bcast(&len64, sizeof len64, owner);
        if (!mine) buf = xmalloc((size_t)len64);
        dist_bcast(buf, (size_t)len64, owner);
        if (!mine) {
            if (m->qbase[i]) quant_tensor_free(m->qbase[i]);
            m->qbase[i] = qt_from_bytes(buf, (size_t)len64);
        }
        free(buf);
    }
}

// The report over every initialised linear: bits per weight of the packed bases, whether any
// W~ moved off dq(q(W)), srr's range of k'.
static void report_linears(const Model *m, init_method method, unsigned qmask, const LinearResult *res,
                           InitModelReport *rep) {
    double bits = 0, nw = 0;
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++) {
        if (!res[i].done) continue;
        const int k = i % LIN_COUNT;
        if (method == INIT_SRR && m->rank > 0 && m->A[i]) {
            if (rep->srr_keep_min < 0 || res[i].srr_keep < rep->srr_keep_min) rep->srr_keep_min = res[i].srr_keep;
            if (res[i].srr_keep > rep->srr_keep_max) rep->srr_keep_max = res[i].srr_keep;
        }
        if (!(qmask >> k & 1u)) continue;
        if (res[i].base_changed) rep->base_changed = 1;
        Linear lin = model_linear(m, i / LIN_COUNT, k);
        bits += 8.0 * (double)quant_tensor_bytes(m->qbase[i]);
        nw += (double)lin.out * lin.in;
    }
    rep->bits_per_weight = nw > 0 ? bits / nw : 0;
}

int init_model_apply(Model *m, const InitModelOptions *o, const CalibSet *stats, InitModelReport *rep,
                     qp_status *st) {
    const ModelConfig *c = &m->cfg;
    InitModelReport dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    rep->srr_keep_min = rep->srr_keep_max = -1;
    const int quantized = o->fmt.kind != QUANT_F32;
    const unsigned qmask = quantized ? o->quant_mask : 0;
    if (quantized) {
        qp_status qs = {0};
        if (quant_format_check(&o->fmt, &qs)) return qp_fail(st, "init: %s", qs.msg);
    }
    if (o->plain && (!quantized || memcmp(&o->plain->fmt, &o->fmt, sizeof o->fmt) || o->plain->quant_mask != qmask ||
                     o->plain->n != c->n_layers * LIN_COUNT))
        return qp_fail(st, "init: the shared quantization cache does not match the requested format and modules");
    const int R = m->rank;
    if (R > 0 && init_method_needs_stats(o->method)) {
        if (!stats) return qp_fail(st, "init %s: needs calibration statistics (--calib-stats or --calib-text)",
                                   init_method_name(o->method));
        if (stats->n_layers != c->n_layers)
            return qp_fail(st, "init %s: statistics for %d layers, the model has %d", init_method_name(o->method),
                           stats->n_layers, c->n_layers);
    }
    // Workspace for the largest linear; scratch W~ of the same size.
    int maxOC = 0, maxIC = 0;
    for (int k = 0; k < LIN_COUNT; k++) {
        Linear lin = model_linear(m, 0, k);
        if (lin.out > maxOC) maxOC = lin.out;
        if (lin.in > maxIC) maxIC = lin.in;
    }
    // LAPACK on small matrices runs best on one thread: OpenBLAS's threads cost more in start-up
    // and barriers than they save below ~1M elements, and on a busy machine they can stall for
    // seconds per call (measured: 34 s vs 0.55 s for tinystories-1M qera-exact under load).
    const int threads = la_get_threads();
    if ((size_t)maxOC * maxIC < ((size_t)1 << 20)) la_set_threads(1);
    InitWorkspace *ws = init_workspace_alloc(maxOC, maxIC, R);
    float *Wq = xmalloc((size_t)maxOC * maxIC * sizeof(float)), *chk = xmalloc((size_t)maxOC * maxIC * sizeof(float));
    float *Wsrc = o->source ? xmalloc((size_t)maxOC * maxIC * sizeof(float)) : NULL;
    qp_rng rng;
    rng_seed(&rng, o->seed ^ 0x4c6f5241ULL);  // setup_init_lora's stream
    // Under mpirun the linears are dealt out (item j to rank j mod size) and then shared. qlora
    // is not: its random A is one stream drawn in linear order (and costs nothing to repeat).
    const int deal = dist_size() > 1 && o->method != INIT_QLORA;
    LinearResult *res = xcalloc((size_t)c->n_layers * LIN_COUNT, sizeof *res);
    double t_all = qp_now();
    int rc = 0, item = 0;
    for (int l = 0; l < c->n_layers && rc == 0; l++) {
        double t0 = qp_now();
        init_workspace_forget(ws);  // one factor of E[xᵀx] per distinct input of this layer
        for (int k = 0; k < LIN_COUNT && rc == 0; k++) {
            const int i = l * LIN_COUNT + k;
            if (!(R > 0 && m->A[i]) && !(qmask >> k & 1u)) continue;
            if (deal && item++ % dist_size() != dist_rank()) continue;
            rc = init_linear(m, o, stats, l, k, qmask, ws, Wq, chk, Wsrc, &rng, &res[i], st);
        }
        rep->layer_seconds[l] = qp_now() - t0;
        if (rc == 0 && o->log_layers)
            qp_info("init %s: layer %d/%d in %.3f s", init_method_name(o->method), l + 1, c->n_layers,
                    rep->layer_seconds[l]);
    }
    // A failure on one rank must end the job: the others would wait for its linears forever.
    if (rc != 0 && deal) qp_die("%s", st->msg);
    if (rc == 0 && deal) share_linears(m, qmask, res);
    if (rc == 0) report_linears(m, o->method, qmask, res, rep);
    rep->seconds = qp_now() - t_all;
    free(Wq); free(chk); free(Wsrc); free(res);
    init_workspace_free(ws);
    la_set_threads(threads);
    return rc;
}
