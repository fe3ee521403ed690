// core/check.h — fatal-error helpers for the CLI and checked wrappers around libc.
// Library code that can fail on user input returns qp_status instead (core/status.h);
// these wrappers are for resources whose failure ends the process. Tested by tests/test_core.c.
#ifndef QP_CORE_CHECK_H
#define QP_CORE_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Print "qpeft: error: <msg>" on one line of stderr and exit(1).
_Noreturn void qp_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Non-fatal: "qpeft: warning: <msg>".
void qp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Progress/info lines on stderr, shown unless qp_quiet is set.
void qp_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int qp_quiet;
extern int qp_verbose;

void *qp_malloc_check(size_t n, const char *file, int line);
void *qp_calloc_check(size_t n, size_t size, const char *file, int line);
void *qp_realloc_check(void *p, size_t n, const char *file, int line);
char *qp_strdup_check(const char *s, const char *file, int line);
FILE *qp_fopen_check(const char *path, const char *mode, const char *file, int line);
void qp_fread_check(void *ptr, size_t size, size_t n, FILE *fp, const char *path, const char *file, int line);
void qp_fwrite_check(const void *ptr, size_t size, size_t n, FILE *fp, const char *path, const char *file, int line);
void qp_fclose_check(FILE *fp, const char *path, const char *file, int line);

#define xmalloc(n) qp_malloc_check((n), __FILE__, __LINE__)
#define xcalloc(n, s) qp_calloc_check((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) qp_realloc_check((p), (n), __FILE__, __LINE__)
#define xstrdup(s) qp_strdup_check((s), __FILE__, __LINE__)
#define xfopen(path, mode) qp_fopen_check((path), (mode), __FILE__, __LINE__)
#define xfread(p, s, n, fp, path) qp_fread_check((p), (s), (n), (fp), (path), __FILE__, __LINE__)
#define xfwrite(p, s, n, fp, path) qp_fwrite_check((p), (s), (n), (fp), (path), __FILE__, __LINE__)
#define xfclose(fp, path) qp_fclose_check((fp), (path), __FILE__, __LINE__)

// Always-on invariant check (not for validating input: use qp_status for that).
#define QP_ASSERT(cond) \
    do { if (!(cond)) qp_die("internal error: %s:%d: assertion '%s' failed", __FILE__, __LINE__, #cond); } while (0)

// Overflow-checked size arithmetic: returns 0 and leaves *out untouched on overflow.
int qp_size_mul(size_t a, size_t b, size_t *out);
int qp_size_add(size_t a, size_t b, size_t *out);

// Whole-file read into a malloc'd buffer (NUL-terminated for text use); dies on I/O error.
char *qp_read_file(const char *path, size_t *len_out);
// mkdir -p: create dir and any missing parents (0777 & umask); dies with one line naming the
// directory that could not be made, or the path that exists and is not a directory.
void qp_mkdir_p(const char *dir);
// Temp-then-rename: qp_atomic_open opens "<path>.tmp" for writing; qp_atomic_commit closes it
// (checked, after fsync) and renames it over path, so readers see the old file or the whole new one.
typedef struct { FILE *fp; char path[4096], tmp[4104]; } qp_atomic_file;
FILE *qp_atomic_open(qp_atomic_file *af, const char *path);
void qp_atomic_commit(qp_atomic_file *af);
// The whole of text written to path through qp_atomic_open/commit.
void qp_write_text_atomic(const char *path, const char *text);
// The shared assets directory (models, GLUE, texts): $QPEFT_ASSETS; else <repo>/../shared/assets
// found from the running binary (<repo>/build/qpeft); else ../shared/assets from the current
// directory. The one place defaults under the assets are resolved.
const char *qp_assets_dir(void);
// Everything left in a stream (stdin included) into a malloc'd NUL-terminated buffer, bytes as
// they are; NULL (and nothing allocated) on a read error.
char *qp_read_stream(FILE *fp, size_t *len_out);
// File size in bytes or -1 (errno set).
int64_t qp_file_size(const char *path);
// Wall-clock seconds (monotonic).
double qp_now(void);
#endif
