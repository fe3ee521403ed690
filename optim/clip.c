// optim/clip.c — deterministic global grad norm and clip_grad_norm_-style scaling.
// Tested by tests/test_optim.c against torch clip_grad_norm_ (float64) and across thread counts.
#include "optim/clip.h"
#include <math.h>

// The chunk layout depends only on n (never on the thread count), so the double partials and
// their in-order sum are the same for 1 or 64 threads. 256 partials fit on the stack, so no
// allocation happens in the step loop.
enum { CLIP_MAX_CHUNKS = 256, CLIP_MIN_CHUNK = 4096 };

static size_t chunk_count(size_t n) {
    size_t c = (n + CLIP_MIN_CHUNK - 1) / CLIP_MIN_CHUNK;
    if (c > CLIP_MAX_CHUNKS) c = CLIP_MAX_CHUNKS;
    return c ? c : 1;
}

double clip_grad_l2norm(const float *g, size_t n) {
    double part[CLIP_MAX_CHUNKS];
    size_t nc = chunk_count(n);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nc; c++) {
        size_t lo = n * c / nc, hi = n * (c + 1) / nc;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        part[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < nc; c++) total += part[c];
    return sqrt(total);
}

double clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = clip_grad_l2norm(g, n);
    if (max_norm <= 0.0) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {  // false for NaN too: a non-finite norm leaves g untouched
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] = (float)((double)g[i] * coef);
    }
    return norm;
}

int clip_grad_nonfinite(const float *g, size_t n) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(g[i]);
    return bad;
}
