// tests/test_qer.c — QER's lossless merge (quant/qer.h, init/qer.h) on tinystories-1M with mxint4
// and mxint3 bases and a qera-approx init: merged codes against a direct element-by-element recount
// (clamp, overflow count, exponents untouched), the unmerged QER weight equal to dq(merged) bit for
// bit, the merged .qm (saved and re-loaded) at the base's bits/weight with logits bit-identical to
// the unmerged quantized-adapter model, the error vs fp adapters finite and split consistently, the
// error-aware calibration never raising the objective, and the refusals (nf4, fp32 base, no adapters).
// Also a hand-made tensor with known codes (overflow both ways, −0, saturation of d).
#include "core/check.h"
#include "data/text.h"
#include "data/tokenizer.h"
#include "init/calibrate.h"
#include "init/init_model.h"
#include "init/qer.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "quant/qer.h"
#include "testlib.h"
#include <math.h>
#include <string.h>
#include <unistd.h>

#define MODEL tl_asset("models/tinystories-1M/tinystories-1M.bin")
#define TOK tl_asset("models/tinystories-1M/tok2048.model")
#define TEXT tl_asset("text/tinystories_valid_head.txt")
enum { R = 8, T = 64, NCAL = 16, NCHK = 2 };

static void load_model(Model *m, int rank, unsigned targets) {
    ModelConfig cfg; ModelWeights w; qp_status st = {0};
    if (model_load_weights(MODEL, &cfg, &w, &st)) qp_die("%s", st.msg);
    if (model_init(m, &cfg, &w, rank, 2.0f * rank, targets, HEAD_LM, TRAIN_NONE, &st)) qp_die("%s", st.msg);
    model_alloc_acts(m, 4, T);
}

// A rank-0 model owning w.
static void plain(Model *m, ModelConfig *c, ModelWeights *w) {
    qp_status st = {0};
    if (model_init(m, c, w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st)) qp_die("%s", st.msg);
    model_alloc_acts(m, NCHK, T);
}

// Hand-made mxint4 tensor (1 row, 16 cols, block 8): codes and corrections chosen to hit every case.
static void test_codes_by_hand(void) {
    quant_format f;
    qp_status st = {0};
    quant_parse_format("mxint4", 8, 0, &f, &st);
    // Block 0: max 1.75 -> e = 0, Δ = 0.25, M = 7. Block 1: max 3 -> e = 1, Δ = 0.5.
    // −0.01 in either block rounds to magnitude 0 with the sign bit set: a stored −0.
    float w[16] = {1.75f, -1.75f, 0.5f, -0.25f, 0.0f, 1.0f, -0.01f, 0.25f, 3.0f, -2.0f, 1.0f, 0.5f, -0.5f, -0.01f, 0, 0};
    QuantTensor *q = quant_tensor_quantize(w, 1, 16, &f);
    CHECK(quant_qer_block_exponent(q, 0, 0) == 0 && quant_qer_block_exponent(q, 0, 1) == 1, "hand: exponents 0 and 1");
    CHECK(quant_qer_signed_code(q, 0, 0) == 7 && quant_qer_signed_code(q, 0, 1) == -7 && quant_qer_signed_code(q, 0, 8) == 6,
          "hand: signed codes 7, -7, 6");
    // P: +0.25 (one step) on a 7 -> overflow; −0.5 on −7 -> overflow by 2; +0.3 rounds to 1 step;
    // 0.125 = half a step: ties to even (0); 1e30 saturates d; NaN -> 0; block 1: +0.5 is one step.
    double P[16] = {0.25, -0.5, 0.3, 0.125, -0.25, 0.375, 0.25, 1e30, 0.5, -0.75, 0, 0, NAN, 0, 0, 0};
    int32_t d[16];
    quant_qer_correction_codes(q, P, d);
    int32_t want_d[16] = {1, -2, 1, 0, -1, 2, 1, QUANT_QER_D_MAX, 1, -2, 0, 0, 0, 0, 0, 0};
    CHECK(!memcmp(d, want_d, sizeof d), "hand: correction codes rint(P/Δ) (ties to even, saturation, NaN -> 0)");
    quant_qer_count c;
    QuantTensor *mq = quant_qer_merge_codes(q, d, &c);
    float got[16], eff[16];
    quant_dequantize_rows(mq, 0, 1, got);
    float want[16] = {1.75f, -1.75f, 0.75f, -0.25f, -0.25f, 1.5f, 0.25f, 1.75f, 3.5f, -3.0f, 1.0f, 0.5f, -0.5f, 0, 0, 0};
    CHECK(!memcmp(got, want, sizeof got), "hand: merged values (clamped at ±7 steps)");
    CHECK(c.n_overflow == 3 && c.max_excess == QUANT_QER_D_MAX + 1 - 7 && c.n_changed == 7 && c.n_codes == 16,
          "hand: counts overflow %lld (3), changed %lld (7), max excess %lld", (long long)c.n_overflow,
          (long long)c.n_changed, (long long)c.max_excess);
    quant_qer_effective(q, d, eff);
    CHECK(!memcmp(eff, got, sizeof got), "hand: unmerged W~ + on-grid correction == dq(merged) bit for bit");
    CHECK(quant_tensor_bytes(mq) == quant_tensor_bytes(q) && quant_tensor_code(mq, 0, 13) == 0,
          "hand: same bytes, a stored −0 with d = 0 becomes code 0");
    quant_tensor_free(mq);
    QuantTensor *cp = quant_qer_merge_codes(q, NULL, NULL);
    size_t a, b;
    const uint8_t *sa = quant_tensor_section(q, QUANT_SEC_CODES, &a), *sb = quant_tensor_section(cp, QUANT_SEC_CODES, &b);
    CHECK(a == b && !memcmp(sa, sb, a), "hand: d NULL is a byte-exact copy");
    quant_tensor_free(cp);
    quant_tensor_free(q);
    quant_parse_format("nf4", 0, 0, &f, &st);
    CHECK(quant_qer_check_format(&f, &st) != 0 && strstr(st.msg, "MXINT") && strstr(st.msg, "nf4"),
          "nf4 refused: %s", st.msg);
}

