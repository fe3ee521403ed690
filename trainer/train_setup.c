// trainer/train_setup.c — see train_setup.h.
#include "trainer/train_setup.h"
#include "model/load_gguf.h"
#include "checkpoints/checkpoint.h"
#include "core/check.h"
#include "core/rng.h"
#include "checkpoints/stats.h"
#include "data/batch.h"
#include "data/text.h"
#include "init/adapter_init.h"
#include "init/calibrate.h"
#include "init/init_model.h"
#include "init/stream_init.h"
#include "quant/quant.h"
#include "trainer/calib_cli.h"
#include "trainer/session.h"
#include <math.h>
#include <string.h>

void setup_init_lora(Model *m, uint64_t seed) {
    qp_rng rng;
    rng_seed(&rng, seed ^ 0x4c6f5241ULL);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            if (!m->A[i]) continue;
            Linear lin = model_linear(m, l, k);
            float bound = 1.0f / sqrtf((float)lin.in);
            for (size_t j = 0; j < (size_t)m->rank * lin.in; j++) m->A[i][j] = bound * (2.0f * rng_uniform(&rng) - 1.0f);
            memset(m->B[i], 0, (size_t)lin.out * m->rank * sizeof(float));
        }
}

// quantized: --format given, or the model is a .qm file (which implies its own format).
static train_kind resolve_mode(const SetupRequest *rq, int quantized, Setup *su) {
    const char *mode = rq->mode ? rq->mode : quantized ? "qpeft" : "lora";
    if (!strcmp(mode, "full")) {
        if (quantized) qp_die("--mode full trains fp32 weights; it takes no --format");
        su->mode_name = "full";
        su->init_name = "none";
        return TRAIN_FULL;
    }
    if (!strcmp(mode, "lora")) {
        if (quantized) qp_die("--mode lora keeps an fp32 base; use --mode qpeft (or omit --mode) with --format");
        su->mode_name = "lora";
        su->init_name = "lora";
        return TRAIN_ADAPTERS;
    }
    if (!strcmp(mode, "qpeft")) {
        if (!quantized) qp_die("--mode qpeft needs --format (e.g. --format mxint3)");
        su->mode_name = "qpeft";
        return TRAIN_ADAPTERS;
    }
    qp_die("--mode must be full, lora or qpeft, got '%s'", mode);
}

// The calibration samples of the error-fitting initialisers: 128 windows of the model's context
// from a text file, or by default 128 of the task's own training examples (padding excluded).
static void calib_samples(const SetupRequest *rq, Setup *su, CalibBatches *cb) {
    qp_status st = {0};
    int rc;
    if (rq->calib_text) {
        text_stream ts;
        calibcli_text_load(&ts, rq->calib_text, su->tok);
        int T = calibcli_seq_len(&su->model.cfg, 0);
        int64_t n = text_n_windows(&ts, T) < CALIB_SAMPLES ? text_n_windows(&ts, T) : CALIB_SAMPLES;
        if (n < 1) qp_die("%s: too short for one calibration window of %d tokens", rq->calib_text, T);
        rc = calib_batches_text(cb, &ts, T, 0, n, CALIB_TEXT_BATCH, &st);
        text_free(&ts);
    } else {
        if (su->task.train.n == 0) qp_die("--init %s needs calibration: give --calib-text FILE or --calib-stats H5", rq->init);
        rc = calib_batches_examples(cb, &su->task.train, CALIB_SAMPLES, rq->seed, CALIB_EXAMPLE_BATCH, batch_pad_id(su->tok), 0, &st);
        snprintf(cb->source, sizeof cb->source, "task:%s", su->task.name);
    }
    if (rc != 0) qp_die("calibration: %s", st.msg);
}

// Statistics for the error-fitting initialisers over the fp32 model: a saved file, or the samples above.
static void calibrate(const SetupRequest *rq, Setup *su, int need_xtx, CalibSet *set) {
    Model *m = &su->model;
    if (rq->calib_stats) {
        calibcli_load_stats(set, rq->calib_stats, &m->cfg, su->model_hash, need_xtx);
        return;
    }
    qp_status st = {0};
    CalibBatches cb;
    calib_samples(rq, su, &cb);
    calib_set_init(set, &m->cfg, need_xtx);
    if (calib_set_run_batches(set, m, &cb, &st) != 0) qp_die("calibration: %s", st.msg);
    calib_batches_free(&cb);
    snprintf(set->model_hash, sizeof set->model_hash, "%s", su->model_hash);
}

