// data/tokenizer.h — qpeft's tokenizer API over two kinds of file: a SentencePiece .model (the only
// C++ in qpeft, data/sp_shim.cpp) and a Hugging Face byte-level BPE tokenizer.json (data/bpe.c):
// load, encode/decode ids, and print tokens the way llama2.c run.c does. Tested by
// tests/test_tokenizer.c against /usr/bin/python3 sentencepiece (tests/oracle_tokenizer.py) and
// tests/test_bpe.sh against HF's Rust tokenizers (npm).
#ifndef QP_DATA_TOKENIZER_H
#define QP_DATA_TOKENIZER_H
#include <stddef.h>
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Tokenizer Tokenizer;

// Load a tokenizer: a tokenizer.json (its first non-blank byte is '{'; data/bpe.h says what is
// supported and where BOS/EOS come from) or else a SentencePiece model file. A missing, unreadable or corrupt file returns NULL with
// st->msg naming the file ("<path>: cannot open tokenizer model: ..." or
// "<path>: not a valid SentencePiece model (...)").
Tokenizer *tok_load(const char *path, qp_status *st);
void tok_free(Tokenizer *t);

// A vocabulary as GGUF's tokenizer.ggml.* of a "llama" (SentencePiece) model holds it.
typedef struct {
    int n;
    const char *const *pieces;   // "▁the", "<0x0A>", "<s>", ...
    const float *scores;         // NULL: all 0
    const int *types;            // GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined,
                                 // 5 unused, 6 byte; SentencePiece numbers them alike); NULL: normal
    int bos, eos, unk;           // -1: none
    int add_space_prefix;        // tokenizer.ggml.add_space_prefix (SentencePiece's dummy prefix)
} tok_vocab;
// Build the tokenizer llama.cpp runs for such a vocabulary: a SentencePiece BPE ModelProto made
// in memory (pieces, scores, types; byte fallback when byte pieces exist; identity normalizer,
// whitespace kept as is and escaped to "▁", dummy prefix per add_space_prefix) and loaded with
// LoadFromSerializedProto. `what` names the source in messages. NULL on error.
Tokenizer *tok_from_vocab(const tok_vocab *v, const char *what, qp_status *st);
// The tokenizer of a GGUF file's tokenizer.ggml.* keys (data/gguf_tok.c): "llama" vocabularies
// only (others refused by name, with a pointer to --tokenizer). NULL on error.
Tokenizer *tok_load_gguf(const char *path, qp_status *st);

// Encode UTF-8 text exactly as Python `sp.encode(text, add_bos=add_bos)` (no EOS is ever added).
// On success *ids_out is a malloc'd array of *n_out ids (the caller frees it; it is a valid
// 1-element allocation even when *n_out == 0) and 0 is returned; on failure -1 and st is set.
// For a tokenizer.json: as HF's `encode(text, add_special_tokens=False)` (added/special token
// strings in the text become their ids), with BOS first when add_bos and the tokenizer has one.
int tok_encode(const Tokenizer *t, const char *text, int add_bos, int **ids_out, int *n_out, qp_status *st);
// The same over text[0..len), which may hold NUL bytes.
int tok_encode_len(const Tokenizer *t, const char *text, size_t len, int add_bos, int **ids_out, int *n_out,
                   qp_status *st);

// Decode ids (n of them) to malloc'd UTF-8 text, as Python `sp.decode(ids)` (control ids such as
// BOS/EOS decode to nothing). Returns NULL if an id is outside [0, vocab).
// A tokenizer.json decodes to the raw bytes of the pieces (see bpe_decode).
char *tok_decode(const Tokenizer *t, const int *ids, int n);
// The same, with the byte length in *len (a BPE decode may hold NUL bytes).
char *tok_decode_len(const Tokenizer *t, const int *ids, int n, size_t *len);
// 1 for a tokenizer.json, 0 for SentencePiece.
int tok_is_bpe(const Tokenizer *t);

// The SentencePiece piece string of `id` (e.g. "▁the", "<0x0A>", "<s>"), or a tokenizer.json
// piece's raw bytes; "" if out of range.
// Owned by the tokenizer.
const char *tok_piece(const Tokenizer *t, int id);

// For a tokenizer.json: the piece's bytes (as tok_piece). For SentencePiece: the text llama2.c's
// run.c prints for token `id` generated after token `prev` during generation:
// run.c's `decode(prev, id)` followed by its `safe_printf` filter, over the vocabulary as
// llama2.c's `tokenizer.py export` writes it. Precisely:
//   - the piece with every "▁" (U+2581) replaced by ' '; BOS is "\n<s>\n" and EOS "\n</s>\n"
//     (run.c does not stop at EOS, so it prints that text);
//   - if prev is BOS (1 in run.c; here tok_bos_id) and the piece starts with ' ', that space is
//     dropped (SentencePiece's decoder strips the dummy-prefix space);
//   - a byte piece "<0xNN>" becomes the single raw byte NN;
//   - a result that is a single byte which is neither printable nor whitespace (isprint/isspace
//     in the C locale) becomes "" (run.c's safe_printf prints nothing for it).
// Writing the returned strings one after another reproduces run.c's output byte for byte. The
// string is owned by the tokenizer (valid until tok_free); "" if id is out of range.
const char *tok_decode_piece_run_c(const Tokenizer *t, int prev, int id);

// A piece's score (SentencePiece's log-probability for unigram, merge rank for BPE models) and its
// kind, numbered as GGUF's tokenizer.ggml.token_type (llama.cpp's llama_token_type): 1 normal,
// 2 unknown, 3 control, 5 unused, 6 byte (user-defined pieces read as normal). 0 if out of range.
float tok_score(const Tokenizer *t, int id);
int tok_piece_type(const Tokenizer *t, int id);

int tok_vocab_size(const Tokenizer *t);
int tok_bos_id(const Tokenizer *t);  // -1 if the model has none
int tok_eos_id(const Tokenizer *t);  // -1 if the model has none
int tok_pad_id(const Tokenizer *t);  // -1 if the model has none (true of all three shipped models)
int tok_unk_id(const Tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif
