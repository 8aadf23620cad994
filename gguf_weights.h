/* gguf_weights.h - a GGUF checkpoint's hyperparameters and tensors as the
 * engine's types (int, Matrix, float vectors): what every architecture's
 * loader reads its model with. */
#ifndef GGUF_WEIGHTS_H
#define GGUF_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"

/* The integer hyperparameter key: required, or with a fallback > 0 optional.
 * Returns 0, or -1 with "path: why" in err. */
int gguf_dimension(const GgufFile *g, const char *path, const char *key, int fallback, int *out,
                   char err[ERROR_SIZE]);

/* The hyperparameters that Llama and the architectures built like it
 * (qwen2, qwen3) write under their own name arch ("qwen3.embedding_length"
 * ...), into c, checked: the dimensions and head counts; the head size
 * (attention.key_length, else dim / n_heads; attention.value_length, when
 * given, must be the same); RMSNorm's epsilon (default 1e-5); RoPE's base
 * (rope.freq_base, default 10000), the rotated dimensions
 * (rope.dimension_count: the whole head) and its scaling (rope.scaling.type
 * none or linear, whose rope.scaling.factor divides the positions; YaRN and
 * the others are refused by name). The caller sets what is the
 * architecture's own: c->rope_style, c->rope_freq_factors. Returns 0, or -1
 * with "path: why" in err. */
int gguf_rotary_hyperparameters(const GgufFile *g, const char *path, const char *arch, Config *c,
                                char err[ERROR_SIZE]);

/* The tensor called name, which must be a (rows, cols) matrix of a type the
 * kernels run. Returns 0, or -1 with "path: why" in err. */
int gguf_matrix(const GgufFile *g, const char *path, const char *name, int rows, int cols, Matrix *m,
                char err[ERROR_SIZE]);

/* The float32 vector called name, of n values (a norm's weights). Returns 0,
 * or -1 with "path: why" in err. */
int gguf_vector(const GgufFile *g, const char *path, const char *name, int n, const float **v,
                char err[ERROR_SIZE]);

/* The vocabulary size: the rows of token_embd.weight. Returns 0, or -1 with
 * "path: why" in err. */
int gguf_vocab_size(const GgufFile *g, const char *path, int *vocab_size, char err[ERROR_SIZE]);

/* The classifier: output.weight (vocab_size, dim) when the file has one,
 * else the token embedding (tied), which c->shared_classifier then says.
 * Returns 0, or -1 with "path: why" in err. */
int gguf_classifier(const GgufFile *g, const char *path, Config *c, Weights *w, char err[ERROR_SIZE]);

/* Reads one block's tensors (blk.l.*) into lw. */
typedef int (*GgufLayerLoader)(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                               char err[ERROR_SIZE]);

/* Allocates w->layers and reads each with load_layer, after checking that
 * the file holds tensors_per_layer tensors for each of c->n_layers (so that a
 * huge block count is refused before allocating for it; block_count_key
 * names it in the message). Returns 0, or -1 with "path: why" in err. */
int gguf_layers(const GgufFile *g, const char *path, const Config *c, Weights *w, int tensors_per_layer,
                const char *block_count_key, GgufLayerLoader load_layer, char err[ERROR_SIZE]);

#endif
