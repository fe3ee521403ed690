// bench/bench_mem.c — resident memory of a stories15M-shaped model (dim 288, hidden 768, 6
// layers, 6 heads, 6 kv heads, vocab 32000, T 256) whose linears are held fp32 or packed in each
// format, and the extra RSS of one forward matmul per linear (linear_forward's dequant scratch).
// Each format runs in a fresh process (this binary re-executed with --one FORMAT) so VmRSS and
// VmHWM start clean; OpenBLAS is warmed up before the baseline so its buffers are not counted.
// Random N(0, 0.02²) weights (the memory of a format does not depend on the values).
// usage: bench_mem            (the table)       bench_mem --one nf4[:BLOCK]   (one line)
#include "core/check.h"
#include "core/rng.h"
#include "model/linear.h"
#include "model/model.h"
#include "quant/quant.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DIM = 288, HID = 768, NL = 6, NH = 6, NKV = 6, VOCAB = 32000, SEQ = 256, NLIN = 7 };

// kB of a /proc/self/status field ("VmRSS", "VmHWM"), or -1.
static long status_kb(const char *field) {
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, field, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    fclose(fp);
    return v;
}

// The stories15M shape through model/'s one table of linear shapes.
static void lin_shape(int k, int *out, int *in) {
    const ModelConfig c = {.dim = DIM, .hidden_dim = HID, .n_layers = NL, .n_heads = NH, .n_kv_heads = NKV,
                           .vocab_size = VOCAB, .max_seq_len = SEQ};
    model_lin_shape(&c, k, out, in);
}

static void fill(float *x, size_t n, qp_rng *r, float s) { for (size_t i = 0; i < n; i++) x[i] = s * rng_normal(r); }

// One measurement; prints "format=... key=value ..." on one line.
static int run_one(const char *spec) {
    char name[32];
    snprintf(name, sizeof name, "%s", spec);
    int block = 0;
    char *colon = strchr(name, ':');
    if (colon) { *colon = 0; block = atoi(colon + 1); }
    int packed = strcmp(name, "fp32") != 0;
    quant_format fmt = {0};
    qp_status st = {0};
    if (packed && quant_parse_format(name, block, 0, &fmt, &st)) qp_die("%s", st.msg);
    qp_rng rng;
    rng_seed(&rng, 1234);
    // Warm-up: OpenBLAS allocates its buffers on first use; do that before the baseline.
    {
        float w[64 * 64], x[32 * 64], y[32 * 64];
        fill(w, 64 * 64, &rng, 1); fill(x, 32 * 64, &rng, 1);
        Linear lin = {.in = 64, .out = 64, .w = w};
        linear_forward(y, NULL, x, NULL, &lin, 32, NULL);
    }
    long rss0 = status_kb("VmRSS");
    // Embedding (tied head) and norms: fp32 in every configuration, as qpeft keeps them.
    size_t n_emb = (size_t)VOCAB * DIM, n_norm = (size_t)(2 * NL + 1) * DIM;
    float *emb = xmalloc(n_emb * sizeof(float)), *norms = xmalloc(n_norm * sizeof(float));
    for (size_t i = 0; i < n_emb; i++) emb[i] = 0.04f * rng_uniform(&rng) - 0.02f;  // fast; values don't matter
    for (size_t i = 0; i < n_norm; i++) norms[i] = 1.0f;
    float *wf[NL * NLIN] = {0};
    QuantTensor *wq[NL * NLIN] = {0};
    float *tmp = packed ? xmalloc((size_t)HID * DIM * sizeof(float)) : NULL;
    double lin_bytes = 0, n_lin = 0;
    for (int l = 0; l < NL; l++)
        for (int k = 0; k < NLIN; k++) {
            int o, in;
            lin_shape(k, &o, &in);
            size_t n = (size_t)o * in;
            n_lin += (double)n;
            if (!packed) {
                wf[l * NLIN + k] = xmalloc(n * sizeof(float));
                fill(wf[l * NLIN + k], n, &rng, 0.02f);
                lin_bytes += 4.0 * n;
            } else {
                fill(tmp, n, &rng, 0.02f);
                wq[l * NLIN + k] = quant_tensor_quantize(tmp, o, in, &fmt);
                lin_bytes += (double)quant_tensor_bytes(wq[l * NLIN + k]);
            }
        }
    free(tmp);
    long rss1 = status_kb("VmRSS"), hwm1 = status_kb("VmHWM");
    // One forward matmul per linear at B=1, T=SEQ: input, output and the dequant scratch.
    size_t scratch_n = 0;
    for (int k = 0; k < NLIN; k++) {
        int o, in;
        lin_shape(k, &o, &in);
        Linear lin = {.in = in, .out = o, .w = packed ? NULL : wf[k], .qw = packed ? wq[k] : NULL};
        size_t s = linear_scratch_floats(&lin, SEQ);
        if (s > scratch_n) scratch_n = s;
    }
    float *scratch = scratch_n ? xmalloc(scratch_n * sizeof(float)) : NULL;
    float *x = xmalloc((size_t)SEQ * HID * sizeof(float)), *y = xmalloc((size_t)SEQ * HID * sizeof(float));
    fill(x, (size_t)SEQ * HID, &rng, 1);
    double checksum = 0;
    for (int l = 0; l < NL; l++)
        for (int k = 0; k < NLIN; k++) {
            int o, in;
            lin_shape(k, &o, &in);
            Linear lin = {.in = in, .out = o, .w = wf[l * NLIN + k], .qw = wq[l * NLIN + k]};
            linear_forward(y, NULL, x, NULL, &lin, SEQ, scratch);
            checksum += y[0];
        }
    long rss2 = status_kb("VmRSS"), hwm2 = status_kb("VmHWM");
    double model_bytes = 4.0 * (double)(n_emb + n_norm) + lin_bytes;
    printf("format=%s bits_per_weight=%.4f linear_bytes=%.0f model_bytes=%.0f rss_base_kB=%ld rss_weights_kB=%ld "
           "hwm_build_kB=%ld rss_forward_kB=%ld hwm_forward_kB=%ld scratch_bytes=%zu checksum=%.6g\n",
           packed ? quant_format_name(&fmt, name, sizeof name) : "fp32", 8.0 * lin_bytes / n_lin, lin_bytes, model_bytes,
           rss0, rss1 - rss0, hwm1 - rss0, rss2 - rss0, hwm2 - rss0, scratch_n * sizeof(float), checksum);
    for (int i = 0; i < NL * NLIN; i++) { free(wf[i]); quant_tensor_free(wq[i]); }
    free(emb); free(norms); free(scratch); free(x); free(y);
    return 0;
}

