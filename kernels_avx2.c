/* kernels_avx2.c - the kernel set for AVX2, FMA and F16C (x86-64-v3).
 *
 * Decoding (one token) is paced by memory, which is fastest read as a few
 * long sequential streams: each matrix is cut into LANES lanes of
 * consecutive rows, and one step of a lanes kernel computes the next row of
 * every lane, reading LANES streams side by side.
 * A batch (a prompt) is paced by arithmetic: its inputs are packed into
 * panels of 16 tokens side by side, and a tile of rows is computed in blocks
 * of 6 rows x one panel: each step broadcasts one weight of each row and
 * multiplies it into the panel's column of 16 inputs, 12 independent sums,
 * each a whole output. int8 weights work the same way in integers.
 * ggml's block types (Q4_0 ... Q6_K) decode a block into registers and
 * multiply it with the int8 input's block: per row (dot), in lanes, and for
 * a batch once per block for a group of tokens (their input left unpacked).
 * docs/performance.md has the measurements behind these choices. */
#include "kernel_set.h"

#ifdef HAVE_AVX2_KERNELS
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define PANEL_ROWS 6      /* weight rows per block of panel_block */
#define PANEL_CHUNK 1024  /* columns of a block's rows taken at a time */
_Static_assert(ROW_TILE % PANEL_ROWS == 0, "a tile is whole blocks");

/* ---------------------------------------------------------------------------
 * Float weights (F32, F16, BF16): lanes, and the panels of a batch */

/* How a float weight is stored; each kernel below takes a constant one and
 * compiles to a loop of its own. */
typedef enum { FLOAT_F32, FLOAT_F16, FLOAT_BF16 } FloatFormat;

static float horizontal_sum(__m256 v)
{
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}

/* 8 weights from w[i], as floats: float32, half precision, or bfloat16
 * (float32's upper half: widened and shifted into place). */
static inline __attribute__((always_inline)) __m256 load_8_weights(const void *w, size_t i, FloatFormat format)
{
    switch (format) {
    case FLOAT_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    case FLOAT_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i))), 16));
    case FLOAT_F32:
        break;
    }
    return _mm256_loadu_ps((const float *)w + i);
}

/* out[l * out_stride] = w row l . x, for l < LANES, the rows w_stride
 * values apart; cols a multiple of 8, the weights in `format`. */
