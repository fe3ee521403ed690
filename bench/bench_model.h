// bench/bench_model.h — the benches' random Llama (bench_step, bench_decode): N(0, 0.02²) weights,
// unit norms, adapters of rank R on all seven linears (R 0: none). Over a quantized base no fp32
// copy of the linears exists (issue 12): each is drawn into one staging buffer and packed, so peak
// memory is what a user's packed run holds.
#ifndef QP_BENCH_MODEL_H
#define QP_BENCH_MODEL_H
#include "core/check.h"
#include "core/rng.h"
#include "model/model.h"
#include "quant/quant.h"
#include <stdlib.h>

static void bench_random_model(Model *m, ModelConfig *c, const char *fmt_name, int rank, qp_rng *rng) {
    qp_status st = {0};
    ModelWeights w;
    if (weights_alloc_packed(&w, c, fmt_name ? 0x7fu : 0u, &st) != 0) qp_die("%s", st.msg);
    for (size_t i = 0; i < w.n_floats; i++) w.mem[i] = 0.02f * rng_normal(rng);
    for (int i = 0; i < c->n_layers * c->dim; i++) w.attn_norm[i] = w.ffn_norm[i] = 1.0f;
    for (int i = 0; i < c->dim; i++) w.final_norm[i] = 1.0f;
    if (model_init(m, c, &w, rank, 2.0f * (float)rank, rank ? 0x7fu : 0u, HEAD_LM, rank ? TRAIN_ADAPTERS : TRAIN_NONE,
                   &st) != 0)
        qp_die("%s", st.msg);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 0.01f * rng_normal(rng);
    if (!fmt_name) return;
    quant_format f;
    if (quant_parse_format(fmt_name, 0, 0, &f, &st) != 0) qp_die("%s", st.msg);
    float *stage = xmalloc((size_t)(c->hidden_dim > c->dim ? c->hidden_dim : c->dim) * c->dim * sizeof(float));
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear lin = model_linear(m, l, k);
            for (size_t i = 0; i < (size_t)lin.out * lin.in; i++) stage[i] = 0.02f * rng_normal(rng);
            m->qbase[l * LIN_COUNT + k] = quant_tensor_quantize(stage, lin.out, lin.in, &f);
        }
    free(stage);
}
#endif
