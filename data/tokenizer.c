// data/tokenizer.c — data/tokenizer.h over its two kinds: a SentencePiece .model (data/sp_shim.cpp)
// or a byte-level BPE tokenizer.json (data/bpe.c), told apart by the file's first non-blank byte.
// Tested by tests/test_tokenizer.c (SentencePiece) and tests/test_bpe.sh (tokenizer.json).
#include "data/tokenizer.h"
#include "core/check.h"
#include "data/bpe.h"
#include "data/sp.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Tokenizer {
    SpTokenizer *sp;    // exactly one of the two is set
    BpeTokenizer *bpe;
};

// A JSON file starts with '{' after optional blanks; a SentencePiece model is a protobuf.
static int looks_like_json(FILE *fp) {
    int c;
    while ((c = fgetc(fp)) != EOF && isspace(c)) {}
    return c == '{';
}

Tokenizer *tok_load(const char *path, qp_status *st) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { qp_fail(st, "%s: cannot open tokenizer model: %s", path, strerror(errno)); return NULL; }
    int json = looks_like_json(fp);
    fclose(fp);
    Tokenizer *t = xcalloc(1, sizeof *t);
    if (json) t->bpe = bpe_load(path, st);
    else t->sp = sp_load(path, st);
    if (!t->bpe && !t->sp) { free(t); return NULL; }
    return t;
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    if (t->bpe) bpe_free(t->bpe);
    if (t->sp) sp_free(t->sp);
    free(t);
}

int tok_is_bpe(const Tokenizer *t) { return t->bpe != NULL; }

int tok_encode_len(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids_out, int *n_out, qp_status *st) {
    if (t->bpe) return bpe_encode(t->bpe, text, len, add_bos, ids_out, n_out, st);
    return sp_encode(t->sp, text, len, add_bos, ids_out, n_out, st);
}

int tok_encode(const Tokenizer *t, const char *text, int add_bos, int **ids_out, int *n_out, qp_status *st) {
    return tok_encode_len(t, text, strlen(text), add_bos, ids_out, n_out, st);
}

char *tok_decode_len(const Tokenizer *t, const int *ids, int n, size_t *len) {
    if (t->bpe) return bpe_decode(t->bpe, ids, n, len);
    char *s = sp_decode(t->sp, ids, n);
    if (s && len) *len = strlen(s);
    return s;
}

char *tok_decode(const Tokenizer *t, const int *ids, int n) { return tok_decode_len(t, ids, n, NULL); }

const char *tok_piece(const Tokenizer *t, int id) { return t->bpe ? bpe_piece(t->bpe, id) : sp_piece(t->sp, id); }

const char *tok_decode_piece_run_c(const Tokenizer *t, int prev, int id) {
    return t->bpe ? bpe_piece(t->bpe, id) : sp_decode_piece_run_c(t->sp, prev, id);
}

int tok_vocab_size(const Tokenizer *t) { return t->bpe ? bpe_vocab_size(t->bpe) : sp_vocab_size(t->sp); }
int tok_bos_id(const Tokenizer *t) { return t->bpe ? bpe_bos_id(t->bpe) : sp_bos_id(t->sp); }
int tok_eos_id(const Tokenizer *t) { return t->bpe ? bpe_eos_id(t->bpe) : sp_eos_id(t->sp); }
int tok_pad_id(const Tokenizer *t) { return t->bpe ? bpe_pad_id(t->bpe) : sp_pad_id(t->sp); }
int tok_unk_id(const Tokenizer *t) { return t->bpe ? bpe_unk_id(t->bpe) : sp_unk_id(t->sp); }

Tokenizer *tok_from_vocab(const tok_vocab *v, const char *what, qp_status *st) {
    SpTokenizer *sp = sp_from_vocab(v, what, st);
    if (!sp) return NULL;
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->sp = sp;
    return t;
}

// A tokenizer.json has no piece scores and only normal/special pieces (GGUF types 1 and 3).
float tok_score(const Tokenizer *t, int id) { return t->bpe ? 0.0f : sp_score(t->sp, id); }
int tok_piece_type(const Tokenizer *t, int id) {
    if (!t->bpe) return sp_piece_type(t->sp, id);
    if (id < 0 || id >= bpe_vocab_size(t->bpe)) return 0;
    return id == bpe_bos_id(t->bpe) || id == bpe_eos_id(t->bpe) ? 3 : 1;
}
