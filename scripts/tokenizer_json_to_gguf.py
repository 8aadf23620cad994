#!/usr/bin/python3
"""Convert a Hugging Face tokenizer.json of byte-level BPE into a vocabulary-only GGUF file, the
way llama.cpp's converter (convert_hf_to_gguf.py, gguf-py's SpecialVocab) writes a vocabulary.

    tokenizer_json_to_gguf.py TOKENIZER.json OUT.gguf [--config tokenizer_config.json]
                              [--pre NAME] [--vocab-size N] [--eot-token TEXT]

What it writes (tokenizer.ggml.*):
  model         "gpt2" (llama.cpp's name for byte-level BPE)
  tokens        ids 0 .. vocab size - 1: the model's vocabulary as tokenizer.json spells it
                (GPT-2's byte map), the added tokens as they are typed; an id neither names is
                "[PAD<id>]"
  token_type    an added token that is special, or looks special ("<|...|>"), is CONTROL (3);
                another added token USER_DEFINED (4); a vocabulary token NORMAL (1); a
                "[PAD<id>]" UNUSED (5)
  merges        "left right", in rank order (a [left, right] pair joined by a space)
  pre           the pre-tokenizer's name, from what tokenizer.json's normalizer, pre_tokenizer
                and model.ignore_merges are (llama.cpp names it by hashing the tokenization
                of a test text; these are the names its converter gives these vocabularies):
                  gpt-2      ByteLevel with GPT-2's regex
                  llama-bpe  Split on Llama 3's regex, ByteLevel; ignore_merges (Llama 3.x)
                  qwen2      NFC; Split on the same regex with single digits, ByteLevel (Qwen2.5, 3)
                  smollm     Digits one by one, ByteLevel with GPT-2's regex (SmolLM2)
                anything else is refused, unless --pre names it
  bos_token_id, eos_token_id  tokenizer_config.json's bos_token and eos_token, when they are
                added tokens
  add_bos_token tokenizer_config.json's, else true when the post_processor's template starts
                with BOS; absent otherwise
  chat_template tokenizer_config.json's chat_template (a string), or --chat-template's file
  eot_token_id  only with --eot-token (llama.cpp's converter writes none for these vocabularies:
                llama.cpp, like ./run, finds <|eot_id|> and <|im_end|> by name)

--vocab-size N  the model's vocabulary size (config.json's vocab_size), when it has more ids than
                tokenizer.json names (Qwen's 151,936): the rest are "[PAD<id>]"
--pre NAME      writes this name whatever tokenizer.json's pre-tokenizer is
--chat-template FILE  writes the text of FILE as tokenizer.chat_template (another model's template
                on this vocabulary, for tests)
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from write_gguf import ARRAY, BOOL, INT32, STRING, UINT32, write_gguf  # noqa: E402

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")


def fail(message):
    sys.exit("tokenizer_json_to_gguf: " + message)


# ---------------------------------------------------------------------------------------------
# The pre-tokenizer's name

def byte_level(step, use_regex):
    return (step.get("type") == "ByteLevel" and step.get("add_prefix_space") is False
            and step.get("use_regex", True) is use_regex)


def split_on(step, regex):
    return (step.get("type") == "Split" and step.get("pattern") == {"Regex": regex}
            and step.get("behavior") == "Isolated" and step.get("invert") is False)


def pre_name(tokenizer):
    """llama.cpp's name for tokenizer.json's normalizer + pre_tokenizer + ignore_merges, or None."""
    normalizer = tokenizer.get("normalizer")
    pre = tokenizer.get("pre_tokenizer") or {}
    ignore_merges = tokenizer["model"].get("ignore_merges", False) is True
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    nfc = normalizer == {"type": "NFC"}
    if normalizer is not None and not nfc:
        return None
    if len(steps) == 1 and byte_level(steps[0], True) and not nfc and not ignore_merges:
        return "gpt-2"
    if len(steps) == 2 and byte_level(steps[1], False):
        if split_on(steps[0], LLAMA3_REGEX) and not nfc and ignore_merges:
            return "llama-bpe"
        if split_on(steps[0], QWEN2_REGEX) and nfc and not ignore_merges:
            return "qwen2"
    if (len(steps) == 2 and steps[0] == {"type": "Digits", "individual_digits": True}
            and byte_level(steps[1], True) and not nfc and not ignore_merges):
        return "smollm"
    return None


# ---------------------------------------------------------------------------------------------
# Tokens

def looks_special(text):
    """convert_hf_to_gguf.py's does_token_look_special, for the added tokens of these vocabularies."""
    return ((text.startswith("<|") and text.endswith("|>")) or (text.startswith("<\uff5c") and text.endswith("\uff5c>"))
            or text in ("<pad>", "<mask>"))


