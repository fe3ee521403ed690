// init/adapter_init.h — adapter initialisers for one linear layer (qlora, loftq, zeroquant-v2,
// lqer, qera-approx, qera-exact, srr): from W, rank, scale, a fake quantizer and calibration
// statistics produce the base W~ and the adapter A, B. Tested by tests/test_init.c (closed
// forms, orderings, and tests/oracle_init.py, an independent numpy implementation).
//
// Conventions. W (OC,IC) row-major, y = x Wᵀ. Adapter A (R,IC), B (OC,R), scale s = alpha/R:
// y = x (W~ + s·B·A)ᵀ. In the QERA paper's notation y = x W_p, W_p = Wᵀ (IC,OC), and the
// correction C_k = A_p B_p (IC,OC) with s·B·A = C_kᵀ.
//
// Split of a rank-k correction C_k = L diag(σ) Vᵀ (L (IC,k), V (OC,k) from the SVD, L already
// un-weighted, e.g. S⁻¹U_k): A = diag(√(σ/s)) Lᵀ, B = V diag(√(σ/s)), so s·B·A = C_kᵀ exactly
// and both factors carry √σ (the PiSSA/CorDA convention in PEFT: Σ divided by the scaling, its
// root put into both factors), so neither factor is tiny and the Adam updates of A and B start
// on the same footing. PEFT's loftq_utils puts √Σ into both as well but ignores the scaling
// (it is only right for alpha = r); here s is always honoured.
//
// SVDs are LAPACK dgesdd in float64 on the (IC,OC) matrix; eigendecompositions dsyevd in
// float64. All temporaries live in an InitWorkspace sized once for the largest (OC, IC, R).
#ifndef QP_INIT_ADAPTER_INIT_H
#define QP_INIT_ADAPTER_INIT_H
#include "core/rng.h"
#include "core/status.h"
#include "init/calib.h"
#include "quant/quant.h"

typedef enum {
    INIT_QLORA = 0,       // W~ = dq(q(W)); A Kaiming-uniform (bound 1/√IC), B = 0
    INIT_LOFTQ,           // alternate W~ = dq(q(W − sBA)) and rank-k SVD of W − W~, T times
    INIT_ZEROQUANT_V2,    // W~ = dq(q(W)); rank-k SVD of W − W~
    INIT_LQER,            // SVD of diag(E|x_i|)·E_p
    INIT_QERA_APPROX,     // SVD of diag(√E[x_i²])·E_p
    INIT_QERA_EXACT,      // SVD of R^½·E_p, R = E[xᵀx]
    INIT_SRR,             // preserve top-k' of S·W_p, quantize the rest, QERA-approx on its error
    INIT_METHOD_COUNT
} init_method;

// "qlora", "loftq", "zeroquant-v2", "lqer", "qera-approx", "qera-exact", "srr".
const char *init_method_name(init_method m);
int init_method_parse(const char *name, init_method *out, qp_status *st);
// Does the method read calibration statistics (and does it need Σxᵀx)?
int init_method_needs_stats(init_method m);
int init_method_needs_xtx(init_method m);

// Fake quantizer: out (rows,cols) = dq(q(w)). ctx is whatever the callback needs.
typedef void (*init_fakeq_fn)(float *out, const float *w, int rows, int cols, const void *ctx);
// The quant/ adapter: ctx is a `const quant_format *`, forwards to quant_fake.
void init_fakeq_quant(float *out, const float *w, int rows, int cols, const void *ctx);

// Relative eigenvalue floor of qera-exact (λ ≥ floor·λ_max) and, in the square-root domain,
// of the diagonal scales (S_i ≥ √floor·S_max). dsyevd's eigenvalues carry absolute errors of
// about n·ε·λ_max ≈ 2e-13·λ_max for n ≤ 1024, so 1e-10 sits well above rounding noise (a
// noise eigenvalue, possibly negative, is never inverted), while a direction holding less
// than 1e-10 of the largest variance contributes nothing measurable to the output error.
// The same floor on R^½ and R^-½ keeps R^-½·R^½ = I exactly, and then a dead input channel
// d gets the finite correction dᵀE_p V_k V_kᵀ (the √floor factors cancel), never NaN.
#define INIT_EIG_FLOOR_DEFAULT 1e-10

