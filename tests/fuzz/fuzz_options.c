// tests/fuzz/fuzz_options.c — libFuzzer harness for trainer/options.c: the input is split at NUL
// bytes and newlines into argv and parsed against a table with every option type and range
// (modelled on `qpeft train`'s), then list values go through opts_split_*. opts_parse reports
// errors through qp_die (exit 1); this harness is linked with -Wl,--wrap=qp_die so that an error
// returns here by longjmp instead of exiting. --help/-h (which exit 0 by design) are skipped.
// Seeds: option lines from tests/test_cli.sh and docs/cli.md (tests/fuzz/make_seeds.sh).
#include "tests/fuzz/fuzz_util.h"
#include "trainer/options.h"
#include <setjmp.h>

static jmp_buf die_jump;
static int in_parse;

_Noreturn void __real_qp_die(const char *fmt, ...);
_Noreturn void __wrap_qp_die(const char *fmt, ...);
_Noreturn void __wrap_qp_die(const char *fmt, ...) {
    (void)fmt;
    if (!in_parse) abort();  // qp_die outside the parser: a finding
    longjmp(die_jump, 1);
}

enum { MAX_ARGS = 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "qpeft";
    argv[argc++] = "train";
    for (size_t i = 0, start = 0; i <= size && argc < MAX_ARGS; i++)
        if (i == size || text[i] == 0 || text[i] == '\n') {
            text[i] = 0;
            if (strcmp(text + start, "--help") && strcmp(text + start, "-h")) argv[argc++] = text + start;
            start = i + 1;
        }
    char *model = NULL, *out = NULL, *fmt = NULL, *ranks = NULL, *lrs = NULL, *names = NULL;
    int rank = 0, batch = 0, steps = 0, quiet = 0, dq = 0, seed = 0;
    double lr = 0, alpha = 0, wd = 0, ratio = 0;
    qp_opt opts[] = {
        {"--model", OPT_STR, &model, NULL, "model", 1, 0, 0},
        {"--out", OPT_STR, &out, NULL, "run dir", 1, 0, 0},
        {"--format", OPT_STR, &fmt, "mxint3", "format", 1, 0, 0},
        {"--rank", OPT_INT, &rank, "8", "rank", 0, 4096, 0},
        {"--alpha", OPT_FLOAT, &alpha, "16", "alpha", 1e-6, 1e6, 0},
        {"--batch", OPT_INT, &batch, "16", "batch", 1, 1 << 16, 0},
        {"--max-steps", OPT_INT, &steps, "0", "steps", 0, 2147483647.0, 0},
        {"--lr", OPT_FLOAT, &lr, "1e-3", "lr", 0, 10, 0},
        {"--weight-decay", OPT_FLOAT, &wd, "0", "wd", 0, 1, 0},
        {"--warmup-ratio", OPT_FLOAT, &ratio, "0", "ratio", 0, 1, 0},
        {"--seed", OPT_INT, &seed, "42", "seed", 1, 0, 0},
        {"--double-quant", OPT_FLAG, &dq, NULL, "dq", 1, 0, 0},
        {"--quiet", OPT_FLAG, &quiet, NULL, "quiet", 1, 0, 0},
        {"--ranks", OPT_STR, &ranks, "8", "ranks", 1, 0, 0},
        {"--lrs", OPT_STR, &lrs, "1e-3", "lrs", 1, 0, 0},
        {"--inits", OPT_STR, &names, "lora", "inits", 1, 0, 0},
    };
    int n = (int)(sizeof opts / sizeof opts[0]);
    in_parse = 1;
    if (setjmp(die_jump) == 0) {
        opts_parse("train", "[options]", opts, n, argc, argv, 2);
        if (rank < 0 || rank > 4096 || batch < 1 || !(lr >= 0 && lr <= 10)) abort();  // ranges held
        int iv[16];
        double dv[16];
        char *sv[16];
        opts_split_ints("--ranks", ranks, iv, 16);
        opts_split_doubles("--lrs", lrs, dv, 16);
        char *copy = strdup(names);
        if (setjmp(die_jump) == 0) opts_split_strs("--inits", copy, sv, 16);
        free(copy);
    }
    in_parse = 0;
    free(text);
    return 0;
}
