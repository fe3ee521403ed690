// trainer/cmd_compare.c — `qpeft compare`: sweep adapter initialisations × formats × ranks ×
// seeds × learning rates on one task, as child `qpeft train` processes (several at once within
// the core budget), then write results.csv, summary.md (the QERA paper's Table 1 shape) and
// gnuplot PNGs (loss and dev metric against step per method — Figure 2; output error before
// training against rank per method — Figure 1, from `qpeft error`). A killed sweep restarts
// where it stopped: a run counts as done when its row is in results.csv.
// With --adapter-quant none,same each run is also trained with QER's quantized adapters, and with
// --merge each finished run's best.h5 is merged into a model.qm at the base's own format
// (requant: dequantize, add s·B·A, re-quantize; lossless: QER's merge on codes) and that file is
// scored by `qpeft eval`, so "fp adapters + requant merge vs QER lossless merge" is one command;
// the post-merge metrics and file sizes are extra CSV columns and a second summary table.
// Tested by tests/test_compare.sh.
#include "core/check.h"
#include "core/progress.h"
#include "quant/qer.h"
#include "quant/quant.h"
#include "trainer/options.h"
#include "trainer/session.h"
#include "trainer/verbs.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { MAX_LIST = 16, MAX_RUNS = 4096 };

typedef struct {
    const char *model, *tok, *task, *data, *text, *formats, *ranks, *inits, *seeds, *lrs, *calib_text, *calib_stats;
    const char *out, *extra, *error_ranks, *adapter_quants, *merge;
    int epochs, max_steps, jobs, threads, batch, block, eval_every, evals;
    int merge_requant, merge_lossless;  // from --merge
    double dropout;                     // --dropout of the fp-adapter runs, when given (dropout_set)
    int dropout_set;
} CompareFlags;

typedef struct {
    char method[32], format[32], aq[8];  // aq: --adapter-quant of the run, "none" | "same"
    int rank, seed;
    double lr;
    char dir[1200];
    pid_t pid;
    double t0;
} Run;

typedef struct {   // one row of results.csv
    char task[64], method[32], format[32], metric_name[32], aq[8];
    double bits, lr, metric, seconds;
    int rank, seed;
    long best_step;
    // --merge: `qpeft eval` of best.h5 (the unmerged model, same evaluation as the merged ones) and
    // of each merged model.qm, with its size in bytes; NAN / 0 when not done
    double unmerged, requant, lossless;
    long long requant_bytes, lossless_bytes;
} Row;

// The first 11 columns are the original header (files written before --merge hold only those;
// they are read as adapter_quant none, no merges, and rewritten with the full header).
static const char *HEADER_V1 = "task,method,format,bits_per_weight,rank,seed,lr,metric_name,metric,best_step,seconds";
static const char *HEADER = "task,method,format,bits_per_weight,rank,seed,lr,metric_name,metric,best_step,seconds,"
                            "adapter_quant,unmerged_metric,requant_metric,requant_bytes,lossless_metric,lossless_bytes";

// ---- results.csv ------------------------------------------------------------------------------

static void row_no_merges(Row *r) {
    snprintf(r->aq, sizeof r->aq, "none");
    r->unmerged = r->requant = r->lossless = NAN;
    r->requant_bytes = r->lossless_bytes = 0;
}

// *old_format: the file has the original 11-column header (rewritten in full on the next save).
static int read_rows(const char *path, Row *rows, int cap, int *old_format) {
    *old_format = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[1024];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        if (lineno == 1) {
            line[strcspn(line, "\r\n")] = 0;
            if (!strcmp(line, HEADER_V1)) *old_format = 1;
            else if (strcmp(line, HEADER)) qp_die("%s: unexpected header (not a qpeft compare results file)", path);
            continue;
        }
        if (n >= cap) qp_die("%s: more than %d rows", path, cap);
        Row *r = &rows[n];
        row_no_merges(r);
        int got = sscanf(line, "%63[^,],%31[^,],%31[^,],%lf,%d,%d,%lf,%31[^,],%lf,%ld,%lf,%7[^,],%lf,%lf,%lld,%lf,%lld", r->task,
                         r->method, r->format, &r->bits, &r->rank, &r->seed, &r->lr, r->metric_name, &r->metric, &r->best_step,
                         &r->seconds, r->aq, &r->unmerged, &r->requant, &r->requant_bytes, &r->lossless, &r->lossless_bytes);
        int want = *old_format ? 11 : 17;
        if (got != want) qp_die("%s:%d: malformed row (expected %d comma-separated fields)", path, lineno, want);
        if (adapter_quant_parse(r->aq) < 0)
            qp_die("%s:%d: adapter_quant '%s': expected none or same", path, lineno, r->aq);
        n++;
    }
    fclose(fp);
    return n;
}

// Rewrite results.csv whole: a temporary file, fsync, rename — a kill leaves the old or the new
// file, whole rows only. (nan is how printf writes, and sscanf reads, a metric not measured.)
static void write_rows(const char *path, const Row *rows, int n) {
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = xfopen(tmp, "w");
    fprintf(fp, "%s\n", HEADER);
    for (int i = 0; i < n; i++) {
        const Row *r = &rows[i];
        fprintf(fp, "%s,%s,%s,%.4f,%d,%d,%g,%s,%.6f,%ld,%.1f,%s,%.6f,%.6f,%lld,%.6f,%lld\n", r->task, r->method, r->format,
                r->bits, r->rank, r->seed, r->lr, r->metric_name, r->metric, r->best_step, r->seconds, r->aq, r->unmerged,
                r->requant, r->requant_bytes, r->lossless, r->lossless_bytes);
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) qp_die("%s: write failed: %s", tmp, strerror(errno));
    xfclose(fp, tmp);
    if (rename(tmp, path) != 0) qp_die("%s: cannot rename into place: %s", path, strerror(errno));
}

