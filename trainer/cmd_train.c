// trainer/cmd_train.c — `qpeft train`: resolve flags into a model (mode, quantized base,
// adapters and their initialisation, task head), a task and a TrainConfig, then run the loop
// of trainer/train.c. Tested by tests/test_train.sh.
#include "core/check.h"
#include "core/la.h"
#include "init/adapter_init.h"
#include "init/qer.h"
#include "quant/quant.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/train.h"
#include "trainer/train_setup.h"
#include "trainer/verbs.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *tok, *task, *data, *tsv, *text_cols, *label_col, *dev, *text, *mode, *format, *init;
    const char *calib_text, *calib_stats, *schedule, *targets, *resume, *out, *adapter_quant;
    int block, double_quant, rank, batch, epochs, max_steps, warmup, grad_accum, seed, threads, save_every;
    int evals, eval_every, log_every, max_len, seq_len, bucket, regression, skip_bad_rows, loftq_iters, eval_batch;
    double alpha, lr, warmup_ratio, wd, beta1, beta2, eps, clip, dropout;
} TrainFlags;

static const char *SYNOPSIS =
    "--model M [--tokenizer T] (--task NAME --data DIR | --tsv FILE --text-cols a[,b] --label-col c --dev FILE | "
    "--text FILE) [--mode full|lora|qpeft] [--format F --block N] [--rank R --alpha A] [--init METHOD] "
    "[--adapter-quant none|same] "
    "[--calib-text FILE | --calib-stats H5] [--batch B] [--lr LR] [--epochs E | --max-steps N] [--warmup STEPS | "
    "--warmup-ratio R] [--schedule linear|cosine|constant] [--weight-decay WD] [--clip C] [--grad-accum K] "
    "[--seed S] [--threads N] [--save-every N] [--resume CKPT] --out DIR";

// JSON string body of s (quotes, backslashes and control characters escaped).
static void json_escape(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
        else if (c < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        else out[n++] = (char)c;
    }
    out[n] = 0;
}

// Quote argv back into one shell-readable line for config.json and checkpoints.
static void join_command(int argc, char **argv, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "qpeft");
    for (int i = 1; i < argc && n < cap; i++) {
        int plain = argv[i][0] && strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+") ==
                                      strlen(argv[i]);
        n += (size_t)snprintf(buf + n, cap - n, plain ? " %s" : " '%s'", argv[i]);
    }
}

// --adapter-quant: refused before any work for a mode other than qpeft, a non-MXINT --format,
// or adapter dropout (the adapter is merged into the weight, there is no separate path to drop);
// without --dropout the mode trains with none. Returns the mode.
static int check_adapter_quant(TrainFlags *f, int dropout_seen) {
    int aq = adapter_quant_parse(f->adapter_quant);
    if (aq < 0) qp_die("--adapter-quant must be none or same, got '%s'", f->adapter_quant);
    if (aq == AQUANT_NONE) return AQUANT_NONE;
    const char *mode = f->mode ? f->mode : f->format ? "qpeft" : "lora";
    if (strcmp(mode, "qpeft"))
        qp_die("--adapter-quant same needs --mode qpeft with an MXINT --format (e.g. mxint4); found --mode %s", mode);
    qp_status st = {0};
    quant_format qf;
    if (!f->format) qp_die("--adapter-quant same needs an MXINT --format (e.g. mxint4)");
    if (quant_parse_format(f->format, f->block, f->double_quant, &qf, &st) != 0) qp_die("--format: %s", st.msg);
    if (quant_qer_check_format(&qf, &st) != 0) qp_die("--adapter-quant same: %s", st.msg);
    if (dropout_seen && f->dropout > 0)
        qp_die("--adapter-quant same has no adapter dropout (the adapter is merged into the weight); use --dropout 0");
    f->dropout = 0;
    return AQUANT_SAME;
}

