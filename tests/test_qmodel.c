// tests/test_qmodel.c — qpeft's quantized model file (model/qmodel.h): save/load round trips
// bit for bit in several formats (incl. tinystories-1M's partial down_proj blocks and a partial
// module set), logits of a loaded file equal those of the in-process quantized model bit for
// bit, and every corrupt file (truncations, magic, version, format ids, block, shapes, sizes)
// is refused with one message naming the file — never a crash.
#include "core/check.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "model/weights.h"
#include "quant/quant.h"
#include "testlib.h"
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[4096];
static const char *tmp_path(const char *name) {
    static char buf[8][4400]; static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}
static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) { printf("FAIL cannot write %s\n", path); exit(1); }
    fwrite(b, 1, n, fp);
    fclose(fp);
}
static uint64_t get_u64(const unsigned char *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i); return v; }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

// Byte offset of the i-th packed tensor image in a file, and its size.
static size_t tensor_at(const unsigned char *b, int i, size_t *size) {
    size_t off = QMODEL_HEADER_BYTES + 4 * get_u64(b + 88);
    for (int t = 0;; t++) {
        size_t sz = 64;
        for (int s = 0; s < 4; s++) sz += get_u64(b + off + 32 + 8 * s);
        if (t == i) { *size = sz; return off; }
        off += sz;
    }
}

static QuantTensor **quantize_all(const ModelConfig *c, const ModelWeights *w, const quant_format *f, unsigned mask) {
    QuantTensor **qb = calloc((size_t)c->n_layers * LIN_COUNT, sizeof *qb);
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(mask >> k & 1u)) continue;
            int o, i;
            model_lin_shape(c, k, &o, &i);
            qb[l * LIN_COUNT + k] = quant_tensor_quantize(model_lin_weight(w, c, l, k), o, i, f);
        }
    return qb;
}

static int tensors_equal(const QuantTensor *a, const QuantTensor *b) {
    if (!a || !b) return a == b;
    const quant_format *fa = quant_tensor_format(a), *fb = quant_tensor_format(b);
    if (fa->kind != fb->kind || fa->bits != fb->bits || fa->block != fb->block || fa->double_quant != fb->double_quant) return 0;
    if (quant_tensor_rows(a) != quant_tensor_rows(b) || quant_tensor_cols(a) != quant_tensor_cols(b)) return 0;
    for (int s = 0; s < QUANT_SEC_COUNT; s++) {
        size_t na, nb;
        const uint8_t *pa = quant_tensor_section(a, s, &na), *pb = quant_tensor_section(b, s, &nb);
        if (na != nb || (na && memcmp(pa, pb, na))) return 0;
    }
    return 1;
}

static int cfg_equal(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->vocab_size == b->vocab_size && a->max_seq_len == b->max_seq_len &&
           a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta && a->tied_embeddings == b->tied_embeddings &&
           a->n_labels == b->n_labels;
}