static inline __attribute__((always_inline)) void float_lanes(float *out, size_t out_stride, const void *w,
                                                              size_t w_stride, const float *x, int cols,
                                                              FloatFormat format)
{
    __m256 sum[LANES];
    for (int l = 0; l < LANES; l++)
        sum[l] = _mm256_setzero_ps();
    for (int i = 0; i < cols; i += 8) {
        __m256 y = _mm256_loadu_ps(x + i);
        for (int l = 0; l < LANES; l++)
            sum[l] = _mm256_fmadd_ps(load_8_weights(w, l * w_stride + i, format), y, sum[l]);
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(sum[l]);
}

/* One float32 row: decoding's rows past the last whole lane. */
static float f32_row_dot(const float *w, const float *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += w[i] * x[i];
    return sum;
}

/* The width of the panel that starts with `remaining` tokens still to pack:
 * a whole panel, or half of one for the last few tokens. */
static int panel_width(int remaining)
{
    return remaining > PANEL_TOKENS / 2 ? PANEL_TOKENS : PANEL_TOKENS / 2;
}

/* Transposes the 8 x 8 block of r[0..8): out[i] = (r[0][i], ..., r[7][i]). */
static void transpose_8x8(__m256 out[8], const __m256 r[8])
{
    __m256 a[8], b[8];
    for (int i = 0; i < 4; i++) {  /* interleave pairs of rows */
        a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {  /* then pairs of pairs */
        b[4 * i] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {  /* then the halves of rows 0-3 with those of rows 4-7 */
        out[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
        out[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
    }
}

/* panel = the n <= width rows of in (cols values each, in_stride apart)
 * side by side: panel[k * width + j] = in[j * in_stride + k], zeros for the
 * rows past n. width 8 or 16. Eight rows by eight columns at a time,
 * transposed in registers. */
void pack_panel(float *panel, const float *in, size_t in_stride, int n, int width, int cols)
{
    for (int j0 = 0; j0 < width; j0 += 8) {
        const int rows = n - j0 < 8 ? n - j0 : 8;  /* rows in this group of 8; may be none */
        const float *x = rows > 0 ? in + (size_t)j0 * in_stride : in;
        int k = 0;
        for (; k + 8 <= cols; k += 8) {
            __m256 r[8], c[8];
            for (int j = 0; j < 8; j++)
                r[j] = j < rows ? _mm256_loadu_ps(x + (size_t)j * in_stride + k) : _mm256_setzero_ps();
            transpose_8x8(c, r);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps(panel + (size_t)(k + i) * width + j0, c[i]);
        }
        for (; k < cols; k++)
            for (int j = 0; j < 8; j++)
                panel[(size_t)k * width + j0 + j] = j < rows ? x[(size_t)j * in_stride + k] : 0.0f;
    }
}

/* pack_panel's inverse for the first n rows: out[j * out_stride + k] =
 * panel[k * width + j], for j < n and k < cols. Eight columns at a time,
 * then four, so that a matmul tile's 12 rows are one store of 8 and one of
 * 4 per token: the tile's outputs are rows apart and seldom in the cache,
 * and every store waits for its line. */
void unpack_panel(float *out, size_t out_stride, const float *panel, int n, int width, int cols)
{
    for (int j0 = 0; j0 < n; j0 += 8) {
        const int rows = n - j0 < 8 ? n - j0 : 8;
        float *y = out + (size_t)j0 * out_stride;
        int k = 0;
        for (; k + 8 <= cols; k += 8) {
            __m256 r[8], c[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(panel + (size_t)(k + i) * width + j0);
            transpose_8x8(c, r);
            for (int j = 0; j < rows; j++)
                _mm256_storeu_ps(y + (size_t)j * out_stride + k, c[j]);
        }
        if (k + 4 <= cols) {  /* four columns: the same transpose, the other four rows zero */
            __m256 r[8], c[8];
            for (int i = 0; i < 8; i++)
                r[i] = i < 4 ? _mm256_loadu_ps(panel + (size_t)(k + i) * width + j0) : _mm256_setzero_ps();
            transpose_8x8(c, r);
            for (int j = 0; j < rows; j++)
                _mm_storeu_ps(y + (size_t)j * out_stride + k, _mm256_castps256_ps128(c[j]));
            k += 4;
        }
        for (; k < cols; k++)
            for (int j = 0; j < rows; j++)
                y[(size_t)j * out_stride + k] = panel[(size_t)k * width + j0 + j];
    }
}

/* sums[r * sums_stride + t] (+)= sum over k in [k0, k1) of
 * w[r * w_stride + k * w_step] * panel[k * 8 * vectors + t], for r < n_rows
 * and t < 8 * vectors. (A matmul's weights: w_step 1, w_stride a row.) Each
 * step broadcasts one weight of each row and multiplies it into the panel's
 * column: 2 loads and 6 broadcasts feed 12 multiply-adds, and every sum is
 * one output, whole. Callers pass constant n_rows and vectors, and get a
 * loop of their own. */
static inline __attribute__((always_inline)) void panel_block(float *sums, size_t sums_stride, const float *w,
                                                              size_t w_stride, size_t w_step, int n_rows,
                                                              const float *panel, int vectors, int k0, int k1,
                                                              bool accumulate)
{
    __m256 sum[PANEL_ROWS][2];
#pragma GCC unroll 6
    for (int r = 0; r < PANEL_ROWS; r++)
        sum[r][0] = sum[r][1] = _mm256_setzero_ps();
    const int width = 8 * vectors;
    for (int k = k0; k < k1; k++) {
        __m256 x0 = _mm256_loadu_ps(panel + (size_t)k * width);
        __m256 x1 = vectors == 2 ? _mm256_loadu_ps(panel + (size_t)k * width + 8) : x0;
        __asm__("" : "+x"(x0), "+x"(x1));
#pragma GCC unroll 6
        for (int r = 0; r < n_rows; r++) {
            const __m256 wr = _mm256_broadcast_ss(w + r * w_stride + k * w_step);
            sum[r][0] = _mm256_fmadd_ps(wr, x0, sum[r][0]);
            if (vectors == 2)
                sum[r][1] = _mm256_fmadd_ps(wr, x1, sum[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < n_rows; r++)
        for (int v = 0; v < vectors; v++) {
            float *s = sums + r * sums_stride + 8 * v;
            _mm256_storeu_ps(s, accumulate ? _mm256_add_ps(_mm256_loadu_ps(s), sum[r][v]) : sum[r][v]);
        }
}

/* panel_block over a whole panel (2 vectors of tokens) or a half one. */
static inline __attribute__((always_inline)) void panel_block_of(float *sums, size_t sums_stride, const float *w,
                                                                 size_t w_stride, size_t w_step, int n_rows,
                                                                 const float *panel, bool whole, int k0, int k1,
                                                                 bool accumulate)
{
    if (whole)
        panel_block(sums, sums_stride, w, w_stride, w_step, n_rows, panel, 2, k0, k1, accumulate);
    else
        panel_block(sums, sums_stride, w, w_stride, w_step, n_rows, panel, 1, k0, k1, accumulate);
}

/* panel_block over any number of rows: blocks of 6, then of 4 (8 sums, still
 * enough to hide the multiply-adds' latency), then single rows. */
static inline __attribute__((always_inline)) void panel_rows(float *sums, size_t sums_stride, const float *w,
                                                             size_t w_stride, size_t w_step, int n_rows,
                                                             const float *panel, bool whole, int k0, int k1,
                                                             bool accumulate)
{
    int r = 0;
    for (; r + PANEL_ROWS <= n_rows; r += PANEL_ROWS)
        panel_block_of(sums + r * sums_stride, sums_stride, w + r * w_stride, w_stride, w_step, PANEL_ROWS, panel,
                       whole, k0, k1, accumulate);
    for (; r + 4 <= n_rows; r += 4)
        panel_block_of(sums + r * sums_stride, sums_stride, w + r * w_stride, w_stride, w_step, 4, panel, whole, k0,
                       k1, accumulate);
    for (; r < n_rows; r++)
        panel_block_of(sums + r * sums_stride, sums_stride, w + r * w_stride, w_stride, w_step, 1, panel, whole, k0,
                       k1, accumulate);
}

#define GROUP_TOKENS 64  /* tokens whose sums f32_panels keeps at a time, a multiple of PANEL_TOKENS */
_Static_assert(GROUP_TOKENS % PANEL_TOKENS == 0, "a group is whole panels");

/* out rows [g0, g1), columns [r0, r1) = a tile's sums, kept (rows of the
 * tile, tokens of the group): a panel, to unpack. */
static void tile_sums_to_out(float *out, int rows, float sums[][GROUP_TOKENS], int r0, int r1, int g0, int g1)
{
    unpack_panel(out + (size_t)g0 * rows + r0, rows, sums[0], g1 - g0, GROUP_TOKENS, r1 - r0);
}

/* Rows [r0, r1) of out (T, rows) = in (T, cols) @ w^T, at most ROW_TILE of
 * them, from in packed into panels. For each group of GROUP_TOKENS tokens
 * and chunk of columns, row blocks of PANEL_ROWS outermost: the group's
 * panels reuse a block's rows from the L1 cache, and the next group finds
 * the tile's rows in L2, so they come from memory once per batch. The sums
 * gather in a small buffer, not in out: out's rows are rows * 4 bytes
 * apart, for 110M's 2048-row matrices 8 KB, so writing a block's 16 tokens
 * straight into out would put them all in one L1 cache set.
 * 16-bit weights (F16, BF16) are first converted, the tile's rows in
 * the chunk at a time, into `converted` (ROW_TILE, PANEL_CHUNK), which the
 * blocks then read: once per tile when the rows fit one chunk. */
static inline __attribute__((always_inline)) void float_panels(float *out, const float *panels, const void *w,
                                                               FloatFormat format, float converted[][PANEL_CHUNK],
                                                               int rows,
                                                               int cols, int T, int r0, int r1)
{
    float sums[ROW_TILE][GROUP_TOKENS];  /* (rows of the tile, tokens of the group) */
    const int n_chunks = (cols + PANEL_CHUNK - 1) / PANEL_CHUNK;
    const int chunk = ((cols + n_chunks - 1) / n_chunks + 7) / 8 * 8;  /* whole vectors of 8 */
    const bool convert = format != FLOAT_F32;
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int g1 = T - g0 < GROUP_TOKENS ? T : g0 + GROUP_TOKENS;
        for (int k0 = 0; k0 < cols; k0 += chunk) {
            const int k1 = cols - k0 < chunk ? cols : k0 + chunk;
            if (convert && (n_chunks > 1 || g0 == 0))
                for (int r = r0; r < r1; r++)
                    for (int k = k0; k < k1; k += 8)  /* cols is whole vectors: panels_step */
                        _mm256_storeu_ps(converted[r - r0] + (k - k0), load_8_weights(w, (size_t)r * cols + k, format));
            for (int r = r0; r < r1; r += PANEL_ROWS) {
                const int n_rows = r1 - r < PANEL_ROWS ? r1 - r : PANEL_ROWS;
                for (int t0 = g0; t0 < g1; t0 += PANEL_TOKENS) {
                    const int width = panel_width(T - t0);
                    const bool whole = width == PANEL_TOKENS;
                    const float *panel = panels + (size_t)t0 * cols;
                    float *s = sums[r - r0] + (t0 - g0);
                    if (convert)  /* the chunk's columns start at 0 in the buffer, at k0 in the panel */
                        panel_rows(s, GROUP_TOKENS, converted[r - r0], PANEL_CHUNK, 1, n_rows,
                                   panel + (size_t)k0 * width, whole, 0, k1 - k0, k0 > 0);
                    else
                        panel_rows(s, GROUP_TOKENS, (const float *)w + (size_t)r * cols, cols, 1, n_rows, panel,
                                   whole, k0, k1, k0 > 0);
                }
            }
        }
        tile_sums_to_out(out, rows, sums, r0, r1, g0, g1);
    }
}

static void f32_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    float_panels(out, scratch->panels, W->data, FLOAT_F32, NULL, W->rows, W->cols, T, r0, r1);
}

static void f16_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    float converted[ROW_TILE][PANEL_CHUNK];  /* 48 KB */
    float_panels(out, scratch->panels, W->data, FLOAT_F16, converted, W->rows, W->cols, T, r0, r1);
}

static void bf16_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    float converted[ROW_TILE][PANEL_CHUNK];  /* 48 KB */
    float_panels(out, scratch->panels, W->data, FLOAT_BF16, converted, W->rows, W->cols, T, r0, r1);
}

/* One 16-bit row (F16 or BF16) times the input: decoding's rows past the last whole lane. */
static inline __attribute__((always_inline)) float half_row_dot(const uint16_t *w, const float *x, int cols,
                                                                FloatFormat format)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
        acc0 = _mm256_fmadd_ps(load_8_weights(w, i, format), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(load_8_weights(w, i + 8, format), _mm256_loadu_ps(x + i + 8), acc1);
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < cols; i++)
        sum += (format == FLOAT_BF16 ? bf16_to_fp32(w[i]) : fp16_to_fp32(w[i])) * x[i];
    return sum;
}

/* ---------------------------------------------------------------------------
 * int8 weights (llama2.c's Q8, GGUF's Q8_0) times the int8 input */

/* The same with AVX2, for group sizes that are multiples of 32: 32 int8
 * products at a time summed into 8 int32 lanes, each group's lanes scaled
 * into a float accumulator, and one horizontal sum per row. */
static float q8_row_dot(const int8_t *w, const float *ws, const int8_t *x, const float *xs, int cols, int gs)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int g = 0; g < cols / gs; g++) {
        __m256i group_sum = _mm256_setzero_si256();
        for (int i = g * gs; i < (g + 1) * gs; i += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(w + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(x + i));
            /* maddubs multiplies unsigned by signed bytes: move a's sign onto b */
            __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
            group_sum = _mm256_add_epi32(group_sum, _mm256_madd_epi16(pairs, ones));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(group_sum), _mm256_set1_ps(ws[g] * xs[g]), acc);
    }
    return horizontal_sum(acc);
}

/* The same for LANES rows side by side (decoding, in lanes): out[l *
 * out_stride] = row l . x, where row l's values start w_stride bytes and its
 * scales s_stride floats after row l - 1's. */
static void q8_rows_side_by_side(float *out, size_t out_stride, const int8_t *w, size_t w_stride, const float *ws,
                                 size_t s_stride, const int8_t *x, const float *xs, int cols, int gs)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[LANES];
    for (int l = 0; l < LANES; l++)
        acc[l] = _mm256_setzero_ps();
    for (int g = 0; g < cols / gs; g++) {
        __m256i group_sum[LANES];
        for (int l = 0; l < LANES; l++)
            group_sum[l] = _mm256_setzero_si256();
        for (int i = g * gs; i < (g + 1) * gs; i += 32) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(x + i));
            for (int l = 0; l < LANES; l++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(w + l * w_stride + i));
                __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
                group_sum[l] = _mm256_add_epi32(group_sum[l], _mm256_madd_epi16(pairs, ones));
            }
        }
        for (int l = 0; l < LANES; l++)
            acc[l] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(group_sum[l]), _mm256_set1_ps(ws[l * s_stride + g] * xs[g]),
                                     acc[l]);
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(acc[l]);
}

