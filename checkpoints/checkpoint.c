// checkpoints/checkpoint.c — the checkpoint layout of docs/formats.md on top of checkpoints/h5.h:
// save (atomic), read metadata, load with validation against a Model.
// Tested by tests/test_checkpoint.c and tests/oracle_checkpoint.py (h5py).
#include "checkpoints/checkpoint.h"
#include "checkpoints/h5.h"
#include "core/check.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- small helpers -------------------------------------------------------------------------

static const char *const HEAD_NAMES[] = {"lm", "classify", "regress"};

const char *ckpt_head_name(head_kind h) {
    return (unsigned)h < 3 ? HEAD_NAMES[h] : "?";
}

int ckpt_head_parse(const char *s) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, HEAD_NAMES[i])) return i;
    return -1;
}

void ckpt_mask_to_names(unsigned mask, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < LIN_COUNT; k++)
        if (mask & (1u << k)) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", lin_names[k]);
}

int ckpt_mask_from_names(const char *s, unsigned *mask) {
    unsigned m = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int k = 0; k < LIN_COUNT; k++)
            if (strlen(lin_names[k]) == len && !strncmp(p, lin_names[k], len)) found = k;
        if (found < 0) return -1;
        m |= 1u << found;
        p += len;
        if (*p == ',') p++;
    }
    *mask = m;
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *what, qp_status *st) {
    if (strlen(src) >= cap) return qp_fail(st, "checkpoint %s: %zu characters, at most %zu allowed", what, strlen(src), cap - 1);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int ckpt_state_set(ckpt_meta *meta, const char *name, const int64_t *v, int n, qp_status *st) {
    if (n < 0 || n > CKPT_STATE_MAX_LEN) return qp_fail(st, "checkpoint state '%s': %d values, at most %d allowed", name, n, CKPT_STATE_MAX_LEN);
    if (!name[0] || strlen(name) >= sizeof meta->state[0].name || strchr(name, '/'))
        return qp_fail(st, "checkpoint state name '%s': expected 1..31 characters without '/'", name);
    int i = 0;
    while (i < meta->n_state && strcmp(meta->state[i].name, name)) i++;
    if (i == CKPT_MAX_STATE) return qp_fail(st, "checkpoint state '%s': more than %d state entries", name, CKPT_MAX_STATE);
    ckpt_state_var *s = &meta->state[i];
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->len = n;
    if (n) memcpy(s->v, v, (size_t)n * sizeof *v);
    if (i == meta->n_state) meta->n_state++;
    return 0;
}

int ckpt_state_get(const ckpt_meta *meta, const char *name, int64_t *v, int n) {
    for (int i = 0; i < meta->n_state; i++)
        if (!strcmp(meta->state[i].name, name)) {
            if (meta->state[i].len != n) return -1;
            if (n) memcpy(v, meta->state[i].v, (size_t)n * sizeof *v);
            return 0;
        }
    return -1;
}

// Root attributes written by ckpt_save itself; a free-form key may not take one of them.
static const char *const RESERVED[] = {
    "format_version", "qpeft_version", "model_hash", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
    "vocab_size", "max_seq_len", "norm_eps", "rope_theta", "tied_embeddings", "n_labels", "mode", "quant", "bits",
    "block", "double_quant", "bits_per_weight", "quant_modules", "rank", "alpha", "init", "target_modules", "head",
    "task", "step", "epoch", "seed", "n_params", "extra_keys", "adapter_quant", "dropout", "best_metric", "best_step", "compute"};

static int extra_key_ok(const char *key) {
    if (!key[0] || strlen(key) >= sizeof((ckpt_extra *)0)->key) return 0;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    for (size_t i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
        if (!strcmp(key, RESERVED[i])) return 0;
    return 1;
}

int ckpt_extra_set(ckpt_meta *meta, const char *key, const char *value, qp_status *st) {
    if (!extra_key_ok(key))
        return qp_fail(st, "checkpoint attribute key '%s': expected 1..63 of [A-Za-z0-9_], not a reserved name", key);
    int i = 0;
    while (i < meta->n_extra && strcmp(meta->extra[i].key, key)) i++;
    if (i == CKPT_MAX_EXTRA) return qp_fail(st, "checkpoint attribute '%s': more than %d free-form attributes", key, CKPT_MAX_EXTRA);
    ckpt_extra *e = &meta->extra[i];
    char what[96];
    snprintf(what, sizeof what, "attribute '%s'", key);
    if (copy_str(e->value, sizeof e->value, value, what, st)) return -1;
    strcpy(e->key, key);
    if (i == meta->n_extra) meta->n_extra++;
    return 0;
}

const char *ckpt_extra_get(const ckpt_meta *meta, const char *key) {
    for (int i = 0; i < meta->n_extra; i++)
        if (!strcmp(meta->extra[i].key, key)) return meta->extra[i].value;
    return NULL;
}

// ---- the model's tensors, as the file names them ---------------------------------------------

// One float tensor of the trainable block: its dataset path, shape and offset in the block.
typedef struct {
    char path[96];
    int rank;
    int64_t dims[3];
    size_t off, n;
} blk_tensor;

static void add_tensor(blk_tensor *t, int *nt, const char *path, size_t off, int rank, int64_t d0, int64_t d1, int64_t d2) {
    blk_tensor *x = &t[(*nt)++];
    snprintf(x->path, sizeof x->path, "%s", path);
    x->rank = rank;
    x->dims[0] = d0; x->dims[1] = d1; x->dims[2] = d2;
    x->n = (size_t)d0 * (size_t)(rank > 1 ? d1 : 1) * (size_t)(rank > 2 ? d2 : 1);
    x->off = off;
}

// Full fine-tuning: every weight tensor (the trainable block is w.mem).
static int full_tensors(const Model *m, blk_tensor *t, int *nt) {
    const ModelConfig *c = &m->cfg;
    const ModelWeights *w = &m->w;
    int64_t L = c->n_layers, C = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * config_head_size(c), KV = (int64_t)c->n_kv_heads * config_head_size(c);
#define OFF(p) ((size_t)((p) - w->mem))
    add_tensor(t, nt, "weights/tok_emb", OFF(w->tok_emb), 2, V, C, 0);
    add_tensor(t, nt, "weights/attn_norm", OFF(w->attn_norm), 2, L, C, 0);
    add_tensor(t, nt, "weights/wq", OFF(w->wq), 3, L, Q, C);
    add_tensor(t, nt, "weights/wk", OFF(w->wk), 3, L, KV, C);
    add_tensor(t, nt, "weights/wv", OFF(w->wv), 3, L, KV, C);
    add_tensor(t, nt, "weights/wo", OFF(w->wo), 3, L, C, Q);
    add_tensor(t, nt, "weights/ffn_norm", OFF(w->ffn_norm), 2, L, C, 0);
    add_tensor(t, nt, "weights/w_gate", OFF(w->w_gate), 3, L, H, C);
    add_tensor(t, nt, "weights/w_up", OFF(w->w_up), 3, L, H, C);
    add_tensor(t, nt, "weights/w_down", OFF(w->w_down), 3, L, C, H);
    add_tensor(t, nt, "weights/final_norm", OFF(w->final_norm), 1, C, 0, 0);
    if (!c->tied_embeddings) add_tensor(t, nt, "weights/lm_head", OFF(w->lm_head), 2, V, C, 0);
    if (c->n_labels > 0 && w->score) add_tensor(t, nt, "weights/score", OFF(w->score), 2, c->n_labels, C, 0);
#undef OFF
    return 0;
}

// Adapter training: A, B of every targeted linear, then the head. Offsets come from the
// Model's pointer table, and must tile [0, n_params) exactly in the documented order.
static int adapter_tensors(const Model *m, blk_tensor *t, int *nt, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    size_t expect = 0;
    char p[96];
    for (int l = 0; l < c->n_layers && m->rank > 0; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(m->target_mask & (1u << k))) continue;
            int ic, oc, i = l * LIN_COUNT + k;
            model_lin_shape(c, k, &oc, &ic);
            if (!m->A[i] || !m->B[i]) return qp_fail(st, "checkpoint: internal error: layer %d %s is targeted but has no adapter", l, lin_names[k]);
            snprintf(p, sizeof p, "adapters/layer%d/%s/A", l, lin_names[k]);
            add_tensor(t, nt, p, (size_t)(m->A[i] - m->params), 2, m->rank, ic, 0);
            snprintf(p, sizeof p, "adapters/layer%d/%s/B", l, lin_names[k]);
            add_tensor(t, nt, p, (size_t)(m->B[i] - m->params), 2, oc, m->rank, 0);
        }
    if (m->head != HEAD_LM) add_tensor(t, nt, "head/score", 0, 2, c->n_labels, c->dim, 0);
    for (int i = 0; i < *nt; i++) {
        if (m->head != HEAD_LM && i == *nt - 1) t[i].off = expect;  // the head follows the adapters
        if (t[i].off != expect)
            return qp_fail(st, "checkpoint: internal error: %s at block offset %zu, layout expects %zu", t[i].path, t[i].off, expect);
        expect += t[i].n;
    }
    if (expect != m->n_params)
        return qp_fail(st, "checkpoint: internal error: adapters and head hold %zu floats, the trainable block %zu", expect, m->n_params);
    return 0;
}

// The trainable block's tensors; *out is malloc'd.
static int block_tensors(const Model *m, blk_tensor **out, int *nt, qp_status *st) {
    if (m->cfg.n_layers > MODEL_MAX_LAYERS) return qp_fail(st, "checkpoint: %d layers, at most %d supported", m->cfg.n_layers, MODEL_MAX_LAYERS);
    if (m->train == TRAIN_FULL && m->params != m->w.mem)
        return qp_fail(st, "checkpoint: internal error: full fine-tuning but the trainable block is not the weights");
    blk_tensor *t = xcalloc((size_t)m->cfg.n_layers * LIN_COUNT * 2 + 16, sizeof *t);
    *nt = 0;
    int rc = m->train == TRAIN_FULL ? full_tensors(m, t, nt) : adapter_tensors(m, t, nt, st);
    size_t total = 0;
    for (int i = 0; i < *nt && rc == 0; i++) {
        total += t[i].n;
        if (t[i].off + t[i].n > m->n_params) rc = qp_fail(st, "checkpoint: internal error: %s lies outside the trainable block", t[i].path);
    }
    if (rc == 0 && total != m->n_params)
        rc = qp_fail(st, "checkpoint: internal error: tensors hold %zu floats, the trainable block %zu", total, m->n_params);
    if (rc) { free(t); return -1; }
    *out = t;
    return 0;
}

// The model's packed bases: which kinds (uniform over layers), their format (the first one's
// when *mixed: they differ, as in a GGUF base such as Q4_K_M), bits per weight.
static int model_quant(const Model *m, unsigned *mask, quant_format *fmt, int *mixed, double *bpw, qp_status *st) {
    *mask = 0;
    *mixed = 0;
    *fmt = (quant_format){QUANT_F32, 32, 0, 0};
    *bpw = 0;
    if (!m->qbase) return 0;
    double bits = 0, n = 0;
    int have_fmt = 0;
    for (int k = 0; k < LIN_COUNT; k++) {
        int count = 0;
        for (int l = 0; l < m->cfg.n_layers; l++) {
            const QuantTensor *q = m->qbase[l * LIN_COUNT + k];
            if (!q) continue;
            const quant_format *f = quant_tensor_format(q);
            if (!have_fmt) { *fmt = *f; have_fmt = 1; }
            if (memcmp(f, fmt, sizeof *f)) *mixed = 1;
            bits += 8.0 * (double)quant_tensor_bytes(q);
            n += (double)quant_tensor_rows(q) * quant_tensor_cols(q);
            count++;
        }
        if (count && count != m->cfg.n_layers)
            return qp_fail(st, "checkpoint: %s is packed in %d of %d layers; expected all or none", lin_names[k], count, m->cfg.n_layers);
        if (count) *mask |= 1u << k;
    }
    *bpw = n > 0 ? bits / n : 0;
    return 0;
}

// ---- save ------------------------------------------------------------------------------------

static const char *mode_check(const char *mode) {
    return (!strcmp(mode, "full") || !strcmp(mode, "lora") || !strcmp(mode, "qpeft")) ? NULL : "expected full, lora or qpeft";
}

// Every root attribute (sticky errors: check once at commit).
static void write_root_attrs(qh5_file *f, const Model *m, const ckpt_meta *meta, unsigned qmask, const quant_format *qf,
                             int mixed, double bpw, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    char buf[256];
    qh5_attr_set_i64(f, "/", "format_version", CKPT_FORMAT_VERSION, st);
    qh5_attr_set_str(f, "/", "qpeft_version", meta->qpeft_version, st);
    qh5_attr_set_str(f, "/", "model_hash", meta->model_hash, st);
    const char *ik[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len", "tied_embeddings", "n_labels"};
    const int iv[] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->max_seq_len, c->tied_embeddings, c->n_labels};
    for (int i = 0; i < 9; i++) qh5_attr_set_i64(f, "/", ik[i], iv[i], st);
    qh5_attr_set_f64(f, "/", "norm_eps", c->norm_eps, st);
    qh5_attr_set_f64(f, "/", "rope_theta", c->rope_theta, st);
    qh5_attr_set_str(f, "/", "mode", meta->mode, st);
    qh5_attr_set_str(f, "/", "adapter_quant", adapter_quant_names[m->adapter_quant], st);
    qh5_attr_set_str(f, "/", "compute", compute_names[m->compute], st);
    const int one = qmask && !mixed;  // "mixed": every packed tensor names its own format
    qh5_attr_set_str(f, "/", "quant", one ? quant_format_name(qf, NULL, 0) : qmask ? "mixed" : "none", st);
    qh5_attr_set_i64(f, "/", "bits", one ? qf->bits : 0, st);
    qh5_attr_set_i64(f, "/", "block", one ? qf->block : 0, st);
    qh5_attr_set_i64(f, "/", "double_quant", one ? qf->double_quant : 0, st);
    qh5_attr_set_f64(f, "/", "bits_per_weight", bpw, st);
    ckpt_mask_to_names(qmask, buf, sizeof buf);
    qh5_attr_set_str(f, "/", "quant_modules", buf, st);
    qh5_attr_set_i64(f, "/", "rank", m->rank, st);
    qh5_attr_set_f64(f, "/", "alpha", m->alpha, st);
    qh5_attr_set_str(f, "/", "init", meta->init, st);
    ckpt_mask_to_names(m->rank > 0 ? m->target_mask : 0, buf, sizeof buf);
    qh5_attr_set_str(f, "/", "target_modules", buf, st);
    qh5_attr_set_str(f, "/", "head", ckpt_head_name(m->head), st);
    qh5_attr_set_str(f, "/", "task", meta->task, st);
    qh5_attr_set_i64(f, "/", "step", meta->step, st);
    qh5_attr_set_i64(f, "/", "epoch", meta->epoch, st);
    qh5_attr_set_i64(f, "/", "seed", meta->seed, st);
    if (meta->has_dropout) qh5_attr_set_f64(f, "/", "dropout", meta->dropout, st);
    if (meta->has_best) {
        qh5_attr_set_f64(f, "/", "best_metric", meta->best_metric, st);
        qh5_attr_set_i64(f, "/", "best_step", meta->best_step, st);
    }
    qh5_attr_set_i64(f, "/", "n_params", (int64_t)m->n_params, st);
    char keys[CKPT_MAX_EXTRA * 64 + 8] = "";
    for (int i = 0; i < meta->n_extra; i++) {
        qh5_attr_set_str(f, "/", meta->extra[i].key, meta->extra[i].value, st);
        if (i) strcat(keys, ",");
        strcat(keys, meta->extra[i].key);
    }
    qh5_attr_set_str(f, "/", "extra_keys", keys, st);
}

// One packed base as the byte image quant_tensor_write produces (format header + sections).
static void write_packed(qh5_file *f, const char *path, const QuantTensor *q, qp_status *st) {
    if (st->failed) return;
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    if (!ms) { qp_fail(st, "checkpoint %s: cannot open a memory stream for %s", qh5_path(f), path); return; }
    int rc = quant_tensor_write(q, ms, path, st);
    if (fclose(ms) != 0 && rc == 0) rc = qp_fail(st, "checkpoint %s: cannot serialise %s", qh5_path(f), path);
    int64_t d[1] = {(int64_t)len};
    if (rc == 0) qh5_write(f, path, QH5_U8, 1, d, buf, st);
    free(buf);
}

static int check_meta_for_save(const char *path, const Model *m, const ckpt_meta *meta, const float *opt_m,
                               const float *opt_v, qp_status *st) {
    if (mode_check(meta->mode)) return qp_fail(st, "checkpoint %s: mode '%s': %s", path, meta->mode, mode_check(meta->mode));
    if ((m->train == TRAIN_FULL) != !strcmp(meta->mode, "full"))
        return qp_fail(st, "checkpoint %s: mode '%s' does not match the model's training (%s)", path, meta->mode,
                       m->train == TRAIN_FULL ? "full fine-tuning" : "adapters");
    if (strlen(meta->model_hash) != 16 || strspn(meta->model_hash, "0123456789abcdef") != 16)
        return qp_fail(st, "checkpoint %s: model hash '%s': expected 16 lower-case hex digits", path, meta->model_hash);
    if (!opt_m != !opt_v) return qp_fail(st, "checkpoint %s: optimizer m and v must be given together", path);
    if (!m->params || m->n_params == 0) return qp_fail(st, "checkpoint %s: the model has no trainable block", path);
    for (int i = 0; i < meta->n_extra; i++)
        if (!extra_key_ok(meta->extra[i].key)) return qp_fail(st, "checkpoint %s: bad attribute key '%s'", path, meta->extra[i].key);
    for (int i = 0; i < meta->n_state; i++)
        if (meta->state[i].len < 0 || meta->state[i].len > CKPT_STATE_MAX_LEN)
            return qp_fail(st, "checkpoint %s: state '%s' has %d values", path, meta->state[i].name, meta->state[i].len);
    return 0;
}

int ckpt_save(const char *path, const Model *m, const ckpt_meta *meta, const float *opt_m, const float *opt_v,
              int64_t opt_t, int save_base, qp_status *st) {
    if (check_meta_for_save(path, m, meta, opt_m, opt_v, st)) return -1;
    unsigned qmask;
    quant_format qf;
    double bpw;
    blk_tensor *t;
    int nt, mixed;
    if (model_quant(m, &qmask, &qf, &mixed, &bpw, st) || block_tensors(m, &t, &nt, st)) return -1;
    qh5_file *f = qh5_create(path, st);
    if (!f) { free(t); return -1; }
    write_root_attrs(f, m, meta, qmask, &qf, mixed, bpw, st);
    for (int i = 0; i < nt; i++) qh5_write(f, t[i].path, QH5_F32, t[i].rank, t[i].dims, m->params + t[i].off, st);
    free(t);
    if (opt_m) {
        int64_t d[1] = {(int64_t)m->n_params};
        qh5_write(f, "optimizer/m", QH5_F32, 1, d, opt_m, st);
        qh5_write(f, "optimizer/v", QH5_F32, 1, d, opt_v, st);
        qh5_attr_set_i64(f, "optimizer", "t", opt_t, st);
    }
    for (int i = 0; i < meta->n_state; i++) {
        char p[64];
        int64_t d[1] = {meta->state[i].len};
        snprintf(p, sizeof p, "state/%s", meta->state[i].name);
        qh5_write(f, p, QH5_I64, 1, d, meta->state[i].v, st);
    }
    for (int l = 0; l < m->cfg.n_layers && save_base && qmask; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(qmask & (1u << k))) continue;
            char p[96];
            snprintf(p, sizeof p, "base/layer%d/%s/packed", l, lin_names[k]);
            write_packed(f, p, m->qbase[l * LIN_COUNT + k], st);
        }
    return qh5_commit(f, st);
}

