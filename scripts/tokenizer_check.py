#!/usr/bin/python3
"""Compare the engine's tokenizer against sentencepiece, line by line.

usage:
  tokenizer_check.py --engine ./run --tokenizer TOK.bin --model TOK.model
                     [--corpus FILE]... [--random N] [--seed S]

All lines are sent to ONE run of `ENGINE -m tokenize -z TOK.bin` on stdin
(UTF-8, each line terminated by "\\n"); the engine must print one line per
input line: "1" (BOS) followed by the token ids, space-separated. The
expected output is "1" + sentencepiece's sp.encode(line) with TOK.model.

--corpus FILE  check the lines of FILE (split on "\\n" only; "\\r" stays in
               the line). May be repeated.
--random N     also check N random strings (deterministic for a --seed,
               default 0) mixing ASCII words, whitespace runs, digits,
               punctuation, Hangul, CJK, emoji sequences, combining marks,
               accented Latin, other scripts and random BMP/astral codepoints.
Without --corpus and --random, tests/tokenizer/corpus.txt is checked.

--engine is split like a shell word list, so a wrapper works, e.g.
--engine "valgrind -q ./run".

Every differing line is reported (repr, both id lists, first differing
index). Output that has the right ids but not the exact format
("1 5 6", single spaces, no trailing blanks) also counts as a difference.
Exit status: 0 all equal, 1 some lines differ, 2 the engine failed (non-zero
exit, timeout, undecodable output) or printed a different number of lines
than it was given (2 also for setup errors: unreadable corpus or model).

Needs /usr/bin/python3 with the `sentencepiece` module.
"""

import argparse
import os
import random
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(ROOT, "tests", "tokenizer", "corpus.txt")


# ---------------------------------------------------------------------------
# input lines

def die(msg):
    print("tokenizer_check: ERROR: " + msg)
    sys.exit(2)


