// tests/test_ggml_quant.c — quant/ggml.c: ggml's block formats. Bits/weight from ggml's
// documented block sizes, names, raw-byte validation, hand-built Q4_K/Q6_K blocks, fast == ref,
// and the oracle: ggml's own quantizer and dequantizer (tests/oracle_ggml.py through ctypes on
// node-llama-cpp's libggml-base.so), bit for bit, on random values, random block bytes and
// tinystories-1M tensors.
#include "tests/testlib.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include "core/rng.h"
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char *GGML_NAMES[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"};
#define NGGML (int)(sizeof GGML_NAMES / sizeof *GGML_NAMES)

static quant_format fmt_of(const char *name) {
    quant_format f;
    qp_status st = {0};
    if (quant_parse_format(name, 0, 0, &f, &st)) { printf("FAIL parse %s: %s\n", name, st.msg); exit(1); }
    return f;
}

// Bits/weight as ggml-common.h's comments state them ("Effectively 4.5 bits per weight", ...)
// and as the block sizes give them: 8·bytes/QK.
static void test_sizes(void) {
    const double bpw[NGGML] = {4.5, 5.0, 5.5, 6.0, 8.5, 2.625, 3.4375, 4.5, 5.5, 6.5625, 9.125};
    for (int i = 0; i < NGGML; i++) {
        quant_format f = fmt_of(GGML_NAMES[i]);
        double got = quant_bits_per_weight(&f, 3, 512);
        CHECK(fabs(got - bpw[i]) < 1e-12, "%s: %.5g bits/weight (ggml: %.5g)", GGML_NAMES[i], got, bpw[i]);
    }
}

static void test_names(void) {
    qp_status st = {0};
    char buf[64];
    quant_format f = fmt_of("q4_K"), g;
    CHECK(f.kind == QUANT_Q4_K && f.block == 256 && f.bits == 4 && quant_kind_is_ggml(f.kind), "parse q4_K: block 256, 4 bits");
    CHECK(quant_parse_format("Q6_K", 64, 0, &g, &st) == 0 && g.kind == QUANT_Q6_K && g.block == 256,
          "parse Q6_K ignores a CLI-wide --block 64");
    quant_format_name(&f, buf, sizeof buf);
    CHECK(!strcmp(buf, "q4_K-b256") && quant_parse_format(buf, 0, 0, &g, &st) == 0 && g.kind == QUANT_Q4_K,
          "name %s round-trips", buf);
    CHECK(quant_ggml_type(QUANT_Q5_K) == 13 && quant_format_from_ggml_type(14, &g) == 0 && g.kind == QUANT_Q6_K,
          "ggml_type ids: q5_K = 13, 14 = q6_K");
    CHECK(quant_format_from_ggml_type(16, &g) != 0 && quant_ggml_type(QUANT_NF4) == -1 && !quant_kind_is_ggml(QUANT_NF4),
          "iq2_xxs (16) and nf4 have no ggml block format here");
    f.block = 32;
    CHECK(quant_format_check(&f, &st) != 0 && strstr(st.msg, "block 32"), "q4_K with block 32 refused: %s", st.msg);
}

static void test_from_raw_errors(void) {
    qp_status st = {0};
    quant_format f = fmt_of("q4_K"), n = fmt_of("nf4");
    uint8_t buf[4 * 144] = {0};
    CHECK(!quant_tensor_from_raw(&f, 2, 128, buf, 144, "blk.0.attn_q.weight", &st) && strstr(st.msg, "blk.0.attn_q.weight") &&
          strstr(st.msg, "256"), "q4_K with 128 columns refused: %s", st.msg);
    CHECK(!quant_tensor_from_raw(&f, 2, 256, buf, 144, "t", &st) && strstr(st.msg, "288") && strstr(st.msg, "144"),
          "q4_K with too few bytes refused: %s", st.msg);
    CHECK(!quant_tensor_from_raw(&n, 1, 64, buf, 32, "t", &st) && strstr(st.msg, "scale sections"),
          "nf4 from raw bytes refused: %s", st.msg);
    QuantTensor *q = quant_tensor_from_raw(&f, 4, 256, buf, sizeof buf, "t", &st);
    CHECK(q && quant_tensor_bytes(q) == sizeof buf, "4 x 256 q4_K from 576 bytes");
    quant_tensor_free(q);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

// A Q4_K block built by hand from the layout: d = 1, dmin = 0.5; sub-block 1 (a pair stored
// in the low 6 bits) has scale 3, min 5; sub-block 5 (stored across the nibbles of byte 9
// and the top bits of bytes 1 and 5) has scale 37, min 41. Weight 32+l has code l % 16 in the
// high nibbles of bytes 0..31; weight 160+l the high nibble of bytes 64+l.
static void test_hand_q4_K(void) {
    uint8_t b[144] = {0};
    put16(b, 0x3C00);
    put16(b + 2, 0x3800);
    uint8_t *s = b + 4, *qs = b + 16;
    s[1] = 3;                       // scale of sub-block 1
    s[5] = 5;                       // min of sub-block 1
    s[9] = (37 & 15) | (41 & 15) << 4;   // sub-block 5: low 4 bits of scale | of min
    s[1] |= (uint8_t)((37 >> 4) << 6);   // its scale's top 2 bits ride on byte 1 (= 5 - 4)
    s[5] |= (uint8_t)((41 >> 4) << 6);   // its min's top 2 bits on byte 5
    for (int l = 0; l < 32; l++) { qs[l] = (uint8_t)((l % 16) << 4); qs[64 + l] = (uint8_t)((15 - l % 16) << 4); }
    qp_status st = {0};
    quant_format f = fmt_of("q4_K");
    QuantTensor *q = quant_tensor_from_raw(&f, 1, 256, b, sizeof b, "hand", &st);
    float y[256], r[256];
    quant_dequantize_rows(q, 0, 1, y);
    quant_dequantize_rows_ref(q, 0, 1, r);
    int bad = 0;
    for (int l = 0; l < 32; l++) {
        bad += y[32 + l] != 3.0f * (float)(l % 16) - 2.5f;
        bad += y[160 + l] != 37.0f * (float)(15 - l % 16) - 20.5f;
        bad += y[l] != 0.0f || y[64 + l] != 0.0f;  // sub-blocks 0 and 2: scale 0, min 0
    }
    CHECK(bad == 0 && !memcmp(y, r, sizeof y), "hand-built q4_K block: 6-bit scales/mins of pairs 1 and 5 (%d wrong)", bad);
    quant_tensor_free(q);
}

// A Q6_K block by hand: d = 0.25, scales[i] = i - 8 (signed). Weight i's 6-bit code is
// (i * 7) % 64: low nibble in ql, top two bits in qh, placed by the layout's own rule.
static void test_hand_q6_K(void) {
    uint8_t b[210] = {0};
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    put16(b + 208, 0x3400);
    for (int i = 0; i < 16; i++) sc[i] = (int8_t)(i - 8);
    for (int i = 0; i < 256; i++) {
        int code = (i * 7) % 64, h = i / 128, k = i % 128 / 32, l = i % 32;
        uint8_t *lb = &ql[64 * h + l + 32 * (k % 2)];
        *lb |= (uint8_t)(k >= 2 ? (code & 15) << 4 : code & 15);
        qh[32 * h + l] |= (uint8_t)((code >> 4) << (2 * k));
    }
    qp_status st = {0};
    quant_format f = fmt_of("q6_K");
    QuantTensor *q = quant_tensor_from_raw(&f, 1, 256, b, sizeof b, "hand", &st);
    float y[256];
    quant_dequantize_rows(q, 0, 1, y);
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += y[i] != 0.25f * (float)(i / 16 - 8) * (float)((i * 7) % 64 - 32);
    CHECK(bad == 0, "hand-built q6_K block: signed scales, codes - 32 (%d wrong)", bad);
    quant_tensor_free(q);
}

// Fast paths against the one-weight-at-a-time references on random bytes (finite scales), all
// rows and an inner row range.
static void test_fast_vs_ref(void) {
    qp_rng g;
    rng_seed(&g, 2385);
    for (int i = 0; i < NGGML; i++) {
        quant_format f = fmt_of(GGML_NAMES[i]);
        const int R = 5, C = 512;
        size_t sec[QUANT_SEC_COUNT], rb;
        quant_section_sizes(&f, R, C, sec, &rb);
        uint8_t *raw = malloc(sec[0]);
        for (size_t k = 0; k < sec[0]; k++) raw[k] = (uint8_t)rng_below(&g, 256);
        // Finite super-scales: rewrite every byte pair that is an fp16 NaN/Inf as 1.0 (a
        // random pattern elsewhere is a legal code), and Q8_K's fp32 d as 0.01·k.
        const ggml_block_type *t = ggml_blocks_type(quant_ggml_type(f.kind));
        for (size_t b = 0; b < sec[0] / (size_t)t->bytes; b++) {
            uint8_t *p = raw + b * (size_t)t->bytes;
            if (f.kind == QUANT_Q8_K) { float d = 0.01f * (float)(b % 7 + 1); memcpy(p, &d, 4); continue; }
            for (size_t o = 0; o + 1 < t->bytes; o += 2)
                if ((p[o + 1] & 0x7C) == 0x7C) put16(p + o, 0x3C00);
        }
        qp_status st = {0};
        QuantTensor *q = quant_tensor_from_raw(&f, R, C, raw, sec[0], GGML_NAMES[i], &st);
        float *a = malloc(sizeof(float) * R * C), *b = malloc(sizeof(float) * R * C);
        quant_dequantize_rows(q, 0, R, a);
        quant_dequantize_rows_ref(q, 0, R, b);
        int same = !memcmp(a, b, sizeof(float) * R * C);
        quant_dequantize_rows(q, 1, R - 1, b);
        same = same && !memcmp(a + C, b, sizeof(float) * (R - 2) * C);
        CHECK(same, "%s: fast dequantize == scalar reference bit for bit (random blocks, rows 0..%d and 1..%d)",
              GGML_NAMES[i], R, R - 1);
        quant_tensor_free(q);
        free(raw); free(a); free(b);
    }
}

// Equal as bit patterns; NaN equals NaN (payloads of random-byte blocks are not the point).
static size_t count_mismatches(const float *a, const float *b, size_t n, size_t *first) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (memcmp(&a[i], &b[i], 4)) { if (!bad) *first = i; bad++; }
    }
    return bad;
}

