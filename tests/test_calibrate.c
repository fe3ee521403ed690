// tests/test_calibrate.c — model-level calibration and initialisation: the statistics of every
// adapted linear's input against tests/oracle_calib.py (independent float64 PyTorch, right
// padding excluded and included), the statistics file (bit-exact round trip, refusals), the
// whole-model initialiser (packed base == the initialiser's W~, A/B == init_adapter per linear,
// s·BA + W~ as expected), rank 0 == the plain quantized model, and the idempotence of
// q(dq(q(W))) per format (measured; the packed base does not rely on it).
// Tolerances: statistics are fp32 activations summed in float64 against float64 activations:
// |a−ref| <= 1e-4·max|ref| + 2e-3·|ref| per tensor (the worst element printed).
#include "tests/testlib.h"
#include "checkpoints/checkpoint.h"
#include "checkpoints/stats.h"
#include "core/check.h"
#include "init/calibrate.h"
#include "init/errors.h"
#include "init/init_model.h"
#include <string.h>

static char dir[4096];
static const char *MODEL = NULL;

static void *load_raw(const char *name, size_t elem, size_t n) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    int64_t sz = qp_file_size(path);
    if (sz != (int64_t)(elem * n)) qp_die("%s: expected %zu bytes, found %lld", path, elem * n, (long long)sz);
    void *p = xmalloc(elem * n);
    FILE *fp = xfopen(path, "rb");
    xfread(p, elem, n, fp, path);
    fclose(fp);
    return p;
}

// Compare a double array with the oracle's (as floats for tl_allclose's report).
static int compare_d(const char *name, const double *got, const double *ref, size_t n) {
    float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float));
    double mx = 0;
    for (size_t i = 0; i < n; i++) { a[i] = (float)got[i]; b[i] = (float)ref[i]; mx = fmax(mx, fabs(ref[i])); }
    int ok = tl_allclose(name, a, b, n, 1e-4 * mx + 1e-9, 2e-3);
    free(a); free(b);
    return ok;
}

static void load_model(Model *m, int rank, float alpha, train_kind tk) {
    ModelConfig cfg; ModelWeights w; qp_status st = {0};
    if (model_load_weights(MODEL, &cfg, &w, &st)) qp_die("%s", st.msg);
    if (model_init(m, &cfg, &w, rank, alpha, (1u << LIN_COUNT) - 1, HEAD_LM, tk, &st)) qp_die("%s", st.msg);
}

static void test_oracle_stats(void) {
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/oracle_calib.py '%s' '%s' >/dev/null", MODEL, dir);
    int rc = system(cmd);
    REQUIRE(rc == 0, "PyTorch float64 calibration oracle ran");
    if (rc) return;
    int B, T;
    char dims[4300];
    snprintf(dims, sizeof dims, "%s/dims.txt", dir);
    FILE *fp = xfopen(dims, "r");
    if (fscanf(fp, "%d %d", &B, &T) != 2) qp_die("%s: malformed", dims);
    fclose(fp);
    int *ids = load_raw("ids", 4, (size_t)B * T), *lens = load_raw("lens", 4, (size_t)B);
    Model m;
    load_model(&m, 0, 0, TRAIN_NONE);
    model_alloc_acts(&m, B, T);
    model_forward(&m, ids, lens, B, T, NULL, NULL, NULL, 0);
    unsigned char *valid = xmalloc((size_t)B * T);
    for (int inc = 0; inc < 2; inc++) {
        CalibSet set;
        calib_set_init(&set, &m.cfg, 1);
        calib_set_add_forward(&set, &m, lens, B, T, inc, valid);
        int all_ok = 1;
        for (int l = 0; l < m.cfg.n_layers; l++)
            for (int i = 0; i < CALIB_IN_COUNT; i++) {
                const CalibStats *c = set.s[l * CALIB_IN_COUNT + i];
                char base[128], name[200];
                snprintf(base, sizeof base, "l%d_%s_%s", l, calib_input_names[i], inc ? "in" : "ex");
                snprintf(name, sizeof name, "%s_count", base);
                int64_t *cnt = load_raw(name, 8, 1);
                int64_t want = 0;
                for (int b = 0; b < B; b++) want += inc ? T : lens[b];
                CHECK(c->count == *cnt && c->count == want, "%s: count %lld (oracle %lld, lens give %lld)", base,
                      (long long)c->count, (long long)*cnt, (long long)want);
                size_t n = (size_t)c->n;
                snprintf(name, sizeof name, "%s_sum_sq", base);
                double *r1 = load_raw(name, 8, n);
                snprintf(name, sizeof name, "%s_sum_abs", base);
                double *r2 = load_raw(name, 8, n);
                snprintf(name, sizeof name, "%s_xtx", base);
                double *r3 = load_raw(name, 8, n * n);
                snprintf(name, sizeof name, "%s Σx²", base);
                all_ok &= compare_d(name, c->sum_sq, r1, n);
                snprintf(name, sizeof name, "%s Σ|x|", base);
                all_ok &= compare_d(name, c->sum_abs, r2, n);
                snprintf(name, sizeof name, "%s Σxᵀx", base);
                all_ok &= compare_d(name, c->xtx, r3, n * n);
                free(cnt); free(r1); free(r2); free(r3);
            }
        // Padding matters: the excluded and included sums must differ somewhere.
        if (inc == 0) {
            CalibSet inc_set;
            calib_set_init(&inc_set, &m.cfg, 0);
            calib_set_add_forward(&inc_set, &m, lens, B, T, 1, valid);
            CHECK(inc_set.s[0]->sum_sq[0] != set.s[0]->sum_sq[0], "padding rows change the statistics (so excluding them is observable)");
            calib_set_free(&inc_set);
        }
        calib_set_free(&set);
    }
    free(valid); free(ids); free(lens);
    model_free(&m);
}

