# make            build ./run
# make test       build, then run every test (last line: "N passed, M failed")
# make sanitize   the tests on AddressSanitizer + UBSan builds (after make tsan)
# make tsan       the thread pool's tests on ThreadSanitizer builds
# make fuzz       libFuzzer on the loaders and the tokenizer (FUZZ_SECONDS per target)
# make bench      speed and memory on random checkpoints at the published shapes
# make run        build, then generate with the default model (stories15M, downloaded on
#                 first use); any other: make run MODEL=x.gguf PROMPT="..." (a .bin takes
#                 TOKENIZER=tok.bin, else the tokenizer.bin beside it or in MODELS_DIR)
CC ?= cc
# -march=native: the engine is built where it runs, so use every vector unit.
CFLAGS ?= -O3 -march=native
WARNINGS = -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror=implicit-function-declaration
# OpenMP threads when the compiler has them; vectorization hints (omp simd) always.
OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
# -fno-trapping-math: floating-point exceptions are never turned into traps
# here (clang's default), which lets gcc vectorize a loop with a comparison
# in it, such as fast_exp's clamps. Results, NaN and infinity included, are
# unchanged.
# ./run --version: the commit it was built from.
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
ALL_CFLAGS = $(CFLAGS) $(WARNINGS) -fopenmp-simd -fno-trapping-math $(OPENMP) -D_GNU_SOURCE
LDLIBS = -lm
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
MODELS_DIR ?= ../shared/models
MODEL ?= models/stories15M.bin
TOKENIZER ?=
PROMPT ?=
export MODELS_DIR PYTHON

# (one line each: scripts/fuzz.sh reads this list)
ENGINE_SOURCES = model.c arch_llama.c arch_qwen2.c arch_qwen3.c arch_gpt2.c layers.c llama2c.c llmc.c gguf_weights.c tokenizer.c vocab.c sentencepiece.c byte_bpe.c pretokenizer.c nfc.c unicode_classes.c sampler.c quants.c matmul.c kernels.c kernels_ref.c kernels_avx2.c kernels_avx512.c threads.c gguf.c explain.c attribution.c gguf_write.c save_file.c chat_template.c
HEADERS = model.h arch.h layers.h llama2c.h llmc.h gguf_weights.h tokenizer.h vocab.h sentencepiece.h byte_bpe.h pretokenizer.h nfc.h unicode_classes.h sampler.h quants.h kernels.h kernel_set.h threads.h gguf.h explain.h attribution.h gguf_write.h save_file.h chat_template.h

.PHONY: all engine test sanitize tsan fuzz bench clean

all: engine

ifeq ($(filter run,$(MAKECMDGOALS)),run)
# `make run` names the goal, not the file ./run: build the file in a sub-make, then run it.
.PHONY: run
run:
	@$(MAKE) --no-print-directory engine
	@sh scripts/run_default.sh "$(MODEL)" "$(TOKENIZER)" "$(PROMPT)"
else
engine: run

run: run.c $(ENGINE_SOURCES) $(HEADERS)
	$(CC) $(ALL_CFLAGS) -DRUN_VERSION='"$(VERSION)"' -o $@ run.c $(ENGINE_SOURCES) $(LDLIBS)
endif

tests/unit_tests: tests/unit_tests.c $(ENGINE_SOURCES) $(HEADERS)
	$(CC) $(ALL_CFLAGS) -I. -o $@ tests/unit_tests.c $(ENGINE_SOURCES) $(LDLIBS)

tests/gguf_tests: tests/gguf_tests.c gguf.c gguf.h quants.c quants.h
	$(CC) $(ALL_CFLAGS) -I. -o $@ tests/gguf_tests.c gguf.c quants.c $(LDLIBS)

tests/explain_tests: tests/explain_tests.c $(ENGINE_SOURCES) $(HEADERS) tests/test_harness.h
	$(CC) $(ALL_CFLAGS) -I. -o $@ tests/explain_tests.c $(ENGINE_SOURCES) $(LDLIBS)

tests/quant_tests: tests/quant_tests.c $(ENGINE_SOURCES) $(HEADERS) tests/test_harness.h
	$(CC) $(ALL_CFLAGS) -I. -o $@ tests/quant_tests.c $(ENGINE_SOURCES) $(LDLIBS)

# valgrind's memcheck (3.19) cannot decode AVX-512 and stops with SIGILL on
# a -march=native build of an AVX-512 machine: it gets a build for x86-64-v3
# (AVX2, FMA, F16C), whose vector kernels are the ones it then checks.
MEMCHECK_DIR = build/memcheck
MEMCHECK_CFLAGS = -O2 -g -march=x86-64-v3
test: engine tests/unit_tests tests/gguf_tests tests/explain_tests tests/quant_tests $(MEMCHECK_DIR)/run
	@MEMCHECK_RUN=$(MEMCHECK_DIR)/run sh tests/run_tests.sh

$(MEMCHECK_DIR)/run: run.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(MEMCHECK_DIR)
	$(CC) $(MEMCHECK_CFLAGS) $(WARNINGS) -fopenmp-simd -fno-trapping-math $(OPENMP) -D_GNU_SOURCE -o $@ run.c $(ENGINE_SOURCES) $(LDLIBS)

