// trainer/calib_cli.h — what `calibrate`, `init` and `error` share: the full-precision model,
// calibration from --calib-text or --calib-stats, the format-list syntax. Errors end the
// process with one line. Tested by tests/test_init_cli.sh.
#ifndef QP_TRAINER_CALIB_CLI_H
#define QP_TRAINER_CALIB_CLI_H
#include <stdint.h>
#include "data/text.h"
#include "data/tokenizer.h"
#include "init/calibrate.h"
#include "model/model.h"
#include "quant/quant.h"

// The calibration defaults, in one place: every verb that calibrates (calibrate, init, error,
// train/compare/ppl for lqer, qera-* and srr) takes these unless its flags say otherwise.
#define CALIB_SAMPLES 128       // windows of a text, or examples of a task
#define CALIB_SEQ_CAP 2048      // default window length: the model's context, capped here
#define CALIB_TEXT_BATCH 4      // windows per forward pass
#define CALIB_EXAMPLE_BATCH 16  // task examples per forward pass
// A default above as option-table text, e.g. CALIB_DEFAULT(CALIB_SAMPLES) is "128".
#define CALIB_DEFAULT(x) CALIB_STR_(x)
#define CALIB_STR_(x) #x

// dst = a fresh copy of src (model_init takes ownership of its weights).
void calibcli_weights_copy(ModelWeights *dst, const ModelConfig *cfg, const ModelWeights *src);
// Window length: T_opt if > 0 (must not exceed the context), else the context capped at CALIB_SEQ_CAP.
int calibcli_seq_len(const ModelConfig *cfg, int T_opt);
// Load a text file into a token stream, or die.
void calibcli_text_load(text_stream *ts, const char *path, const Tokenizer *tok);
// Calibrate m (full precision) on windows [0, samples) of ts; dies on error. set is initialised here.
void calibcli_run_text(CalibSet *set, Model *m, const text_stream *ts, const char *path, int T, int64_t samples,
                       int batch, int with_xtx);
// Load a statistics file made for this model (hash hex) or die with its one-line reason.
void calibcli_load_stats(CalibSet *set, const char *path, const ModelConfig *cfg, const char *hash, int need_xtx);
// One format item: "mxint3", "nf4", or with a block "mxint2-b16"; block_opt (> 0) applies to an
// item without its own block. Dies naming the item on error.
void calibcli_parse_format(const char *item, int block_opt, int double_quant, quant_format *out);
#endif
