// trainer/main.c — the qpeft CLI entry: picks OpenBLAS kernels, starts MPI under mpirun, dispatches verbs.
// Tested by tests/test_cli.sh.
#include "core/check.h"
#include "core/dist.h"
#include "core/la.h"
#include "trainer/verbs.h"
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

typedef struct { const char *name; int (*run)(int, char **); const char *what; } verb;

static const verb verbs[] = {
    {"info", cmd_info, "show a model's config, parameter counts and memory"},
    {"generate", cmd_generate, "generate text (llama2.c run.c semantics)"},
    {"ppl", cmd_ppl, "mean next-token loss and perplexity on a text file"},
    {"train", cmd_train, "fine-tune adapters (or all weights) on a GLUE task, a TSV or text"},
    {"eval", cmd_eval, "score a checkpoint on a dev split; optional predictions TSV"},
    {"compare", cmd_compare, "sweep inits x formats x ranks x seeds x lrs; results.csv, summary.md, plots"},
    {"merge", cmd_merge, "merge adapters into the base; export HF, llama2.c or PEFT (--requant: .qm)"},
    {"quantize", cmd_quantize, "quantize a model's linears; error table; write a .qm model file"},
    {"calibrate", cmd_calibrate, "collect input statistics of every linear (HDF5) for adapter initialisation"},
    {"init", cmd_init, "quantize and initialise adapters (qlora loftq zeroquant-v2 lqer qera-* srr); adapter checkpoint"},
    {"error", cmd_error, "output error of each initialiser before training (QERA Figure 1), table and CSV"},
    {"tokenize", cmd_tokenize, "text on stdin to token ids (or --decode ids to text) with a tokenizer file"},
};

static void usage(FILE *fp) {
    fprintf(fp, "usage: qpeft <verb> [options]   (qpeft <verb> --help for a verb's options)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) fprintf(fp, "  %-10s %s\n", verbs[i].name, verbs[i].what);
    fprintf(fp, "\nglobal flags (any position): --verbose, --quiet\n");
}

// Strip global flags so each verb's parser sees only its own.
static int take_globals(int argc, char **argv) {
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--verbose")) { qp_verbose = 1; continue; }
        if (!strcmp(argv[i], "--quiet")) { qp_quiet = 1; continue; }
        argv[n++] = argv[i];
    }
    argv[n] = NULL;
    return n;
}

// A child of `qpeft compare` dies with its parent, so a killed sweep leaves no orphan still
// writing into a run directory that the restarted sweep is about to reuse.
static void die_with_parent(void) {
    const char *ppid = getenv("QPEFT_PARENT_PID");
    if (!ppid) return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != (pid_t)atol(ppid)) _exit(1);  // the parent is already gone
}

// Under mpirun: rank 0 alone speaks (stdout and info lines; errors are printed by whichever rank
// meets them), and each rank takes its share of the cores unless the user chose a thread count
// (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, or a verb's --threads later).
static void start_ranks(int *argc, char ***argv) {
    dist_init(argc, argv);
    if (dist_size() == 1) return;
    if (dist_rank() > 0) {
        qp_quiet = 1;
        if (!freopen("/dev/null", "w", stdout)) qp_die("cannot silence stdout of rank %d", dist_rank());
    }
    if (!getenv("OMP_NUM_THREADS") && !getenv("OPENBLAS_NUM_THREADS")) {
        int per = (int)sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size();
        la_set_threads(per > 0 ? per : 1);
    }
}

// Verbs that run under mpirun (docs/distributed.md); the others would have every rank write the
// same files, so they refuse with one line.
static const char *const mpi_verbs[] = {"train", "eval", "calibrate", "init", "info"};

static void check_mpi_verb(const char *name) {
    if (dist_size() == 1) return;
    for (size_t i = 0; i < sizeof mpi_verbs / sizeof mpi_verbs[0]; i++)
        if (!strcmp(name, mpi_verbs[i])) return;
    qp_die("qpeft %s runs in one process; start it without mpirun (under mpirun: train, eval, calibrate, init, info)",
           name);
}

static int run_verb(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name)) {
            check_mpi_verb(argv[1]);
            return verbs[i].run(argc, argv);
        }
    qp_die("unknown verb '%s' (try 'qpeft --help')", argv[1]);
}

int main(int argc, char **argv) {
    // Past a file-size limit (ulimit -f) the kernel's default is to kill us with SIGXFSZ; ignored,
    // the write fails with EFBIG instead and the writer reports it in one line, keeping the
    // previous checkpoint (tests/test_faults.sh).
    signal(SIGXFSZ, SIG_IGN);
    die_with_parent();
    for (int i = 1; i < argc; i++) if (!strcmp(argv[i], "--verbose")) qp_verbose = 1;
    la_select_kernels(argv);
    argc = take_globals(argc, argv);
    start_ranks(&argc, &argv);
    int rc = run_verb(argc, argv);
    dist_finalize();
    return rc;
}
