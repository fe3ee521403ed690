// checkpoints/gguf.h — the one GGUF writer (v3, little-endian; layout in docs/formats.md): key/
// value metadata of any type, then tensor infos, then the tensor data, each tensor at an offset
// aligned to general.alignment (32). The file's one reader is model/gguf.h. Use: add keys and
// tensor infos, gguf_writer_begin (writes everything but the data), then gguf_writer_data once
// per tensor in the order they were added, then gguf_writer_finish. Errors are sticky: the
// first one is returned by finish (so a caller can stay linear), and a half-written file is
// the caller's staging directory's to remove. Tested by tests/test_gguf.c (read back through
// model/gguf.h) and tests/test_gguf_llamacpp.sh (llama.cpp loads what it writes).
#ifndef QP_CHECKPOINTS_GGUF_H
#define QP_CHECKPOINTS_GGUF_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

// Metadata (keys must be unique; the writer asserts it).
void gguf_kv_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_kv_f32(gguf_writer *w, const char *key, float v);
void gguf_kv_bool(gguf_writer *w, const char *key, int v);
void gguf_kv_str(gguf_writer *w, const char *key, const char *v);
void gguf_kv_str_array(gguf_writer *w, const char *key, const char *const *v, size_t n);
void gguf_kv_f32_array(gguf_writer *w, const char *key, const float *v, size_t n);
void gguf_kv_i32_array(gguf_writer *w, const char *key, const int32_t *v, size_t n);

// A tensor info: ggml ne[0..n_dims) (ne[0] the contiguous dimension: a (rows, cols) matrix is
// ne = {cols, rows}) and ggml type id; its byte size follows from the type's block table.
void gguf_tensor(gguf_writer *w, const char *name, int n_dims, const int64_t *ne, int ggml_type);

// Write header, metadata and tensor infos to path (a new file).
int gguf_writer_begin(gguf_writer *w, const char *path, qp_status *st);
// The data of the next tensor: exactly its byte size, then padding to the alignment.
void gguf_writer_data(gguf_writer *w, const void *data, size_t bytes);
// Check every tensor got its data; flush, fsync, close. 0 or -1 with the first error in st.
int gguf_writer_finish(gguf_writer *w);
// Bytes of the file so far (after finish: its size).
uint64_t gguf_writer_bytes(const gguf_writer *w);
#endif
