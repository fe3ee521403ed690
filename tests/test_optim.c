// tests/test_optim.c — optim/: AdamW (decay mask) + clipping + schedules vs a float64 torch oracle
// (tests/oracle_optim.py), hand-derived first steps, determinism across thread counts, error paths.
#include "tests/testlib.h"
#include "core/check.h"
#include "core/rng.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include <omp.h>
#include <stdint.h>
#include <string.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static const char *tmpdir(void) { const char *t = getenv("TEST_TMP"); return t ? t : "/tmp"; }

// Read a whole float64 file written by the oracle; returns count (0 on failure).
static double *read_f64(const char *path, size_t *count) {
    size_t len = 0;
    char *buf = qp_read_file(path, &len);
    *count = len / sizeof(double);
    return (double *)buf;
}

// ---- AdamW + clip + schedule: N steps in C and in torch float64 -----------------------------
typedef struct {
    const char *name;
    size_t n;
    int steps;
    adamw_hparams hp;
    double lr;            // base learning rate (the schedule multiplies it)
    double max_norm;
    sched_kind kind;
    int64_t total, wsteps;
    double wratio;
    const adamw_range *ranges;
    size_t n_ranges;
    const double *grad_scale;  // per step, so some steps clip and some do not
} adamw_case;

static void ranges_spec(const adamw_case *c, char *buf, size_t cap) {
    if (!c->n_ranges) { snprintf(buf, cap, "-"); return; }
    size_t pos = 0;
    for (size_t i = 0; i < c->n_ranges; i++)
        pos += snprintf(buf + pos, cap - pos, "%s%zu:%zu:%d", i ? "," : "", c->ranges[i].offset, c->ranges[i].len,
                        c->ranges[i].decay);
}

static void run_adamw_case(const adamw_case *c) {
    size_t n = c->n;
    int S = c->steps;
    float *p = xmalloc(n * sizeof(float)), *g = xmalloc((size_t)S * n * sizeof(float));
    qp_rng rng; rng_seed(&rng, 1234);
    for (size_t i = 0; i < n; i++) p[i] = 2.385f * rng_normal(&rng);
    for (int k = 0; k < S; k++)
        for (size_t i = 0; i < n; i++) g[(size_t)k * n + i] = (float)(c->grad_scale[k] * rng_normal(&rng));
    char in[512], out[512], spec[512], cmd[2048];
    snprintf(in, sizeof in, "%s/optim_%s_in.bin", tmpdir(), c->name);
    snprintf(out, sizeof out, "%s/optim_%s_out.bin", tmpdir(), c->name);
    FILE *fp = xfopen(in, "wb");
    xfwrite(p, sizeof(float), n, fp, in);
    xfwrite(g, sizeof(float), (size_t)S * n, fp, in);
    xfclose(fp, in);
    ranges_spec(c, spec, sizeof spec);
    snprintf(cmd, sizeof cmd, "%s tests/oracle_optim.py adamw %s %s %zu %d %.17g %.17g %.17g %.17g %.17g %.17g %s %lld %lld %.17g %s",
             python(), in, out, n, S, c->lr, c->hp.beta1, c->hp.beta2, c->hp.eps, c->hp.weight_decay, c->max_norm,
             sched_kind_name(c->kind), (long long)c->total, (long long)c->wsteps, c->wratio, spec);
    int rc = system(cmd);
    REQUIRE(rc == 0, "%s: oracle ran (rc=%d)", c->name, rc);
    if (rc != 0) { free(p); free(g); return; }
    size_t cnt = 0;
    double *ref = read_f64(out, &cnt);
    size_t want = (size_t)S * (n + 2) + 2 * n + 1;
    CHECK(cnt == want, "%s: oracle output has %zu values (expected %zu)", c->name, cnt, want);
    if (cnt != want) { free(p); free(g); free(ref); return; }

    qp_status st = {0};
    adamw_state s; adamw_init(&s, n, c->hp);
    CHECK(adamw_set_decay_ranges(&s, c->ranges, c->n_ranges, &st) == 0, "%s: decay ranges accepted %s", c->name, st.msg);
    sched_config sc;
    CHECK(sched_init(&sc, c->kind, c->total, c->wsteps, c->wratio, &st) == 0, "%s: schedule init %s", c->name, st.msg);
    float *refp = xmalloc(n * sizeof(float)), *refm = xmalloc(n * sizeof(float)), *refv = xmalloc(n * sizeof(float));
    const double *r = ref;
    for (int k = 0; k < S; k++, r += n + 2) {
        float *gk = g + (size_t)k * n;
        double lr = c->lr * sched_lambda(&sc, s.t);  // t = optimizer steps already taken
        double norm = clip_grad_norm(gk, n, c->max_norm);
        CHECK(fabs(lr - r[0]) <= 1e-15 * c->lr, "%s step %d: lr %.10g vs torch %.10g", c->name, k, lr, r[0]);
        CHECK(fabs(norm - r[1]) <= 1e-12 * r[1], "%s step %d: grad norm %.12g vs torch %.12g (clip at %g)",
              c->name, k, norm, r[1], c->max_norm);
        adamw_step(&s, p, gk, lr);
        for (size_t i = 0; i < n; i++) refp[i] = (float)r[2 + i];
        char nm[128]; snprintf(nm, sizeof nm, "%s step %d params vs torch float64", c->name, k);
        // fp32 params/moments: each step rounds p, m, v to float (rel 6e-8 each), so a few ulps.
        tl_allclose(nm, p, refp, n, 1e-9, 1e-6);
    }
    for (size_t i = 0; i < n; i++) { refm[i] = (float)r[i]; refv[i] = (float)r[n + i]; }
    // m and v are sums of decayed grads that can cancel, so float rounding is relative to the
    // vector's scale, not to each element: atol = 2e-7 * max|ref| (about 3 float ulps), rtol 1e-6.
    double mmax = 0, vmax = 0;
    for (size_t i = 0; i < n; i++) { mmax = fmax(mmax, fabs(r[i])); vmax = fmax(vmax, fabs(r[n + i])); }
    char nm[128];
    snprintf(nm, sizeof nm, "%s final exp_avg", c->name);
    tl_allclose(nm, s.m, refm, n, 2e-7 * mmax, 1e-6);
    snprintf(nm, sizeof nm, "%s final exp_avg_sq", c->name);
    tl_allclose(nm, s.v, refv, n, 2e-7 * vmax, 1e-6);
    CHECK(s.t == (int64_t)r[2 * n], "%s: step counter %lld vs torch %g", c->name, (long long)s.t, r[2 * n]);
    adamw_free(&s);
    free(p); free(g); free(ref); free(refp); free(refm); free(refv);
}

