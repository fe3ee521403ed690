// checkpoints/h5.h — the one safe door to HDF5 (the only includer of hdf5.h): atomic writers,
// validating readers. Tested by tests/test_h5.c with an h5py oracle (tests/oracle_h5.py).
//
// Conventions (every checkpoint, statistics and export file goes through this):
// - Atomic writes. qh5_create(path) writes "<path>.tmp.<pid>"; qh5_commit flushes, closes,
//   fsyncs the file, rename()s it onto <path> and fsyncs the directory. qh5_abort closes and
//   unlinks the temp file. A file with the final name is therefore always complete: the old one
//   until the rename, the new one after. A crash (kill, abort) can leave a stale
//   "<path>.tmp.<pid>" behind, never a torn <path>.
// - Sticky errors. After any failed writer call the handle remembers the first message; later
//   writer calls do nothing and return -1, and qh5_commit reports that message, deletes the temp
//   file and returns -1. So a writer may issue all its calls and check once, at commit.
// - Format. Files are created with libver bounds [V110, LATEST] (superblock v3, checksummed
//   metadata). Datasets are chunked (about 1 MiB chunks) with the Fletcher32 filter, so a flipped
//   bit in the data is also caught at read time; empty datasets are contiguous. Numbers are
//   stored little-endian: float32, float64, int32, int64, uint8. Strings are UTF-8 variable-length
//   scalar attributes (what h5py writes for a Python str); readers also accept fixed-length ones.
// - Paths. Objects are named by slash paths relative to the root ("adapters/layer0/A");
//   "/" or "" is the root. Writing a dataset creates its missing parent groups.
// - Reading is strict: qh5_read requires the exact type (class, size and signedness; byte order
//   is converted) and the exact shape; every failure returns qp_status naming the file, the
//   object, what was expected and what was found, plus HDF5's innermost reason where it has one.
//   HDF5's own error-stack printing is switched off, so a bad file gives one line, not a dump.
// - In-memory images (qh5_open_image) use the core driver, so no hdf5_hl link is needed.
// - Fault injection (tests only): QPEFT_FAULT_WRITE=k makes the k-th step of a writer fail with
//   an error, QPEFT_FAULT_ABORT=k calls abort() there. Steps are counted per writer from 1:
//   create, each group/dataset/attribute write, flush, close, fsync, rename, directory fsync.
//   The environment is read by each qh5_create.
// Exported names carry the prefix qh5_ (not h5_/H5, which belong to the library).
#ifndef QP_CHECKPOINTS_H5_H
#define QP_CHECKPOINTS_H5_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

enum { QH5_MAX_RANK = 4 };

typedef enum { QH5_F32, QH5_F64, QH5_I32, QH5_I64, QH5_U8, QH5_TYPE_COUNT } qh5_type;

typedef struct qh5_file qh5_file;  // opaque: one open file, writer or reader

const char *qh5_type_name(qh5_type t);  // "float32", ...
size_t qh5_type_size(qh5_type t);

// ---- writing (atomic) ----
qh5_file *qh5_create(const char *path, qp_status *st);        // NULL + st on failure
int qh5_commit(qh5_file *f, qp_status *st);                    // always frees f; 0 = <path> is the new file
void qh5_abort(qh5_file *f);                                   // frees f; <path> untouched
int qh5_make_groups(qh5_file *f, const char *path, qp_status *st);  // "a/b/c", existing parts are fine
// Dataset of rank 1..QH5_MAX_RANK (dims[i] >= 0) from row-major memory of the given type.
int qh5_write(qh5_file *f, const char *path, qh5_type type, int rank, const int64_t *dims, const void *data,
              qp_status *st);
// Scalar attributes on a group or dataset ("/" = root); an existing attribute is replaced.
int qh5_attr_set_str(qh5_file *f, const char *obj, const char *name, const char *value, qp_status *st);
int qh5_attr_set_i64(qh5_file *f, const char *obj, const char *name, int64_t value, qp_status *st);
int qh5_attr_set_f64(qh5_file *f, const char *obj, const char *name, double value, qp_status *st);

// ---- reading ----
qh5_file *qh5_open(const char *path, qp_status *st);          // read-only
// Read-only from a memory image of a whole file (copied); `name` is used in messages.
qh5_file *qh5_open_image(const void *buf, size_t len, const char *name, qp_status *st);
void qh5_close(qh5_file *f);                                   // reader or writer (a writer is aborted)
const char *qh5_path(const qh5_file *f);                       // the final path / image name
// 1 if an object (group or dataset) exists at path, else 0 (a missing parent is just 0).
int qh5_exists(qh5_file *f, const char *path);
// Type and shape of a dataset; fails if missing, not a dataset, rank > QH5_MAX_RANK or a type
// outside qh5_type.
int qh5_info(qh5_file *f, const char *path, qh5_type *type, int *rank, int64_t dims[QH5_MAX_RANK], qp_status *st);
// Read a whole dataset whose type and shape must be exactly `type` and dims[0..rank).
int qh5_read(qh5_file *f, const char *path, qh5_type type, int rank, const int64_t *dims, void *out, qp_status *st);
// Scalar attributes with type checks (str: string class; i64: integer class; f64: float class).
// The string is copied into buf (cap bytes incl. NUL); a longer value is an error.
int qh5_attr_get_str(qh5_file *f, const char *obj, const char *name, char *buf, size_t cap, qp_status *st);
int qh5_attr_get_i64(qh5_file *f, const char *obj, const char *name, int64_t *out, qp_status *st);
int qh5_attr_get_f64(qh5_file *f, const char *obj, const char *name, double *out, qp_status *st);
// 1 if obj exists and carries an attribute `name` (any type), else 0 (for optional attributes
// that newer writers add: a reader of an older file takes the documented default).
int qh5_attr_exists(qh5_file *f, const char *obj, const char *name);
// Names of the direct children of a group, sorted by name: *names is a malloc'd array of
// malloc'd strings; free with qh5_free_list.
int qh5_list(qh5_file *f, const char *group, char ***names, size_t *count, qp_status *st);
void qh5_free_list(char **names, size_t count);
#endif