/* A Q8_0 block's scale times the input group's. */
static float q8_0_scale(const unsigned char *block, float input_scale)
{
    return _cvtsh_ss((unsigned short)(block[0] | block[1] << 8)) * input_scale;  /* one instruction */
}

static float q8_0_row_dot(const unsigned char *w, const int8_t *x, const float *xs, int cols)
{
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < cols / Q8_0_BLOCK; b++, w += Q8_0_BLOCK_BYTES) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + b * Q8_0_BLOCK));
        __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(v, a));
        __m256i sums = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(q8_0_scale(w, xs[b])), acc);
    }
    return horizontal_sum(acc);
}

/* LANES Q8_0 rows side by side, w_stride bytes apart (decoding, in lanes). */
static void q8_0_rows_side_by_side(float *out, size_t out_stride, const unsigned char *w, size_t w_stride,
                                   const int8_t *x, const float *xs, int cols)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[LANES];
    for (int l = 0; l < LANES; l++)
        acc[l] = _mm256_setzero_ps();
    for (int b = 0; b < cols / Q8_0_BLOCK; b++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + b * Q8_0_BLOCK));
        for (int l = 0; l < LANES; l++) {
            const unsigned char *block = w + l * w_stride + (size_t)b * Q8_0_BLOCK_BYTES;
            __m256i a = _mm256_loadu_si256((const __m256i *)(block + 2));
            __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(v, a));
            __m256i sums = _mm256_madd_epi16(pairs, ones);
            acc[l] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(q8_0_scale(block, xs[b])), acc[l]);
        }
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(acc[l]);
}

/* A prompt batch's int8 matmul works like the float one, on panels of
 * quantized inputs: a panel holds 4 values of each of its tokens side by
 * side per step, panel[(k / 4 * width + t) * 4 + k % 4] (pack_panel moves
 * the 4 bytes as one float), and the tokens' scales in a panel of their own,
 * scales[g * width + t]. Each step broadcasts 4 weights of a row and
 * multiplies them into the panel's 8 or 16 tokens in integers (maddubs, as
 * q8_row_dot does); each group's integer sums then go to float, times the
 * row's scale and each token's. Blocks of 4 rows: 8 integer sums, and room
 * in the 16 registers for the loads. Both int8 types: llama2.c's Q8 keeps a
 * row's values together and its scales apart; GGUF's Q8_0 keeps each group
 * of 32 values in a block after their half-precision scale. */
#define Q8_PANEL_ROWS 4

/* Group g of an int8 row: where its values start, and its scale. */
static inline __attribute__((always_inline)) const int8_t *group_values(const unsigned char *row, int g, int gs,
                                                                        bool q8_0)
{
    return (const int8_t *)(q8_0 ? row + (size_t)g * Q8_0_BLOCK_BYTES + 2 : row + (size_t)g * gs);
}

static inline __attribute__((always_inline)) float group_scale(const unsigned char *row, const float *row_scales,
                                                               int g, bool q8_0)
{
    return q8_0 ? q8_0_scale(row + (size_t)g * Q8_0_BLOCK_BYTES, 1.0f) : row_scales[g];
}

/* sums[r * sums_stride + t] += row r of w (w_stride bytes apart; for Q8,
 * its scales ws_stride apart in ws) . token t of the panel, for r < n_rows,
 * t < 8 * vectors. */
static inline __attribute__((always_inline)) void q8_panel_block(float *sums, size_t sums_stride,
                                                                 const unsigned char *w, size_t w_stride,
                                                                 const float *ws, size_t ws_stride, int n_rows,
                                                                 const int8_t *panel, const float *scales,
                                                                 int vectors, int cols, int gs, bool q8_0)
{
    const int width = 8 * vectors;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int g = 0; g < cols / gs; g++) {
        __m256i group_sum[Q8_PANEL_ROWS][2];
#pragma GCC unroll 4
        for (int r = 0; r < Q8_PANEL_ROWS; r++)
            group_sum[r][0] = group_sum[r][1] = _mm256_setzero_si256();
        for (int i = 0; i < gs; i += 4) {
            const int8_t *step = panel + (size_t)(g * gs + i) * width;
            __m256i x0 = _mm256_loadu_si256((const __m256i *)step);
            __m256i x1 = vectors == 2 ? _mm256_loadu_si256((const __m256i *)(step + 32)) : x0;
            __asm__("" : "+x"(x0), "+x"(x1));
#pragma GCC unroll 4
            for (int r = 0; r < n_rows; r++) {
                int32_t four;
                memcpy(&four, group_values(w + r * w_stride, g, gs, q8_0) + i, sizeof four);
                const __m256i wb = _mm256_set1_epi32(four), w_abs = _mm256_sign_epi8(wb, wb);
                /* maddubs multiplies unsigned by signed bytes: move w's sign onto x */
                group_sum[r][0] = _mm256_add_epi32(
                    group_sum[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x0, wb)), ones));
                if (vectors == 2)
                    group_sum[r][1] = _mm256_add_epi32(
                        group_sum[r][1],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x1, wb)), ones));
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < n_rows; r++) {
            const float *row_scales = q8_0 ? NULL : ws + r * ws_stride;
            const __m256 row_scale = _mm256_set1_ps(group_scale(w + r * w_stride, row_scales, g, q8_0));
            for (int v = 0; v < vectors; v++) {
                float *s = sums + r * sums_stride + 8 * v;
                const __m256 scale = _mm256_mul_ps(row_scale, _mm256_loadu_ps(scales + g * width + 8 * v));
                _mm256_storeu_ps(s, _mm256_fmadd_ps(_mm256_cvtepi32_ps(group_sum[r][v]), scale, _mm256_loadu_ps(s)));
            }
        }
    }
}

