// trainer/cmd_generate.c — `qpeft generate`: text generation with llama2.c run.c's semantics:
// --steps counts positions including BOS, generation stops at BOS, the prompt is encoded with
// BOS first, temperature 0 is argmax, otherwise run.c's sampler (xorshift generator seeded by
// --seed, softmax at the temperature, top-p nucleus with its (1-p)/(n-1) cut-off), so a run
// with the same seed draws the same tokens as run.c. stdout carries only the text.
// Tested by tests/test_cli.sh (run.c's golden output for tinystories-1M, .bin and HF layouts).
// --prompt-ids FILE --max-new N --print-ids: ids in, ids out, no tokenizer, no BOS added, no stop
// at BOS/EOS, HF's RoPE angles (tests/test_variants.sh, greedy vs the PyTorch oracle).
#include "core/check.h"
#include "data/ids.h"
#include "model/model.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

// run.c's generator: xorshift64* on a 64-bit state, top 32 bits; floats from the top 24 of those.
static uint32_t xorshift_u32(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}
static float xorshift_f32(uint64_t *s) { return (float)(xorshift_u32(s) >> 8) / 16777216.0f; }

typedef struct { float p; int i; } prob_index;
static int by_prob_desc(const void *a, const void *b) {
    float pa = ((const prob_index *)a)->p, pb = ((const prob_index *)b)->p;
    return pa > pb ? -1 : pa < pb ? 1 : 0;
}

