#!/usr/bin/python3
"""Write unicode_classes.c: the Unicode data the byte-level BPE tokenizers need, from Python's
unicodedata (its Unicode version goes in the file): the classes of characters the pre-tokenizer
regexes tell apart, and the tables of Unicode normalization form C (NFC, for Qwen's vocabulary).

    make_unicode_table.py [OUT.c]      (default: unicode_classes.c beside scripts/)

Classes, as the regex (Python's `regex` module for GPT-2, Rust's `regex` for tiktoken)
means them:
    CHAR_LETTER      \\p{L}: general categories Lu, Ll, Lt, Lm, Lo
    CHAR_NUMBER      \\p{N}: Nd, Nl, No
    CHAR_WHITESPACE  \\s: the Unicode property White_Space, which unicodedata does not
                     expose; it is Zs, Zl and Zp plus the controls TAB..CR and NEL
                     (U+0085), checked below against PropList.txt's 25 code points.
Every other code point (marks, punctuation, symbols, controls, unassigned) is CHAR_OTHER
and is not listed. JavaScript's \\s differs: it adds U+FEFF and lacks U+0085.

NFC tables (nfc.c applies them; Hangul syllables are computed there, not listed):
    combining_class_ranges   the canonical combining class of every code point whose class is
                             not 0, as ranges of one class
    canonical_decompositions each code point's canonical decomposition mapping, one level: one
                             code point (a singleton) or two; sorted by code point
    canonical_compositions   the pairs that compose: every two-code-point mapping whose code point
                             NFC keeps (so not one of the composition exclusions, which
                             unicodedata does not list: NFC(c) != c is how they show); sorted by
                             the pair
"""
import os
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_CODEPOINT = 0x10FFFF
LETTER_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo"}
NUMBER_CATEGORIES = {"Nd", "Nl", "No"}
SEPARATOR_CATEGORIES = {"Zs", "Zl", "Zp"}
WHITESPACE_CONTROLS = set(range(0x09, 0x0D + 1)) | {0x85}
# PropList.txt's White_Space (unchanged since Unicode 6.3), to check the rule above.
WHITE_SPACE = (set(range(0x09, 0x0D + 1)) | {0x20, 0x85, 0xA0, 0x1680} | set(range(0x2000, 0x200A + 1))
               | {0x2028, 0x2029, 0x202F, 0x205F, 0x3000})
RANGES_PER_LINE = 3
ENTRIES_PER_LINE = 4
# The longest full canonical decomposition of one code point, which nfc.c relies on.
MAX_DECOMPOSITION = 4


def char_class(cp):
    category = unicodedata.category(chr(cp))
    if category in LETTER_CATEGORIES:
        return "CHAR_LETTER"
    if category in NUMBER_CATEGORIES:
        return "CHAR_NUMBER"
    if category in SEPARATOR_CATEGORIES or cp in WHITESPACE_CONTROLS:
        return "CHAR_WHITESPACE"
    return None


def ranges():
    """(first, last, class) for each run of code points of one class, in order."""
    out = []
    for cp in range(MAX_CODEPOINT + 1):
        cls = char_class(cp)
        if cls is None:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] == cls:
            out[-1][1] = cp
        else:
            out.append([cp, cp, cls])
    return out


def combining_class_ranges():
    """(first, last, class) for each run of code points of one canonical combining class, not 0."""
    out = []
    for cp in range(MAX_CODEPOINT + 1):
        ccc = unicodedata.combining(chr(cp))
        if ccc == 0:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] == ccc:
            out[-1][1] = cp
        else:
            out.append([cp, cp, ccc])
    return out


def canonical_decompositions():
    """(code point, first, second or 0) for every canonical decomposition mapping."""
    out = []
    for cp in range(MAX_CODEPOINT + 1):
        mapping = unicodedata.decomposition(chr(cp))
        if not mapping or mapping.startswith("<"):  # none, or a compatibility mapping
            continue
        parts = [int(x, 16) for x in mapping.split()]
        if len(parts) not in (1, 2):
            sys.exit("make_unicode_table: U+%04X decomposes into %d code points" % (cp, len(parts)))
        out.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
    return out


