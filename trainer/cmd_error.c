// trainer/cmd_error.c — `qpeft error`: the output error of every initialiser before any
// training (the QERA paper's Figure 1 as a table), for lists of formats, ranks, methods and
// LoftQ iteration counts. One calibration and one plain quantization per format serve every
// row. Tested by tests/test_init_cli.sh; the tinystories-1M table is in docs/results.md.
//
// Metrics, on eval windows the calibration never saw (default: the --eval-windows T-token
// windows of the calibration text that follow the calibration windows):
//   layer_out_err = mean over the quantized linears of E‖x(W~+sBA)ᵀ − xWᵀ‖² / E‖xWᵀ‖², with x
//                   the input of that linear in the FULL-PRECISION model (as the paper's per-layer
//                   error: every linear judged on the same inputs), computed exactly from the
//                   eval windows' Σxᵀx (init/errors.h's trace formula);
//   logits_mse    = mean over positions and vocabulary of (z_quant − z_fp)²;
//   logits_kl     = mean over positions of KL(p_fp ‖ p_quant), in float64.
// The stdout table also shows calib_err, the same layer error on the calibration windows (the
// quantity qera-exact minimises), and init_s, the initialiser's wall time.
#include "checkpoints/stats.h"
#include "core/check.h"
#include "init/errors.h"
#include "init/init_model.h"
#include "trainer/calib_cli.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LIST = 32 };

typedef struct {
    char format[32];
    double bpw;
    const char *method;
    int iters, rank;
    double layer_err, calib_err, mse, kl, secs;
} ErrRow;

// E[xᵀx] (n,n) of every (layer, input) of a statistics set, or NULL entries when it has no Σxᵀx.
static double **second_moments(const CalibSet *set) {
    double **R = xcalloc((size_t)set->n_layers * CALIB_IN_COUNT, sizeof *R);
    if (!set->with_xtx) return R;
    for (int j = 0; j < set->n_layers * CALIB_IN_COUNT; j++) {
        int n = set->s[j]->n;
        R[j] = xmalloc((size_t)n * n * sizeof(double));
        calib_second_moment(set->s[j], R[j]);
    }
    return R;
}

static void free_moments(double **R, int n) {
    for (int j = 0; j < n; j++) free(R[j]);
    free(R);
}

// Mean over the quantized linears of the relative output error under R (NaN without R).
static double mean_layer_error(const Model *m, double *const *R, float *Wq) {
    const ModelWeights *w = &m->w;
    const float *base[LIN_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    double sum = 0;
    int n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            if (!m->qbase[i]) continue;
            const double *Rk = R[l * CALIB_IN_COUNT + calib_input_of((lin_kind)k)];
            if (!Rk) return NAN;
            Linear lin = model_linear(m, l, k);
            quant_dequantize_rows(m->qbase[i], 0, lin.out, Wq);
            const float *W = base[k] + (size_t)l * lin.out * lin.in;
            sum += init_output_error_R(Rk, W, Wq, lin.A, lin.B, lin.scale, lin.out, lin.in, lin.rank, NULL);
            n++;
        }
    return n ? sum / n : 0.0;
}

// Σ over positions of Σ_v (q−f)² and of KL(p_f‖p_q) for rows (N,V) of logits. Rows are
// reduced in fixed chunks whose partials are added in chunk order (no `omp reduction` on
// floating point), so the numbers do not depend on the thread count.
enum { DIFF_CHUNKS = 64 };
static void logit_diffs(const float *q, const float *f, int64_t N, int V, double *mse, double *kl) {
    double p_mse[DIFF_CHUNKS] = {0}, p_kl[DIFF_CHUNKS] = {0};
#pragma omp parallel for schedule(static)
    for (int c = 0; c < DIFF_CHUNKS; c++)
        for (int64_t r = N * c / DIFF_CHUNKS; r < N * (c + 1) / DIFF_CHUNKS; r++) {
            const float *qr = q + (size_t)r * V, *fr = f + (size_t)r * V;
            double mq = qr[0], mf = fr[0];
            for (int v = 1; v < V; v++) { if (qr[v] > mq) mq = qr[v]; if (fr[v] > mf) mf = fr[v]; }
            double zq = 0, zf = 0;
            for (int v = 0; v < V; v++) { zq += exp((double)qr[v] - mq); zf += exp((double)fr[v] - mf); }
            double lq = mq + log(zq), lf = mf + log(zf), k = 0, e = 0;
            for (int v = 0; v < V; v++) {
                double d = (double)qr[v] - (double)fr[v], lpf = (double)fr[v] - lf;
                e += d * d;
                k += exp(lpf) * (lpf - ((double)qr[v] - lq));
            }
            p_mse[c] += e;
            p_kl[c] += k;
        }
    double s_mse = 0, s_kl = 0;
    for (int c = 0; c < DIFF_CHUNKS; c++) { s_mse += p_mse[c]; s_kl += p_kl[c]; }
    *mse = s_mse;
    *kl = s_kl;
}

