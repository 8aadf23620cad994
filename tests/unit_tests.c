/* unit_tests.c - the engine's parts, each against a plain or hand-computed
 * version: kernels, the batched forward pass, the sampler, the tokenizer
 * (against ids sentencepiece produced), and every loader error path.
 *
 * Prints "ok - NAME" or "not ok - NAME: why" per test; tests/run_tests.sh
 * counts them. Usage: tests/unit_tests [MODELS_DIR] */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "gguf_write.h"
#include "kernels.h"
#include "layers.h"
#include "llama2c.h"
#include "model.h"
#include "nfc.h"
#include "pretokenizer.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"
#include "unicode_classes.h"

#include "test_harness.h"

static uint64_t test_rng = 42;

static float random_uniform(void)  /* in [-1, 1) */
{
    return random_f32(&test_rng) * 2.0f - 1.0f;
}

static float *random_floats(size_t n)
{
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = random_uniform();
    return x;
}

/* Largest |a - b| relative to the largest |b|. */
static double max_relative_error(const float *a, const double *b, size_t n)
{
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return diff / scale;
}

/* A matmul's scratch for up to T tokens of cols values, as run_state_init
 * makes it. */
static MatmulScratch scratch_new(int T, int cols)
{
    size_t n = (size_t)(T + MATMUL_PANEL_TOKENS - 1) / MATMUL_PANEL_TOKENS * MATMUL_PANEL_TOKENS * cols;
    return (MatmulScratch){malloc(n), malloc(n * sizeof(float)), aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)};
}

static void scratch_free(MatmulScratch *s)
{
    free(s->values), free(s->scales), free(s->panels);
}

/* ---------------------------------------------------------------------------
 * Kernels against plain double-precision loops */

/* The plain reference set comes last, the others can fall back to it, and
 * this build has the fastest set this processor runs (else it was built
 * without -march=native, and leaves speed behind). */
static void test_kernel_sets(void)
{
    const int n = kernel_set_count();
    expect(n >= 1 && strcmp(kernel_set_name(kernel_set(n - 1)), "plain") == 0, "the last set is not \"plain\"");
    expect(kernels_active() == kernel_set(0), "the fastest set is not the active one");
    bool has_avx2 = false, has_avx512 = false;
    char names[128] = "";
    for (int k = 0; k < n; k++) {
        const char *name = kernel_set_name(kernel_set(k));
        has_avx2 |= strcmp(name, "avx2") == 0;
        has_avx512 |= strcmp(name, "avx512") == 0;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", name);
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        expect(has_avx2, "this processor has AVX2 and FMA but the build has no avx2 kernel set");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        expect(has_avx512, "this processor has AVX-512 (F, BW, VL) but the build has no avx512 kernel set");
#endif
    kernels_use(kernel_set(n - 1));
    expect(kernels_active() == kernel_set(n - 1), "kernels_use did not choose the plain set");
    kernels_use(NULL);
    char title[256];
    snprintf(title, sizeof title, "kernel sets (%s): plain last, the fastest this processor runs built in and active",
             names);
    report(title);
}

static void test_matmul(void)
{
    const int shapes[][3] = {{1, 1, 1},    {1, 7, 13},   {3, 64, 64},    {5, 33, 100},  {32, 172, 64},
                             {2, 300, 768}, {7, 38, 96},  {64, 30, 768},  {1, 40, 64},   {8, 27, 2056},
                             {5, 24, 1032}, {29, 13, 100}, {20, 50, 1500}, {17, 6, 8},   {2, 1, 3}};
    /* whole tiles, panels and lanes, and leftovers of each; rows too long
     * for L1, in chunks of columns */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        float *w = random_floats((size_t)rows * cols), *in = random_floats((size_t)T * cols);
        float *out = malloc((size_t)T * rows * sizeof(float));
        double *want = malloc((size_t)T * rows * sizeof(double));
        for (int t = 0; t < T; t++)
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int c = 0; c < cols; c++)
                    sum += (double)w[(size_t)r * cols + c] * in[(size_t)t * cols + c];
                want[(size_t)t * rows + r] = sum;
            }
        Matrix W = {WEIGHT_F32, rows, cols, w, NULL, 0};
        MatmulScratch scratch = scratch_new(T, cols);
        for (int k = 0; k < kernel_set_count(); k++) {
            kernels_use(kernel_set(k));
            matmul(out, in, &W, T, &scratch);
            double err = max_relative_error(out, want, (size_t)T * rows);
            expect(err < 1e-5, "%s, T=%d %dx%d: relative error %g", kernel_set_name(kernel_set(k)), T, rows, cols,
                   err);
        }
        kernels_use(NULL);
        scratch_free(&scratch);
        free(w), free(in), free(out), free(want);
    }
    report("matmul equals a plain double loop, on every kernel set");
}

/* Several matrices reading one input, as q, k and v do: decoding cuts each
 * into lanes (row counts with rows left over after the last whole lane, and
 * fewer rows than lanes), a batch into tiles; enough work for the threads. */
static void test_matmul_shared_input(void)
{
    const int rows[] = {301, 5, 772}, cols = 768, n = 3;
    for (int T = 1; T <= 6; T += 5) {
        float *w[3], *out[3], *in = random_floats((size_t)T * cols);
        Matrix m[3];
        const Matrix *Ws[3];
        for (int i = 0; i < n; i++) {
            w[i] = random_floats((size_t)rows[i] * cols);
            out[i] = malloc((size_t)T * rows[i] * sizeof(float));
            m[i] = (Matrix){WEIGHT_F32, rows[i], cols, w[i], NULL, 0};
            Ws[i] = &m[i];
        }
        MatmulScratch scratch = scratch_new(T, cols);
        for (int k = 0; k < kernel_set_count(); k++) {
        kernels_use(kernel_set(k));
        matmul_shared_input(out, Ws, n, in, T, &scratch);
        for (int i = 0; i < n; i++) {
            double err = 0;
            for (int t = 0; t < T; t++)
                for (int r = 0; r < rows[i]; r++) {
                    double sum = 0, size = 0;
                    for (int c = 0; c < cols; c++) {
                        sum += (double)w[i][(size_t)r * cols + c] * in[(size_t)t * cols + c];
                        size += fabs((double)w[i][(size_t)r * cols + c] * in[(size_t)t * cols + c]);
                    }
                    err = fmax(err, fabs(out[i][(size_t)t * rows[i] + r] - sum) / size);
                }
            expect(err < 1e-6, "%s, T=%d, matrix %d (%d rows): error %g of the sum of |products|",
                   kernel_set_name(kernel_set(k)), T, i, rows[i], err);
        }
        }
        kernels_use(NULL);
        scratch_free(&scratch);
        for (int i = 0; i < n; i++)
            free(w[i]), free(out[i]);
        free(in);
    }
    report("matmul_shared_input: every row of every matrix, decoding and batched, on every kernel set");
}

/* for_each_unit's counts of how often each unit ran, and the stalling case. */
typedef struct {
    atomic_int *runs;
    int n;
    atomic_int done;
    int stall_unit;  /* this unit (-1: none) waits until every unit outside its run is done */
    int run;
    int done_at_give_up;  /* units done when the wait gave up; -1 if it did not */
} UnitCounts;

static void count_unit(void *context, int unit)
{
    UnitCounts *c = context;
    if (unit == c->stall_unit) {
        /* Only other threads can do the rest of this thread's share: they
         * must take it. Not a timing test: the time limit only keeps a
         * broken for_each_unit from hanging the suite. */
        const struct timespec nap = {0, 1000000};
        for (int waited = 0; atomic_load(&c->done) < c->n - c->run; waited++) {
            if (waited == 10000) {  /* 10 s */
                c->done_at_give_up = atomic_load(&c->done);
                break;
            }
            nanosleep(&nap, NULL);
        }
    }
    atomic_fetch_add(&c->runs[unit], 1);
    atomic_fetch_add(&c->done, 1);
}

/* The first unit that ran other than once, or -1. */
static int miscounted_unit(const UnitCounts *c)
{
    for (int u = 0; u < c->n; u++)
        if (atomic_load(&c->runs[u]) != 1)
            return u;
    return -1;
}

/* Every unit exactly once, for any count of units and threads; and when
 * one thread is stuck on the first unit of its share (the caller's, unit 0,
 * or a worker's), the others do the rest of that share (a thread that only
 * ever worked through its own share would wait for it forever, and so would
 * a pool that waited for every thread to finish its own). */
static void test_for_each_unit(void)
{
    const int counts[] = {0, 1, 2, 3, 7, 64, 1000, 1001};
    const int default_threads = threads_in_use();
    for (int threads = 1; threads <= 5; threads++) {
        threads_use(threads);
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
            for (int run = 1; run <= 4; run += 3)
                for (int parallel = 0; parallel <= 1; parallel++) {
                    const int n = counts[i];
                    UnitCounts c = {calloc(n + 1, sizeof(atomic_int)), n, 0, -1, run, -1};
                    for_each_unit(n, run, parallel, count_unit, &c);
                    const int wrong = miscounted_unit(&c);
                    expect(wrong < 0, "%d units, run %d, %d threads%s: unit %d ran %d times", n, run, threads,
                           parallel ? "" : " (not parallel)", wrong, wrong < 0 ? 0 : atomic_load(&c.runs[wrong]));
                    free(c.runs);
                }
        for (int stalled_thread = 0; threads > 1 && stalled_thread < 2; stalled_thread++) {
            const int n = 400, run = 4, stall_unit = n * stalled_thread / threads;
            UnitCounts c = {calloc(n, sizeof(atomic_int)), n, 0, stall_unit, run, -1};
            for_each_unit(n, run, true, count_unit, &c);
            const int wrong = miscounted_unit(&c);
            expect(c.done_at_give_up < 0, "%d threads: with unit %d stuck, the others did only %d of %d units",
                   threads, stall_unit, c.done_at_give_up, n - run);
            expect(wrong < 0, "%d threads, unit %d stuck: unit %d ran %d times", threads, stall_unit, wrong,
                   wrong < 0 ? 0 : atomic_load(&c.runs[wrong]));
            free(c.runs);
        }
    }
    threads_use(default_threads);
    report("for_each_unit: every unit once, and a stuck thread's share taken by the others");
}

/* The attention kernels, on strided rows, against plain double loops: one
 * query and blocks of them, positions in tiles and left over. */
static void test_attention_kernels(void)
{
    const int shapes[][3] = {{1, 1, 8}, {1, 3, 8}, {1, 37, 64}, {4, 4, 64}, {5, 7, 12}, {4, 33, 64}, {7, 10, 16}};
    const int stride = 80, score_stride = 40;  /* queries, positions, head_size */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int nq = shapes[s][0], n = shapes[s][1], hs = shapes[s][2];
        float *q = random_floats((size_t)nq * stride), *keys = random_floats((size_t)n * stride);
        float *weights = random_floats(n), scores[7 * 40], out[64];
        double want_scores[7 * 40], want_out[64] = {0};
        for (int t = 0; t < nq; t++)
            attention_scores(scores + t * score_stride, q + (size_t)t * stride, keys, stride, n, hs, 0.125f);
        double err = 0;
        for (int t = 0; t < nq; t++)
            for (int i = 0; i < n; i++) {
                double dot = 0;
                for (int j = 0; j < hs; j++)
                    dot += (double)q[(size_t)t * stride + j] * keys[(size_t)i * stride + j];
                want_scores[t * n + i] = dot * 0.125;
                err = fmax(err, fabs(scores[t * score_stride + i] - want_scores[t * n + i]));
            }
        expect(err < 1e-5, "scores, %d queries x %d positions x %d: error %g", nq, n, hs, err);
        attention_weighted_sum(out, weights, keys, stride, n, hs);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hs; j++)
                want_out[j] += (double)weights[i] * keys[(size_t)i * stride + j];
        double err_out = max_relative_error(out, want_out, hs);
        expect(err_out < 1e-5, "weighted sum of %d positions x %d: relative error %g", n, hs, err_out);
        free(q), free(keys), free(weights);
    }
    report("attention scores and weighted sums equal plain double loops");
}

/* A block of queries through causal attention, fast and plain, against
 * double loops: query t sees keys 0 .. first + t. Whole and half blocks,
 * one query, head sizes that are and are not multiples of 8, key counts
 * that are and are not multiples of the 6-row blocks. */
static void test_attention_query_block(void)
{
    /* n_queries, first, head_size, and whether the last key is "loud": so
     * close to the first query, which must not see it, that counting it in
     * that query's softmax would drown out every key it does see. */
    const int cases[][4] = {{16, 0, 64, 0}, {16, 37, 64, 0}, {9, 5, 64, 0}, {8, 0, 16, 0},   {5, 30, 12, 0},
                            {1, 0, 8, 0},   {1, 41, 64, 0},  {13, 100, 20, 0}, {4, 3, 64, 1}};
    const int kv_stride = 72, q_stride = 80, out_stride = 70;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int nq = cases[c][0], first = cases[c][1], hs = cases[c][2], n = first + nq;
        const float scale = 1.0f / sqrtf((float)hs);
        float *q = random_floats((size_t)nq * q_stride), *keys = random_floats((size_t)n * kv_stride);
        for (int j = 0; cases[c][3] && j < hs; j++)
            keys[(size_t)(n - 1) * kv_stride + j] = 50.0f * q[j];
        float *values = random_floats((size_t)n * kv_stride), *out = malloc((size_t)nq * out_stride * sizeof(float));
        float *scratch = malloc(ATTENTION_SCRATCH(n, hs) * sizeof(float));
        double *want = calloc((size_t)nq * hs, sizeof(double)), *p = malloc((size_t)n * sizeof(double));
        for (int t = 0; t < nq; t++) {
            double max = -INFINITY, sum = 0;
            for (int i = 0; i <= first + t; i++) {
                double dot = 0;
                for (int j = 0; j < hs; j++)
                    dot += (double)q[(size_t)t * q_stride + j] * keys[(size_t)i * kv_stride + j];
                p[i] = dot * scale;
                max = fmax(max, p[i]);
            }
            for (int i = 0; i <= first + t; i++)
                sum += p[i] = exp(p[i] - max);
            for (int i = 0; i <= first + t; i++)
                for (int j = 0; j < hs; j++)
                    want[(size_t)t * hs + j] += p[i] / sum * values[(size_t)i * kv_stride + j];
        }
        for (int k = 0; k < kernel_set_count(); k++) {
            kernels_use(kernel_set(k));
            for (size_t i = 0; i < (size_t)nq * out_stride; i++)
                out[i] = 12345.0f;  /* the columns past the head's must keep it */
            attention_query_block(out, out_stride, q, q_stride, nq, first, keys, values, kv_stride, hs, scale, scratch);
            kernels_use(NULL);
            double err = 0;
            int overwritten = 0;
            for (int t = 0; t < nq; t++) {
                for (int j = 0; j < hs; j++)
                    err = fmax(err, fabs(out[(size_t)t * out_stride + j] - want[(size_t)t * hs + j]));
                for (int j = hs; j < out_stride; j++)
                    overwritten += out[(size_t)t * out_stride + j] != 12345.0f;
            }
            expect(err < 1e-5 && overwritten == 0, "%s: %d queries after %d positions, head size %d: error %g, %d values "
                   "written past the head", kernel_set_name(kernel_set(k)), nq, first, hs, err, overwritten);
        }
        free(q), free(keys), free(values), free(out), free(scratch), free(want), free(p);
    }
    report("attention_query_block, on every kernel set, equals causal attention in double loops");
}

