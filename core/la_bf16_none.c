// core/la_bf16_none.c — the bf16 GEMM engine's stub for a build without oneDNN (NO_DNNL=1):
// bf16 compute is never available, so every caller takes the f32 path (after one line saying so).
// Tested by building with NO_DNNL=1.
#include "core/la.h"
#include "core/check.h"

int la_bf16_available(void) { return 0; }
const char *la_bf16_engine(void) { return "none (built with NO_DNNL=1)"; }
void la_gemm_bf16(int trans_b, int M, int N, int K, const uint16_t *A, const uint16_t *B, float beta, float *C) {
    (void)trans_b; (void)M; (void)N; (void)K; (void)A; (void)B; (void)beta; (void)C;
    qp_die("la_gemm_bf16: this build has no bf16 engine (NO_DNNL=1)");
}
void la_bf16_release(void) {}
