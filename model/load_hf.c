// model/load_hf.c — Hugging Face Llama-family directories (model_type llama, mistral, qwen2,
// qwen3): config.json plus model.safetensors or a sharded model.safetensors.index.json.
// F32/F16/BF16 tensors become fp32; q_proj/k_proj rows (and Qwen2's q/k biases, Qwen3's q_norm/
// k_norm weights) are permuted from HF's rotate-half order into llama2.c's interleaved order.
// Config extras: head_dim, rope_scaling linear/llama3, Mistral's sliding_window (caps the context).
// Tested by tests/test_loaders.c (tinystories-1M-hf, python-written F16/BF16/sharded/SeqCls
// dirs, and every malformed-input path).
//
// Policy on tensor names (strict, so a checkpoint of another architecture can't load silently):
//  - every weight the config implies must be present (missing -> error naming it), including
//    self_attn.{q,k,v}_proj.bias for qwen2 and self_attn.{q,k}_norm.weight for qwen3; those
//    names in a checkpoint whose model_type has no use for them are an error;
//  - any other name is an error, except "__metadata__" and the old non-persistent buffer
//    model.layers.{i}.self_attn.rotary_emb.inv_freq, which are ignored;
//  - lm_head.weight: required when tie_word_embeddings is false, ignored (shape-checked) when
//    it is true. LlamaForSequenceClassification has no LM head: without lm_head.weight the
//    loaded config is tied (lm_head aliases tok_emb); with it and untied, it is loaded;
//  - score.weight (num_labels, C): required for LlamaForSequenceClassification, an error otherwise;
//  - sharded: each tensor must sit in the shard index.json names for it, and every name the
//    index lists must be found.
#include "model/weights.h"
#include "model/weights_internal.h"
#include "core/check.h"
#include "core/json.h"
#include "quant/quant.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_MAX_CONFIG_BYTES (16u << 20)          // config.json / index.json
#define HF_MAX_HEADER_BYTES (100u << 20)         // safetensors' own limit on the JSON header
#define HF_MAX_SHARDS 4096

// ---- tensor slots ---------------------------------------------------------------------------
// Slots 0..3 are the global tensors, then 9 per layer in the order of LAYER_NAMES.
enum { SL_EMBED, SL_NORM, SL_LM, SL_SCORE, SL_GLOBAL };
enum { LK_Q, LK_K, LK_V, LK_O, LK_GATE, LK_UP, LK_DOWN, LK_ATTN_NORM, LK_FFN_NORM,
       LK_BQ, LK_BK, LK_BV, LK_QNORM, LK_KNORM, LK_COUNT };  // the last five only when the config has them
static const char *const GLOBAL_NAMES[SL_GLOBAL] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "score.weight"};
static const char *const LAYER_NAMES[LK_COUNT] = {
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    "input_layernorm.weight", "post_attention_layernorm.weight",
    "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
    "self_attn.q_norm.weight", "self_attn.k_norm.weight"};

// Does the config use slot s? (biases with attn_bias, q/k norms with qk_norm; the rest always,
// lm_head and score by their own rules in weights_load_hf).
static int slot_used(int s, const ModelConfig *c) {
    if (s < SL_GLOBAL) return 1;
    int k = (s - SL_GLOBAL) % LK_COUNT;
    if (k >= LK_BQ && k <= LK_BV) return c->attn_bias;
    if (k == LK_QNORM || k == LK_KNORM) return c->qk_norm;
    return 1;
}

typedef enum { DT_F32, DT_F16, DT_BF16 } dtype;
static const char *const DT_NAMES[3] = {"F32", "F16", "BF16"};
static const size_t DT_BYTES[3] = {4, 2, 2};

typedef struct {
    int found;     // 0, or 1 + index of the shard holding it
    dtype dt;
    size_t offset; // absolute file offset of its data
} Slot;

typedef struct {
    char *path;
    int fd;
    size_t data_start, data_len;  // the byte buffer after the header
} Shard;

static void slot_name(int s, char *buf, size_t n) {
    if (s < SL_GLOBAL) snprintf(buf, n, "%s", GLOBAL_NAMES[s]);
    else snprintf(buf, n, "model.layers.%d.%s", (s - SL_GLOBAL) / LK_COUNT, LAYER_NAMES[(s - SL_GLOBAL) % LK_COUNT]);
}

