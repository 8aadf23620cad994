#!/bin/sh
# ./run quantize: IN OUT.gguf writes a GGUF file of Q8_0 matrices from any
# checkpoint the engine loads; IN OUT.bin writes llama2.c's int8 file, and
# refuses, in one line, a model that file cannot hold.
#
# Every GGUF file written is checked by scripts/check_quantized.py, which
# reads it with scripts/gguf.py and quantizes the input's values with numpy
# (write_gguf.py's Q8_0): no code shared with the engine. Its logits are
# compared with the input's (scripts/compare.py: the engine on OUT against
# scripts/reference.py on IN). Tolerances: Q8_0 rounds each weight to within
# half a step of its block's max|x| / 127, and the engine quantizes each
# matmul's input to int8 the same way; on random weights that moves the
# logits by 1-3% (relative L2), on stories260K by under 1%. A model that lost
# a setting on the way (a RoPE base, say) is off by 30% or more.
# Usage: tests/test_quantize.sh yes|no  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}
Q8_0_TOLERANCE="--tolerance 1e-1 --overall-tolerance 5e-2"

# quantized NAME IN OUT [check_quantized.py options]: ./run quantize IN OUT succeeds and
# check_quantized.py passes OUT. Leaves the quantizer's stderr in $SCRATCH/quantize.err.
quantized() {
    name=$1
    in=$2
    out=$3
    shift 3
    if $RUN quantize "$in" "$out" 2>"$SCRATCH/quantize.err" </dev/null &&
        "$PYTHON" scripts/check_quantized.py "$in" "$out" "$@" >"$SCRATCH/check" 2>&1; then
        ok "$name ($(tail -1 "$SCRATCH/check" | sed 's/^check_quantized: PASS //'))"
        return 0
    fi
    not_ok "$name" "$(cat "$SCRATCH/quantize.err"; tail -3 "$SCRATCH/check" 2>/dev/null)"
    return 1
}

# logits_close NAME OUT TOKENIZER IN PROMPT STEPS [compare.py options]: the engine on OUT
# against reference.py on IN.
logits_close() {
    name=$1
    out=$2
    tokenizer=$3
    in=$4
    prompt=$5
    steps=$6
    shift 6
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$out" "$tokenizer" --reference-checkpoint "$in" \
        --prompt "$prompt" --steps "$steps" --quiet "$@" >"$SCRATCH/compare" 2>&1; then
        ok "$name ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "$name" "$(tail -5 "$SCRATCH/compare")"
    fi
}

# refused NAME IN OUT PATTERN...: exit 1, one line on stderr holding every pattern, OUT not written.
refused() {
    name=$1
    in=$2
    out=$3
    shift 3
    run_captured $RUN quantize "$in" "$out"
    why=""
    [ "$status" -eq 1 ] || why="exit status $status;"
    [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] || why="$why $(wc -l <"$SCRATCH/err") lines on stderr;"
    [ -e "$out" ] && why="$why $out was written;"
    for pattern in "$@"; do
        grep -q -- "$pattern" "$SCRATCH/err" || why="$why no '$pattern';"
    done
    if [ -z "$why" ]; then
        ok "$name: $(sed "s|$SCRATCH/||g" "$SCRATCH/err" | cut -c 1-200)"
    else
        not_ok "$name" "$why $(cat "$SCRATCH/err")"
    fi
}

# ---------------------------------------------------------------------------
# llama2.c and llm.c checkpoints -> GGUF

# A llama2.c checkpoint: hidden 172 is not whole blocks of 32 (w_down stays F32), GQA,
# a separate classifier.
write_model llama v1 --dim 64 --hidden-dim 172 --layers 2 --heads 8 --kv-heads 2 --vocab 400 --seq-len 64 \
    --separate-classifier --seed 11 >/dev/null
