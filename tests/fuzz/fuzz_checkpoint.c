/* fuzz_checkpoint.c - libFuzzer harness for the checkpoint loader.
 *
 * Each input is a checkpoint file (llama2.c's or llm.c's formats, or GGUF).
 * model_load must either reject it with a message or accept it with every
 * tensor inside the mapped file; a GGUF file's vocabulary must load or be
 * refused, and encode and decode within its ids. An accepted model whose run state is
 * small is then run as ./run would run it: a batch of two tokens, one more
 * token, and the sampler (greedy, top-p, top-k, also at a low temperature)
 * on the logits, whose ids must be in the vocabulary. Everything is freed,
 * so LeakSanitizer sees any leak. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "sampler.h"
#include "tokenizer.h"
#include "fuzz_common.h"

#define MAX_BATCH 2
/* Run state (activations, KV cache) above this many floats is skipped: a
 * valid v1 header may ask for a 2^31-position context in a tiny file. */
#define MAX_STATE_FLOATS (16.0 * 1024 * 1024)

static FuzzFile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_file_open(&file, "checkpoint");
    return 0;
}

static double run_state_floats(const Config *c)
{
    double B = MAX_BATCH;
    double block_io = c->q_dim > c->dim ? c->q_dim : c->dim;
    double widest = block_io > c->hidden_dim ? block_io : c->hidden_dim;
    return B * (3.0 * c->dim + block_io + c->q_dim + 2.0 * c->kv_dim + (double)c->n_heads * c->seq_len +
                2.0 * c->hidden_dim + c->vocab_size + c->head_size + 2.0 * widest) +
           2.0 * c->n_layers * (double)c->seq_len * c->kv_dim + c->head_size / 2;
}

/* [p, p + bytes) lies within the mapped file. */
static bool in_range(const void *p, double bytes, const void *start, size_t size)
{
    const char *begin = (const char *)start, *end = begin + size;
    const char *q = (const char *)p;
    return begin && q >= begin && q <= end && bytes <= (double)(end - q);
}

/* In the mapped file, or in the floats the loader converted a file's vectors into (llm.c's bf16). */
static bool in_file(const Model *m, const void *p, double bytes)
{
    return in_range(p, bytes, m->mapping, m->mapping_size) ||
           in_range(p, bytes, m->weights.vectors, m->weights.vector_values * sizeof(float));
}

static bool float_aligned(const void *p)
{
    return (uintptr_t)p % sizeof(float) == 0;
}

static void check_matrix(const Model *m, const Matrix *w, int rows, int cols, const char *name, int layer)
{
    FUZZ_CHECK(w->rows == rows && w->cols == cols, "%s (layer %d) is %d x %d, expected %d x %d", name, layer,
               w->rows, w->cols, rows, cols);
    double n = (double)rows * cols;
    switch (w->type) {
    case WEIGHT_F32:
        FUZZ_CHECK(float_aligned(w->data) && in_file(m, w->data, n * sizeof(float)),
                   "%s (layer %d) lies outside the file", name, layer);
        break;
    case WEIGHT_F16:
        FUZZ_CHECK((uintptr_t)w->data % 2 == 0 && in_file(m, w->data, n * 2), "%s (layer %d) lies outside the file",
                   name, layer);
        break;
    case WEIGHT_Q8:
        FUZZ_CHECK(w->group_size > 0 && cols % w->group_size == 0, "%s (layer %d): group size %d, %d columns",
                   name, layer, w->group_size, cols);
        FUZZ_CHECK(in_file(m, w->data, n) && float_aligned(w->scales) &&
                       in_file(m, w->scales, n / w->group_size * sizeof(float)),
                   "%s (layer %d) or its scales lie outside the file", name, layer);
        break;
    default: {  /* ggml's blocks (Q8_0, Q4_0 ... Q6_K): whole blocks, their halves 2-byte aligned */
        const WeightTypeInfo *info = &weight_types[w->type];
        FUZZ_CHECK(cols % info->block_values == 0 && (uintptr_t)w->data % 2 == 0 &&
                       in_file(m, w->data, n / info->block_values * info->block_bytes),
                   "%s (layer %d): %d columns of %s, or its blocks lie outside the file", name, layer, cols,
                   info->name);
        break;
    }
    }
}

