// data/unicode.h — the Unicode facts the tokenizer.json BPE needs: UTF-8 decoding, the classes
// its pre-tokenizer regexes use (\p{L}, \p{N}, \s) and NFC. The data come from ICU (Debian's
// libicu-dev), included only by data/unicode.c. Tested by tests/test_bpe.sh (ids vs HF tokenizers).
//
// Unicode-version caveat: Debian 12's ICU 72 carries Unicode 15.0; HF tokenizers (Oniguruma and
// Rust's char tables) carry Unicode 16. A character assigned in 15.1 or 16.0 (e.g. the CJK
// Extension I ideographs, U+2EBF0..) is "unassigned" here, so it falls into no class (not a letter)
// and its pre-token boundaries, hence ids, can differ from the reference's. Characters of
// Unicode <= 15.0 are classified the same.
#ifndef QP_DATA_UNICODE_H
#define QP_DATA_UNICODE_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef enum {
    UNI_OTHER,   // none of the below (punctuation, symbols, marks, controls, unassigned, invalid bytes)
    UNI_LETTER,  // \p{L}: general category Lu Ll Lt Lm Lo
    UNI_NUMBER,  // \p{N}: Nd Nl No
    UNI_SPACE,   // \s in Oniguruma's Unicode mode: the White_Space property
    UNI_CLASS_COUNT
} uni_class;

// Decode the UTF-8 character at s[0..n) (n >= 1): returns the code point and sets *len to its
// byte length. A malformed or truncated sequence yields -1 with *len = 1 (one byte at a time,
// so every byte of the text still belongs to exactly one character).
int32_t uni_next(const unsigned char *s, size_t n, size_t *len);
uni_class uni_class_of(int32_t cp);  // cp < 0 (an invalid byte): UNI_OTHER

// NFC of s[0..n): a malloc'd string in *out (NUL-terminated, length *out_n). ASCII runs are copied
// as they are (ASCII is always NFC). Invalid UTF-8 is normalised around: the bytes of a malformed
// sequence are kept unchanged. Returns 0, or -1 with st.
int uni_nfc(const char *s, size_t n, char **out, size_t *out_n, qp_status *st);
#endif
