// core/dist.c — see dist.h. The MPI half is compiled when the Makefile finds mpicc (it defines
// QP_HAVE_MPI for this file alone); the other half is the single-process stub.
// Tested by tests/test_mpi.sh.
#include "core/dist.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>

// The launchers' variables. OMPI_COMM_WORLD_SIZE: OpenMPI's mpirun; PMIX_RANK: srun --mpi=pmix
// (and mpirun via PMIx); PMI_RANK: MPICH-style launchers.
static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : dflt;
}

void dist_share(size_t n, int r, int size, size_t *lo, size_t *hi) {
    *lo = n * (size_t)r / (size_t)size;
    *hi = n * (size_t)(r + 1) / (size_t)size;
}

int dist_local_size(void) { return dist_size() > 1 ? env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1) : 1; }

#ifdef QP_HAVE_MPI
#include <mpi.h>

static int started, world_rank, world_size = 1;

void dist_init(int *argc, char ***argv) {
    if (started || !launched_by_mpi()) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) qp_die("MPI_Init failed");
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    // A failed collective (a peer that died) must end the job, not return an error code that
    // nothing checks: MPI_ERRORS_ARE_FATAL is the default, set here so no library changes it.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    // Paths that end with exit() on every rank (--help) must finalize too, or mpirun reports the
    // job as failed; qp_die ends in MPI_Abort instead and never gets here.
    atexit(dist_finalize);
}

void dist_finalize(void) {
    if (!started) return;
    MPI_Finalize();
    started = 0;
}

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }

// MPI counts are int: large buffers go in chunks of at most 2^30 elements.
static void allreduce_chunks(void *buf, size_t n, size_t elem, MPI_Datatype type, MPI_Op op) {
    if (!started || world_size == 1) return;
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, type, op, MPI_COMM_WORLD);
    }
}

void dist_sum_float(float *buf, size_t n) { allreduce_chunks(buf, n, sizeof(float), MPI_FLOAT, MPI_SUM); }
void dist_sum_double(double *buf, size_t n) { allreduce_chunks(buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM); }
void dist_max_double(double *buf, size_t n) { allreduce_chunks(buf, n, sizeof(double), MPI_DOUBLE, MPI_MAX); }

void dist_bcast(void *buf, size_t bytes, int root) {
    if (!started || world_size == 1) return;
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t k = bytes - off < chunk ? bytes - off : chunk;
        MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

void dist_barrier(void) {
    if (started && world_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void dist_exit(int code) {
    if (started && world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

#else  // single-process stub: a build without MPI (make NO_MPI=1, or no mpicc)

void dist_init(int *argc, char ***argv) {
    (void)argc; (void)argv;
    int n = env_int("OMPI_COMM_WORLD_SIZE", 1);
    if (!launched_by_mpi() || n == 1) return;
    if (env_int("OMPI_COMM_WORLD_RANK", 0) > 0) exit(1);  // rank 0 says it, once
    qp_die("launched by mpirun with %d ranks, but this qpeft was built without MPI (NO_MPI=1 or no mpicc); "
           "install libopenmpi-dev and rebuild, or run without mpirun", n);
}
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
void dist_sum_float(float *buf, size_t n) { (void)buf; (void)n; }
void dist_sum_double(double *buf, size_t n) { (void)buf; (void)n; }
void dist_max_double(double *buf, size_t n) { (void)buf; (void)n; }
void dist_bcast(void *buf, size_t bytes, int root) { (void)buf; (void)bytes; (void)root; }
void dist_barrier(void) {}
void dist_exit(int code) { exit(code); }
#endif
