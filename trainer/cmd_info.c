// trainer/cmd_info.c — `qpeft info`: a model's config, parameter counts and memory.
// Tested by tests/test_cli.sh.
#include "core/check.h"
#include "core/la.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    qp_opt opts[] = {
        OPT_ROW_MODEL_H(&model, "model: llama2.c .bin, HF directory or qpeft quantized file"),
    };
    opts_parse("info", "--model M", opts, 1, argc, argv, 2);
    Session ses;
    memset(&ses, 0, sizeof ses);
    WeightsSource *src = NULL;
    qp_status st = {0};
    if (model && !session_is_packed_file(model) && weights_source_open(model, &ses.cfg, &src, &st) == 0) {
        // The linears are read for the hash only, one at a time (issue 12): no fp32 copy of them.
        WeightsPack hash_only = {NULL, (1u << LIN_COUNT) - 1, NULL};
        if (weights_source_load(src, &ses.cfg, &ses.w, &hash_only, &st)) qp_die("%s", st.msg);
        weights_source_close(src);
    } else {
        session_open(&ses, model, NULL, SESSION_PACKED);
    }
    ModelConfig c = ses.cfg; ModelWeights w = ses.w;
    QuantTensor **qbase = ses.qbase;
    int hs = config_head_size(&c);
    size_t lin = (size_t)c.n_layers * ((size_t)c.dim * c.n_heads * hs * 2 + (size_t)c.dim * c.n_kv_heads * hs * 2 +
                                       (size_t)c.dim * c.hidden_dim * 3);
    size_t total = weights_count(&c);
    char hex[17];
    weights_hash_hex(weights_hash(&w, &c), hex);
    printf("model          %s\n", model);
    printf("dim            %d\nhidden_dim     %d\nn_layers       %d\nn_heads        %d\nn_kv_heads     %d\n", c.dim,
           c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads);
    printf("head_size      %d\nvocab_size     %d\nmax_seq_len    %d\nnorm_eps       %g\nrope_theta     %g\n", hs,
           c.vocab_size, c.max_seq_len, c.norm_eps, c.rope_theta);
    printf("tied_embedding %s\nn_labels       %d\n", c.tied_embeddings ? "yes" : "no", c.n_labels);
    printf("parameters     %zu (linear layers %zu, %.1f%%)\n", total, lin, 100.0 * lin / total);
    printf("fp32 memory    %.2f MiB\n", total * 4.0 / 1048576);
    printf("weights hash   %s\n", hex);
    if (qbase) {  // a .qm or GGUF base: the packed linears' types (per tensor with their counts)
        char mix[512];
        printf("packed linears %s\n", quant_mix_summary(qbase, c.n_layers * LIN_COUNT, mix, sizeof mix));
        QuantTensor **col = xcalloc((size_t)c.n_layers, sizeof *col);
        for (int k = 0; k < LIN_COUNT; k++) {
            for (int l = 0; l < c.n_layers; l++) col[l] = qbase[l * LIN_COUNT + k];
            printf("  %-12s %s\n", lin_names[k], quant_mix_summary(col, c.n_layers, mix, sizeof mix));
        }
        free(col);
        qmodel_free_bases(qbase, c.n_layers);
    }
    printf("openblas core  %s, %d threads\n", la_corename(), la_get_threads());
    weights_free(&w);
    return 0;
}
