// tests/test_qer_train.c — QER training mode (`train --adapter-quant same`, model/linear.h): the
// allocation-free pieces equal their references bit for bit (quant_qer_fake == quant_fake,
// quant_qer_adapter_weight == quant_qer_effective(quant_qer_adapter_codes) == dq(merged codes)); the
// QER linear's forward and straight-through backward against an independent double-precision
// computation from the scalar _ref quantizer and the accessor functions (finite differences cannot
// see through rounding, so the reference is the analytic STE formula dA = s·q(B)ᵀ·G,
// dB = s·G·q(A)ᵀ, G = gᵀx, computed separately); and on the whole tinystories-1M model the STE
// gradients against the gradient dL/dW of a full-fine-tuning model holding W_qer as plain fp32
// weights (its backward is checked against PyTorch in tests/test_model.c), with the loss equal bit
// for bit. Every check also confirms the QER path is not the fp-adapter path (the values differ).
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "init/qer.h"
#include "model/linear.h"
#include "model/model.h"
#include "quant/qer.h"
#include <math.h>
#include <string.h>

#define MODEL tl_asset("models/tinystories-1M/tinystories-1M.bin")

// quant_qer_fake against quant_fake (allocating quantize + dequantize) on awkward values: a
// partial block, −0 results, a NaN, a block of tiny values (exponent near E8M0's floor).
static void test_fake(const char *fname, int block) {
    quant_format f;
    qp_status st = {0};
    if (quant_parse_format(fname, block, 0, &f, &st)) qp_die("%s", st.msg);
    enum { ROWS = 7, COLS = 75 };
    float w[ROWS * COLS], a[ROWS * COLS], b[ROWS * COLS];
    qp_rng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < ROWS * COLS; i++) w[i] = 2.385f * rng_normal(&rng);
    w[3] = -1e-6f;                                       // rounds to a stored −0
    w[COLS + 5] = NAN;                                   // becomes +M·Δ in the fast quantizer
    for (int j = 0; j < COLS; j++) w[2 * COLS + j] = 3.1e-39f * rng_normal(&rng);  // subnormal block
    quant_fake(a, w, ROWS, COLS, &f);
    quant_qer_fake(b, w, ROWS, COLS, &f);
    CHECK(!memcmp(a, b, sizeof a), "%s-b%d: quant_qer_fake == quant_fake bit for bit (%d x %d, −0, NaN, subnormal block)",
          fname, f.block, ROWS, COLS);
    CHECK(signbit(b[3]) && b[3] == 0.0f, "%s: a negative value rounding to 0 gives −0.0f", fname);
}

// Reference QER weight from scratch: q(A), q(B) by the scalar _ref quantizer, P in double (r in
// order, scaled by s last: the documented rule), d = rint(P/Δ), merged value clamp(v + d)·Δ from
// the base's signed codes and exponents.
static void ref_fake(float *out, const float *w, int rows, int cols, const quant_format *f) {
    QuantTensor *q = quant_tensor_quantize_ref(w, rows, cols, f);
    quant_dequantize_rows_ref(q, 0, rows, out);
    quant_tensor_free(q);
}
static void ref_weight(double *W, float *Aq, float *Bq, const QuantTensor *base, const float *A, const float *B, int OC,
                       int IC, int R, float s, int64_t *n_over, int64_t *n_changed) {
    const quant_format *f = quant_tensor_format(base);
    ref_fake(Aq, A, R, IC, f);
    ref_fake(Bq, B, OC, R, f);
    const int M = (1 << (f->bits - 1)) - 1;
    *n_over = *n_changed = 0;
    for (int o = 0; o < OC; o++)
        for (int j = 0; j < IC; j++) {
            double p = 0;
            for (int r = 0; r < R; r++) p += (double)Bq[o * R + r] * (double)Aq[r * IC + j];
            p *= s;
            int e = quant_qer_block_exponent(base, o, j / f->block);
            double delta = ldexp(1.0, e - (f->bits - 2));
            double d = nearbyint(p / delta);
            int v = quant_qer_signed_code(base, o, j);
            double m = v + d;
            *n_over += m > M || m < -M;
            m = m > M ? M : m < -M ? -M : m;
            *n_changed += m != v;
            W[o * IC + j] = m * delta;
        }
}

