// core/progress.c — see progress.h.
#include "core/progress.h"
#include "core/check.h"
#include <stdio.h>
#include <unistd.h>

void progress_start(qp_progress *p, const char *label, int64_t total) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->done = 0;
    p->t0 = qp_now();
    p->last_draw = 0;
    p->tty = !qp_quiet && isatty(2);
}

static void draw(const qp_progress *p, double now) {
    const int width = 30;
    double frac = (double)p->done / p->total;
    int fill = (int)(frac * width + 0.5);
    double el = now - p->t0, eta = p->done > 0 ? el * (p->total - p->done) / p->done : 0;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld %3.0f%% %.0fs, ETA %.0fs ", (long long)p->done, (long long)p->total, 100 * frac, el, eta);
    fflush(stderr);
}

void progress_update(qp_progress *p, int64_t done) {
    p->done = done;
    if (!p->tty) return;
    double now = qp_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = now;
    draw(p, now);
}

void progress_end(qp_progress *p) {
    if (p->tty) fprintf(stderr, "\r\033[K");
    p->tty = 0;
}
