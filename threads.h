/* threads.h - sharing work out over the threads (OpenMP's). */
#ifndef THREADS_H
#define THREADS_H

#include <stdbool.h>

/* Below this many multiply-adds, work is too small to be worth waking the
 * other threads for (stories260K's matrices are). */
#define PARALLEL_MIN_WORK (1 << 15)

/* Calls fn(context, u) once for each u in [0, n), on every thread when
 * `parallel` (else on this one): each thread starts on an equal contiguous
 * share, `run` units at a time from its front, and a thread whose share is
 * done takes the back half of the largest share left. So each thread reads
 * long runs of consecutive units, and none waits at the end for more than
 * about `run` of another's. */
typedef void (*UnitFunction)(void *context, int unit);
void for_each_unit(int n, int run, bool parallel, UnitFunction fn, void *context);

#endif
