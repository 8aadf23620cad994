#!/usr/bin/python3
"""Reference implementation of llama2.c's Llama-2 inference, of Llama 3.x, Qwen2 and Qwen3, and of
GPT-2's, in plain numpy.

    reference.py CHECKPOINT TOKENIZER [--prompt TEXT] [--steps N] [--logits OUT] [--tokens "1 2 3"]

Without --tokens: greedy generation (argmax, lowest id on ties) from BOS + prompt, printed like
llama2.c prints it. With --tokens: teacher-forced logits for exactly those token ids.
--logits OUT writes the logits of every position computed (format: see write_logits).

GPT-2 (a GGUF file whose general.architecture is gpt2) is written from the published model
(Radford et al. 2019, and OpenAI's gpt-2 model.py): learned position embeddings added to the
token embeddings; per block x += attn(ln_1(x)), x += mlp(ln_2(x)) with LayerNorm (weight and
bias), one q|k|v matrix whose output splits into q, k and v in that order, a bias on every matrix,
GELU in its tanh form; a final LayerNorm and the classifier tied to the token embedding (unless
the file has an output.weight). Its vocabulary is byte-level BPE: GPT-2's regex split, its byte
map, then merges by rank.

Llama 3.x, Qwen2/2.5 and Qwen3 (GGUF general.architecture llama, qwen2, qwen3) are written from
Hugging Face transformers' modeling_llama.py, modeling_qwen2.py and modeling_qwen3.py, read with
llama.cpp's conversion and graphs for how a GGUF file holds them:
  - every one is Llama's decoder: x += o_proj(attention(rope(q), rope(k), v)) on RMSNorm(x), then
    x += down_proj(silu(gate_proj(h)) * up_proj(h)) on RMSNorm(x); a final RMSNorm and lm_head
    (tied to the embedding when the file has no output.weight); grouped-query attention.
  - the head size is the config's head_dim when the file gives one (ARCH.attention.key_length), so
    q_proj has n_heads * head_dim rows, which need not be dim (Qwen3-0.6B: 16 x 128 for 1024).
  - RoPE: HF rotates the two halves of each head (rotate_half). llama.cpp's converter permutes the
    rows of Llama's q_proj and k_proj so that the same rotation pairs adjacent values (2i, 2i+1),
    as Meta's original code does: a llama GGUF is rotated pair by pair. Qwen's rows are not
    permuted: a qwen2 or qwen3 GGUF is rotated by halves.
  - Llama 3.1's rope_scaling (rope_type llama3) is stored as rope_freqs.weight, one divisor per
    pair: the angle of pair i is pos * theta^(-2i/d) / divisor_i (llama.cpp's freq_factors; HF's
    _compute_llama3_parameters divides inv_freq by the same numbers). Linear scaling
    (ARCH.rope.scaling.type linear, .factor f, HF's 'linear' rope type) divides the positions by f.
  - Qwen2: q_proj, k_proj and v_proj have biases (o_proj has none).
  - Qwen3: no biases; q_norm and k_norm, RMSNorms over head_dim with the model's epsilon, apply to
    each head of q and of k after the projection and before RoPE.

Precision: activations are kept as float32 between the steps of the forward pass, as a C engine
keeps them. Each step (matmul, rmsnorm, rope, attention, ffn) computes in float64 and rounds its
result to float32; matmuls accumulate in float64. RoPE angles are computed in float64.

Importable: load_checkpoint, load_tokenizer, encode, decode, forward_logits, greedy, generate,
write_logits, read_logits.
"""
import argparse
import os
import re
import struct
import sys
from dataclasses import dataclass

import numpy as np

BOS, EOS = 1, 2
V1_MAGIC = 0x616B3432          # "ak42" as a little-endian uint32
V1_HEADER_SIZE = 256
LOGITS_MAGIC = b"LOGT"
LLMC_MAGIC, LLMC_VERSION_FP32, LLMC_VERSION_BF16, LLMC_HEADER_INTS = 20240326, 3, 5, 256   # llm.c's train_gpt2.c


