// data/bpe.h — byte-level BPE from a Hugging Face tokenizer.json (Llama-3, Qwen2/2.5/3, GPT-2,
// SmolLM2): added tokens split out first, the normalizer (none or NFC), the pre-tokenizer's split
// regex as hand-written matchers, the byte-to-unicode map, merges by rank (ignore_merges too), and
// decoding. data/tokenizer.c puts it behind data/tokenizer.h's tok_* API, beside SentencePiece.
// Tested by tests/test_bpe.sh: ids equal to HF's Rust tokenizers (npm) on hard texts; round trips.
#ifndef QP_DATA_BPE_H
#define QP_DATA_BPE_H
#include <stddef.h>
#include "core/status.h"

typedef struct BpeTokenizer BpeTokenizer;

// Load tokenizer.json at `path`. BOS/EOS/PAD/UNK come, as transformers takes them, from
// tokenizer_config.json in the same directory (bos_token, eos_token, pad_token, unk_token), else
// from config.json there (bos_token_id, eos_token_id; a list gives its first), else none (-1).
// Anything outside the supported subset (another model type, normalizer, pre-tokenizer, regex,
// added-token option) is refused with one line naming the field. NULL and st on failure.
BpeTokenizer *bpe_load(const char *path, qp_status *st);
void bpe_free(BpeTokenizer *b);
// Encode text[0..len) as HF's `encode(text, add_special_tokens=False)`, with BOS first when
// add_bos and the tokenizer has one. *ids is malloc'd (at least one element). 0, or -1 and st.
int bpe_encode(const BpeTokenizer *b, const char *text, size_t len, int add_bos, int **ids, int *n, qp_status *st);
// The bytes ids decode to (ByteLevel decoder; added tokens as their text), malloc'd and
// NUL-terminated, length in *len (may be NULL). Bytes are returned raw: a sequence that cuts a
// UTF-8 character is not replaced by U+FFFD as HF's from_utf8_lossy would. NULL on a bad id.
char *bpe_decode(const BpeTokenizer *b, const int *ids, int n, size_t *len);
// The bytes of one id (NUL-terminated; "" for an id out of range or unused). Owned by b.
const char *bpe_piece(const BpeTokenizer *b, int id);
int bpe_vocab_size(const BpeTokenizer *b);  // largest id + 1 (model vocabulary and added tokens)
int bpe_bos_id(const BpeTokenizer *b);
int bpe_eos_id(const BpeTokenizer *b);
int bpe_pad_id(const BpeTokenizer *b);
int bpe_unk_id(const BpeTokenizer *b);
#endif
