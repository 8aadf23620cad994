/* tokenizer.h - text <-> token ids with a sentencepiece BPE vocabulary,
 * read from llama2.c's tokenizer.bin format. */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "model.h"  /* ERROR_SIZE, TOKEN_BOS, TOKEN_EOS */
#include "vocab.h"  /* Vocab, utf8_char_length */

typedef struct {
    int vocab_size;
    int max_token_length;
    int bos_id, eos_id;  /* TOKEN_BOS and TOKEN_EOS, unless a GGUF file says otherwise */
    Vocab vocab;         /* the pieces, their lookup and the byte tokens */
    float *scores;       /* (vocab_size) merge priority: higher merges first */
    /* sentencepiece's remove_extra_whitespaces: drop leading and trailing
     * spaces and collapse runs of them. tokenizer.bin does not record it, so
     * it is inferred: a vocabulary trained with it cannot contain a piece of
     * two spaces, and every vocabulary trained without it (Llama 2's) has one. */
    bool collapse_whitespace;
} Tokenizer;

/* Reads a tokenizer.bin, or the vocabulary in a GGUF file's metadata.
 * vocab_size is the model's (the file must hold exactly that many tokens),
 * or 0 to take every token the file holds. Returns 0, or -1 with a message
 * in err. */
int tokenizer_load(Tokenizer *t, const char *path, int vocab_size, char err[ERROR_SIZE]);

/* The same from an already parsed GGUF file (path only names it in messages). */
int tokenizer_from_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size, char err[ERROR_SIZE]);
void tokenizer_free(Tokenizer *t);

/* Encodes len bytes of text (any bytes: invalid UTF-8 falls back to byte
 * tokens) into a malloc'ed array *tokens_out. Returns the count, or -1 when
 * out of memory. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                     int **tokens_out);

/* The bytes that token stands for when it follows prev: sentencepiece's
 * leading space is dropped after BOS, and "<0xXX>" is the raw byte XX.
 * Not NUL-terminated for byte tokens; use *len. */
const char *tokenizer_decode(const Tokenizer *t, int prev, int token, size_t *len);

#endif
