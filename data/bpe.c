// data/bpe.c — byte-level BPE from tokenizer.json (see data/bpe.h for the contract).
// Tested by tests/test_bpe.sh: ids vs HF's Rust tokenizers on Llama-3, Qwen3 and GPT-2 files.
//
// The pipeline, in HF tokenizers' order:
//   1. added tokens (special or not) are cut out of the raw text, leftmost-longest;
//   2. each gap between them is normalised (NFC for Qwen, nothing for the others);
//   3. the pre-tokenizer steps split it: the Split regex of Llama-3 or Qwen, the Digits splitter
//      (SmolLM2), ByteLevel's built-in GPT-2 regex when its use_regex is true;
//   4. each piece is BPE-merged over its bytes: the byte-to-unicode map is a bijection, so the
//      vocabulary is converted to raw bytes once at load and encoding never builds the mapped
//      strings; decoding is concatenating the pieces' bytes.
// The regexes are not interpreted: each one the files carry is recognised by its exact text and
// run by a hand-written matcher (below) that follows Oniguruma's leftmost-first alternation and
// backtracking for that pattern. Any other pattern is refused, so nothing is silently misread.
#include "data/bpe.h"
#include "core/check.h"
#include "core/json.h"
#include "data/unicode.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The Split patterns we run. GPT-2's is also ByteLevel's built-in one (use_regex: true).
static const char RE_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef enum {
    PT_LLAMA3,        // Split(RE_LLAMA3, Isolated)
    PT_QWEN2,         // Split(RE_QWEN2, Isolated): Llama-3's with one digit per piece
    PT_GPT2,          // ByteLevel(use_regex) or Split(RE_GPT2, Isolated)
    PT_DIGITS,        // Digits(individual_digits: false): runs of \p{N} apart from the rest
    PT_DIGITS_EACH,   // Digits(individual_digits: true): every \p{N} its own piece
    PT_COUNT
} pretok_kind;
#define MAX_STEPS 8

typedef struct { char *s; size_t n; int id; } added_token;

struct BpeTokenizer {
    int n_ids;                 // largest id + 1
    char **piece;              // raw bytes of each id, NUL-terminated ("" for unused ids)
    uint32_t *piece_len;
    int *vocab_slot;           // open addressing over the model vocabulary's raw bytes -> id
    size_t vocab_mask;
    uint64_t *merge_key;       // (left id << 32 | right id) -> rank, merged id
    int32_t *merge_rank, *merge_new;
    size_t merge_mask;
    int byte_id[256];          // id of each single byte (-1: not in the vocabulary, dropped)
    added_token *added;        // sorted by first byte
    int n_added;
    int added_first[257];      // added[added_first[c] .. added_first[c+1]) start with byte c
    int nfc, ignore_merges;
    pretok_kind steps[MAX_STEPS];
    int n_steps;
    int bos, eos, pad, unk;
};

// ---- byte-to-unicode map (GPT-2's bytes_to_unicode) ---------------------------------------------
// Printable Latin-1 bytes stand for themselves; the other 68 bytes take U+0100.. in byte order.
static int byte_printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static void byte_level_inverse(int inv[512]) {
    for (int i = 0; i < 512; i++) inv[i] = -1;
    int next = 256;
    for (int b = 0; b < 256; b++) inv[byte_printable(b) ? b : next++] = b;
}

// A vocabulary string in byte-level form -> its raw bytes (malloc'd, NUL-terminated). A character
// outside the map keeps its UTF-8 bytes, as HF's ByteLevel decoder does.
static char *byte_level_to_raw(const char *s, const int inv[512], uint32_t *len) {
    size_t n = strlen(s), k = 0;
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n;) {
        size_t l;
        int32_t cp = uni_next((const unsigned char *)s + i, n - i, &l);
        if (cp >= 0 && cp < 512 && inv[cp] >= 0) out[k++] = (char)inv[cp];
        else { memcpy(out + k, s + i, l); k += l; }
        i += l;
    }
    out[k] = '\0';
    *len = (uint32_t)k;
    return out;
}

// ---- hash tables ---------------------------------------------------------------------------------
static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}
static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}
static size_t table_size(size_t n) {  // a power of two at least twice n
    size_t c = 16;
    while (c < 2 * n) c <<= 1;
    return c;
}

