// tests/test_loaders.c — core/json and the model weight loaders (model/config.c, weights.c,
// load_llama2c.c, load_hf.c): tinystories-1M as llama2.c and HF bit-identical, the python
// fixtures of tests/oracle_loaders.py (ak42 v1, legacy untied, F16, BF16, sharded, SeqCls),
// and every malformed-input path (message checked, no crash).
#include "tests/testlib.h"
#include "core/check.h"
#include "core/json.h"
#include "model/config.h"
#include "model/weights.h"
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static const char *tmpdir(void) { const char *t = getenv("TEST_TMP"); return t ? t : "/tmp"; }

// The tiny model of tests/oracle_loaders.py.
static const ModelConfig TINY = {.dim = 48, .hidden_dim = 80, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 67, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied_embeddings = 1, .n_labels = 0};

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = xfopen(path, "wb");
    if (n) xfwrite(p, 1, n, f, path);
    xfclose(f, path);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

static void make_dir(const char *path) { QP_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST); }

static float *read_f32(const char *path, size_t *n) {
    size_t bytes;
    char *b = qp_read_file(path, &bytes);
    *n = bytes / 4;
    return (float *)b;  // qp_read_file's buffer is malloc'd, so suitably aligned
}

// Expect failure with a message containing `phrase` (and starting with the path when given).
static void expect_fail(int rc, const qp_status *st, const char *phrase, const char *label) {
    CHECK(rc == -1 && st->failed && strstr(st->msg, phrase) != NULL, "%s -> error containing \"%s\" (got rc %d: %s)",
          label, phrase, rc, st->failed ? st->msg : "no error");
}

static int same_config(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->vocab_size == b->vocab_size && a->max_seq_len == b->max_seq_len &&
           a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta && a->tied_embeddings == b->tied_embeddings &&
           a->n_labels == b->n_labels;
}

