#!/usr/bin/python3
"""Write a small llama2.c checkpoint with random weights, for tests.

    write_checkpoint.py OUT.bin --format legacy|v1 --dim 64 --hidden-dim 172
        --layers 2 --heads 8 --kv-heads 4 --vocab 512 --seq-len 128
        [--separate-classifier] [--seed 0] [--tokenizer TOK.bin]

Both formats are little-endian, weights float32, matrices row-major with shape
(out_features, in_features), so that y = W @ x.

legacy (llama2.c's original format):
    7 x int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
               (vocab_size is negative when the classifier is separate)
    token_embedding (vocab, dim)
    rms_att (layers, dim)
    wq (layers, dim, dim), wk (layers, kv_dim, dim), wv (layers, kv_dim, dim),
    wo (layers, dim, dim)
    rms_ffn (layers, dim)
    w1 (layers, hidden, dim), w2 (layers, dim, hidden), w3 (layers, hidden, dim)
    rms_final (dim)
    freq_cis_real (seq_len, head_size/2), freq_cis_imag (seq_len, head_size/2)
    wcls (vocab, dim)                       only if the classifier is separate

v1 (llama2.c's "version 1" export):
    uint32 magic 0x616b3432 ("ak42"), int32 version 1,
    the same 7 x int32 (vocab_size positive), uint8 shared_classifier,
    zero padding up to 256 bytes
    rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3,
    wcls                                    only if the classifier is separate

Importable: random_weights(config, seed) and write_checkpoint(path, fmt, config, weights),
where config is a dict with the keys of CONFIG_KEYS plus 'shared_classifier' (bool).
"""
import argparse
import os
import struct
import sys

import numpy as np

CONFIG_KEYS = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]
V1_MAGIC = 0x616B3432
V1_HEADER_SIZE = 256


def head_size(config):
    """config['head_size'] when given (a GGUF file may say; llama2.c's formats cannot), else dim / n_heads."""
    return config.get("head_size") or config["dim"] // config["n_heads"]


def validate_config(config):
    """Raise ValueError if the hyperparameters cannot describe a valid model."""
    for key in CONFIG_KEYS:
        if config[key] <= 0:
            raise ValueError(f"{key} must be positive, got {config[key]}")
    if not config.get("head_size") and config["dim"] % config["n_heads"] != 0:
        raise ValueError(f"dim ({config['dim']}) must be divisible by n_heads ({config['n_heads']})")
    if config["n_heads"] % config["n_kv_heads"] != 0:
        raise ValueError(f"n_heads ({config['n_heads']}) must be divisible by n_kv_heads ({config['n_kv_heads']})")
    if head_size(config) % 2 != 0:
        raise ValueError(f"head size ({head_size(config)}) must be even for RoPE")


def weight_shapes(config):
    """Shape of every weight array, by name (wcls only if the classifier is separate). q is
    n_heads * head_size wide: dim unless config['head_size'] says otherwise."""
    dim, hidden, layers = config["dim"], config["hidden_dim"], config["n_layers"]
    q_dim, kv_dim = config["n_heads"] * head_size(config), config["n_kv_heads"] * head_size(config)
    vocab = config["vocab_size"]
    shapes = {
        "token_embedding": (vocab, dim),
        "rms_att": (layers, dim),
        "wq": (layers, q_dim, dim),
        "wk": (layers, kv_dim, dim),
        "wv": (layers, kv_dim, dim),
        "wo": (layers, dim, q_dim),
        "rms_ffn": (layers, dim),
        "w1": (layers, hidden, dim),
        "w2": (layers, dim, hidden),
        "w3": (layers, hidden, dim),
        "rms_final": (dim,),
    }
    if not config["shared_classifier"]:
        shapes["wcls"] = (vocab, dim)
    return shapes


