/* matmul.c - out (T, rows) = in (T, cols) @ W^T, for every weight type, on
 * the active kernel set and every thread.
 *
 * For each matrix the plan picks how its rows are computed: decoding (one
 * token) in lanes, a batch in tiles from the input's panels, and otherwise
 * (the reference set, or a shape no faster kernel takes) row by row with a
 * dot product. The rows are cut into units (a step of lanes, a tile) that
 * the threads share out; several matrices reading one input (q, k, v) share
 * one parallel region. */
#include "kernel_set.h"

#include <stddef.h>

#define DECODE_RUN 4        /* decoding's steps of lanes a thread takes at a time */
#define MAX_SHARED_INPUT 4  /* matrices one matmul_shared_input call can take */

/* ---------------------------------------------------------------------------
 * The kernel sets */

static const KernelSet *const all_sets[] = {  /* fastest first */
#ifdef HAVE_AVX512_KERNELS
    &kernels_avx512,
#endif
#ifdef HAVE_AVX2_KERNELS
    &kernels_avx2,
#endif
    &kernels_ref,
};
#define N_SETS ((int)(sizeof all_sets / sizeof all_sets[0]))

static const KernelSet *active_set;  /* NULL: the fastest */

int kernel_set_count(void)
{
    return N_SETS;
}

const KernelSet *kernel_set(int i)
{
    return i >= 0 && i < N_SETS ? all_sets[i] : NULL;
}

const char *kernel_set_name(const KernelSet *set)
{
    return set->name;
}

void kernels_use(const KernelSet *set)
{
    active_set = set;
}

const KernelSet *kernels_active(void)
{
    return active_set ? active_set : all_sets[0];
}

/* ---------------------------------------------------------------------------
 * The plan: which kernels compute a matrix's rows */

typedef enum { BY_ROWS, BY_LANES, BY_PANELS } MatmulMethod;

typedef struct {
    MatmulMethod method;
    DotKernel dot;        /* BY_ROWS, and the rows past the last whole lane */
    LanesKernel lanes;
    PanelsKernel panels;
    PackKernel pack;      /* the layout `panels` reads */
    int lane_rows;        /* BY_LANES: rows per lane */
    MatmulInput token0;   /* BY_LANES: the one token's input, found once for all the units */
} MatmulPlan;

/* Whether a kernel that reads `step` values at a time takes W's rows. */
static bool takes(const Matrix *W, int step)
{
    const int group = input_group_size(W);
    return step <= 1 || (group > 0 ? group : W->cols) % step == 0;
}

/* Each kernel from the first set, along the chain to the reference set,
 * that has one for W's type and takes W. */
static MatmulPlan plan_matmul(const Matrix *W, int T)
{
    MatmulPlan p = {.method = BY_ROWS};
    for (const KernelSet *set = kernels_active(); set; set = set->simpler) {
        const TypeKernels *k = &set->types[W->type];
        if (!p.dot && k->dot && takes(W, k->dot_step))
            p.dot = k->dot;
        if (!p.lanes && k->lanes && takes(W, k->lanes_step))
            p.lanes = k->lanes;
        if (!p.panels && k->panels && set->pack_panel && takes(W, k->panels_step))
            p.panels = k->panels, p.pack = set->pack_panel;
    }
    if (T > 1 && p.panels) {
        p.method = BY_PANELS;
    } else if (T == 1 && p.lanes) {
        p.method = BY_LANES;
        p.lane_rows = W->rows / LANES;
    }
    return p;
}

/* Decoding cuts a matrix into LANES lanes of rows / LANES rows each: unit k
 * computes row k of every lane, and the rows past the last whole lane take
 * a unit each. Otherwise a unit is a tile of ROW_TILE rows. */
static int work_units(const Matrix *W, MatmulMethod method)
{
    return method == BY_LANES ? W->rows / LANES + W->rows % LANES : (W->rows + ROW_TILE - 1) / ROW_TILE;
}

/* Token t's input, in the form W's type multiplies: the floats, or their
 * int8 values and scales in scratch. */
static MatmulInput token_input(const Matrix *W, const float *in, const MatmulScratch *scratch, int t)
{
    const int gs = input_group_size(W);
    if (gs == 0)
        return (MatmulInput){.floats = in + (size_t)t * W->cols};
    return (MatmulInput){.values = scratch->values + (size_t)t * W->cols,
                         .scales = scratch->scales + (size_t)t * (W->cols / gs)};
}

