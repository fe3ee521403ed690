// quant/quant.c — format parsing and validation, the QuantTensor object, section sizes and
// bits accounting, dispatch to the format families. Tested by tests/test_quant.c.
#include "quant/quant_internal.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>

static const char *const MX_NAMES[9] = {"", "", "mxint2", "mxint3", "mxint4", "mxint5", "mxint6", "mxint7", "mxint8"};
static const char *const INT_NAMES[9] = {"", "", "int2", "int3", "int4", "int5", "int6", "int7", "int8"};

static int is_absmax_kind(quant_kind k) { return k == QUANT_NF4 || k == QUANT_FP4 || k == QUANT_NF3 || k == QUANT_NF2; }
static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }
int quant_kind_is_ggml(quant_kind kind) { return ggml_block_info(kind) != NULL; }

static int default_block(quant_kind k) {
    switch (k) {
    case QUANT_NF4: case QUANT_FP4: case QUANT_NF3: case QUANT_NF2: return 64;
    case QUANT_MXINT: return 32;
    case QUANT_INT: return 64;
    default: return ggml_block_info(k) ? ggml_blocks_type(ggml_block_info(k)->ggml_type)->block : 0;
    }
}

// Legal blocks: powers of two (so every full block starts on a byte of the packed row at
// any code width) within each family's range.
static void block_range(quant_kind k, int *lo, int *hi) {
    *lo = *hi = 0;
    if (is_absmax_kind(k)) { *lo = 32; *hi = 4096; }
    else if (k == QUANT_MXINT) { *lo = 8; *hi = 1024; }
    else if (k == QUANT_INT) { *lo = 8; *hi = 4096; }
}

int quant_code_bits(const quant_format *f) {
    switch (f->kind) {
    case QUANT_F32: return 32;
    case QUANT_BF16: case QUANT_F16: return 16;
    case QUANT_NF4: case QUANT_FP4: return 4;
    case QUANT_NF3: return 3;
    case QUANT_NF2: return 2;
    default: return f->bits;
    }
}

const char *quant_format_name(const quant_format *f, char *buf, size_t n) {
    const char *s = "?";
    switch (f->kind) {
    case QUANT_F32: s = "f32"; break;
    case QUANT_BF16: s = "bf16"; break;
    case QUANT_F16: s = "fp16"; break;
    case QUANT_NF4: s = "nf4"; break;
    case QUANT_FP4: s = "fp4"; break;
    case QUANT_NF3: s = "nf3"; break;
    case QUANT_NF2: s = "nf2"; break;
    case QUANT_MXINT: if (f->bits >= 2 && f->bits <= 8) s = MX_NAMES[f->bits]; break;
    case QUANT_INT: if (f->bits >= 2 && f->bits <= 8) s = INT_NAMES[f->bits]; break;
    default: if (ggml_block_info(f->kind)) s = ggml_blocks_type(ggml_block_info(f->kind)->ggml_type)->name; break;
    }
    if (!buf || n == 0) return s;
    if (f->block > 0) snprintf(buf, n, "%s-b%d%s", s, f->block, f->double_quant ? "-dq" : "");
    else snprintf(buf, n, "%s", s);
    return buf;
}

int quant_format_check(const quant_format *f, qp_status *st) {
    if ((unsigned)f->kind >= QUANT_KIND_COUNT)
        return qp_fail(st, "quantization kind id %d is unknown (expected 0..%d)", (int)f->kind, QUANT_KIND_COUNT - 1);
    const char *name = quant_format_name(f, NULL, 0);
    const ggml_kind_info *g = ggml_block_info(f->kind);
    if (g) {  // ggml's layouts fix everything: the block, the width, no double quantization
        const int block = ggml_blocks_type(g->ggml_type)->block;
        if (f->bits != g->bits || f->block != block || f->double_quant)
            return qp_fail(st, "%s: bits %d, block %d, double_quant %d (expected %d, %d, 0)", name, f->bits, f->block,
                           f->double_quant, g->bits, block);
        return 0;
    }
    if (f->kind == QUANT_MXINT || f->kind == QUANT_INT) {
        if (f->bits < 2 || f->bits > 8) return qp_fail(st, "%s: bits %d out of range (expected 2..8)", f->kind == QUANT_MXINT ? "mxint" : "int", f->bits);
    } else if (f->bits != quant_code_bits(f)) {
        return qp_fail(st, "%s: bits %d (expected %d)", name, f->bits, quant_code_bits(f));
    }
    int lo, hi;
    block_range(f->kind, &lo, &hi);
    if (hi == 0 && f->block != 0) return qp_fail(st, "%s: block %d (expected 0: %s has no blocks)", name, f->block, name);
    if (hi > 0 && (f->block < lo || f->block > hi || !is_pow2(f->block)))
        return qp_fail(st, "%s: block %d is not legal (expected a power of two in %d..%d)", name, f->block, lo, hi);
    if (f->double_quant != 0 && f->double_quant != 1) return qp_fail(st, "%s: double_quant %d (expected 0 or 1)", name, f->double_quant);
    if (f->double_quant && !is_absmax_kind(f->kind))
        return qp_fail(st, "%s: double quantization applies only to nf4, fp4, nf3, nf2", name);
    return 0;
}

