// trainer/qer_cli.h — `qpeft merge --lossless`: QER's merge of a checkpoint's adapters into its
// MXINT base at the base's bit width (init/qer.h), optionally after the error-aware calibration,
// with the checks and report the verb prints. Errors end the process with one line.
// Tested by tests/test_qer_cli.sh.
#ifndef QP_TRAINER_QER_CLI_H
#define QP_TRAINER_QER_CLI_H
#include "init/qer.h"
#include "model/model.h"

typedef struct {
    const char *calib_text;  // text for the error-aware calibration (steps > 0), windows of T
    const char *tok_path;    // its tokenizer
    int samples, T, steps;   // windows, their length, Adam steps per linear (0: no calibration)
    double lr;               // relative step size (init/qer.h)
    double overflow_penalty; // λ of the overflow-aware steps (init/qer.h); 0 = straight through
} qer_cli_opts;

typedef struct {
    qer_report rep;              // weight-space error vs the fp adapters, overflow counts
    int calibrated;
    qer_out_error before, after; // output-space errors (calibrated only)
    double bits_per_weight;      // of the merged packed linears
    double eq_max_abs;           // merged (packed) vs unmerged quantized-adapter logits: max |Δ|
    long long eq_bits_differ;    // logits whose bit patterns differ (0 = bit for bit)
    int ckpt_qer;                // m was QER-trained (--adapter-quant same): also checked against m itself
    double ckpt_max_abs;         // merged vs m's own (quantized-adapter) forward: max |Δ|
    long long ckpt_bits_differ;  // and the logits whose bits differ (0 = bit for bit)
    double fp_max_abs, fp_mse;   // merged vs the fp-adapter model W~ + s·B·A of m's adapters
} qer_cli_result;

// m: a checkpoint's model (fp32 weights in m->w, packed MXINT bases, adapters). Checks
// qer_check_model (dies with its message), calibrates if asked (on a rank-0 fp32 copy of m->w;
// refused for a QER-trained m, whose model the merge must reproduce), merges, compares logits on
// ids (B,T) — m's activations must cover (B,T) — and prints a report; dies if the merged logits
// differ in any bit from the unmerged quantized-adapter model's (or, QER-trained, from m's own).
// m's adapters are left as they were. Returns the merged bases (L*LIN_COUNT, qmodel_free_bases).
QuantTensor **qer_cli_merge(Model *m, const qer_cli_opts *o, const int *ids, int B, int T, qer_cli_result *res);
#endif
