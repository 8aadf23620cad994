/* arch_qwen3.c - the Qwen3 architecture (the dense models, 0.6B to 32B):
 * Llama's blocks (RMSNorm, grouped-query attention, SwiGLU) with three
 * differences: each head of q and of k is RMS-normalized on its own, with
 * weights of its own (attn_q_norm, attn_k_norm), before RoPE; RoPE pairs
 * the two halves of each head (GPT-NeoX's way, as in Qwen2); and the head
 * size is the file's (qwen3.attention.key_length), so that n_heads heads
 * need not make dim: Qwen3-0.6B has 16 heads of 128 for a stream of 1024.
 * No biases (Qwen2's are gone).
 *
 * This file reads a GGUF file's qwen3.* hyperparameters and its tensors
 * (llama.cpp's layout); Llama's forward pass (arch_llama.c) runs the model,
 * applying the head norms it finds. */
#include "arch.h"

#include <stdio.h>

/* A layer's tensors: Llama's nine, and the q and k norms. */
#define QWEN3_TENSORS_PER_LAYER (LLAMA_TENSORS_PER_LAYER + 2)

static int load_block(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                      char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (llama_load_block(g, path, c, l, lw, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_q_norm.weight"), c->head_size, &lw->attn_q_norm, err) ||
        gguf_vector(g, path, LAYER_TENSOR("attn_k_norm.weight"), c->head_size, &lw->attn_k_norm, err))
        return -1;
#undef LAYER_TENSOR
    return 0;
}

int qwen3_load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    /* The head size comes from qwen3.attention.key_length; q and k rows as
     * Hugging Face has them (not permuted): RoPE on halves. */
    return llama_family_load_gguf(model, path, "qwen3", ROPE_NEOX_HALVES, QWEN3_TENSORS_PER_LAYER, load_block, err);
}
