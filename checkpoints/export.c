// checkpoints/export.c — Hugging Face, llama2.c and PEFT writers plus the staging directory
// that makes every export all-or-nothing. Tested by tests/test_export.c and tests/oracle_peft.py.
#include "checkpoints/export.h"
#include "core/check.h"
#include "core/json.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

// ---- dtypes -------------------------------------------------------------------------------------
static const struct {
    const char *name, *alias[2];  // --dtype/--gguf-type spellings
    const char *st, *torch;       // safetensors and torch names (NULL: not an HF dtype)
    size_t bytes;                 // HF element bytes
    int ggml;                     // ggml type id (-1: auto)
} DT[EXPORT_DTYPE_COUNT] = {
    [EXPORT_F32] = {"f32", {"fp32", "float32"}, "F32", "float32", 4, GGML_ID_F32},
    [EXPORT_F16] = {"f16", {"fp16", "float16"}, "F16", "float16", 2, GGML_ID_F16},
    [EXPORT_BF16] = {"bf16", {"bfloat16", NULL}, "BF16", "bfloat16", 2, GGML_ID_BF16},
    [EXPORT_Q8_0] = {"q8_0", {NULL, NULL}, NULL, NULL, 0, GGML_ID_Q8_0},
    [EXPORT_Q4_0] = {"q4_0", {NULL, NULL}, NULL, NULL, 0, GGML_ID_Q4_0},
    [EXPORT_AUTO] = {"auto", {NULL, NULL}, NULL, NULL, 0, -1},
};

static int dtype_lookup(const char *s, export_dtype *out) {
    for (int i = 0; s && i < EXPORT_DTYPE_COUNT; i++)
        if (!strcmp(s, DT[i].name) || (DT[i].alias[0] && !strcmp(s, DT[i].alias[0])) || (DT[i].alias[1] && !strcmp(s, DT[i].alias[1]))) {
            *out = (export_dtype)i;
            return 0;
        }
    return -1;
}

int export_dtype_parse(const char *s, export_dtype *out, qp_status *st) {
    export_dtype d;
    if (dtype_lookup(s, &d) || !DT[d].st) return qp_fail(st, "--dtype must be f32, f16 or bf16, found '%s'%s", s ? s : "(none)",
                                                         s && !dtype_lookup(s, &d) ? " (a GGUF type: use --to gguf --gguf-type)" : "");
    *out = d;
    return 0;
}

int export_gguf_type_parse(const char *s, export_dtype *out, qp_status *st) {
    if (dtype_lookup(s, out)) return qp_fail(st, "--gguf-type must be auto, f32, f16, bf16, q8_0 or q4_0, found '%s'", s ? s : "(none)");
    return 0;
}

const char *export_dtype_name(export_dtype dt) { return dt < EXPORT_DTYPE_COUNT ? DT[dt].name : "?"; }
int export_dtype_ggml_id(export_dtype dt) { return dt < EXPORT_DTYPE_COUNT ? DT[dt].ggml : -1; }

float export_dtype_round(float x, export_dtype dt) {
    if (dt == EXPORT_F16) return quant_f16_to_f32(quant_f32_to_f16(x));
    if (dt == EXPORT_BF16) return quant_bf16_to_f32(quant_f32_to_bf16(x));
    return x;
}

// ---- checked output -----------------------------------------------------------------------------

int export_out_open(export_out *o, const char *path, qp_status *st) {
    o->path = path; o->st = st; o->failed = 0;
    o->f = fopen(path, "wb");
    if (!o->f) { o->failed = 1; return qp_fail(st, "%s: a writable file, found none (%s)", path, strerror(errno)); }
    return 0;
}

void export_out_write(export_out *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) {
        o->failed = 1;
        qp_fail(o->st, "%s: %zu bytes written, found a write error (%s)", o->path, n, strerror(errno));
    }
}

