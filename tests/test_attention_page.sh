#!/bin/sh
# --attention-html at the size of a real model: the page carries the weights
# as compact text drawn on a canvas, so that 22 layers x 32 heads (TinyLlama
# 1.1B's shape) over 256 tokens stays under 32 MB and opens in headless
# Chromium in under 5 seconds (issue #20's acceptance criteria: the one
# timing ceiling in the tests, generous, measured by the page itself from the
# moment it was asked for). The weights a browser shows are compared with
# those scripts/check_attention_html.py decodes from the file on its own.
. tests/lib.sh

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

# browser_read FILE URL_HASH: loads the page in headless Chromium and leaves
# its document, after the page's script ran, in $SCRATCH/dom.
browser_read() {
    profile=$(mktemp -d)
    timeout 180 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --dump-dom "file://$1$2" >"$SCRATCH/dom" 2>/dev/null
    rm -rf "$profile"
}

# The shape of TinyLlama 1.1B (22 layers, 32 query heads sharing 4 key/value
# heads) with a small width: the page's size depends on layers x heads x
# tokens^2, not on the width. A long prompt, so that greedy decoding fills
# all 256 positions whatever it picks.
write_model tiny_shape v1 --dim 64 --hidden-dim 128 --layers 22 --heads 32 --kv-heads 4 --vocab 512 --seq-len 320
page=$SCRATCH/tiny_shape.html
run_captured $RUN "$SCRATCH/tiny_shape.bin" -z "$SCRATCH/tiny_shape.tok" -t 0 -n 256 -i "ab" --attention-html "$page"
size=$(wc -c <"$page" 2>/dev/null || echo 0)
if [ "$status" -eq 0 ] && [ "$size" -gt 1000000 ] && [ "$size" -le 32000000 ]; then
    ok "22 layers x 32 heads over 256 tokens: a $size-byte page (at most 32 MB)"
else
    not_ok "22 x 32 x 256 page size" "status $status, $size bytes; $(head -c 200 "$SCRATCH/err")"
fi
generated=$(sed -n 's/.*generated: \([0-9]*\) token.*/\1/p' "$SCRATCH/err")
if "$PYTHON" scripts/check_attention_html.py "$page" --layers 22 --heads 32 --tokens 256 --steps "$generated" \
    --cell 21,31,4,1 >"$SCRATCH/check"; then
    ok "the 22 x 32 page holds every layer, head and step, causal rows summing to 1"
else
    not_ok "the 22 x 32 page's checks" "$(grep -v '^ok' "$SCRATCH/check" | head -3)"
fi
want=$(sed -n 's/^cell 21,31,4,1 = //p' "$SCRATCH/check")

if [ -n "$CHROMIUM" ]; then
    browser_read "$page" "#21,31,4,1"
    ready=$(sed -n 's/.*data-ready-ms="\([0-9]*\)".*/\1/p' "$SCRATCH/dom" | head -1)
    shown=$(sed -n 's/.*<output id="readout">L21 H31: .*@4 -&gt; .*@1 = \([0-9.]*\)<.*/\1/p' "$SCRATCH/dom")
    if [ -n "$ready" ] && [ "$ready" -lt 5000 ]; then
        ok "headless Chromium opens the 22 x 32 x 256 page in $ready ms (under 5000)"
    else
        not_ok "the 22 x 32 page opens in under 5 s" "ready after '${ready:-never}' ms"
    fi
    if [ -n "$want" ] && [ "$shown" = "$want" ]; then
        ok "the page shows L21 H31 query 4 key 1 as $shown, the weight the file holds"
    else
        not_ok "the page's readout" "shown '$shown', the file holds '$want'"
    fi
    profile=$(mktemp -d)
    timeout 180 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --window-size=1200,1400 --screenshot="$SCRATCH/page.png" "file://$page#3,5,200,0" >/dev/null 2>&1
    rm -rf "$profile"
    png=$(wc -c <"$SCRATCH/page.png" 2>/dev/null || echo 0)
    if [ "$(head -c 4 "$SCRATCH/page.png" 2>/dev/null | od -An -c | tr -d ' ')" = "211PNG" ] && [ "$png" -gt 20000 ]; then
        ok "headless Chromium draws the 22 x 32 page ($png-byte screenshot)"
    else
        not_ok "22 x 32 screenshot" "$png bytes"
    fi
elif [ "${CI:-}" = "true" ]; then
    not_ok "Chromium" "chromium is not installed"
else
    echo "# chromium not found: skipping the browser checks of the large page"
fi

