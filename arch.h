/* arch.h - the architectures the engine runs. Each is one file (arch_*.c)
 * holding its GGUF loader and, unless it shares another's, its forward pass,
 * and one row of the table in model.c, found by a GGUF file's
 * general.architecture. Qwen2 and Qwen3 run Llama's forward pass, which
 * applies the tensors they add. */
#ifndef ARCH_H
#define ARCH_H

#include "gguf_weights.h"
#include "model.h"

/* Llama's RoPE base and RMSNorm epsilon: what llama2.c files always use, and
 * what a GGUF file gets when its metadata does not say. */
#define LLAMA_ROPE_THETA 10000.0f
#define LLAMA_NORM_EPS 1e-5f

struct Architecture {
    const char *name;  /* general.architecture in a GGUF file */
    /* Reads the hyperparameters of model->gguf into model->config and points
     * model->weights at its tensors. Returns 0, or -1 with "path: why" in
     * err; the caller frees the model either way. */
    int (*load_gguf)(Model *model, const char *path, char err[ERROR_SIZE]);
    /* The forward pass, as forward() in model.h describes it. */
    float *(*forward)(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);
};

/* arch_llama.c */
int llama_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
float *llama_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);
/* The Llama family's loading, shared with Qwen2 and Qwen3: the hyperparameters
 * under "<arch>.", the embedding, final norm and classifier, and each block
 * by load_block, which holds tensors_per_layer tensors. */
#define LLAMA_TENSORS_PER_LAYER 9  /* attention norm, q, k, v, output; ffn norm, gate, down, up */
int llama_family_load_gguf(Model *model, const char *path, const char *arch, RopeStyle rope_style,
                           int tensors_per_layer, GgufLayerLoader load_block, char err[ERROR_SIZE]);
/* Llama's nine tensors of block l. */
int llama_load_block(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                     char err[ERROR_SIZE]);

/* arch_qwen2.c, arch_qwen3.c: loaders; llama_forward runs them. */
int qwen2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
int qwen3_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);

/* arch_gpt2.c */
int gpt2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
float *gpt2_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);
/* GPT-2 files hold q, k and v as one matrix wqkv (dim + 2 kv_dim, dim) and
 * one bias bqkv: lw->wq, wk, wv and bq, bk, bv become views of their rows,
 * so that the three run as Llama's do. */
void gpt2_split_qkv(LayerWeights *lw, const Matrix *wqkv, const float *bqkv, const Config *c);

#endif
