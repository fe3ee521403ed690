// quant/io.c — serialisation of one QuantTensor: a 64-byte little-endian header, then its
// sections. Tested by tests/test_quant.c (round trip, truncation, bad kind/block/sizes).
#include "quant/quant_internal.h"
#include "core/check.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

// Header, every field little-endian (docs/quantization.md):
//   0  char[4] magic "QTNS"      4  u32 version (1)     8  u32 kind (quant_kind id)
//  12  u32 bits                  16  u32 block          20  u32 double_quant
//  24  u32 rows                  28  u32 cols
//  32  u64 bytes of section 0..3 (codes, scale, aux, aux2)         = 64 bytes
#define QT_MAGIC "QTNS"
#define QT_VERSION 1u
enum { QT_OFF_VERSION = 4, QT_OFF_KIND = 8, QT_OFF_BITS = 12, QT_OFF_BLOCK = 16, QT_OFF_DQ = 20,
       QT_OFF_ROWS = 24, QT_OFF_COLS = 28, QT_OFF_SEC = 32, QT_HEADER_BYTES = 64 };
_Static_assert(QT_OFF_SEC + 8 * QUANT_SEC_COUNT == QT_HEADER_BYTES, "header layout: 32 bytes of u32 + 4 u64");

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i); return v; }

static const char *const SEC_NAMES[QUANT_SEC_COUNT] = {"codes", "scale", "aux", "aux2"};

int quant_tensor_write(const QuantTensor *q, FILE *fp, const char *what, qp_status *st) {
    uint8_t h[QT_HEADER_BYTES] = {0};
    memcpy(h, QT_MAGIC, 4);
    put_u32(h + QT_OFF_VERSION, QT_VERSION);
    put_u32(h + QT_OFF_KIND, (uint32_t)q->fmt.kind);
    put_u32(h + QT_OFF_BITS, (uint32_t)q->fmt.bits);
    put_u32(h + QT_OFF_BLOCK, (uint32_t)q->fmt.block);
    put_u32(h + QT_OFF_DQ, (uint32_t)q->fmt.double_quant);
    put_u32(h + QT_OFF_ROWS, (uint32_t)q->rows);
    put_u32(h + QT_OFF_COLS, (uint32_t)q->cols);
    for (int i = 0; i < QUANT_SEC_COUNT; i++) put_u64(h + QT_OFF_SEC + 8 * i, q->sec_bytes[i]);
    if (fwrite(h, 1, sizeof h, fp) != sizeof h) return qp_fail(st, "%s: cannot write quantized tensor header", what);
    for (int i = 0; i < QUANT_SEC_COUNT; i++)
        if (q->sec_bytes[i] && fwrite(q->sec[i], 1, q->sec_bytes[i], fp) != q->sec_bytes[i])
            return qp_fail(st, "%s: cannot write the %s section (%zu bytes)", what, SEC_NAMES[i], q->sec_bytes[i]);
    return 0;
}

// Bytes left in a seekable file, or -1 when it cannot be told (a pipe).
static int64_t bytes_left(FILE *fp) {
    off_t cur = ftello(fp);
    if (cur < 0 || fseeko(fp, 0, SEEK_END) != 0) return -1;
    off_t end = ftello(fp);
    if (fseeko(fp, cur, SEEK_SET) != 0 || end < cur) return -1;
    return (int64_t)(end - cur);
}