// One QER linear, forward and backward, against the reference in double.
static void test_linear(const char *fname, int block, int R) {
    enum { BT = 6, IC = 64, OC = 24 };
    quant_format f;
    qp_status st = {0};
    if (quant_parse_format(fname, block, 0, &f, &st)) qp_die("%s", st.msg);
    qp_rng rng;
    rng_seed(&rng, 29 + R);
    float w[OC * IC], x[BT * IC], g[BT * OC], A[8 * IC], B[OC * 8];
    for (int i = 0; i < OC * IC; i++) w[i] = 0.1f * rng_normal(&rng);
    for (int i = 0; i < BT * IC; i++) x[i] = 2.385f * rng_normal(&rng);
    for (int i = 0; i < BT * OC; i++) g[i] = rng_normal(&rng);
    for (int i = 0; i < R * IC; i++) A[i] = 0.3f * rng_normal(&rng);
    for (int i = 0; i < OC * R; i++) B[i] = 0.05f * rng_normal(&rng);  // s·B·A a few grid steps: changes + overflow
    QuantTensor *q = quant_tensor_quantize(w, OC, IC, &f);
    const float s = 1.75f;
    float dA[8 * IC] = {0}, dB[OC * 8] = {0}, dx[BT * IC] = {0}, out[BT * OC], xa[BT * 8];
    Linear lin = {IC, OC, NULL, q, NULL, R, s, A, B, dA, dB, 1, 0};
    float *scratch = xmalloc(linear_scratch_floats(&lin, BT) * sizeof(float));
    linear_forward(out, xa, x, NULL, &lin, BT, scratch);
    linear_backward(dx, g, x, NULL, xa, &lin, BT, scratch);

    double Wr[OC * IC];
    float Aq[8 * IC], Bq[OC * 8], Wq[OC * IC], Aq2[8 * IC], Bq2[OC * 8];
    int64_t over, changed;
    ref_weight(Wr, Aq, Bq, q, A, B, OC, IC, R, s, &over, &changed);
    linear_qer_weight(&lin, Wq, Aq2, Bq2);
    int same = !memcmp(Aq, Aq2, sizeof(float) * R * IC) && !memcmp(Bq, Bq2, sizeof(float) * OC * R);
    for (int i = 0; i < OC * IC; i++) same &= (double)Wq[i] == Wr[i];
    CHECK(same && over > 0 && changed > OC * IC / 10,
          "%s-b%d R=%d: linear_qer_weight == reference clamp(v + rint(s·q(B)q(A)/Δ))·Δ exactly (%lld of %d codes changed, "
          "%lld overflowed)", fname, f.block, R, (long long)changed, OC * IC, (long long)over);
    // Integer merge of the same codes: unmerged fp32 weight == dq(merged tensor) == effective(d).
    int32_t d[OC * IC];
    float e1[OC * IC], e2[OC * IC];
    quant_qer_adapter_codes(q, Aq2, Bq2, R, s, d);
    quant_qer_effective(q, d, e1);
    QuantTensor *mq = quant_qer_merge_codes(q, d, NULL);
    quant_dequantize_rows(mq, 0, OC, e2);
    quant_tensor_free(mq);
    CHECK(!memcmp(Wq, e1, sizeof Wq) && !memcmp(Wq, e2, sizeof Wq),
          "%s R=%d: quant_qer_adapter_weight == quant_qer_effective(codes) == dq(merged codes), bit for bit", fname, R);

    // Forward: out = x·W_qerᵀ; backward: STE formula, all in double from the reference values.
    float ro[BT * OC], rdx[BT * IC], rdA[8 * IC], rdB[OC * 8], lora_dA[8 * IC];
    double G[OC * IC];
    for (int t = 0; t < BT; t++)
        for (int o = 0; o < OC; o++) {
            double acc = 0;
            for (int j = 0; j < IC; j++) acc += (double)x[t * IC + j] * Wr[o * IC + j];
            ro[t * OC + o] = (float)acc;
        }
    for (int o = 0; o < OC; o++)
        for (int j = 0; j < IC; j++) {
            double acc = 0;
            for (int t = 0; t < BT; t++) acc += (double)g[t * OC + o] * x[t * IC + j];
            G[o * IC + j] = acc;
        }
    for (int t = 0; t < BT; t++)
        for (int j = 0; j < IC; j++) {
            double acc = 0;
            for (int o = 0; o < OC; o++) acc += (double)g[t * OC + o] * Wr[o * IC + j];
            rdx[t * IC + j] = (float)acc;
        }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < IC; j++) {
            double acc = 0, acc_fp = 0;
            for (int o = 0; o < OC; o++) { acc += (double)Bq[o * R + r] * G[o * IC + j]; acc_fp += (double)B[o * R + r] * G[o * IC + j]; }
            rdA[r * IC + j] = (float)(s * acc);
            lora_dA[r * IC + j] = (float)(s * acc_fp);
        }
    for (int o = 0; o < OC; o++)
        for (int r = 0; r < R; r++) {
            double acc = 0;
            for (int j = 0; j < IC; j++) acc += G[o * IC + j] * (double)Aq[r * IC + j];
            rdB[o * R + r] = (float)(s * acc);
        }
    char name[128];
    snprintf(name, sizeof name, "%s R=%d: QER forward out = x·W_qerᵀ", fname, R);
    tl_allclose(name, out, ro, BT * OC, 1e-5, 1e-5);
    snprintf(name, sizeof name, "%s R=%d: dx = g·W_qer", fname, R);
    tl_allclose(name, dx, rdx, BT * IC, 1e-5, 1e-5);
    snprintf(name, sizeof name, "%s R=%d: STE dA = s·q(B)ᵀ·(gᵀx)", fname, R);
    tl_allclose(name, dA, rdA, (size_t)R * IC, 1e-5, 1e-5);
    snprintf(name, sizeof name, "%s R=%d: STE dB = s·(gᵀx)·q(A)ᵀ", fname, R);
    tl_allclose(name, dB, rdB, (size_t)OC * R, 1e-5, 1e-5);
    double diff = 0, mag = 0;
    for (int i = 0; i < R * IC; i++) { diff = fmax(diff, fabs((double)rdA[i] - lora_dA[i])); mag = fmax(mag, fabs(rdA[i])); }
    CHECK(diff > 1e-2 * mag, "%s R=%d: the STE dA differs from the fp-adapter dA (max diff %.3g of max %.3g): q(B) is used",
          fname, R, diff, mag);
    free(scratch);
    quant_tensor_free(q);
}

