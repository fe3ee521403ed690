// tests/test_layers.c — model/layers.h kernels: every backward against central finite
// differences (fp32 kernels, scalar loss sum(out * w) accumulated in double), forwards against
// naive float64 references (attention GQA + causal, RoPE, RMSNorm, SwiGLU, cross-entropy),
// RoPE invariants, in-place paths, and bitwise thread-count invariance of every gradient.
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "model/layers.h"
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// Tiny shapes for the finite differences; C = 8 < 16 and C = 40 (thread test) both hit the
// channel-block code's partial block.
enum { B = 2, T = 5, C = 8, NH = 4, NKV = 2, HS = 4, H = 12, V = 11 };
#define QD (NH * HS)
#define KD (NKV * HS)

// Finite differences: step h = 1e-3 on fp32 inputs, the step actually taken measured in double
// ((x+h) - (x-h) after rounding). Loss noise is ~1e-7 relative per output term, so the
// quotient has ~1e-4 absolute noise; tolerance |fd - analytic| <= 2e-3 + 1e-2 |fd|.
#define FD_H 1e-3f
#define FD_ATOL 2e-3
#define FD_RTOL 1e-2
#define FD_RELNORM 3e-3

static qp_rng rng;

static float *randn(size_t n, float scale) {
    float *a = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = scale * rng_normal(&rng);
    return a;
}
static float *zeros(size_t n) { return xcalloc(n, sizeof(float)); }

static double wsum(const float *out, const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * w[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

static void fd_check(const char *name, loss_fn f, void *ctx, float *x, const float *grad, size_t n) {
    float *fd = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float keep = x[i], xp = keep + FD_H, xm = keep - FD_H;
        x[i] = xp; double lp = f(ctx);
        x[i] = xm; double lm = f(ctx);
        x[i] = keep;
        fd[i] = (float)((lp - lm) / ((double)xp - (double)xm));
    }
    tl_allclose(name, grad, fd, n, FD_ATOL, FD_RTOL);
    // and as a whole: ||analytic - fd|| / ||fd||, which a dropped term cannot hide in atol
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)grad[i] - fd[i]) * ((double)grad[i] - fd[i]);
        den += (double)fd[i] * fd[i];
    }
    double rel = sqrt(num / (den > 0 ? den : 1e-300));
    CHECK(den > 0 && rel < FD_RELNORM, "%s: relative norm error %.2e (||fd|| = %.3g)", name, rel, sqrt(den));
    free(fd);
}

static int max_abs_is_nonzero(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) if (a[i] != 0.0f) return 1;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// encoder

typedef struct { int ids[B * T]; float *emb, *w, *out; } EncCtx;
static double enc_loss(void *p) {
    EncCtx *c = p;
    encoder_forward(c->out, c->ids, c->emb, B, T, C, V);
    return wsum(c->out, c->w, B * T * C);
}

static void test_encoder(void) {
    EncCtx c;
    for (int i = 0; i < B * T; i++) c.ids[i] = (int)rng_below(&rng, 4) * 2;  // repeated ids: accumulation
    c.emb = randn(V * C, 2.385f); c.w = randn(B * T * C, 1.3f); c.out = zeros(B * T * C);
    enc_loss(&c);
    int ok = 1;
    for (int i = 0; i < B * T; i++)
        if (memcmp(c.out + i * C, c.emb + c.ids[i] * C, C * sizeof(float))) ok = 0;
    CHECK(ok, "encoder_forward copies the embedding rows");
    float *demb = zeros(V * C);
    encoder_backward(demb, c.w, c.ids, B, T, C, V);
    fd_check("encoder_backward dtok_emb vs finite differences", enc_loss, &c, c.emb, demb, V * C);
    free(c.emb); free(c.w); free(c.out); free(demb);
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

typedef struct { float *x, *g, *w, *out, *rstd; } RmsCtx;
static double rms_loss(void *p) {
    RmsCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->g, B, T, C, 1e-5f);
    return wsum(c->out, c->w, B * T * C);
}

