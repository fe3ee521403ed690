// tests/test_tokenizer.c — data/tokenizer.h: ids and decodes vs Python sentencepiece (oracle_tokenizer.py)
// for the three shipped models, run.c-style piece printing vs llama2.c's exported .bin vocabularies,
// and the error paths (missing, truncated, garbage model files).
#include "tests/testlib.h"
#include "core/check.h"
#include "data/tokenizer.h"
#include <ctype.h>
#include <string.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static const char *tmpdir(void) { const char *t = getenv("TEST_TMP"); return t ? t : "/tmp"; }

static const char *STRINGS[] = {
    "",
    "Hello world! Once upon a time, there was a little girl named Lily.",
    "Café naïve résumé — Ångström, façade, coöperate",
    "日本語のテキストと中文字符",
    "emoji: 😀🎉👍🏽 and ❤️",
    "digits 1234567890 3.14159 2024-05-26 1,000,000",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "runs   of    spaces     here",
    "tabs\tbetween\t\twords",
    "   leading spaces",
    "trailing spaces   ",
    "  both  ",
    " ",
    "line one\nline two",
    "\"Quotes\" and 'apostrophes' don't (parens) [brackets] {braces} <angle> & % $ # @ !",
    "MiXeD CaSe WORDS and lowercase",
    "€100 £50 ¥1000 ©®™",
    "the the the the the the the the",
};
#define N_STRINGS ((int)(sizeof STRINGS / sizeof STRINGS[0]))

// Parse "<ids>\t<hex>" into ids (returns count) and the decoded text (malloc'd).
static int parse_oracle_line(char *line, int *ids, int cap, char **decoded) {
    char *tab = strchr(line, '\t');
    QP_ASSERT(tab);
    *tab = '\0';
    int n = 0;
    for (char *p = line; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        QP_ASSERT(n < cap);
        ids[n++] = (int)v;
        p = end;
    }
    char *hex = tab + 1;
    size_t hl = strcspn(hex, "\n");
    char *d = xmalloc(hl / 2 + 1);
    for (size_t i = 0; i < hl / 2; i++) { unsigned b; sscanf(hex + 2 * i, "%2x", &b); d[i] = (char)b; }
    d[hl / 2] = '\0';
    *decoded = d;
    return n;
}

static void check_model_vs_oracle(const char *rel, int add_bos) {
    const char *path = tl_asset(rel);
    qp_status st = {0};
    Tokenizer *t = tok_load(path, &st);
    CHECK(t != NULL, "load %s: %s", rel, st.msg);
    if (!t) return;
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/tok_in.txt", tmpdir());
    snprintf(out, sizeof out, "%s/tok_out.txt", tmpdir());
    FILE *fp = xfopen(in, "w");
    for (int i = 0; i < N_STRINGS; i++) {
        for (const unsigned char *p = (const unsigned char *)STRINGS[i]; *p; p++) fprintf(fp, "%02x", *p);
        fprintf(fp, "\n");
    }
    xfclose(fp, in);
    snprintf(cmd, sizeof cmd, "%s tests/oracle_tokenizer.py '%s' %d '%s' '%s'", python(), path, add_bos, in, out);
    int rc = system(cmd);
    REQUIRE(rc == 0, "oracle_tokenizer.py ran for %s (rc %d)", rel, rc);
    if (rc != 0) { tok_free(t); return; }
    fp = xfopen(out, "r");
    static char line[1 << 16];
    int oracle_ids[4096];
    int bad_ids = 0, bad_dec = 0, total_ids = 0, first_bad = -1;
    for (int i = 0; i < N_STRINGS; i++) {
        QP_ASSERT(fgets(line, sizeof line, fp));
        char *dec_ref;
        int nref = parse_oracle_line(line, oracle_ids, 4096, &dec_ref);
        int *ids, n;
        qp_status es = {0};
        int r = tok_encode(t, STRINGS[i], add_bos, &ids, &n, &es);
        QP_ASSERT(r == 0);
        total_ids += n;
        if (n != nref || memcmp(ids, oracle_ids, (size_t)n * sizeof(int)) != 0) {
            bad_ids++;
            if (first_bad < 0) first_bad = i;
        }
        char *dec = tok_decode(t, ids, n);
        if (!dec || strcmp(dec, dec_ref) != 0) bad_dec++;
        free(dec);
        free(dec_ref);
        free(ids);
    }
    xfclose(fp, out);
    CHECK(bad_ids == 0, "%s add_bos=%d: ids of %d strings (%d ids) equal sentencepiece's (%d differ, first \"%s\")",
          rel, add_bos, N_STRINGS, total_ids, bad_ids, first_bad >= 0 ? STRINGS[first_bad] : "-");
    CHECK(bad_dec == 0, "%s add_bos=%d: decode(ids) equals sentencepiece's decode for %d strings (%d differ)", rel,
          add_bos, N_STRINGS, bad_dec);
    tok_free(t);
}