static int floats_equal(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

// Save with these formats and module set, load, and compare everything bit for bit.
static void round_trip(const ModelConfig *c, const ModelWeights *w, const char *fname, int block, int dq, unsigned mask) {
    qp_status st = {0};
    quant_format f;
    if (quant_parse_format(fname, block, dq, &f, &st)) { CHECK(0, "parse %s: %s", fname, st.msg); return; }
    char label[64];
    quant_format_name(&f, label, sizeof label);
    QuantTensor **qb = quantize_all(c, w, &f, mask);
    char name[128];
    snprintf(name, sizeof name, "rt_%s_%x.qm", label, mask);
    const char *path = tmp_path(name);
    int rc = qmodel_save(path, c, w, qb, mask, &st);
    CHECK(rc == 0, "%s mask 0x%x: save (%s)", label, mask, st.msg);
    char tmpname[4500];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmpname, F_OK) != 0 && qmodel_is_file(path), "%s: saved atomically (no temporary left, magic present)", label);
    ModelConfig c2; ModelWeights w2; QuantTensor **qb2 = NULL; unsigned m2 = 0;
    rc = qmodel_load(path, &c2, &w2, &qb2, &m2, &st);
    CHECK(rc == 0, "%s mask 0x%x: load (%s)", label, mask, st.msg);
    if (rc) { qmodel_free_bases(qb, c->n_layers); return; }
    int ok_t = 1, ok_w = 1;
    float *deq = malloc((size_t)c->hidden_dim * c->dim * sizeof(float) + (size_t)c->dim * c->dim * sizeof(float));
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k, o, in;
            model_lin_shape(c, k, &o, &in);
            ok_t &= tensors_equal(qb[i], qb2[i]);
            const float *got = model_lin_weight(&w2, c, l, k);
            if (qb[i]) { quant_dequantize_rows(qb[i], 0, o, deq); ok_w &= floats_equal(got, deq, (size_t)o * in); }
            else ok_w &= floats_equal(got, model_lin_weight(w, c, l, k), (size_t)o * in);
        }
    free(deq);
    CHECK(ok_t, "%s mask 0x%x: every packed tensor (format, shape, codes, scales) round-trips bit for bit", label, mask);
    CHECK(ok_w, "%s mask 0x%x: loaded fp32 linears are W~ = dq(q(W)) (packed) or W itself (unpacked)", label, mask);
    size_t C = (size_t)c->dim, L = (size_t)c->n_layers;
    int ok_f = cfg_equal(c, &c2) && m2 == mask && floats_equal(w->tok_emb, w2.tok_emb, (size_t)c->vocab_size * C) &&
               floats_equal(w->attn_norm, w2.attn_norm, L * C) && floats_equal(w->ffn_norm, w2.ffn_norm, L * C) &&
               floats_equal(w->final_norm, w2.final_norm, C) && w2.lm_head == (c->tied_embeddings ? w2.tok_emb : w2.lm_head);
    CHECK(ok_f, "%s mask 0x%x: config, mask, embeddings and norms equal", label, mask);
    ModelConfig hc; unsigned hm; quant_format hf;
    rc = qmodel_read_header(path, &hc, &hm, &hf, &st);
    CHECK(rc == 0 && cfg_equal(&hc, c) && hm == mask && hf.kind == f.kind && hf.bits == f.bits && hf.block == f.block &&
          hf.double_quant == f.double_quant, "%s: qmodel_read_header gives config, mask and format", label);
    qmodel_free_bases(qb, c->n_layers);
    qmodel_free_bases(qb2, c->n_layers);
    weights_free(&w2);
}

