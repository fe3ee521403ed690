// trainer/session.h — what every verb does first: load the model (any supported layout) and
// find its tokenizer; errors end the process with one line naming the file.
#ifndef QP_TRAINER_SESSION_H
#define QP_TRAINER_SESSION_H
#include "checkpoints/checkpoint.h"
#include "core/rng.h"
#include "data/tokenizer.h"
#include "model/model.h"

// --compute of every verb that runs the model (train, eval, ppl, error, compare): the help line and
// the parsed kind (dies with one line on another name). bf16 falls back to f32 in model_set_compute.
#define COMPUTE_OPT_HELP "f32 | bf16: arithmetic of the frozen-base products (bf16: AVX512_BF16/AMX, else f32 with a warning)"
compute_kind session_compute(const char *name);
#include "model/qmodel.h"
#include "model/weights.h"
#include "quant/quant.h"

// ---- the model and its tokenizer -----------------------------------------------------------
// What every verb opens first. The caller takes over the fields: model_init takes cfg and w,
// session_install_qbase the packed bases, tok_free the tokenizer.
typedef struct {
    ModelConfig cfg;
    ModelWeights w;          // fp32 weights; W~ for the linears a .qm file packs
    QuantTensor **qbase;     // a .qm file's packed bases (SESSION_PACKED), else NULL
    unsigned qmask;          // the packed kinds (0 unless a .qm file)
    Tokenizer *tok;          // SESSION_TOKENIZER, else NULL
} Session;
enum {
    SESSION_TOKENIZER = 1,   // also load the tokenizer (--tokenizer or beside the model) and check its vocabulary
    SESSION_PACKED = 2,      // keep a .qm file's packed bases (else w alone, holding W~)
};
// Load --model (any layout) and, with SESSION_TOKENIZER, its tokenizer; dies with one line on
// any problem (missing file, not a model, vocabulary mismatch).
void session_open(Session *s, const char *model, const char *tokenizer, int flags);
// The tokenizer of an open session, loaded on demand (verbs that need it only for some inputs).
void session_open_tokenizer(Session *s, const char *model, const char *tokenizer);
// Die unless the tokenizer's ids index the model's embedding: a SentencePiece vocabulary must
// match exactly; a tokenizer.json may have fewer ids than rows (Qwen pads its embedding).
void session_check_vocab(const Tokenizer *tk, const ModelConfig *cfg);
// A file whose linears are already packed (a .qm or a GGUF): loaded whole by session_open, never
// through the streaming fp32 loader (model/weights.h).
int session_is_packed_file(const char *path);
// Load any model layout or die. For a quantized model file *qbase gets its packed bases
// (L*LIN_COUNT entries, NULL = fp32) and *qmask the packed kinds; for any other layout both
// are NULL/0. w holds W~ for the packed linears either way.
void session_load_model(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase, unsigned *qmask);
// --tokenizer if given; else tokenizer.model beside/inside the model; else the only *.model
// file in the model's directory. Dies naming where it looked.
Tokenizer *session_load_tokenizer(const char *model_path, const char *tok_opt);
// The path session_load_tokenizer would load (malloc'd), or NULL when there is none.
char *session_tokenizer_path(const char *model_path, const char *tok_opt);
// Hex hash of the base weights as loaded (what checkpoints record and check).
void session_hash(const ModelWeights *w, const ModelConfig *cfg, char hex[17]);

// ---- building the Model --------------------------------------------------------------------
// Give w a sequence-classification/regression head of n_labels rows (cfg->n_labels updated):
// rows already in w are kept; a new head is drawn N(0, 0.02²) as HF initialises `score`.
void session_add_head(ModelConfig *cfg, ModelWeights *w, int n_labels, qp_rng *rng);
// After model_init: move the packed bases from session_load_model into m (NULL: no-op).
void session_install_qbase(Model *m, QuantTensor ***qbase);
// The verbs' --format/--block/--double-quant/--modules: quantize m's bases in process, as
// `qpeft quantize` would (format NULL: no-op). Dies on a bad value, or when model_path was
// already a quantized file (*its* bases are installed already). Returns bits/weight (0 if none).
double session_quantize_base(Model *m, const char *model_path, const char *format, int block, int double_quant,
                             const char *modules);
// Bits per weight of the packed tensors among qbase[0..n) (0 if none), and in *fmt (may be
// NULL) the format of the first one (a .qm file and in-process quantization use one format).
double session_packed_format(QuantTensor *const *qbase, int n, quant_format *fmt);
// Build the Model a checkpoint describes over the base model at model_path and load the
// checkpoint into it (trainable values, packed bases, optimizer state if opt_m/opt_v given —
// pass NULL to skip), and its adapter quantization (--adapter-quant same: QER mode). train:
// TRAIN_NONE for evaluation/merge, else the checkpoint's own mode.
// Dies with one line on any mismatch.
void session_model_from_checkpoint(const char *model_path, const char *ckpt, int for_training, Model *m,
                                   ckpt_meta *meta);
#endif