static int vocab_find(const BpeTokenizer *b, const void *s, size_t n) {
    for (size_t h = hash_bytes(s, n) & b->vocab_mask;; h = (h + 1) & b->vocab_mask) {
        int id = b->vocab_slot[h];
        if (id < 0) return -1;
        if (b->piece_len[id] == n && memcmp(b->piece[id], s, n) == 0) return id;
    }
}
static void vocab_insert(BpeTokenizer *b, int id) {
    size_t h = hash_bytes(b->piece[id], b->piece_len[id]) & b->vocab_mask;
    for (;; h = (h + 1) & b->vocab_mask) {
        int o = b->vocab_slot[h];
        if (o < 0) { b->vocab_slot[h] = id; return; }
        if (b->piece_len[o] == b->piece_len[id] && memcmp(b->piece[o], b->piece[id], b->piece_len[id]) == 0) return;
    }
}

static uint64_t pair_key(int a, int c) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)c; }
// Rank and merged id of the pair (a, c), or -1 when the pair never merges.
static int merge_find(const BpeTokenizer *b, int a, int c, int *new_id) {
    uint64_t k = pair_key(a, c);
    for (size_t h = hash_u64(k) & b->merge_mask;; h = (h + 1) & b->merge_mask) {
        if (b->merge_key[h] == UINT64_MAX) return -1;
        if (b->merge_key[h] == k) { *new_id = b->merge_new[h]; return b->merge_rank[h]; }
    }
}
// Insert unless present (HF keeps the first rank of a repeated merge).
static void merge_insert(BpeTokenizer *b, int a, int c, int rank, int new_id) {
    uint64_t k = pair_key(a, c);
    size_t h = hash_u64(k) & b->merge_mask;
    while (b->merge_key[h] != UINT64_MAX && b->merge_key[h] != k) h = (h + 1) & b->merge_mask;
    if (b->merge_key[h] == k) return;
    b->merge_key[h] = k; b->merge_rank[h] = rank; b->merge_new[h] = new_id;
}

// ---- pre-tokenizer matchers ----------------------------------------------------------------------
// Class of the character at s[i] (UNI_CLASS_COUNT past the end), its length and code point.
static uni_class class_at(const unsigned char *s, size_t n, size_t i, size_t *len, int32_t *cp) {
    if (i >= n) { *len = 0; *cp = -2; return UNI_CLASS_COUNT; }
    *cp = uni_next(s + i, n - i, len);
    return uni_class_of(*cp);
}
static size_t run_of(const unsigned char *s, size_t n, size_t i, uni_class c) {
    size_t l;
    int32_t cp;
    while (i < n && class_at(s, n, i, &l, &cp) == c) i += l;
    return i;
}
static int is_crlf(unsigned char c) { return c == '\r' || c == '\n'; }

