// trainer/options.c — option parsing and --help for the CLI verbs. Tested by tests/test_cli.sh
// (unknown/malformed/out-of-range options, help vs docs/cli.md).
#include "trainer/options.h"
#include "core/check.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_int(const char *s, int *out) {
    char *end; errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) return 0;
    *out = (int)v;
    return 1;
}

static int parse_double(const char *s, double *out) {
    char *end; errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

static void set_value(const char *verb, qp_opt *o, const char *val) {
    double d = 0;
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = val; return;
    case OPT_FLAG: *(int *)o->dst = 1; return;
    case OPT_INT: {
        int v;
        if (!parse_int(val, &v)) qp_die("qpeft %s: %s expects an integer, got '%s'", verb, o->name, val);
        *(int *)o->dst = v; d = v;
        break;
    }
    case OPT_FLOAT:
        if (!parse_double(val, &d)) qp_die("qpeft %s: %s expects a number, got '%s'", verb, o->name, val);
        *(double *)o->dst = d;
        break;
    }
    if (o->min <= o->max && (d < o->min || d > o->max))
        qp_die("qpeft %s: %s must be in [%g, %g], got %s", verb, o->name, o->min, o->max, val);
}

void opts_print_help(const char *verb, const char *synopsis, const qp_opt *opts, int n) {
    printf("usage: qpeft %s %s\n\noptions:\n", verb, synopsis);
    for (int i = 0; i < n; i++) {
        const qp_opt *o = &opts[i];
        const char *arg = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : o->type == OPT_INT ? " N" : " X";
        char left[64];
        snprintf(left, sizeof left, "%s%s", o->name, arg);
        printf("  %-24s %s", left, o->help);
        if (o->def) printf(" (default %s)", o->def);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

void opts_parse(const char *verb, const char *synopsis, qp_opt *opts, int n, int argc, char **argv, int first) {
    for (int i = 0; i < n; i++) {
        opts[i].seen = 0;
        if (opts[i].def && opts[i].type != OPT_FLAG) set_value(verb, &opts[i], opts[i].def);
        else if (opts[i].type == OPT_FLAG) *(int *)opts[i].dst = 0;
    }
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) { opts_print_help(verb, synopsis, opts, n); exit(0); }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        qp_opt *o = NULL;
        for (int i = 0; i < n; i++)
            if (strlen(opts[i].name) == len && !strncmp(opts[i].name, arg, len)) { o = &opts[i]; break; }
        if (!o) {
            if (arg[0] != '-') qp_die("qpeft %s: unexpected argument '%s' (options start with --)", verb, arg);
            qp_die("qpeft %s: unknown option '%.*s' (see 'qpeft %s --help')", verb, (int)len, arg, verb);
        }
        if (o->seen) qp_die("qpeft %s: %s given twice", verb, o->name);
        o->seen = 1;
        if (o->type == OPT_FLAG) {
            if (eq) qp_die("qpeft %s: %s takes no value", verb, o->name);
            set_value(verb, o, NULL);
            continue;
        }
        const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!val) qp_die("qpeft %s: %s needs a value", verb, o->name);
        set_value(verb, o, val);
    }
}

int opts_split_ints(const char *opt, const char *s, int *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char buf[64]; size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof buf) qp_die("%s: malformed list '%s'", opt, s);
        memcpy(buf, p, len); buf[len] = 0;
        if (n >= max) qp_die("%s: more than %d items in '%s'", opt, max, s);
        if (!parse_int(buf, &out[n])) qp_die("%s: '%s' is not an integer (in '%s')", opt, buf, s);
        n++; p += len; if (*p == ',') p++;
    }
    if (n == 0) qp_die("%s: empty list", opt);
    return n;
}

int opts_split_doubles(const char *opt, const char *s, double *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char buf[64]; size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof buf) qp_die("%s: malformed list '%s'", opt, s);
        memcpy(buf, p, len); buf[len] = 0;
        if (n >= max) qp_die("%s: more than %d items in '%s'", opt, max, s);
        if (!parse_double(buf, &out[n])) qp_die("%s: '%s' is not a number (in '%s')", opt, buf, s);
        n++; p += len; if (*p == ',') p++;
    }
    if (n == 0) qp_die("%s: empty list", opt);
    return n;
}

int opts_split_strs(const char *opt, char *s, char **out, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n >= max) qp_die("%s: more than %d items", opt, max);
        out[n++] = tok;
    }
    if (n == 0) qp_die("%s: empty list", opt);
    return n;
}

int opts_seen(const qp_opt *opts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(opts[i].name, name)) return opts[i].seen;
    QP_ASSERT(!"opts_seen: option not in the table");
    return 0;
}
