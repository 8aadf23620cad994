#!/usr/bin/python3
"""Write a small GGUF v3 model of the Llama family (llama, qwen2, qwen3) with random weights and an
embedded vocabulary, for tests.

    write_gguf.py OUT.gguf --dim 64 --hidden-dim 172 --layers 2 --heads 8 --kv-heads 4
        --vocab 512 --seq-len 128 [--seed 0]
        [--arch llama|qwen2|qwen3]        the architecture (default llama), see below
        [--head-size N]                   a head size of the file's own (ARCH.attention.key_length and
                                          value_length): q is heads * N wide, which need not be dim
        [--matrix-type f32|f16|q8_0]      every matrix (default f32); then per group, overriding it:
        [--attention-type T] [--ffn-type T] [--embedding-type T] [--output-type T]
        [--separate-output]               a classifier output.weight of its own (else none: tied)
        [--rope-freq-base 10000 | --no-rope-freq-base] [--rms-eps 1e-5]
        [--llama3-rope FACTOR:LOW:HIGH:ORIGINAL]   a rope_freqs.weight as llama.cpp's converter writes
                                          it for Llama 3.1's rope_scaling (e.g. 8:1:4:8192)
        [--rope-freqs V,V,...]            a rope_freqs.weight of these values (head_size / 2 of them)
        [--rope-scaling TYPE[:FACTOR]]    ARCH.rope.scaling.type (and .factor), e.g. linear:4
        [--alignment N] [--gguf-version 2|3]
        [--checkpoint OUT.bin] [--tokenizer TOK.bin]
        [--omit TENSOR]... [--cut TENSOR=N]... [--set-u32 KEY=N]... [--set-string KEY=VALUE]...
                                          (broken files, for the error tests)

The architectures, as llama.cpp reads them (keys under the architecture's name, ARCH.*):
  - llama: the layout below; RoPE rotates adjacent pairs. Llama 3.x, SmolLM2 and TinyLlama are
    such files (GQA, tied or separate output, RoPE base 500000 and rope_freqs for Llama 3.1+).
  - qwen2: llama's tensors plus blk.N.attn_q.bias, attn_k.bias, attn_v.bias (F32); RoPE rotates
    the two halves of each head (NeoX), so q and k rows are as Hugging Face has them.
  - qwen3: llama's tensors plus blk.N.attn_q_norm.weight and attn_k_norm.weight (head_size values,
    F32): RMSNorm over each head of q and of k before RoPE; NeoX RoPE; no biases. Usually with
    --head-size (Qwen3-0.6B: 16 heads of 128 for dim 1024).
The llama weights come from write_checkpoint.random_weights (so a llama file of a seed is the same
as before these options); the biases and q/k norms from a second random stream of the seed.

--checkpoint and --tokenizer also write (to new files; they refuse to overwrite) the same model
as a llama2.c legacy checkpoint and tokenizer.bin (scripts/write_checkpoint.py's formats): the checkpoint holds exactly the values the
GGUF's tensors stand for (F16 and Q8_0 dequantized), so an engine must give the same logits
for both files.

The layout is what llama.cpp's convert-llama2c-to-ggml writes (checked against
stories260K.f32.gguf, whose tensors are bit-identical to stories260K.bin's):
  - tensors token_embd, output_norm, [output], then per layer blk.N.attn_q, attn_k, attn_v,
    attn_output, attn_norm, ffn_gate (llama2.c's w1), ffn_down (w2), ffn_up (w3), ffn_norm;
    norms are always F32. A matrix of shape (rows, cols) has ggml dims {cols, rows}.
  - attn_q and attn_k rows are in llama2.c's (Meta's) order, NOT permuted: RoPE rotates the
    adjacent pairs (2i, 2i+1) of each head, as llama.cpp's LLAMA_ROPE_TYPE_NORM does.
  - the vocabulary is the llama2.c one with sentencepiece's conventions: "▁" (U+2581) for a
    space, "<s>" and "</s>" for BOS and EOS (tokenizer.bin says "\\n<s>\\n"), token types
    normal 1, unknown 2, control 3, byte 6.
Q8_0 is ggml's: blocks of 32 values along a row, each an fp16 scale d = max|x| / 127 and 32
int8 q = round(x / d); a row length must be a multiple of 32.

Importable:
    write_gguf(path, metadata, tensors, alignment=32, version=3)    any GGUF file:
        metadata: list of (key, value type, value); for ARRAY the value is (element type, list)
        tensors:  list of (name, ggml type, float32 numpy array, numpy shape order)
    llama_gguf(config, weights, types, ...) -> (metadata, tensors) for a llama model
    llama_vocabulary(vocab_size, seed) -> (tokens, scores, token types)
    quantize_q8_0(x) -> bytes, dequantize(ggml type, x) -> what a reader of the file gets
"""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import write_checkpoint  # noqa: E402  (random weights, the legacy writer, the vocabulary)

# Metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALAR_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
                  FLOAT32: "<f", BOOL: "<B", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

# ggml tensor types this writer produces.
GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30
TYPE_BY_NAME = {"f32": GGML_F32, "f16": GGML_F16, "q8_0": GGML_Q8_0, "bf16": GGML_BF16}
Q8_0_BLOCK = 32
# llama.cpp's general.file_type (enum llama_ftype) for a file whose matrices are mostly of a type.
FILE_TYPE = {GGML_F32: 0, GGML_F16: 1, GGML_Q8_0: 7, GGML_BF16: 32}

# Token types (sentencepiece's, as llama.cpp stores them).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6
SPACE = "\u2581"   # sentencepiece's "▁"


# ---------------------------------------------------------------------------------------------
# Any GGUF file

def _string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _value(vtype, value):
    if vtype in SCALAR_FORMATS:
        return struct.pack(SCALAR_FORMATS[vtype], value)
    if vtype == STRING:
        return _string(value)
    if vtype == ARRAY:
        etype, items = value
        out = [struct.pack("<IQ", etype, len(items))]
        if etype in SCALAR_FORMATS:
            fmt = SCALAR_FORMATS[etype]
            out.append(np.asarray(items, dtype=np.dtype(fmt)).tobytes())
        else:
            out.extend(_value(etype, item) for item in items)
        return b"".join(out)
    raise ValueError(f"unknown value type {vtype}")


def quantize_q8_0(x):
    """ggml's reference Q8_0 (quantize_row_q8_0_ref): float32 arithmetic, roundf (half away from 0)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % Q8_0_BLOCK:
        raise ValueError(f"Q8_0 needs rows whose length is a multiple of {Q8_0_BLOCK}, not {x.shape[-1]}")
    blocks = x.reshape(-1, Q8_0_BLOCK)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    scaled = blocks * inv
    # roundf: np.rint rounds halves to even, so move exact halves away from zero by hand
    # (adding 0.5 and truncating would be wrong in float32, e.g. for 0.49999997).
    truncated = np.trunc(scaled)
    q = np.where(np.abs(scaled - truncated) == 0.5, truncated + np.sign(scaled), np.rint(scaled)).astype(np.int8)
    out = np.empty((blocks.shape[0], 2 + Q8_0_BLOCK), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def bf16_bits(x):
    """float32 values rounded to bfloat16 (to nearest, ties to even), as uint16: float32's upper half."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def tensor_bytes(ggml_type, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if ggml_type == GGML_F32:
        return x.astype("<f4").tobytes()
    if ggml_type == GGML_F16:
        return x.astype("<f2").tobytes()
    if ggml_type == GGML_Q8_0:
        return quantize_q8_0(x)
    if ggml_type == GGML_BF16:
        return bf16_bits(x).tobytes()
    raise ValueError(f"this writer cannot write ggml type {ggml_type}")


