// core/status.c — qp_status helpers. Tested through every loader's error tests.
#include "core/status.h"
#include "core/check.h"
#include <stdarg.h>
#include <stdio.h>

int qp_fail(qp_status *st, const char *fmt, ...) {
    if (!st) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    st->failed = 1;
    return -1;
}

void qp_check_status(const qp_status *st) {
    if (st->failed) qp_die("%s", st->msg);
}