static void test_rmsnorm(void) {
    RmsCtx c = {randn(B * T * C, 2.385f), randn(C, 1.7f), randn(B * T * C, 1.3f), zeros(B * T * C), zeros(B * T)};
    for (int i = 0; i < C; i++) c.g[i] += 0.5f;
    rms_loss(&c);
    // float64 reference
    float *ref = zeros(B * T * C);
    for (int r = 0; r < B * T; r++) {
        double ms = 0;
        for (int i = 0; i < C; i++) ms += (double)c.x[r * C + i] * c.x[r * C + i];
        ms = ms / C + 1e-5;
        for (int i = 0; i < C; i++) ref[r * C + i] = (float)(c.x[r * C + i] / sqrt(ms) * c.g[i]);
    }
    tl_allclose("rmsnorm_forward vs float64 reference", c.out, ref, B * T * C, 1e-6, 1e-5);
    float *dx = zeros(B * T * C), *dg = zeros(C);
    rmsnorm_backward(dx, dg, c.w, c.x, c.rstd, c.g, B, T, C);
    fd_check("rmsnorm_backward dinp vs finite differences", rms_loss, &c, c.x, dx, B * T * C);
    fd_check("rmsnorm_backward dweight vs finite differences", rms_loss, &c, c.g, dg, C);
    // accumulation: a second call adds the same amount again; NULL dweight is allowed
    float *dx2 = zeros(B * T * C);
    memcpy(dx2, dx, B * T * C * sizeof(float));
    rmsnorm_backward(dx2, NULL, c.w, c.x, c.rstd, c.g, B, T, C);
    for (int i = 0; i < B * T * C; i++) dx[i] *= 2.0f;
    tl_allclose("rmsnorm_backward accumulates (+=), dweight NULL ok", dx2, dx, B * T * C, 1e-6, 1e-6);
    free(c.x); free(c.g); free(c.w); free(c.out); free(c.rstd); free(ref); free(dx); free(dg); free(dx2);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU

typedef struct { float *a, *b, *w, *out; } PairCtx;
static double swiglu_loss(void *p) {
    PairCtx *c = p;
    swiglu_forward(c->out, c->a, c->b, B, T, H);
    return wsum(c->out, c->w, B * T * H);
}

static void test_swiglu(void) {
    PairCtx s = {randn(B * T * H, 2.385f), randn(B * T * H, 2.385f), randn(B * T * H, 1.3f), zeros(B * T * H)};
    swiglu_loss(&s);
    float *ref = zeros(B * T * H);
    for (int i = 0; i < B * T * H; i++) {
        double g = s.a[i];
        ref[i] = (float)(g / (1.0 + exp(-g)) * s.b[i]);
    }
    tl_allclose("swiglu_forward vs float64 reference", s.out, ref, B * T * H, 1e-6, 1e-5);
    float *dg = zeros(B * T * H), *du = zeros(B * T * H);
    swiglu_backward(dg, du, s.w, s.a, s.b, B, T, H);
    fd_check("swiglu_backward dgate vs finite differences", swiglu_loss, &s, s.a, dg, B * T * H);
    fd_check("swiglu_backward dup vs finite differences", swiglu_loss, &s, s.b, du, B * T * H);
    free(s.a); free(s.b); free(s.w); free(s.out); free(ref); free(dg); free(du);
}

// ---------------------------------------------------------------------------------------------
// RoPE

enum { TMAX = 64 };
typedef struct { float *x, *w, *buf, *cs, *sn; int nx; } RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    size_t n = (size_t)B * T * c->nx * HS;
    memcpy(c->buf, c->x, n * sizeof(float));
    rope_forward(c->buf, c->cs, c->sn, B, T, c->nx, HS, 3);
    return wsum(c->buf, c->w, n);
}

