// trainer/cmd_ppl.c — `qpeft ppl`: mean next-token loss and perplexity of a model on a text
// file, by the recipe of models/tinystories-1M/README.md (lines stripped, empty ones skipped,
// [BOS]+tokens packed into one stream, every whole T-token window scored).
// Tested by tests/test_cli.sh (2.918786 on tinystories_valid_head.txt within 1e-3).
// --ids FILE scores one given id sequence instead, with no tokenizer (tests/test_variants.sh).
#include "core/check.h"
#include "core/progress.h"
#include "data/ids.h"
#include "data/text.h"
#include "model/model.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/train_setup.h"
#include "trainer/verbs.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// --ids: the mean over t of -ln p(ids[t+1] | ids[0..t]) of one sequence, used as given (no BOS),
// printed last as a JSON object. The model is set up as for --text (fp32 or --format packed).
static int ppl_of_ids(const char *model, const char *ids_path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase,
                      const char *qformat, int qblock, int qdq, const char *qmodules) {
    qp_status st = {0};
    int *ids, n;
    if (ids_read_file(ids_path, cfg->vocab_size, &ids, &n, &st)) qp_die("%s", st.msg);
    if (n < 2) qp_die("%s: %d ids; at least 2 are needed for one prediction", ids_path, n);
    if (n - 1 > cfg->max_seq_len) qp_die("%s: %d ids, more than the model's context %d + 1", ids_path, n, cfg->max_seq_len);
    Model m;
    if (model_init(&m, cfg, w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    session_install_qbase(&m, qbase);
    session_quantize_base(&m, model, qformat, qblock, qdq, qmodules);
    model_alloc_acts(&m, 1, n - 1);
    double loss = model_forward(&m, ids, NULL, 1, n - 1, ids + 1, NULL, NULL, 0);
    if (!isfinite(loss)) qp_die("%s: the loss is not finite (%g); the model's weights may be corrupt", model, loss);
    printf("{\"loss\": %.9g, \"ppl\": %.9g, \"tokens\": %d}\n", loss, exp(loss), n - 1);
    free(ids);
    model_free(&m);
    return 0;
}

int cmd_ppl(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *text = NULL, *qformat = NULL, *qmodules = NULL, *init = NULL, *compute = NULL;
    const char *calib_text = NULL, *calib_stats = NULL, *ids = NULL;
    int T = 0, batch = 8, max_windows = 0, qblock = 0, qdq = 0, rank = 0, loftq_iters = 5, seed = 42;
    double alpha = 0;
    qp_opt opts[] = {
        OPT_ROW_MODEL(&model),
        OPT_ROW_TOKENIZER(&tok),
        {"--text", OPT_STR, &text, NULL, "plain-text file (default: the assets' tinystories_valid_head.txt)", 1, 0, 0},
        {"--ids", OPT_STR, &ids, NULL, "score this file of whitespace-separated ids as one sequence (no tokenizer, no BOS)", 1, 0, 0},
        {"--seq-len", OPT_INT, &T, "0", "window length T; 0 = the model's context", 0, 1 << 20, 0},
        {"--batch", OPT_INT, &batch, "8", "windows per forward pass", 1, 4096, 0},
        {"--max-windows", OPT_INT, &max_windows, "0", "score only the first N windows; 0 = all", 0, 1e9, 0},
        {"--format", OPT_STR, &qformat, NULL, "quantize the linears in process first (as `qpeft quantize`)", 1, 0, 0},
        OPT_ROW_BLOCK_H(&qblock, "with --format: block size; 0 = the format's default"),
        OPT_ROW_DOUBLE_QUANT_H(&qdq, "with --format nf4/fp4: quantize the absmax scales"),
        {"--modules", OPT_STR, &qmodules, NULL, "with --format: linear kinds to quantize (default all seven)", 1, 0, 0},
        {"--rank", OPT_INT, &rank, "0", "with --init: rank of the reconstruction terms (no training; QERA Table 3)", 0, 4096, 0},
        {"--init", OPT_STR, &init, NULL, "with --format and --rank: qlora loftq zeroquant-v2 lqer qera-approx qera-exact srr", 1, 0, 0},
        {"--alpha", OPT_FLOAT, &alpha, "0", "with --init: adapter alpha; 0 = 2*rank", 0, 1e6, 0},
        OPT_ROW_LOFTQ_ITERS_H(&loftq_iters, "with --init loftq: alternations"),
        OPT_ROW_CALIB_TEXT_H(&calib_text, "with --init lqer/qera-*/srr: calibration text (128 windows)"),
        OPT_ROW_CALIB_STATS_H(&calib_stats, "with --init: statistics from `qpeft calibrate`"),
        OPT_ROW_SEED_H(&seed, "with --init qlora: seed of A"),
        {"--compute", OPT_STR, &compute, "f32", COMPUTE_OPT_HELP, 1, 0, 0},
    };
    opts_parse("ppl", "--model M [--tokenizer T] [--text FILE | --ids FILE] [--seq-len T]", opts, sizeof opts / sizeof opts[0],
               argc, argv, 2);
    static char def_text[4200];
    if (!text) {
        snprintf(def_text, sizeof def_text, "%s/text/tinystories_valid_head.txt", qp_assets_dir());
        text = def_text;
    }
    qp_status st = {0};
    Session ses;
    if (ids) {  // ids as given: no tokenizer file needed
        if (opts_seen(opts, sizeof opts / sizeof opts[0], "--text") || init || tok) qp_die("qpeft ppl: --ids takes neither --text, --tokenizer nor --init");
        session_open(&ses, model, NULL, SESSION_PACKED);
        return ppl_of_ids(model, ids, &ses.cfg, &ses.w, &ses.qbase, qformat, qblock, qdq, qmodules);
    }
    session_open(&ses, model, tok, SESSION_TOKENIZER | SESSION_PACKED);
    ModelConfig cfg = ses.cfg; ModelWeights w = ses.w; QuantTensor **qbase = ses.qbase; Tokenizer *tk = ses.tok;
    if (T == 0) T = cfg.max_seq_len;
    if (T > cfg.max_seq_len) qp_die("--seq-len %d exceeds the model's context %d", T, cfg.max_seq_len);
    text_stream ts;
    if (text_load(&ts, text, tk, &st) != 0) qp_die("%s", st.msg);
    int64_t n = text_n_windows(&ts, T);
    if (n == 0) qp_die("%s: %lld tokens, too few for one window of %d", text, (long long)ts.n_tokens, T);
    if (max_windows > 0 && max_windows < n) n = max_windows;
    if (batch > n) batch = (int)n;
    if (init && (!qformat || rank <= 0 || qbase || qmodules))
        qp_die("qpeft ppl: --init needs --format, --rank > 0, an fp32 --model and all seven linears");
    Setup su;
    memset(&su, 0, sizeof su);
    Model *mp = &su.model;
    if (model_init(mp, &cfg, &w, init ? rank : 0, (float)(alpha > 0 ? alpha : 2.0 * rank), init ? 0x7fu : 0, HEAD_LM,
                   TRAIN_NONE, &st) != 0)
        qp_die("%s", st.msg);
    if (init) {  // the reconstruction terms of an initialiser, no training (the QERA paper's Table 3)
        SetupRequest rq;
        memset(&rq, 0, sizeof rq);
        rq.format = qformat; rq.block = qblock; rq.double_quant = qdq; rq.rank = rank; rq.init = init;
        rq.loftq_iters = loftq_iters; rq.calib_text = calib_text; rq.calib_stats = calib_stats; rq.seed = (uint64_t)seed;
        su.tok = tk;
        session_hash(&mp->w, &mp->cfg, su.model_hash);
        setup_init_adapters(&rq, &su);
    } else {
        session_install_qbase(mp, &qbase);
        session_quantize_base(mp, model, qformat, qblock, qdq, qmodules);
    }
    Model m = *mp;  // su only carried the model through initialisation; m owns it from here
    model_set_compute(&m, session_compute(compute));
    model_alloc_acts(&m, batch, T);
    int *inputs = xmalloc((size_t)batch * T * sizeof(int)), *targets = xmalloc((size_t)batch * T * sizeof(int));
    int64_t *win = xmalloc((size_t)batch * sizeof(int64_t));
    double sum = 0;
    qp_progress pr;
    progress_start(&pr, "ppl", n);
    for (int64_t w0 = 0; w0 < n; w0 += batch) {
        int nb = (int)(n - w0 < batch ? n - w0 : batch);
        for (int i = 0; i < nb; i++) win[i] = w0 + i;
        text_fill_batch(&ts, T, win, nb, inputs, targets);
        double mean = model_forward(&m, inputs, NULL, nb, T, targets, NULL, NULL, 0);
        sum += mean * nb * T;  // every target is real: mean over nb*T
        progress_update(&pr, w0 + nb);
    }
    progress_end(&pr);
    double loss = sum / ((double)n * T);
    if (!isfinite(loss)) qp_die("%s: the loss is not finite (%g); the model's weights may be corrupt", model, loss);
    printf("loss %.6f ppl %.4f windows %lld seq_len %d tokens %lld\n", loss, exp(loss), (long long)n, T,
           (long long)(n * T));
    free(inputs); free(targets); free(win);
    text_free(&ts);
    tok_free(tk);
    model_free(&m);
    return 0;
}