// ---- read metadata ---------------------------------------------------------------------------

static int get_int(qh5_file *f, const char *name, int64_t lo, int64_t hi, int64_t *out, qp_status *st) {
    if (qh5_attr_get_i64(f, "/", name, out, st)) return -1;
    if (*out < lo || *out > hi)
        return qp_fail(st, "checkpoint %s: attribute %s = %" PRId64 ", expected %" PRId64 "..%" PRId64, qh5_path(f), name, *out, lo, hi);
    return 0;
}

static int get_i32(qh5_file *f, const char *name, int lo, int hi, int *out, qp_status *st) {
    int64_t v;
    if (get_int(f, name, lo, hi, &v, st)) return -1;
    *out = (int)v;
    return 0;
}

static int read_config(qh5_file *f, ModelConfig *c, qp_status *st) {
    double eps, theta;
    memset(c, 0, sizeof *c);
    const int big = 1 << 30;
    if (get_i32(f, "dim", 1, big, &c->dim, st) || get_i32(f, "hidden_dim", 1, big, &c->hidden_dim, st) ||
        get_i32(f, "n_layers", 1, MODEL_MAX_LAYERS, &c->n_layers, st) || get_i32(f, "n_heads", 1, big, &c->n_heads, st) ||
        get_i32(f, "n_kv_heads", 1, big, &c->n_kv_heads, st) || get_i32(f, "vocab_size", 1, big, &c->vocab_size, st) ||
        get_i32(f, "max_seq_len", 1, big, &c->max_seq_len, st) || get_i32(f, "tied_embeddings", 0, 1, &c->tied_embeddings, st) ||
        get_i32(f, "n_labels", 0, big, &c->n_labels, st) || qh5_attr_get_f64(f, "/", "norm_eps", &eps, st) ||
        qh5_attr_get_f64(f, "/", "rope_theta", &theta, st))
        return -1;
    c->norm_eps = (float)eps;
    c->rope_theta = (float)theta;
    return config_validate(c, qh5_path(f), st);
}

