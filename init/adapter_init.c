// init/adapter_init.c — the adapter initialisers of adapter_init.h: method names, workspace,
// the shared weighted low-rank step (SVD → balanced A, B) and every method's driver.
// Tested by tests/test_init.c (closed forms, orderings, numpy oracle tests/oracle_init.py).
#include "init/adapter_init.h"
#include "core/check.h"
#include "core/la.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *method_names[INIT_METHOD_COUNT] = {
    "qlora", "loftq", "zeroquant-v2", "lqer", "qera-approx", "qera-exact", "srr"};

const char *init_method_name(init_method m) {
    return (m >= 0 && m < INIT_METHOD_COUNT) ? method_names[m] : "?";
}

int init_method_parse(const char *name, init_method *out, qp_status *st) {
    for (int m = 0; m < INIT_METHOD_COUNT; m++)
        if (strcmp(name, method_names[m]) == 0) { *out = (init_method)m; return 0; }
    return qp_fail(st, "init method: expected one of qlora, loftq, zeroquant-v2, lqer, qera-approx, "
                       "qera-exact, srr, found '%s'", name);
}

int init_method_needs_stats(init_method m) {
    return m == INIT_LQER || m == INIT_QERA_APPROX || m == INIT_QERA_EXACT || m == INIT_SRR;
}
int init_method_needs_xtx(init_method m) { return m == INIT_QERA_EXACT; }

void init_fakeq_quant(float *out, const float *w, int rows, int cols, const void *ctx) {
    quant_fake(out, w, rows, cols, (const quant_format *)ctx);
}

void init_options_default(InitOptions *o, init_method m) {
    memset(o, 0, sizeof *o);
    o->method = m;
    o->scale = 1.0f;
    o->loftq_iters = 5;
    o->srr_keep = -1;
    o->eig_floor = INIT_EIG_FLOOR_DEFAULT;
}

// ---- workspace ----------------------------------------------------------------------------
struct InitWorkspace {
    int OC, IC, R;       // capacity
    double *Ep;          // (IC,OC) quantization error, transposed: E_p = (W − W~)ᵀ
    double *M;           // (IC,OC) the weighted matrix handed to dgesdd (destroyed by it)
    double *U, *Vt, *sv; // (IC,p), (p,OC), (p) SVD output, p = min(IC,OC)
    double *L;           // (IC,R) un-weighted left factor (S⁻¹U_k or R^-½U_k)
    double *Up, *Vtp, *svp; // srr: preserved triplets (IC,R), (R,OC), (R)
    double *P;           // (IC,OC) srr: preserved part S⁻¹U_k'Σ_k'V_k'ᵀ
    double *Rh, *Rih;    // (IC,IC) R^½, R^-½ (floored)
    double *evec, *Vs;   // (IC,IC) eigenvectors, eigenvectors with scaled columns
    double *eig, *S, *Sinv; // (IC)
    float *F1, *F2;      // (OC,IC) float scratch: what is quantized, a candidate W~
    // qera-exact's factor of R (Rh, Rih for EIGEN; the Cholesky L in Rh) is valid for:
    const CalibStats *fac_key; int64_t fac_count; int fac_route; double fac_floor; uint64_t fac_print;
    double ridge;        // δ of the Cholesky factor in Rh (L·Lᵀ = R + δI)
};

static void ws_free_buffers(InitWorkspace *ws) {
    double *d[] = {ws->Ep, ws->M, ws->U, ws->Vt, ws->sv, ws->L, ws->Up, ws->Vtp, ws->svp, ws->P,
                   ws->Rh, ws->Rih, ws->evec, ws->Vs, ws->eig, ws->S, ws->Sinv};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(d[i]);
    free(ws->F1); free(ws->F2);
}

static double *dalloc(size_t a, size_t b) {
    size_t n;
    QP_ASSERT(qp_size_mul(a, b, &n) && qp_size_mul(n, sizeof(double), &n));
    return xmalloc(n ? n : sizeof(double));
}

