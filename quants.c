/* quants.c - the weight types: their table, and each one's row as floats. */
#include "quants.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
        for (int i = 0; i < group_size; i++) {
            /* NaN or infinite inputs (corrupt weights) must not reach the int8
             * conversion, which is undefined for them: clamp, NaN to 0. */
            float v = roundf(xg[i] * inv_scale);
            q[g * group_size + i] = (int8_t)(v >= q_max ? q_max : v <= -q_max ? -q_max : v == v ? v : 0.0f);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Each type's row as floats */

static void f32_dequantize_row(float *out, const Matrix *W, int row)
{
    memcpy(out, matrix_row_data(W, row), W->cols * sizeof(float));
}

/* value i = q[i] * the scale of its group */
static void q8_dequantize_row(float *out, const Matrix *W, int row)
{
    const int8_t *q = matrix_row_data(W, row);
    const float *scales = W->scales + (size_t)row * (W->cols / W->group_size);
    for (int i = 0; i < W->cols; i++)
        out[i] = q[i] * scales[i / W->group_size];
}

static void f16_dequantize_row(float *out, const Matrix *W, int row)
{
    const uint16_t *h = matrix_row_data(W, row);
    for (int i = 0; i < W->cols; i++)
        out[i] = fp16_to_fp32(h[i]);
}

static void bf16_dequantize_row(float *out, const Matrix *W, int row)
{
    const uint16_t *h = matrix_row_data(W, row);
    for (int i = 0; i < W->cols; i++)
        out[i] = bf16_to_fp32(h[i]);
}

/* A block: its half-precision scale d (little-endian), then 32 int8 q: value = d * q. */
static void q8_0_dequantize_row(float *out, const Matrix *W, int row)
{
    const unsigned char *block = matrix_row_data(W, row);
    for (int i = 0; i < W->cols; i += Q8_0_BLOCK, block += Q8_0_BLOCK_BYTES) {
        const float d = fp16_to_fp32((uint16_t)(block[0] | block[1] << 8));
        const int8_t *q = (const int8_t *)(block + 2);
        for (int j = 0; j < Q8_0_BLOCK; j++)
            out[i + j] = q[j] * d;
    }
}

/* ---------------------------------------------------------------------------
 * ggml's blocks as integers (quants.h describes each layout) */

static float half(uint16_t h)
{
    return fp16_to_fp32(h);
}

/* The 32 nibbles of a 4-bit block: value j < 16 in the low half of qs[j],
 * value j + 16 in its high half. */
static void unpack_nibbles(int8_t q[QBLOCK], const uint8_t qs[QBLOCK / 2])
{
    for (int j = 0; j < QBLOCK / 2; j++) {
        q[j] = (int8_t)(qs[j] & 0xf);
        q[j + QBLOCK / 2] = (int8_t)(qs[j] >> 4);
    }
}

/* ... plus 16 times bit j of qh (little-endian) as value j's fifth bit. */
static void unpack_fifth_bits(int8_t q[QBLOCK], const uint8_t qh[4])
{
    const uint32_t bits = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int j = 0; j < QBLOCK; j++)
        q[j] = (int8_t)(q[j] | (bits >> j & 1) << 4);
}

/* One sub-block of 32 values: value = d * q - dmin * min, scale 1. */
static void one_sub_block(UnpackedBlock *b, float d, float dmin, int min)
{
    b->d = d, b->dmin = dmin;
    b->scale[0] = 1, b->min[0] = (int16_t)min;
    b->sub_values = QBLOCK;
}

static void q4_0_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ4_0 *x = block;
    unpack_nibbles(b->q, x->qs);
    for (int j = 0; j < QBLOCK; j++)
        b->q[j] -= 8;
    one_sub_block(b, half(x->d), 0.0f, 0);
}

static void q4_1_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ4_1 *x = block;
    unpack_nibbles(b->q, x->qs);
    one_sub_block(b, half(x->d), -half(x->m), 1);  /* d * q + m = d * q - (-m) * 1 */
}

static void q5_0_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ5_0 *x = block;
    unpack_nibbles(b->q, x->qs);
    unpack_fifth_bits(b->q, x->qh);
    for (int j = 0; j < QBLOCK; j++)
        b->q[j] -= 16;
    one_sub_block(b, half(x->d), 0.0f, 0);
}

