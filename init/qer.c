// init/qer.c — QER over a whole Model: quantized adapters, the integer merge, its error split into
// adapter quantization and overflow, and the error-aware calibration (init/qer.h).
// Tested by tests/test_qer.c and tests/test_qer_cli.sh.
#include "init/qer.h"
#include "checkpoints/merge.h"
#include "core/check.h"
#include "core/la.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int adapted(const Model *m, int i) { return m->rank > 0 && m->train != TRAIN_FULL && m->A[i] != NULL; }

int qer_check_model(const Model *m, qp_status *st) {
    if (m->rank <= 0 || m->train == TRAIN_FULL)
        return qp_fail(st, "QER lossless merge needs LoRA adapters over a quantized base, found %s",
                       m->train == TRAIN_FULL ? "a full fine-tuning model" : "no adapters");
    const quant_format *f0 = NULL;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            const QuantTensor *q = m->qbase ? m->qbase[i] : NULL;
            if (!q) {
                if (adapted(m, i))
                    return qp_fail(st, "QER lossless merge: layer %d %s has an adapter over an fp32 base (no grid to merge "
                                       "onto); quantize every adapted linear", l, lin_names[k]);
                continue;
            }
            const quant_format *f = quant_tensor_format(q);
            if (quant_qer_check_format(f, st)) return -1;
            if (f0 && memcmp(f0, f, sizeof *f)) return qp_fail(st, "QER lossless merge: packed bases of different formats");
            f0 = f;
        }
    return 0;
}

// Quantized adapters of linear i in the base's format: A~ (R,IC) blocks along IC (aligned with
// the base's blocks), B~ (OC,R) one (partial) block per row when R ≤ block. The same calls as
// the training forward's (model/linear.c, linear_qer_weight).
static void quantized_adapters(const Model *m, int i, const quant_format *f, int OC, int IC, float *Aq, float *Bq) {
    quant_qer_fake(Aq, m->A[i], m->rank, IC, f);
    quant_qer_fake(Bq, m->B[i], OC, m->rank, f);
}

// P (OC,IC) = s·Bq·Aq in double, r in order: each product of two MXINT values is exact. (The
// same sums, element by element, as quant_qer_adapter_codes: adding a skipped zero term changes
// nothing, and the sum is scaled by s last in both.)
static void product_double(double *P, const float *Bq, const float *Aq, float s, int OC, int IC, int R) {
    for (int o = 0; o < OC; o++) {
        double *p = P + (size_t)o * IC;
        for (int j = 0; j < IC; j++) p[j] = 0.0;
        for (int r = 0; r < R; r++) {
            double b = (double)Bq[(size_t)o * R + r];
            if (b == 0.0) continue;
            const float *a = Aq + (size_t)r * IC;
            for (int j = 0; j < IC; j++) p[j] += b * (double)a[j];
        }
        for (int j = 0; j < IC; j++) p[j] *= (double)s;
    }
}

void qer_linear_codes(const Model *m, int l, int k, int32_t *d, float *Pq, float *Pf) {
    int i = l * LIN_COUNT + k;
    Linear lin = model_linear(m, l, k);
    QP_ASSERT(adapted(m, i) && m->qbase && m->qbase[i]);
    const int OC = lin.out, IC = lin.in, R = m->rank;
    const QuantTensor *base = m->qbase[i];
    float *Aq = xmalloc((size_t)R * IC * sizeof(float)), *Bq = xmalloc((size_t)OC * R * sizeof(float));
    double *P = xmalloc((size_t)OC * IC * sizeof(double));
    quantized_adapters(m, i, quant_tensor_format(base), OC, IC, Aq, Bq);
    quant_qer_adapter_codes(base, Aq, Bq, R, lin.scale, d);
    if (Pq) {
        product_double(P, Bq, Aq, lin.scale, OC, IC, R);
        for (size_t j = 0; j < (size_t)OC * IC; j++) Pq[j] = (float)P[j];
    }
    if (Pf) {
        product_double(P, m->B[i], m->A[i], lin.scale, OC, IC, R);
        for (size_t j = 0; j < (size_t)OC * IC; j++) Pf[j] = (float)P[j];
    }
    free(Aq); free(Bq); free(P);
}

