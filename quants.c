/* quants.c - the weight types: their table, and each one's row as floats. */
#include "quants.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

uint16_t fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u)  /* NaN: quiet, with the top of its payload */
        return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u)  /* 65520 and up (infinity too) round past 65504, the largest half */
        return (uint16_t)(sign | 0x7c00u);
    if (abs >= 0x38800000u) {
        /* A normal half (2^-14 and up): rebias the exponent (127 - 15 = 112,
         * 112 << 23 = 0x38000000) and round the mantissa's 13 low bits away,
         * to nearest, ties to the even result. A carry moves up the exponent,
         * which is right. */
        const uint32_t odd = (abs >> 13) & 1u;
        return (uint16_t)(sign | ((abs - 0x38000000u + 0xfffu + odd) >> 13));
    }
    /* A subnormal half (or 0): the value is m * 2^(e - 150) with the 24-bit
     * significand m; in units of the smallest half, 2^-24, that is
     * m >> (126 - e), rounded to nearest even. Below 2^-25 it is 0. */
    const uint32_t e = abs >> 23;
    if (e < 102)
        return (uint16_t)sign;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  /* 14 .. 24 */
    const uint32_t odd = (m >> shift) & 1u;
    return (uint16_t)(sign | ((m + (1u << (shift - 1)) - 1u + odd) >> shift));
}

/* A clamped int8 of v, rounded as `round` does. NaN or infinite inputs
 * (corrupt weights) must not reach the int8 conversion, which is undefined
 * for them: clamped, NaN to 0. */
static int8_t clamped_int8(float v, float (*round)(float))
{
    const float q_max = INT8_SCALE_MAX, r = round(v);
    return (int8_t)(r >= q_max ? q_max : r <= -q_max ? -q_max : r == r ? r : 0.0f);
}

static float max_abs_of(const float *x, int n)
{
    float max_abs = 0.0f;
    for (int i = 0; i < n; i++)
        max_abs = fmaxf(max_abs, fabsf(x[i]));
    return max_abs;
}

void quantize_q8(int8_t *q, float *scales, const float *x, size_t n, int group_size)
{
    for (size_t g = 0; g < n / group_size; g++) {
        const float *xg = x + g * group_size;
        float scale = max_abs_of(xg, group_size) / INT8_SCALE_MAX;
        float inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
        scales[g] = scale;
        for (int i = 0; i < group_size; i++)
            q[g * group_size + i] = clamped_int8(xg[i] * inv_scale, roundf);
    }
}

void quantize_input(int8_t *q, float *scales, const float *x, size_t n, int group_size)
{
    for (size_t g = 0; g < n / group_size; g++) {
        const float *xg = x + g * group_size;
        const float max_abs = max_abs_of(xg, group_size);
        const float inv_scale = max_abs > 0.0f ? INT8_SCALE_MAX / max_abs : 0.0f;
        if (group_size == KBLOCK)  /* Q8_K */
            scales[g] = inv_scale > 0.0f ? 1.0f / inv_scale : 0.0f;
        else if (group_size == QBLOCK)  /* Q8_0 */
            scales[g] = fp16_to_fp32(fp32_to_fp16(max_abs / INT8_SCALE_MAX));
        else
            scales[g] = max_abs / INT8_SCALE_MAX;
        for (int i = 0; i < group_size; i++)
            q[g * group_size + i] = clamped_int8(xg[i] * inv_scale, rintf);
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
 * Floats into each type's blocks (quantize_row): written from the formats.
 * Q8_0, Q4_0 and Q5_0 as ggml's reference quantizers make them (the same
 * bytes as llama.cpp's files); Q4_K and Q6_K more simply than llama.cpp's
 * (no search for the best scales, no importance matrix), but never off by
 * more than half a step of their sub-block: each sub-block's scale (and
 * min) is rounded up, so that its range covers its values. */

static void f32_quantize_row(void *out, const float *x, size_t n)
{
    memcpy(out, x, n * sizeof(float));
}

static void put_half(uint16_t *field, float value)
{
    *field = fp32_to_fp16(value);
}

void quantize_row_q8_0(void *blocks, const float *x, size_t n)
{
    unsigned char *out = blocks;
    for (size_t b = 0; b < n / Q8_0_BLOCK; b++, x += Q8_0_BLOCK, out += Q8_0_BLOCK_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < Q8_0_BLOCK; j++) {
            const float v = fabsf(x[j]);
            amax = amax > v ? amax : v;  /* ggml's MAX, NaN and all */
        }
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = fp32_to_fp16(d);
        out[0] = (unsigned char)(h & 0xff);
        out[1] = (unsigned char)(h >> 8);
        for (int j = 0; j < Q8_0_BLOCK; j++) {
            /* Finite values give |q| <= 127 already; the clamp only keeps
             * corrupt ones (NaN, infinities) out of undefined behaviour. */
            const float q = roundf(x[j] * id);
            out[2 + j] = (unsigned char)(int8_t)(q >= 127.0f ? 127 : q <= -127.0f ? -127 : q == q ? (int)q : 0);
        }
    }
}

