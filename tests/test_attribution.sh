#!/bin/sh
# Direct logit attribution (-m explain's logit/shares lines, the page's bars)
# on every architecture: Llama (stories260K, required when CI=true), GPT-2,
# Qwen2 and Qwen3 (random GGUF files written here).
#   1. The parts of each chosen token's logit sum to the real logit within
#      1e-4 of max(1, |logit|) (tests/explain_tests --model: the inspector on
#      the real forward pass, a prompt batch then decoding).
#   2. Every part of every step, on the page and as -m explain prints it,
#      equals numpy's split of reference.py's forward pass within 1e-4 of the
#      step's largest part (scripts/attribution.py says how it computes them).
#   3. A browser shows, for the query in the URL, the share the file holds.
# Usage: tests/test_attribution.sh HAVE_MODELS [EXPLAIN_TESTS]
. tests/lib.sh
HAVE_MODELS=${1:-no}
EXPLAIN_TESTS=${2:-tests/explain_tests}

# attribution_checks NAME CHECKPOINT TOKENIZER PROMPT STEPS
attribution_checks() {
    name=$1 model=$2 tokenizer=$3 prompt=$4 steps=$5
    $EXPLAIN_TESTS --model "$model" | grep -v '^#'
    run_captured $RUN "$model" -z "$tokenizer" -t 0 -n "$steps" -i "$prompt" -m explain \
        --attention-html "$SCRATCH/$name.html"
    n_steps=$(grep -c '^step ' "$SCRATCH/out")
    n_logit=$(grep -c '^  logit: [-0-9.]* = embedding ' "$SCRATCH/out")
    n_shares=$(grep -c '^  shares: ' "$SCRATCH/out")
    if [ "$status" -eq 0 ] && [ "$n_steps" -gt 0 ] && [ "$n_logit" -eq "$n_steps" ] && [ "$n_shares" -eq "$n_steps" ]; then
        ok "$name: -m explain prints the chosen logit's parts at each of its $n_steps steps"
    else
        not_ok "$name -m explain's parts" "status $status, $n_steps steps, $n_logit logit lines, $n_shares shares lines"
    fi
    cp "$SCRATCH/out" "$SCRATCH/$name.out"
    "$PYTHON" scripts/attribution.py "$SCRATCH/$name.html" "$model" "$tokenizer" --prompt "$prompt" \
        --explain "$SCRATCH/$name.out" | sed "s/^\(\(not \)\{0,1\}ok - \)/\1$name: /"
}

M=$MODELS_DIR/stories260K.bin
T=$MODELS_DIR/tok512.bin
if [ "$HAVE_MODELS" = yes ]; then
    attribution_checks stories260K "$M" "$T" "Once upon a time" 40
else
    echo "# $M not found: skipping stories260K"
fi
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2.gguf" --dim 32 --heads 4 --layers 2 --seq-len 48 >/dev/null
attribution_checks gpt2 "$SCRATCH/gpt2.gguf" "$SCRATCH/gpt2.gguf" "the cat" 20
for arch in qwen2 "qwen3 --head-size 16"; do
    # shellcheck disable=SC2086  # options are words
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/${arch%% *}.gguf" --arch $arch --dim 32 --hidden-dim 64 --heads 4 \
        --kv-heads 2 --layers 2 --vocab 300 --seq-len 48 >/dev/null
    attribution_checks "${arch%% *}" "$SCRATCH/${arch%% *}.gguf" "$SCRATCH/${arch%% *}.gguf" "the cat" 20
done

# The page's bars: for query 4 ("Once upon a time" -> ","), the page's script
# reads out the step's largest part, which must be what the file holds.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
page=$SCRATCH/stories260K.html
if [ -n "$CHROMIUM" ] && [ -f "$page" ]; then
    want=$("$PYTHON" - "$page" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
data = next(e for e in root.iter() if e.get("id") == "attribution-data")
names = data.get("data-names").split(",")
step = next(e for e in data if e.get("data-pos") == "4")
values = [float(v) for v in step.text.split()]
i = max(range(len(values)), key=lambda i: abs(values[i]))
print(f"{names[i]}: {values[i]:+.4f} of {float(step.get('data-logit')):.4f}")
PY
)
    profile=$(mktemp -d)
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --dump-dom "file://$page#0,0,4,0" >"$SCRATCH/dom" 2>/dev/null
    rm -rf "$profile"
    shown=$(sed -n 's/.*<output id="parts-readout">\([^<]*\)<.*/\1/p' "$SCRATCH/dom")
    if [ -n "$want" ] && [ "$shown" = "$want" ]; then
        ok "the page's bars for query 4 read out its largest part as the file holds it: $shown"
    else
        not_ok "the page's attribution readout" "shown '$shown', the file holds '$want'"
    fi
elif [ "${CI:-}" = "true" ]; then
    not_ok "Chromium" "chromium is not installed"
else
    echo "# chromium not found (or no stories260K page): skipping the browser check"
fi