// Windows through calib_set_run_text in batches of 3 equal one batch of all 5. sgemm is not
// batch-invariant: OpenBLAS kernels (Haswell's among them) handle the remainder rows of M with
// other micro-kernels, so one row's activations can differ in the last fp32 bits between batch
// shapes. The bound is therefore fp32 rounding (1e-5 relative), not float64 summation order.
static void test_run_text_and_file(void) {
    qp_status st = {0};
    Model m;
    load_model(&m, 0, 0, TRAIN_NONE);
    int T = 32;
    text_stream ts;
    ts.n_tokens = 5 * T + 1;
    ts.tokens = xmalloc((size_t)ts.n_tokens * sizeof(int));
    for (int64_t i = 0; i < ts.n_tokens; i++) ts.tokens[i] = (int)((i * 7919 + 13) % m.cfg.vocab_size);
    ts.n_docs = 1;
    CalibSet a, b;
    calib_set_init(&a, &m.cfg, 1);
    calib_set_init(&b, &m.cfg, 1);
    CHECK(calib_set_run_text(&a, &m, &ts, T, 0, 5, 3, &st) == 0, "calib_set_run_text batch 3");
    CHECK(calib_set_run_text(&b, &m, &ts, T, 0, 5, 5, &st) == 0, "calib_set_run_text batch 5");
    int same = 1;
    for (int j = 0; j < a.n_layers * CALIB_IN_COUNT; j++) {
        same &= a.s[j]->count == 5 * T && a.s[j]->count == b.s[j]->count;
        for (int i = 0; i < a.s[j]->n; i++) same &= fabs(a.s[j]->sum_sq[i] - b.s[j]->sum_sq[i]) <= 1e-5 * fabs(b.s[j]->sum_sq[i]);
    }
    CHECK(same, "text calibration independent of the batch size (count 5*T per input)");
    CHECK(calib_set_run_text(&a, &m, &ts, T, 1, 5, 2, &st) != 0 && strstr(st.msg, "windows"),
          "too few windows refused: %s", st.msg);
    snprintf(a.data, sizeof a.data, "synthetic");
    // Round trip through the statistics file.
    char path[4300], path2[4300];
    snprintf(path, sizeof path, "%s/stats.h5", dir);
    snprintf(path2, sizeof path2, "%s/stats_noxtx.h5", dir);
    int rc = stats_save(path, &a, &st);
    CHECK(rc == 0, "stats_save: %s", rc ? st.msg : "ok");
    CalibSet r;
    rc = stats_load(path, &m.cfg, a.model_hash, 1, &r, &st);
    CHECK(rc == 0, "stats_load: %s", rc ? st.msg : "ok");
    int exact = r.samples == a.samples && r.seq_len == T && !strcmp(r.data, "synthetic") && !strcmp(r.source, "text") &&
                r.with_xtx && !strcmp(r.model_hash, a.model_hash) && r.include_padding == 0;
    for (int j = 0; j < a.n_layers * CALIB_IN_COUNT && exact; j++) {
        size_t n = (size_t)a.s[j]->n;
        exact &= r.s[j]->count == a.s[j]->count && !memcmp(r.s[j]->sum_sq, a.s[j]->sum_sq, n * 8) &&
                 !memcmp(r.s[j]->sum_abs, a.s[j]->sum_abs, n * 8) && !memcmp(r.s[j]->xtx, a.s[j]->xtx, n * n * 8);
    }
    CHECK(exact, "statistics file round trip is bit-exact (counts, sums, Σxᵀx, attributes)");
    calib_set_free(&r);
    // Refusals: another model's hash, another shape, no Σxᵀx when needed, not a statistics file.
    CHECK(stats_load(path, &m.cfg, "0123456789abcdef", 0, &r, &st) != 0 && strstr(st.msg, "hash") &&
          strstr(st.msg, a.model_hash), "another model's statistics refused: %s", st.msg);
    ModelConfig c2 = m.cfg;
    c2.hidden_dim += 8;
    CHECK(stats_load(path, &c2, NULL, 0, &r, &st) != 0 && strstr(st.msg, "dimension"), "wrong shapes refused: %s", st.msg);
    c2 = m.cfg;
    c2.n_layers = 3;
    CHECK(stats_load(path, &c2, NULL, 0, &r, &st) != 0 && strstr(st.msg, "layers"), "wrong layer count refused: %s", st.msg);
    CalibSet nx;
    calib_set_init(&nx, &m.cfg, 0);
    calib_set_run_text(&nx, &m, &ts, T, 0, 2, 2, &st);
    CHECK(stats_save(path2, &nx, &st) == 0, "stats_save without Σxᵀx");
    CHECK(stats_load(path2, &m.cfg, NULL, 1, &r, &st) != 0 && strstr(st.msg, "--exact"), "missing Σxᵀx refused: %s", st.msg);
    CHECK(stats_load(path2, &m.cfg, NULL, 0, &r, &st) == 0 && !r.with_xtx && r.s[0]->count == 2 * T, "file without Σxᵀx loads");
    calib_set_free(&r);
    calib_set_free(&nx);
    // A checkpoint is not a statistics file.
    char ck[4300];
    snprintf(ck, sizeof ck, "%s/ck.h5", dir);
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.mode, sizeof meta.mode, "lora");
    snprintf(meta.model_hash, sizeof meta.model_hash, "%s", a.model_hash);
    Model mc;
    load_model(&mc, 2, 4, TRAIN_ADAPTERS);
    rc = ckpt_save(ck, &mc, &meta, NULL, NULL, 0, 0, &st);
    model_free(&mc);
    CHECK(rc == 0, "a checkpoint written for the refusal test: %s", rc ? st.msg : "ok");
    CHECK(stats_load(ck, &m.cfg, NULL, 0, &r, &st) != 0 && strstr(st.msg, "not a qpeft calibration statistics file"),
          "checkpoint file refused as statistics: %s", st.msg);
    // A quantized model is refused for calibration.
    quant_format f;
    quant_parse_format("nf4", 0, 0, &f, &st);
    model_quantize_base(&m, &f, 1u);
    CHECK(calib_set_run_text(&a, &m, &ts, T, 0, 1, 1, &st) != 0 && strstr(st.msg, "full-precision"),
          "calibration on a quantized model refused: %s", st.msg);
    calib_set_free(&a); calib_set_free(&b);
    free(ts.tokens);
    model_free(&m);
}

