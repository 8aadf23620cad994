#!/usr/bin/python3
"""Checks ./run's direct logit attribution against numpy, on its own.

    attribution.py PAGE CHECKPOINT TOKENIZER --prompt TEXT [--explain OUT] [--tolerance 1e-4]

PAGE is what `./run CHECKPOINT -z TOKENIZER -t 0 -i TEXT -m explain --attention-html PAGE` wrote
(OUT, if given, what it printed). This script runs reference.py's forward pass greedily from the
same prompt (float32 activations, as the engine keeps them), records at each step what every
block added to the stream, and splits the chosen token's logit in float64, from the published
architectures:

    logit = w_cls[token] . norm(x),   x = embedding [+ position] + sum over layers of
            (sum over heads h of wo[:, h] @ head_h [+ wo's bias]) + ffn output

  - RMSNorm (Llama, Qwen): norm(x) = g * x / rms(x). With rms(x) held at its value, each part p
    adds u . p, u = w_cls[token] * g / rms(x).
  - LayerNorm (GPT-2): norm(x) = g * (x - mean(x)) / std(x) + b. Each part adds
    (u - mean(u)) . p, u = w_cls[token] * g / std(x), and the bias adds w_cls[token] . b.

It checks that these numpy parts sum to numpy's own logit (1e-6, relative to max(1, |logit|)),
then compares, step by step, the page's parts (every one: embedding, [position], L H heads,
[attn bias], ffn per layer, [norm bias]; the names must match) and the shares -m explain printed:
|./run - numpy| <= TOLERANCE * max(1, largest |part| of the step), plus the printed rounding
(5e-5 for -m explain's 4 decimals; the page keeps 5 significant digits). Stops comparing at the
first step where the greedy choices differ (a near tie).

Prints "ok - ..." / "not ok - ..." lines; exits 1 if any check failed, 2 on bad usage.
"""
import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402


def local(tag):
    return tag.rsplit("}", 1)[-1]


def read_page(path):
    """The parts' names, and per step position: (chosen, logit, values)."""
    root = ET.parse(path).getroot()
    data = next((e for e in root.iter() if e.get("id") == "attribution-data"), None)
    if data is None:
        raise ValueError(f"{path}: no attribution-data")
    names = data.get("data-names").split(",")
    steps = {}
    for s in data:
        if local(s.tag) == "script" and "parts" in s.get("class", "").split():
            values = [float(v) for v in (s.text or "").split()]
            steps[int(s.get("data-pos"))] = (int(s.get("data-chosen")), float(s.get("data-logit")), values)
    return names, steps


def read_explain(path):
    """-m explain's shares lines: per step position, {name: value}."""
    shares, pos = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"step (\d+): ", line)
            if m:
                pos = int(m.group(1))
            elif line.startswith("  shares: ") and pos is not None:
                entries = (entry.rsplit(" ", 1) for entry in line[len("  shares: "):].strip().split(" | "))
                shares[pos] = {name: float(value) for name, value in entries}
    return shares