/* Rows [r0, r1) of out (T, W.rows), a dot product per row and token. */
static void rows_by_dot(float *out, const float *in, const Matrix *W, int T, const MatmulScratch *scratch,
                        DotKernel dot, int r0, int r1)
{
    for (int t = 0; t < T; t++) {
        const MatmulInput x = token_input(W, in, scratch, t);
        for (int r = r0; r < r1; r++)
            out[(size_t)t * W->rows + r] = dot(W, r, &x);
    }
}

/* Unit k of out (T, W.rows) = in (T, W.cols) @ W^T. */
static void matmul_unit(float *out, const float *in, const Matrix *W, int T, const MatmulScratch *scratch,
                        const MatmulPlan *plan, int k)
{
    if (plan->method == BY_LANES) {
        const int lane_rows = plan->lane_rows;
        if (k < lane_rows) {
            plan->lanes(out + k, lane_rows, W, k, lane_rows, &plan->token0);
        } else {
            const int r = LANES * lane_rows + (k - lane_rows);
            rows_by_dot(out, in, W, T, scratch, plan->dot, r, r + 1);
        }
        return;
    }
    const int r0 = k * ROW_TILE, r1 = r0 + ROW_TILE < W->rows ? r0 + ROW_TILE : W->rows;
    if (plan->method == BY_PANELS)
        plan->panels(out, W, scratch, T, r0, r1);
    else
        rows_by_dot(out, in, W, T, scratch, plan->dot, r0, r1);
}

/* ---------------------------------------------------------------------------
 * Sharing the units out */

/* matmul_shared_input's work: units [first_unit[i], first_unit[i + 1])
 * belong to matrix i, computed by plan[i]. */
typedef struct {
    float *const *outs;
    const Matrix *const *Ws;
    const int *first_unit;
    const MatmulPlan *plan;
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
    matmul_unit(w->outs[i], w->in, w->Ws[i], w->T, w->scratch, &w->plan[i], unit - w->first_unit[i]);
}

/* Quantizes the T input rows in groups of gs (one scale each) for an int8 matmul. */
static void quantize_tokens(MatmulScratch *scratch, const float *in, int T, int cols, int gs)
{
    for (int t = 0; t < T; t++)
        quantize_input(scratch->values + (size_t)t * cols, scratch->scales + (size_t)t * (cols / gs),
                    in + (size_t)t * cols, cols, gs);
}

void matmul_shared_input(float *const outs[], const Matrix *const Ws[], int n, const float *in, int T,
                         MatmulScratch *scratch)
{
    const int cols = Ws[0]->cols, gs = input_group_size(Ws[0]);
    int first_unit[MAX_SHARED_INPUT + 1] = {0};  /* each matrix's first unit of work */
    MatmulPlan plan[MAX_SHARED_INPUT];
    PackKernel pack = NULL;  /* when a matrix reads panels: the one packing of the input */
    size_t work = 0;
    for (int i = 0; i < n; i++) {
        if (i < MAX_SHARED_INPUT)
            plan[i] = plan_matmul(Ws[i], T);
        if (i >= MAX_SHARED_INPUT || input_group_size(Ws[i]) != gs ||
            (plan[i].method == BY_PANELS && pack && plan[i].pack != pack)) {
            /* inputs rearranged differently: one matrix at a time */
            for (int j = 0; j < n; j++)
                matmul(outs[j], in, Ws[j], T, scratch);
            return;
        }
        if (plan[i].method == BY_PANELS)
            pack = plan[i].pack;
        if (plan[i].method == BY_LANES)
            plan[i].token0 = token_input(Ws[i], in, scratch, 0);
        first_unit[i + 1] = first_unit[i] + work_units(Ws[i], plan[i].method);
        work += (size_t)Ws[i]->rows * cols * T;
    }
    if (gs > 0 && !pack)
        quantize_tokens(scratch, in, T, cols, gs);
    /* Decoding's units go through for_each_unit, which keeps each thread
     * on long runs of consecutive steps; a batch's tiles are handed out one
     * at a time, so that the threads finish within a tile of each other. */
    const int n_units = first_unit[n];
    SharedInputWork units = {outs, Ws, first_unit, plan, in, T, scratch};
    if (T == 1) {
        for_each_unit(n_units, DECODE_RUN, work >= PARALLEL_MIN_WORK, shared_input_unit, &units);
    } else {
#pragma omp parallel if (work >= PARALLEL_MIN_WORK)
        {
            /* First the input's panels (and, for int8, its quantization),
             * shared out by tokens. */
            if (pack) {
#pragma omp for schedule(static)
                for (int t0 = 0; t0 < T; t0 += PANEL_TOKENS)
                    pack(scratch, in, T, cols, gs, t0);
            }
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
