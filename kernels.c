/* kernels.c - the numeric building blocks: matmul, RMSNorm, softmax, RoPE,
 * SwiGLU. Loops are written so that the compiler vectorizes them
 * (`#pragma omp simd` allows it to reorder a float sum), and matmul spreads
 * its rows over threads with OpenMP when the build has it. */
#include "kernels.h"

#include <math.h>

/* Below this many multiply-adds a matmul is too small to be worth waking
 * the other threads for (stories260K's matrices are). */
#define MATMUL_PARALLEL_MIN (1 << 15)

float dot_product(const float *a, const float *b, int n)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static void matmul_f32(float *out, const float *in, const Matrix *W, int T)
{
    const int rows = W->rows, cols = W->cols;
    /* Rows are independent: split them over the threads. Within a row, all T
     * tokens reuse the same weights while they are in cache. */
#pragma omp parallel for schedule(static) if ((size_t)rows * cols * T >= MATMUL_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *w_row = W->data + (size_t)r * cols;
        for (int t = 0; t < T; t++)
            out[(size_t)t * rows + r] = dot_product(w_row, in + (size_t)t * cols, cols);
    }
}

void matmul(float *out, const float *in, const Matrix *W, int T)
{
    switch (W->type) {
    case WEIGHT_F32:
        matmul_f32(out, in, W, T);
        break;
    }
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
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
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

void swiglu(float *h, const float *g, int n)
{
    for (int i = 0; i < n; i++) {
        float silu = h[i] * (1.0f / (1.0f + expf(-h[i])));
        h[i] = silu * g[i];
    }
}
