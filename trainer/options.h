// trainer/options.h — table-driven command-line options for every verb: parsing with clear
// errors (unknown flag, missing or malformed value, out of range), and --help generated from
// the same table, so help and docs/cli.md cannot drift (tests/test_cli.sh checks the doc).
#ifndef QP_TRAINER_OPTIONS_H
#define QP_TRAINER_OPTIONS_H

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG } opt_type;

typedef struct {
    const char *name;   // "--rank"
    opt_type type;
    void *dst;          // char** / int* / double* / int* (flag)
    const char *def;    // default as text (NULL = none / required-by-verb logic)
    const char *help;   // one line
    double min, max;    // numeric range (min > max: unchecked)
    int seen;           // set by the parser
} qp_opt;

// Parse argv[first..argc) against opts; applies defaults first. Dies with
// "qpeft VERB: ..." on any error; prints help and exits 0 on --help.
void opts_parse(const char *verb, const char *synopsis, qp_opt *opts, int n, int argc, char **argv, int first);
void opts_print_help(const char *verb, const char *synopsis, const qp_opt *opts, int n);
// Was option `name` (e.g. "--dropout") given on the command line? name must be in the table (an
// always-on assert: a misspelt name is a programming error, not a user's).
int opts_seen(const qp_opt *opts, int n, const char *name);
// Comma-separated list helpers (die with the option name on malformed items).
int opts_split_ints(const char *opt, const char *s, int *out, int max);
int opts_split_doubles(const char *opt, const char *s, double *out, int max);
int opts_split_strs(const char *opt, char *s, char **out, int max);  // modifies s
#endif
