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
    WEIGHT_TYPE_COUNT
} WeightType;

#define Q8_0_BLOCK 32        /* values per Q8_0 block */
#define Q8_0_BLOCK_BYTES 34  /* its 2-byte scale, then the 32 values */

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

/* Symmetric int8 quantization of x (n, a multiple of group_size): per group,
 * scale = max|x| / 127 and q = round(x / scale). */
void quantize_q8(int8_t *q, float *scales, const float *x, size_t n, int group_size);

#endif
