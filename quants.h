/* quants.h - how a weight matrix is stored: one row per weight type.
 *
 * Every storage format the engine runs is a row of weight_types[], like
 * ggml's type_traits: its name, its GGUF id, the size of its blocks, the
 * form a matmul's input must take to be multiplied with it, and how to turn
 * one of its rows back into floats. The loaders, the size checks and the
 * matmul read the table; its kernels are in the kernel sets (kernel_set.h). */
#ifndef QUANTS_H
#define QUANTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    WEIGHT_F32 = 0,   /* float32 */
    WEIGHT_Q8 = 1,    /* int8, with one float32 scale per group_size values of a row (llama2.c) */
    WEIGHT_F16 = 2,   /* IEEE half precision (GGUF) */
    WEIGHT_Q8_0 = 3,  /* GGUF's Q8_0: blocks of a half-precision scale and 32 int8 values */
    /* ggml's 4- and 5-bit blocks of 32 values (the block structs below) */
    WEIGHT_Q4_0,
    WEIGHT_Q4_1,
    WEIGHT_Q5_0,
    WEIGHT_Q5_1,
    /* ggml's k-quants: super-blocks of 256 values in sub-blocks of 16 or 32 */
    WEIGHT_Q2_K,
    WEIGHT_Q3_K,
    WEIGHT_Q4_K,
    WEIGHT_Q5_K,
    WEIGHT_Q6_K,
    WEIGHT_BF16,      /* bfloat16: float32's top 16 bits (llm.c's bf16 checkpoints, BF16 GGUF files) */
    WEIGHT_TYPE_COUNT
} WeightType;

#define Q8_0_BLOCK 32        /* values per Q8_0 block */
#define Q8_0_BLOCK_BYTES 34  /* its 2-byte scale, then the 32 values */

/* ---------------------------------------------------------------------------
 * ggml's blocks, laid out byte for byte as GGUF files store them (ggml's
 * ggml-common.h). Half-precision fields (d, m, dmin) are little-endian IEEE
 * halves; every block is a whole number of 2-byte units, so a row of blocks
 * keeps them aligned. Each type's values, from its integers: */

#define QBLOCK 32   /* values per block of Q4_0, Q4_1, Q5_0, Q5_1 */
#define KBLOCK 256  /* values per k-quant super-block */

/* Q4_0: value j = d * (nibble j - 8); nibbles: the low halves of qs[0..16)
 * are values 0..15, the high halves values 16..31. */
typedef struct {
    uint16_t d;
    uint8_t qs[QBLOCK / 2];
} BlockQ4_0;

/* Q4_1: value j = d * nibble j + m (nibbles as Q4_0's). */
typedef struct {
    uint16_t d, m;
    uint8_t qs[QBLOCK / 2];
} BlockQ4_1;

/* Q5_0: value j = d * (q_j - 16), q_j = nibble j (as Q4_0's) + 16 * bit j
 * of qh (a little-endian uint32). */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QBLOCK / 2];
} BlockQ5_0;

/* Q5_1: value j = d * q_j + m, q_j as Q5_0's. */
typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QBLOCK / 2];
} BlockQ5_1;

/* Q2_K: 16 sub-blocks of 16 values; value = d * sc * q - dmin * mn, where
 * scales[s] holds sub-block s's sc (low nibble) and mn (high nibble), and
 * the 2-bit q of value i (in each half of 128 values h, i = 128h + 32k + l)
 * is bits 2k..2k+1 of qs[32h + l]. */
typedef struct {
    uint8_t scales[KBLOCK / 16];
    uint8_t qs[KBLOCK / 4];
    uint16_t d, dmin;
} BlockQ2_K;

/* Q3_K: 16 sub-blocks of 16; value = d * (sc - 32) * (q - 4 * (1 - hbit)):
 * q's 2 low bits as Q2_K's, its high bit hbit = bit i / 32 of hmask[i % 32].
 * The 6-bit sc of sub-block s: low 4 bits in the nibble s / 8 of
 * scales[s % 8], high 2 bits at bits 2 * (s / 4) of scales[8 + s % 4]. */
typedef struct {
    uint8_t hmask[KBLOCK / 8];
    uint8_t qs[KBLOCK / 4];
    uint8_t scales[12];
    uint16_t d;
} BlockQ3_K;