static void softmax_inplace(float *x, int n) {
    float mx = x[argmax(x, n)], sum = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

// Sample from the smallest prefix of the sorted distribution whose mass exceeds top_p; tokens
// below (1-top_p)/(n-1) cannot be in it and are dropped before sorting (run.c's shortcut).
static int sample_top_p(const float *probs, int n, float top_p, float coin, prob_index *buf) {
    const float cutoff = (1.0f - top_p) / (float)(n - 1);
    int m = 0;
    for (int i = 0; i < n; i++) if (probs[i] >= cutoff) { buf[m].p = probs[i]; buf[m].i = i; m++; }
    qsort(buf, (size_t)m, sizeof *buf, by_prob_desc);
    float mass = 0;
    int last = m - 1;
    for (int i = 0; i < m; i++) { mass += buf[i].p; if (mass > top_p) { last = i; break; } }
    float r = coin * mass, acc = 0;
    for (int i = 0; i <= last; i++) { acc += buf[i].p; if (r < acc) return buf[i].i; }
    return buf[last].i;
}

static int sample_all(const float *probs, int n, float coin) {
    float acc = 0;
    for (int i = 0; i < n; i++) { acc += probs[i]; if (coin < acc) return i; }
    return n - 1;
}

static int next_token(float *logits, int n, double temperature, double top_p, uint64_t *rng, prob_index *buf) {
    if (temperature == 0) return argmax(logits, n);
    for (int i = 0; i < n; i++) logits[i] /= (float)temperature;
    softmax_inplace(logits, n);
    float coin = xorshift_f32(rng);
    if (top_p <= 0 || top_p >= 1) return sample_all(logits, n, coin);
    return sample_top_p(logits, n, (float)top_p, coin, buf);
}

// Ids in, ids out: continue the prompt by max_new tokens (sampled as next_token does) and print
// the new ids on one line.
static int generate_ids(const char *ids_path, int max_new, ModelConfig *cfg, ModelWeights *w, QuantTensor ***qbase,
                        double temperature, double top_p, int seed) {
    qp_status st = {0};
    int *prompt, np;
    if (ids_read_file(ids_path, cfg->vocab_size, &prompt, &np, &st)) qp_die("%s", st.msg);
    if (np < 1) qp_die("%s: no ids; the prompt needs at least one", ids_path);
    if (max_new < 1) qp_die("qpeft generate: --prompt-ids needs --max-new N >= 1");
    if ((int64_t)np + max_new - 1 > cfg->max_seq_len)
        qp_die("%s: %d prompt ids + %d new exceed the model's context %d", ids_path, np, max_new, cfg->max_seq_len);
    Model m;
    if (model_init(&m, cfg, w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    session_install_qbase(&m, qbase);
    int total = np + max_new - 1;  // the last new token is never fed back
    qp_quiet++;
    model_alloc_acts(&m, 1, total);
    qp_quiet--;
    int *seq = xmalloc((size_t)(np + max_new) * sizeof(int));
    memcpy(seq, prompt, (size_t)np * sizeof(int));
    prob_index *buf = xmalloc((size_t)cfg->vocab_size * sizeof *buf);
    uint64_t rng = (uint64_t)seed;
    for (int k = 0; k < max_new; k++) {
        int T = np + k;
        model_forward(&m, seq, NULL, 1, T, NULL, NULL, NULL, 0);
        seq[T] = next_token(m.acts.logits + (size_t)(T - 1) * cfg->vocab_size, cfg->vocab_size, temperature, top_p, &rng, buf);
        printf(k ? " %d" : "%d", seq[T]);
    }
    printf("\n");
    free(seq); free(buf); free(prompt);
    model_free(&m);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *prompt = NULL, *prompt_ids = NULL;
    double temperature = 1.0, top_p = 0.9;
    int steps = 256, seed = 42, max_new = 0, print_ids = 0;
    qp_opt opts[] = {
        OPT_ROW_MODEL(&model),
        OPT_ROW_TOKENIZER(&tok),
        {"--prompt", OPT_STR, &prompt, "", "text to continue (encoded with BOS first)", 1, 0, 0},
        {"--steps", OPT_INT, &steps, "256", "positions to run, BOS included; 0 or more than the context = context", 0, 1e9, 0},
        {"--temperature", OPT_FLOAT, &temperature, "1.0", "0 = greedy (argmax)", 0, 100, 0},
        {"--top-p", OPT_FLOAT, &top_p, "0.9", "nucleus sampling mass (run.c's -p); 0 or 1 = plain sampling", 0, 1, 0},
        {"--seed", OPT_INT, &seed, "42", "sampling seed (run.c's -s; must be > 0)", 1, 2147483647, 0},
        {"--prompt-ids", OPT_STR, &prompt_ids, NULL, "prompt as a file of whitespace-separated ids (no tokenizer, no BOS)", 1, 0, 0},
        {"--max-new", OPT_INT, &max_new, "0", "with --prompt-ids: ids to generate (no stop at BOS/EOS)", 0, 1e9, 0},
        {"--print-ids", OPT_FLAG, &print_ids, NULL, "with --prompt-ids: print the new ids on one line (the only output form)", 1, 0, 0},
    };
    opts_parse("generate", "--model M [--tokenizer T] [--prompt S] [--steps N] [--temperature X] [--top-p P] [--seed S] "
               "| --model M --prompt-ids FILE --max-new N --print-ids [--temperature X]",
               opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (print_ids && !prompt_ids) qp_die("qpeft generate: --print-ids needs --prompt-ids FILE");
    qp_status st = {0};
    Session ses;
    if (prompt_ids) {  // ids in, ids out: no tokenizer file needed
        session_open(&ses, model, NULL, SESSION_PACKED);
        return generate_ids(prompt_ids, max_new, &ses.cfg, &ses.w, &ses.qbase, temperature, top_p, seed);
    }
    session_open(&ses, model, tok, SESSION_TOKENIZER | SESSION_PACKED);
    ModelConfig cfg = ses.cfg; ModelWeights w = ses.w; QuantTensor **qbase = ses.qbase; Tokenizer *tk = ses.tok;
    if (steps == 0 || steps > cfg.max_seq_len) steps = cfg.max_seq_len;
    int *ptoks = NULL, np = 0;
    if (tok_encode(tk, prompt, 1, &ptoks, &np, &st) != 0) qp_die("%s", st.msg);
    if (np > steps) qp_die("--prompt is %d tokens (BOS included) but --steps is %d", np, steps);
    if (np == 0) qp_die("qpeft generate: an empty --prompt needs a tokenizer with a BOS token to start from; give --prompt");
    Model m;
    if (model_init(&m, &cfg, &w, 0, 0, 0, HEAD_LM, TRAIN_NONE, &st) != 0) qp_die("%s", st.msg);
    session_install_qbase(&m, &qbase);
    m.rope_llama2c = 1;  // run.c's fp32 RoPE angles, so greedy ties break as run.c's do
    qp_quiet++;
    model_alloc_acts(&m, 1, steps);
    qp_quiet--;
    int *seq = xmalloc((size_t)steps * sizeof(int));
    prob_index *buf = xmalloc((size_t)cfg.vocab_size * sizeof *buf);
    uint64_t rng = (uint64_t)seed;
    seq[0] = ptoks[0];
    double t0 = qp_now();
    int pos = 0;
    while (pos < steps) {
        int token = seq[pos], next;
        if (pos < np - 1) next = ptoks[pos + 1];
        else {
            // The whole prefix is recomputed each step (no KV cache): one code path, and at
            // these model sizes a 256-token run takes well under a second.
            model_forward(&m, seq, NULL, 1, pos + 1, NULL, NULL, NULL, 0);
            next = next_token(m.acts.logits + (size_t)pos * cfg.vocab_size, cfg.vocab_size, temperature, top_p, &rng, buf);
        }
        pos++;
        if (next == tok_bos_id(tk)) break;
        fputs(tok_decode_piece_run_c(tk, token, next), stdout);
        fflush(stdout);
        if (pos < steps) seq[pos] = next;
    }
    printf("\n");
    double dt = qp_now() - t0;
    if (pos > 1) qp_info("achieved tok/s: %.1f", (pos - 1) / dt);
    free(seq); free(buf); free(ptoks);
    tok_free(tk);
    model_free(&m);
    return 0;
}
