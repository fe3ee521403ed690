// core/json.c — strict recursive-descent JSON parser (see core/json.h for what "strict" means).
// Tested by tests/test_loaders.c (valid/invalid documents, escapes, depth, error positions).
#include "core/json.h"
#include "core/check.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    const char *what;
    qp_status *st;
} Parser;

// "byte N (line L, column C)" of the current position plus what was found there.
static int perr(Parser *p, size_t at, const char *expected) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') { line++; col = 1; } else col++;
    }
    char found[32];
    if (at >= p->len) snprintf(found, sizeof found, "end of input");
    else {
        unsigned char c = (unsigned char)p->s[at];
        if (c >= 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", c);
        else snprintf(found, sizeof found, "byte 0x%02x", c);
    }
    return qp_fail(p->st, "%s: invalid JSON at byte %zu (line %zu, column %zu): expected %s, found %s",
                   p->what, at, line, col, expected, found);
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(Parser *p, size_t at, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (at + i >= p->len || hexval(p->s[at + i]) < 0) return perr(p, at + i, "4 hex digits after \\u");
        v = v * 16 + (unsigned)hexval(p->s[at + i]);
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

// Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no
// surrogates, <= U+10FFFF), or 0 when malformed.
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k; unsigned cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { k = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { k = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { k = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

// String starting at the opening quote; the decoded text never grows (escapes shrink), so one
// buffer of the raw length suffices.
static int parse_string(Parser *p, char **out) {
    size_t start = p->pos++;
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->len) {
        char exp[64];
        snprintf(exp, sizeof exp, "the closing '\"' of the string at byte %zu", start);
        return perr(p, p->len, exp);
    }
    char *buf = xmalloc(end - p->pos + 1);
    size_t o = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) { free(buf); return perr(p, p->pos, "no raw control characters in a string"); }
        if (c != '\\') {
            size_t k = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (!k) { free(buf); return perr(p, p->pos, "valid UTF-8 in a string"); }
            memcpy(buf + o, p->s + p->pos, k);
            o += k; p->pos += k;
            continue;
        }
        char e = p->s[p->pos + 1];
        size_t at = p->pos;
        p->pos += 2;
        switch (e) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (read_hex4(p, p->pos, &cp)) { free(buf); return -1; }
            p->pos += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) { free(buf); return perr(p, at, "a high surrogate before a low surrogate"); }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(buf); return perr(p, p->pos, "\\u low surrogate after a high surrogate");
                }
                if (read_hex4(p, p->pos + 2, &lo)) { free(buf); return -1; }
                if (lo < 0xDC00 || lo > 0xDFFF) { free(buf); return perr(p, p->pos, "\\u low surrogate (DC00-DFFF)"); }
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) { free(buf); return perr(p, at, "no \\u0000 (NUL) in strings"); }
            o += put_utf8(buf + o, cp);  // \uXXXX is 6 bytes, its UTF-8 at most 3 (4 for a 12-byte pair)
            break;
        }
        default: free(buf); return perr(p, at + 1, "an escape character (one of \"\\/bfnrtu)");
        }
    }
    p->pos++;  // closing quote
    buf[o] = '\0';
    *out = buf;
    return 0;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
static int parse_number(Parser *p, JsonValue *v) {
    size_t i = p->pos, start = p->pos;
    const char *s = p->s;
    int integral = 1;
#define DIGIT(k) ((k) < p->len && s[k] >= '0' && s[k] <= '9')
    if (i < p->len && s[i] == '-') i++;
    if (!DIGIT(i)) return perr(p, i, "a digit");
    if (s[i] == '0') {
        i++;
        if (DIGIT(i)) return perr(p, i, "no leading zeros in a number");
    } else while (DIGIT(i)) i++;
    if (i < p->len && s[i] == '.') {
        integral = 0; i++;
        if (!DIGIT(i)) return perr(p, i, "a digit after the decimal point");
        while (DIGIT(i)) i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0; i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (!DIGIT(i)) return perr(p, i, "a digit in the exponent");
        while (DIGIT(i)) i++;
    }
#undef DIGIT
    char tmp[400];
    if (i - start >= sizeof tmp) return perr(p, start, "a number of at most 399 characters");
    memcpy(tmp, s + start, i - start);
    tmp[i - start] = '\0';
    v->type = JSON_NUMBER;
    v->number = strtod(tmp, NULL);  // overflow gives ±HUGE_VAL: a number, just not a finite one
    if (integral) {
        errno = 0;
        long long x = strtoll(tmp, NULL, 10);
        if (errno == 0) { v->is_int = 1; v->integer = (int64_t)x; }
    }
    p->pos = i;
    return 0;
}

static int parse_value(Parser *p, JsonValue *v, int depth);

// The keys seen so far in one object, as an open-addressing set of key indices, so the duplicate
// check stays linear for tokenizer.json's vocabulary (10^5 keys) as well as for small headers.
typedef struct { size_t *slot; size_t cap; } key_set;  // slot: index + 1, 0 = empty

