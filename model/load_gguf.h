// model/load_gguf.h — a llama-architecture GGUF file (v2/v3) as a qpeft model: hyper-parameters
// from the llama.* keys, embeddings and norms in fp32, and every linear kept packed in its own
// ggml type (F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, Q8_K) as a frozen base that
// quant/ dequantizes on the fly; F32 linears stay fp32. Reads through the one GGUF reader
// (model/gguf.h). Tested by tests/test_gguf_base.c (ggml-quantized tinystories-1M fixtures
// written as GGUF, every refusal) and the GGUF fuzz seeds.
#ifndef QP_MODEL_LOAD_GGUF_H
#define QP_MODEL_LOAD_GGUF_H
#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"
#include "quant/quant.h"

// Does the file at path start with the GGUF magic? (0 for a directory, a missing or short file.)
int gguf_is_file(const char *path);

// Load path. w is allocated (weights_alloc) and holds fp32 embeddings, norms and head, and for
// every packed linear its dequantized values (so hashing and fp32 paths see the file's
// weights). *qbase gets a calloc'd (L*LIN_COUNT) array of packed bases (NULL = fp32 linear), as
// qmodel_load gives (install with qmodel_install); *mask the kinds packed in every layer. An
// unknown architecture, a missing key or tensor, a wrong shape or a type that is not a base
// fails with one line naming the file and the tensor or key; nothing is left allocated.
int gguf_load_model(const char *path, ModelConfig *c, ModelWeights *w, QuantTensor ***qbase, unsigned *mask,
                    qp_status *st);

// The types of a loaded GGUF base's packed linears in buf: "q4_K" when they share one type,
// else "q4_K+q6_K" (qpeft's kind order); "f32" when none is packed. Returns buf.
const char *gguf_base_types(QuantTensor *const *qbase, int n, char *buf, size_t cap);
#endif
