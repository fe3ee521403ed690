// tests/fuzz/fuzz_hf.c — libFuzzer harness for model/load_hf.c (+ core/json.c): the input is
// "<config.json>" FZ_SEP "<model.safetensors>" (a missing separator means an empty safetensors
// file), written into a scratch directory that is loaded as a Hugging Face model.
// Seeds: tiny HF dirs from tests/fuzz/make_seeds.py, the tinystories-1M-hf config + header.
#include "tests/fuzz/fuzz_util.h"
#include "model/weights.h"

#define FZ_SEP "\n==> model.safetensors <==\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fz_path("hf");
    char cfg[600], stp[600];
    mkdir(dir, 0700);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(stp, sizeof stp, "%s/model.safetensors", dir);
    size_t cut = fz_find(data, size, FZ_SEP), after = cut + strlen(FZ_SEP);
    fz_write(cfg, data, cut);
    fz_write(stp, data + (after <= size ? after : size), after <= size ? size - after : 0);
    ModelConfig c;
    ModelWeights w;
    qp_status st = {0};
    if (weights_load_hf(dir, &c, &w, &st) == 0) {
        if (w.n_floats != weights_count(&c)) abort();
        (void)weights_hash(&w, &c);
        weights_free(&w);
    } else if (!st.msg[0] || strchr(st.msg, '\n') || w.mem) {
        abort();
    }
    return 0;
}