// Whole model: QER-mode adapters vs a full-fine-tuning model holding W_qer in fp32.
static void test_model(const char *fname) {
    enum { R = 8, B = 2, T = 32 };
    qp_status st = {0};
    quant_format f;
    if (quant_parse_format(fname, 0, 0, &f, &st)) qp_die("%s", st.msg);
    ModelConfig cfg;
    ModelWeights w;
    if (model_load_weights(MODEL, &cfg, &w, &st)) qp_die("%s", st.msg);
    ModelWeights w2;
    ModelConfig cfg2 = cfg;
    if (weights_alloc(&w2, &cfg2, &st)) qp_die("%s", st.msg);
    memcpy(w2.mem, w.mem, w.n_floats * sizeof(float));
    Model m;
    if (model_init(&m, &cfg, &w, R, 2.0f * R, (1u << LIN_COUNT) - 1, HEAD_LM, TRAIN_ADAPTERS, &st)) qp_die("%s", st.msg);
    model_quantize_base(&m, &f, (1u << LIN_COUNT) - 1);
    m.adapter_quant = AQUANT_SAME;
    qp_rng rng;
    rng_seed(&rng, 5);
    for (int l = 0; l < cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            Linear lin = model_linear(&m, l, k);
            for (int j = 0; j < R * lin.in; j++) m.A[i][j] = rng_normal(&rng) / sqrtf((float)lin.in);
            for (int j = 0; j < lin.out * R; j++) m.B[i][j] = 0.01f * rng_normal(&rng);
        }
    CHECK(qer_check_model(&m, &st) == 0, "%s: QER model accepted", fname);
    model_alloc_acts(&m, B, T);
    int ids[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++) { ids[i] = (int)rng_below(&rng, (uint32_t)cfg.vocab_size); tg[i] = (int)rng_below(&rng, (uint32_t)cfg.vocab_size); }
    model_zero_grad(&m);
    double loss = model_forward(&m, ids, NULL, B, T, tg, NULL, NULL, NULL);
    model_backward(&m, ids, NULL, B, T, tg, NULL, NULL, NULL);

    // The full-fine-tuning reference over W_qer (fp32 slots), its dL/dW per linear.
    ModelConfig ec;
    ModelWeights ew;
    if (qer_effective_weights(&m, &ec, &ew, &st)) qp_die("%s", st.msg);
    memcpy(w2.mem, ew.mem, ew.n_floats * sizeof(float));
    weights_free(&ew);
    Model full;
    if (model_init(&full, &cfg2, &w2, 0, 0, 0, HEAD_LM, TRAIN_FULL, &st)) qp_die("%s", st.msg);
    model_alloc_acts(&full, B, T);
    model_zero_grad(&full);
    double lref = model_forward(&full, ids, NULL, B, T, tg, NULL, NULL, NULL);
    model_backward(&full, ids, NULL, B, T, tg, NULL, NULL, NULL);
    CHECK(loss == lref && isfinite(loss), "%s: QER-mode loss %.9g == full model over W_qer %.9g, bit for bit", fname, loss, lref);

    size_t nA = 0, nB = 0;
    for (int l = 0; l < cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) { Linear lin = model_linear(&m, l, k); nA += (size_t)R * lin.in; nB += (size_t)lin.out * R; }
    float *gotA = xmalloc(nA * sizeof(float)), *refA = xmalloc(nA * sizeof(float));
    float *gotB = xmalloc(nB * sizeof(float)), *refB = xmalloc(nB * sizeof(float));
    float *Aq = xmalloc((size_t)R * cfg.hidden_dim * sizeof(float)), *Bq = xmalloc((size_t)cfg.hidden_dim * R * sizeof(float));
    float *Wq = xmalloc((size_t)cfg.hidden_dim * cfg.dim * sizeof(float));
    size_t oa = 0, ob = 0;
    Linear full_lin;
    for (int l = 0; l < cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            Linear lin = model_linear(&m, l, k);
            full_lin = model_linear(&full, l, k);
            linear_qer_weight(&lin, Wq, Aq, Bq);
            const float *G = full_lin.dw;  // (OC, IC)
            for (int r = 0; r < R; r++)
                for (int j = 0; j < lin.in; j++) {
                    double acc = 0;
                    for (int o = 0; o < lin.out; o++) acc += (double)Bq[o * R + r] * G[(size_t)o * lin.in + j];
                    refA[oa + (size_t)r * lin.in + j] = (float)(lin.scale * acc);
                }
            for (int o = 0; o < lin.out; o++)
                for (int r = 0; r < R; r++) {
                    double acc = 0;
                    for (int j = 0; j < lin.in; j++) acc += (double)G[(size_t)o * lin.in + j] * Aq[r * lin.in + j];
                    refB[ob + (size_t)o * R + r] = (float)(lin.scale * acc);
                }
            memcpy(gotA + oa, m.dA[i], (size_t)R * lin.in * sizeof(float));
            memcpy(gotB + ob, m.dB[i], (size_t)lin.out * R * sizeof(float));
            oa += (size_t)R * lin.in;
            ob += (size_t)lin.out * R;
        }
    double amax = 0, bmax = 0;
    for (size_t j = 0; j < nA; j++) amax = fmax(amax, fabs(refA[j]));
    for (size_t j = 0; j < nB; j++) bmax = fmax(bmax, fabs(refB[j]));
    char name[128];
    snprintf(name, sizeof name, "%s model: STE dA of every adapter == s·q(B)ᵀ·dL/dW_qer (max %.3g)", fname, amax);
    tl_allclose(name, gotA, refA, nA, 1e-6 * amax, 1e-4);
    snprintf(name, sizeof name, "%s model: STE dB of every adapter == s·dL/dW_qer·q(A)ᵀ (max %.3g)", fname, bmax);
    tl_allclose(name, gotB, refB, nB, 1e-6 * bmax, 1e-4);
    // And the fp-adapter model is a different function (the QER path was taken).
    m.adapter_quant = AQUANT_NONE;
    double lfp = model_forward(&m, ids, NULL, B, T, tg, NULL, NULL, 0);
    CHECK(fabs(lfp - loss) > 1e-4, "%s: the fp-adapter model's loss %.6f differs from QER's %.6f", fname, lfp, loss);
    free(gotA); free(refA); free(gotB); free(refB); free(Aq); free(Bq); free(Wq);
    model_free(&full);
    model_free(&m);
}

int main(void) {
    test_fake("mxint4", 32);
    test_fake("mxint3", 16);
    test_fake("mxint8", 32);
    test_linear("mxint4", 32, 5);
    test_linear("mxint3", 16, 8);
    test_model("mxint4");
    test_model("mxint3");
    return tl_finish();
}