// i is just past an apostrophe: the end of 's|'t|'re|'ve|'m|'ll|'d, or 0. Case-insensitive
// (Llama-3/Qwen's (?i:...)) lets Oniguruma's Unicode case folding match too: S, T, R, E, V, M,
// L, D, and U+017F LATIN SMALL LETTER LONG S, which folds to s.
static size_t contraction(const unsigned char *s, size_t n, size_t i, int fold) {
    static const char *const SUFFIX[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (int k = 0; k < 7; k++) {
        size_t j = i, l;
        const char *p = SUFFIX[k];
        for (; *p; p++) {
            int32_t cp;
            if (class_at(s, n, j, &l, &cp) == UNI_CLASS_COUNT) break;
            int ok = cp == *p || (fold && (cp == *p - 32 || (*p == 's' && cp == 0x17F)));
            if (!ok) break;
            j += l;
        }
        if (!*p) return j;
    }
    return 0;
}

// The end of whitespace-led alternatives \s+(?!\S) | \s+ over the run [i, e): the run minus its
// last character when a non-space follows and the run has two or more; else the whole run.
static size_t space_run_end(const unsigned char *s, size_t n, size_t i, size_t e) {
    if (e == n) return e;
    size_t last = e - 1;
    while (last > i && (s[last] & 0xC0) == 0x80) last--;  // start of the run's last character
    return last > i ? last : e;
}

// Llama-3 and Qwen2 (max_digits 3 and 1):
//   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,max} |
//    ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
static size_t match_llama3(const unsigned char *s, size_t n, size_t i, int max_digits) {
    size_t l0, l1, l;
    int32_t c0, c1, cp;
    uni_class k0 = class_at(s, n, i, &l0, &c0);
    if (c0 == '\'') { size_t e = contraction(s, n, i + l0, 1); if (e) return e; }
    if (k0 == UNI_LETTER) return run_of(s, n, i, UNI_LETTER);
    uni_class k1 = class_at(s, n, i + l0, &l1, &c1);
    if (k0 != UNI_NUMBER && !(c0 == '\r' || c0 == '\n') && k1 == UNI_LETTER) return run_of(s, n, i + l0, UNI_LETTER);
    if (k0 == UNI_NUMBER) {
        size_t e = i;
        for (int d = 0; d < max_digits && class_at(s, n, e, &l, &cp) == UNI_NUMBER; d++) e += l;
        return e;
    }
    size_t j = (c0 == ' ' && k1 == UNI_OTHER) ? i + l0 : i;  // " ?" then [^\s\p{L}\p{N}]+[\r\n]*
    if (class_at(s, n, j, &l, &cp) == UNI_OTHER) {
        size_t e = run_of(s, n, j, UNI_OTHER);
        while (e < n && is_crlf(s[e])) e++;
        return e;
    }
    size_t e = run_of(s, n, i, UNI_SPACE);  // k0 is a space from here on
    // \s*[\r\n]+: \s* backtracks from the whole run to the run's last \r or \n; [\r\n]+ then
    // takes that one character (anything after it in the run is not \r or \n).
    for (size_t p = e; p > i; p--) if (is_crlf(s[p - 1])) return p;
    return space_run_end(s, n, i, e);
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (case-sensitive).
static size_t match_gpt2(const unsigned char *s, size_t n, size_t i) {
    size_t l0, l1, l;
    int32_t c0, c1, cp;
    class_at(s, n, i, &l0, &c0);
    if (c0 == '\'') { size_t e = contraction(s, n, i + l0, 0); if (e) return e; }
    uni_class k1 = class_at(s, n, i + l0, &l1, &c1);
    // " ?X+" for X in letters, numbers, others: the space binds to whichever of them follows.
    size_t j = (c0 == ' ' && k1 != UNI_SPACE && k1 != UNI_CLASS_COUNT) ? i + l0 : i;
    uni_class kj = class_at(s, n, j, &l, &cp);
    if (kj != UNI_SPACE) return run_of(s, n, j, kj);
    return space_run_end(s, n, i, run_of(s, n, i, UNI_SPACE));
}

// Digits: runs of \p{N} apart (each on its own when `each`), the rest in runs between them.
static size_t match_digits(const unsigned char *s, size_t n, size_t i, int each) {
    size_t l;
    int32_t cp;
    uni_class k = class_at(s, n, i, &l, &cp);
    if (k == UNI_NUMBER) return each ? i + l : run_of(s, n, i, UNI_NUMBER);
    size_t e = i + l;
    while (e < n && class_at(s, n, e, &l, &cp) != UNI_NUMBER) e += l;
    return e;
}

static size_t pretok_next(pretok_kind k, const unsigned char *s, size_t n, size_t i) {
    switch (k) {
    case PT_LLAMA3: return match_llama3(s, n, i, 3);
    case PT_QWEN2: return match_llama3(s, n, i, 1);
    case PT_GPT2: return match_gpt2(s, n, i);
    case PT_DIGITS: return match_digits(s, n, i, 0);
    case PT_DIGITS_EACH: return match_digits(s, n, i, 1);
    default: QP_ASSERT(0); return n;
    }
}

// ---- encoding ------------------------------------------------------------------------------------
typedef struct { int32_t rank, pos, new_id; } merge_item;
typedef struct {
    int *ids;
    size_t n, cap;
    int *sym, *prev, *next;  // the word being merged: symbol ids and links (-1 = none / dead)
    merge_item *heap;
    size_t wcap, hn;
} enc_ctx;

static void emit(enc_ctx *cx, int id) {
    if (cx->n == cx->cap) { cx->cap = cx->cap ? 2 * cx->cap : 256; cx->ids = xrealloc(cx->ids, cx->cap * sizeof(int)); }
    cx->ids[cx->n++] = id;
}

static int item_less(merge_item a, merge_item b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }
static void heap_push(enc_ctx *cx, merge_item it) {
    size_t i = cx->hn++;
    while (i > 0 && item_less(it, cx->heap[(i - 1) / 2])) { cx->heap[i] = cx->heap[(i - 1) / 2]; i = (i - 1) / 2; }
    cx->heap[i] = it;
}
static merge_item heap_pop(enc_ctx *cx) {
    merge_item top = cx->heap[0], last = cx->heap[--cx->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= cx->hn) break;
        if (c + 1 < cx->hn && item_less(cx->heap[c + 1], cx->heap[c])) c++;
        if (!item_less(cx->heap[c], last)) break;
        cx->heap[i] = cx->heap[c];
        i = c;
    }
    if (cx->hn) cx->heap[i] = last;
    return top;
}
static void push_pair(const BpeTokenizer *b, enc_ctx *cx, int pos) {
    int r, nid = -1, right = cx->next[pos];
    if (right >= 0 && (r = merge_find(b, cx->sym[pos], cx->sym[right], &nid)) >= 0)
        heap_push(cx, (merge_item){r, pos, nid});
}

// One pre-token: merge its bytes by rank, lowest first, leftmost on ties (HF's merge_word with
// its priority queue; a popped merge whose pair has changed since it was queued is skipped).
static void bpe_word(const BpeTokenizer *b, const unsigned char *s, size_t n, enc_ctx *cx) {
    if (b->ignore_merges || n == 1) {  // Llama-3: a word in the vocabulary is taken whole
        int id = vocab_find(b, s, n);
        if (id >= 0) { emit(cx, id); return; }
    }
    if (n > cx->wcap) {
        cx->wcap = n + n / 2;
        cx->sym = xrealloc(cx->sym, cx->wcap * sizeof(int));
        cx->prev = xrealloc(cx->prev, cx->wcap * sizeof(int));
        cx->next = xrealloc(cx->next, cx->wcap * sizeof(int));
        cx->heap = xrealloc(cx->heap, 3 * cx->wcap * sizeof(merge_item));  // m-1 initial + 2 per merge
    }
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int id = b->byte_id[s[i]];
        if (id >= 0) cx->sym[m++] = id;  // no unk and no byte fallback: HF drops the byte
    }
    for (int i = 0; i < m; i++) { cx->prev[i] = i - 1; cx->next[i] = i + 1 < m ? i + 1 : -1; }
    cx->hn = 0;
    for (int i = 0; i + 1 < m; i++) push_pair(b, cx, i);
    while (cx->hn) {
        merge_item it = heap_pop(cx);
        int i = it.pos, j = cx->next[i], nid = -1;
        if (cx->sym[i] < 0 || j < 0) continue;
        if (merge_find(b, cx->sym[i], cx->sym[j], &nid) != it.rank || nid != it.new_id) continue;
        cx->sym[i] = it.new_id;
        cx->sym[j] = -1;
        cx->next[i] = cx->next[j];
        if (cx->next[j] >= 0) cx->prev[cx->next[j]] = i;
        if (cx->prev[i] >= 0) push_pair(b, cx, cx->prev[i]);
        push_pair(b, cx, i);
    }
    for (int i = 0; i >= 0 && m > 0; i = cx->next[i]) emit(cx, cx->sym[i]);
}

