/* arch_gpt2.c - the GPT-2 architecture: pre-norm blocks with LayerNorm,
 * learned position embeddings instead of RoPE, multi-head attention from one
 * fused q|k|v matrix, a GELU feed-forward block, and a bias on every matrix.
 *
 * Part 1 reads a GGUF file's gpt2.* hyperparameters and finds its tensors by
 * name (llama.cpp's layout); part 2 is the forward pass, built from
 * layers.c's blocks. Set beside arch_llama.c, the difference between the two
 * files is the difference between the two models. */
#include "arch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_weights.h"
#include "layers.h"

/* GPT-2's LayerNorm epsilon, for a file whose metadata does not say. */
#define GPT2_NORM_EPS 1e-5f

/* A layer's tensors: two norms and their shifts, qkv, output, up and down,
 * each matrix with its bias. */
#define GPT2_TENSORS_PER_LAYER 12

/* ---------------------------------------------------------------------------
 * Part 1: loading a GGUF file */

static int load_hyperparameters(const GgufFile *g, const char *path, Config *c, char err[ERROR_SIZE])
{
    if (gguf_vocab_size(g, path, &c->vocab_size, err) != 0)
        return -1;
    if (gguf_dimension(g, path, "gpt2.embedding_length", 0, &c->dim, err) ||
        gguf_dimension(g, path, "gpt2.feed_forward_length", 0, &c->hidden_dim, err) ||
        gguf_dimension(g, path, "gpt2.block_count", 0, &c->n_layers, err) ||
        gguf_dimension(g, path, "gpt2.attention.head_count", 0, &c->n_heads, err) ||
        gguf_dimension(g, path, "gpt2.context_length", 0, &c->seq_len, err))
        return -1;
    c->n_kv_heads = c->n_heads;  /* every query head has its own keys and values */
    char why[ERROR_SIZE];
    if (config_validate(c, false, why) != 0)
        return file_error(err, path, "bad metadata: %s", why);
    c->rope_theta = 0.0f;  /* positions come from position_embd */
    c->rope_scaling_factor = 1.0f;
    c->norm_eps = GPT2_NORM_EPS;
    if (gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", &c->norm_eps) == -2 || !(c->norm_eps >= 0) ||
        !isfinite(c->norm_eps))
        return file_error(err, path, "bad gpt2.attention.layer_norm_epsilon");
    return 0;
}

static int load_layer(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                      char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
    const int qkv_rows = c->dim + 2 * c->kv_dim;
    Matrix wqkv;
    const float *bqkv;
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (gguf_vector(g, path, LAYER_TENSOR("attn_norm.weight"), c->dim, &lw->attn_norm, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_norm.bias"), c->dim, &lw->attn_norm_bias, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_qkv.weight"), qkv_rows, c->dim, &wqkv, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_qkv.bias"), qkv_rows, &bqkv, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_output.weight"), c->dim, c->dim, &lw->wo, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_output.bias"), c->dim, &lw->bo, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_norm.weight"), c->dim, &lw->ffn_norm, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_norm.bias"), c->dim, &lw->ffn_norm_bias, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_up.weight"), c->hidden_dim, c->dim, &lw->w_up, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_up.bias"), c->hidden_dim, &lw->b_up, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_down.weight"), c->dim, c->hidden_dim, &lw->w_down, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_down.bias"), c->dim, &lw->b_down, err))
        return -1;
#undef LAYER_TENSOR
    gpt2_split_qkv(lw, &wqkv, bqkv, c);
    return 0;
}

void gpt2_split_qkv(LayerWeights *lw, const Matrix *wqkv, const float *bqkv, const Config *c)
{
    lw->wq = matrix_rows(wqkv, 0, c->dim);
    lw->wk = matrix_rows(wqkv, c->dim, c->kv_dim);
    lw->wv = matrix_rows(wqkv, c->dim + c->kv_dim, c->kv_dim);
    lw->bq = bqkv;
    lw->bk = bqkv + c->dim;
    lw->bv = bqkv + c->dim + c->kv_dim;
}

