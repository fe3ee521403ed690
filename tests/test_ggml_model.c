// tests/test_ggml_model.c — ggml block formats as the packed frozen bases of a whole model.
// tests/ggml_fixtures.py quantizes tinystories-1M (and a 256-wide random Llama, where the
// K-quants apply natively) with ggml's own quantizer into Q4_0, Q8_0, Q4_K, Q5_K, Q6_K and a
// Q4_K_M-like mix. Each fixture's blocks become the model's packed bases (quant_tensor_from_raw,
// qmodel_install); the reference is the same model in fp32 holding ggml's dequantized floats. The
// logits must agree bit for bit (linear.c dequantizes a packed base whole, so the sgemm sees the
// same fp32 matrix), and the logits must stay near the unquantized model's.
#include "tests/testlib.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "model/weights.h"
#include "quant/quant.h"
#include "core/status.h"
#include "core/check.h"
#include "core/la.h"
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char *const GGUF_LIN[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

typedef struct { int tensors, packed, min_bits, per_type[QUANT_KIND_COUNT]; } fixture_stats;

// One manifest line: the blocks into qb (linears) and ggml's floats into both weight sets.
static int take_tensor(const char *dir, const char *name, int ggml_type, int rows, int cols, size_t bytes, const ModelConfig *c,
                       ModelWeights *wa, ModelWeights *wb, QuantTensor **qb, fixture_stats *fs) {
    char path[4096], gname[64];
    int l = -1, k = -1;
    if (sscanf(name, "blk.%d.%63[^.].weight", &l, gname) == 2)
        for (int i = 0; i < LIN_COUNT; i++) if (!strcmp(gname, GGUF_LIN[i])) k = i;
    int is_emb = !strcmp(name, "token_embd.weight");
    if (!is_emb && (l < 0 || l >= c->n_layers || k < 0)) { printf("#   %s: not a tensor of this model\n", name); return -1; }
    int o = c->vocab_size, in = c->dim;
    if (!is_emb) model_lin_shape(c, k, &o, &in);
    if (rows != o || cols != in) { printf("#   %s: shape %d x %d, model wants %d x %d\n", name, rows, cols, o, in); return -1; }
    quant_format f;
    if (quant_format_from_ggml_type(ggml_type, &f)) { printf("#   %s: ggml type %d unknown\n", name, ggml_type); return -1; }
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    float *y = tl_slurp(path, sizeof(float) * (size_t)rows * cols);
    snprintf(path, sizeof path, "%s/%s.raw", dir, name);
    uint8_t *raw = tl_slurp(path, bytes);
    if (!y || !raw) { printf("#   %s: fixture files missing or of the wrong size\n", name); free(y); free(raw); return -1; }
    size_t n = (size_t)rows * cols * sizeof(float);
    if (is_emb) {
        memcpy(wa->tok_emb, y, n);  // embeddings and the tied head stay fp32 in qpeft: the file's values
        memcpy(wb->tok_emb, y, n);
    } else {
        qp_status st = {0};
        qb[l * LIN_COUNT + k] = quant_tensor_from_raw(&f, rows, cols, raw, bytes, name, &st);
        if (!qb[l * LIN_COUNT + k]) { printf("#   %s\n", st.msg); free(y); free(raw); return -1; }
        memcpy(model_lin_weight(wa, c, l, k), y, n);
        memcpy(model_lin_weight(wb, c, l, k), y, n);
        fs->packed++;
    }
    fs->per_type[f.kind]++;
    if (!fs->min_bits || f.bits < fs->min_bits) fs->min_bits = f.bits;
    fs->tensors++;
    free(y);
    free(raw);
    return 0;
}

static double forward_loss(Model *m, const int *ids, const int *tg, int B, int T, float *logits_out) {
    double loss = model_forward(m, ids, NULL, B, T, tg, NULL, NULL, 0);
    if (logits_out) {
        model_forward(m, ids, NULL, B, T, NULL, NULL, NULL, 0);
        memcpy(logits_out, m->acts.logits, sizeof(float) * (size_t)B * T * m->cfg.vocab_size);
    }
    return loss;
}

static void check_fixture(const char *root, const char *fixture, const char *bin) {
    char dir[2048], path[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, fixture);
    snprintf(path, sizeof path, "%s/manifest.tsv", dir);
    qp_status st = {0};
    ModelConfig c, cb, cf;
    ModelWeights wa, wb, wf;
    if (model_load_weights(bin, &c, &wa, &st) || model_load_weights(bin, &cb, &wb, &st) || model_load_weights(bin, &cf, &wf, &st)) {
        CHECK(0, "%s: load %s (%s)", fixture, bin, st.msg);
        return;
    }
    QuantTensor **qb = calloc((size_t)c.n_layers * LIN_COUNT, sizeof *qb);
    fixture_stats fs = {0};
    FILE *fp = fopen(path, "r");
    char name[256], type[32];
    int ggml_type, rows, cols, bad = fp == NULL;
    size_t bytes;
    while (fp && fscanf(fp, "%255s %31s %d %d %d %zu", name, type, &ggml_type, &rows, &cols, &bytes) == 6)
        bad |= take_tensor(dir, name, ggml_type, rows, cols, bytes, &c, &wa, &wb, qb, &fs) != 0;
    if (fp) fclose(fp);
    char mix[512] = "";
    for (int kd = 0; kd < QUANT_KIND_COUNT; kd++)
        if (fs.per_type[kd]) {
            quant_format f = {(quant_kind)kd, 0, 0, 0};
            size_t len = strlen(mix);
            snprintf(mix + len, sizeof mix - len, "%s%d %s", len ? ", " : "", fs.per_type[kd], quant_format_name(&f, NULL, 0));
        }
    CHECK(!bad && fs.packed == c.n_layers * LIN_COUNT && fs.tensors == fs.packed + 1,
          "%s: %d linears packed from ggml's blocks + token_embd (%s)", fixture, fs.packed, mix);
    Model a, b, fpm;
    model_init(&a, &c, &wa, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
    qmodel_install(&a, &qb);
    model_init(&b, &cb, &wb, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
    model_init(&fpm, &cf, &wf, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
    const int B = 2, T = c.max_seq_len < 32 ? c.max_seq_len : 32, V = c.vocab_size;
    qp_quiet++;
    model_alloc_acts(&a, B, T);
    model_alloc_acts(&b, B, T);
    model_alloc_acts(&fpm, B, T);
    qp_quiet--;
    int *ids = malloc(sizeof(int) * B * T), *tg = malloc(sizeof(int) * B * T);
    uint32_t s = 2385;
    for (int i = 0; i < B * T; i++) { s = s * 1664525u + 1013904223u; ids[i] = (int)(s >> 8) % V; }
    for (int i = 0; i < B * T; i++) tg[i] = (i % T == T - 1) ? -1 : ids[i + 1];
    float *la = malloc(sizeof(float) * (size_t)B * T * V), *lb = malloc(sizeof(float) * (size_t)B * T * V);
    double loss_a = forward_loss(&a, ids, tg, B, T, la), loss_b = forward_loss(&b, ids, tg, B, T, lb);
    float *lf = malloc(sizeof(float) * (size_t)B * T * V);
    double loss_f = forward_loss(&fpm, ids, tg, B, T, lf);
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)B * T * V; i++) { num += ((double)la[i] - lf[i]) * ((double)la[i] - lf[i]); den += (double)lf[i] * lf[i]; }
    const double rel = sqrt(num / den);
    CHECK(!memcmp(la, lb, sizeof(float) * (size_t)B * T * V) && loss_a == loss_b,
          "%s: packed ggml bases give the logits of the fp32 model holding ggml's dequantized weights, bit for bit "
          "(B=%d T=%d, loss %.6f)", fixture, B, T, loss_a);
    // Quantization noise doubles with every bit taken away; 0.05 at 8 bits (measured 0.006 on
    // tinystories-1M, 0.024 on the random wide model, whose two random layers amplify it most).
    const double max_rel = 0.05 * ldexp(1.0, 8 - fs.min_bits);
    CHECK(isfinite(loss_a) && rel > 0 && rel < max_rel,
          "%s: logits off the unquantized model's by %.4f relative RMS (bound %.3f; loss %.6f vs %.6f)", fixture, rel, max_rel,
          loss_a, loss_f);
    free(ids); free(tg); free(la); free(lb); free(lf);
    model_free(&a); model_free(&b); model_free(&fpm);
}

int main(void) {
    la_set_threads(1);  // tiny models: one thread (spinning OpenMP/BLAS teams cost minutes on a loaded machine)
    const char *tmp = getenv("TEST_TMP") ? getenv("TEST_TMP") : "/tmp";
    char dir[1024], wide[1100], cmd[4096];
    snprintf(dir, sizeof dir, "%s/ggml_fixtures.%d", tmp, (int)getpid());
    snprintf(wide, sizeof wide, "%s/wide.bin", dir);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    const char *bin = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && %s tests/ggml_fixtures.py '%s' '%s' --wide '%s'", dir, py, dir, bin, wide);
    int rc = system(cmd);
    CHECK(rc == 0, "ggml_fixtures.py (ggml_quantize_chunk of libggml-base.so) built the fixtures (rc %d)", rc);
    if (rc) return tl_finish();
    const char *fixtures[] = {"q4_0", "q8_0", "q4_K", "q5_K", "q6_K", "q4_K_m"};
    for (int i = 0; i < 6; i++) {
        char wname[64];
        check_fixture(dir, fixtures[i], bin);
        snprintf(wname, sizeof wname, "wide.%s", fixtures[i]);
        check_fixture(dir, wname, wide);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) printf("# could not remove %s\n", dir);
    return tl_finish();
}
