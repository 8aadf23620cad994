/* pretokenizer.c - the pre-tokenizers' regexes, by hand. Two families:
 *
 * GPT-2's, and SmolLM2's, which is GPT-2's on each stretch of text between
 * numbers, every number a chunk of its own:
 *
 *   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 *
 * Llama 3's, and Qwen2's, which takes numbers one by one where Llama 3 takes
 * up to three:
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} |
 *    ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * At each position the first alternative that matches wins, each as long as
 * it can be. One pass over the text, no backtracking: each chunk is found by
 * looking at its own characters and the one after it. */
#include "pretokenizer.h"

#include <stdint.h>
#include <string.h>

#include "unicode_classes.h"
#include "vocab.h"  /* utf8_decode */

#define APOSTROPHE '\''
#define SPACE ' '  /* the one character " ?" allows before a run */
#define ASCII_CASE_BIT 0x20  /* 'A' | 0x20 == 'a' */
#define LLAMA3_MAX_DIGITS 3  /* \p{N}{1,3} */
#define QWEN2_MAX_DIGITS 1   /* \p{N} */

/* The names llama.cpp's converter writes, and what each stands for. GPT-NeoX's
 * and MPT's tokenizers use GPT-2's regex; "llama3" and "llama-v3" are older
 * names of Llama 3's. */
static const struct {
    const char *name;
    PretokenizerRules rules;
} names[] = {
    {"gpt-2", {PRETOKENIZER_GPT2, false, false}},
    {"mpt", {PRETOKENIZER_GPT2, false, false}},
    {"gpt-neox", {PRETOKENIZER_GPT2, false, false}},
    {"llama-bpe", {PRETOKENIZER_LLAMA3, false, true}},
    {"llama3", {PRETOKENIZER_LLAMA3, false, true}},
    {"llama-v3", {PRETOKENIZER_LLAMA3, false, true}},
    {"qwen2", {PRETOKENIZER_QWEN2, true, false}},
    {"smollm", {PRETOKENIZER_SMOLLM, false, false}},
};

