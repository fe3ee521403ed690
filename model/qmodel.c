// model/qmodel.c — qpeft's quantized model file: save (atomic) and load (every length checked
// against the config before it is trusted). Tested by tests/test_qmodel.c.
#include "model/qmodel.h"
#include "core/check.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Header, every field little-endian (docs/formats.md, "Quantized model files"):
//   0 char[8] "QPEFTQM1"   8 u32 version      12 u32 header bytes (128)
//  16 i32 dim  20 hidden_dim  24 n_layers  28 n_heads  32 n_kv_heads  36 vocab_size
//  40 i32 max_seq_len  44 f32 norm_eps  48 f32 rope_theta  52 i32 tied_embeddings  56 i32 n_labels
//  60 u32 quant mask   64 u32 kind  68 u32 bits  72 u32 block  76 u32 double_quant
//  80 u32 packed tensors (L * popcount(mask))   84 u32 reserved (0)
//  88 u64 fp32 floats   96 u64 packed bytes (tensor headers included)   104 u64 file bytes
// 112..127 reserved (0)
enum { QM_OFF_VERSION = 8, QM_OFF_HBYTES = 12, QM_OFF_CFG = 16, QM_OFF_MASK = 60, QM_OFF_KIND = 64,
       QM_OFF_BITS = 68, QM_OFF_BLOCK = 72, QM_OFF_DQ = 76, QM_OFF_NPACKED = 80, QM_OFF_RES0 = 84,
       QM_OFF_NF32 = 88, QM_OFF_PBYTES = 96, QM_OFF_FBYTES = 104, QM_OFF_RES1 = 112 };
_Static_assert(QM_OFF_CFG + 11 * 4 == QM_OFF_MASK, "config block: 11 four-byte fields");
_Static_assert(QM_OFF_RES1 + 16 == QMODEL_HEADER_BYTES, "header is 128 bytes");
_Static_assert(sizeof(float) == 4, "fp32 tensors are stored as 4-byte IEEE floats");

#define QT_HEADER_BYTES 64  // quant_tensor_write's own header (quant/io.c)

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i); return v; }
static void put_f32(uint8_t *p, float f) { uint32_t u; memcpy(&u, &f, 4); put_u32(p, u); }
static float get_f32(const uint8_t *p) { uint32_t u = get_u32(p); float f; memcpy(&f, &u, 4); return f; }

// fp32 tensors are written as the host's bytes; the format is little-endian, so a big-endian
// host refuses rather than writing or reading a different format.
static int host_is_le(void) { const uint16_t one = 1; uint8_t b; memcpy(&b, &one, 1); return b == 1; }

// The fp32 tensors a file stores, in file order: embeddings and norms, the whole (L, OC, IC)
// stack of each unquantized linear kind, the untied head, the score head.
typedef struct { float *p; size_t n; } f32_span;
static int fp32_spans(const ModelConfig *c, const ModelWeights *w, unsigned mask, f32_span *s) {
    size_t C = (size_t)c->dim, L = (size_t)c->n_layers;
    int n = 0;
    s[n++] = (f32_span){w->tok_emb, (size_t)c->vocab_size * C};
    s[n++] = (f32_span){w->attn_norm, L * C};
    s[n++] = (f32_span){w->ffn_norm, L * C};
    s[n++] = (f32_span){w->final_norm, C};
    for (int k = 0; k < LIN_COUNT; k++) {
        if (mask >> k & 1u) continue;
        int out, in;
        model_lin_shape(c, k, &out, &in);
        s[n++] = (f32_span){model_lin_weight(w, c, 0, k), L * (size_t)out * in};
    }
    if (!c->tied_embeddings) s[n++] = (f32_span){w->lm_head, (size_t)c->vocab_size * C};
    if (c->n_labels > 0) s[n++] = (f32_span){w->score, (size_t)c->n_labels * C};
    return n;
}
#define QM_MAX_SPANS (6 + LIN_COUNT)

static size_t fp32_floats(const ModelConfig *c, unsigned mask) {
    ModelWeights none = {0};
    f32_span s[QM_MAX_SPANS];
    int n = fp32_spans(c, &none, mask, s);
    size_t t = 0;
    for (int i = 0; i < n; i++) t += s[i].n;  // config_validate bounds every product
    return t;
}

static int popcount(unsigned m) { int n = 0; for (; m; m &= m - 1) n++; return n; }

