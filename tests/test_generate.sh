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

# -f FILE and -i -: the same text as -i TEXT (one trailing newline dropped).
printf 'ab ba\n' >"$SCRATCH/prompt.txt"
$RUN "$M" -z "$T" -t 0 -n 30 -i "ab ba" >"$SCRATCH/from_i" 2>/dev/null
$RUN "$M" -z "$T" -t 0 -n 30 -f "$SCRATCH/prompt.txt" >"$SCRATCH/from_f" 2>/dev/null
printf 'ab ba' | $RUN "$M" -z "$T" -t 0 -n 30 -i - >"$SCRATCH/from_stdin" 2>/dev/null
if [ -s "$SCRATCH/from_i" ] && cmp -s "$SCRATCH/from_i" "$SCRATCH/from_f" && cmp -s "$SCRATCH/from_i" "$SCRATCH/from_stdin"; then
    ok "-f FILE and -i - give the text of -i TEXT"
else
    not_ok "-f / -i -" "$(head -c 80 "$SCRATCH/from_i") / $(head -c 80 "$SCRATCH/from_f") / $(head -c 80 "$SCRATCH/from_stdin")"
fi
expect_one_line() {  # NAME STATUS WORDS COMMAND...
    name=$1 want=$2 words=$3
    shift 3
    run_captured "$@"
    if [ "$status" -eq "$want" ] && [ ! -s "$SCRATCH/out" ] && [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] &&
        grep -q -- "$words" "$SCRATCH/err"; then
        ok "$name"
    else
        not_ok "$name" "status $status: $(cat "$SCRATCH/err" "$SCRATCH/out" | head -c 300)"
    fi
}
expect_one_line "-f of a missing file is one line" 1 "cannot open the prompt file" $RUN "$M" -z "$T" -f "$SCRATCH/none.txt"
expect_one_line "-f of a directory is one line" 1 "is a directory" $RUN "$M" -z "$T" -f "$SCRATCH"
printf 'a\000b' >"$SCRATCH/nul.txt"
expect_one_line "-f of a file with a NUL byte is one line" 1 "NUL byte at offset 1" $RUN "$M" -z "$T" -f "$SCRATCH/nul.txt"
expect_one_line "-i and -f together are refused" 2 "one prompt only" $RUN "$M" -z "$T" -i x -f "$SCRATCH/prompt.txt"
expect_one_line "-i - in chat is refused" 2 "where chat reads its turns" $RUN "$M" -z "$T" -m chat -i -
expect_one_line "--stop with an empty string is refused" 2 "non-empty" $RUN "$M" -z "$T" --stop ""
expect_one_line "--min-p above 1 is refused" 2 "--min-p must be" $RUN "$M" -z "$T" --min-p 1.5
expect_one_line "--repeat-penalty 0 is refused" 2 "--repeat-penalty must be" $RUN "$M" -z "$T" --repeat-penalty 0

# --stop: the text is the unstopped text cut just before the first place a stop string
# ends (the earliest), checked here against the full text by Python's str.find.
$RUN "$M" -z "$T" -t 0 -n 200 -i "ab" >"$SCRATCH/full" 2>/dev/null
stops=$("$PYTHON" - "$SCRATCH/full" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()[2:].rstrip("\n")  # after the echoed prompt
# two stop strings from the middle of the text: a 3-byte one and a later 2-byte one
a, b = text[40:43], text[90:92]
print(a)
print(b)
PY
)
stop_a=$(echo "$stops" | sed -n 1p)
stop_b=$(echo "$stops" | sed -n 2p)
$RUN "$M" -z "$T" -t 0 -n 200 -i "ab" --stop "$stop_a" --stop "$stop_b" >"$SCRATCH/stopped" 2>/dev/null
verdict=$("$PYTHON" - "$SCRATCH/full" "$SCRATCH/stopped" "$stop_a" "$stop_b" <<'PY'
import sys
full = open(sys.argv[1], encoding="utf-8").read().rstrip("\n")
stopped = open(sys.argv[2], encoding="utf-8").read().rstrip("\n")
cuts = [full.find(s, 2) for s in sys.argv[3:5]]
cut = min(c for c in cuts if c >= 0)
print("ok" if stopped == full[:cut] else f"got {stopped!r}, want {full[:cut]!r}")
PY
)
if [ -n "$stop_a" ] && [ "$verdict" = ok ]; then
    ok "--stop ends the text just before the earliest stop string, which is not printed"
