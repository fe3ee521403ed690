// tests/test_gguf.c — the GGUF pieces without llama.cpp: ggml block layouts built by hand from
// ggml-common.h's description (not from qpeft's encoder), the exact encoder's fits and misses,
// ggml's rounding rule on known values, the writer read back through the reader (metadata of
// every type, tensors bit for bit), and every refusal of the reader on hostile bytes (one line,
// naming the file). With arguments it is the qpeft side of tests/test_gguf_llamacpp.sh:
//   test_gguf ids TOKENIZER TEXT N OUT            BOS + the first N-1 tokens of TEXT
//   test_gguf logprobs MODEL CKPT|- IDS REF TOL [NAME MEAN_TOL]
//                                                 qpeft's ln p vs llama.cpp's (REF: float64 P×V):
//                                                 max |diff| <= TOL and mean |diff| <= MEAN_TOL
//   test_gguf tensors GGUF MODEL CKPT L2C TYPE    the GGUF's linears == the checkpoint's merged
//                                                 weights and == the llama2c export, bit for bit
#include "checkpoints/export_gguf.h"
#include "checkpoints/gguf.h"
#include "checkpoints/merge.h"
#include "data/text.h"
#include "data/tokenizer.h"
#include "model/gguf.h"
#include "model/model.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"
#include "trainer/session.h"
#include "testlib.h"
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[4096];

// Bit for bit, except that a zero may change sign (ggml's (q−8)·d has no −0).
static int same_bits_or_zero(float a, float b) { return a == b && (a == 0 || !memcmp(&a, &b, 4)); }

