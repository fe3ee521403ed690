// bench/gen_model.c — write a random Llama checkpoint of a named shape (issue 12):
//   gen_model SHAPE DIR [SEED] [SHARD_MB]
// SHAPE: tinyllama-1.1b, llama2-7b, mid-44m, tiny-2l (model/config.h). bf16 shards of
// SHARD_MB (default 2048) + index, N(0, 0.02²) weights, norms 1, the Llama-2 tokenizer from
// the assets. Used by bench/scale.sh; never commit what it writes.
#include "checkpoints/random_model.h"
#include "core/check.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: gen_model SHAPE DIR [SEED] [SHARD_MB]\n");
        return 2;
    }
    qp_status st = {0};
    ModelConfig c;
    if (config_preset(argv[1], &c, &st)) qp_die("%s", st.msg);
    const char *assets = getenv("QPEFT_ASSETS") ? getenv("QPEFT_ASSETS") : "../shared/assets";
    char tok[4096];
    snprintf(tok, sizeof tok, "%s/models/llama2-tokenizer/tokenizer.model", assets);
    random_model_opts o = {argc > 3 ? strtoull(argv[3], NULL, 10) : 42,
                           (size_t)(argc > 4 ? atol(argv[4]) : 2048) << 20, EXPORT_BF16, tok};
    double t0 = qp_now();
    if (random_model_write(argv[2], &c, &o, &st)) qp_die("%s", st.msg);
    printf("%s: %s written in %.1f s\n", argv[2], argv[1], qp_now() - t0);
    return 0;
}