static void ws_alloc_buffers(InitWorkspace *ws) {
    size_t oc = (size_t)ws->OC, ic = (size_t)ws->IC, r = (size_t)(ws->R > 0 ? ws->R : 1);
    size_t p = oc < ic ? oc : ic;
    ws->Ep = dalloc(ic, oc); ws->M = dalloc(ic, oc); ws->P = dalloc(ic, oc);
    ws->U = dalloc(ic, p); ws->Vt = dalloc(p, oc); ws->sv = dalloc(p, 1);
    ws->L = dalloc(ic, r); ws->Up = dalloc(ic, r); ws->Vtp = dalloc(r, oc); ws->svp = dalloc(r, 1);
    ws->Rh = dalloc(ic, ic); ws->Rih = dalloc(ic, ic); ws->evec = dalloc(ic, ic); ws->Vs = dalloc(ic, ic);
    ws->eig = dalloc(ic, 1); ws->S = dalloc(ic, 1); ws->Sinv = dalloc(ic, 1);
    ws->F1 = xmalloc(oc * ic * sizeof(float)); ws->F2 = xmalloc(oc * ic * sizeof(float));
    ws->fac_key = NULL;
}

void init_workspace_forget(InitWorkspace *ws) { ws->fac_key = NULL; }

// FNV-1a over Σx² and the diagonal of Σxᵀx: a statistics object freed and another allocated at
// the same address (same count) must not pass for the factored one.
static uint64_t stats_print(const CalibStats *c) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < c->n; i++) {
        double v[2] = {c->sum_sq[i], c->xtx ? c->xtx[(size_t)i * c->n + i] : 0.0};
        const unsigned char *b = (const unsigned char *)v;
        for (size_t j = 0; j < sizeof v; j++) { h ^= b[j]; h *= 0x100000001b3ULL; }
    }
    return h;
}

static int factor_cached(const InitWorkspace *ws, const CalibStats *c, int route, double floor) {
    return ws->fac_key == c && ws->fac_count == c->count && ws->fac_route == route && ws->fac_floor == floor &&
           ws->fac_print == stats_print(c);
}

static void factor_remember(InitWorkspace *ws, const CalibStats *c, int route, double floor) {
    ws->fac_key = c; ws->fac_count = c->count; ws->fac_route = route; ws->fac_floor = floor;
    ws->fac_print = stats_print(c);
}

InitWorkspace *init_workspace_alloc(int OC, int IC, int R) {
    QP_ASSERT(OC > 0 && IC > 0 && R >= 0);
    InitWorkspace *ws = xcalloc(1, sizeof *ws);
    ws->OC = OC; ws->IC = IC; ws->R = R;
    ws_alloc_buffers(ws);
    return ws;
}

void init_workspace_fit(InitWorkspace *ws, int OC, int IC, int R) {
    if (OC <= ws->OC && IC <= ws->IC && R <= ws->R) return;
    ws_free_buffers(ws);
    if (OC > ws->OC) ws->OC = OC;
    if (IC > ws->IC) ws->IC = IC;
    if (R > ws->R) ws->R = R;
    ws_alloc_buffers(ws);
}

void init_workspace_free(InitWorkspace *ws) {
    if (!ws) return;
    ws_free_buffers(ws);
    free(ws);
}

// ---- shared algebra -------------------------------------------------------------------------
// How E_p is weighted before the SVD: not at all (zeroquant-v2, loftq), by a diagonal S
// (lqer, qera-approx, srr) or by R^½ (qera-exact). The inverse weight maps U_k back.
typedef enum { WEIGHT_NONE, WEIGHT_DIAG, WEIGHT_FULL } weight_kind;

// Ep (IC,OC) = (W − Wq)ᵀ in double.
static void error_transposed(double *Ep, const float *W, const float *Wq, int OC, int IC) {
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++)
            Ep[(size_t)i * OC + o] = (double)W[(size_t)o * IC + i] - (double)Wq[(size_t)o * IC + i];
}

