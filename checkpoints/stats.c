// checkpoints/stats.c — save/load of calibration statistics (layout in stats.h).
// Tested by tests/test_calibrate.c and tests/test_init_cli.sh.
#include "checkpoints/stats.h"
#include "checkpoints/h5.h"
#include "core/check.h"
#include <stdio.h>
#include <string.h>

static const char *const STATS_KIND = "qpeft-calib-stats";

static void group_path(char *buf, size_t cap, int l, int i) {
    snprintf(buf, cap, "layer%d/%s", l, calib_input_names[i]);
}

int stats_save(const char *path, const CalibSet *set, qp_status *st) {
    qh5_file *f = qh5_create(path, st);
    if (!f) return -1;
    // Sticky errors (h5.h): issue every call, check once at commit.
    qh5_attr_set_str(f, "/", "kind", STATS_KIND, st);
    qh5_attr_set_i64(f, "/", "format_version", STATS_FORMAT_VERSION, st);
    qh5_attr_set_str(f, "/", "model_hash", set->model_hash, st);
    qh5_attr_set_str(f, "/", "data", set->data, st);
    qh5_attr_set_str(f, "/", "source", set->source, st);
    qh5_attr_set_i64(f, "/", "samples", set->samples, st);
    qh5_attr_set_i64(f, "/", "seq_len", set->seq_len, st);
    qh5_attr_set_str(f, "/", "padding", set->include_padding ? "included" : "excluded", st);
    qh5_attr_set_i64(f, "/", "n_layers", set->n_layers, st);
    qh5_attr_set_i64(f, "/", "has_xtx", set->with_xtx ? 1 : 0, st);
    qh5_attr_set_str(f, "/", "layout", "per distinct input", st);
    char g[96], p[128];
    for (int l = 0; l < set->n_layers; l++)
        for (int i = 0; i < CALIB_IN_COUNT; i++) {
            const CalibStats *c = set->s[l * CALIB_IN_COUNT + i];
            int64_t n = c->n, nn[2] = {c->n, c->n};
            group_path(g, sizeof g, l, i);
            qh5_make_groups(f, g, st);
            qh5_attr_set_i64(f, g, "count", c->count, st);
            qh5_attr_set_str(f, g, "feeds", calib_input_feeds[i], st);
            snprintf(p, sizeof p, "%s/sum_sq", g);
            qh5_write(f, p, QH5_F64, 1, &n, c->sum_sq, st);
            snprintf(p, sizeof p, "%s/sum_abs", g);
            qh5_write(f, p, QH5_F64, 1, &n, c->sum_abs, st);
            if (set->with_xtx) {
                snprintf(p, sizeof p, "%s/xtx", g);
                qh5_write(f, p, QH5_F64, 2, nn, c->xtx, st);
            }
        }
    return qh5_commit(f, st);
}

static int get_int(qh5_file *f, const char *obj, const char *name, int64_t lo, int64_t hi, int64_t *out,
                   qp_status *st) {
    if (qh5_attr_get_i64(f, obj, name, out, st)) return -1;
    if (*out < lo || *out > hi)
        return qp_fail(st, "%s: attribute %s of %s: expected %lld..%lld, found %lld", qh5_path(f), name, obj,
                       (long long)lo, (long long)hi, (long long)*out);
    return 0;
}