static void test_rope(void) {
    float *cs = zeros(TMAX * HS / 2), *sn = zeros(TMAX * HS / 2);
    float *cs32 = zeros(TMAX * HS / 2), *sn32 = zeros(TMAX * HS / 2);
    const float theta = 10000.0f;
    rope_table(cs, sn, TMAX, HS, theta, NULL, 0);
    rope_table(cs32, sn32, TMAX, HS, theta, NULL, 1);
    // the float32 llama2.c table and the float64 one agree to float32 angle rounding
    tl_allclose("rope_table llama2.c float32 mode close to float64 mode (cos)", cs32, cs, TMAX * HS / 2, 2e-5, 0);
    tl_allclose("rope_table llama2.c float32 mode close to float64 mode (sin)", sn32, sn, TMAX * HS / 2, 2e-5, 0);

    // forward against a float64 rotation with the angle formed differently (exp/log, not pow)
    size_t nq = (size_t)B * T * QD;
    float *x = randn(nq, 2.385f), *y = zeros(nq), *ref = zeros(nq);
    memcpy(y, x, nq * sizeof(float));
    int pos0 = 7;
    rope_forward(y, cs, sn, B, T, NH, HS, pos0);
    int norm_ok = 1, id_ok = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < HS / 2; i++) {
                    size_t o = (((size_t)b * T + t) * NH + h) * HS + 2 * i;
                    double ang = (pos0 + t) * exp(-(2.0 * i / HS) * log((double)theta));
                    double x0 = x[o], x1 = x[o + 1];
                    ref[o] = (float)(x0 * cos(ang) - x1 * sin(ang));
                    ref[o + 1] = (float)(x0 * sin(ang) + x1 * cos(ang));
                    double n0 = x0 * x0 + x1 * x1, n1 = (double)y[o] * y[o] + (double)y[o + 1] * y[o + 1];
                    if (fabs(n0 - n1) > 1e-5 * (1 + n0)) norm_ok = 0;
                }
    tl_allclose("rope_forward (pos0=7) vs float64 rotation", y, ref, nq, 1e-5, 1e-5);
    CHECK(norm_ok, "rope_forward preserves the norm of every pair");
    memcpy(y, x, nq * sizeof(float));
    rope_forward(y, cs, sn, 1, 1, NH, HS, 0);  // one token at position 0
    for (int i = 0; i < QD; i++) if (y[i] != x[i]) id_ok = 0;
    CHECK(id_ok, "rope_forward at position 0 is the identity");
    // pos0 offset == the tail of a longer sequence
    {
        float *full = zeros(T * KD), *tail = zeros(2 * KD), *src = randn(T * KD, 2.385f);
        memcpy(full, src, T * KD * sizeof(float));
        memcpy(tail, src + 3 * KD, 2 * KD * sizeof(float));
        rope_forward(full, cs, sn, 1, T, NKV, HS, 0);
        rope_forward(tail, cs, sn, 1, 2, NKV, HS, 3);
        CHECK(!memcmp(full + 3 * KD, tail, 2 * KD * sizeof(float)), "rope_forward pos0=3 equals positions 3..4 of a full run");
        // backward undoes forward (rotation by -angle)
        rope_backward(full, cs, sn, 1, T, NKV, HS, 0);
        tl_allclose("rope_backward inverts rope_forward", full, src, T * KD, 1e-5, 1e-5);
        free(full); free(tail); free(src);
    }
    // finite differences, for q (NH heads) and k (NKV heads) layouts
    for (int which = 0; which < 2; which++) {
        int nx = which ? NKV : NH;
        size_t n = (size_t)B * T * nx * HS;
        RopeCtx c = {randn(n, 2.385f), randn(n, 1.3f), zeros(n), cs, sn, nx};
        float *d = zeros(n);
        memcpy(d, c.w, n * sizeof(float));
        rope_backward(d, cs, sn, B, T, nx, HS, 3);
        fd_check(which ? "rope_backward dk vs finite differences" : "rope_backward dq vs finite differences",
                 rope_loss, &c, c.x, d, n);
        free(c.x); free(c.w); free(c.buf); free(d);
    }
    free(cs); free(sn); free(cs32); free(sn32); free(x); free(y); free(ref);
}

// ---------------------------------------------------------------------------------------------
// attention

// Naive float64 grouped-query causal attention: out (B,T,nh,HS).
static void attention_ref(float *out, const float *q, const float *k, const float *v, int b_, int t_, int nh, int nkv,
                          int hs) {
    for (int b = 0; b < b_; b++)
        for (int h = 0; h < nh; h++) {
            int g = h / (nh / nkv);
            for (int t = 0; t < t_; t++) {
                double s[256], mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double d = 0;
                    for (int i = 0; i < hs; i++)
                        d += (double)q[(((size_t)b * t_ + t) * nh + h) * hs + i] * k[(((size_t)b * t_ + j) * nkv + g) * hs + i];
                    s[j] = d / sqrt((double)hs);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j <= t; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
                for (int i = 0; i < hs; i++) {
                    double o = 0;
                    for (int j = 0; j <= t; j++) o += s[j] / sum * v[(((size_t)b * t_ + j) * nkv + g) * hs + i];
                    out[(((size_t)b * t_ + t) * nh + h) * hs + i] = (float)o;
                }
            }
        }
}

