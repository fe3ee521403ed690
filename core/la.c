// core/la.c — BLAS/LAPACKE shim (the only includer of cblas.h and lapacke.h) and OpenBLAS
// kernel selection. Tested by tests/test_core.c.
#include "core/la.h"
#include "core/check.h"
#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

void la_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void la_dgemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc) {
    if (M == 0 || N == 0) return;
    cblas_dgemm(CblasRowMajor, tr(trans_a), tr(trans_b), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int la_dsyevd(int n, double *a, double *w, qp_status *st) {
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, a, n, w);
    if (info != 0) return qp_fail(st, "LAPACKE_dsyevd failed on a %dx%d matrix (info %d)", n, n, (int)info);
    return 0;
}

int la_dgesdd(int m, int n, double *a, double *s, double *U, double *Vt, qp_status *st) {
    int p = m < n ? m : n;
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, a, n, s, U, p, Vt, n);
    if (info != 0) return qp_fail(st, "LAPACKE_dgesdd failed on a %dx%d matrix (info %d)", m, n, (int)info);
    return 0;
}

const char *la_corename(void) { return openblas_get_corename(); }
void la_set_threads(int n) { openblas_set_num_threads(n); }
int la_get_threads(void) { return openblas_get_num_threads(); }

// Cores OpenBLAS falls back to when it does not recognise the CPU.
static int is_generic_core(const char *name) {
    static const char *generic[] = {"Prescott", "Core2", "Nehalem", "Katmai", "Coppermine", "Northwood",
                                    "Banias", "Atom", "generic", "Generic"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (strcmp(name, generic[i]) == 0) return 1;
    return 0;
}

void la_select_kernels(char **argv) {
    const char *core = la_corename();
    if (getenv("OPENBLAS_CORETYPE") || getenv("QPEFT_NO_REEXEC")) {
        if (qp_verbose) qp_info("openblas: core %s (OPENBLAS_CORETYPE or QPEFT_NO_REEXEC set; left alone)", core);
        return;
    }
    if (!is_generic_core(core)) {
        if (qp_verbose) qp_info("openblas: core %s", core);
        return;
    }
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512bf16")) want = "Cooperlake";
    else if (__builtin_cpu_supports("avx512f")) want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2")) want = "Haswell";
    if (!want) return;
    if (qp_verbose) qp_info("openblas: generic core %s on a CPU with %s features: re-running with OPENBLAS_CORETYPE=%s", core, want, want);
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("QPEFT_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    qp_warn("re-exec with OPENBLAS_CORETYPE=%s failed; continuing with generic kernels", want);
}