// Name -> slot; -2 for names ignored on purpose, -1 for unknown names; *layer_oob set when the
// name is a layer tensor whose index is >= n_layers.
static int slot_of(const char *name, int n_layers, int *layer_oob) {
    *layer_oob = 0;
    for (int s = 0; s < SL_GLOBAL; s++)
        if (!strcmp(name, GLOBAL_NAMES[s])) return s;
    const char *pre = "model.layers.";
    size_t np = strlen(pre);
    if (strncmp(name, pre, np)) return -1;
    const char *d = name + np;
    if (*d < '0' || *d > '9' || (d[0] == '0' && d[1] >= '0' && d[1] <= '9')) return -1;  // no leading zeros
    long layer = 0;
    while (*d >= '0' && *d <= '9') {
        layer = layer * 10 + (*d++ - '0');
        if (layer > INT_MAX / 10) return -1;
    }
    if (*d++ != '.') return -1;
    if (!strcmp(d, "self_attn.rotary_emb.inv_freq")) return -2;
    for (int k = 0; k < LK_COUNT; k++) {
        if (strcmp(d, LAYER_NAMES[k])) continue;
        if (layer >= n_layers) { *layer_oob = 1; return -1; }
        return SL_GLOBAL + (int)layer * LK_COUNT + k;
    }
    return -1;
}

// Expected (rows, cols) of a slot; cols = 0 for a 1-D tensor.
static void slot_shape(int s, const ModelConfig *c, size_t *rows, size_t *cols) {
    size_t C = (size_t)c->dim, H = (size_t)c->hidden_dim, HS = (size_t)config_head_size(c);
    size_t QD = HS * (size_t)c->n_heads, KVD = HS * (size_t)c->n_kv_heads;
    *cols = C;
    switch (s < SL_GLOBAL ? s : SL_GLOBAL + (s - SL_GLOBAL) % LK_COUNT) {
    case SL_EMBED: case SL_LM: *rows = (size_t)c->vocab_size; break;
    case SL_NORM: *rows = C; *cols = 0; break;
    case SL_SCORE: *rows = (size_t)c->n_labels; break;
    case SL_GLOBAL + LK_Q: *rows = QD; break;
    case SL_GLOBAL + LK_O: *rows = C; *cols = QD; break;
    case SL_GLOBAL + LK_K: case SL_GLOBAL + LK_V: *rows = KVD; break;
    case SL_GLOBAL + LK_GATE: case SL_GLOBAL + LK_UP: *rows = H; break;
    case SL_GLOBAL + LK_DOWN: *rows = C; *cols = H; break;
    case SL_GLOBAL + LK_BQ: *rows = QD; *cols = 0; break;
    case SL_GLOBAL + LK_BK: case SL_GLOBAL + LK_BV: *rows = KVD; *cols = 0; break;
    case SL_GLOBAL + LK_QNORM: case SL_GLOBAL + LK_KNORM: *rows = HS; *cols = 0; break;
    default: *rows = C; *cols = 0; break;  // the two per-layer norms
    }
}

// ---- files ------------------------------------------------------------------------------------
static int join(char *out, size_t n, const char *dir, const char *name, qp_status *st) {
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
        return qp_fail(st, "%s: a path shorter than %zu bytes, found a longer one", dir, n);
    return 0;
}

