/* kernels_avx512.c - the kernel set for AVX-512 (F, BW, VL; and VNNI for int8).
 *
 * The same plan as kernels_avx2.c, on vectors of 16 floats and with 32
 * vector registers: a batch's inputs are packed into panels of 16 tokens,
 * one register per column, and a tile of rows is computed in blocks of
 * 6 rows x 4 panels (64 tokens): each step loads 4 columns and broadcasts
 * one weight of each row into them, 24 independent sums for 10 loads.
 * Every panel is whole (the last one padded with zeros), so a block's
 * panels are always full registers. int8 weights (Q8, Q8_0) work the same
 * way in integers with VNNI's vpdpbusd, and decode in lanes with it.
 * Any kernel this set leaves NULL is the AVX2 set's (decoding's float
 * lanes, which memory paces; ggml's 4- to 6-bit blocks; attention).
 * docs/performance.md has the measurements behind these choices. */
#include "kernel_set.h"

#ifdef HAVE_AVX512_KERNELS
#include <immintrin.h>
#include <string.h>

#define BLOCK_ROWS 6       /* weight rows per block */
#define BLOCK_PANELS 4     /* panels of PANEL_TOKENS tokens per block */
#define GROUP_TOKENS (BLOCK_PANELS * PANEL_TOKENS)  /* the tokens one block takes */
#define PANEL_CHUNK 256    /* columns taken at a time: 4 panels' 256 columns in 64 KB, in L1 and L2 */
_Static_assert(PANEL_TOKENS == 16, "a panel's column is one vector of 16 floats");

/* ---------------------------------------------------------------------------
 * Float32 weights: the panels of a batch */

/* sums[r * GROUP_TOKENS + t] (+)= sum over k in [k0, k1) of w[r * w_stride + k]
 * * token t's input k, for r < n_rows and t < 16 * n_panels, panel p's column k
 * at panel + p * panel_stride + 16 k. Callers pass constant n_rows and
 * n_panels, and get a loop of their own. */
static inline __attribute__((always_inline)) void f32_block(float *sums, const float *w, size_t w_stride,
                                                            int n_rows, const float *panel, size_t panel_stride,
                                                            int n_panels, int k0, int k1, bool accumulate)
{
    __m512 sum[BLOCK_ROWS][BLOCK_PANELS];
#pragma GCC unroll 6
    for (int r = 0; r < BLOCK_ROWS; r++)
#pragma GCC unroll 4
        for (int p = 0; p < BLOCK_PANELS; p++)
            sum[r][p] = _mm512_setzero_ps();
    for (int k = k0; k < k1; k++) {
        __m512 x[BLOCK_PANELS];
#pragma GCC unroll 4
        for (int p = 0; p < n_panels; p++)
            x[p] = _mm512_load_ps(panel + p * panel_stride + (size_t)k * PANEL_TOKENS);
#pragma GCC unroll 6
        for (int r = 0; r < n_rows; r++) {
            const __m512 wr = _mm512_set1_ps(w[r * w_stride + k]);
#pragma GCC unroll 4
            for (int p = 0; p < n_panels; p++)
                sum[r][p] = _mm512_fmadd_ps(wr, x[p], sum[r][p]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < n_rows; r++)
#pragma GCC unroll 4
        for (int p = 0; p < n_panels; p++) {
            float *s = sums + r * GROUP_TOKENS + p * PANEL_TOKENS;
            _mm512_storeu_ps(s, accumulate ? _mm512_add_ps(_mm512_loadu_ps(s), sum[r][p]) : sum[r][p]);
        }
}

/* f32_block for any number of panels (1 to 4): a loop each. */
static inline __attribute__((always_inline)) void f32_block_of(float *sums, const float *w, size_t w_stride,
                                                               int n_rows, const float *panel, size_t panel_stride,
                                                               int n_panels, int k0, int k1, bool accumulate)
{
    switch (n_panels) {
    case 1: f32_block(sums, w, w_stride, n_rows, panel, panel_stride, 1, k0, k1, accumulate); break;
    case 2: f32_block(sums, w, w_stride, n_rows, panel, panel_stride, 2, k0, k1, accumulate); break;
    case 3: f32_block(sums, w, w_stride, n_rows, panel, panel_stride, 3, k0, k1, accumulate); break;
    default: f32_block(sums, w, w_stride, n_rows, panel, panel_stride, 4, k0, k1, accumulate); break;
    }
}

/* Rows [r0, r1) of out (T, rows) = in (T, cols) @ W^T, at most ROW_TILE of
 * them, from in packed into whole panels. For each group of 64 tokens and
 * chunk of columns, blocks of 6 rows: a block's rows stay in L1 while its
 * 4 panels stream from L2. The sums gather in a small buffer, a panel of
 * (rows of the tile, tokens of the group), unpacked into out at the end. */
static void f32_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    const int rows = W->rows, cols = W->cols;
    const float *w = W->data;
    const size_t panel_stride = (size_t)PANEL_TOKENS * cols;
    float sums[ROW_TILE][GROUP_TOKENS];
    const int n_chunks = (cols + PANEL_CHUNK - 1) / PANEL_CHUNK;
    const int chunk = (cols + n_chunks - 1) / n_chunks;
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int g1 = T - g0 < GROUP_TOKENS ? T : g0 + GROUP_TOKENS;
        const int n_panels = (g1 - g0 + PANEL_TOKENS - 1) / PANEL_TOKENS;
        const float *panel = scratch->panels + (size_t)g0 * cols;
        for (int k0 = 0; k0 < cols; k0 += chunk) {
            const int k1 = cols - k0 < chunk ? cols : k0 + chunk;
            int r = r0;
            for (; r + BLOCK_ROWS <= r1; r += BLOCK_ROWS)
                f32_block_of(sums[r - r0], w + (size_t)r * cols, cols, BLOCK_ROWS, panel, panel_stride, n_panels, k0,
                             k1, k0 > 0);
            for (; r < r1; r++)
                f32_block_of(sums[r - r0], w + (size_t)r * cols, cols, 1, panel, panel_stride, n_panels, k0, k1,
                             k0 > 0);
        }
        unpack_panel(out + (size_t)g0 * rows + r0, rows, sums[0], g1 - g0, GROUP_TOKENS, r1 - r0);
    }
}