static int find_row(const Row *rows, int n, const char *task, const Run *run) {
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].task, task) && !strcmp(rows[i].method, run->method) && !strcmp(rows[i].format, run->format) &&
            !strcmp(rows[i].aq, run->aq) && rows[i].rank == run->rank && rows[i].seed == run->seed &&
            fabs(rows[i].lr - run->lr) <= 1e-12 * run->lr)
            return i;
    return -1;
}

// Does the row still lack a merge that --merge asks for?
static int row_needs_merge(const CompareFlags *f, const Row *r) {
    return (f->merge_requant && isnan(r->requant)) || (f->merge_lossless && isnan(r->lossless));
}

// ---- child processes --------------------------------------------------------------------------

static pid_t spawn(char **argv, const char *log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) qp_die("cannot start a child qpeft: %s", strerror(rc));
    return pid;
}

// Run a child to completion; dies with its last log line if it fails.
static int child_ok(char **argv, const char *log_path) {
    pid_t pid = spawn(argv, log_path);
    int status;
    if (waitpid(pid, &status, 0) < 0) qp_die("waitpid: %s", strerror(errno));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
static void run_child(char **argv, const char *log_path, const char *what) {
    if (!child_ok(argv, log_path)) qp_die("%s failed; see %s", what, log_path);
}

typedef struct { char *v[96]; int n; char store[96][1200]; } ArgList;

static void arg(ArgList *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(ArgList *a, const char *fmt, ...) {
    QP_ASSERT(a->n < 94);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->store[a->n], sizeof a->store[a->n], fmt, ap);
    va_end(ap);
    a->v[a->n] = a->store[a->n];
    a->v[++a->n] = NULL;
}

// --model (the base, or a merged model.qm) and the tokenizer and data flags every child shares.
static void data_args(ArgList *a, const CompareFlags *f, const char *model) {
    arg(a, "--model"); arg(a, "%s", model);
    if (f->tok) { arg(a, "--tokenizer"); arg(a, "%s", f->tok); }
    if (f->task) { arg(a, "--task"); arg(a, "%s", f->task); }
    if (f->data) { arg(a, "--data"); arg(a, "%s", f->data); }
    if (f->text) { arg(a, "--text"); arg(a, "%s", f->text); }
}

static void train_args(ArgList *a, const CompareFlags *f, const Run *r, const char *stats, int threads) {
    arg(a, "qpeft"); arg(a, "train"); data_args(a, f, f->model);
    arg(a, "--format"); arg(a, "%s", r->format);
    if (f->block) { arg(a, "--block"); arg(a, "%d", f->block); }
    arg(a, "--init"); arg(a, "%s", r->method);
    arg(a, "--rank"); arg(a, "%d", r->rank);
    arg(a, "--seed"); arg(a, "%d", r->seed);
    arg(a, "--lr"); arg(a, "%g", r->lr);
    if (!strcmp(r->aq, "same")) { arg(a, "--adapter-quant"); arg(a, "same"); }  // trains without dropout
    else if (f->dropout_set) { arg(a, "--dropout"); arg(a, "%g", f->dropout); }
    arg(a, "--batch"); arg(a, "%d", f->batch);
    arg(a, "--threads"); arg(a, "%d", threads);
    if (f->max_steps) { arg(a, "--max-steps"); arg(a, "%d", f->max_steps); }
    else { arg(a, "--epochs"); arg(a, "%d", f->epochs); }
    // The dev-metric figure needs points along the run, not only the final evaluation.
    if (f->eval_every) { arg(a, "--eval-every"); arg(a, "%d", f->eval_every); }
    else if (f->evals) { arg(a, "--evals"); arg(a, "%d", f->evals); }
    if (stats) { arg(a, "--calib-stats"); arg(a, "%s", stats); }
    arg(a, "--out"); arg(a, "%s", r->dir);
    arg(a, "--quiet");
}

// Best (main metric) eval of a finished run, from its log.jsonl. LM runs: the lowest loss.
static void read_result(const Run *r, int lm, Row *row) {
    char path[1300];
    snprintf(path, sizeof path, "%s/log.jsonl", r->dir);
    FILE *fp = xfopen(path, "r");
    char line[4096];
    const char *key = NULL;
    row->best_step = -1;
    while (fgets(line, sizeof line, fp)) {
        char *ev = strstr(line, "\"eval\"");
        if (!ev) continue;
        long step = atol(strstr(line, "\"step\": ") + 8);
        static const char *keys[] = {"mcc", "pearson", "accuracy"};
        const char *k = NULL;
        if (lm) k = "loss";
        else
            for (int i = 0; i < 3 && !k; i++) {
                char pat[64];
                snprintf(pat, sizeof pat, "\"%s\": ", keys[i]);
                if (strstr(ev, pat)) k = keys[i];
            }
        if (!k) continue;
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\": ", k);
        double v = atof(strstr(ev, pat) + strlen(pat));
        int better = row->best_step < 0 || (lm ? v < row->metric : v > row->metric);
        if (better) { row->metric = v; row->best_step = step; key = k; }
    }
    fclose(fp);
    if (!key) qp_die("%s: no evaluation found", path);
    snprintf(row->metric_name, sizeof row->metric_name, "%s", key);
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    char *cfg = qp_read_file(path, NULL);
    const char *b = strstr(cfg, "\"bits_per_weight\": ");
    row->bits = b ? atof(b + 19) : 0;
    free(cfg);
}

// ---- --merge: merged model.qm files and their evaluation ---------------------------------------