void export_out_printf(export_out *o, const char *fmt, ...) {
    if (o->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(o->f, fmt, ap);
    va_end(ap);
    if (r < 0) { o->failed = 1; qp_fail(o->st, "%s: text written, found a write error (%s)", o->path, strerror(errno)); }
}

// Flush, fsync and close; returns 0 or -1 (the first error).
int export_out_close(export_out *o) {
    if (!o->f) return -1;
    if (!o->failed && (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)) {
        o->failed = 1;
        qp_fail(o->st, "%s: data flushed to disk, found an error (%s)", o->path, strerror(errno));
    }
    if (fclose(o->f) != 0 && !o->failed) {
        o->failed = 1;
        qp_fail(o->st, "%s: file closed, found an error (%s)", o->path, strerror(errno));
    }
    o->f = NULL;
    return o->failed ? -1 : 0;
}

static int join(char *out, size_t n, const char *dir, const char *name, qp_status *st) {
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
        return qp_fail(st, "%s/%s: a path shorter than %zu bytes, found a longer one", dir, name, n);
    return 0;
}

int export_copy_file(const char *src, const char *dst, qp_status *st) {
    FILE *in = fopen(src, "rb");
    if (!in) return qp_fail(st, "%s: a readable file to copy, found none (%s)", src, strerror(errno));
    export_out o;
    if (export_out_open(&o, dst, st)) { fclose(in); return -1; }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) export_out_write(&o, buf, n);
    if (ferror(in) && !o.failed) { o.failed = 1; qp_fail(st, "%s: readable to the end, found a read error", src); }
    fclose(in);
    return export_out_close(&o);
}

// ---- JSON text helpers --------------------------------------------------------------------------
// Shortest decimal that reads back as the same float32 (so 1e-5f prints as 1e-05, not
// 9.99999975e-06); integral values as "10000.0" so JSON readers see a float.
static void fmt_f32(float x, char *buf, size_t n) {
    if (x == floorf(x) && fabsf(x) < 1e15f) { snprintf(buf, n, "%.1f", (double)x); return; }
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
}

// A JSON string literal (quotes included) of s, escaping what RFC 8259 requires.
static void out_json_str(export_out *o, const char *s) {
    char e[6];
    export_out_write(o, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) export_out_write(o, e, (size_t)json_escape_byte(*p, e));
    export_out_write(o, "\"", 1);
}

// ---- staging directory ---------------------------------------------------------------------------
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

