#!/usr/bin/python3
"""Checks a page written by ./run --attention-html.

    scripts/check_attention_html.py FILE --layers L --heads H --tokens N --steps S

The page must be well-formed XML (parsed with xml.etree, which fails on a
malformed one), hold S steps (class "step") each with its bars (class
"bar"), refer to nothing outside itself (no src or href to another file or
the network, no <script src>, no CSS @import or url() other than #fragments
and data:, no fetch or XMLHttpRequest in its script), and carry the
attention weights of every layer and head as explain.c writes them:

    <div id="attention-data" data-layers="L" data-heads="H" data-tokens="N" data-scale="1000">
      <script type="text/plain" class="weights" data-layer="l" data-head="h">TEXT</script> ...

TEXT is one character per cell of the lower triangle, row after row (query
p = 0 .. N-1, keys j = 0 .. p), holding v = round(1000 w): v < 64 as the
character 0x3F + v, else U+00A0 + v - 64; v = 1001 is NaN. This script
decodes it on its own and checks: one block per (layer, head), each exactly
N(N+1)/2 cells (the format has no cell above the diagonal, so attention is
causal by construction), every v a weight in [0, 1000], and every row
summing to 1 within its rounding (half a unit of 0.001 per cell).

With direct logit attribution (<div id="attribution-data" data-parts data-names> holding a
<script type="text/plain" class="parts" data-pos data-logit> of space-separated shares per step),
every step must have its parts, which must sum to its logit.

--cell L,H,P,J prints "cell L,H,P,J = 0.412", the weight the page holds for
query P and key J, for a test to compare with what a browser shows.

Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET

URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "data", "poster", "background", "cite",
                  "longdesc", "manifest", "ping"}
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, ok, name, why=""):
        if ok:
            print(f"ok - {name}")
        else:
            self.failed += 1
            print(f"not ok - {name}: {why}" if why else f"not ok - {name}")
        return ok


def local_name(name):
    """'{http://www.w3.org/2000/svg}rect' -> 'rect'."""
    return name.rsplit("}", 1)[-1]


def classes(element):
    return element.get("class", "").split()


def is_external(url):
    """A reference that leaves the page: anything but a #fragment or a data: URI."""
    url = url.strip()
    return bool(url) and not url.startswith("#") and not url.lower().startswith("data:")


def external_references(root):
    """Descriptions of every reference to something outside the page."""
    found = []
    for element in root.iter():
        tag = local_name(element.tag)
        for name, value in element.attrib.items():
            attribute = local_name(name)
            if attribute in URL_ATTRIBUTES:
                urls = [part.split()[0] for part in value.split(",") if part.strip()] if attribute == "srcset" else [value]
                found += [f"<{tag} {attribute}=\"{url}\">" for url in urls if is_external(url)]
            if attribute == "style":
                found += css_problems(value, f"<{tag} style>")
        if tag == "script" and element.get("src") is not None:
            found.append(f"<script src=\"{element.get('src')}\">")
        if tag == "style":
            found += css_problems("".join(element.itertext()), "<style>")
    return found


def css_problems(css, where):
    problems = []
    if re.search(r"@import", css, re.IGNORECASE):
        problems.append(f"@import in {where}")
    for match in CSS_URL.finditer(css):
        if is_external(match.group(2)):
            problems.append(f"url({match.group(2)}) in {where}")
    return problems


WEIGHT_SCALE = 1000
WEIGHT_NAN = WEIGHT_SCALE + 1


def decode_weights(text):
    """The integer weights v of one head's text, or raises ValueError."""
    values = []
    for ch in text:
        code = ord(ch)
        if 0x3F <= code < 0x3F + 64:
            values.append(code - 0x3F)
        elif 0xA0 <= code <= 0xA0 + WEIGHT_NAN - 64:
            values.append(code - 0xA0 + 64)
        else:
            raise ValueError(f"character U+{code:04X} is not a weight")
    return values


def check_head(values, n):
    """Problems with one head's decoded weights, as a list of strings."""
    if len(values) != n * (n + 1) // 2:
        return [f"{len(values)} cells, want {n * (n + 1) // 2} (the lower triangle of {n} tokens)"]
    problems = []
    start = 0
    for p in range(n):
        row = values[start:start + p + 1]
        start += p + 1
        if any(v > WEIGHT_SCALE for v in row):
            problems.append(f"row {p} holds a NaN or a weight above 1")
            break
        total = sum(row) / WEIGHT_SCALE
        # Each cell is rounded to the nearest 0.001: the sum is off by at most half that per cell.
        if abs(total - 1) > 0.0005 * (p + 1) + 1e-9:
            problems.append(f"row {p} sums to {total:.4f}, not 1")
            break
    return problems


