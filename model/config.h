// model/config.h — the Llama hyper-parameters every module sizes itself from.
// Dimension vocabulary (used in every shape comment): B batch, T tokens, C model dim (dim),
// H MLP hidden dim, NH heads, NKV kv-heads, HS head size (C/NH), V vocab, L layers, R rank.
#ifndef QP_MODEL_CONFIG_H
#define QP_MODEL_CONFIG_H
#include "core/status.h"

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
} ModelConfig;

// Check ranges and divisibility (dim % n_heads, n_heads % n_kv_heads, even head size, sizes
// small enough that every buffer size fits in size_t). `what` names the file for messages.
int config_validate(const ModelConfig *c, const char *what, qp_status *st);
// Named shapes of real and test models (random weights come from checkpoints/random_model.h):
// "tinyllama-1.1b", "llama2-7b", "mid-44m" (tests: tens of millions of parameters) and
// "tiny-2l". Fills c and returns 0, or -1 with st listing the names.
int config_preset(const char *name, ModelConfig *c, qp_status *st);
static inline int config_head_size(const ModelConfig *c) { return c->dim / c->n_heads; }
#endif