static void pretokenize(const BpeTokenizer *b, int step, const unsigned char *s, size_t n, enc_ctx *cx) {
    if (n == 0) return;
    if (step == b->n_steps) { bpe_word(b, s, n, cx); return; }
    for (size_t i = 0; i < n;) {
        size_t e = pretok_next(b->steps[step], s, n, i);
        QP_ASSERT(e > i && e <= n);
        pretokenize(b, step + 1, s + i, e - i, cx);
        i = e;
    }
}

// Text between added tokens: normalise, then pre-tokenize and merge.
static int encode_gap(const BpeTokenizer *b, const char *s, size_t n, enc_ctx *cx, qp_status *st) {
    if (n == 0) return 0;
    if (!b->nfc) { pretokenize(b, 0, (const unsigned char *)s, n, cx); return 0; }
    char *norm;
    size_t nn;
    if (uni_nfc(s, n, &norm, &nn, st) != 0) return -1;
    pretokenize(b, 0, (const unsigned char *)norm, nn, cx);
    free(norm);
    return 0;
}

// The longest added token starting at s[0..n), or -1.
static int added_at(const BpeTokenizer *b, const unsigned char *s, size_t n, size_t *len) {
    int best = -1;
    size_t best_n = 0;
    for (int k = b->added_first[s[0]]; k < b->added_first[s[0] + 1]; k++) {
        const added_token *a = &b->added[k];
        if (a->n > best_n && a->n <= n && memcmp(a->s, s, a->n) == 0) { best = a->id; best_n = a->n; }
    }
    *len = best_n;
    return best;
}

