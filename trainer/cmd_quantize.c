// trainer/cmd_quantize.c — `qpeft quantize`: quantize a model's linear weights in one format,
// report per layer and per linear the bits/weight, ‖W−W~‖_F/‖W‖_F and max |W−W~|, and
// optionally write qpeft's quantized model file (model/qmodel.h) that every verb takes as --model.
// Tested by tests/test_quantize_cli.sh (JSON line, error table values, .qm round trip via ppl).
#include "checkpoints/checkpoint.h"
#include "core/check.h"
#include "core/json.h"
#include "model/model.h"
#include "model/qmodel.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Error sums of a set of weights (double: a model's Σw² over 10^9 weights stays exact enough).
typedef struct { double err2, ref2, max_abs, bits, n; } qstats;

static void stats_add(qstats *a, const qstats *b) {
    a->err2 += b->err2; a->ref2 += b->ref2; a->bits += b->bits; a->n += b->n;
    if (b->max_abs > a->max_abs) a->max_abs = b->max_abs;
}
static double stats_rel(const qstats *s) { return s->ref2 > 0 ? sqrt(s->err2 / s->ref2) : 0.0; }
static double stats_bpw(const qstats *s) { return s->n > 0 ? s->bits / s->n : 0.0; }

// Compare W with W~ = dq(q) (deq is scratch of the tensor's size).
static qstats measure(const float *w, const QuantTensor *q, float *deq) {
    int rows = quant_tensor_rows(q), cols = quant_tensor_cols(q);
    size_t n = (size_t)rows * cols;
    quant_dequantize_rows(q, 0, rows, deq);
    qstats s = {0};
    for (size_t i = 0; i < n; i++) {
        double d = (double)w[i] - (double)deq[i];
        s.err2 += d * d;
        s.ref2 += (double)w[i] * w[i];
        if (fabs(d) > s.max_abs) s.max_abs = fabs(d);
    }
    s.bits = 8.0 * (double)quant_tensor_bytes(q);
    s.n = (double)n;
    return s;
}

static void print_row(const char *layer, const char *what, const char *shape, const qstats *s) {
    printf("%-6s %-10s %-10s %8.4f %10.6f %11.4e\n", layer, what, shape, stats_bpw(s), stats_rel(s), s->max_abs);
}

int cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *format = NULL, *modules = NULL, *out = NULL;
    int block = 0, double_quant = 0, json = 0;
    qp_opt opts[] = {
        OPT_ROW_MODEL_H(&model, "fp32 model: llama2.c .bin or HF directory"),
        OPT_ROW_TOKENIZER_H(&tok, "SentencePiece .model the .qm will be used with: its vocabulary is checked (optional)"),
        {"--format", OPT_STR, &format, NULL, "nf4 fp4 nf3 nf2 mxint2..8 int2..8 bf16 fp16", 1, 0, 0},
        OPT_ROW_BLOCK_H(&block, "block (group) size; 0 = the format's default"),
        OPT_ROW_DOUBLE_QUANT_H(&double_quant, "nf4/fp4: quantize the absmax scales (bitsandbytes)"),
        {"--modules", OPT_STR, &modules, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
         "linear kinds to quantize (every layer alike); the rest stay fp32", 1, 0, 0},
        {"--out", OPT_STR, &out, NULL, "write the quantized model file (qpeft .qm format) here", 1, 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON object of the totals", 1, 0, 0},
    };
    opts_parse("quantize", "--model M [--tokenizer T] --format F [--block N] [--double-quant] [--modules LIST] [--out FILE] [--json]",
               opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!model) qp_die("quantize: --model is required");
    if (!format) qp_die("quantize: --format is required (e.g. --format nf4)");
    qp_status st = {0};
    quant_format fmt;
    if (quant_parse_format(format, block, double_quant, &fmt, &st) != 0) qp_die("--format: %s", st.msg);
    if (fmt.kind == QUANT_F32) qp_die("--format f32 quantizes nothing; choose nf4, mxint3, ...");
    unsigned mask = 0;
    if (ckpt_mask_from_names(modules, &mask) != 0 || mask == 0)
        qp_die("--modules '%s': expected a non-empty comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", modules);
    if (qmodel_is_file(model)) qp_die("%s is already a quantized model; quantize the fp32 model it came from", model);

    Session ses;
    session_open(&ses, model, tok, tok ? SESSION_TOKENIZER : 0);
    ModelConfig cfg = ses.cfg; ModelWeights w = ses.w;
    if (ses.tok) tok_free(ses.tok);
    char label[64];
    quant_format_name(&fmt, label, sizeof label);
    char mods[256];
    ckpt_mask_to_names(mask, mods, sizeof mods);
    printf("quantize %s: format %s, modules %s\n", model, label, mods);
    printf("%-6s %-10s %-10s %8s %10s %11s\n", "layer", "module", "shape", "bits/w", "rel_err", "max_err");

    const int L = cfg.n_layers;
    QuantTensor **qb = xcalloc((size_t)L * LIN_COUNT, sizeof *qb);
    size_t max_lin = 0;
    for (int k = 0; k < LIN_COUNT; k++) {
        int o, i;
        model_lin_shape(&cfg, k, &o, &i);
        if ((size_t)o * i > max_lin) max_lin = (size_t)o * i;
    }
    float *deq = xmalloc(max_lin * sizeof(float));
    qstats total = {0}, kind_tot[LIN_COUNT] = {{0}};
    for (int l = 0; l < L; l++) {
        qstats layer = {0};
        char lname[16];
        snprintf(lname, sizeof lname, "%d", l);
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(mask >> k & 1u)) continue;
            int o, i;
            model_lin_shape(&cfg, k, &o, &i);
            const float *wk = model_lin_weight(&w, &cfg, l, k);
            QuantTensor *q = quant_tensor_quantize(wk, o, i, &fmt);
            qb[l * LIN_COUNT + k] = q;
            qstats s = measure(wk, q, deq);
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%d", o, i);
            print_row(lname, lin_names[k], shape, &s);
            stats_add(&layer, &s);
            stats_add(&kind_tot[k], &s);
        }
        print_row(lname, "(layer)", "", &layer);
        stats_add(&total, &layer);
    }
    for (int k = 0; k < LIN_COUNT; k++)
        if (mask >> k & 1u) print_row("all", lin_names[k], "", &kind_tot[k]);
    print_row("total", "", "", &total);

    // Memory: the whole model in fp32 against fp32 embeddings/norms/head + packed linears.
    double n_all = (double)weights_count(&cfg);
    double fp32_bytes = 4.0 * n_all, lin_fp32 = 4.0 * total.n, packed = total.bits / 8.0;
    double model_packed = 4.0 * (n_all - total.n) + packed;
    printf("quantized weights %.0f: fp32 %.3f MiB -> packed %.3f MiB (%.2fx smaller)\n", total.n, lin_fp32 / 1048576,
           packed / 1048576, packed > 0 ? lin_fp32 / packed : 0.0);
    printf("whole model: fp32 %.3f MiB -> %.3f MiB with packed linears (%.2fx smaller; embeddings, norms, head stay fp32)\n",
           fp32_bytes / 1048576, model_packed / 1048576, fp32_bytes / model_packed);
    int64_t file_bytes = -1;
    if (out) {
        if (qmodel_save(out, &cfg, &w, qb, mask, &st) != 0) qp_die("%s", st.msg);
        file_bytes = qp_file_size(out);
        printf("wrote %s (%lld bytes)\n", out, (long long)file_bytes);
    }
    if (json) {
        printf("{\"format\":");
        json_write_str(stdout, quant_format_name(&fmt, NULL, 0));
        printf(",\"label\":");
        json_write_str(stdout, label);
        printf(",\"block\":%d,\"double_quant\":%d,\"modules\":", fmt.block, fmt.double_quant);
        json_write_str(stdout, mods);
        printf(",\"bits_per_weight\":%.6f,\"rel_frobenius_error\":%.8f,\"max_abs_error\":%.8g,\"quantized_weights\":%.0f",
               stats_bpw(&total), stats_rel(&total), total.max_abs, total.n);
        printf(",\"per_module\":{");
        int first = 1;
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!(mask >> k & 1u)) continue;
            printf("%s\"%s\":{\"bits_per_weight\":%.6f,\"rel_frobenius_error\":%.8f,\"max_abs_error\":%.8g}", first ? "" : ",",
                   lin_names[k], stats_bpw(&kind_tot[k]), stats_rel(&kind_tot[k]), kind_tot[k].max_abs);
            first = 0;
        }
        printf("},\"linear_bytes_fp32\":%.0f,\"linear_bytes_packed\":%.0f,\"model_bytes_fp32\":%.0f,\"model_bytes_packed\":%.0f",
               lin_fp32, packed, fp32_bytes, model_packed);
        printf(",\"model\":");
        json_write_str(stdout, model);
        printf(",\"out\":");
        if (out) { json_write_str(stdout, out); printf(",\"out_file_bytes\":%lld", (long long)file_bytes); }
        else printf("null");
        printf("}\n");
    }
    free(deq);
    qmodel_free_bases(qb, L);
    weights_free(&w);
    return 0;
}
