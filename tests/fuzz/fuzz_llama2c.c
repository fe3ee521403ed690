// tests/fuzz/fuzz_llama2c.c — libFuzzer harness for model/load_llama2c.c: the input is written
// to a scratch file and loaded as a llama2.c model (legacy v0 or "ak42" v1). A success must
// give weights whose hash can be taken; a failure one line and nothing allocated.
// Seeds: tiny v0/v1 models from tests/fuzz/make_seeds.py, the first 4 KiB of tinystories-1M.bin.
#include "tests/fuzz/fuzz_util.h"
#include "model/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("model.bin");
    fz_write(path, data, size);
    ModelConfig c;
    ModelWeights w;
    qp_status st = {0};
    if (weights_load_llama2c(path, &c, &w, &st) == 0) {
        if (w.n_floats != weights_count(&c)) abort();
        (void)weights_hash(&w, &c);
        weights_free(&w);
    } else if (!st.msg[0] || strchr(st.msg, '\n') || w.mem) {
        abort();
    }
    return 0;
}
