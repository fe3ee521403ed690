// model/weights_internal.h — helpers shared by the weight loaders (not part of the public API).
// Tested through tests/test_loaders.c.
#ifndef QP_MODEL_WEIGHTS_INTERNAL_H
#define QP_MODEL_WEIGHTS_INTERNAL_H
#include <stddef.h>
#include "core/status.h"

// Fail with "<path>: finite values in <tensor>, found <nan|inf> at layer l, element i" when
// x[0..n) holds a NaN or infinity. per_layer > 0 splits the index into (layer, element).
int weights_check_finite(const float *x, size_t n, size_t per_layer, const char *path, const char *tensor, qp_status *st);
// In-place little-endian -> host conversion of n 32-bit words (a no-op on little-endian hosts).
void weights_le32_to_host(void *p, size_t n);
#endif