def bf16_to_float32(bits):
    """bfloat16 (uint16 array) as float32: its bits are float32's upper half."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------------------------------------
# Checkpoint

@dataclass
class Config:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool
    rope_theta: float = 10000.0    # llama2.c's; GGUF files may say otherwise
    norm_eps: float = 1e-5         # RMSNorm's, or GPT-2's LayerNorm's
    arch: str = "llama"            # or "qwen2", "qwen3", "gpt2"
    head_dim: int = 0              # the file's own head size (attention.key_length); 0: dim // n_heads
    rope_halves: bool = False      # RoPE pairs (i, i + d/2), HF's rotate_half (qwen); else (2i, 2i+1)
    rope_scaling: float = 1.0      # linear RoPE scaling: positions are divided by it
    rope_divisors: object = None   # (head_size / 2) Llama 3.1's rope_freqs: pair i's angle / divisor

    @property
    def head_size(self):
        return self.head_dim or self.dim // self.n_heads

    @property
    def q_dim(self):
        return self.n_heads * self.head_size

    @property
    def kv_dim(self):
        return self.n_kv_heads * self.head_size


def load_checkpoint(path):
    """Read a legacy, version-1 or version-2 (int8) llama2.c checkpoint. Returns (Config, dict of weight arrays).

    The weight arrays are float32 views of a read-only memory map of the file. weights['wcls'] is
    the classifier, the token embedding itself when the classifier is shared.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(V1_HEADER_SIZE)
    if head[:4] == b"GGUF":
        return load_gguf_checkpoint(path)
    if len(head) < 28:
        raise ValueError(f"{path}: file is {size} bytes, too short for a checkpoint header")

    if struct.unpack_from("<i", head, 0)[0] == LLMC_MAGIC:
        return load_llmc_checkpoint(path, head, size)
    if struct.unpack_from("<I", head, 0)[0] == V1_MAGIC:
        if len(head) < V1_HEADER_SIZE:
            raise ValueError(f"{path}: file is {size} bytes, too short for a version-1 header")
        version = struct.unpack_from("<i", head, 4)[0]
        if version == 2:
            return load_q8_checkpoint(path, head, size)
        if version != 1:
            raise ValueError(f"{path}: unsupported checkpoint version {version} (only 1 and 2 are supported)")
        params = struct.unpack_from("<7i", head, 8)
        shared = head[36]
        if shared not in (0, 1):
            raise ValueError(f"{path}: shared_classifier byte is {shared}, expected 0 or 1")
        config = Config(*params, shared_classifier=bool(shared))
        header_size = V1_HEADER_SIZE
        order = ["rms_att", "rms_ffn", "rms_final", "token_embedding",
                 "wq", "wk", "wv", "wo", "w1", "w2", "w3"]
    else:
        params = list(struct.unpack_from("<7i", head, 0))
        shared = params[5] > 0          # negative vocab_size means a separate classifier
        params[5] = abs(params[5])
        config = Config(*params, shared_classifier=shared)
        header_size = 28
        order = ["token_embedding", "rms_att", "wq", "wk", "wv", "wo",
                 "rms_ffn", "w1", "w2", "w3", "rms_final", "freq_cis_real", "freq_cis_imag"]
    check_config(config, path)

    c = config
    shapes = {
        "token_embedding": (c.vocab_size, c.dim),
        "rms_att": (c.n_layers, c.dim),
        "wq": (c.n_layers, c.dim, c.dim),
        "wk": (c.n_layers, c.kv_dim, c.dim),
        "wv": (c.n_layers, c.kv_dim, c.dim),
        "wo": (c.n_layers, c.dim, c.dim),
        "rms_ffn": (c.n_layers, c.dim),
        "w1": (c.n_layers, c.hidden_dim, c.dim),
        "w2": (c.n_layers, c.dim, c.hidden_dim),
        "w3": (c.n_layers, c.hidden_dim, c.dim),
        "rms_final": (c.dim,),
        "freq_cis_real": (c.seq_len, c.head_size // 2),
        "freq_cis_imag": (c.seq_len, c.head_size // 2),
        "wcls": (c.vocab_size, c.dim),
    }
    if not c.shared_classifier:
        order.append("wcls")
    n_floats = sum(int(np.prod(shapes[name])) for name in order)
    expected = header_size + 4 * n_floats
    if size != expected:
        raise ValueError(f"{path}: file is {size} bytes, but its header ({describe(c)}) implies "
                         f"{expected} bytes")

    data = np.memmap(path, dtype="<f4", mode="r", offset=header_size, shape=(n_floats,))
    weights, offset = {}, 0
    for name in order:
        n = int(np.prod(shapes[name]))
        weights[name] = data[offset:offset + n].reshape(shapes[name])
        offset += n
    if c.shared_classifier:
        weights["wcls"] = weights["token_embedding"]
    return config, weights


def load_gguf_checkpoint(path):
    """A llama, qwen2, qwen3 or gpt2 GGUF file, read by scripts/gguf.py (F16, and ggml's block types
    Q8_0, Q4_0 ... Q6_K dequantized to float32 by scripts/dequant.py). llama.cpp's converter keeps
    llama2.c's row order for llama, so the tensors map one to one (see the module's docstring for
    the others)."""
    import gguf
    meta, t = gguf.read_gguf(path)
    arch = meta.get("general.architecture")
    if arch == "gpt2":
        return gpt2_weights(meta, t, path)
    if arch not in ("llama", "qwen2", "qwen3"):
        raise ValueError(f"{path}: architecture {arch!r} is not llama, qwen2, qwen3 or gpt2")
    n_heads = meta[f"{arch}.attention.head_count"]
    c = Config(meta[f"{arch}.embedding_length"], meta[f"{arch}.feed_forward_length"], meta[f"{arch}.block_count"],
               n_heads, meta.get(f"{arch}.attention.head_count_kv", n_heads), t["token_embd.weight"].shape[0],
               meta[f"{arch}.context_length"], "output.weight" not in t,
               float(meta.get(f"{arch}.rope.freq_base", 10000.0)),
               float(meta.get(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)), arch,
               head_dim=int(meta.get(f"{arch}.attention.key_length", 0)), rope_halves=arch != "llama")
    if meta.get(f"{arch}.attention.value_length", c.head_size) != c.head_size:
        raise ValueError(f"{path}: value_length differs from key_length")
    if meta.get(f"{arch}.rope.dimension_count", c.head_size) != c.head_size:
        raise ValueError(f"{path}: RoPE rotates part of a head only")
    scaling = meta.get(f"{arch}.rope.scaling.type", "linear")   # llama.cpp's default
    factor = float(meta.get(f"{arch}.rope.scaling.factor", meta.get(f"{arch}.rope.scale_linear", 0.0)))
    if scaling not in ("none", "linear"):
        raise ValueError(f"{path}: RoPE scaling {scaling!r} is not written here")
    if scaling == "linear" and factor != 0:
        c.rope_scaling = factor
    if arch == "llama" and "rope_freqs.weight" in t:
        c.rope_divisors = t["rope_freqs.weight"].astype(np.float64)
    check_config(c, path)
    layers = range(c.n_layers)
    stack = lambda name: np.stack([t[f"blk.{l}.{name}"] for l in layers])  # noqa: E731
    w = {"rms_att": stack("attn_norm.weight"), "rms_ffn": stack("ffn_norm.weight"),
         "rms_final": t["output_norm.weight"], "token_embedding": t["token_embd.weight"],
         "wq": stack("attn_q.weight"), "wk": stack("attn_k.weight"), "wv": stack("attn_v.weight"),
         "wo": stack("attn_output.weight"), "w1": stack("ffn_gate.weight"), "w2": stack("ffn_down.weight"),
         "w3": stack("ffn_up.weight")}
    if arch == "qwen2":
        w.update(bq=stack("attn_q.bias"), bk=stack("attn_k.bias"), bv=stack("attn_v.bias"))
    if arch == "qwen3":
        w.update(q_norm=stack("attn_q_norm.weight"), k_norm=stack("attn_k_norm.weight"))
    w["wcls"] = w["token_embedding"] if c.shared_classifier else t["output.weight"]
    return c, w


def gpt2_weights(meta, t, path):
    """A GPT-2 GGUF file's tensors (llama.cpp's names), under the names of llm.c's checkpoint:
    wte, wpe, per layer (stacked) ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw,
    fcb, fcprojw, fcprojb; lnfw, lnfb, and the classifier wcls."""
    n_heads = meta["gpt2.attention.head_count"]
    c = Config(meta["gpt2.embedding_length"], meta["gpt2.feed_forward_length"], meta["gpt2.block_count"],
               n_heads, n_heads, t["token_embd.weight"].shape[0], meta["gpt2.context_length"],
               "output.weight" not in t, 0.0, float(meta.get("gpt2.attention.layer_norm_epsilon", 1e-5)), "gpt2")
    check_config(c, path)
    stack = lambda name: np.stack([t[f"blk.{l}.{name}"] for l in range(c.n_layers)])  # noqa: E731
    w = {"wte": t["token_embd.weight"], "wpe": t["position_embd.weight"],
         "ln1w": stack("attn_norm.weight"), "ln1b": stack("attn_norm.bias"),
         "qkvw": stack("attn_qkv.weight"), "qkvb": stack("attn_qkv.bias"),
         "attprojw": stack("attn_output.weight"), "attprojb": stack("attn_output.bias"),
         "ln2w": stack("ffn_norm.weight"), "ln2b": stack("ffn_norm.bias"),
         "fcw": stack("ffn_up.weight"), "fcb": stack("ffn_up.bias"),
         "fcprojw": stack("ffn_down.weight"), "fcprojb": stack("ffn_down.bias"),
         "lnfw": t["output_norm.weight"], "lnfb": t["output_norm.bias"]}
    w["wcls"] = w["wte"] if c.shared_classifier else t["output.weight"]
    return c, w


def load_llmc_checkpoint(path, head, size):
    """llm.c's GPT-2 checkpoint: int32 header[256] (magic, version 3 = fp32 or 5 = bf16, max_seq_len,
    vocab_size, n_layers, n_heads, channels, padded_vocab_size), then the tensors in llm.c's order,
    all float32 or all bfloat16."""
    if len(head) < 4 * 8:
        raise ValueError(f"{path}: truncated llm.c header")
    magic, version, max_t, vocab, layers, heads, dim, padded = struct.unpack_from("<8i", head, 0)
    if version not in (LLMC_VERSION_FP32, LLMC_VERSION_BF16):
        raise ValueError(f"{path}: llm.c checkpoint version {version}, only 3 (fp32) and 5 (bf16) are read")
    width = 4 if version == LLMC_VERSION_FP32 else 2
    c = Config(dim, 4 * dim, layers, heads, heads, vocab, max_t, True, 0.0, 1e-5, "gpt2")
    check_config(c, path)
    L, C = layers, dim
    shapes = [("wte", (padded, C)), ("wpe", (max_t, C)), ("ln1w", (L, C)), ("ln1b", (L, C)),
              ("qkvw", (L, 3 * C, C)), ("qkvb", (L, 3 * C)), ("attprojw", (L, C, C)), ("attprojb", (L, C)),
              ("ln2w", (L, C)), ("ln2b", (L, C)), ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)),
              ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)), ("lnfw", (C,)), ("lnfb", (C,))]
    n_floats = sum(int(np.prod(shape)) for _, shape in shapes)
    if size != 4 * LLMC_HEADER_INTS + width * n_floats:
        raise ValueError(f"{path}: file is {size} bytes, its llm.c header implies "
                         f"{4 * LLMC_HEADER_INTS + width * n_floats}")
    data = np.memmap(path, dtype="<f4" if width == 4 else "<u2", mode="r", offset=4 * LLMC_HEADER_INTS,
                     shape=(n_floats,))
    if width == 2:
        data = bf16_to_float32(data)
    w, offset = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = data[offset:offset + n].reshape(shape)
        offset += n
    w["wte"] = w["wte"][:vocab]          # the padding rows are never used
    w["wcls"] = w["wte"]
    return c, w