// One manifest line: ggml's blocks through quant/, fast and reference, against ggml's floats.
static void check_one(const char *dir, const char *name, const char *type, int ggml_type, int rows, int cols, size_t bytes,
                      int *tensors, int *failed) {
    char path[8192];
    quant_format f;
    qp_status st = {0};
    if (quant_format_from_ggml_type(ggml_type, &f)) {
        printf("# %s: ggml type %s (%d) is not a qpeft ggml block format in this build; not compared\n", name, type, ggml_type);
        return;
    }
    snprintf(path, sizeof path, "%s/%s.raw", dir, name);
    uint8_t *raw = tl_slurp(path, bytes);
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    float *ref = tl_slurp(path, sizeof(float) * (size_t)rows * cols);
    QuantTensor *q = raw ? quant_tensor_from_raw(&f, rows, cols, raw, bytes, name, &st) : NULL;
    float *a = malloc(sizeof(float) * (size_t)rows * cols), *b = malloc(sizeof(float) * (size_t)rows * cols);
    size_t bad_fast = 1, bad_ref = 1, first = 0;
    if (q && ref) {
        quant_dequantize_rows(q, 0, rows, a);
        quant_dequantize_rows_ref(q, 0, rows, b);
        bad_fast = count_mismatches(a, ref, (size_t)rows * cols, &first);
        bad_ref = count_mismatches(b, ref, (size_t)rows * cols, &first);
    }
    (*tensors)++;
    if (bad_fast || bad_ref) {
        (*failed)++;
        printf("#   %s %s: %zu fast / %zu ref mismatches (%s); first at %zu: qpeft %.9g ggml %.9g\n", name, type, bad_fast,
               bad_ref, q ? "read" : st.msg, first, q ? a[first] : 0.0, ref ? ref[first] : 0.0);
    }
    quant_tensor_free(q);
    free(raw); free(ref); free(a); free(b);
}

