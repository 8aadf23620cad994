/* kernels.h - the numeric building blocks of a transformer.
 *
 * Every function here works on plain float arrays (and weight matrices, see
 * quants.h) and knows nothing about checkpoints or layers; the architectures
 * compose them into a forward pass. The matmul and the batched attention run
 * on a kernel set (one per instruction set: kernel_set.h), each checked
 * against the plain reference set by the tests. Shapes are written as
 * (rows, cols), row-major. */
#ifndef KERNELS_H
#define KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quants.h"
#include "threads.h"

/* A matmul's input, rearranged for its kernel: quantized on the fly when the
 * weights pair with int8 inputs, so that each group's dot product runs in
 * integers; and, for a batch, packed into panels of MATMUL_PANEL_TOKENS
 * tokens (the int8 values and their scales, or the floats). Each has room
 * for (max_batch, largest cols) values (and as many scales); panels must be
 * 64-byte aligned, with max_batch rounded up to MATMUL_PANEL_TOKENS. */
#define MATMUL_PANEL_TOKENS 16
typedef struct {
    int8_t *values;
    float *scales;
    float *panels;
} MatmulScratch;

/* out (T, W.rows) = in (T, W.cols) @ W^T. Each weight row is read once for
 * all T tokens, so a batch of prompt tokens costs one pass over the weights.
 * scratch holds the input rearranged (int8 weights, and float batches). */
void matmul(float *out, const float *in, const Matrix *W, int T, MatmulScratch *scratch);

/* The same for several matrices that read the same input (q, k, v; gate and
 * up): one pass over the threads instead of one per matrix. */
void matmul_shared_input(float *const outs[], const Matrix *const Ws[], int n, const float *in, int T,
                         MatmulScratch *scratch);

/* The kernel sets this build can run, fastest first; the last is the plain
 * reference set ("plain"). matmul and attention_query_block use the active
 * set, the fastest unless kernels_use chose another (the tests run each). */
typedef struct KernelSet KernelSet;
int kernel_set_count(void);
const KernelSet *kernel_set(int i);
const char *kernel_set_name(const KernelSet *set);
void kernels_use(const KernelSet *set);
const KernelSet *kernels_active(void);

/* One dot product, vectorized; the unit every attention score uses. */
float dot_product(const float *a, const float *b, int n);

/* Attention of one head, for one query, over n cached positions whose keys
 * and values are rows `stride` floats apart:
 * scores (n) = q . key_i * scale, and
 * out (head_size) = the sum of value_i weighted by weights[i].
 * out must not overlap the values. */
void attention_scores(float *scores, const float *q, const float *keys, size_t key_stride, int n, int head_size,
                      float scale);
void attention_weighted_sum(float *restrict out, const float *weights, const float *values, size_t value_stride,
                            int n, int head_size);

/* Causal attention of one head for a block of n_queries <= ATTENTION_BLOCK
 * queries (rows q_stride apart) at positions first, first + 1, ...: query t
 * sees keys and values 0 .. first + t (rows kv_stride apart), and its output
 * goes to out + t * out_stride (head_size floats). The same result as
 * attention_scores, softmax and attention_weighted_sum query by query, but
 * a kernel set may take the block's queries through each key and value
 * together. scratch: ATTENTION_SCRATCH(first + n_queries, head_size) floats. */
#define ATTENTION_BLOCK MATMUL_PANEL_TOKENS
#define ATTENTION_SCRATCH(n_keys, head_size) (((size_t)(n_keys) + 2 * (size_t)(head_size)) * ATTENTION_BLOCK)
void attention_query_block(float *out, size_t out_stride, const float *q, size_t q_stride, int n_queries, int first,
                           const float *keys, const float *values, size_t kv_stride, int head_size, float scale,
                           float *scratch);

/* out (n) = x / sqrt(mean(x^2) + eps) * weight. out may alias x. */
void rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* e^x within 3e-7 (relative) for |x| < 87, vectorizable; NaN stays NaN,
 * and below -87 or above 88 x is clamped. Inline, so that every loop that
 * calls it (softmax, SwiGLU, the kernel sets' attention) vectorizes it. */
/* e^x = 2^n * e^r, with n = round(x / ln 2) and |r| <= ln(2) / 2, where a
 * degree-6 Taylor polynomial is within 2e-7 (relative) of e^r. Unlike libm's
 * expf, it is plain arithmetic the compiler can vectorize: SwiGLU and softmax
 * spent most of their time in expf, one value at a time. */
static inline float fast_exp(float x)
{
    const float log2_e = 1.44269504f;
    const float ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;  /* ln 2, split: n * ln2_high is exact */
    const float round_shift = 12582912.0f;  /* 1.5 * 2^23: adding it rounds to an integer, kept in the low bits */
    /* Past these, e^x is not a normal float. The comparisons keep NaN a NaN. */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float shifted = x * log2_e + round_shift;
    float n = shifted - round_shift;
    float r = x - n * ln2_high - n * ln2_low;
    float p = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000u + 127u) << 23;  /* n's integer sits below round_shift's bits: 2^n's exponent */
    float two_to_n;
    memcpy(&two_to_n, &bits, sizeof two_to_n);
    return p * two_to_n;
}

/* x (n) = exp(x - max) / sum, in place. */
void softmax(float *x, int n);

/* x (n) += y (n): the residual connection. */
void add_in_place(float *x, const float *y, int n);

/* Rotary positional encoding for one position: each pair (x[2i], x[2i+1])
 * of every head in x (n_heads * head_size) is rotated by the angle
 * pos * inv_freq[i]. cos_sin (head_size) holds cos, sin per pair, computed
 * once per position by rope_angles and shared by every head. */
void rope_angles(float *cos_sin, const float *inv_freq, int head_size, int pos);
void rope_rotate(float *x, const float *cos_sin, int n_heads, int head_size);
/* The same rotations with GPT-NeoX's pairing (Qwen's): pair i of a head is
 * (x[i], x[i + head_size / 2]), the two halves of the head side by side. */
void rope_rotate_neox(float *x, const float *cos_sin, int n_heads, int head_size);

/* h (n) = silu(h) * g: the gate of the SwiGLU feed-forward block. */
void swiglu(float *h, const float *g, int n);
/* h (n) = gelu(h), GPT-2's tanh approximation. */
void gelu(float *h, int n);

#endif
