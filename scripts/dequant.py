#!/usr/bin/python3
"""ggml's block-quantized tensor types, dequantized with numpy: the independent twin of the
engine's quants.c, written from the format's description (ggml's ggml-common.h block structs
and its reference dequantize_row_* functions), for scripts/gguf.py (so reference.py runs
quantized GGUF files) and for the tests.

    dequant.py --check FILE.gguf DUMP     DUMP (tests/quant_tests --dump FILE.gguf DUMP: every
                                          matrix as the engine dequantizes it) equals numpy's
                                          dequantization of FILE, bit for bit
    dequant.py --random OUT.gguf [--seed N]
                                          a GGUF file (no model: tensors only) with a matrix of
                                          random blocks of every type, every bit pattern of
                                          values and scales (the half-precision fields finite)
    dequant.py --random-model OUT.gguf TYPE
                                          a small llama model whose matrices are random blocks
                                          of TYPE (Q4_0 ... Q6_K): a fuzzing seed

Importable:
    BLOCKS: ggml type id -> Block(name, values, nbytes, dequantize)
    dequantize_blocks(ggml_type, raw) -> float32 array of the values of raw (uint8 array or
        bytes holding whole blocks), in order

Every type is a "type-0" (value = d * q) or "type-1" (value = d * q + m, or - m) quantization in
blocks, d and m half precision, or scales and mins that are small integers times d and dmin:
    Q4_0   32 values, 18 bytes: d, 16 bytes of nibbles; value j < 16 is the low nibble of byte j,
           value j + 16 its high nibble; value = d * (nibble - 8)
    Q4_1   32 values, 20 bytes: d, m, nibbles as Q4_0; value = d * nibble + m
    Q5_0   32 values, 22 bytes: d, 4 bytes qh (uint32, little-endian), nibbles; the fifth bit of
           value j is bit j of qh; value = d * (q - 16)
    Q5_1   32 values, 24 bytes: d, m, qh, nibbles; value = d * q + m
    Q8_0   32 values, 34 bytes: d, 32 int8 q; value = d * q
The k-quants: super-blocks of 256 values, each in 8 sub-blocks of 32 or 16 sub-blocks of 16:
    Q2_K   84 bytes: 16 bytes of scales (sub-block s: scale = low nibble, min = high nibble),
           64 bytes of 2-bit q, d, dmin. Value i = 128h + 32k + l (h < 2, k < 4, l < 32) is bits
           2k, 2k+1 of byte 32h + l; value = (d * scale) * q - dmin * min, sub-block i // 16
    Q3_K   110 bytes: 32 bytes hmask, 64 bytes low 2 bits (as Q2_K), 12 bytes of 16 6-bit scales,
           d. Value i's third bit is bit i // 32 of hmask[i % 32]; q = low bits - 4 when it is 0.
           Scale s: low 4 bits are nibble s // 8 of byte s % 8, high 2 bits are bits
           2 (s // 4) of byte 8 + s % 4; minus 32. value = (d * scale) * q
    Q4_K   144 bytes: d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles. Value
           i = 64h + 32k + l is nibble k (0 low, 1 high) of byte 32h + l, sub-block i // 32.
           Scale and min of s < 4: bytes s and s + 4, low 6 bits; of s >= 4: low 4 bits in byte
           s + 4 (scale low nibble, min high), high 2 bits the top bits of bytes s - 4 (scale)
           and s (min). value = (d * scale) * q - dmin * min
    Q5_K   176 bytes: d, dmin, scales as Q4_K, 32 bytes qh, 128 bytes nibbles as Q4_K; value i's
           fifth bit is bit i // 32 of qh[i % 32]
    Q6_K   210 bytes: 128 bytes ql, 64 bytes qh, 16 int8 scales, d. Value i = 128h + 32k + l:
           low 4 bits nibble k // 2 of ql[64h + 32 (k % 2) + l], high 2 bits bits 2k, 2k+1 of
           qh[32h + l]; value = (d * scale[i // 16]) * (q - 32)
All the arithmetic is float32, in the order written (products of a half and a small integer,
and those times q, are exact in float32 for every type but Q6_K, whose one rounding is the
last product's): the values are ggml's to the bit.
"""
import struct
import sys
from collections import namedtuple

import numpy as np

