/* kernel_set.h - what a kernel set gives the matmul and the attention.
 *
 * One set per instruction set: kernels_ref.c (plain C, the reference),
 * kernels_avx2.c, kernels_avx512.c. A set fills, for each weight type, up to three kernels:
 *   dot     one weight row times one token's input: the plain loop, and the
 *           rows no other kernel takes;
 *   lanes   decoding (one token): LANES rows side by side, LANES streams of
 *           memory read at once;
 *   panels  a batch: a tile of at most ROW_TILE rows times every token, from
 *           the input packed into panels by the set's pack_panel.
 * A NULL kernel means "use the next simpler set's" (the chain ends at the
 * reference set, which has every dot). A kernel that reads a row `step`
 * values at a time sets that step: it then takes only matrices whose rows
 * (int8 inputs: whose input groups) are whole steps. */
#ifndef KERNEL_SET_H
#define KERNEL_SET_H

#include "kernels.h"

#define LANES 6                          /* decoding's rows side by side, per lanes call */
#define ROW_TILE 12                      /* a batch's rows per tile, the unit the threads share */
#define PANEL_TOKENS MATMUL_PANEL_TOKENS /* tokens per panel */

/* row `row` of W . x */
typedef float (*DotKernel)(const Matrix *W, int row, const MatmulInput *x);
/* out[l * out_stride] = row (first + l * lane_rows) of W . x, for l < LANES */
typedef void (*LanesKernel)(float *out, size_t out_stride, const Matrix *W, int first, int lane_rows,
                            const MatmulInput *x);
/* rows [r0, r1) of out (T, W.rows) = in (T, W.cols) @ W^T, from the input's
 * panels in scratch (r1 - r0 <= ROW_TILE) */
typedef void (*PanelsKernel)(float *out, const Matrix *W, const MatmulScratch *scratch, int T, int r0, int r1);
/* tokens [t0, t0 + PANEL_TOKENS) of in (T, cols) into scratch's panels:
 * quantized first in groups of group_size when it is not 0 (and then also
 * left, unpacked, in scratch's values and scales, as the dot kernels read them) */
typedef void (*PackKernel)(MatmulScratch *scratch, const float *in, int T, int cols, int group_size, int t0);
/* attention_query_block (kernels.h) */
typedef void (*AttentionBlockKernel)(float *out, size_t out_stride, const float *q, size_t q_stride, int n_queries,
                                     int first, const float *keys, const float *values, size_t kv_stride,
                                     int head_size, float scale, float *scratch);

typedef struct {
    DotKernel dot;
    int dot_step;
    LanesKernel lanes;
    int lanes_step;
    PanelsKernel panels;
    int panels_step;
} TypeKernels;

struct KernelSet {
    const char *name;
    const KernelSet *simpler;  /* where a NULL kernel is looked up */
    TypeKernels types[WEIGHT_TYPE_COUNT];
    PackKernel pack_panel;     /* the layout this set's panels kernels read */
    AttentionBlockKernel attention_query_block;
};

extern const KernelSet kernels_ref;
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define HAVE_AVX2_KERNELS 1
extern const KernelSet kernels_avx2;
/* kernels_avx2.c's panel layout, which the AVX-512 set shares:
 * pack_panel puts the n <= width rows of in (cols values each, in_stride
 * apart) side by side, panel[k * width + j] = in[j * in_stride + k], zeros
 * for the rows past n (width 8 or a multiple of 8); unpack_panel is its
 * inverse for the first n rows. */
void pack_panel(float *panel, const float *in, size_t in_stride, int n, int width, int cols);
void unpack_panel(float *out, size_t out_stride, const float *panel, int n, int width, int cols);
#endif
#if defined(HAVE_AVX2_KERNELS) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define HAVE_AVX512_KERNELS 1
extern const KernelSet kernels_avx512;
#endif

#endif
