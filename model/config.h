// model/config.h — the Llama hyper-parameters every module sizes itself from.
// Dimension vocabulary (used in every shape comment): B batch, T tokens, C model dim (dim),
// H MLP hidden dim, NH heads, NKV kv-heads, HS head size (C/NH unless head_dim says otherwise),
// V vocab, L layers, R rank.
#ifndef QP_MODEL_CONFIG_H
#define QP_MODEL_CONFIG_H
#include "core/status.h"

// RoPE frequency scaling, as transformers' modeling_rope_utils: "linear" divides every inverse
// frequency by factor; "llama3" (Llama-3.1/3.2) divides the low frequencies (wavelength above
// original_max_position_embeddings / low_freq_factor) by factor, keeps the high ones (below
// .../high_freq_factor) and interpolates smoothly between. Neither scales cos/sin (attention factor 1).
typedef enum { ROPE_SCALING_NONE, ROPE_SCALING_LINEAR, ROPE_SCALING_LLAMA3, ROPE_SCALING_COUNT } rope_scaling_kind;
typedef struct {
    rope_scaling_kind kind;
    float factor, low_freq_factor, high_freq_factor;
    int original_max_pos;
} RopeScaling;

// The HF model_type a config came from; the architecture is the same Llama (RMSNorm, RoPE, GQA,
// SwiGLU) for all of them, with two extras: Qwen2 adds biases to q/k/v (attn_bias), Qwen3 an
// RMSNorm over each head of q and k before RoPE (qk_norm). Export writes the family back so each
// keeps its names.
typedef enum { FAMILY_LLAMA, FAMILY_MISTRAL, FAMILY_QWEN2, FAMILY_QWEN3, FAMILY_COUNT } model_family;

typedef struct {
    int dim;          // C
    int hidden_dim;   // H
    int n_layers;     // L
    int n_heads;      // NH
    int n_kv_heads;   // NKV
    int vocab_size;   // V
    int max_seq_len;  // longest T the model was built for
    float norm_eps;   // RMSNorm epsilon
    float rope_theta; // RoPE base
    int tied_embeddings; // 1: LM head is the token embedding
    int n_labels;     // rows of the sequence-classification/regression head (0 = none)
    int head_dim;     // HS when it is not dim / n_heads (HF's explicit head_dim); 0 = dim / n_heads
    RopeScaling rope_scaling;
    model_family family;
    int attn_bias;    // 1: q/k/v projections carry biases (Qwen2), frozen unless --mode full
    int qk_norm;      // 1: per-head RMSNorm of q and k before RoPE (Qwen3)
} ModelConfig;

// Check ranges and divisibility (dim % n_heads, n_heads % n_kv_heads, even head size, sizes
// small enough that every buffer size fits in size_t). `what` names the file for messages.
int config_validate(const ModelConfig *c, const char *what, qp_status *st);
// Named shapes of real and test models (random weights come from checkpoints/random_model.h):
// "tinyllama-1.1b", "llama2-7b", "mid-44m" (tests: tens of millions of parameters) and
// "tiny-2l". Fills c and returns 0, or -1 with st listing the names.
int config_preset(const char *name, ModelConfig *c, qp_status *st);
static inline int config_head_size(const ModelConfig *c) { return c->head_dim > 0 ? c->head_dim : c->dim / c->n_heads; }
// Does the config need more than a llama2.c header or a .qm v1 header can say (explicit head_dim,
// RoPE scaling, a family other than llama)? Those writers refuse it with one line.
static inline int config_is_plain_llama(const ModelConfig *c) {
    return c->head_dim <= 0 && c->rope_scaling.kind == ROPE_SCALING_NONE && c->family == FAMILY_LLAMA && !c->attn_bias &&
           !c->qk_norm;
}
// HF's model_type string of a family ("llama", "mistral", "qwen2", "qwen3").
const char *config_family_name(model_family f);
#endif
