/* quant_tests.c - ggml's quantized types against llama.cpp itself.
 *
 * MODELS_DIR/quant holds a small random-weight llama model (q256.f32.gguf),
 * the same model quantized by llama.cpp into each of the common GGUF types,
 * and llama.cpp's logits for the 64 token ids of tokens.txt on each file.
 * Here each file runs through the engine, as one prompt batch and token by
 * token (and a batch on the plain kernels), and its logits are checked
 * against llama.cpp's.
 *
 *   tests/quant_tests MODELS_DIR            the tests ("ok - ..." lines)
 *   tests/quant_tests --dump FILE.gguf OUT  every matrix of FILE, dequantized
 *       by the engine (matrix_row), into OUT: per matrix, its name (uint32
 *       length, bytes), uint32 rows, uint32 cols, rows * cols float32.
 *       scripts/dequant.py --check compares it with numpy's dequantization. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"

#include "test_harness.h"

/* ---------------------------------------------------------------------------
 * --dump */

static int dump_matrices(const char *path, const char *out_path)
{
    char err[ERROR_SIZE];
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    fseek(in, 0, SEEK_END);
    const long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    const bool read_all = data && size > 0 && fread(data, 1, (size_t)size, in) == (size_t)size;
    fclose(in);
    GgufFile g;
    if (!read_all || gguf_parse(&g, data, (size_t)size, path, err) != 0) {
        fprintf(stderr, "%s\n", read_all ? err : "cannot read it");
        free(data);
        return 1;
    }
    FILE *out = fopen(out_path, "wb");
    int status = out ? 0 : 1;
    for (uint64_t i = 0; out && i < g.n_tensors; i++) {
        const GgufTensor *t = &g.tensors[i];
        WeightType type;
        if (t->n_dims != 2 || t->dims[0] > INT32_MAX || t->dims[1] > INT32_MAX ||
            weight_type_from_ggml(t->type, &type) != 0)
            continue;
        const Matrix m = {type, (int)t->dims[1], (int)t->dims[0], t->data, NULL, 0};
        const uint32_t name_len = (uint32_t)t->name.len, rows = (uint32_t)m.rows, cols = (uint32_t)m.cols;
        float *row = malloc((size_t)cols * sizeof(float));
        fwrite(&name_len, 4, 1, out), fwrite(t->name.ptr, 1, name_len, out);
        fwrite(&rows, 4, 1, out), fwrite(&cols, 4, 1, out);
        for (int r = 0; r < m.rows; r++) {
            matrix_row(row, &m, r);
            fwrite(row, sizeof(float), cols, out);
        }
        free(row);
    }
    if (!out || fclose(out) != 0) {
        fprintf(stderr, "%s: cannot write it\n", out_path);
        status = 1;
    }
    gguf_free(&g);
    free(data);
    return status;
}

/* ---------------------------------------------------------------------------
 * The engine against llama.cpp */

#define N_TOKENS 64
#define VOCAB 512