// Per linear: W_ref, W_qer and the unclamped W~ + Δ·d in double, from the current adapters
// (Wref NULL: computed from the current fp adapters into ref_out; else used as given).
typedef struct {
    int OC, IC, R;
    float s;
    const QuantTensor *base;
    float *Aq, *Bq, *wq, *weff;  // adapters quantized; dq(base); W_qer (fp32, exact)
    double *wref, *wunc, *wqer;
    int32_t *d;
} LinWork;

static void lw_alloc(LinWork *w, int OC, int IC, int R) {
    size_t n = (size_t)OC * IC;
    w->OC = OC; w->IC = IC; w->R = R;
    w->Aq = xmalloc((size_t)R * IC * sizeof(float));
    w->Bq = xmalloc((size_t)OC * R * sizeof(float));
    w->wq = xmalloc(n * sizeof(float));
    w->weff = xmalloc(n * sizeof(float));
    w->wref = xmalloc(n * sizeof(double));
    w->wunc = xmalloc(n * sizeof(double));
    w->wqer = xmalloc(n * sizeof(double));
    w->d = xmalloc(n * sizeof(int32_t));
}
static void lw_free(LinWork *w) {
    free(w->Aq); free(w->Bq); free(w->wq); free(w->weff); free(w->wref); free(w->wunc); free(w->wqer);
    free(w->d);
}

// Bind w to linear i of m (buffers sized for the largest linear) and dequantize its base.
static void lw_bind(LinWork *w, const Model *m, int l, int k) {
    Linear lin = model_linear(m, l, k);
    w->OC = lin.out; w->IC = lin.in; w->R = m->rank; w->s = lin.scale;
    w->base = m->qbase[l * LIN_COUNT + k];
    quant_dequantize_rows(w->base, 0, w->OC, w->wq);
}

// W_ref = W~ + s·B·A (double) from adapters A, B.
static void lw_ref(LinWork *w, const float *A, const float *B) {
    size_t n = (size_t)w->OC * w->IC;
    product_double(w->wref, B, A, w->s, w->OC, w->IC, w->R);
    for (size_t j = 0; j < n; j++) w->wref[j] += (double)w->wq[j];
}

// From adapters A, B: d, W_qer (weff fp32 and wqer double), wunc = W~ + Δ·d (unclamped).
static void lw_eval(LinWork *w, const float *A, const float *B, quant_qer_count *cnt) {
    const quant_format *f = quant_tensor_format(w->base);
    const int IC = w->IC, W = f->bits;
    quant_qer_fake(w->Aq, A, w->R, IC, f);
    quant_qer_fake(w->Bq, B, w->OC, w->R, f);
    quant_qer_adapter_codes(w->base, w->Aq, w->Bq, w->R, w->s, w->d);
    quant_qer_adapter_weight(w->base, w->Aq, w->Bq, w->R, w->s, w->weff);  // == quant_qer_effective(base, d)
    if (cnt) {
        QuantTensor *mq = quant_qer_merge_codes(w->base, w->d, cnt);
        quant_tensor_free(mq);
    }
    for (int o = 0; o < w->OC; o++)
        for (int j = 0; j < IC; j++) {
            size_t x = (size_t)o * IC + j;
            int e = quant_qer_block_exponent(w->base, o, j / f->block);
            w->wunc[x] = (double)w->wq[x] + ldexp((double)w->d[x], e - (W - 2));
            w->wqer[x] = (double)w->weff[x];
        }
}

static void count_add(quant_qer_count *sum, const quant_qer_count *c) {
    sum->n_codes += c->n_codes;
    sum->n_changed += c->n_changed;
    sum->n_overflow += c->n_overflow;
    if (c->max_excess > sum->max_excess) sum->max_excess = c->max_excess;
}

static void max_dims(const Model *m, int *OC, int *IC) {
    *OC = *IC = 0;
    for (int k = 0; k < LIN_COUNT; k++) {
        Linear lin = model_linear(m, 0, k);
        if (lin.out > *OC) *OC = lin.out;
        if (lin.in > *IC) *IC = lin.in;
    }
}

static void report_finish(qer_report *r) {
    r->rel_err = r->ref_sq > 0 ? sqrt(r->err_sq / r->ref_sq) : 0;
    r->rel_quant = r->ref_sq > 0 ? sqrt(r->quant_sq / r->ref_sq) : 0;
    r->rel_overflow = r->ref_sq > 0 ? sqrt(r->overflow_sq / r->ref_sq) : 0;
}

int qer_merge(const Model *m, QuantTensor ***merged, qer_report *rep, qp_status *st) {
    *merged = NULL;
    if (qer_check_model(m, st)) return -1;
    const int n = m->cfg.n_layers * LIN_COUNT;
    QuantTensor **out = xcalloc((size_t)n, sizeof *out);
    qer_report r;
    memset(&r, 0, sizeof r);
    int OC, IC;
    max_dims(m, &OC, &IC);
    LinWork w;
    lw_alloc(&w, OC, IC, m->rank);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            if (!m->qbase[i]) continue;
            if (!adapted(m, i)) { out[i] = quant_qer_merge_codes(m->qbase[i], NULL, NULL); continue; }
            lw_bind(&w, m, l, k);
            lw_ref(&w, m->A[i], m->B[i]);
            lw_eval(&w, m->A[i], m->B[i], NULL);
            quant_qer_count c;
            out[i] = quant_qer_merge_codes(m->qbase[i], w.d, &c);
            count_add(&r.codes, &c);
            r.n_linears++;
            for (size_t j = 0; j < (size_t)w.OC * w.IC; j++) {
                double e = w.wqer[j] - w.wref[j], eq = w.wunc[j] - w.wref[j], eo = w.wqer[j] - w.wunc[j];
                r.ref_sq += w.wref[j] * w.wref[j];
                r.err_sq += e * e;
                r.quant_sq += eq * eq;
                r.overflow_sq += eo * eo;
                if (!(fabs(e) <= r.max_abs)) r.max_abs = fabs(e);
            }
        }
    lw_free(&w);
    report_finish(&r);
    if (rep) *rep = r;
    *merged = out;
    return 0;
}

int qer_effective_weights(const Model *m, ModelConfig *cfg, ModelWeights *out, qp_status *st) {
    if (qer_check_model(m, st)) return -1;
    return merge_qer_weights(m, cfg, out, st);
}

// ‖E‖²_Σ = Σ_o e_oᵀ Σ e_o with F = E·Σ (scratch F (OC,IC)).
static double sigma_norm_sq(const double *E, const double *Sig, int OC, int IC, double *F) {
    la_dgemm(0, 0, OC, IC, IC, 1.0, E, IC, Sig, IC, 0.0, F, IC);
    double s = 0;
    for (size_t j = 0; j < (size_t)OC * IC; j++) s += E[j] * F[j];
    return s;
}

// Output errors of one linear at the current LinWork state: adds to the sums.
typedef struct { double ref, err, quant, over; int64_t n_overflow; } OutSums;
static double lin_out_error(LinWork *w, const double *Sig, double *E, double *F, OutSums *s) {
    size_t n = (size_t)w->OC * w->IC;
    for (size_t j = 0; j < n; j++) E[j] = w->wqer[j] - w->wref[j];
    double err = sigma_norm_sq(E, Sig, w->OC, w->IC, F);
    if (s) {
        s->err += err;
        for (size_t j = 0; j < n; j++) E[j] = w->wunc[j] - w->wref[j];
        s->quant += sigma_norm_sq(E, Sig, w->OC, w->IC, F);
        for (size_t j = 0; j < n; j++) E[j] = w->wqer[j] - w->wunc[j];
        s->over += sigma_norm_sq(E, Sig, w->OC, w->IC, F);
        s->ref += sigma_norm_sq(w->wref, Sig, w->OC, w->IC, F);
    }
    return err;
}

static void out_finish(const OutSums *s, qer_out_error *e) {
    e->rel_err = s->ref > 0 ? sqrt(fmax(s->err, 0) / s->ref) : 0;
    e->rel_quant = s->ref > 0 ? sqrt(fmax(s->quant, 0) / s->ref) : 0;
    e->rel_overflow = s->ref > 0 ? sqrt(fmax(s->over, 0) / s->ref) : 0;
    e->n_overflow = s->n_overflow;
}

// Penalty weight·‖W_unc − W_qer‖²_F of the clamped codes (0 when weight is 0).
static double overflow_cost(const LinWork *w, double weight) {
    if (weight <= 0) return 0;
    double s = 0;
    for (size_t j = 0; j < (size_t)w->OC * w->IC; j++) s += (w->wunc[j] - w->wqer[j]) * (w->wunc[j] - w->wqer[j]);
    return weight * s;
}

static double mean_diag(const double *Sig, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += Sig[(size_t)i * n + i];
    return n ? s / n : 0;
}

static double rms(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

// Adam on one tensor with step size lr (bias-corrected, β = 0.9, 0.999).
static void adam(float *p, const double *g, double *mo, double *v, size_t n, double lr, int t) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-12;
    double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
    for (size_t i = 0; i < n; i++) {
        mo[i] = b1 * mo[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= (float)(lr * (mo[i] / c1) / (sqrt(v[i] / c2) + eps));
    }
}

static int calib_or_eval(Model *m, const CalibSet *stats, const qer_calib_opts *o, qer_out_error *before,
                         qer_out_error *after, qp_status *st) {
    if (qer_check_model(m, st)) return -1;
    if (!stats || !stats->with_xtx || stats->n_layers != m->cfg.n_layers)
        return qp_fail(st, "QER calibration needs statistics with Σxᵀx for all %d layers", m->cfg.n_layers);
    int OC, IC;
    max_dims(m, &OC, &IC);
    const int R = m->rank;
    LinWork w;
    lw_alloc(&w, OC, IC, R);
    size_t nmax = (size_t)OC * IC;
    double *Sig = xmalloc((size_t)IC * IC * sizeof(double)), *E = xmalloc(nmax * sizeof(double)),
           *F = xmalloc(nmax * sizeof(double));
    double *gA = xmalloc((size_t)R * IC * sizeof(double)), *gB = xmalloc((size_t)OC * R * sizeof(double));
    double *mA = xmalloc((size_t)R * IC * sizeof(double)), *vA = xmalloc((size_t)R * IC * sizeof(double));
    double *mB = xmalloc((size_t)OC * R * sizeof(double)), *vB = xmalloc((size_t)OC * R * sizeof(double));
    double *Ad = xmalloc((size_t)R * IC * sizeof(double)), *Bd = xmalloc((size_t)OC * R * sizeof(double));
    float *bestA = xmalloc((size_t)R * IC * sizeof(float)), *bestB = xmalloc((size_t)OC * R * sizeof(float));
    OutSums sb = {0}, sa = {0};
    const int steps = o ? o->steps : 0;
    int rc = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            if (!adapted(m, i)) continue;
            lw_bind(&w, m, l, k);
            const CalibStats *cs = calib_set_get(stats, l, (lin_kind)k);
            if (!cs || cs->n != w.IC || !cs->xtx) {
                rc = qp_fail(st, "QER calibration: no Σxᵀx of dimension %d for layer %d %s", w.IC, l, lin_names[k]);
                goto done;
            }
            calib_second_moment(cs, Sig);
            float *A = m->A[i], *B = m->B[i];
            const size_t nA = (size_t)R * w.IC, nB = (size_t)w.OC * R, n = (size_t)w.OC * w.IC;
            lw_ref(&w, A, B);  // W_ref fixed to the fp-adapter weights at entry
            quant_qer_count c;
            lw_eval(&w, A, B, &c);
            sb.n_overflow += c.n_overflow;
            const double lam = o ? o->overflow_penalty : 0, sbar = mean_diag(Sig, w.IC);
            double best = lin_out_error(&w, Sig, E, F, &sb) + overflow_cost(&w, lam * sbar), loss0 = best;
            if (steps > 0) {
                memcpy(bestA, A, nA * sizeof(float));
                memcpy(bestB, B, nB * sizeof(float));
                double rA = rms(A, nA), rB = rms(B, nB);
                if (rA == 0) rA = rB;
                if (rB == 0) rB = rA;
                const double lrA = o->lr * rA, lrB = o->lr * rB;
                memset(mA, 0, nA * sizeof(double)); memset(vA, 0, nA * sizeof(double));
                memset(mB, 0, nB * sizeof(double)); memset(vB, 0, nB * sizeof(double));
                for (int t = 1; t <= steps; t++) {
                    // STE: G = 2·(W_qer − W_ref)·Σ (E, F hold it after lin_out_error), dC = G.
                    for (size_t j = 0; j < n; j++) E[j] = w.wqer[j] - w.wref[j];
                    la_dgemm(0, 0, w.OC, w.IC, w.IC, 2.0, E, w.IC, Sig, w.IC, 0.0, F, w.IC);
                    if (lam > 0)  // overflow-aware: the penalty's gradient replaces the STE at clamped codes
                        for (size_t j = 0; j < n; j++) {
                            double excess = w.wunc[j] - w.wqer[j];
                            if (excess != 0) F[j] = 2.0 * lam * sbar * excess;
                        }
                    for (size_t j = 0; j < nA; j++) Ad[j] = w.Aq[j];
                    for (size_t j = 0; j < nB; j++) Bd[j] = w.Bq[j];
                    // dB (OC,R) = s·G·A~ᵀ ; dA (R,IC) = s·B~ᵀ·G
                    la_dgemm(0, 1, w.OC, R, w.IC, w.s, F, w.IC, Ad, w.IC, 0.0, gB, R);
                    la_dgemm(1, 0, R, w.IC, w.OC, w.s, Bd, R, F, w.IC, 0.0, gA, w.IC);
                    adam(A, gA, mA, vA, nA, lrA, t);
                    adam(B, gB, mB, vB, nB, lrB, t);
                    lw_eval(&w, A, B, NULL);
                    double loss = lin_out_error(&w, Sig, E, F, NULL) + overflow_cost(&w, lam * sbar);
                    if (loss < best) {
                        best = loss;
                        memcpy(bestA, A, nA * sizeof(float));
                        memcpy(bestB, B, nB * sizeof(float));
                    }
                }
                memcpy(A, bestA, nA * sizeof(float));
                memcpy(B, bestB, nB * sizeof(float));
                if (o->log)
                    qp_info("qer calib: layer %d %-9s output error %.4g -> %.4g (%d steps)", l, lin_names[k], loss0, best,
                            steps);
            }
            if (after) {
                lw_eval(&w, A, B, &c);
                sa.n_overflow += c.n_overflow;
                lin_out_error(&w, Sig, E, F, &sa);
            }
        }
    out_finish(&sb, before);
    if (after) out_finish(&sa, after);
done:
    lw_free(&w);
    free(Sig); free(E); free(F); free(gA); free(gB); free(mA); free(vA); free(mB); free(vB); free(Ad); free(Bd);
    free(bestA); free(bestB);
    return rc;
}

int qer_calibrate(Model *m, const CalibSet *stats, const qer_calib_opts *o, qer_out_error *before,
                  qer_out_error *after, qp_status *st) {
    return calib_or_eval(m, stats, o, before, after, st);
}

// With no options calib_or_eval reads m only (no step is taken), hence the cast.
int qer_output_error(const Model *m, const CalibSet *stats, qer_out_error *e, qp_status *st) {
    return calib_or_eval((Model *)m, stats, NULL, e, NULL, st);
}
