/* sentencepiece.h - the sentencepiece kind of tokenizer (Llama 1 and 2, the
 * llama2.c models): its vocabulary from tokenizer.bin or a GGUF file, and
 * encoding and decoding as sentencepiece does. Called through tokenizer.h,
 * the public door; builds on vocab.h. */
#ifndef SENTENCEPIECE_H
#define SENTENCEPIECE_H

#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "vocab.h"

/* What sentencepiece adds to a vocabulary (Tokenizer.sentencepiece). */
typedef struct {
    float *scores;  /* (vocab_size) merge priority: higher merges first */
    /* sentencepiece's remove_extra_whitespaces: drop leading and trailing
     * spaces and collapse runs of them. tokenizer.bin does not record it, so
     * it is inferred: a vocabulary trained with it cannot contain a piece of
     * two spaces, and every vocabulary trained without it (Llama 2's) has one. */
    bool collapse_whitespace;
} SentencepieceRules;

struct Tokenizer;  /* tokenizer.h */

/* The readers fill a zeroed t (bos_id and eos_id preset for tokenizer.bin)
 * and return 0, or -1 with "path: why" in err; the caller then frees t.
 * vocab_size is the model's, or 0 to take every token the file holds. */

/* llama2.c's tokenizer.bin, whose size bytes are at data. */
int sentencepiece_read_bin(struct Tokenizer *t, const unsigned char *data, size_t size, const char *path,
                           int vocab_size, char err[ERROR_SIZE]);
/* A GGUF file's vocabulary whose tokenizer.ggml.model is "llama". */
int sentencepiece_read_gguf(struct Tokenizer *t, const GgufFile *g, const char *path, int vocab_size,
                            char err[ERROR_SIZE]);
void sentencepiece_free(SentencepieceRules *rules);

/* tokenizer_encode and tokenizer_decode for this kind. */
int sentencepiece_encode(const struct Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                         int **tokens_out);
const char *sentencepiece_decode(const struct Tokenizer *t, int prev, int token, size_t *len);

#endif
