// trainer/session.c — model/tokenizer lookup shared by the CLI verbs.
// Tested by tests/test_cli.sh (missing tokenizer, missing model messages).
#include "trainer/session.h"
#include "core/check.h"
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

void session_load_weights(const char *path, ModelConfig *cfg, ModelWeights *w) {
    session_load_model(path, cfg, w, NULL, NULL);
}

void session_load_model(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase, unsigned *qmask) {
    qp_status st = {0};
    if (!path) qp_die("--model is required");
    if (!is_dir(path) && !is_file(path)) qp_die("%s: no such model file or directory", path);
    if (qbase) *qbase = NULL;
    if (qmask) *qmask = 0;
    if (qmodel_is_file(path)) {
        if (qmodel_load(path, cfg, w, qbase, qmask, &st) != 0) qp_die("%s", st.msg);
        return;
    }
    if (model_load_weights(path, cfg, w, &st) != 0) qp_die("%s", st.msg);
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
    model_quantize_base(m, &fmt, mask);
    double bits = 0, n = 0;
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++) {
        const QuantTensor *q = m->qbase[i];
        if (!q) continue;
        double nw = (double)quant_tensor_rows(q) * quant_tensor_cols(q);
        bits += quant_tensor_bits_per_weight(q) * nw;
        n += nw;
    }
    return n > 0 ? bits / n : 0;
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

char *session_find_tokenizer(const char *model_path, const char *tok_opt) {
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
    char *path = session_find_tokenizer(model_path, tok_opt);
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

const char *session_assets_dir(void) {
    const char *env = getenv("QPEFT_ASSETS");
    if (env) return env;
    static char buf[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "../shared/assets";
    exe[n] = 0;
    // build/qpeft -> <repo>/build -> <repo>/.. /shared/assets
    snprintf(buf, sizeof buf, "%s/../../shared/assets", dirname(exe));
    return buf;
}

void session_add_head(ModelConfig *cfg, ModelWeights *w, int n_labels, qp_rng *rng) {
    if (cfg->n_labels == n_labels) return;
    qp_status st = {0};
    ModelConfig c2 = *cfg;
    c2.n_labels = n_labels;
    ModelWeights w2;
    if (weights_alloc(&w2, &c2, &st) != 0) qp_die("%s", st.msg);
    // Every tensor but the head sits at the same offset in both layouts (the head comes last).
    size_t base = weights_count(cfg) - (size_t)cfg->n_labels * cfg->dim;
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
    else if (meta->quant_mask) model_quantize_base(m, &meta->quant, meta->quant_mask);
    m->adapter_quant = meta->adapter_quant;  // QER-trained: eval/merge run the quantized-adapter model
    if (ckpt_load(ckpt, m, hex, meta, NULL, NULL, NULL, &st) != 0) qp_die("%s", st.msg);
}