/* Q4_0 and Q5_0: 32 values around a zero point of `offset` (8, 16) steps:
 * d = the value of largest magnitude / -offset, so that it becomes q = 0
 * exactly, and q = x / d + offset rounded half up, at most 2 * offset - 1
 * (the opposite end loses up to one step there). Returns d. */
static float quantize_offset_block(uint8_t q[QBLOCK], const float *x, int offset)
{
    float max = 0.0f, max_abs = 0.0f;
    for (int j = 0; j < QBLOCK; j++)
        if (fabsf(x[j]) > max_abs)
            max_abs = fabsf(x[j]), max = x[j];
    const float d = max / (float)-offset, inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QBLOCK; j++) {
        const float v = x[j] * inv_d + (float)offset + 0.5f;  /* >= 0.5: truncation rounds */
        q[j] = (uint8_t)(v >= (float)(2 * offset - 1) ? 2 * offset - 1 : v > 0.0f ? (int)v : 0);
    }
    return d;
}

/* value j < 16 into the low half of qs[j], value j + 16 into its high half */
static void pack_nibbles(uint8_t qs[QBLOCK / 2], const uint8_t q[QBLOCK])
{
    for (int j = 0; j < QBLOCK / 2; j++)
        qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + QBLOCK / 2] & 0xf) << 4);
}

static void q4_0_quantize_row(void *out, const float *x, size_t n)
{
    BlockQ4_0 *blocks = out;
    uint8_t q[QBLOCK];
    for (size_t b = 0; b < n / QBLOCK; b++, x += QBLOCK) {
        put_half(&blocks[b].d, quantize_offset_block(q, x, 8));
        pack_nibbles(blocks[b].qs, q);
    }
}

static void q5_0_quantize_row(void *out, const float *x, size_t n)
{
    BlockQ5_0 *blocks = out;
    uint8_t q[QBLOCK];
    for (size_t b = 0; b < n / QBLOCK; b++, x += QBLOCK) {
        put_half(&blocks[b].d, quantize_offset_block(q, x, 16));
        pack_nibbles(blocks[b].qs, q);
        uint32_t fifth_bits = 0;
        for (int j = 0; j < QBLOCK; j++)
            fifth_bits |= (uint32_t)(q[j] >> 4) << j;
        for (int k = 0; k < 4; k++)
            blocks[b].qh[k] = (uint8_t)(fifth_bits >> 8 * k);
    }
}

/* The smallest half-precision value at least v (v >= 0, finite): the
 * super-block scales, so that no sub-block's rounded-up scale passes 63. */
static float half_at_least(float v)
{
    uint16_t h = fp32_to_fp16(v);
    if (fp16_to_fp32(h) < v)
        h++;  /* the next half up (v positive) */
    return fp16_to_fp32(h);
}

/* The integer scale s <= max_scale with s * d >= need (need <= max_scale * d). */
static int scale_at_least(float need, float d, int max_scale)
{
    if (d == 0.0f)
        return 0;
    const float s = ceilf(need / d);
    return s >= (float)max_scale ? max_scale : s > 0.0f ? (int)s : 0;
}

/* q = (x + min) / step rounded, within [0, q_max] */
static int level(float x, float min, float step, int q_max)
{
    const float q = step > 0.0f ? rintf((x + min) / step) : 0.0f;
    return q >= (float)q_max ? q_max : q > 0.0f ? (int)q : 0;
}

