#!/usr/bin/python3
"""A small, independent GGUF reader (versions 2 and 3, little-endian), for the numpy reference.

    gguf.py FILE.gguf            lists the metadata and the tensors

Importable:
    read_gguf(path) -> (metadata, tensors)
        metadata: dict key -> value: int, float, bool, str, list of str (string arrays), or a
                  numpy array (numeric arrays); nested arrays are lists of those.
        tensors:  dict name -> float32 numpy array of shape reversed(ggml dims), so that a
                  matrix is (rows, cols) = (out_features, in_features), as y = W @ x wants.
                  F32, F16, BF16 and ggml's block types of scripts/dequant.py (Q8_0, Q4_0 ... Q6_K)
                  are read; any other type raises GGUFError.
    parse_gguf(data) -> GGUFFile: the layout without converting any tensor (version,
        alignment, metadata, metadata_types, tensor_infos, data_offset).
    dequantize(info, data) -> the float32 array of one TensorInfo.

Everything is checked against the file size before use: a bad file raises GGUFError with one
line saying what is wrong, never an IndexError or a huge allocation.

Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): "GGUF", uint32 version,
uint64 tensor_count, uint64 kv_count; kv_count × (string key, uint32 value type, value); tensor_count
× (string name, uint32 n_dims, n_dims × uint64 dims, uint32 ggml type, uint64 offset); zero padding
to general.alignment (default 32); the tensor data, each tensor at data_offset + its offset.
A string is uint64 length + bytes; an array is uint32 element type, uint64 count, the elements.
"""
import struct
import sys
from dataclasses import dataclass, field

import numpy as np

import dequant

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
MAX_NAME = 64          # bytes in a tensor name, per the spec
MAX_ARRAY_DEPTH = 8    # arrays of arrays of ... more than this is surely a corrupt file

# Metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
VALUE_TYPE_NAMES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
                    "string", "array", "uint64", "int64", "float64"]
SCALAR_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
                  FLOAT32: "<f", BOOL: "<B", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
NUMPY_DTYPES = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
                FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}

# ggml tensor types: the ones this reader converts, and names of the others for messages.
GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30   # the block types' sizes are in dequant.BLOCKS
Q8_0_BLOCK = 32                 # values per Q8_0 block (dequant.BLOCKS has every type's)
Q8_0_BLOCK_BYTES = 2 + 32       # fp16 scale d, then 32 int8: value = d * q
GGML_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}


class GGUFError(ValueError):
    pass


def ggml_type_name(t):
    return GGML_TYPE_NAMES.get(t, "unknown")


def tensor_nbytes(ggml_type, dims):
    """Bytes of a tensor of that type and ggml dims, or None if this reader does not know the type."""
    n = 1
    for d in dims:
        n *= d
    if ggml_type == GGML_F32:
        return 4 * n
    if ggml_type in (GGML_F16, GGML_BF16):
        return 2 * n
    if ggml_type in dequant.BLOCKS:
        block = dequant.BLOCKS[ggml_type]
        return n // block.values * block.nbytes
    return None


@dataclass
class TensorInfo:
    name: str
    dims: tuple         # ggml order: dims[0] is the row length (innermost)
    type: int
    offset: int         # relative to the tensor data section
    nbytes: int = None  # None for types this reader cannot size

    @property
    def shape(self):
        """numpy shape: the ggml dims reversed, e.g. (rows, cols) for a matrix."""
        return tuple(reversed(self.dims))


@dataclass
class GGUFFile:
    version: int
    alignment: int
    data_offset: int                                    # absolute start of the tensor data
    metadata: dict = field(default_factory=dict)
    metadata_types: dict = field(default_factory=dict)  # key -> value type (ARRAY: (ARRAY, element type))
    tensor_infos: list = field(default_factory=list)