def read_corpus(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        die("cannot read corpus %s: %s" % (path, e))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    bad = [i + 1 for i, s in enumerate(lines) if "\0" in s]
    if bad:
        die("%s: NUL in line(s) %s" % (path, bad[:10]))
    return lines


WORDS = ("Once upon a time there was little girl named Lily Timmy she he loved to play "
         "with his her toys park ball big red happy sad friend mom dad said day one "
         "the and but was were it in on at they we you I is are not can't don't "
         "Hello world quick brown fox jumps over lazy dog tokenizer engine").split()
PUNCT = list(".,!?;:'\"-()[]{}<>/\\|@#$%^&*_+=~`") + ["...", "!!", "?!", "--", "—", "–", "“", "”", "’", "…"]
EMOJI_BASE = [0x1F600, 0x1F601, 0x1F602, 0x1F60D, 0x1F44D, 0x1F44B, 0x1F469, 0x1F468, 0x1F467,
              0x1F466, 0x1F9D1, 0x1F408, 0x1F3F3, 0x2764, 0x263A, 0x2708, 0x1F680, 0x1F4BB,
              0x1F33B, 0x1F308, 0x2B1B, 0x1F525, 0x1F389]
SKIN = [0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF]
SPECIAL = ["\u2581", "\u2581\u2581", "<s>", "</s>", "<unk>", "<0x41>", "<0x0A>", "\u00a0",
           "\u200b", "\u200d", "\ufeff", "\ufffd", "\u3000", "\u2009", "\u200a", "\x7f", "\x01",
           "\x1b", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\r", "\r", "\t"]
SCRIPTS = [(0x00C0, 0x017F), (0x0400, 0x04FF), (0x0370, 0x03FF), (0x0600, 0x06FF),
           (0x0590, 0x05FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x3040, 0x30FF),
           (0x2200, 0x22FF), (0x1D400, 0x1D7FF)]


def _cp(rng, lo, hi):
    """Random codepoint in [lo, hi], never a surrogate, NUL or "\\n"."""
    while True:
        c = rng.randint(lo, hi)
        if not (0xD800 <= c <= 0xDFFF) and c not in (0, 10):
            return chr(c)


def _emoji(rng):
    k = rng.random()
    if k < 0.3:
        return chr(rng.choice(EMOJI_BASE))
    if k < 0.45:
        return chr(rng.choice([0x1F44D, 0x1F44B, 0x1F469, 0x1F468, 0x1F9D1])) + chr(rng.choice(SKIN))
    if k < 0.65:  # ZWJ sequence, sometimes with skin tones / VS16
        parts = []
        for _ in range(rng.randint(2, 4)):
            p = chr(rng.choice(EMOJI_BASE))
            if rng.random() < 0.3:
                p += chr(rng.choice(SKIN))
            elif rng.random() < 0.3:
                p += "\ufe0f"
            parts.append(p)
        return "\u200d".join(parts)
    if k < 0.8:  # flag: two regional indicators
        return chr(0x1F1E6 + rng.randrange(26)) + chr(0x1F1E6 + rng.randrange(26))
    if k < 0.9:  # keycap
        return rng.choice("0123456789#*") + "\ufe0f\u20e3"
    return chr(rng.choice(EMOJI_BASE)) + "\ufe0f"


def _chunk(rng, mostly_ascii=False):
    k = rng.randrange(53 if mostly_ascii else 100)
    if k < 22:  # words / sentence fragments
        n = rng.randint(1, 8)
        s = " ".join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.4:
            s = s.capitalize() + rng.choice([".", ",", "!", "?", "", ". "])
        return s
    if k < 34:  # whitespace runs
        return "".join(rng.choice("     \t\t\u00a0") for _ in range(rng.randint(1, 20)))
    if k < 40:
        return " "
    if k < 47:  # digits and numbers with separators
        s = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.4:
            s += rng.choice(".,:/-") + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 4)))
        return s
    if k < 53:  # punctuation runs
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 5)))
    if k < 58:  # Hangul syllables
        return "".join(_cp(rng, 0xAC00, 0xD7A3) for _ in range(rng.randint(1, 6)))
    if k < 63:  # CJK ideographs (BMP and ext. B)
        return "".join(_cp(rng, 0x4E00, 0x9FFF) if rng.random() < 0.85 else _cp(rng, 0x20000, 0x2A6DF)
                       for _ in range(rng.randint(1, 6)))
    if k < 69:
        return _emoji(rng)
    if k < 74:  # letters with combining marks
        return "".join(rng.choice("aeiouAEIOUnc") + "".join(_cp(rng, 0x0300, 0x036F)
                       for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))
    if k < 84:  # accented Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, kana, math
        lo, hi = rng.choice(SCRIPTS)
        return "".join(_cp(rng, lo, hi) for _ in range(rng.randint(1, 8)))
    if k < 90:  # meta symbol, special-token text, odd spaces, controls, "\r"
        return rng.choice(SPECIAL)
    if k < 93:  # ASCII control characters (no NUL, no "\n")
        return _cp(rng, 1, 31) if rng.random() < 0.8 else "\x7f"
    if k < 97:  # random BMP codepoint
        return _cp(rng, 0x80, 0xFFFF)
    return _cp(rng, 0x10000, 0x10FFFF)  # random astral codepoint


