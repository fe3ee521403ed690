// tests/fuzz/fuzz_json.c — libFuzzer harness for core/json.c: json_parse on arbitrary bytes
// (config.json, safetensors headers, index files all go through it); a parsed tree is walked with
// every accessor. Seeds: the assets' config.json, safetensors headers, tests/fixtures.
#include "tests/fuzz/fuzz_util.h"
#include "core/json.h"

// Touch every node through the public accessors (the tree must be self-consistent).
static void walk(const JsonValue *v, int depth) {
    int64_t i64;
    double d;
    int b;
    if (!v || depth > JSON_MAX_DEPTH + 1) abort();
    (void)json_type_name(v->type);
    (void)json_as_int64(v, &i64);
    (void)json_as_double(v, &d);
    (void)json_as_bool(v, &b);
    const char *s = json_as_string(v);
    if (s) (void)strlen(s);
    if (v->type == JSON_ARRAY)
        for (size_t i = 0; i < v->n; i++) walk(json_at(v, i), depth + 1);
    if (v->type == JSON_OBJECT)
        for (size_t i = 0; i < v->n; i++) {
            if (json_get(v, v->keys[i]) != &v->items[i]) abort();  // keys are unique
            walk(&v->items[i], depth + 1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    JsonValue *v = NULL;
    qp_status st = {0};
    if (json_parse((const char *)data, size, "fuzz.json", &v, &st) == 0) {
        if (!v || st.failed) abort();
        walk(v, 0);
        json_free(v);
    } else if (v || !st.failed || !st.msg[0] || strchr(st.msg, '\n')) {
        abort();  // a failure must leave *out NULL and give exactly one line
    }
    return 0;
}
