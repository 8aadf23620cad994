/* kernels.c - the numeric building blocks: matmul, attention's scores and
 * weighted sums, RMSNorm, softmax, RoPE, SwiGLU. Loops are written so that
 * the compiler vectorizes them (`#pragma omp simd` allows it to reorder a
 * float sum); the matmul's blocks and lanes, and the attention blocks, are
 * AVX2 intrinsics where the build has them, and matmul spreads its rows over
 * threads with OpenMP. */
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Tests set this to run the plain loops instead of the vector intrinsics. */
static bool use_plain_kernels = false;


void kernels_use_plain(bool plain)
{
    use_plain_kernels = plain;
}

float dot_product(const float *a, const float *b, int n)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

/* A prompt batch's float32 matmul hands the threads tiles of ROW_TILE weight
 * rows. The batch's inputs are first packed into panels of 16 tokens
 * (pack_batch_panel), and a tile is computed in blocks of 6 rows x one panel
 * (panel_block): each step broadcasts one weight of each row and multiplies
 * it into the panel's column of 16 inputs. 2 loads and 6 broadcasts feed 12
 * multiply-adds into 12 independent sums (more than the 8 that keep both
 * multiply-add units busy through their latency), and each sum is a whole
 * output, with no horizontal sums at the end. (One core, its weights in the
 * L3 cache: about 96% of the multiply-add peak; the blocks of 3 rows x 4
 * tokens of dot products used before, 7 loads per 12 multiply-adds and 12
 * horizontal sums at the end, about 88%.)
 * Decoding (T = 1) is paced by memory, not arithmetic, and memory is fastest
 * read as a few long sequential streams, which the hardware prefetchers
 * follow far ahead. So each matrix is cut into LANES lanes of consecutive
 * rows, and one step computes the next row of every lane (tile_lanes): a run
 * of steps reads LANES streams side by side. 110M decoding, two threads:
 * 17% faster than tiles of 8 adjacent rows; 6 lanes about 2% faster than 4
 * or 8, 12 and 16 slower (their sums no longer fit in registers), 2 lanes
 * 13% slower; and a step that reads its rows one after another, not side by
 * side, 35% slower. The other weight types are read the same way: int8
 * (q8_lanes) 14% faster than row after row in tiles, GGUF Q8_0 (q8_0_lanes)
 * 58% faster on the 1.1B shape; half precision has f16_lanes. */
#define ROW_TILE 12                      /* a prompt batch's rows per tile, the unit the threads share */
#define PANEL_TOKENS MATMUL_PANEL_TOKENS /* tokens per panel */
#define PANEL_ROWS 6                     /* weight rows per block of panel_block */
#define PANEL_CHUNK 1024                 /* columns of a block's rows taken at a time */
#define LANES 6                          /* decoding's streams per thread, tile_lanes' rows */
#define DECODE_RUN 4                     /* decoding's steps of lanes a thread takes at a time */
_Static_assert(ROW_TILE % PANEL_ROWS == 0, "a tile is whole blocks");

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static float horizontal_sum(__m256 v)
{
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}

/* 8 weights from w[i], as floats: float32, or half precision (F16C). */
static inline __attribute__((always_inline)) __m256 load_8_weights(const void *w, size_t i, bool half)
{
#ifdef __F16C__
    if (half)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
#endif
    return _mm256_loadu_ps((const float *)w + i);
}

/* out[l * out_stride] = w row l . x, for l < LANES, the rows w_stride
 * values apart; cols a multiple of 8. Float32 weights, or half precision:
 * each caller passes a constant `half`, and gets a loop of its own. */