// How qera-exact solves min over rank-k C of ‖(E−C)·X‖ (issue 12). With R = E[xᵀx] = F·Fᵀ for any
// factor F, the objective is ‖Fᵀ(E_p − C_p)‖_F and its minimiser C_p = F⁻ᵀ[Fᵀ·E_p]_k does not
// depend on the factor chosen:
//  - CHOLESKY (default): F = L, R + δI = L·Lᵀ (dpotrf, n³/3 flops) with a ridge δ = floor·max_i R_ii
//    (×100 per retry while R + δI is not numerically positive definite: a rank-deficient R), then
//    only the top k singular triplets of Lᵀ·E_p, from the k largest eigenpairs of its smaller
//    Gram matrix (dsyevr with an index range); the discarded error is ‖Lᵀ·E_p‖² − Σσ_j².
//  - EIGEN: F = R^½ from dsyevd with eigenvalues floored at floor·λ_max, and a full dgesdd of
//    R^½·E_p — the paper's matrix square root; kept as an option and as the tests' oracle.
typedef enum { INIT_EXACT_CHOLESKY = 0, INIT_EXACT_EIGEN, INIT_EXACT_ROUTE_COUNT } init_exact_route;

typedef struct {
    init_method method;
    int rank;                 // k ≥ 0; 0 returns W~ only
    float scale;              // s = alpha/R (> 0)
    init_fakeq_fn fakeq;
    const void *fakeq_ctx;
    int loftq_iters;          // T ≥ 1 (LoftQ paper and PEFT's loftq_iter; default 5 here)
    int srr_keep;             // k' in [0,k] to fix it, or -1 to choose it (see srr below)
    double eig_floor;         // 0 means INIT_EIG_FLOOR_DEFAULT
    qp_rng *rng;              // qlora only
    init_exact_route exact_route; // qera-exact only (above); default INIT_EXACT_CHOLESKY
} InitOptions;

// Defaults: rank 0, scale 1, loftq_iters 5, srr_keep -1, eig_floor default, no quantizer.
void init_options_default(InitOptions *o, init_method m);

typedef struct {
    int srr_keep;             // srr: the k' used (else -1)
    double est_error;         // the method's own objective after init (weighted error for
                              // lqer/qera-approx/srr, tr(DᵀRD) for qera-exact, ‖D‖²_F for
                              // zeroquant-v2/loftq; 0 for qlora), D = W~ + sBA − W transposed
} InitInfo;

typedef struct InitWorkspace InitWorkspace;
// Workspace for layers up to (OC, IC, R); init_workspace_fit grows it when a layer is larger.
InitWorkspace *init_workspace_alloc(int OC, int IC, int R);
void init_workspace_fit(InitWorkspace *ws, int OC, int IC, int R);
void init_workspace_free(InitWorkspace *ws);
// The workspace keeps qera-exact's factor of R between calls on the SAME CalibStats (q, k and v
// share one input, gate and up another: one factorisation each). Call this whenever a statistics
// object may have been freed or changed (a new layer), so no stale factor is reused.
void init_workspace_forget(InitWorkspace *ws);

// Initialise one linear: W (OC,IC) → Wq (OC,IC) = W~, A (R,IC), B (OC,R) with R = o->rank.
// stats (n = IC) is needed by lqer/qera-*/srr (qera-exact with xtx). info may be NULL.
// Returns 0, or -1 with a message for bad options, missing statistics or a LAPACK failure.
//
// srr (Preserve-Then-Quantize): with S = √E[x²] (as qera-approx), the top-k' singular triplets
// of S·W_p give P = S⁻¹U_k'Σ_k'V_k'ᵀ, kept in full precision as the first k' adapter rows;
// W~ = dq(q(W − Pᵀ)); the residual's quantization error E_r is then reconstructed with rank
// k − k' the QERA-approx way (the remaining rows). k' = srr_keep when ≥ 0; with -1 it is the
// candidate minimising the weighted output-error estimate ‖S(E_r − C)‖² = Σ_{i>k−k'} σ_i²(S·E_r)
// (exact for that weighting), over every k' in 0..k when k ≤ 16, else over a grid of step
// ⌈k/8⌉ plus k; ties go to the smaller k'. Each candidate costs one fake quantization and
// the eigenvalues of a (p,p) Gram matrix (no SVD), so the search is ~(k+1) cheap steps. k' = 0 is exactly qera-approx, so the chosen srr
// never has a larger weighted error than qera-approx.
int init_adapter(InitWorkspace *ws, const InitOptions *o, const float *W, int OC, int IC,
                 const CalibStats *stats, float *Wq, float *A, float *B, InitInfo *info, qp_status *st);
#endif
