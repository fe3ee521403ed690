// checkpoints/gguf.c — GGUF v3 writer: metadata serialised into a growing buffer as it is added,
// tensor infos with aligned offsets, data streamed through checkpoints/export.h's checked output.
// Tested by tests/test_gguf.c and tests/test_gguf_llamacpp.sh.
#include "checkpoints/gguf.h"
#include "checkpoints/export.h"
#include "core/check.h"
#include "quant/ggml_blocks.h"
#include <stdlib.h>
#include <string.h>

// gguf.h's value types (GGUF spec / ggml's gguf.h enum gguf_type).
enum { GT_U32 = 4, GT_I32 = 5, GT_F32 = 6, GT_BOOL = 7, GT_STR = 8, GT_ARR = 9 };
enum { GGUF_VERSION = 3, GGUF_ALIGN = 32, MAX_DIMS = 4 };

typedef struct { uint8_t *p; size_t n, cap; } bytes;

typedef struct {
    char *name;
    int n_dims, type;
    int64_t ne[MAX_DIMS];
    uint64_t size, offset;  // data bytes; offset from the start of the data section
} tinfo;

struct gguf_writer {
    bytes kv;              // serialised key/value pairs
    int64_t n_kv;
    char **keys;           // for the uniqueness check
    tinfo *t;
    int n_t, cap_t;
    uint64_t data_bytes;   // running (aligned) data size
    export_out out;
    int begun, next;       // data of tensor `next` comes next
    uint64_t written;
};

static void put(bytes *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
// Little-endian scalars (the host is little-endian: quant/ggml_blocks.c checks it).
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

gguf_writer *gguf_writer_new(void) { return xcalloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->out.f) fclose(w->out.f);
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv.p);
    free(w);
}

static void key(gguf_writer *w, const char *k, uint32_t type) {
    QP_ASSERT(!w->begun);
    for (int64_t i = 0; i < w->n_kv; i++) QP_ASSERT(strcmp(w->keys[i], k) != 0);
    w->keys = xrealloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = xstrdup(k);
    put_str(&w->kv, k);
    put_u32(&w->kv, type);
}

void gguf_kv_u32(gguf_writer *w, const char *k, uint32_t v) { key(w, k, GT_U32); put_u32(&w->kv, v); }
void gguf_kv_f32(gguf_writer *w, const char *k, float v) { key(w, k, GT_F32); put(&w->kv, &v, 4); }
void gguf_kv_bool(gguf_writer *w, const char *k, int v) { key(w, k, GT_BOOL); uint8_t b = v != 0; put(&w->kv, &b, 1); }
void gguf_kv_str(gguf_writer *w, const char *k, const char *v) { key(w, k, GT_STR); put_str(&w->kv, v); }

static void arr(gguf_writer *w, const char *k, uint32_t type, size_t n) {
    key(w, k, GT_ARR);
    put_u32(&w->kv, type);
    put_u64(&w->kv, n);
}
void gguf_kv_str_array(gguf_writer *w, const char *k, const char *const *v, size_t n) {
    arr(w, k, GT_STR, n);
    for (size_t i = 0; i < n; i++) put_str(&w->kv, v[i]);
}
void gguf_kv_f32_array(gguf_writer *w, const char *k, const float *v, size_t n) { arr(w, k, GT_F32, n); put(&w->kv, v, 4 * n); }
void gguf_kv_i32_array(gguf_writer *w, const char *k, const int32_t *v, size_t n) { arr(w, k, GT_I32, n); put(&w->kv, v, 4 * n); }

static uint64_t align_up(uint64_t x) { return (x + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

void gguf_tensor(gguf_writer *w, const char *name, int n_dims, const int64_t *ne, int ggml_type) {
    QP_ASSERT(!w->begun && n_dims >= 1 && n_dims <= MAX_DIMS);
    const ggml_block_type *bt = ggml_blocks_type(ggml_type);
    QP_ASSERT(bt && ne[0] % bt->block == 0);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t * 2 + 16;
        w->t = xrealloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    tinfo *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->n_dims = n_dims;
    t->type = ggml_type;
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) { t->ne[d] = ne[d]; if (d) rows *= (uint64_t)ne[d]; }
    t->size = ggml_blocks_row_bytes(bt, ne[0]) * rows;
    t->offset = w->data_bytes;
    w->data_bytes = align_up(w->data_bytes + t->size);
}

static void emit(gguf_writer *w, const void *p, size_t n) {
    export_out_write(&w->out, p, n);
    w->written += n;
}

static void pad(gguf_writer *w) {
    static const uint8_t zeros[GGUF_ALIGN];
    emit(w, zeros, (size_t)(align_up(w->written) - w->written));
}

int gguf_writer_begin(gguf_writer *w, const char *path, qp_status *st) {
    QP_ASSERT(!w->begun);
    w->begun = 1;
    if (export_out_open(&w->out, path, st)) return -1;
    bytes h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, GGUF_VERSION);
    put_u64(&h, (uint64_t)w->n_t);
    put_u64(&h, (uint64_t)w->n_kv);
    put(&h, w->kv.p, w->kv.n);
    for (int i = 0; i < w->n_t; i++) {
        const tinfo *t = &w->t[i];
        put_str(&h, t->name);
        put_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, (uint32_t)t->type);
        put_u64(&h, t->offset);
    }
    emit(w, h.p, h.n);
    free(h.p);
    pad(w);
    return w->out.failed ? -1 : 0;
}

void gguf_writer_data(gguf_writer *w, const void *data, size_t n) {
    QP_ASSERT(w->begun && w->next < w->n_t && n == w->t[w->next].size);
    emit(w, data, n);
    pad(w);
    w->next++;
}

int gguf_writer_finish(gguf_writer *w) {
    QP_ASSERT(w->begun && w->next == w->n_t);
    return export_out_close(&w->out);
}

uint64_t gguf_writer_bytes(const gguf_writer *w) { return w->written; }
