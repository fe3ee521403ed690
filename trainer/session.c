// trainer/session.c — model/tokenizer lookup shared by the CLI verbs.
// Tested by tests/test_cli.sh (missing tokenizer, missing model messages).
#include "trainer/session.h"
#include "model/load_gguf.h"
#include "core/check.h"
#include <errno.h>
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

void session_load_model(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase, unsigned *qmask) {
    qp_status st = {0};
    if (!path) qp_die("--model is required");
    struct stat sb;
    if (stat(path, &sb) != 0)
        qp_die("%s: %s", path, errno == ENOENT ? "no such model file or directory" : strerror(errno));
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
        qp_die("%s: not a model file or directory (a device, pipe or socket); give a llama2.c .bin, a qpeft .qm or an "
               "HF directory", path);
    if (qbase) *qbase = NULL;
    if (qmask) *qmask = 0;
    if (qmodel_is_file(path)) {
        if (qmodel_load(path, cfg, w, qbase, qmask, &st) != 0) qp_die("%s", st.msg);
        return;
    }
    if (gguf_is_file(path)) {  // a GGUF base keeps its linears packed in their own ggml types
        if (gguf_load_model(path, cfg, w, qbase, qmask, &st) != 0) qp_die("%s", st.msg);
        return;
    }
    if (model_load_weights(path, cfg, w, &st) != 0) qp_die("%s", st.msg);
}

int session_is_packed_file(const char *path) { return qmodel_is_file(path) || gguf_is_file(path); }

void session_open(Session *s, const char *model, const char *tokenizer, int flags) {
    memset(s, 0, sizeof *s);
    session_load_model(model, &s->cfg, &s->w, flags & SESSION_PACKED ? &s->qbase : NULL,
                       flags & SESSION_PACKED ? &s->qmask : NULL);
    if (flags & SESSION_TOKENIZER) session_open_tokenizer(s, model, tokenizer);
}

void session_open_tokenizer(Session *s, const char *model, const char *tokenizer) {
    if (s->tok) return;
    s->tok = session_load_tokenizer(model, tokenizer);
    session_check_vocab(s->tok, &s->cfg);
}

void session_install_qbase(Model *m, QuantTensor ***qbase) {
    if (qbase) qmodel_install(m, qbase);
}

double session_quantize_base(Model *m, const char *model_path, const char *format, int block, int double_quant,
                             const char *modules) {
    if (!format) {
        if (block || double_quant || modules) qp_die("--block, --double-quant and --modules need --format");
        return 0;
    }
    qp_status st = {0};
    quant_format fmt;
    if (quant_parse_format(format, block, double_quant, &fmt, &st) != 0) qp_die("--format: %s", st.msg);
    if (fmt.kind == QUANT_F32) qp_die("--format f32 quantizes nothing; omit --format for the fp32 model");
    unsigned mask = (1u << LIN_COUNT) - 1;
    if (modules && (ckpt_mask_from_names(modules, &mask) != 0 || mask == 0))
        qp_die("--modules '%s': expected a non-empty comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", modules);
    if (model_path && qmodel_is_file(model_path))
        qp_die("--format: %s is already a quantized model; give the fp32 model to quantize in process", model_path);
    if (model_path && gguf_is_file(model_path)) {  // the file's own types: --format may only name them
        for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++)
            if (m->qbase[i] && quant_tensor_format(m->qbase[i])->kind != fmt.kind)
                qp_die("--format %s contradicts %s, whose %s linears are %s (a GGUF base brings its own types; omit --format)",
                       format, model_path, lin_names[i % LIN_COUNT], quant_format_name(quant_tensor_format(m->qbase[i]), NULL, 0));
    } else {
        model_quantize_base(m, &fmt, mask);
    }
    return session_packed_format(m->qbase, m->cfg.n_layers * LIN_COUNT, NULL);
}

double session_packed_format(QuantTensor *const *qbase, int n, quant_format *fmt) {
    double bits = 0, nw = 0;
    for (int i = 0; i < n; i++) {
        const QuantTensor *q = qbase[i];
        if (!q) continue;
        if (fmt && nw == 0) *fmt = *quant_tensor_format(q);
        double k = (double)quant_tensor_rows(q) * quant_tensor_cols(q);
        bits += quant_tensor_bits_per_weight(q) * k;
        nw += k;
    }
    return nw > 0 ? bits / nw : 0;
}