// "NAME-bBLOCK[-dq]" (what quant_format_name prints) carries its own block and double
// quantization, overriding the arguments, so a format name round-trips through logs and CSVs.
static int split_suffixes(const char *name, char *base, size_t cap, int *block, int *dq, qp_status *st) {
    snprintf(base, cap, "%s", name);
    char *dqs = strstr(base, "-dq");
    if (dqs && !dqs[3]) { *dq = 1; *dqs = 0; }
    char *b = strstr(base, "-b");
    if (!b) return 0;
    char *end;
    long v = strtol(b + 2, &end, 10);
    if (end == b + 2 || *end || v <= 0 || v > 1 << 20) return qp_fail(st, "format '%s': malformed block suffix (expected NAME-bN)", name);
    *block = (int)v;
    *b = 0;
    return 0;
}

int quant_parse_format(const char *full_name, int block, int double_quant, quant_format *out, qp_status *st) {
    quant_format f = {QUANT_F32, 32, 0, 0};
    if (!full_name) return qp_fail(st, "no quantization format given");
    char name[64];
    if (split_suffixes(full_name, name, sizeof name, &block, &double_quant, st)) return -1;
    if (!strcmp(name, "f32") || !strcmp(name, "fp32")) f = (quant_format){QUANT_F32, 32, 0, 0};
    else if (!strcmp(name, "bf16")) f = (quant_format){QUANT_BF16, 16, 0, 0};
    else if (!strcmp(name, "fp16") || !strcmp(name, "f16")) f = (quant_format){QUANT_F16, 16, 0, 0};
    else if (!strcmp(name, "nf4")) f = (quant_format){QUANT_NF4, 4, 0, 0};
    else if (!strcmp(name, "fp4")) f = (quant_format){QUANT_FP4, 4, 0, 0};
    else if (!strcmp(name, "nf3")) f = (quant_format){QUANT_NF3, 3, 0, 0};
    else if (!strcmp(name, "nf2")) f = (quant_format){QUANT_NF2, 2, 0, 0};
    else if (ggml_block_by_name(name)) {
        const ggml_kind_info *g = ggml_block_by_name(name);
        f = (quant_format){g->kind, g->bits, ggml_blocks_type(g->ggml_type)->block, 0};
        block = f.block;  // fixed by the layout: a CLI-wide --block does not apply
    } else {
        int found = 0;
        for (int b = 2; b <= 8 && !found; b++) {
            if (!strcmp(name, MX_NAMES[b])) { f = (quant_format){QUANT_MXINT, b, 0, 0}; found = 1; }
            else if (!strcmp(name, INT_NAMES[b])) { f = (quant_format){QUANT_INT, b, 0, 0}; found = 1; }
        }
        if (!found)
            return qp_fail(st, "unknown quantization format '%s' (expected nf4, fp4, nf3, nf2, mxint2..mxint8, "
                               "int2..int8, bf16, fp16, f32, or a ggml type: q4_0, q4_1, q5_0, q5_1, q8_0, q2_K..q6_K, q8_K)", name);
    }
    // Block-less kinds ignore the block argument (a CLI-wide --block must not break bf16).
    int def = default_block(f.kind);
    f.block = def == 0 ? 0 : block == 0 ? def : block;
    f.double_quant = double_quant;
    if (quant_format_check(&f, st)) return -1;
    *out = f;
    return 0;
}

int quant_format_from_bits(int bits, quant_format *out) {
    switch (bits) {
    case 2: *out = (quant_format){QUANT_MXINT, 2, 16, 0}; return 0;
    case 3: *out = (quant_format){QUANT_MXINT, 3, 32, 0}; return 0;
    case 4: *out = (quant_format){QUANT_NF4, 4, 64, 0}; return 0;
    default: return -1;
    }
}