static uint64_t key_hash(const char *k) {
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}
// Insert keys[n-1] (the newest key); 1 if an equal key was already there.
static int key_set_add(key_set *ks, char **keys, size_t n) {
    if (2 * n > ks->cap) {  // keep the load at most 1/2: rebuild from all keys at twice the size
        free(ks->slot);
        ks->cap = ks->cap ? 2 * ks->cap : 16;
        while (2 * n > ks->cap) ks->cap *= 2;
        ks->slot = xcalloc(ks->cap, sizeof *ks->slot);
        for (size_t j = 0; j + 1 < n; j++) {
            size_t h = key_hash(keys[j]) & (ks->cap - 1);
            while (ks->slot[h]) h = (h + 1) & (ks->cap - 1);
            ks->slot[h] = j + 1;
        }
    }
    size_t h = key_hash(keys[n - 1]) & (ks->cap - 1);
    for (; ks->slot[h]; h = (h + 1) & (ks->cap - 1))
        if (!strcmp(keys[ks->slot[h] - 1], keys[n - 1])) return 1;
    ks->slot[h] = n;
    return 0;
}

static int parse_members(Parser *p, JsonValue *v, int depth, int is_object, key_set *ks);

static int parse_container(Parser *p, JsonValue *v, int depth, int is_object) {
    key_set ks = {NULL, 0};
    int rc = parse_members(p, v, depth, is_object, &ks);
    free(ks.slot);
    return rc;
}

static int parse_members(Parser *p, JsonValue *v, int depth, int is_object, key_set *ks) {
    if (depth >= JSON_MAX_DEPTH) return perr(p, p->pos, "nesting depth at most 64");
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    char close = is_object ? '}' : ']';
    size_t cap = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; return 0; }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            v->items = xrealloc(v->items, cap * sizeof *v->items);
            if (is_object) v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
        }
        JsonValue *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (is_object) {
            v->keys[v->n] = NULL;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') { v->n++; return perr(p, p->pos, "a '\"' starting an object key"); }
            size_t key_at = p->pos;
            char *key;
            if (parse_string(p, &key)) { v->n++; return -1; }
            v->keys[v->n] = key;
            v->n++;  // counted from here on, so json_free releases it on any later error
            if (key_set_add(ks, v->keys, v->n)) return perr(p, key_at, "no duplicate keys in an object");
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return perr(p, p->pos, "':' after an object key");
            p->pos++;
        } else v->n++;
        if (parse_value(p, item, depth + 1)) return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; return 0; }
        return perr(p, p->pos, is_object ? "',' or '}' in an object" : "',' or ']' in an array");
    }
}

static int parse_value(Parser *p, JsonValue *v, int depth) {
    skip_ws(p);
    v->offset = p->pos;
    if (p->pos >= p->len) return perr(p, p->pos, "a JSON value");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return parse_container(p, v, depth, c == '{');
    if (c == '"') { v->type = JSON_STRING; return parse_string(p, &v->string); }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    static const char *const lits[3] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(lits[k]);
        if (p->len - p->pos >= n && !memcmp(p->s + p->pos, lits[k], n)) {
            v->type = k == 2 ? JSON_NULL : JSON_BOOL;
            v->boolean = k == 0;
            p->pos += n;
            return 0;
        }
    }
    return perr(p, p->pos, "a JSON value (object, array, string, number, true, false or null)");
}

static void free_children(JsonValue *v) {
    if (v->type == JSON_STRING) free(v->string);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->n; i++) {
            free_children(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_children(v);
    free(v);
}

int json_parse(const char *text, size_t len, const char *what, JsonValue **out, qp_status *st) {
    Parser p = {text, len, 0, what, st};
    JsonValue *v = xcalloc(1, sizeof *v);
    *out = NULL;
    if (parse_value(&p, v, 0)) { json_free(v); return -1; }
    skip_ws(&p);
    if (p.pos != len) { json_free(v); return perr(&p, p.pos, "end of input after the JSON value"); }
    *out = v;
    return 0;
}

const char *json_type_name(json_type t) {
    static const char *const names[JSON_COUNT] = {"null", "bool", "number", "string", "array", "object"};
    return (t >= 0 && t < JSON_COUNT) ? names[t] : "?";
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

const JsonValue *json_at(const JsonValue *arr, size_t i) {
    if (!arr || arr->type != JSON_ARRAY || i >= arr->n) return NULL;
    return &arr->items[i];
}

int json_as_int64(const JsonValue *v, int64_t *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_int) return 0;
    *out = v->integer;
    return 1;
}

int json_as_double(const JsonValue *v, double *out) {
    if (!v || v->type != JSON_NUMBER) return 0;
    *out = v->number;
    return 1;
}

int json_as_bool(const JsonValue *v, int *out) {
    if (!v || v->type != JSON_BOOL) return 0;
    *out = v->boolean;
    return 1;
}

const char *json_as_string(const JsonValue *v) { return (v && v->type == JSON_STRING) ? v->string : NULL; }

int json_escape_byte(unsigned char c, char e[6]) {
    if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; return 2; }
    if (c < 0x20) {
        static const char hex[] = "0123456789abcdef";
        memcpy(e, "\\u00", 4);
        e[4] = hex[c >> 4]; e[5] = hex[c & 15];
        return 6;
    }
    e[0] = (char)c;
    return 1;
}

void json_escape(const char *s, char *out, size_t cap) {
    size_t n = 0;
    char e[6];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int k = json_escape_byte(*p, e);
        if (n + (size_t)k + 1 > cap) break;
        memcpy(out + n, e, (size_t)k);
        n += (size_t)k;
    }
    if (cap) out[n] = 0;
}

void json_write_str(FILE *fp, const char *s) {
    char e[6];
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) fwrite(e, 1, (size_t)json_escape_byte(*p, e), fp);
    fputc('"', fp);
}
