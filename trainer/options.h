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

// ---- option rows shared by verbs ------------------------------------------------------------
// A flag more than one verb takes is declared once here (name, type, default, limits, help), so
// the verbs cannot drift apart; a verb lists it in its table as OPT_ROW_X(&variable), or
// OPT_ROW_X_H(&variable, "help") where the flag means something verb-specific. To add a flag:
// a verb-only flag is one row in that verb's table; a shared one is one #define here plus
// OPT_ROW_X(...) in each verb's table (and its field in the verb's settings struct).
#define OPT_HELP_MODEL "model: llama2.c .bin, HF directory or qpeft model file"
#define OPT_ROW_MODEL_H(dst, help) {"--model", OPT_STR, (dst), NULL, (help), 1, 0, 0}
#define OPT_ROW_MODEL(dst) OPT_ROW_MODEL_H(dst, OPT_HELP_MODEL)
#define OPT_ROW_TOKENIZER_H(dst, help) {"--tokenizer", OPT_STR, (dst), NULL, (help), 1, 0, 0}
#define OPT_ROW_TOKENIZER(dst) OPT_ROW_TOKENIZER_H(dst, "tokenizer.json or SentencePiece .model (default: beside the model)")
// Block sizes: quant_format_check refuses any the format does not allow; this is only the outer bound.
#define OPT_ROW_BLOCK_H(dst, help) {"--block", OPT_INT, (dst), "0", (help), 0, 1 << 20, 0}
#define OPT_ROW_DOUBLE_QUANT_H(dst, help) {"--double-quant", OPT_FLAG, (dst), NULL, (help), 1, 0, 0}
#define OPT_ROW_LOFTQ_ITERS_H(dst, help) {"--loftq-iters", OPT_INT, (dst), "5", (help), 1, 1000, 0}
#define OPT_ROW_THREADS_H(dst, help) {"--threads", OPT_INT, (dst), "0", (help), 0, 1024, 0}
#define OPT_ROW_SEED_H(dst, help) {"--seed", OPT_INT, (dst), "42", (help), 0, 2147483647, 0}
#define OPT_ROW_CALIB_TEXT_H(dst, help) {"--calib-text", OPT_STR, (dst), NULL, (help), 1, 0, 0}
#define OPT_ROW_CALIB_STATS_H(dst, help) {"--calib-stats", OPT_STR, (dst), NULL, (help), 1, 0, 0}

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