int bpe_encode(const BpeTokenizer *b, const char *text, size_t len, int add_bos, int **ids, int *n, qp_status *st) {
    enc_ctx cx;
    memset(&cx, 0, sizeof cx);
    *ids = NULL;
    *n = 0;
    if (add_bos && b->bos >= 0) emit(&cx, b->bos);
    const unsigned char *s = (const unsigned char *)text;
    size_t gap = 0, i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        size_t tl;
        int id = b->n_added ? added_at(b, s + i, len - i, &tl) : -1;
        if (id < 0) { i++; continue; }
        rc = encode_gap(b, text + gap, i - gap, &cx, st);
        emit(&cx, id);
        i += tl;
        gap = i;
    }
    if (rc == 0) rc = encode_gap(b, text + gap, len - gap, &cx, st);
    free(cx.sym); free(cx.prev); free(cx.next); free(cx.heap);
    if (rc != 0) { free(cx.ids); return -1; }
    if (cx.n > (size_t)INT32_MAX) { free(cx.ids); return qp_fail(st, "tokenizer: %zu ids, more than an int holds", cx.n); }
    if (!cx.ids) cx.ids = xmalloc(sizeof(int));
    *ids = cx.ids;
    *n = (int)cx.n;
    return 0;
}

char *bpe_decode(const BpeTokenizer *b, const int *ids, int n, size_t *len) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->n_ids) return NULL;
        total += b->piece_len[ids[i]];
    }
    char *out = xmalloc(total + 1), *p = out;
    for (int i = 0; i < n; i++) { memcpy(p, b->piece[ids[i]], b->piece_len[ids[i]]); p += b->piece_len[ids[i]]; }
    *p = '\0';
    if (len) *len = total;
    return out;
}

const char *bpe_piece(const BpeTokenizer *b, int id) { return id >= 0 && id < b->n_ids ? b->piece[id] : ""; }
int bpe_vocab_size(const BpeTokenizer *b) { return b->n_ids; }
int bpe_bos_id(const BpeTokenizer *b) { return b->bos; }
int bpe_eos_id(const BpeTokenizer *b) { return b->eos; }
int bpe_pad_id(const BpeTokenizer *b) { return b->pad; }
int bpe_unk_id(const BpeTokenizer *b) { return b->unk; }

void bpe_free(BpeTokenizer *b) {
    if (!b) return;
    if (b->piece) for (int i = 0; i < b->n_ids; i++) free(b->piece[i]);
    free(b->piece); free(b->piece_len); free(b->vocab_slot);
    free(b->merge_key); free(b->merge_rank); free(b->merge_new);
    for (int i = 0; i < b->n_added; i++) free(b->added[i].s);
    free(b->added);
    free(b);
}

// ---- loading -------------------------------------------------------------------------------------
// The largest id any vocabulary entry or added token names, checked to be an int in [0, 2^24).
#define MAX_IDS (1 << 24)
static int id_of(const JsonValue *v, const char *path, const char *where, int *id, qp_status *st) {
    int64_t x;
    if (!json_as_int64(v, &x) || x < 0 || x >= MAX_IDS)
        return qp_fail(st, "%s: %s: expected an id in [0, %d)", path, where, MAX_IDS);
    *id = (int)x;
    return 0;
}

static const char *type_of(const JsonValue *v) { return json_as_string(json_get(v, "type")); }
static int flag_of(const JsonValue *v, const char *key, int def) {
    int x;
    return json_as_bool(json_get(v, key), &x) ? x : def;
}

static int add_step(BpeTokenizer *b, pretok_kind k, const char *path, qp_status *st) {
    if (b->n_steps == MAX_STEPS) return qp_fail(st, "%s: pre_tokenizer: more than %d steps", path, MAX_STEPS);
    b->steps[b->n_steps++] = k;
    return 0;
}

