// tests/test_core.c — core/: overflow helpers, the BLAS shim against naive loops, the RNG.
#include "tests/testlib.h"
#include "core/check.h"
#include "core/la.h"
#include "core/rng.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_size_math(void) {
    size_t r = 0;
    CHECK(qp_size_mul(1u << 20, 1u << 20, &r) && r == (size_t)1 << 40, "size_mul small");
    CHECK(!qp_size_mul(SIZE_MAX / 2 + 1, 2, &r), "size_mul overflow detected");
    CHECK(!qp_size_add(SIZE_MAX, 1, &r), "size_add overflow detected");
}

static void test_sgemm(void) {
    enum { M = 5, N = 7, K = 3 };
    float A[M * K], B[N * K], C[M * N], ref[M * N];
    qp_rng rng; rng_seed(&rng, 1);
    for (int i = 0; i < M * K; i++) A[i] = rng_normal(&rng);
    for (int i = 0; i < N * K; i++) B[i] = rng_normal(&rng);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[m * K + k] * B[n * K + k];
            ref[m * N + n] = (float)s;
        }
    la_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    tl_allclose("sgemm A*B^T vs naive", C, ref, M * N, 1e-5, 1e-5);
}

static void test_syevd_svd(void) {
    double a[9] = {4, 1, 0, 1, 3, 0.5, 0, 0.5, 2}, a0[9], w[3];
    for (int i = 0; i < 9; i++) a0[i] = a[i];
    qp_status st = {0};
    CHECK(la_dsyevd(3, a, w, &st) == 0, "dsyevd runs");
    double err = 0;  // ||A v - w v|| for each eigenpair
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 3; i++) {
            double av = 0;
            for (int k = 0; k < 3; k++) av += a0[i * 3 + k] * a[k * 3 + j];
            err = fmax(err, fabs(av - w[j] * a[i * 3 + j]));
        }
    CHECK(err < 1e-12 && w[0] <= w[1] && w[1] <= w[2], "dsyevd eigenpairs (max residual %.2g)", err);
    double m[6] = {1, 2, 3, 4, 5, 6.5}, m0[6], s[2], U[4], Vt[6];
    for (int i = 0; i < 6; i++) m0[i] = m[i];
    CHECK(la_dgesdd(2, 3, m, s, U, Vt, &st) == 0, "dgesdd runs");
    double rerr = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            double v = 0;
            for (int k = 0; k < 2; k++) v += U[i * 2 + k] * s[k] * Vt[k * 3 + j];
            rerr = fmax(rerr, fabs(v - m0[i * 3 + j]));
        }
    CHECK(rerr < 1e-12 && s[0] >= s[1], "dgesdd reconstructs (max err %.2g)", rerr);
}

static void test_rng(void) {
    qp_rng a, b; rng_seed(&a, 42); rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= rng_u64(&a) == rng_u64(&b);
    CHECK(same, "rng deterministic for one seed");
    double s = 0, s2 = 0; int n = 200000;
    for (int i = 0; i < n; i++) { double x = rng_normal(&a); s += x; s2 += x * x; }
    CHECK(fabs(s / n) < 0.01 && fabs(s2 / n - 1) < 0.02, "normal moments mean %.4f var %.4f", s / n, s2 / n);
}

// The test's own bf16 rounding (to nearest even; inputs here are normal numbers).
static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + (u >> 16 & 1u);
    return (uint16_t)(u >> 16);
}
static double of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

// la_gemm_bf16 against a float64 sum of the same bf16 inputs. Products of two bf16 numbers are
// exact in fp32, so the only error is fp32 summation: |C - ref| <= K·2^-24·Σ|a||b| per element
// (bounded with 2K to leave room for any summation order). Both orientations, beta 0 and 1, and
// M off a bucket (padded inside the shim) as well as on one.
static void test_gemm_bf16(void) {
    if (!la_bf16_available()) {
        printf("SKIP la_gemm_bf16: no bf16 engine or CPU support here (%s)\n", la_bf16_engine());
        return;
    }
    static const int shapes[][3] = {{37, 40, 56}, {64, 33, 70}, {5, 3, 1}, {80, 128, 96}};
    for (int s = 0; s < 4; s++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                uint16_t *A = malloc((size_t)M * K * 2), *B = malloc((size_t)N * K * 2);
                float *C = malloc((size_t)M * N * 4), *C0 = malloc((size_t)M * N * 4);
                qp_rng rng; rng_seed(&rng, 40 + s);
                for (int i = 0; i < M * K; i++) A[i] = to_bf16(2.385f * rng_normal(&rng));
                for (int i = 0; i < N * K; i++) B[i] = to_bf16(rng_normal(&rng));
                for (int i = 0; i < M * N; i++) C[i] = C0[i] = rng_normal(&rng);
                la_gemm_bf16(tb, M, N, K, A, B, (float)beta, C);
                double worst = 0;
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) {
                        double acc = beta ? C0[m * N + n] : 0.0, mag = fabs(acc);
                        for (int k = 0; k < K; k++) {
                            double b = of_bf16(tb ? B[(size_t)n * K + k] : B[(size_t)k * N + n]);
                            acc += of_bf16(A[(size_t)m * K + k]) * b;
                            mag += fabs(of_bf16(A[(size_t)m * K + k]) * b);
                        }
                        double r = fabs(C[m * N + n] - acc) / (2.0 * (K + 1) * 0x1p-24 * mag + 1e-30);
                        if (r > worst) worst = r;
                    }
                CHECK(worst <= 1.0, "la_gemm_bf16 %s M=%d N=%d K=%d beta=%d within the fp32 summation bound (worst %.3f of it)",
                      tb ? "A*B^T" : "A*B", M, N, K, beta, worst);
                free(A); free(B); free(C); free(C0);
            }
    printf("# bf16 engine: %s\n", la_bf16_engine());
}

int main(void) {
    test_size_math();
    test_sgemm();
    test_gemm_bf16();
    test_syevd_svd();
    test_rng();
    return tl_finish();
}
