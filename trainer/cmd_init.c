// trainer/cmd_init.c — `qpeft init`: quantize a model's linears and initialise their adapters
// by one method (init/init_model.h), then write an adapter checkpoint (checkpoints/checkpoint.h,
// mode "qpeft") that carries the packed base whenever the method changed W~ (loftq with more
// than one iteration, srr), so training, eval, merge and export see the same W~.
// Tested by tests/test_init_cli.sh.
#include "checkpoints/checkpoint.h"
#include "core/check.h"
#include "core/dist.h"
#include "init/init_model.h"
#include "init/stream_init.h"
#include "model/qmodel.h"
#include "trainer/calib_cli.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <string.h>

int cmd_init(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *format = NULL, *method_s = NULL, *stats_path = NULL, *text = NULL;
    const char *out = NULL, *targets = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj";
    int block = 0, dq = 0, rank = -1, loftq_iters = 5, srr_keep = -1, samples = 128, T = 0, batch = 4, seed = 42;
    int sequential = 0;
    double alpha = 0;
    qp_opt opts[] = {
        OPT_ROW_MODEL(&model),
        OPT_ROW_TOKENIZER(&tok),
        {"--format", OPT_STR, &format, NULL, "base format: nf4 fp4 nf3 nf2 mxintK intK (K bits), e.g. mxint3", 1, 0, 0},
        OPT_ROW_BLOCK_H(&block, "elements per block; 0 = the format's default"),
        OPT_ROW_DOUBLE_QUANT_H(&dq, "nf*/fp4: quantize the block absmax too (bitsandbytes)"),
        {"--rank", OPT_INT, &rank, NULL, "adapter rank R", 1, 4096, 0},
        {"--alpha", OPT_FLOAT, &alpha, NULL, "adapter scale numerator, s = alpha/R (default 2*rank)", 0, 1e9, 0},
        {"--init", OPT_STR, &method_s, NULL, "qlora loftq zeroquant-v2 lqer qera-approx qera-exact srr", 1, 0, 0},
        OPT_ROW_LOFTQ_ITERS_H(&loftq_iters, "LoftQ alternations"),
        {"--srr-keep", OPT_INT, &srr_keep, "-1", "srr: preserved rank k'; -1 = chosen per linear", -1, 4096, 0},
        {"--targets", OPT_STR, &targets, NULL, "comma list of adapted linears (default all seven: q_proj,...,down_proj)", 1, 0, 0},
        OPT_ROW_CALIB_STATS_H(&stats_path, "statistics from `qpeft calibrate` (lqer, qera-*, srr)"),
        OPT_ROW_CALIB_TEXT_H(&text, "calibrate here on this text instead of --calib-stats"),
        {"--samples", OPT_INT, &samples, CALIB_DEFAULT(CALIB_SAMPLES), "--calib-text: windows", 1, 1e9, 0},
        {"--seq-len", OPT_INT, &T, "0", "--calib-text: window length; 0 = context capped at " CALIB_DEFAULT(CALIB_SEQ_CAP), 0, 1 << 20, 0},
        {"--batch", OPT_INT, &batch, CALIB_DEFAULT(CALIB_TEXT_BATCH), "--calib-text: windows per forward pass", 1, 4096, 0},
        OPT_ROW_SEED_H(&seed, "seed of qlora's random A"),
        {"--sequential", OPT_FLAG, &sequential, NULL, "--calib-text: calibrate layer l on the quantized, initialised layers 0..l-1 (GPTQ-style)", 1, 0, 0},
        {"--out", OPT_STR, &out, NULL, "adapter checkpoint to write (HDF5)", 1, 0, 0},
    };
    const char *syn = "--model M [--tokenizer T] --format F [--block N] --rank R [--alpha A] --init METHOD "
                      "[--loftq-iters 5] (--calib-stats H5 | --calib-text F) --out adapters.h5";
    int nopt = sizeof opts / sizeof opts[0];
    opts_parse("init", syn, opts, nopt, argc, argv, 2);
    if (!model) qp_die("qpeft init: --model is required");
    if (!out) qp_die("qpeft init: --out is required");
    if (!format) qp_die("qpeft init: --format is required (e.g. --format mxint3)");
    if (rank < 0) qp_die("qpeft init: --rank is required");
    if (!method_s) qp_die("qpeft init: --init is required (qlora, loftq, zeroquant-v2, lqer, qera-approx, qera-exact, srr)");
    qp_status st = {0};
    init_method meth;
    if (init_method_parse(method_s, &meth, &st)) qp_die("--init: %s", st.msg);
    quant_format fmt;
    calibcli_parse_format(format, block, dq, &fmt);
    unsigned mask;
    if (ckpt_mask_from_names(targets, &mask) || !mask)
        qp_die("--targets '%s': expected a comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", targets);
    if (!opts_seen(opts, sizeof opts / sizeof opts[0], "--alpha")) alpha = 2.0 * rank;
    const int needs = init_method_needs_stats(meth) && rank > 0;
    if (needs && !stats_path && !text)
        qp_die("qpeft init: --init %s needs calibration: give --calib-stats H5 or --calib-text FILE", method_s);
    if (stats_path && text) qp_die("qpeft init: give --calib-stats or --calib-text, not both");
    if (!needs && (stats_path || text)) qp_info("--init %s uses no calibration statistics; ignoring them", method_s);

    if (sequential && !(needs && text)) qp_die("qpeft init: --sequential needs --calib-text and a method with statistics");
    // No fp32 copy of the linears (issue 12): each W is read from the checkpoint when initialised,
    // and --calib-text calibrates one decoder layer at a time (init/stream_init.h).
    ModelConfig cfg; ModelWeights w;
    WeightsSource *src = NULL;
    Session ses;
    memset(&ses, 0, sizeof ses);
    if (session_is_packed_file(model)) {
        session_open(&ses, model, tok, 0);
    } else {
        WeightsPack skip = {NULL, (1u << LIN_COUNT) - 1, NULL};
        if (weights_source_open(model, &ses.cfg, &src, &st) || weights_source_load(src, &ses.cfg, &ses.w, &skip, &st))
            qp_die("%s", st.msg);
    }
    cfg = ses.cfg; w = ses.w;
    char hash[17];
    session_hash(&w, &cfg, hash);
    Model m;
    if (model_init(&m, &cfg, &w, rank, (float)alpha, mask, HEAD_LM, TRAIN_ADAPTERS, &st)) qp_die("%s", st.msg);
    CalibSet set = {0}, *stats = NULL;
    CalibBatches cb = {0};
    if (needs && text && src) {
        Tokenizer *tk = session_load_tokenizer(model, tok);
        session_check_vocab(tk, &cfg);
        text_stream ts;
        calibcli_text_load(&ts, text, tk);
        if (calib_batches_text(&cb, &ts, calibcli_seq_len(&cfg, T), 0, samples, batch, &st)) qp_die("%s: %s", text, st.msg);
        text_free(&ts);
        tok_free(tk);
    } else if (needs && stats_path) {
        calibcli_load_stats(&set, stats_path, &cfg, hash, init_method_needs_xtx(meth));
        stats = &set;
    } else if (needs) {
        session_open_tokenizer(&ses, model, tok);
        Tokenizer *tk = ses.tok;
        text_stream ts;
        calibcli_text_load(&ts, text, tk);
        calibcli_run_text(&set, &m, &ts, text, calibcli_seq_len(&cfg, T), samples, batch, init_method_needs_xtx(meth));
        text_free(&ts);
        tok_free(tk);
        stats = &set;
    }
    InitModelOptions io;
    init_model_options_default(&io, meth, &fmt);
    io.loftq_iters = loftq_iters;
    io.srr_keep = srr_keep;
    io.seed = (uint64_t)seed;
    io.log_layers = 1;
    io.source = src;
    InitModelReport rep;
    double t0 = qp_now();
    if (cb.n) {
        StreamInitOptions so = {0};
        so.sequential = sequential;
        if (init_model_streamed(&m, src, &io, &cb, &so, &rep, &st)) qp_die("init %s: %s", method_s, st.msg);
        calib_batches_free(&cb);
    } else if (init_model_apply(&m, &io, stats, &rep, &st)) qp_die("init %s: %s", method_s, st.msg);
    rep.seconds = qp_now() - t0;
    weights_source_close(src);

    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.qpeft_version, sizeof meta.qpeft_version, "%s", QPEFT_VERSION);
    memcpy(meta.model_hash, hash, sizeof hash);
    snprintf(meta.mode, sizeof meta.mode, "qpeft");
    snprintf(meta.init, sizeof meta.init, "%s", init_method_name(meth));
    snprintf(meta.task, sizeof meta.task, "none");
    meta.seed = seed;
    char cmdline[CKPT_EXTRA_VALUE] = "qpeft", fmtname[32], calib[CKPT_EXTRA_VALUE];
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(cmdline);
        snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);
    }
    snprintf(calib, sizeof calib, "%s", !needs ? "none" : stats_path ? stats_path : text);
    if (ckpt_extra_set(&meta, "command", cmdline, &st) || ckpt_extra_set(&meta, "calibration", calib, &st))
        qp_die("%s", st.msg);
    if (dist_is_root() && ckpt_save(out, &m, &meta, NULL, NULL, 0, rep.base_changed, &st)) qp_die("%s", st.msg);
    quant_format_name(&fmt, fmtname, sizeof fmtname);
    printf("init %s rank %d alpha %g format %s (%.3f bits/weight): %.2f s, base %s -> %s\n", init_method_name(meth),
           rank, alpha, fmtname, rep.bits_per_weight, rep.seconds,
           rep.base_changed ? "changed (packed W~ saved in the checkpoint)" : "= dq(q(W)) (not saved)", out);
    if (meth == INIT_SRR && rank > 0) printf("srr preserved rank k' per linear: %d..%d\n", rep.srr_keep_min, rep.srr_keep_max);
    if (stats) calib_set_free(&set);
    model_free(&m);
    return 0;
}