else
    not_ok "--stop" "stops '$stop_a' '$stop_b': $verdict"
fi

# The samplers are off by default: their neutral values change nothing.
$RUN "$M" -z "$T" -s 5 -n 60 -i "ab" >"$SCRATCH/plain" 2>/dev/null
$RUN "$M" -z "$T" -s 5 -n 60 -i "ab" --min-p 0 --repeat-penalty 1 --presence-penalty 0 --frequency-penalty 0 \
    --repeat-last-n 32 >"$SCRATCH/neutral" 2>/dev/null
$RUN "$M" -z "$T" -t 0 -n 60 -i "ab" --repeat-penalty 1.5 --frequency-penalty 1 >"$SCRATCH/penalized" 2>/dev/null
$RUN "$M" -z "$T" -t 0 -n 60 -i "ab" >"$SCRATCH/greedy" 2>/dev/null
if [ -s "$SCRATCH/plain" ] && cmp -s "$SCRATCH/plain" "$SCRATCH/neutral" && ! cmp -s "$SCRATCH/greedy" "$SCRATCH/penalized"; then
    ok "sampler flags at their neutral values change nothing; penalties change greedy text"
else
    not_ok "sampler flags" "neutral differs, or penalties changed nothing"
fi

# --pieces: the same ids as -m tokenize, each with its text; with sentencepiece the texts
# put together are the input (after BOS).
if [ -f "$MODELS_DIR/tokenizer.bin" ]; then
    text="Once upon a time, héllo 日本"
    ids=$($RUN -m tokenize -z "$MODELS_DIR/tokenizer.bin" -i "$text")
    $RUN -m tokenize -z "$MODELS_DIR/tokenizer.bin" -i "$text" --pieces >"$SCRATCH/pieces"
    verdict=$("$PYTHON" - "$SCRATCH/pieces" "$ids" "$text" <<'PY'
import re, sys
line = open(sys.argv[1], encoding="utf-8").read().rstrip("\n")
items = re.findall(r'(\d+):("(?:[^"\\]|\\.)*"|<[^ ]*>)', line)
ids = " ".join(i for i, _ in items)
joined = "".join(p[1:-1] for _, p in items if p.startswith('"'))
if ids != sys.argv[2]:
    print(f"ids {ids} != {sys.argv[2]}")
elif joined != sys.argv[3]:
    print(f"pieces join to {joined!r}")
else:
    print("ok")
PY
)
    if [ "$verdict" = ok ]; then
        ok "-m tokenize --pieces: the ids of -m tokenize, each with its text"
    else
        not_ok "--pieces" "$verdict"
    fi
fi

# Chat past the context: the oldest turns are dropped, the system prompt kept, the rest
# recomputed from position 0. In the --logits file (position, token fed) every restart at
# position 0 feeds exactly the tokens of the system prompt and first message (all
# messages are the same), and no segment passes the context.
first_turn=$(printf '[INST] <<SYS>>\nbe brief\n<</SYS>>\n\ntell me a story [/INST]')
n_first=$($RUN -m tokenize -z "$T" -i "$first_turn" | wc -w)
first_ids=$($RUN -m tokenize -z "$T" -i "$first_turn")
yes 'tell me a story' | head -30 | $RUN "$M" -z "$T" -m chat -s 3 -n 20 -y "be brief" \
    --logits "$SCRATCH/roll.logits" >/dev/null 2>"$SCRATCH/err"