// Header fields -> validated format and shape.
static int parse_header(const uint8_t *h, const char *what, quant_format *f, int *rows, int *cols, qp_status *st) {
    if (memcmp(h, QT_MAGIC, 4) != 0)
        return qp_fail(st, "%s: expected quantized-tensor magic \"QTNS\", found bytes %02x %02x %02x %02x", what, h[0], h[1], h[2], h[3]);
    uint32_t ver = get_u32(h + QT_OFF_VERSION), kind = get_u32(h + QT_OFF_KIND);
    if (ver != QT_VERSION) return qp_fail(st, "%s: expected quantized-tensor version %u, found %u", what, QT_VERSION, ver);
    if (kind >= QUANT_KIND_COUNT) return qp_fail(st, "%s: unknown quantization kind id %u (expected 0..%d)", what, kind, QUANT_KIND_COUNT - 1);
    uint32_t bits = get_u32(h + QT_OFF_BITS), block = get_u32(h + QT_OFF_BLOCK), dq = get_u32(h + QT_OFF_DQ);
    uint32_t r = get_u32(h + QT_OFF_ROWS), c = get_u32(h + QT_OFF_COLS);
    if (bits > 64 || block > INT_MAX || dq > 1)
        return qp_fail(st, "%s: bad format fields (bits %u, block %u, double_quant %u)", what, bits, block, dq);
    if (r > INT_MAX || c > INT_MAX) return qp_fail(st, "%s: shape %u x %u exceeds %d", what, r, c, INT_MAX);
    *f = (quant_format){(quant_kind)kind, (int)bits, (int)block, (int)dq};
    qp_status fs = {0};
    if (quant_format_check(f, &fs)) return qp_fail(st, "%s: %s", what, fs.msg);
    *rows = (int)r;
    *cols = (int)c;
    return 0;
}

// Values a writer never produces: E8M0 byte 255 (NaN in E8M0) and zero points past 2^k-1.
static int check_contents(const QuantTensor *q, const char *what, qp_status *st) {
    size_t nb = (size_t)q->rows * q->nblk;
    for (size_t i = 0; i < nb && q->fmt.kind == QUANT_MXINT; i++)
        if (q->sec[QUANT_SEC_SCALE][i] == 255)
            return qp_fail(st, "%s: mxint block %zu: expected an E8M0 exponent byte 0..254, found 255", what, i);
    for (size_t i = 0; i < nb && q->fmt.kind == QUANT_INT; i++)
        if (q->sec[QUANT_SEC_AUX][i] > (1u << q->fmt.bits) - 1)
            return qp_fail(st, "%s: int%d group %zu: expected a zero point 0..%u, found %u", what, q->fmt.bits, i,
                           (1u << q->fmt.bits) - 1, q->sec[QUANT_SEC_AUX][i]);
    return 0;
}

QuantTensor *quant_tensor_read(FILE *fp, const char *what, qp_status *st) {
    uint8_t h[QT_HEADER_BYTES];
    size_t got = fread(h, 1, sizeof h, fp);
    if (got != sizeof h) {
        qp_fail(st, "%s: truncated quantized-tensor header: expected %d bytes, found %zu", what, QT_HEADER_BYTES, got);
        return NULL;
    }
    quant_format f;
    int rows = 0, cols = 0;
    if (parse_header(h, what, &f, &rows, &cols, st)) return NULL;
    size_t want[QUANT_SEC_COUNT], rb, total = 0;
    if (quant_section_sizes(&f, rows, cols, want, &rb)) {
        qp_fail(st, "%s: shape %d x %d is too large or not whole %d-weight blocks", what, rows, cols, f.block);
        return NULL;
    }
    for (int i = 0; i < QUANT_SEC_COUNT; i++) {
        uint64_t have = get_u64(h + QT_OFF_SEC + 8 * i);
        if (have != want[i]) {
            char name[64];
            qp_fail(st, "%s: %s section of a %d x %d %s tensor: expected %zu bytes, found %llu", what, SEC_NAMES[i],
                    rows, cols, quant_format_name(&f, name, sizeof name), want[i], (unsigned long long)have);
            return NULL;
        }
        total += want[i];
    }
    int64_t left = bytes_left(fp);
    if (left >= 0 && (uint64_t)left < total) {
        qp_fail(st, "%s: truncated quantized tensor: expected %zu bytes of sections, found %lld", what, total, (long long)left);
        return NULL;
    }
    QuantTensor *q = quant_tensor_alloc(&f, rows, cols);
    for (int i = 0; i < QUANT_SEC_COUNT; i++) {
        if (!want[i]) continue;
        size_t n = fread(q->sec[i], 1, want[i], fp);
        if (n != want[i]) {
            qp_fail(st, "%s: truncated %s section: expected %zu bytes, found %zu", what, SEC_NAMES[i], want[i], n);
            quant_tensor_free(q);
            return NULL;
        }
    }
    if (check_contents(q, what, st)) { quant_tensor_free(q); return NULL; }
    return q;
}