// Bytes of quant_tensor_write's image of q.
static size_t tensor_image_bytes(const QuantTensor *q) {
    size_t t = QT_HEADER_BYTES, b;
    for (int i = 0; i < QUANT_SEC_COUNT; i++) { quant_tensor_section(q, i, &b); t += b; }
    return t;
}

static int same_format(const quant_format *a, const quant_format *b) {
    return a->kind == b->kind && a->bits == b->bits && a->block == b->block && a->double_quant == b->double_quant;
}

// ---- header -------------------------------------------------------------------------------

typedef struct {
    ModelConfig cfg;
    unsigned mask;
    quant_format fmt;
    uint32_t n_packed;
    uint64_t n_f32, packed_bytes, file_bytes;
} qm_header;

static void header_encode(const qm_header *h, uint8_t *b) {
    memset(b, 0, QMODEL_HEADER_BYTES);
    memcpy(b, QMODEL_MAGIC, 8);
    put_u32(b + QM_OFF_VERSION, QMODEL_VERSION);
    put_u32(b + QM_OFF_HBYTES, QMODEL_HEADER_BYTES);
    const ModelConfig *c = &h->cfg;
    uint8_t *p = b + QM_OFF_CFG;
    int iv[] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->max_seq_len};
    for (int i = 0; i < 7; i++, p += 4) put_u32(p, (uint32_t)iv[i]);
    put_f32(p, c->norm_eps); p += 4;
    put_f32(p, c->rope_theta); p += 4;
    put_u32(p, (uint32_t)c->tied_embeddings); p += 4;
    put_u32(p, (uint32_t)c->n_labels);
    put_u32(b + QM_OFF_MASK, h->mask);
    put_u32(b + QM_OFF_KIND, (uint32_t)h->fmt.kind);
    put_u32(b + QM_OFF_BITS, (uint32_t)h->fmt.bits);
    put_u32(b + QM_OFF_BLOCK, (uint32_t)h->fmt.block);
    put_u32(b + QM_OFF_DQ, (uint32_t)h->fmt.double_quant);
    put_u32(b + QM_OFF_NPACKED, h->n_packed);
    put_u64(b + QM_OFF_NF32, h->n_f32);
    put_u64(b + QM_OFF_PBYTES, h->packed_bytes);
    put_u64(b + QM_OFF_FBYTES, h->file_bytes);
}

