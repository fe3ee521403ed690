// bench/candidates/gemm_candidates.c — one-off measurement of the bf16 GEMM candidates for
// issue 13 at the TinyLlama-1.1B shapes (M = 256 tokens): OpenBLAS sgemm, oneDNN matmul (f32 and
// bf16, primitives created once per shape), an own AVX512-BF16 (vdpbf16ps) kernel, libxsmm's bf16
// small-GEMM kernels, and the cost of filling bf16 weights from packed mxint4 blocks.
// Not part of the build (it links every candidate); see bench/candidates/README.md for the
// command line. Prints GFLOP/s per shape and orientation.
#include <cblas.h>
#include <immintrin.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "quant/quant.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
#define CHK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: %d\n", #x, s_); exit(1); } } while (0)

static uint16_t bf(float x) { uint32_t u; memcpy(&u, &x, 4); u += 0x7fff + ((u >> 16) & 1); return (uint16_t)(u >> 16); }
static void to_bf16(uint16_t *o, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(o + i, (__m512i)v);
    }
    for (; i < n; i++) o[i] = bf(x[i]);
}

// ---- own kernel: C (M,N) = beta C + A (M,K) · Bᵀ with B (N,K) (fwd) or A · B with B (K,N) (bwd)
enum { MR = 8, NR = 32 };
static void kern(int mr, int KP, const uint32_t *a, int lda32, const uint32_t *bp, float *c, int ldc, int nv, int beta1) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    if (mr == MR) {
        for (int p = 0; p < KP; p++) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR), b1 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR + 16);
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) {
                __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)i * lda32 + p]);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
            }
        }
    } else {
        for (int p = 0; p < KP; p++) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR), b1 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * NR + 16);
            for (int i = 0; i < mr; i++) {
                __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)i * lda32 + p]);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
            }
        }
    }
    __mmask16 m0 = nv >= 16 ? 0xffff : (__mmask16)((1u << nv) - 1);
    __mmask16 m1 = nv >= 32 ? 0xffff : nv <= 16 ? 0 : (__mmask16)((1u << (nv - 16)) - 1);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta1) {
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, ci));
            acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
        _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
    }
}
// pack panel j0..j0+NR of B into pairs: bp[p*NR + j] = (B(2p, j), B(2p+1, j)) in op(B) (K,N) terms
static void pack_panel(uint32_t *bp, const uint16_t *B, int ldb, int trans_b, int K, int KP, int j0, int nv) {
    if (trans_b) {  // B (N,K): row j holds column j of op(B); a pair is one u32 of that row
        for (int j = 0; j < NR; j++) {
            if (j >= nv) { for (int p = 0; p < KP; p++) bp[(size_t)p * NR + j] = 0; continue; }
            const uint16_t *row = B + (size_t)(j0 + j) * ldb;
            for (int p = 0; p < K / 2; p++) { uint32_t u; memcpy(&u, row + 2 * p, 4); bp[(size_t)p * NR + j] = u; }
            if (K & 1) bp[(size_t)(KP - 1) * NR + j] = row[K - 1];
        }
    } else {  // B (K,N): interleave rows 2p, 2p+1
        for (int p = 0; p < KP; p++) {
            const uint16_t *r0 = B + (size_t)(2 * p) * ldb + j0, *r1 = 2 * p + 1 < K ? r0 + ldb : NULL;
            if (nv == NR) {
                __m512i x0 = _mm512_loadu_si512(r0), x1 = r1 ? _mm512_loadu_si512(r1) : _mm512_setzero_si512();
                _mm512_storeu_si512(bp + (size_t)p * NR, _mm512_unpacklo_epi16(x0, x1));
                _mm512_storeu_si512(bp + (size_t)p * NR + 16, _mm512_unpackhi_epi16(x0, x1));
                // unpack works within 128-bit lanes: fix the order with a permute
                __m512i lo = _mm512_loadu_si512(bp + (size_t)p * NR), hi = _mm512_loadu_si512(bp + (size_t)p * NR + 16);
                __m512i i0 = _mm512_setr_epi32(0,1,2,3,16,17,18,19,4,5,6,7,20,21,22,23);
                __m512i i1 = _mm512_setr_epi32(8,9,10,11,24,25,26,27,12,13,14,15,28,29,30,31);
                _mm512_storeu_si512(bp + (size_t)p * NR, _mm512_permutex2var_epi32(lo, i0, hi));
                _mm512_storeu_si512(bp + (size_t)p * NR + 16, _mm512_permutex2var_epi32(lo, i1, hi));
            } else {
                for (int j = 0; j < NR; j++)
                    bp[(size_t)p * NR + j] = j < nv ? (uint32_t)r0[j] | (uint32_t)(r1 ? r1[j] : 0) << 16 : 0;
            }
        }
    }
}
static void own_gemm(int trans_b, int M, int N, int K, const uint16_t *Ab /* (M,KP*2) padded */, const uint16_t *B, int ldb,
                     float *C, int beta1, uint32_t **packs) {
    int KP = (K + 1) / 2, npan = (N + NR - 1) / NR;
#pragma omp parallel
    {
        uint32_t *bp = packs[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int pn = 0; pn < npan; pn++) {
            int j0 = pn * NR, nv = N - j0 < NR ? N - j0 : NR;
            pack_panel(bp, B, ldb, trans_b, K, KP, j0, nv);
            for (int i0 = 0; i0 < M; i0 += MR)
                kern(M - i0 < MR ? M - i0 : MR, KP, (const uint32_t *)(Ab + (size_t)i0 * 2 * KP), KP, bp, C + (size_t)i0 * N + j0, N, nv, beta1);
        }
    }
}

