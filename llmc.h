/* llmc.h - llm.c's files: the GPT-2 checkpoint (train_gpt2.c's
 * gpt2_124M.bin: int32 header[256] (magic, version, max_seq_len, vocab_size,
 * n_layers, n_heads, channels, padded_vocab_size), then float32 tensors), and
 * its tokenizer (gpt2_tokenizer.bin: int32 header[256] (magic, version,
 * vocab_size, end-of-text id), then each token as a length byte and its
 * bytes). That tokenizer has no merges, so it can only decode: a prompt needs
 * a GGUF vocabulary (-z ggml-vocab-gpt-2.gguf). */
#ifndef LLMC_H
#define LLMC_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct Tokenizer;

#define LLMC_MAGIC 20240326            /* header[0] of every llm.c GPT-2 checkpoint */
#define LLMC_TOKENIZER_MAGIC 20240328  /* header[0] of llm.c's gpt2_tokenizer.bin */

/* Whether the mapped file starts with llm.c's magic. */
bool llmc_is_checkpoint(const void *mapping, size_t size);

/* Reads model->mapping as an llm.c checkpoint (version 3, fp32, or 5, bf16: its
 * matrices run as BF16, its vectors are converted to floats): checks the
 * header and the exact file size, fills model->config and points
 * model->weights into the mapping. Returns 0, or -1 with "path: why" in err;
 * the caller frees the model either way. */
int llmc_load(Model *model, const char *path, char err[ERROR_SIZE]);

/* Whether data starts with the tokenizer's magic. */
bool llmc_is_tokenizer(const unsigned char *data, size_t size);

/* Reads data (size bytes) as llm.c's gpt2_tokenizer.bin into t, a tokenizer
 * of kind TOKENIZER_DECODE_ONLY whose BOS and EOS are the end-of-text token.
 * vocab_size as tokenizer_load's. Returns 0, or -1 with "path: why" in err. */
int llmc_read_tokenizer(struct Tokenizer *t, const unsigned char *data, size_t size, const char *path,
                        int vocab_size, char err[ERROR_SIZE]);

#endif