// One pre-tokenizer: Split (a known regex, Isolated), Digits, or ByteLevel. *byte_level is set
// when a ByteLevel step is seen (the model is then byte-level).
static int parse_pretok(BpeTokenizer *b, const JsonValue *p, const char *path, int *byte_level, qp_status *st) {
    const char *t = type_of(p);
    if (!t) return qp_fail(st, "%s: pre_tokenizer: a step without a \"type\"", path);
    if (!strcmp(t, "Sequence")) {
        const JsonValue *seq = json_get(p, "pretokenizers");
        if (!seq || seq->type != JSON_ARRAY) return qp_fail(st, "%s: pre_tokenizer: Sequence without \"pretokenizers\"", path);
        for (size_t i = 0; i < seq->n; i++)
            if (parse_pretok(b, &seq->items[i], path, byte_level, st)) return -1;
        return 0;
    }
    if (!strcmp(t, "ByteLevel")) {
        *byte_level = 1;
        if (flag_of(p, "add_prefix_space", 0))
            return qp_fail(st, "%s: pre_tokenizer ByteLevel: add_prefix_space true is not supported", path);
        return flag_of(p, "use_regex", 1) ? add_step(b, PT_GPT2, path, st) : 0;
    }
    if (!strcmp(t, "Digits")) return add_step(b, flag_of(p, "individual_digits", 0) ? PT_DIGITS_EACH : PT_DIGITS, path, st);
    if (!strcmp(t, "Split")) {
        const char *re = json_as_string(json_get(json_get(p, "pattern"), "Regex"));
        const char *beh = json_as_string(json_get(p, "behavior"));
        if (!re) return qp_fail(st, "%s: pre_tokenizer Split: only a {\"Regex\": ...} pattern is supported", path);
        if (!beh || strcmp(beh, "Isolated") || flag_of(p, "invert", 0))
            return qp_fail(st, "%s: pre_tokenizer Split: only behavior Isolated without invert is supported", path);
        if (!strcmp(re, RE_LLAMA3)) return add_step(b, PT_LLAMA3, path, st);
        if (!strcmp(re, RE_QWEN2)) return add_step(b, PT_QWEN2, path, st);
        if (!strcmp(re, RE_GPT2)) return add_step(b, PT_GPT2, path, st);
        return qp_fail(st, "%s: pre_tokenizer Split: regex not among those supported (Llama-3, Qwen2, GPT-2)", path);
    }
    return qp_fail(st, "%s: pre_tokenizer type \"%s\" is not supported (Sequence, Split, Digits, ByteLevel)", path, t);
}

static int parse_normalizer(BpeTokenizer *b, const JsonValue *nz, const char *path, qp_status *st) {
    if (!nz || nz->type == JSON_NULL) return 0;
    const char *t = type_of(nz);
    if (t && !strcmp(t, "NFC")) { b->nfc = 1; return 0; }
    if (t && !strcmp(t, "Sequence")) {
        const JsonValue *seq = json_get(nz, "normalizers");
        for (size_t i = 0; seq && i < seq->n; i++)
            if (parse_normalizer(b, &seq->items[i], path, st)) return -1;
        return 0;
    }
    return qp_fail(st, "%s: normalizer type \"%s\" is not supported (none or NFC)", path, t ? t : "?");
}

// Check the BPE model's options: the subset byte-level tokenizers use.
static int check_model_options(const JsonValue *m, const char *path, qp_status *st) {
    const char *t = type_of(m);
    if (t && strcmp(t, "BPE")) return qp_fail(st, "%s: model type \"%s\" is not supported (BPE)", path, t);
    const JsonValue *d = json_get(m, "dropout");
    if (d && d->type != JSON_NULL) return qp_fail(st, "%s: model.dropout is not supported", path);
    if (flag_of(m, "byte_fallback", 0)) return qp_fail(st, "%s: model.byte_fallback true is not supported (not byte-level BPE)", path);
    const char *keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_as_string(json_get(m, keys[i]));
        if (v && *v) return qp_fail(st, "%s: model.%s \"%s\" is not supported", path, keys[i], v);
    }
    return 0;
}