typedef struct { float *q, *k, *v, *w, *out, *att; } AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    attention_forward(c->out, c->att, c->q, c->k, c->v, B, T, NH, NKV, HS);
    return wsum(c->out, c->w, B * T * QD);
}

static void test_attention(void) {
    // forward vs reference for GQA (NKV=2), MHA (NKV=NH) and MQA (NKV=1), T = 37 (odd, > 32)
    int kvs[3] = {2, NH, 1};
    for (int r = 0; r < 3; r++) {
        int nkv = kvs[r], t_ = 37, hs = 8;
        size_t nq = (size_t)B * t_ * NH * hs, nk = (size_t)B * t_ * nkv * hs;
        float *q = randn(nq, 0.9f), *k = randn(nk, 0.9f), *v = randn(nk, 2.385f);
        float *out = zeros(nq), *ref = zeros(nq), *att = zeros((size_t)B * NH * t_ * t_);
        attention_forward(out, att, q, k, v, B, t_, NH, nkv, hs);
        attention_ref(ref, q, k, v, B, t_, NH, nkv, hs);
        char name[128];
        snprintf(name, sizeof name, "attention_forward NH=%d NKV=%d T=%d vs float64 reference", NH, nkv, t_);
        tl_allclose(name, out, ref, nq, 1e-5, 1e-4);
        int probs_ok = 1;
        for (int bh = 0; bh < B * NH; bh++)
            for (int t = 0; t < t_; t++) {
                const float *row = att + ((size_t)bh * t_ + t) * t_;
                double s = 0;
                for (int j = 0; j < t_; j++) {
                    if (j > t && row[j] != 0.0f) probs_ok = 0;
                    s += row[j];
                }
                if (fabs(s - 1.0) > 1e-5) probs_ok = 0;
            }
        CHECK(probs_ok, "attention_forward NKV=%d: saved probabilities sum to 1, zero above the diagonal", nkv);
        // causal: changing k, v at positions >= 20 leaves outputs at positions < 20 bit-identical
        float *out2 = zeros(nq);
        for (int b = 0; b < B; b++)
            for (size_t i = (size_t)(b * t_ + 20) * nkv * hs; i < (size_t)(b + 1) * t_ * nkv * hs; i++) {
                k[i] += 1.5f; v[i] -= 3.0f;
            }
        attention_forward(out2, att, q, k, v, B, t_, NH, nkv, hs);
        int causal_ok = 1;
        for (int b = 0; b < B; b++)
            if (memcmp(out + (size_t)b * t_ * NH * hs, out2 + (size_t)b * t_ * NH * hs, 20 * NH * hs * sizeof(float)))
                causal_ok = 0;
        CHECK(causal_ok, "attention_forward NKV=%d: tokens before 20 ignore changes to padding keys/values at >= 20", nkv);
        free(q); free(k); free(v); free(out); free(ref); free(att); free(out2);
    }
    // backward: finite differences on q, k, v (GQA)
    AttCtx c = {randn(B * T * QD, 0.9f), randn(B * T * KD, 0.9f), randn(B * T * KD, 2.385f), randn(B * T * QD, 1.3f),
                zeros(B * T * QD), zeros(B * NH * T * T)};
    att_loss(&c);
    float *dq = zeros(B * T * QD), *dk = zeros(B * T * KD), *dv = zeros(B * T * KD);
    size_t ns = attention_scratch_floats(B, T, NKV);
    float *scratch = zeros(ns);
    attention_backward(dq, dk, dv, scratch, ns, c.w, c.att, c.q, c.k, c.v, B, T, NH, NKV, HS);
    fd_check("attention_backward dq vs finite differences", att_loss, &c, c.q, dq, B * T * QD);
    fd_check("attention_backward dk vs finite differences", att_loss, &c, c.k, dk, B * T * KD);
    fd_check("attention_backward dv vs finite differences", att_loss, &c, c.v, dv, B * T * KD);
    // a scratch of a single (T,T) block must give the same result (one thread does all);
    // att_loss first restores the saved probabilities the finite differences perturbed
    att_loss(&c);
    float *dq1 = zeros(B * T * QD), *dk1 = zeros(B * T * KD), *dv1 = zeros(B * T * KD);
    attention_backward(dq1, dk1, dv1, scratch, (size_t)T * T, c.w, c.att, c.q, c.k, c.v, B, T, NH, NKV, HS);
    CHECK(!memcmp(dq1, dq, sizeof(float) * B * T * QD) && !memcmp(dk1, dk, sizeof(float) * B * T * KD) &&
              !memcmp(dv1, dv, sizeof(float) * B * T * KD),
          "attention_backward with a one-block scratch is bit-identical");
    free(c.q); free(c.k); free(c.v); free(c.w); free(c.out); free(c.att);
    free(dq); free(dk); free(dv); free(dq1); free(dk1); free(dv1); free(scratch);
}