// ---- sizes ---------------------------------------------------------------------------------
int quant_section_sizes(const quant_format *f, int rows, int cols, size_t sec[QUANT_SEC_COUNT], size_t *row_bytes) {
    for (int i = 0; i < QUANT_SEC_COUNT; i++) sec[i] = 0;
    if (rows < 0 || cols < 0) return -1;
    const ggml_kind_info *g = ggml_block_info(f->kind);
    if (g) {  // whole blocks only, back to back: the GGUF layout
        const ggml_block_type *t = ggml_blocks_type(g->ggml_type);
        if (cols % t->block) return -1;
        if (row_bytes) *row_bytes = (size_t)(cols / t->block) * t->bytes;
        return qp_size_mul((size_t)(cols / t->block) * t->bytes, (size_t)rows, &sec[QUANT_SEC_CODES]) ? 0 : -1;
    }
    int bits = quant_code_bits(f);
    size_t rb = ((size_t)cols * (size_t)bits + 7) / 8, nb = 0;
    if (!qp_size_mul(rb, (size_t)rows, &sec[QUANT_SEC_CODES])) return -1;
    if (f->block > 0) nb = (size_t)rows * (((size_t)cols + (size_t)f->block - 1) / (size_t)f->block);
    if (is_absmax_kind(f->kind)) {
        if (f->double_quant) {
            sec[QUANT_SEC_SCALE] = nb;
            sec[QUANT_SEC_AUX] = 4 * ((nb + QUANT_DQ_GROUP - 1) / QUANT_DQ_GROUP);
            sec[QUANT_SEC_AUX2] = nb ? 4 : 0;
        } else {
            sec[QUANT_SEC_SCALE] = 4 * nb;
        }
    } else if (f->kind == QUANT_MXINT) {
        sec[QUANT_SEC_SCALE] = nb;
    } else if (f->kind == QUANT_INT) {
        sec[QUANT_SEC_SCALE] = 2 * nb;
        sec[QUANT_SEC_AUX] = nb;
    }
    if (row_bytes) *row_bytes = rb;
    return 0;
}

double quant_bits_per_weight(const quant_format *f, int rows, int cols) {
    size_t sec[QUANT_SEC_COUNT], rb, tot = 0;
    if (rows <= 0 || cols <= 0 || quant_section_sizes(f, rows, cols, sec, &rb)) return 0.0;
    for (int i = 0; i < QUANT_SEC_COUNT; i++) tot += sec[i];
    return 8.0 * (double)tot / ((double)rows * (double)cols);
}

// ---- the tensor object ------------------------------------------------------------------
QuantTensor *quant_tensor_alloc(const quant_format *f, int rows, int cols) {
    QuantTensor *q = xcalloc(1, sizeof *q);
    q->fmt = *f;
    q->fmt.bits = quant_code_bits(f);
    q->rows = rows;
    q->cols = cols;
    q->nblk = f->block > 0 ? (cols + f->block - 1) / f->block : 0;
    QP_ASSERT(quant_section_sizes(f, rows, cols, q->sec_bytes, &q->row_bytes) == 0);
    for (int i = 0; i < QUANT_SEC_COUNT; i++)
        if (q->sec_bytes[i]) q->sec[i] = xcalloc(q->sec_bytes[i], 1);
    return q;
}

void quant_tensor_free(QuantTensor *q) {
    if (!q) return;
    for (int i = 0; i < QUANT_SEC_COUNT; i++) free(q->sec[i]);
    free(q);
}

int quant_tensor_rows(const QuantTensor *q) { return q->rows; }
int quant_tensor_cols(const QuantTensor *q) { return q->cols; }
const quant_format *quant_tensor_format(const QuantTensor *q) { return &q->fmt; }

size_t quant_tensor_bytes(const QuantTensor *q) {
    size_t t = 0;
    for (int i = 0; i < QUANT_SEC_COUNT; i++) t += q->sec_bytes[i];
    return t;
}

double quant_tensor_bits_per_weight(const QuantTensor *q) {
    if (q->rows == 0 || q->cols == 0) return 0.0;
    return 8.0 * (double)quant_tensor_bytes(q) / ((double)q->rows * (double)q->cols);
}

unsigned quant_tensor_code(const QuantTensor *q, int r, int j) {
    QP_ASSERT(r >= 0 && r < q->rows && j >= 0 && j < q->cols && !quant_kind_is_ggml(q->fmt.kind));
    return pack_get_ref(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, j, q->fmt.bits);
}