// Write k components of C = L diag(σ) Vᵀ into adapter rows/columns [r0, r0+k):
// A[r0+j, :] = √(σ_j/s)·L[:, j]ᵀ, B[:, r0+j] = √(σ_j/s)·V[:, j], so s·B·A adds C ᵀ.
static void write_factors(const double *L, int ldl, const double *sv, const double *Vt, int IC, int OC,
                          int k, float s, float *A, float *B, int R, int r0) {
    for (int j = 0; j < k; j++) {
        double g = sqrt(sv[j] / (double)s);
        float *a = A + (size_t)(r0 + j) * IC;
        for (int i = 0; i < IC; i++) a[i] = (float)(g * L[(size_t)i * ldl + j]);
        for (int o = 0; o < OC; o++) B[(size_t)o * R + r0 + j] = (float)(g * Vt[(size_t)j * OC + o]);
    }
}

// SVD of the weighted error M = Wt·Ep (IC,OC) into ws->U, ws->sv, ws->Vt.
static int weighted_svd(InitWorkspace *ws, const double *Ep, weight_kind wk, int IC, int OC, qp_status *st) {
    size_t n = (size_t)IC * OC;
    if (wk == WEIGHT_FULL) {
        la_dgemm(0, 0, IC, OC, IC, 1.0, ws->Rh, IC, Ep, OC, 0.0, ws->M, OC);
    } else if (wk == WEIGHT_DIAG) {
        for (int i = 0; i < IC; i++)
            for (int o = 0; o < OC; o++) ws->M[(size_t)i * OC + o] = ws->S[i] * Ep[(size_t)i * OC + o];
    } else {
        memcpy(ws->M, Ep, n * sizeof(double));
    }
    return la_dgesdd(IC, OC, ws->M, ws->sv, ws->U, ws->Vt, st);
}

// Best rank-k approximation of Ep under the weighting (the QERA/LQER algebra): SVD of Wt·Ep,
// C_k = Wt⁻¹U_k Σ_k V_kᵀ, written as adapter components [r0, r0+k). *resid gets the weighted
// error left, Σ_{i≥k} σ_i² (0-based). Uses ws->S/Sinv (diag) or ws->Rh/Rih (full).
static int lowrank_into(InitWorkspace *ws, const double *Ep, weight_kind wk, int IC, int OC, int k, float s,
                        float *A, float *B, int R, int r0, double *resid, qp_status *st) {
    if (weighted_svd(ws, Ep, wk, IC, OC, st)) return -1;
    int p = IC < OC ? IC : OC;
    double e = 0;
    for (int i = p - 1; i >= k; i--) e += ws->sv[i] * ws->sv[i];   // smallest first: less rounding
    if (resid) *resid = e;
    if (k == 0) return 0;
    if (wk == WEIGHT_FULL) {
        la_dgemm(0, 0, IC, k, IC, 1.0, ws->Rih, IC, ws->U, p, 0.0, ws->L, k);
    } else {
        for (int i = 0; i < IC; i++)
            for (int j = 0; j < k; j++)
                ws->L[(size_t)i * k + j] = ws->U[(size_t)i * p + j] * (wk == WEIGHT_DIAG ? ws->Sinv[i] : 1.0);
    }
    write_factors(ws->L, k, ws->sv, ws->Vt, IC, OC, k, s, A, B, R, r0);
    return 0;
}

// Diagonal activation scale into ws->S, ws->Sinv: E|x_i| (lqer) or √E[x_i²] (qera-approx,
// srr), floored at √floor·max so a dead channel gets a finite inverse (see the header).
static void diag_scale(InitWorkspace *ws, const CalibStats *c, int use_abs, double floor) {
    int n = c->n;
    if (use_abs) calib_mean_abs(c, ws->S); else calib_rms(c, ws->S);
    double mx = 0;
    for (int i = 0; i < n; i++) if (ws->S[i] > mx) mx = ws->S[i];
    double lo = sqrt(floor) * mx;
    for (int i = 0; i < n; i++) {
        if (!(mx > 0)) ws->S[i] = 1.0;
        else if (!(ws->S[i] >= lo)) ws->S[i] = lo;
        ws->Sinv[i] = 1.0 / ws->S[i];
    }
}

