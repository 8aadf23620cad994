#!/usr/bin/python3
"""Check the blocks of a GGUF written by `./run quantize IN OUT.gguf --type T` against IN's values.

    check_quantize_types.py IN OUT.gguf [--same-types REF.gguf] [--same-bytes REF.gguf TYPE ...]

Every quantized matrix of OUT whose values IN holds as floats (F32, F16, a llama2.c float
checkpoint) is dequantized by numpy (scripts/dequant.py, written from the formats) and each
value compared with IN's, within a bound that follows from the format and the block's own
fields (d, the sub-block scales):
  - Q8_0, Q4_0, Q5_0 (q = x / d rounded, d = the block's value of largest magnitude over 127,
    -8, -16): half a step d, plus what rounding d to half precision moves the largest q
    (q_max * d * 2^-11); for Q4_0 and Q5_0, whose top level is one short of the far end, a
    whole step at that level;
  - Q4_K (value = d * sc * q - dmin * mn, q in 0..15) and Q6_K (d * sc * (q - 32)): half a
    step d * sc of the value's sub-block; and the step no coarser than the sub-block needs:
    its range over the levels, plus one unit d (the scale is rounded up) and, for Q4_K, one
    unit dmin of its min.
--same-types REF: every tensor of OUT has REF's type (REF: the same input by llama-quantize).
--same-bytes REF TYPE...: every tensor of OUT of those types has REF's bytes.
Prints one line per problem (at most 20) and a last line with the verdict and the largest error
in steps; exit 0 if OUT passes.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dequant  # noqa: E402
from check_quantized import File, expected_from_checkpoint, expected_from_gguf  # noqa: E402

F32 = np.float32
HALF_ULP = 2.0 ** -11     # the largest relative rounding of a half-precision scale
FLOAT_SLACK = 1e-6        # float32 arithmetic of the dequantization, relative to the values
Q4_0, Q5_0, Q8_0, Q4_K, Q6_K = 2, 6, 8, 12, 14


def blocks_of(raw, ggml_type):
    block = dequant.BLOCKS[ggml_type]
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, block.nbytes)


def per_value(x, n):
    return np.repeat(x, n, axis=1).reshape(-1)


def block_bound(ggml_type, b, x):
    """(bound on |x - deq| per value, bound on the step per value or None) of blocks b for x."""
    if ggml_type in (Q8_0, Q4_0, Q5_0):
        d = np.abs(dequant._half(b, 0))                                   # (n, 1)
        offset, q_top = {Q8_0: (127, None), Q4_0: (8, 15), Q5_0: (16, 31)}[ggml_type]
        steps = np.full((b.shape[0], 32), 0.5 + offset * HALF_ULP, dtype=np.float64)
        if q_top is not None:
            q = dequant._nibbles32(b[:, 2:18] if ggml_type == Q4_0 else b[:, 6:22]).astype(np.int32)
            if ggml_type == Q5_0:
                q |= dequant._fifth_bits32(b[:, 2:6]).astype(np.int32) << 4
            steps[q == q_top] += 0.5
        return (steps * d).reshape(-1), None
    xs = x.reshape(b.shape[0], 256).astype(np.float64)
    if ggml_type == Q4_K:
        sc, mn = dequant._k_scales_mins(b[:, 4:16])
        d, dmin = dequant._half(b, 0).astype(np.float64), dequant._half(b, 2).astype(np.float64)
        step = d * sc
        sub = xs.reshape(-1, 8, 32)
        need = (sub.max(axis=2).clip(min=0) - sub.min(axis=2).clip(max=0) + dmin) / 15 + d
        return per_value(step / 2, 32), per_value(np.maximum(need, 0), 32) - per_value(step, 32)
    # Q6_K
    scales = b[:, 192:208].copy().view(np.int8).astype(np.float64)
    d = dequant._half(b, 208).astype(np.float64)
    step = np.abs(d * scales)
    need = np.abs(xs.reshape(-1, 16, 16)).max(axis=2) / 31 + np.abs(d)
    return per_value(step / 2, 16), per_value(need, 16) - per_value(step, 16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--same-types")
    ap.add_argument("--same-bytes", nargs="+")
    args = ap.parse_args()
    with open(args.input, "rb") as f:
        from_gguf = f.read(4) == b"GGUF"
    _, tensors, _ = (expected_from_gguf if from_gguf else expected_from_checkpoint)(args.input)
    values = {name: v for name, _, _, v, _ in tensors}
    out = File(args.output)
    problems, checked, worst = [], {}, 0.0
    for t in out.g.tensor_infos:
        x = values.get(t.name)
        if t.type not in (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) or x is None:
            continue
        x = np.asarray(x, dtype=F32).reshape(-1)
        b = blocks_of(out.raw(t.name), t.type)
        deq = dequant.dequantize_blocks(t.type, out.raw(t.name)).astype(np.float64)
        bound, coarser = block_bound(t.type, b, x)
        error = np.abs(deq - x)
        allowed = bound + FLOAT_SLACK * (np.abs(x) + bound)
        bad = np.flatnonzero(error > allowed)
        if bad.size:
            i = bad[0]
            problems.append(f"{t.name} ({dequant.BLOCKS[t.type].name}): value {i} is {x[i]:.6g}, dequantized "
                            f"{deq[i]:.6g}: off by {error[i]:.3g}, above the bound {allowed[i]:.3g}")
        if coarser is not None and (coarser < -FLOAT_SLACK * np.abs(x).max()).any():
            i = int(np.argmin(coarser))
            problems.append(f"{t.name}: the step at value {i} is coarser than its sub-block needs")
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(bound > 0, error / bound, 0.0)
        worst = max(worst, float(ratio.max()) if ratio.size else 0.0)
        name = dequant.BLOCKS[t.type].name
        checked[name] = checked.get(name, 0) + 1
    for option, what in ((args.same_types, "types"), (args.same_bytes[0] if args.same_bytes else None, "bytes")):
        if not option:
            continue
        ref = File(option)
        types = {dequant.BLOCKS[k].name: k for k in dequant.BLOCKS}
        wanted = {types[n] for n in args.same_bytes[1:]} if what == "bytes" else set()
        if set(ref.infos) != set(out.infos):
            problems.append(f"{option}: other tensor names than {args.output}")
        for name, t in out.infos.items():
            r = ref.infos.get(name)
            if r is None:
                continue
            if what == "types" and r.type != t.type:
                problems.append(f"{name}: type {t.type}, {option} has {r.type}")
            if what == "bytes" and t.type in wanted and out.raw(name) != ref.raw(name):
                problems.append(f"{name}: bytes differ from {option}'s")
    for p in problems[:20]:
        print(p)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(checked.items()))
    if not checked:
        problems.append("no quantized matrix with float input values to check")
        print(problems[-1])
    verdict = "FAIL" if problems else "ok"
    print(f"{verdict}: matrices checked: {summary}; largest error {worst:.3f} of its bound")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