static void test_rmsnorm(void)
{
    const int n = 77;
    float *x = random_floats(n), *w = random_floats(n), out[77];
    double want[77], ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    for (int i = 0; i < n; i++)
        want[i] = w[i] * x[i] / sqrt(ss / n + 1e-5);
    rmsnorm(out, x, w, n, 1e-5f);
    expect(max_relative_error(out, want, n) < 1e-6, "rmsnorm differs");
    /* hand computation: x = (3, 4), weight 1, eps 0 -> x / sqrt(12.5) */
    float x2[2] = {3, 4}, w2[2] = {1, 1};
    rmsnorm(x2, x2, w2, 2, 0.0f);
    expect(fabsf(x2[0] - 3 / sqrtf(12.5f)) < 1e-6f && fabsf(x2[1] - 4 / sqrtf(12.5f)) < 1e-6f,
           "rmsnorm(3,4) = (%f, %f)", x2[0], x2[1]);
    free(x), free(w);
    report("rmsnorm equals its definition");
}

static void test_softmax(void)
{
    float x[3] = {1, 2, 3};
    double e = exp(1) + exp(2) + exp(3);
    double want[3] = {exp(1) / e, exp(2) / e, exp(3) / e};
    softmax(x, 3);
    expect(max_relative_error(x, want, 3) < 1e-6, "softmax(1,2,3) = %f %f %f", x[0], x[1], x[2]);
    float big[2] = {1000, 1000};  /* would overflow exp() without the max shift */
    softmax(big, 2);
    expect(big[0] == 0.5f && big[1] == 0.5f, "softmax(1000,1000) = %f %f", big[0], big[1]);
    report("softmax equals its definition and survives large logits");
}

static void test_rope(void)
{
    const int head_size = 16, n_heads = 3, pos = 37;
    float inv_freq[8], cos_sin[16];
    for (int i = 0; i < head_size / 2; i++)
        inv_freq[i] = 1.0f / powf(10000.0f, 2.0f * i / head_size);
    float *x = random_floats(n_heads * head_size);
    double want[48];
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < head_size; i += 2) {
            double angle = pos * pow(10000.0, -(double)i / head_size);
            double a = x[h * head_size + i], b = x[h * head_size + i + 1];
            want[h * head_size + i] = a * cos(angle) - b * sin(angle);
            want[h * head_size + i + 1] = a * sin(angle) + b * cos(angle);
        }
    double norm_before = 0, norm_after = 0;
    for (int i = 0; i < n_heads * head_size; i++)
        norm_before += (double)x[i] * x[i];
    rope_angles(cos_sin, inv_freq, head_size, pos);
    rope_rotate(x, cos_sin, n_heads, head_size);
    for (int i = 0; i < n_heads * head_size; i++)
        norm_after += (double)x[i] * x[i];
    expect(max_relative_error(x, want, n_heads * head_size) < 1e-5, "rope differs from cos/sin rotation");
    expect(fabs(norm_before - norm_after) < 1e-4 * norm_before, "rotation changed the norm");
    /* position 0 is the identity */
    float y[4] = {1, 2, 3, 4}, cs[4], f[2] = {1, 0.01f};
    rope_angles(cs, f, 4, 0);
    rope_rotate(y, cs, 1, 4);
    expect(y[0] == 1 && y[1] == 2 && y[2] == 3 && y[3] == 4, "rope at position 0 is not the identity");
    free(x);
    report("rope rotates pairs by pos * theta^(-2i/d)");
}

/* NeoX's pairing (Qwen): value i of a head turns with value i + head_size / 2,
 * by pair i's angle; and on a whole batch, rope_rotate_qk follows the
 * config's style, q rows q_dim wide (not dim) and k rows kv_dim wide. */
static void test_rope_neox(void)
{
    const int head_size = 16, n_heads = 3, n_kv_heads = 1, pos = 29, half = head_size / 2;
    float inv_freq[8], cos_sin[16];
    for (int i = 0; i < half; i++)
        inv_freq[i] = 1.0f / powf(10000.0f, 2.0f * i / head_size);
    float *x = random_floats(n_heads * head_size);
    double want[48];
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < half; i++) {
            double angle = pos * pow(10000.0, -2.0 * i / head_size);
            double a = x[h * head_size + i], b = x[h * head_size + i + half];
            want[h * head_size + i] = a * cos(angle) - b * sin(angle);
            want[h * head_size + i + half] = a * sin(angle) + b * cos(angle);
        }
    float *q = malloc(sizeof(float) * n_heads * head_size), *k = malloc(sizeof(float) * n_kv_heads * head_size);
    memcpy(q, x, sizeof(float) * n_heads * head_size);
    memcpy(k, x, sizeof(float) * n_kv_heads * head_size);
    rope_angles(cos_sin, inv_freq, head_size, pos);
    rope_rotate_neox(x, cos_sin, n_heads, head_size);
    expect(max_relative_error(x, want, n_heads * head_size) < 1e-5, "neox rope differs from cos/sin of the halves");
    /* The same through the batch block, q 48 wide for a dim of 32. */
    Config c = {.dim = 32, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .head_size = head_size,
                .q_dim = n_heads * head_size, .kv_dim = n_kv_heads * head_size, .rope_style = ROPE_NEOX_HALVES};
    rope_rotate_qk(q, k, cos_sin, &c, 1, 0);
    expect(memcmp(q, x, sizeof(float) * n_heads * head_size) == 0, "rope_rotate_qk (NeoX) rotates q otherwise");
    expect(memcmp(k, x, sizeof(float) * n_kv_heads * head_size) == 0, "rope_rotate_qk (NeoX) rotates k otherwise");
    free(x), free(q), free(k);
    report("rope_rotate_neox rotates each head's halves together; rope_rotate_qk follows rope_style");
}

/* rope_frequencies: theta^(-2i/d), divided by Llama 3.1's per-pair factors
 * and by the linear scaling factor; rmsnorm_heads: RMSNorm of each head. */
static void test_rope_frequencies_and_head_norm(void)
{
    const int head_size = 8;
    const float factors[4] = {1.0f, 1.5f, 4.0f, 8.0f};
    Config c = {.head_size = head_size, .rope_theta = 500000.0f, .rope_scaling_factor = 1.0f};
    float inv_freq[4];
    rope_frequencies(inv_freq, &c);
    for (int i = 0; i < head_size / 2; i++)
        expect(fabs(inv_freq[i] - pow(500000.0, -2.0 * i / head_size)) <= 1e-6 * pow(500000.0, -2.0 * i / head_size),
               "plain frequency %d is %g", i, inv_freq[i]);
    c.rope_freq_factors = factors;
    c.rope_scaling_factor = 4.0f;
    rope_frequencies(inv_freq, &c);
    for (int i = 0; i < head_size / 2; i++) {
        double want = pow(500000.0, -2.0 * i / head_size) / factors[i] / 4.0;
        expect(fabs(inv_freq[i] - want) <= 1e-6 * want, "scaled frequency %d is %g, want %g", i, inv_freq[i], want);
    }
    const int T = 3, n_heads = 2;
    float *x = random_floats(T * n_heads * head_size), weight[8];
    for (int i = 0; i < head_size; i++)
        weight[i] = 0.5f + 0.1f * i;
    double want[48];
    for (int r = 0; r < T * n_heads; r++) {
        double ss = 0;
        for (int i = 0; i < head_size; i++)
            ss += (double)x[r * head_size + i] * x[r * head_size + i];
        const double scale = 1.0 / sqrt(ss / head_size + 1e-6);
        for (int i = 0; i < head_size; i++)
            want[r * head_size + i] = x[r * head_size + i] * scale * weight[i];
    }
    rmsnorm_heads(x, weight, T, n_heads, head_size, 1e-6f);
    expect(max_relative_error(x, want, (size_t)T * n_heads * head_size) < 1e-5, "rmsnorm_heads differs");
    free(x);
    report("rope_frequencies divides by rope_freqs and the linear factor; rmsnorm_heads normalizes each head");
}

/* fast_exp against the double-precision exp over the whole range it
 * computes, and its edges: NaN stays NaN, far below -87 is tiny, never
 * negative. */
static void test_fast_exp(void)
{
    double worst = 0;
    for (int i = 0; i <= 1750000; i++) {
        float x = -87.0f + i * 1e-4f;
        worst = fmax(worst, fabs(fast_exp(x) - exp((double)x)) / exp((double)x));
    }
    expect(worst < 3e-7, "fast_exp: relative error %g on [-87, 88]", worst);
    expect(fast_exp(0.0f) == 1.0f, "fast_exp(0) = %g", fast_exp(0.0f));
    expect(isnan(fast_exp(NAN)), "fast_exp(NaN) = %g", fast_exp(NAN));
    float tiny = fast_exp(-1e30f), huge = fast_exp(1e30f);
    expect(tiny >= 0.0f && tiny < 1e-37f, "fast_exp(-1e30) = %g", tiny);
    expect(huge > 1e38f, "fast_exp(1e30) = %g", huge);
    report("fast_exp equals exp within 3e-7 on [-87, 88]; NaN and far ends behave");
}

static void test_swiglu(void)
{
    float h[3] = {0, 1, -2}, g[3] = {5, 2, 3};
    double want[3] = {0, 2 / (1 + exp(-1)), 3 * -2 / (1 + exp(2))};
    swiglu(h, g, 3);
    expect(max_relative_error(h, want, 3) < 1e-6, "swiglu = %f %f %f", h[0], h[1], h[2]);
    report("swiglu is silu(h) * g");
}

/* layers.c's linear blocks: matmul, then the bias (if any) on every row. */
static void test_linear_bias(void)
{
    enum { T = 3, ROWS = 5, COLS = 8 };
    float *w = random_floats(ROWS * COLS), *in = random_floats(T * COLS), *bias = random_floats(ROWS);
    const Matrix W = {WEIGHT_F32, ROWS, COLS, w, NULL, 0};
    MatmulScratch scratch = scratch_new(T, COLS);
    float plain[T * ROWS], with_bias[T * ROWS], shared[2][T * ROWS];
    matmul(plain, in, &W, T, &scratch);
    linear(with_bias, in, &W, bias, T, &scratch);
    float *const outs[] = {shared[0], shared[1]};
    const Matrix *const Ws[] = {&W, &W};
    const float *const biases[] = {NULL, bias};
    linear_shared_input(outs, Ws, biases, 2, in, T, &scratch);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < ROWS; r++) {
            const int i = t * ROWS + r;
            expect(with_bias[i] == plain[i] + bias[r], "linear: row %d col %d lacks its bias", t, r);
            expect(shared[0][i] == plain[i], "linear_shared_input: a NULL bias changed row %d", t);
            expect(shared[1][i] == plain[i] + bias[r], "linear_shared_input: row %d col %d lacks its bias", t, r);
        }
    scratch_free(&scratch);
    free(w), free(in), free(bias);
    report("linear and linear_shared_input add an optional bias to every row");
}

/* GPT-2's LayerNorm against a plain double loop, on rows with a large mean. */
static void test_layernorm_rows(void)
{
    enum { T = 3, DIM = 37 };
    const float eps = 1e-5f;
    float *x = random_floats(T * DIM), *weight = random_floats(DIM), *bias = random_floats(DIM);
    for (int i = 0; i < T * DIM; i++)
        x[i] += 100.0f;  /* a mean far from 0: variance by E[x^2] - E[x]^2 would lose it */
    float out[T * DIM];
    double want[T * DIM];
    layernorm_rows(out, x, weight, bias, T, DIM, eps);
    for (int t = 0; t < T; t++) {
        const float *row = x + t * DIM;
        double mean = 0, var = 0;
        for (int i = 0; i < DIM; i++)
            mean += row[i] / (double)DIM;
        for (int i = 0; i < DIM; i++)
            var += (row[i] - mean) * (row[i] - mean) / DIM;
        for (int i = 0; i < DIM; i++)
            want[t * DIM + i] = (row[i] - mean) / sqrt(var + eps) * weight[i] + bias[i];
    }
    double worst = 0;
    for (int i = 0; i < T * DIM; i++)
        worst = fmax(worst, fabs(out[i] - want[i]));
    expect(worst < 1e-5, "layernorm differs from the double loop by %g", worst);
    free(x), free(weight), free(bias);
    report("layernorm_rows: (x - mean) / sqrt(var + eps) * weight + bias, row by row");
}