// Layer-streamed calibration + init over a model without fp32 linears, on the same samples.
static void init_streamed(const SetupRequest *rq, Setup *su, const InitModelOptions *o, InitModelReport *rep) {
    qp_status st = {0};
    CalibBatches cb;
    calib_samples(rq, su, &cb);
    if (init_model_streamed(&su->model, su->source, o, &cb, NULL, rep, &st) != 0) qp_die("--init %s: %s", su->init_name, st.msg);
    calib_batches_free(&cb);
}

void setup_init_adapters(const SetupRequest *rq, Setup *su) {
    qp_status st = {0};
    init_method meth;
    if (init_method_parse(rq->init ? rq->init : "qlora", &meth, &st) != 0) qp_die("--init: %s", st.msg);
    su->init_name = init_method_name(meth);
    quant_format fmt;
    if (quant_parse_format(rq->format, rq->block, rq->double_quant, &fmt, &st) != 0) qp_die("--format: %s", st.msg);
    quant_format_name(&fmt, su->format_name, sizeof su->format_name);
    CalibSet set;
    memset(&set, 0, sizeof set);
    int stats = init_method_needs_stats(meth) && su->model.rank > 0;
    int streamed = stats && su->source && !rq->calib_stats;
    if (stats && !streamed) calibrate(rq, su, init_method_needs_xtx(meth), &set);
    InitModelOptions o;
    init_model_options_default(&o, meth, &fmt);
    o.loftq_iters = rq->loftq_iters > 0 ? rq->loftq_iters : 5;
    o.seed = rq->seed;
    o.source = su->source;
    InitModelReport rep;
    if (streamed) init_streamed(rq, su, &o, &rep);
    else if (init_model_apply(&su->model, &o, stats ? &set : NULL, &rep, &st) != 0) qp_die("--init %s: %s", su->init_name, st.msg);
    if (stats && !streamed) calib_set_free(&set);
    su->bits_per_weight = rep.bits_per_weight;
    su->base_changed = rep.base_changed;
    qp_info("init %s on %s (%.3f bits/weight): %.2fs", su->init_name, su->format_name, rep.bits_per_weight, rep.seconds);
}

// A .qm base is its own quantization: it trains in qpeft mode with the qlora init only (the
// other inits and modes need the fp32 weights), --format is optional and must name the file's
// format when given. Fills format_name and bits_per_weight from the file.
static void check_qm_request(const SetupRequest *rq, QuantTensor *const *qbase, int n, Setup *su) {
    quant_format file_fmt;
    su->bits_per_weight = session_packed_format(qbase, n, &file_fmt);
    quant_format_name(&file_fmt, su->format_name, sizeof su->format_name);
    const int gguf = gguf_is_file(rq->model);
    if (gguf) gguf_base_types(qbase, n, su->format_name, sizeof su->format_name);  // a mix, e.g. Q4_K_M
    if (gguf && rq->init && strcmp(rq->init, "qlora"))
        qp_die("%s: --init %s needs the original weights W, and a GGUF holds only its quantized values; use --init qlora "
               "(--fp-model, to give W, is not implemented yet)", rq->model, rq->init);
    if (gguf && rq->mode && strcmp(rq->mode, "qpeft"))
        qp_die("%s: a GGUF base trains adapters over its own packed types (the default mode); --mode %s needs fp32 weights",
               rq->model, rq->mode);
    if ((rq->mode && strcmp(rq->mode, "qpeft")) || (rq->init && strcmp(rq->init, "qlora")))
        qp_die("%s is a quantized model file: it trains in qpeft mode with --init qlora only; the other modes and "
               "inits need the fp32 weights", rq->model);
    if (!rq->format) return;
    qp_status st = {0};
    quant_format asked;
    char name[32], theirs[32];
    if (quant_parse_format(rq->format, rq->block, rq->double_quant, &asked, &st) != 0) qp_die("--format: %s", st.msg);
    quant_format_name(&asked, name, sizeof name);
    for (int i = 0; i < n; i++)
        if (qbase[i] && strcmp(name, quant_format_name(quant_tensor_format(qbase[i]), theirs, sizeof theirs)))
            qp_die("--format %s contradicts %s, whose bases are %s; omit --format (a quantized base implies its own)",
                   name, rq->model, su->format_name);
}

// Does any fp32 copy of the frozen linears need to exist (issue 12)? Not in qpeft mode from an
// fp32/bf16 checkpoint: qlora packs them while loading; every other initialiser reads each W
// from the still-open checkpoint (su->source), calibrating layer by layer when it needs
// statistics (init/stream_init.h). Returns 0 (load fp32), 1 (pack at load), 2 (hash only).
static int pack_at_load(const SetupRequest *rq, quant_format *fmt) {
    qp_status st = {0};
    init_method meth;
    const char *mode = rq->mode ? rq->mode : rq->format ? "qpeft" : "lora";
    if (!rq->format || strcmp(mode, "qpeft") || session_is_packed_file(rq->model)) return 0;
    if (init_method_parse(rq->init ? rq->init : "qlora", &meth, &st)) return 0;
    if (quant_parse_format(rq->format, rq->block, rq->double_quant, fmt, &st) || fmt->kind == QUANT_F32) return 0;
    return meth == INIT_QLORA ? 1 : 2;
}

