// tests/fuzz/fuzz_h5.c — libFuzzer harness for qpeft's HDF5 validation layer: ckpt_read_meta and
// ckpt_load (checkpoints/checkpoint.c, and quant_tensor_read for stored bases) and stats_load
// (checkpoints/stats.c). It fuzzes what qpeft does with the file's *contents*, not HDF5's own
// parser (issue 7): the input is a small edit script applied to a valid baseline file, which is
// then rewritten through the qh5 writer (libver v110, checksummed metadata) and read back.
//
// Script: first line picks the baseline — "ckpt" (LoRA, fp32 base, optimizer state), "qckpt"
// (qpeft mode, mxint3 packed bases stored) or "stats" (calibration statistics with xtx). Each
// further line is one edit; a target is a dataset path ("adapters/layer0/q_proj/A") or an
// attribute "object@name" ("/@rank", "optimizer@t", "layer0/attn_in@count"):
//   del T                 drop a dataset or an attribute
//   int O@N V | flt O@N V | str O@N TEXT    set (or add) an attribute of that type
//   shape P TYPE d0[,d1..]  rewrite a dataset with a new type (f32 f64 i32 i64 u8) and shape;
//                           its bytes are the old ones repeated
//   poke P I V            element I of a float dataset = V (nan, inf accepted); u8: byte V
//   bytes P OFF HEX       overwrite raw bytes of a dataset from byte OFF
// Unknown or malformed lines are ignored. Seeds: tests/fuzz/make_seeds.sh; tests/fuzz/fuzz_h5.dict.
#include "tests/fuzz/fuzz_util.h"
#include "checkpoints/checkpoint.h"
#include "checkpoints/h5.h"
#include "checkpoints/stats.h"
#include "init/calib.h"
#include "init/calibrate.h"
#include "model/model.h"
#include <stdarg.h>

enum { MAX_ENTRIES = 512, MAX_BYTES = 1 << 20 };

typedef struct {
    int is_attr;
    char obj[160], name[64];  // attribute: object path + name; dataset: obj = its path
    int atype;                // 0 str, 1 int64, 2 float64
    char *s;
    int64_t i;
    double f;
    qh5_type dtype;
    int rank;
    int64_t dims[QH5_MAX_RANK];
    uint8_t *data;
    size_t nbytes;
    int deleted;
} entry;

typedef struct { entry e[MAX_ENTRIES]; int n; } file_image;

static ModelConfig cfg;
static Model model_lora, model_q;
static char hash[17];
static file_image base[3];  // ckpt, qckpt, stats
static int ready;

static const char *const attr_names[] = {
    // checkpoint root (checkpoints/checkpoint.c write_root_attrs) and extras
    "format_version", "qpeft_version", "model_hash", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
    "vocab_size", "max_seq_len", "tied_embeddings", "n_labels", "norm_eps", "rope_theta", "mode", "quant", "bits",
    "block", "double_quant", "bits_per_weight", "quant_modules", "rank", "alpha", "init", "target_modules", "head",
    "task", "step", "epoch", "seed", "n_params", "extra_keys", "labels", "command",
    // optimizer group; statistics file root and groups (checkpoints/stats.c)
    "t", "kind", "data", "source", "samples", "seq_len", "padding", "has_xtx", "layout", "count", "feeds",
    // later root attributes (appended so the regression inputs keep their meaning)
    "adapter_quant", "dropout", "best_metric", "best_step"};

static float val(size_t i) { return (float)((int64_t)((i * 7919u) % 4001u) - 2000) / 2048.0f; }

static void die(const char *what, const qp_status *st) {
    fprintf(stderr, "fuzz_h5 setup: %s: %s\n", what, st->msg);
    abort();
}

static void add_attrs(qh5_file *f, const char *obj, file_image *im) {
    char buf[CKPT_EXTRA_VALUE];
    for (size_t k = 0; k < sizeof attr_names / sizeof *attr_names; k++) {
        qp_status st = {0};
        entry *e = &im->e[im->n];
        memset(e, 0, sizeof *e);
        e->is_attr = 1;
        snprintf(e->obj, sizeof e->obj, "%s", obj);
        snprintf(e->name, sizeof e->name, "%s", attr_names[k]);
        if (qh5_attr_get_str(f, obj, attr_names[k], buf, sizeof buf, &st) == 0) { e->atype = 0; e->s = strdup(buf); }
        else if (qh5_attr_get_i64(f, obj, attr_names[k], &e->i, &st) == 0) e->atype = 1;
        else if (qh5_attr_get_f64(f, obj, attr_names[k], &e->f, &st) == 0) e->atype = 2;
        else continue;
        if (++im->n == MAX_ENTRIES) abort();
    }
}