/* q8_panel_block over a whole panel or a half one, of either int8 type. */
static inline __attribute__((always_inline)) void q8_panel_block_of(float *sums, const unsigned char *w,
                                                                    size_t w_stride, const float *ws, size_t ws_stride,
                                                                    int n_rows, const int8_t *panel,
                                                                    const float *scales, bool whole, int cols, int gs,
                                                                    bool q8_0)
{
    if (q8_0 && whole)
        q8_panel_block(sums, GROUP_TOKENS, w, w_stride, ws, ws_stride, n_rows, panel, scales, 2, cols, gs, true);
    else if (q8_0)
        q8_panel_block(sums, GROUP_TOKENS, w, w_stride, ws, ws_stride, n_rows, panel, scales, 1, cols, gs, true);
    else if (whole)
        q8_panel_block(sums, GROUP_TOKENS, w, w_stride, ws, ws_stride, n_rows, panel, scales, 2, cols, gs, false);
    else
        q8_panel_block(sums, GROUP_TOKENS, w, w_stride, ws, ws_stride, n_rows, panel, scales, 1, cols, gs, false);
}

/* Where the tokens' scales start in an int8 batch's panels: after the
 * values, T rounded up to whole panels times cols bytes. */
static float *q8_scale_panels(float *panels, int T, int cols)
{
    const size_t tokens = (size_t)(T + PANEL_TOKENS - 1) / PANEL_TOKENS * PANEL_TOKENS;
    return panels + tokens * cols / sizeof(float);
}

/* Rows [r0, r1) of out (T, rows) = in (T, cols) @ W^T, W int8 (Q8 or Q8_0),
 * at most ROW_TILE rows, from the quantized input packed into panels. */
static inline __attribute__((always_inline)) void int8_panels(float *out, const Matrix *W, const MatmulScratch *xq,
                                                              int T, int r0, int r1, bool q8_0)
{
    const int rows = W->rows, cols = W->cols, gs = q8_0 ? Q8_0_BLOCK : W->group_size, groups = cols / gs;
    const size_t row_bytes = q8_0 ? (size_t)cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES : (size_t)cols;
    const int8_t *panels = (const int8_t *)xq->panels;
    const float *scale_panels = q8_scale_panels(xq->panels, T, cols);
    float sums[ROW_TILE][GROUP_TOKENS];  /* (rows of the tile, tokens of the group) */
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int g1 = T - g0 < GROUP_TOKENS ? T : g0 + GROUP_TOKENS;
        memset(sums, 0, sizeof sums);
        for (int r = r0, n_rows; r < r1; r += n_rows) {
            n_rows = r1 - r >= Q8_PANEL_ROWS ? Q8_PANEL_ROWS : 1;
            const unsigned char *wr = (const unsigned char *)W->data + (size_t)r * row_bytes;
            const float *wsr = q8_0 ? NULL : W->scales + (size_t)r * groups;
            for (int t0 = g0; t0 < g1; t0 += PANEL_TOKENS) {
                const bool whole = panel_width(T - t0) == PANEL_TOKENS;
                const int8_t *panel = panels + (size_t)t0 * cols;
                const float *scales = scale_panels + (size_t)t0 * groups;
                float *s = sums[r - r0] + (t0 - g0);
                if (n_rows == Q8_PANEL_ROWS)
                    q8_panel_block_of(s, wr, row_bytes, wsr, groups, Q8_PANEL_ROWS, panel, scales, whole, cols, gs,
                                      q8_0);
                else
                    q8_panel_block_of(s, wr, row_bytes, wsr, groups, 1, panel, scales, whole, cols, gs, q8_0);
            }
        }
        tile_sums_to_out(out, rows, sums, r0, r1, g0, g1);
    }
}

/* Tokens [t0, t0 + 16) of a batch's input into their panel: quantized
 * first when gs > 0 (int8 weights), the values and the scales into panels of
 * their own; as floats otherwise. */
static void pack_batch_panel(MatmulScratch *scratch, const float *in, int T, int cols, int gs, int t0)
{
    const int width = panel_width(T - t0), n = T - t0 < width ? T - t0 : width;
    if (gs == 0) {
        pack_panel(scratch->panels + (size_t)t0 * cols, in + (size_t)t0 * cols, cols, n, width, cols);
        return;
    }
    const int groups = cols / gs;
    int8_t *values = scratch->values + (size_t)t0 * cols;
    float *scales = scratch->scales + (size_t)t0 * groups;
    quantize_input(values, scales, in + (size_t)t0 * cols, (size_t)n * cols, gs);
    /* 4 values = 4 bytes = one float's worth: pack_panel moves them whole */
    pack_panel(scratch->panels + (size_t)t0 * cols / 4, (const float *)(const void *)values, cols / 4, n, width,
               cols / 4);
    pack_panel(q8_scale_panels(scratch->panels, T, cols) + (size_t)t0 * groups, scales, groups, n, width, groups);
}

/* ---------------------------------------------------------------------------
 * ggml's block types (quants.h) times the int8 input. Each block is first
 * decoded into registers (DecodedBlock: its values 32 to a vector, signed or
 * not, and the int16 scale of each pair sum), then multiplied with a block
 * of the input in integers: maddubs on the values, the sub-blocks' scales
 * applied to the pair sums with madd, and the block's sum into a float
 * accumulator times d and the input group's scale. A block of the input is
 * the weights' block (32 or 256 values). Types with mins need the input's
 * sums over their sub-blocks (InputSums), found once per block of the input
 * and shared by decoding's lanes and by a batch's rows. A batch decodes each
 * block once for all its tokens. */

typedef enum {
    NO_MIN,      /* value = d * scale * q */
    PLUS_M,      /* Q4_1, Q5_1: + m (dmin holds m), times the input's block sum (8 partial sums) */
    MINUS_MIN8,  /* Q4_K, Q5_K: - dmin * min, 8 int32 mins against 8 sub-block sums */
    MINUS_MIN16, /* Q2_K: - dmin * min, 16 int16 mins against 16 sub-block sums */
} MinKind;

typedef struct {
    __m256i q[KBLOCK / 32];      /* values (a 32-value block: q[0]); signed types: |q| */
    __m256i sign[KBLOCK / 32];   /* signed types: q itself, whose signs go onto the input */
    __m256i scale[KBLOCK / 32];  /* int16 scales of each pair sum of q[j] . x */
    __m256i mins;                /* MINUS_MIN8, MINUS_MIN16 */
    float d, dmin;
} DecodedBlock;

