// tests/test_metrics.c — trainer/metrics.h: hand-computed small cases (ties, degenerate inputs)
// and random cases against independent numpy formulas (tests/oracle_metrics.py).
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "trainer/metrics.h"
#include <stdint.h>
#include <string.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static const char *tmpdir(void) { const char *t = getenv("TEST_TMP"); return t ? t : "/tmp"; }
static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

static void hand_cases(void) {
    // TP=2 (i 0,3), TN=1 (i 1), FP=1 (i 2), FN=1 (i 4).
    int pred[] = {1, 0, 1, 1, 0}, gold[] = {1, 0, 0, 1, 1};
    CHECK(near(metric_accuracy(pred, gold, 5), 0.6, 1e-15), "accuracy 3/5 = %.6f", metric_accuracy(pred, gold, 5));
    CHECK(near(metric_f1(pred, gold, 5), 2.0 / 3.0, 1e-15), "f1 2TP/(2TP+FP+FN) = 4/6: %.6f", metric_f1(pred, gold, 5));
    // (TP·TN − FP·FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2−1)/sqrt(3·3·2·2) = 1/6
    CHECK(near(metric_mcc(pred, gold, 5, 2), 1.0 / 6.0, 1e-15), "mcc = 1/6: %.6f", metric_mcc(pred, gold, 5, 2));
    int flip[] = {0, 1, 1, 0, 0};  // exactly the opposite of gold
    CHECK(near(metric_mcc(flip, gold, 5, 2), -1.0, 1e-15), "mcc of inverted predictions = -1: %.6f",
          metric_mcc(flip, gold, 5, 2));
    int ones[] = {1, 1, 1, 1, 1}, zeros[] = {0, 0, 0, 0, 0};
    CHECK(metric_mcc(ones, gold, 5, 2) == 0.0, "mcc with constant predictions = 0 (sklearn's convention)");
    CHECK(metric_f1(zeros, zeros, 5) == 0.0 && metric_f1(zeros, gold, 5) == 0.0, "f1 with no positive predicted = 0");
    int bad[] = {1, 0, 2, 1, 0};
    CHECK(isnan(metric_mcc(bad, gold, 5, 2)), "mcc with a class index out of range is NAN");

    float x[] = {1, 2, 3}, y[] = {1, 3, 2};  // dx=(-1,0,1) dy=(-1,1,0): 1/sqrt(2·2)
    CHECK(near(metric_pearson(x, y, 3), 0.5, 1e-12) && near(metric_spearman(x, y, 3), 0.5, 1e-12),
          "pearson = spearman = 0.5 on (1,2,3),(1,3,2): %.6f %.6f", metric_pearson(x, y, 3), metric_spearman(x, y, 3));
    // Ties: ranks x = (1, 2.5, 2.5, 4), y = (1,2,3,4): 4.5/sqrt(4.5·5) = 0.9486833
    float xt[] = {10, 20, 20, 30}, yt[] = {-3, 0.5f, 7, 8};
    CHECK(near(metric_spearman(xt, yt, 4), 4.5 / sqrt(22.5), 1e-12), "spearman with a tie (average ranks) = %.7f (want %.7f)",
          metric_spearman(xt, yt, 4), 4.5 / sqrt(22.5));
    float c[] = {2, 2, 2};
    CHECK(isnan(metric_pearson(c, y, 3)) && isnan(metric_spearman(x, y, 1)), "pearson of a constant / n<2 is NAN");
    CHECK(metric_main_for_task("cola") == METRIC_MCC && metric_main_for_task("stsb") == METRIC_PEARSON &&
              metric_main_for_task("rte") == METRIC_ACCURACY && metric_main_for_task("mnli") == METRIC_ACCURACY &&
              metric_main_for_task("mytsv") == METRIC_ACCURACY && strcmp(metric_name(METRIC_MCC), "mcc") == 0,
          "main metric: cola mcc, stsb pearson, others accuracy");
}

static void oracle_case(int n, int K, int tie_levels, uint64_t seed) {
    qp_rng r; rng_seed(&r, seed);
    int *pred = xmalloc(n * sizeof(int)), *gold = xmalloc(n * sizeof(int));
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
    for (int i = 0; i < n; i++) {
        gold[i] = (int)rng_below(&r, (uint32_t)K);
        pred[i] = rng_uniform(&r) < 0.7f ? gold[i] : (int)rng_below(&r, (uint32_t)K);
        x[i] = 2.385f * rng_normal(&r);
        y[i] = 0.6f * x[i] + rng_normal(&r);
        if (tie_levels) { x[i] = (float)(int)(x[i] * tie_levels); y[i] = (float)(int)(y[i] * tie_levels); }
    }
    char in[512], out[512], cmd[1400];
    snprintf(in, sizeof in, "%s/metrics_in.bin", tmpdir());
    snprintf(out, sizeof out, "%s/metrics_out.txt", tmpdir());
    FILE *fp = xfopen(in, "wb");
    int32_t hdr[2] = {n, K};
    xfwrite(hdr, 4, 2, fp, in); xfwrite(pred, 4, n, fp, in); xfwrite(gold, 4, n, fp, in);
    xfwrite(x, 4, n, fp, in); xfwrite(y, 4, n, fp, in);
    xfclose(fp, in);
    snprintf(cmd, sizeof cmd, "%s tests/oracle_metrics.py '%s' '%s'", python(), in, out);
    int rc = system(cmd);
    REQUIRE(rc == 0, "oracle_metrics.py ran (rc %d)", rc);
    if (rc == 0) {
        double ref[5];
        fp = xfopen(out, "r");
        for (int k = 0; k < 5; k++) QP_ASSERT(fscanf(fp, "%lf", &ref[k]) == 1);
        fclose(fp);
        double got[5] = {metric_accuracy(pred, gold, n), metric_f1(pred, gold, n), metric_mcc(pred, gold, n, K),
                         metric_pearson(x, y, n), metric_spearman(x, y, n)};
        for (int k = 0; k < 5; k++) {
            if (k == 1 && K != 2) continue;  // F1 of class 1 is a binary metric
            CHECK(near(got[k], ref[k], 1e-10), "n=%d K=%d ties=%d %s: %.12f vs numpy %.12f", n, K, tie_levels,
                  metric_name((metric_kind)k), got[k], ref[k]);
        }
    }
    free(pred); free(gold); free(x); free(y);
}

int main(void) {
    hand_cases();
    oracle_case(1043, 2, 0, 1);
    oracle_case(500, 2, 2, 2);   // heavy ties in x and y
    oracle_case(777, 3, 0, 3);   // MNLI-like three classes
    oracle_case(1500, 2, 1, 4);
    return tl_finish();
}