int cmd_train(int argc, char **argv) {
    TrainFlags f;
    memset(&f, 0, sizeof f);
    qp_opt opts[] = {
        {"--model", OPT_STR, &f.model, NULL, "base model: llama2.c .bin, HF directory or qpeft model file", 1, 0, 0},
        {"--tokenizer", OPT_STR, &f.tok, NULL, "tokenizer.json or SentencePiece .model (default: beside the model)", 1, 0, 0},
        {"--task", OPT_STR, &f.task, NULL, "GLUE task: cola sst2 mrpc rte stsb wnli qnli mnli qqp", 1, 0, 0},
        {"--data", OPT_STR, &f.data, NULL, "GLUE directory holding <TASK>/{train,dev}.tsv (default: the assets' glue/)", 1, 0, 0},
        {"--tsv", OPT_STR, &f.tsv, NULL, "generic task: training table (TSV, or CSV with quotes if *.csv)", 1, 0, 0},
        {"--text-cols", OPT_STR, &f.text_cols, NULL, "generic task: text column(s), names or 0-based indices, a[,b]", 1, 0, 0},
        {"--label-col", OPT_STR, &f.label_col, NULL, "generic task: label column", 1, 0, 0},
        {"--regression", OPT_FLAG, &f.regression, NULL, "generic task: the label is a real number (MSE head)", 1, 0, 0},
        {"--dev", OPT_STR, &f.dev, NULL, "evaluation file of a generic task or of --text (text default: last 5% of windows)", 1, 0, 0},
        {"--text", OPT_STR, &f.text, NULL, "language-modelling fine-tuning on a plain-text file", 1, 0, 0},
        {"--skip-bad-rows", OPT_FLAG, &f.skip_bad_rows, NULL, "skip malformed table rows (counted) instead of failing", 1, 0, 0},
        {"--max-len", OPT_INT, &f.max_len, "128", "tokens per example (pairs truncated longest-first)", 3, 1 << 16, 0},
        {"--seq-len", OPT_INT, &f.seq_len, "0", "LM window length; 0 = the model's context", 0, 1 << 20, 0},
        {"--mode", OPT_STR, &f.mode, NULL, "full | lora | qpeft (default: qpeft with --format, else lora)", 1, 0, 0},
        {"--format", OPT_STR, &f.format, NULL, "base quantization: nf4 fp4 nf3 nf2 mxint2..8 int2..8 bf16 fp16", 1, 0, 0},
        {"--block", OPT_INT, &f.block, "0", "quantization block size; 0 = the format's default", 0, 4096, 0},
        {"--double-quant", OPT_FLAG, &f.double_quant, NULL, "nf4/fp4: quantize the absmax scales (bitsandbytes)", 1, 0, 0},
        {"--rank", OPT_INT, &f.rank, "8", "adapter rank R", 1, 4096, 0},
        {"--alpha", OPT_FLOAT, &f.alpha, "0", "adapter alpha (scale alpha/R); 0 = 2*rank", 0, 1e6, 0},
        {"--targets", OPT_STR, &f.targets, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "adapted linears", 1, 0, 0},
        {"--init", OPT_STR, &f.init, "qlora", "adapter init: qlora loftq zeroquant-v2 lqer qera-approx qera-exact srr", 1, 0, 0},
        {"--loftq-iters", OPT_INT, &f.loftq_iters, "5", "LoftQ alternations", 1, 100, 0},
        {"--calib-text", OPT_STR, &f.calib_text, NULL, "calibration text for lqer/qera-*/srr (default: the task's training split)", 1, 0, 0},
        {"--calib-stats", OPT_STR, &f.calib_stats, NULL, "calibration statistics from `qpeft calibrate`", 1, 0, 0},
        {"--adapter-quant", OPT_STR, &f.adapter_quant, "none", "none | same: adapters in the MXINT base's format, merged on its grid (QER; qpeft mode)", 1, 0, 0},
        {"--dropout", OPT_FLOAT, &f.dropout, "0.1", "adapter dropout probability (the paper's GLUE runs: 0.1; 0 with --adapter-quant same)", 0, 0.95, 0},
        {"--batch", OPT_INT, &f.batch, "16", "examples per micro-batch", 1, 65536, 0},
        {"--eval-batch", OPT_INT, &f.eval_batch, "0", "examples per evaluation batch; 0 = --batch", 0, 65536, 0},
        {"--grad-accum", OPT_INT, &f.grad_accum, "1", "micro-batches per optimizer step", 1, 65536, 0},
        {"--lr", OPT_FLOAT, &f.lr, "2e-4", "peak learning rate", 0, 10, 0},
        {"--epochs", OPT_INT, &f.epochs, "3", "epochs (ignored with --max-steps)", 1, 1e6, 0},
        {"--max-steps", OPT_INT, &f.max_steps, "0", "optimizer steps; 0 = --epochs", 0, 1e9, 0},
        {"--warmup", OPT_INT, &f.warmup, "0", "warm-up steps (wins over --warmup-ratio)", 0, 1e9, 0},
        {"--warmup-ratio", OPT_FLOAT, &f.warmup_ratio, "0.06", "warm-up as a fraction of the steps", 0, 1, 0},
        {"--schedule", OPT_STR, &f.schedule, "linear", "linear | cosine | constant (after warm-up)", 1, 0, 0},
        {"--weight-decay", OPT_FLOAT, &f.wd, "0.01", "AdamW decoupled weight decay (none on norms)", 0, 10, 0},
        {"--beta1", OPT_FLOAT, &f.beta1, "0.9", "AdamW beta1", 0, 0.999999, 0},
        {"--beta2", OPT_FLOAT, &f.beta2, "0.999", "AdamW beta2", 0, 0.999999999, 0},
        {"--eps", OPT_FLOAT, &f.eps, "1e-8", "AdamW epsilon", 1e-30, 1, 0},
        {"--clip", OPT_FLOAT, &f.clip, "1.0", "global gradient-norm clipping; 0 = off", 0, 1e9, 0},
        {"--bucket", OPT_INT, &f.bucket, "0", "length bucketing: sort runs of K batches by length; 0 = off", 0, 1024, 0},
        {"--seed", OPT_INT, &f.seed, "42", "seed of adapter init, head init, data order and dropout", 0, 2147483647, 0},
        {"--threads", OPT_INT, &f.threads, "0", "OpenMP/BLAS threads; 0 = all cores", 0, 1024, 0},
        {"--log-every", OPT_INT, &f.log_every, "1", "log every N steps", 0, 1e9, 0},
        {"--eval-every", OPT_INT, &f.eval_every, "0", "also evaluate every N steps (always each epoch and at the end)", 0, 1e9, 0},
        {"--evals", OPT_INT, &f.evals, "0", "also evaluate N times evenly over the run (unless --eval-every)", 0, 1e6, 0},
        {"--save-every", OPT_INT, &f.save_every, "0", "write DIR/step-N.h5 every N steps", 0, 1e9, 0},
        {"--resume", OPT_STR, &f.resume, NULL, "continue from a checkpoint written by this run's flags", 1, 0, 0},
        {"--out", OPT_STR, &f.out, NULL, "run directory (config.json, log.jsonl, last.h5, best.h5)", 1, 0, 0},
    };
    opts_parse("train", SYNOPSIS, opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!f.out) qp_die("qpeft train: --out DIR is required");
    if (f.threads > 0) la_set_threads(f.threads);
    int aq = check_adapter_quant(&f, opts_seen(opts, sizeof opts / sizeof opts[0], "--dropout"));

    SetupRequest rq;
    memset(&rq, 0, sizeof rq);
    rq.model = f.model; rq.tokenizer = f.tok; rq.mode = f.mode; rq.format = f.format; rq.block = f.block;
    rq.double_quant = f.double_quant; rq.rank = f.rank; rq.alpha = f.alpha; rq.targets = f.targets; rq.init = f.init;
    rq.loftq_iters = f.loftq_iters; rq.calib_text = f.calib_text; rq.calib_stats = f.calib_stats; rq.seed = (uint64_t)f.seed;
    rq.for_training = 1;
    TaskSpec ts = {f.task, f.data, f.tsv, f.text_cols, f.label_col, f.regression, f.dev, f.text, f.max_len,
                   f.seq_len, f.skip_bad_rows};
    rq.task = &ts;
    Setup su;
    setup_build(&rq, &su);
    if (aq == AQUANT_SAME) {  // every adapted linear over a packed MXINT base (a .qm base included)
        qp_status qs = {0};
        if (qer_check_model(&su.model, &qs) != 0) qp_die("--adapter-quant same: %s", qs.msg);
        su.model.adapter_quant = AQUANT_SAME;
    }
    su.model.dropout = (float)f.dropout;
    su.model.dropout_seed = (uint64_t)f.seed * 0x9e3779b97f4a7c15ULL + 1;

    TrainConfig tc;
    memset(&tc, 0, sizeof tc);
    static char cmdline[4096], config[32768];
    join_command(argc, argv, cmdline, sizeof cmdline);
    tc.out_dir = f.out; tc.resume = f.resume; tc.mode = su.mode_name; tc.init = su.init_name;
    tc.model_hash = su.model_hash; tc.command_line = cmdline;
    tc.batch = f.batch; tc.grad_accum = f.grad_accum; tc.epochs = f.epochs; tc.max_steps = f.max_steps;
    tc.log_every = f.log_every; tc.eval_every = f.eval_every; tc.evals = f.evals; tc.save_every = f.save_every;
    tc.eval_batch = f.eval_batch ? f.eval_batch : f.batch; tc.bucket = f.bucket;
    tc.lr = f.lr; tc.clip = f.clip;
    tc.adam = adamw_defaults();
    tc.adam.beta1 = f.beta1; tc.adam.beta2 = f.beta2; tc.adam.eps = f.eps; tc.adam.weight_decay = f.wd;
    qp_status st = {0};
    if (sched_parse_kind(f.schedule, &tc.schedule, &st) != 0) qp_die("qpeft train: --schedule: %s", st.msg);
    tc.warmup_steps = f.warmup; tc.warmup_ratio = f.warmup_ratio; tc.seed = (uint64_t)f.seed;
    tc.save_base = su.base_changed;
    static char cmd_json[8192], model_json[4096];
    json_escape(cmdline, cmd_json, sizeof cmd_json);
    json_escape(f.model, model_json, sizeof model_json);
    char head_desc[64];
    snprintf(head_desc, sizeof head_desc, "%s", su.task.head == HEAD_LM ? "lm" : su.task.head == HEAD_CLASSIFY ? "classify" : "regress");
    snprintf(config, sizeof config,
             "{\n  \"command\": \"%s\",\n  \"model\": \"%s\",\n  \"model_hash\": \"%s\",\n  \"task\": \"%s\",\n"
             "  \"head\": \"%s\",\n  \"n_labels\": %d,\n  \"train_examples\": %zu,\n  \"dev_examples\": %zu,\n"
             "  \"mode\": \"%s\",\n  \"format\": \"%s\",\n  \"bits_per_weight\": %.4f,\n  \"rank\": %d,\n  \"alpha\": %g,\n"
             "  \"targets\": \"%s\",\n  \"init\": \"%s\",\n  \"adapter_quant\": \"%s\",\n  \"dropout\": %g,\n  \"batch\": %d,\n  \"grad_accum\": %d,\n"
             "  \"lr\": %g,\n  \"epochs\": %d,\n  \"max_steps\": %d,\n  \"warmup\": %d,\n  \"warmup_ratio\": %g,\n"
             "  \"schedule\": \"%s\",\n  \"weight_decay\": %g,\n  \"beta1\": %g,\n  \"beta2\": %g,\n  \"eps\": %g,\n"
             "  \"clip\": %g,\n  \"seed\": %d,\n  \"threads\": %d,\n  \"max_len\": %d,\n  \"seq_len\": %d,\n"
             "  \"openblas_core\": \"%s\"\n}\n",
             cmd_json, model_json, su.model_hash, su.task.name, head_desc, su.task.n_labels, su.task.train.n,
             su.task.dev.n, su.mode_name, su.format_name, su.bits_per_weight, su.model.rank, su.model.alpha,
             f.targets, su.init_name, adapter_quant_names[aq], f.dropout, f.batch, f.grad_accum, f.lr, f.epochs, f.max_steps, f.warmup,
             f.warmup_ratio, f.schedule, f.wd, f.beta1, f.beta2, f.eps, f.clip, f.seed, la_get_threads(),
             f.max_len, su.task.seq_len, la_corename());
    tc.config_json = config;
    train_run(&tc, &su.model, &su.task);
    setup_free(&su);
    return 0;
}