class _Reader:
    """A cursor over the file's bytes; every read checks that the bytes are there."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def need(self, n, what):
        if n > len(self.data) - self.pos:
            raise GGUFError(f"truncated: {what} needs {n} bytes at offset {self.pos}, "
                            f"the file has {len(self.data) - self.pos} left")

    def scalar(self, fmt, what):
        size = struct.calcsize(fmt)
        self.need(size, what)
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def u32(self, what):
        return self.scalar("<I", what)

    def u64(self, what):
        return self.scalar("<Q", what)

    def string(self, what):
        n = self.u64(f"the length of {what}")
        self.need(n, f"{what} ({n} bytes)")
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GGUFError(f"{what} is not valid UTF-8 ({e.reason} at byte {e.start})") from None

    def value(self, vtype, what, depth=0):
        """One metadata value; returns (value, type description)."""
        if vtype in SCALAR_FORMATS:
            v = self.scalar(SCALAR_FORMATS[vtype], what)
            if vtype == BOOL:
                if v > 1:
                    raise GGUFError(f"{what}: bool value {v} is neither 0 nor 1")
                v = bool(v)
            return v, vtype
        if vtype == STRING:
            return self.string(what), vtype
        if vtype == ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                raise GGUFError(f"{what}: arrays nested more than {MAX_ARRAY_DEPTH} deep")
            etype = self.u32(f"the element type of {what}")
            count = self.u64(f"the element count of {what}")
            if etype in SCALAR_FORMATS:
                size = struct.calcsize(SCALAR_FORMATS[etype])
                if count > (len(self.data) - self.pos) // size:
                    raise GGUFError(f"{what}: array of {count} {VALUE_TYPE_NAMES[etype]} needs "
                                    f"{count * size} bytes, the file has {len(self.data) - self.pos} left")
                arr = np.frombuffer(self.data, dtype=NUMPY_DTYPES[etype], count=count, offset=self.pos).copy()
                self.pos += count * size
                if etype == BOOL:
                    if arr.size and arr.max() > 1:
                        raise GGUFError(f"{what}: bool array holds a value other than 0 and 1")
                    arr = arr.astype(bool)
                return arr, (ARRAY, etype)
            if etype not in (STRING, ARRAY):
                raise GGUFError(f"{what}: unknown array element type {etype}")
            # Each string or array element takes at least 8 bytes (its length or count).
            if count > (len(self.data) - self.pos) // 8:
                raise GGUFError(f"{what}: array of {count} elements cannot fit in the "
                                f"{len(self.data) - self.pos} bytes left")
            items = [self.value(etype, f"{what}[{i}]", depth + 1)[0] for i in range(count)]
            return items, (ARRAY, etype)
        raise GGUFError(f"{what}: unknown value type {vtype}")


def parse_gguf(data):
    """Parse the header, metadata and tensor infos of a GGUF file held in data (bytes-like)."""
    r = _Reader(data)
    r.need(4, "the magic")
    if bytes(data[:4]) != GGUF_MAGIC:
        raise GGUFError(f"not a GGUF file (magic {bytes(data[:4])!r}, expected b'GGUF')")
    r.pos = 4
    version = r.u32("the version")
    if version == 1:
        raise GGUFError("GGUF version 1 is not supported (it used 32-bit counts; re-convert the model)")
    if version not in (2, 3):
        if version & 0xFFFF == 0 and version >> 16:
            raise GGUFError(f"version field 0x{version:08x}: a big-endian GGUF file, not supported")
        raise GGUFError(f"unsupported GGUF version {version} (this reader knows 2 and 3)")
    n_tensors = r.u64("the tensor count")
    n_kv = r.u64("the metadata count")
    # Each kv needs at least 12 bytes (key length, value type), each tensor info 24.
    if n_kv > (len(data) - r.pos) // 12:
        raise GGUFError(f"metadata count {n_kv} cannot fit in a file of {len(data)} bytes")
    if n_tensors > (len(data) - r.pos) // 24:
        raise GGUFError(f"tensor count {n_tensors} cannot fit in a file of {len(data)} bytes")

    g = GGUFFile(version=version, alignment=DEFAULT_ALIGNMENT, data_offset=0)
    for i in range(n_kv):
        key = r.string(f"metadata key {i}")
        if key in g.metadata:
            raise GGUFError(f"metadata key {key!r} appears twice")
        vtype = r.u32(f"the value type of {key!r}")
        g.metadata[key], g.metadata_types[key] = r.value(vtype, f"metadata {key!r}")

    if "general.alignment" in g.metadata:
        atype = g.metadata_types["general.alignment"]
        if atype != UINT32:
            name = VALUE_TYPE_NAMES[atype] if isinstance(atype, int) else "array"
            raise GGUFError(f"general.alignment has type {name}; it must be uint32")
        a = g.metadata["general.alignment"]
        if a < 8 or a & (a - 1):
            raise GGUFError(f"general.alignment is {a}; it must be a power of two and a multiple of 8")
        g.alignment = a

    names = set()
    for i in range(n_tensors):
        name = r.string(f"tensor {i}'s name")
        if len(name.encode()) > MAX_NAME:
            raise GGUFError(f"tensor {i}'s name is {len(name.encode())} bytes, longer than GGUF's {MAX_NAME}")
        if name in names:
            raise GGUFError(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = r.u32(f"tensor {name!r}'s n_dims")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions, expected 1 to {MAX_DIMS}")
        dims = tuple(r.u64(f"tensor {name!r}'s dimension {d}") for d in range(n_dims))
        if min(dims) < 1:
            raise GGUFError(f"tensor {name!r} has a zero dimension {list(dims)}")
        n = 1
        for d in dims:
            n *= d
        if n >= 2 ** 63:
            raise GGUFError(f"tensor {name!r}: dimensions {list(dims)} hold more than 2^63 elements")
        ttype = r.u32(f"tensor {name!r}'s type")
        offset = r.u64(f"tensor {name!r}'s offset")
        if ttype in dequant.BLOCKS and dims[0] % dequant.BLOCKS[ttype].values:
            raise GGUFError(f"tensor {name!r} is {ggml_type_name(ttype)} but its rows of {dims[0]} values "
                            f"are not a multiple of the block size {dequant.BLOCKS[ttype].values}")
        g.tensor_infos.append(TensorInfo(name, dims, ttype, offset, tensor_nbytes(ttype, dims)))

    g.data_offset = -(-r.pos // g.alignment) * g.alignment
    data_size = len(data) - g.data_offset
    if g.tensor_infos and data_size < 0:
        raise GGUFError(f"truncated: the tensor data would start at byte {g.data_offset}, "
                        f"past the end of the file ({len(data)} bytes)")
    for t in g.tensor_infos:
        if t.offset % g.alignment:
            raise GGUFError(f"tensor {t.name!r}: offset {t.offset} is not a multiple of the "
                            f"alignment {g.alignment}")
        end = t.offset + (t.nbytes if t.nbytes is not None else 1)
        if end > data_size:
            raise GGUFError(f"tensor {t.name!r}: its data (offset {t.offset}, "
                            f"{t.nbytes if t.nbytes is not None else '?'} bytes) runs past the end "
                            f"of the file (the tensor data section holds {data_size} bytes)")
    # Well-formed files never overlap tensors; a sized tensor must end before the next starts.
    ordered = sorted(g.tensor_infos, key=lambda t: t.offset)
    for a, b in zip(ordered, ordered[1:]):
        if a.offset + (a.nbytes if a.nbytes is not None else 1) > b.offset:
            raise GGUFError(f"tensors {a.name!r} and {b.name!r} overlap")
    return g


def dequantize(info, data, data_offset):
    """The float32 numpy array of one tensor, shape info.shape."""
    start = data_offset + info.offset
    n = 1
    for d in info.dims:
        n *= d
    if info.type == GGML_F32:
        flat = np.frombuffer(data, dtype="<f4", count=n, offset=start).astype(np.float32)
    elif info.type == GGML_F16:
        flat = np.frombuffer(data, dtype="<f2", count=n, offset=start).astype(np.float32)
    elif info.type == GGML_BF16:  # float32's upper half
        flat = (np.frombuffer(data, dtype="<u2", count=n, offset=start).astype(np.uint32) << 16).view(np.float32)
    elif info.type in dequant.BLOCKS:
        flat = dequant.dequantize_blocks(info.type, np.frombuffer(data, dtype=np.uint8, count=info.nbytes,
                                                                  offset=start))
    else:
        raise GGUFError(f"tensor {info.name!r} has type {ggml_type_name(info.type)} ({info.type}), "
                        "which this reader does not convert")
    return flat.reshape(info.shape)


def read_gguf(path):
    """(metadata dict, tensors dict name -> float32 array (rows, cols)) of a GGUF file."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        g = parse_gguf(data)
        tensors = {t.name: dequantize(t, data, g.data_offset) for t in g.tensor_infos}
    except GGUFError as e:
        raise GGUFError(f"{path}: {e}") from None
    return g.metadata, tensors


def describe_value(v):
    if isinstance(v, np.ndarray):
        head = ", ".join(str(x) for x in v[:5].tolist())
        return f"[{v.dtype} × {v.size}: {head}{', …' if v.size > 5 else ''}]"
    if isinstance(v, list):
        head = ", ".join(repr(x) for x in v[:5])
        return f"[{len(v)} items: {head}{', …' if len(v) > 5 else ''}]"
    return repr(v)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = sys.argv[1]
    with open(path, "rb") as f:
        data = f.read()
    try:
        g = parse_gguf(data)
    except GGUFError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    print(f"GGUF version {g.version}, alignment {g.alignment}, tensor data at byte {g.data_offset}, "
          f"{len(g.metadata)} metadata keys, {len(g.tensor_infos)} tensors")
    for k, v in g.metadata.items():
        t = g.metadata_types[k]
        tname = (f"array of {VALUE_TYPE_NAMES[t[1]]}" if isinstance(t, tuple) else VALUE_TYPE_NAMES[t])
        print(f"  {k} ({tname}) = {describe_value(v)}")
    for t in g.tensor_infos:
        print(f"  {t.name:28s} {ggml_type_name(t.type):5s} dims {list(t.dims)} offset {t.offset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