static inline __attribute__((always_inline)) void float_lanes(float *out, size_t out_stride, const void *w,
                                                              size_t w_stride, const float *x, int cols, bool half)
{
    __m256 sum[LANES];
    for (int l = 0; l < LANES; l++)
        sum[l] = _mm256_setzero_ps();
    for (int i = 0; i < cols; i += 8) {
        __m256 y = _mm256_loadu_ps(x + i);
        for (int l = 0; l < LANES; l++)
            sum[l] = _mm256_fmadd_ps(load_8_weights(w, l * w_stride + i, half), y, sum[l]);
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(sum[l]);
}

static void tile_lanes(float *out, size_t out_stride, const float *w, size_t w_stride, const float *x, int cols)
{
    float_lanes(out, out_stride, w, w_stride, x, cols, false);
}

/* One float32 row: decoding's rows past the last whole lane. */
static float dot_row(const float *w, const float *x, int n)
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
static void pack_panel(float *panel, const float *in, size_t in_stride, int n, int width, int cols)
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
 * 4 per token. The tile's outputs are rows apart and seldom in the cache,
 * and every store waits for its line: with the last 4 stored one by one,
 * these stores took 9% of a 110M prompt's f32_panels cycles; now 5-6%. */
static void unpack_panel(float *out, size_t out_stride, const float *panel, int n, int width, int cols)
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
 * Half-precision weights (`half`) are first converted, the tile's rows in
 * the chunk at a time, into `converted` (ROW_TILE, PANEL_CHUNK), which the
 * blocks then read: once per tile when the rows fit one chunk. */
static inline __attribute__((always_inline)) void float_panels(float *out, const float *panels, const void *w,
                                                               bool half, float converted[][PANEL_CHUNK], int rows,
                                                               int cols, int T, int r0, int r1)
{
    float sums[ROW_TILE][GROUP_TOKENS];  /* (rows of the tile, tokens of the group) */
    const int n_chunks = (cols + PANEL_CHUNK - 1) / PANEL_CHUNK;
    const int chunk = ((cols + n_chunks - 1) / n_chunks + 7) / 8 * 8;  /* whole vectors of 8 */
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int g1 = T - g0 < GROUP_TOKENS ? T : g0 + GROUP_TOKENS;
        for (int k0 = 0; k0 < cols; k0 += chunk) {
            const int k1 = cols - k0 < chunk ? cols : k0 + chunk;
            if (half && (n_chunks > 1 || g0 == 0))
                for (int r = r0; r < r1; r++)
                    for (int k = k0; k < k1; k += 8)  /* cols is a multiple of 8 (choose_kernel) */
                        _mm256_storeu_ps(converted[r - r0] + (k - k0), load_8_weights(w, (size_t)r * cols + k, true));
            for (int r = r0; r < r1; r += PANEL_ROWS) {
                const int n_rows = r1 - r < PANEL_ROWS ? r1 - r : PANEL_ROWS;
                for (int t0 = g0; t0 < g1; t0 += PANEL_TOKENS) {
                    const int width = panel_width(T - t0);
                    const bool whole = width == PANEL_TOKENS;
                    const float *panel = panels + (size_t)t0 * cols;
                    float *s = sums[r - r0] + (t0 - g0);
                    if (half)  /* the chunk's columns start at 0 in the buffer, at k0 in the panel */
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

static void f32_panels(float *out, const float *panels, const float *w, int rows, int cols, int T, int r0, int r1)
{
    float_panels(out, panels, w, false, NULL, rows, cols, T, r0, r1);
}
#ifdef __F16C__
static void f16_panels(float *out, const float *panels, const uint16_t *w, int rows, int cols, int T, int r0, int r1)
{
    float converted[ROW_TILE][PANEL_CHUNK];  /* 48 KB */
    float_panels(out, panels, w, true, converted, rows, cols, T, r0, r1);
}
#endif
#define HAVE_AVX2_TILES 1
#ifdef __F16C__
#define HAVE_F16_PANELS 1
#else
#define HAVE_F16_PANELS 0
#endif
#else
#define dot_row dot_product
#endif

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

/* One row of a Q8 matmul: per group, an integer dot product scaled by both
 * groups' scales. The plain version, for any group size. */
static float dot_q8_plain(const int8_t *w, const float *ws, const int8_t *x, const float *xs, int cols, int gs)
{
    float sum = 0.0f;
    for (int g = 0; g < cols / gs; g++) {
        int32_t group_sum = 0;
        for (int i = 0; i < gs; i++)
            group_sum += (int32_t)w[g * gs + i] * (int32_t)x[g * gs + i];
        sum += (float)group_sum * ws[g] * xs[g];
    }
    return sum;
}

#if defined(__AVX2__) && defined(__FMA__)
/* The same with AVX2, for group sizes that are multiples of 32: 32 int8
 * products at a time summed into 8 int32 lanes, each group's lanes scaled
 * into a float accumulator, and one horizontal sum per row. */
static float dot_q8_avx2(const int8_t *w, const float *ws, const int8_t *x, const float *xs, int cols, int gs)
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
static void q8_lanes(float *out, size_t out_stride, const int8_t *w, size_t w_stride, const float *ws,
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
#endif

/* Bytes of one Q8_0 row of cols values. */
static size_t q8_0_row_bytes(int cols)
{
    return (size_t)cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
}

/* GGUF's Q8_0 row: the same integer dot products, with each block's scale
 * stored in half precision in front of its 32 values. */
static float dot_q8_0_plain(const unsigned char *w, const int8_t *x, const float *xs, int cols)
{
    float sum = 0.0f;
    for (int b = 0; b < cols / Q8_0_BLOCK; b++, w += Q8_0_BLOCK_BYTES) {
        const int8_t *q = (const int8_t *)(w + 2);
        int32_t block_sum = 0;
        for (int i = 0; i < Q8_0_BLOCK; i++)
            block_sum += (int32_t)q[i] * (int32_t)x[b * Q8_0_BLOCK + i];
        sum += (float)block_sum * fp16_to_fp32((uint16_t)(w[0] | w[1] << 8)) * xs[b];
    }
    return sum;
}

/* A half-precision row times a float vector. */
static float dot_f16_plain(const uint16_t *w, const float *x, int cols)
{
    float sum = 0.0f;
    for (int i = 0; i < cols; i++)
        sum += fp16_to_fp32(w[i]) * x[i];
    return sum;
}

#if defined(__AVX2__) && defined(__FMA__)
/* A Q8_0 block's scale times the input group's. */
static float q8_0_scale(const unsigned char *block, float input_scale)
{
#ifdef __F16C__
    return _cvtsh_ss((unsigned short)(block[0] | block[1] << 8)) * input_scale;  /* one instruction */
#else
    return fp16_to_fp32((uint16_t)(block[0] | block[1] << 8)) * input_scale;
#endif
}

static float dot_q8_0_avx2(const unsigned char *w, const int8_t *x, const float *xs, int cols)
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
static void q8_0_lanes(float *out, size_t out_stride, const unsigned char *w, size_t w_stride, const int8_t *x,
                       const float *xs, int cols)
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
 * dot_q8_avx2 does); each group's integer sums then go to float, times the
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
static void q8_panels(float *out, const MatmulScratch *xq, const Matrix *W, int T, int r0, int r1)
{
    const bool q8_0 = W->type == WEIGHT_Q8_0;
    const int rows = W->rows, cols = W->cols, gs = q8_0 ? Q8_0_BLOCK : W->group_size, groups = cols / gs;
    const size_t row_bytes = q8_0 ? q8_0_row_bytes(cols) : (size_t)cols;
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
    quantize_q8(values, scales, in + (size_t)t0 * cols, (size_t)n * cols, gs);
    /* 4 values = 4 bytes = one float's worth: pack_panel moves them whole */
    pack_panel(scratch->panels + (size_t)t0 * cols / 4, (const float *)(const void *)values, cols / 4, n, width,
               cols / 4);
    pack_panel(q8_scale_panels(scratch->panels, T, cols) + (size_t)t0 * groups, scales, groups, n, width, groups);
}
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
static float dot_f16_avx2(const uint16_t *w, const float *x, int cols)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < cols; i++)
        sum += fp16_to_fp32(w[i]) * x[i];
    return sum;
}

static void f16_lanes(float *out, size_t out_stride, const uint16_t *w, size_t w_stride, const float *x, int cols)
{
    float_lanes(out, out_stride, w, w_stride, x, cols, true);
}
#define HAVE_F16_LANES 1
#endif

/* Quantizes the T input rows in groups of gs (one scale each) for an int8 matmul. */
static void quantize_input(MatmulScratch *xq, const float *in, int T, int cols, int gs)
{
    for (int t = 0; t < T; t++)
        quantize_q8(xq->values + (size_t)t * cols, xq->scales + (size_t)t * (cols / gs), in + (size_t)t * cols,
                    cols, gs);
}

/* Rows [r0, r1) of out (T, W.rows) = in (T, W.cols) @ W^T, at most a tile of
 * them. xq holds `in` rearranged: packed into panels when `packed`, else
 * quantized when W is an int8 type. */
static void matmul_rows(float *out, const float *in, const Matrix *W, int T, const MatmulScratch *xq, bool packed,
                        int r0, int r1)
{
    const int rows = W->rows, cols = W->cols;
    switch (W->type) {
    case WEIGHT_F32: {
        const float *w = W->data;
#ifdef HAVE_AVX2_TILES
        if (packed) {
            f32_panels(out, xq->panels, w, rows, cols, T, r0, r1);
            break;
        }
#endif
        for (int t = 0; t < T; t++)  /* plain loops, for the tests and for odd sizes */
            for (int r = r0; r < r1; r++)
                out[(size_t)t * rows + r] = use_plain_kernels
                                                ? dot_product(w + (size_t)r * cols, in + (size_t)t * cols, cols)
                                                : dot_row(w + (size_t)r * cols, in + (size_t)t * cols, cols);
        break;
    }
    case WEIGHT_Q8: {
#ifdef HAVE_AVX2_TILES
        if (packed) {
            q8_panels(out, xq, W, T, r0, r1);
            break;
        }
#endif
        const int gs = W->group_size, groups = cols / gs;
        float (*dot)(const int8_t *, const float *, const int8_t *, const float *, int, int) = dot_q8_plain;
#if defined(__AVX2__) && defined(__FMA__)
        if (gs % 32 == 0 && !use_plain_kernels)
            dot = dot_q8_avx2;
#endif
        for (int r = r0; r < r1; r++)
            for (int t = 0; t < T; t++)
                out[(size_t)t * rows + r] = dot((const int8_t *)W->data + (size_t)r * cols, W->scales + (size_t)r * groups,
                                                xq->values + (size_t)t * cols, xq->scales + (size_t)t * groups, cols, gs);
        break;
    }
    case WEIGHT_Q8_0: {
#ifdef HAVE_AVX2_TILES
        if (packed) {
            q8_panels(out, xq, W, T, r0, r1);
            break;
        }
#endif
        const size_t row_bytes = q8_0_row_bytes(cols);
        float (*dot)(const unsigned char *, const int8_t *, const float *, int) = dot_q8_0_plain;
#if defined(__AVX2__) && defined(__FMA__)
        if (!use_plain_kernels)
            dot = dot_q8_0_avx2;
#endif
        for (int r = r0; r < r1; r++)
            for (int t = 0; t < T; t++)
                out[(size_t)t * rows + r] = dot((const unsigned char *)W->data + (size_t)r * row_bytes,
                                                xq->values + (size_t)t * cols,
                                                xq->scales + (size_t)t * (cols / Q8_0_BLOCK), cols);
        break;
    }
    case WEIGHT_F16: {
#if defined(HAVE_AVX2_TILES) && HAVE_F16_PANELS
        if (packed) {
            f16_panels(out, xq->panels, W->data, rows, cols, T, r0, r1);
            break;
        }
#endif
        float (*dot)(const uint16_t *, const float *, int) = dot_f16_plain;
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
        if (!use_plain_kernels)
            dot = dot_f16_avx2;
#endif
        for (int r = r0; r < r1; r++)
            for (int t = 0; t < T; t++)
                out[(size_t)t * rows + r] = dot((const uint16_t *)W->data + (size_t)r * cols, in + (size_t)t * cols, cols);
        break;
    }
    }
}

/* Values per scale the input of W must be quantized with; 0 for float weights. */
static int input_group_size(const Matrix *W)
{
    return W->type == WEIGHT_Q8 ? W->group_size : W->type == WEIGHT_Q8_0 ? Q8_0_BLOCK : 0;
}

/* How a matmul's rows are computed: decoding, in lanes; a batch, in tiles
 * of ROW_TILE rows from the input's panels; the plain loops (and the odd
 * sizes the vector kernels do not take), in tiles of ROW_TILE rows, row by
 * row. */
typedef enum { BY_TILES, BY_LANES, BY_PANELS } MatmulKernel;

/* Decoding cuts a matrix into LANES lanes of rows / LANES rows each (when
 * its weight type has a lanes kernel). Step k computes row k of every lane;
 * the rows past the last whole lane take a step each. */
static MatmulKernel choose_kernel(const Matrix *W, int T)
{
    if (use_plain_kernels)
        return BY_TILES;
#ifdef HAVE_AVX2_TILES
    if (T > 1)
        return W->type == WEIGHT_F32 || (W->type == WEIGHT_Q8 && W->group_size % 32 == 0) ||
                       W->type == WEIGHT_Q8_0 || (HAVE_F16_PANELS && W->type == WEIGHT_F16 && W->cols % 8 == 0)
                   ? BY_PANELS
                   : BY_TILES;
#endif
    switch (W->type) {
#ifdef HAVE_AVX2_TILES
    case WEIGHT_F32:
        return W->cols % 8 == 0 ? BY_LANES : BY_TILES;
    case WEIGHT_Q8:
        return W->group_size % 32 == 0 ? BY_LANES : BY_TILES;
    case WEIGHT_Q8_0:
        return BY_LANES;
#endif
#ifdef HAVE_F16_LANES
    case WEIGHT_F16:
        return W->cols % 8 == 0 ? BY_LANES : BY_TILES;
#endif
    default:
        return BY_TILES;
    }
}

static int work_units(const Matrix *W, MatmulKernel kernel)
{
    return kernel == BY_LANES ? W->rows / LANES + W->rows % LANES : (W->rows + ROW_TILE - 1) / ROW_TILE;
}

/* Unit k of out (T, W.rows) = in (T, W.cols) @ W^T: a step of lanes, or a tile. */
static void matmul_unit(float *out, const float *in, const Matrix *W, int T, const MatmulScratch *xq,
                        MatmulKernel kernel, int k)
{
    if (kernel != BY_LANES) {
        const int r0 = k * ROW_TILE, r1 = r0 + ROW_TILE < W->rows ? r0 + ROW_TILE : W->rows;
        matmul_rows(out, in, W, T, xq, kernel == BY_PANELS, r0, r1);
        return;
    }
    const int lane_rows = W->rows / LANES;
    if (k >= lane_rows) {  /* a row past the last whole lane */
        const int r = LANES * lane_rows + (k - lane_rows);
        matmul_rows(out, in, W, T, xq, false, r, r + 1);
        return;
    }
#ifdef HAVE_AVX2_TILES  /* without it, choose_kernel() never gives lanes */
    const size_t lane_values = (size_t)lane_rows * W->cols, first = (size_t)k * W->cols;
    switch (W->type) {
    case WEIGHT_F32:
        tile_lanes(out + k, lane_rows, (const float *)W->data + first, lane_values, in, W->cols);
        break;
    case WEIGHT_Q8: {
        const int groups = W->cols / W->group_size;
        q8_lanes(out + k, lane_rows, (const int8_t *)W->data + first, lane_values, W->scales + (size_t)k * groups,
                 (size_t)lane_rows * groups, xq->values, xq->scales, W->cols, W->group_size);
        break;
    }
    case WEIGHT_Q8_0: {
        const size_t row_bytes = q8_0_row_bytes(W->cols);
        q8_0_lanes(out + k, lane_rows, (const unsigned char *)W->data + k * row_bytes, lane_rows * row_bytes,
                   xq->values, xq->scales, W->cols);
        break;
    }
#ifdef HAVE_F16_LANES
    case WEIGHT_F16:
        f16_lanes(out + k, lane_rows, (const uint16_t *)W->data + first, lane_values, in, W->cols);
        break;
#endif
    default:
        break;  /* choose_kernel() gives no lanes for the rest */
    }
#endif
}

/* for_each_unit's bookkeeping: each thread's share of the units not yet
 * taken, [front, back) packed in one word so that its owner (taking from
 * the front) and a thief (taking from the back) change it atomically. */
#define MAX_SHARE_THREADS 64
typedef struct {
    _Alignas(64) _Atomic uint64_t left;  /* front << 32 | back; a cache line per thread */
} UnitShare;

static uint64_t unit_span(uint32_t front, uint32_t back)
{
    return (uint64_t)front << 32 | back;
}

/* Units [*first, *end) for thread `me` to do next: the front `run` of its
 * own share, else the back half of the largest share left, which becomes
 * its own. false when every share is empty. A unit is handed out once: a
 * share's word only changes by compare-and-swap, except when a thief stores
 * the half it took into its own share, which is empty and so untouched by
 * others. */
static bool take_units(UnitShare shares[], int me, int n_threads, int run, int *first, int *end)
{
    for (;;) {
        uint64_t mine = atomic_load(&shares[me].left);
        const uint32_t front = (uint32_t)(mine >> 32), back = (uint32_t)mine;
        if (front < back) {
            const uint32_t to = back - front > (uint32_t)run ? front + (uint32_t)run : back;
            if (atomic_compare_exchange_weak(&shares[me].left, &mine, unit_span(to, back))) {
                *first = (int)front, *end = (int)to;
                return true;
            }
            continue;  /* a thief took some meanwhile */
        }
        int victim = -1;
        uint64_t seen = 0;
        uint32_t most = 0;
        for (int t = 0; t < n_threads; t++) {
            const uint64_t span = atomic_load(&shares[t].left);
            const uint32_t f = (uint32_t)(span >> 32), b = (uint32_t)span;
            if (b > f && b - f > most)
                most = b - f, victim = t, seen = span;
        }
        if (victim < 0)
            return false;
        const uint32_t f = (uint32_t)(seen >> 32), b = (uint32_t)seen, split = b - (b - f + 1) / 2;
        if (atomic_compare_exchange_strong(&shares[victim].left, &seen, unit_span(f, split)))
            atomic_store(&shares[me].left, unit_span(split, b));
    }
}

/* The threads for_each_unit runs on: OpenMP's, at most MAX_SHARE_THREADS.
 * (Defined without OpenMP too: clang reads the pragma's clauses even then.) */
static inline int share_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads() < MAX_SHARE_THREADS ? omp_get_max_threads() : MAX_SHARE_THREADS;
#else
    return 1;
#endif
}

void for_each_unit(int n, int run, bool parallel, UnitFunction fn, void *context)
{
    UnitShare shares[MAX_SHARE_THREADS];
#pragma omp parallel num_threads(share_threads()) if (parallel)
    {
        int me = 0, n_threads = 1;
#ifdef _OPENMP
        me = omp_get_thread_num();
        n_threads = omp_get_num_threads();
#endif
        atomic_store(&shares[me].left, unit_span((uint32_t)((int64_t)n * me / n_threads),
                                                 (uint32_t)((int64_t)n * (me + 1) / n_threads)));
#ifdef _OPENMP
#pragma omp barrier  /* every share set before any thread looks for one to take from */
#endif
        int first, end;
        while (take_units(shares, me, n_threads, run, &first, &end))
            for (int unit = first; unit < end; unit++)
                fn(context, unit);
    }
}

#define MAX_SHARED_INPUT 4  /* matrices one matmul_shared_input call can take */

/* matmul_shared_input's work: units [first_unit[i], first_unit[i + 1])
 * belong to matrix i, computed by kernel[i]. */
typedef struct {
    float *const *outs;
    const Matrix *const *Ws;
    const int *first_unit;
    const MatmulKernel *kernel;
    const float *in;
    int T;
    const MatmulScratch *scratch;
} SharedInputWork;

static void shared_input_unit(void *context, int unit)
{
    const SharedInputWork *w = context;
    int i = 0;
    while (unit >= w->first_unit[i + 1])
        i++;
    matmul_unit(w->outs[i], w->in, w->Ws[i], w->T, w->scratch, w->kernel[i], unit - w->first_unit[i]);
}

void matmul_shared_input(float *const outs[], const Matrix *const Ws[], int n, const float *in, int T,
                         MatmulScratch *scratch)
{
    const int cols = Ws[0]->cols, gs = input_group_size(Ws[0]);
    int first_unit[MAX_SHARED_INPUT + 1] = {0};  /* each matrix's first unit of work */
    MatmulKernel kernel[MAX_SHARED_INPUT];       /* how each matrix's units are computed */
    bool packed = false;
    size_t work = 0;
    for (int i = 0; i < n; i++) {
        if (i >= MAX_SHARED_INPUT || input_group_size(Ws[i]) != gs) {
            /* int8 matrices quantized differently: one at a time */
            for (int j = 0; j < n; j++)
                matmul(outs[j], in, Ws[j], T, scratch);
            return;
        }
        kernel[i] = choose_kernel(Ws[i], T);
        packed |= kernel[i] == BY_PANELS;
        first_unit[i + 1] = first_unit[i] + work_units(Ws[i], kernel[i]);
        work += (size_t)Ws[i]->rows * cols * T;
    }
    if (gs > 0 && !packed)
        quantize_input(scratch, in, T, cols, gs);
    /* The units of all the matrices are independent: split them over the
     * threads in one parallel region.
     * Decoding's go through for_each_unit: each thread streams through its
     * own half, and the first one done takes the back half of what the
     * other has left, and so on, DECODE_RUN steps at a time. Measured by
     * alternating tokens in one process (110M, 2 threads, 8 runs): a median
     * 6% faster per token (0-11%) than guided runs of at least 4 steps, with
     * runs of 2 or 8 no better. Guided's first run, half of the matrix,
     * left the other thread waiting whenever the core that took it was the
     * slower (this is a shared machine); guided was itself about 2% faster
     * than equal halves and 4% faster than dynamic runs of 16.
     * A batch's tiles are each many times longer than a decoding step, and
     * are handed out one at a time, so that the threads finish within one
     * tile of each other: a 110M prompt's matmuls 5% faster than guided
     * runs of at least 4 tiles, which left one thread idle for up to 4; and
     * the whole prompt 10% faster with tiles of 12 rows than of 24, 7%
     * faster than of 6. */
    const int n_units = first_unit[n];
    SharedInputWork units = {outs, Ws, first_unit, kernel, in, T, scratch};
    if (T == 1) {
        for_each_unit(n_units, DECODE_RUN, work >= PARALLEL_MIN_WORK, shared_input_unit, &units);
    } else {
#pragma omp parallel if (work >= PARALLEL_MIN_WORK)
        {
#ifdef HAVE_AVX2_TILES
            /* First the input's panels, shared out by tokens (an int8
             * batch's quantization with them: done serially, it took a
             * quarter of the int8 prompt's matmul time). */
            if (packed) {
#pragma omp for schedule(static)
                for (int t0 = 0; t0 < T; t0 += PANEL_TOKENS)
                    pack_batch_panel(scratch, in, T, cols, gs, t0);
            }
#endif
#pragma omp for schedule(dynamic, 1)
            for (int unit = 0; unit < n_units; unit++)
                shared_input_unit(&units, unit);
        }
    }
}

void matmul(float *out, const float *in, const Matrix *W, int T, MatmulScratch *scratch)
{
    matmul_shared_input(&out, &W, 1, in, T, scratch);
}

float fp16_to_fp32(uint16_t h)
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
    case WEIGHT_F16:
        for (int i = 0; i < W->cols; i++)
            out[i] = fp16_to_fp32(((const uint16_t *)W->data)[start + i]);
        break;
    case WEIGHT_Q8_0: {
        const unsigned char *block = (const unsigned char *)W->data + start / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
        for (int i = 0; i < W->cols; i += Q8_0_BLOCK, block += Q8_0_BLOCK_BYTES) {
            float scale = fp16_to_fp32((uint16_t)(block[0] | block[1] << 8));
            for (int j = 0; j < Q8_0_BLOCK; j++)
                out[i + j] = ((const int8_t *)(block + 2))[j] * scale;
        }
        break;
    }
    }
}