const uint8_t *quant_tensor_section(const QuantTensor *q, int i, size_t *bytes) {
    QP_ASSERT(i >= 0 && i < QUANT_SEC_COUNT);
    if (bytes) *bytes = q->sec_bytes[i];
    return q->sec[i];
}

// ---- dispatch ------------------------------------------------------------------------------
static QuantTensor *quantize_with(const float *w, int rows, int cols, const quant_format *fmt, int ref) {
    qp_status st = {0};
    if (quant_format_check(fmt, &st)) qp_die("quant_tensor_quantize: %s", st.msg);
    if (quant_kind_is_ggml(fmt->kind))
        qp_die("%s: qpeft reads ggml's block formats from GGUF files but does not quantize into them", quant_format_name(fmt, NULL, 0));
    QP_ASSERT(rows >= 0 && cols >= 0);
    QuantTensor *q = quant_tensor_alloc(fmt, rows, cols);
    if (rows == 0 || cols == 0) return q;
    switch (fmt->kind) {
    case QUANT_F32: case QUANT_BF16: case QUANT_F16: (ref ? half_quantize_ref : half_quantize)(q, w); break;
    case QUANT_MXINT: (ref ? mxint_quantize_ref : mxint_quantize)(q, w); break;
    case QUANT_INT: (ref ? intk_quantize_ref : intk_quantize)(q, w); break;
    default: (ref ? nf_quantize_ref : nf_quantize)(q, w); break;
    }
    return q;
}

QuantTensor *quant_tensor_quantize(const float *w, int rows, int cols, const quant_format *fmt) {
    return quantize_with(w, rows, cols, fmt, 0);
}

QuantTensor *quant_tensor_quantize_ref(const float *w, int rows, int cols, const quant_format *fmt) {
    return quantize_with(w, rows, cols, fmt, 1);
}

void quant_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) {
    QP_ASSERT(0 <= r0 && r0 <= r1 && r1 <= q->rows);
    if (r0 == r1 || q->cols == 0) return;
    switch (q->fmt.kind) {
    case QUANT_F32: case QUANT_BF16: case QUANT_F16: half_dequantize_rows(q, r0, r1, out); break;
    case QUANT_MXINT: mxint_dequantize_rows(q, r0, r1, out); break;
    case QUANT_INT: intk_dequantize_rows(q, r0, r1, out); break;
    case QUANT_NF4: case QUANT_FP4: case QUANT_NF3: case QUANT_NF2: nf_dequantize_rows(q, r0, r1, out); break;
    default: ggml_dequantize_rows(q, r0, r1, out); break;
    }
}

void quant_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) {
    QP_ASSERT(0 <= r0 && r0 <= r1 && r1 <= q->rows);
    if (r0 == r1 || q->cols == 0) return;
    switch (q->fmt.kind) {
    case QUANT_F32: case QUANT_BF16: case QUANT_F16: half_dequantize_rows_ref(q, r0, r1, out); break;
    case QUANT_MXINT: mxint_dequantize_rows_ref(q, r0, r1, out); break;
    case QUANT_INT: intk_dequantize_rows_ref(q, r0, r1, out); break;
    case QUANT_NF4: case QUANT_FP4: case QUANT_NF3: case QUANT_NF2: nf_dequantize_rows_ref(q, r0, r1, out); break;
    default: ggml_dequantize_rows_ref(q, r0, r1, out); break;
    }
}

void quant_dequantize_rows_bf16(const QuantTensor *q, int r0, int r1, uint16_t *out) {
    QP_ASSERT(0 <= r0 && r0 <= r1 && r1 <= q->rows);
    if (r0 == r1 || q->cols == 0) return;
    if (q->fmt.kind == QUANT_MXINT) mxint_dequantize_rows_bf16(q, r0, r1, out);
    else quant_rows_bf16_via_f32(q, r0, r1, out);
}

// The oracle: one row at a time through the reference dequantizer and the scalar conversion.
void quant_dequantize_rows_bf16_ref(const QuantTensor *q, int r0, int r1, uint16_t *out) {
    QP_ASSERT(0 <= r0 && r0 <= r1 && r1 <= q->rows);
    float *row = xmalloc((size_t)q->cols * sizeof(float) + 1);
    for (int r = r0; r < r1; r++) {
        quant_dequantize_rows_ref(q, r, r + 1, row);
        for (int j = 0; j < q->cols; j++) out[(size_t)(r - r0) * q->cols + j] = quant_f32_to_bf16_ftz(row[j]);
    }
    free(row);
}

