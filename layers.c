/* layers.c - the blocks of a forward pass, over a batch of T tokens.
 *
 * Each block splits its rows (or heads) among the threads when the batch is
 * big enough to be worth waking them (PARALLEL_MIN_WORK), and otherwise runs
 * on the calling thread: decoding one token of a small model stays serial. */
#include "layers.h"

#include <math.h>
#include <string.h>

void embed_tokens(float *x, const Matrix *token_embd, const int *tokens, int T)
{
    for (int t = 0; t < T; t++)
        matrix_row(x + (size_t)t * token_embd->cols, token_embd, tokens[t]);
}

void add_position_embedding(float *x, float *row, const Matrix *position_embd, int pos, int T)
{
    const int dim = position_embd->cols;
    for (int t = 0; t < T; t++)
        matrix_row(row + (size_t)t * dim, position_embd, pos + t);
    add_in_place(x, row, T * dim);
}

void rmsnorm_rows(float *out, const float *x, const float *weight, int T, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)T * dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++)
        rmsnorm(out + (size_t)t * dim, x + (size_t)t * dim, weight, dim, eps);
}

/* out (n) = (x - mean) / sqrt(variance + eps) * weight + bias, for one row
 * x (n); the sums in double, so that a large mean costs no precision. */
static void layernorm(float *out, const float *x, const float *weight, const float *bias, int n, float eps)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    const double mean = sum / n;
    double sum_squares = 0.0;
    for (int i = 0; i < n; i++)
        sum_squares += (x[i] - mean) * (x[i] - mean);
    const float scale = (float)(1.0 / sqrt(sum_squares / n + eps));
    const float shift = (float)mean;
    for (int i = 0; i < n; i++)
        out[i] = (x[i] - shift) * scale * weight[i] + bias[i];
}

void layernorm_rows(float *out, const float *x, const float *weight, const float *bias, int T, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)T * dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++)
        layernorm(out + (size_t)t * dim, x + (size_t)t * dim, weight, bias, dim, eps);
}

/* out (T, n) += bias (n) on every row. */
static void add_bias(float *out, const float *bias, int T, int n)
{
    for (int t = 0; t < T; t++)
        add_in_place(out + (size_t)t * n, bias, n);
}

void linear(float *out, const float *in, const Matrix *W, const float *bias, int T, MatmulScratch *scratch)
{
    matmul(out, in, W, T, scratch);
    if (bias)
        add_bias(out, bias, T, W->rows);
}

void linear_shared_input(float *const outs[], const Matrix *const Ws[], const float *const biases[], int n,
                         const float *in, int T, MatmulScratch *scratch)
{
    matmul_shared_input(outs, Ws, n, in, T, scratch);
    for (int i = 0; biases && i < n; i++)
        if (biases[i])
            add_bias(outs[i], biases[i], T, Ws[i]->rows);
}

void rope_frequencies(float *inv_freq, const Config *c)
{
    /* Pair i of every head turns at frequency theta^(-2i / head_size): fast
     * for the first pairs, slow for the last, so positions stay tellable apart
     * at every distance. Llama 3.1 slows the slow pairs further (its
     * rope_freqs, as llama.cpp applies them: theta_i / factor_i), and linear
     * scaling slows them all (position / factor). */
    for (int i = 0; i < c->head_size / 2; i++) {
        float f = 1.0f / powf(c->rope_theta, (2 * i) / (float)c->head_size);
        if (c->rope_freq_factors)
            f /= c->rope_freq_factors[i];
        inv_freq[i] = f / c->rope_scaling_factor;
    }
}

void rope_positions(float *cos_sin, const float *inv_freq, int head_size, int pos, int T)
{
    for (int t = 0; t < T; t++)
        rope_angles(cos_sin + (size_t)t * head_size, inv_freq, head_size, pos + t);
}

