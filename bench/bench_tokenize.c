// bench/bench_tokenize.c — encoding speed of a tokenizer (tokenizer.json BPE or SentencePiece) on a
// text file, as one call (the whole file one string, as `qpeft tokenize` does). Usage:
// bench_tokenize TOKENIZER TEXT. Prints load time, ids, MB/s. Run by bench/run.sh (target >= 1 MB/s).
#include "core/check.h"
#include "data/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) qp_die("usage: bench_tokenize TOKENIZER TEXT");
    qp_status st = {0};
    double t0 = qp_now();
    Tokenizer *tk = tok_load(argv[1], &st);
    if (!tk) qp_die("%s", st.msg);
    double t1 = qp_now();
    size_t len;
    char *text = qp_read_file(argv[2], &len);
    int *ids, n;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {  // best of 3: the machine is shared
        double a = qp_now();
        if (tok_encode_len(tk, text, len, 0, &ids, &n, &st)) qp_die("%s", st.msg);
        double dt = qp_now() - a;
        if (dt < best) best = dt;
        free(ids);
    }
    printf("tokenizer=%s load_s=%.2f bytes=%zu ids=%d encode_s=%.3f MB/s=%.2f\n", argv[1], t1 - t0, len, n, best,
           (double)len / 1e6 / best);
    free(text);
    tok_free(tk);
    return 0;
}
