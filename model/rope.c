// model/rope.c — rotary position embedding in llama2.c's interleaved-pair layout: tables,
// in-place forward and backward. Tested by tests/test_layers.c (float64 reference, norm
// preservation, identity at position 0, finite differences).
#include "model/layers.h"
#include "core/check.h"
#include <math.h>

// transformers' _compute_llama3_parameters / _compute_linear_scaling_rope_parameters on one
// inverse frequency (float64 here; HF computes in fp32, a relative difference near 1e-7).
static double rope_scale(double inv_freq, const RopeScaling *sc) {
    if (!sc || sc->kind == ROPE_SCALING_NONE) return inv_freq;
    if (sc->kind == ROPE_SCALING_LINEAR) return inv_freq / sc->factor;
    double old_ctx = sc->original_max_pos, wavelen = 2.0 * M_PI / inv_freq;
    double low_wavelen = old_ctx / sc->low_freq_factor, high_wavelen = old_ctx / sc->high_freq_factor;
    if (wavelen > low_wavelen) return inv_freq / sc->factor;  // low frequencies: interpolated
    if (wavelen < high_wavelen) return inv_freq;              // high frequencies: kept
    double smooth = (old_ctx / wavelen - sc->low_freq_factor) / (sc->high_freq_factor - sc->low_freq_factor);
    return (1.0 - smooth) * inv_freq / sc->factor + smooth * inv_freq;
}

void rope_table(float *cos_t, float *sin_t, int T_max, int HS, float theta, const RopeScaling *sc, int llama2c_f32) {
    QP_ASSERT(HS % 2 == 0);
    QP_ASSERT(!llama2c_f32 || !sc || sc->kind == ROPE_SCALING_NONE);
    int P = HS / 2;
    for (int p = 0; p < T_max; p++) {
        for (int i = 0; i < P; i++) {
            size_t o = (size_t)p * P + i;
            if (llama2c_f32) {
                // exactly run.c: freq = 1 / powf(theta, head_dim / (float)head_size), head_dim = 2i
                float freq = 1.0f / powf(theta, (float)(2 * i) / (float)HS);
                float val = (float)p * freq;
                cos_t[o] = cosf(val);
                sin_t[o] = sinf(val);
            } else {
                double freq = rope_scale(1.0 / pow((double)theta, (double)(2 * i) / (double)HS), sc);
                double val = (double)p * freq;
                cos_t[o] = (float)cos(val);
                sin_t[o] = (float)sin(val);
            }
        }
    }
}

// Rotate every pair of every head of every token by +angle (dir = 1) or -angle (dir = -1).
// A rotation by -angle is the transpose of the rotation by +angle, which is why the same loop
// gives the backward: d/dx (R x) applied to dy is Rᵀ dy.
static void rope_rotate(float *x, const float *cos_t, const float *sin_t, int B, int T, int NX, int HS, int pos0,
                        float dir) {
    QP_ASSERT(HS % 2 == 0 && pos0 >= 0);
    int P = HS / 2;
    size_t BT = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < BT; bt++) {
        int t = (int)(bt % (size_t)T);
        const float *cs = cos_t + (size_t)(pos0 + t) * P, *sn = sin_t + (size_t)(pos0 + t) * P;
        float *row = x + bt * (size_t)NX * HS;
        for (int h = 0; h < NX; h++) {
            float *v = row + (size_t)h * HS;
            for (int i = 0; i < P; i++) {
                float c = cs[i], s = dir * sn[i];
                float v0 = v[2 * i], v1 = v[2 * i + 1];
                v[2 * i] = v0 * c - v1 * s;
                v[2 * i + 1] = v0 * s + v1 * c;
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NX, int HS, int pos0) {
    rope_rotate(x, cos_t, sin_t, B, T, NX, HS, pos0, 1.0f);
}

// y0 = x0 c - x1 s, y1 = x0 s + x1 c  =>  dx0 = dy0 c + dy1 s, dx1 = -dy0 s + dy1 c (rotation by -angle).
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NX, int HS, int pos0) {
    rope_rotate(dx, cos_t, sin_t, B, T, NX, HS, pos0, -1.0f);
}