# Speed and memory on random checkpoints at the published shapes (written to
# bench/ on first use): prompt and decode tokens/s, bandwidth, peak RSS.
# BENCH_ARGS="--large" adds the 1.1B shapes; see scripts/bench.py --help.
bench: engine
	$(PYTHON) scripts/bench.py $(BENCH_ARGS)

# libFuzzer (clang) on the loaders and the tokenizer, FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	sh scripts/fuzz.sh $(FUZZ_SECONDS)

# The whole suite again, on builds with AddressSanitizer and UBSan: any report
# changes an exit status or adds a line to stderr, and so fails a test.
# -march=native, so that the vector kernels (tiles and lanes), which are what
# runs, are checked too, and not only the plain loops.
SANITIZE_DIR = build/sanitize
SANITIZE_FLAGS = -O1 -g -march=native -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
sanitize: tsan $(SANITIZE_DIR)/run $(SANITIZE_DIR)/unit_tests $(SANITIZE_DIR)/gguf_tests $(SANITIZE_DIR)/explain_tests \
          $(SANITIZE_DIR)/quant_tests
	@ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:exitcode=87 \
	    SANITIZED=1 RUN=$(SANITIZE_DIR)/run UNIT_TESTS=$(SANITIZE_DIR)/unit_tests \
	    GGUF_TESTS=$(SANITIZE_DIR)/gguf_tests EXPLAIN_TESTS=$(SANITIZE_DIR)/explain_tests \
	    QUANT_TESTS=$(SANITIZE_DIR)/quant_tests sh tests/run_tests.sh

$(SANITIZE_DIR)/run: run.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(SANITIZE_FLAGS) $(WARNINGS) $(OPENMP) -D_GNU_SOURCE -o $@ run.c $(ENGINE_SOURCES) $(LDLIBS)

$(SANITIZE_DIR)/unit_tests: tests/unit_tests.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(SANITIZE_FLAGS) $(WARNINGS) $(OPENMP) -D_GNU_SOURCE -I. -o $@ tests/unit_tests.c $(ENGINE_SOURCES) $(LDLIBS)

$(SANITIZE_DIR)/gguf_tests: tests/gguf_tests.c gguf.c gguf.h quants.c quants.h
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(SANITIZE_FLAGS) $(WARNINGS) $(OPENMP) -D_GNU_SOURCE -I. -o $@ tests/gguf_tests.c gguf.c quants.c $(LDLIBS)

$(SANITIZE_DIR)/explain_tests: tests/explain_tests.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(SANITIZE_FLAGS) $(WARNINGS) $(OPENMP) -D_GNU_SOURCE -I. -o $@ tests/explain_tests.c $(ENGINE_SOURCES) $(LDLIBS)

$(SANITIZE_DIR)/quant_tests: tests/quant_tests.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(SANITIZE_FLAGS) $(WARNINGS) $(OPENMP) -D_GNU_SOURCE -I. -o $@ tests/quant_tests.c $(ENGINE_SOURCES) $(LDLIBS)

# ThreadSanitizer on the thread pool: the unit tests (for_each_unit, the
# matmuls, attention) and the decoding-under-load tests. Built without OpenMP,
# whose runtime TSan cannot see into: every parallel loop then runs on the
# pool. Any report fails the run (exit 88), and so a test.
TSAN_DIR = build/tsan
TSAN_FLAGS = -O1 -g -march=native -fsanitize=thread
tsan: $(TSAN_DIR)/run $(TSAN_DIR)/unit_tests
	@models=$$(test -d "$(MODELS_DIR)" && echo yes || echo no); \
	    export TSAN_OPTIONS=halt_on_error=1:exitcode=88; \
	    { $(TSAN_DIR)/unit_tests $$(test $$models = yes && echo "$(MODELS_DIR)") || echo "not ok - unit_tests (TSan) exited $$?"; \
	      RUN=$(TSAN_DIR)/run sh tests/test_threads.sh $$models; } >$(TSAN_DIR)/log 2>&1; \
	    grep -v '^ok' $(TSAN_DIR)/log; echo "TSan: $$(grep -c '^ok' $(TSAN_DIR)/log) passed, $$(grep -c '^not ok' $(TSAN_DIR)/log) failed"; \
	    ! grep -q '^not ok' $(TSAN_DIR)/log

$(TSAN_DIR)/run: run.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(TSAN_DIR)
	$(CC) $(TSAN_FLAGS) $(WARNINGS) -fopenmp-simd -fno-trapping-math -D_GNU_SOURCE -o $@ run.c $(ENGINE_SOURCES) $(LDLIBS)

$(TSAN_DIR)/unit_tests: tests/unit_tests.c $(ENGINE_SOURCES) $(HEADERS)
	@mkdir -p $(TSAN_DIR)
	$(CC) $(TSAN_FLAGS) $(WARNINGS) -fopenmp-simd -fno-trapping-math -D_GNU_SOURCE -I. -o $@ tests/unit_tests.c $(ENGINE_SOURCES) $(LDLIBS)

clean:
	rm -rf run tests/unit_tests tests/gguf_tests tests/explain_tests tests/quant_tests build
