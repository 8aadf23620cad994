/* arch_qwen3.c - the Qwen3 architecture (the dense models, 0.6B to 32B):
 * Llama's blocks (RMSNorm, grouped-query attention, SwiGLU) with three
 * differences: each head of q and of k is RMS-normalized on its own, with
 * weights of its own (attn_q_norm, attn_k_norm), before RoPE; RoPE pairs
 * the two halves of each head (GPT-NeoX's way, as in Qwen2); and the head
 * size is the file's (qwen3.attention.key_length), so that n_heads heads
 * need not make dim: Qwen3-0.6B has 16 heads of 128 for a stream of 1024.
 * No biases (Qwen2's are gone).
 *
 * Part 1 reads a GGUF file's qwen3.* hyperparameters and finds its tensors
 * by name (llama.cpp's layout); part 2 is the forward pass, built from
 * layers.c's blocks. Set beside arch_llama.c, the difference between the two
 * files is the difference between the two models. */
#include "arch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gguf_weights.h"
#include "layers.h"

/* A layer's tensors: Llama's nine, and the q and k norms. */
#define QWEN3_TENSORS_PER_LAYER 11

/* ---------------------------------------------------------------------------
 * Part 1: loading a GGUF file */

static int load_layer(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                      char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (gguf_vector(g, path, LAYER_TENSOR("attn_norm.weight"), c->dim, &lw->attn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_q.weight"), c->q_dim, c->dim, &lw->wq, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_k.weight"), c->kv_dim, c->dim, &lw->wk, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_v.weight"), c->kv_dim, c->dim, &lw->wv, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_q_norm.weight"), c->head_size, &lw->attn_q_norm, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_k_norm.weight"), c->head_size, &lw->attn_k_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_output.weight"), c->dim, c->q_dim, &lw->wo, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_norm.weight"), c->dim, &lw->ffn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_gate.weight"), c->hidden_dim, c->dim, &lw->w_gate, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_down.weight"), c->dim, c->hidden_dim, &lw->w_down, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_up.weight"), c->hidden_dim, c->dim, &lw->w_up, err))
        return -1;
#undef LAYER_TENSOR
    return 0;
}

int qwen3_load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    const GgufFile *g = model->gguf;
    Config *c = &model->config;
    /* qwen3.* keys, the head size from qwen3.attention.key_length. */
    if (gguf_rotary_hyperparameters(g, path, "qwen3", c, err) != 0)
        return -1;
    c->rope_style = ROPE_NEOX_HALVES;  /* q and k rows as Hugging Face has them: not permuted */
    Weights *w = &model->weights;
    if (gguf_matrix(g, path, "token_embd.weight", c->vocab_size, c->dim, &w->token_embd, err) ||
        gguf_vector(g, path, "output_norm.weight", c->dim, &w->output_norm, err))
        return -1;
    /* Without output.weight the classifier is the token embedding (0.6B to 4B). */
    if (gguf_classifier(g, path, c, w, err) != 0)
        return -1;
    return gguf_layers(g, path, c, w, QWEN3_TENSORS_PER_LAYER, "qwen3.block_count", load_layer, err);
}

/* ---------------------------------------------------------------------------
 * Part 2: the forward pass
 *
 * The residual stream s->x (T, dim) goes through every layer; each block
 * reads it normalized and adds its output back. Blocks run on rows
 * [first, T) only: first is 0 except in the last layer (see qwen3_forward). */

/* x += wo @ attention(rope(qnorm(wq xn)), rope(knorm(wk xn)), wv xn), xn =
 * rmsnorm(x): qnorm and knorm normalize each head on its own (q_dim =
 * n_heads * head_size wide, not dim); rope pairs each head's halves
 * (c->rope_style). Every row's key and value go to the cache; rows before
 * first give nothing else. */
