// tests/test_linear.c — model/linear.c: backward against central finite differences (loss in
// double), with and without adapter dropout and in full fine-tuning; the packed-quantized base
// against a dequantized fp32 copy, bit for bit, forward and backward.
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "model/linear.h"
#include "core/la.h"
#include <math.h>
#include <string.h>

enum { BT = 6, IC = 10, OC = 7, R = 3 };

typedef struct { float x[BT * IC], w[OC * IC], A[R * IC], B[OC * R], drop[BT * IC], g[BT * OC]; } Case;

static double loss_of(const Case *c, int use_drop, float *scratch) {
    Linear lin = {IC, OC, c->w, NULL, NULL, R, 1.75f, c->A, c->B, NULL, NULL, 0, 0};
    float out[BT * OC], xa[BT * R];
    linear_forward(out, xa, c->x, use_drop ? c->drop : NULL, &lin, BT, scratch);
    double s = 0;
    for (int i = 0; i < BT * OC; i++) s += (double)out[i] * c->g[i];
    return s;
}

// The loss is linear in each single parameter, so central differences with a large step are
// exact up to rounding: h = 0.5, tolerance 2e-4 absolute + 1e-4 relative.
static void fd_check(const char *name, Case *c, float *param, const float *grad, int n, int use_drop, float *scratch) {
    float *fd = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        float keep = param[i];
        param[i] = keep + 0.5f; double lp = loss_of(c, use_drop, scratch);
        param[i] = keep - 0.5f; double lm = loss_of(c, use_drop, scratch);
        param[i] = keep;
        fd[i] = (float)((lp - lm) / 1.0);
    }
    tl_allclose(name, grad, fd, (size_t)n, 2e-4, 1e-4);
    free(fd);
}

static void test_fd(int use_drop) {
    Case c; qp_rng rng; rng_seed(&rng, 7 + use_drop);
    for (int i = 0; i < BT * IC; i++) c.x[i] = 2.385f * rng_normal(&rng);
    for (int i = 0; i < OC * IC; i++) c.w[i] = rng_normal(&rng);
    for (int i = 0; i < R * IC; i++) c.A[i] = rng_normal(&rng);
    for (int i = 0; i < OC * R; i++) c.B[i] = rng_normal(&rng);
    for (int i = 0; i < BT * IC; i++) c.drop[i] = rng_uniform(&rng) < 0.3f ? 0.0f : 1.0f / 0.7f;
    for (int i = 0; i < BT * OC; i++) c.g[i] = rng_normal(&rng);
    float dx[BT * IC] = {0}, dw[OC * IC] = {0}, dA[R * IC] = {0}, dB[OC * R] = {0}, out[BT * OC], xa[BT * R];
    Linear lin = {IC, OC, c.w, NULL, dw, R, 1.75f, c.A, c.B, dA, dB, 0, 0};
    float *scratch = xmalloc(linear_scratch_floats(&lin, BT) * sizeof(float));
    const float *drop = use_drop ? c.drop : NULL;
    linear_forward(out, xa, c.x, drop, &lin, BT, scratch);
    linear_backward(dx, c.g, c.x, drop, xa, &lin, BT, scratch);
    const char *tag = use_drop ? "with dropout" : "no dropout";
    char name[64];
    snprintf(name, sizeof name, "linear dx (%s)", tag); fd_check(name, &c, c.x, dx, BT * IC, use_drop, scratch);
    snprintf(name, sizeof name, "linear dW (%s)", tag); fd_check(name, &c, c.w, dw, OC * IC, use_drop, scratch);
    snprintf(name, sizeof name, "linear dA (%s)", tag); fd_check(name, &c, c.A, dA, R * IC, use_drop, scratch);
    snprintf(name, sizeof name, "linear dB (%s)", tag); fd_check(name, &c, c.B, dB, OC * R, use_drop, scratch);
    free(scratch);
}

