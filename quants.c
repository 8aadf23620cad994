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
 * The table */

#define NO_GGML_TYPE (-1)

const WeightTypeInfo weight_types[WEIGHT_TYPE_COUNT] = {
    [WEIGHT_F32] = {"F32", 0, 1, sizeof(float), INPUT_FLOATS, f32_dequantize_row},
    [WEIGHT_Q8] = {"Q8", NO_GGML_TYPE, 1, sizeof(int8_t), INPUT_INT8, q8_dequantize_row},
    [WEIGHT_F16] = {"F16", 1, 1, sizeof(uint16_t), INPUT_FLOATS, f16_dequantize_row},
    [WEIGHT_Q8_0] = {"Q8_0", 8, Q8_0_BLOCK, Q8_0_BLOCK_BYTES, INPUT_INT8, q8_0_dequantize_row},
};

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
