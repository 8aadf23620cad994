/* kernels_avx512.c - the kernel set for AVX-512 (F, BW, VL; and VNNI for int8).
 *
 * The same plan as kernels_avx2.c, on vectors of 16 floats and with 32
 * vector registers: a batch's inputs are packed into panels of 16 tokens,
 * one register per column, and a tile of rows is computed in blocks of
 * 6 rows x 4 panels (64 tokens): each step loads 4 columns and broadcasts
 * one weight of each row into them, 24 independent sums for 10 loads.
 * Every panel is whole (the last one padded with zeros), so a block's
 * panels are always full registers.
 * Any kernel this set leaves NULL is the AVX2 set's. docs/performance.md
 * has the measurements behind these choices. */
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

/* Tokens [t0, t0 + 16) of a batch's input into their panel, a whole one
 * (zeros past the last token). */
static void pack_whole_panel(MatmulScratch *scratch, const float *in, int T, int cols, int gs, int t0)
{
    const int n = T - t0 < PANEL_TOKENS ? T - t0 : PANEL_TOKENS;
    pack_panel(scratch->panels + (size_t)t0 * cols, in + (size_t)t0 * cols, cols, n, PANEL_TOKENS, cols);
}

const KernelSet kernels_avx512 = {
    .name = "avx512",
    .simpler = &kernels_avx2,
    .types = {
        [WEIGHT_F32] = {.panels = f32_panels},
    },
    .pack_panel = pack_whole_panel,
    .attention_query_block = NULL,
};
#endif