typedef void (*BlockDecode)(DecodedBlock *out, const unsigned char *block);
typedef __m256i (*InputSums)(const int8_t *x);

/* How a type's decoded blocks multiply: vectors per block, signed values, mins. */
typedef struct {
    int vectors;
    bool is_signed;
    MinKind mins;
} BlockForm;

static inline __m256i low_nibbles(__m256i v)
{
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

static inline __m256i high_nibbles(__m256i v)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
}

/* The 32 nibbles of a 32-value block, in value order: the low halves of the
 * 16 bytes are values 0..15, the high halves 16..31. */
static inline __m256i block_nibbles(const uint8_t qs[QBLOCK / 2])
{
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    return low_nibbles(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed));
}

/* 0x10 in byte j where bit j of the 4 little-endian bytes qh is set: Q5_0's
 * and Q5_1's fifth bits. Byte j takes byte j / 8 of qh, then its bit j % 8. */
static inline __m256i block_fifth_bits(const uint8_t qh[4])
{
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/* 0xff in each byte of bits where `bit` is set. */
static inline __m256i where_set(__m256i bits, int bit)
{
    const __m256i b = _mm256_set1_epi8((char)bit);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bits, b), b);
}

/* A signed vector of values: |q| for maddubs, q for the signs. */
static inline void put_signed(DecodedBlock *out, int j, __m256i q)
{
    out->q[j] = _mm256_sign_epi8(q, q);
    out->sign[j] = q;
}

/* The int16 scales of a 32-value step's two sub-blocks of 16: the first
 * for the pair sums of values 0..15 (lanes 0..7), the second for 16..31. */
static inline __m256i two_scales(int first, int second)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)second), _mm_set1_epi16((short)first));
}

/* The input's sum over a 32-value block, as 8 int32 partial sums. */
static __m256i block_input_sums(const int8_t *x)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)x)),
                             _mm256_set1_epi16(1));
}

/* The input's sums over the 8 sub-blocks of 32 of a super-block, one per
 * int32 lane, in order. */
static __m256i sub_block_input_sums(const int8_t *x)
{
    __m256i partial[8];
    for (int s = 0; s < 8; s++)
        partial[s] = block_input_sums(x + 32 * s);
    /* Pairwise sums within each 128-bit half: after three rounds, the low
     * half holds the 4 sums of sub-blocks 0..3's low halves, and so on. */
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(partial[0], partial[1]),
                                        _mm256_hadd_epi32(partial[2], partial[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(partial[4], partial[5]),
                                        _mm256_hadd_epi32(partial[6], partial[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/* The input's sums over the 16 sub-blocks of 16 of a super-block, as int16
 * (at most 16 x 127): sub-blocks 0, 2, ..., 14 in the low half, 1, 3, ...,
 * 15 in the high half (each 32-value step's two sub-blocks are its halves). */
static __m256i sixteen_input_sums(const int8_t *x)
{
    __m256i pairs[8];
    for (int j = 0; j < 8; j++)
        pairs[j] = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
    const __m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(pairs[0], pairs[1]), _mm256_hadd_epi16(pairs[2], pairs[3]));
    const __m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(pairs[4], pairs[5]), _mm256_hadd_epi16(pairs[6], pairs[7]));
    return _mm256_hadd_epi16(a, b);
}

static inline __attribute__((always_inline)) void q4_0_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ4_0 *b = (const BlockQ4_0 *)block;
    put_signed(out, 0, _mm256_sub_epi8(block_nibbles(b->qs), _mm256_set1_epi8(8)));
    out->scale[0] = _mm256_set1_epi16(1);
    out->d = _cvtsh_ss(b->d);
}

/* d * q + m: d times q . x, plus m times the input's sum. */
static inline __attribute__((always_inline)) void q4_1_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ4_1 *b = (const BlockQ4_1 *)block;
    out->q[0] = block_nibbles(b->qs);
    out->scale[0] = _mm256_set1_epi16(1);
    out->d = _cvtsh_ss(b->d), out->dmin = _cvtsh_ss(b->m);
}

static inline __attribute__((always_inline)) void q5_0_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ5_0 *b = (const BlockQ5_0 *)block;
    put_signed(out, 0, _mm256_sub_epi8(_mm256_or_si256(block_nibbles(b->qs), block_fifth_bits(b->qh)),
                                       _mm256_set1_epi8(16)));
    out->scale[0] = _mm256_set1_epi16(1);
    out->d = _cvtsh_ss(b->d);
}

static inline __attribute__((always_inline)) void q5_1_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ5_1 *b = (const BlockQ5_1 *)block;
    out->q[0] = _mm256_or_si256(block_nibbles(b->qs), block_fifth_bits(b->qh));
    out->scale[0] = _mm256_set1_epi16(1);
    out->d = _cvtsh_ss(b->d), out->dmin = _cvtsh_ss(b->m);
}

/* Q4_K's and Q5_K's 8 6-bit scales and 8 6-bit mins (quants.h's
 * k_scale_min), four bytes at a time: bytes 0..3 hold the low 6 bits of
 * scales 0..3 (and, in their top 2 bits, the high bits of scales 4..7),
 * bytes 4..7 those of the mins, and bytes 8..11 the low 4 bits of scales
 * 4..7 (low nibbles) and mins 4..7 (high nibbles). */
static inline void k_scales_mins(const uint8_t packed[12], uint8_t sc[8], uint8_t mn[8])
{
    uint32_t a, b, c;
    memcpy(&a, packed, 4), memcpy(&b, packed + 4, 4), memcpy(&c, packed + 8, 4);
    const uint32_t sc_low = a & 0x3f3f3f3f, mn_low = b & 0x3f3f3f3f;
    const uint32_t sc_high = (c & 0x0f0f0f0f) | (a >> 2 & 0x30303030);
    const uint32_t mn_high = (c >> 4 & 0x0f0f0f0f) | (b >> 2 & 0x30303030);
    memcpy(sc, &sc_low, 4), memcpy(sc + 4, &sc_high, 4);
    memcpy(mn, &mn_low, 4), memcpy(mn + 4, &mn_high, 4);
}

/* Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins. Value
 * 64h + 32k + l is nibble k of qs[32h + l], and for Q5_K has a fifth bit,
 * bit 2h + k of qh[l]. */
static inline __attribute__((always_inline)) void q4_k_like_decode(DecodedBlock *out, uint16_t d, uint16_t dmin,
                                                                   const uint8_t scales[12], const uint8_t *qs,
                                                                   const uint8_t *qh)
{
    uint8_t sc[8], mn[8];
    k_scales_mins(scales, sc, mn);
    const __m256i high_bits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    const __m256i sixteen = _mm256_set1_epi8(0x10);
    for (int h = 0; h < 4; h++) {
        const __m256i packed = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        out->q[2 * h] = low_nibbles(packed), out->q[2 * h + 1] = high_nibbles(packed);
        if (qh) {
            out->q[2 * h] = _mm256_or_si256(out->q[2 * h], _mm256_and_si256(where_set(high_bits, 1 << 2 * h), sixteen));
            out->q[2 * h + 1] =
                _mm256_or_si256(out->q[2 * h + 1], _mm256_and_si256(where_set(high_bits, 2 << 2 * h), sixteen));
        }
        out->scale[2 * h] = _mm256_set1_epi16(sc[2 * h]), out->scale[2 * h + 1] = _mm256_set1_epi16(sc[2 * h + 1]);
    }
    int64_t mins;
    memcpy(&mins, mn, sizeof mins);
    out->mins = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins));
    out->d = _cvtsh_ss(d), out->dmin = _cvtsh_ss(dmin);
}