// The dev metric `qpeft eval` reports for a checkpoint (ckpt non-NULL, over the base model) or a
// model file alone, in the training run's own evaluation (same task, split and batch), read from
// the last JSON line of its log. key: the row's metric name ("accuracy", "mcc", ..., "loss").
// NAN (with a warning) when the evaluation fails: the row keeps asking for it on the next run.
static double eval_metric(const CompareFlags *f, const char *model, const char *ckpt, const char *key, const char *log,
                          int threads) {
    ArgList a = {0};
    arg(&a, "qpeft"); arg(&a, "eval"); data_args(&a, f, model);
    if (ckpt) { arg(&a, "--checkpoint"); arg(&a, "%s", ckpt); }
    arg(&a, "--batch"); arg(&a, "%d", f->batch);
    arg(&a, "--threads"); arg(&a, "%d", threads);
    arg(&a, "--quiet");
    if (!child_ok(a.v, log)) {
        qp_warn("qpeft eval of %s failed (see %s)", ckpt ? ckpt : model, log);
        return NAN;
    }
    FILE *fp = xfopen(log, "r");
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, fp))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    fclose(fp);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(last, pat);
    if (!p) { qp_warn("%s: no %s in the evaluation's last line", log, key); return NAN; }
    return atof(p + strlen(pat));
}

// Merge a finished run's best.h5 into <run>/merged-<kind>/model.qm (kept across restarts: the
// merge writes its directory atomically) and score it, plus the unmerged checkpoint once. Only
// the merges --merge asks for that the row still lacks are made; a failed merge or evaluation is
// a warning and stays missing (nan), to be retried by the next run of the same command.
static void merge_run(const CompareFlags *f, const Run *r, Row *row, int threads) {
    char ckpt[1300], log[1400];
    snprintf(ckpt, sizeof ckpt, "%s/best.h5", r->dir);
    if (isnan(row->unmerged)) {
        snprintf(log, sizeof log, "%s/eval-unmerged.log", r->dir);
        row->unmerged = eval_metric(f, f->model, ckpt, row->metric_name, log, threads);
    }
    for (int kind = 0; kind < 2; kind++) {
        const char *name = kind ? "lossless" : "requant";
        double *metric = kind ? &row->lossless : &row->requant;
        long long *bytes = kind ? &row->lossless_bytes : &row->requant_bytes;
        if (!(kind ? f->merge_lossless : f->merge_requant) || !isnan(*metric)) continue;
        char dir[1300], qm[1400];
        snprintf(dir, sizeof dir, "%s/merged-%s", r->dir, name);
        snprintf(qm, sizeof qm, "%s/model.qm", dir);
        if (access(qm, F_OK) != 0) {
            ArgList a = {0};
            arg(&a, "qpeft"); arg(&a, "merge");
            arg(&a, "--model"); arg(&a, "%s", f->model);
            if (f->tok) { arg(&a, "--tokenizer"); arg(&a, "%s", f->tok); }
            arg(&a, "--checkpoint"); arg(&a, "%s", ckpt);
            arg(&a, "--out"); arg(&a, "%s", dir);
            if (kind) arg(&a, "--lossless");
            else {
                arg(&a, "--requant"); arg(&a, "%s", r->format);
                if (f->block) { arg(&a, "--block"); arg(&a, "%d", f->block); }
            }
            arg(&a, "--threads"); arg(&a, "%d", threads);
            arg(&a, "--quiet");
            snprintf(log, sizeof log, "%s/merge-%s.log", r->dir, name);
            if (!child_ok(a.v, log)) {
                qp_warn("qpeft merge --%s of %s failed (see %s)", name, ckpt, log);
                continue;
            }
        }
        snprintf(log, sizeof log, "%s/eval-%s.log", r->dir, name);
        *metric = eval_metric(f, qm, NULL, row->metric_name, log, threads);
        *bytes = qp_file_size(qm);
    }
}

// ---- summary.md -------------------------------------------------------------------------------

typedef struct { double mean, std, lr; int n; } Cell;

// One table line / plot series: an init method trained with one --adapter-quant.
typedef struct {
    char method[32], aq[8];
    char label[64];  // "qlora", or "qlora (adapter-quant same)"
    char tag[48];    // in file names: "qlora", or "qlora-aqsame"
} Variant;

static int variant_row(const Variant *v, const Row *r, const char *format, int rank) {
    return !strcmp(r->method, v->method) && !strcmp(r->aq, v->aq) && !strcmp(r->format, format) && r->rank == rank;
}

// Columns a summary cell averages: the run's own metric, then the --merge ones.
enum { COL_METRIC, COL_UNMERGED, COL_REQUANT, COL_LOSSLESS };

static double row_value(const Row *r, int col) {
    return col == COL_METRIC ? r->metric : col == COL_UNMERGED ? r->unmerged : col == COL_REQUANT ? r->requant : r->lossless;
}

// Mean ± sample std of column col over the rows of (variant, format, rank) at learning rate lr.
// A merge column skips the runs whose merge is missing (nan); the run's metric is always there.
static Cell lr_cell(const Row *rows, int n, const Variant *v, const char *format, int rank, double lr, int col) {
    double s = 0, s2 = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!variant_row(v, &rows[i], format, rank) || rows[i].lr != lr) continue;
        double x = row_value(&rows[i], col);
        if (col != COL_METRIC && isnan(x)) continue;
        s += x; s2 += x * x; k++;
    }
    Cell c = {NAN, NAN, lr, k};
    if (k) {
        c.mean = s / k;
        double var = k > 1 ? (s2 - k * c.mean * c.mean) / (k - 1) : 0;
        c.std = sqrt(var > 0 ? var : 0);
    }
    return c;
}

// Mean ± std over seeds at the learning rate with the best mean, for one (variant, format, rank).
static Cell best_cell(const Row *rows, int n, const Variant *v, const char *format, int rank, int lower_better) {
    Cell best = {NAN, NAN, 0, 0};
    for (int i = 0; i < n; i++) {
        if (!variant_row(v, &rows[i], format, rank)) continue;
        Cell c = lr_cell(rows, n, v, format, rank, rows[i].lr, COL_METRIC);
        if (best.n == 0 || (lower_better ? c.mean < best.mean : c.mean > best.mean)) best = c;
    }
    return best;
}