/* A GGUF file's embedded vocabulary, read as ./run reads it: ids in range both ways. */
static void check_gguf_vocabulary(const Model *m, const char *path)
{
    Tokenizer t;
    char err[ERROR_SIZE];
    err[0] = '\0';
    if (tokenizer_from_gguf(&t, m->gguf, path, m->config.vocab_size, err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', ERROR_SIZE) != NULL, "vocabulary refused without a message");
        return;
    }
    FUZZ_CHECK(t.vocab_size == m->config.vocab_size, "vocabulary of %d for a model of %d", t.vocab_size,
               m->config.vocab_size);
    static const char *const texts[] = {"Once upon a time", "  two  spaces\n", "\xff\xc3 caf\xc3\xa9 \xe2\x96\x81"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int *ids = NULL;
        int n = tokenizer_encode(&t, texts[i], strlen(texts[i]), true, true, &ids);
        FUZZ_CHECK(n >= 2 && ids != NULL, "tokenizer_encode failed");
        for (int j = 0; j < n; j++)
            FUZZ_CHECK(ids[j] >= 0 && ids[j] < t.vocab_size, "id %d out of range (vocab %d)", ids[j], t.vocab_size);
        free(ids);
    }
    for (int id = 0; id < t.vocab_size; id++) {
        size_t len;
        const char *piece = tokenizer_decode(&t, t.bos_id, id, &len);
        fuzz_touch(piece, len);
    }
    tokenizer_free(&t);
}

/* A float vector of n values, aligned and inside the file. */
static void check_vector(const Model *m, const float *v, int n, const char *name, int layer)
{
    FUZZ_CHECK(float_aligned(v) && in_file(m, v, (double)n * sizeof(float)), "%s (layer %d) lies outside the file",
               name, layer);
}

/* GPT-2's tensors (it has a position table): LayerNorm shifts, the views of
 * the q|k|v matrix and every bias. */
static void check_gpt2_layout(const Model *m)
{
    const Config *c = &m->config;
    const Weights *w = &m->weights;
    check_matrix(m, &w->position_embd, c->seq_len, c->dim, "position_embd", -1);
    check_vector(m, w->output_norm_bias, c->dim, "output_norm_bias", -1);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        check_vector(m, lw->attn_norm, c->dim, "attn_norm", l);
        check_vector(m, lw->attn_norm_bias, c->dim, "attn_norm_bias", l);
        check_vector(m, lw->ffn_norm, c->dim, "ffn_norm", l);
        check_vector(m, lw->ffn_norm_bias, c->dim, "ffn_norm_bias", l);
        check_matrix(m, &lw->wq, c->dim, c->dim, "wq", l);
        check_matrix(m, &lw->wk, c->kv_dim, c->dim, "wk", l);
        check_matrix(m, &lw->wv, c->kv_dim, c->dim, "wv", l);
        check_vector(m, lw->bq, c->dim, "bq", l);
        check_vector(m, lw->bk, c->kv_dim, "bk", l);
        check_vector(m, lw->bv, c->kv_dim, "bv", l);
        check_matrix(m, &lw->wo, c->dim, c->dim, "wo", l);
        check_vector(m, lw->bo, c->dim, "bo", l);
        check_matrix(m, &lw->w_up, c->hidden_dim, c->dim, "w_up", l);
        check_vector(m, lw->b_up, c->hidden_dim, "b_up", l);
        check_matrix(m, &lw->w_down, c->dim, c->hidden_dim, "w_down", l);
        check_vector(m, lw->b_down, c->dim, "b_down", l);
    }
}

