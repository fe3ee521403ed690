// optim/schedule.c — HF-compatible warm-up + constant/linear/cosine learning-rate multipliers.
// Tested by tests/test_optim.c: whole curves against torch LambdaLR driven by tests/oracle_optim.py.
#include "optim/schedule.h"
#include <math.h>
#include <string.h>

static const char *const kind_names[SCHED_COUNT] = {"constant", "linear", "cosine"};

const char *sched_kind_name(sched_kind k) { return (k >= 0 && k < SCHED_COUNT) ? kind_names[k] : "?"; }

int sched_parse_kind(const char *name, sched_kind *out, qp_status *st) {
    for (int k = 0; k < SCHED_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) { *out = (sched_kind)k; return 0; }
    if (strcmp(name, "constant_with_warmup") == 0) { *out = SCHED_CONSTANT; return 0; }
    return qp_fail(st, "learning-rate schedule: expected constant, linear or cosine, found '%s'", name);
}

int sched_init(sched_config *s, sched_kind kind, int64_t total_steps, int64_t warmup_steps, double warmup_ratio,
               qp_status *st) {
    if (kind < 0 || kind >= SCHED_COUNT) return qp_fail(st, "learning-rate schedule: unknown kind %d", (int)kind);
    if (total_steps < 1) return qp_fail(st, "learning-rate schedule: expected total steps >= 1, found %lld", (long long)total_steps);
    if (warmup_steps < 0) return qp_fail(st, "learning-rate schedule: expected warm-up steps >= 0, found %lld", (long long)warmup_steps);
    if (!(warmup_ratio >= 0.0 && warmup_ratio <= 1.0))
        return qp_fail(st, "learning-rate schedule: expected warm-up ratio in [0, 1], found %g", warmup_ratio);
    // Same double expression as HF's math.ceil(num_training_steps * warmup_ratio), so the
    // rounding (e.g. 100*0.07 = 7.000000000000001 -> 8) matches too.
    int64_t w = warmup_steps > 0 ? warmup_steps : (int64_t)ceil((double)total_steps * warmup_ratio);
    if (w > total_steps)
        return qp_fail(st, "learning-rate schedule: expected warm-up <= total steps %lld, found %lld",
                       (long long)total_steps, (long long)w);
    s->kind = kind;
    s->total_steps = total_steps;
    s->warmup_steps = w;
    s->num_cycles = 0.5;
    return 0;
}

double sched_lambda(const sched_config *s, int64_t step) {
    int64_t w = s->warmup_steps, total = s->total_steps;
    if (step < w) return (double)step / (double)(w > 1 ? w : 1);
    int64_t span = total - w > 1 ? total - w : 1;
    switch (s->kind) {
    case SCHED_CONSTANT: return 1.0;
    case SCHED_LINEAR: return fmax(0.0, (double)(total - step) / (double)span);
    case SCHED_COSINE: {
        double progress = (double)(step - w) / (double)span;
        return fmax(0.0, 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress)));
    }
    default: return 0.0;
    }
}
