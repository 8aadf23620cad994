/* pretokenizer.c - GPT-2's pre-tokenizer regex, by hand:
 *
 *   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 *
 * At each position the first alternative that matches wins, each as long as
 * it can be: a contraction; else a run of letters, of numbers or of other
 * characters, which may start with one space; else a run of whitespace that
 * leaves its last character to the next chunk when a non-space follows, so
 * that " word" keeps its space. One pass over the text, no backtracking. */
#include "pretokenizer.h"

#include <stdint.h>
#include <string.h>

#include "unicode_classes.h"
#include "vocab.h"  /* utf8_decode */

#define APOSTROPHE '\''
#define SPACE ' '  /* the one character " ?" allows before a run */

/* The names llama.cpp's converter writes for vocabularies split this way;
 * GPT-NeoX's tokenizer uses GPT-2's regex too. */
static const char *const gpt2_split_names[] = {"gpt-2", "mpt", "gpt-neox"};

int pretokenizer_from_name(const char *name, size_t length, Pretokenizer *out)
{
    for (size_t i = 0; i < sizeof gpt2_split_names / sizeof gpt2_split_names[0]; i++) {
        if (strlen(gpt2_split_names[i]) == length && memcmp(gpt2_split_names[i], name, length) == 0) {
            *out = PRETOKENIZER_GPT2;
            return 0;
        }
    }
    return -1;
}

/* One character of the text: its bytes and its class. */
typedef struct {
    size_t length;
    CharClass char_class;
} Character;

static Character character_at(const unsigned char *text, size_t len, size_t at)
{
    uint32_t codepoint;
    size_t length = utf8_decode(text + at, len - at, &codepoint);
    if (length == 0)
        return (Character){1, CHAR_OTHER};  /* a byte outside valid UTF-8 stands alone */
    return (Character){length, char_class_of(codepoint)};
}

/* The length of the contraction at s (which starts with an apostrophe), or 0.
 * Lower case only, as in GPT-2's regex: "'S" is not one. */
static size_t contraction_length(const unsigned char *s, size_t n)
{
    static const char *const endings[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        size_t k = strlen(endings[i]);
        if (n > k && memcmp(s + 1, endings[i], k) == 0)
            return k + 1;
    }
    return 0;
}

/* Where the run of characters of class char_class that starts at at ends. */
static size_t run_end(const unsigned char *text, size_t len, size_t at, CharClass char_class)
{
    while (at < len) {
        Character c = character_at(text, len, at);
        if (c.char_class != char_class)
            break;
        at += c.length;
    }
    return at;
}

static size_t gpt2_next_chunk(const unsigned char *text, size_t len, size_t start)
{
    /* 's|'t|'re|'ve|'m|'ll|'d */
    if (text[start] == APOSTROPHE) {
        size_t n = contraction_length(text + start, len - start);
        if (n > 0)
            return start + n;
    }
    /*  ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+ : a space joins the run after it */
    size_t run_start = text[start] == SPACE && start + 1 < len ? start + 1 : start;
    Character first = character_at(text, len, run_start);
    if (first.char_class != CHAR_WHITESPACE)
        return run_end(text, len, run_start, first.char_class);
    /* \s+(?!\S)|\s+ : the whole run at the end of the text or of one
     * character; else all but its last character, which starts the next chunk */
    size_t end = start, last = start;
    while (end < len) {
        Character c = character_at(text, len, end);
        if (c.char_class != CHAR_WHITESPACE)
            break;
        last = end;
        end += c.length;
    }
    return end < len && last > start ? last : end;
}

size_t pretokenizer_next_chunk(Pretokenizer p, const char *text, size_t len, size_t start)
{
    switch (p) {
    case PRETOKENIZER_GPT2:
        return gpt2_next_chunk((const unsigned char *)text, len, start);
    }
    return len;  /* not reached: each split is a case above */
}