// ---- block layouts -------------------------------------------------------------------------------
static void test_layouts(void) {
    const ggml_block_type *q4 = ggml_blocks_by_name("q4_0"), *q8 = ggml_blocks_by_name("q8_0");
    CHECK(q4 && q4->id == 2 && q4->block == 32 && q4->bytes == 18, "q4_0 row: ggml id 2, 32 elements in 18 bytes");
    CHECK(q8 && q8->id == 8 && q8->block == 32 && q8->bytes == 34, "q8_0 row: ggml id 8, 32 elements in 34 bytes");
    // Q4_0 by hand: d = 0.25 (fp16 0x3400), byte j = (q_j) | (q_{j+16} << 4), value (q-8)*d.
    uint8_t b[18] = {0x00, 0x34};
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float out[32];
    q4->dequant_ref(b, out);
    int ok = 1;
    for (int j = 0; j < 16; j++) ok &= out[j] == (j - 8) * 0.25f && out[j + 16] == (7 - j) * 0.25f;
    CHECK(ok, "q4_0 dequant: low nibble = element j, high nibble = element j+16, (q-8)*d");
    uint8_t c[34] = {0x00, 0xBC};  // d = -1.0 (fp16 0xBC00)
    for (int j = 0; j < 32; j++) c[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    q8->dequant_ref(c, out);
    ok = 1;
    for (int j = 0; j < 32; j++) ok &= out[j] == -(float)(j * 8 - 128);
    CHECK(ok, "q8_0 dequant: int8 q times fp16 d");
    // ggml's rounding rule on known values: max-magnitude element -> code 0 (value exactly m).
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (j - 12) * 0.1f;
    x[5] = -3.2f;
    q4->quant_ref(x, b);
    q4->dequant_ref(b, out);
    CHECK((b[2 + 5] & 0x0F) == 0 && out[5] == quant_f16_to_f32(quant_f32_to_f16(0.4f)) * -8.0f,
          "q4_0 ggml rounding: the largest |x| takes code 0, d = x/-8 in fp16 (got %g)", out[5]);
    double err = 0;
    for (int j = 0; j < 32; j++) err = fmax(err, fabs(out[j] - x[j]));
    // The codes round with the unrounded d = 0.4; the file's d is fp16(0.4): |err| <= d/2 + 8·|d − fp16(d)|.
    const double bound = 0.2 + 8 * fabs(0.4 - quant_f16_to_f32(quant_f32_to_f16(0.4f)));
    CHECK(err <= bound, "q4_0 ggml rounding: every element within d/2 + 8|d - fp16(d)| = %.5g (worst %.5g)", bound, err);
}

// ---- exact encoder ---------------------------------------------------------------------------------
static void test_exact(void) {
    const ggml_block_type *q4 = ggml_blocks_by_name("q4_0"), *q8 = ggml_blocks_by_name("q8_0");
    // An mxint3-b32 block: m in -3..3 times 2^(e-1), e = -4.
    float x[64], y[64];
    uint8_t b[68];
    for (int j = 0; j < 32; j++) x[j] = (float)((j * 5) % 7 - 3) * 0x1p-5f;
    x[3] = -0.0f;
    CHECK(ggml_blocks_encode_exact(q4, x, b, 32, NULL) == GGML_FIT_OK, "mxint3-b32 block fits q4_0 exactly");
    q4->dequant_ref(b, y);
    int ok = 1;
    for (int j = 0; j < 32; j++) ok &= same_bits_or_zero(y[j], x[j]);
    CHECK(ok && !signbit(y[3]), "q4_0 exact: dequantized == values bit for bit (-0 comes back +0)");
    // Two b16 halves with exponents 2 apart: m*4 fits 4 bits only while |m*4| <= 8.
    for (int j = 0; j < 16; j++) { x[j] = (float)(j % 3 - 1) * 0x1p-6f; x[16 + j] = (float)(j % 2) * 0x1p-4f; }
    CHECK(ggml_blocks_encode_exact(q4, x, b, 32, NULL) == GGML_FIT_OK, "b16 halves with a gap of 2 share d = 2^min(e)");
    q4->dequant_ref(b, y);
    ok = 1;
    for (int j = 0; j < 32; j++) ok &= y[j] == x[j];
    CHECK(ok, "b16 halves: dequantized == values");
    x[16] = 3 * 0x1p-4f;  // 3*4 = 12 levels of the small half's grid: not 4-bit
    int64_t bad = -1;
    CHECK(ggml_blocks_encode_exact(q4, x, NULL, 32, &bad) == GGML_FIT_RANGE && bad == 0, "gap too large for q4_0: RANGE");
    CHECK(ggml_blocks_encode_exact(q8, x, b, 32, NULL) == GGML_FIT_OK, "... but q8_0 holds it");
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 3) * 0x1p-30f;  // d = 2^-30 below fp16's 2^-24
    CHECK(ggml_blocks_encode_exact(q4, x, NULL, 32, NULL) == GGML_FIT_SCALE, "d outside fp16: SCALE");
    for (int j = 0; j < 64; j++) x[j] = j < 32 ? 0.0f : 1.0f + 0x1p-10f;  // 1025 levels of 2^-10
    bad = -1;
    CHECK(ggml_blocks_encode_exact(q8, x, NULL, 64, &bad) == GGML_FIT_RANGE && bad == 1, "1+2^-10 needs 1025 levels, not q8_0: block 1 named");
    x[40] = 1.0f / 3.0f;
    CHECK(ggml_blocks_encode_exact(ggml_blocks_by_name("f16"), x, NULL, 64, NULL) == GGML_FIT_ROUND, "1/3 is not an f16");
    CHECK(ggml_blocks_encode_exact(ggml_blocks_by_name("f32"), x, NULL, 64, NULL) == GGML_FIT_OK, "f32 always fits");
    // mxint5..8 values (|m| up to 127) in q8_0 with d = 2^(e-(w-2)).
    quant_format f;
    qp_status st = {0};
    quant_parse_format("mxint8", 32, 0, &f, &st);
    float w[4 * 64], dq[4 * 64];
    for (int i = 0; i < 4 * 64; i++) w[i] = sinf(0.37f * i) * (1 + i % 5);
    quant_fake(dq, w, 4, 64, &f);
    uint8_t *buf = malloc(4 * 2 * 34);
    CHECK(ggml_blocks_encode_exact(q8, dq, buf, 256, NULL) == GGML_FIT_OK, "mxint8-b32 tensor fits q8_0");
    ggml_blocks_dequantize_ref(q8, buf, y, 64);
    ok = 1;
    for (int j = 0; j < 64; j++) ok &= same_bits_or_zero(y[j], dq[j]);
    CHECK(ok, "mxint8 -> q8_0 dequantized bit for bit");
    free(buf);
}

