// tests/test_export.c — merge and export: tinystories-1M with random non-zero adapters on all
// seven linears (rank 4, alpha 9.5), LM and classification heads, fp32 and NF4 bases. Merged
// weights are exported (HF F32/F16/BF16, llama2.c, PEFT), reloaded through model_load_weights and
// compared with the unmerged model; tests/oracle_peft.py re-parses every safetensors file and
// recomputes PEFT's W + (lora_alpha/r)·B·A in float64. Refusals and all-or-nothing writes too.
// Tolerances: merged (fp32) vs unmerged logits |Δ| <= 1e-4 + 1e-4·|ref| (the merge reorders one
// fp32 sum per output); reloaded F32/llama2.c weights bit-identical to the merged ones; F16/BF16
// weights bit-identical to round-to-nearest-even of the merged ones.
#include "tests/testlib.h"
#include "checkpoints/export.h"
#include "checkpoints/merge.h"
#include "core/check.h"
#include "core/rng.h"
#include "model/model.h"
#include <glob.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TB = 2, TT = 24, RANK = 4 };
static const float ALPHA = 9.5f;
static char tmp_root[2048];

static const char *tpath(const char *name) {
    static char buf[8][2400];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_root, name);
    return buf[k];
}

static int exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

// tinystories-1M with random adapters (and head), optionally an NF4 base on every linear.
static int build(Model *m, head_kind head, int n_labels, int nf4, uint64_t seed) {
    ModelConfig cfg; ModelWeights w; qp_status st = {0};
    if (model_load_weights(tl_asset("models/tinystories-1M/tinystories-1M.bin"), &cfg, &w, &st) != 0) {
        CHECK(0, "load tinystories-1M: %s", st.msg);
        return -1;
    }
    if (head != HEAD_LM) {
        ModelConfig c2 = cfg; c2.n_labels = n_labels;
        ModelWeights w2;
        QP_ASSERT(weights_alloc(&w2, &c2, &st) == 0);
        memcpy(w2.mem, w.mem, w.n_floats * sizeof(float));  // the head sits after every other tensor
        weights_free(&w);
        w = w2; cfg = c2;
    }
    if (model_init(m, &cfg, &w, RANK, ALPHA, (1u << LIN_COUNT) - 1, head, TRAIN_NONE, &st) != 0) {
        CHECK(0, "model_init: %s", st.msg);
        return -1;
    }
    qp_rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 0.05f * rng_normal(&r);  // A, B and the head
    if (nf4) {
        quant_format f;
        QP_ASSERT(quant_parse_format("nf4", 64, 0, &f, &st) == 0);
        model_quantize_base(m, &f, (1u << LIN_COUNT) - 1);
    }
    model_alloc_acts(m, TB, TT);
    return 0;
}

// A rank-0 Model over w (ownership taken), ready to forward.
static void plain_model(Model *m, const ModelConfig *cfg, ModelWeights *w, head_kind head) {
    qp_status st = {0};
    QP_ASSERT(model_init(m, cfg, w, 0, 0, 0, head, TRAIN_NONE, &st) == 0);
    model_alloc_acts(m, TB, TT);
}

static size_t n_logits(const Model *m) {
    return m->head == HEAD_LM ? (size_t)TB * TT * m->cfg.vocab_size : (size_t)TB * m->cfg.n_labels;
}

static float *logits_of(Model *m, const int *ids) {
    int lens[TB];
    for (int i = 0; i < TB; i++) lens[i] = TT;
    model_forward(m, ids, lens, TB, TT, NULL, NULL, NULL, 0);
    size_t n = n_logits(m);
    float *out = xmalloc(n * sizeof(float));
    memcpy(out, m->acts.logits, n * sizeof(float));
    return out;
}

static int same_config(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->vocab_size == b->vocab_size && a->max_seq_len == b->max_seq_len &&
           a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta && a->tied_embeddings == b->tied_embeddings &&
           a->n_labels == b->n_labels;
}

// Write `what` into a fresh directory `name` through a stage; 0 on success.
typedef int (*writer_fn)(const char *dir, void *ctx, qp_status *st);
static int staged(const char *name, writer_fn fn, void *ctx, qp_status *st) {
    export_stage s;
    if (export_stage_begin(&s, tpath(name), st)) return -1;
    if (fn(s.tmp, ctx, st)) { export_stage_abort(&s); return -1; }
    return export_stage_commit(&s, st);
}

