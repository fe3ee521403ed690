// tests/test_checkpoint.c — checkpoints/checkpoint: bit-exact save/load round trip of a tiny model
// (adapters, head, AdamW state, run state, a replaced mxint3 base), the layout checked by h5py
// (tests/oracle_checkpoint.py), every refusal (hash, rank, config, targets, format, shape,
// truncation), full fine-tuning, and QPEFT_FAULT_WRITE at every writer step.
#include "tests/testlib.h"
#include "checkpoints/checkpoint.h"
#include "core/check.h"
#include "model/model.h"
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static char dir[512];

static const char *tpath(const char *name) {
    static char buf[4][1024]; static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

// Exactly representable fill shared with the oracle: ((i*7919 + salt*104729) % 4001 - 2000) / 2048.
static float val(size_t i, int salt) {
    return (float)((int64_t)(((int64_t)i * 7919 + (int64_t)salt * 104729) % 4001) - 2000) / 2048.0f;
}

// The oracle hard-codes these numbers (tests/oracle_checkpoint.py).
static ModelConfig tiny_config(void) {
    return (ModelConfig){.dim = 64, .hidden_dim = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 50,
                         .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied_embeddings = 0, .n_labels = 3};
}
enum { RANK = 4 };
static const float ALPHA = 8.0f;
static const unsigned TARGETS = (1u << LIN_Q) | (1u << LIN_V) | (1u << LIN_O) | (1u << LIN_DOWN);
static const unsigned ALL_LIN = (1u << LIN_COUNT) - 1;

// A model over weights filled from `salt`; packed bases in `fmt` when non-NULL; params zeroed.
static int build(Model *m, ModelConfig cfg, int rank, unsigned targets, head_kind head, train_kind train,
                 const char *fmt, int salt, char hash[17]) {
    qp_status st = {0};
    ModelWeights w;
    memset(m, 0, sizeof *m);
    if (weights_alloc(&w, &cfg, &st)) { printf("# weights_alloc: %s\n", st.msg); return -1; }
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = val(i, salt) * 0.125f;
    if (hash) weights_hash_hex(weights_hash(&w, &cfg), hash);
    if (model_init(m, &cfg, &w, rank, ALPHA, targets, head, train, &st)) { printf("# model_init: %s\n", st.msg); return -1; }
    if (fmt) {
        quant_format qf;
        if (quant_parse_format(fmt, 0, 0, &qf, &st)) { printf("# %s\n", st.msg); return -1; }
        model_quantize_base(m, &qf, ALL_LIN);
    }
    if (m->params && m->train != TRAIN_FULL) memset(m->params, 0, m->n_params * sizeof(float));
    return 0;
}

static void fill_meta(ckpt_meta *meta, const char *hash, const char *mode, int64_t step) {
    qp_status st = {0};
    memset(meta, 0, sizeof *meta);
    strcpy(meta->qpeft_version, "0.1-test");
    strcpy(meta->model_hash, hash);
    strcpy(meta->mode, mode);
    strcpy(meta->init, "loftq");
    strcpy(meta->task, "sst2");
    meta->step = step;
    meta->epoch = 2;
    meta->seed = 1234;
    uint64_t rng[4] = {0x9E3779B97F4A7C15ull, 0xD1B54A32D192ED03ull, 1, UINT64_MAX};
    int64_t r64[4];
    memcpy(r64, rng, sizeof r64);
    int64_t de = 2, dp = 129;
    ckpt_state_set(meta, "rng", r64, 4, &st);
    ckpt_state_set(meta, "data_epoch", &de, 1, &st);
    ckpt_state_set(meta, "data_pos", &dp, 1, &st);
    ckpt_extra_set(meta, "labels", "negative\tpositive\tneutral", &st);
    ckpt_extra_set(meta, "command", "qpeft train --rank 4 --alpha 8 \"x y\"", &st);
    if (st.failed) printf("# fill_meta: %s\n", st.msg);
}

// Serialised bytes of a packed tensor (to compare bases bit for bit).
static char *packed_bytes(const QuantTensor *q, size_t *len) {
    char *buf = NULL;
    qp_status st = {0};
    FILE *ms = open_memstream(&buf, len);
    quant_tensor_write(q, ms, "test", &st);
    fclose(ms);
    return buf;
}

static int same_packed(const QuantTensor *a, const QuantTensor *b) {
    size_t la, lb;
    char *pa = packed_bytes(a, &la), *pb = packed_bytes(b, &lb);
    int same = la == lb && !memcmp(pa, pb, la);
    free(pa);
    free(pb);
    return same;
}

static Model src;                 // the saved model
static char src_hash[17];
static float *opt_m, *opt_v;

// Save a model with formula adapters/head and optimizer state, and a base for layer 1 q_proj
// that is not q(W) (as after LoftQ), so loading it must replace the fresh model's base.
static void test_roundtrip(void) {
    const char *path = tpath("ck.h5");
    qp_status st = {0};
    if (build(&src, tiny_config(), RANK, TARGETS, HEAD_CLASSIFY, TRAIN_ADAPTERS, "mxint3", 5, src_hash)) {
        CHECK(0, "build the tiny model");
        return;
    }
    for (size_t i = 0; i < src.n_params; i++) src.params[i] = val(i, 1);
    opt_m = xmalloc(src.n_params * sizeof(float));
    opt_v = xmalloc(src.n_params * sizeof(float));
    for (size_t i = 0; i < src.n_params; i++) { opt_m[i] = val(i, 2); opt_v[i] = fabsf(val(i, 3)); }
    int qi = 1 * LIN_COUNT + LIN_Q, ic = quant_tensor_cols(src.qbase[qi]), oc = quant_tensor_rows(src.qbase[qi]);
    float *wt = xmalloc((size_t)ic * oc * sizeof(float));
    for (size_t i = 0; i < (size_t)ic * oc; i++) wt[i] = val(i, 9);
    quant_tensor_free(src.qbase[qi]);
    src.qbase[qi] = quant_tensor_quantize(wt, oc, ic, quant_tensor_format(src.qbase[0]));
    free(wt);

    ckpt_meta meta;
    fill_meta(&meta, src_hash, "qpeft", 37);
    int rc = ckpt_save(path, &src, &meta, opt_m, opt_v, 37, 1, &st);
    CHECK(rc == 0, "ckpt_save %s (%zu trainable floats) %s", path, src.n_params, st.msg);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s tests/oracle_checkpoint.py check %s", python(), path);
    fflush(stdout);
    REQUIRE(system(cmd) == 0, "h5py oracle ran on %s", path);

    // read_meta: config and meta as saved, the model fields as the Model had them.
    ckpt_meta rm;
    ModelConfig rc_cfg, want = tiny_config();
    rc = ckpt_read_meta(path, &rm, &rc_cfg, &st);
    CHECK(rc == 0 && !memcmp(&rc_cfg, &want, sizeof want), "ckpt_read_meta: config identical %s", st.msg);
    int64_t rng[4], rng_want[4], de = 0, dp = 0;
    ckpt_state_get(&meta, "rng", rng_want, 4);
    CHECK(!strcmp(rm.qpeft_version, "0.1-test") && !strcmp(rm.model_hash, src_hash) && !strcmp(rm.mode, "qpeft") &&
              !strcmp(rm.init, "loftq") && !strcmp(rm.task, "sst2") && rm.step == 37 && rm.epoch == 2 && rm.seed == 1234,
          "meta strings and numbers identical (hash %s)", rm.model_hash);
    CHECK(ckpt_state_get(&rm, "rng", rng, 4) == 0 && !memcmp(rng, rng_want, sizeof rng) && ckpt_state_get(&rm, "data_epoch", &de, 1) == 0 &&
              de == 2 && ckpt_state_get(&rm, "data_pos", &dp, 1) == 0 && dp == 129 && rm.n_state == 3,
          "run state identical (rng incl. 2^64-1, data_epoch %lld, data_pos %lld)", (long long)de, (long long)dp);
    const char *lab = ckpt_extra_get(&rm, "labels"), *cl = ckpt_extra_get(&rm, "command");
    CHECK(rm.n_extra == 2 && lab && !strcmp(lab, "negative\tpositive\tneutral") && cl && !strcmp(cl, meta.extra[1].value),
          "free-form attributes identical (labels with tabs, command line with quotes)");
    CHECK(rm.rank == RANK && rm.alpha == ALPHA && rm.target_mask == TARGETS && rm.head == HEAD_CLASSIFY && rm.train == TRAIN_ADAPTERS &&
              rm.quant_mask == ALL_LIN && rm.quant.kind == QUANT_MXINT && rm.quant.bits == 3 && rm.quant.block == 32 &&
              rm.bits_per_weight == 3.25 && rm.n_params == (int64_t)src.n_params && rm.has_optimizer && rm.has_base && rm.opt_t == 37,
          "model fields: rank %d alpha %g targets 0x%x quant 0x%x bpw %g n_params %lld", rm.rank, rm.alpha, rm.target_mask,
          rm.quant_mask, rm.bits_per_weight, (long long)rm.n_params);

    // Load into a fresh model built from the same config.
    Model dst;
    char h2[17];
    build(&dst, rc_cfg, rm.rank, rm.target_mask, rm.head, rm.train, "mxint3", 5, h2);
    CHECK(!same_packed(dst.qbase[qi], src.qbase[qi]), "fresh model's layer1 q_proj base differs before the load");
    float *m2 = xcalloc(dst.n_params, sizeof(float)), *v2 = xcalloc(dst.n_params, sizeof(float));
    int64_t t2 = 0;
    ckpt_meta lm;
    rc = ckpt_load(path, &dst, h2, &lm, m2, v2, &t2, &st);
    CHECK(rc == 0, "ckpt_load into a fresh model %s", st.msg);
    CHECK(dst.n_params == src.n_params && !memcmp(dst.params, src.params, src.n_params * sizeof(float)),
          "trainable block identical (memcmp, %zu floats)", src.n_params);
    CHECK(!memcmp(m2, opt_m, src.n_params * sizeof(float)) && !memcmp(v2, opt_v, src.n_params * sizeof(float)) && t2 == 37,
          "optimizer m, v identical (memcmp), t = %lld", (long long)t2);
    int bases_same = 1;
    for (int i = 0; i < dst.cfg.n_layers * LIN_COUNT; i++) bases_same &= same_packed(dst.qbase[i], src.qbase[i]);
    CHECK(bases_same, "all %d packed bases byte-identical after load (incl. the replaced one)", dst.cfg.n_layers * LIN_COUNT);
    CHECK(!memcmp(&lm, &rm, sizeof lm), "ckpt_load's meta identical to ckpt_read_meta's");

    // Optimizer not requested: fine. Loading the wrong hash is refused, naming both.
    rc = ckpt_load(path, &dst, NULL, &lm, NULL, NULL, NULL, &st);
    CHECK(rc == 0, "load without optimizer state and without hash check %s", st.msg);
    st = (qp_status){0};
    rc = ckpt_load(path, &dst, "0123456789abcdef", &lm, NULL, NULL, NULL, &st);
    char want_msg[1400];
    snprintf(want_msg, sizeof want_msg, "checkpoint %s was made for model hash %s, this model is 0123456789abcdef", path, src_hash);
    CHECK(rc != 0 && !strcmp(st.msg, want_msg), "hash mismatch refused: %s", st.msg);

    // A shape-tampered dataset (h5py rewrites one B one row longer): refused, model untouched.
    const char *bad = tpath("ck_shape.h5");
    snprintf(cmd, sizeof cmd, "cp %s %s && %s tests/oracle_checkpoint.py reshape %s adapters/layer1/down_proj/B", path, bad, python(), bad);
    CHECK(system(cmd) == 0, "h5py tampered adapters/layer1/down_proj/B");
    for (size_t i = 0; i < dst.n_params; i++) dst.params[i] = val(i, 7);
    float *snap = xmalloc(dst.n_params * sizeof(float));
    memcpy(snap, dst.params, dst.n_params * sizeof(float));
    st = (qp_status){0};
    rc = ckpt_load(bad, &dst, h2, &lm, NULL, NULL, NULL, &st);
    CHECK(rc != 0 && strstr(st.msg, bad) && strstr(st.msg, "adapters/layer1/down_proj/B") && !strchr(st.msg, '\n'),
          "wrong dataset shape refused: %s", st.msg);
    CHECK(!memcmp(snap, dst.params, dst.n_params * sizeof(float)), "failed load left the model's block untouched");

    // A future format version is refused before anything else is trusted.
    const char *fv = tpath("ck_v2.h5");
    snprintf(cmd, sizeof cmd, "cp %s %s && %s tests/oracle_checkpoint.py setint %s format_version 2", path, fv, python(), fv);
    st = (qp_status){0};
    rc = system(cmd) == 0 ? ckpt_load(fv, &dst, h2, &lm, NULL, NULL, NULL, &st) : 0;
    CHECK(rc != 0 && strstr(st.msg, fv) && strstr(st.msg, "format_version 2, this qpeft reads version 1"), "format_version 2 refused: %s", st.msg);

    // Truncated files: half, and all but 100 bytes.
    int64_t size = qp_file_size(path);
    for (int i = 0; i < 2; i++) {
        int64_t keep = i == 0 ? size / 2 : size - 100;
        const char *tr = tpath("ck_trunc.h5");
        snprintf(cmd, sizeof cmd, "head -c %lld %s > %s", (long long)keep, path, tr);
        st = (qp_status){0};
        rc = system(cmd) == 0 ? ckpt_load(tr, &dst, h2, &lm, NULL, NULL, NULL, &st) : 0;
        CHECK(rc != 0 && strstr(st.msg, tr), "truncated to %lld of %lld bytes refused: %s", (long long)keep, (long long)size, st.msg);
    }
    CHECK(!memcmp(snap, dst.params, dst.n_params * sizeof(float)), "model untouched after the truncated loads");
    free(snap);
    free(m2);
    free(v2);
    model_free(&dst);
}

// A model differing in one respect is refused with a message containing `needle`.
static void refuse(const char *what, ModelConfig cfg, int rank, unsigned targets, head_kind head, const char *fmt, const char *needle) {
    Model m;
    char h[17];
    qp_status st = {0};
    ckpt_meta meta;
    if (build(&m, cfg, rank, targets, head, TRAIN_ADAPTERS, fmt, 5, h)) { CHECK(0, "%s: build", what); return; }
    int rc = ckpt_load(tpath("ck.h5"), &m, NULL, &meta, NULL, NULL, NULL, &st);
    CHECK(rc != 0 && strstr(st.msg, needle) && strstr(st.msg, tpath("ck.h5")) && !strchr(st.msg, '\n'), "%s refused: %s", what, st.msg);
    model_free(&m);
}

static void test_refusals(void) {
    ModelConfig c = tiny_config();
    refuse("rank 8", c, 8, TARGETS, HEAD_CLASSIFY, "mxint3", "was made with rank 4, this model has rank 8");
    refuse("other targets", c, RANK, TARGETS | (1u << LIN_K), HEAD_CLASSIFY, "mxint3",
           "target modules [q_proj,v_proj,o_proj,down_proj], this model targets [q_proj,k_proj,v_proj,o_proj,down_proj]");
    refuse("nf4 base", c, RANK, TARGETS, HEAD_CLASSIFY, "nf4", "base format mxint3-b32");
    refuse("fp32 base", c, RANK, TARGETS, HEAD_CLASSIFY, NULL, "this model has fp32");
    refuse("regress head", c, RANK, TARGETS, HEAD_REGRESS, "mxint3", "classify head, this model has a regress head");
    ModelConfig c2 = c;
    c2.hidden_dim = 128;
    refuse("hidden_dim 128", c2, RANK, TARGETS, HEAD_CLASSIFY, "mxint3", "was made with hidden_dim 96, this model has hidden_dim 128");
    c2 = c;
    c2.n_labels = 2;
    refuse("2 labels", c2, RANK, TARGETS, HEAD_CLASSIFY, "mxint3", "n_labels 3, this model has n_labels 2");
}

// Full fine-tuning: every weight under weights/, the block is w.mem.
static void test_full(void) {
    Model a, b;
    char h[17];
    qp_status st = {0};
    ckpt_meta meta, lm;
    const char *path = tpath("full.h5");
    if (build(&a, tiny_config(), 0, 0, HEAD_CLASSIFY, TRAIN_FULL, NULL, 3, h) || build(&b, tiny_config(), 0, 0, HEAD_CLASSIFY, TRAIN_FULL, NULL, 4, NULL)) {
        CHECK(0, "build full models");
        return;
    }
    fill_meta(&meta, h, "full", 5);
    CHECK(a.params == a.w.mem && a.n_params == a.w.n_floats, "full fine-tuning: trainable block is w.mem (%zu floats)", a.n_params);
    int rc = ckpt_save(path, &a, &meta, NULL, NULL, 0, 0, &st);
    CHECK(rc == 0, "full checkpoint saved %s", st.msg);
    rc = ckpt_load(path, &b, h, &lm, NULL, NULL, NULL, &st);
    CHECK(rc == 0 && !memcmp(a.w.mem, b.w.mem, a.w.n_floats * sizeof(float)) && !lm.has_optimizer && !lm.has_base,
          "full checkpoint loaded: every weight identical (memcmp) %s", st.msg);
    strcpy(meta.mode, "lora");
    rc = ckpt_save(tpath("full2.h5"), &a, &meta, NULL, NULL, 0, 0, &st);
    CHECK(rc != 0 && strstr(st.msg, "does not match"), "mode 'lora' for a full fine-tuning model refused: %s", st.msg);
    st = (qp_status){0};
    float *om = xcalloc(b.n_params, sizeof(float)), *ov = xcalloc(b.n_params, sizeof(float));
    rc = ckpt_load(path, &b, h, &lm, om, ov, NULL, &st);
    CHECK(rc != 0 && strstr(st.msg, "has no optimizer state"), "optimizer requested from a file without it refused: %s", st.msg);
    free(om);
    free(ov);
    st = (qp_status){0};
    rc = ckpt_load(tpath("ck.h5"), &b, NULL, &lm, NULL, NULL, NULL, &st);
    CHECK(rc != 0 && strstr(st.msg, "was made in mode qpeft, this model is set up for full fine-tuning"),
          "adapter checkpoint into a full fine-tuning model refused: %s", st.msg);
    model_free(&a);
    model_free(&b);
}

static int count_tmp(const char *base) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, strlen(base)) && strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

