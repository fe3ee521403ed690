// optim/clip.h — global gradient L2 norm, PyTorch clip_grad_norm_ scaling, non-finite check.
// Tested by tests/test_optim.c (norm vs float64 torch; thread-count independence).
#ifndef QP_OPTIM_CLIP_H
#define QP_OPTIM_CLIP_H
#include <stddef.h>

// L2 norm of g[0..n) accumulated in double. Deterministic for any thread count: the block is cut
// into a fixed set of contiguous chunks that depend only on n, each chunk's sum of squares is
// formed serially, and the partials are added in chunk order.
double clip_grad_l2norm(const float *g, size_t n);
// torch.nn.utils.clip_grad_norm_: norm = clip_grad_l2norm(g); coef = max_norm / (norm + 1e-6);
// if coef < 1, g *= coef. Returns the norm BEFORE clipping (what HF logs as grad_norm).
// max_norm <= 0 disables scaling (the norm is still returned). A non-finite norm scales nothing:
// check clip_grad_nonfinite first and skip the step.
double clip_grad_norm(float *g, size_t n, double max_norm);
// 1 if any element is NaN or +-Inf, else 0.
int clip_grad_nonfinite(const float *g, size_t n);
#endif
