// checkpoints/export.h — the writers of `qpeft merge`: a Hugging Face Llama directory
// (config.json + model.safetensors, F32/F16/BF16), a llama2.c legacy .bin, and a PEFT LoRA
// adapter directory (adapter_model.safetensors + adapter_config.json); layouts in docs/formats.md.
// Tested by tests/test_export.c (reload through model_load_weights, logits equal the unmerged
// model's) and tests/oracle_peft.py (independent safetensors parse, PEFT's merge in float64).
//
// Every output goes to a new directory through a staging directory (export_stage_*): files are
// written into "<dir>.tmp-XXXXXX", which is renamed to <dir> only when everything succeeded, so
// a failure leaves neither a half-written <dir> nor the staging directory behind.
#ifndef QP_CHECKPOINTS_EXPORT_H
#define QP_CHECKPOINTS_EXPORT_H
#include <stdint.h>
#include "core/status.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"

#include <stdio.h>

// The tensor types of every export, one table behind --dtype (HF: the float types) and
// --gguf-type (GGUF: all of them, and "auto": the smallest exact type per tensor). The ggml
// block types carry their ggml id (quant/ggml_blocks.h).
typedef enum { EXPORT_F32 = 0, EXPORT_F16, EXPORT_BF16, EXPORT_Q8_0, EXPORT_Q4_0, EXPORT_AUTO, EXPORT_DTYPE_COUNT } export_dtype;

// --dtype: "f32" | "f16" | "bf16" (also "fp32", "fp16", "float32", "float16", "bfloat16").
int export_dtype_parse(const char *s, export_dtype *out, qp_status *st);
// --gguf-type: "auto" | "f32" | "f16" | "bf16" | "q8_0" | "q4_0" (and the aliases above).
int export_gguf_type_parse(const char *s, export_dtype *out, qp_status *st);
const char *export_dtype_name(export_dtype dt);   // "f32", "f16", "bf16", "q8_0", "q4_0", "auto"
int export_dtype_ggml_id(export_dtype dt);        // ggml type id; -1 for auto
// Round x to a float dtype and back (round-to-nearest-even): what a reader of the file sees.
float export_dtype_round(float x, export_dtype dt);

// ---- checked output (the writers of checkpoints/) ---------------------------------------------
// A file being written: every failure lands in st once, later writes become no-ops, and
// export_out_close reports the first error (so writers can stay linear).
typedef struct { FILE *f; const char *path; qp_status *st; int failed; } export_out;
int export_out_open(export_out *o, const char *path, qp_status *st);
void export_out_write(export_out *o, const void *p, size_t n);
void export_out_printf(export_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Flush, fsync and close; returns 0 or -1 (the first error).
int export_out_close(export_out *o);

// ---- staging directory ------------------------------------------------------------------------
enum { EXPORT_PATH_MAX = 4096 };
typedef struct {
    char dir[EXPORT_PATH_MAX];   // final name
    char tmp[EXPORT_PATH_MAX];   // "<dir>.tmp-XXXXXX" while active
    int active;
} export_stage;

// 0 when `dir` does not exist or is an empty directory; else -1 ("refusing to overwrite"). Lets a
// verb refuse before any work; export_stage_begin checks again.
int export_check_new_dir(const char *dir, qp_status *st);
// Refuse when `dir` exists and is not an empty directory; create the staging directory beside it.
int export_stage_begin(export_stage *s, const char *dir, qp_status *st);
// Rename the staging directory to the final name (fsyncs first). On failure it is removed.
int export_stage_commit(export_stage *s, qp_status *st);
// Remove the staging directory and everything in it (no-op when not active).
void export_stage_abort(export_stage *s);

// ---- safetensors ------------------------------------------------------------------------------
// One tensor to write: fp32 data in qpeft's layout. rope_heads > 0 marks a tensor whose rows
// (shape[0] = rope_heads * HS) are in llama2.c's interleaved RoPE order: they are written
// permuted to HF's rotate-half order (weights_rows_interleaved_to_hf per head).
typedef struct {
    const char *name;
    const float *data;
    int ndim;            // 1 or 2
    int64_t shape[2];
    int rope_heads;
} export_tensor;

// Write a safetensors file: 8-byte little-endian header length, a JSON header of
// {"__metadata__":{"format":"pt"}, name: {dtype, shape, data_offsets}} with the tensors sorted
// by name (data in the same order, contiguous), padded with spaces to a multiple of 8 bytes.
int export_safetensors_write(const char *path, const export_tensor *t, int n, export_dtype dt, qp_status *st);

// ---- writers into an existing directory (normally a stage's tmp) -----------------------------
typedef struct {
    export_dtype dtype;
    head_kind head;          // HEAD_LM: LlamaForCausalLM; else LlamaForSequenceClassification
    const char *labels;      // tab-joined label names for id2label, or NULL (LABEL_0, ...)
    const char *tokenizer;   // SentencePiece model copied as tokenizer.model, or NULL
} export_hf_opts;

// config.json + model.safetensors (+ tokenizer.model). lm_head.weight only when untied,
// score.weight when cfg->n_labels > 0; q/k rows permuted to HF's order.
int export_write_hf(const char *dir, const ModelConfig *cfg, const ModelWeights *w, const export_hf_opts *o,
                    qp_status *st);
// llama2.c legacy file (fp32): 7 int32 header (vocab negative when untied), llama2.c tensor
// order, a zero freq_cis block, wcls when untied. Refuses a head and a norm_eps/rope_theta the
// header cannot carry (llama2.c assumes 1e-5 and 10000).
int export_write_llama2c(const char *path, const ModelConfig *cfg, const ModelWeights *w, qp_status *st);

typedef struct {
    const char *base_model;  // adapter_config.json's base_model_name_or_path (may be NULL -> null)
    double lora_dropout;     // recorded only; dropout does not change inference
} export_peft_opts;

// adapter_model.safetensors (F32) + adapter_config.json for m's adapters and head. Needs
// m->rank > 0. PEFT's merge W + (lora_alpha/r)·B·A reproduces qpeft's W~ + (alpha/R)·B·A over
// the SAME base W~ (for a quantized base: the dequantized base, which the caller writes).
int export_write_peft(const char *dir, const Model *m, const export_peft_opts *o, qp_status *st);

// Copy a file byte for byte (checked, fsynced).
int export_copy_file(const char *src, const char *dst, qp_status *st);
#endif
