#!/usr/bin/python3
"""Write a small vocabulary-only GGUF file of byte-level BPE (tokenizer.ggml.model = gpt2), for tests.

    write_bpe_vocab.py OUT.gguf [--pre NAME | --no-pre] [--no-merges] [--merge "LEFT RIGHT"]...
                       [--add-bos] [--control-token TEXT]... [--user-token TEXT]... [--eot-id N]

The vocabulary: ids 0..255 are the bytes 0..255, spelled with GPT-2's byte map (printable
Latin-1 bytes as themselves, the other 68 as U+0100, U+0101, ... in byte order: a space is "Ġ");
then the pieces of the merges below, in rank order (ids 256..261: "Ġt", "he", "Ġthe", "Ġc",
"at", "Ġcat"); last "<|endoftext|>" (a control token), which is BOS and EOS.
So "the cat" is 116 257 261: "t" "he" (no merge makes "the" without the space) and "Ġcat".

--pre NAME      tokenizer.ggml.pre (default gpt-2); --no-pre leaves it out
--no-merges     leaves tokenizer.ggml.merges out
--merge ENTRY   appends ENTRY as written to the merges (to test entries that name no token,
                or are not two pieces)
--add-bos       tokenizer.ggml.add_bos_token = true (default: the key is absent)
--control-token TEXT, --user-token TEXT
                appends a CONTROL (3) or USER_DEFINED (4) token spelled TEXT, ids 263, 264, ...
                in the order given, control tokens first
--eot-id N      tokenizer.ggml.eot_token_id = N

Importable: vocabulary_metadata(...) -> that metadata (write_gguf_gpt2.py embeds it in models).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from write_gguf import ARRAY, BOOL, INT32, STRING, UINT32, write_gguf  # noqa: E402

MERGES = ["Ġ t", "h e", "Ġt he", "Ġ c", "a t", "Ġc at"]
END_OF_TEXT = "<|endoftext|>"
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 3, 4


def byte_to_char():
    """GPT-2's map: byte -> the character that spells it."""
    out, shifted = {}, 0x100
    for b in range(256):
        if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF:
            out[b] = chr(b)
        else:
            out[b] = chr(shifted)
            shifted += 1
    return out


def vocabulary_metadata(pre="gpt-2", merges=True, extra_merges=(), add_bos=False, control_tokens=(),
                        user_tokens=(), eot_id=None):
    """The file's metadata, as (key, value type, value) for write_gguf: the vocabulary above."""
    spelled = byte_to_char()
    tokens = [spelled[b] for b in range(256)] + [m.replace(" ", "") for m in MERGES] + [END_OF_TEXT]
    types = [TOKEN_NORMAL] * (len(tokens) - 1) + [TOKEN_CONTROL]
    end_of_text = len(tokens) - 1
    tokens += list(control_tokens) + list(user_tokens)
    types += [TOKEN_CONTROL] * len(control_tokens) + [TOKEN_USER_DEFINED] * len(user_tokens)
    metadata = [
        ("general.architecture", STRING, "gpt2"),
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
        ("tokenizer.ggml.bos_token_id", UINT32, end_of_text),
        ("tokenizer.ggml.eos_token_id", UINT32, end_of_text),
    ]
    if pre is not None:
        metadata.append(("tokenizer.ggml.pre", STRING, pre))
    if merges:
        metadata.append(("tokenizer.ggml.merges", ARRAY, (STRING, MERGES + list(extra_merges))))
    if add_bos:
        metadata.append(("tokenizer.ggml.add_bos_token", BOOL, True))
    if eot_id is not None:
        metadata.append(("tokenizer.ggml.eot_token_id", UINT32, eot_id))
    return metadata


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--pre", default="gpt-2")
    ap.add_argument("--no-pre", action="store_true")
    ap.add_argument("--no-merges", action="store_true")
    ap.add_argument("--merge", action="append", default=[])
    ap.add_argument("--add-bos", action="store_true")
    ap.add_argument("--control-token", action="append", default=[])
    ap.add_argument("--user-token", action="append", default=[])
    ap.add_argument("--eot-id", type=int)
    args = ap.parse_args()
    metadata = vocabulary_metadata(None if args.no_pre else args.pre, not args.no_merges, args.merge, args.add_bos,
                                   args.control_token, args.user_token, args.eot_id)
    write_gguf(args.out, metadata, [])


if __name__ == "__main__":
    sys.exit(main())