static void test_oracle(void) {
    const char *tmp = getenv("TEST_TMP") ? getenv("TEST_TMP") : "/tmp";
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s/ggml_oracle.%d", tmp, (int)getpid());
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "%s tests/oracle_ggml.py '%s' '%s'", py, dir, tl_asset("models/tinystories-1M/tinystories-1M.bin"));
    int rc = system(cmd);
    CHECK(rc == 0, "oracle_ggml.py (ggml_quantize_chunk + dequantize_row_* of libggml-base.so) ran (rc %d)", rc);
    if (rc) return;
    char path[8192];
    snprintf(path, sizeof path, "%s/manifest.tsv", dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "manifest %s opened", path);
    if (!fp) return;
    char name[256], type[32];
    int ggml_type, rows, cols, tensors[QUANT_KIND_COUNT] = {0}, failed[QUANT_KIND_COUNT] = {0};
    size_t bytes;
    while (fscanf(fp, "%255s %31s %d %d %d %zu", name, type, &ggml_type, &rows, &cols, &bytes) == 6) {
        quant_format f;
        if (quant_format_from_ggml_type(ggml_type, &f)) f.kind = QUANT_F32;  // counted nowhere
        check_one(dir, name, type, ggml_type, rows, cols, bytes, &tensors[f.kind], &failed[f.kind]);
    }
    fclose(fp);
    for (int i = 0; i < NGGML; i++) {
        quant_format f = fmt_of(GGML_NAMES[i]);
        CHECK(tensors[f.kind] >= 3 && failed[f.kind] == 0,
              "%s: qpeft == ggml's dequantize_row_%s bit for bit on %d tensors (random values, random blocks, "
              "tinystories-1M)", GGML_NAMES[i], GGML_NAMES[i], tensors[f.kind]);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) printf("# could not remove %s\n", dir);
}

int main(void) {
    test_sizes();
    test_names();
    test_from_raw_errors();
    test_hand_q4_K();
    test_hand_q6_K();
    test_fast_vs_ref();
    test_oracle();
    return tl_finish();
}