def load_q8_checkpoint(path, head, size):
    """Read a llama2.c version-2 checkpoint: norms in float32, then each matrix
    (per layer) as int8 values followed by one float32 scale per group. The
    weights are dequantized here (w = q * scale), so the reference computes
    with exactly the weights the file holds, in float arithmetic."""
    params = struct.unpack_from("<7i", head, 8)
    shared, group_size = head[36], struct.unpack_from("<i", head, 37)[0]
    c = Config(*params, shared_classifier=bool(shared))
    check_config(c, path)
    if group_size <= 0 or c.dim % group_size or c.hidden_dim % group_size:
        raise ValueError(f"{path}: bad group size {group_size}")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    offset = V1_HEADER_SIZE

    def take(dtype, count):
        nonlocal offset
        n_bytes = count * np.dtype(dtype).itemsize
        if offset + n_bytes > size:
            raise ValueError(f"{path}: truncated ({size} bytes)")
        array = raw[offset:offset + n_bytes].view(dtype)
        offset += n_bytes
        return array

    def take_matrix(rows, cols):
        q = take(np.int8, rows * cols).astype(np.float32).reshape(-1, group_size)
        scales = take("<f4", rows * cols // group_size)
        return (q * scales[:, None]).reshape(rows, cols)

    w = {"rms_att": take("<f4", c.n_layers * c.dim).reshape(c.n_layers, c.dim),
         "rms_ffn": take("<f4", c.n_layers * c.dim).reshape(c.n_layers, c.dim),
         "rms_final": take("<f4", c.dim)}
    w["token_embedding"] = take_matrix(c.vocab_size, c.dim)
    shapes = {"wq": (c.dim, c.dim), "wk": (c.kv_dim, c.dim), "wv": (c.kv_dim, c.dim), "wo": (c.dim, c.dim),
              "w1": (c.hidden_dim, c.dim), "w2": (c.dim, c.hidden_dim), "w3": (c.hidden_dim, c.dim)}
    for name, (rows, cols) in shapes.items():
        w[name] = np.stack([take_matrix(rows, cols) for _ in range(c.n_layers)])
    w["wcls"] = w["token_embedding"] if c.shared_classifier else take_matrix(c.vocab_size, c.dim)
    if offset != size:
        raise ValueError(f"{path}: file is {size} bytes, but its header ({describe(c)}) implies {offset}")
    return c, w


def check_config(c, path):
    for name in ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]:
        if getattr(c, name) <= 0:
            raise ValueError(f"{path}: bad header, {name} = {getattr(c, name)}")
    rotary = c.arch != "gpt2"  # RoPE rotates pairs of a head's values; GPT-2 has no rotation
    if (not c.head_dim and c.dim % c.n_heads) or c.n_heads % c.n_kv_heads or (rotary and c.head_size % 2):
        raise ValueError(f"{path}: bad header, need dim % n_heads == 0 (without a head size of its own), "
                         f"n_heads % n_kv_heads == 0 and, with RoPE, an even head size ({describe(c)})")


