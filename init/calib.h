// init/calib.h — calibration statistics of one linear layer's input (dimension n): row count,
// Σx², Σ|x| and optionally the full Σxᵀx, all in float64. Tested by tests/test_init.c.
#ifndef QP_INIT_CALIB_H
#define QP_INIT_CALIB_H
#include <stdint.h>

// One adapted linear's input statistics. Sums, not means, so batches (and shards from several
// threads or runs) merge by addition; the derived means divide by count on demand.
typedef struct {
    int n;             // input dimension (IC of the linear)
    int64_t count;     // rows accumulated (padding rows excluded)
    double *sum_sq;    // (n)  Σ x_i²
    double *sum_abs;   // (n)  Σ |x_i|
    double *xtx;       // (n,n) Σ xᵀx (symmetric, both triangles), NULL unless with_xtx
    double *blk;       // (CALIB_BLOCK_ROWS, n) scratch: valid rows converted to double
} CalibStats;

// Rows converted to float64 per dgemm call when accumulating Σxᵀx.
enum { CALIB_BLOCK_ROWS = 256 };

CalibStats *calib_alloc(int n, int with_xtx);
void calib_free(CalibStats *c);
void calib_reset(CalibStats *c);

// Add the rows of x (N, n) whose valid[r] is non-zero (valid NULL = all rows). Each fp32
// product x_i·x_j is exact in float64 (24+24 < 53 mantissa bits), so Σxᵀx differs from the
// exact sum only by float64 summation rounding. Deterministic for a fixed BLAS thread count.
void calib_accumulate(CalibStats *c, const float *x, int64_t N, const unsigned char *valid);
// dst += src (same n; xtx merged when both have it).
void calib_merge(CalibStats *dst, const CalibStats *src);
// Data parallel (core/dist.h): sum count, Σx², Σ|x| and Σxᵀx over every MPI rank, in float64,
// so each rank holds the statistics of all ranks' samples. Call once, when the statistics are
// complete; a no-op in a single process.
void calib_reduce(CalibStats *c);

// Derived statistics (count 0 gives zeros): out (n) E[x_i²], E[|x_i|]; R (n,n) = E[xᵀx]
// (requires xtx). calib_rms gives sqrt(E[x_i²]), the QERA-approx scale.
void calib_mean_sq(const CalibStats *c, double *out);
void calib_mean_abs(const CalibStats *c, double *out);
void calib_rms(const CalibStats *c, double *out);
void calib_second_moment(const CalibStats *c, double *R);
#endif