// Logits of a model built from the file equal those of the same model quantized in process.
static void logits_equal(const char *bin, const char *fname, int block, unsigned mask) {
    qp_status st = {0};
    quant_format f;
    quant_parse_format(fname, block, 0, &f, &st);
    char label[64];
    quant_format_name(&f, label, sizeof label);
    ModelConfig c; ModelWeights w;
    if (model_load_weights(bin, &c, &w, &st)) { CHECK(0, "load %s: %s", bin, st.msg); return; }
    QuantTensor **qb = quantize_all(&c, &w, &f, mask);
    const char *path = tmp_path("logits.qm");
    CHECK(qmodel_save(path, &c, &w, qb, mask, &st) == 0, "%s: save for logits (%s)", label, st.msg);
    qmodel_free_bases(qb, c.n_layers);
    Model a, b;
    CHECK(model_init(&a, &c, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st) == 0, "model_init in-process (%s)", st.msg);
    model_quantize_base(&a, &f, mask);
    ModelConfig c2; ModelWeights w2; QuantTensor **qb2 = NULL;
    CHECK(qmodel_load(path, &c2, &w2, &qb2, NULL, &st) == 0, "%s: load for logits (%s)", label, st.msg);
    CHECK(model_init(&b, &c2, &w2, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st) == 0, "model_init from file (%s)", st.msg);
    qmodel_install(&b, &qb2);
    CHECK(qb2 == NULL, "qmodel_install takes the array");
    int B = 2, T = 48, V = c.vocab_size;
    qp_quiet++;
    model_alloc_acts(&a, B, T);
    model_alloc_acts(&b, B, T);
    qp_quiet--;
    int *ids = malloc((size_t)B * T * sizeof(int)), *tg = malloc((size_t)B * T * sizeof(int));
    uint32_t s = 12345;
    for (int i = 0; i < B * T; i++) { s = s * 1664525u + 1013904223u; ids[i] = (int)(s >> 8) % V; }
    for (int i = 0; i < B * T; i++) tg[i] = (i % T == T - 1) ? -1 : ids[i + 1];
    double la = model_forward(&a, ids, NULL, B, T, tg, NULL, NULL, 0);
    float *logits_a = malloc((size_t)B * T * V * sizeof(float));
    model_forward(&a, ids, NULL, B, T, NULL, NULL, NULL, 0);
    memcpy(logits_a, a.acts.logits, (size_t)B * T * V * sizeof(float));
    double lb = model_forward(&b, ids, NULL, B, T, tg, NULL, NULL, 0);
    model_forward(&b, ids, NULL, B, T, NULL, NULL, NULL, 0);
    CHECK(floats_equal(logits_a, b.acts.logits, (size_t)B * T * V) && la == lb,
          "%s mask 0x%x: logits (B=%d T=%d) and loss %.9f of the loaded file equal the in-process quantized model's bit for bit",
          label, mask, B, T, lb);
    // And the packed bases differ from fp32 (so the check above is not vacuous).
    Model fp;
    ModelConfig c3; ModelWeights w3;
    model_load_weights(bin, &c3, &w3, &st);
    model_init(&fp, &c3, &w3, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
    qp_quiet++; model_alloc_acts(&fp, B, T); qp_quiet--;
    double lf = model_forward(&fp, ids, NULL, B, T, tg, NULL, NULL, 0);
    CHECK(lf != lb, "%s: fp32 loss %.6f differs from the quantized %.6f", label, lf, lb);
    free(ids); free(tg); free(logits_a);
    model_free(&a); model_free(&b); model_free(&fp);
}

// Load must fail with a message naming the file and containing `want`.
static void expect_fail(const char *name, const unsigned char *b, size_t n, const char *want) {
    const char *path = tmp_path("corrupt.qm");
    spit(path, b, n);
    qp_status st = {0};
    ModelConfig c; ModelWeights w; QuantTensor **qb = (QuantTensor **)0x1; unsigned m = 77;
    int rc = qmodel_load(path, &c, &w, &qb, &m, &st);
    CHECK(rc == -1 && st.failed && strstr(st.msg, path) && strstr(st.msg, want) && !strchr(st.msg, '\n') &&
          qb == (QuantTensor **)0x1 && m == 77,
          "corrupt %s: refused with \"%s\"", name, st.msg);
    if (rc == 0) { qmodel_free_bases(qb, c.n_layers); weights_free(&w); }
}

static void corrupt_files(const ModelConfig *c, const ModelWeights *w) {
    qp_status st = {0};
    quant_format nf4, bf16, fp4;
    quant_parse_format("nf4", 0, 0, &nf4, &st);
    quant_parse_format("bf16", 0, 0, &bf16, &st);
    quant_parse_format("fp4", 0, 0, &fp4, &st);
    unsigned all = (1u << LIN_COUNT) - 1;
    QuantTensor **qb = quantize_all(c, w, &nf4, all);
    char good[4400];
    snprintf(good, sizeof good, "%s", tmp_path("good.qm"));
    qmodel_save(good, c, w, qb, all, &st);
    size_t n;
    unsigned char *b = slurp(good, &n), *x = malloc(4 * n + 64);  // room for the bf16 file below
    size_t t0_size, t0 = tensor_at(b, 0, &t0_size);
    size_t nf32_off = QMODEL_HEADER_BYTES;
    size_t cut[] = {0, 5, 8, 100, QMODEL_HEADER_BYTES - 1, QMODEL_HEADER_BYTES, nf32_off + 1001, t0, t0 + 30, t0 + 64,
                    t0 + t0_size + 10, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "truncated at %zu of %zu", cut[i], n);
        expect_fail(name, b, cut[i], "truncated");
    }
    // Truncated, with the header's sizes rewritten to agree with the shorter file: the tensor
    // reader itself must notice.
    size_t cut2[] = {t0 + t0_size + 30, t0 + t0_size + 100, (t0 + n) / 2, n - 1};
    for (size_t i = 0; i < sizeof cut2 / sizeof cut2[0]; i++) {
        memcpy(x, b, n);
        put_u64(x + 96, get_u64(b + 96) - (n - cut2[i]));
        put_u64(x + 104, cut2[i]);
        char name[96];
        snprintf(name, sizeof name, "truncated at %zu with consistent header sizes", cut2[i]);
        expect_fail(name, x, cut2[i], "truncated");
    }
    memcpy(x, b, n);
    put_u64(x + 96, 30);
    put_u64(x + 104, t0 + 30);
    expect_fail("packed bytes too few for the tensor headers", x, t0 + 30, "packed tensors need at least");
    memcpy(x, b, n); memset(x + n, 0, 16);
    expect_fail("16 trailing bytes", x, n + 16, "trailing");
    memcpy(x, b, n); x[0] = 'X';
    expect_fail("wrong magic", x, n, "not a qpeft quantized model");
    size_t ln;
    unsigned char *llama = slurp(tl_asset("models/tinystories-1M/tinystories-1M.bin"), &ln);
    expect_fail("a llama2.c file", llama, 4096, "not a qpeft quantized model");
    free(llama);
    memcpy(x, b, n); put_u32(x + 8, 2);
    expect_fail("version 2", x, n, "version");
    memcpy(x, b, n); put_u32(x + 64, 99);
    expect_fail("unknown format id in the file header", x, n, "unknown quantization format id 99");
    memcpy(x, b, n); put_u32(x + 64, 0);
    expect_fail("f32 format id in the file header", x, n, "unknown quantization format id 0");
    memcpy(x, b, n); put_u32(x + t0 + 8, 99);
    expect_fail("unknown format id in a tensor header", x, n, "layer 0 q_proj: unknown quantization kind id 99");
    memcpy(x, b, n); put_u32(x + 72, 48);
    expect_fail("block 48 in the file header", x, n, "48");
    memcpy(x, b, n); put_u32(x + t0 + 16, 128);
    expect_fail("tensor block 128 that does not divide as its sections declare", x, n, "layer 0 q_proj: scale section");
    memcpy(x, b, n); put_u32(x + t0 + 16, 48);
    expect_fail("tensor block 48", x, n, "layer 0 q_proj");
    memcpy(x, b, n); put_u32(x + 24, (uint32_t)c->n_layers - 1);
    expect_fail("n_layers off by one", x, n, "expected");
    memcpy(x, b, n); put_u32(x + 16, 0);
    expect_fail("dim 0", x, n, "dim");
    memcpy(x, b, n); put_u32(x + 60, 0);
    expect_fail("empty module mask", x, n, "mask");
    memcpy(x, b, n); put_u32(x + 60, 0x80);
    expect_fail("module mask bit 7", x, n, "mask");
    memcpy(x, b, n); put_u32(x + 60, all & ~1u);
    expect_fail("module mask without q_proj", x, n, "expected");
    memcpy(x, b, n); put_u64(x + 88, get_u64(b + 88) + 1);
    expect_fail("fp32 count off by one", x, n, "fp32 values");
    memcpy(x, b, n); put_u32(x + 80, 3);
    expect_fail("packed tensor count", x, n, "packed tensors");
    memcpy(x, b, n); x[120] = 1;
    expect_fail("reserved byte set", x, n, "reserved");
    // Shapes: in a bf16 file gate_proj (H, C) and down_proj (C, H) take the same bytes; swap them.
    QuantTensor **qh = quantize_all(c, w, &bf16, all);
    const char *hp = tmp_path("bf16.qm");
    qmodel_save(hp, c, w, qh, all, &st);
    size_t hn, gs, ds;
    unsigned char *hb = slurp(hp, &hn);
    QP_ASSERT(hn <= 4 * n);
    size_t go = tensor_at(hb, LIN_GATE, &gs), dof = tensor_at(hb, LIN_DOWN, &ds);
    CHECK(gs == ds, "bf16 gate_proj and down_proj images have one size (%zu)", gs);
    memcpy(x, hb, hn);
    memcpy(x + go, hb + dof, ds);
    memcpy(x + dof, hb + go, gs);
    char want[64];
    snprintf(want, sizeof want, "layer 0 gate_proj: expected shape %d x %d, found %d x %d", c->hidden_dim, c->dim, c->dim,
             c->hidden_dim);
    expect_fail("gate_proj and down_proj swapped", x, hn, want);
    // A tensor of another format (fp4 has nf4's sizes) spliced in.
    QuantTensor **qf = quantize_all(c, w, &fp4, all);
    const char *fpth = tmp_path("fp4.qm");
    qmodel_save(fpth, c, w, qf, all, &st);
    size_t fn, f0s;
    unsigned char *fb = slurp(fpth, &fn);
    size_t f0 = tensor_at(fb, 0, &f0s);
    memcpy(x, b, n);
    memcpy(x + t0, fb + f0, f0s);
    expect_fail("an fp4 tensor in an nf4 file", x, n, "layer 0 q_proj: expected format nf4-b64 (the file header's), found fp4-b64");
    // Missing file and directory.
    ModelConfig cc; ModelWeights ww;
    st.failed = 0;
    CHECK(qmodel_load(tmp_path("nope.qm"), &cc, &ww, NULL, NULL, &st) == -1 && strstr(st.msg, "nope.qm"),
          "missing file refused: %s", st.msg);
    st.failed = 0;
    CHECK(qmodel_load(tmpdir, &cc, &ww, NULL, NULL, &st) == -1 && strstr(st.msg, "not a regular file"),
          "directory refused: %s", st.msg);
    CHECK(!qmodel_is_file(tmpdir) && !qmodel_is_file(tmp_path("nope.qm")) && qmodel_is_file(good),
          "qmodel_is_file: only real quantized files");
    // Save refusals: no temporary is left behind, the message is one line.
    st.failed = 0;
    CHECK(qmodel_save(tmp_path("no/such/dir/x.qm"), c, w, qb, all, &st) == -1 && strstr(st.msg, "cannot create"),
          "save into a missing directory refused: %s", st.msg);
    QuantTensor *keep = qb[LIN_DOWN];
    qb[LIN_DOWN] = NULL;
    st.failed = 0;
    CHECK(qmodel_save(tmp_path("x.qm"), c, w, qb, all, &st) == -1 && strstr(st.msg, "layer 0 down_proj has no packed base"),
          "save with a missing tensor refused: %s", st.msg);
    qb[LIN_DOWN] = qb[LIN_GATE];
    st.failed = 0;
    CHECK(qmodel_save(tmp_path("x.qm"), c, w, qb, all, &st) == -1 && strstr(st.msg, "layer 0 down_proj: expected a"),
          "save with a mis-shaped tensor refused: %s", st.msg);
    qb[LIN_DOWN] = qf[LIN_DOWN];
    st.failed = 0;
    CHECK(qmodel_save(tmp_path("x.qm"), c, w, qb, all, &st) == -1 && strstr(st.msg, "share one format"),
          "save with mixed formats refused: %s", st.msg);
    qb[LIN_DOWN] = keep;
    st.failed = 0;
    CHECK(qmodel_save(tmp_path("x.qm"), c, w, qb, all & ~1u, &st) == -1 && strstr(st.msg, "not in the module mask"),
          "save with a tensor outside the mask refused: %s", st.msg);
    CHECK(access(tmp_path("x.qm"), F_OK) != 0, "refused saves leave no file");
    qmodel_free_bases(qb, c->n_layers);
    qmodel_free_bases(qh, c->n_layers);
    qmodel_free_bases(qf, c->n_layers);
    free(b); free(x); free(hb); free(fb);
}