# stories260K over 100 tokens: under 1 MB; the text panel counts the tokens
# chosen as the run does, and shows a newline as an arrow, not as \x0a.
M=$MODELS_DIR/stories260K.bin
T=$MODELS_DIR/tok512.bin
if [ -f "$M" ] && [ -f "$T" ]; then
    page=$SCRATCH/stories.html
    run_captured $RUN "$M" -z "$T" -t 0 -n 100 --attention-html "$page"
    size=$(wc -c <"$page" 2>/dev/null || echo 0)
    generated=$(sed -n 's/.*generated: \([0-9]*\) token.*/\1/p' "$SCRATCH/err")
    if [ "$status" -eq 0 ] && [ "$size" -gt 10000 ] && [ "$size" -le 1000000 ]; then
        ok "stories260K over 100 tokens: a $size-byte page (at most 1 MB)"
    else
        not_ok "stories260K page size" "status $status, $size bytes"
    fi
    if "$PYTHON" scripts/check_attention_html.py "$page" --layers 5 --heads 8 --tokens 100 --steps "$generated" \
        >"$SCRATCH/check"; then
        ok "the stories260K page holds every layer, head and step, causal rows summing to 1"
    else
        not_ok "the stories260K page's checks" "$(grep -v '^ok' "$SCRATCH/check" | head -3)"
    fi
    if grep -q "[0-9]* fed as the prompt, $generated chosen by the model" "$page"; then
        ok "the page says $generated tokens were chosen, as the run's 'generated: $generated tokens'"
    else
        not_ok "chosen count" "$(grep -o '[0-9]* chosen by the model' "$page"), run: generated $generated"
    fi
    # The greedy story has a newline (the byte token <0x0A>) after "too high.": an arrow, and no escape.
    sed -n '/<section id="text">/,/<\/section>/p' "$page" >"$SCRATCH/text_panel"
    if grep -q '>\.</span><span [^>]*>↵</span><br/>' "$SCRATCH/text_panel" && ! grep -q '\\x0a' "$SCRATCH/text_panel" &&
        ! grep -q '&lt;0x0A&gt;' "$SCRATCH/text_panel"; then
        ok "a newline token shows as an arrow and a line break, not as \\x0a"
    else
        not_ok "newline display" "$(grep -o '.\{0,80\}<br/>' "$page" | head -1)"
    fi
    # The page's logit-lens grid: a row per layer, a cell per step; greedy
    # decoding chose, at each step, the last layer's lens token.
    if "$PYTHON" - "$page" 5 "$generated" >"$SCRATCH/lens_check" 2>&1 <<'PY'
import re, sys, xml.etree.ElementTree as ET
page, layers, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
root = ET.parse(page).getroot()
tag = lambda e: e.tag.rsplit("}", 1)[-1]
rows = [e for e in root.iter() if tag(e) == "tr" and e.get("data-layer") is not None]
cells = [[td for td in row if tag(td) == "td"] for row in rows]
assert len(rows) == layers, f"{len(rows)} lens rows"
assert all(len(c) == steps for c in cells), f"cells per row {[len(c) for c in cells]}"
chosen = [int(step.get("data-chosen")) for step in root.iter() if "step" in step.get("class", "").split()]
last = [int(td.get("data-token")) for td in cells[-1]]
assert last == chosen, f"last layer {last[:8]} vs chosen {chosen[:8]}"
assert all(0 <= float(td.get("data-p")) <= 1 for c in cells for td in c)
PY
    then
        ok "the page's logit lens: $generated steps x 5 layers, the last layer's token the one greedy chose"
    else
        not_ok "the page's logit lens" "$(tail -1 "$SCRATCH/lens_check")"
    fi
else
    echo "# $M not found: skipping the stories260K page"
fi

# The logit lens: -m explain prints, per step, each layer's top token had the
# model stopped there. After the last layer it must be the model's own
# prediction: the same token and probability as the step's best candidate
# (computed from the real logits), on Llama and on GPT-2.
lens_matches_logits() {  # FILE: every step's last lens entry equals its first candidate
    awk -v layers="$2" '
        /^  next: / { sub(/^  next: /, ""); split($0, c, " \\| "); best = c[1] }
        /^  lens: / { steps++; n = split($0, parts, " \\| "); last = parts[n]; sub(/^ *(lens: )?L[0-9]+ /, "", last)
                      if (n != layers || last != best) { bad++; if (!why) why = "lens \"" last "\" vs next \"" best "\"" } }
        END { if (steps == 0 || bad) { print (steps ? why : "no lens lines"); exit 1 } }' "$1"
}
write_model lens v1 --dim 32 --hidden-dim 64 --layers 3 --heads 4 --kv-heads 2 --vocab 300 --seq-len 64
run_captured $RUN "$SCRATCH/lens.bin" -z "$SCRATCH/lens.tok" -t 0 -n 24 -i "ab ab" -m explain
if [ "$status" -eq 0 ] && why=$(lens_matches_logits "$SCRATCH/out" 3); then
    ok "Llama: the last layer's logit lens is the model's own prediction at every step ($(grep -c '^  lens: ' "$SCRATCH/out") steps)"
else
    not_ok "Llama logit lens" "status $status: ${why:-}"
fi
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2_lens.gguf" --dim 32 --heads 4 --layers 2 --seq-len 48 >/dev/null
run_captured $RUN "$SCRATCH/gpt2_lens.gguf" -t 0 -n 20 -i "the cat" -m explain
if [ "$status" -eq 0 ] && why=$(lens_matches_logits "$SCRATCH/out" 2); then
    ok "GPT-2: the last layer's logit lens is the model's own prediction at every step ($(grep -c '^  lens: ' "$SCRATCH/out") steps)"
else
    not_ok "GPT-2 logit lens" "status $status: ${why:-}"
fi
for arch in qwen2 qwen3; do
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/${arch}_lens.gguf" --arch $arch --head-size 16 >/dev/null 2>&1
    run_captured $RUN "$SCRATCH/${arch}_lens.gguf" -t 0 -n 12 -i "" -m explain
    layers=$(grep -m1 '^  lens: ' "$SCRATCH/out" | awk -F' \\| ' '{print NF}')
    if [ "$status" -eq 0 ] && [ "${layers:-0}" -ge 1 ] && why=$(lens_matches_logits "$SCRATCH/out" "$layers"); then
        ok "$arch: the last layer's logit lens is the model's own prediction at every step"
    else
        not_ok "$arch logit lens" "status $status: ${why:-no lens lines}"
    fi
done