Block = namedtuple("Block", "name values nbytes dequantize")

F32 = np.float32


def _half(blocks, at):
    """The half-precision field at byte `at` of each block, as a (n, 1) float32 column."""
    return blocks[:, at:at + 2].copy().view("<f2").astype(F32)


def _nibbles32(qs):
    """(n, 16) bytes -> (n, 32): the low nibbles are values 0..15, the high ones 16..31."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _fifth_bits32(qh):
    """(n, 4) bytes (a little-endian uint32 each) -> (n, 32): bit j for value j."""
    bits = qh.copy().view("<u4").astype(np.uint32)                  # (n, 1)
    return (bits >> np.arange(32, dtype=np.uint32)) & 1


def _q4_0(b):
    q = _nibbles32(b[:, 2:18]).astype(F32) - F32(8)
    return q * _half(b, 0)


def _q4_1(b):
    q = _nibbles32(b[:, 4:20]).astype(F32)
    return q * _half(b, 0) + _half(b, 2)


def _q5_0(b):
    q = (_nibbles32(b[:, 6:22]) | (_fifth_bits32(b[:, 2:6]) << 4)).astype(F32) - F32(16)
    return q * _half(b, 0)


def _q5_1(b):
    q = (_nibbles32(b[:, 8:24]) | (_fifth_bits32(b[:, 4:8]) << 4)).astype(F32)
    return q * _half(b, 0) + _half(b, 2)


def _q8_0(b):
    return b[:, 2:34].copy().view(np.int8).astype(F32) * _half(b, 0)


def _two_bits256(qs):
    """(n, 64) bytes -> (n, 256): value 128h + 32k + l is bits 2k, 2k+1 of byte 32h + l."""
    halves = qs.reshape(-1, 2, 1, 32)                                 # (n, h, 1, l)
    shifts = (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)   # k
    return ((halves >> shifts) & 3).reshape(-1, 256)


def _high_bits256(mask):
    """(n, 32) bytes -> (n, 256): bit i // 32 of byte i % 32 for value i."""
    shifts = np.arange(8, dtype=np.uint8).reshape(1, 8, 1)
    return ((mask.reshape(-1, 1, 32) >> shifts) & 1).reshape(-1, 256)


def _per_value(x, size):
    """(n, sub-blocks) -> (n, 256): each sub-block's entry repeated for its values."""
    return np.repeat(x, size, axis=1)


def _q2_k(b):
    scales = b[:, 0:16]
    q = _two_bits256(b[:, 16:80]).astype(F32)
    d, dmin = _half(b, 80), _half(b, 82)
    dl = d * (scales & 0x0F).astype(F32)
    ml = dmin * (scales >> 4).astype(F32)
    return _per_value(dl, 16) * q - _per_value(ml, 16)