static inline __attribute__((always_inline)) void q4_k_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ4_K *b = (const BlockQ4_K *)block;
    q4_k_like_decode(out, b->d, b->dmin, b->scales, b->qs, NULL);
}

static inline __attribute__((always_inline)) void q5_k_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ5_K *b = (const BlockQ5_K *)block;
    q4_k_like_decode(out, b->d, b->dmin, b->scales, b->qs, b->qh);
}

/* Q6_K: value 128h + 32k + l is (low | high << 4) - 32, low nibble k / 2 of
 * ql[64h + 32 (k % 2) + l], high bits 2k, 2k + 1 of qh[32h + l]; 16
 * sub-blocks of 16 with int8 scales. */
static inline __attribute__((always_inline)) void q6_k_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ6_K *b = (const BlockQ6_K *)block;
    const __m256i three = _mm256_set1_epi8(3), thirty_two = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        const __m256i low[4] = {low_nibbles(ql0), low_nibbles(ql1), high_nibbles(ql0), high_nibbles(ql1)};
        const __m256i high[4] = {_mm256_and_si256(qh, three), _mm256_and_si256(_mm256_srli_epi16(qh, 2), three),
                                 _mm256_and_si256(_mm256_srli_epi16(qh, 4), three),
                                 _mm256_and_si256(_mm256_srli_epi16(qh, 6), three)};
        for (int k = 0; k < 4; k++) {
            const int j = 4 * h + k, s = 2 * j;
            put_signed(out, j, _mm256_sub_epi8(_mm256_or_si256(low[k], _mm256_slli_epi16(high[k], 4)), thirty_two));
            out->scale[j] = two_scales(b->scales[s], b->scales[s + 1]);
        }
    }
    out->d = _cvtsh_ss(b->d);
}

/* The 2-bit values of Q2_K and Q3_K: value 128h + 32k + l is bits 2k,
 * 2k + 1 of qs[32h + l]; vector 4h + k. */
static inline void two_bit_values(__m256i q[8], const uint8_t qs[KBLOCK / 4])
{
    const __m256i three = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i packed = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        q[4 * h] = _mm256_and_si256(packed, three);
        q[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 2), three);
        q[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), three);
        q[4 * h + 3] = _mm256_and_si256(_mm256_srli_epi16(packed, 6), three);
    }
}

/* Q2_K: 16 sub-blocks of 16, 4-bit scale (low nibble) and min (high); the
 * mins as int16 in sixteen_input_sums' order (even sub-blocks, then odd). */
static inline __attribute__((always_inline)) void q2_k_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ2_K *b = (const BlockQ2_K *)block;
    two_bit_values(out->q, b->qs);
    for (int j = 0; j < 8; j++)
        out->scale[j] = two_scales(b->scales[2 * j] & 0xf, b->scales[2 * j + 1] & 0xf);
    const __m128i packed = _mm_loadu_si128((const __m128i *)b->scales);
    const __m128i mins = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f));
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    out->mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(mins, even_odd));
    out->d = _cvtsh_ss(b->d), out->dmin = _cvtsh_ss(b->dmin);
}

/* Q3_K's 16 6-bit scales, minus 32, four at a time (quants.h): the low 4
 * bits of scales 0..3 in the low nibbles of bytes 0..3, of 4..7 in those of
 * bytes 4..7, of 8..11 and 12..15 in the high nibbles of bytes 0..3 and
 * 4..7; the high 2 bits of scale s in bits 2 (s / 4) of byte 8 + s % 4. */
static inline void q3_k_scales(const uint8_t packed[12], int8_t sc[16])
{
    uint32_t a, b, c;
    memcpy(&a, packed, 4), memcpy(&b, packed + 4, 4), memcpy(&c, packed + 8, 4);
    const uint32_t nibbles = 0x0f0f0f0f, twos = 0x03030303;
    const uint32_t words[4] = {(a & nibbles) | (c & twos) << 4, (b & nibbles) | (c >> 2 & twos) << 4,
                               (a >> 4 & nibbles) | (c >> 4 & twos) << 4, (b >> 4 & nibbles) | (c >> 6 & twos) << 4};
    for (int w = 0; w < 4; w++)
        for (int i = 0; i < 4; i++)
            sc[4 * w + i] = (int8_t)((int)(words[w] >> 8 * i & 0xff) - 32);
}

/* Q3_K: q = the 2 low bits (as Q2_K's) - 4, + 4 where the high bit, bit
 * 4h + k of hmask[l], is set; 16 sub-blocks of 16 with signed scales. */
static inline __attribute__((always_inline)) void q3_k_decode(DecodedBlock *out, const unsigned char *block)
{
    const BlockQ3_K *b = (const BlockQ3_K *)block;
    int8_t sc[16];
    q3_k_scales(b->scales, sc);
    __m256i low[8];
    two_bit_values(low, b->qs);
    const __m256i four = _mm256_set1_epi8(4), hmask = _mm256_loadu_si256((const __m256i *)b->hmask);
    for (int j = 0; j < 8; j++) {
        const __m256i high = _mm256_and_si256(where_set(hmask, 1 << j), four);
        put_signed(out, j, _mm256_sub_epi8(_mm256_or_si256(low[j], high), four));
        out->scale[j] = two_scales(sc[2 * j], sc[2 * j + 1]);
    }
    out->d = _cvtsh_ss(b->d);
}

/* acc + a decoded block . x (the input's block, its scale xs; x_sums what
 * the type's InputSums made of it). */
static inline __attribute__((always_inline)) __m256 decoded_dot(const DecodedBlock *b, const int8_t *x,
                                                                __m256i x_sums, float xs, __m256 acc, BlockForm form)
{
    __m256i dots = _mm256_setzero_si256();
    for (int j = 0; j < form.vectors; j++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + 32 * j));
        if (form.is_signed)
            v = _mm256_sign_epi8(v, b->sign[j]);  /* maddubs multiplies unsigned by signed bytes */
        dots = _mm256_add_epi32(dots, _mm256_madd_epi16(_mm256_maddubs_epi16(b->q[j], v), b->scale[j]));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_set1_ps(b->d * xs), acc);
    switch (form.mins) {
    case PLUS_M:
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(x_sums), _mm256_set1_ps(b->dmin * xs), acc);
    case MINUS_MIN8:
        return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(b->mins, x_sums)),
                                _mm256_set1_ps(b->dmin * xs), acc);
    case MINUS_MIN16:
        return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(x_sums, b->mins)), _mm256_set1_ps(b->dmin * xs),
                                acc);
    default:
        return acc;
    }
}

/* One row of blocks times the input: a dot kernel. */
static inline __attribute__((always_inline)) float blocks_row_dot(const unsigned char *w, const int8_t *x,
                                                                  const float *xs, int cols, int block_values,
                                                                  size_t block_bytes, BlockDecode decode,
                                                                  InputSums input_sums, BlockForm form)
{
    __m256 acc = _mm256_setzero_ps();
    DecodedBlock b;
    for (int k = 0; k < cols / block_values; k++) {
        const int8_t *xk = x + (size_t)k * block_values;
        decode(&b, w + (size_t)k * block_bytes);
        acc = decoded_dot(&b, xk, input_sums ? input_sums(xk) : _mm256_setzero_si256(), xs[k], acc, form);
    }
    return horizontal_sum(acc);
}

#define CACHE_LINE 64

