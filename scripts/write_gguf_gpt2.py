#!/usr/bin/python3
"""Write a small GGUF v3 GPT-2 model with random weights and an embedded vocabulary, for tests.

    write_gguf_gpt2.py OUT.gguf --dim 64 --layers 2 --heads 4 [--hidden-dim 4*DIM] [--seq-len 128]
        [--vocab-file VOCAB.gguf]        copy this GGUF's tokenizer.* keys (e.g. GPT-2's own
                                         ggml-vocab-gpt-2.gguf); default: write_bpe_vocab.py's small
                                         byte-level vocabulary (263 tokens)
        [--matrix-type f32|f16|q8_0] [--attention-type T] [--ffn-type T] [--embedding-type T]
        [--output-type T] [--separate-output] [--eps 1e-5] [--seed 0]
        [--omit TENSOR]... [--cut-rows TENSOR=ROWS]...   (broken files, for the error tests)
        [--llmc OUT.bin]                 also the same weights as an llm.c checkpoint (a new file)
        [--llmc-bf16]                    ... in its bf16 version (5); every value of both files is then
                                         a bfloat16 (the GGUF's vectors too, stored as F32)
        [--llmc-tokenizer OUT.bin]       also the vocabulary as llm.c's gpt2_tokenizer.bin (a new file)

The layout is llama.cpp's for GPT-2 (its convert_hf_to_gguf.py, LLM_ARCH_GPT2):
  - token_embd.weight (vocab, C), position_embd.weight (n_ctx, C), output_norm.{weight,bias},
    output.weight only with --separate-output (else the classifier is token_embd, as in GPT-2);
  - per block blk.N.attn_norm.{weight,bias}, attn_qkv.{weight,bias} (3C rows: q, then k, then v),
    attn_output.{weight,bias}, ffn_norm.{weight,bias}, ffn_up.{weight,bias} (hidden rows),
    ffn_down.{weight,bias};
  - metadata gpt2.context_length, embedding_length, feed_forward_length, block_count,
    attention.head_count, attention.layer_norm_epsilon.
Matrices take the chosen type; norms, biases and the position table are always F32.

--llmc writes llm.c's train_gpt2.c format (version 3, fp32): int32 header[256] = magic 20240326,
version 3, max_seq_len, vocab_size, n_layers, n_heads, channels, padded_vocab_size (vocab rounded
up to a multiple of 128, the extra rows random: a reader must never use them); then wte, wpe,
ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb (each
stacked over the layers), lnfw, lnfb, in float32, holding exactly the values the GGUF's tensors
stand for (F16 and Q8_0 dequantized). The classifier is always tied there.

--llmc-tokenizer writes llm.c's gpt2_tokenizer.bin (its dev/data/tokenizer script's format,
version 2): int32 header[256] = magic 20240328, version 2, vocab_size, the end-of-text id (the
vocabulary's EOS); then per token a uint8 length and the token's bytes, GPT-2's byte spelling
undone by reference.py's gpt2_byte_spelling (independently of the engine's C).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import reference  # noqa: E402
import write_bpe_vocab  # noqa: E402
from write_gguf import (FILE_TYPE, GGML_BF16, GGML_F32, GGML_Q8_0, bf16_bits, Q8_0_BLOCK, STRING, TYPE_BY_NAME,  # noqa: E402
                        UINT32, FLOAT32, dequantize, write_gguf)

# Spread of the random weights: large enough that the logits differ clearly.
EMBEDDING_STD, POSITION_STD, MATRIX_STD, BIAS_STD, NORM_STD = 0.5, 0.1, 0.08, 0.1, 0.1


def vocabulary(vocab_file):
    """The tokenizer.* metadata, as (key, type, value): copied from a GGUF file, or the small vocabulary."""
    if vocab_file is None:
        return [m for m in write_bpe_vocab.vocabulary_metadata() if m[0].startswith("tokenizer.")]
    g = gguf.parse_gguf(open(vocab_file, "rb").read())
    out = []
    for key, value in g.metadata.items():
        if key.startswith("tokenizer."):
            vtype = g.metadata_types[key]
            out.append((key, vtype[0], (vtype[1], value)) if isinstance(vtype, tuple) else (key, vtype, value))
    return out


def random_gpt2(dim, hidden, layers, n_ctx, vocab_size, separate_output, seed):
    """(name, group, float32 array) of every tensor, in llama.cpp's order."""
    rng = np.random.default_rng(seed)
    normal = lambda std, *shape: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    norm = lambda: (1 + normal(NORM_STD, dim)).astype(np.float32)  # noqa: E731
    tensors = [("token_embd.weight", "embedding", normal(EMBEDDING_STD, vocab_size, dim)),
               ("position_embd.weight", "fixed", normal(POSITION_STD, n_ctx, dim)),
               ("output_norm.weight", "fixed", norm()), ("output_norm.bias", "fixed", normal(BIAS_STD, dim))]
    if separate_output:
        tensors.append(("output.weight", "output", normal(EMBEDDING_STD, vocab_size, dim)))
    for l in range(layers):
        b = f"blk.{l}."
        tensors += [
            (b + "attn_norm.weight", "fixed", norm()), (b + "attn_norm.bias", "fixed", normal(BIAS_STD, dim)),
            (b + "attn_qkv.weight", "attention", normal(MATRIX_STD, 3 * dim, dim)),
            (b + "attn_qkv.bias", "fixed", normal(BIAS_STD, 3 * dim)),
            (b + "attn_output.weight", "attention", normal(MATRIX_STD, dim, dim)),
            (b + "attn_output.bias", "fixed", normal(BIAS_STD, dim)),
            (b + "ffn_norm.weight", "fixed", norm()), (b + "ffn_norm.bias", "fixed", normal(BIAS_STD, dim)),
            (b + "ffn_up.weight", "ffn", normal(MATRIX_STD, hidden, dim)),
            (b + "ffn_up.bias", "fixed", normal(BIAS_STD, hidden)),
            (b + "ffn_down.weight", "ffn", normal(MATRIX_STD, dim, hidden)),
            (b + "ffn_down.bias", "fixed", normal(BIAS_STD, dim)),
        ]
    return tensors