// qlora over bases packed at load: the initialiser's W~ is dq(q(W)) and its A, B are
// setup_init_lora's (init/init_model.h), so only the bookkeeping of setup_init_adapters remains.
static void setup_qlora_packed(const SetupRequest *rq, Setup *su, const quant_format *fmt) {
    setup_init_lora(&su->model, rq->seed);
    su->init_name = "qlora";
    quant_format_name(fmt, su->format_name, sizeof su->format_name);
    su->bits_per_weight = session_packed_format(su->model.qbase, su->model.cfg.n_layers * LIN_COUNT, NULL);
}

void setup_build(const SetupRequest *rq, Setup *su) {
    memset(su, 0, sizeof *su);
    qp_status st = {0};
    Session ses;
    memset(&ses, 0, sizeof ses);
    QuantTensor **packed = NULL;
    quant_format pfmt;
    int pack = pack_at_load(rq, &pfmt);
    if (pack) {
        packed = xcalloc((size_t)MODEL_MAX_LAYERS * LIN_COUNT, sizeof *packed);
        WeightsPack wp = {pack == 1 ? &pfmt : NULL, (1u << LIN_COUNT) - 1, packed};
        if (weights_source_open(rq->model, &ses.cfg, &su->source, &st) ||
            weights_source_load(su->source, &ses.cfg, &ses.w, &wp, &st))
            qp_die("%s", st.msg);
        session_open_tokenizer(&ses, rq->model, rq->tokenizer);
    } else {
        session_open(&ses, rq->model, rq->tokenizer, SESSION_TOKENIZER | SESSION_PACKED);
    }
    ModelConfig cfg = ses.cfg; ModelWeights w = ses.w; QuantTensor **qbase = ses.qbase;
    su->tok = ses.tok;
    session_hash(&w, &cfg, su->model_hash);
    TaskSpec ts = *rq->task;
    if (ts.seq_len == 0) ts.seq_len = cfg.max_seq_len;
    if (ts.seq_len > cfg.max_seq_len) qp_die("--seq-len %d exceeds the model's context %d", ts.seq_len, cfg.max_seq_len);
    if (!ts.text && ts.max_len > cfg.max_seq_len) qp_die("--max-len %d exceeds the model's context %d", ts.max_len, cfg.max_seq_len);
    if (task_load(&su->task, &ts, su->tok, &st) != 0) qp_die("%s", st.msg);
    qp_rng rng;
    rng_seed(&rng, rq->seed ^ 0x48656164ULL);
    if (su->task.head != HEAD_LM) session_add_head(&cfg, &w, su->task.n_labels, &rng);
    if (qbase) check_qm_request(rq, qbase, cfg.n_layers * LIN_COUNT, su);
    train_kind tk = resolve_mode(rq, rq->format || qbase, su);
    unsigned mask = 0;
    if (tk != TRAIN_FULL && ckpt_mask_from_names(rq->targets, &mask) != 0)
        qp_die("--targets '%s': expected a comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", rq->targets);
    int rank = tk == TRAIN_FULL ? 0 : rq->rank;
    double alpha = rq->alpha > 0 ? rq->alpha : 2.0 * rank;
    if (model_init(&su->model, &cfg, &w, rank, (float)alpha, mask, su->task.head, rq->for_training ? tk : TRAIN_NONE, &st) != 0)
        qp_die("%s", st.msg);
    if (tk == TRAIN_FULL) return;
    if (!strcmp(su->mode_name, "lora")) { setup_init_lora(&su->model, rq->seed); return; }
    if (packed) {
        session_install_qbase(&su->model, &packed);
        if (!strcmp(rq->init ? rq->init : "qlora", "qlora")) setup_qlora_packed(rq, su, &pfmt);
        else setup_init_adapters(rq, su);
        weights_source_close(su->source);
        su->source = NULL;
        return;
    }
    if (qbase) {  // a .qm or GGUF file: its packed bases are the frozen base, exactly as stored
        session_install_qbase(&su->model, &qbase);
        su->init_name = "qlora";
        setup_init_lora(&su->model, rq->seed);
        return;
    }
    setup_init_adapters(rq, su);
}

void setup_free(Setup *su) {
    weights_source_close(su->source);
    model_free(&su->model);
    task_free(&su->task);
    tok_free(su->tok);
    memset(su, 0, sizeof *su);
}