static void attention_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, int T, int pos,
                            int first)
{
    rmsnorm_rows(s->xb, s->x, lw->attn_norm, T, c->dim, c->norm_eps);
    /* Rows before first, in the stream (dim wide) and in q and attention's output (q_dim wide). */
    const size_t rows_before = (size_t)first * c->dim, q_rows_before = (size_t)first * c->q_dim;
    if (first == 0) {
        float *const qkv[] = {s->q, s->k, s->v};
        const Matrix *const wqkv[] = {&lw->wq, &lw->wk, &lw->wv};
        linear_shared_input(qkv, wqkv, NULL, 3, s->xb, T, &s->matmul_scratch);
    } else {
        float *const kv[] = {s->k, s->v};
        const Matrix *const wkv[] = {&lw->wk, &lw->wv};
        linear_shared_input(kv, wkv, NULL, 2, s->xb, T, &s->matmul_scratch);
        if (first < T)
            linear(s->q + q_rows_before, s->xb + rows_before, &lw->wq, NULL, T - first, &s->matmul_scratch);
    }
    rmsnorm_heads(s->q + q_rows_before, lw->attn_q_norm, T - first, c->n_heads, c->head_size, c->norm_eps);
    rmsnorm_heads(s->k, lw->attn_k_norm, T, c->n_kv_heads, c->head_size, c->norm_eps);
    rope_rotate_qk(s->q, s->k, s->rope_cos_sin, c, T, first);
    kv_cache_write(s->key_cache, s->value_cache, s->k, s->v, c, layer, pos, T);
    if (first == T)
        return;
    attend(s->xb, s->q, s->key_cache, s->value_cache, s->att, s->observer, c, layer, T, pos, first);
    linear(s->xb2 + rows_before, s->xb + q_rows_before, &lw->wo, NULL, T - first, &s->matmul_scratch);
    residual_add(s->x + rows_before, s->xb2 + rows_before, T - first, c->dim);
}

/* x += w_down @ (silu(w_gate xn) * w_up xn), xn = rmsnorm(x), for the n rows of x: Llama's. */
static void feed_forward_block(const Config *c, const LayerWeights *lw, RunState *s, float *x, int n)
{
    rmsnorm_rows(s->xb, x, lw->ffn_norm, n, c->dim, c->norm_eps);
    float *const gate_up[] = {s->hb, s->hb2};
    const Matrix *const w_gate_up[] = {&lw->w_gate, &lw->w_up};
    linear_shared_input(gate_up, w_gate_up, NULL, 2, s->xb, n, &s->matmul_scratch);
    swiglu_rows(s->hb, s->hb2, n, c->hidden_dim);
    linear(s->xb2, s->hb, &lw->w_down, NULL, n, &s->matmul_scratch);
    residual_add(x, s->xb2, n, c->dim);
}

float *qwen3_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    /* The rows whose output is wanted: the last n_out of the batch. */
    const int n_out = output_rows(wanted, T);

    embed_tokens(s->x, &w->token_embd, tokens, T);
    rope_positions(s->rope_cos_sin, s->rope_inv_freq, c->head_size, pos, T);
    for (int l = 0; l < c->n_layers; l++) {
        /* As in Llama: the last layer runs past its cache write only on the
         * n_out rows, unless an observer watches every row's attention. */
        const bool last = l == c->n_layers - 1;
        const int first = last && !s->observer ? T - n_out : 0;
        attention_block(c, &w->layers[l], s, l, T, pos, first);
        if (first < T)
            feed_forward_block(c, &w->layers[l], s, s->x + (size_t)first * c->dim, T - first);
        observe_residual(s->observer, l, s->x, T, pos, c->dim);
    }
    if (n_out == 0)
        return NULL;
    rmsnorm_rows(s->xb, s->x + (size_t)(T - n_out) * c->dim, w->output_norm, n_out, c->dim, c->norm_eps);
    linear(s->logits, s->xb, &w->output, NULL, n_out, &s->matmul_scratch);
    return s->logits;
}