// R^½ and R^-½ (ws->Rh, ws->Rih) from R = E[xᵀx] by dsyevd, eigenvalues floored at
// floor·λ_max (the same floored spectrum in both, so Rih·Rh = I).
static int sqrt_second_moment(InitWorkspace *ws, const CalibStats *c, double floor, qp_status *st) {
    int n = c->n;
    if (factor_cached(ws, c, INIT_EXACT_EIGEN, floor)) return 0;
    ws->fac_key = NULL;
    calib_second_moment(c, ws->evec);
    if (la_dsyevd(n, ws->evec, ws->eig, st)) return -1;
    double lmax = ws->eig[n - 1];
    double lo = lmax > 0 ? floor * lmax : 1.0;
    if (!(lmax > 0)) for (int j = 0; j < n; j++) ws->eig[j] = 1.0;   // all-zero R: no weighting
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double l = ws->eig[j] >= lo ? ws->eig[j] : lo;
                double f = pass == 0 ? sqrt(l) : 1.0 / sqrt(l);
                ws->Vs[(size_t)i * n + j] = ws->evec[(size_t)i * n + j] * f;
            }
        // V diag(f) Vᵀ
        la_dgemm(0, 1, n, n, n, 1.0, ws->Vs, n, ws->evec, n, 0.0, pass == 0 ? ws->Rh : ws->Rih, n);
    }
    factor_remember(ws, c, INIT_EXACT_EIGEN, floor);
    return 0;
}

// Cholesky factor L of R + δI into ws->Rh (lower), δ = floor·max_i R_ii, grown ×100 while the
// factorisation fails (R rank-deficient or numerically indefinite), up to 1e-2·max_i R_ii. An
// all-zero R gives L = I (no weighting), as the eigen route does.
static int cholesky_second_moment(InitWorkspace *ws, const CalibStats *c, double floor, qp_status *st) {
    int n = c->n;
    if (factor_cached(ws, c, INIT_EXACT_CHOLESKY, floor)) return 0;
    ws->fac_key = NULL;
    calib_second_moment(c, ws->Rih);  // R, kept for the retries
    double dmax = 0;
    for (int i = 0; i < n; i++) if (ws->Rih[(size_t)i * n + i] > dmax) dmax = ws->Rih[(size_t)i * n + i];
    size_t nn = (size_t)n * n;
    if (!(dmax > 0)) {
        memset(ws->Rh, 0, nn * sizeof(double));
        for (int i = 0; i < n; i++) ws->Rh[(size_t)i * n + i] = 1.0;
        ws->ridge = 0;
        factor_remember(ws, c, INIT_EXACT_CHOLESKY, floor);
        return 0;
    }
    for (double ridge = floor * dmax;; ridge *= 100) {
        if (ridge > 1e-2 * dmax)
            return qp_fail(st, "qera-exact: Cholesky of E[xᵀx] (n=%d) failed even with a ridge of 1e-2·max diagonal", n);
        memcpy(ws->Rh, ws->Rih, nn * sizeof(double));
        for (int i = 0; i < n; i++) ws->Rh[(size_t)i * n + i] += ridge;
        int rc = la_dpotrf_lower(n, ws->Rh, st);
        if (rc < 0) return -1;
        if (rc == 0) { ws->ridge = ridge; break; }
    }
    factor_remember(ws, c, INIT_EXACT_CHOLESKY, floor);
    return 0;
}

