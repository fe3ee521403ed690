// data/sp.h — the SentencePiece shim's extern "C" face (data/sp_shim.cpp), used only by
// data/tokenizer.c, which documents each call under data/tokenizer.h's tok_* names.
// Tested through data/tokenizer.h by tests/test_tokenizer.c.
#ifndef QP_DATA_SP_H
#define QP_DATA_SP_H
#include <stddef.h>
#include "core/status.h"
#include "data/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif
typedef struct SpTokenizer SpTokenizer;
SpTokenizer *sp_load(const char *path, qp_status *st);
void sp_free(SpTokenizer *t);
int sp_encode(const SpTokenizer *t, const char *text, size_t len, int add_bos, int **ids_out, int *n_out, qp_status *st);
char *sp_decode(const SpTokenizer *t, const int *ids, int n);
const char *sp_piece(const SpTokenizer *t, int id);
const char *sp_decode_piece_run_c(const SpTokenizer *t, int prev, int id);
int sp_vocab_size(const SpTokenizer *t);
int sp_bos_id(const SpTokenizer *t);
int sp_eos_id(const SpTokenizer *t);
int sp_pad_id(const SpTokenizer *t);
int sp_unk_id(const SpTokenizer *t);
SpTokenizer *sp_from_vocab(const tok_vocab *v, const char *what, qp_status *st);
float sp_score(const SpTokenizer *t, int id);
int sp_piece_type(const SpTokenizer *t, int id);
#ifdef __cplusplus
}
#endif
#endif