// Size of the merged file of a merge column over the same rows (0 if none was written).
static long long merge_bytes(const Row *rows, int n, const Variant *v, const char *format, int rank, double lr, int col) {
    long long bytes = 0;
    for (int i = 0; i < n; i++) {
        if (!variant_row(v, &rows[i], format, rank) || rows[i].lr != lr) continue;
        if (col == COL_REQUANT && rows[i].requant_bytes) bytes = rows[i].requant_bytes;
        if (col == COL_LOSSLESS && rows[i].lossless_bytes) bytes = rows[i].lossless_bytes;
    }
    return bytes;
}

static void write_summary(const char *path, const Row *rows, int n, const Variant *vs, int nv, char **formats, int nf,
                          const int *ranks, int nr, const char *task) {
    int lower = n > 0 && !strcmp(rows[0].metric_name, "loss");
    FILE *fp = xfopen(path, "w");
    fprintf(fp, "# qpeft compare: %s\n\nMain metric: **%s** on the dev split (%s is better), mean ± std over seeds at the "
            "learning rate with the best mean (shown in brackets). Bold: best method per format and rank.\n\n",
            task, n ? rows[0].metric_name : "?", lower ? "lower" : "higher");
    fprintf(fp, "| method | format | bits/weight | rank | %s |\n|---|---|---|---|---|\n", task);
    int any_merge = 0;
    for (int i = 0; i < n; i++) any_merge |= !isnan(rows[i].unmerged);
    for (int f = 0; f < nf; f++)
        for (int r = 0; r < nr; r++) {
            int best = -1;
            Cell cells[2 * MAX_LIST];
            for (int m = 0; m < nv; m++) {
                cells[m] = best_cell(rows, n, &vs[m], formats[f], ranks[r], lower);
                if (cells[m].n && (best < 0 || (lower ? cells[m].mean < cells[best].mean : cells[m].mean > cells[best].mean)))
                    best = m;
            }
            double bits = 0;
            for (int i = 0; i < n; i++) if (!strcmp(rows[i].format, formats[f])) bits = rows[i].bits;
            for (int m = 0; m < nv; m++) {
                if (!cells[m].n) { fprintf(fp, "| %s | %s | %.3f | %d | (not run) |\n", vs[m].label, formats[f], bits, ranks[r]); continue; }
                const char *b = m == best ? "**" : "";
                fprintf(fp, "| %s | %s | %.3f | %d | %s%.4f ± %.4f%s [lr %g, n=%d] |\n", vs[m].label, formats[f], bits, ranks[r], b,
                        cells[m].mean, cells[m].std, b, cells[m].lr, cells[m].n);
            }
        }
    if (any_merge) {
        fprintf(fp, "\n## After merging (--merge)\n\nEach run's best.h5 merged into a model.qm in its base's format and "
                "scored by `qpeft eval` on the dev split, %s, mean ± std over the seeds at the learning rate of the table above. "
                "unmerged: the checkpoint itself in the same evaluation (not deployable at the base's bits when its adapters "
                "are fp32); requant: `merge --requant FORMAT` (dequantize, add s·B·A, re-quantize); lossless: `merge "
                "--lossless` (QER's merge on codes). A run with adapter-quant same is the quantized-adapter model, so its "
                "lossless merge scores exactly its unmerged value.\n\n", rows[0].metric_name);
        fprintf(fp, "| method | format | bits/weight | rank | unmerged | requant merge | lossless merge | merged .qm bytes |\n"
                    "|---|---|---|---|---|---|---|---|\n");
        for (int f = 0; f < nf; f++)
            for (int r = 0; r < nr; r++)
                for (int m = 0; m < nv; m++) {
                    Cell c = best_cell(rows, n, &vs[m], formats[f], ranks[r], lower);
                    if (!c.n) continue;
                    double bits = 0;
                    for (int i = 0; i < n; i++) if (!strcmp(rows[i].format, formats[f])) bits = rows[i].bits;
                    fprintf(fp, "| %s | %s | %.3f | %d |", vs[m].label, formats[f], bits, ranks[r]);
                    long long bytes[3], shown = 0;
                    for (int col = 0; col < 3; col++) {
                        Cell mc = lr_cell(rows, n, &vs[m], formats[f], ranks[r], c.lr, COL_UNMERGED + col);
                        bytes[col] = merge_bytes(rows, n, &vs[m], formats[f], ranks[r], c.lr, COL_UNMERGED + col);
                        if (mc.n) fprintf(fp, " %.4f ± %.4f [n=%d] |", mc.mean, mc.std, mc.n);
                        else fprintf(fp, " - |");
                    }
                    if (bytes[1] && bytes[2] && bytes[1] != bytes[2]) fprintf(fp, " %lld / %lld |\n", bytes[1], bytes[2]);
                    else {
                        shown = bytes[2] ? bytes[2] : bytes[1];
                        if (shown) fprintf(fp, " %lld |\n", shown);
                        else fprintf(fp, " - |\n");
                    }
                }
    }
    fclose(fp);
}

// ---- plots ------------------------------------------------------------------------------------

// Extract "step value" pairs of one field from a run's log.jsonl (training or eval lines).
static int write_series(const char *log, const char *dat, const char *field, int eval) {
    FILE *in = fopen(log, "r");
    if (!in) return 0;
    FILE *out = xfopen(dat, "w");
    char line[4096], pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", field);
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        const char *ev = strstr(line, "\"eval\"");
        if (eval != (ev != NULL)) continue;
        const char *p = strstr(ev ? ev : line, pat);
        if (!p) continue;
        fprintf(out, "%ld %.6g\n", atol(strstr(line, "\"step\": ") + 8), atof(p + strlen(pat)));
        n++;
    }
    fclose(in);
    fclose(out);
    return n;
}

