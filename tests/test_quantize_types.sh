#!/bin/sh
# ./run quantize IN OUT.gguf --type q8_0|q4_0|q4_k|q4_k_m: every written block
# dequantizes (numpy, scripts/dequant.py via check_quantize_types.py) to within
# the bound its format gives (half a step of its block or sub-block), the file
# runs, and its logits stay within the type's error of reference.py on the
# float32 input. With the models: llama.cpp's own files of the same input say
# which type each matrix gets (Q4_0, Q4_K_M) and, for Q4_0, which bytes.
# Usage: tests/test_quantize_types.sh yes|no  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}

# written NAME IN OUT TYPE [check_quantize_types.py options]: quantize, check the blocks, run it.
written() {
    name=$1
    in=$2
    out=$3
    type=$4
    shift 4
    tok_flag=""  # a llama2.c input's tokenizer: NAME.tok beside it, or $TOKENIZER
    [ -f "${in%.bin}.tok" ] && tok_flag="-z ${in%.bin}.tok"
    [ -n "${TOKENIZER:-}" ] && tok_flag="-z $TOKENIZER"
    # shellcheck disable=SC2086
    if $RUN quantize "$in" "$out" --type "$type" 2>"$SCRATCH/quantize.err" </dev/null &&
        "$PYTHON" scripts/check_quantize_types.py "$in" "$out" "$@" >"$SCRATCH/check" 2>&1 &&
        $RUN "$out" $tok_flag -n 16 -t 0 >"$SCRATCH/text" 2>"$SCRATCH/run.err" && [ -s "$SCRATCH/text" ]; then
        ok "$name ($(tail -1 "$SCRATCH/check"))"
        return 0
    fi
    not_ok "$name" "$(cat "$SCRATCH/quantize.err"; tail -3 "$SCRATCH/check"; tail -1 "$SCRATCH/run.err")"
    return 1
}

# error_within NAME OUT TOKENIZER IN OVERALL PER_POSITION: compare.py's relative L2 of the
# engine on OUT against reference.py on the float32 IN.
error_within() {
    if "$PYTHON" scripts/compare.py --engine "$RUN" "$2" "$3" --reference-checkpoint "$4" \
        --prompt "Once upon a time" --steps 64 --quiet --overall-tolerance "$5" --tolerance "$6" \
        --greedy-tokens 0 >"$SCRATCH/compare" 2>&1; then
        ok "$1 ($(tail -1 "$SCRATCH/compare"))"
    else
        not_ok "$1" "$(tail -3 "$SCRATCH/compare")"
    fi
}

# A random llama2.c checkpoint whose rows are whole super-blocks of 256: real Q4_K and Q6_K.
write_model big v1 --dim 256 --hidden-dim 512 --layers 2 --heads 8 --kv-heads 4 --vocab 320 --seq-len 64 \
    --separate-classifier --seed 5 >/dev/null
for type in q4_0 q4_k q4_k_m q8_0; do
    written "random llama2.c checkpoint --type $type: blocks within their bound, runs" \
        "$SCRATCH/big.bin" "$SCRATCH/big.$type.gguf" "$type"
done

# An unknown type: refused by name, with the list.
run_captured $RUN quantize "$SCRATCH/big.bin" "$SCRATCH/iq.gguf" --type iq4_nl
if [ "$status" -eq 2 ] && [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] && grep -q "iq4_nl" "$SCRATCH/err" &&
    grep -q "q8_0, q4_0, q4_k, q4_k_m" "$SCRATCH/err" && [ ! -e "$SCRATCH/iq.gguf" ]; then
    ok "--type iq4_nl refused in one line with the list: $(cat "$SCRATCH/err")"
else
    not_ok "--type iq4_nl" "status $status: $(cat "$SCRATCH/err")"
fi
run_captured $RUN quantize "$SCRATCH/big.bin" "$SCRATCH/big.q4.bin" --type q4_0
if [ "$status" -eq 2 ] && grep -q "for a .gguf output" "$SCRATCH/err" && [ ! -e "$SCRATCH/big.q4.bin" ]; then
    ok "--type with a llama2.c output refused: $(cat "$SCRATCH/err")"
else
    not_ok "--type with a .bin output" "status $status: $(cat "$SCRATCH/err")"
fi

# Bad input, each one clear line and exit 1: a Q4_K file (written above) with blk.0.attn_q's
# rows cut to 128 values (not whole super-blocks), a row of 2^40 values (its bytes run past
# the file), 2^55 rows of 256 (more than 2^63 values), and types the engine does not run.
"$PYTHON" - "$SCRATCH/big.q4_k.gguf" "$SCRATCH" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
def patch(name, dims=None, ggml_type=None):
    data = bytearray(open(src, "rb").read())
    at = data.index(b"blk.0.attn_q.weight") + len("blk.0.attn_q.weight")
    n_dims = int.from_bytes(data[at:at + 4], "little")
    for i, v in enumerate(dims or []):
        data[at + 4 + 8 * i:at + 12 + 8 * i] = v.to_bytes(8, "little")
    if ggml_type is not None:
        data[at + 4 + 8 * n_dims:at + 8 + 8 * n_dims] = ggml_type.to_bytes(4, "little")
    open(f"{out}/bad_{name}.gguf", "wb").write(data)