def describe(c):
    return (f"dim={c.dim} hidden_dim={c.hidden_dim} n_layers={c.n_layers} n_heads={c.n_heads} "
            f"n_kv_heads={c.n_kv_heads} vocab_size={c.vocab_size} seq_len={c.seq_len} "
            f"shared_classifier={int(c.shared_classifier)}")


# ---------------------------------------------------------------------------------------------
# Forward pass, one position at a time, with a KV cache

def matmul(w, x):
    """y = W @ x for W of shape (out, in), accumulated in float64, rounded to float32."""
    return (w.astype(np.float64) @ x.astype(np.float64)).astype(np.float32)


def rmsnorm(x, weight, eps=1e-5):
    x = x.astype(np.float64)
    return (x * weight / np.sqrt(np.mean(x * x) + eps)).astype(np.float32)


def rope_angles(c, pos):
    """The angle of each pair i of a head at position pos: (pos / linear scaling) * theta^(-2i/d),
    over Llama 3.1's divisor of pair i when the file has rope_freqs."""
    inv_freq = c.rope_theta ** (-np.arange(0, c.head_size, 2) / c.head_size)
    if c.rope_divisors is not None:
        inv_freq = inv_freq / c.rope_divisors
    return (pos / c.rope_scaling) * inv_freq


