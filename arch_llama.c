/* arch_llama.c - the Llama architecture (Llama 1, 2 and 3.x, llama2.c's
 * models, TinyLlama, SmolLM2): pre-norm blocks with RMSNorm, rotary
 * positions, grouped-query attention and a SwiGLU feed-forward block, no
 * biases. Llama 3.1 adds per-frequency RoPE divisors (rope_freqs); a file
 * may give a head size of its own (llama.attention.key_length).
 *
 * Qwen2 and Qwen3 are this design with a few tensors more (biases on q, k
 * and v; a norm over each head of q and of k): their files, arch_qwen2.c and
 * arch_qwen3.c, say only how their GGUF files differ, and this forward pass
 * runs them, applying a bias or a head norm where the file has one.
 *
 * Part 1 reads a GGUF file's hyperparameters and finds its tensors by name;
 * part 2 is the forward pass, built from layers.c's blocks. */
#include "arch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gguf_weights.h"
#include "layers.h"

/* ---------------------------------------------------------------------------
 * Part 1: loading a GGUF file */

/* Llama 3.1's long-context RoPE: rope_freqs.weight, one divisor per pair of
 * a head's values (llama.cpp's converter computes them from the model's
 * rope_scaling, type llama3: 1 for the fast pairs, the factor for the slow
 * ones, a blend between). Optional: Llama 1 and 2, 3.0, SmolLM2 and
 * TinyLlama have none. */
static int load_rope_freqs(const GgufFile *g, const char *path, Config *c, char err[ERROR_SIZE])
{
    if (!gguf_find_tensor(g, "rope_freqs.weight"))
        return 0;
    const float *factors;
    if (gguf_vector(g, path, "rope_freqs.weight", c->head_size / 2, &factors, err) != 0)
        return -1;
    for (int i = 0; i < c->head_size / 2; i++)
        if (!(factors[i] > 0) || !isfinite(factors[i]))
            return file_error(err, path, "tensor rope_freqs.weight holds %g at %d; a frequency's divisor must be "
                              "positive", factors[i], i);
    c->rope_freq_factors = factors;
    return 0;
}

int llama_load_block(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                     char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (gguf_vector(g, path, LAYER_TENSOR("attn_norm.weight"), c->dim, &lw->attn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_q.weight"), c->q_dim, c->dim, &lw->wq, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_k.weight"), c->kv_dim, c->dim, &lw->wk, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_v.weight"), c->kv_dim, c->dim, &lw->wv, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_output.weight"), c->dim, c->q_dim, &lw->wo, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_norm.weight"), c->dim, &lw->ffn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_gate.weight"), c->hidden_dim, c->dim, &lw->w_gate, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_down.weight"), c->dim, c->hidden_dim, &lw->w_down, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_up.weight"), c->hidden_dim, c->dim, &lw->w_up, err))
        return -1;
#undef LAYER_TENSOR
    return 0;
}

int llama_family_load_gguf(Model *model, const char *path, const char *arch, RopeStyle rope_style,
                           int tensors_per_layer, GgufLayerLoader load_block, char err[ERROR_SIZE])
{
    const GgufFile *g = model->gguf;
    Config *c = &model->config;
    char block_count_key[GGUF_MAX_NAME + 1];
    snprintf(block_count_key, sizeof block_count_key, "%s.block_count", arch);
    if (gguf_rotary_hyperparameters(g, path, arch, c, err) != 0)
        return -1;
    c->rope_style = rope_style;
    Weights *w = &model->weights;
    if (gguf_matrix(g, path, "token_embd.weight", c->vocab_size, c->dim, &w->token_embd, err) ||
        gguf_vector(g, path, "output_norm.weight", c->dim, &w->output_norm, err))
        return -1;
    /* Without output.weight the classifier is the token embedding (Llama 3.2,
     * SmolLM2, the small Qwen models). */
    if (gguf_classifier(g, path, c, w, err) != 0)
        return -1;
    return gguf_layers(g, path, c, w, tensors_per_layer, block_count_key, load_block, err);
}

int llama_load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    /* llama.* keys; RoPE rotates adjacent pairs, the order llama.cpp's
     * converter permutes q and k rows into. */
    if (llama_family_load_gguf(model, path, "llama", ROPE_ADJACENT_PAIRS, LLAMA_TENSORS_PER_LAYER, llama_load_block,
                               err) != 0)
        return -1;
    return load_rope_freqs(model->gguf, path, &model->config, err);
}

/* ---------------------------------------------------------------------------
 * Part 2: the forward pass
 *
 * The residual stream s->x (T, dim) goes through every layer; each block
 * reads it normalized and adds its output back. Blocks run on rows
 * [first, T) only: first is 0 except in the last layer (see llama_forward). */