static void test_adamw_vs_torch(void) {
    // Unsorted, mixed on/off ranges; n > 4096 so the norm uses several chunks.
    static const adamw_range ranges[] = {{5000, 1234, 0}, {100, 50, 0}, {9000, 7, 1}, {10000, 7, 0}};
    static const double scale_a[] = {1.3, 0.2, 2.1, 0.35, 0.8};
    adamw_case a = {.name = "cosine_mask_clip", .n = 10007, .steps = 5,
                    .lr = 3.1e-3, .hp = {.beta1 = 0.87, .beta2 = 0.993, .eps = 1.3e-7, .weight_decay = 0.173},
                    .max_norm = 50.0, .kind = SCHED_COSINE, .total = 7, .wsteps = 2, .wratio = 0,
                    .ranges = ranges, .n_ranges = 4, .grad_scale = scale_a};
    run_adamw_case(&a);
    static const double scale_b[] = {1e-3, 2.5, 0.01, 1.0, 3e-4};
    adamw_case b = {.name = "linear_defaults_noclip", .n = 333, .steps = 5, .hp = adamw_defaults(),
                    .max_norm = 0.0, .kind = SCHED_LINEAR, .total = 10, .wsteps = 0, .wratio = 0.15,
                    .ranges = NULL, .n_ranges = 0, .grad_scale = scale_b};
    b.lr = 2e-2;  // large enough that the updates are far above float rounding of p
    run_adamw_case(&b);
}

