// trainer/calib_cli.c — see calib_cli.h. Tested by tests/test_init_cli.sh.
#include "trainer/calib_cli.h"
#include "checkpoints/stats.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>

void calibcli_weights_copy(ModelWeights *dst, const ModelConfig *cfg, const ModelWeights *src) {
    qp_status st = {0};
    if (weights_alloc(dst, cfg, &st)) qp_die("%s", st.msg);
    QP_ASSERT(dst->n_floats == src->n_floats);
    memcpy(dst->mem, src->mem, src->n_floats * sizeof(float));
}

int calibcli_seq_len(const ModelConfig *cfg, int T_opt) {
    if (T_opt > cfg->max_seq_len) qp_die("--seq-len %d exceeds the model's context %d", T_opt, cfg->max_seq_len);
    if (T_opt > 0) return T_opt;
    return cfg->max_seq_len < CALIB_SEQ_CAP ? cfg->max_seq_len : CALIB_SEQ_CAP;
}

void calibcli_text_load(text_stream *ts, const char *path, const Tokenizer *tok) {
    qp_status st = {0};
    if (text_load(ts, path, tok, &st)) qp_die("%s", st.msg);
}

void calibcli_run_text(CalibSet *set, Model *m, const text_stream *ts, const char *path, int T, int64_t samples,
                       int batch, int with_xtx) {
    qp_status st = {0};
    calib_set_init(set, &m->cfg, with_xtx);
    double t0 = qp_now();
    if (calib_set_run_text(set, m, ts, T, 0, samples, batch, &st)) qp_die("%s: %s", path, st.msg);
    snprintf(set->data, sizeof set->data, "%s", path);
    qp_info("calibration: %lld windows of %d tokens from %s in %.2f s%s", (long long)samples, T, path,
            qp_now() - t0, with_xtx ? " (with Σxᵀx)" : "");
}

void calibcli_load_stats(CalibSet *set, const char *path, const ModelConfig *cfg, const char *hash, int need_xtx) {
    qp_status st = {0};
    if (stats_load(path, cfg, hash, need_xtx, set, &st)) qp_die("%s", st.msg);
    qp_info("calibration statistics: %s (%lld samples of %d tokens from %s, padding %s)", path,
            (long long)set->samples, set->seq_len, set->data, set->include_padding ? "included" : "excluded");
}

void calibcli_parse_format(const char *item, int block_opt, int double_quant, quant_format *out) {
    char name[64];
    int block = block_opt;
    const char *dash = strstr(item, "-b");
    size_t len = dash ? (size_t)(dash - item) : strlen(item);
    if (len == 0 || len >= sizeof name) qp_die("--format: bad item '%s'", item);
    memcpy(name, item, len);
    name[len] = 0;
    if (dash) {
        char *end;
        long b = strtol(dash + 2, &end, 10);
        if (end == dash + 2 || *end || b <= 0 || b > (1 << 20))
            qp_die("--format: bad block in '%s' (expected NAME or NAME-bBLOCK, e.g. mxint2-b16)", item);
        block = (int)b;
    }
    qp_status st = {0};
    if (quant_parse_format(name, block, double_quant, out, &st) || quant_format_check(out, &st))
        qp_die("--format %s: %s", item, st.msg);
    if (out->kind == QUANT_F32) qp_die("--format %s: adapters initialise against a quantized base; f32 has none", item);
}