def rope(x, pos, head_size, theta=10000.0, angle=None):
    """Rotate each pair (x[2i], x[2i+1]) of every head by the angle pos * theta^(-2i/head_size)
    (or by angle[i], when given)."""
    pairs = x.astype(np.float64).reshape(-1, head_size // 2, 2)       # (heads, head_size/2, 2)
    if angle is None:
        angle = pos * theta ** (-np.arange(0, head_size, 2) / head_size)
    cos, sin = np.cos(angle), np.sin(angle)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = np.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)
    return rotated.reshape(-1).astype(np.float32)


def rotate_half(x):
    """HF's rotate_half on each head (rows of x): (x1, x2) -> (-x2, x1)."""
    x1, x2 = np.split(x, 2, axis=-1)
    return np.concatenate([-x2, x1], axis=-1)


def rope_by_halves(x, head_size, angle):
    """HF's apply_rotary_pos_emb: x * cos + rotate_half(x) * sin on every head, where cos and sin
    hold angle twice over (emb = cat(freqs, freqs)): value i turns with value i + head_size/2."""
    heads = x.astype(np.float64).reshape(-1, head_size)
    emb = np.concatenate([angle, angle])
    return (heads * np.cos(emb) + rotate_half(heads) * np.sin(emb)).reshape(-1).astype(np.float32)


def rope_qk(c, x, pos):
    """RoPE of q or k at pos, as the architecture pairs a head's values."""
    angle = rope_angles(c, pos)
    if c.rope_halves:
        return rope_by_halves(x, c.head_size, angle)
    return rope(x, pos, c.head_size, angle=angle)


def rmsnorm_heads(x, weight, head_size, eps):
    """Qwen3's q_norm / k_norm: RMSNorm over each head of x (head_size values) with weight."""
    return np.concatenate([rmsnorm(h, weight, eps) for h in x.reshape(-1, head_size)])


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def attention(q, keys, values, n_heads, n_kv_heads):
    """Causal grouped-query attention of one position.

    q: (dim,) query at this position; keys, values: (pos+1, kv_dim), positions 0..pos, so the
    causal mask is implicit. Query head h reads kv head h // (n_heads // n_kv_heads).
    """
    head_size = len(q) // n_heads
    group = n_heads // n_kv_heads
    out = np.empty(len(q), dtype=np.float32)
    for h in range(n_heads):
        kv = h // group
        qh = q[h * head_size:(h + 1) * head_size].astype(np.float64)
        k = keys[:, kv * head_size:(kv + 1) * head_size].astype(np.float64)
        v = values[:, kv * head_size:(kv + 1) * head_size].astype(np.float64)
        weights = softmax(k @ qh / np.sqrt(head_size))           # (pos+1,)
        out[h * head_size:(h + 1) * head_size] = weights @ v
    return out


def silu(x):
    return x / (1.0 + np.exp(-x))


def ffn(x, w1, w2, w3):
    """SwiGLU feed-forward: w2 @ (silu(w1 @ x) * (w3 @ x))."""
    gate = matmul(w1, x).astype(np.float64)
    up = matmul(w3, x).astype(np.float64)
    return matmul(w2, (silu(gate) * up).astype(np.float32))


def new_cache(c):
    """Keys and values of every layer and position: two (n_layers, seq_len, kv_dim) arrays."""
    shape = (c.n_layers, c.seq_len, c.kv_dim)
    return np.zeros(shape, np.float32), np.zeros(shape, np.float32)


def layernorm(x, weight, bias, eps=1e-5):
    """(x - mean) / sqrt(variance + eps) * weight + bias, the variance without Bessel's correction."""
    x = x.astype(np.float64)
    centred = x - np.mean(x)
    return (centred / np.sqrt(np.mean(centred * centred) + eps) * weight + bias).astype(np.float32)


def gelu(x):
    """GELU's tanh approximation, the one GPT-2 was trained with."""
    x = x.astype(np.float64)
    return (0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))).astype(np.float32)


def affine(w, b, x):
    """y = W @ x + b, accumulated in float64, rounded to float32."""
    return (w.astype(np.float64) @ x.astype(np.float64) + b).astype(np.float32)


def record_layer(record, layer, heads, ffn_out):
    """Hands record (see forward), if any, a layer's attention output before its output projection
    and its feed-forward output."""
    if record:
        record("heads", layer, heads)
        record("ffn", layer, ffn_out)