// Every dataset under group g (recursively) and the known attributes of every object.
static void snapshot(qh5_file *f, const char *g, file_image *im) {
    char **names;
    size_t n;
    qp_status st = {0};
    add_attrs(f, g[0] ? g : "/", im);
    if (qh5_list(f, g[0] ? g : "/", &names, &n, &st)) die("qh5_list", &st);
    for (size_t i = 0; i < n; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s%s", g, g[0] ? "/" : "", names[i]);
        entry *e = &im->e[im->n];
        memset(e, 0, sizeof *e);
        qp_status si = {0};
        if (qh5_info(f, p, &e->dtype, &e->rank, e->dims, &si) == 0) {
            snprintf(e->obj, sizeof e->obj, "%s", p);
            size_t count = 1;
            for (int d = 0; d < e->rank; d++) count *= (size_t)e->dims[d];
            e->nbytes = count * qh5_type_size(e->dtype);
            e->data = malloc(e->nbytes ? e->nbytes : 1);
            if (qh5_read(f, p, e->dtype, e->rank, e->dims, e->data, &st)) die("qh5_read", &st);
            if (++im->n == MAX_ENTRIES) abort();
            add_attrs(f, p, im);
        } else {
            snapshot(f, p, im);
        }
    }
    qh5_free_list(names, n);
}

static void take(const char *path, file_image *im) {
    qp_status st = {0};
    qh5_file *f = qh5_open(path, &st);
    if (!f) die("qh5_open", &st);
    snapshot(f, "", im);
    qh5_close(f);
}

static void build_model(Model *m, int quantized) {
    qp_status st = {0};
    ModelWeights w;
    if (weights_alloc(&w, &cfg, &st)) die("weights_alloc", &st);
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = val(i) * 0.125f;
    weights_hash_hex(weights_hash(&w, &cfg), hash);
    unsigned targets = (1u << LIN_Q) | (1u << LIN_V) | (1u << LIN_DOWN);
    if (model_init(m, &cfg, &w, 2, 4.0f, targets, HEAD_CLASSIFY, TRAIN_ADAPTERS, &st)) die("model_init", &st);
    if (quantized) {
        quant_format qf;
        if (quant_parse_format("mxint3", 0, 0, &qf, &st)) die("quant_parse_format", &st);
        model_quantize_base(m, &qf, (1u << LIN_COUNT) - 1);
    }
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = val(i + 17);
}

