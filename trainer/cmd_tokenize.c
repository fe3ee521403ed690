// trainer/cmd_tokenize.c — `qpeft tokenize --tokenizer FILE [--decode]`: stdin's bytes (as they are:
// no newline translation, a BOM kept) to ids on one line, as HF's encode(add_special_tokens=False)
// (added/special token strings become their ids, no BOS); --decode turns ids back into bytes.
// Tested by tests/test_bpe.sh (ids vs HF tokenizers via npm, round trips, bad input).
#include "core/check.h"
#include "data/ids.h"
#include "data/tokenizer.h"
#include "trainer/options.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <stdlib.h>

int cmd_tokenize(int argc, char **argv) {
    const char *tok = NULL;
    int decode = 0;
    qp_opt opts[] = {
        {"--tokenizer", OPT_STR, &tok, NULL, "tokenizer.json or SentencePiece .model (required)", 1, 0, 0},
        {"--decode", OPT_FLAG, &decode, NULL, "read whitespace-separated ids, write the text they decode to", 1, 0, 0},
    };
    opts_parse("tokenize", "--tokenizer FILE [--decode] < input", opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    if (!tok) qp_die("qpeft tokenize: --tokenizer FILE is required");
    qp_status st = {0};
    Tokenizer *tk = tok_load(tok, &st);
    if (!tk) qp_die("%s", st.msg);
    int *ids = NULL, n = 0;
    if (decode) {
        if (ids_read_file("-", tok_vocab_size(tk), &ids, &n, &st)) qp_die("%s", st.msg);
        size_t len = 0;
        char *text = tok_decode_len(tk, ids, n, &len);
        if (!text) qp_die("%s: cannot decode these ids", tok);
        fwrite(text, 1, len, stdout);
        free(text);
    } else {
        size_t len = 0;
        char *text = qp_read_stream(stdin, &len);
        if (!text) qp_die("stdin: read error");
        if (tok_encode_len(tk, text, len, 0, &ids, &n, &st)) qp_die("%s", st.msg);
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        free(text);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) qp_die("stdout: write error");
    free(ids);
    tok_free(tk);
    return 0;
}