static void check_layout(const Model *m)
{
    const Config *c = &m->config;
    const Weights *w = &m->weights;
    FUZZ_CHECK(c->dim > 0 && c->hidden_dim > 0 && c->n_layers > 0 && c->n_heads > 0 &&
                   c->n_kv_heads > 0 && c->vocab_size > 0 && c->seq_len > 0,
               "accepted a non-positive dimension");
    const bool rotary = !w->position_embd.data;  /* Llama, Qwen: RoPE rotates pairs */
    /* q_dim is dim unless a GGUF file gives its own head size (Qwen3's). */
    FUZZ_CHECK(c->head_size > 0 && c->head_size * c->n_heads == c->q_dim && (!rotary || c->head_size % 2 == 0) &&
                   (c->q_dim == c->dim || m->gguf) && c->kv_dim == c->n_kv_heads * c->head_size &&
                   c->n_heads % c->n_kv_heads == 0,
               "inconsistent config: dim %d heads %d kv_heads %d head_size %d q_dim %d kv_dim %d", c->dim,
               c->n_heads, c->n_kv_heads, c->head_size, c->q_dim, c->kv_dim);
    FUZZ_CHECK(!rotary || (c->rope_theta > 0 && c->rope_scaling_factor > 0 && isfinite(c->rope_scaling_factor)),
               "RoPE base %g, scaling factor %g", c->rope_theta, c->rope_scaling_factor);
    if (c->rope_freq_factors) {
        check_vector(m, c->rope_freq_factors, c->head_size / 2, "rope_freqs", -1);
        for (int i = 0; i < c->head_size / 2; i++)
            FUZZ_CHECK(c->rope_freq_factors[i] > 0 && isfinite(c->rope_freq_factors[i]),
                       "rope_freqs[%d] is %g", i, c->rope_freq_factors[i]);
    }
    const double dim_bytes = (double)c->dim * sizeof(float);
    check_matrix(m, &w->token_embd, c->vocab_size, c->dim, "token_embd", -1);
    check_matrix(m, &w->output, c->vocab_size, c->dim, "output", -1);
    FUZZ_CHECK(float_aligned(w->output_norm) && in_file(m, w->output_norm, dim_bytes),
               "output norm outside the file");
    if (w->position_embd.data) {
        check_gpt2_layout(m);
        return;
    }
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        FUZZ_CHECK(float_aligned(lw->attn_norm) && in_file(m, lw->attn_norm, dim_bytes) &&
                       float_aligned(lw->ffn_norm) && in_file(m, lw->ffn_norm, dim_bytes),
                   "layer %d norms outside the file", l);
        check_matrix(m, &lw->wq, c->q_dim, c->dim, "wq", l);
        check_matrix(m, &lw->wk, c->kv_dim, c->dim, "wk", l);
        check_matrix(m, &lw->wv, c->kv_dim, c->dim, "wv", l);
        check_matrix(m, &lw->wo, c->dim, c->q_dim, "wo", l);
        /* Qwen2's biases, Qwen3's q and k norms: both or none of each. */
        FUZZ_CHECK(!lw->bq == !lw->bk && !lw->bk == !lw->bv && !lw->attn_q_norm == !lw->attn_k_norm,
                   "layer %d has some of q, k, v's biases or norms only", l);
        if (lw->bq) {
            check_vector(m, lw->bq, c->q_dim, "bq", l);
            check_vector(m, lw->bk, c->kv_dim, "bk", l);
            check_vector(m, lw->bv, c->kv_dim, "bv", l);
        }
        if (lw->attn_q_norm) {
            check_vector(m, lw->attn_q_norm, c->head_size, "attn_q_norm", l);
            check_vector(m, lw->attn_k_norm, c->head_size, "attn_k_norm", l);
        }
        check_matrix(m, &lw->w_gate, c->hidden_dim, c->dim, "w_gate", l);
        check_matrix(m, &lw->w_down, c->dim, c->hidden_dim, "w_down", l);
        check_matrix(m, &lw->w_up, c->hidden_dim, c->dim, "w_up", l);
    }
}

/* Samples from a copy of the logits with the given settings (and, with
 * recent tokens, the penalties and min-p); the id must be a token. */