/* Decoding reads the KV cache from memory, so attention reads it as the
 * matmul reads weights: in 4 lanes of n / 4 positions, side by side, which
 * keeps 4 streams in flight (and 4 independent sums). Attention of 110M
 * decoding at 512 positions: 20% faster than 4 adjacent positions at a
 * time; 8 lanes slower than 4. */
#define ATTENTION_LANES 4

/* One query against the keys. */
static void query_scores(float *scores, const float *q, const float *keys, size_t key_stride, int n, int head_size)
{
    const int lane = n / ATTENTION_LANES;
    const size_t lane_stride = (size_t)lane * key_stride;
    for (int i = 0; i < lane; i++) {
        const float *k0 = keys + (size_t)i * key_stride, *k1 = k0 + lane_stride;
        const float *k2 = k1 + lane_stride, *k3 = k2 + lane_stride;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int j = 0; j < head_size; j++) {
            s0 += q[j] * k0[j];
            s1 += q[j] * k1[j];
            s2 += q[j] * k2[j];
            s3 += q[j] * k3[j];
        }
        scores[i] = s0, scores[i + lane] = s1, scores[i + 2 * lane] = s2, scores[i + 3 * lane] = s3;
    }
    for (int i = ATTENTION_LANES * lane; i < n; i++)
        scores[i] = dot_product(q, keys + (size_t)i * key_stride, head_size);
}