void rope_rotate_qk(float *q, float *k, const float *cos_sin, const Config *c, int T, int first)
{
    /* Rotating q and k by their positions makes q.k depend on the distance
     * between the two tokens: that is all the model knows of order. Each
     * token's rotation is its own: the threads share the tokens. The two
     * styles differ only in which two values of a head form pair i. */
    void (*rotate)(float *, const float *, int, int) =
        c->rope_style == ROPE_NEOX_HALVES ? rope_rotate_neox : rope_rotate;
#pragma omp parallel for schedule(static) if ((size_t)T * c->q_dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++) {
        const float *angles = cos_sin + (size_t)t * c->head_size;
        if (t >= first)
            rotate(q + (size_t)t * c->q_dim, angles, c->n_heads, c->head_size);
        rotate(k + (size_t)t * c->kv_dim, angles, c->n_kv_heads, c->head_size);
    }
}

void rmsnorm_heads(float *x, const float *weight, int T, int n_heads, int head_size, float eps)
{
    /* A row's heads lie back to back, so the heads of T rows are T * n_heads
     * rows of head_size: RMSNorm of each, in place (rmsnorm allows it). */
    rmsnorm_rows(x, x, weight, T * n_heads, head_size, eps);
}

/* Where the key or value of one kv head at one position is kept in a cache
 * (n_layers, n_kv_heads, seq_len, head_size): each head's positions side by side. */
static size_t cache_offset(const Config *c, int layer, int kv_head, int pos)
{
    return (((size_t)layer * c->n_kv_heads + kv_head) * c->seq_len + pos) * c->head_size;
}

void kv_cache_write(float *key_cache, float *value_cache, const float *k, const float *v, const Config *c,
                    int layer, int pos, int T)
{
    /* The threads share the tokens as rope_rotate_qk does, and so the first
     * writes to the cache's pages. */
#pragma omp parallel for schedule(static) if ((size_t)T * c->dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++) {
        for (int kv = 0; kv < c->n_kv_heads; kv++) {
            const size_t head = (size_t)t * c->kv_dim + (size_t)kv * c->head_size;
            memcpy(key_cache + cache_offset(c, layer, kv, pos + t), k + head, c->head_size * sizeof(float));
            memcpy(value_cache + cache_offset(c, layer, kv, pos + t), v + head, c->head_size * sizeof(float));
        }
    }
}

/* attend for a batch: every (head, block of queries) is independent, and a
 * block's queries go through the keys and values together. */
static void attend_blocks(float *out, const float *q, const float *key_cache, const float *value_cache, float *att,
                          const Config *c, int layer, int T, int pos, int first, size_t work)
{
    const int heads_per_kv = c->n_heads / c->n_kv_heads;
    const float inv_sqrt_head = 1.0f / sqrtf((float)c->head_size);
    const int n_blocks = (T - first + ATTENTION_BLOCK - 1) / ATTENTION_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (work >= PARALLEL_MIN_WORK)
    for (int h = 0; h < c->n_heads; h++) {
        for (int b = 0; b < n_blocks; b++) {
            const int t0 = first + b * ATTENTION_BLOCK;
            const int n_queries = T - t0 < ATTENTION_BLOCK ? T - t0 : ATTENTION_BLOCK;
            float *scratch = att + ((size_t)b * c->n_heads + h) * ATTENTION_SCRATCH(c->seq_len, c->head_size);
            const size_t kv = cache_offset(c, layer, h / heads_per_kv, 0);
            attention_query_block(out + (size_t)t0 * c->q_dim + (size_t)h * c->head_size, c->q_dim,
                                  q + (size_t)t0 * c->q_dim + (size_t)h * c->head_size, c->q_dim, n_queries, pos + t0,
                                  key_cache + kv, value_cache + kv, c->head_size, c->head_size, inv_sqrt_head,
                                  scratch);
        }
    }
}

/* attend query by query: decoding, and batches whose weights an observer
 * watches. Every (head, query) is independent and has its own row of att. */