/* GELU's tanh form, by hand at a few points and against a double loop. */
static void test_gelu_rows(void)
{
    float x[2][4] = {{0.0f, 1.0f, -1.0f, 3.0f}, {-3.0f, 0.5f, 10.0f, -10.0f}};
    double want[8];
    for (int i = 0; i < 8; i++) {
        const double v = x[i / 4][i % 4];
        want[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    gelu_rows(&x[0][0], 2, 4);
    expect(x[0][0] == 0.0f, "gelu(0) = %g", x[0][0]);
    expect(fabs(x[0][1] - 0.8411920) < 1e-6, "gelu(1) = %.7f, want 0.8411920", x[0][1]);
    expect(fabs(x[0][2] + 0.1588080) < 1e-6, "gelu(-1) = %.7f, want -0.1588080", x[0][2]);
    double worst = 0;
    for (int i = 0; i < 8; i++)
        worst = fmax(worst, fabs((&x[0][0])[i] - want[i]));
    expect(worst < 1e-6, "gelu differs from the double loop by %g", worst);
    report("gelu_rows: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))");
}

/* Learned positions: row t gains row pos + t of the table, F32 and F16 alike. */
static void test_add_position_embedding(void)
{
    enum { T = 3, DIM = 8, N_CTX = 6, POS = 2 };
    float *table = random_floats(N_CTX * DIM), *x = random_floats(T * DIM);
    uint16_t half[N_CTX * DIM];
    for (int i = 0; i < N_CTX * DIM; i++) {  /* sign, exponent 2^-4..2^1, random mantissa */
        const uint32_t r = random_u32(&test_rng);
        half[i] = (uint16_t)((r & 0x8000) | (uint32_t)(11 + r % 6) << 10 | (r >> 16 & 0x3ff));
    }
    const Matrix f32 = {WEIGHT_F32, N_CTX, DIM, table, NULL, 0}, f16 = {WEIGHT_F16, N_CTX, DIM, half, NULL, 0};
    float a[T * DIM], b[T * DIM], row[T * DIM];
    memcpy(a, x, sizeof a);
    memcpy(b, x, sizeof b);
    add_position_embedding(a, row, &f32, POS, T);
    add_position_embedding(b, row, &f16, POS, T);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < DIM; i++) {
            expect(a[t * DIM + i] == x[t * DIM + i] + table[(POS + t) * DIM + i], "F32: row %d col %d", t, i);
            expect(b[t * DIM + i] == x[t * DIM + i] + fp16_to_fp32(half[(POS + t) * DIM + i]), "F16: row %d col %d",
                   t, i);
        }
    free(table), free(x);
    report("add_position_embedding adds the table's rows pos .. pos + T - 1");
}

/* ---------------------------------------------------------------------------
 * The forward pass: a batch of T tokens equals T single-token passes */

typedef struct {
    Model model;
    float *memory;
} RandomModel;

static void random_model(RandomModel *rm, int dim, int hidden, int layers, int heads, int kv_heads,
                         int vocab, int seq_len)
{
    Config c = {.dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads,
                .n_kv_heads = kv_heads, .vocab_size = vocab, .seq_len = seq_len, .head_size = dim / heads,
                .q_dim = dim, .kv_dim = kv_heads * (dim / heads), .shared_classifier = true,
                .rope_theta = 10000.0f, .rope_scaling_factor = 1.0f, .norm_eps = 1e-5f};
    memset(rm, 0, sizeof *rm);
    rm->model.config = c;
    rm->model.arch = find_architecture("llama", strlen("llama"));
    size_t per_layer = 2 * (size_t)dim + 2 * (size_t)dim * dim + 2 * (size_t)c.kv_dim * dim +
                       3 * (size_t)hidden * dim;
    size_t total = (size_t)vocab * dim + dim + layers * per_layer;
    rm->memory = random_floats(total);
    float *p = rm->memory;
    Weights *w = &rm->model.weights;
    w->token_embd = (Matrix){WEIGHT_F32, vocab, dim, p, NULL, 0}, p += (size_t)vocab * dim;
    w->output_norm = p, p += dim;
    w->output = w->token_embd;
    w->layers = calloc(layers, sizeof(LayerWeights));
    for (int l = 0; l < layers; l++) {
        LayerWeights *lw = &w->layers[l];
        lw->attn_norm = p, p += dim;
        lw->ffn_norm = p, p += dim;
        lw->wq = (Matrix){WEIGHT_F32, dim, dim, p, NULL, 0}, p += (size_t)dim * dim;
        lw->wk = (Matrix){WEIGHT_F32, c.kv_dim, dim, p, NULL, 0}, p += (size_t)c.kv_dim * dim;
        lw->wv = (Matrix){WEIGHT_F32, c.kv_dim, dim, p, NULL, 0}, p += (size_t)c.kv_dim * dim;
        lw->wo = (Matrix){WEIGHT_F32, dim, dim, p, NULL, 0}, p += (size_t)dim * dim;
        lw->w_gate = (Matrix){WEIGHT_F32, hidden, dim, p, NULL, 0}, p += (size_t)hidden * dim;
        lw->w_down = (Matrix){WEIGHT_F32, dim, hidden, p, NULL, 0}, p += (size_t)hidden * dim;
        lw->w_up = (Matrix){WEIGHT_F32, hidden, dim, p, NULL, 0}, p += (size_t)hidden * dim;
    }
}

static void free_random_model(RandomModel *rm)
{
    free(rm->memory);
    free(rm->model.weights.layers);
}

static void random_tokens(int *tokens, int n, int vocab_size)
{
    for (int t = 0; t < n; t++)
        tokens[t] = (int)(random_u32(&test_rng) % vocab_size);
}

/* Runs T tokens one at a time and in batches of `batch`; returns the worst
 * relative difference between the two sets of logits. */
static double batched_vs_single(const Model *model, const int *tokens, int T, int batch)
{
    const Config *c = &model->config;
    RunState one, many;
    char err[ERROR_SIZE];
    if (run_state_init(&one, c, 1, err) != 0 || run_state_init(&many, c, batch, err) != 0)
        return INFINITY;
    float *single = malloc((size_t)T * c->vocab_size * sizeof(float));
    for (int t = 0; t < T; t++)
        memcpy(single + (size_t)t * c->vocab_size, forward(model, &one, &tokens[t], 1, t, LOGITS_LAST),
               c->vocab_size * sizeof(float));
    double worst = 0;
    for (int start = 0; start < T; start += batch) {
        int n = T - start < batch ? T - start : batch;
        const float *logits = forward(model, &many, tokens + start, n, start, LOGITS_ALL);
        for (size_t i = 0; i < (size_t)n * c->vocab_size; i++) {
            double want = single[(size_t)start * c->vocab_size + i];
            worst = fmax(worst, fabs(logits[i] - want) / fmax(1.0, fabs(want)));
        }
    }
    run_state_free(&one), run_state_free(&many);
    free(single);
    return worst;
}

/* A GPT-2 model (arch_gpt2.c) of random float32 weights: the fields Llama
 * leaves NULL (biases, LayerNorm shifts, q|k|v, positions) are all set. */
static void random_gpt2_model(RandomModel *rm, int dim, int layers, int heads, int vocab, int seq_len)
{
    const int hidden = 4 * dim, qkv = 3 * dim;
    Config c = {.dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads, .n_kv_heads = heads,
                .vocab_size = vocab, .seq_len = seq_len, .head_size = dim / heads, .q_dim = dim, .kv_dim = dim,
                .shared_classifier = true, .rope_theta = 0.0f, .rope_scaling_factor = 1.0f, .norm_eps = 1e-5f};
    memset(rm, 0, sizeof *rm);
    rm->model.config = c;
    rm->model.arch = find_architecture("gpt2", strlen("gpt2"));
    size_t per_layer = 4 * (size_t)dim + (size_t)qkv * (dim + 1) + (size_t)dim * (dim + 1) +
                       (size_t)hidden * (dim + 1) + (size_t)dim * (hidden + 1);
    size_t total = (size_t)(vocab + seq_len) * dim + 2 * (size_t)dim + layers * per_layer;
    rm->memory = random_floats(total);
    float *p = rm->memory;
    Weights *w = &rm->model.weights;
    w->token_embd = (Matrix){WEIGHT_F32, vocab, dim, p, NULL, 0}, p += (size_t)vocab * dim;
    w->position_embd = (Matrix){WEIGHT_F32, seq_len, dim, p, NULL, 0}, p += (size_t)seq_len * dim;
    w->output_norm = p, p += dim;
    w->output_norm_bias = p, p += dim;
    w->output = w->token_embd;
    w->layers = calloc(layers, sizeof(LayerWeights));
    for (int l = 0; l < layers; l++) {
        LayerWeights *lw = &w->layers[l];
        lw->attn_norm = p, p += dim;
        lw->attn_norm_bias = p, p += dim;
        lw->ffn_norm = p, p += dim;
        lw->ffn_norm_bias = p, p += dim;
        const Matrix wqkv = {WEIGHT_F32, qkv, dim, p, NULL, 0};
        p += (size_t)qkv * dim;
        gpt2_split_qkv(lw, &wqkv, p, &rm->model.config);
        p += qkv;
        lw->wo = (Matrix){WEIGHT_F32, dim, dim, p, NULL, 0}, p += (size_t)dim * dim;
        lw->bo = p, p += dim;
        lw->w_up = (Matrix){WEIGHT_F32, hidden, dim, p, NULL, 0}, p += (size_t)hidden * dim;
        lw->b_up = p, p += hidden;
        lw->w_down = (Matrix){WEIGHT_F32, dim, hidden, p, NULL, 0}, p += (size_t)hidden * dim;
        lw->b_down = p, p += dim;
    }
}

/* GPT-2's forward pass: batches equal token-by-token, on every kernel set. */
static void test_gpt2_batched_forward(void)
{
    RandomModel rm;
    random_gpt2_model(&rm, 64, 2, 4, 50, 40);
    enum { T = 37 };
    int tokens[T];
    random_tokens(tokens, T, rm.model.config.vocab_size);
    const KernelSet *active = kernels_active();
    for (int i = 0; i < kernel_set_count(); i++) {
        kernels_use(kernel_set(i));
        double worst = batched_vs_single(&rm.model, tokens, T, 16);  /* batches of 16, 16, 5 */
        expect(worst < 1e-4, "kernel set %s: batched logits differ from token-by-token by %g",
               kernel_set_name(kernel_set(i)), worst);
    }
    kernels_use(active);
    free_random_model(&rm);
    report("GPT-2: a batch of tokens gives the logits of one token at a time, on every kernel set");
}

static void test_batched_forward(void)
{
    RandomModel rm;
    random_model(&rm, 64, 96, 2, 8, 2, 50, 40);
    const Config *c = &rm.model.config;
    enum { T = 21 };
    int tokens[T];
    random_tokens(tokens, T, c->vocab_size);
    double worst = batched_vs_single(&rm.model, tokens, T, 8);  /* batches of 8, 8, 5 */
    expect(worst < 1e-4, "batched logits differ from token-by-token by %g", worst);
    /* LOGITS_LAST returns the last row only, the same numbers; a batch run
     * with LOGITS_NONE (a prompt's earlier batches) still fills the cache. */
    RunState a, b, split;
    char err[ERROR_SIZE];
    run_state_init(&a, c, 8, err);
    run_state_init(&b, c, 8, err);
    run_state_init(&split, c, 8, err);
    const float *all = forward(&rm.model, &a, tokens, 8, 0, LOGITS_ALL);
    const float *last = forward(&rm.model, &b, tokens, 8, 0, LOGITS_LAST);
    expect(forward(&rm.model, &split, tokens, 5, 0, LOGITS_NONE) == NULL, "LOGITS_NONE returned logits");
    const float *after_split = forward(&rm.model, &split, tokens + 5, 3, 5, LOGITS_LAST);
    double last_diff = 0, split_diff = 0;
    for (int i = 0; i < c->vocab_size; i++) {
        last_diff = fmax(last_diff, fabs(last[i] - all[7 * c->vocab_size + i]));
        split_diff = fmax(split_diff, fabs(after_split[i] - all[7 * c->vocab_size + i]));
    }
    expect(last_diff < 1e-4, "last-row logits differ by %g", last_diff);
    expect(split_diff < 1e-4, "logits after a LOGITS_NONE batch differ by %g", split_diff);
    run_state_free(&a), run_state_free(&b), run_state_free(&split);
    free_random_model(&rm);
    report("a batch of prompt tokens gives the logits of token-by-token decoding (GQA)");
}

/* An attention observer (-m explain, --attention-html) that keeps every row
 * in (n_layers * n_heads, N, N), as explain.c does. */
typedef struct {
    int n_heads, capacity;
    float *rows;
    atomic_int calls;  /* rows come from every thread */
} RowRecord;

static void record_row(void *context, int layer, int head, int pos, const float *weights, int n)
{
    RowRecord *r = context;
    if (pos >= r->capacity || n != pos + 1)
        return;
    memcpy(r->rows + (((size_t)layer * r->n_heads + head) * r->capacity + pos) * r->capacity, weights,
           n * sizeof(float));
    atomic_fetch_add(&r->calls, 1);
}

/* The observer sees every layer's and head's row at every position: each a
 * probability distribution over the positions up to its own, and zero after
 * (causal), whether the tokens came in a batch or one at a time. */
static void test_attention_observer(void)
{
    RandomModel rm;
    random_model(&rm, 64, 96, 2, 8, 2, 50, 40);
    const Config *c = &rm.model.config;
    enum { N = 12 };
    int tokens[N];
    random_tokens(tokens, N, c->vocab_size);
    RunState s;
    char err[ERROR_SIZE];
    run_state_init(&s, c, 8, err);
    size_t cells = (size_t)c->n_layers * c->n_heads * N * N;
    RowRecord record = {c->n_heads, N, calloc(cells, sizeof(float)), 0};
    const AttentionObserver observer = {record_row, &record, NULL, NULL};  /* no residual or block hook */
    s.observer = &observer;
    forward(&rm.model, &s, tokens, 8, 0, LOGITS_LAST);         /* a batch of 8 */
    for (int t = 8; t < N; t++)                           /* then one at a time */
        forward(&rm.model, &s, &tokens[t], 1, t, LOGITS_LAST);
    expect(record.calls == c->n_layers * c->n_heads * N, "%d rows observed, want %d", record.calls,
           c->n_layers * c->n_heads * N);
    for (int lh = 0; lh < c->n_layers * c->n_heads; lh++)
        for (int p = 0; p < N; p++) {
            const float *row = record.rows + ((size_t)lh * N + p) * N;
            double sum = 0;
            for (int j = 0; j <= p; j++) {
                expect(row[j] >= 0 && row[j] <= 1, "weight %g out of [0, 1]", row[j]);
                sum += row[j];
            }
            for (int j = p + 1; j < N; j++)
                expect(row[j] == 0, "row %d attends to the future position %d", p, j);
            expect(fabs(sum - 1) < 1e-5, "layer*head %d row %d sums to %g", lh, p, sum);
        }
    free(record.rows);
    run_state_free(&s);
    free_random_model(&rm);
    report("attention observer: every layer's causal rows, summing to 1, batched or not");
}

/* ---------------------------------------------------------------------------
 * int8 weights */

static void test_quantize_q8(void)
{
    /* hand computation: max |x| = 1.27, so scale = 0.01 and q = x / 0.01 */
    const float x[8] = {0.5f, -1.27f, 0.0f, 1.27f, 0, 0, 0, 0};
    int8_t q[8];
    float scales[2];
    quantize_q8(q, scales, x, 8, 4);
    expect(fabsf(scales[0] - 0.01f) < 1e-7f, "scale %g, want 0.01", scales[0]);
    expect(q[0] == 50 && q[1] == -127 && q[2] == 0 && q[3] == 127, "q = %d %d %d %d", q[0], q[1], q[2], q[3]);
    expect(scales[1] == 0.0f && q[4] == 0 && q[7] == 0, "an all-zero group must quantize to zeros");
    report("quantize_q8: scale = max|x| / 127, q = round(x / scale)");
}

static void test_matmul_q8(void)
{
    const int T = 3, rows = 37, cols = 128, gs = 32;
    float *w = random_floats((size_t)rows * cols), *in = random_floats((size_t)T * cols);
    int8_t *wq = malloc((size_t)rows * cols);
    float *ws = malloc((size_t)rows * cols / gs * sizeof(float));
    quantize_q8(wq, ws, w, (size_t)rows * cols, gs);
    float out[3 * 37];
    double exact_q[3 * 37], exact_f[3 * 37];
    /* the plain version: dequantize both sides, multiply in double */
    int8_t xq[3 * 128];
    float xs[3 * 4];
    quantize_input(xq, xs, in, (size_t)T * cols, gs);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double sq = 0, sf = 0;
            for (int i = 0; i < cols; i++) {
                size_t wi = (size_t)r * cols + i, xi = (size_t)t * cols + i;
                sq += (double)wq[wi] * ws[wi / gs] * ((double)xq[xi] * xs[xi / gs]);
                sf += (double)w[wi] * in[xi];
            }
            exact_q[t * rows + r] = sq;
            exact_f[t * rows + r] = sf;
        }
    Matrix W = {WEIGHT_Q8, rows, cols, wq, ws, gs};
    MatmulScratch scratch = scratch_new(T, cols);
    matmul(out, in, &W, T, &scratch);
    scratch_free(&scratch);
    double err_q = max_relative_error(out, exact_q, (size_t)T * rows);
    double err_f = max_relative_error(out, exact_f, (size_t)T * rows);
    expect(err_q < 1e-5, "differs from dequantized arithmetic by %g", err_q);
    expect(err_f < 3e-2, "differs from float32 weights by %g", err_f);
    float row[128];
    matrix_row(row, &W, 5);
    expect(fabsf(row[33] - wq[5 * cols + 33] * ws[(5 * cols + 33) / gs]) < 1e-7f, "matrix_row dequantizes wrongly");
    free(w), free(in), free(wq), free(ws);
    report("Q8 matmul equals dequantized arithmetic, and float32 within 3e-2");
}