def canonical_compositions(decompositions):
    """(first, second, composite) for each pair NFC composes, sorted by the pair."""
    pairs = [(first, second, cp) for cp, first, second in decompositions
             if second and unicodedata.normalize("NFC", chr(cp)) == chr(cp)]
    return sorted(pairs)


def check_nfc_bounds():
    """nfc.c's buffers assume no code point decomposes fully into more than MAX_DECOMPOSITION."""
    for cp in range(MAX_CODEPOINT + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if len(unicodedata.normalize("NFD", chr(cp))) > MAX_DECOMPOSITION:
            sys.exit("make_unicode_table: U+%04X decomposes into more than %d code points" % (cp, MAX_DECOMPOSITION))


def write_table(f, declaration, cells):
    f.write("%s = {\n" % declaration)
    for i in range(0, len(cells), ENTRIES_PER_LINE):
        f.write("    %s\n" % " ".join(cells[i:i + ENTRIES_PER_LINE]))
    f.write("};\n")


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "unicode_classes.c")
    table = ranges()
    whitespace = {cp for first, last, cls in table if cls == "CHAR_WHITESPACE" for cp in range(first, last + 1)}
    if whitespace != WHITE_SPACE:
        sys.exit("make_unicode_table: whitespace differs from White_Space: %s"
                 % sorted(hex(c) for c in whitespace ^ WHITE_SPACE))
    check_nfc_bounds()
    version = unicodedata.unidata_version
    ccc = combining_class_ranges()
    decompositions = canonical_decompositions()
    compositions = canonical_compositions(decompositions)
    cells = ["{0x%04x, 0x%04x, %s}," % (first, last, cls) for first, last, cls in table]
    lines = [" ".join(cells[i:i + RANGES_PER_LINE]) for i in range(0, len(cells), RANGES_PER_LINE)]
    with open(out_path, "w") as f:
        f.write("/* unicode_classes.c - GENERATED by scripts/make_unicode_table.py from Python %d.%d's\n"
                % sys.version_info[:2])
        f.write(" * unicodedata, Unicode %s: do not edit, run the script. Letters (\\p{L}),\n" % version)
        f.write(" * numbers (\\p{N}) and whitespace (White_Space, the regex's \\s) as sorted ranges;\n")
        f.write(" * every code point outside them is CHAR_OTHER. Then NFC's tables: canonical\n")
        f.write(" * combining classes, decompositions and compositions. */\n")
        f.write('#include "unicode_classes.h"\n\n')
        f.write('const char unicode_classes_version[] = "%s";\n\n' % version)
        f.write("const CharClassRange char_class_ranges[] = {\n")
        for line in lines:
            f.write("    %s\n" % line)
        f.write("};\n\n")
        f.write("const int char_class_range_count = sizeof char_class_ranges / sizeof char_class_ranges[0];\n\n")
        write_table(f, "const CombiningClassRange combining_class_ranges[]",
                    ["{0x%04x, 0x%04x, %d}," % tuple(r) for r in ccc])
        f.write("const int combining_class_range_count = sizeof combining_class_ranges / sizeof combining_class_ranges[0];\n\n")
        write_table(f, "const CanonicalDecomposition canonical_decompositions[]",
                    ["{0x%04x, 0x%04x, 0x%04x}," % d for d in decompositions])
        f.write("const int canonical_decomposition_count =\n"
                "    sizeof canonical_decompositions / sizeof canonical_decompositions[0];\n\n")
        write_table(f, "const CanonicalComposition canonical_compositions[]",
                    ["{0x%04x, 0x%04x, 0x%04x}," % c for c in compositions])
        f.write("const int canonical_composition_count = sizeof canonical_compositions / sizeof canonical_compositions[0];\n")
    print("make_unicode_table: %s: %d ranges, Unicode %s; NFC: %d combining-class ranges, %d decompositions, "
          "%d compositions" % (out_path, len(table), version, len(ccc), len(decompositions), len(compositions)))


if __name__ == "__main__":
    main()
