/* unicode_classes.h - the Unicode data of the byte-level BPE tokenizers: the
 * classes of characters the pre-tokenizers tell apart, letters (\p{L}),
 * numbers (\p{N}), whitespace (\s, Unicode's White_Space) and everything
 * else; and the tables of normalization form C (nfc.h applies them). All
 * generated from Python's unicodedata into unicode_classes.c by
 * scripts/make_unicode_table.py. */
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

/* NFC's tables. The canonical combining class of a code point outside every
 * range is 0 (a starter). */
typedef struct {
    uint32_t first, last;  /* code points, inclusive */
    uint8_t combining_class;
} CombiningClassRange;

/* One level of a canonical decomposition mapping: code_point -> first second,
 * or first alone (second 0, a singleton). Sorted by code_point. */
typedef struct {
    uint32_t code_point, first, second;
} CanonicalDecomposition;

/* A pair that composes into composite (a primary composite: not one of the
 * composition exclusions). Sorted by first, then second. */
typedef struct {
    uint32_t first, second, composite;
} CanonicalComposition;

extern const CombiningClassRange combining_class_ranges[];
extern const int combining_class_range_count;
extern const CanonicalDecomposition canonical_decompositions[];
extern const int canonical_decomposition_count;
extern const CanonicalComposition canonical_compositions[];
extern const int canonical_composition_count;

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