void attention_scores(float *scores, const float *q, const float *keys, size_t key_stride, int n, int head_size,
                      float scale)
{
    query_scores(scores, q, keys, key_stride, n, head_size);
    for (int i = 0; i < n; i++)
        scores[i] *= scale;
}

/* Four values per pass over out, one from each lane: a quarter of the loads
 * and stores of out. */
void attention_weighted_sum(float *restrict out, const float *weights, const float *values, size_t value_stride,
                            int n, int head_size)
{
    memset(out, 0, (size_t)head_size * sizeof(float));
    const int lane = n / ATTENTION_LANES;
    const size_t lane_stride = (size_t)lane * value_stride;
    for (int i = 0; i < lane; i++) {
        const float *v0 = values + (size_t)i * value_stride, *v1 = v0 + lane_stride;
        const float *v2 = v1 + lane_stride, *v3 = v2 + lane_stride;
        const float a0 = weights[i], a1 = weights[i + lane], a2 = weights[i + 2 * lane], a3 = weights[i + 3 * lane];
#pragma omp simd
        for (int j = 0; j < head_size; j++)
            out[j] += a0 * v0[j] + a1 * v1[j] + a2 * v2[j] + a3 * v3[j];
    }
    for (int i = ATTENTION_LANES * lane; i < n; i++) {
        const float *v = values + (size_t)i * value_stride;
#pragma omp simd
        for (int j = 0; j < head_size; j++)
            out[j] += weights[i] * v[j];
    }
}

