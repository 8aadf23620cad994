#!/bin/sh
# make test: runs every test suite. Each prints one line per test,
# "ok - NAME" or "not ok - NAME: why"; the last line here is "N passed, M failed".
# The real models in $MODELS_DIR (default ../shared/models) are used when present,
# and are required when CI=true.
cd "$(dirname "$0")/.." || exit 1
MODELS_DIR=${MODELS_DIR:-../shared/models}
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
RUN=${RUN:-./run}                       # make sanitize points these at its own builds
UNIT_TESTS=${UNIT_TESTS:-tests/unit_tests}
GGUF_TESTS=${GGUF_TESTS:-tests/gguf_tests}
EXPLAIN_TESTS=${EXPLAIN_TESTS:-tests/explain_tests}
QUANT_TESTS=${QUANT_TESTS:-tests/quant_tests}
export MODELS_DIR PYTHON RUN MEMCHECK_RUN QUANT_TESTS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A suite that dies early must not pass silently: its exit status counts too.
run_suite() {
    name=$1
    shift
    out=$(mktemp)
    "$@" >"$out" 2>&1
    status=$?
    cat "$out" | tee -a "$log"
    rm -f "$out"
    if [ "$status" -ne 0 ]; then
        echo "not ok - $name exited with status $status" | tee -a "$log"
    fi
}

if [ -d "$MODELS_DIR" ]; then
    have_models=yes
elif [ "${CI:-}" = "true" ]; then
    echo "not ok - models directory $MODELS_DIR is missing, and CI requires it" | tee -a "$log"
    have_models=no
else
    echo "# $MODELS_DIR not found: skipping the tests on real models"
    have_models=no
fi
if ! "$PYTHON" -c 'import numpy, sentencepiece' 2>/dev/null; then
    echo "not ok - $PYTHON lacks numpy or sentencepiece (apt-get install python3-numpy python3-sentencepiece)" |
        tee -a "$log"
fi

if [ "$have_models" = yes ]; then
    run_suite unit_tests "$UNIT_TESTS" "$MODELS_DIR"
    run_suite gguf_tests "$GGUF_TESTS" "$MODELS_DIR"
    run_suite explain_tests "$EXPLAIN_TESTS" "$MODELS_DIR"
else
    run_suite unit_tests "$UNIT_TESTS"
    run_suite gguf_tests "$GGUF_TESTS"
    run_suite explain_tests "$EXPLAIN_TESTS"
fi
run_suite test_cli sh tests/test_cli.sh
run_suite test_generate sh tests/test_generate.sh
run_suite test_quants sh tests/test_quants.sh "$have_models"
run_suite test_attention_page sh tests/test_attention_page.sh
run_suite test_attribution sh tests/test_attribution.sh "$have_models" "$EXPLAIN_TESTS"
run_suite test_end_to_end sh tests/test_end_to_end.sh "$have_models"
run_suite test_quantize sh tests/test_quantize.sh "$have_models"
run_suite test_quantize_types sh tests/test_quantize_types.sh "$have_models"
run_suite test_chat_template sh tests/test_chat_template.sh "$have_models"
run_suite test_threads sh tests/test_threads.sh "$have_models"

passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