// ---- json ----------------------------------------------------------------------------------
static void test_json(void) {
    qp_status st = {0};
    JsonValue *v;
    const char *doc = " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
                      " \"big\": 9007199254740993, \"o\": {}, \"e\": [], \"f\": 0.125} ";
    int rc = json_parse(doc, strlen(doc), "doc", &v, &st);
    CHECK(rc == 0 && v && v->type == JSON_OBJECT && v->n == 6, "json: parse a document with every value type");
    if (rc == 0) {
        const JsonValue *a = json_get(v, "a");
        int64_t i; double d; int b;
        CHECK(a && a->n == 5 && json_as_int64(json_at(a, 0), &i) && i == 1 && !json_as_int64(json_at(a, 1), &i) &&
              json_as_double(json_at(a, 1), &d) && d == -2500.0 && json_as_bool(json_at(a, 2), &b) && b == 1 &&
              json_as_bool(json_at(a, 3), &b) && b == 0 && json_at(a, 4)->type == JSON_NULL && json_at(a, 5) == NULL,
              "json: array elements, integer vs non-integer numbers, bools, null, out-of-range index");
        CHECK(!strcmp(json_as_string(json_get(v, "s")), "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"),
              "json: escapes incl. \\u00e9 and a surrogate pair decode to UTF-8");
        CHECK(json_as_int64(json_get(v, "big"), &i) && i == 9007199254740993LL, "json: integers exact beyond 2^53");
        CHECK(json_get(v, "o")->n == 0 && json_get(v, "e")->n == 0 && json_get(v, "missing") == NULL &&
              json_as_double(json_get(v, "f"), &d) && d == 0.125 && json_as_string(json_get(v, "f")) == NULL,
              "json: empty containers, missing key, typed accessor on the wrong type");
    }
    json_free(v);

    static const struct { const char *text, *phrase; } bad[] = {
        {"", "expected a JSON value, found end of input"},
        {"{\"a\": 1,}", "byte 8 (line 1, column 9): expected a '\"' starting an object key, found '}'"},
        {"[1, 2", "expected ',' or ']' in an array, found end of input"},
        {"[01]", "no leading zeros"},
        {"[1.]", "a digit after the decimal point"},
        {"[-]", "expected a digit"},
        {"{\"a\" 1}", "':' after an object key"},
        {"{\"a\": 1, \"a\": 2}", "no duplicate keys"},
        {"\"abc", "the closing '\"'"},
        {"\"a\tb\"", "no raw control characters"},
        {"\"\\x\"", "an escape character"},
        {"\"\\u12g4\"", "4 hex digits"},
        {"\"\\ud800x\"", "low surrogate after a high surrogate"},
        {"\"\\udc00\"", "a high surrogate before a low surrogate"},
        {"\"\\u0000\"", "no \\u0000"},
        {"\"\xc3\x28\"", "valid UTF-8"},
        {"\"\xed\xa0\x80\"", "valid UTF-8"},
        {"tru", "expected a JSON value"},
        {"[1] x", "end of input after the JSON value"},
        {"{\n  \"a\": nul\n}", "line 2, column 8"},
    };
    int all = 1;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        qp_status s2 = {0};
        JsonValue *w = (JsonValue *)1;
        int r = json_parse(bad[k].text, strlen(bad[k].text), "bad.json", &w, &s2);
        if (!(r == -1 && w == NULL && strstr(s2.msg, bad[k].phrase) && !strncmp(s2.msg, "bad.json: invalid JSON at byte", 30))) {
            all = 0;
            printf("  json case %zu: rc %d msg '%s' (want '%s')\n", k, r, s2.msg, bad[k].phrase);
        }
    }
    CHECK(all, "json: %zu malformed documents rejected with position and reason", sizeof bad / sizeof *bad);

    // depth: 64 nested arrays parse, 65 do not
    char deep[200];
    for (int n = 64; n <= 65; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        qp_status s3 = {0};
        int r = json_parse(deep, 2 * (size_t)n, "deep", &v, &s3);
        if (n == 64) CHECK(r == 0, "json: nesting depth 64 accepted");
        else CHECK(r == -1 && strstr(s3.msg, "nesting depth at most 64"), "json: nesting depth 65 rejected (%s)", s3.msg);
        json_free(v);
    }
    // not NUL-terminated: the parser must stop at len
    const char buf[3] = {'1', '2', '3'};
    int64_t i = 0;
    CHECK(json_parse(buf, 2, "n", &v, &st) == 0 && json_as_int64(v, &i) && i == 12, "json: respects len (no NUL needed)");
    json_free(v);

    // robustness: every prefix and 3000 random byte mutations of a real config.json, each in an
    // exact-size heap buffer (so ASan sees any read past len): parse or fail cleanly, never crash.
    size_t n;
    char *cfg = qp_read_file(tl_asset("models/tinystories-1M/tinystories-1M-hf/config.json"), &n);
    int clean = 1, parsed_full = 0;
    uint64_t x = 0x2385;
    for (size_t k = 0; k <= n + 3000; k++) {
        char *b = xmalloc(n ? n : 1);
        memcpy(b, cfg, n);
        size_t len = k <= n ? k : n;
        if (k > n) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            b[(x >> 33) % n] = (char)(x >> 13);
        }
        qp_status s4 = {0};
        int r = json_parse(b, len, "cfg", &v, &s4);
        if (r == 0) { if (k == n) parsed_full = 1; json_free(v); }
        else if (!s4.failed || strncmp(s4.msg, "cfg: invalid JSON at byte ", 26)) clean = 0;
        free(b);
    }
    free(cfg);
    CHECK(clean && parsed_full, "json: %zu prefixes + 3000 mutations of config.json parse or fail cleanly", n + 1);
}

