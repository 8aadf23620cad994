/* nfc.h - Unicode normalization form C, as Qwen's tokenizer.json asks of a
 * text before it is split (its "normalizer": NFC). The tables are those of
 * unicode_classes.h, generated from Python's unicodedata. */
#ifndef NFC_H
#define NFC_H

#include <stddef.h>

/* NFC's output is at most this many times longer than its input, in UTF-8
 * bytes (U+1D160, 4 bytes, becomes 3 code points of 4 bytes each). */
#define NFC_MAX_GROWTH 3

/* Writes the NFC form of len bytes of text to out, which has room for
 * NFC_MAX_GROWTH * len bytes; returns the length written. Any bytes: one that
 * is not part of valid UTF-8 is copied as it is, and neither composes with
 * a character nor lets one compose across it. Returns (size_t)-1 when out of
 * memory for its work buffers. */
size_t nfc_normalize(const char *text, size_t len, char *out);

#endif