static int load_vocab(BpeTokenizer *b, const JsonValue *vocab, const JsonValue *added, const char *path, qp_status *st) {
    if (!vocab || vocab->type != JSON_OBJECT) return qp_fail(st, "%s: model.vocab: expected an object", path);
    if (!added || added->type != JSON_ARRAY) added = NULL;
    int max_id = -1, id = 0;
    for (size_t i = 0; i < vocab->n; i++) {
        if (id_of(&vocab->items[i], path, "model.vocab", &id, st)) return -1;
        if (id > max_id) max_id = id;
    }
    for (size_t i = 0; added && i < added->n; i++) {
        if (id_of(json_get(&added->items[i], "id"), path, "added_tokens[].id", &id, st)) return -1;
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return qp_fail(st, "%s: model.vocab is empty", path);
    b->n_ids = max_id + 1;
    b->piece = xcalloc((size_t)b->n_ids, sizeof(char *));
    b->piece_len = xcalloc((size_t)b->n_ids, sizeof(uint32_t));
    b->vocab_mask = table_size(vocab->n) - 1;
    b->vocab_slot = xmalloc((b->vocab_mask + 1) * sizeof(int));
    for (size_t i = 0; i <= b->vocab_mask; i++) b->vocab_slot[i] = -1;
    int inv[512];
    byte_level_inverse(inv);
    for (size_t i = 0; i < vocab->n; i++) {
        id_of(&vocab->items[i], path, "model.vocab", &id, st);
        if (b->piece[id]) return qp_fail(st, "%s: model.vocab: id %d appears twice", path, id);
        b->piece[id] = byte_level_to_raw(vocab->keys[i], inv, &b->piece_len[id]);
        vocab_insert(b, id);
    }
    for (int c = 0; c < 256; c++) { unsigned char ch = (unsigned char)c; b->byte_id[c] = vocab_find(b, &ch, 1); }
    return 0;
}

// One merge as "a b" or ["a", "b"]: the raw bytes of both halves (malloc'd into *a, *c).
static int merge_halves(const JsonValue *v, const char *path, size_t rank, const char **a, const char **c, char *buf, size_t cap,
                        qp_status *st) {
    if (v->type == JSON_ARRAY && v->n == 2 && json_as_string(&v->items[0]) && json_as_string(&v->items[1])) {
        *a = v->items[0].string; *c = v->items[1].string;
        return 0;
    }
    const char *s = json_as_string(v), *sp = s ? strchr(s, ' ') : NULL;
    if (!sp || strchr(sp + 1, ' ') || (size_t)(sp - s) >= cap)
        return qp_fail(st, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", path, rank);
    memcpy(buf, s, (size_t)(sp - s));
    buf[sp - s] = '\0';
    *a = buf; *c = sp + 1;
    return 0;
}

static int load_merges(BpeTokenizer *b, const JsonValue *merges, const char *path, qp_status *st) {
    if (!merges || merges->type != JSON_ARRAY) return qp_fail(st, "%s: model.merges: expected an array", path);
    b->merge_mask = table_size(merges->n) - 1;
    size_t cap = b->merge_mask + 1;
    b->merge_key = xmalloc(cap * sizeof(uint64_t));
    b->merge_rank = xmalloc(cap * sizeof(int32_t));
    b->merge_new = xmalloc(cap * sizeof(int32_t));
    for (size_t i = 0; i < cap; i++) b->merge_key[i] = UINT64_MAX;
    int inv[512];
    byte_level_inverse(inv);
    char buf[1024];
    for (size_t r = 0; r < merges->n; r++) {
        const char *a = NULL, *c = NULL;
        if (merge_halves(&merges->items[r], path, r, &a, &c, buf, sizeof buf, st)) return -1;
        uint32_t la, lc;
        char *ra = byte_level_to_raw(a, inv, &la), *rc = byte_level_to_raw(c, inv, &lc);
        char *both = xmalloc((size_t)la + lc + 1);
        memcpy(both, ra, la);
        memcpy(both + la, rc, lc);
        int ia = vocab_find(b, ra, la), ic = vocab_find(b, rc, lc), in = vocab_find(b, both, (size_t)la + lc);
        free(ra); free(rc); free(both);
        if (ia < 0 || ic < 0 || in < 0)
            return qp_fail(st, "%s: model.merges[%zu]: \"%s\" + \"%s\" or their merge is not in the vocabulary", path, r, a, c);
        merge_insert(b, ia, ic, (int)r, in);
    }
    return 0;
}

static int by_first_byte(const void *x, const void *y) {
    const added_token *a = x, *c = y;
    return (int)(unsigned char)a->s[0] - (int)(unsigned char)c->s[0];
}

static int load_added(BpeTokenizer *b, const JsonValue *added, const char *path, qp_status *st) {
    size_t n = added && added->type == JSON_ARRAY ? added->n : 0;
    b->added = xcalloc(n ? n : 1, sizeof(added_token));
    for (size_t i = 0; i < n; i++) {
        const JsonValue *a = &added->items[i];
        const char *s = json_as_string(json_get(a, "content"));
        int id = 0;
        if (!s || !*s) return qp_fail(st, "%s: added_tokens[%zu]: expected a non-empty \"content\"", path, i);
        id_of(json_get(a, "id"), path, "added_tokens[].id", &id, st);
        const char *opts[] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (flag_of(a, opts[k], 0))
                return qp_fail(st, "%s: added token \"%s\": %s true is not supported", path, s, opts[k]);
        added_token *t = &b->added[b->n_added++];
        t->s = xstrdup(s);
        t->n = strlen(s);
        t->id = id;
        if (!b->piece[id]) { b->piece[id] = xstrdup(s); b->piece_len[id] = (uint32_t)t->n; }
    }
    qsort(b->added, (size_t)b->n_added, sizeof(added_token), by_first_byte);
    for (int c = 0, k = 0; c <= 256; c++) {
        while (k < b->n_added && (unsigned char)b->added[k].s[0] < c) k++;
        b->added_first[c] = k;
    }
    for (int i = 0; i < b->n_ids; i++) if (!b->piece[i]) b->piece[i] = xstrdup("");  // unused ids
    return 0;
}

static JsonValue *parse_file(const char *path, qp_status *st) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { qp_fail(st, "%s: cannot open tokenizer: %s", path, strerror(errno)); return NULL; }
    fclose(fp);
    size_t len;
    char *text = qp_read_file(path, &len);
    JsonValue *root = NULL;
    json_parse(text, len, path, &root, st);
    free(text);
    return root;
}

// A token named in tokenizer_config.json ("<s>" or {"content": "<s>", ...}) -> its id, or -1.
static int token_id(const BpeTokenizer *b, const JsonValue *v) {
    const char *s = json_as_string(v);
    if (!s) s = json_as_string(json_get(v, "content"));
    if (!s) return -1;
    for (int k = 0; k < b->n_added; k++) if (!strcmp(b->added[k].s, s)) return b->added[k].id;
    return vocab_find(b, s, strlen(s));
}
static int config_id(const JsonValue *v) {
    int64_t x;
    if (v && v->type == JSON_ARRAY) v = json_at(v, 0);
    return json_as_int64(v, &x) && x >= 0 && x < MAX_IDS ? (int)x : -1;
}

// BOS/EOS/PAD/UNK from the files beside tokenizer.json (see data/bpe.h).
static int load_special_ids(BpeTokenizer *b, const char *path, qp_status *st) {
    b->bos = b->eos = b->pad = b->unk = -1;
    char dir[4096], cfg[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    FILE *fp = fopen(cfg, "rb");
    int from_tok_cfg = fp != NULL;
    if (!fp) { snprintf(cfg, sizeof cfg, "%s/config.json", dir); fp = fopen(cfg, "rb"); }
    if (!fp) return 0;
    fclose(fp);
    JsonValue *root = parse_file(cfg, st);
    if (!root) return -1;
    if (from_tok_cfg) {
        b->bos = token_id(b, json_get(root, "bos_token"));
        b->eos = token_id(b, json_get(root, "eos_token"));
        b->pad = token_id(b, json_get(root, "pad_token"));
        b->unk = token_id(b, json_get(root, "unk_token"));
    } else {
        b->bos = config_id(json_get(root, "bos_token_id"));
        b->eos = config_id(json_get(root, "eos_token_id"));
        b->pad = config_id(json_get(root, "pad_token_id"));
    }
    json_free(root);
    int *ids[] = {&b->bos, &b->eos, &b->pad};
    for (int i = 0; i < 3; i++) if (*ids[i] >= b->n_ids) *ids[i] = -1;
    return 0;
}

BpeTokenizer *bpe_load(const char *path, qp_status *st) {
    JsonValue *root = parse_file(path, st);
    if (!root) return NULL;
    BpeTokenizer *b = xcalloc(1, sizeof *b);
    const JsonValue *model = json_get(root, "model"), *added = json_get(root, "added_tokens");
    int byte_level = 0, rc = 0;
    if (!model || model->type != JSON_OBJECT) rc = qp_fail(st, "%s: no \"model\" object: not a tokenizer.json", path);
    if (!rc) rc = check_model_options(model, path, st);
    if (!rc) b->ignore_merges = flag_of(model, "ignore_merges", 0);
    if (!rc) rc = parse_normalizer(b, json_get(root, "normalizer"), path, st);
    const JsonValue *pt = json_get(root, "pre_tokenizer");
    if (!rc && pt && pt->type != JSON_NULL) rc = parse_pretok(b, pt, path, &byte_level, st);
    if (!rc && !byte_level) rc = qp_fail(st, "%s: pre_tokenizer has no ByteLevel step: not a byte-level BPE tokenizer", path);
    const char *dec = type_of(json_get(root, "decoder"));
    if (!rc && dec && strcmp(dec, "ByteLevel"))
        rc = qp_fail(st, "%s: decoder type \"%s\" is not supported (ByteLevel)", path, dec);
    if (!rc) rc = load_vocab(b, json_get(model, "vocab"), added, path, st);
    if (!rc) rc = load_merges(b, json_get(model, "merges"), path, st);
    if (!rc) rc = load_added(b, added, path, st);
    json_free(root);
    if (!rc) rc = load_special_ids(b, path, st);
    if (rc) { bpe_free(b); return NULL; }
    return b;
}