// Run gnuplot on a script inside the output directory (the scripts use relative file names,
// so a user can re-run them there after restyling).
static void gnuplot(const char *gp_path) {
    char cmd[3000];
    const char *slash = strrchr(gp_path, '/');
    int dir_len = slash ? (int)(slash - gp_path) : 1;
    snprintf(cmd, sizeof cmd, "cd '%.*s' && gnuplot '%s' 2>&1", dir_len, slash ? gp_path : ".", slash ? slash + 1 : gp_path);
    int rc = system(cmd);
    if (rc != 0) qp_warn("gnuplot failed on %s (is gnuplot-nox installed? `make deps`)", gp_path);
}

static void plot_header(FILE *fp, const char *png, const char *title, const char *xl, const char *yl) {
    fprintf(fp, "set terminal pngcairo size 900,600 enhanced font 'Sans,11'\nset output '%s'\n", png);
    fprintf(fp, "set title \"%s\" noenhanced\nset xlabel \"%s\" noenhanced\nset ylabel \"%s\" noenhanced\n"
            "set key outside right noenhanced\nset grid\n", title, xl, yl);
}

// The run directory of a grid point (the adapter-quant same runs get a suffix; the others keep
// the names of sweeps made before the option).
static void run_dir(char *buf, size_t cap, const char *runs_dir, const char *method, const char *format, int rank, int seed,
                    double lr, const char *aq) {
    int n = snprintf(buf, cap, "%s/%s_%s_r%d_s%d_lr%g%s", runs_dir, method, format, rank, seed, lr,
                     strcmp(aq, "same") ? "" : "_aqsame");
    if (n < 0 || (size_t)n >= cap) qp_die("%s: run directory name too long", runs_dir);
}

// Figure 2: training loss and dev metric against step, one series per method (first seed, best lr).
static void plot_curves(const char *out, const Row *rows, int n, const Variant *vs, int nv, const char *format, int rank,
                        int seed, const char *metric, const char *task) {
    int lower = !strcmp(metric, "loss");
    const char *kinds[2] = {"loss", metric};
    char runs[1200];
    snprintf(runs, sizeof runs, "%s/runs", out);
    for (int kind = 0; kind < 2; kind++) {
        char gp[1300], png[300];
        snprintf(png, sizeof png, "%s_%s_r%d.png", kind ? "dev" : "train_loss", format, rank);
        snprintf(gp, sizeof gp, "%s/%s_%s_r%d.gp", out, kind ? "dev" : "train_loss", format, rank);
        FILE *fp = xfopen(gp, "w");
        char title[256];
        snprintf(title, sizeof title, "%s: %s, %s rank %d (seed %d, best lr per method)", task,
                 kind ? metric : "training loss", format, rank, seed);
        plot_header(fp, png, title, "step", kind ? metric : "training loss");
        fprintf(fp, "plot");
        int first = 1;
        for (int m = 0; m < nv; m++) {
            Cell c = best_cell(rows, n, &vs[m], format, rank, lower);
            if (!c.n) continue;
            char dir[1300], log[1400], dat[1300];
            run_dir(dir, sizeof dir, runs, vs[m].method, format, rank, seed, c.lr, vs[m].aq);
            snprintf(log, sizeof log, "%s/log.jsonl", dir);
            snprintf(dat, sizeof dat, "%s/%s_%s_r%d_%s.dat", out, kind ? "dev" : "train_loss", format, rank, vs[m].tag);
            if (!write_series(log, dat, kinds[kind], kind)) continue;
            fprintf(fp, "%s '%s_%s_r%d_%s.dat' using 1:2 with linespoints title '%s (lr %g)'", first ? "" : ",",
                    kind ? "dev" : "train_loss", format, rank, vs[m].tag, vs[m].label, c.lr);
            first = 0;
        }
        fprintf(fp, "\n");
        fclose(fp);
        if (!first) gnuplot(gp);
    }
}

// Figure 1: layer output error before training against rank, one series per method (LoftQ
// once per iteration count), from the CSV `qpeft error` wrote.
static void plot_error(const char *out, const char *csv_name, const char *format, int block) {
    char csv[1300], gp[1300], png[300], canon[64];
    quant_format qf;
    qp_status st = {0};
    if (quant_parse_format(format, block, 0, &qf, &st) != 0) qp_die("--format: %s", st.msg);
    quant_format_name(&qf, canon, sizeof canon);  // the name `qpeft error` writes
    snprintf(csv, sizeof csv, "%s/%s", out, csv_name);
    snprintf(png, sizeof png, "error_%s.png", format);
    snprintf(gp, sizeof gp, "%s/error_%s.gp", out, format);
    FILE *in = xfopen(csv, "r");
    char line[1024], keys[64][48];
    int nk = 0;
    FILE *dat[64] = {0};
    while (fgets(line, sizeof line, in)) {
        char method[32], fmt[32];
        double bits, err;
        int rank, iters;
        if (sscanf(line, "%31[^,],%31[^,],%lf,%d,%d,%lf", method, fmt, &bits, &rank, &iters, &err) != 6) continue;
        if (strcmp(fmt, canon)) continue;
        char key[48];
        if (!strcmp(method, "loftq")) snprintf(key, sizeof key, "loftq-T%d", iters);
        else snprintf(key, sizeof key, "%s", method);
        int k = 0;
        while (k < nk && strcmp(keys[k], key)) k++;
        if (k == nk) {
            if (nk == 64) continue;
            snprintf(keys[nk], sizeof keys[nk], "%s", key);
            char p[1400];
            snprintf(p, sizeof p, "%s/error_%s_%s.dat", out, format, key);
            dat[nk++] = xfopen(p, "w");
        }
        fprintf(dat[k], "%d %.8g\n", rank, err);
    }
    fclose(in);
    for (int k = 0; k < nk; k++) fclose(dat[k]);
    if (!nk) return;
    FILE *fp = xfopen(gp, "w");
    char title[256];
    snprintf(title, sizeof title, "output error before training, %s (mean over adapted linears)", format);
    plot_header(fp, png, title, "rank", "layer output error  E||x(W~+sBA)^T - xW^T||^2 / E||xW^T||^2");
    fprintf(fp, "set logscale x 2\nset logscale y\nplot");
    for (int k = 0; k < nk; k++)
        fprintf(fp, "%s 'error_%s_%s.dat' using 1:2 with linespoints title '%s'", k ? "," : "", format, keys[k], keys[k]);
    fprintf(fp, "\n");
    fclose(fp);
    gnuplot(gp);
}

// ---- the sweep --------------------------------------------------------------------------------

static int split_list(const char *opt, const char *s, char **out, char *store, size_t cap) {
    snprintf(store, cap, "%s", s);
    return opts_split_strs(opt, store, out, MAX_LIST);
}

// mkdir -p
static void make_dir(const char *d) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", d);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) qp_die("%s: cannot create directory: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) qp_die("%s: cannot create directory: %s", d, strerror(errno));
}

static int any_needs_stats(char **inits, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(inits[i], "lqer") || !strncmp(inits[i], "qera", 4) || !strcmp(inits[i], "srr")) return 1;
    return 0;
}
static int any_exact(char **inits, int n) {
    for (int i = 0; i < n; i++) if (!strcmp(inits[i], "qera-exact")) return 1;
    return 0;
}

// One calibration for every run (the task's training split, or --calib-text), unless given.
static const char *calibration(const CompareFlags *f, char **inits, int ni, char *path, size_t cap) {
    if (f->calib_stats) return f->calib_stats;
    if (!any_needs_stats(inits, ni)) return NULL;
    snprintf(path, cap, "%s/calib.h5", f->out);
    if (access(path, F_OK) == 0) { qp_info("reusing %s", path); return path; }
    ArgList a = {0};
    arg(&a, "qpeft"); arg(&a, "calibrate"); arg(&a, "--model"); arg(&a, "%s", f->model);
    if (f->tok) { arg(&a, "--tokenizer"); arg(&a, "%s", f->tok); }
    if (f->calib_text || f->text) { arg(&a, "--calib-text"); arg(&a, "%s", f->calib_text ? f->calib_text : f->text); }
    else { arg(&a, "--task"); arg(&a, "%s", f->task); if (f->data) { arg(&a, "--data"); arg(&a, "%s", f->data); } }
    if (any_exact(inits, ni)) arg(&a, "--exact");
    arg(&a, "--out"); arg(&a, "%s", path);
    char log[1300];
    snprintf(log, sizeof log, "%s/calib.log", f->out);
    qp_info("calibrating once for all runs -> %s", path);
    run_child(a.v, log, "calibration");
    return path;
}

static void figure1(const CompareFlags *f, const char *stats, char **formats, int nf) {
    char csv[1300], log[1300];
    snprintf(csv, sizeof csv, "%s/error.csv", f->out);
    snprintf(log, sizeof log, "%s/error.log", f->out);
    if (access(csv, F_OK) != 0) {
        static char text[4200];
        snprintf(text, sizeof text, "%s/text/tinystories_train_head.txt", session_assets_dir());
        ArgList a = {0};
        arg(&a, "qpeft"); arg(&a, "error"); arg(&a, "--model"); arg(&a, "%s", f->model);
        if (f->tok) { arg(&a, "--tokenizer"); arg(&a, "%s", f->tok); }
        arg(&a, "--calib-text"); arg(&a, "%s", f->calib_text ? f->calib_text : f->text ? f->text : text);
        (void)stats;
        arg(&a, "--format"); arg(&a, "%s", f->formats);
        if (f->block) { arg(&a, "--block"); arg(&a, "%d", f->block); }
        arg(&a, "--ranks"); arg(&a, "%s", f->error_ranks);
        arg(&a, "--inits"); arg(&a, "%s", f->inits);
        arg(&a, "--samples"); arg(&a, "32");
        arg(&a, "--csv"); arg(&a, "%s.tmp", csv);
        qp_info("output error before training (Figure 1) -> %s", csv);
        run_child(a.v, log, "qpeft error");
        char tmp[1310];
        snprintf(tmp, sizeof tmp, "%s.tmp", csv);
        if (rename(tmp, csv) != 0) qp_die("%s: cannot rename: %s", csv, strerror(errno));
    }
    for (int i = 0; i < nf; i++) plot_error(f->out, "error.csv", formats[i], f->block);
}

static int parse_lrs(const char *s, double *out) { return opts_split_doubles("--lrs", s, out, MAX_LIST); }

