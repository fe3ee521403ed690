// tests/test_quant.c — quant/: grid exactness, error bounds, bits/weight, packing, fast == ref,
// the numpy oracle (tests/oracle_quant.py), serialisation errors, tinystories-1M error table.
#include "tests/testlib.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include "core/rng.h"
#include "core/check.h"
#include <float.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char *FORMATS[] = {"nf4", "fp4", "nf3", "nf2", "mxint2", "mxint3", "mxint4", "mxint5",
                                "mxint6", "mxint7", "mxint8", "int2", "int3", "int4", "int5", "int6",
                                "int7", "int8", "bf16", "fp16", "f32"};
#define NFORMATS (int)(sizeof FORMATS / sizeof *FORMATS)

static quant_format fmt_of(const char *name, int block, int dq) {
    quant_format f;
    qp_status st = {0};
    if (quant_parse_format(name, block, dq, &f, &st)) { printf("FAIL parse %s: %s\n", name, st.msg); exit(1); }
    return f;
}

// High-entropy test matrix: scaled normals, a few outliers, one all-zero block, tiny values.
static float *make_weights(int rows, int cols, uint64_t seed) {
    qp_rng g;
    rng_seed(&g, seed);
    float *w = malloc((size_t)rows * cols * sizeof *w);
    for (size_t i = 0; i < (size_t)rows * cols; i++) {
        float s = 0.02385f * (1.0f + 3.0f * rng_uniform(&g));
        w[i] = s * rng_normal(&g);
        if (rng_below(&g, 97) == 0) w[i] *= 9.3f;
    }
    if (rows > 2 && cols >= 64) for (int j = 0; j < 64; j++) w[2 * (size_t)cols + j] = 0.0f;
    if (rows > 1 && cols >= 16) for (int j = 0; j < 16; j++) w[(size_t)cols + j] *= 1e-38f;
    return w;
}

