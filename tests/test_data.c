// tests/test_data.c — data/: real GLUE files (row counts and label counts of assets/README.md),
// fixtures in the QNLI/MNLI/QQP layouts, malformed rows (file:line, skip/fail), generic TSV/CSV,
// example encoding + truncation, the LM text stream (README's N and windows), batching.
#include "tests/testlib.h"
#include "core/check.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/glue.h"
#include "data/text.h"
#include "data/tokenizer.h"
#include <string.h>

static const char *tmpdir(void) { const char *t = getenv("TEST_TMP"); return t ? t : "/tmp"; }
#define FIX "tests/fixtures/data"

// ---- the shipped GLUE files ----------------------------------------------------------------
typedef struct { const char *task; size_t n_train, n_dev; } glue_count;

static void check_real_glue(void) {
    static const glue_count C[] = {{"cola", 8551, 1043}, {"sst2", 67349, 872}, {"mrpc", 3668, 408},
                                   {"rte", 2490, 277},   {"stsb", 5749, 1500}, {"wnli", 635, 71}};
    for (int k = 0; k < 6; k++) {
        for (int s = 0; s < 2; s++) {
            ds_dataset ds;
            qp_status st = {0};
            int rc = glue_load(&ds, NULL, C[k].task, s ? "dev" : "train", DS_BAD_ROWS_FAIL, &st);
            size_t want = s ? C[k].n_dev : C[k].n_train;
            CHECK(rc == 0 && ds.n == want && ds.n_skipped == 0, "GLUE %s %s: %zu rows (want %zu) %s", C[k].task,
                  s ? "dev" : "train", ds.n, want, st.msg);
            ds_free(&ds);
        }
    }
    // Label distributions from assets/README.md.
    struct { const char *task, *split; size_t c0, c1; } L[] = {
        {"cola", "train", 2528, 6023}, {"cola", "dev", 322, 721}, {"sst2", "dev", 428, 444},
        {"mrpc", "train", 1194, 2474}, {"rte", "dev", 146, 131},  {"wnli", "train", 323, 312}};
    for (int k = 0; k < 6; k++) {
        ds_dataset ds;
        qp_status st = {0};
        if (glue_load(&ds, NULL, L[k].task, L[k].split, DS_BAD_ROWS_FAIL, &st)) { CHECK(0, "%s", st.msg); continue; }
        size_t cnt[8];
        ds_label_counts(&ds, cnt);
        CHECK(ds.n_classes == 2 && cnt[0] == L[k].c0 && cnt[1] == L[k].c1,
              "GLUE %s %s labels: %s %zu, %s %zu (want %zu, %zu)", L[k].task, L[k].split, ds.label_names[0], cnt[0],
              ds.label_names[1], cnt[1], L[k].c0, L[k].c1);
        ds_free(&ds);
    }
    ds_dataset ds;
    qp_status st = {0};
    // RTE train row index 2164 begins with '"' (a quote is data, not a quote character).
    if (glue_load(&ds, NULL, "RTE", "train", DS_BAD_ROWS_FAIL, &st) == 0) {
        CHECK(ds.n_pair == 2 && ds.ex[2164].text[0][0] == '"' && ds.ex[2164].line == 2166 &&
                  strcmp(ds.label_names[0], "entailment") == 0,
              "RTE train row 2164 (line %lld) keeps its leading '\"': %.40s", (long long)ds.ex[2164].line,
              ds.ex[2164].text[0]);
        ds_free(&ds);
    }
    // CoLA dev has no trailing newline: its last row is "...", sentence in column 4.
    if (glue_load(&ds, NULL, "cola", "dev", DS_BAD_ROWS_FAIL, &st) == 0) {
        size_t len;
        char *raw = qp_read_file(tl_asset("glue/CoLA/dev.tsv"), &len);
        const char *last_tab = strrchr(raw, '\t');
        CHECK(raw[len - 1] != '\n' && strcmp(ds.ex[ds.n - 1].text[0], last_tab + 1) == 0 && ds.n_pair == 1,
              "CoLA dev (no final newline): last sentence read whole: \"%s\"", ds.ex[ds.n - 1].text[0]);
        free(raw);
        ds_free(&ds);
    }
    // MRPC begins with a BOM: the 'Quality' column must still be found by name.
    if (glue_load(&ds, NULL, "mrpc", "dev", DS_BAD_ROWS_FAIL, &st) == 0) {
        CHECK(ds.n == 408 && ds.ex[0].line == 2 && strncmp(ds.ex[0].text[0], "He said the foodservice", 23) == 0,
              "MRPC dev (UTF-8 BOM) first pair: \"%.40s\" / \"%.40s\"", ds.ex[0].text[0], ds.ex[0].text[1]);
        ds_free(&ds);
    } else CHECK(0, "MRPC dev: %s", st.msg);
    if (glue_load(&ds, NULL, "stsb", "dev", DS_BAD_ROWS_FAIL, &st) == 0) {
        float lo = 1e9f, hi = -1e9f;
        for (size_t i = 0; i < ds.n; i++) { lo = ds.ex[i].score < lo ? ds.ex[i].score : lo; hi = ds.ex[i].score > hi ? ds.ex[i].score : hi; }
        CHECK(ds.kind == DS_REGRESS && ds.n_classes == 0 && lo == 0.0f && hi == 5.0f && ds.ex[0].label == -1,
              "STS-B dev: regression scores in [%g, %g] (want [0, 5])", lo, hi);
        ds_free(&ds);
    }
}