static void test_model(const char *fmt_name, const CalibSet *stats, const int *ids) {
    qp_status st = {0};
    quant_format fmt;
    quant_parse_format(fmt_name, 0, 0, &fmt, &st);
    Model m;
    load_model(&m, R, (1u << LIN_COUNT) - 1);
    InitModelOptions o;
    init_model_options_default(&o, INIT_QERA_APPROX, &fmt);
    if (init_model_apply(&m, &o, stats, NULL, &st)) qp_die("%s", st.msg);
    CHECK(qer_check_model(&m, &st) == 0, "%s: model accepted", fmt_name);

    QuantTensor **mg;
    qer_report rep;
    CHECK(qer_merge(&m, &mg, &rep, &st) == 0, "%s: qer_merge", fmt_name);
    // Direct recount per element: merged signed code == clamp(v + d), exponents untouched.
    const int M = (1 << (fmt.bits - 1)) - 1;
    int64_t over = 0, changed = 0, bad_code = 0, bad_exp = 0, bad_eff = 0;
    int bits_ok = 1;
    int32_t *d = xmalloc((size_t)352 * 352 * sizeof(int32_t));
    float *a = xmalloc((size_t)352 * 352 * sizeof(float)), *b = xmalloc((size_t)352 * 352 * sizeof(float));
    for (int l = 0; l < m.cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            const QuantTensor *q = m.qbase[i], *g = mg[i];
            int OC = quant_tensor_rows(q), IC = quant_tensor_cols(q);
            bits_ok &= quant_tensor_bits_per_weight(g) == quant_tensor_bits_per_weight(q) &&
                       !memcmp(quant_tensor_format(g), quant_tensor_format(q), sizeof fmt);
            qer_linear_codes(&m, l, k, d, NULL, NULL);
            for (int r = 0; r < OC; r++) {
                for (int bb = 0; bb * fmt.block < IC; bb++)
                    bad_exp += quant_qer_block_exponent(q, r, bb) != quant_qer_block_exponent(g, r, bb);
                for (int j = 0; j < IC; j++) {
                    int v = quant_qer_signed_code(q, r, j);
                    int64_t s = (int64_t)v + d[(size_t)r * IC + j];
                    over += s > M || s < -M;
                    int64_t cl = s > M ? M : s < -M ? -M : s;
                    bad_code += quant_qer_signed_code(g, r, j) != cl;
                    changed += cl != v;
                }
            }
            quant_qer_effective(q, d, a);
            quant_dequantize_rows(g, 0, OC, b);
            bad_eff += memcmp(a, b, (size_t)OC * IC * sizeof(float)) != 0;
        }
    free(d); free(a); free(b);
    CHECK(bits_ok, "%s: every merged tensor has the base's format and bits/weight (%.4f)", fmt_name,
          quant_tensor_bits_per_weight(mg[0]));
    CHECK(bad_exp == 0 && bad_code == 0, "%s: merged codes == clamp(v + d), exponents unchanged (%lld, %lld bad)",
          fmt_name, (long long)bad_code, (long long)bad_exp);
    CHECK(over == rep.codes.n_overflow && changed == rep.codes.n_changed,
          "%s: overflow count %lld and changed %lld match the direct recount (%lld, %lld) of %lld codes", fmt_name,
          (long long)rep.codes.n_overflow, (long long)rep.codes.n_changed, (long long)over, (long long)changed,
          (long long)rep.codes.n_codes);
    CHECK(bad_eff == 0, "%s: unmerged W~ + on-grid correction == dq(merged) bit for bit in all 42 linears", fmt_name);
    double tri = sqrt(rep.quant_sq) + sqrt(rep.overflow_sq);
    CHECK(isfinite(rep.rel_err) && rep.rel_err > 0 && rep.rel_err < 0.5 && sqrt(rep.err_sq) <= tri * (1 + 1e-12) &&
              rep.n_linears == 42,
          "%s: error vs fp adapters %.5f (adapter quantization %.5f, overflow %.5f; %lld overflowed), finite and split "
          "consistently", fmt_name, rep.rel_err, rep.rel_quant, rep.rel_overflow, (long long)rep.codes.n_overflow);

    // Saved .qm: same size as the base's own .qm; re-loaded logits == unmerged QER model's, bit for bit.
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "/tmp/test_qer_%d_base.qm", (int)getpid());
    snprintf(p2, sizeof p2, "/tmp/test_qer_%d_merged.qm", (int)getpid());
    unsigned all = (1u << LIN_COUNT) - 1;
    CHECK(qmodel_save(p1, &m.cfg, &m.w, m.qbase, all, &st) == 0 && qmodel_save(p2, &m.cfg, &m.w, mg, all, &st) == 0,
          "%s: qmodel_save base and merged", fmt_name);
    CHECK(qp_file_size(p1) == qp_file_size(p2), "%s: merged .qm %lld bytes == base .qm %lld bytes", fmt_name,
          (long long)qp_file_size(p2), (long long)qp_file_size(p1));
    ModelConfig lc, ec;
    ModelWeights lw, ew;
    QuantTensor **lq;
    unsigned lmask;
    CHECK(qmodel_load(p2, &lc, &lw, &lq, &lmask, &st) == 0 && lmask == all, "%s: merged .qm loads", fmt_name);
    CHECK(qer_effective_weights(&m, &ec, &ew, &st) == 0, "%s: unmerged QER weights", fmt_name);
    Model lm, um;
    plain(&lm, &lc, &lw);
    qmodel_install(&lm, &lq);
    plain(&um, &ec, &ew);
    model_forward(&lm, ids, NULL, NCHK, T, NULL, NULL, NULL, 0);
    model_forward(&um, ids, NULL, NCHK, T, NULL, NULL, NULL, 0);
    size_t nl = (size_t)NCHK * T * m.cfg.vocab_size;
    CHECK(!memcmp(lm.acts.logits, um.acts.logits, nl * sizeof(float)),
          "%s: logits of the re-loaded merged .qm == unmerged quantized-adapter model, bit for bit (%zu logits)", fmt_name, nl);
    // And against the fp-adapter model: different (that is the error), finite.
    model_forward(&m, ids, NULL, NCHK, T, NULL, NULL, NULL, 0);
    double mx = 0;
    for (size_t i = 0; i < nl; i++) mx = fmax(mx, fabs((double)m.acts.logits[i] - lm.acts.logits[i]));
    CHECK(isfinite(mx) && mx > 0, "%s: vs fp-adapter model max |dlogit| %.4g (finite, non-zero)", fmt_name, mx);
    model_free(&lm);
    model_free(&um);
    unlink(p1);
    unlink(p2);
    qmodel_free_bases(mg, m.cfg.n_layers);

    // Error-aware calibration: the objective never rises; report both sources.
    qer_out_error before, after;
    float *start = xmalloc(m.n_params * sizeof(float));
    memcpy(start, m.params, m.n_params * sizeof(float));
    qer_calib_opts co = {8, 0.01, 0, 0};
    CHECK(qer_calibrate(&m, stats, &co, &before, &after, &st) == 0 && after.rel_err <= before.rel_err &&
              isfinite(after.rel_quant) && isfinite(after.rel_overflow),
          "%s: calibration (8 steps) output error %.5f -> %.5f (adapter quantization %.5f -> %.5f, overflow %.5f -> %.5f, "
          "overflowed %lld -> %lld)", fmt_name, before.rel_err, after.rel_err, before.rel_quant, after.rel_quant,
          before.rel_overflow, after.rel_overflow, (long long)before.n_overflow, (long long)after.n_overflow);
    qer_out_error e0;
    CHECK(qer_output_error(&m, stats, &e0, &st) == 0 && e0.n_overflow == after.n_overflow,
          "%s: qer_output_error agrees on the overflow count (%lld)", fmt_name, (long long)e0.n_overflow);
    // Overflow-aware steps from the same start: the clamped codes are pulled back into range, so
    // both the overflow count and the overflow part fall below the start's (and below the
    // straight-through result, which pushes codes out), and the output error does not rise.
    memcpy(m.params, start, m.n_params * sizeof(float));
    qer_out_error b2, a2;
    qer_calib_opts cp = {8, 0.01, 0, 100};
    CHECK(qer_calibrate(&m, stats, &cp, &b2, &a2, &st) == 0 && b2.n_overflow > 0 && a2.n_overflow < b2.n_overflow &&
              a2.n_overflow < after.n_overflow && a2.rel_overflow < b2.rel_overflow && a2.rel_err <= b2.rel_err,
          "%s: overflow-aware calibration (penalty 100) output error %.5f -> %.5f (adapter quantization %.5f -> %.5f, "
          "overflow %.5f -> %.5f, overflowed %lld -> %lld; straight-through: %lld)", fmt_name, b2.rel_err, a2.rel_err,
          b2.rel_quant, a2.rel_quant, b2.rel_overflow, a2.rel_overflow, (long long)b2.n_overflow,
          (long long)a2.n_overflow, (long long)after.n_overflow);
    free(start);
    model_free(&m);
}