/* ---------------------------------------------------------------------------
 * int8 weights (llama2.c's Q8, GGUF's Q8_0) times the int8 input, with VNNI:
 * vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes and adds the 4
 * products to an int32 lane, in one instruction (AVX2 needs sign, maddubs,
 * madd and add). One side must be unsigned: it is that side's values plus
 * 128 (the sign bit flipped), and the extra 128 x the other side's sum is
 * subtracted at the end of each group. */
#ifdef __AVX512VNNI__
#define UNSIGNED_OFFSET 128  /* int8 + 128 = the same bits with the sign bit flipped */

static int32_t horizontal_sum_epi32(__m256i v)
{
    __m128i half = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0x4e));
    half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0xb1));
    return _mm_cvtsi128_si32(half);
}

static float horizontal_sum(__m256 v)
{
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_movehdup_ps(half));
    return _mm_cvtss_f32(half);
}

/* acc + the sums of 4 products of unsigned bytes u and signed bytes s, per
 * int32 lane: vpdpbusd. (gcc 12's intrinsic copies the sums through memory
 * at each step when they are many; the instruction itself keeps them.) */
static inline __attribute__((always_inline)) __m512i dot_bytes(__m512i acc, __m512i u, __m512i s)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

/* The sum of n int8 values (n a multiple of 4). */
static int32_t int8_sum(const int8_t *v, int n)
{
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i sum = _mm256_setzero_si256();
    int i = 0;
    for (; i + 32 <= n; i += 32)
        sum = _mm256_dpbusd_epi32(sum, ones, _mm256_loadu_si256((const __m256i *)(v + i)));
    int32_t total = horizontal_sum_epi32(sum);
    for (; i < n; i++)
        total += v[i];
    return total;
}

/* Group g of an int8 row (Q8: gs values, its scale in row_scales; Q8_0: a
 * block of 32 after its half-precision scale): its values and its scale. */
static inline __attribute__((always_inline)) const int8_t *group_values(const unsigned char *row, int g, int gs,
                                                                        bool q8_0)
{
    return (const int8_t *)(q8_0 ? row + (size_t)g * Q8_0_BLOCK_BYTES + 2 : row + (size_t)g * gs);
}

static inline __attribute__((always_inline)) float group_scale(const unsigned char *row, const float *row_scales,
                                                               int g, bool q8_0)
{
    const unsigned char *block = row + (size_t)g * Q8_0_BLOCK_BYTES;
    return q8_0 ? _cvtsh_ss((unsigned short)(block[0] | block[1] << 8)) : row_scales[g];
}

