/* threads.c - the engine's threads: a pool of workers that for_each_unit
 * shares work out over by work stealing.
 *
 * Decoding's matmuls are paced by memory, and each thread reads fastest
 * through one long run of consecutive rows; but on a shared machine one
 * core is often slower than the other, and equal fixed shares would leave
 * the faster thread waiting. So each thread starts on its own share and,
 * once done, takes half of what is left of the largest other share.
 *
 * On a machine where another process wants a core, any of our threads can be
 * descheduled for milliseconds at any moment. Nothing here waits for a
 * thread to arrive: the caller posts a job and works on it at once, a worker
 * that wakes late finds its share taken, and a job is over when its units
 * are done, not when every thread has checked in. A thread with nothing to
 * do spins only briefly (SPIN_NANOSECONDS), then sleeps, so that its core
 * goes to the thread that still has work (the kernel moves a waiting thread
 * onto a core that falls idle). */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* How long a thread with nothing to do checks for work before it sleeps:
 * longer than the gap between two of decoding's matmuls, much shorter than
 * the time slice in which a descheduled thread waits for a core. */
#define SPIN_NANOSECONDS 50000
#define SPINS_PER_CLOCK_READ 64

/* for_each_unit's bookkeeping: each thread's share of the units not yet
 * taken, [front, back) packed in one word so that its owner (taking from
 * the front) and a thief (taking from the back) change it atomically. */
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

/* ---------------------------------------------------------------------------
 * Waiting: a short spin, then sleep */

typedef struct {
    struct timespec start;
    int spins;
} Spin;

static Spin spin_start(void)
{
    Spin s = {.spins = 0};
    clock_gettime(CLOCK_MONOTONIC, &s.start);
    return s;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One pause of a spin; false once it has gone on for SPIN_NANOSECONDS. */
static bool keep_spinning(Spin *s)
{
    cpu_relax();
    if (++s->spins % SPINS_PER_CLOCK_READ)
        return true;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - s->start.tv_sec) * 1000000000L + (now.tv_nsec - s->start.tv_nsec) < SPIN_NANOSECONDS;
}

/* ---------------------------------------------------------------------------
 * The pool: the calling thread (thread 0) and up to MAX_POOL_THREADS - 1 workers */

typedef struct {
    UnitFunction fn;
    void *context;
    int run, n_threads;
    UnitShare shares[MAX_POOL_THREADS];
    _Alignas(64) _Atomic int units_left;  /* not yet done: the job is over at 0 */
} Job;

static struct {
    pthread_mutex_t lock;  /* for the two condition variables only */
    pthread_cond_t job_posted, job_done;
    pthread_t workers[MAX_POOL_THREADS];
    int n_started;   /* workers running: workers[1..n_started] */
    _Atomic int n_threads;  /* threads a job runs on (threads_use; 0: not set), the caller included */
    atomic_flag busy;  /* a job is under way: another one (from a unit, say) runs on its caller alone */
    /* Even: job number generation / 2 is posted. Odd: the job is being
     * rewritten, and no worker may start reading it. */
    _Alignas(64) _Atomic uint32_t generation;
    _Atomic int inside;    /* workers that may be reading the job */
    _Atomic int sleepers;  /* workers asleep on job_posted */
    _Atomic bool caller_asleep, stopping;
    Job job;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT};

/* Thread `me` takes units until none are left; whoever finishes the last
 * wakes the caller if it sleeps. */