// ---------------------------------------------------------------------------------------------
// cross-entropy, sequence heads, MSE

typedef struct { float *logits, *probs, *losses; int targets[B * T]; float dloss; } CeCtx;
static double ce_loss(void *p) {
    CeCtx *c = p;
    return c->dloss * crossentropy_softmax_forward(c->probs, c->losses, c->logits, c->targets, B, T, V);
}

static void test_crossentropy(void) {
    CeCtx c = {randn(B * T * V, 2.385f), zeros(B * T * V), zeros(B * T), {0}, 1.7f};
    int n = 0;
    for (int i = 0; i < B * T; i++) {
        c.targets[i] = (i % 4 == 3) ? -1 : (int)rng_below(&rng, V);
        n += c.targets[i] >= 0;
    }
    double loss = crossentropy_softmax_forward(c.probs, c.losses, c.logits, c.targets, B, T, V);
    double ref = 0;
    for (int r = 0; r < B * T; r++) {
        if (c.targets[r] < 0) continue;
        double mx = -INFINITY, s = 0;
        for (int i = 0; i < V; i++) mx = fmax(mx, c.logits[r * V + i]);
        for (int i = 0; i < V; i++) s += exp(c.logits[r * V + i] - mx);
        ref += -(c.logits[r * V + c.targets[r]] - mx - log(s));
    }
    ref /= n;
    CHECK(fabs(loss - ref) <= 1e-6 * fabs(ref), "crossentropy_softmax_forward mean %.9f vs float64 %.9f (%d of %d rows)",
          loss, ref, n, B * T);
    float *dl = zeros(B * T * V);
    crossentropy_softmax_backward(dl, c.probs, c.targets, B, T, V, c.dloss);
    fd_check("crossentropy_softmax_backward dlogits vs finite differences", ce_loss, &c, c.logits, dl, B * T * V);
    int ign_ok = 1;
    for (int r = 0; r < B * T; r++)
        if (c.targets[r] < 0 && max_abs_is_nonzero(dl + r * V, V)) ign_ok = 0;
    CHECK(ign_ok, "crossentropy_softmax_backward: ignored rows get zero gradient");
    // in place: probs written over the logits, then the gradient over the probs (the finite
    // differences left c.probs at a perturbed point: recompute at the base point first)
    ce_loss(&c);
    float *buf = zeros(B * T * V), *losses2 = zeros(B * T);
    memcpy(buf, c.logits, sizeof(float) * B * T * V);
    double loss2 = crossentropy_softmax_forward(buf, losses2, buf, c.targets, B, T, V);
    CHECK(loss2 == loss && !memcmp(buf, c.probs, sizeof(float) * B * T * V),
          "crossentropy_softmax_forward in place (probs == logits) is bit-identical");
    crossentropy_softmax_backward(buf, buf, c.targets, B, T, V, c.dloss);
    CHECK(!memcmp(buf, dl, sizeof(float) * B * T * V),
          "crossentropy_softmax_backward in place (dlogits == probs) writes the same gradient");
    // every target ignored: loss 0, gradient 0
    int none[B * T];
    for (int i = 0; i < B * T; i++) none[i] = -1;
    float *dz = zeros(B * T * V);
    double l0 = crossentropy_softmax_forward(c.probs, c.losses, c.logits, none, B, T, V);
    crossentropy_softmax_backward(dz, c.probs, none, B, T, V, 1.0f);
    CHECK(l0 == 0.0 && !max_abs_is_nonzero(dz, B * T * V), "crossentropy with every target ignored: loss 0, gradient 0");
    // hand-derived value: uniform logits give log(V) per row
    float flat[V]; int y = 4; float pr[V], ls[1];
    for (int i = 0; i < V; i++) flat[i] = 2.385f;
    double lf = crossentropy_softmax_forward(pr, ls, flat, &y, 1, 1, V);
    CHECK(fabs(lf - log((double)V)) < 1e-6, "crossentropy of uniform logits = log(V): %.9f vs %.9f", lf, log((double)V));
    free(c.logits); free(c.probs); free(c.losses); free(dl); free(buf); free(losses2); free(dz);
}