if quantized "llama2.c v1 -> GGUF: llama.* metadata, llama.cpp's tensor names, Q8_0 as numpy's" \
    "$SCRATCH/llama.bin" "$SCRATCH/llama.gguf"; then
    if grep -q "2 matrices whose rows are not whole blocks of 32 values (the first: blk.0.ffn_down.weight) are kept as F32" \
        "$SCRATCH/quantize.err" && grep -q "holds no vocabulary" "$SCRATCH/quantize.err"; then
        ok "llama2.c -> GGUF says which matrices stay F32, and that the vocabulary is to be given with -z"
    else
        not_ok "llama2.c -> GGUF notes" "$(cat "$SCRATCH/quantize.err")"
    fi
    # shellcheck disable=SC2086
    logits_close "llama2.c -> GGUF: the engine on it within Q8_0's error of reference.py on the float32 input" \
        "$SCRATCH/llama.gguf" "$SCRATCH/llama.tok" "$SCRATCH/llama.bin" "abc" 64 $Q8_0_TOLERANCE --greedy-tokens 0
fi

# The same model both ways: a llama2.c file holding exactly the values of a Q8_0 GGUF
# (write_gguf.py --checkpoint) quantizes back to that GGUF's very tensors, so the written
# file must give the GGUF's logits to the bit. A permuted q or k row (RoPE's pairs
# taken as halves, as llama.cpp's converter does for Hugging Face models) would not.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/twin.gguf" --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 \
    --vocab 400 --matrix-type q8_0 --separate-output --rope-freq-base 10000 --checkpoint "$SCRATCH/twin.bin" \
    --tokenizer "$SCRATCH/twin.tok" >/dev/null
if quantized "llama2.c file of Q8_0 values -> GGUF: the source GGUF's tensors, byte for byte" \
    "$SCRATCH/twin.bin" "$SCRATCH/twin_q.gguf" --same-tensors "$SCRATCH/twin.gguf"; then
    $RUN "$SCRATCH/twin.gguf" -t 0 -n 60 -i "abc" --logits "$SCRATCH/twin1.logits" >"$SCRATCH/twin1" 2>/dev/null
    $RUN "$SCRATCH/twin_q.gguf" -z "$SCRATCH/twin.gguf" -t 0 -n 60 -i "abc" --logits "$SCRATCH/twin2.logits" \
        >"$SCRATCH/twin2" 2>"$SCRATCH/err"
    if [ -s "$SCRATCH/twin1.logits" ] && cmp -s "$SCRATCH/twin1.logits" "$SCRATCH/twin2.logits" &&
        cmp -s "$SCRATCH/twin1" "$SCRATCH/twin2"; then
        ok "llama2.c -> GGUF: the same logits, to the bit, and text as the GGUF its values came from (q, k rows unpermuted)"
    else
        not_ok "llama2.c -> GGUF twin logits" "$(cat "$SCRATCH/err")"
    fi
fi

# GPT-2: llm.c's checkpoint, F32; and again the twin of a Q8_0 GGUF, to the bit.
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2.gguf" --dim 64 --heads 4 --layers 2 --seq-len 96 --seed 6 \
    --llmc "$SCRATCH/gpt2.bin" >/dev/null
if quantized "llm.c GPT-2 -> GGUF: gpt2.* metadata, one attn_qkv per block, position table F32" \
    "$SCRATCH/gpt2.bin" "$SCRATCH/gpt2_q.gguf"; then
    # shellcheck disable=SC2086
    logits_close "llm.c GPT-2 -> GGUF: within Q8_0's error of reference.py on the float32 input" \
        "$SCRATCH/gpt2_q.gguf" "$SCRATCH/gpt2.gguf" "$SCRATCH/gpt2.bin" "the cat" 90 $Q8_0_TOLERANCE --greedy-tokens 0
fi
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2_twin.gguf" --dim 64 --heads 4 --layers 2 --seq-len 64 \
    --matrix-type q8_0 --seed 4 --llmc "$SCRATCH/gpt2_twin.bin" >/dev/null