static void q5_1_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ5_1 *x = block;
    unpack_nibbles(b->q, x->qs);
    unpack_fifth_bits(b->q, x->qh);
    one_sub_block(b, half(x->d), -half(x->m), 1);
}

/* Q2_K's and Q3_K's 2-bit values: value 128h + 32k + l is bits 2k..2k+1 of qs[32h + l]. */
static void unpack_2_bits(int8_t q[KBLOCK], const uint8_t qs[KBLOCK / 4])
{
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                q[128 * h + 32 * k + l] = (int8_t)(qs[32 * h + l] >> 2 * k & 3);
}

static void q2_k_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ2_K *x = block;
    unpack_2_bits(b->q, x->qs);
    for (int s = 0; s < KBLOCK / 16; s++) {
        b->scale[s] = x->scales[s] & 0xf;
        b->min[s] = x->scales[s] >> 4;
    }
    b->d = half(x->d), b->dmin = half(x->dmin);
    b->sub_values = 16;
}

static void q3_k_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ3_K *x = block;
    unpack_2_bits(b->q, x->qs);
    for (int i = 0; i < KBLOCK; i++)  /* the high bit set means q, clear q - 4 (no branch: random bits) */
        b->q[i] = (int8_t)(b->q[i] - 4 + 4 * (x->hmask[i % 32] >> (i / 32) & 1));
    for (int s = 0; s < KBLOCK / 16; s++) {
        int low = x->scales[s % 8] >> 4 * (s / 8) & 0xf, high = x->scales[8 + s % 4] >> 2 * (s / 4) & 3;
        b->scale[s] = (int16_t)((low | high << 4) - 32);
        b->min[s] = 0;
    }
    b->d = half(x->d), b->dmin = 0.0f;
    b->sub_values = 16;
}

/* Q4_K's and Q5_K's scales, mins and 4 low bits: value 64h + 32k + l is
 * nibble k of qs[32h + l]. */
static void unpack_q4_k_like(UnpackedBlock *b, uint16_t d, uint16_t dmin, const uint8_t scales[12],
                             const uint8_t qs[KBLOCK / 2])
{
    for (int h = 0; h < 4; h++)
        for (int l = 0; l < 32; l++) {
            b->q[64 * h + l] = (int8_t)(qs[32 * h + l] & 0xf);
            b->q[64 * h + 32 + l] = (int8_t)(qs[32 * h + l] >> 4);
        }
    for (int s = 0; s < KBLOCK / 32; s++) {
        int sc, mn;
        k_scale_min(scales, s, &sc, &mn);
        b->scale[s] = (int16_t)sc, b->min[s] = (int16_t)mn;
    }
    b->d = half(d), b->dmin = half(dmin);
    b->sub_values = 32;
}

static void q4_k_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ4_K *x = block;
    unpack_q4_k_like(b, x->d, x->dmin, x->scales, x->qs);
}

static void q5_k_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ5_K *x = block;
    unpack_q4_k_like(b, x->d, x->dmin, x->scales, x->qs);
    for (int i = 0; i < KBLOCK; i++)  /* value i's fifth bit: bit i / 32 of qh[i % 32] */
        b->q[i] = (int8_t)(b->q[i] | (x->qh[i % 32] >> (i / 32) & 1) << 4);
}

static void q6_k_unpack(UnpackedBlock *b, const void *block)
{
    const BlockQ6_K *x = block;
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                const int low = x->ql[64 * h + 32 * (k % 2) + l] >> 4 * (k / 2) & 0xf;
                const int high = x->qh[32 * h + l] >> 2 * k & 3;
                b->q[128 * h + 32 * k + l] = (int8_t)((low | high << 4) - 32);
            }
    for (int s = 0; s < KBLOCK / 16; s++)
        b->scale[s] = x->scales[s], b->min[s] = 0;
    b->d = half(x->d), b->dmin = 0.0f;
    b->sub_values = 16;
}

/* Any of ggml's block types, block by block: value = (d * scale) * q - dmin * min. */
static void blocks_dequantize_row(float *out, const Matrix *W, int row)
{
    const WeightTypeInfo *info = &weight_types[W->type];
    const unsigned char *block = matrix_row_data(W, row);
    UnpackedBlock b;
    for (int i = 0; i < W->cols; i += info->block_values, block += info->block_bytes) {
        info->unpack(&b, block);
        for (int j = 0; j < info->block_values; j++) {
            const int s = j / b.sub_values;
            out[i + j] = b.d * (float)b.scale[s] * (float)b.q[j] - b.dmin * (float)b.min[s];
        }
    }
}

