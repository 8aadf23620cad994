/* threads.h - sharing work out over the engine's threads: a pool of workers
 * beside the calling thread (POSIX threads), and how many of them to use. */
#ifndef THREADS_H
#define THREADS_H

#include <stdbool.h>

/* Below this many multiply-adds, work is too small to be worth waking the
 * other threads for (stories260K's matrices are). */
#define PARALLEL_MIN_WORK (1 << 15)

/* Calls fn(context, u) once for each u in [0, n), on the threads in use
 * when `parallel` (else on this one), the calling thread among them: each
 * thread starts on an equal contiguous share, `run` units at a time from its
 * front, and a thread whose share is done takes the back half of the largest
 * share left. So each thread reads long runs of consecutive units, none
 * waits at the end for more than about `run` of another's, and the share of
 * a thread that is late (descheduled) is done by the others. Returns when
 * every unit is done. One caller at a time: a call from a unit, or from
 * another thread meanwhile, runs on its caller alone. */
typedef void (*UnitFunction)(void *context, int unit);
void for_each_unit(int n, int run, bool parallel, UnitFunction fn, void *context);

#define MAX_POOL_THREADS 64

/* The threads to use unless told: OMP_NUM_THREADS, else every core. */
int threads_default(void);
/* From now on, for_each_unit (and OpenMP's loops) run on n threads (at most
 * MAX_POOL_THREADS for for_each_unit). The workers start when first needed. */
void threads_use(int n);
int threads_in_use(void);

/* The threads a run uses: `--threads N` (or OMP_NUM_THREADS) fixes them;
 * otherwise decoding starts on every core and keeps checking that they help.
 * On a machine where another process wants a core, threads that wait for
 * each other at every step can run ten times slower than one thread alone,
 * so now and then one step runs on the other choice (one thread, or all), and
 * the faster by more than THREAD_SWITCH_MARGIN wins. A probe that loses costs
 * a slow step, so the next comes twice as late or later (more so the more it
 * lost), up to every THREAD_PROBE_MAX_INTERVAL steps. The tokens do not depend on the thread count. */
#define THREAD_PROBE_MIN_INTERVAL 2
#define THREAD_PROBE_MAX_INTERVAL 256
#define THREAD_SWITCH_MARGIN 0.85  /* the other choice must take < 85% of the time */

typedef struct {
    int choices[2];       /* all threads, one thread */
    int current;          /* index into choices */
    bool fixed;           /* --threads or OMP_NUM_THREADS: no probing */
    double step_time[2];  /* the recent seconds per step on each choice; 0 = not measured */
    int steps;
    int next_probe, probe_interval;  /* the step that probes next, and the gap after it */
    bool probing;         /* this step runs on the other choice */
    int steps_on[2];      /* steps run on each choice */
} ThreadTuner;

/* requested: --threads (0 = not given). Sets the thread count for what
 * follows (the prompt too). */
void thread_tuner_init(ThreadTuner *t, int requested);
/* Before a decoding step: sets the thread count it runs on. */
void thread_tuner_before_step(ThreadTuner *t);
/* After it: how long it took. */
void thread_tuner_after_step(ThreadTuner *t, double seconds);
/* The threads the next step would use. */
int thread_tuner_threads(const ThreadTuner *t);

#endif