if quantized "llm.c file of Q8_0 values -> GGUF: the source GGUF's tensors, byte for byte" \
    "$SCRATCH/gpt2_twin.bin" "$SCRATCH/gpt2_twin_q.gguf" --same-tensors "$SCRATCH/gpt2_twin.gguf"; then
    $RUN "$SCRATCH/gpt2_twin.gguf" -t 0 -n 60 -i "the cat" --logits "$SCRATCH/gt1.logits" >"$SCRATCH/gt1" 2>/dev/null
    $RUN "$SCRATCH/gpt2_twin_q.gguf" -z "$SCRATCH/gpt2_twin.gguf" -t 0 -n 60 -i "the cat" \
        --logits "$SCRATCH/gt2.logits" >"$SCRATCH/gt2" 2>"$SCRATCH/err"
    if [ -s "$SCRATCH/gt1.logits" ] && cmp -s "$SCRATCH/gt1.logits" "$SCRATCH/gt2.logits" &&
        cmp -s "$SCRATCH/gt1" "$SCRATCH/gt2"; then
        ok "llm.c -> GGUF: the same logits, to the bit, and text as the GGUF its values came from"
    else
        not_ok "llm.c -> GGUF twin logits" "$(cat "$SCRATCH/err")"
    fi
fi

# llama2.c's int8 file: its values (q * scale) rounded again to Q8_0, with a note.
$RUN quantize "$SCRATCH/twin.bin" "$SCRATCH/twin_int8.bin" 2>/dev/null
if quantized "llama2.c int8 -> GGUF: Q8_0 of the int8 file's values" "$SCRATCH/twin_int8.bin" \
    "$SCRATCH/twin_int8.gguf"; then
    if grep -q "quantized matrices of .* (llama2.c.s int8, or more bits than q8_0) were rounded again" "$SCRATCH/quantize.err"; then
        ok "llama2.c int8 -> GGUF says its matrices were rounded a second time"
    else
        not_ok "llama2.c int8 -> GGUF note" "$(cat "$SCRATCH/quantize.err")"
    fi
fi

# ---------------------------------------------------------------------------
# GGUF -> GGUF: every metadata entry kept, Q8_0 copied as it is

# The model of issue #21: RoPE base 500000, RMS epsilon 1e-6, F16, GQA, separate output.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/rope.gguf" --dim 64 --hidden-dim 128 --heads 8 --kv-heads 2 \
    --vocab 400 --matrix-type f16 --separate-output --rope-freq-base 500000 --rms-eps 1e-6 --seed 3 >/dev/null
if quantized "GGUF F16 (RoPE base 500000, eps 1e-6) -> GGUF: every metadata entry as it was, F16 quantized" \
    "$SCRATCH/rope.gguf" "$SCRATCH/rope_q.gguf"; then
    # shellcheck disable=SC2086
    logits_close "GGUF F16 (RoPE base 500000) -> GGUF: within Q8_0's error of reference.py on the input" \
        "$SCRATCH/rope_q.gguf" "$SCRATCH/rope_q.gguf" "$SCRATCH/rope.gguf" "hello" 60 $Q8_0_TOLERANCE --greedy-tokens 0
    # Quantizing the output again changes nothing: Q8_0 is copied, the metadata already says Q8_0.
    if quantized "GGUF Q8_0 -> GGUF: every Q8_0 tensor copied as it was" "$SCRATCH/rope_q.gguf" \
        "$SCRATCH/rope_q2.gguf"; then
        if cmp -s "$SCRATCH/rope_q.gguf" "$SCRATCH/rope_q2.gguf"; then
            ok "quantizing the written GGUF again gives the same file, byte for byte"
        else
            not_ok "quantizing twice" "$(cmp "$SCRATCH/rope_q.gguf" "$SCRATCH/rope_q2.gguf")"
        fi
    fi
fi

# GPT-2 as GGUF, with its byte-level BPE vocabulary and merges: the output runs on its own
# (no -z), and its greedy text is the float input's.
if quantized "GGUF GPT-2 F32 -> GGUF: vocabulary and merges kept" "$SCRATCH/gpt2.gguf" "$SCRATCH/gpt2_g.gguf"; then
    $RUN "$SCRATCH/gpt2.gguf" -t 0 -n 90 -i "the cat" >"$SCRATCH/g1" 2>/dev/null
    $RUN "$SCRATCH/gpt2_g.gguf" -t 0 -n 90 -i "the cat" >"$SCRATCH/g2" 2>"$SCRATCH/err"
    if [ -s "$SCRATCH/g1" ] && cmp -s "$SCRATCH/g1" "$SCRATCH/g2"; then
        ok "GGUF GPT-2 -> GGUF runs with its own vocabulary: the same greedy text as the float input (90 positions)"
    else
        not_ok "GGUF GPT-2 -> GGUF text" "$(head -c 100 "$SCRATCH/g1") / $(head -c 100 "$SCRATCH/g2") $(cat "$SCRATCH/err")"
    fi
