// model/gguf.c — GGUF reader: a bounds-checked cursor over the file (every length is checked
// against the bytes left before anything is allocated), metadata into typed arrays, tensor infos
// validated (dims, type, sizes, alignment, overlap, end of file). Tested by tests/test_gguf.c.
#include "model/gguf.h"
#include "core/check.h"
#include "quant/ggml_blocks.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GGUF_DEFAULT_ALIGN = 32, MAX_DIMS = 4 };
static const size_t SCALAR_BYTES[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const TYPE_NAMES[GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                                        "string", "array", "u64", "i64", "f64"};

// The cursor: reads fail (sticky) past the end of the file, with one message.
typedef struct {
    FILE *f;
    const char *path;
    uint64_t pos, size;
    qp_status *st;
    int failed;
} cur;

static int bad(cur *c, const char *fmt, const char *what, unsigned long long v) {
    if (c->failed) return -1;
    c->failed = 1;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what, v);
    return qp_fail(c->st, "%s: %s (at byte %llu)", c->path, msg, (unsigned long long)c->pos);
}

static int rd(cur *c, void *p, uint64_t n) {
    if (c->failed) return -1;
    if (n > c->size - c->pos) return bad(c, "%s of %llu bytes, found the end of the file", "a value", (unsigned long long)n);
    if (n && fread(p, 1, (size_t)n, c->f) != n) return bad(c, "%s, found a read error (%llu)", "readable bytes", (unsigned long long)errno);
    c->pos += n;
    return 0;
}
static uint32_t rd_u32(cur *c) { uint32_t v = 0; rd(c, &v, 4); return v; }
static uint64_t rd_u64(cur *c) { uint64_t v = 0; rd(c, &v, 8); return v; }

// A GGUF string (u64 length, bytes) as a NUL-terminated copy, or NULL.
static char *rd_str(cur *c) {
    uint64_t n = rd_u64(c);
    if (c->failed) return NULL;
    if (n > c->size - c->pos) { bad(c, "%s of %llu bytes within the file, found a longer length", "a string", (unsigned long long)n); return NULL; }
    char *s = xmalloc((size_t)n + 1);
    if (rd(c, s, n)) { free(s); return NULL; }
    s[n] = 0;
    if (strlen(s) != n) { free(s); bad(c, "%s, found a NUL byte inside (length %llu)", "a string without NUL bytes", (unsigned long long)n); return NULL; }
    return s;
}

static void kv_free(gguf_kv *kv) {
    if (kv->type == GGUF_STR || (kv->type == GGUF_ARR && kv->arr_type == GGUF_STR))
        for (uint64_t i = 0; kv->data && i < kv->n; i++) free(((char **)kv->data)[i]);
    free(kv->data);
    free(kv->key);
}