static void check_specials(const char *rel, int vocab) {
    qp_status st = {0};
    Tokenizer *t = tok_load(tl_asset(rel), &st);
    if (!t) { CHECK(0, "load %s: %s", rel, st.msg); return; }
    CHECK(tok_vocab_size(t) == vocab && tok_unk_id(t) == 0 && tok_bos_id(t) == 1 && tok_eos_id(t) == 2 &&
              tok_pad_id(t) == -1,
          "%s: vocab %d (want %d), unk %d bos %d eos %d pad %d (want 0 1 2 -1)", rel, tok_vocab_size(t), vocab,
          tok_unk_id(t), tok_bos_id(t), tok_eos_id(t), tok_pad_id(t));
    CHECK(strcmp(tok_piece(t, 1), "<s>") == 0 && strcmp(tok_piece(t, 2), "</s>") == 0 &&
              strcmp(tok_piece(t, 3), "<0x00>") == 0 && strcmp(tok_piece(t, vocab), "") == 0,
          "%s: pieces 1,2,3 are <s>, </s>, <0x00>; out of range gives \"\"", rel);
    tok_free(t);
}

// Round trip on whitespace-normalised text: decode(encode(s)) == s.
static void check_round_trip(void) {
    static const char *rels[] = {"models/tinystories-1M/tok2048.model", "models/tok512/tok512.model",
                                 "models/llama2-tokenizer/tokenizer.model"};
    for (int m = 0; m < 3; m++) {
        qp_status st = {0};
        Tokenizer *t = tok_load(tl_asset(rels[m]), &st);
        if (!t) { CHECK(0, "load %s: %s", rels[m], st.msg); continue; }
        int bad = 0;
        for (int i = 1; i < N_STRINGS; i++) {
            const char *s = STRINGS[i];
            // only strings without leading/trailing/double spaces or tabs/newlines: those are normalised
            if (s[0] == ' ' || s[strlen(s) - 1] == ' ' || strstr(s, "  ") || strchr(s, '\t') || strchr(s, '\n')) continue;
            int *ids, n;
            QP_ASSERT(tok_encode(t, s, 1, &ids, &n, &st) == 0);
            char *d = tok_decode(t, ids, n);
            if (!d || strcmp(d, s) != 0) { bad++; printf("# round trip %s: \"%s\" -> \"%s\"\n", rels[m], s, d ? d : "(null)"); }
            free(d);
            free(ids);
        }
        CHECK(bad == 0, "%s: decode(encode(s)) == s for normalised strings (%d differ)", rels[m], bad);
        int badid[2] = {0, 5000000};
        CHECK(tok_decode(t, badid, 2) == NULL, "%s: decode of an out-of-range id returns NULL", rels[m]);
        tok_free(t);
    }
}

// llama2.c's exported vocabulary (.bin): int32 max_len, then per id {float score, int32 len, bytes}.
static char **read_runc_bin(const char *path, int vocab) {
    size_t len;
    char *buf = qp_read_file(path, &len), *p = buf + 4;
    char **v = xcalloc((size_t)vocab, sizeof(char *));
    for (int i = 0; i < vocab; i++) {
        int n;
        memcpy(&n, p + 4, 4);
        QP_ASSERT(n >= 0 && (size_t)(p + 8 + n - buf) <= len);
        v[i] = xmalloc((size_t)n + 1);
        memcpy(v[i], p + 8, (size_t)n);
        v[i][n] = '\0';
        p += 8 + n;
    }
    free(buf);
    return v;
}

// What run.c prints for piece text `s` (from the .bin) after prev: written out from run.c's
// decode() + safe_printf() description, independently of the shim's tables.
static void runc_expected(const char *s, int prev_is_bos, char *out) {
    if (prev_is_bos && s[0] == ' ') s++;
    unsigned b;
    if (strncmp(s, "<0x", 3) == 0 && strlen(s) == 6 && sscanf(s + 3, "%2x", &b) == 1) {
        out[0] = (char)b; out[1] = '\0';
    } else {
        strcpy(out, s);
    }
    if (out[0] && !out[1] && !(isprint((unsigned char)out[0]) || isspace((unsigned char)out[0]))) out[0] = '\0';
}