// A root attribute naming one of a few kinds, which older files lack: *out = absent then, else
// parse(value), which must know it (expected lists the names for the message).
static int read_optional_name(qh5_file *f, const char *attr, int (*parse)(const char *), int absent,
                              const char *expected, int *out, qp_status *st) {
    char s[CKPT_STR];
    *out = absent;
    if (!qh5_attr_exists(f, "/", attr)) return 0;
    if (qh5_attr_get_str(f, "/", attr, s, sizeof s, st)) return -1;
    *out = parse(s);
    if (*out < 0) return qp_fail(st, "checkpoint %s: %s '%s': expected %s", qh5_path(f), attr, s, expected);
    return 0;
}

static int read_quant(qh5_file *f, ckpt_meta *meta, qp_status *st) {
    char name[32], mods[256];
    int bits, block, dq;
    if (qh5_attr_get_str(f, "/", "quant", name, sizeof name, st) || get_i32(f, "bits", 0, 64, &bits, st) ||
        get_i32(f, "block", 0, 1 << 20, &block, st) || get_i32(f, "double_quant", 0, 1, &dq, st) ||
        qh5_attr_get_f64(f, "/", "bits_per_weight", &meta->bits_per_weight, st) ||
        qh5_attr_get_str(f, "/", "quant_modules", mods, sizeof mods, st))
        return -1;
    if (ckpt_mask_from_names(mods, &meta->quant_mask))
        return qp_fail(st, "checkpoint %s: quant_modules '%s': expected a comma list of q_proj..down_proj", qh5_path(f), mods);
    meta->quant = (quant_format){QUANT_F32, 32, 0, 0};
    meta->quant_mixed = !strcmp(name, "mixed");
    if (meta->quant_mixed) {
        if (!meta->quant_mask) return qp_fail(st, "checkpoint %s: quant 'mixed' but no quant_modules", qh5_path(f));
        return 0;
    }
    if (!strcmp(name, "none")) {
        if (meta->quant_mask) return qp_fail(st, "checkpoint %s: quant 'none' but quant_modules '%s'", qh5_path(f), mods);
        return 0;
    }
    qp_status qs = {0};
    if (quant_parse_format(name, block, dq, &meta->quant, &qs) || quant_format_check(&meta->quant, &qs))
        return qp_fail(st, "checkpoint %s: quant format %s (block %d): %s", qh5_path(f), name, block, qs.msg);
    if (meta->quant.bits != bits)
        return qp_fail(st, "checkpoint %s: quant %s has %d bits, attribute bits says %d", qh5_path(f), name, meta->quant.bits, bits);
    return 0;
}