def random_lines(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.03:
            target = 0
        elif r < 0.55:
            target = rng.randint(1, 40)
        elif r < 0.9:
            target = rng.randint(41, 150)
        else:
            target = rng.randint(151, 400)
        mostly_ascii = rng.random() < 0.25  # words, spaces, digits, punctuation only
        s = ""
        while len(s) < target:
            s += _chunk(rng, mostly_ascii)
        if len(s) > target and rng.random() < 0.5:
            s = s[:target]  # may cut through a sequence: still valid UTF-8
        out.append(s)
    return out


# ---------------------------------------------------------------------------
# running and comparing

def run_engine(engine, tokenizer, lines, timeout):
    cmd = shlex.split(engine) + ["-m", "tokenize", "-z", tokenizer]
    data = b"".join(s.encode("utf-8") + b"\n" for s in lines)
    try:
        p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %gs: %s" % (timeout, " ".join(cmd))
    except OSError as e:
        return None, "cannot run %s: %s" % (" ".join(cmd), e)
    if p.returncode != 0:
        tail = p.stderr.decode("utf-8", "replace").strip().splitlines()[-10:]
        return None, "%s exited with status %d%s" % (
            " ".join(cmd), p.returncode, "".join("\n  stderr: " + t for t in tail))
    try:
        out = p.stdout.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, "engine output is not UTF-8: %s" % e
    out_lines = out.split("\n")
    if out_lines and out_lines[-1] == "":
        out_lines.pop()
    return out_lines, None


def parse_ids(text):
    try:
        return [int(t) for t in text.split()]
    except ValueError:
        return None


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe(sp, ids, i):
    if i >= len(ids):
        return "(end)"
    t = ids[i]
    if 0 <= t < sp.vocab_size():
        return "%d %r" % (t, sp.id_to_piece(t))
    return "%d (out of range)" % t


def pieces(sp, ids):
    def show(t):
        if not 0 <= t < sp.vocab_size():
            return "<%d?>" % t
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in sp.id_to_piece(t))
    return " ".join(show(t) for t in ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\nNeeds")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True, help="engine command, e.g. ./run")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.bin given to the engine with -z")
    ap.add_argument("--model", required=True, help="sentencepiece .model (ground truth)")
    ap.add_argument("--corpus", action="append", default=[],
                    help="file of test lines (repeatable; default: tests/tokenizer/corpus.txt "
                         "if no --random either)")
    ap.add_argument("--random", type=int, default=0, metavar="N", help="N random strings")
    ap.add_argument("--seed", type=int, default=0, help="seed for --random (default 0)")
    ap.add_argument("--timeout", type=float, default=600, help="engine time limit in seconds")
    args = ap.parse_args()

    try:
        import sentencepiece as spm
    except ImportError:
        die("the sentencepiece module is missing (try /usr/bin/python3)")
    try:
        sp = spm.SentencePieceProcessor(model_file=args.model)
    except (OSError, RuntimeError) as e:
        die("cannot load %s: %s" % (args.model, e))

    corpora = args.corpus or ([] if args.random else [DEFAULT_CORPUS])
    items = []  # (label, line)
    for path in corpora:
        for i, s in enumerate(read_corpus(path), 1):
            items.append(("%s:%d" % (path, i), s))
    for i, s in enumerate(random_lines(args.random, args.seed), 1):
        items.append(("random[seed=%d]#%d" % (args.seed, i), s))
    lines = [s for _, s in items]

    out_lines, err = run_engine(args.engine, args.tokenizer, lines, args.timeout)
    if err:
        die(err)

    expected = [[sp.bos_id()] + sp.encode(s) for s in lines]
    if len(out_lines) != len(lines):
        print("tokenizer_check: ERROR: engine printed %d lines for %d input lines"
              % (len(out_lines), len(lines)))
        for k, (got, exp) in enumerate(zip(out_lines, expected)):
            if got != " ".join(map(str, exp)):
                print("  first mismatching output line is %d (%s): %r" % (k + 1, items[k][0], lines[k]))
                print("    expected: %s" % " ".join(map(str, exp)))
                print("    engine:   %s" % got)
                break
        else:
            print("  (the first %d output lines are as expected)" % min(len(out_lines), len(lines)))
        return 2

    ndiff = 0
    for (label, line), got_text, exp in zip(items, out_lines, expected):
        canon = " ".join(map(str, exp))
        if got_text == canon:
            continue
        ndiff += 1
        got = parse_ids(got_text)
        print("DIFF %s: %r" % (label, line))
        print("  expected: %s" % canon)
        if got is None:
            print("  engine:   %r  (not a list of integers)" % got_text)
        elif got == exp:
            print("  engine:   %r  (same ids, wrong format)" % got_text)
        else:
            i = first_diff(exp, got)
            print("  engine:   %s" % " ".join(map(str, got)))
            print("  first difference at index %d: expected %s, engine %s"
                  % (i, describe(sp, exp, i), describe(sp, got, i)))
            lo = max(0, i - 3)
            print("  pieces from index %d: expected %s" % (lo, pieces(sp, exp[lo:i + 5])))
            print("  %s engine   %s" % (" " * len("pieces from index %d:" % lo), pieces(sp, got[lo:i + 5])))
    print("tokenizer_check: %d lines, %d differences" % (len(lines), ndiff))
    return 1 if ndiff else 0


if __name__ == "__main__":
    sys.exit(main())
