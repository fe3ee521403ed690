// tests/fuzz/fuzz_util.h — helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a
// per-process scratch directory (on /dev/shm when it exists, so per-input files cost no disk I/O)
// and whole-buffer file writes. Harnesses are built by `make fuzz` (clang, libFuzzer, ASan+UBSan)
// and, with tests/fuzz/replay_main.c instead of libFuzzer, by the normal build for
// tests/test_fuzz_regress.sh.
#ifndef QP_TESTS_FUZZ_UTIL_H
#define QP_TESTS_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// "<scratch>/<name>", scratch = /dev/shm/qpeft-fuzz.<pid> (or $TMPDIR/...), created on first use
// and removed at exit (files the harnesses write are removed with it).
static char fz_scratch_dir[256];
static inline void fz_cleanup(void) {
    char cmd[300];
    if (!fz_scratch_dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_scratch_dir);
    if (system(cmd) != 0) { /* best effort */ }
}
static inline const char *fz_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!fz_scratch_dir[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fz_scratch_dir, sizeof fz_scratch_dir, "%s/qpeft-fuzz.%d", base ? base : "/tmp", (int)getpid());
        mkdir(fz_scratch_dir, 0700);
        atexit(fz_cleanup);
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fz_scratch_dir, name);
    return buf[k];
}

// Write data[0..n) to path (truncating); aborts on I/O failure (a harness bug, not a finding).
static inline void fz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) { perror(path); abort(); }
}

// Find the first occurrence of sep (len m) in data[0..n); returns its offset or n.
static inline size_t fz_find(const uint8_t *data, size_t n, const char *sep) {
    size_t m = strlen(sep);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(data + i, sep, m)) return i;
    return n;
}
#endif
