// trainer/qer_cli.c — see qer_cli.h. Tested by tests/test_qer_cli.sh.
#include "trainer/qer_cli.h"
#include "checkpoints/merge.h"
#include "core/check.h"
#include "data/text.h"
#include "data/tokenizer.h"
#include "model/qmodel.h"
#include "trainer/calib_cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A rank-0 model owning w (its head included), activations for (B, T).
static void plain_model(Model *dst, ModelConfig *cfg, ModelWeights *w, head_kind head, int B, int T) {
    qp_status st = {0};
    if (model_init(dst, cfg, w, 0, 0, 0, head, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    model_alloc_acts(dst, B, T);
}

// Σxᵀx of every linear's input from the fp32 model m->w (rank 0 copy: calibration wants the
// full-precision function).
static void calibrate_fp(const Model *m, const qer_cli_opts *o, CalibSet *set) {
    qp_status st = {0};
    Tokenizer *tk = tok_load(o->tok_path, &st);
    if (!tk) qp_die("%s", st.msg);
    text_stream ts;
    calibcli_text_load(&ts, o->calib_text, tk);
    ModelWeights w;
    calibcli_weights_copy(&w, &m->cfg, &m->w);
    Model fm;
    if (model_init(&fm, &m->cfg, &w, 0, 0, 0, m->head, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    calibcli_run_text(set, &fm, &ts, o->calib_text, o->T, o->samples, 4, 1);
    model_free(&fm);
    text_free(&ts);
    tok_free(tk);
}

static long long bits_differ(const float *a, const float *b, size_t n) {
    long long k = 0;
    for (size_t i = 0; i < n; i++) k += memcmp(a + i, b + i, sizeof(float)) != 0;
    return k;
}

QuantTensor **qer_cli_merge(Model *m, const qer_cli_opts *o, const int *ids, int B, int T, qer_cli_result *res) {
    qp_status st = {0};
    memset(res, 0, sizeof *res);
    if (qer_check_model(m, &st)) qp_die("%s", st.msg);
    if (o->steps > 0 && m->adapter_quant == AQUANT_SAME)
        qp_die("--qer-steps: this checkpoint was trained with --adapter-quant same; its model is the quantized-adapter "
               "model already and calibrating would change it");
    float *saved = xmalloc(m->n_params * sizeof(float));
    memcpy(saved, m->params, m->n_params * sizeof(float));
    if (o->steps > 0) {
        CalibSet set;
        calibrate_fp(m, o, &set);
        qer_calib_opts co = {o->steps, o->lr, qp_verbose, o->overflow_penalty};
        if (qer_calibrate(m, &set, &co, &res->before, &res->after, &st)) qp_die("%s", st.msg);
        calib_set_free(&set);
        res->calibrated = 1;
    }
    QuantTensor **merged;
    if (qer_merge(m, &merged, &res->rep, &st)) qp_die("%s", st.msg);
    // The unmerged quantized-adapter model (fp32 W~ + on-grid correction, no merged codes) and
    // the merged one (packed codes, fp32 slots = W~ only): logits must agree bit for bit.
    ModelConfig ec, bc;
    ModelWeights ew, bw;
    if (qer_effective_weights(m, &ec, &ew, &st)) qp_die("%s", st.msg);
    if (merge_base_weights(m, &bc, &bw, &st)) qp_die("%s", st.msg);
    Model um, mm;
    plain_model(&um, &ec, &ew, m->head, B, T);
    plain_model(&mm, &bc, &bw, m->head, B, T);
    QuantTensor **copy;
    qer_report dummy;
    if (qer_merge(m, &copy, &dummy, &st)) qp_die("%s", st.msg);
    qmodel_install(&mm, &copy);
    double mse;
    merge_logits_diff(&um, &mm, ids, B, T, &res->eq_max_abs, &mse);
    size_t nl = m->head == HEAD_LM ? (size_t)B * T * m->cfg.vocab_size
                                   : (size_t)B * (m->head == HEAD_REGRESS ? 1 : m->cfg.n_labels);
    res->eq_bits_differ = bits_differ(um.acts.logits, mm.acts.logits, nl);
    memcpy(m->params, saved, m->n_params * sizeof(float));  // the checkpoint's adapters again
    free(saved);
    if (m->adapter_quant == AQUANT_SAME) {  // the checkpoint's own model (what `qpeft eval` scores)
        res->ckpt_qer = 1;
        merge_logits_diff(m, &mm, ids, B, T, &res->ckpt_max_abs, &mse);
        res->ckpt_bits_differ = bits_differ(m->acts.logits, mm.acts.logits, nl);
    }
    adapter_quant_kind aq = m->adapter_quant;
    m->adapter_quant = AQUANT_NONE;  // the fp-adapter model W~ + s·B·A of the same adapters
    merge_logits_diff(m, &mm, ids, B, T, &res->fp_max_abs, &res->fp_mse);
    m->adapter_quant = aq;
    model_free(&um);
    model_free(&mm);

    double bits = 0, nw = 0;
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++)
        if (merged[i]) {
            bits += 8.0 * (double)quant_tensor_bytes(merged[i]);
            nw += (double)quant_tensor_rows(merged[i]) * quant_tensor_cols(merged[i]);
        }
    res->bits_per_weight = nw > 0 ? bits / nw : 0;
    const qer_report *r = &res->rep;
    char fname[64] = "-";
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++)
        if (merged[i]) { quant_format_name(quant_tensor_format(merged[i]), fname, sizeof fname); break; }
    if (res->calibrated)
        printf("qer calibration (%d Adam steps per linear, %d windows of %d tokens of %s): output error vs fp adapters "
               "%.5f -> %.5f (adapter quantization %.5f -> %.5f, overflow %.5f -> %.5f; overflowed codes %lld -> %lld)\n",
               o->steps, o->samples, o->T, o->calib_text, res->before.rel_err, res->after.rel_err, res->before.rel_quant,
               res->after.rel_quant, res->before.rel_overflow, res->after.rel_overflow, (long long)res->before.n_overflow,
               (long long)res->after.n_overflow);
    printf("lossless %s: %d adapted linears merged on codes at %.4f bits/weight; codes changed %lld of %lld, "
           "overflowed (clamped) %lld (max excess %lld); weight error vs %sfp adapters ||W_qer-(W~+sBA)||/||W~+sBA|| "
           "%.5f (adapter quantization %.5f, overflow %.5f, max %.4g)\n",
           fname, r->n_linears, res->bits_per_weight, (long long)r->codes.n_changed, (long long)r->codes.n_codes,
           (long long)r->codes.n_overflow, (long long)r->codes.max_excess, res->calibrated ? "the calibrated " : "the ",
           r->rel_err, r->rel_quant, r->rel_overflow, r->max_abs);
    printf("check: merged (packed) vs unmerged quantized-adapter logits: max |dlogit| %.3g, %lld of %zu differ in bits%s; "
           "vs fp-adapter model: max |dlogit| %.4g, mean dlogit^2 %.4g\n",
           res->eq_max_abs, res->eq_bits_differ, nl, res->eq_bits_differ == 0 ? " (bit for bit)" : "", res->fp_max_abs,
           res->fp_mse);
    if (res->ckpt_qer)
        printf("check: merged (packed) vs the checkpoint's QER-trained model (--adapter-quant same): max |dlogit| %.3g, "
               "%lld of %zu differ in bits%s\n", res->ckpt_max_abs, res->ckpt_bits_differ, nl,
               res->ckpt_bits_differ == 0 ? " (bit for bit)" : "");
    if (res->eq_bits_differ != 0) qp_die("internal error: the merged model's logits differ from the unmerged QER model's");
    if (res->ckpt_bits_differ != 0)
        qp_die("internal error: the merged model's logits differ from the checkpoint's QER-trained model's");
    return merged;
}
