/* nfc.c - Unicode normalization form C (Unicode Standard Annex #15):
 *
 *   1. decompose every character fully by its canonical decomposition
 *      mappings (Hangul syllables by their formula);
 *   2. put each run of combining characters (class not 0) in canonical
 *      order: a stable sort by combining class;
 *   3. compose: each character joins the last starter before it when the
 *      pair is a primary composite and no character between them blocks it
 *      (one of class 0, or of a class not below its own).
 *
 * One pass each over the text's code points, so a long text costs time in
 * proportion to its length. */
#include "nfc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_classes.h"
#include "vocab.h"  /* utf8_decode */

/* Hangul syllables are leading consonant, vowel and optional trailing
 * consonant jamo, numbered by a formula (Unicode chapter 3.12). */
#define HANGUL_S_BASE 0xAC00u
#define HANGUL_L_BASE 0x1100u
#define HANGUL_V_BASE 0x1161u
#define HANGUL_T_BASE 0x11A7u  /* one before the first trailing consonant: T index 0 is "none" */
#define HANGUL_L_COUNT 19u
#define HANGUL_V_COUNT 21u
#define HANGUL_T_COUNT 28u
#define HANGUL_N_COUNT (HANGUL_V_COUNT * HANGUL_T_COUNT)
#define HANGUL_S_COUNT (HANGUL_L_COUNT * HANGUL_N_COUNT)

/* No code point decomposes fully into more than this many (U+1F82, for one;
 * scripts/make_unicode_table.py checks it). */
#define MAX_DECOMPOSITION 4
/* A byte outside valid UTF-8 travels among the code points as this plus its
 * value: past every code point, of class 0, in no table. */
#define STRAY_BYTE 0x110000u
/* Runs of combining characters longer than this are sorted by counting, not
 * by insertion (a text of 50 KB of marks must not take quadratic time). */
#define SHORT_RUN 32
#define COMBINING_CLASSES 256

/* ---------------------------------------------------------------------------
 * The tables */

static uint8_t combining_class(uint32_t c)
{
    int low = 0, high = combining_class_range_count - 1;
    if (c < combining_class_ranges[0].first)
        return 0;  /* every character below U+0300, ASCII included */
    while (low <= high) {
        int mid = (low + high) / 2;
        if (c < combining_class_ranges[mid].first)
            high = mid - 1;
        else if (c > combining_class_ranges[mid].last)
            low = mid + 1;
        else
            return combining_class_ranges[mid].combining_class;
    }
    return 0;
}

static const CanonicalDecomposition *decomposition_of(uint32_t c)
{
    int low = 0, high = canonical_decomposition_count - 1;
    while (low <= high) {
        int mid = (low + high) / 2;
        if (c < canonical_decompositions[mid].code_point)
            high = mid - 1;
        else if (c > canonical_decompositions[mid].code_point)
            low = mid + 1;
        else
            return &canonical_decompositions[mid];
    }
    return NULL;
}

/* Writes c's full canonical decomposition to out; returns how many code points. */
static int decompose(uint32_t c, uint32_t *out)
{
    uint32_t s = c - HANGUL_S_BASE;
    if (s < HANGUL_S_COUNT) {
        int n = 0;
        out[n++] = HANGUL_L_BASE + s / HANGUL_N_COUNT;
        out[n++] = HANGUL_V_BASE + s % HANGUL_N_COUNT / HANGUL_T_COUNT;
        if (s % HANGUL_T_COUNT != 0)
            out[n++] = HANGUL_T_BASE + s % HANGUL_T_COUNT;
        return n;
    }
    const CanonicalDecomposition *d = decomposition_of(c);
    if (!d) {
        out[0] = c;
        return 1;
    }
    int n = decompose(d->first, out);
    if (d->second != 0)
        n += decompose(d->second, out + n);
    return n;
}

