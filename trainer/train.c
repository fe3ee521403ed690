// trainer/train.c — see train.h.
#include "trainer/train.h"
#include "core/check.h"
#include "core/dist.h"
#include "data/batch.h"
#include "optim/clip.h"
#include "trainer/evaluate.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const TrainConfig *tc;
    Model *m;
    const TaskData *td;
    batch_sampler sampler;
    adamw_state adam;
    sched_config sched;
    EvalBuffers eb;
    int *ids, *lens, *labels, *inputs, *targets;
    float *scores;
    int64_t step, total_steps;
    int64_t eval_every;        // tc->eval_every, or total_steps / tc->evals
    int epoch, epoch_done;     // epoch_done: the last step finished an epoch
    double best_main;
    int64_t best_step;
    FILE *log;
    int tty, line_open;        // stderr is a terminal (and not --quiet); a status line is pending
    char path[4200];
    double t_start;
    int rank, size;            // data parallel (core/dist.h): this rank of `size`; 0 of 1 alone
    double grad_unit;          // m->grads holds the step's gradient in units of grad_unit (0: empty)
} Trainer;

static const char *out_path(Trainer *t, const char *name) {
    snprintf(t->path, sizeof t->path, "%s/%s", t->tc->out_dir, name);
    return t->path;
}

// ---- set-up -------------------------------------------------------------------------------

// Norms are not decayed in full fine-tuning (HF excludes LayerNorm weights and biases);
// adapters and the head are.
static void set_decay(Trainer *t) {
    Model *m = t->m;
    if (m->train != TRAIN_FULL) return;
    const ModelConfig *c = &m->cfg;
    adamw_range r[3] = {
        {(size_t)(m->w.attn_norm - m->w.mem), (size_t)c->n_layers * c->dim, 0},
        {(size_t)(m->w.ffn_norm - m->w.mem), (size_t)c->n_layers * c->dim, 0},
        {(size_t)(m->w.final_norm - m->w.mem), (size_t)c->dim, 0},
    };
    qp_status st = {0};
    if (adamw_set_decay_ranges(&t->adam, r, 3, &st) != 0) qp_die("%s", st.msg);
}

static int64_t steps_per_epoch(const Trainer *t) {
    int64_t nb = (int64_t)t->sampler.n_batches;
    return (nb + t->tc->grad_accum - 1) / t->tc->grad_accum;
}

static int max_rows_T(const TaskData *td) {
    if (td->head == HEAD_LM) return td->seq_len;
    return td->train.longest > td->dev.longest ? td->train.longest : td->dev.longest;
}

static void setup(Trainer *t) {
    const TrainConfig *tc = t->tc;
    const TaskData *td = t->td;
    qp_status st = {0};
    t->rank = dist_rank();
    t->size = dist_size();
    if (tc->batch % t->size != 0)
        qp_die("--batch %d is the global batch and must divide evenly over the %d MPI ranks", tc->batch, t->size);
    if (batch_sampler_init(&t->sampler, &td->train, tc->batch, 1, tc->bucket, tc->seed, &st) != 0) qp_die("%s", st.msg);
    t->total_steps = tc->max_steps > 0 ? tc->max_steps : steps_per_epoch(t) * tc->epochs;
    t->eval_every = tc->eval_every;
    if (tc->evals > 0 && tc->eval_every == 0) t->eval_every = t->total_steps >= tc->evals ? t->total_steps / tc->evals : 1;
    if (sched_init(&t->sched, tc->schedule, t->total_steps, tc->warmup_steps, tc->warmup_ratio, &st) != 0)
        qp_die("%s", st.msg);
    adamw_init(&t->adam, t->m->n_params, tc->adam);
    set_decay(t);
    int T = max_rows_T(td), B = tc->batch > tc->eval_batch ? tc->batch : tc->eval_batch;
    model_alloc_acts(t->m, B, T);
    size_t rows = (size_t)tc->batch * (T + 1);
    t->ids = xmalloc(rows * sizeof(int));
    t->inputs = xmalloc(rows * sizeof(int));
    t->targets = xmalloc(rows * sizeof(int));
    t->lens = xmalloc((size_t)tc->batch * sizeof(int));
    t->labels = xmalloc((size_t)tc->batch * sizeof(int));
    t->scores = xmalloc((size_t)tc->batch * sizeof(float));
    eval_buffers_alloc(&t->eb, tc->eval_batch, T, td->dev.n);
    t->best_main = -INFINITY;
    t->best_step = -1;
}

