// core/status.h — status + message returned by library functions that can fail on user input
// (GSL style), so tests can provoke every failure and the CLI prints one clear line.
#ifndef QP_CORE_STATUS_H
#define QP_CORE_STATUS_H
#include <stddef.h>

typedef struct {
    int failed;      // 0 = ok
    char msg[1024];  // "<file>: <what was expected>, found <what>"
} qp_status;

// Record a failure (printf-style) and return -1, so callers can `return qp_fail(st, ...)`.
int qp_fail(qp_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Copy src into dst (cap bytes, always terminated) with every control character written as an
// escape (\n, \r, \t, \xHH), so a message that quotes user data (a JSON string with an escaped
// newline, a TSV cell) stays one line. qp_fail and the CLI's error/warning lines use it.
void qp_one_line(char *dst, size_t cap, const char *src);
// Die with st->msg if st->failed (CLI convenience).
void qp_check_status(const qp_status *st);
#endif