enum { NL = 3 };
typedef struct { float *h, *score, *logits, *probs, *losses; int lens[B]; int labels[B]; float scores[B]; int mode; } HeadCtx;
// mode 0: classification CE through seqhead; mode 1: regression MSE (NL = 1 row of score)
static double head_loss(void *p) {
    HeadCtx *c = p;
    if (c->mode == 0) {
        seqhead_forward(c->logits, c->h, c->lens, c->score, B, T, C, NL);
        return crossentropy_softmax_forward(c->probs, c->losses, c->logits, c->labels, B, 1, NL);
    }
    seqhead_forward(c->logits, c->h, c->lens, c->score, B, T, C, 1);
    return mse_forward(c->logits, c->scores, B);
}

static void test_heads(void) {
    HeadCtx c = {randn(B * T * C, 2.385f), randn(NL * C, 0.3f), zeros(B * NL), zeros(B * NL), zeros(B),
                 {T, 3}, {2, 0}, {3.25f, -0.5f}, 0};
    // classification: logits vs float64 pooled product, then FD through CE
    head_loss(&c);
    float ref[B * NL];
    for (int b = 0; b < B; b++)
        for (int k = 0; k < NL; k++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += (double)c.h[(b * T + c.lens[b] - 1) * C + i] * c.score[k * C + i];
            ref[b * NL + k] = (float)s;
        }
    tl_allclose("seqhead_forward logits vs float64 last-token product", c.logits, ref, B * NL, 1e-6, 1e-6);
    float *dlog = zeros(B * NL), *dh = zeros(B * T * C), *dscore = zeros(NL * C);
    crossentropy_softmax_backward(dlog, c.probs, c.labels, B, 1, NL, 1.0f);
    seqhead_backward(dh, dscore, dlog, c.h, c.lens, c.score, B, T, C, NL);
    fd_check("classify (seqhead + CE) dh vs finite differences", head_loss, &c, c.h, dh, B * T * C);
    fd_check("classify (seqhead + CE) dscore vs finite differences", head_loss, &c, c.score, dscore, NL * C);
    int rows_ok = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            if (t != c.lens[b] - 1 && max_abs_is_nonzero(dh + (b * T + t) * C, C)) rows_ok = 0;
    CHECK(rows_ok, "seqhead_backward: only the last real token of each row gets gradient");
    // regression
    c.mode = 1;
    memset(dh, 0, sizeof(float) * B * T * C); memset(dscore, 0, sizeof(float) * NL * C); memset(dlog, 0, sizeof(float) * B);
    double l = head_loss(&c);
    double lref = 0;
    for (int b = 0; b < B; b++) lref += ((double)c.logits[b] - c.scores[b]) * ((double)c.logits[b] - c.scores[b]);
    CHECK(fabs(l - lref / B) <= 1e-12 * (1 + lref), "mse_forward %.9f vs hand-computed %.9f", l, lref / B);
    mse_backward(dlog, c.logits, c.scores, B, 1.0f);
    seqhead_backward(dh, dscore, dlog, c.h, c.lens, c.score, B, T, C, 1);
    fd_check("regress (seqhead + MSE) dh vs finite differences", head_loss, &c, c.h, dh, B * T * C);
    fd_check("regress (seqhead + MSE) dscore vs finite differences", head_loss, &c, c.score, dscore, C);
    free(c.h); free(c.score); free(c.logits); free(c.probs); free(c.losses); free(dlog); free(dh); free(dscore);
}

// ---------------------------------------------------------------------------------------------
// thread-count invariance: every gradient bit-identical at 1, 2 and 3 threads

#ifdef _OPENMP
enum { TB = 3, TT_ = 37, TC = 40, TNH = 6, TNKV = 2, THS = 8, TH = 50, TV = 23 };
typedef struct {
    float *demb, *dx, *dg, *dgate, *dup, *dq, *dk, *dv, *dlog;
} Grads;