// Packed base vs its dequantized fp32 copy: identical bits in out, dx, dA, dB.
static void test_packed(const char *fmt_name, int oc, int ic) {
    quant_format fmt; qp_status st = {0};
    if (quant_parse_format(fmt_name, 0, 0, &fmt, &st) != 0) { CHECK(0, "parse %s: %s", fmt_name, st.msg); return; }
    qp_rng rng; rng_seed(&rng, 11);
    int bt = 9, r = 4;
    float *w = xmalloc((size_t)oc * ic * 4), *wd = xmalloc((size_t)oc * ic * 4), *x = xmalloc((size_t)bt * ic * 4);
    float *A = xmalloc((size_t)r * ic * 4), *B = xmalloc((size_t)oc * r * 4), *g = xmalloc((size_t)bt * oc * 4);
    for (int i = 0; i < oc * ic; i++) w[i] = 0.05f * rng_normal(&rng);
    for (int i = 0; i < bt * ic; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < r * ic; i++) A[i] = rng_normal(&rng);
    for (int i = 0; i < oc * r; i++) B[i] = rng_normal(&rng);
    for (int i = 0; i < bt * oc; i++) g[i] = rng_normal(&rng);
    QuantTensor *q = quant_tensor_quantize(w, oc, ic, &fmt);
    quant_dequantize_rows(q, 0, oc, wd);
    float *res[2][5];
    for (int packed = 0; packed < 2; packed++) {
        float *out = xcalloc((size_t)bt * oc, 4), *xa = xcalloc((size_t)bt * r, 4), *dx = xcalloc((size_t)bt * ic, 4);
        float *dA = xcalloc((size_t)r * ic, 4), *dB = xcalloc((size_t)oc * r, 4);
        Linear lin = {ic, oc, packed ? NULL : wd, packed ? q : NULL, NULL, r, 2.0f, A, B, dA, dB, 0, 0};
        float *scratch = xmalloc(linear_scratch_floats(&lin, bt) * 4 + 4);
        linear_forward(out, xa, x, NULL, &lin, bt, scratch);
        linear_backward(dx, g, x, NULL, xa, &lin, bt, scratch);
        res[packed][0] = out; res[packed][1] = xa; res[packed][2] = dx; res[packed][3] = dA; res[packed][4] = dB;
        free(scratch);
    }
    size_t sizes[5] = {(size_t)bt * oc, (size_t)bt * r, (size_t)bt * ic, (size_t)r * ic, (size_t)oc * r};
    const char *names[5] = {"out", "xa", "dx", "dA", "dB"};
    for (int k = 0; k < 5; k++) {
        CHECK(!memcmp(res[0][k], res[1][k], sizes[k] * 4), "packed %s (%dx%d) %s equals the fp32-copy path bit for bit",
              fmt_name, oc, ic, names[k]);
        free(res[0][k]); free(res[1][k]);
    }
    quant_tensor_free(q);
    free(w); free(wd); free(x); free(A); free(B); free(g);
}

