// core/la.h — the one linear-algebra shim: every BLAS/LAPACKE call in qpeft goes through here,
// so only core/la.c includes cblas.h / lapacke.h. Row-major everywhere.
// Tested by tests/test_core.c (against naive loops) and indirectly by every layer test.
#ifndef QP_CORE_LA_H
#define QP_CORE_LA_H
#include <stdint.h>
#include "core/status.h"

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; row-major; trans flags 0/1.
void la_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
void la_dgemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc);

// Symmetric eigendecomposition (dsyevd): a (n,n) row-major in, eigenvectors as columns out
// (a[i*n+j] = component i of eigenvector j); w (n) eigenvalues ascending. Returns 0 or -1.
int la_dsyevd(int n, double *a, double *w, qp_status *st);

// Thin SVD of a (m,n) row-major (destroyed): a = U diag(s) Vt with U (m,p), s (p), Vt (p,n),
// p = min(m,n), singular values descending (dgesdd). Returns 0 or -1.
int la_dgesdd(int m, int n, double *a, double *s, double *U, double *Vt, qp_status *st);

// C (n,n) += Aᵀ·A for A (k,n) row-major, both triangles of C updated (dsyrk on the lower
// triangle, then mirrored): half the flops of the equivalent dgemm.
void la_dsyrk_ata(int n, int k, const double *A, double *C);
// Cholesky factor of a symmetric positive-definite (n,n) row-major matrix: on success the lower
// triangle of a holds L with a = L·Lᵀ (the strict upper triangle is zeroed). Returns 0, or 1
// when a is not positive definite (a is then undefined), or -1 on any other failure.
int la_dpotrf_lower(int n, double *a, qp_status *st);
// B (n,k) ← Lᵀ·B (trans 1) or L·B (trans 0), L (n,n) lower triangular (dtrmm).
void la_dtrmm_lower(int trans, int n, int k, const double *L, double *B, int ldb);
// B (n,k) ← L⁻ᵀ·B (trans 1) or L⁻¹·B (trans 0), L lower triangular (dtrsm).
void la_dtrsm_lower(int trans, int n, int k, const double *L, double *B, int ldb);
// The k largest eigenvalues of a symmetric (n,n) row-major matrix (destroyed), ascending, in
// w (k), and their eigenvectors as the columns of z (n,k) (dsyevr with an index range: the
// other n−k vectors are never computed). Returns 0 or -1.
int la_dsyevr_top(int n, double *a, int k, double *w, double *z, qp_status *st);

// OpenBLAS kernel name ("SkylakeX", "Prescott", ...) and thread control.
const char *la_corename(void);
void la_set_threads(int n);
int la_get_threads(void);

// Re-exec the program once with (1) OPENBLAS_CORETYPE set when it is unset and OpenBLAS picked
// a generic core on a CPU with AVX-512/AVX2 (Debian's 0.3.21 takes this virtual CPU for
// Prescott), and (2) OMP_WAIT_POLICY=passive when unset (spinning OpenMP threads collapse under
// any competing load). Both are read only when the libraries load. Never overrides a value the
// user set; QPEFT_NO_REEXEC=1 disables it. Returns only if no re-exec happened.
void la_select_kernels(char **argv);

// ---- bf16 GEMM engine (core/la_bf16.c: oneDNN; core/la_bf16_none.c in a NO_DNNL=1 build) ----
// C (M,N) = beta·C + A·op(B) with bf16 inputs and fp32 accumulation and output: A (M,K)
// row-major contiguous; B (N,K) row-major when trans_b (op = transpose) else (K,N); C (M,N)
// contiguous; beta 0 or 1. Call only when la_bf16_available(); never inside a parallel region.
void la_gemm_bf16(int trans_b, int M, int N, int K, const uint16_t *A, const uint16_t *B, float beta, float *C);
// 1 when the CPU has AVX512_BF16 or AMX-BF16 (CPUID, core/la.c), whatever the build.
int la_bf16_cpu(void);
// 1 when bf16 products can run: the engine is built in, la_bf16_cpu(), and QPEFT_NO_BF16 unset
// (that variable forces the f32 fallback, for tests and comparisons).
int la_bf16_available(void);
// The engine and the kernel it picked for the last new shape ("onednn brg:avx512_core_bf16").
const char *la_bf16_engine(void);
// Free the engine's cached primitives (end of a run; keeps leak checkers quiet).
void la_bf16_release(void);
#endif
