/* unicode_classes.h - the classes of characters GPT-2's pre-tokenizer tells
 * apart: letters (\p{L}), numbers (\p{N}), whitespace (\s, Unicode's
 * White_Space) and everything else. The ranges are generated from Python's
 * unicodedata into unicode_classes.c by scripts/make_unicode_table.py. */
#ifndef UNICODE_CLASSES_H
#define UNICODE_CLASSES_H

#include <stdint.h>

typedef enum { CHAR_OTHER, CHAR_LETTER, CHAR_NUMBER, CHAR_WHITESPACE } CharClass;

typedef struct {
    uint32_t first, last;  /* code points, inclusive */
    CharClass char_class;
} CharClassRange;

/* Sorted, not overlapping; code points outside every range are CHAR_OTHER. */
extern const CharClassRange char_class_ranges[];
extern const int char_class_range_count;
extern const char unicode_classes_version[];  /* the Unicode version of the table, e.g. "14.0.0" */

/* The class of a code point, by binary search over the ranges. */
static inline CharClass char_class_of(uint32_t codepoint)
{
    int low = 0, high = char_class_range_count - 1;
    while (low <= high) {
        int mid = (low + high) / 2;
        if (codepoint < char_class_ranges[mid].first)
            high = mid - 1;
        else if (codepoint > char_class_ranges[mid].last)
            low = mid + 1;
        else
            return char_class_ranges[mid].char_class;
    }
    return CHAR_OTHER;
}

#endif
