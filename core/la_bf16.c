// core/la_bf16.c — the bf16 GEMM engine behind core/'s shim: oneDNN's matmul (the only includer
// of dnnl.h), chosen by measurement (docs/results.md "Speed", bench/candidates/). A build with
// NO_DNNL=1 compiles core/la_bf16_none.c instead. Tested by tests/test_core.c (against a scalar
// oracle over the same bf16 inputs) and tests/test_linear.c (bf16 compute in the adapter linear).
#include "core/la.h"
#include "core/check.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

int la_bf16_available(void) { return !getenv("QPEFT_NO_BF16") && la_bf16_cpu(); }

// One matmul primitive per (orientation, shape, beta), created on first use and kept: creating
// one costs milliseconds (kernel JIT, measured 1-13 ms here), executing reuses it. A language-
// model step sees a handful of shapes (7 linears forward and backward, the head); GLUE batches
// vary M = B·T, so M is padded up to a bucket (4 per octave, <= 25% padding; below 64 rows a
// multiple of 16) and at most ~25 buckets x the layer shapes are ever made. oneDNN's runtime-M
// primitives would avoid that but fall back to its slower gemm:jit kernel (measured 5x slower).
// When the table is full the oldest entry is replaced.
typedef struct {
    int trans_b, M, N, K, beta1;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} bf16_mm;
enum { BF16_CACHE = 512 };
static bf16_mm cache[BF16_CACHE];
static int n_cached, next_evict;
// Padding workspace (grow-only; used only when M is not a bucket): A padded with zero rows, and
// the padded product before its first M rows are stored or added into C.
static uint16_t *pad_a;
static float *pad_c;
static size_t pad_a_n, pad_c_n;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char impl_name[96] = "onednn (no product yet)";

#define DNNL_OK(call) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) qp_die("oneDNN: %s failed (status %d)", #call, (int)s_); } while (0)

static void engine_init(void) {
    if (engine) return;
    DNNL_OK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNNL_OK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
}

static void destroy_entry(bf16_mm *e) {
    dnnl_memory_destroy(e->a);
    dnnl_memory_destroy(e->b);
    dnnl_memory_destroy(e->c);
    dnnl_primitive_destroy(e->prim);
}

// The bucket M is computed at: M itself when it is one.
static int m_bucket(int M) {
    if (M <= 64) return (M + 15) / 16 * 16;
    int step = 1;
    while (step * 8 <= M) step *= 2;  // step = 2^(floor(log2 M) - 2)
    return (M + step - 1) / step * step;
}

// A (M,K) bf16, B (K,N) bf16 described by strides (trans_b: stored (N,K)), C (M,N) f32;
// beta = 1 is oneDNN's sum post-op (C += A·B).
static bf16_mm *primitive_for(int trans_b, int M, int N, int K, int beta1) {
    for (int i = 0; i < n_cached; i++) {
        bf16_mm *e = &cache[i];
        if (e->trans_b == trans_b && e->M == M && e->N == N && e->K == K && e->beta1 == beta1) return e;
    }
    engine_init();
    bf16_mm *e;
    if (n_cached < BF16_CACHE) e = &cache[n_cached++];
    else {
        e = &cache[next_evict];
        next_evict = (next_evict + 1) % BF16_CACHE;
        destroy_entry(e);
    }
    *e = (bf16_mm){.trans_b = trans_b, .M = M, .N = N, .K = K, .beta1 = beta1};
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {M, K}, as = {K, 1}, bd = {K, N}, cd = {M, N}, cs = {N, 1};
    dnnl_dims_t bs_t = {1, K}, bs_n = {N, 1};
    DNNL_OK(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dnnl_bf16, as));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_bf16, trans_b ? bs_t : bs_n));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs));
    dnnl_matmul_desc_t md;
    DNNL_OK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    dnnl_primitive_attr_t attr;
    DNNL_OK(dnnl_primitive_attr_create(&attr));
    if (beta1) {
        dnnl_post_ops_t po;
        DNNL_OK(dnnl_post_ops_create(&po));
        DNNL_OK(dnnl_post_ops_append_sum(po, 1.0f));
        DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL));
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(impl_name, sizeof impl_name, "onednn %s", impl);
    DNNL_OK(dnnl_primitive_create(&e->prim, pd));
    DNNL_OK(dnnl_memory_create(&e->a, &a_md, engine, DNNL_MEMORY_NONE));
    DNNL_OK(dnnl_memory_create(&e->b, &b_md, engine, DNNL_MEMORY_NONE));
    DNNL_OK(dnnl_memory_create(&e->c, &c_md, engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return e;
}

static void run(bf16_mm *e, const uint16_t *A, const uint16_t *B, float *C) {
    DNNL_OK(dnnl_memory_set_data_handle(e->a, (void *)A));
    DNNL_OK(dnnl_memory_set_data_handle(e->b, (void *)B));
    DNNL_OK(dnnl_memory_set_data_handle(e->c, C));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    DNNL_OK(dnnl_primitive_execute(e->prim, stream, 3, args));
    DNNL_OK(dnnl_stream_wait(stream));
}

void la_gemm_bf16(int trans_b, int M, int N, int K, const uint16_t *A, const uint16_t *B, float beta, float *C) {
    QP_ASSERT(beta == 0.0f || beta == 1.0f);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (beta == 0.0f) memset(C, 0, (size_t)M * N * sizeof *C);
        return;
    }
    int Mb = m_bucket(M);
    if (Mb == M) {
        run(primitive_for(trans_b, M, N, K, beta == 1.0f), A, B, C);
        return;
    }
    size_t na = (size_t)Mb * K, nc = (size_t)Mb * N;
    if (na > pad_a_n) { free(pad_a); pad_a = xmalloc(na * sizeof *pad_a); pad_a_n = na; }
    if (nc > pad_c_n) { free(pad_c); pad_c = xmalloc(nc * sizeof *pad_c); pad_c_n = nc; }
    memcpy(pad_a, A, (size_t)M * K * sizeof *A);
    memset(pad_a + (size_t)M * K, 0, (size_t)(Mb - M) * K * sizeof *A);
    run(primitive_for(trans_b, Mb, N, K, 0), pad_a, B, pad_c);
    size_t n = (size_t)M * N;
    if (beta == 0.0f) memcpy(C, pad_c, n * sizeof *C);
    else
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) C[i] += pad_c[i];
}

const char *la_bf16_engine(void) { return impl_name; }

void la_bf16_release(void) {
    for (int i = 0; i < n_cached; i++) destroy_entry(&cache[i]);
    n_cached = next_evict = 0;
    free(pad_a);
    free(pad_c);
    pad_a = NULL;
    pad_c = NULL;
    pad_a_n = pad_c_n = 0;
    if (stream) dnnl_stream_destroy(stream);
    if (engine) dnnl_engine_destroy(engine);
    stream = NULL;
    engine = NULL;
}