/* Random weights of every storage type, the dequantized values beside them. */
static Matrix random_matrix(WeightType type, int rows, int cols, float **dequantized)
{
    size_t n = (size_t)rows * cols;
    float *values = malloc(n * sizeof(float));
    Matrix m = {type, rows, cols, NULL, NULL, 0};
    if (type == WEIGHT_F32) {
        float *w = random_floats(n);
        memcpy(values, w, n * sizeof(float));
        m.data = w;
    } else if (type == WEIGHT_Q8) {
        float *w = random_floats(n), *scales = malloc(n / 32 * sizeof(float));
        int8_t *q = malloc(n);
        quantize_q8(q, scales, w, n, 32);
        for (size_t i = 0; i < n; i++)
            values[i] = q[i] * scales[i / 32];
        free(w);
        m.data = q, m.scales = scales, m.group_size = 32;
    } else if (type == WEIGHT_F16) {
        uint16_t *h = malloc(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) {  /* sign, exponent 2^-4..2^1, random mantissa */
            uint32_t r = random_u32(&test_rng);
            h[i] = (uint16_t)((r & 0x8000) | (uint32_t)(11 + r % 6) << 10 | (r >> 16 & 0x3ff));
            values[i] = fp16_to_fp32(h[i]);
        }
        m.data = h;
    } else if (type == WEIGHT_BF16) {
        uint16_t *h = malloc(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) {  /* sign, exponent 2^-4..2^1, random 7-bit mantissa */
            uint32_t r = random_u32(&test_rng);
            h[i] = (uint16_t)((r & 0x8000) | (uint32_t)(123 + r % 6) << 7 | (r >> 16 & 0x7f));
            values[i] = bf16_to_fp32(h[i]);
        }
        m.data = h;
    } else if (type == WEIGHT_Q8_0) {
        unsigned char *blocks = malloc(n / Q8_0_BLOCK * Q8_0_BLOCK_BYTES), *b = blocks;
        for (size_t i = 0; i < n; i += Q8_0_BLOCK, b += Q8_0_BLOCK_BYTES) {
            uint16_t scale = (uint16_t)(0x2000 + random_u32(&test_rng) % 0x400);  /* about 2^-7 */
            b[0] = scale & 0xff, b[1] = scale >> 8;
            for (int j = 0; j < Q8_0_BLOCK; j++) {
                int8_t q = (int8_t)((int)(random_u32(&test_rng) % 255) - 127);
                ((int8_t *)(b + 2))[j] = q;
                values[i + j] = q * fp16_to_fp32(scale);
            }
        }
        m.data = blocks;
    } else {
        /* ggml's other block types: random bytes, and half-precision fields
         * d (about 2^-7), m and dmin (either sign) of a moderate size. Their
         * values are matrix_row's, which tests/test_quants.sh checks bit for
         * bit against numpy (scripts/dequant.py). */
        const WeightTypeInfo *info = &weight_types[type];
        const size_t n_blocks = n / info->block_values;
        unsigned char *blocks = malloc(n_blocks * info->block_bytes);
        for (size_t i = 0; i < n_blocks * info->block_bytes; i++)
            blocks[i] = (unsigned char)random_u32(&test_rng);
        for (size_t k = 0; k < n_blocks; k++) {
            unsigned char *b = blocks + k * info->block_bytes;
            uint16_t *d = NULL, *min = NULL;
            switch (type) {
            case WEIGHT_Q4_0: d = &((BlockQ4_0 *)b)->d; break;
            case WEIGHT_Q4_1: d = &((BlockQ4_1 *)b)->d, min = &((BlockQ4_1 *)b)->m; break;
            case WEIGHT_Q5_0: d = &((BlockQ5_0 *)b)->d; break;
            case WEIGHT_Q5_1: d = &((BlockQ5_1 *)b)->d, min = &((BlockQ5_1 *)b)->m; break;
            case WEIGHT_Q2_K: d = &((BlockQ2_K *)b)->d, min = &((BlockQ2_K *)b)->dmin; break;
            case WEIGHT_Q3_K: d = &((BlockQ3_K *)b)->d; break;
            case WEIGHT_Q4_K: d = &((BlockQ4_K *)b)->d, min = &((BlockQ4_K *)b)->dmin; break;
            case WEIGHT_Q5_K: d = &((BlockQ5_K *)b)->d, min = &((BlockQ5_K *)b)->dmin; break;
            case WEIGHT_Q6_K: d = &((BlockQ6_K *)b)->d; break;
            default: break;
            }
            expect(d != NULL, "random_matrix: no blocks for type %s", info->name);
            if (d)
                *d = (uint16_t)(0x1c00 + random_u32(&test_rng) % 0x800);  /* 2^-8 .. 2^-6 */
            if (min)
                *min = (uint16_t)((random_u32(&test_rng) & 0x8000) | (0x1c00 + random_u32(&test_rng) % 0x800));
        }
        m.data = blocks;
        for (int r = 0; r < rows; r++)
            matrix_row(values + (size_t)r * cols, &m, r);
    }
    *dequantized = values;
    return m;
}

/* matmul of m (its values dequantized in w) with T random tokens, on every
 * kernel set, against double-precision arithmetic on the dequantized weights
 * (and, for int8 types, on the input as quantized in groups). */
static void check_matmul_every_set(const Matrix *m, const float *w, int T)
{
    const int rows = m->rows, cols = m->cols;
    float *in = random_floats((size_t)T * cols), *x = malloc((size_t)T * cols * sizeof(float));
    memcpy(x, in, (size_t)T * cols * sizeof(float));
    if (weight_types[m->type].input == INPUT_INT8) {  /* what the kernel multiplies by */
        const int gs = input_group_size(m);
        int8_t *q = malloc((size_t)T * cols);
        float *scales = malloc((size_t)T * cols / gs * sizeof(float));
        quantize_input(q, scales, in, (size_t)T * cols, gs);
        for (int i = 0; i < T * cols; i++)
            x[i] = q[i] * scales[i / gs];
        free(q), free(scales);
    }
    double *want = malloc((size_t)T * rows * sizeof(double));
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int i = 0; i < cols; i++)
                sum += (double)w[(size_t)r * cols + i] * x[(size_t)t * cols + i];
            want[t * rows + r] = sum;
        }
    MatmulScratch scratch = scratch_new(T, cols);
    float *out = malloc((size_t)T * rows * sizeof(float));
    for (int k = 0; k < kernel_set_count(); k++) {
        kernels_use(kernel_set(k));
        matmul(out, in, m, T, &scratch);
        double err = max_relative_error(out, want, (size_t)T * rows);
        expect(err < 1e-5, "%s, %s %dx%d (group %d) T=%d: relative error %g", kernel_set_name(kernel_set(k)),
               weight_types[m->type].name, rows, cols, input_group_size(m), T, err);
    }
    kernels_use(NULL);
    scratch_free(&scratch);
    free(in), free(x), free(want), free(out);
}

/* Every weight type, fast kernels and plain loops, against double-precision
 * arithmetic on the dequantized weights (and, for int8 types, on the input
 * as quantized in groups). */
static void test_matmul_types(void)
{
    const int batches[] = {1, 3, 5, 20, 64, 100};  /* decoding; half, whole panels; two groups of tokens */
    /* Rows of 37 (whole and partial tiles and blocks) by 96 columns; and 13
     * rows of over 1024 columns, which a batch takes in two chunks (for the
     * float types 1048: chunks of 524 columns, rounded up to whole vectors).
     * The k-quants' rows are whole super-blocks of 256: 256 and 1280. */
    for (int type = 0; type < WEIGHT_TYPE_COUNT; type++)
    for (int shape = 0; shape < 2; shape++) {
        const bool int8 = weight_types[type].input == INPUT_INT8, k_quant = weight_types[type].block_values == KBLOCK;
        const int rows = shape == 0 ? 37 : 13;
        const int cols = k_quant ? (shape == 0 ? 256 : 1280) : shape == 0 ? 96 : int8 ? 1056 : 1048;
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            float *w;
            Matrix m = random_matrix((WeightType)type, rows, cols, &w);
            check_matmul_every_set(&m, w, batches[b]);
            float row[1280];
            matrix_row(row, &m, 11);
            expect(memcmp(row, w + 11 * cols, cols * sizeof(float)) == 0, "%s: matrix_row differs",
                   weight_types[type].name);
            free((void *)m.data), free((void *)m.scales), free(w);
        }
    }
    report("matmul of every weight type, on every kernel set, equals dequantized arithmetic");
}

/* The shapes the vector kernels take in pieces: rows that are not whole
 * tiles (12) or blocks (6, 4), nor whole lanes (6); batches of 1 token, 17
 * (a whole panel and one token), 65 (a group of 64 and one); columns that
 * are not whole vectors of 16 floats (F32), and llama2.c int8 groups of 4
 * and 36 values (whole steps of 4 for the AVX-512 panels, not of 32 for
 * the lanes). */
static void test_matmul_odd_shapes(void)
{
    const int batches[] = {1, 2, 17, 65};
    const int row_counts[] = {1, 5, 7, 19};
    const struct { WeightType type; int cols, group; } kinds[] = {
        {WEIGHT_F32, 13, 0}, {WEIGHT_F32, 100, 0}, {WEIGHT_F32, 264, 0}, {WEIGHT_Q8_0, 32, 0},
        {WEIGHT_Q8_0, 288, 0}, {WEIGHT_Q8, 36, 4}, {WEIGHT_Q8, 72, 36}, {WEIGHT_Q8, 320, 64},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t r = 0; r < sizeof row_counts / sizeof row_counts[0]; r++) {
            const int rows = row_counts[r], cols = kinds[k].cols, gs = kinds[k].group;
            float *w;
            Matrix m;
            if (kinds[k].type == WEIGHT_Q8) {  /* random_matrix's groups are 32: these are not */
                const size_t n = (size_t)rows * cols;
                float *values = random_floats(n), *scales = malloc(n / gs * sizeof(float));
                int8_t *q = malloc(n);
                quantize_q8(q, scales, values, n, gs);
                for (size_t i = 0; i < n; i++)
                    values[i] = q[i] * scales[i / gs];
                m = (Matrix){WEIGHT_Q8, rows, cols, q, scales, gs};
                w = values;
            } else {  /* constant types: gcc 12, inlining, then knows the table index in bounds */
                m = kinds[k].type == WEIGHT_F32 ? random_matrix(WEIGHT_F32, rows, cols, &w)
                                                : random_matrix(WEIGHT_Q8_0, rows, cols, &w);
            }
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
                check_matmul_every_set(&m, w, batches[b]);
            free((void *)m.data), free((void *)m.scales), free(w);
        }
    report("matmul on every kernel set: rows past whole tiles and lanes, batches of 1, 2, 17 and 65 tokens, "
           "columns not whole vectors, int8 groups of 4, 36 and 64");
}

/* Saving a random model as int8 and loading it back gives a Q8 model whose
 * batched forward pass matches its token-by-token one, and whose logits are
 * close to the float32 model's. */
static void test_q8_model(const char *dir)
{
    RandomModel rm;
    random_model(&rm, 64, 96, 2, 8, 2, 50, 40);
    char path[256], err[ERROR_SIZE];
    snprintf(path, sizeof path, "%s/q8.bin", dir);
    int gs = q8_group_size(&rm.model.config, Q8_GROUP_SIZE);
    expect(gs == 32, "group size for dim 64, hidden 96 is %d, want 32", gs);
    expect(model_save_q8(&rm.model, "random.bin", path, gs, err) == 0, "save: %s", err);
    Model q8;
    if (model_load(&q8, path, err) != 0) {
        expect(false, "load: %s", err);
    } else {
        const LayerWeights *l1 = &q8.weights.layers[1];
        expect(q8.weights.token_embd.type == WEIGHT_Q8 && q8.weights.token_embd.group_size == 32 &&
                   l1->wq.type == WEIGHT_Q8 && l1->w_down.type == WEIGHT_Q8 && l1->w_down.group_size == 32,
               "not loaded as Q8");
        int tokens[13];
        random_tokens(tokens, 13, 50);
        double worst = batched_vs_single(&q8, tokens, 13, 4);
        expect(worst < 1e-4, "Q8 batched logits differ from token-by-token by %g", worst);
        RunState sf, sq;
        run_state_init(&sf, &rm.model.config, 1, err);
        run_state_init(&sq, &q8.config, 1, err);
        double diff = 0, norm = 0;
        for (int t = 0; t < 13; t++) {
            const float *lf = forward(&rm.model, &sf, &tokens[t], 1, t, LOGITS_LAST);
            const float *lq = forward(&q8, &sq, &tokens[t], 1, t, LOGITS_LAST);
            for (int i = 0; i < 50; i++) {
                diff += (double)(lf[i] - lq[i]) * (lf[i] - lq[i]);
                norm += (double)lf[i] * lf[i];
            }
        }
        /* random weights are harsh on int8 (a real model: 5e-3); a wrong layout gives ~1 */
        expect(sqrt(diff / norm) < 1e-1, "Q8 logits differ from float32 by relative L2 %g", sqrt(diff / norm));
        run_state_free(&sf), run_state_free(&sq);
        /* a float32 file is required to quantize: every matrix float32 */
        expect(model_save_q8(&q8, "q8.bin", path, gs, err) == -1 && strstr(err, "float32"), "re-quantized a Q8 model");
        rm.model.weights.layers[1].w_up.type = WEIGHT_F16;
        expect(model_save_q8(&rm.model, "random.bin", path, gs, err) == -1 && strstr(err, "float32"),
               "quantized a model with an F16 matrix");
        rm.model.weights.layers[1].w_up.type = WEIGHT_F32;
        model_free(&q8);
    }
    unlink(path);
    free_random_model(&rm);
    report("int8 (version 2) model: save, load, batched = token-by-token, close to float32");
}

/* ---------------------------------------------------------------------------
 * ./run quantize's GGUF writer: fp16, Q8_0 as ggml makes it, the file */

/* ggml's own fp32 -> fp16 (ggml-impl.h's ggml_compute_fp32_to_fp16, from
 * the FP16 library), copied as the standard to match. */
static uint16_t ggml_fp32_to_fp16(float f)
{
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    const uint32_t shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xff000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    const uint32_t bias_bits = (bias >> 1) + 0x07800000u;
    float bias_f;
    memcpy(&bias_f, &bias_bits, sizeof bias_f);
    base = bias_f + base;
    uint32_t bits;
    memcpy(&bits, &base, sizeof bits);
    const uint32_t exp_bits = (bits >> 13) & 0x00007c00u, mantissa_bits = bits & 0x00000fffu;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : exp_bits + mantissa_bits));
}

static bool half_is_nan(uint16_t h)
{
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}

static void test_fp32_to_fp16(void)
{
    /* Every half comes back as itself; NaNs stay NaNs. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint16_t back = fp32_to_fp16(fp16_to_fp32((uint16_t)h));
        if (half_is_nan((uint16_t)h))
            expect(half_is_nan(back), "NaN 0x%04x came back as 0x%04x", h, back);
        else
            expect(back == h, "half 0x%04x came back as 0x%04x", h, back);
    }
    /* Halfway between two neighbours: the even one; a float ulp either side: the nearer. */
    for (uint32_t h = 0; h < 0x7bff; h++) {
        const float lo = fp16_to_fp32((uint16_t)h), hi = fp16_to_fp32((uint16_t)(h + 1));
        const float mid = (float)(((double)lo + hi) / 2);  /* exact: one bit more than a half */
        const uint16_t even = (uint16_t)(h % 2 == 0 ? h : h + 1);
        expect(fp32_to_fp16(mid) == even, "midpoint of 0x%04x and 0x%04x gave 0x%04x", h, h + 1,
               fp32_to_fp16(mid));
        expect(fp32_to_fp16(-mid) == (even | 0x8000), "-midpoint of 0x%04x", h);
        expect(fp32_to_fp16(nextafterf(mid, 0.0f)) == h && fp32_to_fp16(nextafterf(mid, INFINITY)) == h + 1,
               "just below or above the midpoint of 0x%04x", h);
    }
    expect(fp32_to_fp16(65519.996f) == 0x7bff && fp32_to_fp16(65520.0f) == 0x7c00 &&
               fp32_to_fp16(-1e30f) == 0xfc00 && fp32_to_fp16(INFINITY) == 0x7c00,
           "overflow to infinity");
    expect(fp32_to_fp16(0x1.0p-25f) == 0 && fp32_to_fp16(0x1.0p-25f * 1.0000001f) == 1 &&
               fp32_to_fp16(-0.0f) == 0x8000,
           "the smallest values");
    /* ggml's conversion, on random bit patterns of every exponent. */
    uint64_t state = 7;
    for (int i = 0; i < 2000000; i++) {
        uint32_t bits = random_u32(&state);
        float f;
        memcpy(&f, &bits, sizeof f);
        uint16_t ours = fp32_to_fp16(f), ggml = ggml_fp32_to_fp16(f);
        if (isnan(f))
            expect(half_is_nan(ours), "NaN bits 0x%08x gave 0x%04x", bits, ours);
        else
            expect(ours == ggml, "0x%08x (%g): 0x%04x, ggml's 0x%04x", bits, f, ours, ggml);
    }
    report("fp32_to_fp16: every half back to itself, ties to even, equal to ggml's on 2M random floats");
}