// ---- fixtures in the QNLI / MNLI / QQP layouts -----------------------------------------------
static void check_fixture_layouts(void) {
    ds_dataset ds;
    qp_status st = {0};
    int rc = glue_load(&ds, FIX "/glue", "qnli", "train", DS_BAD_ROWS_FAIL, &st);
    size_t cnt[3];
    if (rc == 0) ds_label_counts(&ds, cnt);
    CHECK(rc == 0 && ds.n == 5 && ds.n_classes == 2 && cnt[0] == 2 && cnt[1] == 3 &&
              strcmp(ds.ex[2].text[0], "What is the \"Pure Food\" act?") == 0 &&
              strcmp(ds.ex[2].text[1], "It was called the \"Pure Food and Drug Act\" of 1906.") == 0,
          "QNLI fixture train: 5 rows, entailment 2 / not_entailment 3, question/sentence columns %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = glue_load(&ds, FIX "/glue", "qnli", "dev", DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 2 && ds.ex[1].label == 1, "QNLI fixture dev (no final newline): 2 rows %s", st.msg);
    if (rc == 0) ds_free(&ds);

    rc = glue_load(&ds, FIX "/glue", "mnli", "train", DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 4 && ds.n_classes == 3 && ds.ex[0].label == 1 && ds.ex[1].label == 0 &&
              ds.ex[3].label == 2 && strcmp(ds.label_names[2], "contradiction") == 0 &&
              strcmp(ds.ex[0].text[1], "Product and geography are what make cream skimming work. ") == 0,
          "MNLI fixture train (12 fields): labels neutral/entailment/contradiction, sentence2 column %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = glue_load(&ds, FIX "/glue", "mnli", "dev", DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 3 && strstr(ds.path, "dev_matched.tsv") && ds.ex[1].label == 2 && ds.ex[2].label == 0 &&
              strcmp(ds.ex[1].text[0], "This site includes a list of all award winners.") == 0,
          "MNLI fixture dev -> dev_matched (16 fields, gold_label last) %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = glue_load(&ds, FIX "/glue", "mnli", "dev_mismatched", DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 2 && ds.ex[1].label == 2 && strcmp(ds.ex[1].text[0], "The answer is \"yes\".") == 0,
          "MNLI fixture dev_mismatched %s", st.msg);
    if (rc == 0) ds_free(&ds);

    rc = glue_load(&ds, FIX "/glue", "qqp", "train", DS_BAD_ROWS_FAIL, &st);
    if (rc == 0) ds_label_counts(&ds, cnt);
    CHECK(rc == 0 && ds.n == 5 && cnt[0] == 3 && cnt[1] == 2 &&
              strcmp(ds.ex[1].text[1], "How do you control your horniness?") == 0,
          "QQP fixture train: 5 rows, 3 not / 2 duplicate, question1/question2 %s", st.msg);
    if (rc == 0) ds_free(&ds);

    CHECK(glue_load(&ds, FIX "/glue", "mnli", "test", DS_BAD_ROWS_FAIL, &st) && strstr(st.msg, "unknown split"),
          "unknown split -> %s", st.msg);
    CHECK(glue_load(&ds, FIX "/glue", "squad", "train", DS_BAD_ROWS_FAIL, &st) && strstr(st.msg, "unknown GLUE task"),
          "unknown task -> %s", st.msg);
    CHECK(glue_load(&ds, FIX "/glue", "rte", "train", DS_BAD_ROWS_FAIL, &st) && strstr(st.msg, FIX "/glue/RTE/train.tsv") &&
              strstr(st.msg, "cannot open"),
          "missing GLUE file -> %s", st.msg);
}

