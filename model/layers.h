// model/layers.h — the Llama layer kernels (encoder, RMSNorm, RoPE, grouped-query causal
// attention, SwiGLU, LM / sequence heads), forward and hand-written backward.
// Tested by tests/test_layers.c (central finite differences, float64 references, thread-count
// invariance).
//
// Contract (llm.c): x_forward(out, saved..., inp, params..., dims) and
// x_backward(dinp, dparams..., dout, saved..., params..., dims). Backward ACCUMULATES (+=) into
// every gradient it is given; the caller zeroes them. Exceptions, each documented at the call:
// rope works in place, and crossentropy_softmax_backward overwrites when dlogits aliases probs.
// Kernels never allocate: scratch comes from the caller (see *_scratch_floats).
// Dimensions: B batch, T tokens, C model dim, H MLP hidden, NH heads, NKV kv-heads, HS head
// size, V vocab, NL head outputs. Rows are right-padded; the causal mask keeps real tokens from
// attending to padding, so attention takes no padding mask.
// Parameter gradients are reduced in a fixed order (parallel over channels, or per group of
// heads), so every gradient is bitwise independent of the OpenMP thread count.
#ifndef QP_MODEL_LAYERS_H
#define QP_MODEL_LAYERS_H
#include <stddef.h>
#include "model/config.h"

// ---- encoder: token embedding lookup ----
// out (B,T,C); ids (B,T) each in [0,V); tok_emb (V,C).
void encoder_forward(float *out, const int *ids, const float *tok_emb, int B, int T, int C, int V);
// dtok_emb (V,C) +=; dout (B,T,C); ids (B,T). Deterministic (parallel over channels).
void encoder_backward(float *dtok_emb, const float *dout, const int *ids, int B, int T, int C, int V);

// ---- RMSNorm: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps) ----
// out (B,T,C); rstd (B,T) saved; inp (B,T,C); weight (C).
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int B, int T, int C, float eps);
// dinp (B,T,C) +=; dweight (C) += (may be NULL: frozen norm); dout (B,T,C); inp (B,T,C);
// rstd (B,T) from the forward; weight (C).
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *rstd,
                      const float *weight, int B, int T, int C);

// ---- SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g) ----
// out (B,T,H); gate (B,T,H); up (B,T,H).
void swiglu_forward(float *out, const float *gate, const float *up, int B, int T, int H);
// dgate, dup (B,T,H) +=; dout (B,T,H); gate, up (B,T,H) from the forward.
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int B, int T, int H);

// ---- RoPE, llama2.c interleaved pairs ----
// Pair i in [0,HS/2) of every head at position p rotates (x[2i], x[2i+1]) by p * theta^(-2i/HS).
// Table rows are positions: cos_t, sin_t (T_max, HS/2).
// llama2c_f32 = 0: angles and cos/sin in float64 then rounded (what PyTorch float64 and HF
// compute, closest to exact). llama2c_f32 = 1: bit-for-bit llama2.c run.c, which forms the
// frequency with powf, the angle as a float product and takes cosf/sinf (sc must then be none).
// sc (NULL = none): the config's frequency scaling (model/config.h), applied in the float64 path.
void rope_table(float *cos_t, float *sin_t, int T_max, int HS, float theta, const RopeScaling *sc, int llama2c_f32);
// In place: x (B,T,NX,HS) with NX = NH for q or NKV for k; token t sits at position pos0 + t,
// so rows pos0 .. pos0+T-1 of the tables are used (pos0 > 0 when generating).
void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int NX, int HS, int pos0);
// In place: dx (B,T,NX,HS) holds d/d(rotated x) on entry and d/d(x before rotation) on return
// (rotation by -angle). Not accumulating: it transforms the gradient buffer it is given.
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int NX, int HS, int pos0);

// ---- grouped-query causal self-attention, scale 1/sqrt(HS) ----
// Query head h reads kv head h / (NH/NKV). Parallel over (b, h) in the forward and over
// (b, kv head) in the backward; BLAS calls inside the parallel region run single-threaded
// (OpenMP OpenBLAS), so the cores are never oversubscribed.
// out (B,T,NH,HS); att (B,NH,T,T) softmax probabilities saved for backward, zero above the
// diagonal (the O(T^2) buffer: B*NH*T*T floats); q (B,T,NH,HS); k, v (B,T,NKV,HS) after RoPE.
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HS);
// Scratch for attention_backward at the current OpenMP thread count: one (T,T) block per thread
// that can run (min(threads, B*NKV)). Size it after setting the thread count.
size_t attention_scratch_floats(int B, int T, int NKV);
// dq (B,T,NH,HS) +=; dk, dv (B,T,NKV,HS) += (summed over the query heads of each group);
// scratch of scratch_floats floats (>= T*T; uses as many (T,T) blocks as fit, up to the thread
// count); dout (B,T,NH,HS); att (B,NH,T,T); q, k, v as given to the forward.
void attention_backward(float *dq, float *dk, float *dv, float *scratch, size_t scratch_floats,
                        const float *dout, const float *att, const float *q, const float *k, const float *v,
                        int B, int T, int NH, int NKV, int HS);

// ---- cross-entropy with fused softmax (LM head over (B,T); classification with T = 1) ----
// probs (B,T,V) softmax of logits; may alias logits (in place, saves the (B,T,V) buffer).
// losses (B,T) per-row -log p[target], 0 for ignored rows; logits (B,T,V); targets (B,T) in
// [0,V) or -1 = ignore. Returns the mean over non-ignored rows (summed in double, fixed order);
// 0 when every row is ignored.
double crossentropy_softmax_forward(float *probs, float *losses, const float *logits, const int *targets,
                                    int B, int T, int V);
// dlogits (B,T,V) += dloss * (probs - onehot(target)) / N, N = non-ignored rows; ignored rows
// get 0. dlogits may alias probs: then the gradient is WRITTEN over the probabilities (the
// in-place path) instead of accumulated. probs (B,T,V) from the forward; targets (B,T).
void crossentropy_softmax_backward(float *dlogits, const float *probs, const int *targets, int B, int T, int V,
                                   float dloss);

// ---- sequence heads: pool the hidden state of the last real token, then a linear score ----
// logits (B,NL) = h[b, lens[b]-1, :] · scoreᵀ; h (B,T,C); lens (B) in [1,T]; score (NL,C).
void seqhead_forward(float *logits, const float *h, const int *lens, const float *score, int B, int T, int C, int NL);
// dh (B,T,C) += (only the pooled rows receive gradient); dscore (NL,C) += (may be NULL);
// dlogits (B,NL); h, lens, score as in the forward.
void seqhead_backward(float *dh, float *dscore, const float *dlogits, const float *h, const int *lens,
                      const float *score, int B, int T, int C, int NL);
// Classification: crossentropy_softmax_forward/backward with T = 1, V = NL, targets = labels.

// ---- regression: mean squared error over B single outputs ----
// pred (B) (the NL = 1 logits), target (B). Returns mean((pred - target)^2), summed in double.
double mse_forward(const float *pred, const float *target, int B);
// dpred (B) += dloss * 2 (pred - target) / B.
void mse_backward(float *dpred, const float *pred, const float *target, int B, float dloss);
#endif
