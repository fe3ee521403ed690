// trainer/gguf_cli.h — `qpeft merge --to gguf | gguf-lora`: the session side of the GGUF export
// (tokenizer -> GGUF vocabulary, which linears sit on an exact MXINT grid, the printed report).
// The writers are checkpoints/export_gguf.h. Tested by tests/test_gguf_llamacpp.sh and
// tests/test_merge_cli.sh (refusals).
#ifndef QP_TRAINER_GGUF_CLI_H
#define QP_TRAINER_GGUF_CLI_H
#include "checkpoints/export_gguf.h"
#include "model/model.h"

// The ggml type an MXINT base of `bits` fits exactly per 32-block (q4_0 for 2..4, q8_0 for 5..8),
// or -1 for a format without an exact ggml type (NF*, FP4, INT-k).
int gguf_cli_exact_type(const quant_format *f);
// Refuse (die, one line) an explicit low-bit --gguf-type the exact base cannot hold.
void gguf_cli_check_type(export_dtype type, int expect_type, const char *fmtname);

// Write path as a llama GGUF of (cfg, w) in `type`, with the vocabulary of tok_path (NULL: die)
// and print one line per tensor and a summary; exact_mask/expect_type as export_gguf_opts. Dies
// with one line on error after aborting nothing: the caller's staging directory cleans up.
// Returns 0 or -1 (st set).
int gguf_cli_write_model(const char *path, const ModelConfig *cfg, const ModelWeights *w, export_dtype type,
                         unsigned exact_mask, int expect_type, const char *tok_path, const char *name,
                         export_gguf_report *rep, qp_status *st);

// `merge --to gguf` without --checkpoint: convert the model at model_path (any layout qpeft
// reads; a .qm's MXINT linears go out exactly) into out/model.gguf; *rep and dir (the directory
// written) for the caller's summary. Dies with one line on error.
void gguf_cli_convert(const char *model_path, const char *tok_path, export_dtype type, const char *out,
                      export_gguf_report *rep, char *dir, size_t dir_n);
#endif