def dequantize(ggml_type, x):
    """The float32 values a reader of the file gets back for x stored as ggml_type."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if ggml_type == GGML_F32:
        return x.copy()
    if ggml_type == GGML_F16:
        return x.astype(np.float16).astype(np.float32)
    if ggml_type == GGML_Q8_0:
        blocks = np.frombuffer(quantize_q8_0(x), dtype=np.uint8).reshape(-1, 2 + Q8_0_BLOCK)
        d = blocks[:, :2].copy().view("<f2").astype(np.float32)
        q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(x.shape)
    if ggml_type == GGML_BF16:
        return (bf16_bits(x).astype(np.uint32) << 16).view(np.float32).reshape(x.shape)
    raise ValueError(f"this writer cannot write ggml type {ggml_type}")


def write_gguf(path, metadata, tensors, alignment=32, version=3):
    """Write a GGUF file. metadata: list of (key, value type, value); tensors: list of
    (name, ggml type, float32 array in numpy order, i.e. (rows, cols) for a matrix).
    Each tensor's data starts at a multiple of alignment, zero-padded, the last one too."""
    keys = [k for k, _, _ in metadata]
    if len(set(keys)) != len(keys):
        raise ValueError("a metadata key appears twice")
    if alignment != 32 and "general.alignment" not in keys:
        metadata = list(metadata) + [("general.alignment", UINT32, alignment)]
    pad = lambda n: (alignment - n % alignment) % alignment  # noqa: E731
    head = [b"GGUF", struct.pack("<IQQ", version, len(tensors), len(metadata))]
    for key, vtype, value in metadata:
        head.append(_string(key) + struct.pack("<I", vtype) + _value(vtype, value))
    blobs, offset = [], 0
    for name, ggml_type, array in tensors:
        blob = tensor_bytes(ggml_type, array)
        dims = list(reversed(np.shape(array)))       # ggml order: innermost first
        head.append(_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
                    + struct.pack("<IQ", ggml_type, offset))
        blobs.append(blob + b"\0" * pad(len(blob)))
        offset += len(blobs[-1])
    header = b"".join(head)
    with open(path, "wb") as f:
        f.write(header + b"\0" * pad(len(header)))
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------------------------------------
# A llama model

def llama_vocabulary(vocab_size, seed=0):
    """(tokens, scores, token types) of write_checkpoint.write_tokenizer's vocabulary for that
    size and seed, in GGUF's spelling. Made by writing that tokenizer.bin and converting it, so
    the two files always hold the same vocabulary."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokenizer.bin")
        write_checkpoint.write_tokenizer(path, vocab_size, seed)
        data = open(path, "rb").read()
    pos, tokens, scores, types = 4, [], [], []
    for i in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, pos)
        piece = data[pos + 8:pos + 8 + n].decode("utf-8")
        pos += 8 + n
        if i == 0:
            kind = TOKEN_UNKNOWN
        elif i in (1, 2):
            kind, piece = TOKEN_CONTROL, piece.strip("\n")       # "\n<s>\n" -> "<s>"
        elif 3 <= i < 3 + 256:                                  # "<0x00>" .. "<0xFF>"
            kind = TOKEN_BYTE
        else:
            kind, piece = TOKEN_NORMAL, piece.replace(" ", SPACE)
        tokens.append(piece)
        scores.append(score)
        types.append(kind)
    return tokens, scores, types


ARCHITECTURES = ("llama", "qwen2", "qwen3")
BIAS_STD, NORM_STD = 0.5, 0.1  # qwen2's q, k, v biases; qwen3's q and k norm weights (1 + normal * NORM_STD)


def architecture_weights(config, arch, seed):
    """The tensors an architecture adds to llama's, from their own random stream (so that the llama
    weights of a seed stay the same): qwen2's bq, bk, bv (layers, width); qwen3's q_norm, k_norm
    (layers, head_size)."""
    rng = np.random.default_rng([seed, 1])
    layers, hs = config["n_layers"], write_checkpoint.head_size(config)
    q_dim, kv_dim = config["n_heads"] * hs, config["n_kv_heads"] * hs
    normal = lambda std, *shape: (rng.standard_normal(shape) * std).astype(np.float32)  # noqa: E731
    if arch == "qwen2":
        return {"bq": normal(BIAS_STD, layers, q_dim), "bk": normal(BIAS_STD, layers, kv_dim),
                "bv": normal(BIAS_STD, layers, kv_dim)}
    if arch == "qwen3":
        return {"q_norm": 1 + normal(NORM_STD, layers, hs), "k_norm": 1 + normal(NORM_STD, layers, hs)}
    return {}


def llama3_rope_factors(head_size, base, factor, low_freq_factor, high_freq_factor, original_context):
    """rope_freqs.weight (head_size / 2 float32) as llama.cpp's converter derives it from a Llama 3.1
    config's rope_scaling (rope_type llama3): pair i turns at base^(-2i / head_size) (in float32, as
    torch computes it there), so its wavelength is 2 pi over that. Pairs whose wavelength is shorter
    than original_context / high_freq_factor keep their frequency (divisor 1); longer than
    original_context / low_freq_factor, it is divided by factor; between, the divisor blends the two:
    1 / ((1 - s) / factor + s), s = (original_context / wavelength - low) / (high - low).
    llama.cpp then divides each pair's angle by its divisor (ggml_rope_ext's freq_factors)."""
    exponents = np.arange(0, head_size, 2, dtype=np.float32) / np.float32(head_size)
    freqs = (np.float32(1) / np.float32(base) ** exponents).astype(np.float32)
    divisors = []
    for freq in freqs.astype(np.float64):
        wavelength = 2 * np.pi / freq
        if wavelength < original_context / high_freq_factor:
            divisors.append(1.0)
        elif wavelength > original_context / low_freq_factor:
            divisors.append(factor)
        else:
            smooth = (original_context / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
            divisors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(divisors, dtype=np.float32)


def layer_tensors(config, weights, l, arch="llama"):
    """(GGUF name, group, array) of layer l, in the converter's order."""
    added = []
    if arch == "qwen2":
        added = [(f"blk.{l}.attn_q.bias", "norm", weights["bq"][l]),
                 (f"blk.{l}.attn_k.bias", "norm", weights["bk"][l]),
                 (f"blk.{l}.attn_v.bias", "norm", weights["bv"][l])]
    elif arch == "qwen3":
        added = [(f"blk.{l}.attn_q_norm.weight", "norm", weights["q_norm"][l]),
                 (f"blk.{l}.attn_k_norm.weight", "norm", weights["k_norm"][l])]
    return [
        (f"blk.{l}.attn_q.weight", "attention", weights["wq"][l]),  # rows as in llama2.c: no permute
        (f"blk.{l}.attn_k.weight", "attention", weights["wk"][l]),
        (f"blk.{l}.attn_v.weight", "attention", weights["wv"][l]),
        *added,
        (f"blk.{l}.attn_output.weight", "attention", weights["wo"][l]),
        (f"blk.{l}.attn_norm.weight", "norm", weights["rms_att"][l]),
        (f"blk.{l}.ffn_gate.weight", "ffn", weights["w1"][l]),
        (f"blk.{l}.ffn_down.weight", "ffn", weights["w2"][l]),
        (f"blk.{l}.ffn_up.weight", "ffn", weights["w3"][l]),
        (f"blk.{l}.ffn_norm.weight", "norm", weights["rms_ffn"][l]),
    ]