// QPEFT_FAULT_WRITE=k for every writer step: the final name keeps a whole checkpoint that loads.
static void test_faults(void) {
    const char *path = tpath("fault.h5");
    qp_status st = {0};
    ckpt_meta meta, lm;
    fill_meta(&meta, src_hash, "qpeft", 1);
    CHECK(ckpt_save(path, &src, &meta, opt_m, opt_v, 1, 1, &st) == 0, "generation 1 saved %s", st.msg);
    Model dst;
    build(&dst, tiny_config(), RANK, TARGETS, HEAD_CLASSIFY, TRAIN_ADAPTERS, "mxint3", 5, NULL);
    int total = -1, bad = 0, new_at = -1;
    char why[2200] = "";
    meta.step = 2;
    for (int k = 1; k <= 400 && total < 0; k++) {
        char kv[16];
        snprintf(kv, sizeof kv, "%d", k);
        setenv("QPEFT_FAULT_WRITE", kv, 1);
        qp_status s2 = {0};
        int rc = ckpt_save(path, &src, &meta, opt_m, opt_v, 2, 1, &s2);
        unsetenv("QPEFT_FAULT_WRITE");
        qp_status s3 = {0};
        int lrc = ckpt_load(path, &dst, src_hash, &lm, NULL, NULL, NULL, &s3);
        int whole = lrc == 0 && !memcmp(dst.params, src.params, src.n_params * sizeof(float));
        if (rc == 0) { total = k - 1; if (!whole || lm.step != 2) bad = 1; break; }
        if (!strstr(s2.msg, "injected write fault") || count_tmp("fault.h5") || !whole || (lm.step != 1 && lm.step != 2)) {
            bad = 1;
            snprintf(why, sizeof why, "k=%d step=%lld load=%s save=%s", k, (long long)lm.step, s3.msg, s2.msg);
        }
        if (lm.step == 2) { if (new_at >= 0) bad = 1; new_at = k; }
    }
    CHECK(total > 10 && !bad, "QPEFT_FAULT_WRITE=k for each of %d steps: whole previous checkpoint loads, no temp file %s", total, why);
    CHECK(new_at == total, "only the last step (directory fsync, after the rename) shows the new checkpoint (k=%d of %d)", new_at, total);
    model_free(&dst);
}

int main(void) {
    const char *t = getenv("TEST_TMP");
    snprintf(dir, sizeof dir, "%s/cktest.%ld", t ? t : "/tmp", (long)getpid());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return 1;
    test_roundtrip();
    test_refusals();
    test_full();
    test_faults();
    model_free(&src);
    free(opt_m);
    free(opt_v);
    if (!getenv("QPEFT_KEEP_TMP")) { snprintf(cmd, sizeof cmd, "rm -rf %s", dir); if (system(cmd) != 0) return 1; }
    return tl_finish();
}
