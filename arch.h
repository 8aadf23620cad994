/* arch.h - the architectures the engine runs. Each is one file (arch_*.c)
 * holding its GGUF loader and its forward pass, and one row of the table in
 * model.c, found by a GGUF file's general.architecture. */
#ifndef ARCH_H
#define ARCH_H

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

/* arch_qwen2.c */
int qwen2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
float *qwen2_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);

/* arch_qwen3.c */
int qwen3_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
float *qwen3_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);

/* arch_gpt2.c */
int gpt2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE]);
float *gpt2_forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);
/* GPT-2 files hold q, k and v as one matrix wqkv (dim + 2 kv_dim, dim) and
 * one bias bqkv: lw->wq, wk, wv and bq, bk, bv become views of their rows,
 * so that the three run as Llama's do. */
void gpt2_split_qkv(LayerWeights *lw, const Matrix *wqkv, const float *bqkv, const Config *c);

#endif