def random_weights(config, seed=0):
    """Random float32 weights: normal * 0.1, and 1 + normal * 0.1 for the rms norm weights."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in weight_shapes(config).items():
        w = rng.standard_normal(shape) * 0.1
        if name.startswith("rms_"):
            w += 1.0
        weights[name] = w.astype(np.float32)
    return weights


def rope_tables(config):
    """cos and sin of the RoPE angles pos * 10000^(-2i/head_size), shape (seq_len, head_size/2).

    Only the legacy format stores these; llama2.c's exporter wrote them, engines ignore them.
    """
    head_size = config["dim"] // config["n_heads"]
    freqs = 1.0 / 10000.0 ** (np.arange(0, head_size, 2) / head_size)
    angles = np.outer(np.arange(config["seq_len"]), freqs)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def write_checkpoint(path, fmt, config, weights):
    """Write weights (dict name -> array, see weight_shapes) in format 'legacy' or 'v1'."""
    validate_config(config)
    if head_size(config) * config["n_heads"] != config["dim"]:
        raise ValueError("llama2.c's formats hold only models whose heads make dim (no head size of their own)")
    shapes = weight_shapes(config)
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            raise ValueError(f"weight {name} has shape {weights[name].shape}, expected {shape}")
    params = [config[key] for key in CONFIG_KEYS]

    def write(f, name):
        f.write(np.ascontiguousarray(weights[name], dtype="<f4").tobytes())

    with open(path, "wb") as f:
        if fmt == "legacy":
            if not config["shared_classifier"]:
                params[5] = -params[5]          # negative vocab_size: separate classifier
            f.write(struct.pack("<7i", *params))
            for name in ["token_embedding", "rms_att", "wq", "wk", "wv", "wo",
                         "rms_ffn", "w1", "w2", "w3", "rms_final"]:
                write(f, name)
            cos, sin = rope_tables(config)
            f.write(cos.astype("<f4").tobytes())
            f.write(sin.astype("<f4").tobytes())
        elif fmt == "v1":
            header = struct.pack("<Ii7iB", V1_MAGIC, 1, *params, int(config["shared_classifier"]))
            f.write(header + b"\0" * (V1_HEADER_SIZE - len(header)))
            for name in ["rms_att", "rms_ffn", "rms_final", "token_embedding",
                         "wq", "wk", "wv", "wo", "w1", "w2", "w3"]:
                write(f, name)
        else:
            raise ValueError(f"unknown format {fmt!r} (expected 'legacy' or 'v1')")
        if not config["shared_classifier"]:
            write(f, "wcls")


def write_tokenizer(path, vocab_size, seed=0):
    """A tokenizer.bin of vocab_size pieces for a random checkpoint: the three
    specials, the 256 byte-fallback tokens, printable ASCII, then random
    merges of earlier pieces, each scoring below the last so merges have an order."""
    specials = ["<unk>", "\n<s>\n", "\n</s>\n"]
    pieces = specials + ["<0x%02X>" % b for b in range(256)] + [chr(c) for c in range(32, 127)]
    if vocab_size < len(specials):
        raise ValueError("a tokenizer needs at least 3 tokens")
    pieces = pieces[:vocab_size]
    rng = np.random.default_rng(seed)
    first_text = len(specials) + 256
    known = set(pieces)
    while len(pieces) < vocab_size:
        a, b = rng.integers(first_text, len(pieces), size=2)
        merged = pieces[a] + pieces[b]
        if merged not in known and len(merged.encode()) <= 16:
            known.add(merged)
            pieces.append(merged)
    with open(path, "wb") as f:
        encoded = [p.encode("utf-8") for p in pieces]
        f.write(struct.pack("<i", max(len(e) for e in encoded)))
        for i, e in enumerate(encoded):
            score = 0.0 if i < first_text else -float(i - first_text)
            f.write(struct.pack("<fi", score, len(e)) + e)


def add_shape_arguments(ap):
    """The model-shape flags, shared with write_gguf.py."""
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--hidden-dim", type=int, default=172)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)


def refuse_to_overwrite(ap, flag, path):
    """--tokenizer (and write_gguf.py's --checkpoint) name files to write, but
    read like inputs: a real tokenizer.bin given by mistake would be silently
    replaced by a random one. They must name new files."""
    if path and os.path.exists(path):
        ap.error(f"{flag} {path}: the file exists; {flag} names a file to write, and will not overwrite one")


def main():
    ap = argparse.ArgumentParser(description="Write a llama2.c checkpoint with random weights.")
    ap.add_argument("out")
    ap.add_argument("--format", choices=["legacy", "v1"], required=True)
    add_shape_arguments(ap)
    ap.add_argument("--separate-classifier", action="store_true")
    ap.add_argument("--tokenizer", metavar="PATH", help="also write a matching tokenizer.bin (a new file)")
    args = ap.parse_args()
    refuse_to_overwrite(ap, "--tokenizer", args.tokenizer)
    config = {"dim": args.dim, "hidden_dim": args.hidden_dim, "n_layers": args.layers,
              "n_heads": args.heads, "n_kv_heads": args.kv_heads, "vocab_size": args.vocab,
              "seq_len": args.seq_len, "shared_classifier": not args.separate_classifier}
    try:
        validate_config(config)
    except ValueError as e:
        ap.error(str(e))
    write_checkpoint(args.out, args.format, config, random_weights(config, args.seed))
    if args.tokenizer:
        write_tokenizer(args.tokenizer, args.vocab, args.seed)


if __name__ == "__main__":
    sys.exit(main())