def cell_value(values, p, j):
    v = values[p * (p + 1) // 2 + j]
    return "NaN" if v == WEIGHT_NAN else f"{v / WEIGHT_SCALE:.3f}"


SCRIPT_NETWORK = re.compile(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|importScripts|sendBeacon)\b|\bimport\s*\(")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--layers", type=int, required=True)
    parser.add_argument("--heads", type=int, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--cell", metavar="L,H,P,J", help="print the weight the page holds for this cell")
    args = parser.parse_args()
    report = Report()
    n, want_cells = args.tokens, args.tokens * (args.tokens + 1) // 2

    try:
        root = ET.parse(args.file).getroot()
    except (ET.ParseError, OSError) as e:
        report.check(False, f"{args.file} parses as XML", str(e))
        return 1
    report.check(True, f"{args.file} parses as XML")
    report.check(local_name(root.tag) == "html" and root.tag.startswith("{http://www.w3.org/1999/xhtml}"),
                 "the root is an XHTML <html>", f"it is <{root.tag}>")

    containers = [e for e in root.iter() if e.get("id") == "attention-data"]
    ok = report.check(len(containers) == 1, "one attention data block", f"found {len(containers)}")
    heads = {}
    if ok:
        box = containers[0]
        shape = tuple(box.get(k) for k in ("data-layers", "data-heads", "data-tokens", "data-scale"))
        report.check(shape == (str(args.layers), str(args.heads), str(n), str(WEIGHT_SCALE)),
                     f"it says {args.layers} layers, {args.heads} heads, {n} tokens, weights in 1/{WEIGHT_SCALE}",
                     f"it says layers, heads, tokens, scale = {shape}")
        duplicates = []
        for e in box.iter():
            if local_name(e.tag) == "script" and "weights" in classes(e):
                key = (e.get("data-layer"), e.get("data-head"))
                if key in heads:
                    duplicates.append(key)
                heads[key] = e.text or ""
        want_pairs = {(str(l), str(h)) for l in range(args.layers) for h in range(args.heads)}
        report.check(set(heads) == want_pairs and not duplicates,
                     f"{args.layers * args.heads} blocks of weights, one per layer and head",
                     f"found {len(heads)}, {len(duplicates)} repeated, missing "
                     + ", ".join(f"L{l} H{h}" for l, h in sorted(want_pairs - set(heads))[:5]))
        first_problem = ""
        decoded = {}
        for (l, h), text in sorted(heads.items()):
            try:
                decoded[(l, h)] = values = decode_weights(text)
                problems = check_head(values, n)
            except ValueError as e:
                problems = [str(e)]
            if problems and not first_problem:
                first_problem = f"L{l} H{h}: {problems[0]}"
        report.check(heads and not first_problem,
                     f"every head holds the {want_cells} cells of the causal triangle, each row summing to 1",
                     first_problem or "no heads")
        if args.cell:
            l, h, p, j = (int(x) for x in args.cell.split(","))
            values = decoded.get((str(l), str(h)))
            if values is None or not 0 <= j <= p < n:
                report.check(False, f"cell {args.cell} exists")
            else:
                print(f"cell {args.cell} = {cell_value(values, p, j)}")

    scripts = "".join("".join(e.itertext()) for e in root.iter()
                      if local_name(e.tag) == "script" and e.get("type") != "text/plain")
    report.check(not SCRIPT_NETWORK.search(scripts), "the page's script asks the network for nothing",
                 SCRIPT_NETWORK.search(scripts).group(0) if SCRIPT_NETWORK.search(scripts) else "")

    steps = [e for e in root.iter() if "step" in classes(e)]
    bars = [sum(1 for b in step.iter() if "bar" in classes(b)) for step in steps]
    report.check(len(steps) == args.steps and all(bars), f"{args.steps} steps, each with its probability bars",
                 f"found {len(steps)} steps" + (f", {bars.count(0)} without bars" if 0 in bars else ""))

    check_attribution(report, root, steps)

    external = external_references(root)
    report.check(not external, "no reference outside the page (network, files, scripts)", "; ".join(external[:5]))
    return 1 if report.failed else 0


def check_attribution(report, root, steps):
    """When the page has direct logit attribution: one block of parts per step, each with as many
    values as the page names parts, which sum to the step's logit within 1e-4 of max(1, |logit|)
    and the rounding to 5 significant digits (half a unit of the 5th digit per part)."""
    data = [e for e in root.iter() if e.get("id") == "attribution-data"]
    if not data:
        return
    n_parts = int(data[0].get("data-parts"))
    names = data[0].get("data-names").split(",")
    blocks = {e.get("data-pos"): e for e in data[0] if "parts" in classes(e)}
    problems = [] if len(names) == n_parts else [f"{len(names)} names for {n_parts} parts"]
    for step in steps:
        block = blocks.get(step.get("data-pos"))
        if block is None:
            problems.append(f"no parts for step at {step.get('data-pos')}")
            continue
        try:
            values = [float(v) for v in (block.text or "").split()]
            logit = float(block.get("data-logit"))
        except (TypeError, ValueError) as e:
            problems.append(f"at {step.get('data-pos')}: {e}")
            continue
        rounding = sum(5e-5 * abs(v) for v in values)
        if len(values) != n_parts:
            problems.append(f"{len(values)} parts at {step.get('data-pos')}")
        elif not abs(sum(values) - logit) <= 1e-4 * max(1.0, abs(logit)) + rounding:
            problems.append(f"parts sum to {sum(values):.6g}, the logit is {logit:.7g} at {step.get('data-pos')}")
    report.check(not problems, f"every step's {n_parts} parts sum to its chosen logit", "; ".join(problems[:3]))


if __name__ == "__main__":
    sys.exit(main())