/* Decoding: LANES rows side by side (row l at w + l * w_stride bytes, its
 * Q8 scales at ws + l * ws_stride) times the one token's input x (scales
 * xs), 32 values a step. The weights are the unsigned side (w + 128, one
 * xor per load), so the correction, 128 x the input's group sum, is one
 * vpdpbusd per step shared by the lanes. */
static inline __attribute__((always_inline)) void int8_lanes(float *out, size_t out_stride, const unsigned char *w,
                                                             size_t w_stride, const float *ws, size_t ws_stride,
                                                             const int8_t *x, const float *xs, int cols, int gs,
                                                             bool q8_0)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80), offset = _mm256_set1_epi8((char)UNSIGNED_OFFSET);
    __m256 acc[LANES];
    for (int l = 0; l < LANES; l++)
        acc[l] = _mm256_setzero_ps();
    for (int g = 0; g < cols / gs; g++) {
        __m256i dot[LANES], correction = _mm256_setzero_si256();
        for (int l = 0; l < LANES; l++)
            dot[l] = _mm256_setzero_si256();
        for (int i = 0; i < gs; i += 32) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (size_t)g * gs + i));
            correction = _mm256_dpbusd_epi32(correction, offset, xv);
            for (int l = 0; l < LANES; l++) {
                const int8_t *wv = group_values(w + l * w_stride, g, gs, q8_0) + i;
                const __m256i w_unsigned = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)wv), flip);
                dot[l] = _mm256_dpbusd_epi32(dot[l], w_unsigned, xv);
            }
        }
        for (int l = 0; l < LANES; l++) {
            const float scale = group_scale(w + l * w_stride, q8_0 ? NULL : ws + l * ws_stride, g, q8_0) * xs[g];
            acc[l] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(dot[l], correction)), _mm256_set1_ps(scale),
                                     acc[l]);
        }
    }
    for (int l = 0; l < LANES; l++)
        out[l * out_stride] = horizontal_sum(acc[l]);
}

/* A batch: the quantized input packed as kernels_avx2.c packs it (4 values
 * of each of a panel's 16 tokens side by side per step, the tokens' scales
 * in a panel of their own), but with every panel whole and its values
 * unsigned (+128). A block of 6 rows x 4 panels broadcasts 4 weights of a
 * row (the signed side, straight from memory) into each panel's 64 bytes:
 * 24 int32 sums, each 16 tokens. The correction, 128 x the row's group sum,
 * is found once per row and group. */

/* Where the tokens' scales start: after the values, T rounded up to whole
 * panels times cols bytes (as in kernels_avx2.c). */
static float *scale_panels(float *panels, int T, int cols)
{
    const size_t tokens = (size_t)(T + PANEL_TOKENS - 1) / PANEL_TOKENS * PANEL_TOKENS;
    return panels + tokens * cols / sizeof(float);
}

/* sums[r * GROUP_TOKENS + t] += row r of w (w_stride bytes apart; Q8: its
 * scales ws_stride apart in ws) . token t, for r < n_rows, t < 16 * n_panels,
 * panel p's values at panel + p * panel_stride bytes and scales at scales +
 * p * scale_stride floats. */
