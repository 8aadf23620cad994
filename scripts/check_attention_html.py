#!/usr/bin/python3
"""Checks a page written by ./run --attention-html.

    scripts/check_attention_html.py FILE --layers L --heads H --tokens N --steps S

The page must be well-formed XML (parsed with xml.etree, which fails on a
malformed one), hold exactly L*H heatmaps (<svg class="heatmap"> with
data-layer and data-head, one per pair), each with N*(N+1)/2 cells (<rect
class="cell">) whose <title> ends in a weight in [0, 1], S steps (class
"step") each with its bars (class "bar"), and refer to nothing outside
itself (no src or href to another file or the network, no <script src>, no
CSS @import or url() other than #fragments and data:).

When the cell titles read "L2 H5: ' Lily'@7 -> ' girl'@4 = 0.4123", as
explain.c writes them, it also checks that each heatmap's cells cover its
lower triangle exactly once, name their own layer and head, and that every
row sums to 1 (within the rounding of the printed weights).

Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"
WEIGHT_AT_END = re.compile(r"(" + NUMBER + r")\s*$", re.IGNORECASE)
CELL_TITLE = re.compile(r"^L(\d+) H(\d+): .*@(\d+) -> .*@(\d+) = (" + NUMBER + r")$", re.IGNORECASE | re.DOTALL)
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


def title_text(cell):
    for child in cell:
        if local_name(child.tag) == "title":
            return "".join(child.itertext()).strip()
    return None


def check_heatmap(svg, n):
    """Checks one heatmap's cells. Returns the cell count, the problems with
    titles and weights, the problems with positions, and whether every title
    had the structured form (only then are positions checked)."""
    layer, head = svg.get("data-layer"), svg.get("data-head")
    cells = [e for e in svg.iter() if local_name(e.tag) == "rect" and "cell" in classes(e)]
    problems, placement = [], []
    structured = True  # every title in the "L2 H5: ...@7 -> ...@4 = 0.4123" form
    seen = set()
    row_sums = [0.0] * n
    for cell in cells:
        title = title_text(cell)
        if title is None:
            problems.append("a cell without a <title>")
            continue
        match = WEIGHT_AT_END.search(title)
        try:
            w = float(match.group(1)) if match else None
        except ValueError:
            w = None
        if w is None or not 0 <= w <= 1:
            problems.append(f"title {title!r} does not end in a weight in [0, 1]")
            continue
        parts = CELL_TITLE.match(title)
        if not parts:
            structured = False
            continue
        l, h, p, j = (int(parts.group(i)) for i in range(1, 5))
        if (str(l), str(h)) != (layer, head):
            placement.append(f"title {title!r} in the heatmap of L{layer} H{head}")
        elif not 0 <= j <= p < n:
            placement.append(f"title {title!r}: not a cell of the lower triangle of {n} tokens")
        elif (p, j) in seen:
            placement.append(f"title {title!r}: cell ({p}, {j}) drawn twice")
        else:
            seen.add((p, j))
            row_sums[p] += w
    if structured and not problems and not placement:
        if len(seen) != n * (n + 1) // 2:
            placement.append(f"cells cover {len(seen)} of the {n * (n + 1) // 2} positions of the triangle")
        tolerance = 1e-3 + 5e-5 * n  # each printed weight is rounded to 4 decimals
        for p, total in enumerate(row_sums):
            if abs(total - 1) > tolerance:
                placement.append(f"row {p} sums to {total:.5f}, not 1")
                break
    return len(cells), problems, placement, structured


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--layers", type=int, required=True)
    parser.add_argument("--heads", type=int, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
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

    heatmaps = [e for e in root.iter() if local_name(e.tag) == "svg" and "heatmap" in classes(e)]
    pairs = [(e.get("data-layer"), e.get("data-head")) for e in heatmaps]
    want_pairs = sorted((str(l), str(h)) for l in range(args.layers) for h in range(args.heads))
    report.check(sorted(pairs, key=str) == sorted(want_pairs, key=str),
                 f"{args.layers * args.heads} heatmaps, one per layer and head",
                 f"found {len(heatmaps)}: " + (", ".join(f"L{l} H{h}" for l, h in pairs[:8]) or "none")
                 + (" ..." if len(pairs) > 8 else ""))

    counts_ok, titles_ok, structure_ok, structured_all = True, True, True, True
    first_count_problem = first_title_problem = first_structure_problem = ""
    for svg in heatmaps:
        count, problems, placement, structured = check_heatmap(svg, n)
        structured_all &= structured
        name = f"L{svg.get('data-layer')} H{svg.get('data-head')}"
        if count != want_cells and counts_ok:
            counts_ok, first_count_problem = False, f"{name} has {count} cells"
        if problems and titles_ok:
            titles_ok, first_title_problem = False, f"{name}: {problems[0]}"
        if placement and structure_ok:
            structure_ok, first_structure_problem = False, f"{name}: {placement[0]}"
    report.check(counts_ok, f"each heatmap has {want_cells} cells (the lower triangle of {n} tokens)",
                 first_count_problem)
    report.check(titles_ok, "each cell has a <title> ending in a weight in [0, 1]", first_title_problem)
    if structured_all and heatmaps:
        report.check(structure_ok, "cells cover each triangle once, in their own heatmap, rows summing to 1",
                     first_structure_problem)

    steps = [e for e in root.iter() if "step" in classes(e)]
    bars = [sum(1 for b in step.iter() if "bar" in classes(b)) for step in steps]
    report.check(len(steps) == args.steps and all(bars), f"{args.steps} steps, each with its probability bars",
                 f"found {len(steps)} steps" + (f", {bars.count(0)} without bars" if 0 in bars else ""))

    external = external_references(root)
    report.check(not external, "no reference outside the page (network, files, scripts)", "; ".join(external[:5]))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
