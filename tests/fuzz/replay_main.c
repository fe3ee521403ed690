// tests/fuzz/replay_main.c — a main() for running a libFuzzer harness without libFuzzer: each
// argument is a file (or a directory of files) fed once to LLVMFuzzerTestOneInput. Linked with
// each harness by the normal (gcc) and ASan builds; tests/test_fuzz_regress.sh runs the result on
// tests/fuzz/regressions/<harness>/ and the seed corpus. Prints "ran N inputs" and exits 0, so
// any crash (a signal or a sanitizer report) makes the test fail.
#include "tests/fuzz/fuzz_util.h"
#include <dirent.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t n_run;

static void run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "out of memory reading %s\n", path); exit(2); }
    // An exact-size copy, so ASan sees reads past the input's end as libFuzzer would.
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    n_run++;
}

static void run_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) { perror(path); exit(2); }
    if (!S_ISDIR(sb.st_mode)) { run_file(path); return; }
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) { perror(path); exit(2); }
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, ents[i]->d_name);
            run_path(p);
        }
        free(ents[i]);
    }
    free(ents);
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) run_path(argv[i]);
    printf("ran %zu inputs\n", n_run);
    return 0;
}
