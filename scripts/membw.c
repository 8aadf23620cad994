/* membw: measure this machine's memory read bandwidth, as a bound for decoding.
 *
 *     cc -O3 -march=native -fopenmp scripts/membw.c -o membw
 *     ./membw THREADS [MIB [REPS]]        defaults: 1 thread, 1024 MiB, 10 repetitions
 *
 * Sums a float buffer of MIB mebibytes (default 1 GiB, far beyond any L3 cache) with
 * THREADS OpenMP threads, each thread reading its own contiguous part once per
 * repetition. It does so reading 1, 2, 4 and 8 streams at a time per thread (the thread's
 * part cut into that many pieces, read side by side, as a matrix-vector product reads a
 * tile of rows), REPS times each after one untimed pass, and prints one line:
 *
 *     membw: threads 2, buffer 1024 MiB, 10 reps: best 22.3 GB/s, median 22.1 GB/s (4 streams per thread) ...
 *
 * best and median are those of the access pattern with the best repetition. GB/s is 10^9
 * bytes read per second. The buffer is first written by the threads that later read it
 * (first touch), and the sum uses many independent accumulators so that the additions
 * keep up with memory on one core. Decoding a token streams every weight once, much as
 * this loop does: the best repetition is the bound to compare against. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LANES 64  /* independent partial sums: 8 AVX2 registers of 8 floats */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sum of a[0..n), cut into `streams` equal pieces that are read side by side, front to back. */
static double sum_floats(const float *a, size_t n, int streams)
{
    float acc[LANES] = {0};
    size_t piece = n / (size_t)streams / LANES * LANES;
    for (size_t i = 0; i < piece; i += LANES)
        for (int s = 0; s < streams; s++) {
            const float *p = a + (size_t)s * piece + i;
            for (int j = 0; j < LANES; j++)
                acc[j] += p[j];
        }
    double total = 0.0;
    for (size_t i = piece * (size_t)streams; i < n; i++)
        total += a[i];
    for (int j = 0; j < LANES; j++)
        total += acc[j];
    return total;
}

/* The part [*lo, *hi) of n elements that thread t of nt reads, aligned to LANES. */
/* This thread's share [lo, hi) of n floats, called inside a parallel region. */
static void my_range(size_t n, size_t *lo, size_t *hi)
{
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    size_t blocks = n / LANES;
    *lo = blocks * (size_t)t / (size_t)nt * LANES;
    *hi = (t == nt - 1) ? n : blocks * (size_t)(t + 1) / (size_t)nt * LANES;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long parse_positive(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "membw: %s must be a positive integer, not '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 4 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: %s [THREADS [MIB [REPS]]]\n", argv[0]);
        return 2;
    }
    int threads = argc > 1 ? (int)parse_positive(argv[1], "THREADS") : 1;
    size_t mib = argc > 2 ? (size_t)parse_positive(argv[2], "MIB") : 1024;
    int reps = argc > 3 ? (int)parse_positive(argv[3], "REPS") : 10;
#ifdef _OPENMP
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
#else
    if (threads != 1)
        fprintf(stderr, "membw: built without OpenMP: using 1 thread, not %d\n", threads);
    threads = 1;
#endif

    size_t bytes = mib << 20, n = bytes / sizeof(float);
    float *a = NULL;
    if (posix_memalign((void **)&a, 2u << 20, bytes) != 0) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }

    /* First touch: each thread writes the part it will read. */
#pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        my_range(n, &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            a[i] = (float)(i & 1023) * (1.0f / 1024.0f);
    }

    static const int stream_counts[] = {1, 2, 4, 8};
    const int n_patterns = (int)(sizeof stream_counts / sizeof stream_counts[0]);
    double *rates = malloc((size_t)reps * sizeof *rates);
    if (!rates) {
        fprintf(stderr, "membw: out of memory\n");
        return 1;
    }
    double checksum = 0.0, best = 0.0, best_median = 0.0;
    int best_streams = 1;
    char detail[256] = "";
    for (int p = 0; p < n_patterns; p++) {
        const int streams = stream_counts[p];
        for (int r = -1; r < reps; r++) {  /* r = -1: warm-up, not timed */
            double total = 0.0;
            double start = now_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : total)
            {
                size_t lo, hi;
                my_range(n, &lo, &hi);
                total += sum_floats(a + lo, hi - lo, streams);
            }
            double seconds = now_seconds() - start;
            checksum += total;
            if (r >= 0)
                rates[r] = (double)bytes / seconds / 1e9;
        }
        qsort(rates, (size_t)reps, sizeof *rates, compare_doubles);
        double median = reps % 2 ? rates[reps / 2] : 0.5 * (rates[reps / 2 - 1] + rates[reps / 2]);
        size_t used = strlen(detail);
        snprintf(detail + used, sizeof detail - used, "%s%d: %.2f", p ? ", " : "", streams, rates[reps - 1]);
        if (rates[reps - 1] > best) {
            best = rates[reps - 1];
            best_median = median;
            best_streams = streams;
        }
    }
    printf("membw: threads %d, buffer %zu MiB, %d reps: best %.2f GB/s, median %.2f GB/s "
           "(%d stream%s per thread; best by streams %s) checksum %.6g\n",
           threads, mib, reps, best, best_median, best_streams, best_streams > 1 ? "s" : "", detail, checksum);
    free(rates);
    free(a);
    return 0;
}