/* The plain attention_query_block: query by query, each a row of scores, its
 * softmax and its weighted sum. */
static void attention_queries_one_by_one(float *out, size_t out_stride, const float *q, size_t q_stride,
                                         int n_queries, int first, const float *keys, const float *values,
                                         size_t kv_stride, int head_size, float scale, float *scratch)
{
    for (int t = 0; t < n_queries; t++) {
        const int n = first + t + 1;
        attention_scores(scratch, q + t * q_stride, keys, kv_stride, n, head_size, scale);
        softmax(scratch, n);
        attention_weighted_sum(out + t * out_stride, scratch, values, kv_stride, n, head_size);
    }
}

void attention_query_block(float *out, size_t out_stride, const float *q, size_t q_stride, int n_queries, int first,
                           const float *keys, const float *values, size_t kv_stride, int head_size, float scale,
                           float *scratch)
{
#ifdef HAVE_AVX2_TILES
    if (!use_plain_kernels) {
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
        return;
    }
#endif
    attention_queries_one_by_one(out, out_stride, q, q_stride, n_queries, first, keys, values, kv_stride, head_size,
                                 scale, scratch);
}

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    float sum_squares = dot_product(x, x, n);
    float scale = 1.0f / sqrtf(sum_squares / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = weight[i] * (scale * x[i]);
}