// ---- oneDNN matmul primitive for one shape/orientation
typedef struct { dnnl_primitive_t p; dnnl_memory_t a, b, c; } dnn_mm;
static dnnl_engine_t eng; static dnnl_stream_t strm;
static void dnn_make(dnn_mm *mm, dnnl_data_type_t dt, int trans_b, int M, int N, int K, int beta1) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {M, K}, as = {K, 1}, bd = {K, N}, cd = {M, N}, cs = {N, 1};
    dnnl_dims_t bs_t = {1, K}, bs_n = {N, 1};  // trans_b: B stored (N,K)
    CHK(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dt, as));
    CHK(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dt, trans_b ? bs_t : bs_n));
    CHK(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs));
    dnnl_matmul_desc_t md;
    CHK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr; CHK(dnnl_primitive_attr_create(&attr));
    if (beta1) { dnnl_post_ops_t po; CHK(dnnl_post_ops_create(&po)); CHK(dnnl_post_ops_append_sum(po, 1.0f)); CHK(dnnl_primitive_attr_set_post_ops(attr, po)); dnnl_post_ops_destroy(po); }
    dnnl_primitive_desc_t pd; CHK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    const char *impl; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    fprintf(stderr, "  dnnl impl %s\n", impl);
    CHK(dnnl_primitive_create(&mm->p, pd));
    CHK(dnnl_memory_create(&mm->a, &a_md, eng, DNNL_MEMORY_NONE));
    CHK(dnnl_memory_create(&mm->b, &b_md, eng, DNNL_MEMORY_NONE));
    CHK(dnnl_memory_create(&mm->c, &c_md, eng, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd); dnnl_primitive_attr_destroy(attr);
}
static void dnn_run(dnn_mm *mm, void *a, void *b, float *c) {
    dnnl_memory_set_data_handle(mm->a, a); dnnl_memory_set_data_handle(mm->b, b); dnnl_memory_set_data_handle(mm->c, c);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}};
    CHK(dnnl_primitive_execute(mm->p, strm, 3, args));
    CHK(dnnl_stream_wait(strm));
}

