// checkpoints/stats.h — the calibration statistics file (HDF5 through checkpoints/h5.h): one
// calibration (init/calibrate.h's CalibSet) saved so that many initialisations can reuse it.
// Tested by tests/test_calibrate.c (bit-exact round trip, refusal of another model's file, of
// wrong shapes, of a file that is not a statistics file) and tests/test_init_cli.sh.
//
// Layout (format version 1; docs/methods.md "Calibration statistics file"):
//   root attributes: kind = "qpeft-calib-stats", format_version = 1, model_hash (16 hex digits of
//     weights_hash_hex), data (text file or task directory), source ("text" | "task:<name>"),
//     samples, seq_len, padding ("excluded" | "included"), n_layers, has_xtx (0/1),
//     layout = "per distinct input" (q/k/v share one input, gate/up share one)
//   group layer{l}/{attn_in|o_in|mlp_in|down_in}: attributes count (int64, rows accumulated),
//     feeds (e.g. "q_proj,k_proj,v_proj"); datasets sum_sq (n) float64, sum_abs (n) float64 and,
//     when has_xtx, xtx (n,n) float64 (both triangles).
// The checkpoints module includes init/calibrate.h for the CalibSet type only (plain data); init/
// never includes checkpoints/, so there is no cycle.
#ifndef QP_CHECKPOINTS_STATS_H
#define QP_CHECKPOINTS_STATS_H
#include "core/status.h"
#include "init/calibrate.h"
#include "model/config.h"

enum { STATS_FORMAT_VERSION = 1 };

// Write set to path atomically. Returns 0 or -1 with st.
int stats_save(const char *path, const CalibSet *set, qp_status *st);

// Read path into *set (allocated here; free with calib_set_free) after checking that it is a
// statistics file of this format version, made for the model with hash expected_hash (NULL:
// not checked) and config c (layer count and every input dimension). need_xtx: refuse a file
// without Σxᵀx. On failure *set is left empty and st holds one line naming the file.
int stats_load(const char *path, const ModelConfig *c, const char *expected_hash, int need_xtx, CalibSet *set,
               qp_status *st);
#endif