// ---- writer -> reader ------------------------------------------------------------------------------
static void test_roundtrip(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.gguf", tmpdir);
    gguf_writer *w = gguf_writer_new();
    const char *toks[3] = {"<unk>", "▁a", "<0x0A>"};
    const float sc[3] = {0, -1.5f, 2.25f};
    const int32_t ty[3] = {2, 1, 6};
    gguf_kv_str(w, "general.architecture", "llama");
    gguf_kv_u32(w, "llama.block_count", 7);
    gguf_kv_f32(w, "llama.rope.freq_base", 10000.5f);
    gguf_kv_bool(w, "flag", 1);
    gguf_kv_str_array(w, "tokenizer.ggml.tokens", toks, 3);
    gguf_kv_f32_array(w, "tokenizer.ggml.scores", sc, 3);
    gguf_kv_i32_array(w, "tokenizer.ggml.token_type", ty, 3);
    float a[2 * 32], bq[64];
    for (int i = 0; i < 64; i++) a[i] = (float)(i % 15 - 7) * 0.125f;
    const int64_t ne1[1] = {5}, ne2[2] = {32, 2};
    gguf_tensor(w, "v", 1, ne1, GGML_ID_F32);
    gguf_tensor(w, "q", 2, ne2, GGML_ID_Q4_0);
    qp_status st = {0};
    int rc = gguf_writer_begin(w, path, &st);
    const float v[5] = {1, 2, 3, 4, 5.5f};
    gguf_writer_data(w, v, sizeof v);
    uint8_t blk[36];
    ggml_blocks_encode_exact(ggml_blocks_by_name("q4_0"), a, blk, 64, NULL);
    gguf_writer_data(w, blk, 36);
    rc = rc || gguf_writer_finish(w);
    gguf_writer_free(w);
    CHECK(rc == 0, "writer: wrote %s (%s)", path, st.msg);
    gguf_file g;
    rc = gguf_open(&g, path, &st);
    CHECK(rc == 0, "reader: opened what the writer wrote (%s)", st.msg);
    if (rc) return;
    uint32_t u = 0;
    float f = 0;
    const char *s = gguf_get_str(&g, "general.architecture", &st);
    CHECK(s && !strcmp(s, "llama") && !gguf_get_u32(&g, "llama.block_count", &u, &st) && u == 7 &&
              !gguf_get_f32(&g, "llama.rope.freq_base", &f, &st) && f == 10000.5f && *(uint8_t *)gguf_find(&g, "flag")->data == 1,
          "reader: scalar keys of every written type read back");
    const gguf_kv *tk = gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_STR, &st);
    const gguf_kv *sk = gguf_get_arr(&g, "tokenizer.ggml.scores", GGUF_F32, &st);
    const gguf_kv *yk = gguf_get_arr(&g, "tokenizer.ggml.token_type", GGUF_I32, &st);
    CHECK(tk && sk && yk && tk->n == 3 && !strcmp(((char **)tk->data)[1], "▁a") && ((float *)sk->data)[2] == 2.25f &&
              ((int32_t *)yk->data)[2] == 6,
          "reader: string, f32 and i32 arrays read back");
    CHECK(gguf_get_u32(&g, "llama.rope.freq_base", &u, &st) == -1 && strstr(st.msg, "of type u32, found f32"),
          "reader: a key of another type is refused: %s", st.msg);
    int qi = gguf_find_tensor(&g, "q");
    CHECK(qi == 1 && g.t[qi].type == GGML_ID_Q4_0 && g.t[qi].ne[0] == 32 && g.t[qi].ne[1] == 2 && g.t[qi].offset % 32 == 0 &&
              g.data_offset % 32 == 0, "reader: tensor infos (type, ne, aligned offsets)");
    rc = gguf_read_f32(&g, qi, bq, &st);
    int ok = !rc;
    for (int i = 0; i < 64; i++) ok &= same_bits_or_zero(bq[i], a[i]);
    CHECK(ok, "reader: q4_0 tensor dequantizes to the written values");
    gguf_close(&g);
}