// A value (scalar or array) of `type` into kv.
static int rd_value(cur *c, gguf_kv *kv, uint32_t type) {
    if (type >= GGUF_TYPE_COUNT) return bad(c, "%s, found type %llu", "a known value type (0..12)", type);
    kv->type = (gguf_type)type;
    kv->arr_type = kv->type;
    kv->n = 1;
    if (type == GGUF_ARR) {
        uint32_t et = rd_u32(c);
        kv->n = rd_u64(c);
        if (c->failed) return -1;
        if (et >= GGUF_TYPE_COUNT || et == GGUF_ARR) return bad(c, "%s, found element type %llu", "an array of scalars or strings", et);
        kv->arr_type = (gguf_type)et;
    }
    const gguf_type et = kv->arr_type;
    const uint64_t min_elem = et == GGUF_STR ? 8 : SCALAR_BYTES[et];  // a string is at least its length
    if (kv->n > (c->size - c->pos) / min_elem) return bad(c, "%s, found %llu elements", "an array that fits in the file", (unsigned long long)kv->n);
    if (et == GGUF_STR) {
        char **s = xcalloc((size_t)kv->n ? (size_t)kv->n : 1, sizeof *s);
        kv->data = s;
        for (uint64_t i = 0; i < kv->n; i++)
            if (!(s[i] = rd_str(c))) return -1;
        return 0;
    }
    kv->data = xmalloc((size_t)(kv->n * SCALAR_BYTES[et]) + 1);
    if (rd(c, kv->data, kv->n * SCALAR_BYTES[et])) return -1;
    if (et == GGUF_BOOL)
        for (uint64_t i = 0; i < kv->n; i++)
            if (((uint8_t *)kv->data)[i] > 1) return bad(c, "%s, found %llu", "a bool of 0 or 1", ((uint8_t *)kv->data)[i]);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor_info *const *)a)->name, (*(const gguf_tensor_info *const *)b)->name);
}
static int by_offset(const void *a, const void *b) {
    uint64_t x = (*(const gguf_tensor_info *const *)a)->offset, y = (*(const gguf_tensor_info *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static int rd_tensor_info(cur *c, gguf_tensor_info *t) {
    if (!(t->name = rd_str(c))) return -1;
    uint32_t nd = rd_u32(c);
    if (c->failed) return -1;
    if (nd < 1 || nd > MAX_DIMS) return bad(c, "tensor %s: 1..4 dimensions, found %llu", t->name, nd);
    t->n_dims = (int)nd;
    uint64_t rows = 1;
    for (int d = 0; d < MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v = rd_u64(c);
        if (c->failed) return -1;
        if (v > (uint64_t)INT64_MAX / 2) return bad(c, "tensor %s: a dimension below 2^62, found %llu", t->name, (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    t->type = (int)rd_u32(c);
    t->offset = rd_u64(c);
    if (c->failed) return -1;
    const ggml_block_type *bt = ggml_blocks_type(t->type);
    if (!bt) return bad(c, "tensor %s: a tensor type qpeft reads (f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K..q6_K, q8_K), found ggml type %llu", t->name, (unsigned)t->type);
    if (t->ne[0] % bt->block) return bad(c, "tensor %s: a first dimension that is a multiple of the block, found %llu", t->name, (unsigned long long)t->ne[0]);
    for (int d = 1; d < MAX_DIMS; d++) {
        if (t->ne[d] && rows > UINT64_MAX / (uint64_t)t->ne[d]) return bad(c, "tensor %s: a size that fits 64 bits, found dimension %llu", t->name, (unsigned long long)t->ne[d]);
        rows *= (uint64_t)t->ne[d];
    }
    uint64_t rb = (uint64_t)(t->ne[0] / bt->block) * bt->bytes;
    if (rows && rb > c->size / rows) return bad(c, "tensor %s: data that fits in the file, found %llu rows", t->name, (unsigned long long)rows);
    t->bytes = rb * rows;
    return 0;
}

void gguf_close(gguf_file *g) {
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) kv_free(&g->kv[i]);
    for (int64_t i = 0; g->t && i < g->n_tensors; i++) free(g->t[i].name);
    free(g->kv);
    free(g->t);
    free(g->path);
    memset(g, 0, sizeof *g);
}

// Cross-checks once everything is read: unique keys and names, alignment, offsets in the file
// and not overlapping.
static int validate(gguf_file *g, cur *c) {
    for (int64_t i = 0; i < g->n_kv; i++)
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(g->kv[i].key, g->kv[j].key)) return bad(c, "unique keys, found %s twice%.0llu", g->kv[i].key, 0ULL);
    g->alignment = GGUF_DEFAULT_ALIGN;
    const gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        uint32_t a = al->type == GGUF_U32 ? *(uint32_t *)al->data : 0;
        if (!a || (a & (a - 1))) return bad(c, "%s: a u32 power of two, found another type or value (%llu)", "general.alignment", a);
        g->alignment = a;
    }
    g->data_offset = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_offset > g->file_size) return bad(c, "%s at byte %llu, found the end of the file", "the data section", (unsigned long long)g->data_offset);
    gguf_tensor_info **p = xmalloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *p);
    for (int64_t i = 0; i < g->n_tensors; i++) p[i] = &g->t[i];
    int rc = 0;
    qsort(p, (size_t)g->n_tensors, sizeof *p, by_name);
    for (int64_t i = 1; i < g->n_tensors && !rc; i++)
        if (!strcmp(p[i]->name, p[i - 1]->name)) rc = bad(c, "unique tensor names, found %s twice%.0llu", p[i]->name, 0ULL);
    qsort(p, (size_t)g->n_tensors, sizeof *p, by_offset);
    const uint64_t room = g->file_size - (g->data_offset < g->file_size ? g->data_offset : g->file_size);
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        const gguf_tensor_info *t = p[i];
        if (t->offset % g->alignment) rc = bad(c, "tensor %s: an offset aligned to the alignment, found %llu", t->name, (unsigned long long)t->offset);
        else if (t->offset > room || t->bytes > room - t->offset)
            rc = bad(c, "tensor %s: data inside the file, found it ending at data byte %llu", t->name, (unsigned long long)(t->offset + t->bytes));
        else if (i && p[i - 1]->offset + p[i - 1]->bytes > t->offset)
            rc = bad(c, "tensor %s: data not overlapping the previous tensor's, found offset %llu", t->name, (unsigned long long)t->offset);
    }
    free(p);
    return rc;
}

