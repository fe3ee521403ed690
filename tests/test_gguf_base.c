// tests/test_gguf_base.c — GGUF files as frozen bases (model/load_gguf.c), against ggml and
// llama.cpp themselves. Fixtures: tinystories-1M (and a 256-wide random Llama, where the
// K-quants apply natively) converted to an F32 GGUF by `qpeft merge --to gguf`, then rewritten
// by tests/ggml_fixtures.py with blocks from ggml_quantize_chunk: q4_0, q8_0, q4_K, q5_K, q6_K,
// q4_K_m (tinystories' 128/352-wide rows take llama-quantize's fallbacks for the K-quants).
// Checks: the packed bases hold ggml's own dequantization bit for bit; llama.cpp (node-llama-cpp,
// tests/llamacpp/oracle.mjs) and qpeft's forward on the very same file give next-token log-probs
// within the tolerance stated at check_llamacpp; refusals name the file and what is wrong.
#include "tests/testlib.h"
#include "core/check.h"
#include "core/la.h"
#include "model/load_gguf.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "trainer/session.h"
#include "data/tokenizer.h"
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char DIR_[512];
static const char *const GGUF_LIN[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc) printf("# command failed (rc %d): %s\n", rc, cmd);
    return rc;
}

// The loaded file against the fixture's manifest: each linear packed in the listed type and
// holding ggml's floats; token_embd equal to ggml's floats.
static void check_contents(const char *fixture, const ModelConfig *c, const ModelWeights *w, QuantTensor **qb) {
    char path[2048], name[256], type[32];
    snprintf(path, sizeof path, "%s/%s/manifest.tsv", DIR_, fixture);
    FILE *fp = fopen(path, "r");
    int ggml_type, rows, cols, n = 0, bad = fp == NULL;
    size_t bytes;
    while (fp && fscanf(fp, "%255s %31s %d %d %d %zu", name, type, &ggml_type, &rows, &cols, &bytes) == 6) {
        snprintf(path, sizeof path, "%s/%s/%s.f32", DIR_, fixture, name);
        float *y = tl_slurp(path, sizeof(float) * (size_t)rows * cols);
        int l = -1, k = -1;
        char gname[64];
        if (sscanf(name, "blk.%d.%63[^.].weight", &l, gname) == 2)
            for (int i = 0; i < LIN_COUNT; i++) if (!strcmp(gname, GGUF_LIN[i])) k = i;
        const float *got = k >= 0 ? model_lin_weight(w, c, l, k) : w->tok_emb;
        int ok = y && !memcmp(got, y, sizeof(float) * (size_t)rows * cols);
        if (k >= 0) {
            const QuantTensor *q = qb[l * LIN_COUNT + k];
            float *d = malloc(sizeof(float) * (size_t)rows * cols);
            if (q) quant_dequantize_rows(q, 0, rows, d);
            ok = ok && q && quant_ggml_type(quant_tensor_format(q)->kind) == ggml_type && !memcmp(d, y, sizeof(float) * (size_t)rows * cols);
            free(d);
        }
        if (!ok) { bad = 1; printf("#   %s %s: differs from ggml's dequantization\n", fixture, name); }
        free(y);
        n++;
    }
    if (fp) fclose(fp);
    CHECK(!bad && n == 1 + c->n_layers * LIN_COUNT,
          "%s.gguf: %d tensors packed in their file types, dequantized bit for bit as ggml's dequantize_row_*", fixture, n);
}

