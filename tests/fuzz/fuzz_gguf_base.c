// tests/fuzz/fuzz_gguf_base.c — libFuzzer harness for GGUF bases (fuzz_gguf.c fuzzes the reader alone): the input is written to a scratch
// file and loaded by model/load_gguf.c (through model/gguf.c): header, metadata, tensor infos,
// llama.* keys, shapes, ggml types and the raw blocks as packed bases, which are then
// dequantized whole. Hostile input (truncated, wrong counts, overlapping or misaligned offsets,
// huge dimensions, bad types, non-UTF-8 keys) must give one line and no crash.
// Seeds: tests/fuzz/make_gguf_seeds.py (tiny llama GGUFs in every base type).
#include "tests/fuzz/fuzz_util.h"
#include "model/load_gguf.h"
#include "model/model.h"
#include "model/qmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("model.gguf");
    fz_write(path, data, size);
    ModelConfig c;
    ModelWeights w;
    QuantTensor **qb = NULL;
    unsigned mask = 0;
    qp_status st = {0};
    if (gguf_load_model(path, &c, &w, &qb, &mask, &st) == 0) {
        (void)weights_hash(&w, &c);
        char types[96];
        gguf_base_types(qb, c.n_layers * LIN_COUNT, types, sizeof types);
        qmodel_free_bases(qb, c.n_layers);
        weights_free(&w);
    } else if (!st.msg[0] || strchr(st.msg, '\n') || qb) {
        abort();
    }
    return 0;
}
