// trainer/session.h — what every verb does first: load the model (any supported layout) and
// find its tokenizer; errors end the process with one line naming the file.
#ifndef QP_TRAINER_SESSION_H
#define QP_TRAINER_SESSION_H
#include "data/tokenizer.h"
#include "model/weights.h"

// Load weights or die. Prints a one-line summary to stderr unless quiet. A qpeft quantized
// model file (model/qmodel.h) loads too: w then holds W~ = dq(q(W)) for its packed linears
// (use session_load_model to keep the packed tensors themselves).
void session_load_weights(const char *path, ModelConfig *cfg, ModelWeights *w);
// --tokenizer if given; else tokenizer.model beside/inside the model; else the only *.model
// file in the model's directory; else tokenizer.json there. Dies naming where it looked.
Tokenizer *session_load_tokenizer(const char *model_path, const char *tok_opt);
// The path session_load_tokenizer would load (malloc'd), or NULL when there is none.
char *session_find_tokenizer(const char *model_path, const char *tok_opt);
// Die unless the tokenizer's ids index the model's embedding: a SentencePiece vocabulary must
// match exactly; a tokenizer.json may have fewer ids than rows (Qwen pads its embedding).
void session_check_vocab(const Tokenizer *tk, const ModelConfig *cfg);
// The assets directory: $QPEFT_ASSETS, else ../shared/assets relative to the binary's repo.
const char *session_assets_dir(void);
#endif

#include "checkpoints/checkpoint.h"
#include "core/rng.h"
#include "model/model.h"

// Give w a sequence-classification/regression head of n_labels rows (cfg->n_labels updated):
// rows already in w are kept; a new head is drawn N(0, 0.02²) as HF initialises `score`.
void session_add_head(ModelConfig *cfg, ModelWeights *w, int n_labels, qp_rng *rng);
// Hex hash of the base weights as loaded (what checkpoints record and check).
void session_hash(const ModelWeights *w, const ModelConfig *cfg, char hex[17]);
// Build the Model a checkpoint describes over the base model at model_path and load the
// checkpoint into it (trainable values, packed bases, optimizer state if opt_m/opt_v given —
// pass NULL to skip), and its adapter quantization (--adapter-quant same: QER mode). train:
// TRAIN_NONE for evaluation/merge, else the checkpoint's own mode.
// Dies with one line on any mismatch.
void session_model_from_checkpoint(const char *model_path, const char *ckpt, int for_training, Model *m,
                                   ckpt_meta *meta);

// ---- qpeft quantized model files (model/qmodel.h) as --model ----------------------------
#include "model/qmodel.h"
// Load any model layout or die. For a quantized model file *qbase gets its packed bases
// (L*LIN_COUNT entries, NULL = fp32) and *qmask the packed kinds; for any other layout both
// are NULL/0. w holds W~ for the packed linears either way.
void session_load_model(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase, unsigned *qmask);
// After model_init: move the packed bases from session_load_model into m (NULL: no-op).
void session_install_qbase(Model *m, QuantTensor ***qbase);
// The verbs' --format/--block/--double-quant/--modules: quantize m's bases in process, as
// `qpeft quantize` would (format NULL: no-op). Dies on a bad value, or when model_path was
// already a quantized file (*its* bases are installed already). Returns bits/weight (0 if none).
double session_quantize_base(Model *m, const char *model_path, const char *format, int block, int double_quant,
                             const char *modules);
