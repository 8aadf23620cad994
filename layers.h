/* layers.h - the blocks a transformer's forward pass is built from.
 *
 * Each is one concept of the model, applied to a batch of T tokens whose
 * rows lie back to back; shapes are written (rows, cols) beside the
 * pointers. The blocks call the numeric kernels (kernels.h) and share the
 * rows among the threads; an architecture (arch_*.c) strings them together
 * into its forward pass. */
#ifndef LAYERS_H
#define LAYERS_H

#include "kernels.h"
#include "model.h"

/* x (T, dim) = the rows of token_embd (vocab_size, dim) for tokens (T). */
void embed_tokens(float *x, const Matrix *token_embd, const int *tokens, int T);

/* out (T, dim) = each row of x (T, dim) over its root mean square, times
 * weight (dim). */
void rmsnorm_rows(float *out, const float *x, const float *weight, int T, int dim, float eps);

/* x (T, dim) += the rows pos .. pos + T - 1 of position_embd (seq_len, dim):
 * GPT-2's learned positions, added once to the embedded tokens. row
 * (T, dim) holds each row as floats on the way. */
void add_position_embedding(float *x, float *row, const Matrix *position_embd, int pos, int T);

/* out (T, dim) = each row of x (T, dim) less its mean, over its standard
 * deviation, times weight (dim) plus bias (dim): GPT-2's LayerNorm. */
void layernorm_rows(float *out, const float *x, const float *weight, const float *bias, int T, int dim, float eps);

/* out (T, W.rows) = in (T, W.cols) @ W^T, plus bias (W.rows) on every row
 * (NULL: no bias). */
void linear(float *out, const float *in, const Matrix *W, const float *bias, int T, MatmulScratch *scratch);

/* The same for n matrices that read one input (q, k and v; gate and up),
 * in one pass over the threads: outs[i] (T, Ws[i]->rows), biases NULL or
 * (n) of which any may be NULL. */
void linear_shared_input(float *const outs[], const Matrix *const Ws[], const float *const biases[], int n,
                         const float *in, int T, MatmulScratch *scratch);

/* Rotary position embedding (RoPE). rope_frequencies: inv_freq (head_size / 2)
 * = the angle per position of each pair of a head's values,
 * theta^(-2i / head_size), divided by the file's per-pair factors
 * (c->rope_freq_factors: Llama 3.1's long-context scaling) and by the linear
 * scaling factor (c->rope_scaling_factor, which divides the positions).
 * rope_positions: cos_sin (T, head_size) holds each pair's cos and sin for
 * positions pos .. pos + T - 1. rope_rotate_qk: rotates rows [first, T) of
 * q (T, q_dim) and every row of k (T, kv_dim), each by its position, pairing
 * a head's values as c->rope_style says (rope_rotate or rope_rotate_neox). */
void rope_frequencies(float *inv_freq, const Config *c);
void rope_positions(float *cos_sin, const float *inv_freq, int head_size, int pos, int T);
void rope_rotate_qk(float *q, float *k, const float *cos_sin, const Config *c, int T, int first);

/* Qwen3's q/k norm: each head_size-wide head of x (T, n_heads * head_size),
 * in place, over its root mean square, times weight (head_size): RMSNorm per
 * head instead of per token. */
void rmsnorm_heads(float *x, const float *weight, int T, int n_heads, int head_size, float eps);

/* Keeps the keys and values of T tokens at positions pos .. pos + T - 1, so
 * that later tokens can attend to them: k, v (T, kv_dim) into layer's part
 * of key_cache, value_cache (n_layers, n_kv_heads, seq_len, head_size). */
void kv_cache_write(float *key_cache, float *value_cache, const float *k, const float *v, const Config *c,
                    int layer, int pos, int T);

/* Multi-head attention of rows [first, T) of q (T, q_dim), query t at position
 * pos + t, over layer's cached keys and values at positions 0 .. pos + t
 * (causal): scores q.k / sqrt(head_size), softmax, then the values' sum
 * weighted by them, into rows [first, T) of out (T, q_dim). With grouped-query
 * attention n_heads / n_kv_heads query heads share one key/value head.
 * att: the run state's scratch. An observer (NULL: none) is handed every
 * row of weights. */
void attend(float *out, const float *q, const float *key_cache, const float *value_cache, float *att,
            const AttentionObserver *observer, const Config *c, int layer, int T, int pos, int first);

/* SwiGLU's activation: gate (T, hidden_dim) = silu(gate) * up (T, hidden_dim). */
void swiglu_rows(float *gate, const float *up, int T, int hidden_dim);

/* GPT-2's activation, in place on x (T, n): GELU in its tanh approximation,
 * 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
void gelu_rows(float *x, int T, int n);

/* Hands an observer (NULL: none, and nothing happens) the rows of the
 * residual stream x (T, dim) of the tokens at positions pos .. pos + T - 1,
 * as they leave layer. */
void observe_residual(const AttentionObserver *observer, int layer, const float *x, int T, int pos, int dim);

/* Hands an observer (NULL: none, and nothing happens) the rows out (T,
 * width) of a block's output (what) for the tokens at positions pos .. pos +
 * T - 1 in layer. */
void observe_block(const AttentionObserver *observer, int layer, BlockOutput what, const float *out, int T, int pos,
                   int width);

/* The residual connection: x (T, dim) += y (T, dim). */
void residual_add(float *x, const float *y, int T, int dim);

/* How many rows, at the end of a batch of T, need an output: 1 for
 * LOGITS_LAST, T for LOGITS_ALL, 0 for LOGITS_NONE. The last layer runs
 * only those past its kv-cache write (llama.cpp's inp_out_ids). */
int output_rows(LogitRows wanted, int T);

/* The first row of the batch that layer computes past its kv-cache write:
 * every layer writes the keys and values of all T rows, which later tokens
 * read, but the last runs the rest only for the n_out rows whose output is
 * wanted, unless an observer watches every row. */
int layer_first_row(const RunState *s, int layer, int n_layers, int T, int n_out);

#endif