// Statistics of real text-like windows for the init tests (with Σxᵀx).
static void make_stats(CalibSet *set, Model *fp) {
    qp_status st = {0};
    int T = 64;
    text_stream ts;
    ts.n_tokens = 4 * T + 1;
    ts.tokens = xmalloc((size_t)ts.n_tokens * sizeof(int));
    for (int64_t i = 0; i < ts.n_tokens; i++) ts.tokens[i] = (int)((i * 2654435761u + 7) % fp->cfg.vocab_size);
    calib_set_init(set, &fp->cfg, 1);
    if (calib_set_run_text(set, fp, &ts, T, 0, 4, 4, &st)) qp_die("%s", st.msg);
    free(ts.tokens);
}

static float *base_weight(const Model *m, int l, int k) {
    const ModelWeights *w = &m->w;
    float *base[LIN_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    Linear lin = model_linear(m, l, k);
    return base[k] + (size_t)l * lin.out * lin.in;
}

// Model-level init against init_adapter called directly on each linear with quant_fake.
static void test_model_init(const CalibSet *stats, init_method meth, const char *fmt_name, int block) {
    qp_status st = {0};
    quant_format fmt;
    quant_parse_format(fmt_name, block, 0, &fmt, &st);
    const int R = 8;
    const float alpha = 11.5f;  // s = 1.4375: not 1, so a missing scale would show
    Model m;
    load_model(&m, R, alpha, TRAIN_ADAPTERS);
    InitModelOptions o;
    init_model_options_default(&o, meth, &fmt);
    o.loftq_iters = 3;
    o.seed = 7;
    InitModelReport rep;
    int rc = init_model_apply(&m, &o, stats, &rep, &st);
    CHECK(rc == 0, "init_model_apply %s %s: %s (%.3f s)", init_method_name(meth), fmt_name, rc ? st.msg : "ok", rep.seconds);
    if (rc) { model_free(&m); return; }
    InitWorkspace *ws = init_workspace_alloc(352, 352, R);
    qp_rng rng;
    rng_seed(&rng, 7 ^ 0x4c6f5241ULL);
    size_t big = 352 * 352;
    float *Wq = xmalloc(big * 4), *A = xmalloc(big * 4), *B = xmalloc(big * 4), *got = xmalloc(big * 4);
    double worst_w = 0, worst_ab = 0, worst_sum = 0;
    int packed_all = 1;
    for (int l = 0; l < m.cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            int i = l * LIN_COUNT + k;
            Linear lin = model_linear(&m, l, k);
            const float *W = base_weight(&m, l, k);
            InitOptions io;
            init_options_default(&io, meth);
            io.rank = R; io.scale = alpha / R; io.fakeq = init_fakeq_quant; io.fakeq_ctx = &fmt;
            io.loftq_iters = 3; io.rng = &rng;
            if (init_adapter(ws, &io, W, lin.out, lin.in, calib_set_get(stats, l, (lin_kind)k), Wq, A, B, NULL, &st))
                qp_die("%s", st.msg);
            packed_all &= m.qbase[i] != NULL;
            quant_dequantize_rows(m.qbase[i], 0, lin.out, got);
            // W~ + s·B·A, from the model's packed base and adapter vs the direct call.
            for (int r = 0; r < lin.out; r++)
                for (int c = 0; c < lin.in; c++) {
                    size_t e = (size_t)r * lin.in + c;
                    double sm = got[e], sd = Wq[e];
                    for (int j = 0; j < R; j++) {
                        sm += (double)lin.scale * m.B[i][(size_t)r * R + j] * m.A[i][(size_t)j * lin.in + c];
                        sd += (double)io.scale * B[(size_t)r * R + j] * A[(size_t)j * lin.in + c];
                    }
                    worst_w = fmax(worst_w, fabs((double)got[e] - Wq[e]));
                    worst_sum = fmax(worst_sum, fabs(sm - sd));
                }
            for (size_t e = 0; e < (size_t)R * lin.in; e++) worst_ab = fmax(worst_ab, fabs((double)m.A[i][e] - A[e]));
            for (size_t e = 0; e < (size_t)lin.out * R; e++) worst_ab = fmax(worst_ab, fabs((double)m.B[i][e] - B[e]));
        }
    // A base of dq(q(W)) must match bit for bit. LoftQ and SRR quantize W − s·B·A, whose SVD factors
    // depend on the thread count and BLAS kernels in the last bits; a block scale (absmax) then moves
    // by an ulp, far below a quantization step, so those two get an fp32-rounding bound instead.
    double w_tol = (meth == INIT_LOFTQ || meth == INIT_SRR) ? 1e-6 : 0;
    CHECK(packed_all && worst_w <= w_tol, "%s %s: packed base == init_adapter's W~ for all 42 linears (max |diff| %.3g, bound %g)",
          init_method_name(meth), fmt_name, worst_w, w_tol);
    CHECK(worst_ab <= 1e-4, "%s %s: model A,B == init_adapter's (max |diff| %.3g; thread counts may differ)",
          init_method_name(meth), fmt_name, worst_ab);
    CHECK(worst_sum <= 1e-5, "%s %s: W~ + s·B·A at the model level == expected (max |diff| %.3g)",
          init_method_name(meth), fmt_name, worst_sum);
    if (meth == INIT_LOFTQ || meth == INIT_SRR)
        CHECK(rep.base_changed, "%s reports a changed base", init_method_name(meth));
    else
        CHECK(!rep.base_changed, "%s reports an unchanged base", init_method_name(meth));
    free(Wq); free(A); free(B); free(got);
    init_workspace_free(ws);
    model_free(&m);
}

// Rank 0 (and qlora's B = 0) give exactly the plain quantized model's logits.
static void test_rank0(const CalibSet *stats) {
    qp_status st = {0};
    quant_format fmt;
    quant_parse_format("mxint3", 32, 0, &fmt, &st);
    int B = 2, T = 16, ids[32];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 37 + 5) % 2048;
    Model plain, r0, ql;
    load_model(&plain, 0, 0, TRAIN_NONE);
    model_quantize_base(&plain, &fmt, (1u << LIN_COUNT) - 1);
    load_model(&r0, 0, 0, TRAIN_NONE);
    load_model(&ql, 8, 16, TRAIN_NONE);
    InitModelOptions o;
    init_model_options_default(&o, INIT_QERA_EXACT, &fmt);
    CHECK(init_model_apply(&r0, &o, stats, NULL, &st) == 0, "rank-0 qera-exact init");
    init_model_options_default(&o, INIT_QLORA, &fmt);
    CHECK(init_model_apply(&ql, &o, NULL, NULL, &st) == 0, "rank-8 qlora init");
    Model *ms[3] = {&plain, &r0, &ql};
    float *lg[3];
    size_t n = (size_t)B * T * 2048;
    for (int i = 0; i < 3; i++) {
        model_alloc_acts(ms[i], B, T);
        model_forward(ms[i], ids, NULL, B, T, NULL, NULL, NULL, 0);
        lg[i] = xmalloc(n * sizeof(float));
        memcpy(lg[i], ms[i]->acts.logits, n * sizeof(float));
    }
    CHECK(!memcmp(lg[0], lg[1], n * sizeof(float)), "rank-0 model logits == plain quantized model (bit for bit)");
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)lg[0][i] - lg[2][i]));
    CHECK(d <= 1e-5, "qlora (B = 0) model logits == plain quantized model (max |diff| %.3g)", d);
    for (int i = 0; i < 3; i++) { free(lg[i]); model_free(ms[i]); }
}