// Eval windows through a model: logits compared with the cached full-precision ones.
static void eval_logits(Model *m, const text_stream *ts, int T, int64_t first, int n, int batch, const float *fp,
                        int *ids, int *tgt, double *mse, double *kl) {
    int64_t win[4096];
    const int V = m->cfg.vocab_size;
    double sm = 0, sk = 0;
    for (int w0 = 0; w0 < n; w0 += batch) {
        int nb = n - w0 < batch ? n - w0 : batch;
        for (int i = 0; i < nb; i++) win[i] = first + w0 + i;
        text_fill_batch(ts, T, win, nb, ids, tgt);
        model_forward(m, ids, NULL, nb, T, NULL, NULL, NULL, 0);
        double a, b;
        logit_diffs(m->acts.logits, fp + (size_t)w0 * T * V, (int64_t)nb * T, V, &a, &b);
        sm += a; sk += b;
    }
    double pos = (double)n * T;
    *mse = sm / (pos * V);
    *kl = sk / pos;
}

int cmd_error(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *text = NULL, *stats_path = NULL, *eval_text = NULL, *format = NULL;
    const char *ranks_s = "4,8,16,32", *inits_s = "qlora,loftq,zeroquant-v2,lqer,qera-approx,qera-exact,srr";
    const char *iters_s = "5", *csv = NULL;
    int samples = 128, T = 0, n_eval = 16, block = 0, dq = 0, batch = 4, seed = 42;
    double alpha = 0;
    qp_opt opts[] = {
        {"--model", OPT_STR, &model, NULL, "model: llama2.c .bin, HF directory or qpeft model file", 1, 0, 0},
        {"--tokenizer", OPT_STR, &tok, NULL, "tokenizer.json or SentencePiece .model (default: beside the model)", 1, 0, 0},
        {"--calib-text", OPT_STR, &text, NULL, "calibration text (its first --samples windows), eval windows follow", 1, 0, 0},
        {"--calib-stats", OPT_STR, &stats_path, NULL, "statistics from `qpeft calibrate` instead of calibrating here", 1, 0, 0},
        {"--samples", OPT_INT, &samples, "128", "calibration windows", 1, 1e9, 0},
        {"--seq-len", OPT_INT, &T, "0", "window length T; 0 = the model's context capped at 2048", 0, 1 << 20, 0},
        {"--eval-text", OPT_STR, &eval_text, NULL, "evaluate on the first --eval-windows windows of this file instead", 1, 0, 0},
        {"--eval-windows", OPT_INT, &n_eval, "16", "eval windows", 1, 4096, 0},
        {"--format", OPT_STR, &format, NULL, "comma list of base formats, NAME or NAME-bBLOCK (mxint2-b16,mxint3,nf4)", 1, 0, 0},
        {"--block", OPT_INT, &block, "0", "block for formats given without -bN; 0 = each format's default", 0, 1 << 20, 0},
        {"--double-quant", OPT_FLAG, &dq, NULL, "nf*/fp4: quantize the block absmax too", 1, 0, 0},
        {"--ranks", OPT_STR, &ranks_s, "4,8,16,32", "comma list of adapter ranks (0 = no adapter)", 1, 0, 0},
        {"--inits", OPT_STR, &inits_s, "qlora,loftq,zeroquant-v2,lqer,qera-approx,qera-exact,srr", "comma list of methods: qlora,loftq,zeroquant-v2,lqer,qera-approx,qera-exact,srr", 1, 0, 0},
        {"--loftq-iters", OPT_STR, &iters_s, "5", "comma list of LoftQ iteration counts (1,2,3,4,5 sweeps)", 1, 0, 0},
        {"--alpha", OPT_FLOAT, &alpha, NULL, "adapter scale numerator (default 2*rank; the errors do not depend on it)", 0, 1e9, 0},
        {"--batch", OPT_INT, &batch, "4", "windows per forward pass", 1, 4096, 0},
        {"--seed", OPT_INT, &seed, "42", "seed of qlora's random A", 0, 2147483647, 0},
        {"--csv", OPT_STR, &csv, NULL, "also write the rows as CSV", 1, 0, 0},
    };
    const char *syn = "--model M [--tokenizer T] --calib-text FILE [--calib-stats H5] --format F[,F...] [--block N] "
                      "--ranks 4,8,16,32 --inits qlora,loftq,qera-approx,qera-exact[,...] [--loftq-iters 1,2,3,4,5] "
                      "[--eval-text FILE] [--csv FILE]";
    opts_parse("error", syn, opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!model) qp_die("qpeft error: --model is required");
    if (!format) qp_die("qpeft error: --format is required (e.g. --format mxint2-b16,mxint3,nf4)");
    if (!text && !(stats_path && eval_text))
        qp_die("qpeft error: --calib-text is required (or both --calib-stats and --eval-text)");
    // Lists.
    int ranks[MAX_LIST], iters[MAX_LIST];
    int n_ranks = opts_split_ints("--ranks", ranks_s, ranks, MAX_LIST);
    int n_iters = opts_split_ints("--loftq-iters", iters_s, iters, MAX_LIST);
    for (int i = 0; i < n_ranks; i++) if (ranks[i] < 0 || ranks[i] > 4096) qp_die("--ranks: %d out of 0..4096", ranks[i]);
    for (int i = 0; i < n_iters; i++) if (iters[i] < 1 || iters[i] > 1000) qp_die("--loftq-iters: %d out of 1..1000", iters[i]);
    char *inits_buf = xstrdup(inits_s), *fmt_buf = xstrdup(format), *items[MAX_LIST];
    char *fitems[MAX_LIST];
    int n_meth = opts_split_strs("--inits", inits_buf, items, MAX_LIST);
    init_method meths[MAX_LIST];
    qp_status st = {0};
    int need_xtx = 0;
    for (int i = 0; i < n_meth; i++) {
        if (init_method_parse(items[i], &meths[i], &st)) qp_die("--inits: %s", st.msg);
        need_xtx |= init_method_needs_xtx(meths[i]);
    }
    int n_fmt = opts_split_strs("--format", fmt_buf, fitems, MAX_LIST);
    quant_format fmts[MAX_LIST];
    for (int i = 0; i < n_fmt; i++) calibcli_parse_format(fitems[i], block, dq, &fmts[i]);

    // Model, tokenizer, texts.
    ModelConfig cfg; ModelWeights base;
    session_load_weights(model, &cfg, &base);
    char hash[17];
    session_hash(&base, &cfg, hash);
    Tokenizer *tk = session_load_tokenizer(model, tok);
    session_check_vocab(tk, &cfg);
    const int Tw = calibcli_seq_len(&cfg, T);
    if (batch > n_eval) batch = n_eval;
    ModelWeights wfp;
    calibcli_weights_copy(&wfp, &cfg, &base);
    Model fp;
    if (model_init(&fp, &cfg, &wfp, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st)) qp_die("%s", st.msg);
    model_alloc_acts(&fp, batch, Tw);
    text_stream ts = {0}, es = {0};
    if (text) calibcli_text_load(&ts, text, tk);
    CalibSet calib;
    int64_t eval_first = 0;
    if (stats_path) {
        calibcli_load_stats(&calib, stats_path, &cfg, hash, need_xtx);
        if (!eval_text) {
            if (calib.seq_len != Tw || strcmp(calib.source, "text"))
                qp_die("%s: made from %s with T=%d; the default eval windows follow text calibration windows of the "
                       "same T=%d: give --eval-text or recalibrate", stats_path, calib.source, calib.seq_len, Tw);
            if (strcmp(calib.data, text))
                qp_warn("%s was calibrated on %s, not %s: eval windows start after window %lld of %s anyway",
                        stats_path, calib.data, text, (long long)calib.samples, text);
            eval_first = calib.samples;
        }
    } else {
        if (text_n_windows(&ts, Tw) < samples + (eval_text ? 0 : n_eval))
            qp_die("%s: %lld windows of %d tokens, need %d for calibration%s", text, (long long)text_n_windows(&ts, Tw),
                   Tw, samples + (eval_text ? 0 : n_eval), eval_text ? "" : " plus the eval windows");
        calibcli_run_text(&calib, &fp, &ts, text, Tw, samples, batch, 1);
        eval_first = samples;
    }
    const text_stream *ev = &ts;
    if (eval_text) { calibcli_text_load(&es, eval_text, tk); ev = &es; eval_first = 0; }
    if (text_n_windows(ev, Tw) < eval_first + n_eval)
        qp_die("%s: %lld windows of %d tokens, the eval needs windows %lld..%lld", eval_text ? eval_text : text,
               (long long)text_n_windows(ev, Tw), Tw, (long long)eval_first, (long long)(eval_first + n_eval - 1));

    // Full-precision pass over the eval windows: their Σxᵀx and the reference logits.
    const int V = cfg.vocab_size;
    size_t cache_n;
    if (!qp_size_mul((size_t)n_eval * Tw, (size_t)V, &cache_n) || cache_n > ((size_t)1 << 28))
        qp_die("the full-precision logits of %d windows x %d tokens x %d vocabulary exceed 1 GiB; lower --eval-windows "
               "or --seq-len", n_eval, Tw, V);
    float *fp_logits = xmalloc(cache_n * sizeof(float));
    int *ids = xmalloc((size_t)batch * Tw * sizeof(int)), *tgt = xmalloc((size_t)batch * Tw * sizeof(int));
    CalibSet evs;
    calib_set_init(&evs, &cfg, 1);
    {
        int64_t win[4096];
        for (int w0 = 0; w0 < n_eval; w0 += batch) {
            int nb = n_eval - w0 < batch ? n_eval - w0 : batch;
            for (int i = 0; i < nb; i++) win[i] = eval_first + w0 + i;
            text_fill_batch(ev, Tw, win, nb, ids, tgt);
            model_forward(&fp, ids, NULL, nb, Tw, NULL, NULL, NULL, 0);
            calib_set_add_forward(&evs, &fp, NULL, nb, Tw, 0, NULL);
            memcpy(fp_logits + (size_t)w0 * Tw * V, fp.acts.logits, (size_t)nb * Tw * V * sizeof(float));
        }
    }
    double **R_eval = second_moments(&evs), **R_cal = second_moments(&calib);
    qp_info("eval: %d windows of %d tokens from %s, starting at window %lld", n_eval, Tw, eval_text ? eval_text : text,
            (long long)eval_first);

    // One plain quantization per format; one model per rank (its own copy of the weights).
    const unsigned all = (1u << LIN_COUNT) - 1;
    InitQuantCache *qc = xcalloc((size_t)n_fmt, sizeof *qc);
    for (int f = 0; f < n_fmt; f++) init_quant_cache_build(&qc[f], &fp, &fmts[f], all);
    Model *models = xcalloc((size_t)n_ranks, sizeof *models);
    for (int r = 0; r < n_ranks; r++) {
        ModelWeights wr;
        calibcli_weights_copy(&wr, &cfg, &base);
        double a = opts_seen(opts, sizeof opts / sizeof opts[0], "--alpha") ? alpha : 2.0 * ranks[r];
        if (model_init(&models[r], &cfg, &wr, ranks[r], (float)a, all, HEAD_LM, TRAIN_NONE, &st)) qp_die("%s", st.msg);
        int q = qp_quiet; qp_quiet = 1;
        model_alloc_acts(&models[r], batch, Tw);
        qp_quiet = q;
    }
    int maxd = cfg.dim > cfg.hidden_dim ? cfg.dim : cfg.hidden_dim;
    float *Wq = xmalloc((size_t)maxd * maxd * sizeof(float));

    int n_rows_max = n_fmt * n_ranks * (n_meth + n_iters) + 1;
    ErrRow *rows = xcalloc((size_t)n_rows_max, sizeof *rows);
    int n_rows = 0;
    printf("%-12s %6s %-13s %5s %5s %14s %14s %12s %12s %8s\n", "format", "bpw", "method", "iters", "rank",
           "layer_out_err", "calib_err", "logits_mse", "logits_kl", "init_s");
    fflush(stdout);
    for (int f = 0; f < n_fmt; f++) {
        char fname[32];
        quant_format_name(&fmts[f], fname, sizeof fname);
        for (int mi = 0; mi < n_meth; mi++) {
            int n_it = meths[mi] == INIT_LOFTQ ? n_iters : 1;
            for (int it = 0; it < n_it; it++)
                for (int r = 0; r < n_ranks; r++) {
                    Model *m = &models[r];
                    InitModelOptions io;
                    init_model_options_default(&io, meths[mi], &fmts[f]);
                    io.plain = &qc[f];
                    io.seed = (uint64_t)seed;
                    if (meths[mi] == INIT_LOFTQ) io.loftq_iters = iters[it];
                    InitModelReport rep;
                    if (init_model_apply(m, &io, &calib, &rep, &st))
                        qp_die("%s rank %d %s: %s", fname, ranks[r], init_method_name(meths[mi]), st.msg);
                    ErrRow *row = &rows[n_rows++];
                    snprintf(row->format, sizeof row->format, "%s", fname);
                    row->bpw = rep.bits_per_weight;
                    row->method = init_method_name(meths[mi]);
                    row->iters = meths[mi] == INIT_LOFTQ ? iters[it] : 0;
                    row->rank = ranks[r];
                    row->secs = rep.seconds;
                    row->layer_err = mean_layer_error(m, R_eval, Wq);
                    row->calib_err = mean_layer_error(m, R_cal, Wq);
                    eval_logits(m, ev, Tw, eval_first, n_eval, batch, fp_logits, ids, tgt, &row->mse, &row->kl);
                    printf("%-12s %6.3f %-13s %5d %5d %14.6e %14.6e %12.6e %12.6e %8.3f\n", row->format, row->bpw,
                           row->method, row->iters, row->rank, row->layer_err, row->calib_err, row->mse, row->kl,
                           row->secs);
                    fflush(stdout);
                }
        }
    }
    if (csv) {
        // Written whole at the end (through a temporary name and rename, so a failed run leaves no half file).
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", csv);
        FILE *fp_csv = fopen(tmp, "w");
        if (!fp_csv) qp_die("%s: cannot write", csv);
        fprintf(fp_csv, "method,format,bits_per_weight,rank,iters,layer_out_err,logits_mse,logits_kl\n");
        for (int i = 0; i < n_rows; i++)
            fprintf(fp_csv, "%s,%s,%.6f,%d,%d,%.9e,%.9e,%.9e\n", rows[i].method, rows[i].format, rows[i].bpw,
                    rows[i].rank, rows[i].iters, rows[i].layer_err, rows[i].mse, rows[i].kl);
        if (fclose(fp_csv) != 0 || rename(tmp, csv) != 0) qp_die("%s: write failed", csv);
    }
    for (int r = 0; r < n_ranks; r++) model_free(&models[r]);
    for (int f = 0; f < n_fmt; f++) init_quant_cache_free(&qc[f]);
    free_moments(R_eval, cfg.n_layers * CALIB_IN_COUNT);
    free_moments(R_cal, cfg.n_layers * CALIB_IN_COUNT);
    free(models); free(qc); free(rows); free(Wq); free(fp_logits); free(ids); free(tgt);
    free(inits_buf); free(fmt_buf);
    calib_set_free(&evs);
    calib_set_free(&calib);
    if (text) text_free(&ts);
    if (eval_text) text_free(&es);
    model_free(&fp);
    weights_free(&base);
    tok_free(tk);
    return 0;
}
