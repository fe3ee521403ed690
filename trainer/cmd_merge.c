// trainer/cmd_merge.c — `qpeft merge`: fold a checkpoint's adapters into its base (W' = W~ + s·B·A)
// and export the result into a new directory — Hugging Face (F32/F16/BF16), llama2.c, GGUF for
// llama.cpp (exact at an MXINT base's bits), or the adapters alone in PEFT's or llama.cpp's
// layout — optionally re-quantizing the merged weights into qpeft's .qm
// file with the error that costs. Always prints the logits check (merged vs unmerged).
// Tested by tests/test_merge_cli.sh (the library parts by tests/test_export.c).
#include "checkpoints/checkpoint.h"
#include "checkpoints/export.h"
#include "checkpoints/merge.h"
#include "core/check.h"
#include "core/json.h"
#include "core/la.h"
#include "core/rng.h"
#include "data/text.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "trainer/options.h"
#include "trainer/gguf_cli.h"
#include "trainer/qer_cli.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CHECK_B = 4, CHECK_T = 64 };  // the fixed logits-check batch: 4 windows of 64 tokens

static int is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }

// The file name the tokenizer is copied under in an export: its kind's HF name.
static const char *tokenizer_copy_name(const char *tok_path) {
    size_t n = strlen(tok_path);
    return n >= 5 && !strcmp(tok_path + n - 5, ".json") ? "tokenizer.json" : "tokenizer.model";
}

static double dropout_from_command(const char *cmd) {
    const char *p = strstr(cmd, "--dropout");
    if (!p) return 0.1;
    p += strlen("--dropout");
    while (*p == ' ' || *p == '=') p++;
    char *end;
    double v = strtod(p, &end);
    return end != p && v >= 0 && v < 1 ? v : 0.1;
}

// The adapter dropout the run trained with: the checkpoint's dropout attribute; 0 for a
// checkpoint no training wrote (`qpeft init`). Training checkpoints written before the attribute
// existed fall back, with a warning, on the command line they recorded (cmd_train's default 0.1
// when the flag is absent).
static double recorded_dropout(const ckpt_meta *meta, const char *ckpt) {
    if (meta->has_dropout) return meta->dropout;
    const char *cmd = ckpt_extra_get(meta, "command");
    if (!cmd || strncmp(cmd, "qpeft train", strlen("qpeft train"))) return 0.0;
    double p = dropout_from_command(cmd);
    qp_warn("%s has no dropout attribute (written before it was recorded); PEFT's lora_dropout %g is taken from its "
            "recorded command line", ckpt, p);
    return p;
}

// Fixed batch for the logits checks: the first windows of the text (default: the assets'
// tinystories_valid_head.txt), or seeded random ids when there is no tokenizer.
static int *check_batch(const char *tok_path, const char *text, const ModelConfig *cfg, int *B, int *T, char *what, size_t n) {
    *B = CHECK_B;
    *T = cfg->max_seq_len < CHECK_T ? cfg->max_seq_len : CHECK_T;
    int *ids = xmalloc((size_t)*B * *T * sizeof(int));
    if (tok_path) {
        qp_status st = {0};
        Tokenizer *tk = tok_load(tok_path, &st);
        if (!tk) qp_die("%s", st.msg);
        session_check_vocab(tk, cfg);
        text_stream ts;
        if (text_load(&ts, text, tk, &st) != 0) qp_die("%s", st.msg);
        int64_t nw = text_n_windows(&ts, *T);
        if (nw >= *B) {
            int64_t win[CHECK_B];
            int *targets = xmalloc((size_t)*B * *T * sizeof(int));
            for (int i = 0; i < *B; i++) win[i] = i;
            text_fill_batch(&ts, *T, win, *B, ids, targets);
            free(targets);
            snprintf(what, n, "%d windows of %d tokens of %s", *B, *T, text);
        } else {
            qp_warn("%s: too few tokens for %d windows of %d; checking on random ids", text, *B, *T);
            tok_path = NULL;
        }
        text_free(&ts);
        tok_free(tk);
        if (tok_path) return ids;
    }
    qp_rng r;
    rng_seed(&r, 1234);
    for (int i = 0; i < *B * *T; i++) ids[i] = (int)rng_below(&r, (uint32_t)cfg->vocab_size);
    snprintf(what, n, "%d rows of %d seeded random ids (no tokenizer)", *B, *T);
    return ids;
}

