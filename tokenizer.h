/* tokenizer.h - text <-> token ids: the public door to every kind of
 * tokenizer. Two kinds: sentencepiece's BPE (sentencepiece.c), read from
 * llama2.c's tokenizer.bin or a GGUF file, and byte-level BPE (byte_bpe.c:
 * GPT-2's, Llama 3's, Qwen's, SmolLM2's), read from a GGUF file; vocab.h
 * holds what kinds share. A third only decodes: llm.c's gpt2_tokenizer.bin
 * (llmc.c), the pieces without their merges.
 *
 * Special tokens (BOS, EOS, the control tokens of chat templates such as
 * "<|im_start|>") are never made from text: a prompt that types
 * "<|im_start|>" gets that text's ordinary tokens. A template that needs one
 * finds its id with tokenizer_special_token and puts the id in itself. */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "byte_bpe.h"      /* ByteBpeRules */
#include "gguf.h"
#include "model.h"          /* ERROR_SIZE, TOKEN_BOS, TOKEN_EOS */
#include "sentencepiece.h"  /* SentencepieceRules */
#include "vocab.h"          /* Vocab, utf8_char_length */

typedef enum {
    TOKENIZER_SENTENCEPIECE,  /* scores and "<0xXX>" byte fallback: Llama 1 and 2, llama2.c */
    TOKENIZER_BYTE_BPE,       /* merge ranks, a regex pre-tokenizer and GPT-2's byte map: GPT-2,
                                 Llama 3, Qwen2 and 3, SmolLM2 */
    TOKENIZER_DECODE_ONLY,    /* each token's bytes, nothing to encode with: llm.c's tokenizer */
} TokenizerKind;

typedef struct Tokenizer {
    TokenizerKind kind;
    int vocab_size;
    int max_token_length;  /* no piece is longer, in bytes */
    int bos_id, eos_id;    /* TOKEN_BOS and TOKEN_EOS, unless a GGUF file says otherwise */
    int eot_id;            /* the end of a turn, or -1: a GGUF file's tokenizer.ggml.eot_token_id,
                              else its control token <|eot_id|>, <|im_end|> or <|end|> */
    bool add_bos;          /* a prompt starts with BOS: set by each kind's reader */
    char *chat_template;   /* a GGUF file's tokenizer.chat_template (malloc'ed, NUL-terminated), or NULL */
    Vocab vocab;           /* the pieces, their lookup and the byte tokens */
    SentencepieceRules sentencepiece;  /* kind TOKENIZER_SENTENCEPIECE: scores, whitespace */
    ByteBpeRules byte_bpe;             /* kind TOKENIZER_BYTE_BPE: merges, pre-tokenizer */
} Tokenizer;

/* Reads a tokenizer.bin, or the vocabulary in a GGUF file's metadata.
 * vocab_size is the model's (the file must hold exactly that many tokens),
 * or 0 to take every token the file holds. Returns 0, or -1 with a message
 * in err. */
int tokenizer_load(Tokenizer *t, const char *path, int vocab_size, char err[ERROR_SIZE]);

/* The same from an already parsed GGUF file (path only names it in messages). */
int tokenizer_from_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size, char err[ERROR_SIZE]);
void tokenizer_free(Tokenizer *t);

/* Whether text can be encoded: every kind but TOKENIZER_DECODE_ONLY, which
 * encodes only the empty text. */
bool tokenizer_can_encode(const Tokenizer *t);

/* Encodes len bytes of text (any bytes: invalid UTF-8 falls back to byte
 * tokens) into a malloc'ed array *tokens_out, BOS and EOS only if asked
 * (add_bos says whether this vocabulary wants BOS). Returns the count, or -1
 * when out of memory or (a decode-only tokenizer) len is not 0. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                     int **tokens_out);

/* The bytes that token stands for when it follows prev: sentencepiece's
 * leading space is dropped after BOS, and "<0xXX>" is the raw byte XX;
 * byte-level BPE's "Ġ" is a space. Not NUL-terminated; use *len. */
const char *tokenizer_decode(const Tokenizer *t, int prev, int token, size_t *len);

/* Whether generation stops at token: the vocabulary's EOS or its end of turn. */
bool tokenizer_is_end_of_generation(const Tokenizer *t, int token);

/* The id of the special token spelled exactly text (NUL-terminated), such as
 * "<|im_start|>" or "<|eot_id|>", for a chat template to put in its tokens:
 * the lowest such id, or -1 when the vocabulary has none. Special: a control
 * token, BOS, EOS, or another that text never makes. */
int tokenizer_special_token(const Tokenizer *t, const char *text);

#endif
