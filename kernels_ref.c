/* kernels_ref.c - the reference kernel set: plain C loops.
 *
 * The first stop of a tour of the kernels. A matmul is, for every weight row
 * and every token, one of the dot products below; attention is, query by
 * query, scores, softmax and a weighted sum of values. Every faster set
 * (kernels_avx2.c, ...) computes the same numbers in another order, and the
 * tests check each one against this set. */
#include "kernel_set.h"

#include <string.h>

/* Float weights times float inputs. */
static float f32_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const float *w = matrix_row_data(W, row);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < W->cols; i++)
        sum += w[i] * x->floats[i];
    return sum;
}

static float f16_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const uint16_t *w = matrix_row_data(W, row);
    float sum = 0.0f;
    for (int i = 0; i < W->cols; i++)
        sum += fp16_to_fp32(w[i]) * x->floats[i];
    return sum;
}

static float bf16_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const uint16_t *w = matrix_row_data(W, row);
    float sum = 0.0f;
    for (int i = 0; i < W->cols; i++)
        sum += bf16_to_fp32(w[i]) * x->floats[i];
    return sum;
}

/* llama2.c's int8 weights times the int8 input: per group, an integer dot
 * product, scaled by the weights' group scale and the input's. */
static float q8_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const int8_t *w = matrix_row_data(W, row);
    const int gs = W->group_size, groups = W->cols / gs;
    const float *w_scales = W->scales + (size_t)row * groups;
    float sum = 0.0f;
    for (int g = 0; g < groups; g++) {
        int32_t group_sum = 0;
        for (int i = g * gs; i < (g + 1) * gs; i++)
            group_sum += (int32_t)w[i] * (int32_t)x->values[i];
        sum += (float)group_sum * w_scales[g] * x->scales[g];
    }
    return sum;
}

/* GGUF's Q8_0: the same integer dot products, each block's scale stored in
 * half precision in front of its 32 values. */
static float q8_0_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const unsigned char *block = matrix_row_data(W, row);
    float sum = 0.0f;
    for (int b = 0; b < W->cols / Q8_0_BLOCK; b++, block += Q8_0_BLOCK_BYTES) {
        const int8_t *q = (const int8_t *)(block + 2);
        int32_t block_sum = 0;
        for (int i = 0; i < Q8_0_BLOCK; i++)
            block_sum += (int32_t)q[i] * (int32_t)x->values[b * Q8_0_BLOCK + i];
        sum += (float)block_sum * fp16_to_fp32((uint16_t)(block[0] | block[1] << 8)) * x->scales[b];
    }
    return sum;
}

/* ggml's other block types (Q4_0 ... Q6_K), each block unpacked into
 * integers (quants.h): per sub-block an integer dot product with the input,
 * times the sub-block's integer scale, and the input's sum times its
 * integer min; per block, these two integer sums times the block's float d
 * and dmin and the input group's scale. The input's groups are the blocks
 * (32 values, or 256 for the k-quants): one input scale per block. */
static float blocks_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const WeightTypeInfo *info = &weight_types[W->type];
    const unsigned char *block = matrix_row_data(W, row);
    const int n = info->block_values;
    UnpackedBlock b;
    float sum = 0.0f;
    for (int k = 0; k < W->cols / n; k++, block += info->block_bytes) {
        info->unpack(&b, block);
        const int8_t *xq = x->values + (size_t)k * n;
        int32_t scaled = 0, mins = 0;
        for (int s = 0; s < n / b.sub_values; s++) {
            int32_t dot = 0, x_sum = 0;
            for (int i = s * b.sub_values; i < (s + 1) * b.sub_values; i++) {
                dot += (int32_t)b.q[i] * xq[i];
                x_sum += xq[i];
            }
            scaled += b.scale[s] * dot;
            mins += b.min[s] * x_sum;
        }
        sum += x->scales[k] * (b.d * (float)scaled - b.dmin * (float)mins);
    }
    return sum;
}

/* Query by query: a row of scores, its softmax, its weighted sum of values. */
static void attention_queries_one_by_one(float *out, size_t out_stride, const float *q, size_t q_stride,
                                         int n_queries, int first, const float *keys, const float *values,
                                         size_t kv_stride, int head_size, float scale, float *scratch)
{
    for (int t = 0; t < n_queries; t++) {
        const int n = first + t + 1;  /* causal: keys 0 .. first + t */
        attention_scores(scratch, q + t * q_stride, keys, kv_stride, n, head_size, scale);
        softmax(scratch, n);
        attention_weighted_sum(out + t * out_stride, scratch, values, kv_stride, n, head_size);
    }
}

const KernelSet kernels_ref = {
    .name = "plain",
    .simpler = NULL,
    .types = {
        [WEIGHT_F32] = {.dot = f32_dot},
        [WEIGHT_Q8] = {.dot = q8_dot},
        [WEIGHT_F16] = {.dot = f16_dot},
        [WEIGHT_Q8_0] = {.dot = q8_0_dot},
        [WEIGHT_Q4_0] = {.dot = blocks_dot},
        [WEIGHT_Q4_1] = {.dot = blocks_dot},
        [WEIGHT_Q5_0] = {.dot = blocks_dot},
        [WEIGHT_Q5_1] = {.dot = blocks_dot},
        [WEIGHT_Q2_K] = {.dot = blocks_dot},
        [WEIGHT_Q3_K] = {.dot = blocks_dot},
        [WEIGHT_Q4_K] = {.dot = blocks_dot},
        [WEIGHT_Q5_K] = {.dot = blocks_dot},
        [WEIGHT_Q6_K] = {.dot = blocks_dot},
        [WEIGHT_BF16] = {.dot = bf16_dot},
    },
    .pack_panel = NULL,
    .attention_query_block = attention_queries_one_by_one,
};