int gguf_open(gguf_file *g, const char *path, qp_status *st) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return qp_fail(st, "%s: a readable GGUF file, found none (%s)", path, strerror(errno));
    cur c = {f, path, 0, 0, st, 0};
    if (fseeko(f, 0, SEEK_END) == 0) { off_t sz = ftello(f); c.size = sz > 0 ? (uint64_t)sz : 0; }
    fseeko(f, 0, SEEK_SET);
    char magic[4] = {0};
    rd(&c, magic, 4);
    if (!c.failed && memcmp(magic, "GGUF", 4)) bad(&c, "%s, found another magic%.0llu", "a GGUF file (magic GGUF)", 0ULL);
    g->version = rd_u32(&c);
    if (!c.failed && (g->version & 0xFFFF) == 0 && g->version) bad(&c, "%s, found a big-endian file (version bytes %llu)", "a little-endian GGUF", g->version);
    if (!c.failed && g->version != 2 && g->version != 3) bad(&c, "%s, found version %llu", "GGUF version 2 or 3", g->version);
    uint64_t nt = rd_u64(&c), nkv = rd_u64(&c);
    // Every tensor info takes ≥ 32 bytes and every pair ≥ 13: counts beyond that are lies.
    if (!c.failed && nt > c.size / 32) bad(&c, "%s, found %llu", "a tensor count that fits in the file", (unsigned long long)nt);
    if (!c.failed && nkv > c.size / 13) bad(&c, "%s, found %llu", "a key/value count that fits in the file", (unsigned long long)nkv);
    if (!c.failed) {
        g->path = xstrdup(path);
        g->file_size = c.size;
        g->kv = xcalloc((size_t)nkv + 1, sizeof *g->kv);
        g->t = xcalloc((size_t)nt + 1, sizeof *g->t);
    }
    for (uint64_t i = 0; !c.failed && i < nkv; i++) {
        g->n_kv = (int64_t)i + 1;
        if (!(g->kv[i].key = rd_str(&c))) break;
        if (!g->kv[i].key[0]) { bad(&c, "%s, found an empty key%.0llu", "a key", 0ULL); break; }
        uint32_t type = rd_u32(&c);
        if (!c.failed) rd_value(&c, &g->kv[i], type);
    }
    for (uint64_t i = 0; !c.failed && i < nt; i++) {
        g->n_tensors = (int64_t)i + 1;
        rd_tensor_info(&c, &g->t[i]);
    }
    if (!c.failed) validate(g, &c);
    fclose(f);
    if (c.failed) { gguf_close(g); return -1; }
    return 0;
}

const gguf_kv *gguf_find(const gguf_file *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

static const gguf_kv *typed(const gguf_file *g, const char *key, gguf_type type, gguf_type elem, qp_status *st) {
    const gguf_kv *kv = gguf_find(g, key);
    if (!kv) { qp_fail(st, "%s: key %s, found none", g->path, key); return NULL; }
    if (kv->type != type || kv->arr_type != elem) {
        qp_fail(st, "%s: key %s of type %s%s%s, found %s%s%s", g->path, key, TYPE_NAMES[type], type == GGUF_ARR ? " of " : "",
                type == GGUF_ARR ? TYPE_NAMES[elem] : "", TYPE_NAMES[kv->type], kv->type == GGUF_ARR ? " of " : "",
                kv->type == GGUF_ARR ? TYPE_NAMES[kv->arr_type] : "");
        return NULL;
    }
    return kv;
}

int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *v, qp_status *st) {
    const gguf_kv *kv = typed(g, key, GGUF_U32, GGUF_U32, st);
    if (!kv) return -1;
    *v = *(const uint32_t *)kv->data;
    return 0;
}

int gguf_get_f32(const gguf_file *g, const char *key, float *v, qp_status *st) {
    const gguf_kv *kv = typed(g, key, GGUF_F32, GGUF_F32, st);
    if (!kv) return -1;
    memcpy(v, kv->data, 4);
    return 0;
}

const char *gguf_get_str(const gguf_file *g, const char *key, qp_status *st) {
    const gguf_kv *kv = typed(g, key, GGUF_STR, GGUF_STR, st);
    return kv ? ((char *const *)kv->data)[0] : NULL;
}

const gguf_kv *gguf_get_arr(const gguf_file *g, const char *key, gguf_type elem, qp_status *st) {
    return typed(g, key, GGUF_ARR, elem, st);
}

int gguf_find_tensor(const gguf_file *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->t[i].name, name)) return (int)i;
    return -1;
}

int gguf_read_raw(const gguf_file *g, int i, void *buf, qp_status *st) {
    QP_ASSERT(i >= 0 && i < g->n_tensors);
    const gguf_tensor_info *t = &g->t[i];
    FILE *f = fopen(g->path, "rb");
    if (!f) return qp_fail(st, "%s: a readable GGUF file, found none (%s)", g->path, strerror(errno));
    int ok = fseeko(f, (off_t)(g->data_offset + t->offset), SEEK_SET) == 0 && fread(buf, 1, (size_t)t->bytes, f) == t->bytes;
    fclose(f);
    if (!ok) return qp_fail(st, "%s: tensor %s's %llu bytes, found a short read (file changed?)", g->path, t->name, (unsigned long long)t->bytes);
    return 0;
}

int gguf_read_f32(const gguf_file *g, int i, float *out, qp_status *st) {
    const gguf_tensor_info *t = &g->t[i];
    uint8_t *raw = xmalloc((size_t)t->bytes + 1);
    int rc = gguf_read_raw(g, i, raw, st);
    if (!rc) {
        const ggml_block_type *bt = ggml_blocks_type(t->type);
        int64_t n = 1;
        for (int d = 0; d < MAX_DIMS; d++) n *= t->ne[d];
        ggml_blocks_dequantize_ref(bt, raw, out, n);
    }
    free(raw);
    return rc;
}