// Rows in chunks through a per-thread stack buffer of QUANT_BF16_BUF floats (a heap row for the
// rare tensor wider than that).
#define QUANT_BF16_BUF 16384
void quant_rows_bf16_via_f32(const QuantTensor *q, int r0, int r1, uint16_t *out) {
    const int cols = q->cols, chunk = cols <= QUANT_BF16_BUF ? QUANT_BF16_BUF / cols : 1;
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r += chunk) {
        float stack_buf[QUANT_BF16_BUF], *buf = cols <= QUANT_BF16_BUF ? stack_buf : xmalloc((size_t)cols * sizeof(float));
        int re = r + chunk < r1 ? r + chunk : r1;
        quant_dequantize_rows(q, r, re, buf);
        quant_f32_to_bf16_n(out + (size_t)(r - r0) * cols, buf, (size_t)(re - r) * cols);
        if (buf != stack_buf) free(buf);
    }
}

int quant_ggml_type(quant_kind kind) {
    const ggml_kind_info *g = ggml_block_info(kind);
    return g ? g->ggml_type : -1;
}

int quant_format_from_ggml_type(int ggml_type, quant_format *out) {
    const ggml_kind_info *g = ggml_block_by_type(ggml_type);
    if (!g) return -1;
    *out = (quant_format){g->kind, g->bits, ggml_blocks_type(ggml_type)->block, 0};
    return 0;
}

QuantTensor *quant_tensor_from_raw(const quant_format *fmt, int rows, int cols, const void *data, size_t bytes,
                                   const char *what, qp_status *st) {
    char name[64];
    quant_format_name(fmt, name, sizeof name);
    if (quant_format_check(fmt, st)) return NULL;
    if (fmt->kind != QUANT_F32 && fmt->kind != QUANT_BF16 && fmt->kind != QUANT_F16 && !quant_kind_is_ggml(fmt->kind)) {
        qp_fail(st, "%s: a %s tensor has scale sections besides its codes; it cannot be taken from raw bytes", what, name);
        return NULL;
    }
    size_t sec[QUANT_SEC_COUNT], rb;
    if (rows < 0 || cols < 0 || quant_section_sizes(fmt, rows, cols, sec, &rb)) {
        qp_fail(st, "%s: shape %d x %d does not fit %s (rows of whole %d-weight blocks expected)", what, rows, cols,
                name, fmt->block);
        return NULL;
    }
    if (bytes != sec[QUANT_SEC_CODES]) {
        qp_fail(st, "%s: a %d x %d %s tensor holds %zu bytes, found %zu", what, rows, cols, name, sec[QUANT_SEC_CODES], bytes);
        return NULL;
    }
    QuantTensor *q = quant_tensor_alloc(fmt, rows, cols);
    if (bytes) memcpy(q->sec[QUANT_SEC_CODES], data, bytes);
    return q;
}

const char *quant_mix_summary(QuantTensor *const *q, int n, char *buf, size_t cap) {
    int count[QUANT_KIND_COUNT] = {0};
    double bits = 0, weights = 0;
    for (int i = 0; i < n; i++) {
        if (!q[i]) continue;
        count[q[i]->fmt.kind]++;
        bits += 8.0 * (double)quant_tensor_bytes(q[i]);
        weights += (double)q[i]->rows * q[i]->cols;
    }
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < QUANT_KIND_COUNT && len < cap; k++) {
        if (!count[k]) continue;
        quant_format f = {(quant_kind)k, 0, 0, 0};
        len += (size_t)snprintf(buf + len, cap - len, "%s%s x%d", len ? ", " : "", quant_format_name(&f, NULL, 0), count[k]);
    }
    if (!len) snprintf(buf, cap, "none");
    else if (len < cap) snprintf(buf + len, cap - len, ": %.4f bits/weight", weights > 0 ? bits / weights : 0.0);
    return buf;
}

// Fake quantization = dequantize(quantize(w)) through the fast paths; the packed form is
// transient (it costs one pass over bytes, small next to the code search).
void quant_fake(float *out, const float *w, int rows, int cols, const quant_format *fmt) {
    QuantTensor *q = quant_tensor_quantize(w, rows, cols, fmt);
    quant_dequantize_rows(q, 0, rows, out);
    quant_tensor_free(q);
}