static int is_regular(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Whole small text file into a malloc'd buffer, refusing anything larger than cap.
static int read_text(const char *path, size_t cap, char **buf, size_t *len, qp_status *st) {
    *buf = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qp_fail(st, "%s: a readable file, found none (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); return qp_fail(st, "%s: a regular file, found something else", path); }
    if ((size_t)sb.st_size > cap) { close(fd); return qp_fail(st, "%s: at most %zu bytes, found %lld", path, cap, (long long)sb.st_size); }
    char *b = malloc((size_t)sb.st_size + 1);
    if (!b) { close(fd); return qp_fail(st, "%s: memory for %lld bytes, found none", path, (long long)sb.st_size); }
    if (weights_pread_exact(fd, b, (size_t)sb.st_size, 0, path, st)) { free(b); close(fd); return -1; }
    close(fd);
    b[sb.st_size] = '\0';
    *buf = b;
    *len = (size_t)sb.st_size;
    return 0;
}

static int parse_json_file(const char *path, JsonValue **out, qp_status *st) {
    char *text;
    size_t len = 0;
    *out = NULL;
    if (read_text(path, HF_MAX_CONFIG_BYTES, &text, &len, st)) return -1;
    int rc = json_parse(text, len, path, out, st);
    free(text);
    if (rc == 0 && (*out)->type != JSON_OBJECT) {
        rc = qp_fail(st, "%s: a JSON object at the top level, found %s", path, json_type_name((*out)->type));
        json_free(*out);
        *out = NULL;
    }
    return rc;
}

// ---- config.json ------------------------------------------------------------------------------
// Describe a JSON value briefly for "found ..." (type, or the value for scalars).
static const char *describe(const JsonValue *v, char *buf, size_t n) {
    if (!v) return "no such key";
    if (v->type == JSON_NUMBER) snprintf(buf, n, "%.17g", v->number);
    else if (v->type == JSON_STRING) snprintf(buf, n, "\"%.60s\"", v->string);
    else if (v->type == JSON_BOOL) snprintf(buf, n, "%s", v->boolean ? "true" : "false");
    else snprintf(buf, n, "%s", json_type_name(v->type));
    return buf;
}

// Integer key; missing -> default when `def` >= 0, else an error.
static int cfg_int(const JsonValue *cfg, const char *key, long long def, int *out, const char *path, qp_status *st) {
    const JsonValue *v = json_get(cfg, key);
    char b[96];
    if (!v && def >= 0) { *out = (int)def; return 0; }
    int64_t x;
    if (!json_as_int64(v, &x) || x < INT_MIN || x > INT_MAX)
        return qp_fail(st, "%s: \"%s\" as an integer, found %s", path, key, describe(v, b, sizeof b));
    *out = (int)x;
    return 0;
}

static int cfg_float(const JsonValue *cfg, const char *key, double def, int required, float *out, const char *path, qp_status *st) {
    const JsonValue *v = json_get(cfg, key);
    char b[96];
    double x;
    if (!v && !required) { *out = (float)def; return 0; }
    if (!json_as_double(v, &x)) return qp_fail(st, "%s: \"%s\" as a number, found %s", path, key, describe(v, b, sizeof b));
    *out = (float)x;
    return 0;
}

// "rope_scaling": null, or {"rope_type" (or the older "type"): "default" | "linear" | "llama3", ...}.
static int parse_rope_scaling(const char *path, const JsonValue *v, ModelConfig *c, qp_status *st) {
    char b[96];
    RopeScaling *r = &c->rope_scaling;
    memset(r, 0, sizeof *r);
    if (!v || v->type == JSON_NULL) return 0;
    const char *t = json_as_string(json_get(v, "rope_type"));
    if (!t) t = json_as_string(json_get(v, "type"));
    if (v->type != JSON_OBJECT || !t)
        return qp_fail(st, "%s: \"rope_scaling\" null or an object with \"rope_type\", found %s", path, describe(v, b, sizeof b));
    if (!strcmp(t, "default")) return 0;
    if (!strcmp(t, "linear")) r->kind = ROPE_SCALING_LINEAR;
    else if (!strcmp(t, "llama3")) r->kind = ROPE_SCALING_LLAMA3;
    else return qp_fail(st, "%s: \"rope_scaling\" rope_type \"linear\" or \"llama3\", found \"%s\"", path, t);
    if (cfg_float(v, "factor", 0.0, 1, &r->factor, path, st)) return -1;
    if (r->kind == ROPE_SCALING_LLAMA3 &&
        (cfg_float(v, "low_freq_factor", 0.0, 1, &r->low_freq_factor, path, st) ||
         cfg_float(v, "high_freq_factor", 0.0, 1, &r->high_freq_factor, path, st) ||
         cfg_int(v, "original_max_position_embeddings", -1, &r->original_max_pos, path, st)))
        return -1;
    return 0;
}

// Mistral's sliding-window attention masks keys further back than sliding_window. qpeft's
// attention is full, so the usable context is capped at the window, where the two agree.
static int parse_sliding_window(const char *path, const JsonValue *cfg, ModelConfig *c, qp_status *st) {
    const JsonValue *v = json_get(cfg, "sliding_window");
    int sw = 0;
    if (!v || v->type == JSON_NULL) return 0;
    if (cfg_int(cfg, "sliding_window", -1, &sw, path, st)) return -1;
    if (sw <= 0) return qp_fail(st, "%s: \"sliding_window\" > 0 or null, found %d", path, sw);
    if (sw < c->max_seq_len) c->max_seq_len = sw;
    return 0;
}

static int parse_config(const char *path, const JsonValue *cfg, ModelConfig *c, int *seqcls, qp_status *st) {
    char b[96];
    memset(c, 0, sizeof *c);
    if (cfg_int(cfg, "hidden_size", -1, &c->dim, path, st) ||
        cfg_int(cfg, "intermediate_size", -1, &c->hidden_dim, path, st) ||
        cfg_int(cfg, "num_hidden_layers", -1, &c->n_layers, path, st) ||
        cfg_int(cfg, "num_attention_heads", -1, &c->n_heads, path, st) ||
        cfg_int(cfg, "vocab_size", -1, &c->vocab_size, path, st) ||
        cfg_int(cfg, "max_position_embeddings", -1, &c->max_seq_len, path, st) ||
        cfg_float(cfg, "rms_norm_eps", 0.0, 1, &c->norm_eps, path, st) ||
        cfg_float(cfg, "rope_theta", 10000.0, 0, &c->rope_theta, path, st))
        return -1;
    // Missing or null num_key_value_heads means "same as heads" (no GQA), as in HF's LlamaConfig.
    const JsonValue *kv = json_get(cfg, "num_key_value_heads");
    c->n_kv_heads = c->n_heads;
    if (kv && kv->type != JSON_NULL && cfg_int(cfg, "num_key_value_heads", -1, &c->n_kv_heads, path, st)) return -1;
    const JsonValue *v = json_get(cfg, "tie_word_embeddings");
    int tied = 0;  // LlamaConfig's default
    if (v && !json_as_bool(v, &tied)) return qp_fail(st, "%s: \"tie_word_embeddings\" as true or false, found %s", path, describe(v, b, sizeof b));
    c->tied_embeddings = tied;

    const char *mt = json_as_string(v = json_get(cfg, "model_type"));
    int fam = -1;
    for (int f = 0; mt && f < FAMILY_COUNT; f++)
        if (!strcmp(mt, config_family_name((model_family)f))) fam = f;
    if (fam < 0)
        return qp_fail(st, "%s: \"model_type\" \"llama\", \"mistral\", \"qwen2\" or \"qwen3\", found %s", path, describe(v, b, sizeof b));
    c->family = (model_family)fam;
    c->attn_bias = c->family == FAMILY_QWEN2;  // Qwen2Attention: q/k/v biases always, o_proj none
    c->qk_norm = c->family == FAMILY_QWEN3;
    v = json_get(cfg, "hidden_act");
    const char *act = json_as_string(v);
    if (v && (!act || strcmp(act, "silu"))) return qp_fail(st, "%s: \"hidden_act\" \"silu\", found %s", path, describe(v, b, sizeof b));
    if (parse_rope_scaling(path, json_get(cfg, "rope_scaling"), c, st)) return -1;
    if (c->family == FAMILY_MISTRAL && parse_sliding_window(path, cfg, c, st)) return -1;
    v = json_get(cfg, "use_sliding_window");  // Qwen2/3: on for the upper layers only; not supported
    int usw = 0;
    if (v && (!json_as_bool(v, &usw) || usw))
        return qp_fail(st, "%s: \"use_sliding_window\" false (sliding-window layers are not supported), found %s", path, describe(v, b, sizeof b));
    const char *biases[2] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        int on = 0;
        v = json_get(cfg, biases[i]);
        if (v && (!json_as_bool(v, &on) || on))
            return qp_fail(st, "%s: \"%s\" false (biases on o_proj and the MLP are not supported), found %s", path, biases[i], describe(v, b, sizeof b));
    }
    v = json_get(cfg, "head_dim");
    if (v && v->type != JSON_NULL) {
        int hd = 0;
        if (cfg_int(cfg, "head_dim", -1, &hd, path, st)) return -1;
        if (hd <= 0) return qp_fail(st, "%s: \"head_dim\" > 0, found %d", path, hd);
        if (c->n_heads <= 0 || c->dim % c->n_heads || hd != c->dim / c->n_heads) c->head_dim = hd;  // else implied
    }

    *seqcls = 0;
    v = json_get(cfg, "architectures");
    if (v) {
        const char *arch = json_as_string(json_at(v, 0));
        if (v->type != JSON_ARRAY || v->n != 1 || !arch)
            return qp_fail(st, "%s: \"architectures\" as a list of one name, found %s", path, describe(v, b, sizeof b));
        static const char *const ARCH[FAMILY_COUNT] = {"Llama", "Mistral", "Qwen2", "Qwen3"};
        char causal[64], seq[64];
        snprintf(causal, sizeof causal, "%sForCausalLM", ARCH[c->family]);
        snprintf(seq, sizeof seq, "%sForSequenceClassification", ARCH[c->family]);
        if (!strcmp(arch, seq)) *seqcls = 1;
        else if (strcmp(arch, causal))
            return qp_fail(st, "%s: architecture %s or %s, found %s", path, causal, seq, arch);
    }
    if (*seqcls) {
        // num_labels wins when present; else the size of id2label; else HF's default of 2.
        const JsonValue *id2 = json_get(cfg, "id2label");
        if (id2 && id2->type != JSON_OBJECT) return qp_fail(st, "%s: \"id2label\" as an object, found %s", path, describe(id2, b, sizeof b));
        c->n_labels = id2 ? (int)id2->n : 2;
        if (json_get(cfg, "num_labels")) {
            if (cfg_int(cfg, "num_labels", -1, &c->n_labels, path, st)) return -1;
            if (id2 && (size_t)c->n_labels != id2->n)
                return qp_fail(st, "%s: \"num_labels\" equal to the size of id2label (%zu), found %d", path, id2->n, c->n_labels);
        }
        if (c->n_labels < 1) return qp_fail(st, "%s: at least 1 label for LlamaForSequenceClassification, found %d", path, c->n_labels);
    }
    return config_validate(c, path, st);
}

// ---- safetensors ------------------------------------------------------------------------------
// Is `name` a plain file name inside the directory (no separators, not "." or "..")?
static int plain_name(const char *name) {
    return name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static void shape_str(const JsonValue *shape, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (size_t i = 0; i < shape->n && o < n; i++) {
        char b[48];
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", describe(&shape->items[i], b, sizeof b));
    }
    if (o < n) snprintf(buf + o, n - o, "]");
}

// Validate one header entry against the slot's expected shape and the data buffer; record it.
static int take_entry(const char *path, const char *name, const JsonValue *e, int s, int shard, const ModelConfig *c,
                      const Shard *sh, Slot *slot, qp_status *st) {
    char b[96];
    if (!e || e->type != JSON_OBJECT) return qp_fail(st, "%s: tensor %s as an object, found %s", path, name, describe(e, b, sizeof b));
    const char *dts = json_as_string(json_get(e, "dtype"));
    int dt = -1;
    for (int i = 0; i < 3 && dts; i++)
        if (!strcmp(dts, DT_NAMES[i])) dt = i;
    if (dt < 0) return qp_fail(st, "%s: tensor %s dtype F32, F16 or BF16, found %s", path, name, describe(json_get(e, "dtype"), b, sizeof b));
    size_t rows, cols;
    slot_shape(s, c, &rows, &cols);
    const JsonValue *shape = json_get(e, "shape");
    if (!shape || shape->type != JSON_ARRAY) return qp_fail(st, "%s: tensor %s shape as a list, found %s", path, name, describe(shape, b, sizeof b));
    int64_t d0 = -1, d1 = -1;
    int ok = shape->n == (cols ? 2u : 1u) && json_as_int64(json_at(shape, 0), &d0) && (uint64_t)d0 == rows &&
             (!cols || (json_as_int64(json_at(shape, 1), &d1) && (uint64_t)d1 == cols));
    if (!ok) {
        char got[160];
        shape_str(shape, got, sizeof got);
        if (cols) return qp_fail(st, "%s: tensor %s shape [%zu, %zu], found %s", path, name, rows, cols, got);
        return qp_fail(st, "%s: tensor %s shape [%zu], found %s", path, name, rows, got);
    }
    const JsonValue *off = json_get(e, "data_offsets");
    int64_t o0, o1;
    if (!off || off->type != JSON_ARRAY || off->n != 2 || !json_as_int64(json_at(off, 0), &o0) || !json_as_int64(json_at(off, 1), &o1))
        return qp_fail(st, "%s: tensor %s data_offsets as [begin, end] integers, found %s", path, name, describe(off, b, sizeof b));
    size_t nbytes = rows * (cols ? cols : 1) * DT_BYTES[dt];  // bounded by config_validate
    if (o0 < 0 || o1 < o0 || (uint64_t)o1 > sh->data_len)
        return qp_fail(st, "%s: tensor %s data_offsets within the %zu-byte data buffer, found [%lld, %lld]", path, name,
                       sh->data_len, (long long)o0, (long long)o1);
    if ((uint64_t)(o1 - o0) != nbytes)
        return qp_fail(st, "%s: tensor %s data of %zu bytes (shape x %s), found data_offsets [%lld, %lld] (%lld bytes)", path,
                       name, nbytes, DT_NAMES[dt], (long long)o0, (long long)o1, (long long)(o1 - o0));
    if (slot->found) return qp_fail(st, "%s: tensor %s once, found it a second time", path, name);
    slot->found = 1 + shard;
    slot->dt = (dtype)dt;
    slot->offset = sh->data_start + (size_t)o0;
    return 0;
}

// Open a shard, read and check its header, record every tensor it holds.
static int scan_shard(const char *dir, int si, Shard *sh, const JsonValue *weight_map, const ModelConfig *c,
                      Slot *slots, qp_status *st) {
    char path[4096];
    if (join(path, sizeof path, dir, sh->path, st)) return -1;
    free(sh->path);
    sh->path = xstrdup(path);
    sh->fd = open(path, O_RDONLY);
    if (sh->fd < 0) return qp_fail(st, "%s: a readable safetensors file, found none (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(sh->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return qp_fail(st, "%s: a regular safetensors file, found something else", path);
    size_t fsize = (size_t)sb.st_size;
    unsigned char lb[8];
    if (fsize < 8) return qp_fail(st, "%s: an 8-byte safetensors header length, found a %zu-byte file", path, fsize);
    if (weights_pread_exact(sh->fd, lb, 8, 0, path, st)) return -1;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lb[i];
    if (hlen > fsize - 8 || hlen > HF_MAX_HEADER_BYTES)
        return qp_fail(st, "%s: a safetensors header length of at most %zu bytes (file size %zu, limit %u), found %llu", path,
                       fsize - 8 < HF_MAX_HEADER_BYTES ? fsize - 8 : (size_t)HF_MAX_HEADER_BYTES, fsize, HF_MAX_HEADER_BYTES,
                       (unsigned long long)hlen);
    char *text = malloc(hlen ? hlen : 1);
    if (!text) return qp_fail(st, "%s: memory for a %llu-byte header, found none", path, (unsigned long long)hlen);
    JsonValue *hdr = NULL;
    int rc = weights_pread_exact(sh->fd, text, hlen, 8, path, st);
    if (!rc) rc = json_parse(text, hlen, path, &hdr, st);
    free(text);
    if (rc) return -1;
    if (hdr->type != JSON_OBJECT) {
        rc = qp_fail(st, "%s: a JSON object as the safetensors header, found %s", path, json_type_name(hdr->type));
        json_free(hdr);
        return rc;
    }
    sh->data_start = 8 + hlen;
    sh->data_len = fsize - sh->data_start;
    for (size_t i = 0; i < hdr->n && !rc; i++) {
        const char *name = hdr->keys[i];
        if (!strcmp(name, "__metadata__")) continue;
        int oob, s = slot_of(name, c->n_layers, &oob);
        if (s == -2) continue;
        if (s < 0) {
            if (oob) rc = qp_fail(st, "%s: tensors of layers 0..%d, found %s", path, c->n_layers - 1, name);
            else rc = qp_fail(st, "%s: only Llama weight names, found unexpected tensor %s", path, name);
            break;
        }
        if (s == SL_SCORE && c->n_labels == 0) {
            rc = qp_fail(st, "%s: no score.weight in a LlamaForCausalLM model, found one (set architectures to LlamaForSequenceClassification)", path);
            break;
        }
        if (weight_map) {
            const char *want = json_as_string(json_get(weight_map, name));
            const char *base = strrchr(path, '/') + 1;
            if (!want || strcmp(want, base)) {
                rc = qp_fail(st, "%s: tensor %s listed in the index under this shard, found it listed under %s", path, name,
                             want ? want : "no shard");
                break;
            }
        }
        rc = take_entry(path, name, &hdr->items[i], s, si, c, sh, &slots[s], st);
    }
    json_free(hdr);
    return rc;
}

// ---- the source ------------------------------------------------------------------------------
enum { HF_CHUNK = 1 << 20 };  // elements converted per read: bounds the raw staging buffer

typedef struct {
    ModelConfig cfg;
    Shard *shards;
    int n_shards;
    Slot *slots;
    int n_slots;
    unsigned char *raw;  // HF_CHUNK * 4 bytes
    float *perm;         // one q/k tensor, for the RoPE row permutation
} HfSource;

static void hf_close(void *impl) {
    HfSource *h = impl;
    if (!h) return;
    for (int i = 0; i < h->n_shards; i++) {
        if (h->shards[i].fd >= 0) close(h->shards[i].fd);
        free(h->shards[i].path);
    }
    free(h->shards);
    free(h->slots);
    free(h->raw);
    free(h->perm);
    free(h);
}

// The slot of ModelWeights tensor t (WT_*) at layer l.
static int slot_for(int t, int l) {
    static const int LAYER_KIND[WT_COUNT] = {-1, LK_ATTN_NORM, LK_Q, LK_K, LK_V, LK_O, LK_FFN_NORM, LK_GATE, LK_UP, LK_DOWN, -1, -1,
                                             LK_BQ, LK_BK, LK_BV, LK_QNORM, LK_KNORM, -1};
    if (t == WT_TOK) return SL_EMBED;
    if (t == WT_FINAL) return SL_NORM;
    if (t == WT_LM) return SL_LM;
    if (t == WT_SCORE) return SL_SCORE;
    return SL_GLOBAL + l * LK_COUNT + LAYER_KIND[t];
}

static int hf_read(void *impl, int t, int l, float *dst, qp_status *st) {
    HfSource *h = impl;
    const ModelConfig *c = &h->cfg;
    int s = slot_for(t, l);
    QP_ASSERT(s >= 0 && s < h->n_slots && h->slots[s].found);
    const Slot *sl = &h->slots[s];
    const Shard *sh = &h->shards[sl->found - 1];
    char name[128];
    slot_name(s, name, sizeof name);
    size_t rows, cols;
    slot_shape(s, c, &rows, &cols);
    size_t n = rows * (cols ? cols : 1), eb = DT_BYTES[sl->dt];
    for (size_t i = 0; i < n; i += HF_CHUNK) {
        size_t m = n - i < HF_CHUNK ? n - i : HF_CHUNK;
        if (weights_pread_exact(sh->fd, h->raw, m * eb, sl->offset + i * eb, sh->path, st)) return -1;
        const unsigned char *raw = h->raw;
        if (sl->dt == DT_F32) {
            memcpy(dst + i, raw, m * 4);
            weights_le32_to_host(dst + i, m);
        } else {
            for (size_t j = 0; j < m; j++) {
                uint16_t v = (uint16_t)(raw[2 * j] | raw[2 * j + 1] << 8);
                dst[i + j] = sl->dt == DT_F16 ? quant_f16_to_f32(v) : quant_bf16_to_f32(v);
            }
        }
    }
    if (weights_check_finite(dst, n, 0, sh->path, name, st)) return -1;
    int k = s >= SL_GLOBAL ? (s - SL_GLOBAL) % LK_COUNT : -1;
    // q/k features are stored in HF's rotate-half order: weights' rows, biases and the per-head
    // norm weights alike move to the interleaved order.
    int nh = k == LK_Q || k == LK_BQ ? c->n_heads : k == LK_K || k == LK_BK ? c->n_kv_heads : k == LK_QNORM || k == LK_KNORM ? 1 : 0;
    if (nh) {
        weights_rows_hf_to_interleaved(h->perm, dst, nh, config_head_size(c), k == LK_Q || k == LK_K ? c->dim : 1);
        memcpy(dst, h->perm, n * sizeof(float));
    }
    return 0;
}

int weights_hf_open(const char *dir, ModelConfig *c, WeightsSource **out, qp_status *st) {
    *out = NULL;
    char path[4096];
    JsonValue *cfg = NULL, *index = NULL;
    const JsonValue *weight_map = NULL;
    HfSource *h = xcalloc(1, sizeof *h);
    int seqcls = 0, rc = -1;

    if (join(path, sizeof path, dir, "config.json", st)) goto done;
    if (!is_regular(path)) { qp_fail(st, "%s: a Hugging Face model directory with config.json, found no %s", dir, path); goto done; }
    if (parse_json_file(path, &cfg, st) || parse_config(path, cfg, c, &seqcls, st)) goto done;

    // Which files hold the tensors: model.safetensors, else the index's weight_map.
    h->shards = xcalloc(HF_MAX_SHARDS, sizeof *h->shards);
    Shard *shards = h->shards;
    if (join(path, sizeof path, dir, "model.safetensors", st)) goto done;
    if (is_regular(path)) {
        shards[0].path = xstrdup("model.safetensors");
        shards[0].fd = -1;
        h->n_shards = 1;
    } else {
        if (join(path, sizeof path, dir, "model.safetensors.index.json", st)) goto done;
        if (!is_regular(path)) {
            qp_fail(st, "%s: model.safetensors or model.safetensors.index.json, found neither", dir);
            goto done;
        }
        if (parse_json_file(path, &index, st)) goto done;
        weight_map = json_get(index, "weight_map");
        if (!weight_map || weight_map->type != JSON_OBJECT || weight_map->n == 0) {
            char b[96];
            qp_fail(st, "%s: \"weight_map\" as a non-empty object, found %s", path, describe(weight_map, b, sizeof b));
            goto done;
        }
        for (size_t i = 0; i < weight_map->n; i++) {
            const char *f = json_as_string(&weight_map->items[i]);
            if (!f || !plain_name(f)) {
                qp_fail(st, "%s: weight_map values as file names in the model directory, found %s for %s", path,
                        f ? f : json_type_name(weight_map->items[i].type), weight_map->keys[i]);
                goto done;
            }
            int j = 0;
            while (j < h->n_shards && strcmp(shards[j].path, f)) j++;
            if (j < h->n_shards) continue;
            if (h->n_shards == HF_MAX_SHARDS) { qp_fail(st, "%s: at most %d shards, found more", path, HF_MAX_SHARDS); goto done; }
            shards[h->n_shards].path = xstrdup(f);
            shards[h->n_shards].fd = -1;
            h->n_shards++;
        }
    }

    // Scan every header before allocating anything big: all shapes and offsets are checked
    // against the files, so a config asking for absurd sizes fails here, not in calloc.
    int n_slots = SL_GLOBAL + c->n_layers * LK_COUNT;
    h->n_slots = n_slots;
    h->slots = xcalloc((size_t)n_slots, sizeof *h->slots);
    Slot *slots = h->slots;
    for (int i = 0; i < h->n_shards; i++)
        if (scan_shard(dir, i, &shards[i], weight_map, c, slots, st)) goto done;
    if (weight_map) {  // every name the index lists must have turned up in its shard
        for (size_t i = 0; i < weight_map->n; i++) {
            int oob, s = slot_of(weight_map->keys[i], c->n_layers, &oob);
            if (s >= 0 && !slots[s].found) {
                qp_fail(st, "%s/%s: tensor %s (listed in model.safetensors.index.json), found no such tensor", dir,
                        weight_map->items[i].string, weight_map->keys[i]);
                goto done;
            }
        }
    }
    if (seqcls && !slots[SL_LM].found) c->tied_embeddings = 1;  // no LM head: alias the embedding
    int load_lm = !c->tied_embeddings;
    for (int s = 0; s < n_slots; s++) {
        char name[128];
        slot_name(s, name, sizeof name);
        if (slots[s].found && !slot_used(s, c)) {
            qp_fail(st, "%s: only %s weight names, found unexpected tensor %s (model_type %s has no use for it)", dir,
                    c->family == FAMILY_QWEN2 ? "Qwen2" : c->family == FAMILY_QWEN3 ? "Qwen3" : "Llama", name,
                    config_family_name(c->family));
            goto done;
        }
        if (slots[s].found || (s == SL_LM && !load_lm) || (s == SL_SCORE && !seqcls) || !slot_used(s, c)) continue;
        if (s == SL_LM) qp_fail(st, "%s: tensor %s (tie_word_embeddings is false), found no such tensor", dir, name);
        else qp_fail(st, "%s: tensor %s, found no such tensor", dir, name);
        goto done;
    }
    h->cfg = *c;
    h->raw = malloc((size_t)HF_CHUNK * 4);
    // q (NH*HS rows of C; NH*HS need not be C with an explicit head_dim) is the larger of q, k.
    h->perm = malloc((size_t)c->n_heads * config_head_size(c) * c->dim * sizeof(float));
    if (!h->raw || !h->perm) { qp_fail(st, "%s: memory for the loader's staging buffers, found none", dir); goto done; }
    WeightsSource *src = xcalloc(1, sizeof *src);
    *src = (WeightsSource){hf_read, hf_close, h};
    *out = src;
    rc = 0;
done:
    if (rc) hf_close(h);
    json_free(index);
    json_free(cfg);
    return rc;
}

int weights_load_hf(const char *dir, ModelConfig *c, ModelWeights *w, qp_status *st) {
    return weights_load_via(weights_hf_open, dir, c, w, NULL, st);
}