typedef struct { const ModelConfig *cfg; const ModelWeights *w; export_hf_opts o; } HfCtx;
static int write_hf(const char *dir, void *ctx, qp_status *st) {
    HfCtx *c = ctx;
    return export_write_hf(dir, c->cfg, c->w, &c->o, st);
}
static int write_l2c(const char *dir, void *ctx, qp_status *st) {
    HfCtx *c = ctx;
    char p[4200];
    snprintf(p, sizeof p, "%s/model.bin", dir);
    return export_write_llama2c(p, c->cfg, c->w, st);
}
typedef struct { const Model *m; export_peft_opts o; } PeftCtx;
static int write_peft(const char *dir, void *ctx, qp_status *st) {
    PeftCtx *c = ctx;
    return export_write_peft(dir, c->m, &c->o, st);
}

// Reload `path`, check config and weights against `expect` (bit for bit), then its logits against ref.
static void reload_check(const char *tag, const char *path, const ModelConfig *cfg, const ModelWeights *expect,
                         head_kind head, const int *ids, const float *ref, double atol, double rtol) {
    ModelConfig c2; ModelWeights w2; qp_status st = {0};
    int rc = model_load_weights(path, &c2, &w2, &st);
    CHECK(rc == 0, "%s: reload %s %s", tag, path, rc ? st.msg : "");
    if (rc) return;
    CHECK(same_config(&c2, cfg), "%s: reloaded config equals the merged model's", tag);
    CHECK(w2.n_floats == expect->n_floats && !memcmp(w2.mem, expect->mem, expect->n_floats * sizeof(float)),
          "%s: reloaded weights bit-identical to the expected ones (%zu floats)", tag, expect->n_floats);
    Model m2;
    plain_model(&m2, &c2, &w2, head);
    float *lg = logits_of(&m2, ids);
    char name[160];
    snprintf(name, sizeof name, "%s: reloaded logits vs unmerged", tag);
    tl_allclose(name, lg, ref, n_logits(&m2), atol, rtol);
    free(lg);
    model_free(&m2);
}