LLMC_MAGIC, LLMC_VERSION_FP32, LLMC_VERSION_BF16, LLMC_HEADER_INTS, LLMC_VOCAB_MULTIPLE = 20240326, 3, 5, 256, 128
LLMC_ORDER = [("ln1w", "attn_norm.weight"), ("ln1b", "attn_norm.bias"), ("qkvw", "attn_qkv.weight"),
              ("qkvb", "attn_qkv.bias"), ("attprojw", "attn_output.weight"), ("attprojb", "attn_output.bias"),
              ("ln2w", "ffn_norm.weight"), ("ln2b", "ffn_norm.bias"), ("fcw", "ffn_up.weight"),
              ("fcb", "ffn_up.bias"), ("fcprojw", "ffn_down.weight"), ("fcprojb", "ffn_down.bias")]


def write_llmc(path, tensors, dim, layers, heads, n_ctx, seed, bf16=False):
    """The tensors (name, ggml type, array) as an llm.c checkpoint of the values they stand for:
    float32 (version 3), or bfloat16 (version 5; the values must be bfloat16 already)."""
    values = {name: dequantize(t, a) for name, t, a in tensors}
    vocab = values["token_embd.weight"].shape[0]
    padded = -(-vocab // LLMC_VOCAB_MULTIPLE) * LLMC_VOCAB_MULTIPLE
    rng = np.random.default_rng(seed + 1)
    padding = rng.standard_normal((padded - vocab, dim)).astype(np.float32)
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[:8] = [LLMC_MAGIC, LLMC_VERSION_BF16 if bf16 else LLMC_VERSION_FP32, n_ctx, vocab, layers, heads, dim,
                  padded]

    def stored(a):
        return bf16_bits(a).tobytes() if bf16 else np.asarray(a, dtype="<f4").tobytes()

    parts = [header.tobytes(), stored(values["token_embd.weight"]), stored(padding),
             stored(values["position_embd.weight"])]
    for _, name in LLMC_ORDER:
        parts.append(stored(np.stack([values[f"blk.{l}.{name}"] for l in range(layers)])))
    parts += [stored(values["output_norm.weight"]), stored(values["output_norm.bias"])]
    with open(path, "xb") as f:
        f.write(b"".join(parts))


LLMC_TOKENIZER_MAGIC, LLMC_TOKENIZER_VERSION = 20240328, 2


def write_llmc_tokenizer(path, vocab):
    """The vocabulary's tokens, as bytes, in llm.c's gpt2_tokenizer.bin."""
    meta = dict((k, v) for k, _, v in vocab)
    tokens = meta["tokenizer.ggml.tokens"][1]
    eos = meta["tokenizer.ggml.eos_token_id"]
    unspell = {ch: b for b, ch in reference.gpt2_byte_spelling().items()}
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[:4] = [LLMC_TOKENIZER_MAGIC, LLMC_TOKENIZER_VERSION, len(tokens), eos]
    parts = [header.tobytes()]
    for tok in tokens:
        spelled = bytes(unspell[ch] for ch in tok) if all(ch in unspell for ch in tok) else tok.encode("utf-8")
        assert 0 < len(spelled) < 256, tok
        parts += [bytes([len(spelled)]), spelled]
    with open(path, "xb") as f:
        f.write(b"".join(parts))


def main():
    ap = argparse.ArgumentParser(description="Write a GGUF GPT-2 model with random weights.")
    ap.add_argument("out")
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--hidden-dim", type=int, help="default 4 * dim, as GPT-2's")
    ap.add_argument("--seq-len", type=int, default=128, help="n_ctx: rows of the position table")
    ap.add_argument("--vocab-file", help="a GGUF file whose tokenizer.* keys to copy")
    type_names = sorted(TYPE_BY_NAME)
    ap.add_argument("--matrix-type", choices=type_names, default="f32")
    for group in ["attention", "ffn", "embedding", "output"]:
        ap.add_argument(f"--{group}-type", choices=type_names, help=f"the {group} matrices (default: --matrix-type)")
    ap.add_argument("--separate-output", action="store_true", help="an output.weight of its own (else tied)")
    ap.add_argument("--eps", type=float, default=1e-5, help="gpt2.attention.layer_norm_epsilon")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--omit", action="append", default=[], metavar="TENSOR", help="leave this tensor out")
    ap.add_argument("--llmc", metavar="PATH", help="also write the weights as an llm.c checkpoint (a new file)")
    ap.add_argument("--llmc-bf16", action="store_true", help="--llmc in bf16 (version 5), every value a bfloat16")
    ap.add_argument("--llmc-tokenizer", metavar="PATH", help="also write the vocabulary as llm.c's tokenizer")
    ap.add_argument("--cut-rows", action="append", default=[], metavar="TENSOR=ROWS",
                    help="keep only the first ROWS rows of this tensor")
    args = ap.parse_args()
    hidden = args.hidden_dim or 4 * args.dim
    if min(args.dim, args.layers, args.heads, hidden, args.seq_len) <= 0 or args.dim % args.heads:
        ap.error("dimensions must be positive and dim a multiple of heads")

    vocab = vocabulary(args.vocab_file)
    vocab_size = len(dict((k, v) for k, _, v in vocab)["tokenizer.ggml.tokens"][1])
    types = {g: TYPE_BY_NAME[getattr(args, f"{g}_type") or args.matrix_type]
             for g in ["attention", "ffn", "embedding", "output"]}
    types["fixed"] = GGML_F32
    cuts = dict((name, int(rows)) for name, _, rows in (c.partition("=") for c in args.cut_rows))
    tensors = []
    for name, group, array in random_gpt2(args.dim, hidden, args.layers, args.seq_len, vocab_size,
                                          args.separate_output, args.seed):
        if name in args.omit:
            continue
        if name in cuts:
            array = array[:cuts[name]]
        if types[group] == GGML_Q8_0 and array.shape[-1] % Q8_0_BLOCK:
            ap.error(f"{name} cannot be Q8_0: its rows hold {array.shape[-1]} values")
        if args.llmc_bf16:  # both files then hold the same values
            array = dequantize(GGML_BF16, array)
        tensors.append((name, types[group], array))

    matrix_types = [t for _, t, a in tensors if a.ndim == 2]
    main_type = max(set(matrix_types), key=matrix_types.count)
    metadata = [
        ("general.architecture", STRING, "gpt2"),
        ("general.name", STRING, "random gpt2"),
        ("general.file_type", UINT32, FILE_TYPE[main_type]),
        ("gpt2.context_length", UINT32, args.seq_len),
        ("gpt2.embedding_length", UINT32, args.dim),
        ("gpt2.feed_forward_length", UINT32, hidden),
        ("gpt2.block_count", UINT32, args.layers),
        ("gpt2.attention.head_count", UINT32, args.heads),
        ("gpt2.attention.layer_norm_epsilon", FLOAT32, args.eps),
    ]
    if GGML_Q8_0 in matrix_types:
        metadata.append(("general.quantization_version", UINT32, 2))
    write_gguf(args.out, metadata + vocab, tensors)
    if args.llmc:
        if args.separate_output:
            ap.error("--llmc: llm.c's checkpoints always tie the classifier (no --separate-output)")
        write_llmc(args.llmc, tensors, args.dim, args.layers, args.heads, args.seq_len, args.seed, args.llmc_bf16)
    if args.llmc_tokenizer:
        write_llmc_tokenizer(args.llmc_tokenizer, vocab)


if __name__ == "__main__":
    sys.exit(main())
