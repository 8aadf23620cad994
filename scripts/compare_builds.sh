#!/bin/sh
# scripts/compare_builds.sh OLD_RUN NEW_RUN - whether two builds of ./run compute the same bits:
# the --logits file and the text of each run below, with 1 and 2 threads, compared with cmp.
# For a change meant to alter no number (a reshaping, a move between files): build the old
# commit elsewhere (git worktree add /tmp/old REV && make -C /tmp/old engine) and run this.
# The runs: the real models in $MODELS_DIR (default ../shared/models) when present, and random
# checkpoints written here: llama2.c legacy and version 1, int8 with groups of 16 and 32, GGUF
# F16 and Q8_0, prompts of one and of two batches. Prints "same: NAME threads=N" or
# "DIFF: ..." per run, and exits 1 if any differ.
set -u
OLD=$1
NEW=$2
MODELS_DIR=${MODELS_DIR:-../shared/models}
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
bad=0

# run_case NAME ARGS...: both builds, with --logits, 1 and 2 threads.
run_case() {
    name=$1
    shift
    for threads in 1 2; do
        OMP_NUM_THREADS=$threads "$OLD" "$@" --logits "$DIR/$name.old.logits" >"$DIR/$name.old.out" 2>/dev/null
        old_status=$?
        OMP_NUM_THREADS=$threads "$NEW" "$@" --logits "$DIR/$name.new.logits" >"$DIR/$name.new.out" 2>/dev/null
        new_status=$?
        # Both runs must succeed: two identical failures are no comparison.
        if [ "$old_status" -eq 0 ] && [ "$new_status" -eq 0 ] && [ -s "$DIR/$name.old.logits" ] &&
            cmp -s "$DIR/$name.old.logits" "$DIR/$name.new.logits" &&
            cmp -s "$DIR/$name.old.out" "$DIR/$name.new.out"; then
            echo "same: $name threads=$threads"
        else
            echo "DIFF: $name threads=$threads"
            bad=1
        fi
    done
}

long=$(awk 'BEGIN { for (i = 0; i < 10; i++) printf "once upon a time there was "; }')  # 271 tokens: two batches of 256, within 300
"$PYTHON" "$SCRIPTS/write_checkpoint.py" "$DIR/gqa.bin" --format v1 --dim 256 --hidden-dim 688 --layers 3 \
    --heads 8 --kv-heads 2 --vocab 512 --seq-len 300 --tokenizer "$DIR/gqa.tok" --separate-classifier >/dev/null
"$PYTHON" "$SCRIPTS/write_checkpoint.py" "$DIR/legacy.bin" --format legacy --dim 100 --hidden-dim 36 --layers 2 \
    --heads 5 --kv-heads 5 --vocab 300 --seq-len 80 --tokenizer "$DIR/legacy.tok" >/dev/null
"$PYTHON" "$SCRIPTS/write_checkpoint.py" "$DIR/mha.bin" --format v1 --dim 288 --hidden-dim 768 --layers 2 \
    --heads 6 --kv-heads 6 --vocab 512 --seq-len 300 --tokenizer "$DIR/mha.tok" >/dev/null
"$OLD" quantize "$DIR/gqa.bin" "$DIR/gqa_q8.bin" 2>/dev/null   # groups of 16
"$OLD" quantize "$DIR/mha.bin" "$DIR/mha_q8.bin" 2>/dev/null   # groups of 32
for type in f16 q8_0; do
    "$PYTHON" "$SCRIPTS/write_gguf.py" "$DIR/$type.gguf" --dim 256 --hidden-dim 704 --layers 2 --heads 8 \
        --kv-heads 4 --vocab 400 --seq-len 300 --matrix-type "$type" >/dev/null
done
# The Llama family's other members: Qwen2 (q/k/v biases, NeoX RoPE), Qwen3 (head norms, its own
# head size) and Llama 3.1 (rope_freqs); and GPT-2.
"$PYTHON" "$SCRIPTS/write_gguf.py" "$DIR/qwen2.gguf" --arch qwen2 --dim 128 --hidden-dim 320 --layers 2 --heads 4 \
    --kv-heads 2 --vocab 400 --seq-len 300 >/dev/null
"$PYTHON" "$SCRIPTS/write_gguf.py" "$DIR/qwen3.gguf" --arch qwen3 --head-size 48 --dim 128 --hidden-dim 320 \
    --layers 2 --heads 4 --kv-heads 2 --vocab 400 --seq-len 300 >/dev/null
"$PYTHON" "$SCRIPTS/write_gguf.py" "$DIR/llama3.gguf" --llama3-rope 8:1:4:64 --rope-freq-base 500000 --dim 128 \
    --hidden-dim 320 --layers 2 --heads 4 --kv-heads 2 --vocab 400 --seq-len 300 >/dev/null
"$PYTHON" "$SCRIPTS/write_gguf_gpt2.py" "$DIR/gpt2.gguf" --dim 96 --layers 2 --heads 4 \
    --seq-len 300 >/dev/null

run_case gqa "$DIR/gqa.bin" -z "$DIR/gqa.tok" -t 0 -n 0 -i "$long"
run_case legacy "$DIR/legacy.bin" -z "$DIR/legacy.tok" -t 0 -n 70 -i "ab cd ef"
run_case mha "$DIR/mha.bin" -z "$DIR/mha.tok" -t 0.9 -s 5 -n 0 -i "$long"
run_case gqa_q8 "$DIR/gqa_q8.bin" -z "$DIR/gqa.tok" -t 0 -n 0 -i "$long"
run_case mha_q8 "$DIR/mha_q8.bin" -z "$DIR/mha.tok" -t 0 -n 0 -i "$long"
run_case gguf_f16 "$DIR/f16.gguf" -t 0 -n 0 -i "$long"
run_case gguf_q8_0 "$DIR/q8_0.gguf" -t 0 -n 0 -i "$long"
run_case qwen2 "$DIR/qwen2.gguf" -t 0 -n 0 -i "$long"
run_case qwen3 "$DIR/qwen3.gguf" -t 0 -n 0 -i "$long"
run_case llama3 "$DIR/llama3.gguf" -t 0 -n 0 -i "$long"
run_case gpt2 "$DIR/gpt2.gguf" -t 0 -n 200 -i "once upon a time there was a cat"
if [ -d "$MODELS_DIR" ]; then
    run_case stories260K "$MODELS_DIR/stories260K.bin" -z "$MODELS_DIR/tok512.bin" -t 0 -n 80 -i "Once upon a time"
    run_case stories260K.f16 "$MODELS_DIR/stories260K.f16.gguf" -t 0 -n 80 -i "Once upon a time"
    run_case stories260K.f32 "$MODELS_DIR/stories260K.f32.gguf" -t 0.8 -s 3 -n 80 -i "Lily"
    run_case q256.Q8_0 "$MODELS_DIR/quant/q256.Q8_0.gguf" -t 0 -n 60 -i "hello world this is"
    run_case q256.f32 "$MODELS_DIR/quant/q256.f32.gguf" -t 0 -n 60 -i "hello world this is"
fi
exit $bad