static int read_model_fields(qh5_file *f, ckpt_meta *meta, qp_status *st) {
    char s[256];
    double alpha;
    int64_t np;
    if (get_i32(f, "format_version", 0, 1 << 30, &meta->format_version, st)) return -1;
    if (meta->format_version != CKPT_FORMAT_VERSION)
        return qp_fail(st, "checkpoint %s: format_version %d, this qpeft reads version %d", qh5_path(f), meta->format_version, CKPT_FORMAT_VERSION);
    if (get_i32(f, "rank", 0, 1 << 20, &meta->rank, st) || qh5_attr_get_f64(f, "/", "alpha", &alpha, st) ||
        get_int(f, "n_params", 1, INT64_MAX, &np, st) || qh5_attr_get_str(f, "/", "target_modules", s, sizeof s, st))
        return -1;
    meta->alpha = (float)alpha;
    meta->n_params = np;
    if (ckpt_mask_from_names(s, &meta->target_mask))
        return qp_fail(st, "checkpoint %s: target_modules '%s': expected a comma list of q_proj..down_proj", qh5_path(f), s);
    if (qh5_attr_get_str(f, "/", "head", s, sizeof s, st)) return -1;
    int h = ckpt_head_parse(s);
    if (h < 0) return qp_fail(st, "checkpoint %s: head '%s': expected lm, classify or regress", qh5_path(f), s);
    meta->head = (head_kind)h;
    meta->train = !strcmp(meta->mode, "full") ? TRAIN_FULL : TRAIN_ADAPTERS;
    // adapter_quant came with QER training, compute with bf16 compute (issue 13): a file without
    // them was written before, as "none" / "f32".
    int k;
    if (read_optional_name(f, "adapter_quant", adapter_quant_parse, AQUANT_NONE, "none or same", &k, st)) return -1;
    meta->adapter_quant = (adapter_quant_kind)k;
    if (read_optional_name(f, "compute", compute_parse, COMPUTE_F32, "f32 or bf16", &k, st)) return -1;
    meta->compute = (compute_kind)k;
    if (read_quant(f, meta, st)) return -1;
    meta->has_dropout = qh5_attr_exists(f, "/", "dropout");
    if (meta->has_dropout && qh5_attr_get_f64(f, "/", "dropout", &meta->dropout, st)) return -1;
    if (meta->has_dropout && !(meta->dropout >= 0 && meta->dropout < 1))
        return qp_fail(st, "checkpoint %s: dropout %g: expected 0 <= p < 1", qh5_path(f), meta->dropout);
    meta->has_best = qh5_attr_exists(f, "/", "best_metric") && qh5_attr_exists(f, "/", "best_step");
    if (meta->has_best && (qh5_attr_get_f64(f, "/", "best_metric", &meta->best_metric, st) ||
                           qh5_attr_get_i64(f, "/", "best_step", &meta->best_step, st)))
        return -1;
    meta->has_optimizer = qh5_exists(f, "optimizer/m");
    meta->has_base = qh5_exists(f, "base");
    meta->opt_t = 0;
    return meta->has_optimizer ? qh5_attr_get_i64(f, "optimizer", "t", &meta->opt_t, st) : 0;
}

