// tests/testlib.h — the tiny harness every C test uses: each check prints one line
// "PASS name" or "FAIL name: detail"; tests/run.sh counts those lines.
#ifndef QP_TESTLIB_H
#define QP_TESTLIB_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int tl_passed = 0, tl_failed = 0;

#define CHECK(cond, ...) \
    do { if (cond) { tl_passed++; printf("PASS "); printf(__VA_ARGS__); printf("\n"); } \
         else { tl_failed++; printf("FAIL "); printf(__VA_ARGS__); printf("  [%s:%d: %s]\n", __FILE__, __LINE__, #cond); } \
         fflush(stdout); } while (0)

// A precondition of later checks (an oracle ran, a file was written): silent when it holds, one
// FAIL line when not. It is not a check of its own, so it never counts as a pass.
#define REQUIRE(cond, ...) \
    do { if (!(cond)) { tl_failed++; printf("FAIL "); printf(__VA_ARGS__); printf("  [%s:%d: %s]\n", __FILE__, __LINE__, #cond); \
                        fflush(stdout); } } while (0)

// Compare two float arrays with |a-ref| <= atol + rtol*|ref|; one PASS/FAIL line naming the worst element.
static inline int tl_allclose(const char *name, const float *a, const float *ref, size_t n, double atol, double rtol) {
    size_t worst = 0; double worst_excess = -INFINITY, worst_abs = 0; int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        double lim = atol + rtol * fabs((double)ref[i]);
        if (!(d <= lim)) bad = 1;
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > worst_excess) { worst_excess = excess; worst = i; worst_abs = d; }
    }
    CHECK(!bad, "%s: n=%zu worst |diff|=%.3g at %zu (got %.8g ref %.8g; atol %.1g rtol %.1g)", name, n,
          worst_abs, worst, n ? a[worst] : 0.0f, n ? ref[worst] : 0.0f, atol, rtol);
    return !bad;
}

// The whole file at path, which must hold exactly `want` bytes, in a malloc'd buffer; NULL if it
// is missing or of another size.
static inline void *tl_slurp(const char *path, size_t want) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    void *buf = malloc(want ? want : 1);
    size_t got = fread(buf, 1, want, fp);
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    if (got != want || extra) { free(buf); return NULL; }
    return buf;
}

static inline int tl_finish(void) {
    printf("# %d passed, %d failed\n", tl_passed, tl_failed);
    return tl_failed ? 1 : 0;
}

// Path to a shared asset: $QPEFT_ASSETS/<rel> (the Makefile exports QPEFT_ASSETS).
static inline const char *tl_asset(const char *rel) {
    static char buf[8][4096]; static int k = 0;
    const char *root = getenv("QPEFT_ASSETS");
    if (!root) root = "../shared/assets";
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}
#endif
