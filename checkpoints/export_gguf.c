// checkpoints/export_gguf.c — llama.cpp's view of a qpeft model: the `llama` architecture's keys
// and tensor names (convert_hf_to_gguf.py's), each tensor's type chosen from the --gguf-type
// table (exact where the values allow it), and the LoRA adapter GGUF. Container: checkpoints/gguf.h.
// Tested by tests/test_gguf.c and tests/test_gguf_llamacpp.sh.
#include "checkpoints/export_gguf.h"
#include "checkpoints/gguf.h"
#include "core/check.h"
#include "quant/ggml_blocks.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// llama.cpp's names of qpeft's seven linears (LIN_* order).
static const char *const LIN_GGUF[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

void export_gguf_linear_name(char *buf, size_t n, int l, int k) { snprintf(buf, n, "blk.%d.%s.weight", l, LIN_GGUF[k]); }

// One tensor of the model: fp32 values (rows, cols) in qpeft's layout (= ggml's ne {cols, rows}).
typedef struct {
    char name[64];
    const float *x;
    int64_t rows, cols;
    int is_1d, kind;       // kind: LIN_* or -1
    export_dtype type;     // chosen
    int exact;             // the file holds x exactly
    ggml_fit miss;         // why expect_type did not fit (fallbacks)
    int64_t miss_block;
} gt;

static const export_dtype EXACT_ORDER[] = {EXPORT_Q4_0, EXPORT_Q8_0, EXPORT_F16, EXPORT_BF16, EXPORT_F32};

static const ggml_block_type *bt_of(export_dtype d) { return ggml_blocks_type(export_dtype_ggml_id(d)); }

static ggml_fit fits(const gt *t, export_dtype d, int64_t *bad) {
    const ggml_block_type *b = bt_of(d);
    if (t->cols % b->block) return GGML_FIT_RANGE;
    return ggml_blocks_encode_exact(b, t->x, NULL, t->rows * t->cols, bad);
}

// The smallest exact type at or after `from` in EXACT_ORDER (F32 always fits).
static export_dtype smallest_exact(const gt *t, export_dtype from) {
    int i = 0;
    while (EXACT_ORDER[i] != from) i++;
    for (int64_t bad; i < 4; i++)
        if (fits(t, EXACT_ORDER[i], &bad) == GGML_FIT_OK) return EXACT_ORDER[i];
    return EXPORT_F32;
}

static void choose(gt *t, const export_gguf_opts *o) {
    t->exact = 1;
    if (t->is_1d) { t->type = EXPORT_F32; return; }  // norms stay F32 (llama.cpp's convention)
    const int want_lowbit = o->type == EXPORT_Q4_0 || o->type == EXPORT_Q8_0;
    const int on_grid = t->kind >= 0 && (o->exact_mask >> t->kind & 1u) && o->expect_type >= 0;
    if (o->type == EXPORT_AUTO || (want_lowbit && t->kind < 0)) {
        t->type = smallest_exact(t, EXPORT_Q4_0);
    } else if (want_lowbit) {
        int64_t bad;
        if (fits(t, o->type, &bad) == GGML_FIT_OK) t->type = o->type;
        else if (on_grid) t->type = smallest_exact(t, o->type);  // exactness was promised: widen
        else { t->type = o->type; t->exact = 0; }                // a float base: ggml's rounding
    } else {
        int64_t bad;
        t->type = o->type;
        t->exact = fits(t, o->type, &bad) == GGML_FIT_OK;
    }
    if (on_grid) {
        int expect = EXPORT_Q4_0;
        while (export_dtype_ggml_id((export_dtype)expect) != o->expect_type) expect--;
        int rank_chosen = 0, rank_expect = 0;
        for (int i = 0; i < 5; i++) {
            if (EXACT_ORDER[i] == t->type) rank_chosen = i;
            if (EXACT_ORDER[i] == (export_dtype)expect) rank_expect = i;
        }
        if (rank_chosen > rank_expect) t->miss = fits(t, (export_dtype)expect, &t->miss_block);
    }
}

// Values in type d: exact encoding where it holds, else ggml's rounding; returns Σ(x − file)².
static double encode(const gt *t, uint8_t *buf, float *back) {
    const ggml_block_type *b = bt_of(t->type);
    int64_t n = t->rows * t->cols;
    if (!t->exact || ggml_blocks_encode_exact(b, t->x, buf, n, NULL) != GGML_FIT_OK) ggml_blocks_quantize_ref(b, t->x, buf, n);
    ggml_blocks_dequantize_ref(b, buf, back, n);
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)t->x[i] - back[i];
        e += d * d;
    }
    return e;
}