def gpt2_forward(c, w, cache, token, pos, record=None):
    """GPT-2's forward pass for one token at position pos. Returns logits. record: see forward."""
    key_cache, value_cache = cache
    x = (w["wte"][token].astype(np.float64) + w["wpe"][pos]).astype(np.float32)
    for l in range(c.n_layers):
        qkv = affine(w["qkvw"][l], w["qkvb"][l], layernorm(x, w["ln1w"][l], w["ln1b"][l], c.norm_eps))
        q, key_cache[l, pos], value_cache[l, pos] = np.split(qkv, 3)
        att = attention(q, key_cache[l, :pos + 1], value_cache[l, :pos + 1], c.n_heads, c.n_heads)
        x = x + affine(w["attprojw"][l], w["attprojb"][l], att)
        h = gelu(affine(w["fcw"][l], w["fcb"][l], layernorm(x, w["ln2w"][l], w["ln2b"][l], c.norm_eps)))
        ffn_out = affine(w["fcprojw"][l], w["fcprojb"][l], h)
        x = x + ffn_out
        record_layer(record, l, att, ffn_out)
    if record:
        record("residual", c.n_layers, x)
    return matmul(w["wcls"], layernorm(x, w["lnfw"], w["lnfb"], c.norm_eps))


def forward(c, w, cache, token, pos, record=None):
    """Feed token at position pos (positions must be fed in order 0, 1, 2, ...). Returns logits.

    record(what, layer, vector), if given, sees each layer's attention output before the output
    projection ("heads", its heads side by side) and its feed-forward output ("ffn"), and the
    stream after the last layer ("residual"): what attribution.py splits a logit into."""
    if c.arch == "gpt2":
        return gpt2_forward(c, w, cache, token, pos, record)
    key_cache, value_cache = cache
    x = np.array(w["token_embedding"][token], dtype=np.float32)
    for l in range(c.n_layers):
        xb = rmsnorm(x, w["rms_att"][l], c.norm_eps)
        if c.arch == "qwen2":  # q, k and v projections with biases
            q, k, v = (affine(w[m][l], w[b][l], xb) for m, b in (("wq", "bq"), ("wk", "bk"), ("wv", "bv")))
        else:
            q, k, v = (matmul(w[m][l], xb) for m in ("wq", "wk", "wv"))
        if c.arch == "qwen3":  # each head of q and of k normalized before RoPE
            q = rmsnorm_heads(q, w["q_norm"][l], c.head_size, c.norm_eps)
            k = rmsnorm_heads(k, w["k_norm"][l], c.head_size, c.norm_eps)
        q = rope_qk(c, q, pos)
        key_cache[l, pos] = rope_qk(c, k, pos)
        value_cache[l, pos] = v
        att = attention(q, key_cache[l, :pos + 1], value_cache[l, :pos + 1], c.n_heads, c.n_kv_heads)
        x = x + matmul(w["wo"][l], att)
        ffn_out = ffn(rmsnorm(x, w["rms_ffn"][l], c.norm_eps), w["w1"][l], w["w2"][l], w["w3"][l])
        x = x + ffn_out
        record_layer(record, l, att, ffn_out)
    if record:
        record("residual", c.n_layers, x)
    x = rmsnorm(x, w["rms_final"], c.norm_eps)
    return matmul(w["wcls"], x)


def forward_logits(c, w, tokens):
    """Teacher-forced logits: row t is the output at position t, i.e. the prediction for t+1."""
    if not 0 < len(tokens) <= c.seq_len:
        raise ValueError(f"need 1..{c.seq_len} tokens, got {len(tokens)}")
    for t in tokens:
        if not 0 <= t < c.vocab_size:
            raise ValueError(f"token id {t} out of range 0..{c.vocab_size - 1}")
    cache = new_cache(c)
    return np.stack([forward(c, w, cache, t, pos) for pos, t in enumerate(tokens)])


def cap_steps(c, steps):
    """llama2.c's rule: steps <= 0 or beyond seq_len means seq_len."""
    return c.seq_len if steps <= 0 or steps > c.seq_len else steps


def generate(c, w, prompt_tokens, steps, stop=(BOS, EOS)):
    """Greedy decoding as llama2.c does it. Yields (pos, token fed, logits, next token).

    Positions 0..steps-1 are fed (steps counts the prompt too). While inside the prompt the next
    token is the prompt's, afterwards the argmax of the logits (np.argmax: lowest id on ties).
    Stops after a step whose next token is BOS or EOS (the ids in stop: the vocabulary's).
    """
    steps = cap_steps(c, steps)
    cache = new_cache(c)
    token = prompt_tokens[0]
    for pos in range(steps):
        logits = forward(c, w, cache, token, pos)
        if pos + 1 < len(prompt_tokens):
            next_token = prompt_tokens[pos + 1]
        else:
            next_token = int(np.argmax(logits))
        yield pos, token, logits, next_token
        if next_token in stop:
            return
        token = next_token


def greedy(c, w, prompt_tokens, steps, stop=(BOS, EOS)):
    """Token ids of greedy generation: the fed tokens plus the last token chosen.

    That last token is the BOS/EOS that stopped generation, if one did.
    """
    tokens = [prompt_tokens[0]]
    for _, _, _, next_token in generate(c, w, prompt_tokens, steps, stop):
        tokens.append(next_token)
    return tokens


# ---------------------------------------------------------------------------------------------
# Tokenizer (llama2.c's tokenizer.bin)