int export_check_new_dir(const char *dir, qp_status *st) {
    struct stat sb;
    if (lstat(dir, &sb) != 0) {
        if (errno == ENOENT) return 0;
        return qp_fail(st, "%s: a usable output path, found an error (%s)", dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode)) return qp_fail(st, "%s: a new output directory, found an existing file (refusing to overwrite)", dir);
    DIR *d = opendir(dir);
    if (!d) return qp_fail(st, "%s: a readable empty directory, found one we cannot read (%s)", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    if (n) return qp_fail(st, "%s: a new or empty output directory, found one with %d entries (refusing to overwrite)", dir, n);
    return 0;
}

int export_stage_begin(export_stage *s, const char *dir, qp_status *st) {
    memset(s, 0, sizeof *s);
    if (!dir || !*dir) return qp_fail(st, "--out must name a new directory");
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;   // "out/" -> "out", so the stage sits beside it
    if (len + 16 >= EXPORT_PATH_MAX) return qp_fail(st, "%s: a path shorter than %d bytes, found a longer one", dir, EXPORT_PATH_MAX - 16);
    memcpy(s->dir, dir, len);
    s->dir[len] = 0;
    if (export_check_new_dir(s->dir, st)) return -1;
    memcpy(s->tmp, s->dir, len);
    memcpy(s->tmp + len, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    if (!mkdtemp(s->tmp))
        return qp_fail(st, "%s: a staging directory beside the output, found an error (%s)", s->tmp, strerror(errno));
    s->active = 1;
    // mkdtemp makes it 0700; the finished directory should look like any mkdir'd one.
    mode_t mask = umask(0);
    umask(mask);
    if (chmod(s->tmp, 0777 & ~mask) != 0) {
        int e = errno;
        export_stage_abort(s);
        return qp_fail(st, "%s: permissions set on the staging directory, found an error (%s)", s->tmp, strerror(e));
    }
    return 0;
}

void export_stage_abort(export_stage *s) {
    if (!s->active) return;
    nftw(s->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->active = 0;
}

int export_stage_commit(export_stage *s, qp_status *st) {
    if (!s->active) return qp_fail(st, "%s: an active staging directory, found none", s->dir);
    int fd = open(s->tmp, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
    // rename(2) replaces an empty directory atomically and refuses a non-empty one (someone
    // wrote into <dir> after export_stage_begin looked): never clobber.
    if (rename(s->tmp, s->dir) != 0) {
        int e = errno;
        export_stage_abort(s);
        return qp_fail(st, "%s: the finished export renamed into place, found an error (%s)", s->dir, strerror(e));
    }
    s->active = 0;
    return 0;
}

// ---- safetensors --------------------------------------------------------------------------------
typedef struct { char *p; size_t n, cap; } Buf;

static void buf_add(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(Buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        QP_ASSERT(r >= 0);
        if (b->p && b->n + (size_t)r < b->cap) { b->n += (size_t)r; return; }
        b->cap = (b->cap + (size_t)r + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

static int by_name(const void *a, const void *b, void *t) {
    const export_tensor *ts = t;
    return strcmp(ts[*(const int *)a].name, ts[*(const int *)b].name);
}

static size_t tensor_numel(const export_tensor *t) {
    return (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
}

// Little-endian bytes of x[0..n) in dtype dt into out.
static void encode(unsigned char *out, const float *x, size_t n, export_dtype dt) {
    for (size_t i = 0; i < n; i++) {
        if (dt == EXPORT_F32) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            for (int b = 0; b < 4; b++) out[4 * i + b] = (unsigned char)(u >> (8 * b));
        } else {
            uint16_t h = dt == EXPORT_F16 ? quant_f32_to_f16(x[i]) : quant_f32_to_bf16(x[i]);
            out[2 * i] = (unsigned char)h;
            out[2 * i + 1] = (unsigned char)(h >> 8);
        }
    }
}

int export_safetensors_write(const char *path, const export_tensor *t, int n, export_dtype dt, qp_status *st) {
    if (dt >= EXPORT_DTYPE_COUNT || !DT[dt].st) return qp_fail(st, "%s: a known dtype, found %d", path, (int)dt);
    int *ord = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) ord[i] = i;
    qsort_r(ord, (size_t)n, sizeof(int), by_name, (void *)t);
    for (int i = 0; i < n; i++) {
        const export_tensor *e = &t[ord[i]];
        QP_ASSERT(e->ndim == 1 || e->ndim == 2);
        QP_ASSERT(!e->data != !e->fill && !(e->fill && e->rope_heads));
        QP_ASSERT(!strpbrk(e->name, "\"\\"));   // names are ours: plain ASCII, no escaping needed
        if (i && !strcmp(e->name, t[ord[i - 1]].name)) {
            free(ord);
            return qp_fail(st, "%s: unique tensor names, found %s twice", path, e->name);
        }
        QP_ASSERT(!e->rope_heads || e->shape[0] % e->rope_heads == 0);
    }
    // Header: names sorted, data laid out in the same order.
    Buf h = {0};
    buf_add(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const export_tensor *e = &t[ord[i]];
        size_t bytes = tensor_numel(e) * DT[dt].bytes;
        buf_add(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", e->name, DT[dt].st, (long long)e->shape[0]);
        if (e->ndim == 2) buf_add(&h, ",%lld", (long long)e->shape[1]);
        buf_add(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    buf_add(&h, "}");
    while (h.n % 8) buf_add(&h, " ");   // 8 + header length stays a multiple of 8: aligned data
    export_out o;
    if (export_out_open(&o, path, st)) { free(h.p); free(ord); return -1; }
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)h.n >> (8 * b));
    export_out_write(&o, len8, 8);
    export_out_write(&o, h.p, h.n);
    free(h.p);
    enum { CHUNK = 1 << 16 };
    unsigned char *bytes = xmalloc(CHUNK * 4);
    float *chunk = xmalloc(CHUNK * sizeof(float));
    for (int i = 0; i < n && !o.failed; i++) {
        const export_tensor *e = &t[ord[i]];
        size_t numel = tensor_numel(e);
        const float *src = e->data;
        float *perm = NULL;
        if (e->rope_heads) {  // interleaved -> rotate-half rows (the inverse of the HF loader's permutation)
            perm = xmalloc(numel * sizeof(float));
            int hs = (int)(e->shape[0] / e->rope_heads);
            weights_rows_interleaved_to_hf(perm, e->data, e->rope_heads, hs, e->ndim == 2 ? (int)e->shape[1] : 1);
            src = perm;
        }
        for (size_t k = 0; k < numel; k += CHUNK) {
            size_t m = numel - k < CHUNK ? numel - k : CHUNK;
            if (e->fill) e->fill(chunk, k, m, e->ctx);
            encode(bytes, e->fill ? chunk : src + k, m, dt);
            export_out_write(&o, bytes, m * DT[dt].bytes);
        }
        free(perm);
    }
    free(chunk);
    free(bytes);
    free(ord);
    return export_out_close(&o);
}

int export_safetensors_index_write(const char *path, const char *const *names, const char *const *files, int n,
                                   uint64_t total_size, qp_status *st) {
    export_out o;
    if (export_out_open(&o, path, st)) return -1;
    export_out_printf(&o, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {", (unsigned long long)total_size);
    for (int i = 0; i < n; i++) {
        export_out_printf(&o, "%s\n    ", i ? "," : "");
        out_json_str(&o, names[i]);
        export_out_printf(&o, ": ");
        out_json_str(&o, files[i]);
    }
    export_out_printf(&o, "\n  }\n}\n");
    return export_out_close(&o);
}

// ---- Hugging Face directory ------------------------------------------------------------------------
// "rope_scaling": null or the object transformers reads back (modeling_rope_utils' keys).
static void write_rope_scaling(export_out *o, const RopeScaling *r) {
    char f[40], lo[40], hi[40];
    fmt_f32(r->factor, f, sizeof f);
    fmt_f32(r->low_freq_factor, lo, sizeof lo);
    fmt_f32(r->high_freq_factor, hi, sizeof hi);
    if (r->kind == ROPE_SCALING_LINEAR) export_out_printf(o, "  \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": %s},\n", f);
    else if (r->kind == ROPE_SCALING_LLAMA3)
        export_out_printf(o, "  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": %s, \"low_freq_factor\": %s, "
                      "\"high_freq_factor\": %s, \"original_max_position_embeddings\": %d},\n", f, lo, hi, r->original_max_pos);
    else export_out_printf(o, "  \"rope_scaling\": null,\n");
}

int export_write_hf_config(const char *path, const ModelConfig *c, const export_hf_opts *opt, qp_status *st) {
    export_out o;
    if (export_out_open(&o, path, st)) return -1;
    char eps[40], theta[40];
    fmt_f32(c->norm_eps, eps, sizeof eps);
    fmt_f32(c->rope_theta, theta, sizeof theta);
    int seqcls = c->n_labels > 0;
    static const char *const ARCH[FAMILY_COUNT] = {"Llama", "Mistral", "Qwen2", "Qwen3"};
    export_out_printf(&o, "{\n  \"architectures\": [\"%s%s\"],\n", ARCH[c->family], seqcls ? "ForSequenceClassification" : "ForCausalLM");
    export_out_printf(&o, "  \"model_type\": \"%s\",\n", config_family_name(c->family));
    if (c->head_dim > 0) export_out_printf(&o, "  \"head_dim\": %d,\n", c->head_dim);
    write_rope_scaling(&o, &c->rope_scaling);
    export_out_printf(&o,
               "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n"
               "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
               "  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %s,\n"
               "  \"rope_theta\": %s,\n  \"tie_word_embeddings\": %s,\n"
               "  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n  \"mlp_bias\": false,\n"
               "  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n  \"torch_dtype\": \"%s\"",
               c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->max_seq_len, eps, theta,
               c->tied_embeddings ? "true" : "false", DT[opt->dtype].torch);
    if (seqcls) {
        // Label names from the checkpoint when they match the head's size, else LABEL_i.
        char *names[1024] = {0};
        char *copy = opt->labels ? xstrdup(opt->labels) : NULL;
        int nn = 0;
        for (char *p = copy, *tok; p && nn < 1024; p = tok ? tok + 1 : NULL) {
            tok = strchr(p, '\t');
            if (tok) *tok = 0;
            names[nn++] = p;
        }
        int use = nn == c->n_labels;
        export_out_printf(&o, ",\n  \"num_labels\": %d,\n  \"problem_type\": \"%s\",\n  \"pad_token_id\": 0,\n  \"id2label\": {",
                   c->n_labels, opt->head == HEAD_REGRESS ? "regression" : "single_label_classification");
        for (int i = 0; i < c->n_labels; i++) {
            char def[32];
            snprintf(def, sizeof def, "LABEL_%d", i);
            export_out_printf(&o, "%s\"%d\": ", i ? ", " : "", i);
            out_json_str(&o, use ? names[i] : def);
        }
        export_out_printf(&o, "},\n  \"label2id\": {");
        for (int i = 0; i < c->n_labels; i++) {
            char def[32];
            snprintf(def, sizeof def, "LABEL_%d", i);
            export_out_printf(&o, "%s", i ? ", " : "");
            out_json_str(&o, use ? names[i] : def);
            export_out_printf(&o, ": %d", i);
        }
        export_out_printf(&o, "}");
        free(copy);
    }
    export_out_printf(&o, "\n}\n");
    return export_out_close(&o);
}

int export_write_hf(const char *dir, const ModelConfig *c, const ModelWeights *w, const export_hf_opts *opt,
                    qp_status *st) {
    if (config_validate(c, dir, st)) return -1;
    if (c->n_layers > MODEL_MAX_LAYERS) return qp_fail(st, "%s: at most %d layers, found %d", dir, MODEL_MAX_LAYERS, c->n_layers);
    char path[EXPORT_PATH_MAX];
    if (join(path, sizeof path, dir, "config.json", st) || export_write_hf_config(path, c, opt, st)) return -1;

    const int64_t C = c->dim, H = c->hidden_dim, V = c->vocab_size, HS = config_head_size(c);
    const int64_t QD = c->n_heads * HS, KVD = c->n_kv_heads * HS;
    int cap = 4 + 14 * c->n_layers, n = 0;
    export_tensor *t = xcalloc((size_t)cap, sizeof *t);
    char (*names)[96] = xcalloc((size_t)cap, sizeof *names);
    // NAME_FMT takes the layer index; the global names use "%.0d" (precision 0 prints 0 as nothing).
#define ADD(NAME_FMT, L, DATA, ND, R, CC, RH) do { \
        snprintf(names[n], sizeof names[n], NAME_FMT, L); \
        t[n] = (export_tensor){names[n], (DATA), (ND), {(R), (CC)}, (RH), NULL, NULL}; n++; } while (0)
    ADD("model.embed_tokens.weight%.0d", 0, w->tok_emb, 2, V, C, 0);
    ADD("model.norm.weight%.0d", 0, w->final_norm, 1, C, 0, 0);
    if (!c->tied_embeddings) ADD("lm_head.weight%.0d", 0, w->lm_head, 2, V, C, 0);
    if (c->n_labels > 0) ADD("score.weight%.0d", 0, w->score, 2, c->n_labels, C, 0);
    for (int l = 0; l < c->n_layers; l++) {
        ADD("model.layers.%d.input_layernorm.weight", l, w->attn_norm + l * C, 1, C, 0, 0);
        ADD("model.layers.%d.post_attention_layernorm.weight", l, w->ffn_norm + l * C, 1, C, 0, 0);
        ADD("model.layers.%d.self_attn.q_proj.weight", l, w->wq + l * QD * C, 2, QD, C, c->n_heads);
        ADD("model.layers.%d.self_attn.k_proj.weight", l, w->wk + l * KVD * C, 2, KVD, C, c->n_kv_heads);
        ADD("model.layers.%d.self_attn.v_proj.weight", l, w->wv + l * KVD * C, 2, KVD, C, 0);
        ADD("model.layers.%d.self_attn.o_proj.weight", l, w->wo + l * C * QD, 2, C, QD, 0);
        ADD("model.layers.%d.mlp.gate_proj.weight", l, w->w_gate + l * H * C, 2, H, C, 0);
        ADD("model.layers.%d.mlp.up_proj.weight", l, w->w_up + l * H * C, 2, H, C, 0);
        ADD("model.layers.%d.mlp.down_proj.weight", l, w->w_down + l * C * H, 2, C, H, 0);
        if (c->attn_bias) {  // Qwen2
            ADD("model.layers.%d.self_attn.q_proj.bias", l, w->bq + l * QD, 1, QD, 0, c->n_heads);
            ADD("model.layers.%d.self_attn.k_proj.bias", l, w->bk + l * KVD, 1, KVD, 0, c->n_kv_heads);
            ADD("model.layers.%d.self_attn.v_proj.bias", l, w->bv + l * KVD, 1, KVD, 0, 0);
        }
        if (c->qk_norm) {  // Qwen3: one head's worth of features, permuted like a head
            ADD("model.layers.%d.self_attn.q_norm.weight", l, w->q_norm + l * HS, 1, HS, 0, 1);
            ADD("model.layers.%d.self_attn.k_norm.weight", l, w->k_norm + l * HS, 1, HS, 0, 1);
        }
    }
#undef ADD
    QP_ASSERT(n <= cap);
    int rc = join(path, sizeof path, dir, "model.safetensors", st) || export_safetensors_write(path, t, n, opt->dtype, st);
    free(t);
    free(names);
    if (rc) return -1;
    if (opt->tokenizer && (join(path, sizeof path, dir, "tokenizer.model", st) || export_copy_file(opt->tokenizer, path, st)))
        return -1;
    return 0;
}

// ---- llama2.c legacy file -----------------------------------------------------------------------------
static void out_f32(export_out *o, const float *x, size_t n) {
    unsigned char buf[4096];
    for (size_t k = 0; k < n; k += 1024) {
        size_t m = n - k < 1024 ? n - k : 1024;
        if (x) encode(buf, x + k, m, EXPORT_F32);
        else memset(buf, 0, m * 4);
        export_out_write(o, buf, m * 4);
    }
}

int export_write_llama2c(const char *path, const ModelConfig *c, const ModelWeights *w, qp_status *st) {
    if (config_validate(c, path, st)) return -1;
    if (c->n_labels > 0)
        return qp_fail(st, "%s: a model without a classification/regression head for llama2.c, found %d labels (use --to hf)", path, c->n_labels);
    if (c->norm_eps != 1e-5f || c->rope_theta != 10000.0f)
        return qp_fail(st, "%s: rms_norm_eps 1e-5 and rope_theta 10000 (all a llama2.c header can mean), found %g and %g (use --to hf)",
                       path, (double)c->norm_eps, (double)c->rope_theta);
    if (!config_is_plain_llama(c))
        return qp_fail(st, "%s: a llama2.c header cannot carry head_dim, rope_scaling or model_type %s (use --to hf)", path,
                       config_family_name(c->family));
    export_out o;
    if (export_out_open(&o, path, st)) return -1;
    const int32_t hdr[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                            c->tied_embeddings ? c->vocab_size : -c->vocab_size, c->max_seq_len};
    unsigned char hb[28];
    for (int i = 0; i < 7; i++) {
        uint32_t u;
        memcpy(&u, &hdr[i], 4);
        for (int b = 0; b < 4; b++) hb[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    export_out_write(&o, hb, sizeof hb);
    size_t C = (size_t)c->dim, H = (size_t)c->hidden_dim, L = (size_t)c->n_layers, V = (size_t)c->vocab_size;
    size_t HS = (size_t)config_head_size(c), QD = (size_t)c->n_heads * HS, KVD = (size_t)c->n_kv_heads * HS;
    // llama2.c's legacy order (export.py legacy_export, run.c memory_map_weights); wq/wk rows are
    // already in llama2.c's interleaved order internally.
    out_f32(&o, w->tok_emb, V * C);
    out_f32(&o, w->attn_norm, L * C);
    out_f32(&o, w->wq, L * QD * C);
    out_f32(&o, w->wk, L * KVD * C);
    out_f32(&o, w->wv, L * KVD * C);
    out_f32(&o, w->wo, L * C * QD);
    out_f32(&o, w->ffn_norm, L * C);
    out_f32(&o, w->w_gate, L * H * C);   // w1
    out_f32(&o, w->w_down, L * C * H);   // w2
    out_f32(&o, w->w_up, L * H * C);     // w3
    out_f32(&o, w->final_norm, C);
    out_f32(&o, NULL, (size_t)c->max_seq_len * HS);  // freq_cis real + imag (seq_len * HS/2 each): zeros, run.c ignores them
    if (!c->tied_embeddings) out_f32(&o, w->lm_head, V * C);
    return export_out_close(&o);
}

// ---- PEFT adapter directory -------------------------------------------------------------------------
static int write_peft_config(const char *path, const Model *m, const export_peft_opts *opt, qp_status *st) {
    export_out o;
    if (export_out_open(&o, path, st)) return -1;
    char alpha[40], drop[40];
    // lora_alpha: an integer literal when integral (PEFT's type hint is int; a float also works).
    if (m->alpha == floorf(m->alpha) && fabsf(m->alpha) < 1e9f) snprintf(alpha, sizeof alpha, "%d", (int)m->alpha);
    else fmt_f32(m->alpha, alpha, sizeof alpha);
    fmt_f32((float)opt->lora_dropout, drop, sizeof drop);
    export_out_printf(&o, "{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"%s\",\n  \"base_model_name_or_path\": ",
               m->head == HEAD_LM ? "CAUSAL_LM" : "SEQ_CLS");
    if (opt->base_model) out_json_str(&o, opt->base_model);
    else export_out_printf(&o, "null");
    export_out_printf(&o, ",\n  \"r\": %d,\n  \"lora_alpha\": %s,\n  \"lora_dropout\": %s,\n  \"target_modules\": [", m->rank,
               alpha, drop);
    int first = 1;
    for (int k = 0; k < LIN_COUNT; k++)
        if (m->target_mask >> k & 1u) { export_out_printf(&o, "%s\"%s\"", first ? "" : ", ", lin_names[k]); first = 0; }
    export_out_printf(&o, "],\n  \"bias\": \"none\",\n  \"modules_to_save\": %s,\n", m->head == HEAD_LM ? "null" : "[\"score\"]");
    export_out_printf(&o, "  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
                   "  \"use_rslora\": false,\n  \"use_dora\": false,\n  \"layers_to_transform\": null,\n"
                   "  \"layers_pattern\": null,\n  \"rank_pattern\": {},\n  \"alpha_pattern\": {},\n  \"revision\": null\n}\n");
    return export_out_close(&o);
}

int export_write_peft(const char *dir, const Model *m, const export_peft_opts *opt, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    if (m->rank <= 0 || !m->target_mask || m->train == TRAIN_FULL)
        return qp_fail(st, "%s: a checkpoint with LoRA adapters for --to peft, found %s", dir,
                       m->train == TRAIN_FULL ? "a full fine-tuning checkpoint (use --to hf)" : "no adapters");
    int cap = 2 * LIN_COUNT * c->n_layers + 2, n = 0;
    export_tensor *t = xcalloc((size_t)cap, sizeof *t);
    char (*names)[128] = xcalloc((size_t)cap, sizeof *names);
    const int64_t R = m->rank;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            if (!(m->target_mask >> k & 1u)) continue;
            QP_ASSERT(m->A[i] && m->B[i]);
            int oc, ic;
            model_lin_shape(c, k, &oc, &ic);
            const char *grp = k <= LIN_O ? "self_attn" : "mlp";
            snprintf(names[n], sizeof names[n], "base_model.model.model.layers.%d.%s.%s.lora_A.weight", l, grp, lin_names[k]);
            t[n] = (export_tensor){names[n], m->A[i], 2, {R, ic}, 0, NULL, NULL};
            n++;
            // B's rows index q/k output features, which HF orders rotate-half: permute them as the
            // base rows are, so (B·A) permutes with W and the merge commutes with the export.
            int rh = k == LIN_Q ? c->n_heads : k == LIN_K ? c->n_kv_heads : 0;
            snprintf(names[n], sizeof names[n], "base_model.model.model.layers.%d.%s.%s.lora_B.weight", l, grp, lin_names[k]);
            t[n] = (export_tensor){names[n], m->B[i], 2, {oc, R}, rh, NULL, NULL};
            n++;
        }
    if (m->head != HEAD_LM) {
        // The name (PEFT's in-memory ModulesToSaveWrapper key) and the name PEFT's
        // save_pretrained writes and load_adapter expects (adapter name stripped): same data.
        t[n++] = (export_tensor){"base_model.model.score.modules_to_save.default.weight", m->w.score, 2, {c->n_labels, c->dim}, 0, NULL, NULL};
        t[n++] = (export_tensor){"base_model.model.score.weight", m->w.score, 2, {c->n_labels, c->dim}, 0, NULL, NULL};
    }
    char path[EXPORT_PATH_MAX];
    int rc = join(path, sizeof path, dir, "adapter_model.safetensors", st) || export_safetensors_write(path, t, n, EXPORT_F32, st) ||
             join(path, sizeof path, dir, "adapter_config.json", st) || write_peft_config(path, m, opt, st);
    free(t);
    free(names);
    return rc ? -1 : 0;
}
