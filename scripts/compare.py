#!/usr/bin/python3
"""Compare the C engine's logits and greedy output with reference.py's.

    compare.py CHECKPOINT TOKENIZER --prompt TEXT --steps N [--engine ./run] [--tolerance 1e-5] [--quiet]
               [--reference-checkpoint FP32.bin] [--overall-tolerance T] [--greedy-tokens N]

1. Runs ENGINE CHECKPOINT -z TOKENIZER -t 0 -n N -i PROMPT --logits TMPFILE and reads the tokens
   it fed and the logits it computed at every position.
2. Computes reference logits teacher-forced on exactly those tokens.
3. Prints per position: max |logit difference|, relative L2 error ||engine - ref|| / ||ref||,
   and whether the argmax agrees. Checks that the engine tokenized the prompt as the reference
   does, that after the prompt it fed the argmax of its own logits, and that its greedy sequence
   equals the reference's own greedy generation.
4. Exit 0 if every relative L2 error is <= tolerance and the greedy sequences are identical,
   1 on any failure (including an unreadable logits file), 2 on usage errors or if the engine
   cannot be run or exits non-zero. The last line is a one-line verdict.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402


def usage_error(message):
    sys.stderr.flush()
    print(f"compare: ERROR {message}")
    sys.exit(2)


def run_engine(engine, checkpoint, tokenizer, prompt, steps, logits_path):
    cmd = [engine, checkpoint, "-z", tokenizer, "-t", "0", "-n", str(steps), "-i", prompt,
           "--logits", logits_path]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        usage_error(f"cannot run engine: {e}")
    if result.returncode != 0:
        print(f"compare: command: {' '.join(cmd)}", file=sys.stderr)
        print(f"compare: stdout:\n{result.stdout.decode(errors='replace')}", file=sys.stderr)
        print(f"compare: stderr:\n{result.stderr.decode(errors='replace')}", file=sys.stderr)
        usage_error(f"engine exited with status {result.returncode}")
    return result


def piece(tok, t):
    return repr(tok.pieces[t].decode("utf-8", "replace")) if 0 <= t < len(tok.pieces) else "?"


def main():
    ap = argparse.ArgumentParser(description="Compare the C engine against reference.py.")
    ap.add_argument("checkpoint")
    ap.add_argument("tokenizer")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--engine", default="./run")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="max relative L2 error per position")
    ap.add_argument("--quiet", action="store_true", help="no per-position table")
    ap.add_argument("--reference-checkpoint", metavar="PATH",
                    help="the model the reference runs (default: CHECKPOINT); e.g. the float32 original "
                         "of a quantized CHECKPOINT")
    ap.add_argument("--overall-tolerance", type=float, metavar="T",
                    help="also require the relative L2 error over all positions together <= T")
    ap.add_argument("--greedy-tokens", type=int, metavar="N",
                    help="require identical greedy text for the first N generated tokens only "
                         "(default: all)")
    args = ap.parse_args()

    try:
        c, w = ref.load_checkpoint(args.reference_checkpoint or args.checkpoint)
        tok = ref.load_tokenizer(args.tokenizer, c.vocab_size)
    except (OSError, ValueError) as e:
        usage_error(str(e))
    steps = ref.cap_steps(c, args.steps)
    prompt_tokens = ref.encode(tok, args.prompt)

    with tempfile.TemporaryDirectory() as tmp:
        logits_path = os.path.join(tmp, "engine.logits")
        result = run_engine(args.engine, args.checkpoint, args.tokenizer, args.prompt, args.steps,
                            logits_path)
        try:
            positions, tokens, engine_logits = ref.read_logits(logits_path)
        except (OSError, ValueError) as e:
            print(f"compare: engine output:\n{result.stdout.decode(errors='replace')}")
            print(f"compare: FAIL engine logits file unreadable: {e}")
            return 1

    # The engine's logits file must be self-consistent before anything can be compared.
    n = len(tokens)
    problems = []
    if engine_logits.shape[1] != c.vocab_size:
        problems.append(f"engine wrote vocab_size {engine_logits.shape[1]}, model has {c.vocab_size}")
    if positions != list(range(n)):
        problems.append(f"engine positions are not 0..{n - 1}: {positions[:10]}...")
    if not 1 <= n <= steps:
        problems.append(f"engine wrote {n} positions, expected 1..{steps}")
    bad = [t for t in tokens if not 0 <= t < c.vocab_size]
    if bad:
        problems.append(f"engine fed out-of-range token ids {bad[:10]}")
    if problems:
        for p in problems:
            print(f"compare: {p}")
        print(f"compare: FAIL engine logits file inconsistent ({problems[0]})")
        return 1

    failures = []
    k = min(len(prompt_tokens), n)
    if tokens[:k] != prompt_tokens[:k]:
        failures.append("prompt tokenization differs")
        print(f"compare: prompt tokenization differs:\n  engine    {tokens[:k]}\n  reference {prompt_tokens[:k]}")

    # Teacher-forced reference logits on the engine's tokens.
    ref_logits = ref.forward_logits(c, w, tokens)
    diff = engine_logits.astype(np.float64) - ref_logits.astype(np.float64)
    max_abs = np.abs(diff).max(axis=1)
    rel_l2 = np.linalg.norm(diff, axis=1) / np.linalg.norm(ref_logits.astype(np.float64), axis=1)
    rel_l2[~np.isfinite(rel_l2)] = np.inf          # NaN/inf logits from the engine fail
    engine_top = engine_logits.argmax(axis=1)       # argmax: lowest id on ties
    ref_top = ref_logits.argmax(axis=1)

    if not args.quiet:
        print(f"{'pos':>5} {'token':>6} {'piece':16} {'max|dlogit|':>12} {'rel L2':>10}  top-1")
        for pos in range(n):
            agree = "yes" if engine_top[pos] == ref_top[pos] else \
                f"NO (engine {engine_top[pos]}, ref {ref_top[pos]})"
            flag = "" if rel_l2[pos] <= args.tolerance else "  > tolerance"
            print(f"{pos:5d} {tokens[pos]:6d} {piece(tok, tokens[pos]):16} {max_abs[pos]:12.3e} "
                  f"{rel_l2[pos]:10.3e}  {agree}{flag}")

    over = np.flatnonzero(~(rel_l2 <= args.tolerance))
    if len(over):
        failures.append(f"{len(over)} positions over tolerance")
        print(f"compare: {len(over)} positions have relative L2 error > {args.tolerance:g}, "
              f"first at position {over[0]} ({rel_l2[over[0]]:.3e})")
    overall = float(np.linalg.norm(diff) / np.linalg.norm(ref_logits.astype(np.float64)))
    if not np.isfinite(overall):
        overall = float("inf")
    if args.overall_tolerance is not None and not overall <= args.overall_tolerance:
        failures.append("overall error over tolerance")
        print(f"compare: relative L2 error over all positions {overall:.3e} > {args.overall_tolerance:g}")
    disagree = np.flatnonzero(engine_top != ref_top)
    if len(disagree):
        print(f"compare: top-1 differs at {len(disagree)} positions, first at position {disagree[0]}")

    # After the prompt the engine must feed the argmax of its own logits.
    prompt_ok = "prompt tokenization differs" not in failures
    for pos in range(len(prompt_tokens) - 1, n - 1 if prompt_ok else 0):
        if tokens[pos + 1] != engine_top[pos]:
            failures.append("engine did not feed its own argmax")
            print(f"compare: at position {pos} the engine's argmax is {engine_top[pos]} but it fed "
                  f"{tokens[pos + 1]} next")
            break

    # The engine's greedy sequence: the tokens it fed plus the one chosen at its last position.
    last = prompt_tokens[n] if n < len(prompt_tokens) else int(engine_top[-1])
    engine_seq = tokens + [last]
    ref_seq = ref.greedy(c, w, prompt_tokens, args.steps, tok.stop)
    if args.greedy_tokens is not None:
        keep = len(prompt_tokens) + args.greedy_tokens
        engine_seq, ref_seq = engine_seq[:keep], ref_seq[:keep]
    greedy_same = engine_seq == ref_seq
    if not greedy_same:
        failures.append("greedy sequences differ")
        i = next((i for i, (a, b) in enumerate(zip(engine_seq, ref_seq)) if a != b),
                 min(len(engine_seq), len(ref_seq)))
        print(f"compare: greedy sequences differ at index {i}: engine has {len(engine_seq)} tokens, "
              f"reference {len(ref_seq)}\n  engine    {engine_seq[i:i + 10]}\n  reference {ref_seq[i:i + 10]}")
        print(f"compare: engine output was:\n{result.stdout.decode(errors='replace')}")

    summary = (f"{n} positions, max rel L2 {rel_l2.max():.1e}, overall {overall:.1e}, "
               f"greedy {'identical' if greedy_same else 'DIFFERENT'}")
    if failures:
        print(f"compare: FAIL {summary} ({'; '.join(failures)})")
        return 1
    print(f"compare: PASS {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
