#!/bin/sh
# ggml's quantized types (Q4_0 ... Q6_K): the engine's dequantization against
# numpy's (scripts/dequant.py, written from the format's description) bit for
# bit, on random blocks of every type and, with the models, on every matrix of
# llama.cpp's quantized files; then the engine's logits on those files against
# llama.cpp's own (tests/quant_tests), and reference.py on a quantized file.
# Usage: tests/test_quants.sh yes|no  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}
QUANT_TESTS=${QUANT_TESTS:-tests/quant_tests}

# dequant_check NAME FILE.gguf: the engine's rows of every matrix equal numpy's.
dequant_check() {
    if "$QUANT_TESTS" --dump "$2" "$SCRATCH/dump" 2>"$SCRATCH/err" &&
        "$PYTHON" scripts/dequant.py --check "$2" "$SCRATCH/dump" >"$SCRATCH/out" 2>&1; then
        ok "$1: the engine's dequantized matrices equal numpy's bit for bit ($(tail -1 "$SCRATCH/out"))"
    else
        not_ok "$1: dequantization" "$(cat "$SCRATCH/err"; tail -3 "$SCRATCH/out")"
    fi
}

for seed in 1 2 3; do
    if "$PYTHON" scripts/dequant.py --random "$SCRATCH/random$seed.gguf" --seed $seed 2>"$SCRATCH/err"; then
        dequant_check "random blocks of every type (seed $seed)" "$SCRATCH/random$seed.gguf"
    else
        not_ok "dequant.py --random" "$(cat "$SCRATCH/err")"
    fi
done

[ "$have_models" = yes ] || exit 0
QUANT=$MODELS_DIR/quant
if [ ! -f "$QUANT/q256.f32.gguf" ]; then
    if [ "${CI:-}" = "true" ]; then
        not_ok "quantized models" "$QUANT is missing, and CI requires it"
    else
        echo "# $QUANT not found: skipping llama.cpp's quantized files"
    fi
    exit 0
fi
for type in Q8_0 Q6_K Q5_K_M Q5_1 Q5_0 Q4_K_M Q4_1 Q4_0 Q3_K_M Q2_K; do
    dequant_check "q256.$type.gguf" "$QUANT/q256.$type.gguf"
done

"$QUANT_TESTS" "$MODELS_DIR" || echo "not ok - quant_tests exited with status $?"

# Any thread count gives the same bits: every row is computed whole by one thread.
threads_differ=""
for n in 1 2 3; do
    OMP_NUM_THREADS=$n $RUN "$QUANT/q256.Q4_K_M.gguf" -t 0 -n 100 -i "Once upon a time" \
        --logits "$SCRATCH/threads$n.logits" >"$SCRATCH/threads$n.out" 2>"$SCRATCH/err" ||
        threads_differ="$threads_differ $n threads failed: $(tail -1 "$SCRATCH/err");"
    if [ "$n" != 1 ] && ! { cmp -s "$SCRATCH/threads1.logits" "$SCRATCH/threads$n.logits" &&
        cmp -s "$SCRATCH/threads1.out" "$SCRATCH/threads$n.out"; }; then
        threads_differ="$threads_differ $n threads differ from 1;"
    fi
done
if [ -z "$threads_differ" ] && [ -s "$SCRATCH/threads1.logits" ]; then
    ok "q256.Q4_K_M.gguf: 1, 2 and 3 threads give bit-identical logits and text"
else
    not_ok "q256.Q4_K_M.gguf with threads" "${threads_differ:-no logits written}"
fi

# reference.py dequantizes the same blocks and runs float32 activations; the
# engine quantizes them to 8 bits: a percent or so apart, as on Q8_0 above.
for type in Q4_K_M Q2_K Q5_1; do
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$QUANT/q256.$type.gguf" "$QUANT/q256.$type.gguf" \
        --prompt "Once upon a time" --steps 64 --quiet --tolerance 5e-2 --overall-tolerance 2e-2 \
        --greedy-tokens 0 >"$SCRATCH/compare" 2>&1; then
        ok "q256.$type.gguf: within a few percent of reference.py ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "q256.$type.gguf against reference.py" "$(tail -5 "$SCRATCH/compare")"
    fi
done
