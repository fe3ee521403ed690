// checkpoints/h5.c — HDF5 wrapper: atomic temp+rename writers, strict validating readers,
// in-memory images, test fault injection. Tested by tests/test_h5.c (+ tests/oracle_h5.py, h5py).
#include "checkpoints/h5.h"
#include "core/check.h"
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qh5_file {
    hid_t fid;         // -1 once closed
    int writer;
    char *path;        // final path (writer) / file or image name (reader)
    char *tmp;         // writer: "<path>.tmp.<pid>"
    int failed;        // writer: sticky error
    char err[sizeof(((qp_status *)0)->msg)];
    int step, fault_write, fault_abort;  // fault injection counters (see h5.h)
};

enum { CHUNK_TARGET_BYTES = 1 << 20 };

static const char *const type_names[QH5_TYPE_COUNT] = {"float32", "float64", "int32", "int64", "uint8"};
static const size_t type_sizes[QH5_TYPE_COUNT] = {4, 8, 4, 8, 1};

const char *qh5_type_name(qh5_type t) { return (t >= 0 && t < QH5_TYPE_COUNT) ? type_names[t] : "?"; }
size_t qh5_type_size(qh5_type t) { return (t >= 0 && t < QH5_TYPE_COUNT) ? type_sizes[t] : 0; }
const char *qh5_path(const qh5_file *f) { return f->path; }

// The H5T_* ids are run-time values (macros over library globals), hence switches, not tables.
static hid_t mem_type(qh5_type t) {
    switch (t) {
    case QH5_F32: return H5T_NATIVE_FLOAT;
    case QH5_F64: return H5T_NATIVE_DOUBLE;
    case QH5_I32: return H5T_NATIVE_INT32;
    case QH5_I64: return H5T_NATIVE_INT64;
    case QH5_U8: return H5T_NATIVE_UINT8;
    default: return -1;
    }
}

static hid_t file_type(qh5_type t) {
    switch (t) {
    case QH5_F32: return H5T_IEEE_F32LE;
    case QH5_F64: return H5T_IEEE_F64LE;
    case QH5_I32: return H5T_STD_I32LE;
    case QH5_I64: return H5T_STD_I64LE;
    case QH5_U8: return H5T_STD_U8LE;
    default: return -1;
    }
}

// Map a stored type to qh5_type (-1 if none) and describe it ("float16", "string", ...).
static int classify_type(hid_t t, char *desc, size_t cap) {
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_FLOAT) {
        snprintf(desc, cap, "float%zu", size * 8);
        return size == 4 ? QH5_F32 : size == 8 ? QH5_F64 : -1;
    }
    if (cls == H5T_INTEGER) {
        int is_signed = H5Tget_sign(t) == H5T_SGN_2;
        snprintf(desc, cap, "%sint%zu", is_signed ? "" : "u", size * 8);
        if (is_signed) return size == 4 ? QH5_I32 : size == 8 ? QH5_I64 : -1;
        return size == 1 ? QH5_U8 : -1;
    }
    static const char *const other[] = {[H5T_STRING] = "string", [H5T_COMPOUND] = "compound", [H5T_ENUM] = "enum",
                                        [H5T_ARRAY] = "array", [H5T_VLEN] = "vlen", [H5T_REFERENCE] = "reference",
                                        [H5T_OPAQUE] = "opaque", [H5T_BITFIELD] = "bitfield", [H5T_TIME] = "time"};
    const char *name = (cls >= 0 && (size_t)cls < sizeof other / sizeof other[0] && other[cls]) ? other[cls] : "unknown type";
    snprintf(desc, cap, "%s", name);
    return -1;
}

// ---- errors ------------------------------------------------------------------------------------

// HDF5 1.10 crashes (SIGSEGV in H5F__close_cb) in its exit-time shutdown when an H5Fclose has
// failed, which is what a full disk does to a writer: the close retries the flush, fails, and
// leaves a half-closed file behind. So the library's own atexit hook is switched off and ours
// skips H5close once any close failed; the process is exiting, so nothing is lost but tidiness.
static int h5_close_failed;
static void h5_shutdown(void) {
    if (!h5_close_failed) H5close();
}