// ---- hand-derived values ---------------------------------------------------------------------
static void test_adamw_by_hand(void) {
    // First step: m̂ = g, v̂ = g², so p1 = p0(1 - lr wd) - lr g/(|g| + eps).
    adamw_hparams hp = adamw_defaults();
    hp.weight_decay = 0.25;
    adamw_state s; adamw_init(&s, 3, hp);
    qp_status st = {0};
    adamw_range nodecay = {2, 1, 0};
    adamw_set_decay_ranges(&s, &nodecay, 1, &st);
    float p[3] = {2.385f, -1.5f, 0.75f}, g[3] = {0.5f, -3.0f, 1e-9f};
    double lr = 0.1, e[3];
    for (int i = 0; i < 3; i++) {
        double wd = i == 2 ? 0.0 : 0.25;
        e[i] = (double)p[i] * (1 - lr * wd) - lr * g[i] / (fabs((double)g[i]) + 1e-8);
    }
    adamw_step(&s, p, g, lr);
    CHECK(fabs(p[0] - e[0]) < 1e-6 && fabs(p[1] - e[1]) < 1e-6 && fabs(p[2] - e[2]) < 1e-6,
          "adamw first step by hand: got %.8g %.8g %.8g want %.8g %.8g %.8g", p[0], p[1], p[2], e[0], e[1], e[2]);
    CHECK(s.t == 1, "adamw step counter advanced to 1");
    CHECK(adamw_decayed_count(&s) == 2, "decay count 2 of 3 (found %zu)", adamw_decayed_count(&s));
    adamw_free(&s);
}

static void test_decay_ranges_errors(void) {
    adamw_state s; adamw_init(&s, 100, adamw_defaults());
    qp_status st = {0};
    adamw_range oob = {90, 11, 0};
    CHECK(adamw_set_decay_ranges(&s, &oob, 1, &st) == -1 && strstr(st.msg, "[90, +11)"), "range past end rejected: %s", st.msg);
    adamw_range ov[2] = {{50, 10, 0}, {10, 41, 0}};
    st.failed = 0;
    CHECK(adamw_set_decay_ranges(&s, ov, 2, &st) == -1 && strstr(st.msg, "overlap"), "overlapping ranges rejected: %s", st.msg);
    adamw_range ok[3] = {{0, 10, 0}, {10, 10, 0}, {95, 5, 0}};
    CHECK(adamw_set_decay_ranges(&s, ok, 3, &st) == 0 && s.n_seg == 3 && adamw_decayed_count(&s) == 75,
          "adjacent no-decay ranges merge: %zu segments, %zu decayed", s.n_seg, adamw_decayed_count(&s));
    adamw_free(&s);
}

// ---- clipping --------------------------------------------------------------------------------
static void test_clip(void) {
    size_t n = 1000003;
    float *g = xmalloc(n * sizeof(float)), *g2 = xmalloc(n * sizeof(float));
    qp_rng rng; rng_seed(&rng, 7);
    double ref = 0;
    for (size_t i = 0; i < n; i++) { g[i] = 2.385f * rng_normal(&rng); ref += (long double)g[i] * g[i]; }
    ref = sqrt(ref);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    double n1 = clip_grad_l2norm(g, n);
    omp_set_num_threads(nt > 1 ? nt : 2);
    double n2 = clip_grad_l2norm(g, n);
    omp_set_num_threads(3);
    double n3 = clip_grad_l2norm(g, n);
    omp_set_num_threads(nt);
    CHECK(n1 == n2 && n1 == n3, "grad norm bit-identical across 1/%d/3 threads (%.17g %.17g %.17g)", nt > 1 ? nt : 2, n1, n2, n3);
    CHECK(fabs(n1 - ref) <= 1e-12 * ref, "grad norm %.15g vs serial long-double sum %.15g", n1, ref);
    memcpy(g2, g, n * sizeof(float));
    double before = clip_grad_norm(g2, n, ref * 2);
    CHECK(before == n1 && memcmp(g, g2, n * sizeof(float)) == 0, "no scaling when norm < max_norm");
    double max_norm = ref / 3.7;
    clip_grad_norm(g2, n, max_norm);
    double after = clip_grad_l2norm(g2, n);
    CHECK(fabs(after - max_norm) <= 1e-6 * max_norm, "clipped norm %.9g == max_norm %.9g (coef max/(norm+1e-6))", after, max_norm);
    CHECK(!clip_grad_nonfinite(g, n), "finite grads reported finite");
    g[n - 1] = NAN;
    CHECK(clip_grad_nonfinite(g, n), "NaN at the last element detected");
    g[n - 1] = 0; g[12345] = -INFINITY;
    CHECK(clip_grad_nonfinite(g, n), "-Inf detected");
    CHECK(clip_grad_l2norm(g, 0) == 0.0, "norm of an empty block is 0");
    free(g); free(g2);
}