fi

# A GGUF file aligned to 64 keeps its alignment.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/align.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 --vocab 300 \
    --layers 1 --alignment 64 --gguf-version 2 >/dev/null
quantized "GGUF v2 aligned to 64 -> GGUF v3 aligned to 64" "$SCRATCH/align.gguf" "$SCRATCH/align_q.gguf"

# ---------------------------------------------------------------------------
# OUT.bin: what llama2.c's int8 file cannot hold is refused, in one line

refused "to .bin: a GPT-2 model is refused, naming the architecture" "$SCRATCH/gpt2.bin" "$SCRATCH/gpt2_q8.bin" \
    "gpt2.bin: cannot quantize a gpt2 model" "write a .gguf instead: ./run quantize .*gpt2_q8.gguf"
refused "to .bin: a RoPE base other than 10000 is refused, naming it" "$SCRATCH/rope.gguf" "$SCRATCH/rope.bin" \
    "RoPE base 500000 would be lost" ".gguf instead"
"$PYTHON" scripts/write_gguf.py "$SCRATCH/eps.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 --vocab 300 \
    --layers 1 --rms-eps 1e-6 >/dev/null
refused "to .bin: an RMS epsilon other than 1e-5 is refused, naming it" "$SCRATCH/eps.gguf" "$SCRATCH/eps.bin" \
    "eps.gguf: RMS epsilon 1e-06 would be lost" ".gguf instead"
"$PYTHON" scripts/write_gguf.py "$SCRATCH/plain_q8_0.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 \
    --vocab 300 --layers 1 --matrix-type q8_0 >/dev/null
refused "to .bin: Q8_0 matrices are not quantized a second time, naming the input" "$SCRATCH/plain_q8_0.gguf" \
    "$SCRATCH/plain.bin" "plain_q8_0.gguf: the model to quantize must have float32 weights" "it has Q8_0 matrices" \
    ".gguf instead"
"$PYTHON" scripts/write_gguf.py "$SCRATCH/plain_f16.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 \
    --vocab 300 --layers 1 --matrix-type f16 >/dev/null
refused "to .bin: F16 matrices are refused, naming the input" "$SCRATCH/plain_f16.gguf" "$SCRATCH/none.bin" \
    "plain_f16.gguf: the model to quantize must have float32 weights" "it has F16 matrices"
# A GGUF file whose settings are llama2.c's: written, with a note that the vocabulary stays behind.
"$PYTHON" scripts/write_gguf.py "$SCRATCH/plain.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 \
    --vocab 300 --layers 1 >/dev/null
run_captured $RUN quantize "$SCRATCH/plain.gguf" "$SCRATCH/plain.bin"
if [ "$status" -eq 0 ] && grep -q "the vocabulary of .*plain.gguf is not carried into .*plain.bin" "$SCRATCH/err" &&
    $RUN "$SCRATCH/plain.bin" -z "$SCRATCH/plain.gguf" -n 8 -t 0 >/dev/null 2>&1; then
    ok "GGUF of llama2.c's settings to .bin: written, with a note that the vocabulary is to be given with -z"
else
    not_ok "GGUF to .bin" "status $status: $(cat "$SCRATCH/err")"
fi

# ---------------------------------------------------------------------------
# Writing: never over the input, never half a file

