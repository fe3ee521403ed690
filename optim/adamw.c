// optim/adamw.c — AdamW step over the flat trainable block with a range decay mask.
// Tested by tests/test_optim.c (5 steps vs torch.optim.AdamW in float64, tests/oracle_optim.py).
#include "optim/adamw.h"
#include "core/check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

adamw_hparams adamw_defaults(void) {
    adamw_hparams hp = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    return hp;
}

void adamw_init(adamw_state *s, size_t n, adamw_hparams hp) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->hp = hp;
    s->m = xcalloc(n ? n : 1, sizeof(float));
    s->v = xcalloc(n ? n : 1, sizeof(float));
    s->seg = xmalloc(sizeof(adamw_segment));
    s->seg[0] = (adamw_segment){0, n, 1};
    s->n_seg = 1;
}

void adamw_free(adamw_state *s) {
    free(s->m);
    free(s->v);
    free(s->seg);
    memset(s, 0, sizeof *s);
}

static int cmp_range(const void *a, const void *b) {
    const adamw_range *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

int adamw_set_decay_ranges(adamw_state *s, const adamw_range *r, size_t count, qp_status *st) {
    adamw_range *sorted = xmalloc((count ? count : 1) * sizeof *sorted);
    if (count) memcpy(sorted, r, count * sizeof *sorted);
    for (size_t i = 0; i < count; i++)
        if (sorted[i].offset > s->n || sorted[i].len > s->n - sorted[i].offset) {
            free(sorted);
            return qp_fail(st, "adamw decay range %zu: expected [offset, offset+len) inside [0, %zu), found [%zu, +%zu)",
                           i, s->n, r[i].offset, r[i].len);
        }
    qsort(sorted, count, sizeof *sorted, cmp_range);
    for (size_t i = 1; i < count; i++)
        if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].len) {
            int rc = qp_fail(st, "adamw decay ranges: expected no overlap, found [%zu, +%zu) overlapping [%zu, +%zu)",
                             sorted[i - 1].offset, sorted[i - 1].len, sorted[i].offset, sorted[i].len);
            free(sorted);
            return rc;
        }
    // Tile [0, n): gaps decay, listed ranges take their flag; merge neighbours with equal flags.
    adamw_segment *seg = xmalloc((2 * count + 1) * sizeof *seg);
    size_t ns = 0, pos = 0;
    for (size_t i = 0; i <= count; i++) {
        size_t off = i < count ? sorted[i].offset : s->n;
        adamw_segment pieces[2] = {{pos, off - pos, 1}, {off, i < count ? sorted[i].len : 0, i < count ? (sorted[i].decay != 0) : 1}};
        for (int k = 0; k < 2; k++) {
            if (pieces[k].len == 0) continue;
            if (ns && seg[ns - 1].decay == pieces[k].decay) seg[ns - 1].len += pieces[k].len;
            else seg[ns++] = pieces[k];
        }
        if (i < count) pos = sorted[i].offset + sorted[i].len;
    }
    free(sorted);
    free(s->seg);
    s->seg = seg;
    s->n_seg = ns;
    return 0;
}

size_t adamw_decayed_count(const adamw_state *s) {
    size_t c = 0;
    for (size_t i = 0; i < s->n_seg; i++)
        if (s->seg[i].decay) c += s->seg[i].len;
    return c;
}

// The update for one contiguous segment. Scalars follow PyTorch's single-tensor AdamW:
// step_size = lr/bc1 and denom = sqrt(v)/sqrt(bc2) + eps, so eps is added after the bias
// correction of v (as m̂/(sqrt(v̂)+eps)).
static void step_segment(float *p, float *m, float *v, const float *g, size_t len, double decay_factor,
                         double b1, double b2, double step_size, double inv_sqrt_bc2, double eps) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < len; i++) {
        double pi = (double)p[i] * decay_factor;
        double gi = g[i];
        double mi = b1 * m[i] + (1.0 - b1) * gi;
        double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        // Use the stored (rounded) moments so a resumed run sees exactly what a straight run saw.
        double denom = sqrt((double)v[i]) * inv_sqrt_bc2 + eps;
        p[i] = (float)(pi - step_size * (double)m[i] / denom);
    }
}

void adamw_step(adamw_state *s, float *params, const float *grads, double lr) {
    s->t++;
    const adamw_hparams *hp = &s->hp;
    double bc1 = 1.0 - pow(hp->beta1, (double)s->t);
    double bc2 = 1.0 - pow(hp->beta2, (double)s->t);
    double step_size = lr / bc1, inv_sqrt_bc2 = 1.0 / sqrt(bc2);
    for (size_t k = 0; k < s->n_seg; k++) {
        const adamw_segment *sg = &s->seg[k];
        double decay_factor = sg->decay ? 1.0 - lr * hp->weight_decay : 1.0;
        step_segment(params + sg->offset, s->m + sg->offset, s->v + sg->offset, grads + sg->offset, sg->len,
                     decay_factor, hp->beta1, hp->beta2, step_size, inv_sqrt_bc2, hp->eps);
    }
}