// llama.cpp's log-probs of the file against qpeft's forward on the same ids (BOS + 23 seeded
// random tokens), over every token with ln p > -20. The weights are equal bit for bit (checked
// above); the arithmetic is not: llama.cpp multiplies a quantized weight by activations it first
// rounds to Q8_0 (32-blocks) or Q8_K (256-blocks) and sums in its own order, qpeft multiplies the
// exactly dequantized weight by fp32 activations. Tolerances, from runs on this machine:
//  - F32 file (no activation rounding; the harness itself, flash attention off in oracle.mjs):
//    measured max 1.4e-5, mean 3e-6; bound max 1e-4, mean 2e-5 (issue 14's F32 bound).
//  - tinystories-1M, Q8_0/Q5_0 linears (Q8_0 activations): measured max 0.13..0.14, mean 0.022..
//    0.024 (0.135 / 0.022 with the LoRA adapter); bound max 0.5, mean 0.06 (issue 14's Q4_0
//    bound, 0.5/0.05, came from emulating llama.cpp's Q8_0 activations in float64).
//  - the random 256-wide model, Q4_K/Q6_K linears (Q8_K activations): measured max 0.77, mean
//    0.12; its random weights make the logits far more sensitive than a trained model's;
//    bound max 2, mean 0.3.
// And llama.cpp's argmax equals qpeft's at all but at most one position.
// lora: an adapter GGUF llama.cpp applies over the file (NULL: none); m then carries the same
// adapters. Returns the mean |diff| (or -1 when llama.cpp did not run).
static double check_llamacpp_lora(const char *fixture, const char *lora, Model *m, int V, double tol, double mean_tol) {
    const int T = 24;
    int ids[24];
    uint32_t s = 777;
    ids[0] = 1;  // BOS
    for (int i = 1; i < T; i++) { s = s * 1664525u + 1013904223u; ids[i] = 3 + (int)((s >> 8) % (uint32_t)(V - 3)); }
    char idpath[2048], out[2048], cmd[8192];
    snprintf(idpath, sizeof idpath, "%s/%s.ids", DIR_, fixture);
    snprintf(out, sizeof out, "%s/%s.lp", DIR_, fixture);
    FILE *fp = fopen(idpath, "w");
    for (int i = 0; fp && i < T; i++) fprintf(fp, "%d ", ids[i]);
    if (fp) fclose(fp);
    snprintf(cmd, sizeof cmd, "cd tests/llamacpp && node oracle.mjs --model '%s/%s.gguf' %s%s%s logprobs '%s' '%s' >/dev/null", DIR_,
             fixture, lora ? "--lora '" : "", lora ? lora : "", lora ? "'" : "", idpath, out);
    if (run(cmd)) { CHECK(0, "%s: llama.cpp ran (node tests/llamacpp/oracle.mjs)", fixture); return -1; }
    double *lp = tl_slurp(out, sizeof(double) * (size_t)(T - 1) * V);
    qp_quiet++;
    model_alloc_acts(m, 1, T);
    qp_quiet--;
    model_forward(m, ids, NULL, 1, T, NULL, NULL, NULL, 0);
    double worst = 0, mean = 0;
    int cnt = 0, top_agree = 0;
    for (int t = 0; lp && t < T - 1; t++) {
        const float *z = m->acts.logits + (size_t)t * V;
        double mx = -INFINITY, sum = 0;
        int am = 0, bm = 0;
        for (int v = 0; v < V; v++) if (z[v] > mx) { mx = z[v]; am = v; }
        for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
        for (int v = 0; v < V; v++) {
            const double ours = (double)z[v] - mx - log(sum), theirs = lp[(size_t)t * V + v];
            if (theirs > lp[(size_t)t * V + bm]) bm = v;
            if (theirs < -20) continue;  // llama.cpp omits/zeroes negligible probabilities
            double d = fabs(ours - theirs);
            if (d > worst) worst = d;
            mean += d;
            cnt++;
        }
        top_agree += am == bm;
        if (getenv("QPEFT_DEBUG")) {
            double pw = 0, lo = 1e9, hi = -1e9; int ninf = 0; for (int v = 0; v < V; v++) { double d = ((double)z[v] - mx - log(sum) - lp[(size_t)t * V + v]); if (isinf(lp[(size_t)t*V+v])) ninf++; if (lp[(size_t)t*V+v] > -6) { if (fabs(d) > pw) pw = fabs(d); if (d < lo) lo = d; if (d > hi) hi = d; } }
            printf("#   pos %d max %.3g  diff range [%.3g, %.3g] -inf %d\n", t, pw, lo, hi, ninf);
        }
    }
    mean = cnt ? mean / cnt : INFINITY;
    if (tol > 0)
        CHECK(lp && cnt > 0 && worst <= tol && mean <= mean_tol && top_agree >= T - 2,
              "%s.gguf%s: qpeft's ln p vs llama.cpp's on the same file: max |diff| %.2e <= %.0e, mean %.2e <= %.0e (%d values), "
              "argmax agrees at %d/%d positions", fixture, lora ? " + adapter.gguf" : "", worst, tol, mean, mean_tol, cnt, top_agree, T - 1);
    free(lp);
    return mean;
}