int gpt2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    const GgufFile *g = model->gguf;
    Config *c = &model->config;
    if (load_hyperparameters(g, path, c, err) != 0)
        return -1;
    Weights *w = &model->weights;
    if (gguf_matrix(g, path, "token_embd.weight", c->vocab_size, c->dim, &w->token_embd, err) ||
        gguf_matrix(g, path, "position_embd.weight", c->seq_len, c->dim, &w->position_embd, err) ||
        gguf_vector(g, path, "output_norm.weight", c->dim, &w->output_norm, err) ||
        gguf_vector(g, path, "output_norm.bias", c->dim, &w->output_norm_bias, err))
        return -1;
    /* Without output.weight the classifier is the token embedding (GPT-2's own files tie them). */
    if (gguf_classifier(g, path, c, w, err) != 0)
        return -1;
    return gguf_layers(g, path, c, w, GPT2_TENSORS_PER_LAYER, "gpt2.block_count", load_layer, err);
}

/* ---------------------------------------------------------------------------
 * Part 2: the forward pass
 *
 * The residual stream s->x (T, dim) goes through every layer; each block
 * reads it normalized and adds its output back. Blocks run on rows
 * [first, T) only: first is 0 except in the last layer (see gpt2_forward). */

/* x += wo @ attention(q, k, v) + bo, with q, k, v = wq, wk, wv @ layernorm(x) + their biases.
 * Every row's key and value go to the cache; rows before first give nothing
 * else. No rotation: the positions are already in x. */
static void attention_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, int T, int pos,
                            int first)
{
    layernorm_rows(s->xb, s->x, lw->attn_norm, lw->attn_norm_bias, T, c->dim, c->norm_eps);
    float *const qkv[] = {s->q, s->k, s->v};
    const Matrix *const wqkv[] = {&lw->wq, &lw->wk, &lw->wv};
    const float *const bqkv[] = {lw->bq, lw->bk, lw->bv};
    linear_shared_input(qkv, wqkv, bqkv, 3, s->xb, T, &s->matmul_scratch);
    kv_cache_write(s->key_cache, s->value_cache, s->k, s->v, c, layer, pos, T);
    if (first == T)
        return;
    const size_t rows_before = (size_t)first * c->dim;
    attend(s->xb, s->q, s->key_cache, s->value_cache, s->att, s->observer, c, layer, T, pos, first);
    observe_block(s->observer, layer, BLOCK_ATTENTION_HEADS, s->xb + rows_before, T - first, pos + first, c->q_dim);
    linear(s->xb2 + rows_before, s->xb + rows_before, &lw->wo, lw->bo, T - first, &s->matmul_scratch);
    residual_add(s->x + rows_before, s->xb2 + rows_before, T - first, c->dim);
}

/* x += w_down @ gelu(w_up @ layernorm(x) + b_up) + b_down, for the n rows of x: the tokens at
 * positions pos .. pos + n - 1. */
static void feed_forward_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, float *x, int n,
                               int pos)
{
    layernorm_rows(s->xb, x, lw->ffn_norm, lw->ffn_norm_bias, n, c->dim, c->norm_eps);
    linear(s->hb, s->xb, &lw->w_up, lw->b_up, n, &s->matmul_scratch);
    gelu_rows(s->hb, n, c->hidden_dim);
    linear(s->xb2, s->hb, &lw->w_down, lw->b_down, n, &s->matmul_scratch);
    observe_block(s->observer, layer, BLOCK_FEED_FORWARD, s->xb2, n, pos, c->dim);
    residual_add(x, s->xb2, n, c->dim);
}

float *gpt2_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    /* The rows whose output is wanted: the last n_out of the batch. */
    const int n_out = output_rows(wanted, T);

    embed_tokens(s->x, &w->token_embd, tokens, T);
    add_position_embedding(s->x, s->xb, &w->position_embd, pos, T);
    for (int l = 0; l < c->n_layers; l++) {
        const int first = layer_first_row(s, l, c->n_layers, T, n_out);
        attention_block(c, &w->layers[l], s, l, T, pos, first);
        if (first < T)
            feed_forward_block(c, &w->layers[l], s, l, s->x + (size_t)first * c->dim, T - first, pos + first);
        observe_residual(s->observer, l, s->x, T, pos, c->dim);
    }
    if (n_out == 0)
        return NULL;
    layernorm_rows(s->xb, s->x + (size_t)(T - n_out) * c->dim, w->output_norm, w->output_norm_bias, n_out, c->dim,
                   c->norm_eps);
    linear(s->logits, s->xb, &w->output, NULL, n_out, &s->matmul_scratch);
    return s->logits;
}