/* ---------------------------------------------------------------------------
 * The table */

#define NO_GGML_TYPE (-1)

/* A row for each of ggml's block types: its name, GGUF id, values and bytes per block. */
#define GGML_BLOCKS(name, id, values, block, unpack) \
    {name, id, values, sizeof(block), INPUT_INT8, blocks_dequantize_row, unpack}

const WeightTypeInfo weight_types[WEIGHT_TYPE_COUNT] = {
    [WEIGHT_F32] = {"F32", 0, 1, sizeof(float), INPUT_FLOATS, f32_dequantize_row, NULL},
    [WEIGHT_Q8] = {"Q8", NO_GGML_TYPE, 1, sizeof(int8_t), INPUT_INT8, q8_dequantize_row, NULL},
    [WEIGHT_F16] = {"F16", 1, 1, sizeof(uint16_t), INPUT_FLOATS, f16_dequantize_row, NULL},
    [WEIGHT_Q8_0] = {"Q8_0", 8, Q8_0_BLOCK, Q8_0_BLOCK_BYTES, INPUT_INT8, q8_0_dequantize_row, NULL},
    [WEIGHT_Q4_0] = GGML_BLOCKS("Q4_0", 2, QBLOCK, BlockQ4_0, q4_0_unpack),
    [WEIGHT_Q4_1] = GGML_BLOCKS("Q4_1", 3, QBLOCK, BlockQ4_1, q4_1_unpack),
    [WEIGHT_Q5_0] = GGML_BLOCKS("Q5_0", 6, QBLOCK, BlockQ5_0, q5_0_unpack),
    [WEIGHT_Q5_1] = GGML_BLOCKS("Q5_1", 7, QBLOCK, BlockQ5_1, q5_1_unpack),
    [WEIGHT_Q2_K] = GGML_BLOCKS("Q2_K", 10, KBLOCK, BlockQ2_K, q2_k_unpack),
    [WEIGHT_Q3_K] = GGML_BLOCKS("Q3_K", 11, KBLOCK, BlockQ3_K, q3_k_unpack),
    [WEIGHT_Q4_K] = GGML_BLOCKS("Q4_K", 12, KBLOCK, BlockQ4_K, q4_k_unpack),
    [WEIGHT_Q5_K] = GGML_BLOCKS("Q5_K", 13, KBLOCK, BlockQ5_K, q5_k_unpack),
    [WEIGHT_Q6_K] = GGML_BLOCKS("Q6_K", 14, KBLOCK, BlockQ6_K, q6_k_unpack),
    [WEIGHT_BF16] = {"BF16", 30, 1, sizeof(uint16_t), INPUT_FLOATS, bf16_dequantize_row, NULL},
};

/* ggml's sizes (ggml-common.h's static asserts) */
_Static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                   sizeof(BlockQ5_1) == 24, "ggml's 32-value blocks");
_Static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
                   sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210, "ggml's k-quant super-blocks");

int weight_type_from_ggml(uint32_t ggml_type, WeightType *out)
{
    for (int t = 0; t < WEIGHT_TYPE_COUNT; t++)
        if (weight_types[t].ggml_type != NO_GGML_TYPE && (uint32_t)weight_types[t].ggml_type == ggml_type) {
            *out = (WeightType)t;
            return 0;
        }
    return -1;
}

void weight_type_gguf_names(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int t = 0; t < WEIGHT_TYPE_COUNT; t++) {
        if (weight_types[t].ggml_type == NO_GGML_TYPE)
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", weight_types[t].name);
        if (n < 0 || (size_t)n >= size - used)
            return;  /* cut short: still NUL-terminated */
        used += (size_t)n;
    }
}

uint64_t weight_type_size(WeightType type, uint64_t n)
{
    const WeightTypeInfo *info = &weight_types[type];
    uint64_t bytes;
    if (n % (uint64_t)info->block_values != 0 ||
        __builtin_mul_overflow(n / (uint64_t)info->block_values, (uint64_t)info->block_bytes, &bytes))
        return 0;
    return bytes;
}

void matrix_row(float *out, const Matrix *W, int row)
{
    weight_types[W->type].dequantize_row(out, W, row);
}
