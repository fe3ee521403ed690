// trainer/cmd_eval.c — `qpeft eval`: score a saved checkpoint (or, without --checkpoint, a model
// file that carries its head, e.g. a merged model.qm) on a task's dev split (or any TSV/text),
// print the metrics with the last stdout line one JSON object, and optionally write predictions
// as TSV `index<TAB>prediction` in dev-file order. Tested by tests/test_train.sh and
// tests/test_qer_train.sh (a merged model.qm scored without a checkpoint).
#include "core/check.h"
#include "core/dist.h"
#include "core/la.h"
#include "trainer/evaluate.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <string.h>

static void write_predictions(const char *path, const TaskData *td, const EvalBuffers *eb) {
    qp_atomic_file af;
    FILE *fp = qp_atomic_open(&af, path);
    fprintf(fp, "index\tprediction\n");
    for (size_t i = 0; i < td->dev.n; i++) {
        if (td->head == HEAD_CLASSIFY) fprintf(fp, "%zu\t%s\n", i, td->label_names[eb->pred[i]]);
        else fprintf(fp, "%zu\t%.6g\n", i, eb->pred_score[i]);
    }
    qp_atomic_commit(&af);
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *ckpt = NULL, *task = NULL, *data = NULL, *tsv = NULL, *cols = NULL;
    const char *label = NULL, *dev = NULL, *text = NULL, *preds = NULL, *compute = NULL;
    int max_len = 128, seq_len = 0, batch = 32, regression = 0, skip = 0, threads = 0;
    qp_opt opts[] = {
        {"--checkpoint", OPT_STR, &ckpt, NULL, "checkpoint written by qpeft train (last.h5, best.h5, step-N.h5); without it the model file alone is scored (e.g. a merged model.qm)", 1, 0, 0},
        OPT_ROW_MODEL_H(&model, "the base model the checkpoint was trained on (or the model to score)"),
        OPT_ROW_TOKENIZER(&tok),
        {"--task", OPT_STR, &task, NULL, "GLUE task (its dev split is scored)", 1, 0, 0},
        {"--data", OPT_STR, &data, NULL, "GLUE directory (default: the assets' glue/)", 1, 0, 0},
        {"--tsv", OPT_STR, &tsv, NULL, "generic task training table (for its labels) with --dev", 1, 0, 0},
        {"--text-cols", OPT_STR, &cols, NULL, "generic task: text column(s)", 1, 0, 0},
        {"--label-col", OPT_STR, &label, NULL, "generic task: label column", 1, 0, 0},
        {"--regression", OPT_FLAG, &regression, NULL, "generic task: real-valued label", 1, 0, 0},
        {"--dev", OPT_STR, &dev, NULL, "file to score (generic task or text)", 1, 0, 0},
        {"--text", OPT_STR, &text, NULL, "text task: the training text (dev = --dev or its last 5% of windows)", 1, 0, 0},
        {"--skip-bad-rows", OPT_FLAG, &skip, NULL, "skip malformed rows instead of failing", 1, 0, 0},
        {"--max-len", OPT_INT, &max_len, "128", "tokens per example", 3, 1 << 16, 0},
        {"--seq-len", OPT_INT, &seq_len, "0", "LM window; 0 = the model's context", 0, 1 << 20, 0},
        {"--batch", OPT_INT, &batch, "32", "examples per batch", 1, 65536, 0},
        OPT_ROW_THREADS_H(&threads, "threads; 0 = all cores"),
        {"--compute", OPT_STR, &compute, "f32", COMPUTE_OPT_HELP, 1, 0, 0},
        {"--predictions", OPT_STR, &preds, NULL, "write index<TAB>prediction TSV here", 1, 0, 0},
    };
    opts_parse("eval", "[--checkpoint CKPT] --model M [--tokenizer T] (--task T [--data DIR] | --tsv F ... --dev F | "
               "--text F) [--predictions FILE]", opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!model) qp_die("qpeft eval: --model is required");
    if (threads > 0) la_set_threads(threads);
    Model m;
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    Session ses;
    memset(&ses, 0, sizeof ses);
    if (ckpt) {
        session_model_from_checkpoint(model, ckpt, 0, &m, &meta);
        ses.cfg = m.cfg;  // the tokenizer is checked against the checkpoint's model
    } else session_open(&ses, model, NULL, SESSION_PACKED);  // the file alone, e.g. a merged model.qm
    session_open_tokenizer(&ses, model, tok);
    ModelConfig mcfg = ses.cfg; ModelWeights mw = ses.w; QuantTensor **mq = ses.qbase; Tokenizer *tk = ses.tok;
    TaskSpec ts = {task, data, tsv, cols, label, regression, dev, text, max_len,
                   seq_len ? seq_len : (ckpt ? m.cfg.max_seq_len : mcfg.max_seq_len), skip};
    TaskData td;
    qp_status st = {0};
    if (task_load(&td, &ts, tk, &st) != 0) qp_die("%s", st.msg);
    if (!ckpt) {  // the model must carry the task's head itself (a merged .qm / HF export does)
        if ((td.head == HEAD_LM) != (mcfg.n_labels == 0) || (td.head != HEAD_LM && mcfg.n_labels != td.n_labels))
            qp_die("%s: the model has %d head outputs (n_labels), task %s needs %s %d; score a training run with --checkpoint",
                   model, mcfg.n_labels, td.name, td.head == HEAD_LM ? "an LM head," : "a head of", td.head == HEAD_LM ? 0 : td.n_labels);
        if (model_init(&m, &mcfg, &mw, 0, 0, 0, td.head, TRAIN_NONE, &st) != 0) qp_die("%s: %s", model, st.msg);
        session_install_qbase(&m, &mq);
    }
    const char *what = ckpt ? ckpt : model;
    if (td.head != m.head) qp_die("%s: checkpoint has a %s head, task %s needs %s", what, ckpt_head_name(m.head), td.name, ckpt_head_name(td.head));
    if (td.head == HEAD_CLASSIFY && td.n_labels != m.cfg.n_labels)
        qp_die("%s: checkpoint head has %d classes, task %s has %d", what, m.cfg.n_labels, td.name, td.n_labels);
    // Another task's checkpoint would score without complaint when the heads happen to match
    // (MRPC and SST-2 both have two classes). A generic --tsv may hold any task's data.
    if (ckpt && strcmp(meta.task, td.name)) {
        if (strcmp(td.name, "tsv"))
            qp_die("%s: checkpoint was trained on task '%s', not '%s'; give --task %s (or score a table with --tsv)",
                   ckpt, meta.task, td.name, meta.task);
        qp_warn("checkpoint was trained on '%s'; scoring it on a generic table", meta.task);
    }
    int T = td.head == HEAD_LM ? td.seq_len : td.dev.longest;
    model_set_compute(&m, session_compute(compute));
    model_alloc_acts(&m, batch, T);
    EvalBuffers eb;
    eval_buffers_alloc(&eb, batch, T, td.dev.n);
    EvalResult r;
    evaluate(&m, &td, &td.dev, &eb, 1, &r);
    if (preds && dist_is_root()) write_predictions(preds, &td, &eb);
    char js[1024];
    eval_result_json(&r, &td, js, sizeof js);
    if (ckpt) printf("task %s, %zu examples, checkpoint %s (step %lld)\n", td.name, r.n, ckpt, (long long)meta.step);
    else printf("task %s, %zu examples, model %s (no checkpoint)\n", td.name, r.n, model);
    printf("%s\n", js);
    eval_buffers_free(&eb);
    task_free(&td);
    tok_free(tk);
    model_free(&m);
    return 0;
}
