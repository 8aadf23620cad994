/* kernels.c - the numeric building blocks: matmul, RMSNorm, softmax, RoPE,
 * SwiGLU. Loops are written so that the compiler vectorizes them
 * (`#pragma omp simd` allows it to reorder a float sum), and matmul spreads
 * its rows over threads with OpenMP when the build has it. */
#include "kernels.h"

#include <math.h>
#include <string.h>

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

/* Four rows at a time: each input value loaded is used four times, and the
 * four sums are independent chains the processor can overlap. */
#define ROW_BLOCK 4

static void matmul_f32(float *out, const float *in, const Matrix *W, int T)
{
    const int rows = W->rows, cols = W->cols;
    const float *w = W->data;
    const int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
    /* Row blocks are independent: split them over the threads. Within a block,
     * all T tokens reuse the same weights while they are in cache. */
#pragma omp parallel for schedule(static) if ((size_t)rows * cols * T >= MATMUL_PARALLEL_MIN)
    for (int b = 0; b < blocks; b++) {
        const int r = b * ROW_BLOCK;
        const float *w0 = w + (size_t)r * cols;
        if (r + ROW_BLOCK > rows) {  /* the last, partial block */
            for (int i = r; i < rows; i++)
                for (int t = 0; t < T; t++)
                    out[(size_t)t * rows + i] =
                        dot_product(w + (size_t)i * cols, in + (size_t)t * cols, cols);
            continue;
        }
        const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        for (int t = 0; t < T; t++) {
            const float *x = in + (size_t)t * cols;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int i = 0; i < cols; i++) {
                s0 += w0[i] * x[i];
                s1 += w1[i] * x[i];
                s2 += w2[i] * x[i];
                s3 += w3[i] * x[i];
            }
            float *o = out + (size_t)t * rows + r;
            o[0] = s0, o[1] = s1, o[2] = s2, o[3] = s3;
        }
    }
}

void quantize_q8(int8_t *q, float *scales, const float *x, size_t n, int group_size)
{
    const float q_max = 127.0f;
    for (size_t g = 0; g < n / group_size; g++) {
        const float *xg = x + g * group_size;
        float max_abs = 0.0f;
        for (int i = 0; i < group_size; i++)
            max_abs = fmaxf(max_abs, fabsf(xg[i]));
        float scale = max_abs / q_max;
        float inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
        scales[g] = scale;
        for (int i = 0; i < group_size; i++)
            q[g * group_size + i] = (int8_t)roundf(xg[i] * inv_scale);
    }
}

/* Per group, an integer dot product scaled by both groups' scales. */
static void matmul_q8(float *out, const float *in, const Matrix *W, int T, QuantizedInput *xq)
{
    const int rows = W->rows, cols = W->cols, gs = W->group_size;
    const int groups = cols / gs;
    for (int t = 0; t < T; t++)
        quantize_q8(xq->values + (size_t)t * cols, xq->scales + (size_t)t * groups, in + (size_t)t * cols,
                    cols, gs);
#pragma omp parallel for schedule(static) if ((size_t)rows * cols * T >= MATMUL_PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const int8_t *w = (const int8_t *)W->data + (size_t)r * cols;
        const float *ws = W->scales + (size_t)r * groups;
        for (int t = 0; t < T; t++) {
            const int8_t *x = xq->values + (size_t)t * cols;
            const float *xs = xq->scales + (size_t)t * groups;
            float sum = 0.0f;
            for (int g = 0; g < groups; g++) {
                int32_t group_sum = 0;
#pragma omp simd reduction(+ : group_sum)
                for (int i = 0; i < gs; i++)
                    group_sum += (int32_t)w[g * gs + i] * (int32_t)x[g * gs + i];
                sum += (float)group_sum * ws[g] * xs[g];
            }
            out[(size_t)t * rows + r] = sum;
        }
    }
}

void matmul(float *out, const float *in, const Matrix *W, int T, QuantizedInput *scratch)
{
    switch (W->type) {
    case WEIGHT_F32:
        matmul_f32(out, in, W, T);
        break;
    case WEIGHT_Q8:
        matmul_q8(out, in, W, T, scratch);
        break;
    }
}

void matrix_row(float *out, const Matrix *W, int row)
{
    const size_t start = (size_t)row * W->cols;
    switch (W->type) {
    case WEIGHT_F32:
        memcpy(out, (const float *)W->data + start, W->cols * sizeof(float));
        break;
    case WEIGHT_Q8: {
        const int8_t *q = (const int8_t *)W->data + start;
        const float *scales = W->scales + start / W->group_size;
        for (int i = 0; i < W->cols; i++)
            out[i] = q[i] * scales[i / W->group_size];
        break;
    }
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