// ---- config, layout, permutations ------------------------------------------------------------
static void test_config_layout(void) {
    qp_status st = {0};
    ModelConfig c = TINY;
    CHECK(config_validate(&c, "x", &st) == 0, "config: tiny model valid");
    struct { const char *field; int *p; int v; const char *phrase; } cases[] = {
        {"dim", &c.dim, -8, "x: dim must be in [1, 65536], found -8"},
        {"dim", &c.dim, 50, "dim must be a multiple of n_heads (4), found 50"},
        {"dim", &c.dim, 36, "head size dim/n_heads must be even, found 9"},
        {"n_kv_heads", &c.n_kv_heads, 5, "n_kv_heads must be in [1, 4], found 5"},
        {"n_heads", &c.n_heads, 5, "dim must be a multiple of n_heads (5), found 48"},
        {"n_layers", &c.n_layers, 65, "n_layers must be in [1, 64], found 65"},
        {"vocab", &c.vocab_size, 0, "vocab_size must be in [1, 4194304], found 0"},
        {"seq", &c.max_seq_len, INT_MAX, "max_seq_len must be in [1, 1048576], found 2147483647"},
        {"hidden", &c.hidden_dim, (1 << 20) + 1, "hidden_dim must be in [1, 1048576], found 1048577"},
        {"labels", &c.n_labels, -1, "n_labels must be in [0, 65536], found -1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        c = TINY;
        *cases[k].p = cases[k].v;
        qp_status s2 = {0};
        expect_fail(config_validate(&c, "x", &s2), &s2, cases[k].phrase, cases[k].field);
    }
    c = TINY; c.norm_eps = 0.0f;
    expect_fail(config_validate(&c, "x", &st), &st, "norm_eps must be finite and in (0, 1), found 0", "norm_eps 0");
    c = TINY; c.rope_theta = NAN;
    expect_fail(config_validate(&c, "x", &st), &st, "rope_theta must be finite", "rope_theta nan");
    // the largest config the bounds allow still has a representable size on 64-bit hosts
    c = (ModelConfig){.dim = 65536, .hidden_dim = 1 << 20, .n_layers = 64, .n_heads = 2, .n_kv_heads = 1, .vocab_size = 1 << 22, .max_seq_len = 1 << 20, .norm_eps = 1e-5f, .rope_theta = 1e4f, .tied_embeddings = 0, .n_labels = 1 << 16};
    st.failed = 0;
    CHECK(config_validate(&c, "x", &st) == 0 && weights_count(&c) > ((size_t)1 << 42), "config: largest bounded config sized without overflow (%zu floats)", weights_count(&c));

    // layout: pointers in struct order, tied head aliases, score at the end
    ModelWeights w;
    c = TINY;
    size_t C = 48, H = 80, L = 2, V = 67, KVD = 24;
    size_t expect = V * C + 2 * L * C + L * C * C * 2 + 2 * L * KVD * C + 3 * L * H * C + C;
    CHECK(weights_count(&c) == expect, "weights_count tied = %zu", expect);
    QP_ASSERT(weights_alloc(&w, &c, &st) == 0);
    int ok = w.n_floats == expect && w.tok_emb == w.mem && w.attn_norm == w.tok_emb + V * C && w.wq == w.attn_norm + L * C &&
             w.wk == w.wq + L * C * C && w.wv == w.wk + L * KVD * C && w.wo == w.wv + L * KVD * C &&
             w.ffn_norm == w.wo + L * C * C && w.w_gate == w.ffn_norm + L * C && w.w_up == w.w_gate + L * H * C &&
             w.w_down == w.w_up + L * H * C && w.final_norm == w.w_down + L * C * H && w.lm_head == w.tok_emb && w.score == NULL;
    for (size_t i = 0; i < w.n_floats; i++) ok &= w.mem[i] == 0.0f;
    CHECK(ok, "weights_alloc tied: zeroed, pointers in struct order, lm_head == tok_emb, no score");
    weights_free(&w);
    CHECK(w.mem == NULL, "weights_free clears the struct");
    c.tied_embeddings = 0; c.n_labels = 3;
    QP_ASSERT(weights_alloc(&w, &c, &st) == 0);
    CHECK(w.n_floats == expect + V * C + 3 * C && w.lm_head == w.final_norm + C && w.score == w.lm_head + V * C,
          "weights_alloc untied + 3 labels: lm_head after final_norm, score last");
    // hash: score excluded, lm_head included when untied
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = (float)i * 0.001f;
    uint64_t h1 = weights_hash(&w, &c);
    w.score[2] = 7.5f;
    uint64_t h2 = weights_hash(&w, &c);
    w.lm_head[5] = -3.25f;
    uint64_t h3 = weights_hash(&w, &c);
    char hex[17];
    weights_hash_hex(0x0123456789abcdefULL, hex);
    CHECK(h1 == h2 && h2 != h3 && !strcmp(hex, "0123456789abcdef"), "weights_hash ignores score, covers an untied lm_head; hex");
    weights_free(&w);
    c.dim = 50;
    expect_fail(weights_alloc(&w, &c, &st), &st, "dim must be a multiple", "weights_alloc on an invalid config");

    // permutations: explicit small case and round trip
    enum { NHd = 2, HSd = 6, COLS = 3 };
    float src[NHd * HSd * COLS], a[NHd * HSd * COLS], b[NHd * HSd * COLS];
    for (int i = 0; i < NHd * HSd * COLS; i++) src[i] = (float)i + 0.385f;
    weights_rows_hf_to_interleaved(a, src, NHd, HSd, COLS);
    // head 1, i = 2, p = 1: dst row 6 + 5 <- src row 6 + 3 + 2
    ok = !memcmp(a + (6 + 5) * COLS, src + (6 + 3 + 2) * COLS, sizeof(float) * COLS) &&
         !memcmp(a + 1 * COLS, src + 3 * COLS, sizeof(float) * COLS) && !memcmp(a, src, sizeof(float) * COLS);
    weights_rows_interleaved_to_hf(b, a, NHd, HSd, COLS);
    CHECK(ok && !memcmp(b, src, sizeof src), "row permutation: dst (h,2i+p) <- src (h,p*HS/2+i), inverse restores");
}

// ---- tinystories-1M: llama2.c and HF copies ------------------------------------------------------
static void test_real_model(void) {
    const char *bin = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    const char *hf = tl_asset("models/tinystories-1M/tinystories-1M-hf");
    ModelConfig c1, c2;
    ModelWeights w1, w2;
    qp_status st = {0};
    int r1 = model_load_weights(bin, &c1, &w1, &st);
    CHECK(r1 == 0, "load %s (%s)", bin, st.msg);
    int r2 = model_load_weights(hf, &c2, &w2, &st);
    CHECK(r2 == 0, "load %s (%s)", hf, st.msg);
    if (r1 || r2) { if (!r1) weights_free(&w1); if (!r2) weights_free(&w2); return; }
    ModelConfig want = {.dim = 128, .hidden_dim = 352, .n_layers = 6, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 2048, .max_seq_len = 256, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied_embeddings = 1, .n_labels = 0};
    CHECK(same_config(&c1, &want) && same_config(&c2, &want), "tinystories-1M config (128,352,6,4,2,2048,256, tied) from both");
    CHECK(w1.n_floats == 1369728 && w2.n_floats == w1.n_floats, "tinystories-1M has 1,369,728 weights (%zu)", w1.n_floats);
    CHECK(!memcmp(w1.mem, w2.mem, w1.n_floats * sizeof(float)), "llama2.c and HF (q/k permuted back) weights bit-identical");
    char h1[17], h2[17];
    weights_hash_hex(weights_hash(&w1, &c1), h1);
    weights_hash_hex(weights_hash(&w2, &c2), h2);
    CHECK(!strcmp(h1, h2) && strlen(h1) == 16, "model hashes equal (%s)", h1);
    // q rows really were permuted: layer 0 q of HF row 1 (i=1, p=0) is interleaved row 2
    CHECK(w1.wq[2 * 128] != w1.wq[1 * 128], "q rows are distinct (permutation is observable)");
    weights_free(&w1);
    weights_free(&w2);
}

// ---- python fixtures -----------------------------------------------------------------------------
static void compare_ref(const char *dir, const char *model, const char *ref, const char *hash, const ModelConfig *want, double atol) {
    char mp[2048], rp[2048];
    snprintf(mp, sizeof mp, "%s/%s", dir, model);
    snprintf(rp, sizeof rp, "%s/%s", dir, ref);
    ModelConfig c;
    ModelWeights w;
    qp_status st = {0};
    int rc = model_load_weights(mp, &c, &w, &st);
    CHECK(rc == 0, "load %s (%s)", model, st.msg);
    if (rc) return;
    CHECK(same_config(&c, want), "%s: config (dim %d, hidden %d, L %d, heads %d/%d, V %d, T %d, tied %d, labels %d)", model,
          c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len, c.tied_embeddings, c.n_labels);
    size_t n;
    float *r = read_f32(rp, &n);
    CHECK(n == w.n_floats, "%s: %zu floats, reference %zu", model, w.n_floats, n);
    if (n == w.n_floats) {
        char name[256];
        snprintf(name, sizeof name, "%s == %s (exactly-rounded python values)", model, ref);
        tl_allclose(name, w.mem, r, n, atol, 0.0);
        CHECK(!memcmp(w.mem, r, n * sizeof(float)), "%s: bit-identical to the reference (signed zeros, subnormals)", model);
    }
    free(r);
    if (hash) {  // FNV-1a computed by python over the reference bytes (score excluded)
        char hp[2048], hex[17];
        snprintf(hp, sizeof hp, "%s/%s", dir, hash);
        char *want_hex = qp_read_file(hp, NULL);
        weights_hash_hex(weights_hash(&w, &c), hex);
        CHECK(!strncmp(want_hex, hex, 16), "%s: weights_hash %s == python FNV-1a %.16s", model, hex, want_hex);
        free(want_hex);
    }
    weights_free(&w);
}

static void test_fixtures(const char *dir) {
    ModelConfig tied = TINY, untied = TINY, seq = TINY, seq_nolm = TINY;
    untied.tied_embeddings = 0;
    seq.tied_embeddings = 0; seq.n_labels = 3;
    seq_nolm.n_labels = 3;
    compare_ref(dir, "tied.ak42", "ref_tied.f32", "hash_tied.txt", &tied, 0.0);
    compare_ref(dir, "untied.bin", "ref_untied.f32", "hash_untied.txt", &untied, 0.0);
    compare_ref(dir, "hf_f16", "ref_f16.f32", NULL, &tied, 0.0);
    compare_ref(dir, "hf_bf16", "ref_bf16.f32", NULL, &untied, 0.0);
    compare_ref(dir, "hf_sharded", "ref_sharded.f32", NULL, &tied, 0.0);
    compare_ref(dir, "hf_seqcls", "ref_seqcls.f32", "hash_seqcls.txt", &seq, 0.0);
    compare_ref(dir, "hf_seqcls_nolm", "ref_seqcls_nolm.f32", NULL, &seq_nolm, 0.0);
    // the sharded dir holds the same fp32 model as tied.ak42
    size_t n1, n2;
    char p1[2048], p2[2048];
    snprintf(p1, sizeof p1, "%s/ref_tied.f32", dir);
    snprintf(p2, sizeof p2, "%s/ref_sharded.f32", dir);
    float *a = read_f32(p1, &n1), *b = read_f32(p2, &n2);
    CHECK(n1 == n2 && !memcmp(a, b, n1 * 4), "sharded HF reference equals the ak42 reference");
    free(a); free(b);
}

// ---- malformed llama2.c files ------------------------------------------------------------------
static void load_bin_expect(const char *path, const char *phrase, const char *label) {
    ModelConfig c;
    ModelWeights w;
    qp_status st = {0};
    int rc = model_load_weights(path, &c, &w, &st);
    expect_fail(rc, &st, phrase, label);
    if (rc == 0) weights_free(&w);
    else CHECK(w.mem == NULL && !strncmp(st.msg, path, strlen(path)), "%s: nothing allocated on failure, message starts with the path", label);
}

static void put_i32(unsigned char *b, int32_t v) { memcpy(b, &v, 4); }  // tests run on little-endian hosts

static void test_bad_llama2c(const char *dir) {
    char p[2048];
    size_t n;
    char *full = qp_read_file(tl_asset("models/tinystories-1M/tinystories-1M.bin"), &n);
    snprintf(p, sizeof p, "%s/trunc.bin", dir);
    struct { size_t len; const char *phrase; } tr[] = {
        {0, "a llama2.c header of at least 28 bytes, found a 0-byte file"},
        {20, "a llama2.c header of at least 28 bytes, found a 20-byte file"},
        {28, "5511708 bytes for a llama2.c legacy file with dim 128, hidden 352, layers 6, heads 4, kv_heads 2, vocab 2048 (tied), seq_len 256, found 28 bytes (truncated)"},
        {28 + 4 * 1000 + 2, "found 4030 bytes (truncated)"},
        {5511708 - 1, "5511708 bytes for a llama2.c legacy file"},
    };
    for (size_t k = 0; k < sizeof tr / sizeof *tr; k++) {
        write_file(p, full, tr[k].len);
        char label[64];
        snprintf(label, sizeof label, "bin truncated to %zu bytes", tr[k].len);
        load_bin_expect(p, tr[k].phrase, label);
    }
    // trailing garbage
    char *longer = xmalloc(n + 3);
    memcpy(longer, full, n);
    memcpy(longer + n, "xyz", 3);
    write_file(p, longer, n + 3);
    load_bin_expect(p, "found 5511711 bytes (trailing bytes)", "bin with 3 trailing bytes");
    free(longer);

    // bad header fields (header-only files: validation happens before the size check)
    struct { int32_t f[7]; const char *phrase; } hb[] = {
        {{-128, 352, 6, 4, 2, 2048, 256}, "dim must be in [1, 65536], found -128"},
        {{130, 352, 6, 4, 2, 2048, 256}, "dim must be a multiple of n_heads (4), found 130"},
        {{128, 352, 6, 4, 3, 2048, 256}, "n_heads must be a multiple of n_kv_heads (3), found 4"},
        {{128, 352, 0, 4, 2, 2048, 256}, "n_layers must be in [1, 64], found 0"},
        {{128, 352, 6, 4, 2, INT32_MIN, 256}, "vocab_size must be in [1, 4194304], found -2147483648"},
        {{128, 352, 6, 4, 2, 2048, -1}, "max_seq_len must be in [1, 1048576], found -1"},
        {{INT32_MAX, INT32_MAX, INT32_MAX, 1, 1, INT32_MAX, INT32_MAX}, "dim must be in [1, 65536], found 2147483647"},
        // at the bounds: sizes are fine, but a 28-byte file can't hold ~70 TB of weights
        {{65536, 1 << 20, 64, 2, 1, 1 << 22, 1 << 20}, "found 28 bytes (truncated)"},
    };
    for (size_t k = 0; k < sizeof hb / sizeof *hb; k++) {
        unsigned char h[28];
        for (int i = 0; i < 7; i++) put_i32(h + 4 * i, hb[k].f[i]);
        write_file(p, h, 28);
        char label[64];
        snprintf(label, sizeof label, "bin header case %zu", k);
        load_bin_expect(p, hb[k].phrase, label);
    }
    free(full);

    // ak42: version 2, unknown version, bad shared flag, nonzero padding, truncated header, NaN
    char ak[2048];
    snprintf(ak, sizeof ak, "%s/tied.ak42", dir);
    char *v1 = qp_read_file(ak, &n);
    unsigned char *u = (unsigned char *)v1;
    snprintf(p, sizeof p, "%s/bad.ak42", dir);
    put_i32(u + 4, 2); write_file(p, u, n);
    load_bin_expect(p, "ak42 version 1 (fp32), found version 2 (int8 Q8_0, not supported", "ak42 version 2");
    put_i32(u + 4, 7); write_file(p, u, n);
    load_bin_expect(p, "ak42 version 1, found version 7", "ak42 version 7");
    put_i32(u + 4, 1);
    u[36] = 2; write_file(p, u, n);
    load_bin_expect(p, "shared_classifier flag 0 or 1 at byte 36, found 2", "ak42 shared flag 2");
    u[36] = 1; u[200] = 9; write_file(p, u, n);
    load_bin_expect(p, "zero header padding (bytes 37-255), found 0x09 at byte 200", "ak42 nonzero padding");
    u[200] = 0;
    write_file(p, u, 100);
    load_bin_expect(p, "an ak42 header of 256 bytes, found a 100-byte file", "ak42 truncated header");
    write_file(p, u, n - 1);
    char phrase[128];
    snprintf(phrase, sizeof phrase, "%zu bytes for an ak42 v1 file", n);
    load_bin_expect(p, phrase, "ak42 one byte short");
    snprintf(phrase, sizeof phrase, "found %zu bytes (truncated)", n - 1);
    load_bin_expect(p, phrase, "ak42 one byte short (found)");
    // element 5 of token_embedding: after rms_att (L,C), rms_ffn (L,C), rms_final (C)
    size_t off = 256 + 4 * (2 * 48 + 2 * 48 + 48 + 5);
    float nanv = NAN;
    memcpy(u + off, &nanv, 4);
    write_file(p, u, n);
    load_bin_expect(p, "finite values in token_embedding, found nan at element 5", "ak42 NaN weight");
    float infv = -INFINITY, one = 1.0f;
    memcpy(u + off, &one, 4);  // tensors are read in the hash's order (token_embedding first): keep it finite
    off = 256 + 4 * (48 + 7);  // rms_att (L,C): layer 1, element 7
    memcpy(u + off, &infv, 4);
    write_file(p, u, n);
    load_bin_expect(p, "finite values in rms_att, found inf at layer 1, element 7", "ak42 inf in a layered tensor");
    free(v1);

    snprintf(p, sizeof p, "%s/does-not-exist.bin", dir);
    load_bin_expect(p, "expected a model file or directory, found none (No such file or directory)", "missing file");
}

// ---- malformed HF dirs ---------------------------------------------------------------------------
static const char *CFG_DIMS = "\"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2, "
                              "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 67, "
                              "\"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-05";

static void test_bad_hf(const char *dir) {
    char d[2048], cfg[2048];
    snprintf(d, sizeof d, "%s/hf_empty", dir);
    make_dir(d);
    load_bin_expect(d, "a Hugging Face model directory with config.json, found no", "dir without config.json");

    struct { const char *name, *cfg, *phrase; } cc[] = {
        {"cfg_malformed", "{\"hidden_size\": 48,, }", "config.json: invalid JSON at byte 19 (line 1, column 20)"},
        {"cfg_array", "[1, 2]", "a JSON object at the top level, found array"},
        {"cfg_no_hidden", "{\"model_type\": \"llama\", \"intermediate_size\": 80}", "\"hidden_size\" as an integer, found no such key"},
        {"cfg_float_dim", "{\"model_type\": \"llama\", \"hidden_size\": 48.5}", "\"hidden_size\" as an integer, found 48.5"},
        {"cfg_no_eps", "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2, "
                       "\"num_attention_heads\": 4, \"vocab_size\": 67, \"max_position_embeddings\": 16}",
         "\"rms_norm_eps\" as a number, found no such key"},
        {"cfg_gpt2", "*\"model_type\": \"gpt2\"", "\"model_type\" \"llama\", \"mistral\", \"qwen2\" or \"qwen3\", found \"gpt2\""},
        {"cfg_gelu", "*\"model_type\": \"llama\", \"hidden_act\": \"gelu\"", "\"hidden_act\" \"silu\", found \"gelu\""},
        {"cfg_rope_scaling", "*\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}", "rope_type \"linear\" or \"llama3\", found \"yarn\""},
        {"cfg_bias", "*\"model_type\": \"llama\", \"attention_bias\": true", "\"attention_bias\" false"},
        {"cfg_arch", "*\"model_type\": \"llama\", \"architectures\": [\"LlamaModel\"]", "found LlamaModel"},
        {"cfg_heads", "*\"model_type\": \"llama\", \"num_attention_heads\": 5", "dim must be a multiple of n_heads (5), found 48"},
        {"cfg_tie_str", "*\"model_type\": \"llama\", \"tie_word_embeddings\": \"yes\"", "\"tie_word_embeddings\" as true or false, found \"yes\""},
        {"cfg_labels", "*\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"], \"num_labels\": 3, "
                       "\"id2label\": {\"0\": \"a\", \"1\": \"b\"}", "\"num_labels\" equal to the size of id2label (2), found 3"},
        {"cfg_no_weights", "*\"model_type\": \"llama\"", "model.safetensors or model.safetensors.index.json, found neither"},
    };
    for (size_t k = 0; k < sizeof cc / sizeof *cc; k++) {
        snprintf(d, sizeof d, "%s/%s", dir, cc[k].name);
        make_dir(d);
        // "*..." means: the tiny model's dims (without the architectures/model_type head), then the rest
        const char *t = cc[k].cfg;
        if (t[0] == '*') {
            int arch = strstr(t, "architectures") != NULL;
            int heads = strstr(t, "num_attention_heads") != NULL;
            char dims[1024];
            snprintf(dims, sizeof dims, "%s", CFG_DIMS);
            if (heads) { char *h = strstr(dims, "\"num_attention_heads\": 4, "); memmove(h, h + 26, strlen(h + 26) + 1); }
            snprintf(cfg, sizeof cfg, "{%s%s, %s}", arch ? "" : "\"architectures\": [\"LlamaForCausalLM\"], ", dims, t + 1);
            t = cfg;
        }
        write_text(d, "config.json", t);
        load_bin_expect(d, cc[k].phrase, cc[k].name);
    }

    // python-written safetensors problems
    struct { const char *name, *phrase; } sc[] = {
        {"st_hlen_big", "model.safetensors: a safetensors header length of at most"},
        {"st_not_json", "model.safetensors: invalid JSON at byte 28"},
        {"st_short", "an 8-byte safetensors header length, found a 5-byte file"},
        {"st_shape", "tensor model.embed_tokens.weight shape [67, 48], found [67, 49]"},
        {"st_dtype", "tensor model.norm.weight dtype F32, F16 or BF16, found \"I64\""},
        {"st_offsets", "tensor model.norm.weight data_offsets within the"},
        {"st_offlen", "tensor model.norm.weight data of 192 bytes (shape x F32), found data_offsets"},
        {"st_missing", "tensor model.layers.1.mlp.up_proj.weight, found no such tensor"},
        {"st_extra", "only Llama weight names, found unexpected tensor model.layers.0.self_attn.q_proj.bias"},
        {"st_layer_oob", "tensors of layers 0..1, found model.layers.2.input_layernorm.weight"},
        {"st_nan", "finite values in model.norm.weight, found nan at element 7"},
        {"st_inf16", "finite values in model.norm.weight, found inf at element 0"},
        {"st_untied_nolm", "tensor lm_head.weight (tie_word_embeddings is false), found no such tensor"},
        {"st_seqcls_noscore", "tensor score.weight, found no such tensor"},
        {"st_score_causal", "no score.weight in a LlamaForCausalLM model"},
        {"st_truncated", "data_offsets within the"},
        {"idx_missing_shard", "model-00002-of-00002.safetensors: a readable safetensors file, found none"},
        {"idx_wrong_shard", "listed in the index under this shard, found it listed under model-0000"},
        {"idx_escape", "weight_map values as file names in the model directory, found ../x.safetensors for model.norm.weight"},
    };
    for (size_t k = 0; k < sizeof sc / sizeof *sc; k++) {
        snprintf(d, sizeof d, "%s/%s", dir, sc[k].name);
        load_bin_expect(d, sc[k].phrase, sc[k].name);
    }
}

int main(void) {
    double t0 = qp_now();
    test_json();
    test_config_layout();
    test_real_model();

    char dir[1024], cmd[2300];
    snprintf(dir, sizeof dir, "%s/loaders", tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s tests/oracle_loaders.py %s >/dev/null", dir, python(), dir);
    int rc = system(cmd);
    REQUIRE(rc == 0, "python oracle wrote fixtures (%s)", cmd);
    if (rc == 0) {
        test_fixtures(dir);
        test_bad_llama2c(dir);
        test_bad_hf(dir);
    }
    printf("# test_loaders: %.1f s\n", qp_now() - t0);
    return tl_finish();
}
