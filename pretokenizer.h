/* pretokenizer.h - the split of text into chunks that a byte-level BPE then
 * merges within (no token crosses a chunk's edge). One split today, GPT-2's
 * regex, written out by hand over the character classes of unicode_classes.h. */
#ifndef PRETOKENIZER_H
#define PRETOKENIZER_H

#include <stddef.h>

typedef enum {
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    PRETOKENIZER_GPT2,
} Pretokenizer;

/* The split a GGUF file's tokenizer.ggml.pre names (length bytes, not
 * NUL-terminated): 0, or -1 for a name this engine does not know. */
int pretokenizer_from_name(const char *name, size_t length, Pretokenizer *out);

/* The end of the chunk that starts at start (start < len): the regex's match
 * there, never empty. Any bytes: one that is not part of valid UTF-8 is a
 * character of its own, neither letter, number nor whitespace. */
size_t pretokenizer_next_chunk(Pretokenizer p, const char *text, size_t len, size_t start);

#endif