static inline __attribute__((always_inline)) void int8_block(float *sums, const unsigned char *w, size_t w_stride,
                                                             const float *ws, size_t ws_stride, int n_rows,
                                                             const uint8_t *panel, size_t panel_stride,
                                                             const float *scales, size_t scale_stride, int n_panels,
                                                             int cols, int gs, bool q8_0)
{
    for (int g = 0; g < cols / gs; g++) {
        /* each row's correction and scale first: a call while the sums are
         * live would send them to memory */
        int32_t correction[BLOCK_ROWS];
        float row_scale[BLOCK_ROWS];
#pragma GCC unroll 6
        for (int r = 0; r < n_rows; r++) {
            const unsigned char *row = w + r * w_stride;
            correction[r] = UNSIGNED_OFFSET * int8_sum(group_values(row, g, gs, q8_0), gs);
            row_scale[r] = group_scale(row, q8_0 ? NULL : ws + r * ws_stride, g, q8_0);
        }
        __m512i dot[BLOCK_ROWS][BLOCK_PANELS];
#pragma GCC unroll 6
        for (int r = 0; r < BLOCK_ROWS; r++)
#pragma GCC unroll 4
            for (int p = 0; p < BLOCK_PANELS; p++)
                dot[r][p] = _mm512_setzero_si512();
        for (int i = 0; i < gs; i += 4) {
            __m512i x[BLOCK_PANELS];
#pragma GCC unroll 4
            for (int p = 0; p < n_panels; p++)
                x[p] = _mm512_load_si512(panel + p * panel_stride + (size_t)(g * gs + i) * PANEL_TOKENS);
#pragma GCC unroll 6
            for (int r = 0; r < n_rows; r++) {
                int32_t four;
                memcpy(&four, group_values(w + r * w_stride, g, gs, q8_0) + i, sizeof four);
                const __m512i wb = _mm512_set1_epi32(four);
#pragma GCC unroll 4
                for (int p = 0; p < n_panels; p++)
                    dot[r][p] = dot_bytes(dot[r][p], x[p], wb);
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < n_rows; r++) {
#pragma GCC unroll 4
            for (int p = 0; p < n_panels; p++) {
                float *s = sums + r * GROUP_TOKENS + p * PANEL_TOKENS;
                const __m512 scale =
                    _mm512_mul_ps(_mm512_set1_ps(row_scale[r]), _mm512_loadu_ps(scales + p * scale_stride + g * PANEL_TOKENS));
                const __m512 dot_f = _mm512_cvtepi32_ps(_mm512_sub_epi32(dot[r][p], _mm512_set1_epi32(correction[r])));
                _mm512_storeu_ps(s, _mm512_fmadd_ps(dot_f, scale, _mm512_loadu_ps(s)));
            }
        }
    }
}

/* int8_block for 6 rows or 1, any number of panels (1 to 4): a loop each. */
static inline __attribute__((always_inline)) void int8_block_of(float *sums, const unsigned char *w, size_t w_stride,
                                                                const float *ws, size_t ws_stride, bool six_rows,
                                                                const uint8_t *panel, size_t panel_stride,
                                                                const float *scales, size_t scale_stride,
                                                                int n_panels, int cols, int gs, bool q8_0)
{
#define INT8_BLOCK(rows, panels) \
    int8_block(sums, w, w_stride, ws, ws_stride, rows, panel, panel_stride, scales, scale_stride, panels, cols, gs, q8_0)
    switch (n_panels * (six_rows ? 1 : -1)) {
    case 1: INT8_BLOCK(BLOCK_ROWS, 1); break;
    case 2: INT8_BLOCK(BLOCK_ROWS, 2); break;
    case 3: INT8_BLOCK(BLOCK_ROWS, 3); break;
    case 4: INT8_BLOCK(BLOCK_ROWS, 4); break;
    case -1: INT8_BLOCK(1, 1); break;
    case -2: INT8_BLOCK(1, 2); break;
    case -3: INT8_BLOCK(1, 3); break;
    default: INT8_BLOCK(1, 4); break;
    }
#undef INT8_BLOCK
}

/* Rows [r0, r1) of out (T, rows) = in (T, cols) @ W^T, W int8 (Q8 or Q8_0),
 * at most ROW_TILE rows, from the quantized input packed into whole panels. */
static inline __attribute__((always_inline)) void int8_panels(float *out, const Matrix *W,
                                                              const MatmulScratch *scratch, int T, int r0, int r1,
                                                              bool q8_0)
{
    const int rows = W->rows, cols = W->cols, gs = q8_0 ? Q8_0_BLOCK : W->group_size, groups = cols / gs;
    const size_t row_bytes = q8_0 ? (size_t)groups * Q8_0_BLOCK_BYTES : (size_t)cols;
    const uint8_t *values = (const uint8_t *)scratch->panels;
    const float *scales = scale_panels(scratch->panels, T, cols);
    float sums[ROW_TILE][GROUP_TOKENS];
    for (int g0 = 0; g0 < T; g0 += GROUP_TOKENS) {
        const int g1 = T - g0 < GROUP_TOKENS ? T : g0 + GROUP_TOKENS;
        const int n_panels = (g1 - g0 + PANEL_TOKENS - 1) / PANEL_TOKENS;
        memset(sums, 0, sizeof sums);
        for (int r = r0, n_rows; r < r1; r += n_rows) {
            n_rows = r1 - r >= BLOCK_ROWS ? BLOCK_ROWS : 1;
            int8_block_of(sums[r - r0], (const unsigned char *)W->data + (size_t)r * row_bytes, row_bytes,
                          q8_0 ? NULL : W->scales + (size_t)r * groups, groups, n_rows == BLOCK_ROWS,
                          values + (size_t)g0 * cols, (size_t)PANEL_TOKENS * cols, scales + (size_t)g0 * groups,
                          (size_t)PANEL_TOKENS * groups, n_panels, cols, gs, q8_0);
        }
        unpack_panel(out + (size_t)g0 * rows + r0, rows, sums[0], g1 - g0, GROUP_TOKENS, r1 - r0);
    }
}

static void q8_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows, const MatmulInput *x)
{
    const int cols = W->cols, groups = cols / W->group_size;
    int8_lanes(out, out_stride, (const unsigned char *)W->data + (size_t)first * cols, (size_t)lane_rows * cols,
               W->scales + (size_t)first * groups, (size_t)lane_rows * groups, x->values, x->scales, cols,
               W->group_size, false);
}