static void check_run_c_pieces(const char *model_rel, const char *bin_rel) {
    qp_status st = {0};
    Tokenizer *t = tok_load(tl_asset(model_rel), &st);
    if (!t) { CHECK(0, "load %s: %s", model_rel, st.msg); return; }
    int V = tok_vocab_size(t);
    char **vocab = read_runc_bin(tl_asset(bin_rel), V);
    int bad = 0, first = -1;
    char want[256];
    for (int prev_bos = 0; prev_bos < 2; prev_bos++)
        for (int i = 0; i < V; i++) {
            runc_expected(vocab[i], prev_bos, want);
            const char *got = tok_decode_piece_run_c(t, prev_bos ? 1 : 5, i);
            if (strcmp(got, want) != 0) { bad++; if (first < 0) first = i; }
        }
    CHECK(bad == 0, "%s: run.c piece text for all %d ids (after BOS and not) equals %s (%d differ, first id %d)",
          model_rel, V, bin_rel, bad, first);
    for (int i = 0; i < V; i++) free(vocab[i]);
    free(vocab);

    // Streaming: BOS + encode(text), printed piece by piece, gives back the text.
    const char *text = "Once upon a time, there was a little girl named Lily. She had 3 red balls and a dog.";
    int *ids, n;
    QP_ASSERT(tok_encode(t, text, 1, &ids, &n, &st) == 0);
    char out[1024] = "";
    for (int i = 1; i < n; i++) strcat(out, tok_decode_piece_run_c(t, ids[i - 1], ids[i]));
    CHECK(strcmp(out, text) == 0, "%s: run.c-style streaming decode reproduces \"%s\" (got \"%s\")", model_rel, text, out);
    free(ids);
    CHECK(strcmp(tok_decode_piece_run_c(t, 5, 2), "\n</s>\n") == 0 && strcmp(tok_decode_piece_run_c(t, 5, V), "") == 0,
          "%s: run.c prints EOS as \"\\n</s>\\n\"; out-of-range id gives \"\"", model_rel);
    tok_free(t);
}

static void check_errors(void) {
    qp_status st = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/no_such_dir/missing.model", tmpdir());
    Tokenizer *t = tok_load(path, &st);
    CHECK(t == NULL && st.failed && strstr(st.msg, path) && strstr(st.msg, "cannot open"),
          "missing model file -> error naming it: %s", st.msg);

    size_t len;
    char *buf = qp_read_file(tl_asset("models/tok512/tok512.model"), &len);
    const size_t cuts[] = {len / 2, 10, 0};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/truncated_%d.model", tmpdir(), k);
        FILE *fp = xfopen(path, "wb");
        if (cuts[k]) xfwrite(buf, 1, cuts[k], fp, path);
        xfclose(fp, path);
        qp_status s2 = {0};
        t = tok_load(path, &s2);
        CHECK(t == NULL && s2.failed && strstr(s2.msg, path) && strstr(s2.msg, "not a valid SentencePiece model"),
              "truncated model (%zu of %zu bytes) -> error naming it: %s", cuts[k], len, s2.msg);
        tok_free(t);
    }
    free(buf);
    snprintf(path, sizeof path, "%s/garbage.model", tmpdir());
    FILE *fp = xfopen(path, "wb");
    fputs("this is not a protobuf, just some text\n", fp);
    xfclose(fp, path);
    qp_status s3 = {0};
    t = tok_load(path, &s3);
    CHECK(t == NULL && s3.failed && strstr(s3.msg, path), "text file as model -> error naming it: %s", s3.msg);
    tok_free(t);
}

int main(void) {
    static const char *rels[] = {"models/tinystories-1M/tok2048.model", "models/tok512/tok512.model",
                                 "models/llama2-tokenizer/tokenizer.model"};
    for (int m = 0; m < 3; m++)
        for (int b = 0; b < 2; b++) check_model_vs_oracle(rels[m], b);
    check_specials("models/tinystories-1M/tok2048.model", 2048);
    check_specials("models/tok512/tok512.model", 512);
    check_specials("models/llama2-tokenizer/tokenizer.model", 32000);
    check_round_trip();
    check_run_c_pieces("models/tinystories-1M/tok2048.model", "models/tinystories-1M/tok2048.bin");
    check_run_c_pieces("models/tok512/tok512.model", "models/tok512/tok512.bin");
    check_errors();
    return tl_finish();
}