status=$?
verdict=$("$PYTHON" - "$SCRATCH/roll.logits" "$first_ids" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
vocab = struct.unpack_from("<i", d, 8)[0]
step = 8 + 4 * vocab
fed = [struct.unpack_from("<ii", d, 16 + i * step) for i in range((len(d) - 16) // step)]
segments, current = [], []
for pos, token in fed:
    if pos == 0 and current:
        segments.append(current)
        current = []
    current.append(token)
segments.append(current)
want = [int(t) for t in sys.argv[2].split()]
bad = [i for i, s in enumerate(segments) if s[:len(want)] != want or len(s) > 600]
print("ok %d" % len(segments) if len(segments) > 1 and not bad else "segments %d, bad %s" % (len(segments), bad))
PY
)
answers=$(grep -o 'Assistant:' "$SCRATCH/err" | wc -l)
case $verdict in
"ok "*) if [ "$status" -eq 0 ] && [ "$answers" -eq 30 ] && grep -q "dropped the oldest" "$SCRATCH/err"; then
    ok "chat past the context: ${verdict#ok } runs from position 0, each starting with the system prompt and first message"
else
    not_ok "chat roll" "status $status, $answers answers: $(tail -c 300 "$SCRATCH/err")"
fi ;;
*) not_ok "chat roll" "$verdict" ;;
esac

# A line ending with a backslash continues the message on the next line.
printf 'ab\\\nba\n' | $RUN "$M" -z "$T" -m chat -s 3 -n 3 --logits "$SCRATCH/multi.logits" >/dev/null 2>"$SCRATCH/err"
status=$?
want=$($RUN -m tokenize -z "$T" -i "$(printf '[INST] ab\nba [/INST]')")
got=$("$PYTHON" - "$SCRATCH/multi.logits" "$(echo "$want" | wc -w)" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
vocab = struct.unpack_from("<i", d, 8)[0]
n = int(sys.argv[2])
print(" ".join(str(struct.unpack_from("<ii", d, 16 + i * (8 + 4 * vocab))[1]) for i in range(n)))
PY
)
if [ "$status" -eq 0 ] && [ "$got" = "$want" ] && [ "$(grep -o 'Assistant:' "$SCRATCH/err" | wc -l)" -eq 1 ]; then
    ok "chat: a line ending with \\ continues the message (one turn, a newline in it)"
else
    not_ok "chat continuation" "status $status, fed '$got', want '$want'"
fi

# Generation ends at the vocabulary's end-of-turn token (tokenizer.ggml.eot_token_id),
# as at EOS: the third token greedy decoding chose is made the end of turn, and the
# same model then stops where that token first came.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/plain_eot.gguf" >/dev/null 2>&1
$RUN "$SCRATCH/plain_eot.gguf" -t 0 -n 8 -i "" --logits "$SCRATCH/eot.logits" >/dev/null 2>&1
set -- $("$PYTHON" - "$SCRATCH/eot.logits" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
vocab = struct.unpack_from("<i", d, 8)[0]
step = 8 + 4 * vocab
generated = [struct.unpack_from("<ii", d, 16 + i * step)[1] for i in range(1, (len(d) - 16) // step)]
third = generated[2]
print(third, generated.index(third))  # the token, and how many come before it first
PY
)
third=${1:-?} before=${2:-?}
"$PYTHON" scripts/write_gguf.py "$SCRATCH/with_eot.gguf" --set-u32 "tokenizer.ggml.eot_token_id=$third" >/dev/null 2>&1
run_captured $RUN "$SCRATCH/with_eot.gguf" -t 0 -n 8 -i ""
if [ "$status" -eq 0 ] && [ "$(generated_count)" = "$before" ]; then
    ok "generation ends at the vocabulary's end-of-turn token ($third, after $before tokens), not only at EOS"
else
    not_ok "end of turn" "status $status, generated $(generated_count) (eot $third): $(cat "$SCRATCH/err")"
fi