/* ggml's quantize_row_q8_0_ref, as written there, with its fp16 conversion. */
static void ggml_quantize_row_q8_0(unsigned char *out, const float *x, int n)
{
    for (int i = 0; i < n / 32; i++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[i * 32 + j];
            amax = amax > fabsf(v) ? amax : fabsf(v);
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        const uint16_t h = ggml_fp32_to_fp16(d);
        unsigned char *block = out + i * 34;
        memcpy(block, &h, 2);
        for (int j = 0; j < 32; ++j)
            block[2 + j] = (unsigned char)(int8_t)roundf(x[i * 32 + j] * id);
    }
}

static void test_quantize_row_q8_0(void)
{
    enum { N = 32 * 64 };
    float *x = malloc(N * sizeof(float));
    unsigned char ours[N / 32 * 34], ggml[N / 32 * 34];
    for (int trial = 0; trial < 50; trial++) {
        const float scale = powf(10.0f, (float)(trial % 10) - 6.0f);  /* 1e-6 .. 1e3 */
        for (int i = 0; i < N; i++)
            x[i] = random_uniform() * scale;
        for (int i = 0; i < 32; i++)  /* an all-zero block, and a block of halves */
            x[64 + i] = 0.0f, x[128 + i] = (i - 16) * 0.5f * scale;
        quantize_row_q8_0(ours, x, N);
        ggml_quantize_row_q8_0(ggml, x, N);
        expect(memcmp(ours, ggml, sizeof ours) == 0, "trial %d (scale %g) differs from ggml's", trial, scale);
    }
    /* A block's values come back within half a step of d, plus what rounding d
     * to fp16 moves the largest q (127 * d * 2^-11). */
    Matrix m = {WEIGHT_Q8_0, 1, N, ours, NULL, 0};
    float *back = malloc(N * sizeof(float));
    matrix_row(back, &m, 0);
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        for (int j = 0; j < 32; j++)
            expect(fabsf(back[b * 32 + j] - x[b * 32 + j]) <= amax / 127 * (0.5f + 127.0f / 2048) + 1e-12f,
                   "value %d off by %g", b * 32 + j, back[b * 32 + j] - x[b * 32 + j]);
    }
    /* Corrupt values stay defined: NaN gives 0, infinity the largest q. */
    x[0] = NAN, x[1] = INFINITY;
    quantize_row_q8_0(ours, x, 32);
    expect((int8_t)ours[2] == 0, "NaN quantized to %d", (int8_t)ours[2]);
    free(x), free(back);
    report("quantize_row_q8_0: byte for byte ggml's quantize_row_q8_0_ref, values within a half step");
}

/* The writer's file, read back by gguf_parse: every kind of entry and tensor. */
static void test_gguf_writer(const char *dir)
{
    char path[256], err[ERROR_SIZE];
    snprintf(path, sizeof path, "%s/written.gguf", dir);
    float floats[3 * 64], vector[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 3 * 64; i++)
        floats[i] = random_uniform();
    uint16_t halves[2 * 32];
    for (int i = 0; i < 2 * 32; i++)
        halves[i] = fp32_to_fp16(random_uniform());
    const Matrix f32 = {WEIGHT_F32, 3, 64, floats, NULL, 0}, f16 = {WEIGHT_F16, 2, 32, halves, NULL, 0};

    for (int alignment = 32; alignment <= 64; alignment += 32) {
        GgufWriter w;
        gguf_writer_init(&w);
        gguf_writer_kv_string(&w, "general.architecture", "llama");
        if (alignment != 32) {
            gguf_writer_kv_u32(&w, "general.alignment", (uint32_t)alignment);
            w.alignment = (uint64_t)alignment;
        }
        gguf_writer_kv_f32(&w, "x.eps", 1e-6f);
        const unsigned char raw[] = {5, 0, 0, 0, 0, 0, 0, 0, 'x', '.', 'r', 'a', 'w', GGUF_TYPE_INT8, 0, 0, 0, 0xfe};
        gguf_writer_kv_raw(&w, raw, sizeof raw);
        const uint64_t vdims[1] = {5}, mdims[2] = {64, 3}, hdims[2] = {32, 2}, cube[3] = {32, 1, 2};
        gguf_writer_tensor_bytes(&w, "v", 1, vdims, GGML_TYPE_F32, vector, sizeof vector);
        gguf_writer_tensor_rows(&w, "q", 2, mdims, &f32, GGUF_FROM_Q8_0);
        gguf_writer_tensor_rows(&w, "f", 2, mdims, &f32, GGUF_FROM_F32);
        gguf_writer_tensor_rows(&w, "h", 3, cube, &f16, GGUF_FROM_Q8_0);
        gguf_writer_tensor_bytes(&w, "h16", 2, hdims, GGML_TYPE_F16, halves, sizeof halves);
        expect(gguf_writer_save(&w, path, err) == 0, "save: %s", err);
        gguf_writer_free(&w);

        FILE *f = fopen(path, "rb");
        static unsigned char data[1 << 16];
        size_t size = f ? fread(data, 1, sizeof data, f) : 0;
        if (f)
            fclose(f);
        GgufFile g;
        if (gguf_parse(&g, data, size, path, err) != 0) {
            expect(false, "parse: %s", err);
            continue;
        }
        GgufString arch;
        float eps = 0;
        const GgufKV *r = gguf_find_kv(&g, "x.raw");
        expect(g.version == 3 && g.n_kv == (alignment == 32 ? 3u : 4u) && g.n_tensors == 5 &&
                   g.alignment == (uint64_t)alignment,
               "version %u, %llu entries, %llu tensors, alignment %llu", g.version, (unsigned long long)g.n_kv,
               (unsigned long long)g.n_tensors, (unsigned long long)g.alignment);
        expect(gguf_get_string(&g, "general.architecture", &arch) == 0 && gguf_string_equals(arch, "llama") &&
                   gguf_get_f32(&g, "x.eps", &eps) == 0 && eps == 1e-6f && r && r->type == GGUF_TYPE_INT8 &&
                   r->value.i == -2 && r->raw_size == sizeof raw && memcmp(r->raw, raw, sizeof raw) == 0,
               "metadata read back wrong");
        const GgufTensor *v = gguf_find_tensor(&g, "v"), *q = gguf_find_tensor(&g, "q"),
                         *fl = gguf_find_tensor(&g, "f"), *h = gguf_find_tensor(&g, "h"),
                         *h16 = gguf_find_tensor(&g, "h16");
        if (!v || !q || !fl || !h || !h16) {
            expect(false, "a tensor is missing");
            gguf_free(&g);
            continue;
        }
        for (uint64_t i = 0; i < g.n_tensors; i++)
            expect(g.tensors[i].offset % (uint64_t)alignment == 0, "tensor %llu at offset %llu",
                   (unsigned long long)i, (unsigned long long)g.tensors[i].offset);
        expect((size_t)(g.tensor_data - data) % (size_t)alignment == 0, "tensor data not aligned");
        unsigned char blocks[3 * 2 * 34];
        quantize_row_q8_0(blocks, floats, 3 * 64);
        expect(v->type == GGML_TYPE_F32 && memcmp(v->data, vector, sizeof vector) == 0, "vector");
        expect(q->type == GGML_TYPE_Q8_0 && q->dims[0] == 64 && q->dims[1] == 3 &&
                   memcmp(q->data, blocks, sizeof blocks) == 0, "Q8_0 matrix");
        expect(fl->type == GGML_TYPE_F32 && memcmp(fl->data, floats, sizeof floats) == 0, "F32 rows");
        float hf[64];
        for (int i = 0; i < 64; i++)
            hf[i] = fp16_to_fp32(halves[i]);
        quantize_row_q8_0(blocks, hf, 64);
        expect(h->type == GGML_TYPE_Q8_0 && h->n_dims == 3 && h->dims[2] == 2 && memcmp(h->data, blocks, 68) == 0,
               "F16 rows as Q8_0, three dimensions kept");
        expect(h16->type == GGML_TYPE_F16 && memcmp(h16->data, halves, sizeof halves) == 0, "F16 bytes");
        gguf_free(&g);
    }

    /* Errors: a name too long, rows that are not whole blocks, a missing directory. */
    GgufWriter w;
    gguf_writer_init(&w);
    const uint64_t dims[2] = {64, 3};
    gguf_writer_tensor_rows(&w, "a_name_longer_than_sixty_four_bytes_which_gguf_does_not_allow_at_all", 2, dims,
                            &f32, GGUF_FROM_F32);
    expect(gguf_writer_save(&w, path, err) == -1 && strstr(err, "longer than GGUF's 64 bytes"), "long name: %s",
           err);
    gguf_writer_free(&w);
    gguf_writer_init(&w);
    const Matrix odd = {WEIGHT_F32, 4, 48, floats, NULL, 0};
    const uint64_t odd_dims[2] = {48, 4};
    gguf_writer_tensor_rows(&w, "odd", 2, odd_dims, &odd, GGUF_FROM_Q8_0);
    expect(gguf_writer_save(&w, path, err) == -1 && strstr(err, "not whole Q8_0 blocks"), "odd rows: %s", err);
    gguf_writer_free(&w);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such.gguf", dir);
    gguf_writer_init(&w);
    expect(gguf_writer_save(&w, missing, err) == -1 && strstr(err, "cannot write"), "missing directory: %s", err);
    gguf_writer_free(&w);
    unlink(path);
    report("GGUF writer: metadata, F32, F16 and Q8_0 tensors read back by gguf_parse, aligned (32 and 64)");
}

/* ---------------------------------------------------------------------------
 * The sampler */

static void test_random_stream(void)
{
    /* llama2.c's xorshift64*, computed independently in Python for seed 133742 */
    uint64_t state = 133742;
    uint32_t want[3] = {3033531262u, 2674377904u, 2312864567u};
    for (int i = 0; i < 3; i++) {
        uint32_t got = random_u32(&state);
        expect(got == want[i], "draw %d: %u, want %u", i, got, want[i]);
    }
    report("random stream is llama2.c's xorshift64*");
}

/* Frequencies of n samples from logits = log(probs), with the given settings. */
static void sample_frequencies(const float *probs, int n_tokens, float temperature, float topp, int topk,
                               int n, double *freq)
{
    Sampler s;
    sampler_init(&s, n_tokens, temperature, topp, topk, 7);
    float logits[8];
    memset(freq, 0, n_tokens * sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n_tokens; j++)
            logits[j] = logf(probs[j]);
        freq[sample(&s, logits)] += 1.0 / n;
    }
    sampler_free(&s);
}

static void test_sampler(void)
{
    const float probs[5] = {0.1f, 0.2f, 0.3f, 0.4f - 1e-7f, 1e-7f};
    double f[5];
    const int n = 200000;
    sample_frequencies(probs, 5, 0.0f, 0.9f, 0, 100, f);
    expect(f[3] > 0.999, "greedy did not always pick the argmax");
    sample_frequencies(probs, 5, 1.0f, 1.0f, 0, n, f);
    for (int i = 0; i < 4; i++)
        expect(fabs(f[i] - probs[i]) < 0.01, "plain sampling: token %d frequency %f, want %f", i, f[i],
               probs[i]);
    /* top-k 2 keeps tokens 3 and 2, renormalized: 0.4/0.7 and 0.3/0.7 */
    sample_frequencies(probs, 5, 1.0f, 1.0f, 2, n, f);
    expect(fabs(f[3] - 4.0 / 7) < 0.01 && fabs(f[2] - 3.0 / 7) < 0.01 && f[0] == 0 && f[1] == 0,
           "top-k 2: %f %f %f %f", f[0], f[1], f[2], f[3]);
    /* top-p 0.5: 0.4 alone is not > 0.5, 0.4 + 0.3 is: the nucleus is {3, 2} */
    sample_frequencies(probs, 5, 1.0f, 0.5f, 0, n, f);
    expect(fabs(f[3] - 4.0 / 7) < 0.01 && fabs(f[2] - 3.0 / 7) < 0.01 && f[0] == 0 && f[1] == 0,
           "top-p 0.5: %f %f %f %f", f[0], f[1], f[2], f[3]);
    /* top-k 3 then top-p 0.6 of its mass 0.9: 0.4 + 0.3 = 0.7 > 0.54 -> {3, 2} */
    sample_frequencies(probs, 5, 1.0f, 0.6f, 3, n, f);
    expect(f[0] == 0 && f[1] == 0 && fabs(f[3] - 4.0 / 7) < 0.01, "top-k 3 + top-p 0.6: %f %f %f %f", f[0],
           f[1], f[2], f[3]);
    /* a low temperature sharpens towards the argmax */
    sample_frequencies(probs, 5, 0.05f, 1.0f, 0, 20000, f);
    expect(f[3] > 0.99, "temperature 0.05: argmax frequency %f", f[3]);
    /* the same seed gives the same draws */
    Sampler a, b;
    sampler_init(&a, 5, 1.0f, 0.9f, 0, 99);
    sampler_init(&b, 5, 1.0f, 0.9f, 0, 99);
    for (int i = 0; i < 100; i++) {
        float la[5], lb[5];
        for (int j = 0; j < 5; j++)
            la[j] = lb[j] = logf(probs[j]);
        expect(sample(&a, la) == sample(&b, lb), "same seed, different token at draw %d", i);
    }
    sampler_free(&a), sampler_free(&b);
    /* ties: argmax and sorting prefer the lower index */
    float tie[4] = {1, 3, 3, 2};
    expect(argmax(tie, 4) == 1, "argmax tie went to %d", argmax(tie, 4));
    /* argmax against a plain loop: negative logits, -inf and NaN among them, every length */
    float many[1000];
    uint64_t rng = 7;
    for (int len = 1; len <= 1000; len += 37) {
        for (int i = 0; i < len; i++)
            many[i] = (len % 2 ? -100.0f : -25.0f) + 50.0f * random_f32(&rng);  /* all negative, or mixed */
        many[len / 3] = -INFINITY, many[len / 2] = NAN;
        int want = -1;
        for (int i = 0; i < len; i++)
            if (isfinite(many[i]) && (want < 0 || many[i] > many[want]))
                want = i;
        want = want < 0 ? 0 : want;
        expect(argmax(many, len) == want, "argmax of %d logits: %d, not %d", len, argmax(many, len), want);
    }
    float zeros[3] = {-1.0f, -0.0f, 0.0f};  /* -0 equals +0: the first wins */
    expect(argmax(zeros, 3) == 1, "argmax of -1, -0, +0: %d, not 1", argmax(zeros, 3));
    float none_finite[3] = {NAN, -INFINITY, INFINITY};
    expect(argmax(none_finite, 3) == 0, "argmax with no finite logit: %d", argmax(none_finite, 3));
    ProbIndex c[4] = {{0, 0.25f}, {1, 0.25f}, {2, 0.25f}, {3, 0.25f}};
    sort_candidates(c, 4);
    expect(c[0].index == 0 && c[3].index == 3, "equal probabilities were reordered");
    /* NaN or infinite logits never crash it: the largest finite logit wins */
    for (int topk = 0; topk <= 2; topk++) {
        Sampler ns;
        sampler_init(&ns, 4, 1.0f, 0.9f, topk, 5);
        float bad[4] = {NAN, 2.0f, INFINITY, 1.0f};
        int id = sample(&ns, bad);
        expect(id == 1, "NaN/inf logits with top-k %d gave %d", topk, id);
        sampler_free(&ns);
    }
    Sampler cold;
    sampler_init(&cold, 5, 1e-30f, 0.9f, 0, 5);
    float sharp[5] = {1.0f, 30.0f, 2.0f, 29.0f, -3.0f};
    expect(sample(&cold, sharp) == 1, "temperature 1e-30 (logits overflow) is not greedy");
    sampler_free(&cold);
    report("sampler: greedy, temperature, top-k, top-p frequencies and seeds");
}

