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
#include "quant/quant.h"
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

static train_kind resolve_mode(const SetupRequest *rq, Setup *su) {
    const char *mode = rq->mode ? rq->mode : rq->format ? "qpeft" : "lora";
    if (!strcmp(mode, "full")) {
        if (rq->format) qp_die("--mode full trains fp32 weights; it takes no --format");
        su->mode_name = "full";
        su->init_name = "none";
        return TRAIN_FULL;
    }
    if (!strcmp(mode, "lora")) {
        if (rq->format) qp_die("--mode lora keeps an fp32 base; use --mode qpeft (or omit --mode) with --format");
        su->mode_name = "lora";
        su->init_name = "lora";
        return TRAIN_ADAPTERS;
    }
    if (!strcmp(mode, "qpeft")) {
        if (!rq->format) qp_die("--mode qpeft needs --format (e.g. --format mxint3)");
        su->mode_name = "qpeft";
        return TRAIN_ADAPTERS;
    }
    qp_die("--mode must be full, lora or qpeft, got '%s'", mode);
}

// Statistics for the error-fitting initialisers: a saved file, a text file (128 windows of the
// model's context), or by default the task's own training split (128 examples, padding excluded).
static void calibrate(const SetupRequest *rq, Setup *su, int need_xtx, CalibSet *set) {
    qp_status st = {0};
    Model *m = &su->model;
    if (rq->calib_stats) {
        if (stats_load(rq->calib_stats, &m->cfg, su->model_hash, need_xtx, set, &st) != 0) qp_die("%s", st.msg);
        return;
    }
    calib_set_init(set, &m->cfg, need_xtx);
    int rc;
    if (rq->calib_text) {
        text_stream ts;
        if (text_load(&ts, rq->calib_text, su->tok, &st) != 0) qp_die("%s", st.msg);
        int T = m->cfg.max_seq_len;
        int64_t n = text_n_windows(&ts, T) < 128 ? text_n_windows(&ts, T) : 128;
        if (n < 1) qp_die("%s: too short for one calibration window of %d tokens", rq->calib_text, T);
        rc = calib_set_run_text(set, m, &ts, T, 0, n, 8, &st);
        text_free(&ts);
    } else {
        if (su->task.train.n == 0) qp_die("--init %s needs calibration: give --calib-text FILE or --calib-stats H5", rq->init);
        rc = calib_set_run_examples(set, m, &su->task.train, 128, rq->seed, 16, batch_pad_id(su->tok), 0, &st);
    }
    if (rc != 0) qp_die("calibration: %s", st.msg);
    snprintf(set->model_hash, sizeof set->model_hash, "%s", su->model_hash);
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
    if (stats) calibrate(rq, su, init_method_needs_xtx(meth), &set);
    InitModelOptions o;
    init_model_options_default(&o, meth, &fmt);
    o.loftq_iters = rq->loftq_iters > 0 ? rq->loftq_iters : 5;
    o.seed = rq->seed;
    InitModelReport rep;
    if (init_model_apply(&su->model, &o, stats ? &set : NULL, &rep, &st) != 0) qp_die("--init %s: %s", su->init_name, st.msg);
    if (stats) calib_set_free(&set);
    su->bits_per_weight = rep.bits_per_weight;
    su->base_changed = rep.base_changed;
    qp_info("init %s on %s (%.3f bits/weight): %.2fs", su->init_name, su->format_name, rep.bits_per_weight, rep.seconds);
}

