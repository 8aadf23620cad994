#!/bin/sh
# The thread pool under load: a decode run with a busy process beside it (which
# holds one of the cores, so that our threads are descheduled now and then)
# gives the same logits and text as one thread on an idle machine, and the
# same greedy tokens as reference.py. Speed under load is measured by
# scripts/bench.py --under-load, never here.
# Usage: test_threads.sh [yes|no]  (whether $MODELS_DIR is there)
. tests/lib.sh
have_models=${1:-no}

busy=""
stop_busy() {
    if [ -n "$busy" ]; then
        kill "$busy" 2>/dev/null
        wait "$busy" 2>/dev/null
        busy=""
    fi
}
trap 'stop_busy; rm -rf "$SCRATCH"' EXIT

# decode_runs NAME MODEL ARGS...: the run on 1 thread without load, then on 2
# and 3 threads and on the default (every core, the tuner choosing) with a
# busy loop beside them; each writes NAME.THREADS.logits and .out. Prints
# what failed or differed, nothing if all are identical.
decode_runs() {
    name=$1
    shift
    OMP_NUM_THREADS=1 $RUN "$@" --logits "$SCRATCH/$name.1.logits" >"$SCRATCH/$name.1.out" 2>"$SCRATCH/err" ||
        echo "1 thread failed: $(tail -1 "$SCRATCH/err");"
    sh -c 'while :; do :; done' &
    busy=$!
    for n in 2 3 default; do
        if [ "$n" = default ]; then
            $RUN "$@" --logits "$SCRATCH/$name.$n.logits" >"$SCRATCH/$name.$n.out" 2>"$SCRATCH/err"
        else
            OMP_NUM_THREADS=$n $RUN "$@" --logits "$SCRATCH/$name.$n.logits" >"$SCRATCH/$name.$n.out" 2>"$SCRATCH/err"
        fi || echo "$n threads under load failed: $(tail -1 "$SCRATCH/err");"
        cmp -s "$SCRATCH/$name.1.logits" "$SCRATCH/$name.$n.logits" &&
            cmp -s "$SCRATCH/$name.1.out" "$SCRATCH/$name.$n.out" ||
            echo "$n threads under load differ from 1 thread without;"
    done
    stop_busy
    [ -s "$SCRATCH/$name.1.logits" ] || echo "no logits written;"
}

# Wide enough that decoding's matmuls and, past position 170, its attention
# run on the pool; short prompt, so that nearly all of the 300 positions are decoded
# (seed 15: greedy decoding reaches position 294 before the end-of-text token).
write_model wide v1 --dim 192 --hidden-dim 512 --layers 2 --heads 6 --kv-heads 2 --vocab 400 \
    --seq-len 320 --seed 15 >/dev/null
differ=$(decode_runs wide "$SCRATCH/wide.bin" -z "$SCRATCH/wide.tok" -t 0 -n 300 -i "the fox")
if [ -z "$differ" ]; then
    ok "decoding with a busy process beside it: 2, 3 and the default threads give 1 idle thread's logits and text"
else
    not_ok "decoding under load" "$differ"
fi

# The same under load against numpy: the tokens fed and greedy continuation
# equal reference.py's, the logits within 1e-4.
sh -c 'while :; do :; done' &
busy=$!
if OMP_NUM_THREADS=2 "$PYTHON" scripts/compare.py --engine "$RUN" "$SCRATCH/wide.bin" "$SCRATCH/wide.tok" \
    --prompt "the fox" --steps 300 --quiet --tolerance 1e-4 >"$SCRATCH/compare" 2>&1; then
    ok "2 threads beside a busy process: reference.py's greedy tokens and logits ($(tail -1 "$SCRATCH/compare"))"
else
    not_ok "2 threads under load against reference.py" "$(tail -3 "$SCRATCH/compare")"
fi
stop_busy

# A tiny model, where every matmul is a job of a few microseconds: the most
# hand-overs between threads per token.
if [ "$have_models" = yes ]; then
    Q="$MODELS_DIR/quant/q256.f32.gguf"
    if [ -f "$Q" ]; then
        differ=$(decode_runs q256 "$Q" -t 0 -n 256 -i "Once upon a time")
        if [ -z "$differ" ]; then
            ok "q256.f32.gguf decoding with a busy process beside it: the same logits and text on 1, 2, 3 threads"
        else
            not_ok "q256.f32.gguf decoding under load" "$differ"
        fi
    else
        not_ok "q256.f32.gguf decoding under load" "$Q is missing"
    fi
fi