patch("rows128", dims=[128, 512])
patch("huge_row", dims=[1 << 40, 1])
patch("huge_rows", dims=[256, 1 << 55])
for name, t in (("TQ1_0", 34), ("TQ2_0", 35), ("IQ2_XXS", 16), ("IQ4_NL", 20), ("MXFP4", 39)):
    patch(name, ggml_type=t)
PY
SUPPORTED="F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16"
for case in "rows128:is Q4_K but its rows of 128 values are not a multiple of 256" \
    "huge_row:runs past the end of the file" "huge_rows:more than 2^63 elements" \
    "TQ1_0:has type TQ1_0, which this engine does not run ($SUPPORTED)" "TQ2_0:has type TQ2_0" \
    "IQ2_XXS:has type IQ2_XXS" "IQ4_NL:has type IQ4_NL" "MXFP4:has type MXFP4"; do
    name=${case%%:*}
    want=${case#*:}
    run_captured $RUN "$SCRATCH/bad_$name.gguf" -z "$SCRATCH/big.tok" -n 4
    if [ "$status" -eq 1 ] && [ "$(wc -l <"$SCRATCH/err")" -eq 1 ] && [ ! -s "$SCRATCH/out" ] &&
        grep -qF -- "$want" "$SCRATCH/err" && { [ "$want" = "${want#has type}" ] || grep -qF "$SUPPORTED" "$SCRATCH/err"; }; then
        ok "bad Q4_K file ($name): $(sed "s|$SCRATCH/||" "$SCRATCH/err" | cut -c 1-160)"
    else
        not_ok "bad Q4_K file ($name)" "status $status: $(cat "$SCRATCH/err")"
    fi
done

[ "$have_models" = yes ] || exit 0
QUANT=$MODELS_DIR/quant
if [ ! -f "$QUANT/q256.f32.gguf" ] || [ ! -f "$MODELS_DIR/stories260K.bin" ]; then
    if [ "${CI:-}" = "true" ]; then
        not_ok "quantize --type on the models" "$QUANT or stories260K.bin is missing, and CI requires them"
    fi
    exit 0
fi

# llama.cpp's files of q256.f32.gguf: Q4_0's blocks are its reference quantizer's, byte for
# byte; Q4_K_M's mix (which matrices get Q6_K) is llama.cpp's. Our Q4_K and Q6_K blocks are
# simpler than its (no search for the scales): measured 1.0e-1 overall against 8.9e-2 for
# llama.cpp's Q4_K_M file, both against the F32 file's logits.
if written "q256.f32.gguf --type q4_0: llama.cpp's Q4_0 file's types, and its Q4_0 blocks byte for byte" \
    "$QUANT/q256.f32.gguf" "$SCRATCH/q256.q4_0.gguf" q4_0 --same-types "$QUANT/q256.Q4_0.gguf" \
    --same-bytes "$QUANT/q256.Q4_0.gguf" Q4_0; then
    error_within "q256 --type q4_0 against the F32 file" "$SCRATCH/q256.q4_0.gguf" "$SCRATCH/q256.q4_0.gguf" \
        "$QUANT/q256.f32.gguf" 0.12 0.15
fi
if written "q256.f32.gguf --type q4_k_m: the types of llama.cpp's Q4_K_M file" \
    "$QUANT/q256.f32.gguf" "$SCRATCH/q256.q4_k_m.gguf" q4_k_m --same-types "$QUANT/q256.Q4_K_M.gguf"; then
    error_within "q256 --type q4_k_m against the F32 file" "$SCRATCH/q256.q4_k_m.gguf" \
        "$SCRATCH/q256.q4_k_m.gguf" "$QUANT/q256.f32.gguf" 0.12 0.15
fi

# stories260K: rows of 64 values are not whole super-blocks, so q4_k's matrices become
# llama.cpp's stand-in Q5_0 (Q6_K's Q8_0), and rows of 172 stay F32. Measured overall
# relative L2 against float32: q8_0 7.7e-3, q4_0 1.1e-1, q4_k 5.5e-2, q4_k_m 4.7e-2.
S=$MODELS_DIR/stories260K.bin
TOKENIZER=$MODELS_DIR/tok512.bin
for spec in q8_0:0.02:0.05 q4_0:0.15:3 q4_k:0.08:0.5 q4_k_m:0.08:0.5; do
    type=${spec%%:*}
    bounds=${spec#*:}
    if written "stories260K --type $type: blocks within their bound, runs" "$S" "$SCRATCH/s.$type.gguf" "$type"; then
        error_within "stories260K --type $type against float32" "$SCRATCH/s.$type.gguf" "$MODELS_DIR/tok512.bin" \
            "$S" "${bounds%%:*}" "${bounds#*:}"
    fi
done