// Parse and validate a header read from path (whose size is file_size bytes).
static int header_decode(const uint8_t *b, const char *path, int64_t file_size, qm_header *h, qp_status *st) {
    if (memcmp(b, QMODEL_MAGIC, 8) != 0)
        return qp_fail(st, "%s: not a qpeft quantized model: expected magic \"%s\", found bytes %02x %02x %02x %02x %02x %02x %02x %02x",
                       path, QMODEL_MAGIC, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    uint32_t ver = get_u32(b + QM_OFF_VERSION), hb = get_u32(b + QM_OFF_HBYTES);
    if (ver != QMODEL_VERSION) return qp_fail(st, "%s: expected quantized-model version %u, found %u", path, QMODEL_VERSION, ver);
    if (hb != QMODEL_HEADER_BYTES) return qp_fail(st, "%s: expected a %d-byte header, found %u", path, QMODEL_HEADER_BYTES, hb);
    for (int i = QM_OFF_RES1; i < QMODEL_HEADER_BYTES; i++)
        if (b[i]) return qp_fail(st, "%s: reserved header byte %d must be 0, found %u", path, i, b[i]);
    if (get_u32(b + QM_OFF_RES0)) return qp_fail(st, "%s: reserved header field at byte %d must be 0", path, QM_OFF_RES0);
    ModelConfig *c = &h->cfg;
    memset(c, 0, sizeof *c);
    const uint8_t *p = b + QM_OFF_CFG;
    int *iv[] = {&c->dim, &c->hidden_dim, &c->n_layers, &c->n_heads, &c->n_kv_heads, &c->vocab_size, &c->max_seq_len};
    for (int i = 0; i < 7; i++, p += 4) *iv[i] = (int32_t)get_u32(p);
    c->norm_eps = get_f32(p); p += 4;
    c->rope_theta = get_f32(p); p += 4;
    c->tied_embeddings = (int32_t)get_u32(p); p += 4;
    c->n_labels = (int32_t)get_u32(p);
    if (config_validate(c, path, st)) return -1;
    h->mask = get_u32(b + QM_OFF_MASK);
    if (h->mask == 0 || h->mask >> LIN_COUNT)
        return qp_fail(st, "%s: quantized-module mask must be a non-empty subset of bits 0..%d, found 0x%x", path,
                       LIN_COUNT - 1, h->mask);
    uint32_t kind = get_u32(b + QM_OFF_KIND), bits = get_u32(b + QM_OFF_BITS), block = get_u32(b + QM_OFF_BLOCK);
    uint32_t dq = get_u32(b + QM_OFF_DQ);
    if (kind == QUANT_F32 || kind >= QUANT_KIND_COUNT)
        return qp_fail(st, "%s: unknown quantization format id %u (expected %d..%d)", path, kind, QUANT_F32 + 1, QUANT_KIND_COUNT - 1);
    if (bits > 64 || block > INT_MAX || dq > 1)
        return qp_fail(st, "%s: bad format fields (bits %u, block %u, double_quant %u)", path, bits, block, dq);
    h->fmt = (quant_format){(quant_kind)kind, (int)bits, (int)block, (int)dq};
    qp_status fs = {0};
    if (quant_format_check(&h->fmt, &fs)) return qp_fail(st, "%s: %s", path, fs.msg);
    h->n_packed = get_u32(b + QM_OFF_NPACKED);
    uint32_t want_packed = (uint32_t)(c->n_layers * popcount(h->mask));
    if (h->n_packed != want_packed)
        return qp_fail(st, "%s: expected %u packed tensors (%d layers x %d kinds), found %u", path, want_packed, c->n_layers,
                       popcount(h->mask), h->n_packed);
    h->n_f32 = get_u64(b + QM_OFF_NF32);
    size_t want_f32 = fp32_floats(c, h->mask);
    if (h->n_f32 != want_f32)
        return qp_fail(st, "%s: expected %zu fp32 values for this config and module set, found %llu", path, want_f32,
                       (unsigned long long)h->n_f32);
    h->packed_bytes = get_u64(b + QM_OFF_PBYTES);
    h->file_bytes = get_u64(b + QM_OFF_FBYTES);
    uint64_t want_file = QMODEL_HEADER_BYTES + h->n_f32 * 4 + h->packed_bytes;
    if (h->packed_bytes > (uint64_t)INT64_MAX / 2 || h->file_bytes != want_file)
        return qp_fail(st, "%s: header sizes disagree: %d + 4*%llu + %llu bytes != file bytes %llu", path, QMODEL_HEADER_BYTES,
                       (unsigned long long)h->n_f32, (unsigned long long)h->packed_bytes, (unsigned long long)h->file_bytes);
    if (h->packed_bytes < (uint64_t)h->n_packed * QT_HEADER_BYTES)
        return qp_fail(st, "%s: %u packed tensors need at least %llu bytes, header declares %llu", path, h->n_packed,
                       (unsigned long long)h->n_packed * QT_HEADER_BYTES, (unsigned long long)h->packed_bytes);
    if (file_size >= 0 && (uint64_t)file_size < h->file_bytes)
        return qp_fail(st, "%s: truncated: expected %llu bytes, found %lld", path, (unsigned long long)h->file_bytes,
                       (long long)file_size);
    if (file_size >= 0 && (uint64_t)file_size > h->file_bytes)
        return qp_fail(st, "%s: %lld trailing bytes after the declared end (%llu bytes)", path,
                       (long long)((uint64_t)file_size - h->file_bytes), (unsigned long long)h->file_bytes);
    return 0;
}

// Open path and read its validated header; *fp_out is left positioned after it (or NULL
// when fp_out is NULL).
static int open_header(const char *path, qm_header *h, FILE **fp_out, qp_status *st) {
    struct stat sb;
    if (stat(path, &sb) != 0) return qp_fail(st, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return qp_fail(st, "%s: not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return qp_fail(st, "%s: cannot open: %s", path, strerror(errno));
    uint8_t b[QMODEL_HEADER_BYTES];
    size_t got = fread(b, 1, sizeof b, fp);
    if (got != sizeof b) {
        fclose(fp);
        return qp_fail(st, "%s: truncated header: expected %d bytes, found %zu", path, QMODEL_HEADER_BYTES, got);
    }
    if (header_decode(b, path, (int64_t)sb.st_size, h, st)) { fclose(fp); return -1; }
    if (fp_out) *fp_out = fp;
    else fclose(fp);
    return 0;
}

int qmodel_is_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    char b[8];
    int yes = fread(b, 1, 8, fp) == 8 && !memcmp(b, QMODEL_MAGIC, 8);
    fclose(fp);
    return yes;
}

int qmodel_read_header(const char *path, ModelConfig *cfg, unsigned *mask, quant_format *fmt, qp_status *st) {
    qm_header h;
    if (open_header(path, &h, NULL, st)) return -1;
    if (cfg) *cfg = h.cfg;
    if (mask) *mask = h.mask;
    if (fmt) *fmt = h.fmt;
    return 0;
}

// ---- save ---------------------------------------------------------------------------------

// Check the tensors a save is given against the config and mask; fills h.
static int save_plan(const ModelConfig *cfg, QuantTensor *const *qbase, unsigned mask, const char *path, qm_header *h,
                     qp_status *st) {
    memset(h, 0, sizeof *h);
    if (config_validate(cfg, path, st)) return -1;
    if (mask == 0 || mask >> LIN_COUNT) return qp_fail(st, "%s: module mask must be a non-empty subset of bits 0..%d, got 0x%x", path, LIN_COUNT - 1, mask);
    h->cfg = *cfg;
    h->mask = mask;
    int first = 1;
    for (int l = 0; l < cfg->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantTensor *q = qbase[l * LIN_COUNT + k];
            if (!(mask >> k & 1u)) {
                if (q) return qp_fail(st, "%s: layer %d %s is packed but not in the module mask", path, l, lin_names[k]);
                continue;
            }
            if (!q) return qp_fail(st, "%s: layer %d %s has no packed base", path, l, lin_names[k]);
            int out, in;
            model_lin_shape(cfg, k, &out, &in);
            if (quant_tensor_rows(q) != out || quant_tensor_cols(q) != in)
                return qp_fail(st, "%s: layer %d %s: expected a %d x %d tensor, got %d x %d", path, l, lin_names[k], out, in,
                               quant_tensor_rows(q), quant_tensor_cols(q));
            const quant_format *f = quant_tensor_format(q);
            if (first) h->fmt = *f;
            else if (!same_format(f, &h->fmt)) {
                char a[64], b[64];
                return qp_fail(st, "%s: every packed base must share one format: %s, then %s at layer %d %s", path,
                               quant_format_name(&h->fmt, a, sizeof a), quant_format_name(f, b, sizeof b), l, lin_names[k]);
            }
            if (f->kind == QUANT_F32) return qp_fail(st, "%s: layer %d %s: an f32 tensor is not a packed base", path, l, lin_names[k]);
            first = 0;
            h->n_packed++;
            h->packed_bytes += tensor_image_bytes(q);
        }
    h->n_f32 = fp32_floats(cfg, mask);
    h->file_bytes = QMODEL_HEADER_BYTES + h->n_f32 * 4 + h->packed_bytes;
    return 0;
}

int qmodel_save(const char *path, const ModelConfig *cfg, const ModelWeights *w, QuantTensor *const *qbase,
                unsigned mask, qp_status *st) {
    if (!host_is_le()) return qp_fail(st, "%s: qpeft quantized model files are little-endian; this host is not", path);
    if (!config_is_plain_llama(cfg))  // the v1 header has no field for them
        return qp_fail(st, "%s: a .qm file cannot yet carry head_dim, rope_scaling or model_type %s; keep the HF directory",
                       path, config_family_name(cfg->family));
    qm_header h;
    if (save_plan(cfg, qbase, mask, path, &h, st)) return -1;
    size_t tl = strlen(path) + 32;
    char *tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) { qp_fail(st, "%s: cannot create: %s", tmp, strerror(errno)); free(tmp); return -1; }
    uint8_t b[QMODEL_HEADER_BYTES];
    header_encode(&h, b);
    int bad = fwrite(b, 1, sizeof b, fp) != sizeof b;
    f32_span s[QM_MAX_SPANS];
    int ns = fp32_spans(cfg, w, mask, s);
    for (int i = 0; i < ns && !bad; i++) bad = fwrite(s[i].p, sizeof(float), s[i].n, fp) != s[i].n;
    qp_status ts = {0};
    for (int l = 0; l < cfg->n_layers && !bad; l++)
        for (int k = 0; k < LIN_COUNT && !bad; k++)
            if (mask >> k & 1u) bad = quant_tensor_write(qbase[l * LIN_COUNT + k], fp, tmp, &ts) != 0;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) bad = 1;
    int err = errno;
    if (fclose(fp) != 0) { bad = 1; err = errno; }
    if (!bad && rename(tmp, path) != 0) { bad = 1; err = errno; }
    if (bad) {
        unlink(tmp);
        qp_fail(st, "%s: cannot write: %s", path, ts.failed ? ts.msg : strerror(err));
    }
    free(tmp);
    return bad ? -1 : 0;
}