// ---- libxsmm: bf16 in, f32 out small-GEMM kernel over (64 x 64) blocks of C, full K (column-major
// in libxsmm terms: C^T = B^T A^T). Only the forward orientation with B (N,K) = column-major (K,N)^T.
// Backward orientation only: row-major C (M,N) += dY (M,K) · W (K,N) is, column-major,
// C' (N,M) += W' (N,K) · dY' (K,M) with no transposes. libxsmm wants A (here W') in VNNI pairs
// along k, which is the own kernel's backward packing with the whole N as one panel.
static libxsmm_bsmmfunction xsmm_k; static int XB = 64;
static uint16_t *xsmm_vnni;
static void xsmm_prep(const uint16_t *W, int K, int N) {  // VNNI: v[(p*N + n)*2 + t] = W[2p+t][n]
    for (int p = 0; p < K / 2; p++) for (int n = 0; n < N; n++) { xsmm_vnni[((size_t)p * N + n) * 2] = W[(size_t)2 * p * N + n]; xsmm_vnni[((size_t)p * N + n) * 2 + 1] = W[(size_t)(2 * p + 1) * N + n]; }
}
static int xsmm_make(int M, int N, int K, int vnni) {
    (void)M; libxsmm_blasint lda = N, ldb = K, ldc = N; float alpha = 1, beta = 1; int flags = vnni ? LIBXSMM_GEMM_FLAG_VNNI_A : 0;
    xsmm_k = libxsmm_bsmmdispatch(XB, XB, K, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
    return xsmm_k != NULL;
}

#define REPS 10
static double best_of(void (*f)(void *), void *ctx) {
    f(ctx); double best = 1e30;
    for (int r = 0; r < REPS; r++) { double t0 = now(); f(ctx); double t = now() - t0; if (t < best) best = t; }
    return best;
}
typedef struct { int trans_b, M, N, K, beta1; float *A, *Bf, *C; uint16_t *Ab, *Bb; dnn_mm *d; uint32_t **packs; const QuantTensor *q; float *wf; uint16_t *wb; } ctx_t;
static void run_sgemm(void *v) { ctx_t *c = v; cblas_sgemm(CblasRowMajor, CblasNoTrans, c->trans_b ? CblasTrans : CblasNoTrans, c->M, c->N, c->K, 1.0f, c->A, c->K, c->Bf, c->trans_b ? c->K : c->N, c->beta1 ? 1.0f : 0.0f, c->C, c->N); }
static void run_dnn_f32(void *v) { ctx_t *c = v; dnn_run(c->d, c->A, c->Bf, c->C); }
static void run_dnn_bf16(void *v) { ctx_t *c = v; to_bf16(c->Ab, c->A, (size_t)c->M * c->K); dnn_run(c->d, c->Ab, c->Bb, c->C); }
static void run_own(void *v) { ctx_t *c = v; to_bf16(c->Ab, c->A, (size_t)c->M * c->K); own_gemm(c->trans_b, c->M, c->N, c->K, c->Ab, c->Bb, c->trans_b ? c->K : c->N, c->C, c->beta1, c->packs); }
static void run_xsmm(void *v) {
    ctx_t *c = v; to_bf16(c->Ab, c->A, (size_t)c->M * c->K);
    xsmm_prep(c->Bb, c->K, c->N);
    int nb = c->N / XB, mb = c->M / XB;
#pragma omp parallel for schedule(static) collapse(2)
    for (int i = 0; i < mb; i++) for (int j = 0; j < nb; j++)
        xsmm_k((const libxsmm_bfloat16 *)(xsmm_vnni + (size_t)j * XB * 2), (const libxsmm_bfloat16 *)(c->Ab + (size_t)i * XB * c->K), c->C + (size_t)i * XB * c->N + j * XB);
}
static void run_fill_f32(void *v) { ctx_t *c = v; quant_dequantize_rows(c->q, 0, quant_tensor_rows(c->q), c->wf); }
static void run_fill_bf16(void *v) {
    ctx_t *c = v; int R = quant_tensor_rows(c->q), Co = quant_tensor_cols(c->q);
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < R; r0 += 16) {
        int r1 = r0 + 16 < R ? r0 + 16 : R;
        quant_dequantize_rows(c->q, r0, r1, c->wf + (size_t)r0 * Co);
        to_bf16(c->wb + (size_t)r0 * Co, c->wf + (size_t)r0 * Co, (size_t)(r1 - r0) * Co);
    }
}

