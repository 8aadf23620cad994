#!/usr/bin/python3
"""Check a GGUF file written by `./run quantize IN OUT.gguf` against its input, in Python alone.

    check_quantized.py IN OUT.gguf [--same-tensors OTHER.gguf] [--same-as REF.gguf]

OUT is parsed by scripts/gguf.py (a reader that shares no code with the engine), and checked:
  - it is GGUF version 3, its tensor data and every tensor aligned to general.alignment;
  - metadata: from a GGUF IN, every key of IN is in OUT with the same type and value, in the
    same order, and OUT has no others, but for general.file_type = 7 (MOSTLY_Q8_0) and
    general.quantization_version = 2, which llama.cpp's quantizer writes too. From a llama2.c
    or llm.c IN (read by scripts/reference.py), the architecture's keys as llama.cpp names
    them hold IN's hyperparameters;
  - tensors: the same names and dimensions as IN's tensors (a GGUF IN), or as llama.cpp names
    IN's weights (llama2.c: token_embd, output_norm, [output], blk.N.attn_q ... ffn_norm;
    llm.c: token_embd, position_embd, blk.N.attn_qkv ..., output_norm.{weight,bias});
    every matrix (2 or more dimensions, but position_embd) whose rows are whole blocks of 32
    is Q8_0, its bytes equal to write_gguf.py's numpy Q8_0 of IN's values (ggml's
    quantize_row_q8_0_ref: d = max|x| / 127 as fp16, q = roundf(x / d) with x * (1/d) in
    float32); a Q8_0 tensor of IN is copied byte for byte; everything else keeps IN's type
    and bytes (llama2.c int8 matrices, which GGUF cannot hold: their values as F32, or as
    Q8_0 of those values).
--same-tensors OTHER: every tensor of OUT is also in OTHER, of the same type and bytes.
--same-as REF: OUT holds exactly REF's metadata (as a dict) and tensors (by name, same type,
  dims and bytes), e.g. REF = the same input quantized by llama.cpp's llama-quantize Q8_0.

Prints one line per problem and a last line with the verdict; exit 0 if OUT passes, 1 if not.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import reference  # noqa: E402
from write_gguf import quantize_q8_0  # noqa: E402

QUANTIZATION_KEYS = {"general.file_type": (gguf.UINT32, 7), "general.quantization_version": (gguf.UINT32, 2)}


def values_equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and a == b


class File:
    """A GGUF file's layout, and the raw bytes of each tensor."""

    def __init__(self, path):
        self.path = path
        self.data = open(path, "rb").read()
        self.g = gguf.parse_gguf(self.data)
        self.infos = {t.name: t for t in self.g.tensor_infos}

    def raw(self, name):
        t = self.infos[name]
        start = self.g.data_offset + t.offset
        return self.data[start:start + t.nbytes]

    def values(self, name):
        return gguf.dequantize(self.infos[name], self.data, self.g.data_offset)


def expected_from_gguf(path):
    """(metadata items, [(name, dims, type, values or None, raw bytes)]) of a GGUF input."""
    f = File(path)
    metadata = [(k, f.g.metadata_types[k], f.g.metadata[k]) for k in f.g.metadata]
    tensors = []
    for t in f.g.tensor_infos:
        values = f.values(t.name) if t.type in (gguf.GGML_F32, gguf.GGML_F16) else None
        tensors.append((t.name, tuple(t.dims), t.type, values, f.raw(t.name)))
    return metadata, tensors, f.g.alignment