def _q3_k_scales(s):
    """(n, 12) bytes -> (n, 16) ints: the 6-bit scales, minus 32."""
    j = np.arange(16)
    low = (s[:, j % 8] >> (4 * (j // 8)).astype(np.uint8)) & 0x0F
    high = (s[:, 8 + j % 4] >> (2 * (j // 4)).astype(np.uint8)) & 3
    return (low | (high << 4)).astype(np.int32) - 32


def _q3_k(b):
    low = _two_bits256(b[:, 32:96]).astype(np.int32)
    high = _high_bits256(b[:, 0:32]).astype(np.int32)
    q = (low - 4 * (1 - high)).astype(F32)
    dl = _half(b, 108) * _q3_k_scales(b[:, 96:108]).astype(F32)
    return _per_value(dl, 16) * q


def _k_scales_mins(s):
    """(n, 12) bytes -> two (n, 8) arrays: Q4_K's and Q5_K's 6-bit scales and mins."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), dtype=np.int32)
    mn = np.empty((s.shape[0], 8), dtype=np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _nibbles256(qs):
    """(n, 128) bytes -> (n, 256): value 64h + 32k + l is nibble k of byte 32h + l."""
    pairs = qs.reshape(-1, 4, 1, 32)
    return np.concatenate([pairs & 0x0F, pairs >> 4], axis=2).reshape(-1, 256)


def _q4_k_like(b, q):
    sc, mn = _k_scales_mins(b[:, 4:16])
    dl = _half(b, 0) * sc.astype(F32)
    ml = _half(b, 2) * mn.astype(F32)
    return _per_value(dl, 32) * q.astype(F32) - _per_value(ml, 32)


def _q4_k(b):
    return _q4_k_like(b, _nibbles256(b[:, 16:144]))


def _q5_k(b):
    return _q4_k_like(b, _nibbles256(b[:, 48:176]) | (_high_bits256(b[:, 16:48]) << 4))


def _q6_k(b):
    ql = b[:, 0:128].reshape(-1, 2, 2, 32)        # (n, h, k % 2, l)
    qh = b[:, 128:192].reshape(-1, 2, 1, 32)      # (n, h, 1, l)
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)                        # k = 0..3
    high = (qh >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)) & 3
    q = ((low | (high << 4)).astype(np.int32) - 32).reshape(-1, 256).astype(F32)
    scales = b[:, 192:208].copy().view(np.int8).astype(F32)
    dl = _half(b, 208) * scales
    return _per_value(dl, 16) * q


BLOCKS = {
    2: Block("Q4_0", 32, 18, _q4_0),
    3: Block("Q4_1", 32, 20, _q4_1),
    6: Block("Q5_0", 32, 22, _q5_0),
    7: Block("Q5_1", 32, 24, _q5_1),
    8: Block("Q8_0", 32, 34, _q8_0),
    10: Block("Q2_K", 256, 84, _q2_k),
    11: Block("Q3_K", 256, 110, _q3_k),
    12: Block("Q4_K", 256, 144, _q4_k),
    13: Block("Q5_K", 256, 176, _q5_k),
    14: Block("Q6_K", 256, 210, _q6_k),
}
HALF_FIELDS = {2: (0,), 3: (0, 2), 6: (0,), 7: (0, 2), 8: (0,), 10: (80, 82), 11: (108,), 12: (0, 2),
               13: (0, 2), 14: (208,)}   # byte offsets of each block's half-precision fields


def dequantize_blocks(ggml_type, raw):
    """The float32 values of raw (whole blocks of ggml_type), in order."""
    block = BLOCKS[ggml_type]
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, block.nbytes)
    with np.errstate(invalid="ignore", over="ignore"):   # a corrupt scale may be inf or NaN
        return block.dequantize(blocks).astype(F32).reshape(-1)


# ---------------------------------------------------------------------------------------------
# The command line: the engine's dequantization against this one, on a file

def read_dump(path):
    """tests/quant_tests --dump's file: name -> (rows, cols) float32 array."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = {}, 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4:pos + 4 + n].decode()
        rows, cols = struct.unpack_from("<II", data, pos + 4 + n)
        pos += 4 + n + 8
        out[name] = np.frombuffer(data, dtype="<f4", count=rows * cols, offset=pos).reshape(rows, cols)
        pos += 4 * rows * cols
    return out


def check(gguf_path, dump_path):
    import gguf
    with open(gguf_path, "rb") as f:
        data = f.read()
    g = gguf.parse_gguf(data)
    engine = read_dump(dump_path)
    checked, values, failures = 0, 0, []
    for t in g.tensor_infos:
        if len(t.dims) != 2 or (t.type not in BLOCKS and t.type not in (gguf.GGML_F32, gguf.GGML_F16)):
            continue
        ours = gguf.dequantize(t, data, g.data_offset)
        theirs = engine.get(t.name)
        name = f"{t.name} ({gguf.ggml_type_name(t.type)})"
        if theirs is None:
            failures.append(f"{name}: not in the engine's dump")
        elif theirs.shape != ours.shape:
            failures.append(f"{name}: shape {theirs.shape} in the dump, {ours.shape} in the file")
        else:
            differ = np.flatnonzero(theirs.reshape(-1).view(np.uint32) != ours.reshape(-1).view(np.uint32))
            if differ.size:
                i = differ[0]
                failures.append(f"{name}: {differ.size} values differ, the first at {divmod(i, ours.shape[1])}: "
                                f"engine {theirs.reshape(-1)[i]!r}, numpy {ours.reshape(-1)[i]!r}")
        checked += 1
        values += ours.size
    for failure in failures:
        print(f"dequant: {gguf_path}: {failure}")
    print(f"dequant: {checked} matrices, {values} values, {len(failures)} differ")
    return 1 if failures or not checked else 0


def random_blocks(ggml_type, rows, cols, rng, moderate=False):
    """rows x cols values of random blocks: random bytes, then finite half-precision fields
    (signs, subnormals and zeros included; or, moderate, between 2^-8 and 2^-6)."""
    block = BLOCKS[ggml_type]
    n = rows * cols // block.values
    raw = rng.integers(0, 256, size=(n, block.nbytes), dtype=np.uint8)
    for at in HALF_FIELDS[ggml_type]:
        if moderate:
            halves = rng.integers(0x1C00, 0x2400, size=n, dtype=np.uint16)
        else:
            halves = rng.integers(0, 0x7C00, size=n, dtype=np.uint16)   # below the infinities
            halves[rng.random(n) < 0.02] &= 0x8000                      # some +-0
        halves[rng.random(n) < 0.5] |= 0x8000
        raw[:, at:at + 2] = halves.astype("<u2").view(np.uint8).reshape(n, 2)
    return raw.tobytes()


def write_random(path, seed):
    """A GGUF v3 file without metadata: per type, a matrix of 4 rows of 2 of its blocks each
    (the 32-value types 8 blocks, as many values as a k-quant row)."""
    rng = np.random.default_rng(seed)
    infos, blobs, offset = [], [], 0
    for ggml_type, block in sorted(BLOCKS.items()):
        rows, cols = 4, 512
        blob = random_blocks(ggml_type, rows, cols, rng)
        name = f"random.{block.name}".encode()
        infos.append(struct.pack("<Q", len(name)) + name + struct.pack("<IQQIQ", 2, cols, rows, ggml_type, offset))
        blob += b"\0" * (-len(blob) % 32)
        blobs.append(blob)
        offset += len(blob)
    header = b"GGUF" + struct.pack("<IQQ", 3, len(infos), 0) + b"".join(infos)
    with open(path, "wb") as f:
        f.write(header + b"\0" * (-len(header) % 32) + b"".join(blobs))


def write_random_model(path, ggml_type, seed, config=None):
    """A small llama model (dim one block, one layer, 16 tokens: scripts/write_gguf.py's layout and
    vocabulary; or config's shape, write_checkpoint's keys) whose matrices are random blocks of
    ggml_type with moderate scales: a fuzzing seed with every matrix of that type."""
    import write_checkpoint
    import write_gguf as wg
    dim = BLOCKS[ggml_type].values   # rows of one block
    config = config or {"dim": dim, "hidden_dim": dim, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1,
                        "vocab_size": 16, "seq_len": 4, "shared_classifier": False}
    weights = write_checkpoint.random_weights(config, seed)
    metadata, tensors = wg.llama_gguf(config, weights, dict.fromkeys(["attention", "ffn", "embedding", "output"],
                                                                      wg.GGML_F32), seed=seed)
    rng = np.random.default_rng(seed)
    head = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(metadata))]
    head += [wg._string(k) + struct.pack("<I", t) + wg._value(t, v) for k, t, v in metadata]
    blobs, offset = [], 0
    for name, t, array in tensors:
        if array.ndim == 2:
            t, blob = ggml_type, random_blocks(ggml_type, *array.shape, rng, moderate=True)
        else:
            blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        dims = list(reversed(array.shape))
        head.append(wg._string(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, t, offset))
        blobs.append(blob + b"\0" * (-len(blob) % 32))
        offset += len(blobs[-1])
    header = b"".join(head)
    with open(path, "wb") as f:
        f.write(header + b"\0" * (-len(header) % 32) + b"".join(blobs))


def main(argv):
    if len(argv) == 4 and argv[1] == "--check":
        return check(argv[2], argv[3])
    if len(argv) in (3, 5) and argv[1] == "--random" and (len(argv) == 3 or argv[3] == "--seed"):
        write_random(argv[2], int(argv[4]) if len(argv) == 5 else 0)
        return 0
    names = {block.name: t for t, block in BLOCKS.items()}
    if len(argv) == 4 and argv[1] == "--random-model" and argv[3] in names:
        write_random_model(argv[2], names[argv[3]], 0)
        return 0
    print("usage: dequant.py --check FILE.gguf DUMP | dequant.py --random OUT.gguf [--seed N] | "
          "dequant.py --random-model OUT.gguf TYPE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv))
