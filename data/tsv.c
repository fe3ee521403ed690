// data/tsv.c — delimited-file reader (see tsv.h): in-place splitting of a whole-file buffer.
// Tested by tests/test_data.c (GLUE files, BOM, no trailing newline, CSV quotes, file:line).
#include "data/tsv.h"
#include "core/check.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tsv_open(tsv_reader *r, const char *path, char delim, int csv_quotes, qp_status *st) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return qp_fail(st, "%s: cannot open data file: %s", path, strerror(errno));
    fclose(fp);
    r->buf = qp_read_file(path, &r->len);
    r->delim = delim;
    r->csv_quotes = csv_quotes;
    // The MRPC files begin with a UTF-8 byte-order mark; it is not part of the first column name.
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    return 0;
}

// Split [s, end) on the delimiter in place (end is where the line's NUL goes).
static int split_plain(char *s, char delim, char **fields, int cap) {
    int n = 0;
    for (;;) {
        if (n < cap) fields[n] = s;
        n++;
        char *d = strchr(s, delim);
        if (!d) break;
        *d = '\0';
        s = d + 1;
    }
    return n;
}

// CSV with quotes: a field opening with '"' ends at a '"' not followed by '"'; "" inside is one '"'.
// The unquoted text is compacted in place.
static int split_csv(char *s, char delim, char **fields, int cap, int *bad) {
    int n = 0;
    *bad = 0;
    for (;;) {
        char *out = s, *start = s;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0') { *bad = 1; return n; }
                if (*s == '"' && s[1] == '"') { *out++ = '"'; s += 2; continue; }
                if (*s == '"') { s++; break; }
                *out++ = *s++;
            }
        }
        while (*s && *s != delim) *out++ = *s++;  // unquoted field or text after a closing quote
        int more = (*s == delim);
        *out = '\0';
        if (n < cap) fields[n] = start;
        n++;
        if (!more) break;
        s++;
    }
    return n;
}

int tsv_next(tsv_reader *r, char **fields, int cap, qp_status *st) {
    while (r->pos < r->len) {
        char *s = r->buf + r->pos;
        char *nl = memchr(s, '\n', r->len - r->pos);
        size_t l = nl ? (size_t)(nl - s) : r->len - r->pos;
        r->pos += l + (nl ? 1 : 0);
        r->line++;
        s[l] = '\0';  // the buffer is NUL-terminated, so this is in bounds even without '\n'
        if (l > 0 && s[l - 1] == '\r') s[--l] = '\0';
        if (l == 0) continue;
        if (!r->csv_quotes) return split_plain(s, r->delim, fields, cap);
        int bad;
        int n = split_csv(s, r->delim, fields, cap, &bad);
        if (bad) return qp_fail(st, "%s:%lld: unterminated '\"' quote", r->path, (long long)r->line);
        return n;
    }
    return 0;
}

char *tsv_take_buffer(tsv_reader *r) {
    char *b = r->buf;
    r->buf = NULL;
    return b;
}

void tsv_close(tsv_reader *r) {
    free(r->buf);
    r->buf = NULL;
}
