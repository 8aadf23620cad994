#!/usr/bin/python3
"""Generate the expected token ids for the tokenizer test corpus.

Ground truth is sentencepiece (the reference implementation), never our own
engine: for every line of tests/tokenizer/corpus.txt this writes
"1" (the BOS id) followed by sp.encode(line), space-separated -- exactly what
`./run -m tokenize -z TOKENIZER.bin` must print for that line.

    tests/tokenizer/expected_tok512.txt   <- tok512.model      (512 tokens)
    tests/tokenizer/expected_llama2.txt   <- tokenizer.model   (Llama 2, 32000 tokens)

To regenerate (after editing corpus.txt), from the project root:

    /usr/bin/python3 scripts/make_tokenizer_expected.py
    # or, to only verify that the committed files are up to date:
    /usr/bin/python3 scripts/make_tokenizer_expected.py --check

It needs the Python `sentencepiece` module (Debian: python3-sentencepiece;
the outputs were made with 0.1.97) and the .model files, looked up in
../shared/models relative to the project root unless --models-dir is given.

Corpus format: UTF-8, one test string per line, lines separated by "\\n" only.
A "\\r" or any other control character (e.g. \\x0b, \\x0c, \\x1c, \\x85,
U+2028) is part of the line: the file is split on b"\\n" and never with
str.splitlines() or universal-newline mode. The final "\\n" terminates the
last line (it does not start an extra empty one).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDIR = os.path.join(ROOT, "tests", "tokenizer")
DEFAULT_MODELS = os.path.normpath(os.path.join(ROOT, "..", "shared", "models"))

# (model file, output file)
VOCABS = [
    ("tok512.model", "expected_tok512.txt"),
    ("tokenizer.model", "expected_llama2.txt"),
]


def read_lines(path):
    """Lines of a UTF-8 file split on b"\\n" only (a "\\r" stays in the line)."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")  # strict: the corpus must be valid UTF-8
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    for i, line in enumerate(lines, 1):
        if "\0" in line:
            sys.exit("%s:%d: NUL characters are not allowed in the corpus" % (path, i))
    return lines


def encode_lines(model_path, lines):
    try:
        import sentencepiece as spm
    except ImportError:
        sys.exit("the sentencepiece module is missing (try /usr/bin/python3)")
    sp = spm.SentencePieceProcessor(model_file=model_path)
    assert sp.bos_id() == 1, "expected BOS id 1 in %s" % model_path
    out = []
    for line in lines:
        ids = [1] + sp.encode(line)  # raw line, no extra options
        out.append(" ".join(str(i) for i in ids))
    return sp, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.path.join(TESTDIR, "corpus.txt"))
    ap.add_argument("--models-dir", default=DEFAULT_MODELS,
                    help="directory holding tok512.model and tokenizer.model (default: %(default)s)")
    ap.add_argument("--outdir", default=TESTDIR)
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the expected files are missing or out of date")
    args = ap.parse_args()

    lines = read_lines(args.corpus)
    stale = False
    for model_name, out_name in VOCABS:
        model_path = os.path.join(args.models_dir, model_name)
        out_path = os.path.join(args.outdir, out_name)
        sp, out = encode_lines(model_path, lines)
        data = ("\n".join(out) + "\n").encode("ascii")
        ntok = sum(len(o.split()) - 1 for o in out)
        nbyte = sum(1 for o in out for t in o.split()[1:] if sp.is_byte(int(t)))
        if args.check:
            try:
                with open(out_path, "rb") as f:
                    same = f.read() == data
            except OSError:
                same = False
            print("%s: %s" % (out_name, "up to date" if same else "OUT OF DATE"))
            stale |= not same
        else:
            with open(out_path, "wb") as f:
                f.write(data)
            print("wrote %s: %d lines, %d tokens (%d byte-fallback), vocab %d (%s)"
                  % (os.path.relpath(out_path), len(out), ntok, nbyte, sp.vocab_size(), model_name))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