// ---- the llama exporter, read back -------------------------------------------------------------------
// A tiny untied model (C 64, H 96, 2 layers, GQA 4/2, V 5): linears on a 4-bit power-of-two grid,
// everything else arbitrary floats. auto must write the linears Q4_0 and the rest F32, every value
// bit for bit, output.weight present, the hyper-parameters and vocabulary as keys.
static void test_export(void) {
    ModelConfig c = {.dim = 64, .hidden_dim = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 5,
                     .max_seq_len = 48, .norm_eps = 1e-6f, .rope_theta = 50000.0f};
    ModelWeights w;
    qp_status st = {0};
    if (weights_alloc(&w, &c, &st)) { CHECK(0, "weights_alloc: %s", st.msg); return; }
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = sinf(0.7f * (float)i) + 0.01f * (float)(i % 13);
    float *const lin[LIN_COUNT] = {w.wq, w.wk, w.wv, w.wo, w.w_gate, w.w_up, w.w_down};
    const size_t n_lin[LIN_COUNT] = {64 * 64, 32 * 64, 32 * 64, 64 * 64, 96 * 64, 96 * 64, 64 * 96};
    for (int k = 0; k < LIN_COUNT; k++)
        for (size_t i = 0; i < 2 * n_lin[k]; i++) lin[k][i] = (float)((int)((i * 7 + (size_t)k) % 15) - 7) * 0x1p-6f;
    const char *pieces[5] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "<0x0A>"};
    const float scores[5] = {0, 0, 0, -3.5f, 0};
    const int32_t types[5] = {2, 3, 3, 1, 6};
    export_gguf_vocab v = {5, pieces, scores, types, 1, 2, 0};
    export_gguf_opts o = {EXPORT_AUTO, 0, -1, "tiny", &v, 0};
    export_gguf_report rep;
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny.gguf", tmpdir);
    int rc = export_write_gguf(path, &c, &w, &o, &rep, &st);
    CHECK(rc == 0 && rep.n_by_type[EXPORT_Q4_0] == 14 && rep.n_by_type[EXPORT_F32] == 7 && rep.n_lossy == 0,
          "export auto: 14 linears q4_0, the 7 other tensors f32, nothing rounded (%s)", st.msg);
    gguf_file g;
    if (rc || gguf_open(&g, path, &st)) { CHECK(0, "read back: %s", st.msg); weights_free(&w); return; }
    uint32_t u[9] = {0};
    const char *keys[9] = {"llama.context_length", "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                           "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                           "general.file_type", "tokenizer.ggml.bos_token_id"};
    int ok = 1;
    for (int i = 0; i < 9; i++) ok &= gguf_get_u32(&g, keys[i], &u[i], &st) == 0;
    float eps = 0, theta = 0;
    ok &= !gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &eps, &st) && !gguf_get_f32(&g, "llama.rope.freq_base", &theta, &st);
    const char *arch = gguf_get_str(&g, "general.architecture", &st), *tm = gguf_get_str(&g, "tokenizer.ggml.model", &st);
    CHECK(ok && u[0] == 48 && u[1] == 64 && u[2] == 2 && u[3] == 96 && u[4] == 4 && u[5] == 2 && u[6] == 16 && u[7] == 2 &&
              u[8] == 1 && eps == 1e-6f && theta == 50000.0f && arch && !strcmp(arch, "llama") && tm && !strcmp(tm, "llama"),
          "export keys: llama hyper-parameters, file_type 2 (mostly q4_0), bos, tokenizer model (%s)", st.msg);
    const gguf_kv *tk = gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_STR, &st);
    CHECK(tk && tk->n == 5 && !strcmp(((char **)tk->data)[3], "\xe2\x96\x81" "a"), "export vocabulary: pieces as they are");
    struct { const char *name; const float *x; int64_t ne0, ne1; int type; } want[] = {
        {"token_embd.weight", w.tok_emb, 64, 5, GGML_ID_F32}, {"output.weight", w.lm_head, 64, 5, GGML_ID_F32},
        {"output_norm.weight", w.final_norm, 64, 1, GGML_ID_F32}, {"blk.1.attn_k.weight", w.wk + 32 * 64, 64, 32, GGML_ID_Q4_0},
        {"blk.0.ffn_down.weight", w.w_down, 96, 64, GGML_ID_Q4_0}, {"blk.1.ffn_norm.weight", w.ffn_norm + 64, 64, 1, GGML_ID_F32}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int ti = gguf_find_tensor(&g, want[i].name);
        float *x = malloc((size_t)(want[i].ne0 * want[i].ne1) * sizeof(float));
        int same = ti >= 0 && g.t[ti].type == want[i].type && g.t[ti].ne[0] == want[i].ne0 && g.t[ti].ne[1] == want[i].ne1 &&
                   !gguf_read_f32(&g, ti, x, &st);
        for (int64_t j = 0; same && j < want[i].ne0 * want[i].ne1; j++) same &= same_bits_or_zero(x[j], want[i].x[j]);
        CHECK(same, "export tensor %s: type, ne [%lld, %lld] and values bit for bit", want[i].name, (long long)want[i].ne0,
              (long long)want[i].ne1);
        free(x);
    }
    gguf_close(&g);
    o.type = EXPORT_F16;
    snprintf(path, sizeof path, "%s/tiny16.gguf", tmpdir);
    rc = export_write_gguf(path, &c, &w, &o, &rep, &st);
    CHECK(rc == 0 && rep.n_by_type[EXPORT_F16] == 16 && rep.n_lossy == 2 && rep.rel_err > 0 && rep.rel_err < 1e-3,
          "export f16: the 16 2-D tensors f16, the 2 off-grid ones (embedding, output) rounded (rel err %.3g)", rep.rel_err);
    weights_free(&w);
}