static void all_backwards(Grads *g, const int *ids, const float *x, const float *w, const float *rstd, const float *dy,
                          const float *gate, const float *up, const float *dh, const float *q, const float *k,
                          const float *v, const float *att, const float *datt, const float *probs, const int *tg,
                          float *scratch, size_t ns) {
    encoder_backward(g->demb, dy, ids, TB, TT_, TC, TV);
    rmsnorm_backward(g->dx, g->dg, dy, x, rstd, w, TB, TT_, TC);
    swiglu_backward(g->dgate, g->dup, dh, gate, up, TB, TT_, TH);
    attention_backward(g->dq, g->dk, g->dv, scratch, ns, datt, att, q, k, v, TB, TT_, TNH, TNKV, THS);
    crossentropy_softmax_backward(g->dlog, probs, tg, TB, TT_, TV, 1.0f);
}

static void test_threads(void) {
    size_t nbt = (size_t)TB * TT_, nq = nbt * TNH * THS, nk = nbt * TNKV * THS;
    int ids[TB * TT_], tg[TB * TT_];
    for (size_t i = 0; i < nbt; i++) { ids[i] = (int)rng_below(&rng, 5); tg[i] = (int)rng_below(&rng, TV + 1) - 1; }
    float *x = randn(nbt * TC, 2.385f), *w = randn(TC, 1.1f), *dy = randn(nbt * TC, 1.3f), *rstd = zeros(nbt);
    float *y = zeros(nbt * TC);
    float *gate = randn(nbt * TH, 2.385f), *up = randn(nbt * TH, 2.385f), *dh = randn(nbt * TH, 1.3f);
    float *q = randn(nq, 0.9f), *k = randn(nk, 0.9f), *v = randn(nk, 2.385f), *datt = randn(nq, 1.3f);
    float *att = zeros((size_t)TB * TNH * TT_ * TT_), *ao = zeros(nq);
    float *logits = randn(nbt * TV, 2.385f), *probs = zeros(nbt * TV), *losses = zeros(nbt);
    rmsnorm_forward(y, rstd, x, w, TB, TT_, TC, 1e-5f);
    crossentropy_softmax_forward(probs, losses, logits, tg, TB, TT_, TV);
    omp_set_num_threads(3);
    size_t ns = attention_scratch_floats(TB, TT_, TNKV);
    float *scratch = zeros(ns);
    size_t sizes[9] = {TV * TC, nbt * TC, TC, nbt * TH, nbt * TH, nq, nk, nk, nbt * TV};
    const char *names[9] = {"dtok_emb", "rmsnorm dinp", "rmsnorm dweight", "dgate", "dup", "dq", "dk", "dv", "dlogits"};
    Grads g[3];
    float *out0 = NULL;
    int fwd_same = 1;
    for (int r = 0; r < 3; r++) {
        omp_set_num_threads(r + 1);
        float **p = (float **)&g[r];
        for (int i = 0; i < 9; i++) p[i] = zeros(sizes[i]);
        attention_forward(ao, att, q, k, v, TB, TT_, TNH, TNKV, THS);
        if (!out0) { out0 = zeros(nq); memcpy(out0, ao, nq * sizeof(float)); }
        else if (memcmp(out0, ao, nq * sizeof(float))) fwd_same = 0;
        all_backwards(&g[r], ids, x, w, rstd, dy, gate, up, dh, q, k, v, att, datt, probs, tg, scratch, ns);
    }
    CHECK(fwd_same, "attention_forward output bit-identical at 1, 2, 3 threads");
    for (int i = 0; i < 9; i++) {
        float *a = ((float **)&g[0])[i], *b2 = ((float **)&g[1])[i], *b3 = ((float **)&g[2])[i];
        CHECK(!memcmp(a, b2, sizes[i] * sizeof(float)) && !memcmp(a, b3, sizes[i] * sizeof(float)) &&
                  max_abs_is_nonzero(a, sizes[i]),
              "%s bit-identical at 1, 2 and 3 threads (and non-zero)", names[i]);
    }
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 9; i++) free(((float **)&g[r])[i]);
    free(x); free(w); free(dy); free(rstd); free(y); free(gate); free(up); free(dh); free(q); free(k); free(v);
    free(datt); free(att); free(ao); free(logits); free(probs); free(losses); free(scratch); free(out0);
}
#endif

int main(void) {
    rng_seed(&rng, 20240611);
    test_encoder();
    test_rmsnorm();
    test_swiglu();
    test_rope();
    test_attention();
    test_crossentropy();
    test_heads();
#ifdef _OPENMP
    test_threads();
#endif
    return tl_finish();
}