// ---- checkpoints --------------------------------------------------------------------------

static void fill_meta(Trainer *t, ckpt_meta *meta) {
    const TrainConfig *tc = t->tc;
    qp_status st = {0};
    memset(meta, 0, sizeof *meta);
    snprintf(meta->qpeft_version, sizeof meta->qpeft_version, "%s", QPEFT_VERSION);
    snprintf(meta->model_hash, sizeof meta->model_hash, "%s", tc->model_hash);
    snprintf(meta->mode, sizeof meta->mode, "%s", tc->mode);
    snprintf(meta->init, sizeof meta->init, "%s", tc->init);
    snprintf(meta->task, sizeof meta->task, "%s", t->td->name);
    meta->step = t->step;
    meta->epoch = t->epoch;
    meta->seed = (int64_t)tc->seed;
    meta->has_dropout = 1;
    meta->dropout = tc->dropout;
    meta->has_best = 1;
    meta->best_metric = t->best_main;
    meta->best_step = t->best_step;
    int64_t data[2] = {t->sampler.epoch, (int64_t)t->sampler.next_batch};
    if (ckpt_state_set(meta, "data", data, 2, &st)) qp_die("%s", st.msg);
    if (t->td->label_names) {
        char buf[CKPT_EXTRA_VALUE] = "";
        size_t n = 0;
        for (int i = 0; i < t->td->n_labels && n < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "\t" : "", t->td->label_names[i]);
        if (ckpt_extra_set(meta, "labels", buf, &st) != 0) qp_die("%s", st.msg);
    }
    if (tc->command_line && strlen(tc->command_line) < CKPT_EXTRA_VALUE &&
        ckpt_extra_set(meta, "command", tc->command_line, &st) != 0)
        qp_die("%s", st.msg);
}

// Rank 0 alone writes checkpoints: every rank holds the same parameters and optimizer state.
static void save(Trainer *t, const char *name) {
    if (t->rank != 0) return;
    ckpt_meta meta;
    fill_meta(t, &meta);
    qp_status st = {0};
    const char *path = out_path(t, name);
    if (ckpt_save(path, t->m, &meta, t->adam.m, t->adam.v, t->adam.t, t->tc->save_base, &st) != 0)
        qp_die("%s (nothing half-written is left; earlier checkpoints are untouched)", st.msg);
}

static void resume(Trainer *t) {
    qp_status st = {0};
    ckpt_meta meta;
    if (ckpt_load(t->tc->resume, t->m, t->tc->model_hash, &meta, t->adam.m, t->adam.v, &t->adam.t, &st) != 0)
        qp_die("%s", st.msg);
    if (meta.compute != t->m->compute)  // bit-for-bit continuation needs the same arithmetic
        qp_die("%s: checkpoint was trained with --compute %s, this run computes in %s; resume with --compute %s",
               t->tc->resume, compute_names[meta.compute], compute_names[t->m->compute], compute_names[meta.compute]);
    int64_t data[2], best[2];
    if (ckpt_state_get(&meta, "data", data, 2) != 0)
        qp_die("%s: not a training checkpoint (no data-order state); cannot resume from it", t->tc->resume);
    if (meta.has_best) {
        t->best_main = meta.best_metric;
        t->best_step = meta.best_step;
    } else if (ckpt_state_get(&meta, "best", best, 2) == 0) {  // files from before best_metric: a bit-cast double
        memcpy(&t->best_main, &best[0], sizeof(double));
        t->best_step = best[1];
    } else {
        qp_die("%s: not a training checkpoint (no best-evaluation state); cannot resume from it", t->tc->resume);
    }
    if (strcmp(meta.task, t->td->name))
        qp_die("%s: checkpoint trained task '%s', this run is '%s'", t->tc->resume, meta.task, t->td->name);
    if (meta.seed != (int64_t)t->tc->seed)
        qp_die("%s: checkpoint used --seed %lld, this run %llu; resume with the same flags", t->tc->resume,
               (long long)meta.seed, (unsigned long long)t->tc->seed);
    t->step = meta.step;
    t->epoch = (int)meta.epoch;
    batch_sampler_set_epoch(&t->sampler, (int)data[0]);
    if (data[1] < 0 || (size_t)data[1] > t->sampler.n_batches) qp_die("%s: data position out of range", t->tc->resume);
    t->sampler.next_batch = (size_t)data[1];
    qp_info("resumed from %s at step %lld (epoch %d)", t->tc->resume, (long long)t->step, t->epoch);
}

