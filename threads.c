/* threads.c - for_each_unit: work stealing over OpenMP's threads.
 *
 * Decoding's matmuls are paced by memory, and each thread reads fastest
 * through one long run of consecutive rows; but on a shared machine one
 * core is often slower than the other, and equal fixed shares would leave
 * the faster thread waiting. So each thread starts on its own share and,
 * once done, takes half of what is left of the largest other share. */
#include "threads.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* for_each_unit's bookkeeping: each thread's share of the units not yet
 * taken, [front, back) packed in one word so that its owner (taking from
 * the front) and a thief (taking from the back) change it atomically. */
#define MAX_SHARE_THREADS 64
typedef struct {
    _Alignas(64) _Atomic uint64_t left;  /* front << 32 | back; a cache line per thread */
} UnitShare;

static uint64_t unit_span(uint32_t front, uint32_t back)
{
    return (uint64_t)front << 32 | back;
}

/* Units [*first, *end) for thread `me` to do next: the front `run` of its
 * own share, else the back half of the largest share left, which becomes
 * its own. false when every share is empty. A unit is handed out once: a
 * share's word only changes by compare-and-swap, except when a thief stores
 * the half it took into its own share, which is empty and so untouched by
 * others. */
static bool take_units(UnitShare shares[], int me, int n_threads, int run, int *first, int *end)
{
    for (;;) {
        uint64_t mine = atomic_load(&shares[me].left);
        const uint32_t front = (uint32_t)(mine >> 32), back = (uint32_t)mine;
        if (front < back) {
            const uint32_t to = back - front > (uint32_t)run ? front + (uint32_t)run : back;
            if (atomic_compare_exchange_weak(&shares[me].left, &mine, unit_span(to, back))) {
                *first = (int)front, *end = (int)to;
                return true;
            }
            continue;  /* a thief took some meanwhile */
        }
        int victim = -1;
        uint64_t seen = 0;
        uint32_t most = 0;
        for (int t = 0; t < n_threads; t++) {
            const uint64_t span = atomic_load(&shares[t].left);
            const uint32_t f = (uint32_t)(span >> 32), b = (uint32_t)span;
            if (b > f && b - f > most)
                most = b - f, victim = t, seen = span;
        }
        if (victim < 0)
            return false;
        const uint32_t f = (uint32_t)(seen >> 32), b = (uint32_t)seen, split = b - (b - f + 1) / 2;
        if (atomic_compare_exchange_strong(&shares[victim].left, &seen, unit_span(f, split)))
            atomic_store(&shares[me].left, unit_span(split, b));
    }
}

/* The threads for_each_unit runs on: OpenMP's, at most MAX_SHARE_THREADS.
 * (Defined without OpenMP too: clang reads the pragma's clauses even then.) */
static inline int share_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads() < MAX_SHARE_THREADS ? omp_get_max_threads() : MAX_SHARE_THREADS;
#else
    return 1;
#endif
}

void for_each_unit(int n, int run, bool parallel, UnitFunction fn, void *context)
{
    UnitShare shares[MAX_SHARE_THREADS];
#pragma omp parallel num_threads(share_threads()) if (parallel)
    {
        int me = 0, n_threads = 1;
#ifdef _OPENMP
        me = omp_get_thread_num();
        n_threads = omp_get_num_threads();
#endif
        atomic_store(&shares[me].left, unit_span((uint32_t)((int64_t)n * me / n_threads),
                                                 (uint32_t)((int64_t)n * (me + 1) / n_threads)));
#ifdef _OPENMP
#pragma omp barrier  /* every share set before any thread looks for one to take from */
#endif
        int first, end;
        while (take_units(shares, me, n_threads, run, &first, &end))
            for (int unit = first; unit < end; unit++)
                fn(context, unit);
    }
}

/* ---------------------------------------------------------------------------
 * How many threads: fixed, or tried against one another while decoding */

static void use_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

void thread_tuner_init(ThreadTuner *t, int requested)
{
    int most = 1;
#ifdef _OPENMP
    most = omp_get_max_threads();  /* OMP_NUM_THREADS, else every core */
#endif
    const char *env = getenv("OMP_NUM_THREADS");
    *t = (ThreadTuner){{requested > 0 ? requested : most, 1}, 0, requested > 0 || (env && *env) || most == 1,
                       {0, 0}, 0, 1, THREAD_PROBE_MIN_INTERVAL, false, {0, 0}};
    use_threads(t->choices[0]);
}

int thread_tuner_threads(const ThreadTuner *t)
{
    return t->choices[t->probing ? 1 - t->current : t->current];
}

void thread_tuner_before_step(ThreadTuner *t)
{
    if (t->fixed)
        return;
    /* Probe once the current choice has a measurement to compare against. */
    t->probing = t->steps >= t->next_probe && t->step_time[t->current] > 0;
    use_threads(thread_tuner_threads(t));
}

void thread_tuner_after_step(ThreadTuner *t, double seconds)
{
    t->steps_on[t->probing ? 1 - t->current : t->current]++;
    if (t->fixed)
        return;
    t->steps++;
    if (t->probing) {
        const int other = 1 - t->current;
        t->step_time[other] = seconds;
        const bool faster = seconds < THREAD_SWITCH_MARGIN * t->step_time[t->current];
        if (faster)
            t->current = other;
        /* A probe that lost by a factor r cost about r - 1 steps: the next waits
         * at least 8 (r - 1) steps, so probing costs at most an eighth or so. */
        const double lost = faster ? 0 : 8.0 * (seconds / t->step_time[t->current] - 1.0);
        int interval = faster ? THREAD_PROBE_MIN_INTERVAL : 2 * t->probe_interval;
        if (interval < lost)
            interval = lost < THREAD_PROBE_MAX_INTERVAL ? (int)lost : THREAD_PROBE_MAX_INTERVAL;
        t->probe_interval = interval < THREAD_PROBE_MAX_INTERVAL ? interval : THREAD_PROBE_MAX_INTERVAL;
        t->next_probe = t->steps + t->probe_interval;
        t->probing = false;
        return;
    }
    /* A moving average: the load changes, and the context grows. */
    double *mean = &t->step_time[t->current];
    *mean = *mean > 0 ? 0.75 * *mean + 0.25 * seconds : seconds;
}
