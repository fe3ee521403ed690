// core/rng.h — small deterministic random generator (splitmix64 seeding, xoshiro256**), so runs
// reproduce bit for bit across machines; its state is 4 words that checkpoints save.
#ifndef QP_CORE_RNG_H
#define QP_CORE_RNG_H
#include <stdint.h>

typedef struct { uint64_t s[4]; } qp_rng;

void rng_seed(qp_rng *r, uint64_t seed);
uint64_t rng_u64(qp_rng *r);
float rng_uniform(qp_rng *r);                 // [0,1)
double rng_uniform_d(qp_rng *r);              // [0,1)
float rng_normal(qp_rng *r);                  // N(0,1), Box-Muller
uint32_t rng_below(qp_rng *r, uint32_t n);    // uniform in [0,n)
void rng_shuffle_ints(qp_rng *r, int *a, int n);
#endif