// Is q(W~) == q(W)? (What a model loaded from a .qm and re-quantized in process gets.) Reported
// per format, not checked: int-k's fp16 scale need not be idempotent.
static void requantize_info(const ModelConfig *c, const ModelWeights *w) {
    const char *names[] = {"nf4", "fp4", "nf3", "nf2", "mxint3", "mxint2", "int4", "bf16"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        qp_status st = {0};
        quant_format f;
        quant_parse_format(names[i], 0, 0, &f, &st);
        int same = 1;
        for (int l = 0; l < c->n_layers; l++)
            for (int k = 0; k < LIN_COUNT; k++) {
                int o, in;
                model_lin_shape(c, k, &o, &in);
                QuantTensor *q = quant_tensor_quantize(model_lin_weight(w, c, l, k), o, in, &f);
                float *d = malloc((size_t)o * in * sizeof(float));
                quant_dequantize_rows(q, 0, o, d);
                QuantTensor *q2 = quant_tensor_quantize(d, o, in, &f);
                same &= tensors_equal(q, q2);
                quant_tensor_free(q); quant_tensor_free(q2); free(d);
            }
        printf("# info: %s: q(dq(q(W))) %s q(W) on tinystories-1M\n", names[i], same ? "==" : "!=");
    }
}

int main(void) {
    const char *t = getenv("TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/qmodel.%ld", t ? t : "/tmp", (long)getpid());
    mkdir(tmpdir, 0700);
    const char *bin = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    qp_status st = {0};
    ModelConfig c; ModelWeights w;
    if (model_load_weights(bin, &c, &w, &st)) { CHECK(0, "load %s: %s", bin, st.msg); return tl_finish(); }
    CHECK(c.hidden_dim % 64 != 0, "tinystories-1M's down_proj (%d inputs) ends in a partial nf4 block", c.hidden_dim);
    unsigned all = (1u << LIN_COUNT) - 1;
    round_trip(&c, &w, "nf4", 0, 0, all);
    round_trip(&c, &w, "nf4", 0, 1, all);
    round_trip(&c, &w, "fp4", 0, 0, all);
    round_trip(&c, &w, "nf3", 0, 0, all);
    round_trip(&c, &w, "nf2", 0, 0, all);
    round_trip(&c, &w, "mxint3", 0, 0, all);
    round_trip(&c, &w, "mxint2", 16, 0, all);
    round_trip(&c, &w, "mxint8", 0, 0, all);
    round_trip(&c, &w, "int4", 0, 0, all);
    round_trip(&c, &w, "int3", 32, 0, all);
    round_trip(&c, &w, "bf16", 0, 0, all);
    round_trip(&c, &w, "fp16", 0, 0, all);
    round_trip(&c, &w, "nf4", 128, 0, all);  // 352 = 2*128 + 96: a partial block of 96
    unsigned part = 1u << LIN_Q | 1u << LIN_V | 1u << LIN_DOWN;
    round_trip(&c, &w, "nf3", 0, 0, part);
    round_trip(&c, &w, "mxint3", 0, 0, 1u << LIN_DOWN);
    logits_equal(bin, "nf4", 0, all);
    logits_equal(bin, "mxint3", 0, all);
    logits_equal(bin, "int4", 0, part);
    corrupt_files(&c, &w);
    requantize_info(&c, &w);
    weights_free(&w);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return tl_finish();
}
