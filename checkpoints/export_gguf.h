// checkpoints/export_gguf.h — `qpeft merge --to gguf` and `--to gguf-lora`: a model as a GGUF v3
// file of llama.cpp's `llama` architecture (hyper-parameters, SentencePiece vocabulary, tensors
// in the --gguf-type table's types, q/k rows in llama2.c's interleaved RoPE order, which is
// llama.cpp's), and LoRA adapters as a llama.cpp adapter GGUF. Key names and layouts in
// docs/formats.md and docs/deploy.md. Tested by tests/test_gguf.c (read back with model/gguf.h,
// values bit for bit) and tests/test_gguf_llamacpp.sh (llama.cpp's tokens and log-probs).
#ifndef QP_CHECKPOINTS_EXPORT_GGUF_H
#define QP_CHECKPOINTS_EXPORT_GGUF_H
#include "checkpoints/export.h"

// tokenizer.ggml.* of a SentencePiece ("llama") vocabulary, filled by the caller from its tokenizer.
typedef struct {
    int n;
    const char *const *pieces;   // "▁the", "<0x0A>", "<s>", ...
    const float *scores;
    const int32_t *types;        // tok_piece_type numbering (GGUF's token types)
    int bos, eos, unk;           // -1: none
} export_gguf_vocab;

typedef struct {
    export_dtype type;           // EXPORT_AUTO: the smallest exact type per tensor
    unsigned exact_mask;         // linear kinds (1 << LIN_*) whose values sit on a grid of expect_type
    int expect_type;             // ggml type those linears should fit exactly (-1: none); a miss warns
    const char *name;            // general.name
    const export_gguf_vocab *vocab;
    int verbose;                 // print one line per tensor
} export_gguf_opts;

typedef struct {
    uint64_t bytes;              // file size
    double bits_per_weight;      // over every tensor element
    double linear_bits_per_weight;
    int n_lossy;                 // tensors whose values the file does not hold exactly
    double rel_err;              // ‖W − file‖/‖W‖ over the lossy tensors together (0 when none)
    int n_fallback;              // exact-grid linears that went to a wider type than expect_type
    int n_tensors;
    int n_by_type[5];            // f32, f16, bf16, q8_0, q4_0 tensors (EXPORT_* order)
} export_gguf_report;

// model.gguf for (cfg, w): refuses a head (the caller drops it), vocabularies of the wrong size,
// rows that a block type cannot tile.
int export_write_gguf(const char *path, const ModelConfig *cfg, const ModelWeights *w, const export_gguf_opts *o,
                      export_gguf_report *rep, qp_status *st);
// A llama.cpp LoRA adapter GGUF of m's adapters: general.type "adapter", adapter.type "lora",
// adapter.lora.alpha; blk.N.<linear>.weight.lora_a (ne [in, R]) and .lora_b (ne [R, out]), F32.
// llama.cpp scales by alpha / R, qpeft's own scale. Needs LoRA adapters (not full fine-tuning,
// not QER's quantized adapters, which no W + s·B·A over the base expresses).
int export_write_gguf_lora(const char *path, const Model *m, const char *name, qp_status *st);
// The GGUF name of linear kind k of layer l ("blk.3.attn_q.weight").
void export_gguf_linear_name(char *buf, size_t n, int l, int k);
#endif
