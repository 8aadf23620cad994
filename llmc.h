/* llmc.h - llm.c's GPT-2 checkpoint format (train_gpt2.c's gpt2_124M.bin):
 * int32 header[256] (magic, version, max_seq_len, vocab_size, n_layers,
 * n_heads, channels, padded_vocab_size), then float32 tensors. Its models are
 * GPT-2 models; the vocabulary comes from elsewhere (-z). */
#ifndef LLMC_H
#define LLMC_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define LLMC_MAGIC 20240326  /* header[0] of every llm.c GPT-2 checkpoint */

/* Whether the mapped file starts with llm.c's magic. */
bool llmc_is_checkpoint(const void *mapping, size_t size);

/* Reads model->mapping as an llm.c checkpoint (version 3, fp32): checks the
 * header and the exact file size, fills model->config and points
 * model->weights into the mapping. Returns 0, or -1 with "path: why" in err;
 * the caller frees the model either way. */
int llmc_load(Model *model, const char *path, char err[ERROR_SIZE]);

#endif
