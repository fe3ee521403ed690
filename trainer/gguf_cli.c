// trainer/gguf_cli.c — the GGUF export's session side: vocabulary from the SentencePiece model,
// the exact-grid mask of a packed MXINT base, the per-tensor report, and the checkpoint-free
// conversion. Tested by tests/test_gguf_llamacpp.sh and tests/test_merge_cli.sh.
#include "trainer/gguf_cli.h"
#include "checkpoints/export.h"
#include "core/check.h"
#include "data/tokenizer.h"
#include "quant/ggml_blocks.h"
#include "trainer/session.h"
#include <stdlib.h>
#include <string.h>

int gguf_cli_exact_type(const quant_format *f) {
    if (f->kind != QUANT_MXINT) return -1;
    return f->bits <= 4 ? GGML_ID_Q4_0 : GGML_ID_Q8_0;
}

void gguf_cli_check_type(export_dtype type, int expect_type, const char *fmtname) {
    if (type == EXPORT_Q4_0 && expect_type == GGML_ID_Q8_0)
        qp_die("--gguf-type q4_0: the %s base's codes need 8-bit blocks, q4_0 cannot hold them exactly (use q8_0 or auto)", fmtname);
}

int gguf_cli_write_model(const char *path, const ModelConfig *cfg, const ModelWeights *w, export_dtype type,
                         unsigned exact_mask, int expect_type, const char *tok_path, const char *name,
                         export_gguf_report *rep, qp_status *st) {
    if (!tok_path) return qp_fail(st, "%s: a SentencePiece tokenizer for the GGUF vocabulary, found none beside the model (--tokenizer)", path);
    Tokenizer *tk = tok_load(tok_path, st);
    if (!tk) return -1;
    const int n = tok_vocab_size(tk);
    const char **pieces = xmalloc((size_t)n * sizeof *pieces);
    float *scores = xmalloc((size_t)n * sizeof *scores);
    int32_t *types = xmalloc((size_t)n * sizeof *types);
    for (int i = 0; i < n; i++) {
        pieces[i] = tok_piece(tk, i);
        scores[i] = tok_score(tk, i);
        types[i] = tok_piece_type(tk, i);
    }
    export_gguf_vocab v = {n, pieces, scores, types, tok_bos_id(tk), tok_eos_id(tk), tok_unk_id(tk)};
    export_gguf_opts o = {type, exact_mask, expect_type, name, &v, 1};
    printf("gguf %s (--gguf-type %s):\n", path, export_dtype_name(type));
    int rc = export_write_gguf(path, cfg, w, &o, rep, st);
    if (!rc) {
        printf("gguf: %d tensors (f32 %d, f16 %d, bf16 %d, q8_0 %d, q4_0 %d), %llu bytes, %.4f bits/weight overall, "
               "%.4f over the linears; ",
               rep->n_tensors, rep->n_by_type[EXPORT_F32], rep->n_by_type[EXPORT_F16], rep->n_by_type[EXPORT_BF16],
               rep->n_by_type[EXPORT_Q8_0], rep->n_by_type[EXPORT_Q4_0], (unsigned long long)rep->bytes,
               rep->bits_per_weight, rep->linear_bits_per_weight);
        if (rep->n_lossy) printf("%d tensors rounded: weight error ||W-file||/||W|| %.4g over them\n", rep->n_lossy, rep->rel_err);
        else printf("every tensor exact (the file holds the weights bit for bit)\n");
    }
    free(pieces);
    free(scores);
    free(types);
    tok_free(tk);
    return rc;
}

void gguf_cli_convert(const char *model_path, const char *tok_path, export_dtype type, const char *out,
                      export_gguf_report *rep, char *dir, size_t dir_n) {
    ModelConfig cfg;
    ModelWeights w;
    QuantTensor **qbase = NULL;
    unsigned qmask = 0;
    qp_status st = {0};
    session_load_model(model_path, &cfg, &w, &qbase, &qmask);
    // A packed MXINT linear's W~ = its dequantized codes: on the grid of one ggml block type.
    int expect = -1;
    char fmtname[64] = "fp32";
    for (int i = 0; qbase && i < cfg.n_layers * LIN_COUNT; i++)
        if (qbase[i]) {
            expect = gguf_cli_exact_type(quant_tensor_format(qbase[i]));
            quant_format_name(quant_tensor_format(qbase[i]), fmtname, sizeof fmtname);
            break;
        }
    gguf_cli_check_type(type, expect, fmtname);
    printf("convert %s (base %s) to GGUF\n", model_path, fmtname);
    export_stage sg;
    if (export_stage_begin(&sg, out, &st) != 0) qp_die("%s", st.msg);
    char path[EXPORT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.gguf", sg.tmp);
    if (gguf_cli_write_model(path, &cfg, &w, type, expect >= 0 ? qmask : 0, expect, tok_path, model_path, rep, &st) != 0 ||
        export_stage_commit(&sg, &st) != 0) {
        export_stage_abort(&sg);
        qp_die("%s", st.msg);
    }
    printf("wrote %s/model.gguf\n", sg.dir);
    snprintf(dir, dir_n, "%s", sg.dir);
    qmodel_free_bases(qbase, cfg.n_layers);
    weights_free(&w);
}