/* llama.cpp's penalties and min-p, on hand-made vectors; the expected values
 * are worked out by hand from its documented formulas. */
static void test_sampler_filters(void)
{
    SamplerFilters f = {0.0f, 2.0f, 0.25f, 0.5f, 64};
    float logits[4] = {2.0f, -1.0f, 0.5f, 3.0f};
    const int recent[5] = {0, 1, 0, 3, 99};  /* 99: outside the vocabulary, ignored */
    int counts[4] = {0};
    apply_penalties(logits, 4, recent, 5, counts, &f);
    /* 0: seen twice, 2 / 2 - (2 * 0.5 + 0.25); 1: once, -1 * 2 - (0.5 + 0.25); 2: unseen; 3: 3 / 2 - 0.75 */
    const float want[4] = {-0.25f, -2.75f, 0.5f, 0.75f};
    for (int i = 0; i < 4; i++) {
        expect(fabsf(logits[i] - want[i]) < 1e-6f, "penalized logit %d: %g, want %g", i, logits[i], want[i]);
        expect(counts[i] == 0, "counts[%d] left at %d", i, counts[i]);
    }

    float probs[4] = {0.5f, 0.3f, 0.15f, 0.05f};
    keep_min_p(probs, 4, 0.2f);  /* floor 0.1: the 0.05 goes, the rest share 0.95 */
    const float kept[4] = {0.5f / 0.95f, 0.3f / 0.95f, 0.15f / 0.95f, 0.0f};
    for (int i = 0; i < 4; i++)
        expect(fabsf(probs[i] - kept[i]) < 1e-6f, "min-p prob %d: %g, want %g", i, probs[i], kept[i]);

    /* Greedy sees the penalty: token 0 (logit 1.0, fed once) falls to 1 / 1.5 below token 1's 0.9. */
    Sampler s;
    sampler_init(&s, 2, 0.0f, 0.9f, 0, 1);
    SamplerFilters repeat = SAMPLER_FILTERS_OFF;
    repeat.repeat_penalty = 1.5f;
    expect(sampler_set_filters(&s, repeat) == 0, "sampler_set_filters failed");
    float two[2] = {1.0f, 0.9f};
    expect(sample(&s, two) == 0, "no token fed yet: greedy is token 0");
    sampler_accept(&s, 0);
    float again[2] = {1.0f, 0.9f};
    expect(sample(&s, again) == 1, "token 0 fed once with repeat penalty 1.5: greedy should be token 1");
    sampler_free(&s);

    /* The window: with repeat_last_n 2, after 0, 1, 1 token 0 is no longer recent. */
    sampler_init(&s, 2, 0.0f, 0.9f, 0, 1);
    repeat.repeat_last_n = 2;
    sampler_set_filters(&s, repeat);
    sampler_accept(&s, 0), sampler_accept(&s, 1), sampler_accept(&s, 1);
    float window[2] = {1.0f, 0.9f};
    expect(sample(&s, window) == 0, "token 0 left the 2-token window but was still penalized");
    sampler_free(&s);

    /* Min-p with sampling: at min_p 0.5 and temperature 1 only tokens at least half as likely as
     * the best can come out; logits log(4), log(3), log(1): the third (a quarter) never does. */
    sampler_init(&s, 3, 1.0f, 1.0f, 0, 11);
    SamplerFilters minp = SAMPLER_FILTERS_OFF;
    minp.min_p = 0.5f;
    sampler_set_filters(&s, minp);
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++) {
        float l[3] = {logf(4.0f), logf(3.0f), logf(1.0f)};
        seen[sample(&s, l)]++;
    }
    expect(seen[2] == 0 && seen[0] > 1000 && seen[1] > 700, "min-p 0.5 draws: %d %d %d (want ~1143 ~857 0)",
           seen[0], seen[1], seen[2]);
    sampler_free(&s);
    report("sampler: repeat, presence and frequency penalties and min-p, as llama.cpp defines them");
}

/* ---------------------------------------------------------------------------
 * The tokenizer against sentencepiece's ids */

static char *path_join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Encodes each line of the corpus and compares with the expected file's line
 * ("1 id id ..."); '#' lines in the expected file are comments. */
static void check_corpus(const Tokenizer *tok, const char *corpus_path, const char *expected_path)
{
    FILE *corpus = fopen(corpus_path, "rb"), *expected = fopen(expected_path, "rb");
    expect(corpus && expected, "cannot open %s or %s", corpus_path, expected_path);
    if (!corpus || !expected) {
        if (corpus)
            fclose(corpus);
        if (expected)
            fclose(expected);
        return;
    }
    char *line = NULL, *want = NULL;
    size_t cap = 0, want_cap = 0;
    ssize_t n;
    int line_no = 0, mismatches = 0;
    while ((n = getline(&line, &cap, corpus)) >= 0) {
        line_no++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        ssize_t m;
        do
            m = getline(&want, &want_cap, expected);
        while (m >= 0 && want[0] == '#');
        expect(m >= 0, "%s ends before line %d", expected_path, line_no);
        if (m < 0)
            break;
        int *tokens;
        int count = tokenizer_encode(tok, line, (size_t)n, true, false, &tokens);
        char got[65536];
        size_t len = 0;
        for (int i = 0; i < count && len < sizeof got - 16; i++)
            len += (size_t)snprintf(got + len, sizeof got - len, i ? " %d" : "%d", tokens[i]);
        free(tokens);
        want[strcspn(want, "\n")] = '\0';
        if (strcmp(got, want) != 0 && mismatches++ == 0)
            expect(false, "%s line %d: got [%.200s] want [%.200s]", corpus_path, line_no, got, want);
    }
    expect(mismatches == 0, "%d mismatching lines", mismatches);
    free(line), free(want);
    fclose(corpus), fclose(expected);
}

static void test_tokenizer_corpus(const char *models_dir, const char *vocab_file, const char *expected_file,
                                  const char *name)
{
    char *path = path_join(models_dir, vocab_file);
    Tokenizer tok;
    char err[ERROR_SIZE];
    if (tokenizer_load(&tok, path, 0, err) != 0) {
        expect(false, "%s", err);
    } else {
        check_corpus(&tok, "tests/tokenizer/corpus.txt", expected_file);
        tokenizer_free(&tok);
    }
    free(path);
    report(name);
}

/* Decoding what was encoded gives the text back (Llama 2 keeps whitespace). */
static void test_tokenizer_round_trip(const char *models_dir)
{
    char *path = path_join(models_dir, "tokenizer.bin");
    Tokenizer tok;
    char err[ERROR_SIZE];
    if (tokenizer_load(&tok, path, 0, err) != 0) {
        expect(false, "%s", err);
    } else {
        const char *texts[] = {"Hello world", "  two  spaces\tand a tab ", "naïve café ☕ 안녕하세요 🤗",
                               "digits 1234567890", "\xff\xfe stray bytes \xc3"};
        expect(!tok.sentencepiece.collapse_whitespace, "Llama 2's vocabulary should keep runs of spaces");
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            int *ids;
            int n = tokenizer_encode(&tok, texts[i], strlen(texts[i]), true, false, &ids);
            char out[512];
            size_t len = 0;
            for (int j = 1; j < n; j++) {
                size_t piece_len;
                const char *piece = tokenizer_decode(&tok, ids[j - 1], ids[j], &piece_len);
                memcpy(out + len, piece, piece_len);
                len += piece_len;
            }
            out[len] = '\0';
            expect(strcmp(out, texts[i]) == 0, "round trip of [%s] gave [%s]", texts[i], out);
            free(ids);
        }
        /* "<s>" typed as text is not the BOS token */
        int *ids;
        int n = tokenizer_encode(&tok, "<s></s><unk>", 12, false, false, &ids);
        for (int j = 0; j < n; j++)
            expect(ids[j] > TOKEN_EOS, "typed special text became token %d", ids[j]);
        free(ids);
        tokenizer_free(&tok);
    }
    free(path);
    report("tokenizer: decode(encode(text)) == text, specials are not typed");
}

/* ---------------------------------------------------------------------------
 * GPT-2's byte-level BPE on its real vocabulary. Each expected list of ids is
 * js-tiktoken's gpt2 encoding of the text (npm js-tiktoken 1.0.21), not this
 * code's; for stray bytes, which a JavaScript string cannot hold, the ids are
 * js-tiktoken's tokens of those single bytes. */

/* Joins the pieces of ids as ./run prints them. Returns the length. */
static size_t decode_all(const Tokenizer *tok, const int *ids, int n, char *out, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t piece_len;
        const char *piece = tokenizer_decode(tok, i > 0 ? ids[i - 1] : -1, ids[i], &piece_len);
        if (len + piece_len >= cap)
            break;
        memcpy(out + len, piece, piece_len);
        len += piece_len;
    }
    out[len] = '\0';
    return len;
}

static void test_byte_bpe_gpt2(const char *models_dir)
{
    static const struct {
        const char *text;
        int n;
        int ids[16];
    } cases[] = {
        {"Hello world", 2, {15496, 995}},
        {" Hello", 1, {18435}},
        {"I'm here's it'S", 7, {40, 1101, 994, 338, 340, 6, 50}},
        {"don\xe2\x80\x99t", 4, {9099, 447, 247, 83}},                  /* don't with U+2019 */
        {"a\n\nb", 4, {64, 198, 198, 65}},
        {"\n\n\n", 2, {628, 198}},
        {"  x", 2, {220, 2124}},
        {"<|endoftext|>", 7, {27, 91, 437, 1659, 5239, 91, 29}},          /* typed, it is plain text */
        {"\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94", 14,   /* Korean: hello */
         {168, 243, 230, 167, 227, 243, 47991, 246, 168, 226, 116, 168, 248, 242}},
        {"caf\xc3\xa9 na\xc3\xafve", 4, {66, 1878, 2634, 41492}},
        {"12345", 2, {10163, 2231}},
        {"\xf0\x9f\x98\x80", 2, {47249, 222}},                               /* an emoji */
        {"\xff\xfe abc\xc3", 5, {187, 186, 450, 66, 127}},                    /* stray bytes 0xff 0xfe, 0xc3 */
    };
    char *path = path_join(models_dir, "ggml-vocab-gpt-2.gguf");
    Tokenizer tok;
    char err[ERROR_SIZE];
    if (tokenizer_load(&tok, path, 0, err) != 0) {
        expect(false, "%s", err);
        free(path);
        report("byte-level BPE: GPT-2's vocabulary gives js-tiktoken's ids");
        return;
    }
    expect(tok.kind == TOKENIZER_BYTE_BPE && tok.vocab_size == 50257 && tok.bos_id == 50256 &&
               tok.eos_id == 50256 && !tok.add_bos,
           "kind %d, %d tokens, BOS %d, EOS %d, add_bos %d", (int)tok.kind, tok.vocab_size, tok.bos_id, tok.eos_id,
           (int)tok.add_bos);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        int *ids;
        int n = tokenizer_encode(&tok, text, strlen(text), false, false, &ids);
        bool same = n == cases[i].n && memcmp(ids, cases[i].ids, n * sizeof(int)) == 0;
        expect(same, "[%s]: %d ids, first %d, want %d, first %d", text, n, n > 0 ? ids[0] : -1, cases[i].n,
               cases[i].ids[0]);
        char decoded[256];
        size_t len = decode_all(&tok, ids, n, decoded, sizeof decoded);
        expect(len == strlen(text) && memcmp(decoded, text, len) == 0, "[%s] decodes to [%s]", text, decoded);
        free(ids);
    }
    int *ids;
    int n = tokenizer_encode(&tok, "Hello", 5, true, true, &ids);
    expect(n == 3 && ids[0] == 50256 && ids[1] == 15496 && ids[2] == 50256, "BOS and EOS: %d ids", n);
    free(ids);
    n = tokenizer_encode(&tok, "", 0, false, false, &ids);
    expect(n == 0, "the empty text gave %d ids", n);
    free(ids);
    size_t len;
    const char *piece = tokenizer_decode(&tok, -1, 220, &len);
    expect(len == 1 && piece[0] == ' ', "token 220 (Ġ) is not a space");
    piece = tokenizer_decode(&tok, -1, 50256, &len);
    expect(len == 13 && memcmp(piece, "<|endoftext|>", 13) == 0, "token 50256 is not <|endoftext|>");
    tokenizer_free(&tok);
    free(path);
    report("byte-level BPE: GPT-2's vocabulary gives js-tiktoken's ids, and decodes back to the text");
}

/* Every byte string decodes back to itself: 0..255 alone and in pairs,
 * with text around them. */
static void test_byte_bpe_round_trip(const char *models_dir)
{
    char *path = path_join(models_dir, "ggml-vocab-gpt-2.gguf");
    Tokenizer tok;
    char err[ERROR_SIZE];
    if (tokenizer_load(&tok, path, 0, err) != 0) {
        expect(false, "%s", err);
    } else {
        for (int a = 0; a < BYTE_VALUES; a++) {
            for (int b = 0; b < BYTE_VALUES; b += 7) {
                char text[16] = {'x', (char)a, (char)b, ' ', (char)a, 'y', '\n', (char)b};
                size_t text_len = 8;
                int *ids;
                int n = tokenizer_encode(&tok, text, text_len, false, false, &ids);
                char decoded[64];
                size_t len = decode_all(&tok, ids, n, decoded, sizeof decoded);
                expect(n > 0 && len == text_len && memcmp(decoded, text, len) == 0,
                       "bytes %02x %02x do not decode back", a, b);
                free(ids);
            }
        }
        tokenizer_free(&tok);
    }
    free(path);
    report("byte-level BPE: decode(encode(x)) == x for every byte, valid UTF-8 or not");
}

/* ---------------------------------------------------------------------------
 * GPT-2's pre-tokenizer: each text's chunks, joined with '|', as JavaScript's
 * RegExp splits it with GPT-2's pattern (its \s replaced by Unicode's
 * White_Space, which GPT-2's and tiktoken's regex libraries use) */

