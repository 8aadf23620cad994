# Shared by the shell test suites: reporting, and a scratch directory with a
# small random checkpoint and tokenizer that the tests write themselves.
set -u
RUN=${RUN:-./run}
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
MODELS_DIR=${MODELS_DIR:-../shared/models}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; }

# expect NAME WANT_STATUS COMMAND...: runs the command with stdout and stderr
# captured in $SCRATCH/out and $SCRATCH/err; passes if the exit status matches.
# Sets $status. Further checks use the captured files.
run_captured() {
    "$@" >"$SCRATCH/out" 2>"$SCRATCH/err" </dev/null
    status=$?
}

# A random checkpoint: write_model NAME FORMAT [write_checkpoint.py options...]
write_model() {
    name=$1
    format=$2
    shift 2
    "$PYTHON" scripts/write_checkpoint.py "$SCRATCH/$name.bin" --format "$format" \
        --tokenizer "$SCRATCH/$name.tok" "$@"
}