def llama_gguf(config, weights, types, rope_freq_base=10000.0, rms_eps=1e-5, seed=0,
               name="random llama", arch="llama", rope_factors=None, rope_scaling=None):
    """(metadata, tensors) for write_gguf. types: dict group -> ggml type, for the groups
    'attention', 'ffn', 'embedding', 'output' (norms and biases are always F32). weights as
    write_checkpoint.random_weights gives them, plus architecture_weights' for qwen2 and qwen3;
    'wcls' present means a separate output.weight. rope_freq_base None leaves ARCH.rope.freq_base
    out (readers assume 10000). config['head_size'], when given, is written as the key and value
    length. rope_factors: a rope_freqs.weight (llama3_rope_factors). rope_scaling: (type, factor
    or None) for ARCH.rope.scaling.*."""
    write_checkpoint.validate_config(config)
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    dim, heads = config["dim"], config["n_heads"]
    head_size = write_checkpoint.head_size(config)
    tensors = [("token_embd.weight", "embedding", weights["token_embedding"]),
               ("output_norm.weight", "norm", weights["rms_final"])]
    if "wcls" in weights:
        tensors.append(("output.weight", "output", weights["wcls"]))
    if rope_factors is not None:
        tensors.append(("rope_freqs.weight", "norm", rope_factors))
    for l in range(config["n_layers"]):
        tensors.extend(layer_tensors(config, weights, l, arch))
    typed = []
    for tname, group, array in tensors:
        ggml_type = GGML_F32 if group == "norm" else types[group]
        if ggml_type == GGML_Q8_0 and array.shape[-1] % Q8_0_BLOCK:
            raise ValueError(f"{tname} cannot be Q8_0: its rows hold {array.shape[-1]} values, "
                             f"not a multiple of {Q8_0_BLOCK}")
        typed.append((tname, ggml_type, array))

    tokens, scores, token_types = llama_vocabulary(config["vocab_size"], seed)
    matrix_types = [t for _, t, a in typed if a.ndim == 2]
    main_type = max(set(matrix_types), key=matrix_types.count)
    metadata = [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, name),
        ("general.file_type", UINT32, FILE_TYPE[main_type]),
        (f"{arch}.context_length", UINT32, config["seq_len"]),
        (f"{arch}.embedding_length", UINT32, dim),
        (f"{arch}.feed_forward_length", UINT32, config["hidden_dim"]),
        (f"{arch}.attention.head_count", UINT32, heads),
        (f"{arch}.attention.head_count_kv", UINT32, config["n_kv_heads"]),
        (f"{arch}.block_count", UINT32, config["n_layers"]),
        (f"{arch}.rope.dimension_count", UINT32, head_size),
        (f"{arch}.attention.layer_norm_rms_epsilon", FLOAT32, rms_eps),
    ]
    if config.get("head_size"):
        metadata += [(f"{arch}.attention.key_length", UINT32, head_size),
                     (f"{arch}.attention.value_length", UINT32, head_size)]
    if rope_freq_base is not None:
        metadata.append((f"{arch}.rope.freq_base", FLOAT32, rope_freq_base))
    if rope_scaling is not None:
        metadata.append((f"{arch}.rope.scaling.type", STRING, rope_scaling[0]))
        if rope_scaling[1] is not None:
            metadata.append((f"{arch}.rope.scaling.factor", FLOAT32, rope_scaling[1]))
    if GGML_Q8_0 in (t for _, t, _ in typed):
        metadata.append(("general.quantization_version", UINT32, 2))  # the spec requires it then
    metadata += [
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, scores)),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, token_types)),
        ("tokenizer.ggml.unknown_token_id", UINT32, 0),
        ("tokenizer.ggml.bos_token_id", UINT32, 1),
        ("tokenizer.ggml.eos_token_id", UINT32, 2),
    ]
    return metadata, typed