// ---- one step -----------------------------------------------------------------------------

// Next batch's example indices, moving to the next epoch when this one is used up.
static int next_batch(Trainer *t, const int **idx) {
    int nb = batch_sampler_next(&t->sampler, idx);
    if (nb == 0) {
        batch_sampler_set_epoch(&t->sampler, t->sampler.epoch + 1);
        nb = batch_sampler_next(&t->sampler, idx);
    }
    if (t->sampler.next_batch == t->sampler.n_batches) t->epoch_done = 1;
    return nb;
}

// Before backward adds a share of weight w (its mean gradient times w is its part of the batch
// mean), bring the accumulated gradient into units of w: then G·unit stays the true sum. A
// single process and equal shares keep one unit for the whole step and never rescale.
static void use_grad_unit(Trainer *t, double w) {
    if (w == t->grad_unit) return;
    if (t->grad_unit != 0) {
        float f = (float)(t->grad_unit / w);
        for (size_t i = 0; i < t->m->n_params; i++) t->m->grads[i] *= f;
    }
    t->grad_unit = w;
}

// Forward + backward of this rank's share of one micro-batch: the batch of the single-process
// order, dealt out in contiguous shares (core/dist.h). Returns the share's loss times its weight
// (share rows / batch rows), so the sum over ranks is the batch's mean loss, and adds the share's
// real tokens to *tokens.
static double micro_step(Trainer *t, int64_t *tokens) {
    const TaskData *td = t->td;
    Model *m = t->m;
    const int *all;
    int n_all = next_batch(t, &all);
    size_t lo, hi;
    dist_share((size_t)n_all, t->rank, t->size, &lo, &hi);
    const int *idx = all + lo, nb = (int)(hi - lo);
    if (nb == 0) return 0;  // a short last batch with fewer rows than ranks
    const double w = (double)nb / n_all;
    use_grad_unit(t, w);
    // Dropout masks are keyed by (seed, optimizer step, example): see ModelTrainStep. The keys are
    // the examples' dataset indices, so a data-parallel rank drops exactly what one process would.
    const ModelTrainStep tr = {(float)t->tc->dropout, t->tc->seed * 0x9e3779b97f4a7c15ULL + 1, (uint64_t)t->step, idx};
    if (td->head == HEAD_LM) {
        int T = td->seq_len;
        batch_fill(&td->train, idx, nb, T + 1, 0, t->ids, t->lens, NULL, NULL);
        for (int b = 0; b < nb; b++) {
            memcpy(t->inputs + (size_t)b * T, t->ids + (size_t)b * (T + 1), (size_t)T * sizeof(int));
            memcpy(t->targets + (size_t)b * T, t->ids + (size_t)b * (T + 1) + 1, (size_t)T * sizeof(int));
        }
        *tokens += (int64_t)nb * T;
        double loss = model_forward(m, t->inputs, NULL, nb, T, t->targets, NULL, NULL, &tr);
        if (isfinite(loss)) model_backward(m, t->inputs, NULL, nb, T, t->targets, NULL, NULL, &tr);
        return w * loss;
    }
    int T = batch_fill(&td->train, idx, nb, 0, 0, t->ids, t->lens, t->labels, t->scores);
    for (int b = 0; b < nb; b++) *tokens += t->lens[b];
    const int *lab = td->head == HEAD_CLASSIFY ? t->labels : NULL;
    const float *sc = td->head == HEAD_REGRESS ? t->scores : NULL;
    double loss = model_forward(m, t->ids, t->lens, nb, T, NULL, lab, sc, &tr);
    if (isfinite(loss)) model_backward(m, t->ids, t->lens, nb, T, NULL, lab, sc, &tr);
    return w * loss;
}