static int read_state(qh5_file *f, ckpt_meta *meta, qp_status *st) {
    if (!qh5_exists(f, "state")) return 0;
    char **names;
    size_t n;
    if (qh5_list(f, "state", &names, &n, st)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char p[96];
        qh5_type ty;
        int rank;
        int64_t d[QH5_MAX_RANK], v[CKPT_STATE_MAX_LEN];
        snprintf(p, sizeof p, "state/%s", names[i]);
        rc = qh5_info(f, p, &ty, &rank, d, st);
        if (rc == 0 && (ty != QH5_I64 || rank != 1 || d[0] > CKPT_STATE_MAX_LEN))
            rc = qp_fail(st, "checkpoint %s: %s: expected int64 of rank 1 and length <= %d, found %s of rank %d (length %" PRId64 ")",
                         qh5_path(f), p, CKPT_STATE_MAX_LEN, qh5_type_name(ty), rank, rank > 0 ? d[0] : 0);
        if (rc == 0) rc = qh5_read(f, p, QH5_I64, 1, d, v, st);
        if (rc == 0) rc = ckpt_state_set(meta, names[i], v, (int)d[0], st);
    }
    qh5_free_list(names, n);
    return rc;
}

static int read_extras(qh5_file *f, ckpt_meta *meta, qp_status *st) {
    char keys[CKPT_MAX_EXTRA * 64 + 8];
    if (qh5_attr_get_str(f, "/", "extra_keys", keys, sizeof keys, st)) return -1;
    for (char *p = keys; *p;) {
        size_t len = strcspn(p, ",");
        char key[64];
        if (len >= sizeof key) return qp_fail(st, "checkpoint %s: extra_keys entry longer than 63 characters", qh5_path(f));
        memcpy(key, p, len);
        key[len] = 0;
        char *value = xmalloc(CKPT_EXTRA_VALUE);
        int rc = qh5_attr_get_str(f, "/", key, value, CKPT_EXTRA_VALUE, st) || ckpt_extra_set(meta, key, value, st) ? -1 : 0;
        free(value);
        if (rc) return -1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static int read_meta_open(qh5_file *f, ckpt_meta *meta, ModelConfig *cfg, qp_status *st) {
    memset(meta, 0, sizeof *meta);
    if (qh5_attr_get_str(f, "/", "qpeft_version", meta->qpeft_version, sizeof meta->qpeft_version, st) ||
        qh5_attr_get_str(f, "/", "model_hash", meta->model_hash, sizeof meta->model_hash, st) ||
        qh5_attr_get_str(f, "/", "mode", meta->mode, sizeof meta->mode, st) ||
        qh5_attr_get_str(f, "/", "init", meta->init, sizeof meta->init, st) ||
        qh5_attr_get_str(f, "/", "task", meta->task, sizeof meta->task, st) ||
        qh5_attr_get_i64(f, "/", "step", &meta->step, st) || qh5_attr_get_i64(f, "/", "epoch", &meta->epoch, st) ||
        qh5_attr_get_i64(f, "/", "seed", &meta->seed, st))
        return -1;
    if (mode_check(meta->mode)) return qp_fail(st, "checkpoint %s: mode '%s': %s", qh5_path(f), meta->mode, mode_check(meta->mode));
    if (read_model_fields(f, meta, st) || read_config(f, cfg, st) || read_state(f, meta, st) || read_extras(f, meta, st)) return -1;
    return 0;
}

int ckpt_read_meta(const char *path, ckpt_meta *meta, ModelConfig *cfg, qp_status *st) {
    qh5_file *f = qh5_open(path, st);
    if (!f) return -1;
    int rc = read_meta_open(f, meta, cfg, st);
    qh5_close(f);
    return rc;
}

// ---- load ------------------------------------------------------------------------------------

static int same_config(const char *path, const ModelConfig *a, const ModelConfig *b, qp_status *st) {
    const char *names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len", "tied_embeddings", "n_labels"};
    const int va[] = {a->dim, a->hidden_dim, a->n_layers, a->n_heads, a->n_kv_heads, a->vocab_size, a->max_seq_len, a->tied_embeddings, a->n_labels};
    const int vb[] = {b->dim, b->hidden_dim, b->n_layers, b->n_heads, b->n_kv_heads, b->vocab_size, b->max_seq_len, b->tied_embeddings, b->n_labels};
    for (int i = 0; i < 9; i++)
        if (va[i] != vb[i]) return qp_fail(st, "checkpoint %s was made with %s %d, this model has %s %d", path, names[i], va[i], names[i], vb[i]);
    if (a->norm_eps != b->norm_eps) return qp_fail(st, "checkpoint %s was made with norm_eps %g, this model has %g", path, a->norm_eps, b->norm_eps);
    if (a->rope_theta != b->rope_theta)
        return qp_fail(st, "checkpoint %s was made with rope_theta %g, this model has %g", path, a->rope_theta, b->rope_theta);
    return 0;
}

static int same_quant(const char *path, const ckpt_meta *meta, const Model *m, qp_status *st) {
    unsigned mask;
    quant_format qf;
    double bpw;
    int mixed;
    char a[64], b[64], ma[256], mb[256];
    if (model_quant(m, &mask, &qf, &mixed, &bpw, st)) return -1;
    if (meta->quant_mask == 0 && mask == 0) return 0;
    if (meta->quant_mixed && mixed && meta->quant_mask == mask) return 0;  // per tensor: read_packed
    if (meta->quant_mixed != mixed || meta->quant_mask != mask || (!mixed && memcmp(&meta->quant, &qf, sizeof qf))) {
        // "mxint3-b32 on [q_proj,...]" or "fp32" for a model/file without packed bases.
        char da[320], db[320];
        ckpt_mask_to_names(meta->quant_mask, ma, sizeof ma);
        ckpt_mask_to_names(mask, mb, sizeof mb);
        snprintf(da, sizeof da, meta->quant_mask ? "%s on [%s]" : "fp32",
                 meta->quant_mixed ? "mixed" : quant_format_name(&meta->quant, a, sizeof a), ma);
        snprintf(db, sizeof db, mask ? "%s on [%s]" : "fp32", mixed ? "mixed" : quant_format_name(&qf, b, sizeof b), mb);
        return qp_fail(st, "checkpoint %s was made with base format %s, this model has %s", path, da, db);
    }
    return 0;
}

// Everything cheap that must agree before any tensor is read.
static int check_against_model(const char *path, const ckpt_meta *meta, const ModelConfig *cfg, const Model *m,
                               const char *expected_hash, qp_status *st) {
    char a[256], b[256];
    if (expected_hash && strcmp(meta->model_hash, expected_hash))
        return qp_fail(st, "checkpoint %s was made for model hash %s, this model is %s", path, meta->model_hash, expected_hash);
    if (same_config(path, cfg, &m->cfg, st)) return -1;
    // An evaluation model (TRAIN_NONE) may take adapters; all weights need a full-mode model.
    if ((meta->train == TRAIN_FULL) != (m->train == TRAIN_FULL))
        return qp_fail(st, "checkpoint %s was made in mode %s, this model is set up for %s", path, meta->mode,
                       m->train == TRAIN_FULL ? "full fine-tuning" : "adapters");
    if (meta->adapter_quant != m->adapter_quant)
        return qp_fail(st, "checkpoint %s was made with --adapter-quant %s, this model has %s", path,
                       adapter_quant_names[meta->adapter_quant], adapter_quant_names[m->adapter_quant]);
    if (meta->rank != m->rank) return qp_fail(st, "checkpoint %s was made with rank %d, this model has rank %d", path, meta->rank, m->rank);
    if (meta->alpha != m->alpha) return qp_fail(st, "checkpoint %s was made with alpha %g, this model has alpha %g", path, meta->alpha, m->alpha);
    unsigned tm = m->rank > 0 ? m->target_mask : 0;
    if (meta->target_mask != tm) {
        ckpt_mask_to_names(meta->target_mask, a, sizeof a);
        ckpt_mask_to_names(tm, b, sizeof b);
        return qp_fail(st, "checkpoint %s was made with target modules [%s], this model targets [%s]", path, a, b);
    }
    if (meta->head != m->head)
        return qp_fail(st, "checkpoint %s was made with a %s head, this model has a %s head", path, ckpt_head_name(meta->head), ckpt_head_name(m->head));
    if (same_quant(path, meta, m, st)) return -1;
    if (meta->n_params != (int64_t)m->n_params)
        return qp_fail(st, "checkpoint %s holds %" PRId64 " trainable floats, this model has %zu", path, meta->n_params, m->n_params);
    return 0;
}

// One packed base: the dataset's bytes parsed by quant_tensor_read, then checked against the
// shape and format the model expects.
// fmt NULL: any legal format (a "mixed" checkpoint's tensors each carry theirs).
static QuantTensor *read_packed(qh5_file *f, const char *p, int rows, int cols, const quant_format *fmt, qp_status *st) {
    qh5_type ty;
    int rank;
    int64_t d[QH5_MAX_RANK];
    if (qh5_info(f, p, &ty, &rank, d, st)) return NULL;
    if (ty != QH5_U8 || rank != 1) {
        qp_fail(st, "checkpoint %s: %s: expected a 1-D uint8 dataset, found %s of rank %d", qh5_path(f), p, qh5_type_name(ty), rank);
        return NULL;
    }
    uint8_t *buf = xmalloc(d[0] ? (size_t)d[0] : 1);
    QuantTensor *q = NULL;
    char what[1200];
    snprintf(what, sizeof what, "checkpoint %s: %s", qh5_path(f), p);
    if (qh5_read(f, p, QH5_U8, 1, d, buf, st) == 0) {
        FILE *fp = fmemopen(buf, (size_t)d[0], "rb");
        if (!fp) qp_fail(st, "%s: cannot open a memory stream", what);
        else { q = quant_tensor_read(fp, what, st); fclose(fp); }
    }
    free(buf);
    if (q && (quant_tensor_rows(q) != rows || quant_tensor_cols(q) != cols || (fmt && memcmp(quant_tensor_format(q), fmt, sizeof *fmt)))) {
        char a[64], b[64];
        qp_fail(st, "%s: expected a %s tensor (%d, %d), found %s (%d, %d)", what, fmt ? quant_format_name(fmt, a, sizeof a) : "packed", rows, cols,
                quant_format_name(quant_tensor_format(q), b, sizeof b), quant_tensor_rows(q), quant_tensor_cols(q));
        quant_tensor_free(q);
        q = NULL;
    }
    return q;
}

static int load_bases(qh5_file *f, const Model *m, const ckpt_meta *meta, QuantTensor **nq, qp_status *st) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(meta->quant_mask & (1u << k))) continue;
            char p[96];
            int ic, oc;
            model_lin_shape(&m->cfg, k, &oc, &ic);
            snprintf(p, sizeof p, "base/layer%d/%s/packed", l, lin_names[k]);
            nq[l * LIN_COUNT + k] = read_packed(f, p, oc, ic, meta->quant_mixed ? NULL : &meta->quant, st);
            if (!nq[l * LIN_COUNT + k]) return -1;
        }
    return 0;
}