static void quiet_hdf5(void) {
    static int hooked;
    if (!hooked) {  // before the library initialises (H5dont_atexit is refused after that)
        hooked = 1;
        H5dont_atexit();
        atexit(h5_shutdown);
    }
    // HDF5 prints its whole error stack to stderr by default; we report one line instead.
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

// The innermost description. The POSIX driver's I/O failures read "file write failed: time =
// <ctime, with its newline>, filename = ..., errno = 28, error message = 'No space left on
// device', buf = ..."; those are cut to "file write failed: No space left on device". Control
// characters become spaces, so the reason is always part of one line.
static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data) {
    char *out = data;
    if (n != 0 || !e->desc || !e->desc[0]) return 0;
    const char *key = "error message = '";
    const char *em = strstr(e->desc, key), *colon = strchr(e->desc, ':');
    if (em && colon && colon < em) {
        em += strlen(key);
        const char *q = strchr(em, '\'');
        snprintf(out, 256, "%.*s: %.*s", (int)(colon - e->desc), e->desc, (int)(q ? q - em : (ptrdiff_t)strlen(em)), em);
    } else {
        snprintf(out, 256, "%s", e->desc);
    }
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
    return 0;
}

// HDF5's innermost reason for the last failure, as " (hdf5: ...)", or "" when there is none.
static void hdf5_reason(char out[300]) {
    char desc[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, desc);
    H5Eclear2(H5E_DEFAULT);
    if (desc[0]) snprintf(out, 300, " (hdf5: %s)", desc);
    else out[0] = 0;
}

// Fail with "<file>: <message><hdf5 reason>". A writer's first failure sticks (see h5.h).
__attribute__((format(printf, 3, 4))) static int h5fail(qh5_file *f, qp_status *st, const char *fmt, ...) {
    char msg[sizeof f->err], why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hdf5_reason(why);
    char full[2 * sizeof f->err];
    snprintf(full, sizeof full, "%s: %s%s", f ? f->path : "?", msg, why);
    if (f && f->writer && !f->failed) {
        f->failed = 1;
        size_t n = strlen(full) < sizeof f->err ? strlen(full) : sizeof f->err - 1;
        memcpy(f->err, full, n);
        f->err[n] = 0;
    }
    return qp_fail(st, "%s", full);
}

static int writer_ready(qh5_file *f, qp_status *st) {
    if (!f->writer) return qp_fail(st, "%s: expected a file opened for writing, found a read-only one", f->path);
    if (f->failed) return qp_fail(st, "%s", f->err);
    return 0;
}

static int env_int(const char *name) {
    const char *v = getenv(name);
    return v ? atoi(v) : 0;
}

// One counted writer step: the place where QPEFT_FAULT_WRITE / QPEFT_FAULT_ABORT strike.
static int fault_step(qh5_file *f, qp_status *st, const char *what) {
    f->step++;
    if (f->step == f->fault_abort) abort();
    if (f->step == f->fault_write)
        return h5fail(f, st, "injected write fault at step %d (%s) [QPEFT_FAULT_WRITE]", f->step, what);
    return 0;
}

// ---- paths -------------------------------------------------------------------------------------

// Strip one leading '/'; reject empty components ("a//b", "a/"). "" means the root.
static int norm_path(qh5_file *f, const char *path, const char **out, qp_status *st) {
    if (!path) return h5fail(f, st, "expected an object path, found NULL");
    const char *p = path[0] == '/' ? path + 1 : path;
    size_t n = strlen(p);
    if (n && (p[n - 1] == '/' || strstr(p, "//") || p[0] == '/'))
        return h5fail(f, st, "%s: expected a path like a/b/c, found an empty component", path);
    *out = p;
    return 0;
}

// H5Lexists on each prefix, since HDF5 fails (rather than says no) when a parent is missing.
static int link_exists(hid_t fid, const char *p) {
    if (!p[0]) return 1;
    char buf[1024];
    if (strlen(p) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", p);
    for (char *s = buf;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            htri_t e = H5Lexists(fid, buf, H5P_DEFAULT);
            *s = c;
            if (e <= 0) { H5Eclear2(H5E_DEFAULT); return 0; }
            if (!c) return 1;
        }
    }
}