typedef struct { double loss, lr, grad_norm; int64_t tokens; } StepStats;

static void stop_nonfinite(Trainer *t, const char *what) {
    if (t->line_open) fputc('\n', stderr);
    qp_die("non-finite %s at step %lld: training stopped; nothing was saved for this step (last checkpoint "
           "kept; lower --lr or check the data)",
           what, (long long)t->step + 1);
}

// Test-only fault injection: QPEFT_FAULT_NAN_STEP=k poisons one trainable weight just before
// step k, so tests can check that the failure is caught at that very step and nothing is saved.
// Under mpirun, QPEFT_FAULT_RANK=r poisons rank r alone (a rank that fails on its own).
static void inject_fault(Trainer *t) {
    const char *env = getenv("QPEFT_FAULT_NAN_STEP"), *rank = getenv("QPEFT_FAULT_RANK");
    if (rank && atoi(rank) != t->rank) return;
    if (env && atoll(env) == t->step + 1 && t->m->n_params) t->m->params[0] = NAN;
}

static StepStats train_step(Trainer *t) {
    Model *m = t->m;
    StepStats s = {0};
    int K = t->tc->grad_accum;
    model_zero_grad(m);
    t->grad_unit = 0;
    inject_fault(t);
    for (int k = 0; k < K; k++) {
        double l = micro_step(t, &s.tokens);
        if (!isfinite(l)) stop_nonfinite(t, "loss");
        s.loss += l / K;
    }
    if (t->grad_unit != 0 && t->grad_unit != 1)
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] *= (float)t->grad_unit;
    if (K > 1)
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] /= (float)K;
    // Data parallel: the one exchange of the step, then every rank clips and updates alike.
    dist_sum_float(m->grads, m->n_params);
    double sums[2] = {s.loss, (double)s.tokens};
    dist_sum_double(sums, 2);
    s.loss = sums[0];
    s.tokens = (int64_t)sums[1];
    if (clip_grad_nonfinite(m->grads, m->n_params)) stop_nonfinite(t, "gradient");
    s.grad_norm = clip_grad_norm(m->grads, m->n_params, t->tc->clip);
    s.lr = t->tc->lr * sched_lambda(&t->sched, t->adam.t);
    adamw_step(&t->adam, m->params, m->grads, s.lr);
    if (clip_grad_nonfinite(m->params, m->n_params)) stop_nonfinite(t, "parameter after the update");
    return s;
}

// ---- logging and evaluation ---------------------------------------------------------------

static void log_step(Trainer *t, const StepStats *s, double dt) {
    if (!t->log) return;  // ranks other than 0
    double tps = dt > 0 ? (double)s->tokens / dt : 0;
    fprintf(t->log, "{\"step\": %lld, \"epoch\": %d, \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
            "\"tokens_per_s\": %.1f, \"elapsed_s\": %.3f}\n",
            (long long)t->step, t->epoch, s->loss, s->lr, s->grad_norm, tps, qp_now() - t->t_start);
    fflush(t->log);
    double el = qp_now() - t->t_start;
    int64_t left = t->total_steps - t->step;
    char line[256];
    snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  lr %.3g  grad %.3g  %.0f tok/s  ETA %.0fs", (long long)t->step,
             (long long)t->total_steps, s->loss, s->lr, s->grad_norm, tps, t->step > 0 ? el / t->step * left : 0);
    if (t->tty) {  // one status line redrawn in place; evaluations and the end print below it
        fprintf(stderr, "\r%s\033[K", line);
        t->line_open = 1;
    } else {
        qp_info("%s", line);
    }
}

