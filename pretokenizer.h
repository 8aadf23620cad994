/* pretokenizer.h - the split of text into chunks that a byte-level BPE then
 * merges within (no token crosses a chunk's edge): the regexes of GPT-2,
 * Llama 3, Qwen2 and SmolLM2, each written out by hand over the character
 * classes of unicode_classes.h. A GGUF file names its split, and what goes
 * with it, in tokenizer.ggml.pre. */
#ifndef PRETOKENIZER_H
#define PRETOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PRETOKENIZER_GPT2,
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
     * \s*[\r\n]+|\s+(?!\S)|\s+ */
    PRETOKENIZER_LLAMA3,
    /* Llama 3's, with \p{N} for \p{N}{1,3}: every number alone */
    PRETOKENIZER_QWEN2,
    /* every \p{N} alone, then GPT-2's regex on each stretch of text between
     * them (SmolLM2's tokenizer.json: Digits with individual_digits, then ByteLevel) */
    PRETOKENIZER_SMOLLM,
} Pretokenizer;

/* What a name in tokenizer.ggml.pre stands for: the split, and what the
 * vocabulary's own tokenizer (its tokenizer.json) does around it. */
typedef struct {
    Pretokenizer split;
    bool nfc;            /* the text is put in Unicode NFC first (Qwen's normalizer) */
    bool ignore_merges;  /* a chunk that is a token is that token, whatever the merges
                            would make of it (Llama 3's "ignore_merges": true) */
} PretokenizerRules;

/* The rules of the name a GGUF file's tokenizer.ggml.pre gives (length
 * bytes, not NUL-terminated): 0, or -1 for a name this engine does not know. */
int pretokenizer_from_name(const char *name, size_t length, PretokenizerRules *out);

/* The end of the chunk that starts at start (start < len): the regex's match
 * there, never empty. Any bytes: one that is not part of valid UTF-8 is a
 * character of its own, neither letter, number nor whitespace. */
size_t pretokenizer_next_chunk(Pretokenizer p, const char *text, size_t len, size_t start);

#endif
