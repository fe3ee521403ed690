// model/load_llama2c.c — llama2.c checkpoints: the legacy v0 format and "ak42" version 1 (fp32),
// as written by llama2.c's export.py. Every header field is read and validated one by one and
// the file length must equal what the header implies before any weight is read.
// Tested by tests/test_loaders.c (tinystories-1M, python-written v0/v1 files, truncations, bad headers).
#include "model/weights.h"
#include "model/weights_internal.h"
#include "core/check.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define AK42_MAGIC 0x616b3432u  // "ak42" as a little-endian uint32
#define AK42_HEADER_BYTES 256
#define LEGACY_HEADER_BYTES 28   // 7 int32

// One tensor (or skipped block) of the file, in file order: t is its WT_* tensor, -1 to skip.
typedef struct { const char *name; int t; size_t n, per_layer; } Block;

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static int32_t le32s(const unsigned char *b) {
    uint32_t u = le32(b);
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

// Read exactly n bytes; on a short read say how far the file got.
static int read_exact(FILE *f, void *p, size_t n, const char *path, const char *what, qp_status *st) {
    size_t got = fread(p, 1, n, f);
    if (got == n) return 0;
    if (ferror(f)) return qp_fail(st, "%s: readable %s, found a read error (%s)", path, what, strerror(errno));
    return qp_fail(st, "%s: %zu bytes of %s, found only %zu (file truncated)", path, n, what, got);
}

static int fill_blocks(Block *b, const ModelConfig *c, int v1, size_t freq_floats) {
    size_t C = (size_t)c->dim, H = (size_t)c->hidden_dim, L = (size_t)c->n_layers, V = (size_t)c->vocab_size;
    size_t KVD = C / (size_t)c->n_heads * (size_t)c->n_kv_heads;
    Block tok = {"token_embedding", WT_TOK, V * C, 0}, an = {"rms_att", WT_ATTN_NORM, L * C, C},
          wq = {"wq", WT_WQ, L * C * C, C * C}, wk = {"wk", WT_WK, L * KVD * C, KVD * C},
          wv = {"wv", WT_WV, L * KVD * C, KVD * C}, wo = {"wo", WT_WO, L * C * C, C * C},
          fn = {"rms_ffn", WT_FFN_NORM, L * C, C}, w1 = {"w1", WT_GATE, L * H * C, H * C},
          w2 = {"w2", WT_DOWN, L * C * H, C * H}, w3 = {"w3", WT_UP, L * H * C, H * C},
          fin = {"rms_final", WT_FINAL, C, 0}, freq = {"freq_cis", -1, freq_floats, 0},
          cls = {"wcls", WT_LM, V * C, 0};
    int k = 0;
    if (v1) {  // export.py version1_export: norms first, then the matrices
        b[k++] = an; b[k++] = fn; b[k++] = fin; b[k++] = tok;
        b[k++] = wq; b[k++] = wk; b[k++] = wv; b[k++] = wo; b[k++] = w1; b[k++] = w2; b[k++] = w3;
    } else {   // legacy_export (and run.c's memory_map_weights)
        b[k++] = tok; b[k++] = an; b[k++] = wq; b[k++] = wk; b[k++] = wv; b[k++] = wo;
        b[k++] = fn; b[k++] = w1; b[k++] = w2; b[k++] = w3; b[k++] = fin; b[k++] = freq;
    }
    if (!c->tied_embeddings) b[k++] = cls;
    return k;
}

// An open llama2.c file: where each tensor starts (file order resolved at open).
typedef struct {
    char *path;
    int fd;
    Block blocks[WT_COUNT];   // by WT_* index; n = 0 when absent
    size_t offset[WT_COUNT];  // byte offset of the tensor's first element
} L2Source;

static void l2_close(void *impl) {
    L2Source *s = impl;
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    free(s->path);
    free(s);
}

static int l2_read(void *impl, int t, int l, float *dst, qp_status *st) {
    L2Source *s = impl;
    const Block *b = &s->blocks[t];
    QP_ASSERT(b->n > 0);
    size_t first = b->per_layer ? (size_t)l * b->per_layer : 0, n = b->per_layer ? b->per_layer : b->n;
    if (weights_pread_exact(s->fd, dst, n * 4, s->offset[t] + first * 4, s->path, st)) return -1;
    weights_le32_to_host(dst, n);
    return weights_check_finite_at(dst, n, first, b->per_layer, s->path, b->name, st);
}

int weights_llama2c_open(const char *path, ModelConfig *c, WeightsSource **out, qp_status *st) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return qp_fail(st, "%s: a readable llama2.c model file, found none (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return qp_fail(st, "%s: a regular llama2.c model file, found something else", path);
    }
    size_t fsize = (size_t)sb.st_size;
    unsigned char hdr[AK42_HEADER_BYTES];
    if (fsize < LEGACY_HEADER_BYTES) {
        fclose(f);
        return qp_fail(st, "%s: a llama2.c header of at least %d bytes, found a %zu-byte file", path, LEGACY_HEADER_BYTES, fsize);
    }
    if (read_exact(f, hdr, 4, path, "header", st)) { fclose(f); return -1; }
    int v1 = le32(hdr) == AK42_MAGIC;  // a legacy file starts with dim, and dim 1634415666 is out of range
    size_t hbytes = v1 ? AK42_HEADER_BYTES : LEGACY_HEADER_BYTES;
    if (v1 && fsize < hbytes) {
        fclose(f);
        return qp_fail(st, "%s: an ak42 header of %zu bytes, found a %zu-byte file", path, hbytes, fsize);
    }
    if (read_exact(f, hdr + 4, hbytes - 4, path, "header", st)) { fclose(f); return -1; }
    const unsigned char *p = hdr;
    if (v1) {
        int32_t version = le32s(hdr + 4);
        if (version == 2) {
            fclose(f);
            return qp_fail(st, "%s: ak42 version 1 (fp32), found version 2 (int8 Q8_0, not supported: export with --version 0 or 1)", path);
        }
        if (version != 1) { fclose(f); return qp_fail(st, "%s: ak42 version 1, found version %d", path, (int)version); }
        p = hdr + 8;
    }
    int32_t f7[7];
    for (int i = 0; i < 7; i++) f7[i] = le32s(p + 4 * i);
    memset(c, 0, sizeof *c);
    c->dim = f7[0]; c->hidden_dim = f7[1]; c->n_layers = f7[2]; c->n_heads = f7[3];
    c->n_kv_heads = f7[4]; c->max_seq_len = f7[6];
    c->norm_eps = 1e-5f; c->rope_theta = 10000.0f; c->n_labels = 0;
    if (v1) {
        c->vocab_size = f7[5];
        unsigned shared = hdr[36];
        if (shared > 1) { fclose(f); return qp_fail(st, "%s: shared_classifier flag 0 or 1 at byte 36, found %u", path, shared); }
        for (size_t i = 37; i < AK42_HEADER_BYTES; i++)
            if (hdr[i]) { fclose(f); return qp_fail(st, "%s: zero header padding (bytes 37-255), found 0x%02x at byte %zu", path, hdr[i], i); }
        c->tied_embeddings = (int)shared;
    } else {
        // legacy: a negative vocab_size flags an untied classifier (wcls at the end of the file)
        if (f7[5] == INT32_MIN) { fclose(f); return qp_fail(st, "%s: vocab_size must be in [1, 4194304], found %d", path, (int)f7[5]); }
        c->vocab_size = f7[5] < 0 ? -f7[5] : f7[5];
        c->tied_embeddings = f7[5] > 0;
    }
    if (config_validate(c, path, st)) { fclose(f); return -1; }

    // Expected file length, overflow-checked: header + every block (config_validate bounded the
    // weights; the legacy freq_cis block is seq_len * HS/2 floats twice).
    size_t freq_floats = 0;
    if (!v1) {
        size_t t;
        if (!qp_size_mul((size_t)c->max_seq_len, (size_t)config_head_size(c), &t))
            return fclose(f), qp_fail(st, "%s: freq_cis size must fit in size_t, found an overflow", path);
        freq_floats = t;  // = 2 * seq_len * HS/2
    }
    size_t nfloats = weights_count(c), expect = 0, fb;
    if (!qp_size_add(nfloats, freq_floats, &fb) || !qp_size_mul(fb, 4, &fb) || !qp_size_add(fb, hbytes, &expect))
        return fclose(f), qp_fail(st, "%s: file size must fit in size_t, found an overflow", path);
    if (fsize != expect) {
        fclose(f);
        return qp_fail(st, "%s: %zu bytes for %s file with dim %d, hidden %d, layers %d, heads %d, kv_heads %d, "
                       "vocab %d (%s), seq_len %d, found %zu bytes (%s)",
                       path, expect, v1 ? "an ak42 v1" : "a llama2.c legacy", c->dim, c->hidden_dim, c->n_layers, c->n_heads,
                       c->n_kv_heads, c->vocab_size, c->tied_embeddings ? "tied" : "untied", c->max_seq_len, fsize,
                       fsize < expect ? "truncated" : "trailing bytes");
    }
    fclose(f);
    L2Source *src = xcalloc(1, sizeof *src);
    src->path = xstrdup(path);
    src->fd = open(path, O_RDONLY);
    if (src->fd < 0) {
        l2_close(src);
        return qp_fail(st, "%s: a readable llama2.c model file, found none (%s)", path, strerror(errno));
    }
    Block blocks[16];
    int nb = fill_blocks(blocks, c, v1, freq_floats);
    size_t off = hbytes;
    for (int i = 0; i < nb; i++) {
        if (blocks[i].t >= 0) { src->blocks[blocks[i].t] = blocks[i]; src->offset[blocks[i].t] = off; }
        off += blocks[i].n * 4;
    }
    WeightsSource *ws = xcalloc(1, sizeof *ws);
    *ws = (WeightsSource){l2_read, l2_close, src};
    *out = ws;
    return 0;
}

int weights_load_llama2c(const char *path, ModelConfig *c, ModelWeights *w, qp_status *st) {
    return weights_load_via(weights_llama2c_open, path, c, w, NULL, st);
}