static void run_variant(const char *tag, head_kind head, int nf4) {
    printf("# variant %s\n", tag);
    Model m;
    if (build(&m, head, head == HEAD_LM ? 0 : 3, nf4, 7) != 0) return;
    qp_rng r;
    rng_seed(&r, 11);
    int ids[TB * TT];
    for (int i = 0; i < TB * TT; i++) ids[i] = (int)rng_below(&r, (uint32_t)m.cfg.vocab_size);
    float *ref = logits_of(&m, ids);
    qp_status st = {0};

    ModelConfig mc; ModelWeights mw;
    CHECK(merge_weights(&m, &mc, &mw, &st) == 0, "%s: merge", tag);
    CHECK(merge_has_packed_base(&m) == nf4, "%s: packed base detected = %d", tag, nf4);
    // Merged in memory, before any file.
    {
        ModelWeights copy; ModelConfig cc = mc;
        QP_ASSERT(weights_alloc(&copy, &cc, &st) == 0);
        memcpy(copy.mem, mw.mem, mw.n_floats * sizeof(float));
        Model mm;
        plain_model(&mm, &cc, &copy, head);
        float *lg = logits_of(&mm, ids);
        char name[160];
        snprintf(name, sizeof name, "%s: merged (in memory) logits vs unmerged", tag);
        tl_allclose(name, lg, ref, n_logits(&mm), 1e-4, 1e-4);
        free(lg);
        model_free(&mm);
    }
    char dir[256];
    // HF F32.
    HfCtx hc = {&mc, &mw, {EXPORT_F32, head, head == HEAD_LM ? NULL : "neg\tneutral\tpos",
                           tl_asset("models/tinystories-1M/tok2048.model")}};
    snprintf(dir, sizeof dir, "%s-hf-f32", tag);
    int rc = staged(dir, write_hf, &hc, &st);
    CHECK(rc == 0, "%s: export HF f32 %s", tag, rc ? st.msg : "");
    if (!rc) {
        reload_check(dir, tpath(dir), &mc, &mw, head, ids, ref, 1e-4, 1e-4);
        char tk[2600];
        snprintf(tk, sizeof tk, "%s/tokenizer.model", tpath(dir));
        CHECK(qp_file_size(tk) == qp_file_size(tl_asset("models/tinystories-1M/tok2048.model")), "%s: tokenizer.model copied", dir);
    }
    // HF F16 and BF16: weights are exactly the round-to-nearest-even of the merged ones.
    for (export_dtype dt = EXPORT_F16; dt <= EXPORT_BF16; dt++) {
        ModelWeights rw; ModelConfig rc2 = mc;
        QP_ASSERT(weights_alloc(&rw, &rc2, &st) == 0);
        for (size_t i = 0; i < mw.n_floats; i++) rw.mem[i] = export_dtype_round(mw.mem[i], dt);
        HfCtx h2 = hc;
        h2.o.dtype = dt;
        h2.o.tokenizer = NULL;
        snprintf(dir, sizeof dir, "%s-hf-%s", tag, export_dtype_name(dt));
        rc = staged(dir, write_hf, &h2, &st);
        CHECK(rc == 0, "%s: export HF %s %s", tag, export_dtype_name(dt), rc ? st.msg : "");
        // Logits of a half-precision model move by the weights' rounding: bounds measured with
        // ~5x margin (f16 keeps 11 bits, bf16 8).
        if (!rc) reload_check(dir, tpath(dir), &mc, &rw, head, ids, ref, dt == EXPORT_F16 ? 0.05 : 0.5, 0);
        weights_free(&rw);
    }
    // llama2.c (LM head only).
    snprintf(dir, sizeof dir, "%s-l2c", tag);
    if (head == HEAD_LM) {
        rc = staged(dir, write_l2c, &hc, &st);
        CHECK(rc == 0, "%s: export llama2.c %s", tag, rc ? st.msg : "");
        char p[2600];
        snprintf(p, sizeof p, "%s/model.bin", tpath(dir));
        if (!rc) reload_check(dir, p, &mc, &mw, head, ids, ref, 1e-4, 1e-4);
    } else {
        rc = staged(dir, write_l2c, &hc, &st);
        CHECK(rc != 0 && strstr(st.msg, "head") && !exists(tpath(dir)), "%s: llama2.c export of a head refused, nothing left (%s)", tag, st.msg);
    }
    // PEFT adapters + the base W~ they go over + the merged model, for the oracle.
    ModelConfig bc; ModelWeights bw;
    CHECK(merge_base_weights(&m, &bc, &bw, &st) == 0, "%s: base weights", tag);
    HfCtx bctx = {&bc, &bw, {EXPORT_F32, head, NULL, NULL}};
    char bdir[256], pdir[256], mdir[256];
    snprintf(bdir, sizeof bdir, "%s-base", tag);
    snprintf(pdir, sizeof pdir, "%s-peft", tag);
    snprintf(mdir, sizeof mdir, "%s-hf-f32", tag);
    PeftCtx pc = {&m, {"base", 0.1}};
    int rb = staged(bdir, write_hf, &bctx, &st);
    int rp = rb ? -1 : staged(pdir, write_peft, &pc, &st);
    CHECK(rb == 0 && rp == 0, "%s: export PEFT adapters and base %s", tag, (rb || rp) ? st.msg : "");
    if (!rb && !rp) {
        char cmd[8000];
        const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
        snprintf(cmd, sizeof cmd, "%s tests/oracle_peft.py '%s' '%s' '%s' '%s' 2>&1", py, tag, tpath(pdir), tpath(bdir), tpath(mdir));
        fflush(stdout);
        int prc = system(cmd);
        REQUIRE(prc == 0, "%s: oracle_peft.py exit status %d", tag, prc);
    }
    // Re-quantization of the merged weights: the error the verb reports.
    {
        ModelWeights copy; ModelConfig cc = mc;
        QP_ASSERT(weights_alloc(&copy, &cc, &st) == 0);
        memcpy(copy.mem, mw.mem, mw.n_floats * sizeof(float));
        Model qm;
        plain_model(&qm, &cc, &copy, head);
        quant_format f;
        QP_ASSERT(quant_parse_format("nf4", 64, 0, &f, &st) == 0);
        model_quantize_base(&qm, &f, (1u << LIN_COUNT) - 1);
        merge_quant_error e;
        merge_requant_error(&qm, &e);
        // NF4 block 64 on near-Gaussian rows: ~0.09-0.11 relative Frobenius error.
        CHECK(e.n_tensors == LIN_COUNT * mc.n_layers && e.rel > 0.03 && e.rel < 0.2 && e.worst_rel >= e.rel,
              "%s: requant nf4 weight error %.4f (worst %.4f at layer %d %s) over %d tensors", tag, e.rel, e.worst_rel,
              e.worst_layer, e.worst_layer >= 0 ? lin_names[e.worst_kind] : "-", e.n_tensors);
        double mx, mse;
        merge_logits_diff(&m, &qm, ids, TB, TT, &mx, &mse);
        CHECK(isfinite(mx) && mx > 0 && mse > 0 && mse <= mx * mx, "%s: requant logits max |Δ| %.4g, mean Δ² %.4g", tag, mx, mse);
        double mx0, mse0;
        merge_logits_diff(&m, &m, ids, TB, TT, &mx0, &mse0);
        CHECK(mx0 == 0 && mse0 == 0, "%s: logits diff of a model with itself is 0", tag);
        model_free(&qm);
    }
    weights_free(&bw);
    weights_free(&mw);
    free(ref);
    model_free(&m);
}