static int ftype_of(export_dtype d) {  // llama_ftype ("mostly" the linears' type)
    switch (d) {
    case EXPORT_F16: return 1;
    case EXPORT_Q4_0: return 2;
    case EXPORT_Q8_0: return 7;
    case EXPORT_BF16: return 32;
    default: return 0;
    }
}

static void put_hparams(gguf_writer *g, const ModelConfig *c, const export_gguf_opts *o, int ftype) {
    gguf_kv_str(g, "general.architecture", "llama");
    gguf_kv_str(g, "general.type", "model");
    gguf_kv_str(g, "general.name", o->name ? o->name : "qpeft export");
    gguf_kv_u32(g, "general.file_type", (uint32_t)ftype);
    gguf_kv_u32(g, "general.quantization_version", 2);
    gguf_kv_u32(g, "llama.vocab_size", (uint32_t)c->vocab_size);
    gguf_kv_u32(g, "llama.context_length", (uint32_t)c->max_seq_len);
    gguf_kv_u32(g, "llama.embedding_length", (uint32_t)c->dim);
    gguf_kv_u32(g, "llama.block_count", (uint32_t)c->n_layers);
    gguf_kv_u32(g, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    gguf_kv_u32(g, "llama.rope.dimension_count", (uint32_t)config_head_size(c));
    gguf_kv_u32(g, "llama.attention.head_count", (uint32_t)c->n_heads);
    gguf_kv_u32(g, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    gguf_kv_f32(g, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    gguf_kv_f32(g, "llama.rope.freq_base", c->rope_theta);
}

static void put_vocab(gguf_writer *g, const export_gguf_vocab *v) {
    gguf_kv_str(g, "tokenizer.ggml.model", "llama");
    gguf_kv_str_array(g, "tokenizer.ggml.tokens", v->pieces, (size_t)v->n);
    gguf_kv_f32_array(g, "tokenizer.ggml.scores", v->scores, (size_t)v->n);
    gguf_kv_i32_array(g, "tokenizer.ggml.token_type", v->types, (size_t)v->n);
    if (v->bos >= 0) gguf_kv_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) gguf_kv_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->unk >= 0) gguf_kv_u32(g, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    gguf_kv_bool(g, "tokenizer.ggml.add_bos_token", 1);
    gguf_kv_bool(g, "tokenizer.ggml.add_eos_token", 0);
}

// The model's tensors in convert_hf_to_gguf.py's order and names.
static int list_tensors(const ModelConfig *c, const ModelWeights *w, gt *t) {
    const int64_t C = c->dim, H = c->hidden_dim, V = c->vocab_size, HS = config_head_size(c);
    const int64_t QD = c->n_heads * HS, KVD = c->n_kv_heads * HS;
    int n = 0;
#define ADD(X, R, CC, ONE, KIND, ...) do { \
        snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__); \
        t[n].x = (X); t[n].rows = (R); t[n].cols = (CC); t[n].is_1d = (ONE); t[n].kind = (KIND); n++; } while (0)
    ADD(w->tok_emb, V, C, 0, -1, "token_embd.weight");
    ADD(w->final_norm, 1, C, 1, -1, "output_norm.weight");
    if (!c->tied_embeddings) ADD(w->lm_head, V, C, 0, -1, "output.weight");
    for (int l = 0; l < c->n_layers; l++) {
        const float *lin[LIN_COUNT] = {w->wq + l * QD * C, w->wk + l * KVD * C, w->wv + l * KVD * C, w->wo + l * C * QD,
                                       w->w_gate + l * H * C, w->w_up + l * H * C, w->w_down + l * C * H};
        const int64_t rows[LIN_COUNT] = {QD, KVD, KVD, C, H, H, C}, cols[LIN_COUNT] = {C, C, C, QD, C, C, H};
        ADD(w->attn_norm + l * C, 1, C, 1, -1, "blk.%d.attn_norm.weight", l);
        for (int k = 0; k < LIN_COUNT; k++) ADD(lin[k], rows[k], cols[k], 0, k, "blk.%d.%s.weight", l, LIN_GGUF[k]);
        ADD(w->ffn_norm + l * C, 1, C, 1, -1, "blk.%d.ffn_norm.weight", l);
    }
#undef ADD
    return n;
}