// A rank-0 model over a copy of w (the caller keeps w).
static void model_over_copy(Model *dst, const ModelConfig *cfg, const ModelWeights *w, head_kind head, int B, int T) {
    qp_status st = {0};
    ModelConfig c = *cfg;
    ModelWeights copy;
    if (weights_alloc(&copy, &c, &st) != 0) qp_die("%s", st.msg);
    memcpy(copy.mem, w->mem, w->n_floats * sizeof(float));
    if (model_init(dst, &c, &copy, 0, 0, 0, head, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    model_alloc_acts(dst, B, T);
}

static void list_dir(const char *dir, const char *rel) {
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s%s%s", dir, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX], full[PATH_MAX * 3];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", dir, sub);
        if (is_dir(full)) { list_dir(dir, sub); continue; }
        printf("  %-40s %12lld bytes\n", sub, (long long)qp_file_size(full));
    }
    closedir(d);
}

int cmd_merge(int argc, char **argv) {
    const char *model = NULL, *ckpt = NULL, *out = NULL, *to = NULL, *dtype_s = NULL, *requant = NULL, *tok = NULL, *gguf_type_s = NULL,
               *text = NULL;
    int block = 0, lossless = 0, qer_steps = 0, qer_samples = 128, threads = 0;
    double qer_lr = 0.01, qer_penalty = 100;
    const char *qer_text = NULL;
    qp_opt opts[] = {
        OPT_ROW_MODEL_H(&model, "base model the checkpoint was trained on (llama2.c .bin, HF directory, .qm)"),
        {"--checkpoint", OPT_STR, &ckpt, NULL, "checkpoint (.h5) with the adapters and head (--to gguf: optional; without it the model itself is converted)", 1, 0, 0},
        {"--out", OPT_STR, &out, NULL, "new output directory (refused if it exists and is not empty)", 1, 0, 0},
        {"--to", OPT_STR, &to, "hf", "hf (merged HF Llama dir) | llama2c (merged model.bin, fp32) | peft (adapters alone) | gguf (merged model.gguf for llama.cpp) | gguf-lora (adapter.gguf + base.gguf for llama.cpp --lora)", 1, 0, 0},
        {"--dtype", OPT_STR, &dtype_s, "f32", "f32 | f16 | bf16: tensor type of HF safetensors (llama2c: f32 only)", 1, 0, 0},
        {"--gguf-type", OPT_STR, &gguf_type_s, "auto", "auto | f32 | f16 | bf16 | q8_0 | q4_0: GGUF tensor type of the linears (auto: the smallest exact type per tensor)", 1, 0, 0},
        {"--requant", OPT_STR, &requant, NULL, "also re-quantize the merged weights in FORMAT (nf4, mxint3, ...) into model.qm", 1, 0, 0},
        OPT_ROW_BLOCK_H(&block, "block size of --requant; 0 = the format's default"),
        OPT_ROW_TOKENIZER_H(&tok, "tokenizer (.model or tokenizer.json) copied into the export (default: beside the model)"),
        {"--text", OPT_STR, &text, NULL, "text for the logits check (default: the assets' tinystories_valid_head.txt)", 1, 0, 0},
        {"--lossless", OPT_FLAG, &lossless, NULL, "QER: merge on codes at the MXINT base's own bits into model.qm (docs/methods.md)", 1, 0, 0},
        {"--qer-steps", OPT_INT, &qer_steps, "0", "--lossless: error-aware calibration, Adam steps per linear (0 = none)", 0, 100000, 0},
        {"--qer-lr", OPT_FLOAT, &qer_lr, "0.01", "--lossless: calibration step size relative to rms(A), rms(B)", 0, 10, 0},
        {"--qer-overflow-penalty", OPT_FLOAT, &qer_penalty, "100", "--lossless --qer-steps: weight of the overflow penalty at clamped codes (0 = straight through the clamp)", 0, 1e6, 0},
        {"--qer-samples", OPT_INT, &qer_samples, "128", "--lossless: calibration windows (of up to 256 tokens)", 1, 1000000, 0},
        {"--qer-text", OPT_STR, &qer_text, NULL, "--lossless: calibration text (default: the assets' tinystories_train_head.txt)", 1, 0, 0},
        OPT_ROW_THREADS_H(&threads, "threads; 0 = all cores"),
    };
    opts_parse("merge", "--model M --checkpoint CKPT --out DIR [--to hf|llama2c|peft|gguf|gguf-lora] [--dtype f32|f16|bf16] [--gguf-type T] [--requant FORMAT [--block N] | --lossless [--qer-steps N]]",
               opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    qp_status st = {0};
    if (threads > 0) la_set_threads(threads);
    if (!model) qp_die("--model is required");
    if (!out) qp_die("--out is required");
    int to_hf = !strcmp(to, "hf"), to_l2c = !strcmp(to, "llama2c"), to_peft = !strcmp(to, "peft");
    int to_gguf = !strcmp(to, "gguf"), to_glora = !strcmp(to, "gguf-lora");
    if (!to_hf && !to_l2c && !to_peft && !to_gguf && !to_glora)
        qp_die("--to must be hf, llama2c, peft, gguf or gguf-lora, found '%s'", to);
    export_dtype dt, gt;
    if (export_dtype_parse(dtype_s, &dt, &st) != 0) qp_die("%s", st.msg);
    if (export_gguf_type_parse(gguf_type_s, &gt, &st) != 0) qp_die("%s", st.msg);
    const int nopt0 = sizeof opts / sizeof opts[0];
    if ((to_gguf || to_glora) && opts_seen(opts, nopt0, "--dtype")) qp_die("--to %s takes --gguf-type, not --dtype", to);
    if (!to_gguf && !to_glora && opts_seen(opts, nopt0, "--gguf-type")) qp_die("--gguf-type needs --to gguf or gguf-lora");
    if (!ckpt && to_gguf && !lossless && !requant) {
        if (export_check_new_dir(out, &st) != 0) qp_die("%s", st.msg);
        char *tp = session_tokenizer_path(model, tok), dir[EXPORT_PATH_MAX];
        export_gguf_report r;
        gguf_cli_convert(model, tp, gt, out, &r, dir, sizeof dir);
        free(tp);
        printf("{\"out\": ");
        json_write_str(stdout, dir);
        printf(", \"to\": \"gguf\", \"gguf_type\": \"%s\", \"bytes\": %llu, \"bits_per_weight\": %.6g, "
               "\"linear_bits_per_weight\": %.6g, \"lossy_tensors\": %d, \"weight_rel_err\": %.6g, \"fallbacks\": %d}\n",
               export_dtype_name(gt), (unsigned long long)r.bytes, r.bits_per_weight, r.linear_bits_per_weight, r.n_lossy,
               r.rel_err, r.n_fallback);
        return 0;
    }
    if (!ckpt) qp_die("--checkpoint is required%s", to_gguf ? " with --lossless/--requant" : "");
    if (to_l2c && dt != EXPORT_F32) qp_die("--to llama2c writes fp32 only, found --dtype %s", dtype_s);
    quant_format qf = {0};
    if (requant && quant_parse_format(requant, block, 0, &qf, &st) != 0) qp_die("--requant: %s", st.msg);
    if (!requant && block) qp_die("--block needs --requant FORMAT");
    if (lossless && requant) qp_die("--lossless and --requant both write model.qm; choose one");
    const int nopt = sizeof opts / sizeof opts[0];
    if (!lossless && (opts_seen(opts, nopt, "--qer-steps") || opts_seen(opts, nopt, "--qer-lr") ||
                      opts_seen(opts, nopt, "--qer-overflow-penalty") || opts_seen(opts, nopt, "--qer-samples") ||
                      opts_seen(opts, nopt, "--qer-text")))
        qp_die("--qer-steps, --qer-lr, --qer-overflow-penalty, --qer-samples and --qer-text need --lossless");
    if (export_check_new_dir(out, &st) != 0) qp_die("%s", st.msg);   // refuse before any work
    static char def_text[PATH_MAX];
    if (!text) {
        snprintf(def_text, sizeof def_text, "%s/text/tinystories_valid_head.txt", qp_assets_dir());
        text = def_text;
    }

    Model m;
    ckpt_meta meta;
    session_model_from_checkpoint(model, ckpt, 0, &m, &meta);
    const ModelConfig *cfg = &m.cfg;
    int packed = merge_has_packed_base(&m);
    if (to_l2c && m.head != HEAD_LM) qp_die("%s: llama2.c files have no classification/regression head; use --to hf", ckpt);
    if (to_l2c && (cfg->norm_eps != 1e-5f || cfg->rope_theta != 10000.0f))
        qp_die("%s: a llama2.c header cannot carry rms_norm_eps %g / rope_theta %g; use --to hf", model, (double)cfg->norm_eps,
               (double)cfg->rope_theta);
    if (to_peft && (m.rank <= 0 || m.train == TRAIN_FULL))
        qp_die("%s: --to peft needs LoRA adapters, found %s", ckpt, m.train == TRAIN_FULL ? "a full fine-tuning checkpoint" : "none");
    char targets[256] = "";
    ckpt_mask_to_names(m.rank > 0 ? m.target_mask : 0, targets, sizeof targets);
    char fmtname[64] = "fp32";
    if (packed) quant_format_name(&meta.quant, fmtname, sizeof fmtname);
    printf("merge %s over %s: mode %s, rank %d, alpha %g, targets %s, base %s, head %s, adapter quant %s\n", ckpt, model,
           meta.mode, m.rank, (double)m.alpha, targets[0] ? targets : "-", fmtname, ckpt_head_name(m.head),
           adapter_quant_names[m.adapter_quant]);

    if (lossless && qer_check_model(&m, &st)) qp_die("%s: %s", ckpt, st.msg);  // refuse before any work
    if (lossless && qer_steps > 0 && m.adapter_quant == AQUANT_SAME)
        qp_die("%s: trained with --adapter-quant same, its model is the quantized-adapter model already; "
               "--qer-steps would change it (merge without it)", ckpt);
    if (to_peft && m.adapter_quant == AQUANT_SAME)
        qp_die("%s: trained with --adapter-quant same (W_qer on the base's grid); PEFT's W + s*B*A cannot express "
               "it: use --to hf or --lossless", ckpt);
    // GGUF: llama.cpp's llama architecture has no classification head; which linears sit on an
    // exact MXINT grid (QER-trained or --lossless: all packed ones; else the un-adapted packed ones).
    unsigned packed_mask = 0;
    for (int i = 0; m.qbase && i < cfg->n_layers * LIN_COUNT; i++) packed_mask |= m.qbase[i] ? 1u << (i % LIN_COUNT) : 0u;
    const int gguf_expect = packed ? gguf_cli_exact_type(&meta.quant) : -1;
    const int on_grid = lossless || m.adapter_quant == AQUANT_SAME;
    if (to_gguf || to_glora) {
        if (to_glora && (m.rank <= 0 || m.train == TRAIN_FULL))
            qp_die("%s: --to gguf-lora needs LoRA adapters, found %s", ckpt, m.train == TRAIN_FULL ? "a full fine-tuning checkpoint (use --to gguf)" : "none");
        if (to_glora && m.adapter_quant == AQUANT_SAME)
            qp_die("%s: trained with --adapter-quant same (W_qer on the base's grid); llama.cpp's W + s*B*A cannot express "
                   "it: use --to gguf (exact at the base's bits)", ckpt);
        if (on_grid || to_glora) gguf_cli_check_type(gt, gguf_expect, fmtname);
        if (m.head != HEAD_LM)
            printf("note: llama.cpp's llama architecture has no %s head: the GGUF holds the language model only; "
                   "the head (%d labels) is left out\n", ckpt_head_name(m.head), cfg->n_labels);
    }
    char *tok_path = session_tokenizer_path(model, tok);  // NULL: merge works without one
    int B, T;
    char batch_what[PATH_MAX + 128];
    int *ids = check_batch(tok_path, text, cfg, &B, &T, batch_what, sizeof batch_what);
    model_alloc_acts(&m, B, T);

    // W' = W~ + s·B·A, then the check on the weights exactly as a reader gets them: rounded to
    // --dtype; for PEFT, its merge over the written base: round(W~) + (W' - W~), head in fp32.
    // PEFT reproduces qpeft's model only over the same W~: a quantized base (or one PEFT cannot
    // read, a llama2.c file) is written beside the adapters as base/, an HF directory.
    int need_base = (to_peft && (packed || !is_dir(model))) || to_glora;
    ModelConfig mc, bc;
    ModelWeights mw, bw = {0};
    if (merge_weights(&m, &mc, &mw, &st) != 0) qp_die("%s", st.msg);
    if (need_base && merge_base_weights(&m, &bc, &bw, &st) != 0) qp_die("%s", st.msg);
    double mx, mse;
    {
        Model mm;
        model_over_copy(&mm, &mc, &mw, m.head, B, T);
        if (to_peft) {
            for (size_t i = 0; bw.mem && i < bw.n_floats; i++)
                mm.w.mem[i] = export_dtype_round(bw.mem[i], dt) + (mw.mem[i] - bw.mem[i]);
        } else {
            merge_round_weights(&mm.w, dt);
            size_t nh = mm.w.score ? (size_t)mm.cfg.n_labels * mm.cfg.dim : 0;  // the head sits in the trainable block
            for (size_t i = 0; i < nh; i++) mm.w.score[i] = export_dtype_round(mm.w.score[i], dt);
        }
        merge_logits_diff(&m, &mm, ids, B, T, &mx, &mse);
        char what[96];
        if (to_peft) snprintf(what, sizeof what, "PEFT's merge over base %s", need_base ? export_dtype_name(dt) : "as loaded");
        else snprintf(what, sizeof what, "%s", export_dtype_name(dt));
        printf("check: merged (%s) vs unmerged logits on %s: max |dlogit| %.3g, mean dlogit^2 %.3g\n", what, batch_what, mx, mse);
        model_free(&mm);
    }
    if (!isfinite(mx)) qp_die("%s: the merged model's logits are not finite; the checkpoint may be corrupt", ckpt);

    // --requant: quantize W' and measure what that costs against the unmerged model.
    Model qm;
    merge_quant_error qe = {0};
    double qmx = 0, qmse = 0;
    char qname[64] = "";
    if (requant) {
        model_over_copy(&qm, &mc, &mw, m.head, B, T);
        model_quantize_base(&qm, &qf, (1u << LIN_COUNT) - 1);
        merge_requant_error(&qm, &qe);
        merge_logits_diff(&m, &qm, ids, B, T, &qmx, &qmse);
        quant_format_name(&qf, qname, sizeof qname);
        printf("requant %s: weight error ||W'-dq(q(W'))||/||W'|| %.5f over %d linears (worst %.5f: layer %d %s); "
               "logits vs unmerged: max |dlogit| %.4g, mean dlogit^2 %.4g\n",
               qname, qe.rel, qe.n_tensors, qe.worst_rel, qe.worst_layer, qe.worst_layer >= 0 ? lin_names[qe.worst_kind] : "-",
               qmx, qmse);
    }

    // --lossless: QER's merge on codes (trainer/qer_cli.h), checked and reported there.
    QuantTensor **qer_bases = NULL;
    qer_cli_result qr = {0};
    if (lossless) {
        static char def_qtext[PATH_MAX];
        if (!qer_text) {
            snprintf(def_qtext, sizeof def_qtext, "%s/text/tinystories_train_head.txt", qp_assets_dir());
            qer_text = def_qtext;
        }
        if (qer_steps > 0 && !tok_path) qp_die("--qer-steps needs a tokenizer for %s (--tokenizer)", qer_text);
        qer_cli_opts qo = {qer_text, tok_path, qer_samples, cfg->max_seq_len < 256 ? cfg->max_seq_len : 256, qer_steps, qer_lr, qer_penalty};
        qer_bases = qer_cli_merge(&m, &qo, ids, B, T, &qr);
    }

    // Everything goes into a staging directory renamed into place at the end.
    export_stage sg;
    if (export_stage_begin(&sg, out, &st) != 0) qp_die("%s", st.msg);
    char path[EXPORT_PATH_MAX + 64];
    int rc = 0;
    const char *labels = ckpt_extra_get(&meta, "labels");
    char base_abs[PATH_MAX * 2] = "";
    export_gguf_report grep_ = {0}, grep_base = {0};
    if (to_hf) {
        export_hf_opts o = {dt, m.head, labels, tok_path};
        rc = export_write_hf(sg.tmp, &mc, &mw, &o, &st);
    } else if (to_gguf) {
        ModelConfig gc = mc;
        gc.n_labels = 0;
        if (lossless) merge_fill_packed(&mw, &mc, qer_bases);  // W_qer's exact codes (checked bit for bit above)
        snprintf(path, sizeof path, "%s/model.gguf", sg.tmp);
        rc = gguf_cli_write_model(path, &gc, &mw, gt, on_grid ? packed_mask : packed_mask & ~m.target_mask, gguf_expect, tok_path,
                                  ckpt, &grep_, &st);
    } else if (to_glora) {
        ModelConfig gc = bc;
        gc.n_labels = 0;
        snprintf(path, sizeof path, "%s/adapter.gguf", sg.tmp);
        rc = export_write_gguf_lora(path, &m, ckpt, &st);
        snprintf(path, sizeof path, "%s/base.gguf", sg.tmp);
        if (!rc) printf("base.gguf: the base W~ the adapters were trained over (%s%s)\n", fmtname, packed ? ", dequantized" : "");
        if (!rc) rc = gguf_cli_write_model(path, &gc, &bw, gt, packed_mask, gguf_expect, tok_path, model, &grep_base, &st);
    } else if (to_l2c) {
        snprintf(path, sizeof path, "%s/model.bin", sg.tmp);
        rc = export_write_llama2c(path, &mc, &mw, &st);
        if (!rc && tok_path) { snprintf(path, sizeof path, "%s/%s", sg.tmp, tokenizer_copy_name(tok_path)); rc = export_copy_file(tok_path, path, &st); }
    } else if (to_peft) {
        if (need_base) {
            snprintf(path, sizeof path, "%s/base", sg.tmp);
            export_hf_opts o = {dt, m.head, labels, tok_path};
            if (mkdir(path, 0777) != 0) rc = qp_fail(&st, "%s: a new directory, found an error (%s)", path, strerror(errno));
            if (!rc) rc = export_write_hf(path, &bc, &bw, &o, &st);
            char parent[PATH_MAX], *pc = xstrdup(sg.dir);
            if (realpath(dirname(pc), parent)) {
                char *bn = xstrdup(sg.dir);
                snprintf(base_abs, sizeof base_abs, "%s/%s/base", parent, basename(bn));
                free(bn);
            }
            free(pc);
        } else if (!realpath(model, base_abs)) {
            snprintf(base_abs, sizeof base_abs, "%s", model);
        }
        export_peft_opts po = {base_abs, recorded_dropout(&meta, ckpt)};
        if (!rc) rc = export_write_peft(sg.tmp, &m, &po, &st);
        if (!rc && tok_path) { snprintf(path, sizeof path, "%s/%s", sg.tmp, tokenizer_copy_name(tok_path)); rc = export_copy_file(tok_path, path, &st); }
    }
    if (!rc && requant) {
        snprintf(path, sizeof path, "%s/model.qm", sg.tmp);
        rc = qmodel_save(path, &qm.cfg, &qm.w, qm.qbase, (1u << LIN_COUNT) - 1, &st);
    }
    if (!rc && lossless) {
        unsigned qmask = 0;
        for (int k = 0; k < LIN_COUNT; k++) qmask |= qer_bases[k] ? 1u << k : 0u;
        snprintf(path, sizeof path, "%s/model.qm", sg.tmp);
        rc = qmodel_save(path, &mc, &mw, qer_bases, qmask, &st);
    }
    if (rc) { export_stage_abort(&sg); qp_die("%s", st.msg); }
    if (export_stage_commit(&sg, &st) != 0) qp_die("%s", st.msg);
    const char *what_type = to_l2c ? "" : to_peft ? "adapters f32" : to_gguf ? export_dtype_name(gt) : to_glora ? "adapters f32 + base" : export_dtype_name(dt);
    printf("wrote %s/ (%s%s%s):\n", sg.dir, to, to_l2c ? "" : " ", what_type);
    list_dir(sg.dir, "");
    if (to_glora)
        printf("note: llama.cpp applies adapter.gguf as W + (alpha/r)*B*A over base.gguf (%s): `llama-cli -m base.gguf "
               "--lora adapter.gguf`\n", grep_base.n_lossy ? "ROUNDED: see its weight error above" : "exactly W~");
    if (to_peft)
        printf("note: PEFT merges W + (lora_alpha/r)*B*A over base %s; with another base (e.g. the unquantized original "
               "of a quantized run) the result differs from this checkpoint's model\n", base_abs);
    // Last line: one JSON object for scripts.
    printf("{\"out\": ");
    json_write_str(stdout, sg.dir);
    printf(", \"to\": \"%s\", \"dtype\": \"%s\", \"adapter_quant\": \"%s\", \"max_abs_dlogit\": %.6g, \"mse_dlogit\": %.6g",
           to, to_peft || to_glora ? "f32" : to_gguf ? export_dtype_name(gt) : export_dtype_name(dt), adapter_quant_names[m.adapter_quant], mx, mse);
    export_gguf_report *gr = to_gguf ? &grep_ : to_glora ? &grep_base : NULL;
    if (gr)
        printf(", \"gguf\": {\"bytes\": %llu, \"bits_per_weight\": %.6g, \"linear_bits_per_weight\": %.6g, \"q4_0\": %d, "
               "\"q8_0\": %d, \"f16\": %d, \"bf16\": %d, \"f32\": %d, \"lossy_tensors\": %d, \"weight_rel_err\": %.6g, \"fallbacks\": %d}",
               (unsigned long long)gr->bytes, gr->bits_per_weight, gr->linear_bits_per_weight, gr->n_by_type[EXPORT_Q4_0],
               gr->n_by_type[EXPORT_Q8_0], gr->n_by_type[EXPORT_F16], gr->n_by_type[EXPORT_BF16], gr->n_by_type[EXPORT_F32],
               gr->n_lossy, gr->rel_err, gr->n_fallback);
    if (requant)
        printf(", \"requant\": {\"format\": \"%s\", \"weight_rel_err\": %.6g, \"max_abs_dlogit\": %.6g, \"mse_dlogit\": %.6g}", qname,
               qe.rel, qmx, qmse);
    if (lossless)
        printf(", \"lossless\": {\"bits_per_weight\": %.6g, \"codes\": %lld, \"changed\": %lld, \"overflow\": %lld, "
               "\"weight_rel_err\": %.6g, \"rel_quant\": %.6g, \"rel_overflow\": %.6g, \"max_abs_dlogit_vs_unmerged\": %.6g, "
               "\"max_abs_dlogit\": %.6g, \"mse_dlogit\": %.6g, \"calib_steps\": %d",
               qr.bits_per_weight, (long long)qr.rep.codes.n_codes, (long long)qr.rep.codes.n_changed,
               (long long)qr.rep.codes.n_overflow, qr.rep.rel_err, qr.rep.rel_quant, qr.rep.rel_overflow, qr.eq_max_abs,
               qr.fp_max_abs, qr.fp_mse, qer_steps);
    if (lossless && qr.ckpt_qer)
        printf(", \"max_abs_dlogit_vs_checkpoint\": %.6g, \"bits_differ_vs_checkpoint\": %lld", qr.ckpt_max_abs,
               qr.ckpt_bits_differ);
    if (lossless) printf("}");
    printf("}\n");
    qmodel_free_bases(qer_bases, cfg->n_layers);
    if (requant) model_free(&qm);
    weights_free(&bw);
    weights_free(&mw);
    free(ids);
    free(tok_path);
    model_free(&m);
    return 0;
}
