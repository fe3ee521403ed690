// core/status.c — qp_status helpers. Tested through every loader's error tests.
#include "core/status.h"
#include "core/check.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int qp_fail(qp_status *st, const char *fmt, ...) {
    if (!st) return -1;
    va_list ap;
    va_start(ap, fmt);
    char raw[sizeof st->msg];
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    qp_one_line(st->msg, sizeof st->msg, raw);
    st->failed = 1;
    return -1;
}

void qp_check_status(const qp_status *st) {
    if (st->failed) qp_die("%s", st->msg);
}

void qp_one_line(char *dst, size_t cap, const char *src) {
    size_t n = 0;
    for (; *src && n + 1 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        char esc[8];
        if (c >= 0x20 && c != 0x7f) { dst[n++] = (char)c; continue; }
        if (c == '\n') snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r') snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t') snprintf(esc, sizeof esc, "\\t");
        else snprintf(esc, sizeof esc, "\\x%02x", c);
        size_t k = strlen(esc);
        if (n + k + 1 > cap) break;
        memcpy(dst + n, esc, k);
        n += k;
    }
    if (cap) dst[n] = 0;
}