static void setup(void) {
    cfg = (ModelConfig){.dim = 16, .hidden_dim = 32, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .vocab_size = 20,
                        .max_seq_len = 8, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied_embeddings = 0, .n_labels = 2};
    build_model(&model_lora, 0);
    build_model(&model_q, 1);
    qp_status st = {0};
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    strcpy(meta.qpeft_version, "fuzz");
    strcpy(meta.model_hash, hash);
    strcpy(meta.init, "lora");
    strcpy(meta.task, "sst2");
    meta.step = 3;
    int64_t rng[4] = {1, 2, 3, -4}, pos = 5;
    ckpt_state_set(&meta, "rng", rng, 4, &st);
    ckpt_state_set(&meta, "data_pos", &pos, 1, &st);
    ckpt_extra_set(&meta, "labels", "negative\tpositive", &st);
    float *mv = calloc(model_q.n_params + model_lora.n_params, sizeof(float));
    strcpy(meta.mode, "lora");
    if (ckpt_save(fz_path("base0.h5"), &model_lora, &meta, mv, mv, 3, 0, &st)) die("ckpt_save", &st);
    strcpy(meta.mode, "qpeft");
    if (ckpt_save(fz_path("base1.h5"), &model_q, &meta, mv, mv, 3, 1, &st)) die("ckpt_save q", &st);
    free(mv);
    CalibSet set;
    calib_set_init(&set, &cfg, 1);
    strcpy(set.model_hash, hash);
    strcpy(set.data, "fuzz.txt");
    strcpy(set.source, "text");
    set.samples = 4;
    set.seq_len = 8;
    for (int k = 0; k < cfg.n_layers * CALIB_IN_COUNT; k++) {
        CalibStats *c = set.s[k];
        c->count = 32;
        for (int i = 0; i < c->n; i++) { c->sum_sq[i] = 1.5 + i; c->sum_abs[i] = 0.75 + i; }
        for (int i = 0; i < c->n * c->n; i++) c->xtx[i] = (i % (c->n + 1)) ? 0.125 : 2.385;
    }
    if (stats_save(fz_path("base2.h5"), &set, &st)) die("stats_save", &st);
    calib_set_free(&set);
    for (int b = 0; b < 3; b++) {
        char name[16];
        snprintf(name, sizeof name, "base%d.h5", b);
        take(fz_path(name), &base[b]);
    }
    ready = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

static entry *find(file_image *im, const char *target) {
    const char *at = strchr(target, '@');
    for (int i = 0; i < im->n; i++) {
        entry *e = &im->e[i];
        if (e->deleted) continue;
        if (at ? e->is_attr && (size_t)(at - target) == strlen(e->obj) && !strncmp(e->obj, target, (size_t)(at - target)) &&
                     !strcmp(e->name, at + 1)
               : !e->is_attr && !strcmp(e->obj, target))
            return e;
    }
    return NULL;
}

static entry *attr_slot(file_image *im, const char *target) {
    const char *at = strchr(target, '@');
    if (!at || (size_t)(at - target) >= sizeof im->e[0].obj || strlen(at + 1) >= sizeof im->e[0].name) return NULL;
    entry *e = find(im, target);
    if (e) { if (e->atype == 0) { free(e->s); e->s = NULL; } return e; }
    if (im->n == MAX_ENTRIES) return NULL;
    e = &im->e[im->n++];
    memset(e, 0, sizeof *e);
    e->is_attr = 1;
    memcpy(e->obj, target, (size_t)(at - target));
    strcpy(e->name, at + 1);
    return e;
}

static int parse_type(const char *s, qh5_type *t) {
    static const char *const shortn[QH5_TYPE_COUNT] = {"f32", "f64", "i32", "i64", "u8"};
    for (int k = 0; k < QH5_TYPE_COUNT; k++)
        if (!strcmp(s, shortn[k]) || !strcmp(s, qh5_type_name((qh5_type)k))) { *t = (qh5_type)k; return 1; }
    return 0;
}

static void apply(file_image *im, char *line) {
    char *sp = NULL, *op = strtok_r(line, " ", &sp), *target = strtok_r(NULL, " ", &sp);
    if (!op || !target) return;
    char *rest = sp;  // remainder of the line (may be NULL)
    entry *e;
    if (!strcmp(op, "del")) {
        if ((e = find(im, target))) e->deleted = 1;
    } else if (!strcmp(op, "int") && rest && (e = attr_slot(im, target))) {
        e->atype = 1;
        e->i = strtoll(rest, NULL, 0);
    } else if (!strcmp(op, "flt") && rest && (e = attr_slot(im, target))) {
        e->atype = 2;
        e->f = strtod(rest, NULL);
    } else if (!strcmp(op, "str") && (e = attr_slot(im, target))) {
        e->atype = 0;
        e->s = strdup(rest ? rest : "");
    } else if (!strcmp(op, "shape") && (e = find(im, target)) && !e->is_attr && rest) {
        char *ty = strtok_r(NULL, " ", &sp), *dl = strtok_r(NULL, " ", &sp);
        qh5_type t;
        if (!ty || !dl || !parse_type(ty, &t)) return;
        int64_t dims[QH5_MAX_RANK];
        int rank = 0;
        size_t count = 1;
        for (char *q = dl; *q && rank < QH5_MAX_RANK;) {
            char *end;
            long long d = strtoll(q, &end, 10);
            if (end == q || d < 0 || d > MAX_BYTES) return;
            dims[rank++] = d;
            count *= (size_t)d;
            if (count > MAX_BYTES) return;
            q = *end == ',' ? end + 1 : end + strlen(end);
        }
        if (rank == 0 || count * qh5_type_size(t) > MAX_BYTES) return;
        size_t nb = count * qh5_type_size(t);
        uint8_t *d = malloc(nb ? nb : 1);
        for (size_t i = 0; i < nb; i++) d[i] = e->nbytes ? e->data[i % e->nbytes] : (uint8_t)i;
        free(e->data);
        e->data = d;
        e->nbytes = nb;
        e->dtype = t;
        e->rank = rank;
        memcpy(e->dims, dims, sizeof dims);
    } else if (!strcmp(op, "poke") && (e = find(im, target)) && !e->is_attr && rest) {
        char *end;
        long long i = strtoll(rest, &end, 10);
        double v = strtod(end, NULL);
        size_t sz = qh5_type_size(e->dtype);
        if (i < 0 || (size_t)i >= e->nbytes / sz) return;
        if (e->dtype == QH5_F32) { float x = (float)v; memcpy(e->data + (size_t)i * 4, &x, 4); }
        else if (e->dtype == QH5_F64) memcpy(e->data + (size_t)i * 8, &v, 8);
        else e->data[(size_t)i * sz] = (uint8_t)(long long)v;
    } else if (!strcmp(op, "bytes") && (e = find(im, target)) && !e->is_attr && rest) {
        char *end;
        long long off = strtoll(rest, &end, 10);
        while (*end == ' ') end++;
        for (; off >= 0 && (size_t)off < e->nbytes && end[0] && end[1]; end += 2, off++) {
            unsigned v;
            if (sscanf(end, "%2x", &v) != 1) break;
            e->data[off] = (uint8_t)v;
        }
    }
}

static void image_free(file_image *im) {
    for (int i = 0; i < im->n; i++) { free(im->e[i].s); free(im->e[i].data); }
}

// Write the edited image; 0 when the writer accepted every call.
static int write_image(const file_image *im, const char *path) {
    qp_status st = {0};
    qh5_file *f = qh5_create(path, &st);
    if (!f) return -1;
    for (int i = 0; i < im->n; i++) {
        const entry *e = &im->e[i];
        if (!e->deleted && !e->is_attr) qh5_write(f, e->obj, e->dtype, e->rank, e->dims, e->data, &st);
    }
    for (int i = 0; i < im->n; i++) {
        const entry *e = &im->e[i];
        if (e->deleted || !e->is_attr) continue;
        if (strcmp(e->obj, "/") && !find((file_image *)im, e->obj)) qh5_make_groups(f, e->obj, &st);
        if (e->atype == 0) qh5_attr_set_str(f, e->obj, e->name, e->s, &st);
        else if (e->atype == 1) qh5_attr_set_i64(f, e->obj, e->name, e->i, &st);
        else qh5_attr_set_f64(f, e->obj, e->name, e->f, &st);
    }
    return qh5_commit(f, &st);
}

// Every refusal is one line; FUZZ_VERBOSE=1 prints it (to see what a script provokes).
static void one_line(const qp_status *st) {
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", st->msg);
    if (!st->msg[0] || strchr(st->msg, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) setup();
    if (size > 8192) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *sp = NULL, *first = strtok_r(text, "\n", &sp);
    int b = first && first[0] == 'q' ? 1 : first && first[0] == 's' ? 2 : 0;
    // Deep copy of the baseline, then the edits.
    static file_image im;
    im.n = base[b].n;
    for (int i = 0; i < im.n; i++) {
        im.e[i] = base[b].e[i];
        if (im.e[i].s) im.e[i].s = strdup(im.e[i].s);
        if (im.e[i].data) { im.e[i].data = malloc(im.e[i].nbytes ? im.e[i].nbytes : 1); memcpy(im.e[i].data, base[b].e[i].data, im.e[i].nbytes); }
    }
    int edits = 0;
    for (char *line; (line = strtok_r(NULL, "\n", &sp)); edits++) apply(&im, line);
    const char *path = fz_path("fuzz.h5");
    if (write_image(&im, path) != 0) {
        if (!edits) abort();  // the baseline itself must be writable
    } else {
        qp_status st = {0};
        ckpt_meta meta;
        ModelConfig c;
        if (b < 2) {
            Model *m = b ? &model_q : &model_lora;
            // An unedited baseline must load: otherwise the harness tests nothing.
            if (ckpt_read_meta(path, &meta, &c, &st)) { one_line(&st); if (!edits) abort(); }
            float *om = malloc((m->n_params ? m->n_params : 1) * sizeof(float));
            float *ov = malloc((m->n_params ? m->n_params : 1) * sizeof(float));
            int64_t t;
            qp_status s2 = {0}, s3 = {0};
            if (ckpt_load(path, m, hash, &meta, om, ov, &t, &s2)) { one_line(&s2); if (!edits) abort(); }
            if (ckpt_load(path, m, NULL, &meta, NULL, NULL, NULL, &s3)) one_line(&s3);
            free(om);
            free(ov);
        } else {
            CalibSet set;
            if (stats_load(path, &cfg, hash, 1, &set, &st) == 0) calib_set_free(&set);
            else { one_line(&st); if (!edits) abort(); }
            qp_status s2 = {0};
            if (stats_load(path, &cfg, NULL, 0, &set, &s2) == 0) calib_set_free(&set);
            else one_line(&s2);
        }
    }
    image_free(&im);
    free(text);
    return 0;
}