static void check_llamacpp(const char *fixture, Model *m, int V, double tol, double mean_tol) {
    check_llamacpp_lora(fixture, NULL, m, V, tol, mean_tol);
}

// qpeft info on the K-quant mix: the packed types with their counts and bits/weight, expected
// from the plan (use_more_bits picks layer 1 of 2 for attn_v and ffn_down) and ggml's block
// sizes (Q4_K 4.5, Q6_K 6.5625 bits/weight), weighted by the tensors' sizes.
static void check_info(const char *qpeft) {
    char cmd[2048], line[512], all[8192] = "";
    snprintf(cmd, sizeof cmd, "%s info --model '%s/wide.q4_K_m.gguf' 2>&1", qpeft, DIR_);
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) strncat(all, line, sizeof all - strlen(all) - 1);
    if (p) pclose(p);
    // weights: q/o 256x256, k/v 128x256, gate/up/down 768x256 per layer; v and down of layer 1 in q6_K.
    const double q4 = 4.5, q6 = 6.5625, n_l = 2 * 256.0 * 256 + 2 * 128.0 * 256 + 3 * 768.0 * 256;
    const double six = 128.0 * 256 + 768.0 * 256, bpw = ((2 * n_l - six) * q4 + six * q6) / (2 * n_l);
    char want[128];
    snprintf(want, sizeof want, "packed linears q4_K x12, q6_K x2: %.4f bits/weight", bpw);
    CHECK(strstr(all, want) && strstr(all, "down_proj    q4_K x1, q6_K x1"), "qpeft info on wide.q4_K_m.gguf prints \"%s\" and "
          "the per-linear mix", want);
}