def split_logit(c, w, record, token, pos, chosen):
    """Names and float64 shares of chosen's logit at pos, from the recorded vectors."""
    gpt2 = c.arch == "gpt2"
    x = record["residual"].astype(np.float64)
    row = np.asarray(w["wcls"][chosen], dtype=np.float64)
    if gpt2:
        centred = x - x.mean()
        u = row * w["lnfw"] / np.sqrt(np.mean(centred * centred) + c.norm_eps)
        u = u - u.mean()
    else:
        u = row * w["rms_final"] / np.sqrt(np.mean(x * x) + c.norm_eps)
    names, shares = ["embedding"], [u @ (w["wte"] if gpt2 else w["token_embedding"])[token]]
    if gpt2:
        names.append("position")
        shares.append(u @ w["wpe"][pos])
    hs = c.head_size
    for l in range(c.n_layers):
        wo = np.asarray(w["attprojw" if gpt2 else "wo"][l], dtype=np.float64)
        heads = record["heads"][l].astype(np.float64)
        for h in range(c.n_heads):
            names.append(f"L{l} H{h}")
            shares.append(u @ (wo[:, h * hs:(h + 1) * hs] @ heads[h * hs:(h + 1) * hs]))
        if gpt2:
            names.append(f"L{l} attn bias")
            shares.append(u @ w["attprojb"][l])
        names.append(f"L{l} ffn")
        shares.append(u @ record["ffn"][l].astype(np.float64))
    if gpt2:
        names.append("norm bias")
        shares.append(row @ w["lnfb"])
    return names, np.array(shares)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("page")
    ap.add_argument("checkpoint")
    ap.add_argument("tokenizer")
    ap.add_argument("--prompt", default="")
    ap.add_argument("--explain", metavar="OUT", help="-m explain's output, to compare its shares lines too")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    try:
        c, w = ref.load_checkpoint(args.checkpoint)
        tok = ref.load_tokenizer(args.tokenizer, c.vocab_size)
        names, page = read_page(args.page)
        printed = read_explain(args.explain) if args.explain else {}
    except (OSError, ValueError, ET.ParseError) as e:
        print(f"attribution.py: {e}", file=sys.stderr)
        return 2

    failed = []
    worst_page = worst_printed = worst_sum = 0.0
    compared = 0
    prompt = ref.encode(tok, args.prompt)
    cache = ref.new_cache(c)
    token = prompt[0]
    for pos in range(min(c.seq_len, max(page, default=-1) + 1)):
        record = {"heads": {}, "ffn": {}}

        def keep(what, layer, vector):
            if what == "residual":
                record["residual"] = vector
            else:
                record[what][layer] = vector

        logits = ref.forward(c, w, cache, token, pos, keep)
        next_token = prompt[pos + 1] if pos + 1 < len(prompt) else int(np.argmax(logits))
        if pos in page:
            chosen, logit, values = page[pos]
            if chosen != next_token:
                print(f"# step {pos}: ./run chose {chosen}, numpy {next_token}: compared {compared} steps")
                break
            want_names, shares = split_logit(c, w, record, token, pos, chosen)
            if want_names != names:
                failed.append(f"the page's parts are {names[:6]}..., numpy's {want_names[:6]}...")
                break
            real = float(logits[chosen])
            worst_sum = max(worst_sum, abs(shares.sum() - real) / max(1.0, abs(real)))
            scale = max(1.0, float(np.max(np.abs(shares))))
            page_error = np.max(np.abs(np.array(values) - shares) / scale)
            worst_page = max(worst_page, page_error)
            if page_error > args.tolerance:
                i = int(np.argmax(np.abs(np.array(values) - shares)))
                failed.append(f"step {pos}: {names[i]} is {values[i]} on the page, {shares[i]:.6f} in numpy")
            for name, value in printed.get(pos, {}).items():
                want = shares[names.index(name)] if name in names else np.nan
                error = abs(value - want) / scale
                worst_printed = max(worst_printed, error)
                if not error <= args.tolerance + 5e-5 / scale:
                    failed.append(f"step {pos}: -m explain prints {name} {value:+.4f}, numpy {want:+.6f}")
            if args.explain and pos not in printed:
                failed.append(f"step {pos}: no shares line in {args.explain}")
            compared += 1
        if next_token in tok.stop:
            break
        token = next_token

    def check(ok, name, why):
        print(f"ok - {name}" if ok else f"not ok - {name}: {why}")
        return ok

    results = [
        check(compared > 0 and worst_sum <= 1e-6, f"numpy's parts sum to numpy's logit ({compared} steps, "
              f"within {worst_sum:.1e} of max(1, |logit|))", f"{worst_sum:.3g} over {compared} steps"),
        check(compared == len(page) > 0 and not failed, f"./run's parts equal numpy's within {args.tolerance:g} of the step's "
              f"largest part ({compared} steps x {len(names)} parts: page {worst_page:.1e}"
              + (f", -m explain {worst_printed:.1e})" if args.explain else ")"),
              "; ".join(failed[:3]) or f"{compared} of the page's {len(page)} steps compared"),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