// ---- load ---------------------------------------------------------------------------------

void qmodel_free_bases(QuantTensor **qbase, int n_layers) {
    if (!qbase) return;
    for (int i = 0; i < n_layers * LIN_COUNT; i++) quant_tensor_free(qbase[i]);
    free(qbase);
}

int qmodel_load(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase_out, unsigned *mask_out,
                qp_status *st) {
    if (!host_is_le()) return qp_fail(st, "%s: qpeft quantized model files are little-endian; this host is not", path);
    qm_header h;
    FILE *fp = NULL;
    if (open_header(path, &h, &fp, st)) return -1;
    const ModelConfig *c = &h.cfg;
    ModelWeights mw;
    if (weights_alloc(&mw, c, st)) { fclose(fp); return -1; }
    QuantTensor **qb = xcalloc((size_t)c->n_layers * LIN_COUNT, sizeof *qb);
    f32_span s[QM_MAX_SPANS];
    int ns = fp32_spans(c, &mw, h.mask, s);
    for (int i = 0; i < ns; i++)
        if (fread(s[i].p, sizeof(float), s[i].n, fp) != s[i].n) {
            qp_fail(st, "%s: truncated fp32 tensors (expected %llu values)", path, (unsigned long long)h.n_f32);
            goto fail;
        }
    if (c->tied_embeddings) mw.lm_head = mw.tok_emb;
    uint64_t used = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(h.mask >> k & 1u)) continue;
            char what[4200];
            snprintf(what, sizeof what, "%s: layer %d %s", path, l, lin_names[k]);
            QuantTensor *q = quant_tensor_read(fp, what, st);
            if (!q) goto fail;
            qb[l * LIN_COUNT + k] = q;
            int out, in;
            model_lin_shape(c, k, &out, &in);
            if (quant_tensor_rows(q) != out || quant_tensor_cols(q) != in) {
                qp_fail(st, "%s: expected shape %d x %d, found %d x %d", what, out, in, quant_tensor_rows(q), quant_tensor_cols(q));
                goto fail;
            }
            if (!same_format(quant_tensor_format(q), &h.fmt)) {
                char a[64], b[64];
                qp_fail(st, "%s: expected format %s (the file header's), found %s", what, quant_format_name(&h.fmt, a, sizeof a),
                        quant_format_name(quant_tensor_format(q), b, sizeof b));
                goto fail;
            }
            used += tensor_image_bytes(q);
            if (used > h.packed_bytes) {
                qp_fail(st, "%s: packed tensors exceed the declared %llu bytes", what, (unsigned long long)h.packed_bytes);
                goto fail;
            }
            quant_dequantize_rows(q, 0, out, model_lin_weight(&mw, c, l, k));
        }
    if (used != h.packed_bytes) {
        qp_fail(st, "%s: packed tensors hold %llu bytes, header declares %llu", path, (unsigned long long)used,
                (unsigned long long)h.packed_bytes);
        goto fail;
    }
    fclose(fp);
    *cfg = h.cfg;
    *w = mw;
    if (mask_out) *mask_out = h.mask;
    if (qbase_out) *qbase_out = qb;
    else qmodel_free_bases(qb, c->n_layers);
    return 0;
fail:
    fclose(fp);
    qmodel_free_bases(qb, c->n_layers);
    weights_free(&mw);
    return -1;
}

void qmodel_install(Model *m, QuantTensor ***qbase) {
    if (!*qbase) return;
    for (int i = 0; i < m->cfg.n_layers * LIN_COUNT; i++) {
        QuantTensor *q = (*qbase)[i];
        if (!q) continue;
        quant_tensor_free(m->qbase[i]);
        m->qbase[i] = q;
    }
    free(*qbase);
    *qbase = NULL;
}