cp "$SCRATCH/plain.gguf" "$SCRATCH/plain.orig"
ln -s plain.gguf "$SCRATCH/plain.sym.gguf"
for out in plain.gguf plain.sym.gguf "../$(basename "$SCRATCH")/plain.gguf"; do
    run_captured $RUN quantize "$SCRATCH/plain.gguf" "$SCRATCH/$out"
    if [ "$status" -eq 2 ] && grep -q "is the input file" "$SCRATCH/err" &&
        cmp -s "$SCRATCH/plain.gguf" "$SCRATCH/plain.orig"; then
        ok "quantize to .gguf refuses to write over its input ($out), which keeps every byte"
    else
        not_ok "quantize over its input ($out)" "status $status: $(cat "$SCRATCH/err")"
    fi
done
run_captured $RUN quantize "$SCRATCH/plain.gguf" "$SCRATCH/nodir/out.gguf"
if [ "$status" -eq 1 ] && grep -q "nodir/out.gguf: cannot write" "$SCRATCH/err"; then
    ok "quantize to .gguf in a missing directory fails cleanly"
else
    not_ok "quantize to a missing directory" "status $status: $(cat "$SCRATCH/err")"
fi
echo "an older file" >"$SCRATCH/older.GGUF"
$RUN quantize "$SCRATCH/plain.gguf" "$SCRATCH/older.GGUF" 2>/dev/null
leftovers=$(ls "$SCRATCH" | grep -c '\.tmp-' || true)
if [ "$(head -c 4 "$SCRATCH/older.GGUF")" = "GGUF" ] && [ "$leftovers" -eq 0 ] &&
    "$PYTHON" scripts/check_quantized.py "$SCRATCH/plain.gguf" "$SCRATCH/older.GGUF" >/dev/null 2>&1; then
    ok "quantize replaces an older OUT.GGUF (any case) whole, with no temporary file left"
else
    not_ok "quantize over an older .GGUF" "$leftovers temporary files"
fi

[ "$have_models" = yes ] || exit 0

# ---------------------------------------------------------------------------
# Real models

S=$MODELS_DIR/stories260K.bin
K=$MODELS_DIR/tok512.bin
G=$MODELS_DIR/stories260K.f32.gguf
# llama.cpp converted stories260K.bin to stories260K.f32.gguf (its tensors are the .bin's):
# both quantize to the same Q8_0 tensors.
quantized "stories260K.f32.gguf -> GGUF: every metadata entry kept (vocabulary too)" "$G" "$SCRATCH/s260_g.gguf"
if quantized "stories260K.bin -> GGUF: the same tensors as stories260K.f32.gguf -> GGUF" "$S" \
    "$SCRATCH/s260.gguf" --same-tensors "$SCRATCH/s260_g.gguf"; then
    logits_close "stories260K.bin -> GGUF: within 2e-2 of the float32 model, the same greedy story for 100 tokens" \
        "$SCRATCH/s260.gguf" "$K" "$S" "" 200 --tolerance 5e-2 --overall-tolerance 2e-2 --greedy-tokens 100
fi
logits_close "stories260K.f32.gguf -> GGUF: runs with its own vocabulary, the same greedy story for 100 tokens" \
    "$SCRATCH/s260_g.gguf" "$SCRATCH/s260_g.gguf" "$G" "Once upon a time" 128 --tolerance 5e-2 \
    --overall-tolerance 2e-2 --greedy-tokens 100
quantized "stories260K.f16.gguf -> GGUF: F16 matrices quantized" "$MODELS_DIR/stories260K.f16.gguf" \
    "$SCRATCH/s260_h.gguf"

# llama.cpp's own quantizer (llama-quantize Q8_0) on the same F32 file: the same file's content.
Q=$MODELS_DIR/quant
if [ -f "$Q/q256.f32.gguf" ] && [ -f "$Q/q256.Q8_0.gguf" ]; then
    quantized "q256.f32.gguf -> GGUF: tensors and metadata equal to llama.cpp's llama-quantize Q8_0" \
        "$Q/q256.f32.gguf" "$SCRATCH/q256.gguf" --same-as "$Q/q256.Q8_0.gguf"
    quantized "llama.cpp's q256.Q8_0.gguf -> GGUF: copied, tensor for tensor" "$Q/q256.Q8_0.gguf" \
        "$SCRATCH/q256_again.gguf" --same-as "$Q/q256.Q8_0.gguf"
fi