int export_write_gguf(const char *path, const ModelConfig *c, const ModelWeights *w, const export_gguf_opts *o,
                      export_gguf_report *rep, qp_status *st) {
    memset(rep, 0, sizeof *rep);
    if (config_validate(c, path, st)) return -1;
    if (c->n_labels > 0) return qp_fail(st, "%s: a language model for llama.cpp, found a %d-label head (drop it first)", path, c->n_labels);
    if (!o->vocab) return qp_fail(st, "%s: a SentencePiece tokenizer for the GGUF vocabulary, found none (--tokenizer)", path);
    if (o->vocab->n != c->vocab_size)
        return qp_fail(st, "%s: a tokenizer of %d pieces (the model's vocabulary), found %d", path, c->vocab_size, o->vocab->n);
    if (o->type >= EXPORT_DTYPE_COUNT) return qp_fail(st, "%s: a known --gguf-type, found id %d", path, (int)o->type);
    gt *t = xcalloc((size_t)(3 + 9 * c->n_layers), sizeof *t);
    int n = list_tensors(c, w, t);
    for (int i = 0; i < n; i++) {
        if ((o->type == EXPORT_Q4_0 || o->type == EXPORT_Q8_0) && t[i].kind >= 0 && t[i].cols % 32) {
            qp_fail(st, "%s: rows of a multiple of 32 for %s blocks, found %s with %lld columns", path,
                    export_dtype_name(o->type), t[i].name, (long long)t[i].cols);
            free(t);
            return -1;
        }
        choose(&t[i], o);
    }
    // file_type: the type most linear elements went out in.
    uint64_t lin_elems[EXPORT_DTYPE_COUNT] = {0};
    for (int i = 0; i < n; i++)
        if (t[i].kind >= 0) lin_elems[t[i].type] += (uint64_t)(t[i].rows * t[i].cols);
    int major = EXPORT_F32;
    for (int d = 0; d < EXPORT_AUTO; d++)
        if (lin_elems[d] > lin_elems[major]) major = d;

    gguf_writer *g = gguf_writer_new();
    put_hparams(g, c, o, ftype_of((export_dtype)major));
    put_vocab(g, o->vocab);
    size_t maxn = 0;
    for (int i = 0; i < n; i++) {
        const int64_t ne[2] = {t[i].cols, t[i].rows};
        gguf_tensor(g, t[i].name, t[i].is_1d ? 1 : 2, ne, export_dtype_ggml_id(t[i].type));
        if ((size_t)(t[i].rows * t[i].cols) > maxn) maxn = (size_t)(t[i].rows * t[i].cols);
    }
    int rc = gguf_writer_begin(g, path, st);
    uint8_t *buf = xmalloc(maxn * 4);
    float *back = xmalloc(maxn * sizeof(float));
    double err = 0, ref = 0, bits = 0, lbits = 0, elems = 0, lelems = 0;
    for (int i = 0; i < n && !rc; i++) {
        const ggml_block_type *b = bt_of(t[i].type);
        int64_t ne = t[i].rows * t[i].cols;
        size_t nb = ggml_blocks_row_bytes(b, t[i].cols) * (size_t)t[i].rows;
        double e = encode(&t[i], buf, back), r = 0;
        for (int64_t j = 0; j < ne; j++) r += (double)t[i].x[j] * t[i].x[j];
        // The promise checked block by block: what a reader dequantizes is the weight, bit for bit
        // (a zero may lose its sign: ggml's (q−8)·d has no −0).
        for (int64_t j = 0; t[i].exact && j < ne && !rc; j++)
            if (!(back[j] == t[i].x[j] && (back[j] == 0 || !memcmp(&back[j], &t[i].x[j], 4))))
                rc = qp_fail(st, "%s: %s block %lld dequantizes to %.9g, not the weight %.9g (an exact-encoder bug)", path,
                             t[i].name, (long long)(j / bt_of(t[i].type)->block), (double)back[j], (double)t[i].x[j]);
        if (rc) break;
        gguf_writer_data(g, buf, nb);
        if (!t[i].exact) { rep->n_lossy++; err += e; ref += r; }
        bits += 8.0 * (double)nb;
        elems += (double)ne;
        if (t[i].kind >= 0) { lbits += 8.0 * (double)nb; lelems += (double)ne; }
        rep->n_by_type[t[i].type]++;
        if (t[i].miss) {
            rep->n_fallback++;
            qp_warn("%s: not exact in %s (block %lld of row %lld: %s); written as %s", t[i].name,
                    ggml_blocks_type(o->expect_type)->name, (long long)(t[i].miss_block % (t[i].cols / 32)),
                    (long long)(t[i].miss_block / (t[i].cols / 32)), ggml_fit_names[t[i].miss], export_dtype_name(t[i].type));
        }
        if (o->verbose) {
            char shape[48];
            if (t[i].is_1d) snprintf(shape, sizeof shape, "[%lld]", (long long)t[i].cols);
            else snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)t[i].cols, (long long)t[i].rows);
            char how[64] = "exact";
            if (!t[i].exact) snprintf(how, sizeof how, "rel err %.3g", r > 0 ? sqrt(e / r) : 0.0);
            printf("  %-28s %-5s %-12s %10zu bytes %6.3f bits/weight  %s\n", t[i].name, export_dtype_name(t[i].type), shape, nb,
                   8.0 * (double)nb / (double)ne, how);
        }
    }
    free(buf);
    free(back);
    if (!rc) rc = gguf_writer_finish(g);
    rep->bytes = gguf_writer_bytes(g);
    rep->n_tensors = n;
    rep->bits_per_weight = elems > 0 ? bits / elems : 0;
    rep->linear_bits_per_weight = lelems > 0 ? lbits / lelems : 0;
    rep->rel_err = ref > 0 ? sqrt(err / ref) : 0;
    gguf_writer_free(g);
    free(t);
    return rc;
}

