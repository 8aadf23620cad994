/* peak: measure this machine's floating-point peak, the bound for a prompt's matmuls.
 *
 *     cc -O2 -march=native -fopenmp scripts/peak.c -o peak
 *     ./peak THREADS [MILLION_STEPS]      defaults: 1 thread, 200 million steps
 *
 * Each thread runs ACCUMULATORS independent chains of float multiply-adds
 * (acc = acc * a + b) on the widest vectors the build has (16 floats with
 * AVX-512F, 8 with AVX2 and FMA, else 4 through the compiler's plain vector
 * extension), enough chains to hide the multiply-add latency (4 cycles, 2 a
 * cycle: 8 in flight; 12 to spare). A step is one multiply-add per
 * accumulator; the best of REPS repetitions is reported:
 *
 *     peak: threads 2, 16-float vectors (avx512f), 12 chains: best 180.3 GFLOP/s, median 178.9 GFLOP/s
 *
 * A multiply-add counts as 2 floating-point operations per vector element. GFLOP/s is
 * 10^9 of those per second, summed over the threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#define WIDTH 16
#define WIDTH_NAME "avx512f"
#elif defined(__AVX2__) && defined(__FMA__)
#define WIDTH 8
#define WIDTH_NAME "avx2+fma"
#else
#define WIDTH 4
#define WIDTH_NAME "generic"
#endif
#define ACCUMULATORS 12  /* independent multiply-add chains per thread (fma_chains names them) */
#define REPS 10

typedef float vec __attribute__((vector_size(WIDTH * sizeof(float))));

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* steps x ACCUMULATORS multiply-adds of WIDTH floats; returns a value that
 * depends on every chain, so that none is optimized away. a and b come from
 * the caller, so that nothing is constant-folded. */
static float fma_chains(long steps, float a, float b)
{
    vec va, vb, init;
    for (int j = 0; j < WIDTH; j++)
        va[j] = a, vb[j] = b, init[j] = (float)j * 1e-3f;
    /* twelve named chains, not an array: an array would live in memory */
    vec c0 = init, c1 = init + 1, c2 = init + 2, c3 = init + 3, c4 = init + 4, c5 = init + 5;
    vec c6 = init + 6, c7 = init + 7, c8 = init + 8, c9 = init + 9, c10 = init + 10, c11 = init + 11;
    for (long s = 0; s < steps; s++) {
        /* each contracted into one fused multiply-add (-ffp-contract=fast, gcc's default) */
        c0 = c0 * va + vb, c1 = c1 * va + vb, c2 = c2 * va + vb, c3 = c3 * va + vb;
        c4 = c4 * va + vb, c5 = c5 * va + vb, c6 = c6 * va + vb, c7 = c7 * va + vb;
        c8 = c8 * va + vb, c9 = c9 * va + vb, c10 = c10 * va + vb, c11 = c11 * va + vb;
    }
    const vec sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
    float total = 0.0f;
    for (int j = 0; j < WIDTH; j++)
        total += sum[j];
    return total;
}

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static long parse_positive(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "peak: %s must be a positive integer, not '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 3 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: %s [THREADS [MILLION_STEPS]]\n", argv[0]);
        return 2;
    }
    int threads = argc > 1 ? (int)parse_positive(argv[1], "THREADS") : 1;
    long steps = (argc > 2 ? parse_positive(argv[2], "MILLION_STEPS") : 200) * 1000000L / ACCUMULATORS;
#ifdef _OPENMP
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
#else
    if (threads != 1)
        fprintf(stderr, "peak: built without OpenMP: using 1 thread, not %d\n", threads);
    threads = 1;
#endif
    const float a = argc > 0 ? 0.999999f : 1.0f, b = 1e-6f;  /* stays finite: acc tends to b / (1 - a) */
    double rates[REPS], checksum = 0.0;
    for (int r = -1; r < REPS; r++) {  /* r = -1: warm-up (clocks up), not timed */
        double total = 0.0;
        const double start = now_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : total)
        total += fma_chains(steps, a, b);
        const double seconds = now_seconds() - start;
        checksum += total;
        if (r >= 0)
            rates[r] = 2.0 * WIDTH * ACCUMULATORS * (double)steps * threads / seconds / 1e9;
    }
    qsort(rates, REPS, sizeof rates[0], compare_doubles);
    printf("peak: threads %d, %d-float vectors (%s), %d chains: best %.1f GFLOP/s, median %.1f GFLOP/s "
           "checksum %.6g\n",
           threads, WIDTH, WIDTH_NAME, ACCUMULATORS, rates[REPS - 1], rates[REPS / 2], checksum);
    return 0;
}