typedef struct {
    float *out, *att;
    const float *q, *key_cache, *value_cache;
    const AttentionObserver *observer;
    const Config *c;
    int layer, T, pos, first;
} QueryWork;

/* Unit u: query first + u % n_queries of head u / n_queries. */
static void attend_query(void *context, int unit)
{
    const QueryWork *w = context;
    const Config *c = w->c;
    const int n_queries = w->T - w->first, h = unit / n_queries, t = w->first + unit % n_queries;
    const int heads_per_kv = c->n_heads / c->n_kv_heads;
    const int n_visible = w->pos + t + 1;  /* causal: no peeking ahead */
    float *row = w->att + ((size_t)t * c->n_heads + h) * c->seq_len;
    const size_t kv = cache_offset(c, w->layer, h / heads_per_kv, 0);
    attention_scores(row, w->q + (size_t)t * c->q_dim + (size_t)h * c->head_size, w->key_cache + kv, c->head_size,
                     n_visible, c->head_size, 1.0f / sqrtf((float)c->head_size));
    softmax(row, n_visible);
    /* From this thread: each (layer, h, pos + t) is one call, so no two
     * threads ever hand over the same row. */
    if (w->observer)
        w->observer->row(w->observer->context, w->layer, h, w->pos + t, row, n_visible);
    attention_weighted_sum(w->out + (size_t)t * c->q_dim + (size_t)h * c->head_size, row, w->value_cache + kv,
                           c->head_size, n_visible, c->head_size);
}

/* On the engine's threads (for_each_unit), as decoding's matmuls are: no
 * thread waits for one that another process holds off its core. */
static void attend_one_by_one(float *out, const float *q, const float *key_cache, const float *value_cache,
                              float *att, const AttentionObserver *observer, const Config *c, int layer, int T,
                              int pos, int first, size_t work)
{
    QueryWork w = {out, att, q, key_cache, value_cache, observer, c, layer, T, pos, first};
    for_each_unit(c->n_heads * (T - first), 1, work >= PARALLEL_MIN_WORK, attend_query, &w);
}

void attend(float *out, const float *q, const float *key_cache, const float *value_cache, float *att,
            const AttentionObserver *observer, const Config *c, int layer, int T, int pos, int first)
{
    const size_t work = (size_t)(T - first) * c->n_heads * (pos + T) * c->head_size;
    if (T - first > 1 && !observer)
        attend_blocks(out, q, key_cache, value_cache, att, c, layer, T, pos, first, work);
    else
        attend_one_by_one(out, q, key_cache, value_cache, att, observer, c, layer, T, pos, first, work);
}

void swiglu_rows(float *gate, const float *up, int T, int hidden_dim)
{
    swiglu(gate, up, T * hidden_dim);
}

void gelu_rows(float *x, int T, int n)
{
    gelu(x, T * n);
}

void observe_residual(const AttentionObserver *observer, int layer, const float *x, int T, int pos, int dim)
{
    if (!observer || !observer->residual)
        return;
    for (int t = 0; t < T; t++)
        observer->residual(observer->context, layer, pos + t, x + (size_t)t * dim, dim);
}

void observe_block(const AttentionObserver *observer, int layer, BlockOutput what, const float *out, int T, int pos,
                   int width)
{
    if (!observer || !observer->block)
        return;
    for (int t = 0; t < T; t++)
        observer->block(observer->context, layer, what, pos + t, out + (size_t)t * width, width);
}

void residual_add(float *x, const float *y, int T, int dim)
{
    add_in_place(x, y, T * dim);
}

int output_rows(LogitRows wanted, int T)
{
    switch (wanted) {
    case LOGITS_ALL:
        return T;
    case LOGITS_LAST:
        return 1;
    case LOGITS_NONE:
        break;
    }
    return 0;
}

int layer_first_row(const RunState *s, int layer, int n_layers, int T, int n_out)
{
    return layer == n_layers - 1 && !s->observer ? T - n_out : 0;
}