int main(int argc, char **argv) {
    int M = argc > 1 ? atoi(argv[1]) : 256;
    CHK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    libxsmm_init();
    int shapes[][2] = {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}};  // (OC, IC) of q/o, k/v, gate/up, down
    size_t maxe = (size_t)5632 * 2048;
    float *A = malloc(sizeof(float) * (size_t)M * 5632), *Bf = malloc(sizeof(float) * maxe), *C = malloc(sizeof(float) * (size_t)M * 5632);
    uint16_t *Ab = malloc(2 * ((size_t)M * 5632 + 64)), *Bb = malloc(2 * maxe), *wb = malloc(2 * maxe);
    float *wf = malloc(sizeof(float) * maxe);
    srand(1);
    for (size_t i = 0; i < (size_t)M * 5632; i++) A[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < maxe; i++) Bf[i] = 0.02f * ((float)rand() / RAND_MAX - 0.5f);
    to_bf16(Bb, Bf, maxe);
    int nt = omp_get_max_threads();
    xsmm_vnni = malloc(2 * maxe);
    uint32_t *packs[64];
    for (int t = 0; t < nt; t++) packs[t] = aligned_alloc(64, (size_t)2816 * NR * 4 + 64);
    printf("M=%d threads=%d openblas core=%s\n", M, nt, openblas_get_corename());
    printf("%-6s %-5s %-5s %-5s | %8s %8s %8s %8s | fill: %8s %8s (GB/s of bf16 out) | own max|err| vs sgemm\n", "orient", "M", "N", "K", "sgemm", "dnn_f32", "dnn_bf16", "own_bf16", "mx4->f32", "mx4->bf16");
    for (int s = 0; s < 4; s++)
        for (int tb = 1; tb >= 0; tb--) {
            int OC = shapes[s][0], IC = shapes[s][1];
            ctx_t c = {.trans_b = tb, .M = M, .N = tb ? OC : IC, .K = tb ? IC : OC, .beta1 = !tb, .A = A, .Bf = Bf, .C = C, .Ab = Ab, .Bb = Bb, .packs = packs};
            double fl = 2.0 * M * c.N * c.K;
            double t_s = best_of(run_sgemm, &c);
            float *ref = malloc(sizeof(float) * (size_t)M * c.N);
            memset(C, 0, sizeof(float) * (size_t)M * c.N); run_sgemm(&c); memcpy(ref, C, sizeof(float) * (size_t)M * c.N);
            dnn_mm d32, d16; dnn_make(&d32, dnnl_f32, tb, M, c.N, c.K, c.beta1); dnn_make(&d16, dnnl_bf16, tb, M, c.N, c.K, c.beta1);
            c.d = &d32; double t_d32 = best_of(run_dnn_f32, &c);
            c.d = &d16; double t_d16 = best_of(run_dnn_bf16, &c);
            double t_own = best_of(run_own, &c);
            memset(C, 0, sizeof(float) * (size_t)M * c.N); run_own(&c);
            double err = 0; for (size_t i = 0; i < (size_t)M * c.N; i++) { double e = C[i] - ref[i]; if (e < 0) e = -e; if (e > err) err = e; }
            double t_x = 0, xerr = -1;
            if (!tb && xsmm_make(M, c.N, c.K, 1)) {
                t_x = best_of(run_xsmm, &c);
                memset(C, 0, sizeof(float) * (size_t)M * c.N); run_xsmm(&c);
                xerr = 0; for (size_t i = 0; i < (size_t)M * c.N; i++) { double e = C[i] - ref[i]; if (e < 0) e = -e; if (e > xerr) xerr = e; }
            }
            if (!tb) printf("  libxsmm bsmm 64x64 blocks (VNNI_A, incl. its VNNI copy): %s %.0f GFLOP/s max|err| %.2e\n", t_x > 0 ? "ok" : "no kernel", t_x > 0 ? fl / t_x / 1e9 : 0.0, xerr);
            quant_format f; qp_status st = {0}; quant_parse_format("mxint4", 0, 0, &f, &st);
            QuantTensor *q = quant_tensor_quantize(Bf, OC, IC, &f);
            c.q = q; c.wf = wf; c.wb = wb;
            double t_f32 = best_of(run_fill_f32, &c), t_b16 = best_of(run_fill_bf16, &c);
            printf("%-6s %-5d %-5d %-5d | %8.0f %8.0f %8.0f %8.0f | fill: %6.2fms %6.2fms (%5.1f)  GEMM bf16 %6.2fms | %.2e\n", tb ? "fwd" : "bwd-dX", M, c.N, c.K,
                   fl / t_s / 1e9, fl / t_d32 / 1e9, fl / t_d16 / 1e9, fl / t_own / 1e9, t_f32 * 1e3, t_b16 * 1e3,
                   2.0 * OC * IC / t_b16 / 1e9, t_d16 * 1e3, err);
            fflush(stdout);
            quant_tensor_free(q); free(ref);
            dnnl_primitive_destroy(d32.p); dnnl_primitive_destroy(d16.p);
        }
    return 0;
}