// The Cholesky route's low-rank step (see init_exact_route): M = Lᵀ·Ep (IC,OC); its top-k
// singular triplets from the k largest eigenpairs of the smaller Gram matrix; A, B from
// L⁻ᵀ·U_k, σ and V_k. *resid is the objective on R itself: ‖M‖²_F − Σσ_j² is tr(Dᵀ(R+δI)D) for
// D = E_p − C_p (k ≪ min(IC,OC): no cancellation to speak of), less the ridge's δ‖D‖²_F.
static int lowrank_cholesky(InitWorkspace *ws, const double *Ep, int IC, int OC, int k, float s, float *A, float *B,
                            double *resid, qp_status *st) {
    size_t n = (size_t)IC * OC;
    memcpy(ws->M, Ep, n * sizeof(double));
    la_dtrmm_lower(1, IC, OC, ws->Rh, ws->M, OC);
    double fro = 0;
    for (size_t i = 0; i < n; i++) fro += ws->M[i] * ws->M[i];
    int p = IC < OC ? IC : OC;
    double *G = ws->evec, *Z = ws->U, *w = ws->eig;  // (p,p), (p,k), (k)
    if (IC <= OC) la_dgemm(0, 1, IC, IC, OC, 1.0, ws->M, OC, ws->M, OC, 0.0, G, p);   // M Mᵀ: Z = U_k
    else la_dgemm(1, 0, OC, OC, IC, 1.0, ws->M, OC, ws->M, OC, 0.0, G, p);            // Mᵀ M: Z = V_k
    if (la_dsyevr_top(p, G, k, w, Z, st)) return -1;
    double kept = 0;
    for (int j = 0; j < k; j++) {  // descending order: component j is eigenpair k-1-j
        double l = w[k - 1 - j] > 0 ? w[k - 1 - j] : 0.0;
        ws->sv[j] = sqrt(l);
        kept += l;
    }
    // The other side: V_kᵀ = Σ⁻¹U_kᵀM (IC ≤ OC) or U_k = M V_k Σ⁻¹; a zero σ adds nothing.
    for (int j = 0; j < k; j++) {
        int src = k - 1 - j;
        double inv = ws->sv[j] > 0 ? 1.0 / ws->sv[j] : 0.0;
        if (IC <= OC) {
            for (int i = 0; i < IC; i++) ws->L[(size_t)i * k + j] = Z[(size_t)i * k + src];
            for (int o = 0; o < OC; o++) {
                double acc = 0;
                for (int i = 0; i < IC; i++) acc += Z[(size_t)i * k + src] * ws->M[(size_t)i * OC + o];
                ws->Vt[(size_t)j * OC + o] = acc * inv;
            }
        } else {
            for (int o = 0; o < OC; o++) ws->Vt[(size_t)j * OC + o] = Z[(size_t)o * k + src];
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int o = 0; o < OC; o++) acc += ws->M[(size_t)i * OC + o] * Z[(size_t)o * k + src];
                ws->L[(size_t)i * k + j] = acc * inv;
            }
        }
    }
    la_dtrsm_lower(1, IC, k, ws->Rh, ws->L, k);  // L⁻ᵀ U_k: back to the unweighted space
    write_factors(ws->L, k, ws->sv, ws->Vt, IC, OC, k, s, A, B, k, 0);
    if (resid) {
        double dd = 0;
        if (ws->ridge > 0) {  // ‖D‖²_F with C_p = (L⁻ᵀU_k·diag σ)·V_kᵀ formed in ws->P
            for (int i = 0; i < IC; i++)
                for (int j = 0; j < k; j++) ws->Up[(size_t)i * ws->R + j] = ws->L[(size_t)i * k + j] * ws->sv[j];
            la_dgemm(0, 0, IC, OC, k, 1.0, ws->Up, ws->R, ws->Vt, OC, 0.0, ws->P, OC);
            for (size_t i = 0; i < n; i++) dd += (Ep[i] - ws->P[i]) * (Ep[i] - ws->P[i]);
        }
        double e = fro - kept - ws->ridge * dd;
        *resid = e > 0 ? e : 0.0;
    }
    return 0;
}

