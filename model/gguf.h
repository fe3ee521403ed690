// model/gguf.h — the one GGUF reader (v2/v3, little-endian): header, metadata of every value
// type (scalars, strings, arrays of them), tensor infos with their offsets and the alignment,
// and tensor data dequantized through quant/ggml_blocks.h. Every count, length, dimension and
// offset is checked against the file before it is trusted; hostile input gets one line naming
// the file, the offset and what was wrong. The GGUF-bases loader builds on it; qpeft's writer is
// checkpoints/gguf.h. Tested by tests/test_gguf.c (round trips, every refusal) and the fuzz seeds.
#ifndef QP_MODEL_GGUF_H
#define QP_MODEL_GGUF_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

// GGUF value types (ggml's enum gguf_type).
typedef enum {
    GGUF_U8 = 0, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STR, GGUF_ARR,
    GGUF_U64, GGUF_I64, GGUF_F64, GGUF_TYPE_COUNT
} gguf_type;

typedef struct {
    char *key;
    gguf_type type;        // GGUF_ARR: elements of arr_type
    gguf_type arr_type;
    uint64_t n;            // array length (1 for a scalar)
    void *data;            // scalars/numeric arrays: n packed values; strings: n char* (NUL-terminated)
} gguf_kv;

typedef struct {
    char *name;
    int n_dims;
    int64_t ne[4];         // ggml order: ne[0] contiguous
    int type;              // ggml type id (a row of quant/ggml_blocks.h)
    uint64_t offset;       // within the data section
    uint64_t bytes;
} gguf_tensor_info;

typedef struct {
    char *path;
    uint32_t version;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor_info *t;
    uint64_t alignment, data_offset, file_size;
} gguf_file;

// Parse and validate everything but the tensor data. 0, or -1 with st set (nothing to free).
int gguf_open(gguf_file *g, const char *path, qp_status *st);
void gguf_close(gguf_file *g);

// Metadata lookups: the pair, or NULL when absent.
const gguf_kv *gguf_find(const gguf_file *g, const char *key);
// Typed getters: 0, or -1 with st set when the key is absent or of another type.
int gguf_get_u32(const gguf_file *g, const char *key, uint32_t *v, qp_status *st);
int gguf_get_f32(const gguf_file *g, const char *key, float *v, qp_status *st);
const char *gguf_get_str(const gguf_file *g, const char *key, qp_status *st);  // NULL on error
// An array of elem type (NULL on error; *n its length).
const gguf_kv *gguf_get_arr(const gguf_file *g, const char *key, gguf_type elem, qp_status *st);

// Tensor index by name, or -1.
int gguf_find_tensor(const gguf_file *g, const char *name);
// Raw bytes of tensor i into buf (t->bytes of them); 0 or -1.
int gguf_read_raw(const gguf_file *g, int i, void *buf, qp_status *st);
// Tensor i as fp32 (product of ne floats), dequantized with the type's _ref; 0 or -1.
int gguf_read_f32(const gguf_file *g, int i, float *out, qp_status *st);
#endif
