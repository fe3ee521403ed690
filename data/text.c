// data/text.c — plain-text LM stream: lines -> [BOS]+tokens, concatenated, cut into windows.
// Tested by tests/test_data.c (README's N and window count; windows against the stream).
#include "data/text.h"
#include "core/check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }

int text_load(text_stream *ts, const char *path, const Tokenizer *tok, qp_status *st) {
    memset(ts, 0, sizeof *ts);
    int bos = tok_bos_id(tok);
    if (bos < 0) return qp_fail(st, "%s: the tokenizer has no BOS id, which starts every line", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return qp_fail(st, "%s: cannot open text file: %s", path, strerror(errno));
    fclose(fp);
    size_t len;
    char *buf = qp_read_file(path, &len);
    size_t cap = 1 << 16;
    int64_t n = 0;
    int *tokens = xmalloc(cap * sizeof(int));
    for (char *s = buf, *end = buf + len; s < end;) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        while (s < e && is_ascii_space(*s)) s++;
        while (e > s && is_ascii_space(e[-1])) e--;
        if (e > s) {
            *e = '\0';  // in bounds: e <= the line's '\n' or the buffer's NUL
            int *ids, k;
            if (tok_encode(tok, s, 1, &ids, &k, st)) { free(tokens); free(buf); return -1; }
            while ((size_t)n + (size_t)k > cap) { cap *= 2; tokens = xrealloc(tokens, cap * sizeof(int)); }
            memcpy(tokens + n, ids, (size_t)k * sizeof(int));
            n += k;
            ts->n_docs++;
            free(ids);
        }
        s = next;
    }
    free(buf);
    if (n == 0) { free(tokens); return qp_fail(st, "%s: no non-empty lines of text", path); }
    ts->tokens = xrealloc(tokens, (size_t)n * sizeof(int));
    ts->n_tokens = n;
    return 0;
}

int64_t text_n_windows(const text_stream *ts, int T) {
    if (T <= 0 || ts->n_tokens < (int64_t)T + 1) return 0;
    return (ts->n_tokens - 1) / T;
}

void text_fill_batch(const text_stream *ts, int T, const int64_t *windows, int nb, int *inputs, int *targets) {
    int64_t nw = text_n_windows(ts, T);
    for (int b = 0; b < nb; b++) {
        QP_ASSERT(windows[b] >= 0 && windows[b] < nw);
        memcpy(inputs + (size_t)b * T, text_window_inputs(ts, T, windows[b]), (size_t)T * sizeof(int));
        memcpy(targets + (size_t)b * T, text_window_targets(ts, T, windows[b]), (size_t)T * sizeof(int));
    }
}

void text_free(text_stream *ts) {
    free(ts->tokens);
    memset(ts, 0, sizeof *ts);
}