static void work_on_job(Job *job, int me)
{
    int first, end;
    while (take_units(job->shares, me, job->n_threads, job->run, &first, &end)) {
        for (int unit = first; unit < end; unit++)
            job->fn(job->context, unit);
        if (atomic_fetch_sub(&job->units_left, end - first) == end - first && atomic_load(&pool.caller_asleep)) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.job_done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

static bool job_posted_since(uint32_t generation, uint32_t seen)
{
    return generation != seen && generation % 2 == 0;
}

/* The generation of the next job posted after `seen` (or on stopping). */
static uint32_t wait_for_job(uint32_t seen)
{
    uint32_t generation;
    Spin spin = spin_start();
    while (!job_posted_since(generation = atomic_load(&pool.generation), seen) && keep_spinning(&spin))
        ;
    if (job_posted_since(generation, seen))
        return generation;
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);  /* before the check, so that a poster sees one or the other */
    while (!job_posted_since(generation = atomic_load(&pool.generation), seen) && !atomic_load(&pool.stopping))
        pthread_cond_wait(&pool.job_posted, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return generation;
}

static void *worker_main(void *arg)
{
    const int me = (int)(intptr_t)arg;
    uint32_t seen = 0;
    for (;;) {
        const uint32_t generation = wait_for_job(seen);
        if (atomic_load(&pool.stopping))
            return NULL;
        seen = generation;
        /* Announce the read, then check the job is still the one posted: a
         * caller rewriting it first makes the generation odd, then waits
         * until no worker is inside. */
        atomic_fetch_add(&pool.inside, 1);
        if (atomic_load(&pool.generation) == generation && me < pool.job.n_threads)
            work_on_job(&pool.job, me);
        atomic_fetch_sub(&pool.inside, 1);
    }
}

static void stop_workers(void)
{
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.stopping, true);
    pthread_cond_broadcast(&pool.job_posted);
    pthread_mutex_unlock(&pool.lock);
    for (int w = 1; w <= pool.n_started; w++)
        pthread_join(pool.workers[w], NULL);
    pool.n_started = 0;
}

/* Workers up to n_threads - 1; as many as could be started. */
static int start_workers(int n_threads)
{
    if (n_threads > MAX_POOL_THREADS)
        n_threads = MAX_POOL_THREADS;
    if (pool.n_started == 0 && n_threads > 1 && atexit(stop_workers) != 0)
        return 1;  /* they could not be stopped at exit: none */
    while (pool.n_started < n_threads - 1) {
        const int me = pool.n_started + 1;
        if (pthread_create(&pool.workers[me], NULL, worker_main, (void *)(intptr_t)me) != 0)
            break;
        pool.n_started = me;
    }
    return pool.n_started + 1;
}

/* Waits until no worker may still be reading the job. Workers stay inside
 * only for the moment it takes to find nothing left to take. */
static void wait_for_workers_outside(void)
{
    Spin spin = spin_start();
    while (atomic_load(&pool.inside) > 0)
        if (!keep_spinning(&spin))
            sched_yield();
}

static void wait_for_job_done(Job *job)
{
    Spin spin = spin_start();
    while (atomic_load(&job->units_left) > 0 && keep_spinning(&spin))
        ;
    if (atomic_load(&job->units_left) == 0)
        return;
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.caller_asleep, true);  /* before the check: the last worker sees one or the other */
    while (atomic_load(&job->units_left) > 0)
        pthread_cond_wait(&pool.job_done, &pool.lock);
    atomic_store(&pool.caller_asleep, false);
    pthread_mutex_unlock(&pool.lock);
}

/* Posts the job of n units to the workers and works on it too; returns
 * when every unit is done. */
static void run_job(int n, int run, int n_threads, UnitFunction fn, void *context)
{
    const uint32_t generation = atomic_load(&pool.generation);
    atomic_store(&pool.generation, generation + 1);  /* closed to late workers */
    wait_for_workers_outside();
    Job *job = &pool.job;
    job->fn = fn, job->context = context, job->run = run, job->n_threads = n_threads;
    for (int t = 0; t < n_threads; t++)  /* equal contiguous shares */
        atomic_store(&job->shares[t].left, unit_span((uint32_t)((int64_t)n * t / n_threads),
                                                     (uint32_t)((int64_t)n * (t + 1) / n_threads)));
    atomic_store(&job->units_left, n);
    atomic_store(&pool.generation, generation + 2);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.job_posted);
        pthread_mutex_unlock(&pool.lock);
    }
    work_on_job(job, 0);
    wait_for_job_done(job);
}

void for_each_unit(int n, int run, bool parallel, UnitFunction fn, void *context)
{
    int wanted = atomic_load(&pool.n_threads);
    if (wanted == 0)  /* threads_use was not called */
        atomic_store(&pool.n_threads, wanted = threads_default());
    /* Not shared: too little work, one thread, or called from a unit (or
     * from another thread) while a job runs. */
    if (!parallel || n < 2 || wanted < 2 || atomic_load(&pool.stopping) || atomic_flag_test_and_set(&pool.busy)) {
        for (int unit = 0; unit < n; unit++)
            fn(context, unit);
        return;
    }
    const int n_threads = start_workers(wanted);
    if (n_threads > 1)
        run_job(n, run, n_threads, fn, context);
    else
        for (int unit = 0; unit < n; unit++)
            fn(context, unit);
    atomic_flag_clear(&pool.busy);
}

/* ---------------------------------------------------------------------------
 * How many threads */

int threads_default(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();  /* OMP_NUM_THREADS, else every core this process may use */
#else
    const char *env = getenv("OMP_NUM_THREADS");
    const int from_env = env ? atoi(env) : 0;
    if (from_env > 0)
        return from_env;
#ifdef CPU_COUNT
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0)
        return CPU_COUNT(&cpus);
#endif
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
#endif
}

void threads_use(int n)
{
    atomic_store(&pool.n_threads, n < 1 ? 1 : n < MAX_POOL_THREADS ? n : MAX_POOL_THREADS);
#ifdef _OPENMP
    omp_set_num_threads(n);  /* the prompt's OpenMP loops */
#endif
}

int threads_in_use(void)
{
    const int n = atomic_load(&pool.n_threads);
    return n > 0 ? n : threads_default();
}