static int load_tensors(qh5_file *f, Model *m, const ckpt_meta *meta, float *opt_m, float *opt_v, qp_status *st) {
    blk_tensor *t;
    int nt;
    if (block_tensors(m, &t, &nt, st)) return -1;
    float *scratch = xmalloc(m->n_params * sizeof(float));
    size_t nb = (size_t)m->cfg.n_layers * LIN_COUNT;
    QuantTensor **nq = xcalloc(nb, sizeof *nq);
    int rc = 0;
    for (int i = 0; i < nt && rc == 0; i++) rc = qh5_read(f, t[i].path, QH5_F32, t[i].rank, t[i].dims, scratch + t[i].off, st);
    if (rc == 0 && opt_m) {
        int64_t d[1] = {(int64_t)m->n_params};
        if (!meta->has_optimizer) rc = qp_fail(st, "checkpoint %s has no optimizer state (optimizer/m, optimizer/v)", qh5_path(f));
        else rc = qh5_read(f, "optimizer/m", QH5_F32, 1, d, opt_m, st) || qh5_read(f, "optimizer/v", QH5_F32, 1, d, opt_v, st) ? -1 : 0;
    }
    if (rc == 0 && meta->has_base) rc = load_bases(f, m, meta, nq, st);
    if (rc == 0) {
        // Commit: nothing below can fail, so m is either wholly updated or untouched.
        memcpy(m->params, scratch, m->n_params * sizeof(float));
        for (size_t i = 0; i < nb && meta->has_base; i++)
            if (nq[i]) { quant_tensor_free(m->qbase[i]); m->qbase[i] = nq[i]; nq[i] = NULL; }
    }
    for (size_t i = 0; i < nb; i++) quant_tensor_free(nq[i]);
    free(nq);
    free(scratch);
    free(t);
    return rc;
}

int ckpt_load(const char *path, Model *m, const char *expected_hash, ckpt_meta *meta, float *opt_m, float *opt_v,
              int64_t *opt_t, qp_status *st) {
    if (!opt_m != !opt_v) return qp_fail(st, "checkpoint %s: optimizer m and v must be requested together", path);
    qh5_file *f = qh5_open(path, st);
    if (!f) return -1;
    ModelConfig cfg;
    int rc = read_meta_open(f, meta, &cfg, st);
    if (rc == 0) rc = check_against_model(path, meta, &cfg, m, expected_hash, st);
    if (rc == 0 && (!m->params || m->n_params == 0)) rc = qp_fail(st, "checkpoint %s: this model has no trainable block to load into", path);
    if (rc == 0 && meta->has_base && !m->qbase)
        rc = qp_fail(st, "checkpoint %s holds packed bases, this model has none", path);
    if (rc == 0) rc = load_tensors(f, m, meta, opt_m, opt_v, st);
    if (rc == 0 && opt_t) *opt_t = meta->opt_t;
    qh5_close(f);
    return rc;
}