def dequantized_weights(config, weights, types):
    """weights with every matrix replaced by what its GGUF type stores (for --checkpoint)."""
    group_of = {"token_embedding": "embedding", "wcls": "output", "wq": "attention", "wk": "attention",
                "wv": "attention", "wo": "attention", "w1": "ffn", "w2": "ffn", "w3": "ffn"}
    out = {}
    for key, w in weights.items():
        if key in group_of:
            out[key] = dequantize(types[group_of[key]], w)
        else:
            out[key] = w
    return out


def main():
    ap = argparse.ArgumentParser(description="Write a GGUF llama model with random weights.")
    ap.add_argument("out")
    write_checkpoint.add_shape_arguments(ap)
    type_names = sorted(TYPE_BY_NAME)
    ap.add_argument("--matrix-type", choices=type_names, default="f32", help="every matrix (default f32)")
    for group in ["attention", "ffn", "embedding", "output"]:
        ap.add_argument(f"--{group}-type", choices=type_names, help=f"the {group} matrices (default: --matrix-type)")
    ap.add_argument("--separate-output", action="store_true",
                    help="write a classifier output.weight of its own (default: none, tied to token_embd)")
    ap.add_argument("--rope-freq-base", type=float, default=10000.0)
    ap.add_argument("--no-rope-freq-base", action="store_true",
                    help="leave llama.rope.freq_base out, as llama.cpp's llama2.c converter does")
    ap.add_argument("--rms-eps", type=float, default=1e-5)
    ap.add_argument("--alignment", type=int, default=32, help="general.alignment (written when not 32)")
    ap.add_argument("--gguf-version", type=int, choices=[2, 3], default=3)
    ap.add_argument("--set-string", action="append", default=[], metavar="KEY=VALUE",
                    help="override a string in the metadata, e.g. general.architecture=gemma (for tests "
                         "of files the engine must refuse)")
    ap.add_argument("--arch", choices=ARCHITECTURES, default="llama")
    ap.add_argument("--head-size", type=int, help="a head size of the file's own (key_length): q is "
                    "heads * N wide")
    ap.add_argument("--llama3-rope", metavar="FACTOR:LOW:HIGH:ORIGINAL",
                    help="write rope_freqs.weight as llama.cpp's converter does for Llama 3.1's rope_scaling "
                         "(Llama 3.1: 8:1:4:8192)")
    ap.add_argument("--rope-freqs", metavar="V,V,...", help="write rope_freqs.weight with exactly these values")
    ap.add_argument("--rope-scaling", metavar="TYPE[:FACTOR]", help="ARCH.rope.scaling.type and .factor")
    ap.add_argument("--omit", action="append", default=[], metavar="TENSOR", help="leave this tensor out")
    ap.add_argument("--cut", action="append", default=[], metavar="TENSOR=N",
                    help="keep only the first N rows (values, for a vector) of this tensor")
    ap.add_argument("--set-u32", action="append", default=[], metavar="KEY=N",
                    help="set an integer in the metadata (added when absent)")
    ap.add_argument("--checkpoint", metavar="PATH",
                    help="also write the same model as a llama2.c legacy checkpoint (a new file)")
    ap.add_argument("--tokenizer", metavar="PATH",
                    help="also write the vocabulary as a tokenizer.bin (a new file: this is an output, "
                         "not the tokenizer to read)")
    args = ap.parse_args()
    write_checkpoint.refuse_to_overwrite(ap, "--checkpoint", args.checkpoint)
    write_checkpoint.refuse_to_overwrite(ap, "--tokenizer", args.tokenizer)

    config = {"dim": args.dim, "hidden_dim": args.hidden_dim, "n_layers": args.layers,
              "n_heads": args.heads, "n_kv_heads": args.kv_heads, "vocab_size": args.vocab,
              "seq_len": args.seq_len, "shared_classifier": not args.separate_output}
    if args.head_size:
        config["head_size"] = args.head_size
    types = {g: TYPE_BY_NAME[getattr(args, f"{g}_type") or args.matrix_type]
             for g in ["attention", "ffn", "embedding", "output"]}
    if args.alignment < 8 or args.alignment & (args.alignment - 1):
        ap.error(f"--alignment {args.alignment}: must be a power of two and a multiple of 8")
    if args.checkpoint and (args.arch != "llama" or args.head_size or args.llama3_rope or args.rope_freqs
                            or args.rope_scaling):
        ap.error("--checkpoint: llama2.c's formats hold only plain llama models (no --arch, --head-size, "
                 "--llama3-rope or --rope-scaling)")
    rope_freq_base = None if args.no_rope_freq_base else args.rope_freq_base
    try:
        write_checkpoint.validate_config(config)
        weights = write_checkpoint.random_weights(config, args.seed)
        weights.update(architecture_weights(config, args.arch, args.seed))
        rope_factors = None
        if args.rope_freqs:
            rope_factors = np.array([float(v) for v in args.rope_freqs.split(",")], dtype=np.float32)
        if args.llama3_rope:
            factor, low, high, original = (float(x) for x in args.llama3_rope.split(":"))
            rope_factors = llama3_rope_factors(write_checkpoint.head_size(config), rope_freq_base or 10000.0,
                                               factor, low, high, original)
        rope_scaling = None
        if args.rope_scaling:
            kind, _, factor = args.rope_scaling.partition(":")
            rope_scaling = (kind, float(factor) if factor else None)
        metadata, tensors = llama_gguf(config, weights, types, rope_freq_base, args.rms_eps, args.seed,
                                       f"random {args.arch}", args.arch, rope_factors, rope_scaling)
    except ValueError as e:
        ap.error(str(e))
    for setting in args.set_string:
        key, _, value = setting.partition("=")
        metadata = [(k, t, value if k == key else v) for k, t, v in metadata]
        if all(k != key for k, _, _ in metadata):  # a key of its own (tokenizer.chat_template)
            metadata.append((key, STRING, value))
    for setting in args.set_u32:
        key, _, value = setting.partition("=")
        metadata = [m for m in metadata if m[0] != key] + [(key, UINT32, int(value))]
    cuts = dict((name, int(n)) for name, _, n in (c.partition("=") for c in args.cut))
    tensors = [(n, t, a[:cuts[n]] if n in cuts else a) for n, t, a in tensors if n not in args.omit]
    write_gguf(args.out, metadata, tensors, args.alignment, args.gguf_version)
    if args.checkpoint:
        write_checkpoint.write_checkpoint(args.checkpoint, "legacy", config,
                                          dequantized_weights(config, weights, types))
    if args.tokenizer:
        write_checkpoint.write_tokenizer(args.tokenizer, args.vocab, args.seed)


if __name__ == "__main__":
    sys.exit(main())
