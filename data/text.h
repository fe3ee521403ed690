// data/text.h — plain-text language-modelling data: one token stream cut into T-token windows
// (the validation-loss recipe of models/tinystories-1M/README.md). Tested by tests/test_data.c
// (N = 233,215 tokens, 910 windows of 256 for tinystories_valid_head.txt with tok2048.model).
#ifndef QP_DATA_TEXT_H
#define QP_DATA_TEXT_H
#include <stdint.h>
#include "core/status.h"
#include "data/tokenizer.h"

typedef struct {
    int *tokens;       // (n_tokens) the whole stream
    int64_t n_tokens;
    int64_t n_docs;    // non-empty lines encoded
} text_stream;

// Read `path` line by line ('\n'); strip each line of ASCII whitespace (" \t\r\v\f" at both
// ends — Python's str.strip() also strips Unicode spaces, which the shipped texts do not have at
// line ends); skip empty lines; each other line becomes [BOS] + encode(line) (no EOS); all are
// concatenated. A missing file or one with no non-empty line fails with the path in st.
int text_load(text_stream *ts, const char *path, const Tokenizer *tok, qp_status *st);

// Number of whole windows of T inputs (+1 shifted target each): floor((N-1)/T), 0 if N < T+1.
int64_t text_n_windows(const text_stream *ts, int T);
// Window w: inputs tokens[w*T, (w+1)*T), targets tokens[w*T+1, (w+1)*T+1).
static inline const int *text_window_inputs(const text_stream *ts, int T, int64_t w) { return ts->tokens + w * T; }
static inline const int *text_window_targets(const text_stream *ts, int T, int64_t w) { return ts->tokens + w * T + 1; }
// Copy windows[0..nb) into inputs (nb,T) and targets (nb,T); each window must be < text_n_windows.
void text_fill_batch(const text_stream *ts, int T, const int64_t *windows, int nb, int *inputs, int *targets);
void text_free(text_stream *ts);
#endif