static int load_body(qh5_file *f, const ModelConfig *c, const char *expected_hash, int need_xtx, CalibSet *set,
                     qp_status *st) {
    const char *path = qh5_path(f);
    char kind[64], hash[64], pad[32];
    int64_t ver, nl, xtx, samples, T;
    if (qh5_attr_get_str(f, "/", "kind", kind, sizeof kind, st) || strcmp(kind, STATS_KIND))
        return qp_fail(st, "%s: not a qpeft calibration statistics file (root attribute kind is not '%s')", path,
                       STATS_KIND);
    if (get_int(f, "/", "format_version", 0, INT32_MAX, &ver, st)) return -1;
    if (ver != STATS_FORMAT_VERSION)
        return qp_fail(st, "%s: statistics format version %lld, this qpeft reads version %d", path, (long long)ver,
                       STATS_FORMAT_VERSION);
    if (qh5_attr_get_str(f, "/", "model_hash", hash, sizeof hash, st)) return -1;
    if (expected_hash && strcmp(hash, expected_hash))
        return qp_fail(st, "%s: calibration statistics were made for model hash %s, but this model hashes to %s; "
                           "rerun qpeft calibrate with this model", path, hash, expected_hash);
    if (get_int(f, "/", "n_layers", 1, MODEL_MAX_LAYERS, &nl, st) || get_int(f, "/", "has_xtx", 0, 1, &xtx, st) ||
        get_int(f, "/", "samples", 0, INT64_MAX, &samples, st) || get_int(f, "/", "seq_len", 0, INT32_MAX, &T, st))
        return -1;
    if (nl != c->n_layers)
        return qp_fail(st, "%s: statistics for %lld layers, the model has %d", path, (long long)nl, c->n_layers);
    if (need_xtx && !xtx)
        return qp_fail(st, "%s: has no Σxᵀx (made without --exact); qera-exact needs it: rerun qpeft calibrate --exact",
                       path);
    if (qh5_attr_get_str(f, "/", "padding", pad, sizeof pad, st)) return -1;
    if (strcmp(pad, "excluded") && strcmp(pad, "included"))
        return qp_fail(st, "%s: attribute padding: expected 'excluded' or 'included', found '%s'", path, pad);
    if (strlen(hash) != 16) return qp_fail(st, "%s: model_hash '%s': expected 16 hex digits", path, hash);
    calib_set_init(set, c, (int)xtx);
    set->samples = samples;
    set->seq_len = (int)T;
    set->include_padding = !strcmp(pad, "included");
    memcpy(set->model_hash, hash, 17);
    if (qh5_attr_get_str(f, "/", "data", set->data, sizeof set->data, st) ||
        qh5_attr_get_str(f, "/", "source", set->source, sizeof set->source, st))
        return -1;
    char g[96], p[128];
    for (int l = 0; l < set->n_layers; l++)
        for (int i = 0; i < CALIB_IN_COUNT; i++) {
            CalibStats *cs = set->s[l * CALIB_IN_COUNT + i];
            group_path(g, sizeof g, l, i);
            snprintf(p, sizeof p, "%s/sum_sq", g);
            qh5_type ty;
            int rank;
            int64_t dims[QH5_MAX_RANK];
            if (qh5_info(f, p, &ty, &rank, dims, st)) return -1;
            if (rank != 1 || dims[0] != cs->n)
                return qp_fail(st, "%s: %s: expected statistics of dimension %d for this model, found %s%lld", path, p,
                               cs->n, rank != 1 ? "a rank-2 dataset of " : "", (long long)dims[0]);
            int64_t n = cs->n, nn[2] = {cs->n, cs->n};
            if (get_int(f, g, "count", 0, INT64_MAX, &cs->count, st) ||
                qh5_read(f, p, QH5_F64, 1, &n, cs->sum_sq, st))
                return -1;
            snprintf(p, sizeof p, "%s/sum_abs", g);
            if (qh5_read(f, p, QH5_F64, 1, &n, cs->sum_abs, st)) return -1;
            if (xtx) {
                snprintf(p, sizeof p, "%s/xtx", g);
                if (qh5_read(f, p, QH5_F64, 2, nn, cs->xtx, st)) return -1;
            }
        }
    return 0;
}

int stats_load(const char *path, const ModelConfig *c, const char *expected_hash, int need_xtx, CalibSet *set,
               qp_status *st) {
    memset(set, 0, sizeof *set);
    qh5_file *f = qh5_open(path, st);
    if (!f) return -1;
    int rc = load_body(f, c, expected_hash, need_xtx, set, st);
    qh5_close(f);
    if (rc) calib_set_free(set);
    return rc;
}