@dataclass
class Tokenizer:
    pieces: list        # bytes of each token; sentencepiece's '▁' is stored as a space
    scores: list        # merge scores (float)
    ids: dict           # bytes -> token id
    stop: tuple = (BOS, EOS)   # generation ends after these
    ranks: dict = None  # byte-level BPE only: (left, right) spelled pieces -> merge rank
    spelled_ids: dict = None   # byte-level BPE only: spelled piece -> token id
    add_bos: bool = False      # byte-level BPE only: a prompt starts with BOS


# GPT-2's pre-tokenizer (its encoder.py): contractions, letters, digits, other symbols, spaces:
#   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# Python's re has no \p{...}: letters are [^\W\d_] (str.isalpha, plus the few numerics that are
# not decimal digits) and numbers \d. Exact for ASCII text, which the tests' prompts are.
GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def gpt2_byte_spelling():
    """GPT-2's bytes_to_unicode: printable Latin-1 bytes spell themselves, the other 68 bytes
    take the code points 256, 257, ... in byte order."""
    kept = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    spelling, extra = {}, 0
    for b in range(256):
        if b in kept:
            spelling[b] = chr(b)
        else:
            spelling[b] = chr(256 + extra)
            extra += 1
    return spelling


def load_byte_bpe(path, meta, vocab_size):
    tokens = meta["tokenizer.ggml.tokens"]
    if len(tokens) != vocab_size:
        raise ValueError(f"{path}: {len(tokens)} tokens, the model has {vocab_size}")
    unspell = {ch: b for b, ch in gpt2_byte_spelling().items()}
    pieces = [bytes(unspell[ch] for ch in tok) if all(ch in unspell for ch in tok) else tok.encode("utf-8")
              for tok in tokens]
    ranks = {tuple(m.split(" ")): rank for rank, m in enumerate(meta["tokenizer.ggml.merges"])}
    spelled_ids = {}
    for i, tok in enumerate(tokens):
        spelled_ids.setdefault(tok, i)
    bos, eos = int(meta["tokenizer.ggml.bos_token_id"]), int(meta["tokenizer.ggml.eos_token_id"])
    return Tokenizer(pieces, [0.0] * len(tokens), {}, (bos, eos), ranks, spelled_ids,
                     bool(meta.get("tokenizer.ggml.add_bos_token", False)))