static void q8_0_lanes(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows,
                       const MatmulInput *x)
{
    const size_t row_bytes = (size_t)W->cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
    int8_lanes(out, out_stride, (const unsigned char *)W->data + (size_t)first * row_bytes,
               (size_t)lane_rows * row_bytes, NULL, 0, x->values, x->scales, W->cols, Q8_0_BLOCK, true);
}

static void q8_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    int8_panels(out, W, scratch, T, r0, r1, false);
}

static void q8_0_panels(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1)
{
    int8_panels(out, W, scratch, T, r0, r1, true);
}

/* Tokens [t0, t0 + 16) of an int8 batch's input, quantized in groups of gs
 * (and left so in scratch's values and scales too), into a whole panel of
 * unsigned values and one of scales. */
static void pack_int8_panel(MatmulScratch *scratch, const float *in, int T, int cols, int gs, int t0)
{
    const int n = T - t0 < PANEL_TOKENS ? T - t0 : PANEL_TOKENS, groups = cols / gs;
    int8_t *values = scratch->values + (size_t)t0 * cols;
    float *scales = scratch->scales + (size_t)t0 * groups;
    quantize_input(values, scales, in + (size_t)t0 * cols, (size_t)n * cols, gs);
    /* 4 values = 4 bytes = one float's worth: pack_panel moves them whole */
    float *panel = scratch->panels + (size_t)t0 * cols / 4;
    pack_panel(panel, (const float *)(const void *)values, cols / 4, n, PANEL_TOKENS, cols / 4);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (size_t i = 0; i < (size_t)PANEL_TOKENS * cols; i += 64) {  /* 16 x cols bytes: whole vectors, cols % 4 == 0 */
        __m512i *v = (__m512i *)((unsigned char *)panel + i);
        _mm512_store_si512(v, _mm512_xor_si512(_mm512_load_si512(v), flip));
    }
    pack_panel(scale_panels(scratch->panels, T, cols) + (size_t)t0 * groups, scales, groups, n, PANEL_TOKENS, groups);
}
#endif

/* Tokens [t0, t0 + 16) of a batch's input into their panel, a whole one
 * (zeros past the last token): floats, or for int8 weights (gs > 0), with
 * VNNI, pack_int8_panel's. */
static void pack_whole_panel(MatmulScratch *scratch, const float *in, int T, int cols, int gs, int t0)
{
#ifdef __AVX512VNNI__
    if (gs > 0) {
        pack_int8_panel(scratch, in, T, cols, gs, t0);
        return;
    }
#endif
    const int n = T - t0 < PANEL_TOKENS ? T - t0 : PANEL_TOKENS;
    pack_panel(scratch->panels + (size_t)t0 * cols, in + (size_t)t0 * cols, cols, n, PANEL_TOKENS, cols);
}

/* Steps: Q8's groups are read 4 values at a time by the panels, 32 by the
 * lanes; Q8_0's blocks are always 32. Without VNNI, int8 is the AVX2 set's. */
const KernelSet kernels_avx512 = {
    .name = "avx512",
    .simpler = &kernels_avx2,
    .types = {
        [WEIGHT_F32] = {.panels = f32_panels},
#ifdef __AVX512VNNI__
        [WEIGHT_Q8] = {.lanes = q8_lanes, .lanes_step = 32, .panels = q8_panels, .panels_step = 4},
        [WEIGHT_Q8_0] = {.lanes = q8_0_lanes, .panels = q8_0_panels},
#endif
    },
    .pack_panel = pack_whole_panel,
    .attention_query_block = NULL,
};
#endif
