// init/errors.h — error metrics of an initialised linear (W, W~, A, B, s): layer output error
// against calibration statistics (exact trace formula) or sample rows, and weighted Frobenius
// errors. Tested by tests/test_init.c (trace formula against sample rows, closed forms).
#ifndef QP_INIT_ERRORS_H
#define QP_INIT_ERRORS_H
#include <stdint.h>
#include "init/calib.h"

// D (OC,IC) = W~ + s·B·A − W in float64 (A (R,IC), B (OC,R); R = 0 ignores A, B).
void init_delta(double *D, const float *W, const float *Wq, const float *A, const float *B, float s,
                int OC, int IC, int R);

// E‖x(W~ + sBA)ᵀ − xWᵀ‖² / E‖xWᵀ‖² from R = E[xᵀx] (IC,IC): with D_p = Dᵀ,
// tr(D_pᵀ R D_p) / tr(W_pᵀ R W_p) = Σ_o D[o,:]·R·D[o,:]ᵀ / Σ_o W[o,:]·R·W[o,:]ᵀ.
// *num (if not NULL) gets the absolute numerator E‖x Dᵀ‖². 0/0 gives 0.
double init_output_error_R(const double *R, const float *W, const float *Wq, const float *A, const float *B,
                           float s, int OC, int IC, int Rk, double *num);
// The same with R taken from the statistics (needs xtx).
double init_output_error_stats(const CalibStats *c, const float *W, const float *Wq, const float *A,
                               const float *B, float s, int OC, int IC, int Rk, double *num);
// The same over sample rows x (N, IC) (valid NULL = all): Σ‖x_r Dᵀ‖² / Σ‖x_r Wᵀ‖².
double init_output_error_samples(const float *x, int64_t N, const unsigned char *valid, const float *W,
                                 const float *Wq, const float *A, const float *B, float s, int OC, int IC,
                                 int Rk, double *num);
// Weighted error ‖S·D_p‖²_F = Σ_{o,i} S_i² D[o,i]² (S (IC) or NULL for plain Frobenius ‖D‖²).
double init_weighted_error(const double *S, const float *W, const float *Wq, const float *A, const float *B,
                           float s, int OC, int IC, int Rk);
#endif