static void check_sample(const float *logits, float *scratch, int vocab, float temperature, float topp,
                         int topk, uint64_t seed, const int *recent, int n_recent)
{
    Sampler sampler;
    FUZZ_CHECK(sampler_init(&sampler, vocab, temperature, topp, topk, seed) == 0, "sampler_init failed");
    if (recent) {
        SamplerFilters f = {0.05f, 1.3f, 0.5f, 0.25f, 4};
        FUZZ_CHECK(sampler_set_filters(&sampler, f) == 0, "sampler_set_filters failed");
        for (int i = 0; i < n_recent; i++)
            sampler_accept(&sampler, recent[i]);
    }
    memcpy(scratch, logits, (size_t)vocab * sizeof(float));
    int id = sample(&sampler, scratch);
    FUZZ_CHECK(id >= 0 && id < vocab, "sample (temperature %g, top-p %g, top-k %d) returned %d, vocab %d",
               temperature, topp, topk, id, vocab);
    sampler_free(&sampler);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write(&file, data, size);
    Model model;
    char err[ERROR_SIZE];
    err[0] = '\0';
    if (model_load(&model, path, err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', ERROR_SIZE) != NULL, "failure without a message");
        FUZZ_CHECK(model.mapping == NULL && model.weights.layers == NULL && model.gguf == NULL,
                   "failure left memory behind");
        return 0;
    }
    FUZZ_CHECK(model.mapping_size == size, "mapped %zu bytes of a %zu-byte file", model.mapping_size, size);
    check_layout(&model);
    if (model.gguf)
        check_gguf_vocabulary(&model, path);

    const Config *c = &model.config;
    if (run_state_floats(c) <= MAX_STATE_FLOATS) {
        RunState state;
        if (run_state_init(&state, c, MAX_BATCH, err) == 0) {
            /* Token ids from the input's last bytes, so they vary with it. */
            int tokens[MAX_BATCH + 1];
            for (int i = 0; i <= MAX_BATCH; i++) {
                uint32_t b = size > (size_t)i ? data[size - 1 - i] : 0;
                uint32_t b2 = size > (size_t)i + 4 ? data[size - 5 - i] : 0;
                tokens[i] = (int)((b | b2 << 8) % (uint32_t)c->vocab_size);
            }
            int T = c->seq_len < MAX_BATCH ? c->seq_len : MAX_BATCH;
            float *logits = forward(&model, &state, tokens, T, 0, LOGITS_ALL);
            fuzz_touch(logits, (size_t)T * c->vocab_size * sizeof(float));
            if (T < c->seq_len) {
                logits = forward(&model, &state, &tokens[T], 1, T, LOGITS_LAST);
                fuzz_touch(logits, (size_t)c->vocab_size * sizeof(float));
            }
            float *scratch = malloc((size_t)c->vocab_size * sizeof(float));
            FUZZ_CHECK(scratch != NULL, "out of memory");
            uint64_t seed = (uint64_t)tokens[0] * 2654435761u + 1;
            int topk = c->vocab_size > 1 ? 1 + tokens[1] % (c->vocab_size - 1) : 0;
            check_sample(logits, scratch, c->vocab_size, 0.0f, 0.0f, 0, seed, NULL, 0);
            check_sample(logits, scratch, c->vocab_size, 1.0f, 0.9f, 0, seed, NULL, 0);
            check_sample(logits, scratch, c->vocab_size, 0.8f, 0.0f, 0, seed, NULL, 0);
            check_sample(logits, scratch, c->vocab_size, 1.0f, 0.9f, topk, seed, NULL, 0);
            /* A low temperature divides the logits: large finite ones overflow. */
            check_sample(logits, scratch, c->vocab_size, 0.05f, 0.9f, 0, seed, NULL, 0);
            check_sample(logits, scratch, c->vocab_size, 0.05f, 0.0f, topk, seed, NULL, 0);
            check_sample(logits, scratch, c->vocab_size, 0.0f, 0.0f, 0, seed, tokens, MAX_BATCH);
            check_sample(logits, scratch, c->vocab_size, 0.7f, 0.9f, topk, seed, tokens, MAX_BATCH);
            free(scratch);
            run_state_free(&state);
        }
    }
    model_free(&model);
    return 0;
}