def encode_byte_bpe(tok, text):
    """Byte-level BPE: split by GPT2_SPLIT, spell each part's UTF-8 bytes, then merge the pair of
    lowest rank, everywhere it occurs, until no pair has a rank. BOS alone for an empty text."""
    spelling = gpt2_byte_spelling()
    ids = [tok.stop[0]] if tok.add_bos else []
    for part in GPT2_SPLIT.findall(text):
        symbols = [spelling[b] for b in part.encode("utf-8")]
        while len(symbols) > 1:
            ranked = [(tok.ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in tok.ranks]
            if not ranked:
                break
            first = min(ranked)[1]
            best = (symbols[first], symbols[first + 1])
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        ids.extend(tok.spelled_ids[s] for s in symbols)
    return ids or [tok.stop[0]]


def load_tokenizer(path, vocab_size):
    """tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 length, bytes.
    Or a GGUF file's tokenizer.ggml.tokens and scores (with U+2581 for a space)."""
    data = open(path, "rb").read()
    if data[:4] == b"GGUF":
        import gguf
        meta = gguf.parse_gguf(data).metadata
        if meta.get("tokenizer.ggml.model") == "gpt2":
            return load_byte_bpe(path, meta, vocab_size)
        tokens, scores = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"]
        if len(tokens) != vocab_size:
            raise ValueError(f"{path}: {len(tokens)} tokens, the model has {vocab_size}")
        pieces = [tok.replace("\u2581", " ").encode("utf-8") for tok in tokens]
        ids = {}
        for i, piece in enumerate(pieces):
            ids.setdefault(piece, i)
        return Tokenizer(pieces, list(scores), ids)
    pieces, scores, offset = [], [], 4
    try:
        for _ in range(vocab_size):
            score, length = struct.unpack_from("<fi", data, offset)
            offset += 8
            if length < 0 or offset + length > len(data):
                raise struct.error
            pieces.append(data[offset:offset + length])
            scores.append(score)
            offset += length
    except struct.error:
        raise ValueError(f"{path}: truncated or corrupt at token {len(pieces)} "
                         f"(model vocab_size is {vocab_size})") from None
    if offset != len(data):
        raise ValueError(f"{path}: {len(data) - offset} bytes left after {vocab_size} tokens; "
                         f"does the tokenizer belong to this model?")
    ids = {}
    for i, piece in enumerate(pieces):
        ids.setdefault(piece, i)
    return Tokenizer(pieces, scores, ids)


def encode(tok, text):
    """llama2.c's encoder: BOS, then (if text is non-empty) a dummy-prefix space and the text,
    one token per UTF-8 character (or its bytes as <0xXX> tokens if the character is not in the
    vocabulary), then greedy merging of the adjacent pair with the best score (leftmost on ties).
    A byte-level BPE vocabulary encodes as GPT-2 does (encode_byte_bpe).
    """
    if tok.ranks is not None:
        return encode_byte_bpe(tok, text)
    tokens = []
    if text:
        for char in " " + text:
            utf8 = char.encode("utf-8", "surrogateescape")
            if utf8 in tok.ids:
                tokens.append(tok.ids[utf8])
            else:
                for byte in utf8:
                    fallback = b"<0x%02X>" % byte
                    if fallback not in tok.ids:
                        raise ValueError(f"cannot encode {char!r}: no token {fallback.decode()}")
                    tokens.append(tok.ids[fallback])
    while True:
        best_score, best_i = None, None
        for i in range(len(tokens) - 1):
            merged = tok.ids.get(tok.pieces[tokens[i]] + tok.pieces[tokens[i + 1]])
            if merged is not None and (best_score is None or tok.scores[merged] > best_score):
                best_score, best_i, best_id = tok.scores[merged], i, merged
        if best_i is None:
            return [BOS] + tokens
        tokens[best_i:best_i + 2] = [best_id]


def decode(tok, prev_token, token):
    """Bytes to print for token: after BOS a leading space is dropped; <0xXX> is that raw byte."""
    piece = tok.pieces[token]
    if tok.ranks is not None:
        return piece
    if prev_token == BOS and piece.startswith(b" "):
        piece = piece[1:]
    m = re.fullmatch(rb"<0x([0-9A-Fa-f]{2})>", piece)
    if m:
        piece = bytes([int(m.group(1), 16)])
    return piece


def printable(piece):
    """llama2.c's safe_printf: a single byte that is neither printable ASCII nor whitespace is
    not printed (so raw bytes >= 0x80 from byte fallback are dropped too)."""
    if len(piece) == 1 and not (0x20 <= piece[0] < 0x7F or piece[0] in b" \t\n\v\f\r"):
        return b""
    return piece


# ---------------------------------------------------------------------------------------------
# Logits file

def write_logits(path, tokens, logits):
    """"LOGT", int32 version 1, int32 vocab_size, int32 n_positions; then per position:
    int32 position, int32 token fed there, float32 logits[vocab_size]. All little-endian."""
    logits = np.asarray(logits, dtype="<f4")
    n, vocab = logits.shape
    with open(path, "wb") as f:
        f.write(LOGITS_MAGIC + struct.pack("<3i", 1, vocab, n))
        for pos in range(n):
            f.write(struct.pack("<2i", pos, tokens[pos]) + logits[pos].tobytes())


def read_logits(path):
    """Returns (positions, tokens, logits (n, vocab) float32). Raises ValueError if malformed."""
    data = open(path, "rb").read()
    if len(data) < 16 or data[:4] != LOGITS_MAGIC:
        raise ValueError(f"{path}: not a logits file (no LOGT header)")
    version, vocab, n = struct.unpack_from("<3i", data, 4)
    if version != 1 or vocab <= 0 or n < 0:
        raise ValueError(f"{path}: bad header: version {version}, vocab_size {vocab}, n_positions {n}")
    record = np.dtype([("pos", "<i4"), ("token", "<i4"), ("logits", "<f4", (vocab,))])
    if len(data) != 16 + n * record.itemsize:
        raise ValueError(f"{path}: file is {len(data)} bytes, header implies {16 + n * record.itemsize}")
    records = np.frombuffer(data, dtype=record, offset=16, count=n)
    return records["pos"].tolist(), records["token"].tolist(), records["logits"].copy()


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="Reference numpy implementation of llama2.c inference.")
    ap.add_argument("checkpoint")
    ap.add_argument("tokenizer")
    ap.add_argument("--prompt", default="")
    ap.add_argument("--steps", type=int, default=256, help="positions to run, prompt included")
    ap.add_argument("--logits", metavar="OUT", help="write the logits of every position here")
    ap.add_argument("--tokens", help='teacher-force these space-separated ids, e.g. "1 2 3"')
    args = ap.parse_args()

    try:
        c, w = load_checkpoint(args.checkpoint)
        tok = load_tokenizer(args.tokenizer, c.vocab_size)
        tokens = [int(t) for t in args.tokens.split()] if args.tokens is not None else None
    except (OSError, ValueError) as e:
        print(f"reference.py: {e}", file=sys.stderr)
        return 2

    out = sys.stdout.buffer
    if tokens is not None:
        try:
            logits = forward_logits(c, w, tokens)
        except ValueError as e:
            print(f"reference.py: {e}", file=sys.stderr)
            return 2
        for pos, t in enumerate(tokens):
            top = int(np.argmax(logits[pos]))
            print(f"{pos:5d} token {t:6d} {tok.pieces[t]!r:20} -> argmax {top:6d} "
                  f"{tok.pieces[top]!r:20} logit {logits[pos, top]:.6f}")
    else:
        prompt_tokens = encode(tok, args.prompt)
        tokens, logits = [], []
        for pos, token, row, next_token in generate(c, w, prompt_tokens, args.steps, tok.stop):
            tokens.append(token)
            logits.append(row)
            if next_token in tok.stop:
                break
            out.write(printable(decode(tok, token, next_token)))
            out.flush()
        out.write(b"\n")
    if args.logits:
        write_logits(args.logits, tokens, logits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