/* The primary composite of first and second, or 0 when they do not compose. */
static uint32_t compose(uint32_t first, uint32_t second)
{
    uint32_t l = first - HANGUL_L_BASE, v = second - HANGUL_V_BASE;
    if (l < HANGUL_L_COUNT && v < HANGUL_V_COUNT)
        return HANGUL_S_BASE + (l * HANGUL_V_COUNT + v) * HANGUL_T_COUNT;
    uint32_t s = first - HANGUL_S_BASE, t = second - HANGUL_T_BASE;
    if (s < HANGUL_S_COUNT && s % HANGUL_T_COUNT == 0 && t >= 1 && t < HANGUL_T_COUNT)
        return first + t;
    int low = 0, high = canonical_composition_count - 1;
    while (low <= high) {
        int mid = (low + high) / 2;
        const CanonicalComposition *p = &canonical_compositions[mid];
        if (first < p->first || (first == p->first && second < p->second))
            high = mid - 1;
        else if (first > p->first || second > p->second)
            low = mid + 1;
        else
            return p->composite;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * The three steps */

/* Sorts cps[0..n) by classes[0..n), keeping the order of equal classes. */
static void sort_run(uint32_t *cps, uint8_t *classes, size_t n, uint32_t *scratch)
{
    if (n <= SHORT_RUN) {
        for (size_t i = 1; i < n; i++) {
            uint32_t c = cps[i];
            uint8_t cc = classes[i];
            size_t j = i;
            for (; j > 0 && classes[j - 1] > cc; j--) {
                cps[j] = cps[j - 1];
                classes[j] = classes[j - 1];
            }
            cps[j] = c;
            classes[j] = cc;
        }
        return;
    }
    size_t start[COMBINING_CLASSES + 1] = {0};
    for (size_t i = 0; i < n; i++)
        start[classes[i] + 1]++;
    for (int k = 0; k < COMBINING_CLASSES; k++)
        start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++)
        scratch[start[classes[i]]++] = cps[i];
    memcpy(cps, scratch, n * sizeof *cps);
    for (size_t i = 0; i < n; i++)
        classes[i] = combining_class(cps[i]);
}

/* Canonical order: each run of characters of class not 0, sorted. */
static void order_marks(uint32_t *cps, uint8_t *classes, size_t n, uint32_t *scratch)
{
    for (size_t i = 0; i < n;) {
        if (classes[i] == 0) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < n && classes[end] != 0)
            end++;
        sort_run(cps + i, classes + i, end - i, scratch);
        i = end;
    }
}

/* Composes in place; returns the new count. */
static size_t compose_all(uint32_t *cps, uint8_t *classes, size_t n)
{
    size_t w = 0, starter = 0;
    bool have_starter = false;
    uint8_t last_class = 0;  /* of the last character kept after the starter */
    for (size_t k = 0; k < n; k++) {
        uint32_t c = cps[k];
        uint8_t cc = classes[k];
        /* Not blocked: next to the starter, or every character between is
         * of a class below c's (the last kept one is the highest, in canonical order). */
        if (have_starter && (w == starter + 1 || last_class < cc)) {
            uint32_t composite = compose(cps[starter], c);
            if (composite != 0) {
                cps[starter] = composite;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            have_starter = true;
        }
        last_class = cc;
        cps[w] = c;
        classes[w] = cc;
        w++;
    }
    return w;
}

static size_t encode_utf8(uint32_t c, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (c >= STRAY_BYTE) {
        o[0] = (unsigned char)(c - STRAY_BYTE);
        return 1;
    }
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xc0 | c >> 6);
        o[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xe0 | c >> 12);
        o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | c >> 18);
    o[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

size_t nfc_normalize(const char *text, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t ascii = 0;
    while (ascii < len && s[ascii] < 0x80)
        ascii++;
    if (ascii == len) {  /* ASCII is NFC, and no two ASCII characters compose */
        memcpy(out, text, len);
        return len;
    }
    size_t room = MAX_DECOMPOSITION * len;
    uint32_t *cps = malloc(room * sizeof *cps);
    uint32_t *scratch = malloc(room * sizeof *scratch);
    uint8_t *classes = malloc(room);
    if (!cps || !scratch || !classes) {
        free(cps), free(scratch), free(classes);
        return (size_t)-1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t char_length = utf8_decode(s + i, len - i, &c);
        if (char_length == 0) {
            cps[n++] = STRAY_BYTE + s[i];
            i++;
            continue;
        }
        n += (size_t)decompose(c, cps + n);
        i += char_length;
    }
    for (size_t k = 0; k < n; k++)
        classes[k] = cps[k] >= STRAY_BYTE ? 0 : combining_class(cps[k]);
    order_marks(cps, classes, n, scratch);
    n = compose_all(cps, classes, n);
    size_t written = 0;
    for (size_t k = 0; k < n; k++)
        written += encode_utf8(cps[k], out + written);
    free(cps), free(scratch), free(classes);
    return written;
}