// Type of the object at p: H5I_GROUP, H5I_DATASET, or H5I_BADID if missing.
static H5I_type_t object_kind(hid_t fid, const char *p) {
    if (!link_exists(fid, p)) return H5I_BADID;
    hid_t o = H5Oopen(fid, p[0] ? p : "/", H5P_DEFAULT);
    if (o < 0) { H5Eclear2(H5E_DEFAULT); return H5I_BADID; }
    H5I_type_t k = H5Iget_type(o);
    H5Oclose(o);
    return k;
}

static int make_groups(qh5_file *f, const char *p, size_t upto, qp_status *st) {
    char buf[1024];
    if (upto >= sizeof buf) return h5fail(f, st, "%s: path too long (%zu bytes)", p, upto);
    memcpy(buf, p, upto);
    buf[upto] = 0;
    for (size_t i = 0; i <= upto; i++) {
        if (i < upto && buf[i] != '/') continue;
        char c = buf[i];
        buf[i] = 0;
        H5I_type_t k = object_kind(f->fid, buf);
        if (k == H5I_BADID) {
            hid_t g = H5Gcreate2(f->fid, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g < 0) return h5fail(f, st, "%s: cannot create group", buf);
            H5Gclose(g);
        } else if (k != H5I_GROUP) {
            return h5fail(f, st, "%s: expected a group, found a dataset", buf);
        }
        buf[i] = c;
    }
    return 0;
}

// ---- writer ------------------------------------------------------------------------------------

static hid_t new_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    // STRONG: closing the file closes every object still open, so nothing can keep it half-open.
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    return fapl;
}