// ---- methods --------------------------------------------------------------------------------
static void init_qlora(const InitOptions *o, int OC, int IC, float *A, float *B) {
    // PEFT: kaiming_uniform_(lora_A, a=√5): gain √(2/(1+5)), bound = gain·√3/√fan_in = 1/√IC.
    int R = o->rank;
    float bound = 1.0f / sqrtf((float)IC);
    for (size_t i = 0; i < (size_t)R * IC; i++) A[i] = (2.0f * rng_uniform(o->rng) - 1.0f) * bound;
    memset(B, 0, (size_t)OC * R * sizeof(float));
}

// LoftQ: W~₀ = 0, sBA₀ = 0; for t = 1..T: W~ ← dq(q(W − sBA)), sBA ← rank-k SVD of W − W~.
static int init_loftq(InitWorkspace *ws, const InitOptions *o, const float *W, int OC, int IC,
                      float *Wq, float *A, float *B, double *est, qp_status *st) {
    int R = o->rank;
    memset(A, 0, (size_t)R * IC * sizeof(float));
    memset(B, 0, (size_t)OC * R * sizeof(float));
    for (int t = 0; t < o->loftq_iters; t++) {
        memcpy(ws->F1, W, (size_t)OC * IC * sizeof(float));
        if (t > 0) la_sgemm(0, 0, OC, IC, R, -o->scale, B, R, A, IC, 1.0f, ws->F1, IC);
        o->fakeq(Wq, ws->F1, OC, IC, o->fakeq_ctx);
        error_transposed(ws->Ep, W, Wq, OC, IC);
        if (lowrank_into(ws, ws->Ep, WEIGHT_NONE, IC, OC, R, o->scale, A, B, R, 0, est, st)) return -1;
    }
    return 0;
}

// srr helper: for k' preserved components (ws->Up/svp/Vtp), form P (IC,OC), quantize W − Pᵀ
// into Wq and leave E_r = W − Pᵀ − Wq in ws->Ep.
static void srr_residual(InitWorkspace *ws, const float *W, int OC, int IC, int kp, const InitOptions *o, float *Wq) {
    size_t n = (size_t)IC * OC;
    memset(ws->P, 0, n * sizeof(double));
    if (kp > 0) {
        // Up holds S⁻¹u_j·σ_j already (see init_srr), so P = Up[:, :k'] · Vtp[:k', :].
        la_dgemm(0, 0, IC, OC, kp, 1.0, ws->Up, ws->R, ws->Vtp, OC, 0.0, ws->P, OC);
    }
    for (int oo = 0; oo < OC; oo++)
        for (int i = 0; i < IC; i++)
            ws->F1[(size_t)oo * IC + i] = (float)((double)W[(size_t)oo * IC + i] - ws->P[(size_t)i * OC + oo]);
    o->fakeq(Wq, ws->F1, OC, IC, o->fakeq_ctx);
    for (int oo = 0; oo < OC; oo++)
        for (int i = 0; i < IC; i++) {
            size_t wi = (size_t)oo * IC + i, pi = (size_t)i * OC + oo;
            ws->Ep[pi] = (double)W[wi] - ws->P[pi] - (double)Wq[wi];
        }
}

// Σ_{i≥keep} σ_i²(S·Ep) for ws->Ep without an SVD: the eigenvalues of the smaller Gram matrix
// (p,p) of M = S·Ep, tail = Σ of its p − keep smallest. Squaring the spectrum costs accuracy
// only in tails below ~ε·σ_1², far under any difference that decides k'; it is ~5× cheaper
// than the vectors dgesdd always computes, and the srr search runs it up to k+1 times.
static int weighted_tail(InitWorkspace *ws, int IC, int OC, int keep, double *tail, qp_status *st) {
    int p = IC < OC ? IC : OC;
    for (int i = 0; i < IC; i++)
        for (int o = 0; o < OC; o++) ws->M[(size_t)i * OC + o] = ws->S[i] * ws->Ep[(size_t)i * OC + o];
    if (IC <= OC) la_dgemm(0, 1, IC, IC, OC, 1.0, ws->M, OC, ws->M, OC, 0.0, ws->evec, p);   // M Mᵀ
    else la_dgemm(1, 0, OC, OC, IC, 1.0, ws->M, OC, ws->M, OC, 0.0, ws->evec, p);            // Mᵀ M
    if (la_dsyevd(p, ws->evec, ws->eig, st)) return -1;
    double e = 0;
    for (int i = 0; i < p - keep; i++) e += ws->eig[i] > 0 ? ws->eig[i] : 0.0;           // ascending
    *tail = e;
    return 0;
}