#define K_SCALE_MAX 63  /* Q4_K's 6-bit sub-block scales and mins */
#define Q4_K_SUB 32     /* values per Q4_K sub-block */

/* k_scale_min's inverse: sub-block s's 6-bit sc and mn into the 12 bytes. */
static void put_k_scale_min(uint8_t scales[12], int s, int sc, int mn)
{
    if (s < 4) {
        scales[s] = (uint8_t)((scales[s] & 0xc0) | sc);
        scales[s + 4] = (uint8_t)((scales[s + 4] & 0xc0) | mn);
    } else {
        scales[s + 4] = (uint8_t)((sc & 0xf) | (mn & 0xf) << 4);
        scales[s - 4] = (uint8_t)((scales[s - 4] & 0x3f) | (sc >> 4) << 6);
        scales[s] = (uint8_t)((scales[s] & 0x3f) | (mn >> 4) << 6);
    }
}

/* Q4_K: per sub-block of 32, value = d * sc * q - dmin * mn, q in 0..15.
 * The min covers the sub-block's smallest value (0 if none is negative),
 * the step its range over 15 levels; both rounded up to the 6-bit integer
 * multiples of the super-block's dmin and d. */
static void q4_k_quantize_row(void *out, const float *x, size_t n)
{
    BlockQ4_K *blocks = out;
    enum { SUBS = KBLOCK / Q4_K_SUB, LEVELS = 15 };
    for (size_t b = 0; b < n / KBLOCK; b++, x += KBLOCK) {
        BlockQ4_K *y = &blocks[b];
        float min[SUBS], max[SUBS], max_min = 0.0f, max_step = 0.0f;
        for (int s = 0; s < SUBS; s++) {
            min[s] = 0.0f, max[s] = 0.0f;
            for (int j = 0; j < Q4_K_SUB; j++)
                min[s] = fminf(min[s], x[s * Q4_K_SUB + j]), max[s] = fmaxf(max[s], x[s * Q4_K_SUB + j]);
            max_min = fmaxf(max_min, -min[s]);
        }
        const float dmin = half_at_least(max_min / K_SCALE_MAX);
        int mn[SUBS];
        float need[SUBS];
        for (int s = 0; s < SUBS; s++) {
            mn[s] = scale_at_least(-min[s], dmin, K_SCALE_MAX);
            need[s] = (max[s] + dmin * (float)mn[s]) / LEVELS;
            max_step = fmaxf(max_step, need[s]);
        }
        const float d = half_at_least(max_step / K_SCALE_MAX);
        put_half(&y->d, d), put_half(&y->dmin, dmin);
        memset(y->scales, 0, sizeof y->scales);
        uint8_t q[KBLOCK];
        for (int s = 0; s < SUBS; s++) {
            const int sc = scale_at_least(need[s], d, K_SCALE_MAX);
            put_k_scale_min(y->scales, s, sc, mn[s]);
            for (int j = 0; j < Q4_K_SUB; j++)
                q[s * Q4_K_SUB + j] = (uint8_t)level(x[s * Q4_K_SUB + j], dmin * (float)mn[s], d * (float)sc, LEVELS);
        }
        /* value 64h + 32k + l is nibble k of qs[32h + l] */
        for (int h = 0; h < KBLOCK / 64; h++)
            for (int l = 0; l < 32; l++)
                y->qs[32 * h + l] = (uint8_t)(q[64 * h + l] | q[64 * h + 32 + l] << 4);
    }
}

#define Q6_K_SUB 16        /* values per Q6_K sub-block */
#define Q6_K_SCALE_MAX 127 /* its int8 scales */
#define Q6_K_ZERO 32       /* q - 32: -32 .. 31 */

/* Q6_K: per sub-block of 16, value = d * sc * (q - 32): the step covers
 * the sub-block's largest |x| in 31 steps, rounded up to a multiple of d. */
