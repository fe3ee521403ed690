// quant/qer.h — QER's merge on codes: an MXINT-k base plus a correction given on the base's own
// grid (integer steps of each block's shared exponent) becomes a packed MXINT-k tensor with the
// SAME exponents, by integer addition of signed codes, clamped to the format's range and counted.
// Rule and exactness in docs/methods.md ("QER"). Tested by tests/test_qer.c.
//
// Signed code of an MXINT-k element: v = ±m (sign-magnitude code, m in 0..M, M = 2^(k−1)−1);
// its value is v·Δ with Δ = 2^(e−(k−2)), e the block's shared exponent. A correction P (fp64)
// becomes d = rint(P/Δ) (half to even; P/Δ is exact in double: Δ is a power of two), and the
// merged signed code is clamp(v + d, −M, M). Overflow = v + d outside [−M, M].
#ifndef QP_QUANT_QER_H
#define QP_QUANT_QER_H
#include <stdint.h>
#include "core/status.h"
#include "quant/quant.h"

// Correction codes are saturated to ±QUANT_QER_D_MAX before the addition (|d| larger than 2M
// already overflows; the bound only keeps the int32 arithmetic and the counts well defined).
#define QUANT_QER_D_MAX (1 << 20)

typedef struct {
    int64_t n_codes;      // elements merged
    int64_t n_changed;    // merged code's value differs from the base's
    int64_t n_overflow;   // v + d outside [−M, M] (clamped to the nearest end)
    int64_t max_excess;   // largest |v + d| − M over the overflowed elements (0 if none)
} quant_qer_count;

// Is f a format QER can merge in (MXINT-k, any legal block)? Else -1 with one line naming it.
int quant_qer_check_format(const quant_format *f, qp_status *st);
// Signed code v in [−M, M] of element (r, j) and the exponent e of its block (MXINT only).
int quant_qer_signed_code(const QuantTensor *q, int r, int j);
int quant_qer_block_exponent(const QuantTensor *q, int r, int b);

// d (rows, cols) = clamp(rint(P / Δ), ±QUANT_QER_D_MAX) for P (rows, cols) in the base's blocks.
void quant_qer_correction_codes(const QuantTensor *base, const double *P, int32_t *d);
// The merged tensor: base's format, shape and exponent bytes, codes clamp(v + d, −M, M) (value 0
// is always stored as code 0, never −0). cnt (may be NULL) gets the counts. Caller frees.
// d NULL: a byte-exact copy of base.
QuantTensor *quant_qer_merge_codes(const QuantTensor *base, const int32_t *d, quant_qer_count *cnt);
// ---- quantized adapters, as training and the merge both form them ------------------------------
// out (rows, cols) = dq(q(w)) in MXINT format f (blocks of f->block along each row), allocating
// nothing; equal to quant_fake(out, w, rows, cols, f) bit for bit. f must be MXINT.
void quant_qer_fake(float *out, const float *w, int rows, int cols, const quant_format *f);
// The correction codes of quantized adapters Aq (R, cols) and Bq (rows, R) with scale s over base
// (rows, cols): P[o,j] = s·Σ_r Bq[o,r]·Aq[r,j] formed in double, r = 0..R−1 in order, the sum
// multiplied by s last (each product of two MXINT values is exact in double; the sum is exact
// unless one dot product spans more than ~30 binades — deterministic either way, element by
// element, so the thread split never matters), then d = rint(P/Δ) as quant_qer_correction_codes.
void quant_qer_adapter_codes(const QuantTensor *base, const float *Aq, const float *Bq, int R, float s, int32_t *d);
// The QER weight of those adapters, out (rows, cols) = clamp(v + d, −M, M)·Δ with d as above — the
// one function both the training forward (model/linear.c, --adapter-quant same) and the merge's
// unmerged reference (init/qer.h) call. Equal bit for bit to quant_qer_effective(base, d) and to
// dq(quant_qer_merge_codes(base, d)) (0 always +0). Allocates nothing; OpenMP over rows.
void quant_qer_adapter_weight(const QuantTensor *base, const float *Aq, const float *Bq, int R, float s, float *out);

// The unmerged QER weight in fp32, computed WITHOUT the merged tensor: out = dq(base) +
// (clamp(v + d) − v)·Δ, element by element. Both terms are integers times Δ and so is their sum
// (|sum| ≤ M·Δ), so the addition is exact in fp32 and equals dq(quant_qer_merge_codes(base, d))
// bit for bit; tests/test_qer.c checks that with memcmp. out (rows, cols).
void quant_qer_effective(const QuantTensor *base, const int32_t *d, float *out);
#endif
