// core/json.h — a small strict JSON (RFC 8259) parser into a tree, for config.json, the
// safetensors header and model.safetensors.index.json. Tested by tests/test_loaders.c.
// Strict: no comments, no trailing commas, no leading zeros, no raw control characters or
// invalid UTF-8 in strings, no duplicate keys in an object, nesting at most JSON_MAX_DEPTH,
// nothing but whitespace after the value. Errors give the byte offset, line and column.
#ifndef QP_CORE_JSON_H
#define QP_CORE_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/status.h"

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT, JSON_COUNT } json_type;

typedef struct JsonValue JsonValue;
struct JsonValue {
    json_type type;
    int boolean;        // JSON_BOOL
    double number;      // JSON_NUMBER (strtod of the literal)
    int is_int;         // JSON_NUMBER: literal had no fraction/exponent and fits int64
    int64_t integer;    // ... its exact value
    char *string;       // JSON_STRING: decoded UTF-8, NUL-terminated (\u0000 is rejected)
    size_t n;           // JSON_ARRAY / JSON_OBJECT: number of elements / members
    JsonValue *items;   // elements, or member values
    char **keys;        // JSON_OBJECT: member keys (decoded), parallel to items
    size_t offset;      // byte offset of the value in the source text
};

// Parse text[0..len) (need not be NUL-terminated). `what` names the source for messages:
// "<what>: invalid JSON at byte N (line L, column C): expected ..., found ...". Returns 0 with
// *out set (free with json_free), or -1 with st filled and *out = NULL.
int json_parse(const char *text, size_t len, const char *what, JsonValue **out, qp_status *st);
void json_free(JsonValue *v);

const char *json_type_name(json_type t);  // "null", "bool", "number", "string", "array", "object"
// Member of an object by key (NULL when v is not an object or has no such key).
const JsonValue *json_get(const JsonValue *obj, const char *key);
// Element i of an array (NULL when out of range or v is not an array).
const JsonValue *json_at(const JsonValue *arr, size_t i);
// Typed accessors: return 1 and set *out when v has that type, else 0 (v may be NULL).
// json_as_int64 accepts integer literals only (so 1.0 and 1e3 are not integers).
int json_as_int64(const JsonValue *v, int64_t *out);
int json_as_double(const JsonValue *v, double *out);
int json_as_bool(const JsonValue *v, int *out);
const char *json_as_string(const JsonValue *v);  // NULL unless a string

// ---- writing: the one JSON string escaper --------------------------------------------------
// Byte c as it appears inside a JSON string: \" and \\ for quote and backslash, \u00XX for a
// control character (RFC 8259 requires these), else c itself. Writes e, returns 1, 2 or 6.
int json_escape_byte(unsigned char c, char e[6]);
// s as a JSON string body (no quotes) into out[cap], NUL-terminated; stops at the last whole
// escape that fits.
void json_escape(const char *s, char *out, size_t cap);
// s as a JSON string literal, quotes included, on fp.
void json_write_str(FILE *fp, const char *s);
#endif