// q(dq(q(W))) == q(W)? Measured per format over every linear of the model.
static void test_idempotence(const Model *m) {
    const char *names[] = {"mxint2", "mxint3", "mxint4", "nf4", "nf4", "fp4", "nf3", "nf2", "int4", "int3"};
    int blocks[] = {16, 32, 32, 64, 64, 64, 64, 64, 64, 64}, dqs[] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    float *a = xmalloc(352 * 128 * 4), *b = xmalloc(352 * 128 * 4);
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        qp_status st = {0};
        quant_format fmt;
        if (quant_parse_format(names[f], blocks[f], dqs[f], &fmt, &st)) { CHECK(0, "%s: %s", names[f], st.msg); continue; }
        int64_t diff = 0, total = 0;
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int k = 0; k < LIN_COUNT; k++) {
                Linear lin = model_linear(m, l, k);
                size_t n = (size_t)lin.out * lin.in;
                quant_fake(a, base_weight(m, l, k), lin.out, lin.in, &fmt);
                quant_fake(b, a, lin.out, lin.in, &fmt);
                for (size_t e = 0; e < n; e++) diff += a[e] != b[e];
                total += (int64_t)n;
            }
        char fn[32];
        quant_format_name(&fmt, fn, sizeof fn);
        // Reported, not required: the packed base is the initialiser's own codes either way.
        printf("%s %s%s: dq(q(W~)) != W~ for %lld of %lld weights\n", diff ? "NOTE" : "PASS", fn,
               dqs[f] ? " double-quant" : "", (long long)diff, (long long)total);
        if (!diff) tl_passed++;
    }
    free(a); free(b);
}

int main(void) {
    const char *tmp = getenv("TEST_TMP");
    snprintf(dir, sizeof dir, "%s/calibrate", tmp ? tmp : "/tmp");
    char mk[4200];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
    if (system(mk)) qp_die("cannot create %s", dir);
    MODEL = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    qp_quiet = 1;
    test_oracle_stats();
    test_run_text_and_file();
    Model fp;
    load_model(&fp, 0, 0, TRAIN_NONE);
    CalibSet stats;
    make_stats(&stats, &fp);
    test_model_init(&stats, INIT_QERA_EXACT, "mxint3", 32);
    test_model_init(&stats, INIT_LOFTQ, "nf4", 64);
    test_model_init(&stats, INIT_SRR, "mxint2", 16);
    test_model_init(&stats, INIT_LQER, "nf4", 64);
    test_rank0(&stats);
    test_idempotence(&fp);
    calib_set_free(&stats);
    model_free(&fp);
    return tl_finish();
}
