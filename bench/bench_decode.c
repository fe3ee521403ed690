// bench/bench_decode.c — decoding throughput of `qpeft generate` at a given Llama shape over an
// fp32 or packed base: the same calls generate makes (one model_forward over the whole prefix per
// new token, no KV cache), random weights, a 16-token prompt, N new tokens; tokens/s of the new
// tokens. Decoding at B 1 is memory-bound: every token reads (and, packed, dequantizes) every weight.
// usage: bench_decode dim L heads kv_heads hidden vocab new_tokens [threads] [format] [compute]
#include "bench/bench_model.h"
#include "core/check.h"
#include "core/la.h"
#include "core/rng.h"
#include "model/model.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    if (argc < 8) qp_die("usage: bench_decode dim L heads kv_heads hidden vocab new_tokens [threads] [format] [compute]");
    la_select_kernels(argv);
    ModelConfig c = {0};
    c.dim = atoi(argv[1]); c.n_layers = atoi(argv[2]); c.n_heads = atoi(argv[3]); c.n_kv_heads = atoi(argv[4]);
    c.hidden_dim = atoi(argv[5]); c.vocab_size = atoi(argv[6]);
    int steps = atoi(argv[7]), threads = argc > 8 ? atoi(argv[8]) : 2, prompt = 16;
    const char *fmt_name = argc > 9 && strcmp(argv[9], "f32") ? argv[9] : NULL;
    int compute = argc > 10 ? compute_parse(argv[10]) : COMPUTE_F32;
    if (compute < 0 || steps < 1) qp_die("bench_decode: bad new_tokens or compute");
    c.max_seq_len = prompt + steps; c.norm_eps = 1e-5f; c.rope_theta = 10000.0f; c.tied_embeddings = 1;
    omp_set_num_threads(threads);
    la_set_threads(threads);
    qp_rng rng; rng_seed(&rng, 0);
    Model m;
    bench_random_model(&m, &c, fmt_name, 0, &rng);
    compute = model_set_compute(&m, (compute_kind)compute);
    model_alloc_acts(&m, 1, prompt + steps);
    int *seq = xmalloc((size_t)(prompt + steps) * sizeof(int));
    for (int i = 0; i < prompt; i++) seq[i] = (int)rng_below(&rng, (uint32_t)c.vocab_size);
    double t0 = qp_now();
    for (int pos = prompt - 1; pos < prompt - 1 + steps; pos++) {  // as cmd_generate: greedy over the prefix
        model_forward(&m, seq, NULL, 1, pos + 1, NULL, NULL, NULL, 0);
        const float *lg = m.acts.logits + (size_t)pos * c.vocab_size;
        int best = 0;
        for (int v = 1; v < c.vocab_size; v++) if (lg[v] > lg[best]) best = v;
        seq[pos + 1] = best;
    }
    double dt = qp_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("qpeft-decode threads=%d core=%s compute=%s format=%s params=%zu prompt=%d new=%d tokens/s=%.2f maxrss_MB=%.0f\n",
           threads, la_corename(), compute_names[compute], fmt_name ? fmt_name : "f32", weights_count(&c), prompt, steps,
           steps / dt, ru.ru_maxrss / 1024.0);
    model_free(&m);
    la_bf16_release();
    free(seq);
    return 0;
}
