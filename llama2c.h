/* llama2c.h - llama2.c's checkpoint formats: reading the legacy, version 1
 * (float32) and version 2 (int8) files, and writing version 2. Their models
 * are Llama-architecture models; the format is only how the file stores them. */
#ifndef LLAMA2C_H
#define LLAMA2C_H

#include "model.h"

#define CHECKPOINT_MAGIC 0x616b3432u   /* "ak42" read as a little-endian uint32 */
#define CHECKPOINT_HEADER_SIZE 256     /* versioned formats pad their header to this */
#define Q8_GROUP_SIZE 64               /* llama2.c's int8 export: values per scale */
#define LEGACY_HEADER_INTS 7           /* dim, hidden, layers, heads, kv heads, vocab, seq */

/* Reads model->mapping (model->mapping_size bytes) as a llama2.c checkpoint:
 * checks every size in its header against the file, then fills model->config
 * and points model->weights into the mapping. Returns 0, or -1 with
 * "path: why" in err; the caller frees the model either way. */
int llama2c_load(Model *model, const char *path, char err[ERROR_SIZE]);

/* Whether llama2.c's version 2 file can hold the model as it is: 0, or -1
 * with "model_path: what would be lost" in err. It holds only a Llama model
 * with float32 matrices (quantizing them is what it is for), and its header
 * has no field for a RoPE base or an RMS epsilon other than Llama 2's
 * (LLAMA_ROPE_THETA, LLAMA_NORM_EPS). A GGUF model's vocabulary is lost
 * too, which this does not refuse: the caller says so. */
int llama2c_q8_can_hold(const Model *model, const char *model_path, char err[ERROR_SIZE]);

/* Writes model (read from model_path, which names it in messages) as a
 * llama2.c version 2 file at path: every matrix int8 with one scale per group
 * of group_size values, norms in float32. Refuses what llama2c_q8_can_hold
 * refuses. The file is written under a temporary name beside path and renamed
 * to path only when complete (save_file.h), so a failure leaves path as it
 * was. Returns 0, or -1 with a message in err. */
int model_save_q8(const Model *model, const char *model_path, const char *path, int group_size,
                  char err[ERROR_SIZE]);

/* The largest group size <= preferred that divides both dim and hidden_dim
 * (and keeps scales 4-byte aligned), or 0 if there is none. */
int q8_group_size(const Config *c, int preferred);

#endif