/* x += wo @ attention(rope(qnorm(wq xn + bq)), rope(knorm(wk xn + bk)), wv xn + bv),
 * xn = rmsnorm(x). Llama has no biases and no head norms: Qwen2 has the
 * biases, Qwen3 the norms (each head of q and of k RMS-normalized on its own,
 * before RoPE). Every row's key and value go to the cache; rows before first
 * give nothing else. */
static void attention_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, int T, int pos,
                            int first)
{
    rmsnorm_rows(s->xb, s->x, lw->attn_norm, T, c->dim, c->norm_eps);
    /* Rows before first, in the stream (dim wide) and in q and attention's output (q_dim wide). */
    const size_t rows_before = (size_t)first * c->dim, q_rows_before = (size_t)first * c->q_dim;
    if (first == 0) {
        float *const qkv[] = {s->q, s->k, s->v};
        const Matrix *const wqkv[] = {&lw->wq, &lw->wk, &lw->wv};
        const float *const bqkv[] = {lw->bq, lw->bk, lw->bv};
        linear_shared_input(qkv, wqkv, bqkv, 3, s->xb, T, &s->matmul_scratch);
    } else {
        float *const kv[] = {s->k, s->v};
        const Matrix *const wkv[] = {&lw->wk, &lw->wv};
        const float *const bkv[] = {lw->bk, lw->bv};
        linear_shared_input(kv, wkv, bkv, 2, s->xb, T, &s->matmul_scratch);
        if (first < T)
            linear(s->q + q_rows_before, s->xb + rows_before, &lw->wq, lw->bq, T - first, &s->matmul_scratch);
    }
    if (lw->attn_q_norm) {
        rmsnorm_heads(s->q + q_rows_before, lw->attn_q_norm, T - first, c->n_heads, c->head_size, c->norm_eps);
        rmsnorm_heads(s->k, lw->attn_k_norm, T, c->n_kv_heads, c->head_size, c->norm_eps);
    }
    rope_rotate_qk(s->q, s->k, s->rope_cos_sin, c, T, first);
    kv_cache_write(s->key_cache, s->value_cache, s->k, s->v, c, layer, pos, T);
    if (first == T)
        return;
    attend(s->xb, s->q, s->key_cache, s->value_cache, s->att, s->observer, c, layer, T, pos, first);
    observe_block(s->observer, layer, BLOCK_ATTENTION_HEADS, s->xb + q_rows_before, T - first, pos + first, c->q_dim);
    linear(s->xb2 + rows_before, s->xb + q_rows_before, &lw->wo, NULL, T - first, &s->matmul_scratch);
    residual_add(s->x + rows_before, s->xb2 + rows_before, T - first, c->dim);
}

/* x += w_down @ (silu(w_gate xn) * w_up xn), xn = rmsnorm(x), for the n rows of x: the tokens at
 * positions pos .. pos + n - 1. */
static void feed_forward_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, float *x, int n,
                               int pos)
{
    rmsnorm_rows(s->xb, x, lw->ffn_norm, n, c->dim, c->norm_eps);
    float *const gate_up[] = {s->hb, s->hb2};
    const Matrix *const w_gate_up[] = {&lw->w_gate, &lw->w_up};
    linear_shared_input(gate_up, w_gate_up, NULL, 2, s->xb, n, &s->matmul_scratch);
    swiglu_rows(s->hb, s->hb2, n, c->hidden_dim);
    linear(s->xb2, s->hb, &lw->w_down, NULL, n, &s->matmul_scratch);
    observe_block(s->observer, layer, BLOCK_FEED_FORWARD, s->xb2, n, pos, c->dim);
    residual_add(x, s->xb2, n, c->dim);
}

float *llama_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    /* The rows whose output is wanted: the last n_out of the batch. */
    const int n_out = output_rows(wanted, T);

    embed_tokens(s->x, &w->token_embd, tokens, T);
    rope_positions(s->rope_cos_sin, s->rope_inv_freq, c->head_size, pos, T);
    for (int l = 0; l < c->n_layers; l++) {
        const int first = layer_first_row(s, l, c->n_layers, T, n_out);
        attention_block(c, &w->layers[l], s, l, T, pos, first);
        if (first < T)
            feed_forward_block(c, &w->layers[l], s, l, s->x + (size_t)first * c->dim, T - first, pos + first);
        observe_residual(s->observer, l, s->x, T, pos, c->dim);
    }
    if (n_out == 0)
        return NULL;
    rmsnorm_rows(s->xb, s->x + (size_t)(T - n_out) * c->dim, w->output_norm, n_out, c->dim, c->norm_eps);
    linear(s->logits, s->xb, &w->output, NULL, n_out, &s->matmul_scratch);
    return s->logits;
}
