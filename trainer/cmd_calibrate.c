// trainer/cmd_calibrate.c — `qpeft calibrate`: run the full-precision model over N samples of
// text windows or a task's training split and save the input statistics of every adapted
// linear (checkpoints/stats.h), so one calibration serves many `qpeft init` runs.
// Tested by tests/test_init_cli.sh.
#include "checkpoints/stats.h"
#include "core/check.h"
#include "core/dist.h"
#include "data/batch.h"
#include "init/calibrate.h"
#include "trainer/calib_cli.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/task.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <string.h>

int cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *text = NULL, *task = NULL, *data = NULL, *out = NULL;
    int samples = 128, T = 0, max_len = 128, batch = 4, seed = 42, exact = 0, include_padding = 0;
    qp_opt opts[] = {
        OPT_ROW_MODEL(&model),
        OPT_ROW_TOKENIZER(&tok),
        OPT_ROW_CALIB_TEXT_H(&text, "text file: lines -> [BOS]+tokens, one stream, consecutive T-token windows"),
        {"--task", OPT_STR, &task, NULL, "GLUE task whose training split calibrates (one padded example per sample)", 1, 0, 0},
        {"--data", OPT_STR, &data, NULL, "GLUE release directory for --task (default: the assets' glue/)", 1, 0, 0},
        {"--samples", OPT_INT, &samples, CALIB_DEFAULT(CALIB_SAMPLES), "windows (text) or examples (task) to run", 1, 1e9, 0},
        {"--seq-len", OPT_INT, &T, "0", "text window length T; 0 = the model's context capped at " CALIB_DEFAULT(CALIB_SEQ_CAP), 0, 1 << 20, 0},
        {"--max-len", OPT_INT, &max_len, "128", "task: token limit per example", 2, 1 << 20, 0},
        {"--batch", OPT_INT, &batch, CALIB_DEFAULT(CALIB_TEXT_BATCH), "samples per forward pass", 1, 4096, 0},
        OPT_ROW_SEED_H(&seed, "task: seed of the shuffle that picks the first N examples"),
        {"--exact", OPT_FLAG, &exact, NULL, "also accumulate the full Σxᵀx in float64 (needed by qera-exact)", 1, 0, 0},
        {"--include-padding", OPT_FLAG, &include_padding, NULL, "task: count padded positions too (default: excluded)", 1, 0, 0},
        {"--out", OPT_STR, &out, NULL, "statistics file to write (HDF5)", 1, 0, 0},
    };
    const char *syn = "--model M [--tokenizer T] (--calib-text F | --task T [--data DIR]) [--samples 128] [--seq-len T] "
                      "[--exact] [--include-padding] --out stats.h5";
    opts_parse("calibrate", syn, opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!model) qp_die("qpeft calibrate: --model is required");
    if (!out) qp_die("qpeft calibrate: --out is required");
    if (!!text == !!task) qp_die("qpeft calibrate: give exactly one of --calib-text FILE or --task NAME");
    if (data && !task) qp_die("qpeft calibrate: --data goes with --task");
    if (include_padding && !task) qp_die("qpeft calibrate: --include-padding applies to --task (text windows have no padding)");
    qp_status st = {0};
    Session ses;
    session_open(&ses, model, tok, SESSION_TOKENIZER);
    ModelConfig cfg = ses.cfg; ModelWeights w = ses.w; Tokenizer *tk = ses.tok;
    Model m;
    if (model_init(&m, &cfg, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st)) qp_die("%s", st.msg);
    CalibSet set;
    double t0 = qp_now();
    if (text) {
        text_stream ts;
        calibcli_text_load(&ts, text, tk);
        int Tw = calibcli_seq_len(&cfg, T);
        int64_t avail = text_n_windows(&ts, Tw);
        if (avail < samples) {
            if (avail == 0) qp_die("%s: %lld tokens, too few for one window of %d", text, (long long)ts.n_tokens, Tw);
            qp_warn("%s has %lld windows of %d; calibrating on all of them instead of %d", text, (long long)avail, Tw, samples);
            samples = (int)avail;
        }
        calibcli_run_text(&set, &m, &ts, text, Tw, samples, batch, exact);
        text_free(&ts);
    } else {
        if (max_len > cfg.max_seq_len) qp_die("--max-len %d exceeds the model's context %d", max_len, cfg.max_seq_len);
        TaskSpec spec = {0};
        spec.task = task; spec.data_dir = data; spec.max_len = max_len;
        TaskData td;
        if (task_load(&td, &spec, tk, &st)) qp_die("%s", st.msg);
        calib_set_init(&set, &cfg, exact);
        if (calib_set_run_examples(&set, &m, &td.train, samples, (uint64_t)seed, batch, batch_pad_id(tk),
                                   include_padding, &st))
            qp_die("%s", st.msg);
        if ((size_t)samples > td.train.n) qp_warn("task %s has %zu training examples; used all", td.name, td.train.n);
        snprintf(set.source, sizeof set.source, "task:%s", td.name);
        snprintf(set.data, sizeof set.data, "%s", data ? data : "glue (assets)");
        task_free(&td);
    }
    double secs = qp_now() - t0;
    if (dist_is_root() && stats_save(out, &set, &st)) qp_die("%s", st.msg);  // every rank holds the summed set
    const CalibStats *c0 = set.s[0];
    printf("calibrated %s: %lld samples (%s), %lld rows per input, %d layers x %d inputs, xtx %s, padding %s, "
           "%.2f s -> %s\n", set.source, (long long)set.samples, set.data, (long long)c0->count, set.n_layers,
           CALIB_IN_COUNT, exact ? "yes" : "no", set.include_padding ? "included" : "excluded", secs, out);
    calib_set_free(&set);
    model_free(&m);
    tok_free(tk);
    return 0;
}