/* Q4_K: 8 sub-blocks of 32; value = d * sc * q - dmin * mn, 6-bit sc and mn
 * in scales (k_scale_min). q of value i (i = 64h + 32k + l): nibble k (low,
 * high) of qs[32h + l]. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[KBLOCK / 2];
} BlockQ4_K;

/* Q5_K: Q4_K's, with a fifth bit: q += 16 * bit (2h + k) of qh[l]. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[KBLOCK / 8];
    uint8_t qs[KBLOCK / 2];
} BlockQ5_K;

/* Q6_K: 16 sub-blocks of 16; value = d * scales[s] * (q - 32). For value
 * i = 128h + 32k + l: q's low 4 bits are nibble k / 2 of ql[64h + 32(k % 2) + l],
 * its high 2 bits bits 2k..2k+1 of qh[32h + l]. */
typedef struct {
    uint8_t ql[KBLOCK / 2];
    uint8_t qh[KBLOCK / 4];
    int8_t scales[KBLOCK / 16];
    uint16_t d;
} BlockQ6_K;

/* Q4_K's and Q5_K's 12 bytes of 6-bit scales and mins: sub-block s < 4 has
 * sc = low 6 bits of scales[s], mn = low 6 bits of scales[s + 4]; s >= 4 has
 * the low 4 bits of each in scales[s + 4] (sc low nibble, mn high) and the
 * high 2 bits in the top bits of scales[s - 4] (sc) and scales[s] (mn). */
static inline void k_scale_min(const uint8_t scales[12], int s, int *sc, int *mn)
{
    if (s < 4) {
        *sc = scales[s] & 63;
        *mn = scales[s + 4] & 63;
    } else {
        *sc = (scales[s + 4] & 0xf) | (scales[s - 4] >> 6) << 4;
        *mn = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4;
    }
}

/* Any of the blocks above, as integers: value i = (d * scale[s]) * q[i] -
 * dmin * min[s], s = i / sub_values (the multiplications exact in float, so
 * that this is the value ggml's dequantization gives, to the bit). Q4_1's
 * and Q5_1's + m is min 1 with dmin = -m; types without mins have min 0. */
typedef struct {
    int8_t q[KBLOCK];
    int16_t scale[KBLOCK / 16];
    int16_t min[KBLOCK / 16];
    float d, dmin;
    int sub_values;  /* values per sub-block: 16, 32 (a 32-value block is one) */
} UnpackedBlock;

/* A weight matrix: (rows, cols), row-major, rows being output features. The
 * type belongs to the matrix, so one forward pass serves every format. */
typedef struct {
    WeightType type;
    int rows;             /* output features */
    int cols;             /* input features */
    const void *data;     /* (rows, cols) values of the type, in the checkpoint mapping */
    const float *scales;  /* Q8: (rows, cols / group_size) */
    int group_size;       /* Q8: values per scale, dividing cols */
} Matrix;

/* What a matmul turns its input into before multiplying it with the
 * weights: left as floats, or quantized to int8 in groups, one float scale
 * per group (so that each group's dot product runs in integers). */
typedef enum {
    INPUT_FLOATS,
    INPUT_INT8,
} InputFormat;

/* One token's input to a matmul, in the form W's type pairs with. */
typedef struct {
    const float *floats;   /* (cols): INPUT_FLOATS */
    const int8_t *values;  /* (cols): INPUT_INT8 */
    const float *scales;   /* (cols / input_group_size(W)): INPUT_INT8 */
} MatmulInput;

typedef struct {
    const char *name;      /* as GGUF names it, or llama2.c's "Q8" */
    int ggml_type;         /* its id in GGUF files; -1 for a type GGUF does not have */
    int block_values;      /* values per block: a row is whole blocks */
    int block_bytes;       /* bytes per block in `data` (Q8's scales are apart) */
    InputFormat input;     /* the input it is multiplied with */
    /* out (cols) = row `row` of W, as floats */
    void (*dequantize_row)(float *out, const Matrix *W, int row);
    /* ggml's blocks: one block as integers (NULL for the others) */
    void (*unpack)(UnpackedBlock *out, const void *block);
    /* n floats (whole blocks) into n / block_values blocks at out; NULL for
     * a type ./run quantize does not write */
    void (*quantize_row)(void *out, const float *x, size_t n);
} WeightTypeInfo;

extern const WeightTypeInfo weight_types[WEIGHT_TYPE_COUNT];

/* The type GGUF calls ggml_type: 0 and *out set, or -1 if the engine has no such type. */
int weight_type_from_ggml(uint32_t ggml_type, WeightType *out);