static int bits_equal(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static int same_sections(const QuantTensor *a, const QuantTensor *b) {
    for (int i = 0; i < QUANT_SEC_COUNT; i++) {
        size_t na, nb;
        const uint8_t *pa = quant_tensor_section(a, i, &na), *pb = quant_tensor_section(b, i, &nb);
        if (na != nb || (na && memcmp(pa, pb, na))) return 0;
    }
    return 1;
}

// ---- parse ---------------------------------------------------------------------------------
static void test_parse(void) {
    quant_format f;
    qp_status st = {0};
    char buf[64];
    CHECK(quant_parse_format("nf4", 0, 0, &f, &st) == 0 && f.kind == QUANT_NF4 && f.block == 64 && f.bits == 4, "parse nf4 default block 64");
    CHECK(quant_parse_format("mxint3", 0, 0, &f, &st) == 0 && f.kind == QUANT_MXINT && f.bits == 3 && f.block == 32, "parse mxint3 block 32");
    CHECK(quant_parse_format("int8", 128, 0, &f, &st) == 0 && f.kind == QUANT_INT && f.bits == 8 && f.block == 128, "parse int8 block 128");
    CHECK(quant_parse_format("f16", 64, 0, &f, &st) == 0 && f.kind == QUANT_F16 && f.block == 0, "parse f16 (block ignored)");
    CHECK(!strcmp(quant_format_name(&f, buf, sizeof buf), "fp16"), "name fp16");
    quant_parse_format("nf4", 128, 1, &f, &st);
    CHECK(!strcmp(quant_format_name(&f, buf, sizeof buf), "nf4-b128-dq") && !strcmp(quant_format_name(&f, NULL, 0), "nf4"), "name nf4-b128-dq");
    st.failed = 0;
    CHECK(quant_parse_format("nf5", 0, 0, &f, &st) < 0 && strstr(st.msg, "nf5"), "unknown format refused: %s", st.msg);
    st.failed = 0;
    CHECK(quant_parse_format("nf4", 48, 0, &f, &st) < 0 && strstr(st.msg, "48"), "nf4 block 48 refused: %s", st.msg);
    st.failed = 0;
    CHECK(quant_parse_format("nf4", 8192, 0, &f, &st) < 0, "nf4 block 8192 refused: %s", st.msg);
    st.failed = 0;
    CHECK(quant_parse_format("mxint4", 0, 1, &f, &st) < 0, "double quant on mxint refused: %s", st.msg);
    CHECK(quant_format_from_bits(2, &f) == 0 && f.kind == QUANT_MXINT && f.bits == 2 && f.block == 16, "bits 2 -> mxint2 b16");
    CHECK(quant_format_from_bits(3, &f) == 0 && f.kind == QUANT_MXINT && f.bits == 3 && f.block == 32, "bits 3 -> mxint3 b32");
    CHECK(quant_format_from_bits(4, &f) == 0 && f.kind == QUANT_NF4 && f.block == 64, "bits 4 -> nf4 b64");
    CHECK(quant_format_from_bits(5, &f) < 0, "bits 5 refused");
}

// ---- packing -------------------------------------------------------------------------------
static void test_packing(void) {
    static const int sizes[] = {1, 7, 8, 9, 31, 64, 352, 359};
    qp_rng g;
    rng_seed(&g, 7);
    int ok = 1;
    for (int bits = 2; bits <= 8; bits++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            int n = sizes[s];
            uint8_t codes[512], back[512], fast[512], ref[512];
            for (int j = 0; j < n; j++) codes[j] = (uint8_t)rng_below(&g, 1u << bits);
            size_t nb = pack_row_bytes(n, bits);
            memset(fast, 0xAB, sizeof fast);
            memset(ref, 0, sizeof ref);
            pack_codes(fast, codes, n, bits);
            for (int j = 0; j < n; j++) pack_set_ref(ref, j, bits, codes[j]);
            if (memcmp(fast, ref, nb) || fast[nb] != 0xAB) ok = 0;  // exact bytes, no overrun
            for (int j0 = 0; j0 < n; j0 += 8) {  // unpack from every byte-aligned start
                int m = n - j0;
                unpack_codes(back, fast, j0, m, bits);
                if (memcmp(back, codes + j0, (size_t)m)) ok = 0;
            }
        }
    CHECK(ok, "pack/unpack bits 2..8, sizes 1..359: fast == bit-by-bit reference, round trip");
    uint8_t row[2] = {0, 0};
    pack_codes(row, (const uint8_t[]){0x3, 0xC, 0x5}, 3, 4);
    CHECK(row[0] == 0xC3 && row[1] == 0x05, "4-bit layout: element 0 in the low nibble (0x%02x 0x%02x)", row[0], row[1]);
    uint8_t r3[3] = {0};
    pack_codes(r3, (const uint8_t[]){1, 2, 3, 4, 5, 6, 7, 0}, 8, 3);
    // stream bits: 001 010 011 100 101 110 111 000 (LSB first) = 0x1,0x2,.. at 3-bit steps
    uint32_t v = r3[0] | r3[1] << 8 | (uint32_t)r3[2] << 16;
    CHECK(v == (1u | 2u << 3 | 3u << 6 | 4u << 9 | 5u << 12 | 6u << 15 | 7u << 18), "3-bit layout: little-endian stream");
}

// ---- fast == ref, partial blocks, subranges ----------------------------------------------
static void test_fast_vs_ref(void) {
    static const int shapes[][2] = {{3, 7}, {5, 352}, {4, 359}, {256, 352}};
    int all = 1;
    for (int s = 0; s < 4; s++) {
        int R = shapes[s][0], C = shapes[s][1];
        float *w = make_weights(R, C, 100 + s);
        float *a = malloc((size_t)R * C * 4), *b = malloc((size_t)R * C * 4), *fk = malloc((size_t)R * C * 4);
        for (int k = 0; k < NFORMATS + 3; k++) {
            quant_format f = k < NFORMATS ? fmt_of(FORMATS[k], 0, 0)
                           : k == NFORMATS ? fmt_of("nf4", 64, 1) : k == NFORMATS + 1 ? fmt_of("mxint4", 16, 0) : fmt_of("int4", 32, 0);
            QuantTensor *qf = quant_tensor_quantize(w, R, C, &f), *qr = quant_tensor_quantize_ref(w, R, C, &f);
            quant_dequantize_rows(qf, 0, R, a);
            quant_dequantize_rows_ref(qr, 0, R, b);
            quant_fake(fk, w, R, C, &f);
            int ok = same_sections(qf, qr) && bits_equal(a, b, (size_t)R * C) && bits_equal(fk, a, (size_t)R * C);
            if (R > 2) {  // a row subrange equals the slice of the whole
                quant_dequantize_rows(qf, 1, R - 1, b);
                ok = ok && bits_equal(b, a + C, (size_t)(R - 2) * C);
            }
            double bpw = quant_tensor_bits_per_weight(qf);
            ok = ok && bpw == quant_bits_per_weight(&f, R, C);
            if (!ok) {
                char nm[64];
                all = 0;
                printf("FAIL fast vs ref %s %dx%d\n", quant_format_name(&f, nm, sizeof nm), R, C);
            }
            quant_tensor_free(qf);
            quant_tensor_free(qr);
        }
        free(w); free(a); free(b); free(fk);
    }
    CHECK(all, "fast quantize/dequantize == _ref bit for bit; quant_fake == dq(q); row subranges; bpw == formula "
               "(24 formats x shapes 3x7, 5x352, 4x359, 256x352)");
}

// ---- bf16 compute's weight fill: fast == _ref bit for bit; MXINT exact in bf16 ------------------
static void test_bf16_fill(void) {
    static const int shapes[][2] = {{3, 7}, {5, 352}, {4, 359}, {64, 200}};
    int all = 1, mx_exact = 1;
    for (int s = 0; s < 4; s++) {
        int R = shapes[s][0], C = shapes[s][1];
        float *w = make_weights(R, C, 300 + s), *a = malloc((size_t)R * C * 4);
        uint16_t *fast = malloc((size_t)R * C * 2), *ref = malloc((size_t)R * C * 2);
        for (int k = 0; k < NFORMATS + 2; k++) {
            quant_format f = k < NFORMATS ? fmt_of(FORMATS[k], 0, 0) : k == NFORMATS ? fmt_of("mxint4", 16, 0) : fmt_of("mxint8", 8, 0);
            QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
            quant_dequantize_rows_bf16(q, 0, R, fast);
            quant_dequantize_rows_bf16_ref(q, 0, R, ref);
            if (memcmp(fast, ref, (size_t)R * C * 2)) {
                char nm[64];
                all = 0;
                printf("FAIL bf16 fill fast vs ref %s %dx%d\n", quant_format_name(&f, nm, sizeof nm), R, C);
            }
            if (f.kind == QUANT_MXINT) {
                quant_dequantize_rows(q, 0, R, a);
                for (size_t i = 0; i < (size_t)R * C; i++)  // make_weights' 1e-38 row: subnormal, flushed
                    mx_exact &= fabsf(a[i]) < 0x1p-126f ? (fast[i] & 0x7fff) == 0 : quant_bf16_to_f32(fast[i]) == a[i];
            }
            quant_tensor_free(q);
        }
        free(w); free(a); free(fast); free(ref);
    }
    CHECK(all, "bf16 weight fill: fast == _ref bit for bit (every format, blocks 8..64, partial blocks)");
    CHECK(mx_exact, "MXINT-2..8 dequantize exactly into bf16 (values below 2^-126 flushed to zero)");
    // the vector f32->bf16 conversion against the scalar rule: ties to even, NaN, inf, subnormal
    // inputs flushed to signed zero, and a tail that is not a multiple of 16
    float x[53];
    uint32_t bits[] = {0x3f808000u, 0x3f818000u, 0x7fc00001u, 0x7f800000u, 0xff800000u, 0x00000001u, 0x80400000u,
                       0x00800000u, 0x7f7fffffu, 0x3f7fffffu, 0x80000000u};
    for (int i = 0; i < 53; i++) {
        uint32_t u = i < 11 ? bits[i] : 0x3f800000u + (uint32_t)i * 0x9e3779u;
        memcpy(&x[i], &u, 4);
    }
    uint16_t got[53];
    quant_f32_to_bf16_n(got, x, 53);
    int conv = 1;
    for (int i = 0; i < 53; i++) conv &= got[i] == quant_f32_to_bf16_ftz(x[i]);
    CHECK(conv, "quant_f32_to_bf16_n == scalar RNE with subnormals flushed (ties, NaN, inf, tails)");
    CHECK(quant_f32_to_bf16_ftz(x[0]) == 0x3f80 && quant_f32_to_bf16_ftz(x[1]) == 0x3f82 && quant_f32_to_bf16_ftz(x[5]) == 0 &&
          quant_f32_to_bf16_ftz(x[6]) == 0x8000, "bf16 rounding: ties to even (1+2^-8 -> 1, 1+3*2^-8 -> 1+2^-6), subnormal -> ±0");
}

// ---- values on the grid round-trip exactly -------------------------------------------------
static void test_grid_exact(void) {
    enum { R = 3, C = 359 };
    qp_rng g;
    rng_seed(&g, 11);
    float w[R * C], o[R * C];
    // absmax families: blocks of table values times a power-of-two absmax (so w/absmax is
    // exact), every block holding the code of 1.0; all blocks share one absmax so even the
    // double-quantized absmax (d = 0 everywhere) comes back exactly.
    const char *nfk[] = {"nf4", "fp4", "nf3", "nf2"};
    for (int t = 0; t < 8; t++) {
        quant_format f = fmt_of(nfk[t % 4], 64, t / 4);
        int n;
        const float *tab = quant_nf_table(f.kind, &n);
        for (int i = 0; i < R * C; i++) w[i] = tab[rng_below(&g, (uint32_t)n)] * 0.25f;
        for (int i = 0; i < R * C; i += 64) w[i] = 0.25f;
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        char nm[64];
        int ok = 1;
        for (int i = 0; i < R * C; i++) ok &= o[i] == w[i];
        CHECK(ok, "%s: grid values round-trip exactly (3x359, partial block)", quant_format_name(&f, nm, sizeof nm));
        quant_tensor_free(q);
    }
    // mxint: per block a random exponent e, one element 2^e (m = 2^(w-2)), others any code.
    for (int W = 2; W <= 8; W++) {
        quant_format f = fmt_of("mxint2", 32, 0);
        f.bits = W;
        for (int r = 0; r < R; r++)
            for (int j0 = 0; j0 < C; j0 += 32) {
                int e = (int)rng_below(&g, 41) - 20;
                for (int j = j0; j < C && j < j0 + 32; j++) {
                    int m = (int)rng_below(&g, 1u << (W - 1)), neg = rng_below(&g, 2);
                    w[r * C + j] = ldexpf(neg ? -(float)m : (float)m, e - (W - 2));
                }
                w[r * C + j0] = ldexpf(1.0f, e);
            }
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        int ok = 1;
        for (int i = 0; i < R * C; i++) ok &= o[i] == w[i];
        CHECK(ok, "mxint%d: grid values round-trip exactly", W);
        quant_tensor_free(q);
    }
    // int: (c - z) * s with s an fp16 value, codes 0 and qmax present in every group.
    for (int b = 2; b <= 8; b++) {
        quant_format f = fmt_of("int2", 64, 0);
        f.bits = b;
        int qmax = (1 << b) - 1;
        for (int r = 0; r < R; r++)
            for (int j0 = 0; j0 < C; j0 += 64) {
                float s = quant_f16_to_f32(quant_f32_to_f16(0.001f + 0.01f * rng_uniform(&g)));
                int z = (int)rng_below(&g, (uint32_t)qmax + 1);
                for (int j = j0; j < C && j < j0 + 64; j++) w[r * C + j] = (float)((int)rng_below(&g, (uint32_t)qmax + 1) - z) * s;
                w[r * C + j0] = (float)(0 - z) * s;
                if (j0 + 1 < C) w[r * C + j0 + 1] = (float)(qmax - z) * s;
            }
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        int ok = 1;
        for (int i = 0; i < R * C; i++) ok &= o[i] == w[i];
        CHECK(ok, "int%d: grid values round-trip exactly", b);
        quant_tensor_free(q);
    }
    // bf16 / fp16: random finite bit patterns
    for (int h = 0; h < 2; h++) {
        for (int i = 0; i < R * C; i++) {
            uint16_t u;
            do u = (uint16_t)rng_u64(&g); while (((u >> (h ? 10 : 7)) & (h ? 31 : 255)) == (h ? 31 : 255));
            w[i] = h ? quant_f16_to_f32(u) : quant_bf16_to_f32(u);
        }
        quant_format f = fmt_of(h ? "fp16" : "bf16", 0, 0);
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f), *qr = quant_tensor_quantize_ref(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        CHECK(bits_equal(o, w, R * C) && same_sections(q, qr), "%s: every finite value round-trips bit-exactly", h ? "fp16" : "bf16");
        quant_tensor_free(q);
        quant_tensor_free(qr);
    }
}

// ---- half conversions against hand-derived values ------------------------------------------
static void test_half(void) {
    CHECK(quant_f32_to_f16(65504.0f) == 0x7BFF && quant_f32_to_f16(65519.99f) == 0x7BFF && quant_f32_to_f16(65520.0f) == 0x7C00, "fp16 overflow at 65520");
    CHECK(quant_f32_to_f16(0x1p-24f) == 0x0001 && quant_f32_to_f16(0x1p-25f) == 0x0000 && quant_f32_to_f16(0x1.8p-25f) == 0x0001, "fp16 subnormal ties to even");
    CHECK(quant_f32_to_f16(1.0f + 0x1p-11f) == 0x3C00 && quant_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02, "fp16 ties to even at 1");
    CHECK(quant_f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80 && quant_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82, "bf16 ties to even at 1");
    CHECK(quant_f32_to_f16(-2.0f) == 0xC000 && quant_f16_to_f32(0x3555) == 0x1.554p-2f, "fp16 sign and decode");
}

// ---- random data within the derived error bound --------------------------------------------
static double max_half_gap(const float *sorted, int n) {
    double g = 0;
    for (int i = 0; i + 1 < n; i++) g = fmax(g, 0.5 * ((double)sorted[i + 1] - sorted[i]));
    return g;
}

static int cmpf(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }

static void test_error_bounds(void) {
    enum { R = 6, C = 359 };
    float *w = make_weights(R, C, 5), o[R * C];
    char nm[64];
    for (int k = 0; k < NFORMATS + 1; k++) {
        quant_format f = k < NFORMATS ? fmt_of(FORMATS[k], 0, 0) : fmt_of("nf4", 64, 1);
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        double worst = 0;  // max over elements of |err| / bound
        int B = f.block ? f.block : 1;
        // double-quant absmax error bound: s2 * the dynamic map's largest rounding distance
        const float *dyn = quant_dynamic_map();
        double dyn_gap = fmax(max_half_gap(dyn, 256), 1.0 + dyn[0]);
        float am[R * ((C + 7) / 8)];  // enough for the smallest block (8)
        double mean = 0;
        for (int r = 0; r < R; r++)
            for (int b = 0; b * B < C && f.block; b++) {
                float a = 0;
                for (int j = b * B; j < C && j < (b + 1) * B; j++) a = fmaxf(a, fabsf(w[r * C + j]));
                am[r * ((C + B - 1) / B) + b] = a;
                mean += a;
            }
        int nbt = f.block ? R * ((C + B - 1) / B) : 0;
        mean /= nbt ? nbt : 1;
        double s2 = 0;
        for (int i = 0; i < nbt; i++) s2 = fmax(s2, fabs(am[i] - mean));
        for (int r = 0; r < R; r++)
            for (int b = 0; b * B < C; b++) {
                int j0 = b * B, j1 = f.block ? (C < j0 + B ? C : j0 + B) : j0 + 1;
                float lo = 0, hi = 0, a = 0;
                for (int j = j0; j < j1; j++) { lo = fminf(lo, w[r * C + j]); hi = fmaxf(hi, w[r * C + j]); a = fmaxf(a, fabsf(w[r * C + j])); }
                for (int j = j0; j < j1; j++) {
                    double x = w[r * C + j], err = fabs(x - o[r * C + j]), bound = 0;
                    if (f.kind == QUANT_NF4 || f.kind == QUANT_NF3 || f.kind == QUANT_NF2 || f.kind == QUANT_FP4) {
                        int n;
                        const float *tab = quant_nf_table(f.kind, &n);
                        float s[16];
                        memcpy(s, tab, sizeof(float) * n);
                        qsort(s, (size_t)n, sizeof *s, cmpf);
                        bound = a * max_half_gap(s, n) * (1 + 1e-6) + (f.double_quant ? s2 * dyn_gap * 1.0001 : 0);
                    } else if (f.kind == QUANT_MXINT) {
                        int e, W = f.bits;
                        frexpf(a, &e);
                        e = a > 0 ? e - 1 : -127;
                        if (e < -127) e = -127;
                        double step = ldexp(1, e - (W - 2));
                        bound = fabs(x) / step <= (1 << (W - 1)) - 1.5 ? 0.5 * step : step;  // clamped tops: one step
                        if (a == 0) bound = 0;
                        if (e == -127) bound = fmax(bound, ldexp(1, -126));
                    } else if (f.kind == QUANT_INT) {
                        double qmax = (1 << f.bits) - 1, st = ((double)hi - lo) / qmax;
                        float sf = quant_f16_to_f32(quant_f32_to_f16((float)st));
                        bound = 0.5 * sf + qmax * st * 0x1p-11 + 1e-7 * a + 1e-30;
                    } else if (f.kind == QUANT_BF16) bound = fabs(x) < 0x1p-126 ? 0x1p-134 : fabs(x) * 0x1p-8;
                    else if (f.kind == QUANT_F16) bound = fabs(x) < 0x1p-14 ? 0x1p-25 : fabs(x) * 0x1p-11;
                    double ratio = err == 0 ? 0 : bound > 0 ? err / bound : INFINITY;
                    if (ratio > 1 && ratio > worst) printf("#   %d,%d: x=%.9g got %.9g bound %.3g\n", r, j, x, o[r * C + j], bound);
                    worst = fmax(worst, ratio);
                }
            }
        CHECK(worst <= 1.0, "%s: random 6x359 within the derived bound (max err/bound %.3f)", quant_format_name(&f, nm, sizeof nm), worst);
        quant_tensor_free(q);
    }
    free(w);
}

// ---- bits per weight --------------------------------------------------------------------------
static void test_bits(void) {
    struct { const char *n; int blk, dq, rows, cols; double want; } c[] = {
        {"nf4", 64, 0, 128, 128, 4.5}, {"mxint3", 32, 0, 128, 128, 3.25}, {"mxint2", 16, 0, 128, 128, 2.5},
        {"mxint4", 32, 0, 128, 128, 4.25}, {"int4", 64, 0, 128, 128, 4.375}, {"nf3", 64, 0, 128, 128, 3.5},
        {"bf16", 0, 0, 128, 128, 16}, {"f32", 0, 0, 3, 7, 32},
        // 352 inputs: 176 code bytes + 6 fp32 absmax (a partial block of 32 counts in full)
        {"nf4", 64, 0, 128, 352, (176 + 24) * 8.0 / 352},
        // 7 columns of 3 bits: 21 bits padded to 3 bytes per row, one E8M0 byte
        {"mxint3", 32, 0, 3, 7, 4 * 8.0 / 7},
        // double quant 4096x4096: 8 bits per 64 + fp32 per 256 blocks + one fp32 mean
        {"nf4", 64, 1, 4096, 4096, 4 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / (4096.0 * 4096)},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        quant_format f = fmt_of(c[i].n, c[i].blk, c[i].dq);
        double got = quant_bits_per_weight(&f, c[i].rows, c[i].cols);
        char nm[64];
        CHECK(fabs(got - c[i].want) < 1e-12, "bits/weight %s %dx%d = %.6f (expected %.6f)", quant_format_name(&f, nm, sizeof nm),
              c[i].rows, c[i].cols, got, c[i].want);
    }
}

// ---- numpy oracle ------------------------------------------------------------------------------
static int read_file(const char *path, void *buf, size_t n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    size_t got = fread(buf, 1, n, fp);
    fclose(fp);
    return got == n ? 0 : -1;
}

static void test_oracle(void) {
    enum { R = 5, C = 359 };
    const char *tmp = getenv("TEST_TMP");
    char dir[4096], path[4200], cmd[8600];
    snprintf(dir, sizeof dir, "%s/quant_oracle", tmp ? tmp : "/tmp");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) { CHECK(0, "mkdir %s", dir); return; }
    float *w = make_weights(R, C, 2024);
    snprintf(path, sizeof path, "%s/w.f32", dir);
    FILE *fp = fopen(path, "wb");
    fwrite(w, sizeof *w, R * C, fp);
    fclose(fp);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "%s tests/oracle_quant.py '%s' %d %d", py, dir, R, C);
    int rc = system(cmd);
    REQUIRE(rc == 0, "oracle_quant.py ran (rc %d)", rc);
    if (rc) { free(w); return; }
    // tables
    float tabs[16 + 16 + 8 + 4 + 256 + 256];
    snprintf(path, sizeof path, "%s/tables.f32", dir);
    CHECK(read_file(path, tabs, sizeof tabs) == 0, "oracle tables read");
    const quant_kind kinds[4] = {QUANT_NF4, QUANT_FP4, QUANT_NF3, QUANT_NF2};
    int off = 0;
    for (int k = 0; k < 4; k++) {
        int n;
        const float *t = quant_nf_table(kinds[k], &n);
        CHECK(!memcmp(t, tabs + off, n * sizeof(float)), "table %d (%d values) equals the oracle's construction", k, n);
        if (kinds[k] == QUANT_NF3 || kinds[k] == QUANT_NF2) {
            printf("# %s table:", k == 2 ? "nf3" : "nf2");
            for (int i = 0; i < n; i++) printf(" %.9g", t[i]);
            printf("\n");
        }
        off += n;
    }
    CHECK(!memcmp(quant_dynamic_map(), tabs + off, 256 * sizeof(float)), "dynamic map equals bitsandbytes' construction (scalar linspace)");
    int nulp = 0, big = 0;
    for (int i = 0; i < 256; i++) {
        float a = quant_dynamic_map()[i], b = tabs[off + 256 + i];
        if (a != b) nulp++;
        if (fabsf(a - b) > 4 * (nextafterf(fabsf(a), INFINITY) - fabsf(a))) big++;
    }
    CHECK(big == 0, "dynamic map vs torch.linspace's vectorised kernel: %d of 256 entries differ, all by <= 4 ulp", nulp);
    static const char *names[] = {"nf4-b64", "nf4-b64-dq", "fp4-b64", "nf3-b64", "nf2-b64", "mxint2-b16",
                                  "mxint3-b32", "mxint4-b32", "mxint8-b32", "int4-b64", "int3-b32"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char base[16];
        int blk = 0, dq = strstr(names[i], "-dq") != NULL;
        sscanf(names[i], "%15[a-z0-9]-b%d", base, &blk);
        quant_format f = fmt_of(base, blk, dq);
        uint8_t oc[R * C];
        float od[R * C], o[R * C];
        snprintf(path, sizeof path, "%s/%s.codes", dir, names[i]);
        int ok = read_file(path, oc, sizeof oc) == 0;
        snprintf(path, sizeof path, "%s/%s.dq", dir, names[i]);
        ok = ok && read_file(path, od, sizeof od) == 0;
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        quant_dequantize_rows(q, 0, R, o);
        int bad_codes = 0, bad_vals = 0, first = -1;
        for (int r = 0; r < R; r++)
            for (int j = 0; j < C; j++) {
                int c = (int)quant_tensor_code(q, r, j);
                if (c != oc[r * C + j]) { bad_codes++; if (first < 0) first = r * C + j; }
                if (o[r * C + j] != od[r * C + j]) bad_vals++;
            }
        CHECK(ok && bad_codes == 0 && bad_vals == 0, "oracle %s 5x359: codes and dequantized values identical (%d code, %d value mismatches%s)",
              names[i], bad_codes, bad_vals, first >= 0 ? ", see first" : "");
        if (first >= 0) printf("#   first mismatch at %d: w=%.9g c=%u oracle c=%u\n", first, w[first], quant_tensor_code(q, first / C, first % C), oc[first]);
        quant_tensor_free(q);
    }
    free(w);
}

