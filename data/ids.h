// data/ids.h — token ids as text: whitespace-separated decimal integers (what `qpeft tokenize`
// prints and `qpeft tokenize --decode`, `ppl --ids`, `generate --prompt-ids` read).
// Tested by tests/test_bpe.sh (round trips, malformed input).
#ifndef QP_DATA_IDS_H
#define QP_DATA_IDS_H
#include <stddef.h>
#include "core/status.h"

// Parse text[0..len) into a malloc'd array (at least one element) of *n ids, each in [0, vocab)
// (vocab <= 0: only >= 0 is checked). `what` names the source in messages: "<what>: item 3
// ('x1') is not a token id" or "<what>: item 3: id 70000 is outside the vocabulary [0, 32000)".
int ids_parse(const char *text, size_t len, const char *what, int vocab, int **ids, int *n, qp_status *st);
// Read a whole file of ids (as ids_parse); "-" reads stdin.
int ids_read_file(const char *path, int vocab, int **ids, int *n, qp_status *st);
#endif