qh5_file *qh5_create(const char *path, qp_status *st) {
    quiet_hdf5();
    qh5_file *f = xcalloc(1, sizeof *f);
    f->fid = -1;
    f->writer = 1;
    f->path = xstrdup(path);
    size_t n = strlen(path) + 32;
    f->tmp = xmalloc(n);
    snprintf(f->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    f->fault_write = env_int("QPEFT_FAULT_WRITE");
    f->fault_abort = env_int("QPEFT_FAULT_ABORT");
    if (fault_step(f, st, "create") == 0) {
        hid_t fapl = new_fapl();
        // v1.10+ format: superblock v3 and object headers v2 carry checksums on all metadata.
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
        f->fid = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (f->fid < 0) h5fail(f, st, "cannot create temporary file %s: %s", f->tmp, strerror(errno));
        H5Pclose(fapl);
    }
    if (f->failed) { qh5_abort(f); return NULL; }
    return f;
}

void qh5_abort(qh5_file *f) {
    if (!f) return;
    if (f->fid >= 0) {
        if (H5Fclose(f->fid) < 0) h5_close_failed = 1;  // see h5_shutdown
        H5Eclear2(H5E_DEFAULT);
    }
    if (f->tmp) unlink(f->tmp);
    free(f->path);
    free(f->tmp);
    free(f);
}

static int fsync_path(const char *p, int flags) {
    int fd = open(p, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    char *d = xstrdup(path);
    d[slash - path] = 0;
    return d;
}

int qh5_commit(qh5_file *f, qp_status *st) {
    int rc = writer_ready(f, st);
    if (rc == 0 && (rc = fault_step(f, st, "flush")) == 0 && H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0)
        rc = h5fail(f, st, "cannot flush %s", f->tmp);
    if (rc == 0 && (rc = fault_step(f, st, "close")) == 0) {
        herr_t e = H5Fclose(f->fid);
        f->fid = -1;
        if (e < 0) { h5_close_failed = 1; rc = h5fail(f, st, "cannot close %s", f->tmp); }
    }
    if (rc == 0 && (rc = fault_step(f, st, "fsync")) == 0 && fsync_path(f->tmp, O_RDONLY) != 0)
        rc = h5fail(f, st, "cannot fsync %s: %s", f->tmp, strerror(errno));
    if (rc == 0 && (rc = fault_step(f, st, "rename")) == 0 && rename(f->tmp, f->path) != 0)
        rc = h5fail(f, st, "cannot rename %s to the final name: %s", f->tmp, strerror(errno));
    if (rc != 0) { qh5_abort(f); return -1; }
    // The new file now has its name; a failure below only means the rename may not be durable.
    char *dir = dir_of(f->path);
    if ((rc = fault_step(f, st, "directory fsync")) == 0 && fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
        rc = h5fail(f, st, "cannot fsync directory %s: %s", dir, strerror(errno));
    free(dir);
    free(f->tmp);
    f->tmp = NULL;  // renamed: nothing to unlink
    qh5_abort(f);
    return rc;
}

int qh5_make_groups(qh5_file *f, const char *path, qp_status *st) {
    const char *p = "";
    if (writer_ready(f, st) || norm_path(f, path, &p, st) || fault_step(f, st, "create group")) return -1;
    return p[0] ? make_groups(f, p, strlen(p), st) : 0;
}

// Chunk shape of about CHUNK_TARGET_BYTES: shrink the outermost dimensions first.
static void chunk_dims(int rank, const hsize_t *dims, size_t esize, hsize_t *chunk) {
    for (int i = 0; i < rank; i++) chunk[i] = dims[i];
    for (int i = 0; i < rank; i++) {
        double rest = (double)esize;
        for (int j = i + 1; j < rank; j++) rest *= (double)chunk[j];
        if (rest * (double)chunk[i] <= CHUNK_TARGET_BYTES) break;
        hsize_t c = (hsize_t)(CHUNK_TARGET_BYTES / rest);
        chunk[i] = c ? c : 1;
        if (rest <= CHUNK_TARGET_BYTES) break;
    }
}

static int check_dims(qh5_file *f, const char *path, qh5_type type, int rank, const int64_t *dims, size_t *nbytes,
                      qp_status *st) {
    if (type < 0 || type >= QH5_TYPE_COUNT) return h5fail(f, st, "%s: unknown element type %d", path, (int)type);
    if (rank < 1 || rank > QH5_MAX_RANK)
        return h5fail(f, st, "%s: expected rank 1..%d, found %d", path, QH5_MAX_RANK, rank);
    size_t n = qh5_type_size(type);
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0 || !qp_size_mul(n, (size_t)dims[i], &n))
            return h5fail(f, st, "%s: bad dimension %d = %lld", path, i, (long long)dims[i]);
    *nbytes = n;
    return 0;
}

int qh5_write(qh5_file *f, const char *path, qh5_type type, int rank, const int64_t *dims, const void *data,
              qp_status *st) {
    const char *p = "";
    size_t nbytes = 0;
    if (writer_ready(f, st) || norm_path(f, path, &p, st) || check_dims(f, path, type, rank, dims, &nbytes, st) ||
        fault_step(f, st, "write dataset"))
        return -1;
    if (!p[0]) return h5fail(f, st, "expected a dataset path, found the root");
    if (nbytes && !data) return h5fail(f, st, "%s: no data given for %zu bytes", p, nbytes);
    const char *slash = strrchr(p, '/');
    if (slash && make_groups(f, p, (size_t)(slash - p), st)) return -1;
    if (link_exists(f->fid, p)) return h5fail(f, st, "%s: expected a new dataset, found an existing object", p);
    hsize_t hd[QH5_MAX_RANK], chunk[QH5_MAX_RANK];
    for (int i = 0; i < rank; i++) hd[i] = (hsize_t)dims[i];
    hid_t space = H5Screate_simple(rank, hd, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (nbytes) {  // chunking needs non-zero dims; Fletcher32 checksums each chunk's data
        chunk_dims(rank, hd, qh5_type_size(type), chunk);
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_fletcher32(dcpl);
    }
    hid_t d = H5Dcreate2(f->fid, p, file_type(type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = h5fail(f, st, "%s: cannot create dataset", p);
    else if (nbytes && H5Dwrite(d, mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5fail(f, st, "%s: cannot write %zu bytes", p, nbytes);
    // Closing a chunked dataset writes its last chunks: a full disk can first show here.
    if (d >= 0 && H5Dclose(d) < 0 && rc == 0) rc = h5fail(f, st, "%s: cannot write %zu bytes", p, nbytes);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

// Open the group/dataset an attribute lives on.
static hid_t open_object(qh5_file *f, const char *obj, qp_status *st) {
    const char *p;
    if (norm_path(f, obj, &p, st)) return -1;
    if (object_kind(f->fid, p) == H5I_BADID) { h5fail(f, st, "/%s: expected a group or dataset, found nothing", p); return -1; }
    hid_t o = H5Oopen(f->fid, p[0] ? p : "/", H5P_DEFAULT);
    if (o < 0) h5fail(f, st, "/%s: cannot open", p);
    return o;
}

static int attr_write(qh5_file *f, const char *obj, const char *name, hid_t ftype, hid_t mtype, const void *val,
                      qp_status *st) {
    if (writer_ready(f, st) || fault_step(f, st, "write attribute")) return -1;
    hid_t o = open_object(f, obj, st);
    if (o < 0) return -1;
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, mtype, val) < 0) rc = h5fail(f, st, "%s: cannot write attribute '%s'", obj, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Oclose(o);
    return rc;
}

static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int qh5_attr_set_str(qh5_file *f, const char *obj, const char *name, const char *value, qp_status *st) {
    hid_t t = vlen_utf8();
    int rc = attr_write(f, obj, name, t, t, &value, st);
    H5Tclose(t);
    return rc;
}

int qh5_attr_set_i64(qh5_file *f, const char *obj, const char *name, int64_t value, qp_status *st) {
    return attr_write(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, st);
}

int qh5_attr_set_f64(qh5_file *f, const char *obj, const char *name, double value, qp_status *st) {
    return attr_write(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, st);
}

// ---- reader ------------------------------------------------------------------------------------

static qh5_file *open_with(const char *name, hid_t fapl, qp_status *st) {
    qh5_file *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(name);
    f->fid = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    // Report before any other HDF5 call: each API call clears the error stack we quote.
    if (f->fid < 0) h5fail(f, st, "expected an HDF5 file, found one that cannot be opened (corrupt, truncated or not HDF5)");
    H5Pclose(fapl);
    if (f->fid < 0) {
        qh5_close(f);
        return NULL;
    }
    return f;
}

qh5_file *qh5_open(const char *path, qp_status *st) {
    quiet_hdf5();
    struct stat sb;
    if (stat(path, &sb) != 0) { qp_fail(st, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    if (!S_ISREG(sb.st_mode)) { qp_fail(st, "%s: expected a regular file", path); return NULL; }
    return open_with(path, new_fapl(), st);
}

qh5_file *qh5_open_image(const void *buf, size_t len, const char *name, qp_status *st) {
    quiet_hdf5();
    if (!buf || len == 0) { qp_fail(st, "%s: expected an HDF5 image, found %zu bytes", name, len); return NULL; }
    hid_t fapl = new_fapl();
    // Core driver with no backing store: the image is copied in and nothing touches the disk.
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    if (H5Pset_file_image(fapl, (void *)buf, len) < 0) {
        H5Pclose(fapl);
        qp_fail(st, "%s: cannot set up a %zu-byte file image", name, len);
        return NULL;
    }
    return open_with(name, fapl, st);
}

void qh5_close(qh5_file *f) {
    if (!f) return;
    if (f->writer) { qh5_abort(f); return; }
    if (f->fid >= 0) { H5Fclose(f->fid); H5Eclear2(H5E_DEFAULT); }
    free(f->path);
    free(f);
}

int qh5_exists(qh5_file *f, const char *path) {
    const char *p = path[0] == '/' ? path + 1 : path;
    return object_kind(f->fid, p) != H5I_BADID;
}

static void shape_str(char *out, size_t cap, int rank, const int64_t *dims) {
    size_t pos = snprintf(out, cap, "(");
    for (int i = 0; i < rank && pos < cap; i++) pos += snprintf(out + pos, cap - pos, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (pos < cap) snprintf(out + pos, cap - pos, "%s)", rank == 1 ? "," : "");
}

// Open a dataset and read its type/shape; on success *dset is open (caller closes).
static int open_dataset(qh5_file *f, const char *path, hid_t *dset, int *type, char *tdesc, int *rank, int64_t *dims,
                        qp_status *st) {
    const char *p;
    if (norm_path(f, path, &p, st)) return -1;
    H5I_type_t k = object_kind(f->fid, p);
    if (k == H5I_BADID) return h5fail(f, st, "dataset /%s: expected it to exist, found nothing", p);
    if (k != H5I_DATASET) return h5fail(f, st, "/%s: expected a dataset, found a group", p);
    hid_t d = H5Dopen2(f->fid, p, H5P_DEFAULT);
    if (d < 0) return h5fail(f, st, "dataset /%s: cannot open", p);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *type = classify_type(t, tdesc, 32);
    int r = H5Sget_simple_extent_ndims(s);
    hsize_t hd[QH5_MAX_RANK];
    if (r >= 0 && r <= QH5_MAX_RANK) H5Sget_simple_extent_dims(s, hd, NULL);
    H5Tclose(t);
    H5Sclose(s);
    if (r < 1 || r > QH5_MAX_RANK) {
        H5Dclose(d);
        return h5fail(f, st, "dataset /%s: expected rank 1..%d, found %d", p, QH5_MAX_RANK, r);
    }
    *rank = r;
    for (int i = 0; i < r; i++) dims[i] = (int64_t)hd[i];
    *dset = d;
    return 0;
}

int qh5_info(qh5_file *f, const char *path, qh5_type *type, int *rank, int64_t dims[QH5_MAX_RANK], qp_status *st) {
    hid_t d;
    int ty;
    char tdesc[32];
    if (open_dataset(f, path, &d, &ty, tdesc, rank, dims, st)) return -1;
    H5Dclose(d);
    if (ty < 0) return h5fail(f, st, "dataset %s: expected float32/float64/int32/int64/uint8, found %s", path, tdesc);
    *type = (qh5_type)ty;
    return 0;
}

int qh5_read(qh5_file *f, const char *path, qh5_type type, int rank, const int64_t *dims, void *out, qp_status *st) {
    hid_t d;
    int ty, frank;
    int64_t fd[QH5_MAX_RANK];
    char tdesc[32], want[128], found[128];
    if (type < 0 || type >= QH5_TYPE_COUNT || rank < 1 || rank > QH5_MAX_RANK)
        return h5fail(f, st, "dataset %s: bad request (type %d, rank %d)", path, (int)type, rank);
    if (open_dataset(f, path, &d, &ty, tdesc, &frank, fd, st)) return -1;
    int rc = 0;
    int same = frank == rank;
    for (int i = 0; same && i < rank; i++) same = fd[i] == dims[i];
    if (ty != (int)type) {
        rc = h5fail(f, st, "dataset %s: expected %s, found %s", path, qh5_type_name(type), tdesc);
    } else if (!same) {
        shape_str(want, sizeof want, rank, dims);
        shape_str(found, sizeof found, frank, fd);
        rc = h5fail(f, st, "dataset %s: expected shape %s, found %s", path, want, found);
    } else {
        size_t n = 1;
        for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
        if (n && H5Dread(d, mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
            rc = h5fail(f, st, "dataset %s: cannot read (corrupt data?)", path);
    }
    H5Dclose(d);
    return rc;
}

// Open attribute `name` on `obj`, check it holds one element and its class; *o, *a stay open on success.
static int open_attr(qh5_file *f, const char *obj, const char *name, H5T_class_t want, const char *wname, hid_t *o,
                     hid_t *a, qp_status *st) {
    *o = open_object(f, obj, st);
    if (*o < 0) return -1;
    if (H5Aexists(*o, name) <= 0) {
        H5Oclose(*o);
        return h5fail(f, st, "%s: expected attribute '%s', found none", obj, name);
    }
    *a = H5Aopen(*o, name, H5P_DEFAULT);
    hid_t t = *a >= 0 ? H5Aget_type(*a) : -1, s = *a >= 0 ? H5Aget_space(*a) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    hssize_t npts = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    char tdesc[32] = "unreadable";
    if (t >= 0) classify_type(t, tdesc, sizeof tdesc);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    int rc = 0;
    if (*a < 0) rc = h5fail(f, st, "%s: cannot open attribute '%s'", obj, name);
    else if (cls != want) rc = h5fail(f, st, "%s: attribute '%s': expected %s, found %s", obj, name, wname, tdesc);
    else if (npts != 1) rc = h5fail(f, st, "%s: attribute '%s': expected one value, found %lld", obj, name, (long long)npts);
    if (rc) {
        if (*a >= 0) H5Aclose(*a);
        H5Oclose(*o);
    }
    return rc;
}

int qh5_attr_get_i64(qh5_file *f, const char *obj, const char *name, int64_t *out, qp_status *st) {
    hid_t o, a;
    if (open_attr(f, obj, name, H5T_INTEGER, "an integer", &o, &a, st)) return -1;
    int rc = H5Aread(a, H5T_NATIVE_INT64, out) < 0 ? h5fail(f, st, "%s: cannot read attribute '%s'", obj, name) : 0;
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int qh5_attr_get_f64(qh5_file *f, const char *obj, const char *name, double *out, qp_status *st) {
    hid_t o, a;
    if (open_attr(f, obj, name, H5T_FLOAT, "a float", &o, &a, st)) return -1;
    int rc = H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0 ? h5fail(f, st, "%s: cannot read attribute '%s'", obj, name) : 0;
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int qh5_attr_exists(qh5_file *f, const char *obj, const char *name) {
    const char *p;
    qp_status st = {0};
    if (norm_path(f, obj, &p, &st) || object_kind(f->fid, p) == H5I_BADID) return 0;
    hid_t o = H5Oopen(f->fid, p[0] ? p : "/", H5P_DEFAULT);
    if (o < 0) return 0;
    int r = H5Aexists(o, name) > 0;
    H5Oclose(o);
    return r;
}

int qh5_attr_get_str(qh5_file *f, const char *obj, const char *name, char *buf, size_t cap, qp_status *st) {
    hid_t o, a;
    if (open_attr(f, obj, name, H5T_STRING, "a string", &o, &a, st)) return -1;
    hid_t t = H5Aget_type(a);
    char *val = NULL;
    int rc = 0;
    if (H5Tis_variable_str(t) > 0) {
        hid_t m = H5Tcopy(H5T_C_S1);
        H5Tset_size(m, H5T_VARIABLE);
        H5Tset_cset(m, H5Tget_cset(t));
        char *s = NULL;
        if (H5Aread(a, m, &s) < 0 || !s) rc = h5fail(f, st, "%s: cannot read attribute '%s'", obj, name);
        else val = xstrdup(s);
        if (s) H5free_memory(s);
        H5Tclose(m);
    } else {  // fixed length: read the raw bytes and terminate them ourselves
        size_t n = H5Tget_size(t);
        val = xcalloc(n + 1, 1);
        if (H5Aread(a, t, val) < 0) rc = h5fail(f, st, "%s: cannot read attribute '%s'", obj, name);
    }
    if (rc == 0 && strlen(val) >= cap)
        rc = h5fail(f, st, "%s: attribute '%s': expected at most %zu bytes, found %zu", obj, name, cap ? cap - 1 : 0, strlen(val));
    if (rc == 0) memcpy(buf, val, strlen(val) + 1);
    free(val);
    H5Tclose(t);
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

typedef struct {
    char **names;
    size_t n, cap;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    name_list *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->names = xrealloc(l->names, l->cap * sizeof *l->names);
    }
    l->names[l->n++] = xstrdup(name);
    return 0;
}

int qh5_list(qh5_file *f, const char *group, char ***names, size_t *count, qp_status *st) {
    const char *p;
    *names = NULL;
    *count = 0;
    if (norm_path(f, group, &p, st)) return -1;
    H5I_type_t k = object_kind(f->fid, p);
    if (k != H5I_GROUP)
        return h5fail(f, st, "/%s: expected a group, found %s", p, k == H5I_BADID ? "nothing" : "a dataset");
    hid_t g = H5Gopen2(f->fid, p[0] ? p : "/", H5P_DEFAULT);
    if (g < 0) return h5fail(f, st, "/%s: cannot open group", p);
    name_list l = {0};
    hsize_t idx = 0;
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &l);
    H5Gclose(g);
    if (e < 0) {
        qh5_free_list(l.names, l.n);
        return h5fail(f, st, "/%s: cannot list group", p);
    }
    *names = l.names;
    *count = l.n;
    return 0;
}

void qh5_free_list(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}