def tokens_and_types(tokenizer, vocab_size):
    model = tokenizer["model"]
    if model.get("type") != "BPE":
        fail("the model is %s, not BPE" % model.get("type"))
    by_id = {i: t for t, i in model["vocab"].items()}
    added = {a["id"]: a for a in tokenizer.get("added_tokens", [])}
    size = max(list(by_id) + list(added)) + 1
    if vocab_size is not None:
        if vocab_size < size:
            fail("--vocab-size %d is less than the %d ids tokenizer.json names" % (vocab_size, size))
        size = vocab_size
    tokens, types = [], []
    for i in range(size):
        if i in added:
            text = added[i]["content"]
            tokens.append(text)
            types.append(TOKEN_CONTROL if added[i].get("special") or looks_special(text) else TOKEN_USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(TOKEN_NORMAL)
        else:
            tokens.append("[PAD%d]" % i)
            types.append(TOKEN_UNUSED)
    return tokens, types


def merges_of(tokenizer):
    out = []
    for m in tokenizer["model"]["merges"]:
        if isinstance(m, str):
            out.append(m)
        else:
            if len(m) != 2 or " " in m[0] or " " in m[1]:
                fail("merge %r is not two pieces without spaces" % (m,))
            out.append(m[0] + " " + m[1])
    return out


# ---------------------------------------------------------------------------------------------
# Special tokens

def token_text(entry):
    """A tokenizer_config.json entry: "<s>", {"content": "<s>", ...} or null."""
    if isinstance(entry, dict):
        return entry.get("content")
    return entry if isinstance(entry, str) else None


def special_ids(tokenizer, config):
    """BOS and EOS ids, as SpecialVocab finds them: the added token of that text."""
    added = {a["content"]: a["id"] for a in tokenizer.get("added_tokens", [])}
    ids = {}
    for kind in ("bos", "eos"):
        text = token_text(config.get(kind + "_token"))
        if text is not None and text in added:
            ids[kind] = added[text]
    return ids


def add_bos(tokenizer, config, bos_id):
    """tokenizer_config.json's add_bos_token; else whether the post-processor's template puts BOS
    first; else None (the key is left out)."""
    if isinstance(config.get("add_bos_token"), bool):
        return config["add_bos_token"]
    post = tokenizer.get("post_processor") or {}
    steps = post.get("processors", []) if post.get("type") == "Sequence" else [post]
    for step in steps:
        if step.get("type") == "TemplateProcessing" and step.get("single"):
            first = step["single"][0].get("SpecialToken", {}).get("id")
            ids = {a["content"]: a["id"] for a in tokenizer.get("added_tokens", [])}
            return first is not None and ids.get(first) == bos_id
    return None


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tokenizer_json")
    ap.add_argument("out")
    ap.add_argument("--config", help="tokenizer_config.json (BOS, EOS, add_bos_token)")
    ap.add_argument("--pre", help="the pre-tokenizer's name, whatever tokenizer.json says")
    ap.add_argument("--vocab-size", type=int)
    ap.add_argument("--eot-token", help="writes tokenizer.ggml.eot_token_id: this token's id")
    ap.add_argument("--chat-template", help="a file whose text is written as tokenizer.chat_template")
    args = ap.parse_args()

    with open(args.tokenizer_json, encoding="utf-8") as f:
        tokenizer = json.load(f)
    config = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config = json.load(f)
    pre = args.pre or pre_name(tokenizer)
    if pre is None:
        fail("%s: a normalizer %s and pre-tokenizer %s this converter does not know (name one with --pre)"
             % (args.tokenizer_json, json.dumps(tokenizer.get("normalizer")),
                json.dumps(tokenizer.get("pre_tokenizer"))[:200]))
    tokens, types = tokens_and_types(tokenizer, args.vocab_size)
    metadata = [
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.pre", STRING, pre),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
        ("tokenizer.ggml.merges", ARRAY, (STRING, merges_of(tokenizer))),
    ]
    ids = special_ids(tokenizer, config)
    for kind in ("bos", "eos"):
        if kind in ids:
            metadata.append(("tokenizer.ggml.%s_token_id" % kind, UINT32, ids[kind]))
    bos = add_bos(tokenizer, config, ids.get("bos"))
    if bos is not None:
        metadata.append(("tokenizer.ggml.add_bos_token", BOOL, bos))
    if args.eot_token is not None:
        if args.eot_token not in tokens:
            fail("--eot-token %r is not a token" % args.eot_token)
        metadata.append(("tokenizer.ggml.eot_token_id", UINT32, tokens.index(args.eot_token)))
    template = config.get("chat_template")
    if args.chat_template:
        with open(args.chat_template, encoding="utf-8") as f:
            template = f.read()
    if isinstance(template, str):
        metadata.append(("tokenizer.chat_template", STRING, template))
    write_gguf(args.out, metadata, [])
    print("tokenizer_json_to_gguf: %s: %d tokens (%d control, %d user-defined), %d merges, pre %s%s"
          % (args.out, len(tokens), types.count(TOKEN_CONTROL), types.count(TOKEN_USER_DEFINED),
             len(metadata[4][2][1]), pre, "".join(", %s %d" % (k.upper(), v) for k, v in ids.items())))


if __name__ == "__main__":
    main()