// ---- serialisation -------------------------------------------------------------------------------
static long file_len(const char *p) { FILE *f = fopen(p, "rb"); fseek(f, 0, SEEK_END); long n = ftell(f); fclose(f); return n; }

static void patch(const char *p, long off, const void *b, size_t n) {
    FILE *f = fopen(p, "r+b");
    fseek(f, off, SEEK_SET);
    fwrite(b, 1, n, f);
    fclose(f);
}

static QuantTensor *read_path(const char *p, qp_status *st) {
    FILE *f = fopen(p, "rb");
    QuantTensor *q = quant_tensor_read(f, p, st);
    fclose(f);
    return q;
}

static void test_io(void) {
    const char *tmp = getenv("TEST_TMP");
    char p[4096];
    snprintf(p, sizeof p, "%s/qt_io.bin", tmp ? tmp : "/tmp");
    float *w = make_weights(5, 352, 9);
    const char *fl[] = {"nf4", "mxint3", "int4", "bf16", "nf2"};
    for (int k = 0; k < 6; k++) {
        quant_format f = k < 5 ? fmt_of(fl[k], 0, 0) : fmt_of("nf4", 64, 1);
        QuantTensor *q = quant_tensor_quantize(w, 5, 352, &f);
        qp_status st = {0};
        FILE *fp = fopen(p, "wb");
        int rc = quant_tensor_write(q, fp, p, &st);
        fclose(fp);
        QuantTensor *r = read_path(p, &st);
        char nm[64];
        CHECK(rc == 0 && r && same_sections(q, r) && !memcmp(quant_tensor_format(q), quant_tensor_format(r), sizeof(quant_format)) &&
              file_len(p) == 64 + (long)quant_tensor_bytes(q), "io round trip %s (%zu bytes + 64 header)", quant_format_name(&f, nm, sizeof nm), quant_tensor_bytes(q));
        quant_tensor_free(r);
        quant_tensor_free(q);
    }
    // p now holds nf4-dq; rewrite a plain nf4 tensor and damage it in different ways
    quant_format f = fmt_of("nf4", 64, 0);
    QuantTensor *q = quant_tensor_quantize(w, 5, 352, &f);
    long full = 64 + (long)quant_tensor_bytes(q);
    struct { const char *what; long trunc; long off; uint32_t val; const char *expect; } cases[] = {
        {"truncated header", 40, -1, 0, "truncated"},
        {"truncated codes", 64 + 100, -1, 0, "truncated"},
        {"truncated scales", full - 3, -1, 0, "truncated"},
        {"unknown kind id", 0, 8, 99, "unknown quantization kind id 99"},
        {"bad block", 0, 16, 48, "block 48"},
        {"block too large", 0, 16, 8192, "block 8192"},
        {"bad bits", 0, 12, 5, "bits 5"},
        {"section size mismatch", 0, 32, 12345, "expected 880 bytes, found 12345"},
        {"bad magic", 0, 0, 0x584E5451u /* "QTNX" */, "magic"},
        {"bad version", 0, 4, 2, "version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qp_status st = {0};
        FILE *fp = fopen(p, "wb");
        quant_tensor_write(q, fp, p, &st);
        fclose(fp);
        if (cases[i].trunc) { if (truncate(p, cases[i].trunc)) perror("truncate"); }
        else {
            uint8_t b[4] = {(uint8_t)cases[i].val, (uint8_t)(cases[i].val >> 8), (uint8_t)(cases[i].val >> 16), (uint8_t)(cases[i].val >> 24)};
            patch(p, cases[i].off, b, 4);
        }
        QuantTensor *r = read_path(p, &st);
        CHECK(!r && st.failed && strstr(st.msg, p) && strstr(st.msg, cases[i].expect), "read refuses %s: %s", cases[i].what, st.msg);
        quant_tensor_free(r);
    }
    // mxint E8M0 byte 255 is refused
    quant_format fm = fmt_of("mxint3", 32, 0);
    QuantTensor *m = quant_tensor_quantize(w, 5, 352, &fm);
    qp_status st = {0};
    FILE *fp = fopen(p, "wb");
    quant_tensor_write(m, fp, p, &st);
    fclose(fp);
    size_t ncode;
    quant_tensor_section(m, QUANT_SEC_CODES, &ncode);
    patch(p, 64 + (long)ncode + 3, (const uint8_t[]){255}, 1);
    QuantTensor *r = read_path(p, &st);
    CHECK(!r && strstr(st.msg, "E8M0"), "read refuses E8M0 byte 255: %s", st.msg);
    quant_tensor_free(m);
    quant_tensor_free(q);
    free(w);
}

// ---- tinystories-1M: relative Frobenius error and bits/weight per format ---------------------
static void test_tinystories(void) {
    const char *path = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    FILE *fp = fopen(path, "rb");
    if (!fp) { CHECK(0, "open %s", path); return; }
    int32_t h[7];
    if (fread(h, 4, 7, fp) != 7) { fclose(fp); CHECK(0, "header"); return; }
    int dim = h[0], hid = h[1], L = h[2], nh = h[3], nkv = h[4], V = abs(h[5]);
    int kvd = dim * nkv / nh;
    CHECK(dim == 128 && hid == 352 && L == 6 && nkv == 2 && V == 2048, "tinystories-1M header (dim %d hidden %d layers %d)", dim, hid, L);
    fseek(fp, 0, SEEK_END);
    long n = (ftell(fp) - 28) / 4;
    fseek(fp, 28, SEEK_SET);
    float *all = malloc((size_t)n * 4);
    if (fread(all, 4, (size_t)n, fp) != (size_t)n) { fclose(fp); free(all); CHECK(0, "weights"); return; }
    fclose(fp);
    // llama2.c order: emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, ...
    size_t o_wq = (size_t)V * dim + (size_t)L * dim;
    size_t o_wk = o_wq + (size_t)L * dim * dim, o_wv = o_wk + (size_t)L * kvd * dim, o_wo = o_wv + (size_t)L * kvd * dim;
    size_t o_w1 = o_wo + (size_t)L * dim * dim + (size_t)L * dim, o_w2 = o_w1 + (size_t)L * hid * dim, o_w3 = o_w2 + (size_t)L * dim * hid;
    struct { size_t off; int rows, cols; } mats[7] = {{o_wq, dim, dim}, {o_wk, kvd, dim}, {o_wv, kvd, dim}, {o_wo, dim, dim},
                                                     {o_w1, hid, dim}, {o_w2, dim, hid}, {o_w3, hid, dim}};
    const char *tf[] = {"nf4", "nf4", "fp4", "nf3", "nf2", "mxint8", "mxint4", "mxint3", "mxint2", "mxint2", "int8", "int4", "int3", "int2", "bf16", "fp16"};
    const int tb[] = {64, 64, 64, 64, 64, 32, 32, 32, 16, 32, 64, 64, 64, 64, 0, 0};
    const int tdq[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    double rel[16];
    printf("# tinystories-1M linear weights (7 per layer x 6 layers, %d..%d inputs)\n", dim, hid);
    printf("# %-14s %10s %12s %10s\n", "format", "bits/w", "rel.frob.err", "fake s");
    float *buf = malloc((size_t)hid * dim * 4);
    for (int k = 0; k < 16; k++) {
        quant_format f = fmt_of(tf[k], tb[k], tdq[k]);
        double num = 0, den = 0, bits = 0, cnt = 0, t0 = qp_now();
        for (int l = 0; l < L; l++)
            for (int m = 0; m < 7; m++) {
                const float *W = all + mats[m].off + (size_t)l * mats[m].rows * mats[m].cols;
                size_t ne = (size_t)mats[m].rows * mats[m].cols;
                QuantTensor *q = quant_tensor_quantize(W, mats[m].rows, mats[m].cols, &f);
                quant_dequantize_rows(q, 0, mats[m].rows, buf);
                for (size_t i = 0; i < ne; i++) { double d = (double)W[i] - buf[i]; num += d * d; den += (double)W[i] * W[i]; }
                bits += quant_tensor_bits_per_weight(q) * (double)ne;
                cnt += (double)ne;
                quant_tensor_free(q);
            }
        rel[k] = sqrt(num / den);
        char nm[64];
        printf("# %-14s %10.4f %12.6f %10.4f\n", quant_format_name(&f, nm, sizeof nm), bits / cnt, rel[k], qp_now() - t0);
    }
    free(buf);
    CHECK(rel[0] < rel[3] && rel[3] < rel[4], "tinystories: nf4 < nf3 < nf2 error (%.4f %.4f %.4f)", rel[0], rel[3], rel[4]);
    CHECK(rel[5] < rel[6] && rel[6] < rel[7] && rel[7] < rel[9], "tinystories: mxint8 < 4 < 3 < 2 error");
    CHECK(rel[10] < rel[11] && rel[11] < rel[12] && rel[12] < rel[13], "tinystories: int8 < 4 < 3 < 2 error");
    CHECK(rel[0] < 0.15 && rel[14] < 0.005 && rel[15] < 0.0006 && rel[1] < rel[0] * 1.05, "tinystories: nf4 %.4f, bf16 %.5f, fp16 %.6f in expected ranges", rel[0], rel[14], rel[15]);
    free(all);
}

// ---- dequantization speed (informational) ------------------------------------------------------
static void bench(void) {
    enum { R = 1024, C = 1024 };
    float *w = make_weights(R, C, 3), *o = malloc((size_t)R * C * 4);
    const char *fl[] = {"nf4", "mxint3", "mxint2", "int4", "bf16"};
    for (int k = 0; k < 5; k++) {
        quant_format f = fmt_of(fl[k], k == 2 ? 16 : 0, 0);
        QuantTensor *q = quant_tensor_quantize(w, R, C, &f);
        double t0 = qp_now();
        for (int it = 0; it < 20; it++) quant_dequantize_rows(q, 0, R, o);
        double t1 = qp_now();
        quant_dequantize_rows_ref(q, 0, R, o);
        double t2 = qp_now();
        printf("# dequant %-7s 1024x1024: fast %.3f ns/elem, ref %.3f ns/elem\n", fl[k], (t1 - t0) / 20 / (R * C) * 1e9, (t2 - t1) / (R * C) * 1e9);
        quant_tensor_free(q);
    }
    free(w); free(o);
}

int main(void) {
    test_parse();
    test_packing();
    test_half();
    test_bits();
    test_grid_exact();
    test_error_bounds();
    test_fast_vs_ref();
    test_bf16_fill();
    test_oracle();
    test_io();
    test_tinystories();
    bench();
    return tl_finish();
}
