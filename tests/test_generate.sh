#!/bin/sh
# Generation as users of llama2.c and llama.cpp expect it: how many tokens a run
# generates, prompts from files and stdin, stop strings. On a random checkpoint
# whose context (600) holds a long prompt and 256 tokens after it.
. tests/lib.sh

write_model long v1 --dim 16 --hidden-dim 32 --layers 1 --heads 2 --kv-heads 2 --vocab 300 --seq-len 600
M=$SCRATCH/long.bin
T=$SCRATCH/long.tok

# generated_count: the "generated: N tokens" of the last run's timing line.
generated_count() {
    sed -n 's/.*generated: \([0-9]*\) token.*/\1/p' "$SCRATCH/err"
}

# Without -n, a run generates 256 tokens after the prompt, however long the
# prompt (llama.cpp's -n); the old default (256 positions, prompt included)
# generated one token after a 301-token prompt, with a note about an -n never typed.
long_prompt=$("$PYTHON" -c "print('ab ' * 100 + 'a')")
n_prompt=$($RUN -m tokenize -z "$T" -i "$long_prompt" | wc -w)
run_captured $RUN "$M" -z "$T" -t 0 -i "$long_prompt"
if [ "$n_prompt" -le 256 ]; then
    not_ok "default -n after a long prompt" "the prompt is only $n_prompt tokens: the test needs more than 256"
elif [ "$status" -eq 0 ] && [ "$(generated_count)" = 256 ] && ! grep -q -- "-n" "$SCRATCH/err"; then
    ok "without -n, a $n_prompt-token prompt is followed by 256 generated tokens, with no note about -n"
else
    not_ok "default -n after a long prompt" "status $status, generated $(generated_count): $(cat "$SCRATCH/err")"
fi
# ... and within the context: 600 positions, so a 500-token prompt leaves room for about 100.
longer_prompt=$("$PYTHON" -c "print('ab ' * 166 + 'a')")
n_longer=$($RUN -m tokenize -z "$T" -i "$longer_prompt" | wc -w)
run_captured $RUN "$M" -z "$T" -t 0 -i "$longer_prompt"
if [ "$status" -eq 0 ] && [ "$(generated_count)" = $((600 - n_longer + 1)) ]; then
    ok "without -n, generation stops at the end of the context ($n_longer-token prompt, $(generated_count) generated)"
else
    not_ok "default -n within the context" "status $status, generated $(generated_count): $(cat "$SCRATCH/err")"
fi
# An explicit -n keeps llama2.c's meaning: positions, prompt included.
run_captured $RUN "$M" -z "$T" -t 0 -n 20 -i "ab ab"
n_short=$($RUN -m tokenize -z "$T" -i "ab ab" | wc -w)
if [ "$status" -eq 0 ] && [ "$(generated_count)" = $((20 - n_short + 1)) ]; then
    ok "-n 20 runs 20 positions, the $n_short-token prompt included"
else
    not_ok "explicit -n" "status $status, generated $(generated_count): $(cat "$SCRATCH/err")"
fi
# The timing line counts in words: "1 token", "2 tokens".
run_captured $RUN "$M" -z "$T" -t 0 -n 2 -i ""
if [ "$status" -eq 0 ] && grep -q "^prompt: 1 token, .*generated: 2 tokens, " "$SCRATCH/err"; then
    ok "the timing line says \"1 token\" and \"2 tokens\""
else
    not_ok "timing line plural" "status $status: $(cat "$SCRATCH/err")"
fi

# make run MODEL=...: a GGUF file runs with its own vocabulary, and a .bin without
# TOKENIZER= takes MODELS_DIR's tokenizer.bin; neither tries to download anything.
if [ -f "$MODELS_DIR/stories260K.f32.gguf" ]; then
    run_captured env RUN="$RUN" sh scripts/run_default.sh "$MODELS_DIR/stories260K.f32.gguf" "" "Once"
    if [ "$status" -eq 0 ] && [ -s "$SCRATCH/out" ] && ! grep -q download "$SCRATCH/err"; then
        ok "make run MODEL=x.gguf generates with the file's own vocabulary"
    else
        not_ok "make run MODEL=x.gguf" "status $status: $(head -c 300 "$SCRATCH/err")"
    fi
    mkdir -p "$SCRATCH/models" "$SCRATCH/elsewhere"
    cp "$MODELS_DIR/tok512.bin" "$SCRATCH/models/tokenizer.bin"
    ln -s "$(cd "$MODELS_DIR" && pwd)/stories260K.bin" "$SCRATCH/elsewhere/stories260K.bin"
    run_captured env RUN="$RUN" MODELS_DIR="$SCRATCH/models" sh scripts/run_default.sh \
        "$SCRATCH/elsewhere/stories260K.bin" "" "Once"
    if [ "$status" -eq 0 ] && [ -s "$SCRATCH/out" ] && ! grep -q download "$SCRATCH/err"; then
        ok "make run MODEL=x.bin without TOKENIZER= takes MODELS_DIR's tokenizer.bin"
    else
        not_ok "make run MODEL=x.bin" "status $status: $(head -c 300 "$SCRATCH/err")"
    fi
elif [ "${CI:-}" = "true" ]; then
    not_ok "make run MODEL=..." "$MODELS_DIR/stories260K.f32.gguf is missing"
fi

# --top: every generated token's line marks the sampled one with a * (among the
# candidates, or named after them); byte tokens show as <0xNN>, never a raw byte.
run_captured $RUN "$M" -z "$T" -t 1 -k 3 -s 7 -n 40 --top 2 -i "ab"
lines=$(grep -c '^\[[0-9]*\] ' "$SCRATCH/err")
marked=$(grep '^\[[0-9]*\] ' "$SCRATCH/err" | awk -F'"\\*|>\\*' 'NF == 2' | wc -l)
outside=$(grep -c ' | sampled ' "$SCRATCH/err")
raw=$(grep '^\[' "$SCRATCH/err" | LC_ALL=C grep -c '[^ -~]')
if [ "$status" -eq 0 ] && [ "$lines" -gt 10 ] && [ "$marked" -eq "$lines" ] && [ "$outside" -gt 0 ] &&
    [ "$outside" -lt "$lines" ] && grep -q '<0x[0-9A-F][0-9A-F]>' "$SCRATCH/err" && [ "$raw" -eq 0 ]; then
    ok "--top marks the sampled token in each of $lines lines ($outside outside the top 2), byte tokens as <0xNN>"
else
    not_ok "--top marking" "status $status, $lines lines, $marked marked, $outside outside, $raw raw: $(head -5 "$SCRATCH/err")"
fi
