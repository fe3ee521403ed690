// bench/bench_step.c — train-step throughput and peak memory at a given Llama shape with rank-R
// adapters on all seven linears (the shape of ../shared/bench/torch_lora_step.py), optionally
// over a quantized base. Random weights; forward+backward+AdamW; median of steps 4..13.
// usage: bench_step dim L heads kv_heads hidden vocab T B [threads] [format] [compute]
// format f32 = the unquantized base; compute f32|bf16 (the frozen-base products, `--compute`).
// Under mpirun it is one data-parallel step (core/dist.h): each rank runs B/ranks rows, the flat
// gradient is summed over the ranks, and the allreduce is timed on its own (its share of the step).
#include "core/check.h"
#include "bench/bench_model.h"
#include "core/dist.h"
#include "core/la.h"
#include "core/rng.h"
#include "model/model.h"
#include "optim/adamw.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 9) qp_die("usage: bench_step dim L heads kv_heads hidden vocab T B [threads] [format] [compute]");
    la_select_kernels(argv);
    dist_init(&argc, &argv);
    ModelConfig c = {0};
    c.dim = atoi(argv[1]); c.n_layers = atoi(argv[2]); c.n_heads = atoi(argv[3]); c.n_kv_heads = atoi(argv[4]);
    c.hidden_dim = atoi(argv[5]); c.vocab_size = atoi(argv[6]);
    int T = atoi(argv[7]), B = atoi(argv[8]), threads = argc > 9 ? atoi(argv[9]) : 2;
    const char *fmt_name = argc > 10 && strcmp(argv[10], "f32") ? argv[10] : NULL;
    int compute = argc > 11 ? compute_parse(argv[11]) : COMPUTE_F32;
    if (compute < 0) qp_die("bench_step: compute '%s' (expected f32 or bf16)", argv[11]);
    const int ranks = dist_size(), Bg = B;
    if (B % ranks) qp_die("B %d does not divide over %d ranks", B, ranks);
    B /= ranks;  // this rank's share of the global batch
    c.max_seq_len = T; c.norm_eps = 1e-5f; c.rope_theta = 10000.0f; c.tied_embeddings = 1;
    omp_set_num_threads(threads);
    la_set_threads(threads);
    qp_rng rng; rng_seed(&rng, 0);
    Model m;
    bench_random_model(&m, &c, fmt_name, 8, &rng);
    compute = model_set_compute(&m, (compute_kind)compute);
    model_alloc_acts(&m, B, T);
    adamw_state opt;
    const double lr = 1e-4;
    adamw_init(&opt, m.n_params, adamw_defaults());
    int *ids = xmalloc((size_t)B * T * sizeof(int)), *tg = xmalloc((size_t)B * T * sizeof(int));
    for (int i = 0; i < B * T; i++) { ids[i] = (int)rng_below(&rng, (uint32_t)c.vocab_size); tg[i] = (int)rng_below(&rng, (uint32_t)c.vocab_size); }
    double times[13], reduce[13];
    for (int s = 0; s < 13; s++) {
        dist_barrier();
        double t0 = qp_now();
        model_forward(&m, ids, NULL, B, T, tg, NULL, NULL, NULL);
        model_zero_grad(&m);
        model_backward(&m, ids, NULL, B, T, tg, NULL, NULL, NULL);
        double t1 = qp_now();
        dist_sum_float(m.grads, m.n_params);
        reduce[s] = qp_now() - t1;
        adamw_step(&opt, m.params, m.grads, lr);
        times[s] = qp_now() - t0;
    }
    qsort(times + 3, 10, sizeof(double), cmp_double);
    qsort(reduce + 3, 10, sizeof(double), cmp_double);
    double med = times[3 + 5], red = reduce[3 + 5];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (dist_is_root())
        printf("qpeft ranks=%d threads=%d core=%s compute=%s engine=%s format=%s params=%zu trainable=%zu B=%d T=%d "
               "step_median=%.1fms allreduce_median=%.2fms allreduce_frac=%.3f tokens/s=%.0f maxrss_MB=%.0f\n",
               ranks, threads, la_corename(), compute_names[compute], compute == COMPUTE_BF16 ? la_bf16_engine() : "openblas",
               fmt_name ? fmt_name : "f32", weights_count(&c), m.n_params, Bg, T, med * 1000, red * 1000, red / med,
               Bg * T / med, ru.ru_maxrss / 1024.0);
    adamw_free(&opt);
    model_free(&m);
    la_bf16_release();
    free(ids); free(tg);
    dist_finalize();
    return 0;
}