static double val(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(line, k);
    return p ? atof(p + strlen(k)) : -1;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--one")) return run_one(argv[2]);
    if (argc != 1) qp_die("usage: bench_mem   (or: bench_mem --one FORMAT[:BLOCK])");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) qp_die("cannot find my own executable");
    exe[n] = 0;
    const char *specs[] = {"fp32", "bf16", "int8", "mxint8", "mxint7", "mxint6", "mxint5", "nf4", "fp4", "int4",
                           "mxint4", "nf3", "mxint3", "nf2", "mxint2", "mxint2:16"};
    printf("stories15M shape: dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d (tied), forward at T %d;\n",
           DIM, HID, NL, NH, NKV, VOCAB, SEQ);
    printf("embeddings and norms fp32 in every row; RSS deltas over a warmed-up process, MiB\n");
    printf("%-11s %7s %10s %10s %8s %8s %7s %9s %8s %8s %8s\n", "format", "bits/w", "lin_MiB", "model_MiB", "model_x",
           "RSS_MiB", "RSS_x", "linRSS_x", "+fwd_MiB", "peak_MiB", "scr_MiB");
    const double fixed = 4.0 * ((double)VOCAB * DIM + (double)(2 * NL + 1) * DIM);  // fp32 embeddings + norms
    double base_model = 0, base_rss = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char cmd[PATH_MAX + 64], line[1024] = {0};
        snprintf(cmd, sizeof cmd, "'%s' --one %s", exe, specs[i]);
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(line, sizeof line, p)) qp_die("%s: no output", cmd);
        if (pclose(p) != 0) qp_die("%s failed", cmd);
        char fmt[32] = "?";
        sscanf(line, "format=%31s", fmt);
        const double M = 1048576.0;
        double model = val(line, "model_bytes"), rss = val(line, "rss_weights_kB") * 1024;
        if (i == 0) { base_model = model; base_rss = rss; }
        printf("%-11s %7.3f %10.2f %10.2f %8.3f %8.2f %7.3f %9.3f %8.2f %8.2f %8.2f\n", fmt, val(line, "bits_per_weight"),
               val(line, "linear_bytes") / M, model / M, model / base_model, rss / M, rss / base_rss,
               (rss - fixed) / (base_rss - fixed),
               (val(line, "rss_forward_kB") * 1024 - rss) / M, val(line, "hwm_forward_kB") * 1024 / M,
               val(line, "scratch_bytes") / M);
    }
    printf("model_x, RSS_x: ratio to fp32 (RSS after building the weights); linRSS_x: the same with the fp32\n"
           "embeddings+norms bytes subtracted (the linears alone); +fwd: extra RSS after one forward of every\n"
           "linear (input/output activations, dequant scratch); peak: VmHWM over the baseline (includes the quantizer's\n"
           "fp32 staging buffer of one tensor).\n");
    return 0;
}
