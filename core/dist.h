// core/dist.h — the one room for MPI (only core/dist.c includes mpi.h): rank, size and the few
// collectives data-parallel training, calibration and initialisation need. In a single process
// (no mpirun, or a build without MPI) every call is a no-op or the identity, so callers need no
// #ifdef. Tested by tests/test_mpi.sh (2 and 3 ranks against one process) and test_core.c.
#ifndef QP_CORE_DIST_H
#define QP_CORE_DIST_H
#include <stddef.h>

// Start MPI only when a launcher started us (mpirun sets OMPI_COMM_WORLD_SIZE, srun --mpi=pmix
// sets PMIX_RANK): a singleton MPI_Init costs ~0.8 s and qpeft without mpirun must behave as
// before. A build without MPI launched by mpirun with more than one rank dies with one line
// rather than letting N copies write the same files. Call once, first thing in main.
void dist_init(int *argc, char ***argv);
// MPI_Finalize when dist_init started MPI (every rank must reach it: it is collective).
void dist_finalize(void);

int dist_rank(void);        // 0 in a single process
int dist_size(void);        // 1 in a single process
int dist_local_size(void);  // ranks on this host (OMPI_COMM_WORLD_LOCAL_SIZE), 1 in a single process
static inline int dist_is_root(void) { return dist_rank() == 0; }

// [lo, hi) of rank r's contiguous share of n items dealt to `size` ranks (shares differ by at
// most one; the concatenation over r = 0..size-1 is 0..n in order).
void dist_share(size_t n, int r, int size, size_t *lo, size_t *hi);

// In-place sum over all ranks; every rank gets the same result. Counts above INT_MAX go in chunks.
void dist_sum_float(float *buf, size_t n);
void dist_sum_double(double *buf, size_t n);
// In-place maximum over all ranks.
void dist_max_double(double *buf, size_t n);
// Copy root's bytes to every rank.
void dist_bcast(void *buf, size_t bytes, int root);
void dist_barrier(void);

// End the whole job with `code` (MPI_Abort over every rank; exit() in a single process). The
// caller has already printed its one line. qp_die ends here.
_Noreturn void dist_exit(int code);
#endif
