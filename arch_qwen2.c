/* arch_qwen2.c - the Qwen2 architecture (Qwen2 and Qwen2.5): Llama's
 * blocks (RMSNorm, grouped-query attention, SwiGLU) with two differences:
 * q, k and v have biases, and RoPE pairs the two halves of each head
 * (GPT-NeoX's way, llama.cpp's LLAMA_ROPE_TYPE_NEOX) instead of adjacent
 * values. The output matrix is tied to the token embedding in the small
 * models (0.5B to 3B) and separate in the larger ones.
 *
 * This file reads a GGUF file's qwen2.* hyperparameters and its tensors
 * (llama.cpp's layout); Llama's forward pass (arch_llama.c) runs the model,
 * adding the biases it finds. */
#include "arch.h"

#include <stdio.h>

/* A layer's tensors: Llama's nine, and the biases of q, k and v. */
#define QWEN2_TENSORS_PER_LAYER (LLAMA_TENSORS_PER_LAYER + 3)

static int load_block(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                      char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (llama_load_block(g, path, c, l, lw, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_q.bias"), c->q_dim, &lw->bq, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_k.bias"), c->kv_dim, &lw->bk, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_v.bias"), c->kv_dim, &lw->bv, err))
        return -1;
#undef LAYER_TENSOR
    return 0;
}

int qwen2_load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    /* q and k rows as Hugging Face has them (not permuted): RoPE on halves. */
    return llama_family_load_gguf(model, path, "qwen2", ROPE_NEOX_HALVES, QWEN2_TENSORS_PER_LAYER, load_block, err);
}
