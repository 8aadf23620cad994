/* kernels.c - the element-wise building blocks every kernel set shares:
 * RMSNorm, softmax, RoPE, SwiGLU, the residual add, and decoding's
 * attention (one query against the cached keys and values). Loops are
 * written so that the compiler vectorizes them (`#pragma omp simd` allows it
 * to reorder a float sum). The matmul is in matmul.c, on the kernel sets. */
#include "kernel_set.h"

#include <math.h>
#include <string.h>

float dot_product(const float *a, const float *b, int n)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

/* Decoding reads the KV cache from memory, so attention reads it as the
 * matmul reads weights: in 4 lanes of n / 4 positions, side by side, which
 * keeps 4 streams in flight (and 4 independent sums). */
#define ATTENTION_LANES 4

/* One query against the keys. */
static void query_scores(float *scores, const float *q, const float *keys, size_t key_stride, int n, int head_size)
{
    const int lane = n / ATTENTION_LANES;
    const size_t lane_stride = (size_t)lane * key_stride;
    for (int i = 0; i < lane; i++) {
        const float *k0 = keys + (size_t)i * key_stride, *k1 = k0 + lane_stride;
        const float *k2 = k1 + lane_stride, *k3 = k2 + lane_stride;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int j = 0; j < head_size; j++) {
            s0 += q[j] * k0[j];
            s1 += q[j] * k1[j];
            s2 += q[j] * k2[j];
            s3 += q[j] * k3[j];
        }
        scores[i] = s0, scores[i + lane] = s1, scores[i + 2 * lane] = s2, scores[i + 3 * lane] = s3;
    }
    for (int i = ATTENTION_LANES * lane; i < n; i++)
        scores[i] = dot_product(q, keys + (size_t)i * key_stride, head_size);
}

void attention_scores(float *scores, const float *q, const float *keys, size_t key_stride, int n, int head_size,
                      float scale)
{
    query_scores(scores, q, keys, key_stride, n, head_size);
    for (int i = 0; i < n; i++)
        scores[i] *= scale;
}

/* Four values per pass over out, one from each lane: a quarter of the loads
 * and stores of out. */
void attention_weighted_sum(float *restrict out, const float *weights, const float *values, size_t value_stride,
                            int n, int head_size)
{
    memset(out, 0, (size_t)head_size * sizeof(float));
    const int lane = n / ATTENTION_LANES;
    const size_t lane_stride = (size_t)lane * value_stride;
    for (int i = 0; i < lane; i++) {
        const float *v0 = values + (size_t)i * value_stride, *v1 = v0 + lane_stride;
        const float *v2 = v1 + lane_stride, *v3 = v2 + lane_stride;
        const float a0 = weights[i], a1 = weights[i + lane], a2 = weights[i + 2 * lane], a3 = weights[i + 3 * lane];
#pragma omp simd
        for (int j = 0; j < head_size; j++)
            out[j] += a0 * v0[j] + a1 * v1[j] + a2 * v2[j] + a3 * v3[j];
    }
    for (int i = ATTENTION_LANES * lane; i < n; i++) {
        const float *v = values + (size_t)i * value_stride;
#pragma omp simd
        for (int j = 0; j < head_size; j++)
            out[j] += weights[i] * v[j];
    }
}

void attention_query_block(float *out, size_t out_stride, const float *q, size_t q_stride, int n_queries, int first,
                           const float *keys, const float *values, size_t kv_stride, int head_size, float scale,
                           float *scratch)
{
    const KernelSet *set = kernels_active();
    while (!set->attention_query_block)  /* the reference set has one */
        set = set->simpler;
    set->attention_query_block(out, out_stride, q, q_stride, n_queries, first, keys, values, kv_stride, head_size,
                               scale, scratch);
}

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    float sum_squares = dot_product(x, x, n);
    float scale = 1.0f / sqrtf(sum_squares / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = weight[i] * (scale * x[i]);
}

void softmax(float *x, int n)
{
    /* Subtracting the max keeps exp() from overflowing; it cancels out. */
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        x[i] = fast_exp(x[i] - max);
        sum += x[i];
    }
    float inv_sum = 1.0f / sum;
    for (int i = 0; i < n; i++)
        x[i] *= inv_sum;
}

void add_in_place(float *x, const float *y, int n)
{
    for (int i = 0; i < n; i++)
        x[i] += y[i];
}

void rope_angles(float *cos_sin, const float *inv_freq, int head_size, int pos)
{
    for (int i = 0; i < head_size / 2; i++) {
        float angle = pos * inv_freq[i];
        cos_sin[2 * i] = cosf(angle);
        cos_sin[2 * i + 1] = sinf(angle);
    }
}

void rope_rotate(float *x, const float *cos_sin, int n_heads, int head_size)
{
    for (int h = 0; h < n_heads; h++) {
        float *head = x + (size_t)h * head_size;
        for (int i = 0; i < head_size; i += 2) {
            float c = cos_sin[i], s = cos_sin[i + 1];
            float x0 = head[i], x1 = head[i + 1];
            head[i] = x0 * c - x1 * s;
            head[i + 1] = x0 * s + x1 * c;
        }
    }
}

void rope_rotate_neox(float *x, const float *cos_sin, int n_heads, int head_size)
{
    const int half = head_size / 2;
    for (int h = 0; h < n_heads; h++) {
        float *head = x + (size_t)h * head_size;
        for (int i = 0; i < half; i++) {
            float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
            float x0 = head[i], x1 = head[i + half];
            head[i] = x0 * c - x1 * s;
            head[i + half] = x0 * s + x1 * c;
        }
    }
}

/* silu(h) * g for n values, vectorized. */
static void swiglu_span(float *h, const float *g, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float silu = h[i] * (1.0f / (1.0f + fast_exp(-h[i])));
        h[i] = silu * g[i];
    }
}

/* GELU's tanh approximation (Hendrycks and Gimpel), as GPT-2 was trained with it. */
#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_CUBIC 0.044715f

/* gelu(h) for n values, vectorized: 0.5 (1 + tanh(u)) = 1 / (1 + e^(-2u)),
 * a sigmoid, which fast_exp computes in vector registers (tanhf is a call
 * per value). g is unused. */
static void gelu_span(float *h, const float *g, int n)
{
    (void)g;
#pragma omp simd
    for (int i = 0; i < n; i++) {
        const float v = h[i];
        const float u = GELU_SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v);
        h[i] = v / (1.0f + fast_exp(-2.0f * u));
    }
}

#define ACTIVATION_SPAN 1024  /* values per piece a thread takes */

/* span(h + start, g + start, ...) over n values in pieces of ACTIVATION_SPAN,
 * shared by the threads when a prompt batch makes it worth it. The pieces do
 * not depend on the thread count, so neither do the results. */
static void activation_in_spans(float *h, const float *g, int n, void (*span)(float *, const float *, int))
{
    const int pieces = (n + ACTIVATION_SPAN - 1) / ACTIVATION_SPAN;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_WORK)
    for (int p = 0; p < pieces; p++) {
        const int start = p * ACTIVATION_SPAN;
        const int len = n - start < ACTIVATION_SPAN ? n - start : ACTIVATION_SPAN;
        span(h + start, g ? g + start : NULL, len);
    }
}

void swiglu(float *h, const float *g, int n)
{
    activation_in_spans(h, g, n, swiglu_span);
}

void gelu(float *h, int n)
{
    activation_in_spans(h, NULL, n, gelu_span);
}