static void test_refusals(const CalibSet *stats) {
    qp_status st = {0};
    quant_format f;
    Model m;
    // nf4 base with adapters.
    quant_parse_format("nf4", 0, 0, &f, &st);
    load_model(&m, R, (1u << LIN_COUNT) - 1);
    InitModelOptions o;
    init_model_options_default(&o, INIT_QLORA, &f);
    if (init_model_apply(&m, &o, stats, NULL, &st)) qp_die("%s", st.msg);
    QuantTensor **mg = NULL;
    CHECK(qer_merge(&m, &mg, NULL, &st) != 0 && mg == NULL && strstr(st.msg, "MXINT"), "nf4 base refused: %s", st.msg);
    model_free(&m);
    // An adapter over an fp32 base (down_proj left unquantized).
    quant_parse_format("mxint4", 0, 0, &f, &st);
    load_model(&m, R, (1u << LIN_COUNT) - 1);
    init_model_options_default(&o, INIT_QLORA, &f);
    o.quant_mask = ((1u << LIN_COUNT) - 1) & ~(1u << LIN_DOWN);
    if (init_model_apply(&m, &o, stats, NULL, &st)) qp_die("%s", st.msg);
    CHECK(qer_check_model(&m, &st) != 0 && strstr(st.msg, "down_proj") && strstr(st.msg, "fp32"),
          "adapter over an fp32 base refused: %s", st.msg);
    model_free(&m);
    // No adapters.
    load_model(&m, 0, 0);
    CHECK(qer_check_model(&m, &st) != 0 && strstr(st.msg, "no adapters"), "rank 0 refused: %s", st.msg);
    CHECK(qer_calibrate(&m, NULL, NULL, NULL, NULL, &st) != 0, "calibration without a model refused");
    model_free(&m);
}

int main(void) {
    test_codes_by_hand();
    qp_status st = {0};
    Tokenizer *tk = tok_load(TOK, &st);
    if (!tk) qp_die("%s", st.msg);
    text_stream ts;
    if (text_load(&ts, TEXT, tk, &st)) qp_die("%s", st.msg);
    Model fp;
    load_model(&fp, 0, 0);
    CalibSet stats;
    calib_set_init(&stats, &fp.cfg, 1);
    if (calib_set_run_text(&stats, &fp, &ts, T, 0, NCAL, 4, &st)) qp_die("%s", st.msg);
    int *ids = xmalloc((size_t)NCHK * T * sizeof(int)), *tg = xmalloc((size_t)NCHK * T * sizeof(int));
    int64_t win[NCHK] = {NCAL, NCAL + 1};  // windows not used for calibration
    text_fill_batch(&ts, T, win, NCHK, ids, tg);
    test_model("mxint4", &stats, ids);
    test_model("mxint3", &stats, ids);
    test_refusals(&stats);
    free(ids); free(tg);
    calib_set_free(&stats);
    model_free(&fp);
    text_free(&ts);
    tok_free(tk);
    return tl_finish();
}