static int read_tokens(const char *dir, int tokens[N_TOKENS])
{
    char path[1024];
    snprintf(path, sizeof path, "%s/quant/tokens.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0;
    while (n < N_TOKENS && fscanf(f, "%d", &tokens[n]) == 1)
        n++;
    fclose(f);
    return n == N_TOKENS ? 0 : -1;
}

static float *read_logits(const char *dir, const char *type)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/quant/q256.%s.llama.cpp-logits.f32", dir, type);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    float *logits = malloc((size_t)N_TOKENS * VOCAB * sizeof(float));
    size_t got = fread(logits, sizeof(float), (size_t)N_TOKENS * VOCAB, f);
    fclose(f);
    if (got != (size_t)N_TOKENS * VOCAB) {
        free(logits);
        return NULL;
    }
    return logits;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

typedef struct {
    double max_abs;           /* largest |a - b| over every logit */
    double rel_l2;            /* ||a - b|| / ||b|| over every logit */
    double worst_rel_l2;      /* the same at the position where it is largest */
    int same_argmax;          /* positions whose top token agrees */
} Distance;

static Distance distance(const float *a, const float *b)
{
    Distance d = {0, 0, 0, 0};
    double diff2 = 0, norm2 = 0;
    for (int t = 0; t < N_TOKENS; t++) {
        const float *x = a + (size_t)t * VOCAB, *y = b + (size_t)t * VOCAB;
        double position_diff2 = 0, position_norm2 = 0;
        for (int i = 0; i < VOCAB; i++) {
            const double e = (double)x[i] - y[i];
            d.max_abs = fmax(d.max_abs, fabs(e));
            position_diff2 += e * e;
            position_norm2 += (double)y[i] * y[i];
        }
        d.worst_rel_l2 = fmax(d.worst_rel_l2, sqrt(position_diff2 / position_norm2));
        diff2 += position_diff2, norm2 += position_norm2;
        d.same_argmax += argmax(x, VOCAB) == argmax(y, VOCAB);
    }
    d.rel_l2 = sqrt(diff2 / norm2);
    return d;
}

/* The engine's logits for the tokens: in one prompt batch (batched), or
 * one token at a time (decoding's kernels). NULL if the file does not load. */
static float *engine_logits(const char *path, const int tokens[N_TOKENS], bool batched, char err[ERROR_SIZE])
{
    Model model;
    if (model_load(&model, path, err) != 0)
        return NULL;
    RunState s;
    float *logits = NULL;
    if (model.config.vocab_size == VOCAB && run_state_init(&s, &model.config, batched ? N_TOKENS : 1, err) == 0) {
        logits = malloc((size_t)N_TOKENS * VOCAB * sizeof(float));
        if (batched) {
            memcpy(logits, forward(&model, &s, tokens, N_TOKENS, 0, LOGITS_ALL),
                   (size_t)N_TOKENS * VOCAB * sizeof(float));
        } else {
            for (int t = 0; t < N_TOKENS; t++)
                memcpy(logits + (size_t)t * VOCAB, forward(&model, &s, &tokens[t], 1, t, LOGITS_LAST),
                       VOCAB * sizeof(float));
        }
        run_state_free(&s);
    } else if (model.config.vocab_size != VOCAB) {
        snprintf(err, ERROR_SIZE, "%s: vocabulary of %d, expected %d", path, model.config.vocab_size, VOCAB);
    }
    model_free(&model);
    return logits;
}

/* For each file: the engine's logits, batched and decoding, against
 * llama.cpp's on the same file, and both against llama.cpp's on the F32 file.
 *
 * Both engines quantize a matmul's input to 8 bits before multiplying it
 * with quantized weights, and the engine does it as llama.cpp does
 * (quantize_input: Q8_K for the k-quants, Q8_0's half-precision scales for
 * the 32-value blocks). Where the two still sum in another order, a value
 * that lands on a rounding boundary comes out one integer apart, and one
 * such step moves the logits by about 0.03 here; from then on the runs
 * differ by a few such steps. Measured: 2e-7 relative L2 where no step
 * flips (Q6_K, Q5_0, Q2_K, Q3_K_M, Q4_K_M token by token), 1e-3 for the
 * k-quant files otherwise, 3e-3 to 8e-3 for Q8_0, Q4_0, Q4_1 and Q5_1
 * (llama.cpp's Q8_1 inputs also carry their sums in half precision, which
 * the engine does not copy). The F32 logits show the scale: llama.cpp's
 * own F32-to-TYPE distance is 1e-2 (Q8_0) to 0.34 (Q2_K).
 * So, for each way of running the file (one batch, token by token, a batch
 * on the plain kernels), the bounds:
 *   - relative L2 distance to llama.cpp's logits <= 2e-2 over all positions
 *     and <= 5e-2 at every position;
 *   - the top-1 token agrees with llama.cpp's at >= 95% of positions (61 of
 *     64: a near tie can flip);
 * and two that a wrong block would fail long before those:
 *   - max |engine - llama.cpp| <= 0.1: a few one-step flips, not a wrong
 *     block (a misread scale or bit moves logits by the F32-to-TYPE distance);
 *   - as accurate as llama.cpp: the engine's relative L2 distance to the F32
 *     logits at most 2% above llama.cpp's own (measured: within 0.8%).
 * The F32 file itself must agree to float rounding. */
typedef struct {
    const char *type;
    double rel_l2;        /* bound on the relative L2 distance over all positions */
    double worst_rel_l2;  /* ... and at each position */
    double max_abs;       /* bound on max |engine - llama.cpp| */
    int min_same_argmax;  /* of 64 positions */
} Expectation;

#define QUANT_EXPECTATION(type) {type, 2e-2, 5e-2, 0.1, 61}

/* One way of running a file (`how`) against llama.cpp's logits, within e's bounds. */
static void expect_close(const char *how, const Distance *x, const Expectation *e)
{
    expect(x->rel_l2 <= e->rel_l2, "%s: relative L2 distance to llama.cpp's logits %.3g, above %.3g", how,
           x->rel_l2, e->rel_l2);
    expect(x->worst_rel_l2 <= e->worst_rel_l2, "%s: relative L2 distance %.3g at one position, above %.3g", how,
           x->worst_rel_l2, e->worst_rel_l2);
    expect(x->max_abs <= e->max_abs, "%s: max |logit - llama.cpp's| %.3g, above %.3g", how, x->max_abs,
           e->max_abs);
    expect(x->same_argmax >= e->min_same_argmax, "%s: top-1 token agrees at %d of %d positions, want %d", how,
           x->same_argmax, N_TOKENS, e->min_same_argmax);
}

static void test_against_llama_cpp(const char *dir)
{
    static const Expectation files[] = {
        {"f32", 1e-6, 1e-6, 1e-4, 64}, QUANT_EXPECTATION("Q8_0"),   QUANT_EXPECTATION("Q6_K"),
        QUANT_EXPECTATION("Q5_K_M"),   QUANT_EXPECTATION("Q5_1"),   QUANT_EXPECTATION("Q5_0"),
        QUANT_EXPECTATION("Q4_K_M"),   QUANT_EXPECTATION("Q4_1"),   QUANT_EXPECTATION("Q4_0"),
        QUANT_EXPECTATION("Q3_K_M"),   QUANT_EXPECTATION("Q2_K"),
    };
    int tokens[N_TOKENS];
    float *f32_truth = read_logits(dir, "f32");
    if (read_tokens(dir, tokens) != 0 || !f32_truth) {
        expect(false, "%s/quant: tokens.txt or llama.cpp's F32 logits missing", dir);
        report("quantized files against llama.cpp");
        free(f32_truth);
        return;
    }
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        const Expectation *e = &files[f];
        char path[1024], err[ERROR_SIZE] = "", name[512];
        snprintf(path, sizeof path, "%s/quant/q256.%s.gguf", dir, e->type);
        float *truth = read_logits(dir, e->type);
        float *batched = engine_logits(path, tokens, true, err);
        float *decoded = batched ? engine_logits(path, tokens, false, err) : NULL;
        kernels_use(kernel_set(kernel_set_count() - 1));  /* the plain kernels too, when others ran */
        float *plain = decoded && kernel_set_count() > 1 ? engine_logits(path, tokens, true, err) : NULL;
        kernels_use(NULL);
        expect(truth != NULL, "%s: llama.cpp's logits are missing", e->type);
        expect(batched && decoded, "%s", err);
        snprintf(name, sizeof name, "q256.%s.gguf against llama.cpp", e->type);
        if (truth && batched && decoded) {
            const Distance b = distance(batched, truth), d = distance(decoded, truth);
            const Distance p = plain ? distance(plain, truth) : b;
            const Distance ours = distance(batched, f32_truth), theirs = distance(truth, f32_truth);
            expect_close("batched", &b, e);
            expect_close("decoding", &d, e);
            expect_close("plain kernels", &p, e);
            expect(ours.rel_l2 <= 1.02 * theirs.rel_l2 + 1e-6,
                   "relative L2 distance to the F32 logits %.4g, llama.cpp's %.4g", ours.rel_l2, theirs.rel_l2);
            snprintf(name, sizeof name,
                     "q256.%s.gguf against llama.cpp: relative L2 %.2e overall, %.2e at worst (batched; decoding "
                     "%.2e, %.2e; plain %.2e, %.2e; bounds %.0e, %.0e), top-1 %d/%d/%d of %d (want %d), max "
                     "|diff| %.2g (llama.cpp F32 vs %s: %.2g); distance to F32 %.3e (llama.cpp's %.3e)",
                     e->type, b.rel_l2, b.worst_rel_l2, d.rel_l2, d.worst_rel_l2, p.rel_l2, p.worst_rel_l2,
                     e->rel_l2, e->worst_rel_l2, b.same_argmax, d.same_argmax, p.same_argmax, N_TOKENS,
                     e->min_same_argmax, fmax(b.max_abs, fmax(d.max_abs, p.max_abs)), e->type, theirs.max_abs,
                     ours.rel_l2, theirs.rel_l2);
        }
        report(name);
        free(truth), free(batched), free(decoded), free(plain);
    }
    free(f32_truth);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--dump") == 0)
        return dump_matrices(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: quant_tests MODELS_DIR | quant_tests --dump FILE.gguf OUT\n");
        return 2;
    }
    test_against_llama_cpp(argv[1]);
    return n_failed ? 1 : 0;
}