// The tokenizer built from the GGUF's tokenizer.ggml.* (data/gguf_tok.c) against llama.cpp's
// tokenization of the same file (tests/llamacpp/tokenize.mjs), no BOS, on hard strings: leading,
// double and trailing spaces, tabs and newlines, digits, accents, CJK and emoji (byte fallback),
// quotes and dashes, literal "<s>" text, a control character, the empty string.
static void check_tokenizer(void) {
    static const char *const S[] = {"Once upon a time", "  two  leading spaces", "tabs\tand\nnewlines\n\n",
                                    "numbers 12345 and 3.14159", "UTF-8: caf\u00e9, na\u00efve, \u65e5\u672c\u8a9e, emoji \U0001F642",
                                    "Mr. Darcy's \"pride\" \u2014 and prejudice\u2026", "", " ", "ALLCAPS lowercase MiXeD",
                                    "<s> not a control token </s>", "bell\a char", "ends with space "};
    const int n = (int)(sizeof S / sizeof *S);
    char path[1024], out[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/strings.json", DIR_);
    snprintf(out, sizeof out, "%s/llama_ids.json", DIR_);
    FILE *fp = fopen(path, "w");
    char *mine = calloc(1, 1 << 16);
    size_t len = 0;
    qp_status st = {0};
    char gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/f32.gguf", DIR_);
    Tokenizer *t = tok_load_gguf(gpath, &st);
    CHECK(t != NULL, "tokenizer built from f32.gguf's tokenizer.ggml.* (%s)", t ? "ok" : st.msg);
    if (!t || !fp) { if (fp) fclose(fp); free(mine); return; }
    fputc('[', fp);
    len += (size_t)snprintf(mine + len, (1 << 16) - len, "[");
    for (int i = 0; i < n; i++) {
        fputs(i ? ",\"" : "\"", fp);
        for (const unsigned char *c = (const unsigned char *)S[i]; *c; c++)
            if (*c == '"' || *c == '\\') fprintf(fp, "\\%c", *c);
            else if (*c < 0x20) fprintf(fp, "\\u%04x", *c);
            else fputc(*c, fp);
        fputc('"', fp);
        int *ids = NULL, m = 0;
        tok_encode(t, S[i], 0, &ids, &m, &st);
        len += (size_t)snprintf(mine + len, (1 << 16) - len, "%s[", i ? "," : "");
        for (int j = 0; j < m; j++) len += (size_t)snprintf(mine + len, (1 << 16) - len, "%s%d", j ? "," : "", ids[j]);
        len += (size_t)snprintf(mine + len, (1 << 16) - len, "]");
        free(ids);
    }
    fputs("]\n", fp);
    fclose(fp);
    snprintf(mine + len, (1 << 16) - len, "]");
    tok_free(t);
    snprintf(cmd, sizeof cmd, "cd tests/llamacpp && node tokenize.mjs '%s' '%s' > '%s'", gpath, path, out);
    char *theirs = run(cmd) ? NULL : calloc(1, 1 << 16);
    FILE *o = theirs ? fopen(out, "r") : NULL;
    if (o) { size_t r = fread(theirs, 1, (1 << 16) - 1, o); theirs[r] = 0; fclose(o); }
    if (theirs) theirs[strcspn(theirs, "\n")] = 0;
    int same = theirs && !strcmp(theirs, mine);
    CHECK(same, "ids from the GGUF's own vocabulary equal llama.cpp's model.tokenize on %d hard strings", n);
    if (!same) printf("#   qpeft     %s\n#   llama.cpp %s\n", mine, theirs ? theirs : "(did not run)");
    free(mine);
    free(theirs);
}

// train on a GGUF base: a contradicting --format, a data-aware init and --mode lora are refused
// with one line (exit status non-zero, nothing written).
static void check_train_refusals(const char *qpeft) {
    const char *cases[][2] = {{"--format nf4", "contradicts"}, {"--init qera-exact", "needs the original weights"},
                              {"--mode lora", "needs fp32 weights"}};
    for (int i = 0; i < 3; i++) {
        char cmd[4096], line[1024] = "", out[1024];
        snprintf(out, sizeof out, "%s/refused%d", DIR_, i);
        snprintf(cmd, sizeof cmd, "head -c 20000 '%s' > '%s/t.txt'; %s train --model '%s/q4_K_m.gguf' --text '%s/t.txt' %s --out '%s' 2>&1; echo rc=$?",
                 tl_asset("text/tinystories_train_head.txt"), DIR_, qpeft, DIR_, DIR_, cases[i][0], out);
        FILE *p = popen(cmd, "r");
        char first[1024] = "";
        int lines = 0;
        while (p && fgets(line, sizeof line, p)) {
            if (strncmp(line, "rc=", 3)) { lines++; if (strstr(line, "error:")) snprintf(first, sizeof first, "%s", line); }
            else break;
        }
        int rc = atoi(line + 3);
        if (p) pclose(p);
        first[strcspn(first, "\n")] = 0;
        CHECK(rc != 0 && strstr(first, cases[i][1]) && access(out, F_OK) != 0, "train %s on a GGUF base refused: %s", cases[i][0], first);
    }
}

// The last line of a command's stdout: {"loss": ...} of qpeft eval.
static double eval_loss(const char *cmd) {
    FILE *p = popen(cmd, "r");
    char line[512], last[512] = "";
    while (p && fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    if (p) pclose(p);
    const char *k = strstr(last, "\"loss\":");
    return k ? atof(k + 7) : NAN;
}

// A short LoRA text run on the Q4_K_M-like GGUF (qpeft mode over its packed bases), exported with
// merge --to gguf-lora: llama.cpp applies adapter.gguf over the very fixture file and must agree
// with qpeft's trained model as closely as on the base alone (same tolerance), while the adapters
// move llama.cpp's log-probs away from the base's; and the held-out loss drops below the base's.
static void check_lora_run(const char *qpeft) {
    const char *tok = tl_asset("models/tinystories-1M/tok2048.model");
    char cmd[8192], ckpt[1024], fx[1024], adapter[1024];
    snprintf(fx, sizeof fx, "%s/q4_K_m.gguf", DIR_);
    snprintf(ckpt, sizeof ckpt, "%s/run/last.h5", DIR_);
    snprintf(adapter, sizeof adapter, "%s/lora/adapter.gguf", DIR_);
    snprintf(cmd, sizeof cmd,
             "head -c 60000 '%s' > '%s/train.txt' && head -c 12000 '%s' > '%s/dev.txt' && "
             "%s train --model '%s' --tokenizer '%s' --text '%s/train.txt' --dev '%s/dev.txt' --rank 8 --max-steps 24 --batch 4 "
             "--seq-len 128 --lr 2e-3 --threads 1 --out '%s/run' >/dev/null 2>&1 && "
             "%s merge --model '%s' --checkpoint '%s' --to gguf-lora --tokenizer '%s' --out '%s/lora' >/dev/null 2>&1",
             tl_asset("text/tinystories_train_head.txt"), DIR_, tl_asset("text/tinystories_valid_head.txt"), DIR_, qpeft, fx, tok,
             DIR_, DIR_, DIR_, qpeft, fx, ckpt, tok, DIR_);
    int rc = run(cmd);
    CHECK(rc == 0, "train --model q4_K_m.gguf (no --format: its own types; 24 steps, rank 8) and merge --to gguf-lora ran");
    if (rc) return;
    snprintf(cmd, sizeof cmd, "%s eval --model '%s' --tokenizer '%s' --text '%s/train.txt' --dev '%s/dev.txt' --threads 1 2>/dev/null",
             qpeft, fx, tok, DIR_, DIR_);
    double base = eval_loss(cmd);
    snprintf(cmd, sizeof cmd, "%s eval --checkpoint '%s' --model '%s' --tokenizer '%s' --text '%s/train.txt' --dev '%s/dev.txt' "
             "--threads 1 2>/dev/null", qpeft, ckpt, fx, tok, DIR_, DIR_);
    double tuned = eval_loss(cmd);
    CHECK(tuned < base, "held-out loss after the LoRA run on q4_K_m.gguf %.5f < the base's %.5f", tuned, base);
    Model m;
    ckpt_meta meta;
    session_model_from_checkpoint(fx, ckpt, 0, &m, &meta);
    CHECK(meta.quant_mixed && m.qbase[0], "the checkpoint records a mixed packed base (quant \"mixed\"), installed from the file");
    double with = check_llamacpp_lora("q4_K_m", adapter, &m, m.cfg.vocab_size, 0.5, 0.06);
    model_free(&m);
    // The adapters matter: llama.cpp with them against qpeft's base alone is further away.
    ModelConfig c; ModelWeights w; QuantTensor **qb = NULL; qp_status st = {0};
    if (gguf_load_model(fx, &c, &w, &qb, NULL, &st)) return;
    model_init(&m, &c, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
    qmodel_install(&m, &qb);
    double without = check_llamacpp_lora("q4_K_m", adapter, &m, c.vocab_size, 0, 0);
    CHECK(with >= 0 && without > 2 * with, "the adapters matter: llama.cpp + adapter vs qpeft's base alone, mean |diff| %.3g > 2 x %.3g",
          without, with);
    model_free(&m);
}

static void check_fixture(const char *fixture, const ModelConfig *want, double tol, double mean_tol) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.gguf", DIR_, fixture);
    qp_status st = {0};
    ModelConfig c;
    ModelWeights w;
    QuantTensor **qb = NULL;
    unsigned mask = 0;
    int rc = gguf_load_model(path, &c, &w, &qb, &mask, &st);
    CHECK(rc == 0 && c.dim == want->dim && c.hidden_dim == want->hidden_dim && c.n_layers == want->n_layers &&
          c.n_heads == want->n_heads && c.n_kv_heads == want->n_kv_heads && c.vocab_size == want->vocab_size &&
          c.tied_embeddings == want->tied_embeddings && c.norm_eps == want->norm_eps && mask == (1u << LIN_COUNT) - 1,
          "%s.gguf: loads as a llama config equal to the source model's, all seven linears packed (%s)", fixture, rc ? st.msg : "ok");
    if (rc) return;
    check_contents(fixture, &c, &w, qb);
    if (tol > 0) {
        Model m;
        model_init(&m, &c, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
        qmodel_install(&m, &qb);
        check_llamacpp(fixture, &m, c.vocab_size, tol, mean_tol);
        model_free(&m);
    } else {
        qmodel_free_bases(qb, c.n_layers);
        weights_free(&w);
    }
}

// Hostile or unsupported files: one line naming the file, nothing loaded.
static void check_refusals(void) {
    char path[2048], cmd[8192];
    // Another architecture: the f32 file with "llama" swapped for "gemma" (same length, so every
    // offset stays valid).
    snprintf(path, sizeof path, "%s/gemma.gguf", DIR_);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import sys; b=open('%s/f32/model.gguf','rb').read(); i=b.index(b'general.architecture')+len(b'general.architecture')+12; "
             "assert b[i:i+5]==b'llama'; open('%s','wb').write(b[:i]+b'gemma'+b[i+5:])\"", DIR_, path);
    qp_status st = {0};
    ModelConfig c;
    ModelWeights w;
    QuantTensor **qb = NULL;
    int rc = run(cmd) ? 0 : gguf_load_model(path, &c, &w, &qb, NULL, &st);
    CHECK(rc == -1 && strstr(st.msg, "gemma") && strstr(st.msg, path) && !strchr(st.msg, '\n') && qb == NULL,
          "another architecture refused in one line: %s", st.msg);
    // A linear of a type that is no base: q8_1 (9) in place of q8_0 (8); the reader refuses the
    // type by id before any size is trusted.
    snprintf(path, sizeof path, "%s/badtype.gguf", DIR_);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import struct; b=bytearray(open('%s/q8_0.gguf','rb').read()); n=b'blk.0.attn_q.weight'; "
             "i=b.index(n)+len(n); nd=struct.unpack_from('<I',b,i)[0]; j=i+4+8*nd; assert struct.unpack_from('<I',b,j)[0]==8; "
             "struct.pack_into('<I',b,j,9); open('%s','wb').write(b)\"", DIR_, path);
    memset(&st, 0, sizeof st);
    rc = run(cmd) ? 0 : gguf_load_model(path, &c, &w, &qb, NULL, &st);
    CHECK(rc == -1 && strstr(st.msg, "blk.0.attn_q.weight") && strstr(st.msg, "9") && !strchr(st.msg, '\n'),
          "a q8_1 linear refused in one line: %s", st.msg);
    // A truncated file.
    snprintf(path, sizeof path, "%s/trunc.gguf", DIR_);
    snprintf(cmd, sizeof cmd, "head -c 700000 '%s/q4_K_m.gguf' > '%s'", DIR_, path);
    memset(&st, 0, sizeof st);
    rc = run(cmd) ? 0 : gguf_load_model(path, &c, &w, &qb, NULL, &st);
    CHECK(rc == -1 && strstr(st.msg, path) && !strchr(st.msg, '\n'), "a truncated GGUF refused in one line: %s", st.msg);
}

int main(void) {
    la_set_threads(1);  // tiny models: one thread (spinning OpenMP/BLAS teams cost minutes on a loaded machine)
    const char *tmp = getenv("TEST_TMP") ? getenv("TEST_TMP") : "/tmp";
    const char *qpeft = getenv("QPEFT_BIN") ? getenv("QPEFT_BIN") : "build/qpeft";
    snprintf(DIR_, sizeof DIR_, "%s/gguf_base.%d", tmp, (int)getpid());
    const char *bin = tl_asset("models/tinystories-1M/tinystories-1M.bin");
    static char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && /usr/bin/python3 tests/ggml_fixtures.py '%s' '%s' --wide '%s/wide.bin' >/dev/null && "
             "%s merge --to gguf --gguf-type f32 --model '%s' --tokenizer '%s' --out '%s/f32' >/dev/null 2>&1 && "
             "%s merge --to gguf --gguf-type f32 --model '%s/wide.bin' --tokenizer '%s' --out '%s/wf32' >/dev/null 2>&1 && "
             "/usr/bin/python3 tests/ggml_fixtures.py --gguf '%s' '%s/f32/model.gguf' '%s/wf32/model.gguf' >/dev/null && "
             "cp '%s/f32/model.gguf' '%s/f32.gguf'",
             DIR_, DIR_, bin, DIR_, qpeft, bin, tl_asset("models/tinystories-1M/tok2048.model"), DIR_, qpeft, DIR_,
             tl_asset("models/tok512/tok512.model"), DIR_, DIR_, DIR_, DIR_, DIR_, DIR_);
    int rc = run(cmd);
    CHECK(rc == 0, "fixtures: F32 GGUFs by qpeft merge --to gguf, requantized by ggml_quantize_chunk (rc %d)", rc);
    if (rc) return tl_finish();
    qp_status st = {0};
    ModelConfig ts, wide;
    ModelWeights w;
    char wide_bin[1100];
    snprintf(wide_bin, sizeof wide_bin, "%s/wide.bin", DIR_);
    if (model_load_weights(bin, &ts, &w, &st)) return tl_finish();
    weights_free(&w);
    if (model_load_weights(wide_bin, &wide, &w, &st)) return tl_finish();
    weights_free(&w);
    // The F32 file calibrates the harness: no activation quantization on either side.
    {
        char path[2048];
        snprintf(path, sizeof path, "%s/f32.gguf", DIR_);
        ModelConfig c; QuantTensor **qb = NULL; unsigned mask = 7;
        CHECK(gguf_load_model(path, &c, &w, &qb, &mask, &st) == 0 && mask == 0, "f32.gguf: loads with no packed linear");
        Model m;
        model_init(&m, &c, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st);
        qmodel_free_bases(qb, c.n_layers);
        check_llamacpp("f32", &m, c.vocab_size, 1e-4, 2e-5);
        model_free(&m);
    }
    const char *fixtures[] = {"q4_0", "q8_0", "q4_K", "q5_K", "q6_K", "q4_K_m"};
    for (int i = 0; i < 6; i++) {
        char wname[64];
        // llama.cpp runs (about a second each, more under load) on the 32-block and the K-quant mixes.
        int llama = !strcmp(fixtures[i], "q8_0") || !strcmp(fixtures[i], "q4_K_m");
        check_fixture(fixtures[i], &ts, llama ? 0.5 : 0, 0.06);
        snprintf(wname, sizeof wname, "wide.%s", fixtures[i]);
        check_fixture(wname, &wide, !strcmp(fixtures[i], "q4_K_m") ? 2.0 : 0, 0.3);
    }
    check_refusals();
    check_train_refusals(qpeft);
    check_info(qpeft);
    check_tokenizer();
    check_lora_run(qpeft);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    run(cmd);
    return tl_finish();
}