static int init_srr(InitWorkspace *ws, const InitOptions *o, const float *W, int OC, int IC,
                    float *Wq, float *A, float *B, int *kp_out, double *est, qp_status *st) {
    int k = o->rank, p = IC < OC ? IC : OC;
    // Top-k singular triplets of S·W_p: Up[:, j] = S⁻¹u_j σ_j (for P), svp, Vtp.
    for (int oo = 0; oo < OC; oo++)
        for (int i = 0; i < IC; i++) ws->Ep[(size_t)i * OC + oo] = (double)W[(size_t)oo * IC + i];
    if (weighted_svd(ws, ws->Ep, WEIGHT_DIAG, IC, OC, st)) return -1;
    for (int j = 0; j < k; j++) {
        ws->svp[j] = ws->sv[j];
        for (int i = 0; i < IC; i++) ws->Up[(size_t)i * ws->R + j] = ws->Sinv[i] * ws->U[(size_t)i * p + j] * ws->sv[j];
        memcpy(ws->Vtp + (size_t)j * OC, ws->Vt + (size_t)j * OC, (size_t)OC * sizeof(double));
    }
    int best = o->srr_keep;
    if (best < 0) {
        // Search k' by the exact weighted error of each candidate, Σ_{i≥k−k'} σ_i²(S·E_r).
        int step = k <= 16 ? 1 : (k + 7) / 8;
        double best_err = INFINITY;
        for (int kp = 0; kp <= k; kp = (kp == k ? k + 1 : (kp + step > k ? k : kp + step))) {
            srr_residual(ws, W, OC, IC, kp, o, ws->F2);
            double e;
            if (weighted_tail(ws, IC, OC, k - kp, &e, st)) return -1;
            if (e < best_err) { best_err = e; best = kp; }
        }
    }
    *kp_out = best;
    srr_residual(ws, W, OC, IC, best, o, Wq);
    // Preserved rows [0, k'): L = S⁻¹U (Up divided back by σ), singular values svp.
    for (int i = 0; i < IC; i++)
        for (int j = 0; j < best; j++)
            ws->L[(size_t)i * k + j] = ws->svp[j] > 0 ? ws->Up[(size_t)i * ws->R + j] / ws->svp[j] : 0.0;
    write_factors(ws->L, k, ws->svp, ws->Vtp, IC, OC, best, o->scale, A, B, k, 0);
    return lowrank_into(ws, ws->Ep, WEIGHT_DIAG, IC, OC, k - best, o->scale, A, B, k, best, est, st);
}