def expected_from_checkpoint(path):
    """The same for a llama2.c or llm.c checkpoint: llama.cpp's names for reference.py's weights."""
    c, w = reference.load_checkpoint(path)
    U, F = gguf.UINT32, gguf.FLOAT32
    if c.arch == "gpt2":
        metadata = [("general.architecture", gguf.STRING, "gpt2"), ("gpt2.context_length", U, c.seq_len),
                    ("gpt2.embedding_length", U, c.dim), ("gpt2.feed_forward_length", U, c.hidden_dim),
                    ("gpt2.block_count", U, c.n_layers), ("gpt2.attention.head_count", U, c.n_heads),
                    ("gpt2.attention.layer_norm_epsilon", F, float(np.float32(c.norm_eps)))]
        named = [("token_embd.weight", w["wte"]), ("position_embd.weight", w["wpe"])]
        pairs = [("attn_norm.weight", "ln1w"), ("attn_norm.bias", "ln1b"), ("attn_qkv.weight", "qkvw"),
                 ("attn_qkv.bias", "qkvb"), ("attn_output.weight", "attprojw"), ("attn_output.bias", "attprojb"),
                 ("ffn_norm.weight", "ln2w"), ("ffn_norm.bias", "ln2b"), ("ffn_up.weight", "fcw"),
                 ("ffn_up.bias", "fcb"), ("ffn_down.weight", "fcprojw"), ("ffn_down.bias", "fcprojb")]
        for l in range(c.n_layers):
            named += [(f"blk.{l}.{gguf_name}", w[ours][l]) for gguf_name, ours in pairs]
        named += [("output_norm.weight", w["lnfw"]), ("output_norm.bias", w["lnfb"])]
        if not c.shared_classifier:
            named.append(("output.weight", w["wcls"]))
    else:
        metadata = [("general.architecture", gguf.STRING, "llama"), ("llama.context_length", U, c.seq_len),
                    ("llama.embedding_length", U, c.dim), ("llama.feed_forward_length", U, c.hidden_dim),
                    ("llama.block_count", U, c.n_layers), ("llama.attention.head_count", U, c.n_heads),
                    ("llama.attention.head_count_kv", U, c.n_kv_heads),
                    ("llama.rope.dimension_count", U, c.head_size),
                    ("llama.rope.freq_base", F, float(np.float32(c.rope_theta))),
                    ("llama.attention.layer_norm_rms_epsilon", F, float(np.float32(c.norm_eps)))]
        named = [("token_embd.weight", w["token_embedding"]), ("output_norm.weight", w["rms_final"])]
        if not c.shared_classifier:
            named.append(("output.weight", w["wcls"]))
        pairs = [("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
                 ("attn_norm", "rms_att"), ("ffn_gate", "w1"), ("ffn_down", "w2"), ("ffn_up", "w3"),
                 ("ffn_norm", "rms_ffn")]
        for l in range(c.n_layers):
            named += [(f"blk.{l}.{gguf_name}.weight", w[ours][l]) for gguf_name, ours in pairs]
    tensors = []
    for name, array in named:
        array = np.ascontiguousarray(array, dtype=np.float32)
        tensors.append((name, tuple(reversed(array.shape)), gguf.GGML_F32, array, array.astype("<f4").tobytes()))
    return metadata, tensors, gguf.DEFAULT_ALIGNMENT


def check(in_path, out_path, problems):
    """Checks OUT against IN; returns a summary of what was checked."""
    with open(in_path, "rb") as f:
        from_gguf = f.read(4) == b"GGUF"
    metadata, tensors, alignment = (expected_from_gguf if from_gguf else expected_from_checkpoint)(in_path)
    out = File(out_path)
    g = out.g

    if g.version != 3:
        problems.append(f"GGUF version {g.version}, not 3")
    if g.alignment != alignment:
        problems.append(f"alignment {g.alignment}, the input's is {alignment}")
    if g.data_offset % g.alignment:
        problems.append(f"tensor data at byte {g.data_offset}, not a multiple of {g.alignment}")

    # Metadata: IN's entries, in order, but the two that say how the file is quantized.
    want = [(k, t, v) for k, t, v in metadata if k not in QUANTIZATION_KEYS]
    got = [(k, g.metadata_types[k], g.metadata[k]) for k in g.metadata if k not in QUANTIZATION_KEYS]
    if [k for k, _, _ in got] != [k for k, _, _ in want]:
        missing = [k for k, _, _ in want if k not in g.metadata]
        extra = [k for k, _, _ in got if k not in dict((k, 0) for k, _, _ in want)]
        problems.append(f"metadata keys differ: missing {missing[:5]}, extra {extra[:5]}"
                        + ("" if missing or extra else " (order)"))
    for key, vtype, value in want:
        if key in g.metadata and (g.metadata_types[key] != vtype or not values_equal(g.metadata[key], value)):
            problems.append(f"metadata {key}: {gguf.describe_value(g.metadata[key])} "
                            f"({g.metadata_types[key]}), the input's is {gguf.describe_value(value)} ({vtype})")
    for key, (vtype, value) in QUANTIZATION_KEYS.items():
        if g.metadata_types.get(key) != vtype or g.metadata.get(key) != value:
            problems.append(f"metadata {key} is {g.metadata.get(key)!r}, want {value}")

    # Tensors.
    if [t.name for t in g.tensor_infos] != [name for name, *_ in tensors]:
        problems.append(f"tensor names differ: {[t.name for t in g.tensor_infos][:6]}... "
                        f"want {[name for name, *_ in tensors][:6]}...")
    counts = {"quantized": 0, "copied": 0, "kept": 0}
    for name, dims, in_type, values, raw in tensors:
        t = out.infos.get(name)
        if t is None:
            continue
        if t.offset % g.alignment:
            problems.append(f"{name}: offset {t.offset} not a multiple of {g.alignment}")
        if tuple(t.dims) != dims:
            problems.append(f"{name}: dims {list(t.dims)}, the input's are {list(dims)}")
            continue
        matrix = len(dims) >= 2 and name != "position_embd.weight"
        if matrix and in_type in (gguf.GGML_F32, gguf.GGML_F16) and dims[0] % gguf.Q8_0_BLOCK == 0:
            if t.type != gguf.GGML_Q8_0:
                problems.append(f"{name}: type {gguf.ggml_type_name(t.type)}, want Q8_0")
            elif out.raw(name) != quantize_q8_0(values):
                blocks = np.frombuffer(out.raw(name), np.uint8).reshape(-1, gguf.Q8_0_BLOCK_BYTES)
                want_blocks = np.frombuffer(quantize_q8_0(values), np.uint8).reshape(-1, gguf.Q8_0_BLOCK_BYTES)
                bad = np.flatnonzero((blocks != want_blocks).any(axis=1))
                problems.append(f"{name}: {bad.size} of {len(blocks)} Q8_0 blocks differ from numpy's "
                                f"quantization (the first: block {bad[0]})")
            counts["quantized"] += 1
        else:
            if t.type != in_type:
                problems.append(f"{name}: type {gguf.ggml_type_name(t.type)}, the input's is "
                                f"{gguf.ggml_type_name(in_type)}")
            elif out.raw(name) != raw:
                problems.append(f"{name}: its bytes differ from the input's")
            counts["copied" if matrix and in_type == gguf.GGML_Q8_0 else "kept"] += 1
    return (f"{len(g.tensor_infos)} tensors ({counts['quantized']} Q8_0 equal to numpy's quantization of the "
            f"input, {counts['copied']} Q8_0 copied, {counts['kept']} others as they were), "
            f"{len(g.metadata)} metadata entries")


def check_same_tensors(out_path, other_path, problems):
    out, other = File(out_path), File(other_path)
    for t in out.g.tensor_infos:
        o = other.infos.get(t.name)
        if o is None:
            problems.append(f"{t.name}: not in {other_path}")
        elif (o.type, tuple(o.dims)) != (t.type, tuple(t.dims)) or other.raw(t.name) != out.raw(t.name):
            problems.append(f"{t.name}: differs from {other_path}'s")


def check_same_as(out_path, ref_path, problems):
    out, ref = File(out_path), File(ref_path)
    if set(out.g.metadata) != set(ref.g.metadata):
        problems.append(f"metadata keys differ from {ref_path}: "
                        f"{sorted(set(out.g.metadata) ^ set(ref.g.metadata))[:5]}")
    for k in out.g.metadata:
        if k in ref.g.metadata and not values_equal(out.g.metadata[k], ref.g.metadata[k]):
            problems.append(f"metadata {k} differs from {ref_path}'s")
    if set(out.infos) != set(ref.infos):
        problems.append(f"tensor names differ from {ref_path}'s")
    check_same_tensors(out_path, ref_path, problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--same-tensors", metavar="OTHER.gguf")
    ap.add_argument("--same-as", metavar="REF.gguf")
    args = ap.parse_args()
    problems = []
    try:
        summary = check(args.input, args.output, problems)
        if args.same_tensors:
            check_same_tensors(args.output, args.same_tensors, problems)
            summary += f"; every tensor as in {os.path.basename(args.same_tensors)}"
        if args.same_as:
            check_same_as(args.output, args.same_as, problems)
            summary += f"; metadata and tensors equal to {os.path.basename(args.same_as)}'s"
    except (OSError, ValueError) as e:
        print(f"check_quantized: FAIL {e}")
        return 1
    for p in problems[:20]:
        print(f"check_quantized: {p}")
    if problems:
        print(f"check_quantized: FAIL {len(problems)} problems")
        return 1
    print(f"check_quantized: PASS {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
