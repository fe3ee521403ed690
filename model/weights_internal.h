// model/weights_internal.h — helpers shared by the weight loaders (not part of the public API).
// Tested through tests/test_loaders.c.
#ifndef QP_MODEL_WEIGHTS_INTERNAL_H
#define QP_MODEL_WEIGHTS_INTERNAL_H
#include <stddef.h>
#include "core/status.h"
#include "model/weights.h"

// Fail with "<path>: finite values in <tensor>, found <nan|inf> at layer l, element i" when
// x[0..n) holds a NaN or infinity. per_layer > 0 splits the index into (layer, element).
int weights_check_finite(const float *x, size_t n, size_t per_layer, const char *path, const char *tensor, qp_status *st);
// The same for a slice whose first element has index `first` in the whole tensor.
int weights_check_finite_at(const float *x, size_t n, size_t first, size_t per_layer, const char *path,
                            const char *tensor, qp_status *st);
// Read exactly n bytes at off (pread loop: short reads are legal).
int weights_pread_exact(int fd, void *p, size_t n, size_t off, const char *path, qp_status *st);

// A WeightsSource is a reader behind two calls (model/load_hf.c, model/load_llama2c.c).
struct WeightsSource {
    int (*read)(void *impl, int t, int l, float *dst, qp_status *st);
    void (*close)(void *impl);
    void *impl;
};
int weights_hf_open(const char *dir, ModelConfig *c, WeightsSource **out, qp_status *st);
// open + weights_source_load + close, with the given opener.
typedef int (*weights_open_fn)(const char *path, ModelConfig *c, WeightsSource **out, qp_status *st);
int weights_load_via(weights_open_fn open_fn, const char *path, ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                     qp_status *st);
int weights_llama2c_open(const char *path, ModelConfig *c, WeightsSource **out, qp_status *st);
// In-place little-endian -> host conversion of n 32-bit words (a no-op on little-endian hosts).
void weights_le32_to_host(void *p, size_t n);
#endif
