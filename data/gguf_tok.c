// data/gguf_tok.c — the tokenizer a GGUF file carries (tokenizer.ggml.*), read with the one GGUF
// reader and built by tok_from_vocab (data/sp_shim.cpp). Tested by tests/test_gguf_base.c
// (ids equal llama.cpp's own tokenization of the same file on a dozen hard strings).
#include "data/tokenizer.h"
#include "model/gguf.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// An optional u32 id key: its value, or -1 when absent; -2 (st set) when of another type.
static int opt_id(const gguf_file *g, const char *key, qp_status *st) {
    uint32_t v;
    if (!gguf_find(g, key)) return -1;
    if (gguf_get_u32(g, key, &v, st)) return -2;
    return v > INT32_MAX ? -1 : (int)v;
}

static Tokenizer *build(const gguf_file *g, qp_status *st) {
    const char *model = gguf_get_str(g, "tokenizer.ggml.model", st);
    if (!model) return NULL;
    if (strcmp(model, "llama")) {
        qp_fail(st, "%s: tokenizer.ggml.model '%s' is not supported yet (qpeft builds SentencePiece 'llama' vocabularies); "
                "give --tokenizer", g->path, model);
        return NULL;
    }
    const gguf_kv *tokens = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STR, st);
    if (!tokens) return NULL;
    const gguf_kv *scores = gguf_find(g, "tokenizer.ggml.scores") ? gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_F32, st) : NULL;
    const gguf_kv *types = gguf_find(g, "tokenizer.ggml.token_type") ? gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_I32, st) : NULL;
    if ((gguf_find(g, "tokenizer.ggml.scores") && !scores) || (gguf_find(g, "tokenizer.ggml.token_type") && !types)) return NULL;
    if (tokens->n > (1u << 24) || (scores && scores->n != tokens->n) || (types && types->n != tokens->n)) {
        qp_fail(st, "%s: tokenizer.ggml.tokens, scores and token_type must have one entry per token (%llu, %llu, %llu)", g->path,
                (unsigned long long)tokens->n, scores ? (unsigned long long)scores->n : 0ull, types ? (unsigned long long)types->n : 0ull);
        return NULL;
    }
    tok_vocab v = {(int)tokens->n, (const char *const *)tokens->data, scores ? (const float *)scores->data : NULL,
                   types ? (const int *)types->data : NULL, 0, 0, 0, 1};
    v.bos = opt_id(g, "tokenizer.ggml.bos_token_id", st);
    v.eos = opt_id(g, "tokenizer.ggml.eos_token_id", st);
    v.unk = opt_id(g, "tokenizer.ggml.unknown_token_id", st);
    if (v.bos == -2 || v.eos == -2 || v.unk == -2) return NULL;
    const gguf_kv *sp = gguf_find(g, "tokenizer.ggml.add_space_prefix");
    if (sp && sp->type == GGUF_BOOL && sp->n == 1) v.add_space_prefix = *(const uint8_t *)sp->data;
    return tok_from_vocab(&v, g->path, st);
}

Tokenizer *tok_load_gguf(const char *path, qp_status *st) {
    gguf_file g;
    if (gguf_open(&g, path, st)) return NULL;
    Tokenizer *t = build(&g, st);
    gguf_close(&g);
    return t;
}