// End a redrawn status line before printing anything else.
static void close_line(Trainer *t) {
    if (t->line_open) fputc('\n', stderr);
    t->line_open = 0;
}

static void run_eval(Trainer *t) {
    close_line(t);
    EvalResult r;
    evaluate(t->m, t->td, &t->td->dev, &t->eb, 1, &r);
    char js[1024];
    eval_result_json(&r, t->td, js, sizeof js);
    if (t->log) {
        fprintf(t->log, "{\"step\": %lld, \"epoch\": %d, \"eval\": %s}\n", (long long)t->step, t->epoch, js);
        fflush(t->log);
    }
    qp_info("eval step %lld: %s", (long long)t->step, js);
    if (r.main > t->best_main || t->best_step < 0) {
        t->best_main = r.main;
        t->best_step = t->step;
        save(t, "best.h5");
    }
}

static void teardown(Trainer *t) {
    batch_sampler_free(&t->sampler);
    adamw_free(&t->adam);
    eval_buffers_free(&t->eb);
    free(t->ids); free(t->inputs); free(t->targets); free(t->lens); free(t->labels); free(t->scores);
    if (t->log) fclose(t->log);
}

int train_run(const TrainConfig *tc, Model *m, const TaskData *td) {
    Trainer t;
    memset(&t, 0, sizeof t);
    t.tc = tc; t.m = m; t.td = td;
    setup(&t);
    if (t.rank == 0) qp_mkdir_p(tc->out_dir);
    if (tc->resume) resume(&t);
    else batch_sampler_set_epoch(&t.sampler, 0);
    if (t.rank == 0) {  // rank 0 alone writes the run directory
        qp_write_text_atomic(out_path(&t, "config.json"), tc->config_json);
        t.log = xfopen(out_path(&t, "log.jsonl"), tc->resume ? "a" : "w");
    }
    qp_info("training %lld steps (%lld per epoch), %zu trainable floats, %zu train / %zu dev examples",
            (long long)t.total_steps, (long long)steps_per_epoch(&t), m->n_params, td->train.n, td->dev.n);
    if (t.size > 1)
        qp_info("data parallel: %d MPI ranks x %d examples of the global batch %d; %zu bytes reduced per step",
                t.size, tc->batch / t.size, tc->batch, m->n_params * sizeof(float));
    t.t_start = qp_now();
    t.tty = !qp_quiet && isatty(2);
    while (t.step < t.total_steps) {
        double t0 = qp_now();
        t.epoch_done = 0;
        StepStats s = train_step(&t);
        t.step++;
        if (t.epoch_done) t.epoch++;
        if (tc->log_every > 0 && (t.step % tc->log_every == 0 || t.step == t.total_steps)) log_step(&t, &s, qp_now() - t0);
        int last = t.step == t.total_steps;
        if (t.epoch_done || last || (t.eval_every > 0 && t.step % t.eval_every == 0)) run_eval(&t);
        if (tc->save_every > 0 && t.step % tc->save_every == 0) {
            char name[64];
            snprintf(name, sizeof name, "step-%lld.h5", (long long)t.step);
            save(&t, name);
        }
    }
    save(&t, "last.h5");
    close_line(&t);
    qp_info("done: %lld steps in %.1fs; best %s %.4f at step %lld; wrote %s/{last,best}.h5", (long long)t.step,
            qp_now() - t.t_start, task_main_metric_name(td), td->head == HEAD_LM ? -t.best_main : t.best_main,
            (long long)t.best_step, tc->out_dir);
    teardown(&t);
    return 0;
}