static int check_options(const InitOptions *o, int OC, int IC, const CalibStats *stats, qp_status *st) {
    const char *name = init_method_name(o->method);
    int p = OC < IC ? OC : IC;
    if (o->method < 0 || o->method >= INIT_METHOD_COUNT) return qp_fail(st, "init: unknown method id %d", (int)o->method);
    if (OC <= 0 || IC <= 0) return qp_fail(st, "init %s: expected a positive weight shape, found (%d,%d)", name, OC, IC);
    if (o->rank < 0 || o->rank > p)
        return qp_fail(st, "init %s: expected rank in [0, %d] for a (%d,%d) weight, found %d", name, p, OC, IC, o->rank);
    if (!(o->scale > 0) || !isfinite(o->scale))
        return qp_fail(st, "init %s: expected a positive finite scale alpha/r, found %g", name, (double)o->scale);
    if (!o->fakeq) return qp_fail(st, "init %s: no quantizer given", name);
    if (o->method == INIT_LOFTQ && o->loftq_iters < 1)
        return qp_fail(st, "init loftq: expected at least 1 iteration, found %d", o->loftq_iters);
    if (o->method == INIT_SRR && o->srr_keep > o->rank)
        return qp_fail(st, "init srr: expected preserved rank k' in [0, %d] (or -1 for automatic), found %d", o->rank, o->srr_keep);
    if (o->method == INIT_QLORA && o->rank > 0 && !o->rng) return qp_fail(st, "init qlora: no random generator given");
    if (init_method_needs_stats(o->method) && o->rank > 0) {
        if (!stats) return qp_fail(st, "init %s: calibration statistics required, none given", name);
        if (stats->n != IC)
            return qp_fail(st, "init %s: expected calibration statistics of dimension %d (IC), found %d", name, IC, stats->n);
        if (stats->count <= 0) return qp_fail(st, "init %s: calibration statistics are empty (0 rows)", name);
        if (init_method_needs_xtx(o->method) && !stats->xtx)
            return qp_fail(st, "init %s: calibration statistics lack the full Σxᵀx (collect them with xtx)", name);
    }
    if (o->eig_floor < 0 || !(o->eig_floor < 1))
        return qp_fail(st, "init %s: expected an eigenvalue floor in [0,1), found %g", name, o->eig_floor);
    return 0;
}

int init_adapter(InitWorkspace *ws, const InitOptions *o, const float *W, int OC, int IC,
                 const CalibStats *stats, float *Wq, float *A, float *B, InitInfo *info, qp_status *st) {
    if (check_options(o, OC, IC, stats, st)) return -1;
    init_workspace_fit(ws, OC, IC, o->rank);
    InitInfo dummy;
    if (!info) info = &dummy;
    info->srr_keep = -1;
    info->est_error = 0;
    const int k = o->rank;
    const double floor = o->eig_floor > 0 ? o->eig_floor : INIT_EIG_FLOOR_DEFAULT;
    if (k == 0) {                         // no adapter: the base is plain fake quantization
        o->fakeq(Wq, W, OC, IC, o->fakeq_ctx);
        if (o->method == INIT_SRR) info->srr_keep = 0;
        return 0;
    }
    switch (o->method) {
    case INIT_QLORA:
        o->fakeq(Wq, W, OC, IC, o->fakeq_ctx);
        init_qlora(o, OC, IC, A, B);
        return 0;
    case INIT_LOFTQ:
        return init_loftq(ws, o, W, OC, IC, Wq, A, B, &info->est_error, st);
    case INIT_SRR:
        diag_scale(ws, stats, 0, floor);
        return init_srr(ws, o, W, OC, IC, Wq, A, B, &info->srr_keep, &info->est_error, st);
    default: break;
    }
    // zeroquant-v2, lqer, qera-approx, qera-exact: W~ = dq(q(W)), then one weighted SVD.
    weight_kind wk = WEIGHT_NONE;
    if (o->method == INIT_LQER || o->method == INIT_QERA_APPROX) {
        diag_scale(ws, stats, o->method == INIT_LQER, floor);
        wk = WEIGHT_DIAG;
    } else if (o->method == INIT_QERA_EXACT && o->exact_route == INIT_EXACT_CHOLESKY) {
        if (cholesky_second_moment(ws, stats, floor, st)) return -1;
        o->fakeq(Wq, W, OC, IC, o->fakeq_ctx);
        error_transposed(ws->Ep, W, Wq, OC, IC);
        return lowrank_cholesky(ws, ws->Ep, IC, OC, k, o->scale, A, B, &info->est_error, st);
    } else if (o->method == INIT_QERA_EXACT) {
        if (sqrt_second_moment(ws, stats, floor, st)) return -1;
        wk = WEIGHT_FULL;
    }
    o->fakeq(Wq, W, OC, IC, o->fakeq_ctx);
    error_transposed(ws->Ep, W, Wq, OC, IC);
    return lowrank_into(ws, ws->Ep, wk, IC, OC, k, o->scale, A, B, k, 0, &info->est_error, st);
}