static void q6_k_quantize_row(void *out, const float *x, size_t n)
{
    BlockQ6_K *blocks = out;
    enum { SUBS = KBLOCK / Q6_K_SUB };
    for (size_t b = 0; b < n / KBLOCK; b++, x += KBLOCK) {
        BlockQ6_K *y = &blocks[b];
        float need[SUBS], max_step = 0.0f;
        for (int s = 0; s < SUBS; s++) {
            need[s] = max_abs_of(x + s * Q6_K_SUB, Q6_K_SUB) / (Q6_K_ZERO - 1);
            max_step = fmaxf(max_step, need[s]);
        }
        const float d = half_at_least(max_step / Q6_K_SCALE_MAX);
        put_half(&y->d, d);
        uint8_t q[KBLOCK];
        for (int s = 0; s < SUBS; s++) {
            const int sc = scale_at_least(need[s], d, Q6_K_SCALE_MAX);
            y->scales[s] = (int8_t)sc;
            const float step = d * (float)sc, zero = step * Q6_K_ZERO;
            for (int j = 0; j < Q6_K_SUB; j++)
                q[s * Q6_K_SUB + j] = (uint8_t)level(x[s * Q6_K_SUB + j], zero, step, 2 * Q6_K_ZERO - 1);
        }
        /* value 128h + 32k + l: low 4 bits in nibble k / 2 of ql[64h + 32(k % 2) + l],
         * high 2 bits at 2k of qh[32h + l] */
        memset(y->ql, 0, sizeof y->ql), memset(y->qh, 0, sizeof y->qh);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    const int v = q[128 * h + 32 * k + l];
                    y->ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((v & 0xf) << 4 * (k / 2));
                    y->qh[32 * h + l] |= (uint8_t)((v >> 4) << 2 * k);
                }
    }
}

/* ---------------------------------------------------------------------------
 * The table */

#define NO_GGML_TYPE (-1)

/* A row for each of ggml's block types: its name, GGUF id, values and bytes per block. */
#define GGML_BLOCKS(name, id, values, block, unpack, quantize) \
    {name, id, values, sizeof(block), INPUT_INT8, blocks_dequantize_row, unpack, quantize}

const WeightTypeInfo weight_types[WEIGHT_TYPE_COUNT] = {
    [WEIGHT_F32] = {"F32", 0, 1, sizeof(float), INPUT_FLOATS, f32_dequantize_row, NULL, f32_quantize_row},
    [WEIGHT_Q8] = {"Q8", NO_GGML_TYPE, 1, sizeof(int8_t), INPUT_INT8, q8_dequantize_row, NULL, NULL},
    [WEIGHT_F16] = {"F16", 1, 1, sizeof(uint16_t), INPUT_FLOATS, f16_dequantize_row, NULL, NULL},
    [WEIGHT_Q8_0] = {"Q8_0", 8, Q8_0_BLOCK, Q8_0_BLOCK_BYTES, INPUT_INT8, q8_0_dequantize_row, NULL, quantize_row_q8_0},
    [WEIGHT_Q4_0] = GGML_BLOCKS("Q4_0", 2, QBLOCK, BlockQ4_0, q4_0_unpack, q4_0_quantize_row),
    [WEIGHT_Q4_1] = GGML_BLOCKS("Q4_1", 3, QBLOCK, BlockQ4_1, q4_1_unpack, NULL),
    [WEIGHT_Q5_0] = GGML_BLOCKS("Q5_0", 6, QBLOCK, BlockQ5_0, q5_0_unpack, q5_0_quantize_row),
    [WEIGHT_Q5_1] = GGML_BLOCKS("Q5_1", 7, QBLOCK, BlockQ5_1, q5_1_unpack, NULL),
    [WEIGHT_Q2_K] = GGML_BLOCKS("Q2_K", 10, KBLOCK, BlockQ2_K, q2_k_unpack, NULL),
    [WEIGHT_Q3_K] = GGML_BLOCKS("Q3_K", 11, KBLOCK, BlockQ3_K, q3_k_unpack, NULL),
    [WEIGHT_Q4_K] = GGML_BLOCKS("Q4_K", 12, KBLOCK, BlockQ4_K, q4_k_unpack, q4_k_quantize_row),
    [WEIGHT_Q5_K] = GGML_BLOCKS("Q5_K", 13, KBLOCK, BlockQ5_K, q5_k_unpack, NULL),
    [WEIGHT_Q6_K] = GGML_BLOCKS("Q6_K", 14, KBLOCK, BlockQ6_K, q6_k_unpack, q6_k_quantize_row),
    [WEIGHT_BF16] = {"BF16", 30, 1, sizeof(uint16_t), INPUT_FLOATS, bf16_dequantize_row, NULL, NULL},
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