// ---- hostile input -------------------------------------------------------------------------------------
typedef struct { uint8_t p[4096]; size_t n; } bb;
static void b_put(bb *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static void b_u32(bb *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(bb *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }

// A small valid file by hand (independent of the writer): 2 keys, 2 tensors (f32 [8], q8_0 [32,1]).
// Offsets of fields the mutations need are recorded.
typedef struct { size_t ntensors, kv_type, t1_type, t1_ne0, t1_off, t0_off, t1_ndims; } fields;
static bb hand_file(fields *fl, uint64_t t1_offset) {
    bb b = {{0}, 0};
    b_put(&b, "GGUF", 4);
    b_u32(&b, 3);
    fl->ntensors = b.n;
    b_u64(&b, 2);
    b_u64(&b, 2);
    b_str(&b, "general.architecture");
    fl->kv_type = b.n;
    b_u32(&b, 8);
    b_str(&b, "llama");
    b_str(&b, "arr");
    b_u32(&b, 9);
    b_u32(&b, 4);
    b_u64(&b, 2);
    b_u32(&b, 1);
    b_u32(&b, 2);
    b_str(&b, "a");
    b_u32(&b, 1);
    b_u64(&b, 8);
    b_u32(&b, 0);
    fl->t0_off = b.n;
    b_u64(&b, 0);
    b_str(&b, "b");
    fl->t1_ndims = b.n;
    b_u32(&b, 2);
    fl->t1_ne0 = b.n;
    b_u64(&b, 32);
    b_u64(&b, 1);
    fl->t1_type = b.n;
    b_u32(&b, 8);
    fl->t1_off = b.n;
    b_u64(&b, t1_offset);
    while (b.n % 32) b.p[b.n++] = 0;
    for (int i = 0; i < 64 + 34; i++) b.p[b.n++] = (uint8_t)i;  // tensor a (32 bytes, padded), b (34)
    return b;
}

static int opens(const bb *b, const char *name, qp_status *st) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(b->p, 1, b->n, f);
    fclose(f);
    gguf_file g;
    memset(st, 0, sizeof *st);
    int rc = gguf_open(&g, path, st);
    if (!rc) gguf_close(&g);
    return rc;
}

static void refused(const bb *b, const char *name, const char *expect) {
    qp_status st;
    int rc = opens(b, name, &st);
    CHECK(rc == -1 && strstr(st.msg, name) && !strchr(st.msg, '\n') && strstr(st.msg, expect),
          "reader refuses %s in one line: %s", name, st.msg);
}

static void set32(bb *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }
static void set64(bb *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }

static void test_hostile(void) {
    fields fl;
    bb ok = hand_file(&fl, 64), b;
    qp_status st;
    CHECK(opens(&ok, "valid", &st) == 0, "hand-built file opens (%s)", st.msg);
    // Every truncation: refused, never a crash.
    int all = 1;
    for (size_t n = 0; n < ok.n; n++) {
        b = ok;
        b.n = n;
        all &= opens(&b, "trunc", &st) == -1 && !strchr(st.msg, '\n');
    }
    CHECK(all, "every truncation of the %zu-byte file is refused with one line", ok.n);
    b = ok; memcpy(b.p, "GGUG", 4); refused(&b, "magic", "magic GGUF");
    b = ok; set32(&b, 4, 1); refused(&b, "version1", "version 2 or 3");
    b = ok; set32(&b, 4, 3u << 24); refused(&b, "bigendian", "big-endian");
    b = ok; set64(&b, fl.ntensors, 1ull << 60); refused(&b, "tensorcount", "tensor count");
    b = ok; set32(&b, fl.kv_type, 13); refused(&b, "kvtype", "known value type");
    b = ok; set64(&b, fl.kv_type + 4, 1ull << 40); refused(&b, "strlen", "string");
    b = ok; set32(&b, fl.t1_type, 99); refused(&b, "ggmltype", "ggml type 99");
    b = ok; set32(&b, fl.t1_ndims, 5); refused(&b, "ndims", "1..4 dimensions");
    b = ok; set64(&b, fl.t1_ne0, 33); refused(&b, "blockmul", "multiple of the block");
    b = ok; set64(&b, fl.t1_ne0 + 8, 1ull << 61); refused(&b, "hugedim", "fits in the file");
    b = hand_file(&fl, 48); refused(&b, "misaligned", "aligned");
    b = hand_file(&fl, 0); refused(&b, "overlap", "overlapping");
    b = hand_file(&fl, 4096); refused(&b, "pastend", "inside the file");
    b = ok; b.p[fl.t1_ndims - 1] = 'a'; refused(&b, "dupname", "twice");
}

// ---- tool modes (tests/test_gguf_llamacpp.sh) -------------------------------------------------------------
static int tool_ids(char **a) {
    qp_status st = {0};
    Tokenizer *tk = tok_load(a[0], &st);
    text_stream ts;
    if (!tk || text_load(&ts, a[1], tk, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
    int n = atoi(a[2]);
    FILE *f = fopen(a[3], "w");
    for (int i = 0; i < n && i < ts.n_tokens; i++) fprintf(f, "%d ", ts.tokens[i]);
    fclose(f);
    text_free(&ts);
    tok_free(tk);
    return 0;
}

static int tool_logprobs(char **a) {
    const char *model = a[0], *ckpt = a[1];
    double tol = atof(a[4]), mean_tol = a[5] && a[6] ? atof(a[6]) : tol;
    FILE *f = fopen(a[2], "r");
    int ids[4096], n = 0;
    while (n < 4096 && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    Model m;
    if (strcmp(ckpt, "-")) {
        ckpt_meta meta;
        session_model_from_checkpoint(model, ckpt, 0, &m, &meta);
    } else {
        ModelConfig cfg; ModelWeights w; QuantTensor **qb = NULL; qp_status st = {0};
        session_load_model(model, &cfg, &w, &qb, NULL);
        if (model_init(&m, &cfg, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st)) { fprintf(stderr, "%s\n", st.msg); return 1; }
        session_install_qbase(&m, &qb);
    }
    const int V = m.cfg.vocab_size, P = n - 1;
    double *ref = malloc((size_t)P * V * sizeof(double));
    f = fopen(a[3], "rb");
    size_t got = fread(ref, sizeof(double), (size_t)P * V, f);
    fclose(f);
    CHECK(got == (size_t)P * V, "llama.cpp log-probs: %d positions x %d vocab read", P, V);
    model_alloc_acts(&m, 1, n);
    model_forward(&m, ids, NULL, 1, n, NULL, NULL, NULL, 0);
    double worst = 0, sum = 0;
    long cnt = 0;
    FILE *dump = getenv("QPEFT_GGUF_DUMP") ? fopen(getenv("QPEFT_GGUF_DUMP"), "wb") : NULL;  // for diagnosis
    int wp = 0, wv = 0;
    for (int p = 0; p < P; p++) {
        const float *lg = m.acts.logits + (size_t)p * V;
        double mx = -INFINITY, se = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, lg[v]);
        for (int v = 0; v < V; v++) se += exp(lg[v] - mx);
        double lse = mx + log(se);
        for (int v = 0; v < V; v++) {
            double r = ref[(size_t)p * V + v], mine = lg[v] - lse;
            if (dump) fwrite(&mine, sizeof mine, 1, dump);
            if (!(r > log(1e-30))) continue;  // below float's comfortable range in llama.cpp's p
            double d = fabs((lg[v] - lse) - r);
            if (d > worst) { worst = d; wp = p; wv = v; }
            sum += d; cnt++;
        }
    }
    if (dump) fclose(dump);
    const double mean = cnt ? sum / cnt : 0.0;
    CHECK(P >= 128 && worst <= tol && mean <= mean_tol, "%s: ln p of qpeft vs llama.cpp over %d positions x %d tokens: max |diff| "
          "%.3g (pos %d tok %d), mean %.3g; tolerance max %g, mean %g", a[5] ? a[5] : "log-probs", P, V, worst, wp, wv, mean, tol, mean_tol);
    free(ref);
    model_free(&m);
    return tl_finish();
}

static int tool_tensors(char **a) {
    const char *gpath = a[0], *model = a[1], *ckpt = a[2], *l2c = a[3], *type = a[4];
    qp_status st = {0};
    gguf_file g;
    if (gguf_open(&g, gpath, &st)) { CHECK(0, "open %s: %s", gpath, st.msg); return tl_finish(); }
    Model m;
    ckpt_meta meta;
    session_model_from_checkpoint(model, ckpt, 0, &m, &meta);
    ModelConfig mc, lc;
    ModelWeights mw, lw;
    if (merge_weights(&m, &mc, &mw, &st) || model_load_weights(l2c, &lc, &lw, &st)) { CHECK(0, "%s", st.msg); return tl_finish(); }
    static const char *const names[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    float *const mb[LIN_COUNT] = {mw.wq, mw.wk, mw.wv, mw.wo, mw.w_gate, mw.w_up, mw.w_down};
    float *const lb[LIN_COUNT] = {lw.wq, lw.wk, lw.wv, lw.wo, lw.w_gate, lw.w_up, lw.w_down};
    const int want = ggml_blocks_by_name(type)->id;
    long n_lin = 0, n_type = 0, diff_ckpt = 0, diff_l2c = 0, n_vals = 0, n_changed = 0;
    ModelConfig bc;
    ModelWeights bw;
    merge_base_weights(&m, &bc, &bw, &st);
    float *const bb_[LIN_COUNT] = {bw.wq, bw.wk, bw.wv, bw.wo, bw.w_gate, bw.w_up, bw.w_down};
    for (int l = 0; l < mc.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, names[k]);
            int i = gguf_find_tensor(&g, nm);
            if (i < 0) { CHECK(0, "tensor %s in the GGUF", nm); continue; }
            n_lin++;
            n_type += g.t[i].type == want;
            size_t n = (size_t)(g.t[i].ne[0] * g.t[i].ne[1]);
            float *x = malloc(n * sizeof(float));
            gguf_read_f32(&g, i, x, &st);
            size_t off = (size_t)l * n;
            for (size_t j = 0; j < n; j++) {
                // Bit for bit, except that ggml's (q-8)*d has no -0: a -0 weight comes back +0.
                float c = mb[k][off + j], e = lb[k][off + j];
                diff_ckpt += !(x[j] == c && (c == 0 || !memcmp(&x[j], &c, 4)));
                diff_l2c += !(x[j] == e && (e == 0 || !memcmp(&x[j], &e, 4)));
                n_changed += c != bb_[k][off + j];
            }
            n_vals += (long)n;
            free(x);
        }
    CHECK(n_lin == 7L * mc.n_layers && n_type == n_lin, "every linear (%ld of %ld) is %s in %s", n_type, n_lin, type, gpath);
    CHECK(diff_ckpt == 0, "GGUF (read by model/gguf.c) == the checkpoint's merged W_qer bit for bit: %ld of %ld values differ", diff_ckpt, n_vals);
    CHECK(diff_l2c == 0, "GGUF == merge --to llama2c of the same checkpoint bit for bit: %ld of %ld differ", diff_l2c, n_vals);
    CHECK(n_changed > n_vals / 100, "the training moved codes: %ld of %ld merged values differ from the base W~ (> 1%%)", n_changed, n_vals);
    gguf_close(&g);
    weights_free(&mw);
    weights_free(&lw);
    weights_free(&bw);
    model_free(&m);
    return tl_finish();
}

int main(int argc, char **argv) {
    if (argc >= 6 && !strcmp(argv[1], "ids")) return tool_ids(argv + 2);
    if (argc >= 7 && !strcmp(argv[1], "logprobs")) return tool_logprobs(argv + 2);
    if (argc >= 7 && !strcmp(argv[1], "tensors")) return tool_tensors(argv + 2);
    const char *t = getenv("TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_gguf.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_layouts();
    test_exact();
    test_roundtrip();
    test_export();
    test_hostile();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) {}
    return tl_finish();
}
