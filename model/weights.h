// model/weights.h — the model's fp32 weights: one allocation, a struct of pointers into it
// (llm.c style), and the loaders for llama2.c and Hugging Face checkpoints.
// Internal conventions (all loaders convert to these):
//  - every linear weight is (out, in) row-major, as both llama2.c and HF store them;
//  - the rows of wq/wk are in llama2.c's interleaved-pair RoPE order (pairs (2i, 2i+1) of a
//    head rotate together); the HF loader permutes HF's rotate-half rows into this order;
//  - lm_head aliases tok_emb when the config says tied;
//  - bq/bk and q_norm/k_norm are permuted like wq/wk's rows (they index the same q/k features);
//  - the pointers from tok_emb to score are in the block's order (model.c mirrors them by offset)
//    and score comes last (a head can be added or resized without moving anything else).
#ifndef QP_MODEL_WEIGHTS_H
#define QP_MODEL_WEIGHTS_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "model/config.h"
#include "quant/quant.h"

typedef struct {
    float *tok_emb;    // (V, C)
    float *attn_norm;  // (L, C)
    float *wq;         // (L, NH*HS, C)
    float *wk;         // (L, NKV*HS, C)
    float *wv;         // (L, NKV*HS, C)
    float *wo;         // (L, C, NH*HS)
    float *ffn_norm;   // (L, C)
    float *w_gate;     // (L, H, C)   llama2.c w1, HF gate_proj
    float *w_up;       // (L, H, C)   llama2.c w3, HF up_proj
    float *w_down;     // (L, C, H)   llama2.c w2, HF down_proj
    float *final_norm; // (C)
    float *lm_head;    // (V, C); == tok_emb when tied
    float *bq;         // (L, NH*HS) q bias (Qwen2), NULL without attn_bias; interleaved order as wq's rows
    float *bk;         // (L, NKV*HS)
    float *bv;         // (L, NKV*HS)
    float *q_norm;     // (L, HS) per-head RMSNorm weight of q (Qwen3), NULL without qk_norm; interleaved
    float *k_norm;     // (L, HS)
    float *score;      // (n_labels, C) sequence-classification head, NULL when n_labels == 0
    float *mem;        // the one allocation everything above points into
    size_t n_floats;   // its length
    unsigned packed_mask; // bit k: linear kind k was packed at load and has no fp32 slot (NULL)
    uint64_t hash;     // weights_hash of the full fp32 model, set by weights_source_load
} ModelWeights;

// Tensors of ModelWeights in struct order (the hash's order).
enum { WT_TOK, WT_ATTN_NORM, WT_WQ, WT_WK, WT_WV, WT_WO, WT_FFN_NORM, WT_GATE, WT_UP, WT_DOWN, WT_FINAL, WT_LM,
       WT_BQ, WT_BK, WT_BV, WT_QNORM, WT_KNORM, WT_SCORE, WT_COUNT };
// The tensor of linear kind k (q, k, v, o, gate, up, down: model.h's lin_kind order), and back
// (-1 for a tensor that is not a linear).
int weights_lin_tensor(int k);
int weights_tensor_lin(int t);

// Number of floats weights_alloc needs for this config (tied head not counted twice).
size_t weights_count(const ModelConfig *c);
// Allocate zeroed storage and set every pointer; returns 0 or -1 (size overflow).
int weights_alloc(ModelWeights *w, const ModelConfig *c, qp_status *st);
// The same without the fp32 slots of the linear kinds in packed_mask (their pointers NULL).
int weights_alloc_packed(ModelWeights *w, const ModelConfig *c, unsigned packed_mask, qp_status *st);
void weights_free(ModelWeights *w);

// Load a model: a directory (Hugging Face: config.json + model.safetensors or sharded
// model.safetensors.index.json), or a file (llama2.c legacy or "ak42" v1). Validates every
// header field, shape and the file length before trusting anything. Returns 0 or -1.
int model_load_weights(const char *path, ModelConfig *c, ModelWeights *w, qp_status *st);
int weights_load_llama2c(const char *path, ModelConfig *c, ModelWeights *w, qp_status *st);
int weights_load_hf(const char *dir, ModelConfig *c, ModelWeights *w, qp_status *st);

// ---- streaming (issue 12) ---------------------------------------------------------------------
// An open checkpoint whose tensors are read one at a time, in any order, with pread (no mapping,
// so no file page ever counts in the resident set). Opening validates every header, shape,
// offset and file length, exactly as the whole-model loaders above do.
typedef struct WeightsSource WeightsSource;
int weights_source_open(const char *path, ModelConfig *c, WeightsSource **out, qp_status *st);
// Tensor t (WT_*) of layer l (ignored for whole-model tensors) into dst in qpeft's fp32 layout
// (q/k rows interleaved), checked finite. Returns 0 or -1 naming the file and tensor.
int weights_source_read(WeightsSource *s, int t, int l, float *dst, qp_status *st);
void weights_source_close(WeightsSource *s);

// Linear kinds packed while loading: never stored in fp32.
typedef struct {
    const quant_format *fmt;  // NULL: the kinds in mask are only hashed, neither kept nor packed
                              // (an initialiser packs them later, reading W from the source)
    unsigned mask;            // bit k: pack linear kind k of every layer
    QuantTensor **out;        // (L*7) receives the packed tensors, index l*7 + k (fmt only)
} WeightsPack;
// Read every tensor of s into w (allocated here, without the packed kinds' slots) in the
// hash's order, one tensor at a time; a packed kind goes through one fp32 staging buffer of
// its largest tensor into pack->out. Sets w->hash (== weights_hash of the full fp32 model).
int weights_source_load(WeightsSource *s, const ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                        qp_status *st);
// open + load + close.
int model_load_weights_packed(const char *path, ModelConfig *c, ModelWeights *w, const WeightsPack *pack,
                              qp_status *st);

// 64-bit FNV-1a hash over the canonical fp32 tensors in the fixed order above (score
// excluded), so the llama2.c and HF copies of a model hash alike. Hex string in out[17].
// For weights loaded with packed kinds it is the hash computed while streaming (w->hash).
uint64_t weights_hash(const ModelWeights *w, const ModelConfig *c);
void weights_hash_hex(uint64_t h, char out[17]);

// Permutations between HF's rotate-half row order and llama2.c's interleaved order for one
// (n_heads*HS, C) q/k weight: dst row (h, 2i+p) <- src row (h, p*HS/2 + i) for to_interleaved.
void weights_rows_hf_to_interleaved(float *dst, const float *src, int n_heads, int head_size, int cols);
void weights_rows_interleaved_to_hf(float *dst, const float *src, int n_heads, int head_size, int cols);
#endif
