// core/progress.h — a one-line progress bar on stderr for long work (calibration, evaluation,
// perplexity, sweeps): redrawn in place on a TTY at most ~10 times a second, silent otherwise
// and under --quiet, so logs and pipes stay clean.
#ifndef QP_CORE_PROGRESS_H
#define QP_CORE_PROGRESS_H
#include <stdint.h>

typedef struct {
    const char *label;
    int64_t total, done;
    double t0, last_draw;
    int tty;
} qp_progress;

void progress_start(qp_progress *p, const char *label, int64_t total);
void progress_update(qp_progress *p, int64_t done);
// Clear the line (TTY) so the next message starts clean.
void progress_end(qp_progress *p);
#endif
