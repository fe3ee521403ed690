// core/la_bf16.c — the bf16 GEMM engine behind core/'s shim: oneDNN's matmul (the only includer
// of dnnl.h), chosen by measurement (docs/results.md "Speed", bench/candidates/). A build with
// NO_DNNL=1 compiles core/la_bf16_none.c instead. Tested by tests/test_core.c (against a scalar
// oracle over the same bf16 inputs) and tests/test_linear.c (bf16 compute in the adapter linear).
#include "core/la.h"
#include "core/check.h"
#include <cpuid.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

// CPUID: AVX512_BF16 is leaf 7 subleaf 1 EAX bit 5; AMX-BF16 is leaf 7 subleaf 0 EDX bit 22.
int la_bf16_cpu(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    int avx512bf16 = (a >> 5) & 1;
    __cpuid_count(7, 0, a, b, c, d);
    int amxbf16 = (d >> 22) & 1;
    return avx512bf16 || amxbf16;
}

int la_bf16_available(void) { return !getenv("QPEFT_NO_BF16") && la_bf16_cpu(); }

// One matmul primitive per (orientation, shape, beta), created on first use and kept: creating
// one costs ~0.1 ms (kernel JIT), executing reuses it. The training step sees a handful of
// shapes (7 linears, forward and backward, the head), so the table stays small.
typedef struct {
    int trans_b, M, N, K, beta1;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} bf16_mm;
enum { BF16_CACHE = 64 };
static bf16_mm cache[BF16_CACHE];
static int n_cached;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char impl_name[96] = "onednn (no product yet)";

#define DNNL_OK(call) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) qp_die("oneDNN: %s failed (status %d)", #call, (int)s_); } while (0)

static void engine_init(void) {
    if (engine) return;
    DNNL_OK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNNL_OK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
}

// A (M,K) bf16, B (K,N) bf16 described by strides (trans_b: stored (N,K)), C (M,N) f32;
// beta = 1 is oneDNN's sum post-op (C += A·B).
static bf16_mm *primitive_for(int trans_b, int M, int N, int K, int beta1) {
    for (int i = 0; i < n_cached; i++) {
        bf16_mm *e = &cache[i];
        if (e->trans_b == trans_b && e->M == M && e->N == N && e->K == K && e->beta1 == beta1) return e;
    }
    QP_ASSERT(n_cached < BF16_CACHE);
    engine_init();
    bf16_mm *e = &cache[n_cached++];
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

void la_gemm_bf16(int trans_b, int M, int N, int K, const uint16_t *A, const uint16_t *B, float beta, float *C) {
    QP_ASSERT(beta == 0.0f || beta == 1.0f);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (beta == 0.0f) memset(C, 0, (size_t)M * N * sizeof *C);
        return;
    }
    bf16_mm *e = primitive_for(trans_b, M, N, K, beta == 1.0f);
    DNNL_OK(dnnl_memory_set_data_handle(e->a, (void *)A));
    DNNL_OK(dnnl_memory_set_data_handle(e->b, (void *)B));
    DNNL_OK(dnnl_memory_set_data_handle(e->c, C));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    DNNL_OK(dnnl_primitive_execute(e->prim, stream, 3, args));
    DNNL_OK(dnnl_stream_wait(stream));
}

const char *la_bf16_engine(void) { return impl_name; }

void la_bf16_release(void) {
    for (int i = 0; i < n_cached; i++) {
        dnnl_memory_destroy(cache[i].a);
        dnnl_memory_destroy(cache[i].b);
        dnnl_memory_destroy(cache[i].c);
        dnnl_primitive_destroy(cache[i].prim);
    }
    n_cached = 0;
    if (stream) dnnl_stream_destroy(stream);
    if (engine) dnnl_engine_destroy(engine);
    stream = NULL;
    engine = NULL;
}