/* e^x = 2^n * e^r, with n = round(x / ln 2) and |r| <= ln(2) / 2, where a
 * degree-6 Taylor polynomial is within 2e-7 (relative) of e^r. Unlike libm's
 * expf, it is plain arithmetic the compiler can vectorize: SwiGLU and softmax
 * spent most of their time in expf, one value at a time. */
float fast_exp(float x)
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

void softmax(float *x, int n)
{
    /* Subtracting the max keeps exp() from overflowing; it cancels out. */
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        x[i] = fast_exp(x[i] - max);
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

/* silu(h) * g for n values, vectorized. */
static void swiglu_span(float *h, const float *g, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float silu = h[i] * (1.0f / (1.0f + fast_exp(-h[i])));
        h[i] = silu * g[i];
    }
}

#define SWIGLU_SPAN 1024  /* values per piece a thread takes */

void swiglu(float *h, const float *g, int n)
{
    const int pieces = (n + SWIGLU_SPAN - 1) / SWIGLU_SPAN;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_WORK)  /* a prompt batch's */
    for (int p = 0; p < pieces; p++) {
        const int start = p * SWIGLU_SPAN;
        swiglu_span(h + start, g + start, n - start < SWIGLU_SPAN ? n - start : SWIGLU_SPAN);
    }
}
