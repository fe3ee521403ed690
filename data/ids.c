// data/ids.c — token ids as whitespace-separated decimal text (see data/ids.h).
// Tested by tests/test_bpe.sh.
#include "data/ids.h"
#include "core/check.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ids_parse(const char *text, size_t len, const char *what, int vocab, int **ids, int *n, qp_status *st) {
    size_t cap = 64, k = 0, i = 0;
    int *out = xmalloc(cap * sizeof(int));
    while (i < len) {
        while (i < len && isspace((unsigned char)text[i])) i++;
        if (i == len) break;
        size_t j = i;
        while (j < len && !isspace((unsigned char)text[j])) j++;
        long long v = 0;
        int ok = j - i <= 10;
        for (size_t p = i; p < j && ok; p++) {
            ok = isdigit((unsigned char)text[p]);
            v = v * 10 + (text[p] - '0');
        }
        if (!ok || v > 2147483647LL) {
            char tok[24];
            snprintf(tok, sizeof tok, "%.*s", (int)(j - i < 20 ? j - i : 20), text + i);
            free(out);
            return qp_fail(st, "%s: item %zu ('%s') is not a token id (a decimal integer >= 0)", what, k + 1, tok);
        }
        if (vocab > 0 && v >= vocab) {
            free(out);
            return qp_fail(st, "%s: item %zu: id %lld is outside the vocabulary [0, %d)", what, k + 1, v, vocab);
        }
        if (k == cap) { cap *= 2; out = xrealloc(out, cap * sizeof(int)); }
        out[k++] = (int)v;
        i = j;
    }
    if (k > 2147483647u) { free(out); return qp_fail(st, "%s: more than 2^31 ids", what); }
    *ids = out;
    *n = (int)k;
    return 0;
}

int ids_read_file(const char *path, int vocab, int **ids, int *n, qp_status *st) {
    int is_stdin = !strcmp(path, "-");
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) return qp_fail(st, "%s: cannot open: %s", path, strerror(errno));
    size_t len = 0;
    char *buf = qp_read_stream(fp, &len);
    if (!is_stdin) fclose(fp);
    const char *what = is_stdin ? "stdin" : path;
    int rc = buf ? ids_parse(buf, len, what, vocab, ids, n, st) : qp_fail(st, "%s: read error", what);
    free(buf);
    return rc;
}