int cmd_compare(int argc, char **argv) {
    CompareFlags f;
    memset(&f, 0, sizeof f);
    qp_opt opts[] = {
        {"--model", OPT_STR, &f.model, NULL, "base model (llama2.c .bin or HF directory)", 1, 0, 0},
        {"--tokenizer", OPT_STR, &f.tok, NULL, "tokenizer.json or SentencePiece .model (default: beside the model)", 1, 0, 0},
        {"--task", OPT_STR, &f.task, NULL, "GLUE task", 1, 0, 0},
        {"--data", OPT_STR, &f.data, NULL, "GLUE directory or the task's own directory", 1, 0, 0},
        {"--text", OPT_STR, &f.text, NULL, "plain-text LM task instead of --task", 1, 0, 0},
        {"--format", OPT_STR, &f.formats, "mxint3", "comma list of base formats", 1, 0, 0},
        {"--block", OPT_INT, &f.block, "0", "block size for every format; 0 = each format's default", 0, 4096, 0},
        {"--ranks", OPT_STR, &f.ranks, "8", "comma list of ranks", 1, 0, 0},
        {"--inits", OPT_STR, &f.inits, "qlora,loftq,qera-approx", "comma list of init methods", 1, 0, 0},
        {"--seeds", OPT_STR, &f.seeds, "42,1,2", "comma list of seeds (the paper's three)", 1, 0, 0},
        {"--lrs", OPT_STR, &f.lrs, "1e-3", "comma list of learning rates; the best mean on dev is reported", 1, 0, 0},
        {"--epochs", OPT_INT, &f.epochs, "1", "epochs per run (ignored with --max-steps)", 1, 1000, 0},
        {"--max-steps", OPT_INT, &f.max_steps, "0", "optimizer steps per run; 0 = --epochs", 0, 1e9, 0},
        {"--batch", OPT_INT, &f.batch, "16", "batch size", 1, 65536, 0},
        {"--evals", OPT_INT, &f.evals, "8", "dev evaluations spread evenly over each run (the dev-metric figure)", 0, 1e6, 0},
        {"--eval-every", OPT_INT, &f.eval_every, "0", "dev evaluation every N steps instead of --evals", 0, 1e9, 0},
        {"--calib-text", OPT_STR, &f.calib_text, NULL, "calibration text (default: the task's training split)", 1, 0, 0},
        {"--calib-stats", OPT_STR, &f.calib_stats, NULL, "statistics from `qpeft calibrate` (skips calibration)", 1, 0, 0},
        {"--error-ranks", OPT_STR, &f.error_ranks, "4,8,16,32", "ranks of the output-error figure (Figure 1)", 1, 0, 0},
        {"--jobs", OPT_INT, &f.jobs, "1", "runs in parallel", 1, 256, 0},
        {"--threads", OPT_INT, &f.threads, "0", "total threads shared by the jobs; 0 = all cores", 0, 1024, 0},
        {"--adapter-quant", OPT_STR, &f.adapter_quants, "none", "comma list: none (fp adapters), same (QER: adapters in the MXINT base's format)", 1, 0, 0},
        {"--dropout", OPT_FLOAT, &f.dropout, "0.1", "adapter dropout of the fp-adapter runs (adapter-quant same runs have none)", 0, 0.95, 0},
        {"--merge", OPT_STR, &f.merge, "none", "none | requant | lossless | both: merge each run's best.h5 into a model.qm and score it", 1, 0, 0},
        {"--out", OPT_STR, &f.out, NULL, "output directory (results.csv, summary.md, *.png, runs/)", 1, 0, 0},
    };
    opts_parse("compare", "--model M [--tokenizer T] (--task T --data DIR | --text FILE) --format F[,F2..] --ranks "
               "R[,..] --inits I[,..] [--seeds 42,1,2] [--lrs a,b,..] [--epochs E | --max-steps N] [--adapter-quant none,same] "
               "[--merge none|requant|lossless|both] [--jobs J] --out DIR",
               opts, sizeof opts / sizeof opts[0], argc, argv, 2);
    f.dropout_set = opts_seen(opts, sizeof opts / sizeof opts[0], "--dropout");
    if (!f.model) qp_die("qpeft compare: --model is required");
    if (!f.out) qp_die("qpeft compare: --out DIR is required");
    if (!!f.task + !!f.text != 1) qp_die("qpeft compare: give exactly one of --task or --text");
    char sf[1024], si[1024], *formats[MAX_LIST], *inits[MAX_LIST];
    int nf = split_list("--format", f.formats, formats, sf, sizeof sf);
    int ni = split_list("--inits", f.inits, inits, si, sizeof si);
    int ranks[MAX_LIST], seeds[MAX_LIST];
    double lrs[MAX_LIST];
    int nr = opts_split_ints("--ranks", f.ranks, ranks, MAX_LIST);
    int ns = opts_split_ints("--seeds", f.seeds, seeds, MAX_LIST);
    int nl = parse_lrs(f.lrs, lrs);
    char sa[64], *aqs[MAX_LIST];
    int na = split_list("--adapter-quant", f.adapter_quants, aqs, sa, sizeof sa);
    int any_same = 0;
    for (int i = 0; i < na; i++) {
        if (adapter_quant_parse(aqs[i]) < 0) qp_die("--adapter-quant: expected none or same, found '%s'", aqs[i]);
        any_same |= !strcmp(aqs[i], "same");
    }
    if (!strcmp(f.merge, "requant") || !strcmp(f.merge, "both")) f.merge_requant = 1;
    if (!strcmp(f.merge, "lossless") || !strcmp(f.merge, "both")) f.merge_lossless = 1;
    if (strcmp(f.merge, "none") && !f.merge_requant && !f.merge_lossless)
        qp_die("--merge must be none, requant, lossless or both, found '%s'", f.merge);
    // QER needs an MXINT base: refuse before any run rather than after every one.
    for (int i = 0; i < nf && (any_same || f.merge_lossless); i++) {
        quant_format qf;
        qp_status st = {0};
        if (quant_parse_format(formats[i], f.block, 0, &qf, &st) != 0) qp_die("--format: %s", st.msg);
        if (quant_qer_check_format(&qf, &st) != 0)
            qp_die("--%s: %s", any_same ? "adapter-quant same" : "merge lossless", st.msg);
    }
    Variant vs[2 * MAX_LIST];
    int nv = 0;
    for (int b = 0; b < ni; b++)
        for (int i = 0; i < na; i++, nv++) {
            Variant *v = &vs[nv];
            snprintf(v->method, sizeof v->method, "%s", inits[b]);
            snprintf(v->aq, sizeof v->aq, "%s", aqs[i]);
            int same = !strcmp(aqs[i], "same");
            snprintf(v->label, sizeof v->label, "%s%s", inits[b], same ? " (adapter-quant same)" : "");
            snprintf(v->tag, sizeof v->tag, "%s%s", inits[b], same ? "-aqsame" : "");
        }
    make_dir(f.out);
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    setenv("QPEFT_PARENT_PID", ppid, 1);  // children die with this process (trainer/main.c)
    char runs_dir[1100];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", f.out);
    make_dir(runs_dir);
    char stats_buf[1200];
    const char *stats = calibration(&f, inits, ni, stats_buf, sizeof stats_buf);
    const char *task = f.task ? f.task : "text";
    char csv[1200];
    snprintf(csv, sizeof csv, "%s/results.csv", f.out);
    static Row rows[MAX_RUNS];
    int old_format;
    int nrows = read_rows(csv, rows, MAX_RUNS, &old_format);
    if (old_format) write_rows(csv, rows, nrows);  // the full header from now on
    // the grid, minus the runs already recorded (recorded runs that lack a requested merge are
    // merged below without training again)
    static Run todo[MAX_RUNS], remerge[MAX_RUNS];
    int nt = 0, nm = 0, total = 0;
    for (int a = 0; a < nf; a++) for (int b = 0; b < ni; b++) for (int q = 0; q < na; q++) for (int c = 0; c < nr; c++)
        for (int d = 0; d < ns; d++) for (int e = 0; e < nl; e++) {
            Run r;
            memset(&r, 0, sizeof r);
            snprintf(r.format, sizeof r.format, "%s", formats[a]);
            snprintf(r.method, sizeof r.method, "%s", inits[b]);
            snprintf(r.aq, sizeof r.aq, "%s", aqs[q]);
            r.rank = ranks[c]; r.seed = seeds[d]; r.lr = lrs[e];
            run_dir(r.dir, sizeof r.dir, runs_dir, r.method, r.format, r.rank, r.seed, r.lr, r.aq);
            total++;
            if (nt >= MAX_RUNS) qp_die("qpeft compare: more than %d runs", MAX_RUNS);
            int k = find_row(rows, nrows, task, &r);
            if (k < 0) todo[nt++] = r;
            else if (row_needs_merge(&f, &rows[k])) remerge[nm++] = r;
        }
    int cores = f.threads > 0 ? f.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = f.jobs < nt ? f.jobs : (nt > 0 ? nt : 1);
    int per = cores / jobs > 0 ? cores / jobs : 1;
    for (int i = 0; i < nm; i++) {
        Row *row = &rows[find_row(rows, nrows, task, &remerge[i])];
        qp_info("merging the recorded run %s (--merge %s)", remerge[i].dir, f.merge);
        merge_run(&f, &remerge[i], row, cores);
        write_rows(csv, rows, nrows);
    }
    qp_info("compare: %d runs in the grid, %d already in %s, %d to run, %d at a time x %d threads", total, total - nt, csv,
            nt, jobs, per);
    qp_progress pr;
    progress_start(&pr, "compare", total);
    progress_update(&pr, total - nt);
    int next = 0, running = 0, failed = 0, done = total - nt;
    Run *slots[256] = {0};
    while (next < nt || running > 0) {
        while (running < jobs && next < nt) {
            Run *r = &todo[next++];
            ArgList a = {0};
            train_args(&a, &f, r, stats, per);
            make_dir(r->dir);
            char log[1300];
            snprintf(log, sizeof log, "%s/train.log", r->dir);
            r->t0 = qp_now();
            r->pid = spawn(a.v, log);
            for (int s = 0; s < jobs; s++) if (!slots[s]) { slots[s] = r; break; }
            running++;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) qp_die("wait: %s", strerror(errno));
        for (int s = 0; s < jobs; s++) {
            Run *r = slots[s];
            if (!r || r->pid != pid) continue;
            slots[s] = NULL;
            running--;
            done++;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                failed++;
                qp_warn("run %s failed (see %s/train.log)", r->dir, r->dir);
                break;
            }
            Row row;
            memset(&row, 0, sizeof row);
            row_no_merges(&row);
            snprintf(row.aq, sizeof row.aq, "%s", r->aq);
            snprintf(row.task, sizeof row.task, "%s", task);
            snprintf(row.method, sizeof row.method, "%s", r->method);
            snprintf(row.format, sizeof row.format, "%s", r->format);
            row.rank = r->rank; row.seed = r->seed; row.lr = r->lr;
            row.seconds = qp_now() - r->t0;
            read_result(r, f.text != NULL, &row);
            if (f.merge_requant || f.merge_lossless) merge_run(&f, r, &row, per);
            if (nrows >= MAX_RUNS) qp_die("qpeft compare: more than %d rows", MAX_RUNS);
            rows[nrows++] = row;
            write_rows(csv, rows, nrows);
            if (!pr.tty)
                qp_info("[%d/%d] %s%s %s r%d seed %d lr %g: %s %.4f (step %ld)%s", done, total, r->method,
                        strcmp(r->aq, "same") ? "" : " (adapter-quant same)", r->format, r->rank, r->seed, r->lr,
                        row.metric_name, row.metric, row.best_step, isnan(row.unmerged) ? "" : "; merged, see results.csv");
            break;
        }
        progress_update(&pr, done);
    }
    progress_end(&pr);
    nrows = read_rows(csv, rows, MAX_RUNS, &old_format);
    char path[1300];
    snprintf(path, sizeof path, "%s/summary.md", f.out);
    write_summary(path, rows, nrows, vs, nv, formats, nf, ranks, nr, task);
    for (int a = 0; a < nf; a++)
        for (int c = 0; c < nr; c++)
            plot_curves(f.out, rows, nrows, vs, nv, formats[a], ranks[c], seeds[0], nrows ? rows[0].metric_name : "accuracy", task);
    figure1(&f, stats, formats, nf);
    printf("%s\n", path);
    FILE *fp = xfopen(path, "r");
    char line[1024];
    while (fgets(line, sizeof line, fp)) fputs(line, stdout);
    fclose(fp);
    if (failed) qp_die("%d of %d runs failed; rerun the same command to retry them", failed, nt);
    return 0;
}