// ---- schedules: whole curves vs torch LambdaLR --------------------------------------------------
static void test_schedules(void) {
    struct { sched_kind kind; int64_t total, ws; double wr; } cs[] = {
        {SCHED_LINEAR, 50, 7, 0}, {SCHED_COSINE, 50, 7, 0}, {SCHED_CONSTANT, 50, 7, 0},
        {SCHED_LINEAR, 100, 0, 0.07}, {SCHED_COSINE, 33, 0, 0.1}, {SCHED_CONSTANT, 20, 0, 0.25},
        {SCHED_COSINE, 12, 0, 0}, {SCHED_LINEAR, 1, 0, 0}, {SCHED_LINEAR, 9, 9, 0},
    };
    int nc = (int)(sizeof cs / sizeof cs[0]);
    double base = 2.5e-4;
    char specs[2048] = "", out[512], cmd[4096];
    size_t pos = 0, want = 0;
    for (int i = 0; i < nc; i++) {
        pos += snprintf(specs + pos, sizeof specs - pos, "%s%s:%lld:%lld:%.17g", i ? ";" : "", sched_kind_name(cs[i].kind),
                        (long long)cs[i].total, (long long)cs[i].ws, cs[i].wr);
        want += (size_t)cs[i].total + 1;
    }
    snprintf(out, sizeof out, "%s/optim_sched_out.bin", tmpdir());
    snprintf(cmd, sizeof cmd, "%s tests/oracle_optim.py sched %s %.17g '%s'", python(), out, base, specs);
    int rc = system(cmd);
    REQUIRE(rc == 0, "schedule oracle ran (rc=%d)", rc);
    if (rc) return;
    size_t cnt = 0;
    double *ref = read_f64(out, &cnt);
    CHECK(cnt == want, "schedule oracle gave %zu values (expected %zu)", cnt, want);
    if (cnt != want) { free(ref); return; }
    const double *r = ref;
    for (int i = 0; i < nc; i++) {
        sched_config sc; qp_status st = {0};
        int ok = sched_init(&sc, cs[i].kind, cs[i].total, cs[i].ws, cs[i].wr, &st) == 0;
        double worst = 0; int64_t at = 0;
        for (int64_t k = 0; k <= cs[i].total; k++) {
            double d = fabs(base * sched_lambda(&sc, k) - r[k]);
            if (d > worst) { worst = d; at = k; }
        }
        CHECK(ok && worst <= 1e-15 * base, "%s total=%lld warmup=%lld/%.2g (W=%lld): lr curve vs LambdaLR, worst |diff| %.3g at step %lld",
              sched_kind_name(cs[i].kind), (long long)cs[i].total, (long long)cs[i].ws, cs[i].wr,
              (long long)sc.warmup_steps, worst, (long long)at);
        r += cs[i].total + 1;
    }
    free(ref);
    // HF resolves ratio warm-up with ceil(total*ratio) in double: 100*0.07 = 7.000000000000001 -> 8.
    sched_config sc; qp_status st = {0};
    sched_init(&sc, SCHED_LINEAR, 100, 0, 0.07, &st);
    CHECK(sc.warmup_steps == 8, "warm-up ratio 0.07 of 100 resolves to 8 steps as in HF (found %lld)", (long long)sc.warmup_steps);
    CHECK(sched_init(&sc, SCHED_LINEAR, 10, 11, 0, &st) == -1 && strstr(st.msg, "warm-up"), "warm-up > total rejected: %s", st.msg);
    st.failed = 0;
    CHECK(sched_init(&sc, SCHED_LINEAR, 10, 0, 1.5, &st) == -1, "ratio 1.5 rejected: %s", st.msg);
    sched_kind k;
    CHECK(sched_parse_kind("constant_with_warmup", &k, &st) == 0 && k == SCHED_CONSTANT, "HF name constant_with_warmup parses");
    CHECK(sched_parse_kind("polynomial", &k, &st) == -1 && strstr(st.msg, "'polynomial'"), "unknown schedule named: %s", st.msg);
}

int main(void) {
    test_adamw_by_hand();
    test_decay_ranges_errors();
    test_clip();
    test_schedules();
    test_adamw_vs_torch();
    return tl_finish();
}