// bf16 compute (--compute bf16): the base products take bf16(x)·bf16(W~), fp32 accumulation; the
// adapter path, dA and dB stay fp32. Oracle in double over the same bf16-rounded operands
// (quant_f32_to_bf16_ftz, itself held to the scalar rule in test_quant): out and dx within the fp32
// summation bound 2·K·2^-24·Σ|a||b| of the base term plus the adapter's; dA, dB and xa
// bit-identical to the f32 path (they never see W~). BT = 37 is off the engine's M buckets.
static void test_bf16(const char *fmt_name, int oc, int ic) {
    if (!la_bf16_available()) { printf("SKIP bf16 linear %s: no bf16 engine/CPU here\n", fmt_name); return; }
    quant_format fmt; qp_status st = {0};
    int packed = strcmp(fmt_name, "f32") != 0;
    if (packed && quant_parse_format(fmt_name, 0, 0, &fmt, &st) != 0) { CHECK(0, "parse %s: %s", fmt_name, st.msg); return; }
    qp_rng rng; rng_seed(&rng, 23);
    int bt = 37, r = 4;
    float *w = xmalloc((size_t)oc * ic * 4), *wd = xmalloc((size_t)oc * ic * 4), *x = xmalloc((size_t)bt * ic * 4);
    float *A = xmalloc((size_t)r * ic * 4), *B = xmalloc((size_t)oc * r * 4), *g = xmalloc((size_t)bt * oc * 4);
    for (int i = 0; i < oc * ic; i++) w[i] = 0.05f * rng_normal(&rng);
    for (int i = 0; i < bt * ic; i++) x[i] = 2.385f * rng_normal(&rng);
    for (int i = 0; i < r * ic; i++) A[i] = 0.1f * rng_normal(&rng);
    for (int i = 0; i < oc * r; i++) B[i] = 0.1f * rng_normal(&rng);
    for (int i = 0; i < bt * oc; i++) g[i] = rng_normal(&rng);
    QuantTensor *q = packed ? quant_tensor_quantize(w, oc, ic, &fmt) : NULL;
    if (q) quant_dequantize_rows(q, 0, oc, wd);
    else memcpy(wd, w, (size_t)oc * ic * 4);
    float *res[2][5];
    for (int bf = 0; bf < 2; bf++) {
        float *out = xcalloc((size_t)bt * oc, 4), *xa = xcalloc((size_t)bt * r, 4), *dx = xcalloc((size_t)bt * ic, 4);
        float *dA = xcalloc((size_t)r * ic, 4), *dB = xcalloc((size_t)oc * r, 4);
        Linear lin = {ic, oc, q ? NULL : w, q, NULL, r, 2.0f, A, B, dA, dB, 0, bf};
        float *scratch = xmalloc(linear_scratch_floats(&lin, bt) * 4 + 4);
        linear_forward(out, xa, x, NULL, &lin, bt, scratch);
        linear_backward(dx, g, x, NULL, xa, &lin, bt, scratch);
        res[bf][0] = out; res[bf][1] = xa; res[bf][2] = dx; res[bf][3] = dA; res[bf][4] = dB;
        free(scratch);
    }
    // the oracle: base term over bf16 operands in double, adapter term in double from fp32 xa
    double wo = 0, wd_ = 0, rel_f32 = 0;
    for (int t = 0; t < bt; t++)
        for (int o = 0; o < oc; o++) {
            double acc = 0, mag = 0, ad = 0;
            for (int i = 0; i < ic; i++) {
                double p = (double)quant_bf16_to_f32(quant_f32_to_bf16_ftz(x[t * ic + i])) * quant_bf16_to_f32(quant_f32_to_bf16_ftz(wd[o * ic + i]));
                acc += p; mag += fabs(p);
            }
            for (int k = 0; k < r; k++) ad += 2.0 * res[1][1][t * r + k] * B[o * r + k];
            double e = fabs(res[1][0][t * oc + o] - (acc + ad)) / (2.0 * (ic + r + 1) * 0x1p-24 * (mag + fabs(ad)) + 1e-30);
            if (e > wo) wo = e;
            // f32 vs bf16 compute: each operand rounded by at most 2^-9 relative, so |Δ| <= 2^-8·Σ|x||w| (+ fp32)
            double d = fabs(res[1][0][t * oc + o] - res[0][0][t * oc + o]) / (0x1p-8 * mag + 1e-6);
            if (d > rel_f32) rel_f32 = d;
        }
    for (int t = 0; t < bt; t++)
        for (int i = 0; i < ic; i++) {
            double acc = 0, mag = 0, ad = 0;
            for (int o = 0; o < oc; o++) {
                double p = (double)quant_bf16_to_f32(quant_f32_to_bf16_ftz(g[t * oc + o])) * quant_bf16_to_f32(quant_f32_to_bf16_ftz(wd[o * ic + i]));
                acc += p; mag += fabs(p);
            }
            for (int k = 0; k < r; k++) {
                double dxa = 0;
                for (int o = 0; o < oc; o++) dxa += 2.0 * g[t * oc + o] * B[o * r + k];
                ad += dxa * A[k * ic + i];
            }
            double e = fabs(res[1][2][t * ic + i] - (acc + ad)) / (2.0 * (oc + 2 * r + 1) * 0x1p-24 * (mag + 4 * fabs(ad)) + 1e-6);
            if (e > wd_) wd_ = e;
        }
    CHECK(wo <= 1.0, "bf16 linear %s (%dx%d) out = bf16 products + fp32 adapter, within the fp32 summation bound (worst %.3f of it)", fmt_name, oc, ic, wo);
    CHECK(wd_ <= 1.0, "bf16 linear %s (%dx%d) dx = bf16(dout)·bf16(W~) + fp32 adapter term, within bound (worst %.3f)", fmt_name, oc, ic, wd_);
    CHECK(rel_f32 <= 1.0, "bf16 linear %s: out differs from the f32 path by <= 2^-8·Σ|x||w| (worst %.3f of it)", fmt_name, rel_f32);
    CHECK(rel_f32 > 0.0, "bf16 linear %s: the bf16 path really rounds (out differs from f32)", fmt_name);
    CHECK(!memcmp(res[0][1], res[1][1], (size_t)bt * r * 4) && !memcmp(res[0][3], res[1][3], (size_t)r * ic * 4) &&
          !memcmp(res[0][4], res[1][4], (size_t)oc * r * 4), "bf16 linear %s: xa, dA, dB bit-identical to the f32 path", fmt_name);
    for (int b = 0; b < 2; b++) for (int k = 0; k < 5; k++) free(res[b][k]);
    if (q) quant_tensor_free(q);
    free(w); free(wd); free(x); free(A); free(B); free(g);
}

int main(void) {
    test_bf16("mxint4", 80, 96);
    test_bf16("nf4", 33, 128);
    test_bf16("f32", 40, 56);
    test_fd(0);
    test_fd(1);
    test_packed("nf4", 37, 352);
    test_packed("mxint3", 64, 100);
    test_packed("mxint2", 16, 48);
    test_packed("int4", 33, 130);
    return tl_finish();
}