static void test_refusals(void) {
    printf("# refusals\n");
    qp_status st = {0};
    export_dtype dt;
    CHECK(export_dtype_parse("bf16", &dt, &st) == 0 && dt == EXPORT_BF16, "dtype bf16 parses");
    st = (qp_status){0};
    CHECK(export_dtype_parse("f8", &dt, &st) != 0 && strstr(st.msg, "--dtype") && strstr(st.msg, "f8"), "bad --dtype refused: %s", st.msg);

    // Existing non-empty directory and existing file refused; an existing empty directory is fine.
    const char *full = tpath("nonempty");
    mkdir(full, 0755);
    char f[2600];
    snprintf(f, sizeof f, "%s/keep.txt", full);
    FILE *fp = xfopen(f, "w");
    fputs("keep\n", fp);
    fclose(fp);
    export_stage s;
    st = (qp_status){0};
    CHECK(export_stage_begin(&s, full, &st) != 0 && strstr(st.msg, "refusing") && qp_file_size(f) == 5,
          "non-empty --out refused, its file untouched: %s", st.msg);
    st = (qp_status){0};
    CHECK(export_stage_begin(&s, f, &st) != 0 && strstr(st.msg, "existing file"), "--out naming a file refused: %s", st.msg);
    const char *empty = tpath("empty");
    mkdir(empty, 0755);
    st = (qp_status){0};
    int rc = export_stage_begin(&s, empty, &st);
    if (!rc) {
        char p[4200];
        snprintf(p, sizeof p, "%s/x.txt", s.tmp);
        rc = export_copy_file(f, p, &st) || export_stage_commit(&s, &st);
    }
    char p2[2600];
    snprintf(p2, sizeof p2, "%s/x.txt", empty);
    CHECK(rc == 0 && qp_file_size(p2) == 5, "existing empty --out accepted %s", rc ? st.msg : "");
    st = (qp_status){0};
    CHECK(export_stage_begin(&s, tpath("no/such/parent"), &st) != 0, "missing parent directory refused: %s", st.msg);

    // A failure mid-export leaves neither the output nor the staging directory.
    ModelConfig cfg; ModelWeights w;
    QP_ASSERT(model_load_weights(tl_asset("models/tinystories-1M/tinystories-1M.bin"), &cfg, &w, &st) == 0);
    HfCtx hc = {&cfg, &w, {EXPORT_F32, HEAD_LM, NULL, "/nonexistent/tokenizer.model"}};
    st = (qp_status){0};
    rc = staged("failed", write_hf, &hc, &st);
    glob_t g;
    char pat[2600];
    snprintf(pat, sizeof pat, "%s*", tpath("failed"));
    int ng = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (ng) globfree(&g);
    CHECK(rc != 0 && strstr(st.msg, "/nonexistent/tokenizer.model") && ng == 0,
          "failed export leaves nothing behind (%d paths match): %s", ng, st.msg);
    // A llama2.c header cannot carry another rope_theta.
    ModelConfig c2 = cfg;
    c2.rope_theta = 500000.0f;
    HfCtx h2 = {&c2, &w, {EXPORT_F32, HEAD_LM, NULL, NULL}};
    st = (qp_status){0};
    CHECK(staged("l2c-theta", write_l2c, &h2, &st) != 0 && strstr(st.msg, "rope_theta") && !exists(tpath("l2c-theta")),
          "llama2.c export with rope_theta 500000 refused: %s", st.msg);
    // PEFT export of a model without adapters.
    Model m;
    plain_model(&m, &cfg, &w, HEAD_LM);
    PeftCtx pc = {&m, {NULL, 0}};
    st = (qp_status){0};
    CHECK(staged("peft-none", write_peft, &pc, &st) != 0 && strstr(st.msg, "no adapters"), "PEFT export without adapters refused: %s", st.msg);
    model_free(&m);
}

int main(void) {
    const char *t = getenv("TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/export.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(tmp_root)) qp_die("%s: cannot create the test directory", tmp_root);
    run_variant("lm-f32", HEAD_LM, 0);
    run_variant("lm-nf4", HEAD_LM, 1);
    run_variant("cls-nf4", HEAD_CLASSIFY, 1);
    test_refusals();
    if (!getenv("KEEP")) {
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
    return tl_finish();
}
