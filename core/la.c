// core/la.c — BLAS/LAPACKE shim (the only includer of cblas.h and lapacke.h) and OpenBLAS
// kernel selection. Tested by tests/test_core.c.
#include "core/la.h"
#include "core/check.h"
#include <cblas.h>
#include <cpuid.h>
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

void la_dsyrk_ata(int n, int k, const double *A, double *C) {
    if (n == 0 || k == 0) return;
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, n, k, 1.0, A, n, 1.0, C, n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) C[(size_t)i * n + j] = C[(size_t)j * n + i];
}

int la_dpotrf_lower(int n, double *a, qp_status *st) {
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, a, n);
    if (info > 0) return 1;
    if (info < 0) return qp_fail(st, "LAPACKE_dpotrf failed on a %dx%d matrix (info %d)", n, n, (int)info);
    for (int i = 0; i < n; i++) memset(a + (size_t)i * n + i + 1, 0, (size_t)(n - i - 1) * sizeof(double));
    return 0;
}

void la_dtrmm_lower(int trans, int n, int k, const double *L, double *B, int ldb) {
    if (n == 0 || k == 0) return;
    cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, tr(trans), CblasNonUnit, n, k, 1.0, L, n, B, ldb);
}

void la_dtrsm_lower(int trans, int n, int k, const double *L, double *B, int ldb) {
    if (n == 0 || k == 0) return;
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, tr(trans), CblasNonUnit, n, k, 1.0, L, n, B, ldb);
}

int la_dsyevr_top(int n, double *a, int k, double *w, double *z, qp_status *st) {
    if (k <= 0) return 0;
    lapack_int m = 0;
    lapack_int *isuppz = xmalloc(2 * (size_t)(k > 0 ? k : 1) * sizeof(lapack_int));
    double *wall = xmalloc((size_t)n * sizeof(double));
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', n, a, n, 0.0, 0.0, n - k + 1, n, 0.0, &m,
                                     wall, z, k, isuppz);
    memcpy(w, wall, (size_t)k * sizeof(double));
    free(wall);
    free(isuppz);
    if (info != 0 || m != k)
        return qp_fail(st, "LAPACKE_dsyevr failed on a %dx%d matrix (info %d, %d of %d eigenpairs)", n, n, (int)info, (int)m, k);
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

// The OpenBLAS kernels for this CPU (see above), and OpenMP threads that sleep instead of
// spinning when idle (OMP_WAIT_POLICY=passive): with spinning, any other busy process on the
// machine (a second run, a compiler) makes every parallel region wait for a descheduled
// spinner, and a small model's step slowed 15x in measurements here; passive waiting costs
// nothing measurable at these sizes. Both are read when the libraries load, so setting them
// takes one re-exec. Values the user set are never overridden.
void la_select_kernels(char **argv) {
    const char *core = la_corename();
    if (getenv("QPEFT_NO_REEXEC")) {
        if (qp_verbose) qp_info("openblas: core %s (QPEFT_NO_REEXEC set; environment left alone)", core);
        return;
    }
    const char *want = NULL;
    if (!getenv("OPENBLAS_CORETYPE") && is_generic_core(core)) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512bf16")) want = "Cooperlake";
        else if (__builtin_cpu_supports("avx512f")) want = "SkylakeX";
        else if (__builtin_cpu_supports("avx2")) want = "Haswell";
    }
    int set_wait = !getenv("OMP_WAIT_POLICY");
    if (!want && !set_wait) {
        if (qp_verbose) qp_info("openblas: core %s", core);
        return;
    }
    if (want) {
        if (qp_verbose) qp_info("openblas: generic core %s on a CPU with %s features: re-running with OPENBLAS_CORETYPE=%s", core, want, want);
        setenv("OPENBLAS_CORETYPE", want, 1);
    } else if (qp_verbose) qp_info("openblas: core %s", core);
    if (set_wait) setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("QPEFT_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    qp_warn("re-exec for the OpenBLAS/OpenMP environment failed; continuing as is");
}

// CPUID (the same in builds with and without the bf16 engine): AVX512_BF16 is leaf 7 subleaf 1
// EAX bit 5; AMX-BF16 is leaf 7 subleaf 0 EDX bit 22.
int la_bf16_cpu(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    int avx512bf16 = (a >> 5) & 1;
    __cpuid_count(7, 0, a, b, c, d);
    int amxbf16 = (d >> 22) & 1;
    return avx512bf16 || amxbf16;
}