int pretokenizer_from_name(const char *name, size_t length, PretokenizerRules *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == length && memcmp(names[i].name, name, length) == 0) {
            *out = names[i].rules;
            return 0;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------------
 * Characters */

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

static bool is_line_break(unsigned char c)
{
    return c == '\r' || c == '\n';
}

/* The length of the contraction at s (which starts with an apostrophe), or 0:
 * 's 't 're 've 'm 'll 'd, in any ASCII case when ignore_case ("'S" is one
 * for Llama 3, not for GPT-2). */
static size_t contraction_length(const unsigned char *s, size_t n, bool ignore_case)
{
    static const char *const endings[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        size_t k = strlen(endings[i]);
        if (n <= k)
            continue;
        size_t j = 0;
        while (j < k && (s[1 + j] == (unsigned char)endings[i][j] ||
                         (ignore_case && (s[1 + j] | ASCII_CASE_BIT) == (unsigned char)endings[i][j])))
            j++;
        if (j == k)
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

/* The whitespace run that starts at start: where it ends, where its last
 * character starts, and just past its last line break (0 if it has none). */
typedef struct {
    size_t end, last, after_line_break;
} WhitespaceRun;

static WhitespaceRun whitespace_run(const unsigned char *text, size_t len, size_t start)
{
    WhitespaceRun w = {start, start, 0};
    while (w.end < len) {
        Character c = character_at(text, len, w.end);
        if (c.char_class != CHAR_WHITESPACE)
            break;
        if (is_line_break(text[w.end]))
            w.after_line_break = w.end + 1;
        w.last = w.end;
        w.end += c.length;
    }
    return w;
}

/* \s+(?!\S)|\s+ on the run w from start, where the text (or, for SmolLM2, the
 * stretch of it) ends at stretch_end or goes on: the whole run at the end; else
 * all but its last character, which starts the next chunk (so that " word"
 * keeps its space), unless it has only one. */
static size_t whitespace_chunk_end(WhitespaceRun w, size_t start, bool stretch_end)
{
    return !stretch_end && w.last > start ? w.last : w.end;
}

/* ---------------------------------------------------------------------------
 * GPT-2's regex; with numbers_apart, SmolLM2's: every \p{N} is a chunk of its
 * own, and the regex sees the text between two numbers as a whole text (so
 * "a  1" is "a", "  ", "1", where GPT-2 has "a", " ", " 1"). */

/* Whether the stretch of text the regex sees ends at at. */
static bool stretch_ends(const unsigned char *text, size_t len, size_t at, bool numbers_apart)
{
    return at == len || (numbers_apart && character_at(text, len, at).char_class == CHAR_NUMBER);
}

static size_t gpt2_next_chunk(const unsigned char *text, size_t len, size_t start, bool numbers_apart)
{
    Character first = character_at(text, len, start);
    if (numbers_apart && first.char_class == CHAR_NUMBER)
        return start + first.length;
    /* 's|'t|'re|'ve|'m|'ll|'d */
    if (text[start] == APOSTROPHE) {
        size_t n = contraction_length(text + start, len - start, false);
        if (n > 0)
            return start + n;
    }
    /*  ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+ : a space joins the run after it */
    size_t run_start = text[start] == SPACE && !stretch_ends(text, len, start + 1, numbers_apart) ? start + 1 : start;
    CharClass run_class = character_at(text, len, run_start).char_class;
    if (run_class != CHAR_WHITESPACE)
        return run_end(text, len, run_start, run_class);
    /* \s+(?!\S)|\s+ */
    WhitespaceRun w = whitespace_run(text, len, start);
    return whitespace_chunk_end(w, start, stretch_ends(text, len, w.end, numbers_apart));
}

/* ---------------------------------------------------------------------------
 * Llama 3's regex; with max_numbers 1, Qwen2's. */

static size_t llama3_next_chunk(const unsigned char *text, size_t len, size_t start, int max_numbers)
{
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (text[start] == APOSTROPHE) {
        size_t n = contraction_length(text + start, len - start, true);
        if (n > 0)
            return start + n;
    }
    Character first = character_at(text, len, start);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ : letters, after at most one character that is
     * no letter, number or line break ("(word", " word", "\tword") */
    if (first.char_class == CHAR_LETTER)
        return run_end(text, len, start, CHAR_LETTER);
    size_t second = start + first.length;
    if (first.char_class != CHAR_NUMBER && !is_line_break(text[start]) && second < len &&
        character_at(text, len, second).char_class == CHAR_LETTER)
        return run_end(text, len, second, CHAR_LETTER);
    /* \p{N}{1,3} */
    if (first.char_class == CHAR_NUMBER) {
        size_t end = start;
        for (int n = 0; n < max_numbers && end < len; n++) {
            Character c = character_at(text, len, end);
            if (c.char_class != CHAR_NUMBER)
                break;
            end += c.length;
        }
        return end;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* : other characters, which may start with one
     * space, and the line breaks right after them */
    size_t run_start = text[start] == SPACE && second < len ? second : start;
    if (character_at(text, len, run_start).char_class == CHAR_OTHER) {
        size_t end = run_end(text, len, run_start, CHAR_OTHER);
        while (end < len && is_line_break(text[end]))
            end++;
        return end;
    }
    /* \s*[\r\n]+ : whitespace through its last line break */
    WhitespaceRun w = whitespace_run(text, len, start);
    if (w.after_line_break > 0)
        return w.after_line_break;
    /* \s+(?!\S)|\s+ */
    return whitespace_chunk_end(w, start, w.end == len);
}

size_t pretokenizer_next_chunk(Pretokenizer p, const char *text, size_t len, size_t start)
{
    const unsigned char *s = (const unsigned char *)text;
    switch (p) {
    case PRETOKENIZER_GPT2:
        return gpt2_next_chunk(s, len, start, false);
    case PRETOKENIZER_SMOLLM:
        return gpt2_next_chunk(s, len, start, true);
    case PRETOKENIZER_LLAMA3:
        return llama3_next_chunk(s, len, start, LLAMA3_MAX_DIGITS);
    case PRETOKENIZER_QWEN2:
        return llama3_next_chunk(s, len, start, QWEN2_MAX_DIGITS);
    }
    return len;  /* not reached: each split is a case above */
}
