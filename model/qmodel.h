// model/qmodel.h — qpeft's own quantized model file (".qm"): the config, the set of packed
// linear kinds, fp32 embeddings/norms/head (and any unquantized linear), then every packed
// base as the byte image of quant_tensor_write. Layout in docs/formats.md.
// Tested by tests/test_qmodel.c (round trips, logits equality, corrupt/truncated files).
#ifndef QP_MODEL_QMODEL_H
#define QP_MODEL_QMODEL_H
#include "core/status.h"
#include "model/config.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/quant.h"

#define QMODEL_MAGIC "QPEFTQM1"  // 8 bytes, no terminator in the file
#define QMODEL_VERSION 1u
#define QMODEL_HEADER_BYTES 128

// Does the file at path start with QMODEL_MAGIC? (0 for a directory, a missing or short file.)
int qmodel_is_file(const char *path);

// Read and validate only the header: config, packed kinds (bit k = lin_kind k, every layer
// alike) and their common format. Any pointer may be NULL. Returns 0 or -1.
int qmodel_read_header(const char *path, ModelConfig *cfg, unsigned *mask, quant_format *fmt, qp_status *st);

// Write a quantized model atomically (<path>.tmp.<pid>, then rename). qbase has
// cfg->n_layers*LIN_COUNT entries (index l*LIN_COUNT+k); exactly the kinds in `mask` must be
// non-NULL, all of one format, each of its linear's (OC, IC) shape. Every other tensor is
// written from w in fp32 (w's slots of packed linears are not read). Returns 0 or -1.
int qmodel_save(const char *path, const ModelConfig *cfg, const ModelWeights *w, QuantTensor *const *qbase,
                unsigned mask, qp_status *st);

// Load a quantized model with full validation. w is allocated (weights_alloc) and holds the
// fp32 tensors, and W~ = dq(q(W)) for every packed linear, so hashing and fp32 paths see the
// quantized base. With qbase_out, *qbase_out gets a calloc'd (L*LIN_COUNT) array owning the
// packed tensors (NULL entries = fp32); without it they are freed. On failure nothing is left
// allocated and the message names the file. Returns 0 or -1.
int qmodel_load(const char *path, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase_out, unsigned *mask_out,
                qp_status *st);

// Move the packed bases of a loaded file into a Model set up by model_init over the same
// config: every non-NULL entry replaces m->qbase's entry; the array is freed and *qbase set
// to NULL. A NULL *qbase is a no-op.
void qmodel_install(Model *m, QuantTensor ***qbase);
// Free an array from qmodel_load (entries and array); NULL is a no-op.
void qmodel_free_bases(QuantTensor **qbase, int n_layers);
#endif
