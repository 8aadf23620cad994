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

#endif