int export_write_gguf_lora(const char *path, const Model *m, const char *name, qp_status *st) {
    const ModelConfig *c = &m->cfg;
    if (m->rank <= 0 || !m->target_mask || m->train == TRAIN_FULL)
        return qp_fail(st, "%s: a checkpoint with LoRA adapters for --to gguf-lora, found %s", path,
                       m->train == TRAIN_FULL ? "a full fine-tuning checkpoint (use --to gguf)" : "no adapters");
    if (m->adapter_quant != AQUANT_NONE)
        return qp_fail(st, "%s: fp32 adapters for a LoRA GGUF, found adapters trained quantized (--adapter-quant %s): "
                           "llama.cpp's W + s*B*A cannot express them (use --to gguf)", path, adapter_quant_names[m->adapter_quant]);
    gguf_writer *g = gguf_writer_new();
    gguf_kv_str(g, "general.architecture", "llama");
    gguf_kv_str(g, "general.type", "adapter");
    gguf_kv_str(g, "general.name", name ? name : "qpeft adapter");
    gguf_kv_str(g, "adapter.type", "lora");
    gguf_kv_f32(g, "adapter.lora.alpha", m->alpha);
    char nm[96];
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(m->target_mask >> k & 1u)) continue;
            Linear lin = model_linear(m, l, k);
            const int64_t ne_a[2] = {lin.in, m->rank}, ne_b[2] = {m->rank, lin.out};
            export_gguf_linear_name(nm, sizeof nm - 8, l, k);
            strcat(nm, ".lora_a");
            gguf_tensor(g, nm, 2, ne_a, GGML_ID_F32);
            nm[strlen(nm) - 1] = 'b';
            gguf_tensor(g, nm, 2, ne_b, GGML_ID_F32);
        }
    int rc = gguf_writer_begin(g, path, st);
    // A (R, in) row-major is ggml's ne [in, R]; B (out, R) is ne [R, out]. B's q/k rows are in
    // qpeft's (llama2.c's interleaved) order, as the base's rows are: llama.cpp's order.
    for (int l = 0; l < c->n_layers && !rc; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(m->target_mask >> k & 1u)) continue;
            Linear lin = model_linear(m, l, k);
            gguf_writer_data(g, lin.A, (size_t)m->rank * lin.in * 4);
            gguf_writer_data(g, lin.B, (size_t)lin.out * m->rank * 4);
        }
    if (!rc) rc = gguf_writer_finish(g);
    gguf_writer_free(g);
    return rc;
}