/* "F32, F16, ...": the types a GGUF file may hold that the engine runs,
 * for messages (at most WEIGHT_TYPE_NAMES_SIZE bytes with the NUL). */
#define WEIGHT_TYPE_NAMES_SIZE 256
void weight_type_gguf_names(char *out, size_t size);

/* Bytes of n values of the type (n a multiple of its block), 0 when n is
 * not whole blocks or the size overflows. */
uint64_t weight_type_size(WeightType type, uint64_t n);

/* Bytes of one row of W's data, and where row `row` starts. */
static inline size_t matrix_row_bytes(const Matrix *W)
{
    const WeightTypeInfo *info = &weight_types[W->type];
    return (size_t)W->cols / info->block_values * info->block_bytes;
}

static inline const void *matrix_row_data(const Matrix *W, int row)
{
    return (const unsigned char *)W->data + (size_t)row * matrix_row_bytes(W);
}

/* Rows [first, first + n) of W, as a matrix of their own (a view: nothing
 * is copied). GPT-2's one q|k|v matrix is three such views. */
static inline Matrix matrix_rows(const Matrix *W, int first, int n)
{
    Matrix rows = *W;
    rows.rows = n;
    rows.data = matrix_row_data(W, first);
    if (W->scales)
        rows.scales = W->scales + (size_t)first * (W->cols / W->group_size);
    return rows;
}

/* Values per input scale for an int8 input: the type's block (a block
 * shares one scale), or llama2.c Q8's group size; 0 for a float input. */
static inline int input_group_size(const Matrix *W)
{
    const WeightTypeInfo *info = &weight_types[W->type];
    if (info->input == INPUT_FLOATS)
        return 0;
    return info->block_values > 1 ? info->block_values : W->group_size;
}

/* out (cols) = row of W, as floats: an embedding lookup. */
void matrix_row(float *out, const Matrix *W, int row);

/* IEEE half precision to single: exact for every value, subnormals,
 * infinities and NaNs (payload kept) included. Inline, so that the kernels'
 * loops around it compile as one (and so round the same everywhere). */
static inline float fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | mantissa << 13;  /* inf, or NaN with its payload */
    } else if (exponent != 0) {
        bits = sign | (exponent - 15 + 127) << 23 | mantissa << 13;
    } else if (mantissa == 0) {
        bits = sign;  /* +-0 */
    } else {
        /* Subnormal: mantissa * 2^-24. Shift the leading 1 up to the implicit
         * bit; each shift lowers the exponent from the smallest normal's -14. */
        int e = -14;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            e--;
        }
        bits = sign | (uint32_t)(e + 127) << 23 | (mantissa & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 to single: the 16 bits are float32's upper half, so exact. */
static inline float bf16_to_fp32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE single to half precision, rounding to nearest even (ggml's
 * GGML_FP32_TO_FP16, F16C's vcvtps2ph): values past the largest half become
 * infinities, NaN stays a quiet NaN. fp16_to_fp32 (quants.h) undoes it
 * exactly for every half. */
uint16_t fp32_to_fp16(float f);

#define INT8_SCALE_MAX 127.0f  /* a group's largest |x| becomes +-127 */

/* Symmetric int8 quantization of x (n, a multiple of group_size): per group,
 * scale = max|x| / 127 and q = round(x / scale). llama2.c's int8 weights. */
void quantize_q8(int8_t *q, float *scales, const float *x, size_t n, int group_size);

/* A matmul's input, quantized as llama.cpp quantizes it for the weights it
 * meets, so that the two round alike: per group, q = x * (127 / max|x|)
 * rounded to nearest even, and the scale as the input block type stores it:
 * groups of 256 (k-quants: ggml's Q8_K) 1 / (127 / max|x|) in float, groups
 * of 32 (ggml's Q8_0 and Q8_1) max|x| / 127 rounded to half precision,
 * others (llama2.c's int8) max|x| / 127. */
void quantize_input(int8_t *q, float *scales, const float *x, size_t n, int group_size);

/* ggml's Q8_0 of the n values at x (n a multiple of Q8_0_BLOCK), exactly as
 * its quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, stored as
 * fp16, and q = roundf(x * (1 / d)) (d and 1 / d in float32, before d is
 * rounded to fp16). Writes n / 32 blocks of Q8_0_BLOCK_BYTES to out. A NaN
 * gives q = 0 (C leaves its conversion undefined). */
void quantize_row_q8_0(void *out, const float *x, size_t n);

#endif