static void test_gpt2_pretokenizer(void)
{
    static const struct {
        const char *text, *chunks;
    } cases[] = {
        {"Hello world", "Hello| world"},
        {"I'm here's it'S", "I|'m| here|'s| it|'|S"},      /* contractions are lower case */
        {"x'll've ''s", "x|'ll|'ve| ''|s"},
        {"don\xe2\x80\x99t", "don|\xe2\x80\x99|t"},           /* a typographic apostrophe is punctuation */
        {"a  b", "a| | b"},                                 /* a space stays with the word after it */
        {"a   \n\nb", "a|   \n|\n|b"},
        {"a \tb", "a| |\t|b"},
        {"x  ", "x|  "},                                     /* whitespace at the end stays whole */
        {"  ", "  "},
        {"12 345,6", "12| 345|,|6"},
        {" !?x", " !?|x"},
        {"na\xc3\xaf" "ve e\xcc\x81", "na\xc3\xaf" "ve| e|\xcc\x81"},  /* ï is a letter, a combining accent is not */
        {"\xe3\x80\x80x", "\xe3\x80\x80|x"},                       /* U+3000 is whitespace */
        {"a\xc2\x85" "b", "a|\xc2\x85|b"},                           /* so is NEL (U+0085) */
        {"\xef\xbb\xbf" "a", "\xef\xbb\xbf|a"},                      /* the BOM (U+FEFF) is not: other */
        {"\xff\xfe abc\xc3", "\xff\xfe| abc|\xc3"},                 /* stray bytes are neither */
        {"\xed\xa0\x80x", "\xed\xa0\x80|x"},                       /* nor is an encoded surrogate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        size_t len = strlen(text);
        char got[256];
        size_t n = 0;
        for (size_t start = 0, end; start < len; start = end) {
            end = pretokenizer_next_chunk(PRETOKENIZER_GPT2, text, len, start);
            expect(end > start && end <= len, "[%s]: chunk at %zu ends at %zu", text, start, end);
            if (end <= start || end > len)
                break;
            if (start > 0)
                got[n++] = '|';
            memcpy(got + n, text + start, end - start);
            n += end - start;
        }
        got[n] = '\0';
        expect(strcmp(got, cases[i].chunks) == 0, "[%s] split as [%s], want [%s]", text, got, cases[i].chunks);
    }
    PretokenizerRules p;
    expect(pretokenizer_from_name("gpt-2", 5, &p) == 0 && p.split == PRETOKENIZER_GPT2 && !p.nfc && !p.ignore_merges,
           "gpt-2 is not GPT-2's split");
    expect(char_class_of('a') == CHAR_LETTER && char_class_of(0x4e2d) == CHAR_LETTER &&
               char_class_of('7') == CHAR_NUMBER && char_class_of(0x2167) == CHAR_NUMBER &&
               char_class_of(0x2028) == CHAR_WHITESPACE && char_class_of('!') == CHAR_OTHER &&
               char_class_of(0x10ffff) == CHAR_OTHER,
           "character classes wrong (Unicode %s)", unicode_classes_version);
    report("pre-tokenizer: GPT-2's regex split, contractions, whitespace runs, stray bytes");
}

/* Where the tests write their files (made by main). */
static char scratch_dir[] = "/tmp/unit_tests_XXXXXX";

/* ---------------------------------------------------------------------------
 * Llama 3's, Qwen2's and SmolLM2's pre-tokenizers: each text's chunks, as
 * JavaScript's RegExp splits it with their patterns (\s as White_Space;
 * SmolLM2's: [^\p{N}]+|\p{N} first, then GPT-2's on each piece) */

/* The text's chunks, joined with '|', into got (room for 256 bytes). */
static void split_joined(Pretokenizer p, const char *text, char got[256])
{
    size_t len = strlen(text), n = 0;
    for (size_t start = 0, end; start < len; start = end) {
        end = pretokenizer_next_chunk(p, text, len, start);
        expect(end > start && end <= len, "[%s]: chunk at %zu ends at %zu", text, start, end);
        if (end <= start || end > len)
            break;
        if (start > 0)
            got[n++] = '|';
        memcpy(got + n, text + start, end - start);
        n += end - start;
    }
    got[n] = '\0';
}

static void test_pretokenizers(void)
{
    static const struct {
        Pretokenizer p;
        const char *text, *chunks;
    } cases[] = {
        {PRETOKENIZER_LLAMA3, "I'M here's it'S WE'LL they'Re", "I|'M| here|'s| it|'S| WE|'LL| they|'Re"},
        {PRETOKENIZER_LLAMA3, "x'll've ''s '\xc5\xbf", "x|'ll|'ve| ''|s| '|\xc5\xbf"},
        {PRETOKENIZER_LLAMA3, "12345 1234567", "123|45| |123|456|7"},
        {PRETOKENIZER_LLAMA3, "a  1 b\t2", "a| | |1| b|\t|2"},
        {PRETOKENIZER_LLAMA3, "(hello) ...world !!\n\nabc", "(hello|)| ...|world| !!\n\n|abc"},
        {PRETOKENIZER_LLAMA3, " ???\r\rx", " ???\r\r|x"},
        {PRETOKENIZER_LLAMA3, "a \r\n\r\n  b", "a| \r\n\r\n| | b"},
        {PRETOKENIZER_LLAMA3, "x\n\n\n   y", "x|\n\n\n|  | y"},
        {PRETOKENIZER_LLAMA3, "\tword \xe3\x80\x80word", "\tword| |\xe3\x80\x80word"},
        {PRETOKENIZER_LLAMA3, "a  b   \n\nc", "a| | b|   \n\n|c"},
        {PRETOKENIZER_LLAMA3, "x  ", "x|  "},
        {PRETOKENIZER_LLAMA3, "a \n", "a| \n"},
        {PRETOKENIZER_LLAMA3, "\xc3\xa9t\xc3\xa9 e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9| e|\xcc\x81t\xc3\xa9"},
        {PRETOKENIZER_LLAMA3, "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4 \xc2\xbd\xc2\xb2",
         "\xd9\xa1\xd9\xa2\xd9\xa3|\xd9\xa4| |\xc2\xbd\xc2\xb2"},
        {PRETOKENIZER_LLAMA3, "  \r  x", "  \r| | x"},
        {PRETOKENIZER_LLAMA3, "don\xe2\x80\x99t", "don|\xe2\x80\x99t"},
        {PRETOKENIZER_LLAMA3, "a1b22c333", "a|1|b|22|c|333"},
        {PRETOKENIZER_QWEN2, "I'M here's it'S WE'LL they'Re", "I|'M| here|'s| it|'S| WE|'LL| they|'Re"},
        {PRETOKENIZER_QWEN2, "x'll've ''s '\xc5\xbf", "x|'ll|'ve| ''|s| '|\xc5\xbf"},
        {PRETOKENIZER_QWEN2, "12345 1234567", "1|2|3|4|5| |1|2|3|4|5|6|7"},
        {PRETOKENIZER_QWEN2, "a  1 b\t2", "a| | |1| b|\t|2"},
        {PRETOKENIZER_QWEN2, "(hello) ...world !!\n\nabc", "(hello|)| ...|world| !!\n\n|abc"},
        {PRETOKENIZER_QWEN2, " ???\r\rx", " ???\r\r|x"},
        {PRETOKENIZER_QWEN2, "a \r\n\r\n  b", "a| \r\n\r\n| | b"},
        {PRETOKENIZER_QWEN2, "x\n\n\n   y", "x|\n\n\n|  | y"},
        {PRETOKENIZER_QWEN2, "\tword \xe3\x80\x80word", "\tword| |\xe3\x80\x80word"},
        {PRETOKENIZER_QWEN2, "a  b   \n\nc", "a| | b|   \n\n|c"},
        {PRETOKENIZER_QWEN2, "x  ", "x|  "},
        {PRETOKENIZER_QWEN2, "a \n", "a| \n"},
        {PRETOKENIZER_QWEN2, "\xc3\xa9t\xc3\xa9 e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9| e|\xcc\x81t\xc3\xa9"},
        {PRETOKENIZER_QWEN2, "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4 \xc2\xbd\xc2\xb2",
         "\xd9\xa1|\xd9\xa2|\xd9\xa3|\xd9\xa4| |\xc2\xbd|\xc2\xb2"},
        {PRETOKENIZER_QWEN2, "  \r  x", "  \r| | x"},
        {PRETOKENIZER_QWEN2, "don\xe2\x80\x99t", "don|\xe2\x80\x99t"},
        {PRETOKENIZER_QWEN2, "a1b22c333", "a|1|b|2|2|c|3|3|3"},
        {PRETOKENIZER_SMOLLM, "I'M here's it'S WE'LL they'Re", "I|'|M| here|'s| it|'|S| WE|'|LL| they|'|Re"},
        {PRETOKENIZER_SMOLLM, "x'll've ''s '\xc5\xbf", "x|'ll|'ve| ''|s| '|\xc5\xbf"},
        {PRETOKENIZER_SMOLLM, "12345 1234567", "1|2|3|4|5| |1|2|3|4|5|6|7"},
        {PRETOKENIZER_SMOLLM, "a  1 b\t2", "a|  |1| b|\t|2"},
        {PRETOKENIZER_SMOLLM, "(hello) ...world !!\n\nabc", "(|hello|)| ...|world| !!|\n|\n|abc"},
        {PRETOKENIZER_SMOLLM, " ???\r\rx", " ???|\r|\r|x"},
        {PRETOKENIZER_SMOLLM, "a \r\n\r\n  b", "a| \r\n\r\n | b"},
        {PRETOKENIZER_SMOLLM, "x\n\n\n   y", "x|\n\n\n  | y"},
        {PRETOKENIZER_SMOLLM, "\tword \xe3\x80\x80word", "\t|word| |\xe3\x80\x80|word"},
        {PRETOKENIZER_SMOLLM, "a  b   \n\nc", "a| | b|   \n|\n|c"},
        {PRETOKENIZER_SMOLLM, "x  ", "x|  "},
        {PRETOKENIZER_SMOLLM, "a \n", "a| \n"},
        {PRETOKENIZER_SMOLLM, "\xc3\xa9t\xc3\xa9 e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9| e|\xcc\x81|t\xc3\xa9"},
        {PRETOKENIZER_SMOLLM, "\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4 \xc2\xbd\xc2\xb2",
         "\xd9\xa1|\xd9\xa2|\xd9\xa3|\xd9\xa4| |\xc2\xbd|\xc2\xb2"},
        {PRETOKENIZER_SMOLLM, "  \r  x", "  \r | x"},
        {PRETOKENIZER_SMOLLM, "don\xe2\x80\x99t", "don|\xe2\x80\x99|t"},
        {PRETOKENIZER_SMOLLM, "a1b22c333", "a|1|b|2|2|c|3|3|3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[256];
        split_joined(cases[i].p, cases[i].text, got);
        expect(strcmp(got, cases[i].chunks) == 0, "split %d: [%s] split as [%s], want [%s]", (int)cases[i].p,
               cases[i].text, got, cases[i].chunks);
    }
    static const struct {
        const char *name;
        int status;
        PretokenizerRules rules;
    } names[] = {
        {"llama-bpe", 0, {PRETOKENIZER_LLAMA3, false, true}}, {"llama3", 0, {PRETOKENIZER_LLAMA3, false, true}},
        {"qwen2", 0, {PRETOKENIZER_QWEN2, true, false}},      {"smollm", 0, {PRETOKENIZER_SMOLLM, false, false}},
        {"mpt", 0, {PRETOKENIZER_GPT2, false, false}},        {"starcoder", -1, {0, false, false}},
        {"deepseek-llm", -1, {0, false, false}},              {"qwen", -1, {0, false, false}},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        PretokenizerRules r = {0, false, false};
        int status = pretokenizer_from_name(names[i].name, strlen(names[i].name), &r);
        expect(status == names[i].status &&
                   (status != 0 || (r.split == names[i].rules.split && r.nfc == names[i].rules.nfc &&
                                    r.ignore_merges == names[i].rules.ignore_merges)),
               "pre-tokenizer name %s: status %d, split %d, nfc %d, ignore_merges %d", names[i].name, status,
               (int)r.split, (int)r.nfc, (int)r.ignore_merges);
    }
    report("pre-tokenizers: Llama 3's, Qwen2's and SmolLM2's splits, and the names that choose them");
}

/* ---------------------------------------------------------------------------
 * NFC, against Python's unicodedata.normalize("NFC", ...) */

static void test_nfc(void)
{
    static const struct {
        const char *text, *nfc;
    } cases[] = {
        {"plain ASCII <>=", "plain ASCII <>="},
        {"e\xcc\x81", "\xc3\xa9"},                                  /* e + acute: é */
        {"A\xcc\x8a \xe2\x84\xab", "\xc3\x85 \xc3\x85"},            /* A + ring, and the Angstrom sign: Å */
        {"\xe2\x84\xaa \xe2\x84\xa6", "K \xce\xa9"},                    /* Kelvin, Ohm: singletons */
        {"a\xcc\x82\xcc\xa3", "\xe1\xba\xad"},                         /* a + circumflex + dot below: reordered, ậ */
        {"q\xcc\x87\xcc\xa3", "q\xcc\xa3\xcc\x87"},                    /* reordered, nothing to compose with */
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},                 /* Devanagari qa: a composition exclusion */
        {"\xcd\x84", "\xcc\x88\xcc\x81"},                               /* U+0344: a non-starter decomposition */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"},  /* Hangul jamo L V T: 각 */
        {"\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81"},                /* syllable LV + T */
        {"\xe0\xad\x87\xe0\xac\xbe", "\xe0\xad\x8b"},                /* two starters that compose (Oriya o) */
        {"<\xcc\xb8", "\xe2\x89\xae"},                                   /* < + long solidus: ≮ */
        {"\xcc\x81\xcc\x80" "a", "\xcc\x81\xcc\x80" "a"},          /* marks with no starter before them */
        {"\xf0\x9d\x85\xa0", "\xf0\x9d\x85\x98\xf0\x9d\x85\xa5\xf0\x9d\x85\xae"}, /* 3 times longer */
        {"a\xff\xcc\x88" "e\xcc\x88\xc3", "a\xff\xcc\x88\xc3\xab\xc3"},  /* stray bytes block, and stay */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        size_t len = strlen(text);
        char out[64];
        size_t n = nfc_normalize(text, len, out);
        expect(n <= NFC_MAX_GROWTH * len && n == strlen(cases[i].nfc) && memcmp(out, cases[i].nfc, n) == 0,
               "NFC of case %zu: %zu bytes, want %zu", i, n, strlen(cases[i].nfc));
    }
    /* 3000 marks of falling class after one letter (sorted by counting, not
     * insertion): the same as sorting them one by one. */
    enum { MARKS = 3000 };
    static const char *const falling[] = {"\xcd\x85", "\xcc\x81", "\xcc\xa3", "\xcc\xb8"};  /* 240 230 220 1 */
    char *text = malloc(1 + 2 * MARKS), *out = malloc(NFC_MAX_GROWTH * (1 + 2 * MARKS));
    text[0] = 'o';
    for (int k = 0; k < MARKS; k++)
        memcpy(text + 1 + 2 * k, falling[k % 4], 2);
    size_t n = nfc_normalize(text, 1 + 2 * MARKS, out);
    /* o + U+0323 composes (ọ, 3 bytes); then every other mark by class: 1, 220, 230, 240. */
    bool sorted = n == 3 + 2 * (MARKS - 1) && memcmp(out, "\xe1\xbb\x8d", 3) == 0;
    for (int k = 0; sorted && k < MARKS - 1; k++) {
        int which = k < MARKS / 4 ? 3 : k < MARKS / 4 + MARKS / 4 - 1 ? 2 : k < 3 * MARKS / 4 - 1 ? 1 : 0;
        sorted = memcmp(out + 3 + 2 * k, falling[which], 2) == 0;
    }
    expect(sorted, "a long run of marks is not in canonical order (%zu bytes)", n);
    free(text), free(out);
    report("NFC: compositions, reordering, exclusions, singletons, Hangul, stray bytes, long runs of marks");
}

/* ---------------------------------------------------------------------------
 * Byte-level BPE vocabularies with control and user-defined tokens
 * (scripts/write_bpe_vocab.py: bytes 0..255, merges 256..261, <|endoftext|>
 * 262, then the tokens asked for) */

/* Writes the vocabulary with write_bpe_vocab.py's options and loads it. */
static bool load_bpe_vocab(Tokenizer *tok, const char *name, const char *options)
{
    /* run_tests.sh sets PYTHON; by hand, the system's Python (which has numpy), as the Makefile picks. */
    const char *python = getenv("PYTHON");
    if (!python)
        python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char *path = path_join(scratch_dir, name);
    char command[1024], err[ERROR_SIZE];
    snprintf(command, sizeof command, "%s scripts/write_bpe_vocab.py %s %s >/dev/null 2>&1", python, path, options);
    bool ok = system(command) == 0;
    expect(ok, "%s failed", command);
    if (ok && tokenizer_load(tok, path, 0, err) != 0) {
        expect(false, "%s", err);
        ok = false;
    }
    unlink(path);
    free(path);
    return ok;
}

/* The ids of text, as a string "1 2 3". */
static void encoded(const Tokenizer *tok, const char *text, char out[256])
{
    int *ids;
    int n = tokenizer_encode(tok, text, strlen(text), false, false, &ids);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < 200; i++)
        used += (size_t)snprintf(out + used, 256 - used, i ? " %d" : "%d", ids[i]);
    free(ids);
}

static void test_byte_bpe_special_tokens(void)
{
    Tokenizer tok;
    char got[256];
    if (load_bpe_vocab(&tok, "specials.gguf",
                       "--pre qwen2 --control-token '<|im_start|>' --control-token '<|im_end|>' "
                       "--user-token '<think>' --user-token '<th' --user-token '</think>'")) {
        /* 263 <|im_start|>, 264 <|im_end|>, 265 <think>, 266 <th, 267 </think> */
        encoded(&tok, "<think>the cat</think>", got);
        expect(strcmp(got, "265 116 257 261 267") == 0, "user-defined tokens: %s", got);
        encoded(&tok, "<thx<think", got);  /* the longest that matches: "<th" */
        expect(strcmp(got, "266 120 266 105 110 107") == 0, "the longest user-defined token first: %s", got);
        encoded(&tok, "<|im_start|>", got);  /* typed, a control token is text */
        expect(strcmp(got, "60 124 105 109 95 115 116 97 114 116 124 62") == 0, "typed control token: %s", got);
        encoded(&tok, "e\xcc\x81<think>\xcc\xb8", got);  /* NFC on each side of a user-defined token */
        expect(strcmp(got, "195 169 265 204 184") == 0, "NFC around a user-defined token: %s", got);
        expect(tokenizer_special_token(&tok, "<|im_start|>") == 263 &&
                   tokenizer_special_token(&tok, "<|im_end|>") == 264 &&
                   tokenizer_special_token(&tok, "<|endoftext|>") == 262 &&
                   tokenizer_special_token(&tok, "<think>") == -1 && tokenizer_special_token(&tok, "the") == -1,
               "special tokens by name");
        expect(tok.eot_id == 264 && tok.eos_id == 262, "end of turn %d (want <|im_end|>, 264), EOS %d", tok.eot_id,
               tok.eos_id);
        expect(tokenizer_is_end_of_generation(&tok, 262) && tokenizer_is_end_of_generation(&tok, 264) &&
                   !tokenizer_is_end_of_generation(&tok, 263) && !tokenizer_is_end_of_generation(&tok, 116),
               "end of generation: EOS and the end of turn only");
        size_t len;
        const char *piece = tokenizer_decode(&tok, -1, 265, &len);
        expect(len == 7 && memcmp(piece, "<think>", 7) == 0, "a user-defined token decodes to its text");
        tokenizer_free(&tok);
    }
    if (load_bpe_vocab(&tok, "eot.gguf", "--pre llama-bpe --control-token '<|eot_id|>' --control-token '<|x|>' "
                                         "--eot-id 264")) {
        expect(tok.eot_id == 264, "tokenizer.ggml.eot_token_id 264 read as %d", tok.eot_id);
        encoded(&tok, "the cat", got);  /* ignore_merges: " cat" is a token, whole */
        expect(strcmp(got, "116 257 261") == 0, "llama-bpe: %s", got);
        tokenizer_free(&tok);
    }
    if (load_bpe_vocab(&tok, "no_eot.gguf", "--control-token '<|eot_id|>'")) {
        expect(tok.eot_id == 263 && tokenizer_is_end_of_generation(&tok, 263), "<|eot_id|> by name: %d", tok.eot_id);
        tokenizer_free(&tok);
    }
    if (load_bpe_vocab(&tok, "user_eot.gguf", "--user-token '<|eot_id|>'")) {
        expect(tok.eot_id == -1, "a user-defined <|eot_id|> taken for the end of turn: %d", tok.eot_id);
        tokenizer_free(&tok);
    }
    report("byte-level BPE: user-defined tokens from text, control tokens only by id, end of turn and EOS");
}

/* ---------------------------------------------------------------------------
 * Loader errors: crafted bad files */

static char *write_file(const char *name, const void *data, size_t size)
{
    char *path = path_join(scratch_dir, name);
    FILE *f = fopen(path, "wb");
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
    return path;
}

/* model_load must fail, naming the file and containing the words given. */
static void expect_model_error(const char *name, const void *data, size_t size, const char *words)
{
    char *path = write_file(name, data, size);
    Model m;
    char err[ERROR_SIZE] = "";
    int rc = model_load(&m, path, err);
    expect(rc == -1, "%s: loaded", name);
    expect(strstr(err, path) != NULL, "%s: message does not name the file: %s", name, err);
    expect(strstr(err, words) != NULL, "%s: message [%s] lacks [%s]", name, err, words);
    unlink(path);
    free(path);
}

/* A legacy header followed by the right number of floats. */
static unsigned char *legacy_file(const int32_t header[7], size_t *size)
{
    int dim = header[0], hidden = header[1], L = header[2], heads = header[3], kv = header[4];
    int vocab = abs(header[5]), seq = header[6], hs = dim / heads;
    size_t floats = (size_t)vocab * dim + L * (2 * (size_t)dim + 2 * (size_t)dim * dim +
                                              2 * (size_t)kv * hs * dim + 3 * (size_t)hidden * dim) +
                    dim + (size_t)seq * hs + (header[5] < 0 ? (size_t)vocab * dim : 0);
    *size = 28 + floats * 4;
    unsigned char *data = calloc(*size, 1);
    memcpy(data, header, 28);
    return data;
}

static void test_model_errors(void)
{
    Model m;
    char err[ERROR_SIZE];
    expect(model_load(&m, "/nonexistent/model.bin", err) == -1 && strstr(err, "cannot open"),
           "missing file: %s", err);
    expect(model_load(&m, "/tmp", err) == -1 && strstr(err, "is a directory"), "directory: %s", err);
    expect_model_error("empty.bin", "", 0, "empty");
    expect_model_error("short.bin", "\1\0\0\0\2\0", 6, "too short");

    const int32_t good[7] = {16, 24, 2, 4, 2, 10, 8};
    size_t size;
    unsigned char *data = legacy_file(good, &size);
    char *path = write_file("good.bin", data, size);
    expect(model_load(&m, path, err) == 0, "the well-formed file fails: %s", err);
    expect(m.config.kv_dim == 8 && m.config.head_size == 4 && m.config.shared_classifier, "config wrong");
    model_free(&m);
    free(path);
    /* every truncation point, and one byte too many */
    for (size_t cut = 0; cut < size; cut++) {
        path = write_file("cut.bin", data, cut);
        expect(model_load(&m, path, err) == -1, "truncated to %zu of %zu bytes: loaded", cut, size);
        unlink(path);
        free(path);
    }
    unsigned char *longer = calloc(size + 1, 1);
    memcpy(longer, data, size);
    expect_model_error("long.bin", longer, size + 1, "implies");
    free(longer);

    struct { int index; int32_t value; const char *words; } bad_headers[] = {
        {0, 0, "dim is 0"},              {1, -5, "hidden_dim is -5"},     {2, 0, "n_layers is 0"},
        {3, 0, "n_heads is 0"},          {4, 0, "n_kv_heads is 0"},       {6, -1, "seq_len is -1"},
        {5, INT32_MIN, "vocab_size"},    {3, 3, "not divisible by n_heads"},
        {4, 3, "not divisible by n_kv_heads"}, {3, 16, "odd"},
        {0, INT32_MAX, "not divisible"}, {6, INT32_MAX, "bytes"},
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        int32_t h[7];
        memcpy(h, good, sizeof h);
        h[bad_headers[i].index] = bad_headers[i].value;
        expect_model_error("bad_header.bin", h, sizeof h, bad_headers[i].words);
    }
    /* dimensions whose products overflow 32 and 64 bits */
    int32_t huge[7] = {1 << 30, 1 << 30, 1 << 30, 1 << 10, 1 << 10, 1 << 30, 1 << 30};
    expect_model_error("huge.bin", huge, sizeof huge, "cannot fit");
    int32_t big32[7] = {1 << 16, 1 << 16, 1, 1 << 4, 1 << 4, 1 << 16, 2};
    expect_model_error("big32.bin", big32, sizeof big32, "bytes");

    /* versioned headers */
    unsigned char v[CHECKPOINT_HEADER_SIZE] = {0};
    uint32_t magic = CHECKPOINT_MAGIC;
    int32_t version = 7;
    memcpy(v, &magic, 4);
    memcpy(v + 4, &version, 4);
    memcpy(v + 8, good, 28);
    expect_model_error("version.bin", v, sizeof v, "unsupported checkpoint version 7");
    expect_model_error("short_v1.bin", v, 100, "truncated header");
    version = 1;
    memcpy(v + 4, &version, 4);
    expect_model_error("v1_no_weights.bin", v, sizeof v, "implies");
    version = 2;
    memcpy(v + 4, &version, 4);
    int32_t group = 6;  /* not a multiple of 4 */
    memcpy(v + 8 + 28 + 1, &group, 4);
    expect_model_error("v2_group.bin", v, sizeof v, "group size 6");
    group = 0;
    memcpy(v + 8 + 28 + 1, &group, 4);
    expect_model_error("v2_group0.bin", v, sizeof v, "group size 0");
    group = 8;
    memcpy(v + 8 + 28 + 1, &group, 4);
    expect_model_error("v2_no_weights.bin", v, sizeof v, "implies");
    free(data);
    report("loader: missing, empty, every truncation, bad and overflowing headers");
}

static size_t put_token(unsigned char *buf, size_t at, float score, const char *text)
{
    int32_t len = (int32_t)strlen(text);
    memcpy(buf + at, &score, 4);
    memcpy(buf + at + 4, &len, 4);
    memcpy(buf + at + 8, text, len);
    return at + 8 + len;
}

static void expect_tokenizer_error(const char *name, const void *data, size_t size, int vocab,
                                   const char *words)
{
    char *path = write_file(name, data, size);
    Tokenizer t;
    char err[ERROR_SIZE] = "";
    expect(tokenizer_load(&t, path, vocab, err) == -1, "%s: loaded", name);
    expect(strstr(err, path) && strstr(err, words), "%s: message [%s] lacks [%s]", name, err, words);
    unlink(path);
    free(path);
}

static void test_tokenizer_errors(void)
{
    unsigned char buf[256];
    int32_t max_len = 5;
    memcpy(buf, &max_len, 4);
    size_t at = 4;
    const char *pieces[] = {"<unk>", "\n<s>\n", "\n</s>\n", "a", "b", "ab"};
    /* "\n<s>\n" is 5 bytes, "\n</s>\n" 6: max_len 6 */
    max_len = 6;
    memcpy(buf, &max_len, 4);
    for (int i = 0; i < 6; i++)
        at = put_token(buf, at, (float)-i, pieces[i]);
    char *path = write_file("tok.bin", buf, at);
    Tokenizer t;
    char err[ERROR_SIZE];
    expect(tokenizer_load(&t, path, 6, err) == 0, "well-formed tokenizer fails: %s", err);
    if (t.vocab_size == 6) {
        int *ids;
        int n = tokenizer_encode(&t, "ab", 2, true, true, &ids);
        /* BOS, then " " (no piece: byte fallback, no byte tokens: unk), "ab", EOS */
        expect(n == 4 && ids[0] == 1 && ids[1] == TOKEN_UNK && ids[2] == 5 && ids[3] == 2,
               "encode(\"ab\") = %d tokens", n);
        free(ids);
        tokenizer_free(&t);
    }
    expect(tokenizer_load(&t, path, 0, err) == 0 && t.vocab_size == 6, "vocab from file: %s", err);
    tokenizer_free(&t);
    free(path);

    expect(tokenizer_load(&t, "/nonexistent/tok.bin", 6, err) == -1 && strstr(err, "cannot open"),
           "missing: %s", err);
    expect_tokenizer_error("empty.bin", "", 0, 0, "empty");
    expect_tokenizer_error("short.bin", buf, 3, 0, "truncated");
    expect_tokenizer_error("count.bin", buf, at, 512, "holds 6 tokens but the model's vocab_size is 512");
    for (size_t cut = 5; cut < at; cut++) {
        char name[32];
        snprintf(name, sizeof name, "cut%zu.bin", cut);
        char *p = write_file(name, buf, cut);
        expect(tokenizer_load(&t, p, 6, err) == -1, "truncated at %zu: loaded", cut);
        unlink(p);
        free(p);
    }
    unsigned char bad[256];
    memcpy(bad, buf, at);
    max_len = 2;
    memcpy(bad, &max_len, 4);
    expect_tokenizer_error("maxlen.bin", bad, at, 0, "outside 0..max_token_length");
    max_len = 0;
    memcpy(bad, &max_len, 4);
    expect_tokenizer_error("maxlen0.bin", bad, at, 0, "must be positive");
    memcpy(bad, buf, at);
    int32_t huge_len = 0x7fffffff;
    memcpy(bad + 4 + 4, &huge_len, 4);
    expect_tokenizer_error("neglen.bin", bad, at, 0, "outside");
    memcpy(bad, buf, at);
    float nan_score = NAN;
    memcpy(bad + 4, &nan_score, 4);
    expect_tokenizer_error("nan.bin", bad, at, 0, "not a finite number");
    size_t two = put_token(bad, put_token(bad, 4, 0, "x"), 0, "y");
    memcpy(bad, buf, 4);
    expect_tokenizer_error("two.bin", bad, two, 0, "at least");
    report("tokenizer loader: missing, empty, truncations, bad lengths and counts");
}

int main(int argc, char **argv)
{
    const char *models_dir = argc > 1 ? argv[1] : NULL;
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_matmul();
    test_matmul_shared_input();
    test_kernel_sets();
    test_for_each_unit();
    test_attention_query_block();
    test_attention_kernels();
    test_rmsnorm();
    test_fast_exp();
    test_softmax();
    test_rope();
    test_rope_neox();
    test_rope_frequencies_and_head_norm();
    test_swiglu();
    test_linear_bias();
    test_layernorm_rows();
    test_gelu_rows();
    test_add_position_embedding();
    test_batched_forward();
    test_gpt2_batched_forward();
    test_attention_observer();
    test_quantize_q8();
    test_matmul_q8();
    test_matmul_types();
    test_matmul_odd_shapes();
    test_q8_model(scratch_dir);
    test_fp32_to_fp16();
    test_quantize_row_q8_0();
    test_gguf_writer(scratch_dir);
    test_random_stream();
    test_sampler();
    test_sampler_filters();
    test_model_errors();
    test_tokenizer_errors();
    test_gpt2_pretokenizer();
    test_pretokenizers();
    test_nfc();
    test_byte_bpe_special_tokens();
    if (models_dir) {
        test_tokenizer_corpus(models_dir, "tok512.bin", "tests/tokenizer/expected_tok512.txt",
                              "tokenizer: stories260K's 512-token vocabulary gives sentencepiece's ids");
        test_tokenizer_corpus(models_dir, "tokenizer.bin", "tests/tokenizer/expected_llama2.txt",
                              "tokenizer: Llama 2's 32000-token vocabulary gives sentencepiece's ids");
        test_tokenizer_round_trip(models_dir);
        test_byte_bpe_gpt2(models_dir);
        test_byte_bpe_round_trip(models_dir);
    }
    rmdir(scratch_dir);
    return 0;
}