void setup_build(const SetupRequest *rq, Setup *su) {
    memset(su, 0, sizeof *su);
    qp_status st = {0};
    ModelConfig cfg;
    ModelWeights w;
    QuantTensor **qbase = NULL;
    unsigned qmask = 0;
    session_load_model(rq->model, &cfg, &w, &qbase, &qmask);
    // A GGUF base implies its own format (its linears' ggml types): qpeft mode, no --format needed;
    // a --format that contradicts the file is refused below (session_quantize_base).
    SetupRequest with_gguf = *rq;
    char gguf_types[96] = "";
    const int gguf_base = qbase && gguf_is_file(rq->model);
    if (gguf_base) {
        gguf_base_types(qbase, cfg.n_layers * LIN_COUNT, gguf_types, sizeof gguf_types);
        if (!rq->format && (!rq->mode || !strcmp(rq->mode, "qpeft"))) with_gguf.format = gguf_types;
        rq = &with_gguf;
    }
    session_hash(&w, &cfg, su->model_hash);
    su->tok = session_load_tokenizer(rq->model, rq->tokenizer);
    if (tok_vocab_size(su->tok) != cfg.vocab_size)
        qp_die("tokenizer has %d pieces but the model's vocabulary is %d", tok_vocab_size(su->tok), cfg.vocab_size);
    TaskSpec ts = *rq->task;
    if (ts.seq_len == 0) ts.seq_len = cfg.max_seq_len;
    if (ts.seq_len > cfg.max_seq_len) qp_die("--seq-len %d exceeds the model's context %d", ts.seq_len, cfg.max_seq_len);
    if (!ts.text && ts.max_len > cfg.max_seq_len) qp_die("--max-len %d exceeds the model's context %d", ts.max_len, cfg.max_seq_len);
    if (task_load(&su->task, &ts, su->tok, &st) != 0) qp_die("%s", st.msg);
    qp_rng rng;
    rng_seed(&rng, rq->seed ^ 0x48656164ULL);
    if (su->task.head != HEAD_LM) session_add_head(&cfg, &w, su->task.n_labels, &rng);
    train_kind tk = resolve_mode(rq, su);
    unsigned mask = 0;
    if (tk != TRAIN_FULL && ckpt_mask_from_names(rq->targets, &mask) != 0)
        qp_die("--targets '%s': expected a comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", rq->targets);
    int rank = tk == TRAIN_FULL ? 0 : rq->rank;
    double alpha = rq->alpha > 0 ? rq->alpha : 2.0 * rank;
    if (model_init(&su->model, &cfg, &w, rank, (float)alpha, mask, su->task.head, rq->for_training ? tk : TRAIN_NONE, &st) != 0)
        qp_die("%s", st.msg);
    if (gguf_base && strcmp(rq->init ? rq->init : "qlora", "qlora"))
        qp_die("%s: --init %s needs the original weights W, and a GGUF holds only its quantized values; use --init qlora "
               "(--fp-model, to give W, is not implemented yet)", rq->model, rq->init);
    if (gguf_base && !(tk == TRAIN_ADAPTERS && rq->format))
        qp_die("%s: a GGUF base trains adapters over its own packed types (the default mode); --mode %s needs fp32 weights",
               rq->model, su->mode_name);
    if (qbase && !(tk == TRAIN_ADAPTERS && rq->format && !strcmp(rq->init ? rq->init : "qlora", "qlora")))
        qp_die("%s is a quantized model file: train on it with --format (its own) and --init qlora; the other inits "
               "need the fp32 weights", rq->model);
    if (tk == TRAIN_FULL) return;
    if (!strcmp(su->mode_name, "lora")) { setup_init_lora(&su->model, rq->seed); return; }
    if (qbase) {  // a .qm file: its packed bases are the frozen base, exactly as stored
        session_install_qbase(&su->model, &qbase);
        if (gguf_base && rq->format != gguf_types)  // an explicit --format must name the file's own type
            session_quantize_base(&su->model, rq->model, rq->format, rq->block, rq->double_quant, NULL);
        su->init_name = "qlora";
        setup_init_lora(&su->model, rq->seed);
        snprintf(su->format_name, sizeof su->format_name, "%s", gguf_base ? gguf_types : rq->format);
        return;
    }
    setup_init_adapters(rq, su);
}

void setup_free(Setup *su) {
    model_free(&su->model);
    task_free(&su->task);
    tok_free(su->tok);
    memset(su, 0, sizeof *su);
}
