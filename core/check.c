// core/check.c — fatal errors, checked libc wrappers, overflow-checked sizes.
// Tested by tests/test_core.c (overflow helpers) and every CLI error test (message format).
#include "core/check.h"
#include "core/dist.h"
#include "core/status.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int qp_quiet = 0;
int qp_verbose = 0;

static void vmessage(const char *kind, const char *fmt, va_list ap) {
    char raw[8192], line[8192];
    vsnprintf(raw, sizeof raw, fmt, ap);
    qp_one_line(line, sizeof line, raw);  // one line on stderr, whatever the message quotes
    fprintf(stderr, "qpeft: %s%s\n", kind, line);
}

// Under mpirun the job ends for every rank (dist_exit: MPI_Abort). An error that every rank
// meets (a bad flag, a missing file) is printed once, by rank 0: the other ranks give rank 0's
// abort 2 s to end them before printing their copy (300 ms proved too short on a loaded
// machine). An error only one rank meets is printed by that rank, 2 s later.
void qp_die(const char *fmt, ...) {
    if (dist_rank() > 0) usleep(2000 * 1000);
    va_list ap;
    va_start(ap, fmt);
    vmessage("error: ", fmt, ap);
    va_end(ap);
    fflush(stderr);
    dist_exit(1);
}

void qp_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

void qp_info(const char *fmt, ...) {
    if (qp_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *qp_malloc_check(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) qp_die("out of memory allocating %zu bytes (%s:%d)", n, file, line);
    return p;
}

void *qp_calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) qp_die("out of memory allocating %zu x %zu bytes (%s:%d)", n, size, file, line);
    return p;
}

void *qp_realloc_check(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) qp_die("out of memory reallocating %zu bytes (%s:%d)", n, file, line);
    return q;
}

char *qp_strdup_check(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = qp_malloc_check(n, file, line);
    memcpy(p, s, n);
    return p;
}

FILE *qp_fopen_check(const char *path, const char *mode, const char *file, int line) {
    FILE *fp = fopen(path, mode);
    if (!fp) {
        (void)file; (void)line;
        qp_die("%s: cannot open for %s: %s", path, mode[0] == 'r' ? "reading" : "writing", strerror(errno));
    }
    return fp;
}

void qp_fread_check(void *ptr, size_t size, size_t n, FILE *fp, const char *path, const char *file, int line) {
    size_t got = fread(ptr, size, n, fp);
    if (got != n) {
        (void)file; (void)line;
        if (feof(fp)) qp_die("%s: truncated: expected %zu more bytes, file ended after %zu", path, size * n, got * size);
        qp_die("%s: read error: %s", path, strerror(errno));
    }
}

void qp_fwrite_check(const void *ptr, size_t size, size_t n, FILE *fp, const char *path, const char *file, int line) {
    if (fwrite(ptr, size, n, fp) != n) {
        (void)file; (void)line;
        qp_die("%s: write failed: %s", path, strerror(errno));
    }
}

void qp_fclose_check(FILE *fp, const char *path, const char *file, int line) {
    if (fclose(fp) != 0) {
        (void)file; (void)line;
        qp_die("%s: close failed: %s", path, strerror(errno));
    }
}

int qp_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int qp_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

void qp_mkdir_p(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) qp_die("%.64s...: directory path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) qp_die("%s: cannot create directory: %s", buf, strerror(errno));
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) qp_die("%s: exists and is not a directory", buf);
        if (c == '\0') break;
        *p = c;
    }
}

FILE *qp_atomic_open(qp_atomic_file *af, const char *path) {
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path) qp_die("%.64s...: path too long", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp", path);
    af->fp = xfopen(af->tmp, "w");
    return af->fp;
}

void qp_atomic_commit(qp_atomic_file *af) {
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) qp_die("%s: write failed: %s", af->tmp, strerror(errno));
    xfclose(af->fp, af->tmp);
    af->fp = NULL;
    if (rename(af->tmp, af->path) != 0) qp_die("%s: cannot rename into place: %s", af->path, strerror(errno));
}

void qp_write_text_atomic(const char *path, const char *text) {
    qp_atomic_file af;
    FILE *fp = qp_atomic_open(&af, path);
    xfwrite(text, 1, strlen(text), fp, af.tmp);
    qp_atomic_commit(&af);
}

const char *qp_assets_dir(void) {
    const char *env = getenv("QPEFT_ASSETS");
    if (env && env[0]) return env;
    static char buf[4200];
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;  // <repo>/build
        struct stat sb;
        snprintf(buf, sizeof buf, "%s/../../shared/assets", exe);
        if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) return buf;
    }
    return "../shared/assets";
}

int64_t qp_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (int64_t)st.st_size;
}

char *qp_read_file(const char *path, size_t *len_out) {
    FILE *fp = xfopen(path, "rb");
    int64_t sz = qp_file_size(path);
    if (sz < 0) qp_die("%s: cannot stat: %s", path, strerror(errno));
    char *buf = xmalloc((size_t)sz + 1);
    if (sz > 0) xfread(buf, 1, (size_t)sz, fp, path);
    buf[sz] = '\0';
    fclose(fp);
    if (len_out) *len_out = (size_t)sz;
    return buf;
}

char *qp_read_stream(FILE *fp, size_t *len_out) {
    size_t cap = 1 << 16, len = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += got;
        if (len + 1 == cap) { cap *= 2; buf = xrealloc(buf, cap); }
    }
    if (ferror(fp)) { free(buf); return NULL; }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

double qp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