/* LANES rows side by side, w_stride bytes apart: a lanes kernel. */
static inline __attribute__((always_inline)) void blocks_rows_side_by_side(float *out, size_t out_stride,
                                                                           const unsigned char *w, size_t w_stride,
                                                                           const int8_t *x, const float *xs,
                                                                           int cols, int block_values,
                                                                           size_t block_bytes, BlockDecode decode,
                                                                           InputSums input_sums, BlockForm form)
{
    __m256 acc[LANES];
    for (int l = 0; l < LANES; l++)
        acc[l] = _mm256_setzero_ps();
    DecodedBlock b;
    const size_t row_bytes = (size_t)(cols / block_values) * block_bytes;
    for (int k = 0; k < cols / block_values; k++) {
        const int8_t *xk = x + (size_t)k * block_values;
        const __m256i sums = input_sums ? input_sums(xk) : _mm256_setzero_si256();
        for (int l = 0; l < LANES; l++) {
            /* The same block of the next row, which this thread's next step
             * reads: short rows end before the hardware's prefetch catches up. */
            const unsigned char *next = w + l * w_stride + row_bytes + (size_t)k * block_bytes;
            for (size_t line = 0; line < block_bytes; line += CACHE_LINE)
                _mm_prefetch((const char *)next + line, _MM_HINT_T0);
            decode(&b, w + l * w_stride + (size_t)k * block_bytes);
            acc[l] = decoded_dot(&b, xk, sums, xs[k], acc[l], form);
        }
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(acc[l]);
}

/* Rows [r0, r1) (at most ROW_TILE) of out (T, rows) = the batch's input
 * (quantized, left unpacked in scratch by the pack) @ W^T: per group of
 * GROUP_TOKENS tokens and block of the rows, the input's sums once, then
 * each row's block decoded once and multiplied with every token's. */
static inline __attribute__((always_inline)) void blocks_batch(float *out, const Matrix *W,
                                                               const MatmulScratch *scratch, int T, int r0, int r1,
                                                               int block_values, size_t block_bytes,
                                                               BlockDecode decode, InputSums input_sums,
                                                               BlockForm form)
{
    const int cols = W->cols, blocks = cols / block_values;
    const size_t row_bytes = (size_t)blocks * block_bytes;
    __m256 acc[ROW_TILE][GROUP_TOKENS];
    __m256i sums[GROUP_TOKENS];
    DecodedBlock b;
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int n = T - g0 < GROUP_TOKENS ? T - g0 : GROUP_TOKENS;
        for (int r = 0; r < r1 - r0; r++)
            for (int t = 0; t < n; t++)
                acc[r][t] = _mm256_setzero_ps();
        for (int k = 0; k < blocks; k++) {
            const int8_t *x = scratch->values + (size_t)g0 * cols + (size_t)k * block_values;
            const float *xs = scratch->scales + (size_t)g0 * blocks + k;
            for (int t = 0; t < n; t++)
                sums[t] = input_sums ? input_sums(x + (size_t)t * cols) : _mm256_setzero_si256();
            for (int r = 0; r < r1 - r0; r++) {
                decode(&b, (const unsigned char *)W->data + (size_t)(r0 + r) * row_bytes + (size_t)k * block_bytes);
                for (int t = 0; t < n; t++)
                    acc[r][t] = decoded_dot(&b, x + (size_t)t * cols, sums[t], xs[(size_t)t * blocks], acc[r][t], form);
            }
        }
        for (int t = 0; t < n; t++)
            for (int r = 0; r < r1 - r0; r++)
                out[(size_t)(g0 + t) * W->rows + r0 + r] = horizontal_sum(acc[r][t]);
    }
}

/* ---------------------------------------------------------------------------
 * A batch's attention, on panels */

/* attention_query_block for a block of queries side by side. */
static void attention_block_panels(float *out, size_t out_stride, const float *q, size_t q_stride, int n_queries,
                                   int first, const float *keys, const float *values, size_t kv_stride,
                                   int head_size, float scale, float *scratch)
{
    /* The block's queries side by side in a panel, and so are their
     * scores and weights: scores[i * 16 + t] for key i and query t. The
     * scores are the matmul's blocks with keys for weight rows; the
     * weighted sums are too, with the values' columns for weight rows. */
    enum { B = ATTENTION_BLOCK };
    const int n = first + n_queries;  /* keys the block's last query sees */
    float *q_panel = scratch, *sums = q_panel + (size_t)head_size * B, *scores = sums + (size_t)head_size * B;
    pack_panel(q_panel, q, q_stride, n_queries, B, head_size);
    for (int i = 0; i < n; i += PANEL_ROWS)
        panel_rows(scores + (size_t)i * B, B, keys + i * kv_stride, kv_stride, 1, n - i < PANEL_ROWS ? n - i : PANEL_ROWS,
                   q_panel, true, 0, head_size, false);
    /* Softmax down each query's column, over the keys it may see (key
     * first + t and those before it): the later keys get weight 0. Every
     * query sees the keys before the block's own, so only the block's
     * last B keys need the test. */
    float max[B], sum[B], inv_sum[B];
    for (int t = 0; t < B; t++)
        max[t] = -INFINITY, sum[t] = 0.0f;
    for (int i = 0; i < first; i++)
#pragma omp simd
        for (int t = 0; t < B; t++)
            max[t] = scores[i * B + t] > max[t] ? scores[i * B + t] : max[t];
    for (int i = first; i < n; i++)
#pragma omp simd
        for (int t = 0; t < B; t++)
            max[t] = i <= first + t && scores[i * B + t] > max[t] ? scores[i * B + t] : max[t];
    for (int i = 0; i < first; i++)
#pragma omp simd
        for (int t = 0; t < B; t++) {
            float p = fast_exp((scores[i * B + t] - max[t]) * scale);
            scores[i * B + t] = p;
            sum[t] += p;
        }
    for (int i = first; i < n; i++)
#pragma omp simd
        for (int t = 0; t < B; t++) {
            float p = i <= first + t ? fast_exp((scores[i * B + t] - max[t]) * scale) : 0.0f;
            scores[i * B + t] = p;
            sum[t] += p;
        }
    panel_rows(sums, B, values, 1, kv_stride, head_size, scores, true, 0, n, false);
    /* Each query's sums over its weights' total, and back from the
     * panel's columns to the queries' rows. */
    for (int t = 0; t < B; t++)
        inv_sum[t] = 1.0f / sum[t];
    for (int d = 0; d < head_size; d++)
#pragma omp simd
        for (int t = 0; t < B; t++)
            sums[d * B + t] *= inv_sum[t];
    unpack_panel(out, out_stride, sums, n_queries, B, head_size);
}

/* ---------------------------------------------------------------------------
 * The set: each type's kernels in the form kernel_set.h gives them */

/* Where row r of W starts, for each layout: computed in place, since a
 * unit of lanes is short enough that a lookup in the type table shows. */
static const float *f32_row(const Matrix *W, int r)
{
    return (const float *)W->data + (size_t)r * W->cols;
}

static const uint16_t *half_row(const Matrix *W, int r)
{
    return (const uint16_t *)W->data + (size_t)r * W->cols;
}

static const int8_t *q8_row(const Matrix *W, int r)
{
    return (const int8_t *)W->data + (size_t)r * W->cols;
}

static size_t q8_0_row_bytes(const Matrix *W)
{
    return (size_t)W->cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
}

static float f32_dot(const Matrix *W, int row, const MatmulInput *x)
{
    return f32_row_dot(f32_row(W, row), x->floats, W->cols);
}