// The only *.model file in dir, or NULL.
static char *single_model_file(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *found = NULL; int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 6 && !strcmp(e->d_name + len - 6, ".model")) {
            n++;
            free(found);
            size_t sz = strlen(dir) + len + 2;
            found = xmalloc(sz);
            snprintf(found, sz, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    if (n != 1) { free(found); return NULL; }
    return found;
}

char *session_tokenizer_path(const char *model_path, const char *tok_opt) {
    if (tok_opt) return xstrdup(tok_opt);
    char *tmp = xstrdup(model_path);
    const char *dir = is_dir(model_path) ? model_path : dirname(tmp);
    size_t sz = strlen(dir) + 32;
    char *path = xmalloc(sz);
    snprintf(path, sz, "%s/tokenizer.model", dir);
    if (!is_file(path)) {
        free(path);
        path = single_model_file(dir);
    }
    if (!path) {  // Llama-3, Qwen, SmolLM2: only the HF tokenizer.json
        path = xmalloc(sz);
        snprintf(path, sz, "%s/tokenizer.json", dir);
        if (!is_file(path)) { free(path); path = NULL; }
    }
    free(tmp);
    return path;
}

Tokenizer *session_load_tokenizer(const char *model_path, const char *tok_opt) {
    qp_status st = {0};
    if (!tok_opt && gguf_is_file(model_path)) {  // the file's own vocabulary (tokenizer.ggml.*)
        Tokenizer *t = tok_load_gguf(model_path, &st);
        if (!t) qp_die("%s", st.msg);
        return t;
    }
    char *path = session_tokenizer_path(model_path, tok_opt);
    if (!path) {
        char *tmp = xstrdup(model_path);
        qp_die("%s: no tokenizer.model (or single *.model) or tokenizer.json next to the model; give --tokenizer FILE",
               is_dir(model_path) ? model_path : dirname(tmp));
    }
    Tokenizer *t = tok_load(path, &st);
    if (!t) qp_die("%s", st.msg);
    free(path);
    return t;
}

void session_check_vocab(const Tokenizer *tk, const ModelConfig *cfg) {
    // Qwen's embedding has more rows (151936) than its tokenizer has ids (151669): the extra rows
    // are never produced. A tokenizer with ids past the model's rows cannot be used.
    if (tok_vocab_size(tk) > cfg->vocab_size || (!tok_is_bpe(tk) && tok_vocab_size(tk) != cfg->vocab_size))
        qp_die("tokenizer has %d pieces but the model's vocabulary is %d", tok_vocab_size(tk), cfg->vocab_size);
}

void session_add_head(ModelConfig *cfg, ModelWeights *w, int n_labels, qp_rng *rng) {
    if (cfg->n_labels == n_labels) return;
    qp_status st = {0};
    ModelConfig c2 = *cfg;
    c2.n_labels = n_labels;
    ModelWeights w2;
    if (weights_alloc_packed(&w2, &c2, w->packed_mask, &st) != 0) qp_die("%s", st.msg);
    w2.hash = w->hash;
    // Every tensor but the head sits at the same offset in both layouts (the head comes last).
    size_t base = w->n_floats - (size_t)cfg->n_labels * cfg->dim;
    memcpy(w2.mem, w->mem, base * sizeof(float));
    size_t keep = (size_t)(cfg->n_labels < n_labels ? cfg->n_labels : n_labels) * cfg->dim;
    if (keep) memcpy(w2.score, w->score, keep * sizeof(float));
    for (size_t i = keep; i < (size_t)n_labels * cfg->dim; i++) w2.score[i] = 0.02f * rng_normal(rng);
    weights_free(w);
    *w = w2;
    *cfg = c2;
}

void session_hash(const ModelWeights *w, const ModelConfig *cfg, char hex[17]) {
    weights_hash_hex(weights_hash(w, cfg), hex);
}

void session_model_from_checkpoint(const char *model_path, const char *ckpt, int for_training, Model *m,
                                   ckpt_meta *meta) {
    qp_status st = {0};
    ModelConfig ccfg, cfg;
    ModelWeights w;
    QuantTensor **qbase = NULL;
    unsigned qmask = 0;
    if (ckpt_read_meta(ckpt, meta, &ccfg, &st) != 0) qp_die("%s", st.msg);
    session_load_model(model_path, &cfg, &w, &qbase, &qmask);
    char hex[17];
    session_hash(&w, &cfg, hex);
    if (strcmp(hex, meta->model_hash))
        qp_die("%s: checkpoint was made for base model hash %s, but %s hashes to %s", ckpt, meta->model_hash,
               model_path, hex);
    if (meta->head != HEAD_LM) {
        qp_rng rng;
        rng_seed(&rng, 0);  // overwritten by the checkpoint's head
        session_add_head(&cfg, &w, ccfg.n_labels, &rng);
    }
    train_kind tk = for_training ? meta->train : TRAIN_NONE;
    if (meta->train == TRAIN_FULL && !for_training) tk = TRAIN_FULL;  // full checkpoints replace every weight
    if (model_init(m, &cfg, &w, meta->train == TRAIN_FULL ? 0 : meta->rank, meta->alpha, meta->target_mask,
                   meta->head, tk, &st) != 0)
        qp_die("%s: %s", ckpt, st.msg);
    if (qbase) session_install_qbase(m, &qbase);  // a .qm base: the stored packed tensors
    else if (meta->quant_mixed) qp_die("%s: its base mixes packed formats (a GGUF base); give that GGUF file as --model", ckpt);
    else if (meta->quant_mask) model_quantize_base(m, &meta->quant, meta->quant_mask);
    m->adapter_quant = meta->adapter_quant;  // QER-trained: eval/merge run the quantized-adapter model
    if (ckpt_load(ckpt, m, hex, meta, NULL, NULL, NULL, &st) != 0) qp_die("%s", st.msg);
}

compute_kind session_compute(const char *name) {
    int k = compute_parse(name);
    if (k < 0) qp_die("--compute must be f32 or bf16, got '%s'", name);
    return (compute_kind)k;
}