// ---- malformed rows -----------------------------------------------------------------------------
static void check_malformed(void) {
    ds_dataset ds;
    qp_status st = {0};
    CHECK(glue_load(&ds, FIX "/bad", "rte", "train", DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, FIX "/bad/RTE/train.tsv:3: expected 4 fields") && strstr(st.msg, "found 3"),
          "RTE wrong field count, fail policy -> %s", st.msg);
    qp_status st2 = {0};
    int rc = glue_load(&ds, FIX "/bad", "rte", "train", DS_BAD_ROWS_SKIP, &st2);
    CHECK(rc == 0 && ds.n == 3 && ds.n_skipped == 2 && strstr(ds.first_skip, "train.tsv:3:") && ds.ex[2].line == 6,
          "RTE skip policy: 3 rows kept, 2 skipped, first: %s", ds.first_skip);
    if (rc == 0) ds_free(&ds);
    // An unknown label alone: a copy of the file without line 3.
    char path[512];
    snprintf(path, sizeof path, "%s/RTE/train.tsv", tmpdir());
    char dir[512];
    snprintf(dir, sizeof dir, "%s/RTE", tmpdir());
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && sed 3d " FIX "/bad/RTE/train.tsv > '%s'", dir, path);
    QP_ASSERT(system(cmd) == 0);
    CHECK(glue_load(&ds, tmpdir(), "rte", "train", DS_BAD_ROWS_FAIL, &st) && strstr(st.msg, "RTE/train.tsv:4: unknown label 'contradiction'") &&
              strstr(st.msg, "'not_entailment'"),
          "RTE unknown label -> %s", st.msg);
    CHECK(glue_load(&ds, FIX "/bad", "stsb", "train", DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, FIX "/bad/STS-B/train.tsv:4: score 'n/a' is not a finite number"),
          "STS-B non-numeric score -> %s", st.msg);
    rc = glue_load(&ds, FIX "/bad", "stsb", "train", DS_BAD_ROWS_SKIP, &st);
    CHECK(rc == 0 && ds.n == 3 && ds.n_skipped == 1 && ds.ex[1].score == 3.8f && ds.ex[2].score == 2.6f,
          "STS-B skip policy: 3 scores kept (5, 3.8, 2.6), 1 skipped");
    if (rc == 0) ds_free(&ds);
    CHECK(glue_load(&ds, FIX "/bad", "cola", "train", DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, FIX "/bad/CoLA/train.tsv:3: expected 4 fields"),
          "CoLA (no header) short row -> %s", st.msg);
}