static void f32_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows, const MatmulInput *x)
{
    float_lanes(out, out_stride, f32_row(W, first), (size_t)lane_rows * W->cols, x->floats, W->cols, FLOAT_F32);
}

static float f16_dot(const Matrix *W, int row, const MatmulInput *x)
{
    return half_row_dot(half_row(W, row), x->floats, W->cols, FLOAT_F16);
}

static void f16_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows, const MatmulInput *x)
{
    float_lanes(out, out_stride, half_row(W, first), (size_t)lane_rows * W->cols, x->floats, W->cols, FLOAT_F16);
}

static float bf16_dot(const Matrix *W, int row, const MatmulInput *x)
{
    return half_row_dot(half_row(W, row), x->floats, W->cols, FLOAT_BF16);
}

static void bf16_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows, const MatmulInput *x)
{
    float_lanes(out, out_stride, half_row(W, first), (size_t)lane_rows * W->cols, x->floats, W->cols, FLOAT_BF16);
}

static float q8_dot(const Matrix *W, int row, const MatmulInput *x)
{
    const int groups = W->cols / W->group_size;
    return q8_row_dot(q8_row(W, row), W->scales + (size_t)row * groups, x->values, x->scales, W->cols,
                      W->group_size);
}

static void q8_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows, const MatmulInput *x)
{
    const int groups = W->cols / W->group_size;
    q8_rows_side_by_side(out, out_stride, q8_row(W, first), (size_t)lane_rows * W->cols,
                         W->scales + (size_t)first * groups, (size_t)lane_rows * groups, x->values, x->scales,
                         W->cols, W->group_size);
}

static void q8_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    int8_panels(out, W, scratch, T, r0, r1, false);
}

static float q8_0_dot(const Matrix *W, int row, const MatmulInput *x)
{
    return q8_0_row_dot((const unsigned char *)W->data + (size_t)row * q8_0_row_bytes(W), x->values, x->scales,
                        W->cols);
}

static void q8_0_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows,
                       const MatmulInput *x)
{
    const size_t row_bytes = q8_0_row_bytes(W);
    q8_0_rows_side_by_side(out, out_stride, (const unsigned char *)W->data + (size_t)first * row_bytes,
                           (size_t)lane_rows * row_bytes, x->values, x->scales, W->cols);
}

static void q8_0_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    int8_panels(out, W, scratch, T, r0, r1, true);
}

/* ggml's block types: a dot, a lanes and a batch kernel each, from the
 * type's decoding, input sums and form. */
#define BLOCK_KERNELS(name, Block, per_block, input_sums, ...)                                                 \
    static const BlockForm name##_form = {__VA_ARGS__};                                                       \
    static float name##_dot(const Matrix *W, int row, const MatmulInput *x)                                   \
    {                                                                                                          \
        const size_t row_bytes = (size_t)W->cols / (per_block) * sizeof(Block);                                \
        return blocks_row_dot((const unsigned char *)W->data + (size_t)row * row_bytes, x->values, x->scales,  \
                              W->cols, per_block, sizeof(Block), name##_decode, input_sums, name##_form);      \
    }                                                                                                          \
    static void name##_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows,         \
                             const MatmulInput *x)                                                             \
    {                                                                                                          \
        const size_t row_bytes = (size_t)W->cols / (per_block) * sizeof(Block);                                \
        blocks_rows_side_by_side(out, out_stride, (const unsigned char *)W->data + (size_t)first * row_bytes,  \
                                 (size_t)lane_rows * row_bytes, x->values, x->scales, W->cols, per_block,      \
                                 sizeof(Block), name##_decode, input_sums, name##_form);                       \
    }                                                                                                          \
    static void name##_batch(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1) \
    {                                                                                                          \
        blocks_batch(out, W, scratch, T, r0, r1, per_block, sizeof(Block), name##_decode, input_sums,          \
                     name##_form);                                                                             \
    }

BLOCK_KERNELS(q4_0, BlockQ4_0, QBLOCK, NULL, 1, true, NO_MIN)
BLOCK_KERNELS(q4_1, BlockQ4_1, QBLOCK, block_input_sums, 1, false, PLUS_M)
BLOCK_KERNELS(q5_0, BlockQ5_0, QBLOCK, NULL, 1, true, NO_MIN)
BLOCK_KERNELS(q5_1, BlockQ5_1, QBLOCK, block_input_sums, 1, false, PLUS_M)
BLOCK_KERNELS(q2_k, BlockQ2_K, KBLOCK, sixteen_input_sums, 8, false, MINUS_MIN16)
BLOCK_KERNELS(q3_k, BlockQ3_K, KBLOCK, NULL, 8, true, NO_MIN)
BLOCK_KERNELS(q4_k, BlockQ4_K, KBLOCK, sub_block_input_sums, 8, false, MINUS_MIN8)
BLOCK_KERNELS(q5_k, BlockQ5_K, KBLOCK, sub_block_input_sums, 8, false, MINUS_MIN8)
BLOCK_KERNELS(q6_k, BlockQ6_K, KBLOCK, NULL, 8, true, NO_MIN)

/* Steps: the vector loads take 8 floats or 32 int8 values at a time. */
const KernelSet kernels_avx2 = {
    .name = "avx2",
    .simpler = &kernels_ref,
    .types = {
        [WEIGHT_F32] = {.dot = f32_dot, .lanes = f32_lanes, .lanes_step = 8, .panels = f32_panels},
        [WEIGHT_Q8] = {.dot = q8_dot, .dot_step = 32, .lanes = q8_lanes, .lanes_step = 32, .panels = q8_panels,
                       .panels_step = 32},
        [WEIGHT_F16] = {.dot = f16_dot, .lanes = f16_lanes, .lanes_step = 8, .panels = f16_panels,
                        .panels_step = 8},
        [WEIGHT_Q8_0] = {.dot = q8_0_dot, .lanes = q8_0_lanes, .panels = q8_0_panels},
        [WEIGHT_Q4_0] = {.dot = q4_0_dot, .lanes = q4_0_lanes, .panels = q4_0_batch},
        [WEIGHT_Q4_1] = {.dot = q4_1_dot, .lanes = q4_1_lanes, .panels = q4_1_batch},
        [WEIGHT_Q5_0] = {.dot = q5_0_dot, .lanes = q5_0_lanes, .panels = q5_0_batch},
        [WEIGHT_Q5_1] = {.dot = q5_1_dot, .lanes = q5_1_lanes, .panels = q5_1_batch},
        [WEIGHT_Q2_K] = {.dot = q2_k_dot, .lanes = q2_k_lanes, .panels = q2_k_batch},
        [WEIGHT_Q3_K] = {.dot = q3_k_dot, .lanes = q3_k_lanes, .panels = q3_k_batch},
        [WEIGHT_Q4_K] = {.dot = q4_k_dot, .lanes = q4_k_lanes, .panels = q4_k_batch},
        [WEIGHT_Q5_K] = {.dot = q5_k_dot, .lanes = q5_k_lanes, .panels = q5_k_batch},
        [WEIGHT_Q6_K] = {.dot = q6_k_dot, .lanes = q6_k_lanes, .panels = q6_k_batch},
        [WEIGHT_BF16] = {.dot = bf16_dot, .lanes = bf16_lanes, .lanes_step = 8, .panels = bf16_panels,
                         .panels_step = 8},
    },
    .pack_panel = pack_batch_panel,
    .attention_query_block = attention_block_panels,
};
#endif
