// tests/fuzz/fuzz_gguf.c — libFuzzer harness for model/gguf.c, the GGUF reader: the input is
// written to a scratch file and opened; a refusal must be one non-empty line, an accepted file
// must answer its typed lookups and give every tensor's data (dequantized) without a crash.
// Seeds: small hand-built GGUFs (tests/fuzz/make_seeds.py).
#include "tests/fuzz/fuzz_util.h"
#include "model/gguf.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("model.gguf");
    fz_write(path, data, size);
    gguf_file g;
    qp_status st = {0};
    if (gguf_open(&g, path, &st) != 0) {
        if (!st.msg[0] || strchr(st.msg, '\n')) abort();
        return 0;
    }
    uint32_t u;
    float f;
    qp_status s2 = {0};
    (void)gguf_get_str(&g, "general.architecture", &s2);
    (void)gguf_get_u32(&g, "llama.block_count", &u, &s2);
    (void)gguf_get_f32(&g, "llama.rope.freq_base", &f, &s2);
    (void)gguf_get_arr(&g, "tokenizer.ggml.tokens", GGUF_STR, &s2);
    for (int64_t i = 0; i < g.n_tensors; i++) {
        if (g.t[i].bytes > (1u << 20)) continue;  // data is bounded by the file; keep runs quick
        int64_t n = 1;
        for (int d = 0; d < 4; d++) n *= g.t[i].ne[d];
        float *x = malloc((size_t)n * sizeof(float) + 4);
        if (gguf_read_f32(&g, (int)i, x, &s2) != 0 && strchr(s2.msg, '\n')) abort();
        free(x);
    }
    gguf_close(&g);
    return 0;
}