// ---- generic TSV / CSV -------------------------------------------------------------------------
static void check_generic(void) {
    ds_dataset ds;
    qp_status st = {0};
    int rc = ds_load_generic(&ds, FIX "/generic.tsv", -1, "review", NULL, "stars", DS_CLASSIFY, DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 4 && ds.n_classes == 3 && strcmp(ds.label_names[0], "neg") == 0 &&
              strcmp(ds.label_names[1], "neutral") == 0 && strcmp(ds.label_names[2], "pos") == 0 &&
              ds.ex[0].label == 2 && ds.ex[1].label == 0 && ds.ex[2].label == 1 && ds.ex[3].label == 2 &&
              strcmp(ds.ex[1].text[0], "\"awful\" service") == 0,
          "generic TSV by column names: labels sorted neg<neutral<pos, quotes kept %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = ds_load_generic(&ds, FIX "/generic.tsv", 1, "1", "3", "2", DS_CLASSIFY, DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 4 && ds.n_pair == 2 && strcmp(ds.ex[2].text[1], "z") == 0,
          "generic TSV by index with header, two text columns %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = ds_load_generic(&ds, FIX "/generic.csv", -1, "text", NULL, "score", DS_REGRESS, DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 3 && strcmp(ds.ex[0].text[0], "Hello, world") == 0 &&
              strcmp(ds.ex[2].text[0], "He said \"hi\"") == 0 && ds.ex[0].score == 0.5f && ds.ex[1].score == 1.25f &&
              ds.ex[2].score == -2.0f,
          "generic CSV with quotes, regression %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = ds_load_generic(&ds, FIX "/generic.csv", -1, "text", NULL, "label", DS_CLASSIFY, DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n_classes == 2 && ds.ex[0].label == 1 && ds.ex[1].label == 0, "generic CSV classification a<b %s", st.msg);
    if (rc == 0) ds_free(&ds);
    rc = ds_load_generic(&ds, FIX "/generic_noheader.tsv", -1, "0", "1", "2", DS_REGRESS, DS_BAD_ROWS_FAIL, &st);
    CHECK(rc == 0 && ds.n == 2 && ds.ex[1].score == -0.25f && strcmp(ds.ex[1].text[1], "pair") == 0,
          "generic TSV without header, by index %s", st.msg);
    if (rc == 0) ds_free(&ds);
    CHECK(ds_load_generic(&ds, FIX "/generic.tsv", -1, "comment", NULL, "stars", DS_CLASSIFY, DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, "no column named 'comment'") && strstr(st.msg, "'review'"),
          "unknown column name -> %s", st.msg);
    CHECK(ds_load_generic(&ds, FIX "/generic_noheader.tsv", -1, "0", NULL, "7", DS_REGRESS, DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, "index 7") && strstr(st.msg, "3 fields"),
          "column index beyond the row -> %s", st.msg);
    CHECK(ds_load_generic(&ds, FIX "/generic.tsv", -1, "review", NULL, "stars", DS_REGRESS, DS_BAD_ROWS_FAIL, &st) &&
              strstr(st.msg, "generic.tsv:2: score 'pos' is not a finite number"),
          "non-numeric regression label -> %s", st.msg);
}

// ---- encoding ---------------------------------------------------------------------------------
static int *enc_text(const Tokenizer *t, const char *s, int *n) {
    int *ids;
    qp_status st = {0};
    QP_ASSERT(tok_encode(t, s, 0, &ids, n, &st) == 0);
    return ids;
}

// Longest-first truncation, in closed form: if the shorter fits in half the budget it is kept
// whole and the longer gets the rest; otherwise the budget is split evenly, s1 taking the odd one.
static void expected_pair_lens(int na, int nb, int budget, int *ka, int *kb) {
    if (na + nb <= budget) { *ka = na; *kb = nb; return; }
    int s = na < nb ? na : nb;
    if (s <= budget / 2) {
        if (na <= nb) { *ka = na; *kb = budget - na; } else { *kb = nb; *ka = budget - nb; }
    } else {
        *ka = (budget + 1) / 2;
        *kb = budget / 2;
    }
}

static void check_encoding(const Tokenizer *tok) {
    ds_dataset ds;
    qp_status st = {0};
    if (glue_load(&ds, NULL, "stsb", "dev", DS_BAD_ROWS_FAIL, &st)) { CHECK(0, "%s", st.msg); return; }
    for (int M = 16; M <= 128; M += 112) {
        ds_encoded enc;
        int rc = ds_encode(&enc, &ds, tok, M, &st);
        int bad = 0, cut = 0;
        for (size_t i = 0; rc == 0 && i < ds.n; i++) {
            int na, nb, ka, kb;
            int *a = enc_text(tok, ds.ex[i].text[0], &na), *b = enc_text(tok, ds.ex[i].text[1], &nb);
            expected_pair_lens(na, nb, M - 2, &ka, &kb);
            cut += ka != na || kb != nb;
            const int *row = enc.ids + enc.off[i];
            int ok = ds_encoded_len(&enc, i) == 2 + ka + kb && row[0] == 1 && row[1 + ka] == 2 &&
                     memcmp(row + 1, a, (size_t)ka * sizeof(int)) == 0 &&
                     memcmp(row + 2 + ka, b, (size_t)kb * sizeof(int)) == 0 && enc.score[i] == ds.ex[i].score &&
                     enc.label[i] == -1;
            bad += !ok;
            free(a);
            free(b);
        }
        CHECK(rc == 0 && bad == 0 && (size_t)cut == enc.n_truncated && enc.longest <= M,
              "STS-B dev pairs, max_len %d: BOS s1 EOS s2, longest-first cut (%d cut), %d rows differ, longest %d", M, cut,
              bad, enc.longest);
        if (rc == 0) ds_encoded_free(&enc);
    }
    ds_free(&ds);
    if (glue_load(&ds, NULL, "sst2", "dev", DS_BAD_ROWS_FAIL, &st)) { CHECK(0, "%s", st.msg); return; }
    ds_encoded enc;
    int rc = ds_encode(&enc, &ds, tok, 12, &st), bad = 0;
    for (size_t i = 0; rc == 0 && i < ds.n; i++) {
        int na, *a = enc_text(tok, ds.ex[i].text[0], &na), k = na < 11 ? na : 11;
        const int *row = enc.ids + enc.off[i];
        bad += !(ds_encoded_len(&enc, i) == 1 + k && row[0] == 1 && memcmp(row + 1, a, (size_t)k * sizeof(int)) == 0 &&
                 enc.label[i] == ds.ex[i].label);
        free(a);
    }
    CHECK(rc == 0 && bad == 0, "SST-2 dev single sentences, max_len 12: BOS s1[:11] (%d differ, %zu cut)", bad, enc.n_truncated);
    ds_encoded enc_bad;
    CHECK(ds_encode(&enc_bad, &ds, tok, 1, &st) && strstr(st.msg, "max_len 1"), "max_len 1 -> %s", st.msg);
    ds_encoded full;  // untruncated lengths for the bucketing check
    QP_ASSERT(ds_encode(&full, &ds, tok, 128, &st) == 0);
    ds_free(&ds);
    if (rc == 0) {
        // batching over this encoding
        batch_sampler s;
        int Bn = 32;
        QP_ASSERT(batch_sampler_init(&s, &enc, Bn, 1, 0, 42, &st) == 0);
        int *seen = xcalloc(enc.n, sizeof(int)), *first = xmalloc(enc.n * sizeof(int));
        const int *idx;
        int nb, nbatches = 0, sizes_ok = 1;
        size_t pos = 0;
        while ((nb = batch_sampler_next(&s, &idx)) > 0) {
            nbatches++;
            sizes_ok &= nb == Bn || (pos + (size_t)nb == enc.n && nb == (int)(enc.n % Bn));
            for (int b = 0; b < nb; b++) { seen[idx[b]]++; first[pos++] = idx[b]; }
        }
        int perm = pos == enc.n, moved = 0;
        for (size_t i = 0; i < enc.n; i++) { perm &= seen[i] == 1; moved += first[i] != (int)i; }
        CHECK(perm && sizes_ok && nbatches == 28 && moved > 800,
              "sampler epoch 0: %d batches of 32 (last %zu) cover all %zu examples once, %d moved", nbatches, enc.n % 32,
              enc.n, moved);
        batch_sampler_set_epoch(&s, 0);
        int same = 1;
        pos = 0;
        while ((nb = batch_sampler_next(&s, &idx)) > 0)
            for (int b = 0; b < nb; b++) same &= idx[b] == first[pos++];
        batch_sampler_set_epoch(&s, 1);
        nb = batch_sampler_next(&s, &idx);
        CHECK(same && memcmp(idx, first, 32 * sizeof(int)) != 0, "sampler: epoch 0 replays identically, epoch 1 differs");
        batch_sampler_free(&s);

        // length bucketing: still a permutation, batches far more uniform in length
        double spread[2] = {0, 0};
        for (int bucket = 0; bucket < 2; bucket++) {
            QP_ASSERT(batch_sampler_init(&s, &full, 8, 1, bucket ? 20 : 0, 7, &st) == 0);
            memset(seen, 0, enc.n * sizeof(int));
            int ok = 1;
            while ((nb = batch_sampler_next(&s, &idx)) > 0) {
                int lo = 1 << 30, hi = 0;
                for (int b = 0; b < nb; b++) {
                    int l = ds_encoded_len(&full, (size_t)idx[b]);
                    lo = l < lo ? l : lo; hi = l > hi ? l : hi;
                    seen[idx[b]]++;
                }
                spread[bucket] += hi - lo;
            }
            for (size_t i = 0; i < enc.n; i++) ok &= seen[i] == 1;
            CHECK(ok, "sampler bucket=%d covers every example once", bucket);
            batch_sampler_free(&s);
        }
        CHECK(spread[1] < 0.25 * spread[0], "length bucketing: summed in-batch length spread %.0f vs %.0f unbucketed",
              spread[1], spread[0]);

        // unshuffled order is the dataset order
        QP_ASSERT(batch_sampler_init(&s, &enc, 5, 0, 0, 1, &st) == 0);
        nb = batch_sampler_next(&s, &idx);
        CHECK(nb == 5 && idx[0] == 0 && idx[4] == 4, "sampler without shuffle: dataset order");
        batch_sampler_free(&s);
        CHECK(batch_sampler_init(&s, &enc, 0, 1, 0, 1, &st) && strstr(st.msg, "batch size 0"), "batch size 0 -> %s", st.msg);

        // batch_fill: right padding with EOS (no pad id), T = longest row or fixed
        int ids[4 * 12], lens[4], labels[4];
        float scores[4];
        int sel[4] = {3, 0, 7, 5}, pad = batch_pad_id(tok);
        int T = batch_fill(&enc, sel, 4, 0, pad, ids, lens, labels, scores);
        int want_T = 0, ok = 1;
        for (int b = 0; b < 4; b++) { int l = ds_encoded_len(&enc, (size_t)sel[b]); want_T = l > want_T ? l : want_T; }
        for (int b = 0; b < 4; b++) {
            int l = ds_encoded_len(&enc, (size_t)sel[b]);
            ok &= lens[b] == l && labels[b] == enc.label[sel[b]] && scores[b] == (float)enc.label[sel[b]];
            ok &= memcmp(ids + b * T, enc.ids + enc.off[sel[b]], (size_t)l * sizeof(int)) == 0;
            for (int t = l; t < T; t++) ok &= ids[b * T + t] == 2;
        }
        CHECK(pad == 2 && T == want_T && ok, "batch_fill: T = longest row (%d), rows copied, EOS (2) right padding", T);
        T = batch_fill(&enc, sel, 4, 12, pad, ids, lens, NULL, NULL);
        ok = T == 12;
        for (int b = 0; b < 4; b++)
            for (int t = lens[b]; t < 12; t++) ok &= ids[b * 12 + t] == pad;
        CHECK(ok, "batch_fill with fixed T = 12 pads every row to 12");
        free(seen);
        free(first);
        ds_encoded_free(&enc);
        ds_encoded_free(&full);
    }
}

// ---- plain-text LM stream -------------------------------------------------------------------------
static void check_text(const Tokenizer *tok) {
    text_stream ts;
    qp_status st = {0};
    int rc = text_load(&ts, tl_asset("text/tinystories_valid_head.txt"), tok, &st);
    CHECK(rc == 0 && ts.n_tokens == 233215 && text_n_windows(&ts, 256) == 910,
          "tinystories_valid_head.txt: N = %lld tokens (README 233,215), %lld windows of 256 (README 910) %s",
          (long long)ts.n_tokens, (long long)text_n_windows(&ts, 256), st.msg);
    if (rc) return;
    int64_t bos = 0;
    for (int64_t i = 0; i < ts.n_tokens; i++) bos += ts.tokens[i] == 1;
    CHECK(ts.tokens[0] == 1 && bos == ts.n_docs, "stream starts with BOS; %lld BOS = %lld non-empty lines", (long long)bos,
          (long long)ts.n_docs);
    // first line encoded by hand
    size_t len;
    char *raw = qp_read_file(tl_asset("text/tinystories_valid_head.txt"), &len);
    *strchr(raw, '\n') = '\0';
    int n, *ids;
    QP_ASSERT(tok_encode(tok, raw, 1, &ids, &n, &st) == 0);
    CHECK(memcmp(ts.tokens, ids, (size_t)n * sizeof(int)) == 0 && ts.tokens[n] == 1,
          "stream begins with [BOS]+encode(first line) (%d tokens), then BOS", n);
    free(ids);
    free(raw);
    int64_t w[2] = {909, 3};
    int in[2 * 256], tg[2 * 256];
    text_fill_batch(&ts, 256, w, 2, in, tg);
    CHECK(in[0] == ts.tokens[909 * 256] && tg[255] == ts.tokens[910 * 256] && in[256] == ts.tokens[768] &&
              tg[256 + 255] == ts.tokens[1024] && 910 * 256 + 1 <= ts.n_tokens,
          "windows: inputs [iT,(i+1)T), targets shifted by one, last window in bounds");
    text_free(&ts);
    CHECK(text_load(&ts, "/nonexistent/x.txt", tok, &st) && strstr(st.msg, "/nonexistent/x.txt"), "missing text -> %s", st.msg);
    char p[512];
    snprintf(p, sizeof p, "%s/blank.txt", tmpdir());
    FILE *fp = xfopen(p, "w");
    fputs("  \n\t\n\n", fp);
    xfclose(fp, p);
    CHECK(text_load(&ts, p, tok, &st) && strstr(st.msg, "no non-empty lines"), "blank text -> %s", st.msg);
}

int main(void) {
    check_real_glue();
    check_fixture_layouts();
    check_malformed();
    check_generic();
    qp_status st = {0};
    Tokenizer *tok = tok_load(tl_asset("models/tinystories-1M/tok2048.model"), &st);
    CHECK(tok != NULL, "load tok2048 %s", st.msg);
    if (tok) {
        check_encoding(tok);
        check_text(tok);
        tok_free(tok);
    }
    return tl_finish();
}
