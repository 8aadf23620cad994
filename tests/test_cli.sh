#!/bin/sh
# The command line: flags, modes and bad input, on a random checkpoint.
# Every bad input must give one line on stderr, nothing on stdout, and the
# documented exit code (1 bad file or input, 2 bad command line), never a signal.
. tests/lib.sh

write_model tiny legacy --dim 32 --hidden-dim 48 --layers 2 --heads 4 --kv-heads 2 --vocab 300 --seq-len 48
M=$SCRATCH/tiny.bin
T=$SCRATCH/tiny.tok

# bad_usage NAME WANT_STATUS WORDS COMMAND...: a clean failure naming the problem.
expect_failure() {
    name=$1
    want=$2
    words=$3
    shift 3
    run_captured "$@"
    lines=$(wc -l <"$SCRATCH/err")
    if [ "$status" -ne "$want" ]; then
        not_ok "$name" "exit status $status, want $want ($(head -c 200 "$SCRATCH/err"))"
    elif [ -s "$SCRATCH/out" ]; then
        not_ok "$name" "printed to stdout: $(head -c 100 "$SCRATCH/out")"
    elif [ "$lines" -ne 1 ]; then
        not_ok "$name" "$lines lines on stderr, want 1: $(head -c 300 "$SCRATCH/err")"
    elif ! grep -q -- "$words" "$SCRATCH/err"; then
        not_ok "$name" "stderr lacks '$words': $(cat "$SCRATCH/err")"
    else
        ok "$name"
    fi
}

expect_failure "no arguments is a usage error" 2 "no checkpoint" $RUN
# An unknown flag is "unknown" wherever it stands, last included; values
# attach as --flag=value and -n10; flags the mode ignores are said so.
expect_failure "an unknown long flag given last is unknown, not missing a value" 2 "unknown option '--bogus'" \
    $RUN "$M" --bogus
expect_failure "an unknown short flag given last is unknown" 2 "unknown option '-q'" $RUN "$M" -q
expect_failure "--help takes no value" 2 "--help takes no value" $RUN --help=1
run_captured $RUN --version
if [ "$status" -eq 0 ] && grep -q '^run ' "$SCRATCH/out"; then
    ok "--version prints the version"
else
    not_ok "--version" "status $status: $(cat "$SCRATCH/out" "$SCRATCH/err")"
fi
$RUN "$M" -z "$T" -n 12 -s 5 -t 0.9 -i "ab" >"$SCRATCH/spaced" 2>/dev/null
$RUN "$M" -z "$T" -n12 -s5 --top=0 -t 0.9 -i "ab" >"$SCRATCH/attached" 2>/dev/null
if [ -s "$SCRATCH/spaced" ] && cmp -s "$SCRATCH/spaced" "$SCRATCH/attached"; then
    ok "-n12 and --top=0 read as -n 12 and --top 0"
else
    not_ok "attached flag values" "$(head -c 100 "$SCRATCH/spaced") / $(head -c 100 "$SCRATCH/attached")"
fi
run_captured $RUN "$M" -z "$T" -n 4 -s 1 -y "be brief"
if [ "$status" -eq 0 ] && grep -q "note: -y (system prompt) has no effect with -m generate" "$SCRATCH/err"; then
    ok "a flag the mode ignores is noted on stderr"
else
    not_ok "ignored flag" "status $status: $(cat "$SCRATCH/err")"
fi
run_captured $RUN "$M" -z "$T" -n 4 -i "ab"
seed=$(sed -n 's/^run: seed \([0-9]*\) (the time.*/\1/p' "$SCRATCH/err")
cp "$SCRATCH/out" "$SCRATCH/time_seeded"
if [ "$status" -eq 0 ] && [ -n "$seed" ] && $RUN "$M" -z "$T" -n 4 -i "ab" -s "$seed" 2>/dev/null |
    cmp -s - "$SCRATCH/time_seeded"; then
    ok "a time-based seed is printed, and -s with it repeats the run"
else
    not_ok "time-based seed" "status $status, seed '$seed': $(cat "$SCRATCH/err")"
fi
expect_failure "unknown flag is a usage error" 2 "unknown option '-q'" $RUN "$M" -q 1
expect_failure "flag without value is a usage error" 2 "needs a value" $RUN "$M" -t
expect_failure "negative temperature is rejected" 2 "temperature" $RUN "$M" -z "$T" -t -1
expect_failure "non-numeric temperature is rejected" 2 "temperature" $RUN "$M" -z "$T" -t hot
expect_failure "top-p above 1 is rejected" 2 "top-p" $RUN "$M" -z "$T" -p 1.5
expect_failure "non-numeric steps are rejected" 2 "steps" $RUN "$M" -z "$T" -n 12abc
expect_failure "negative top-k is rejected" 2 "top-k" $RUN "$M" -z "$T" -k -2
expect_failure "negative seed is rejected" 2 "seed" $RUN "$M" -z "$T" -s -3
expect_failure "unknown mode is rejected" 2 "unknown mode 'poem'" $RUN "$M" -z "$T" -m poem
expect_failure "two checkpoints are a usage error" 2 "one checkpoint" $RUN "$M" "$M"
expect_failure "missing checkpoint names the file" 1 "$SCRATCH/none.bin: cannot open" $RUN "$SCRATCH/none.bin" -z "$T"
expect_failure "missing tokenizer names the file" 1 "none.tok: cannot open" $RUN "$M" -z "$SCRATCH/none.tok"
expect_failure "default tokenizer missing suggests -z" 1 "give the tokenizer with -z" $RUN "$M"
: >"$SCRATCH/empty.bin"
expect_failure "empty checkpoint is one clear line" 1 "empty file" $RUN "$SCRATCH/empty.bin" -z "$T"
expect_failure "a directory as checkpoint is one clear line" 1 "is a directory, not a checkpoint" $RUN "$SCRATCH" -z "$T"
expect_failure "a directory as tokenizer is one clear line" 1 "is a directory, not a tokenizer" $RUN "$M" -z "$SCRATCH"
printf 'Hello, this is a README file with words.\n' >"$SCRATCH/readme.txt"
expect_failure "a text file as checkpoint is said to be text" 1 "readme.txt: a text file, not a checkpoint" \
    $RUN "$SCRATCH/readme.txt" -z "$T"
# The first bytes of a sentencepiece .model: a piece "<unk>" in protobuf.
printf '\n\016\n\005<unk>\025\000\000\000\000\030\002' >"$SCRATCH/spm.model"
expect_failure "a sentencepiece .model as tokenizer is named as such" 1 "spm.model: a sentencepiece .model file" \
    $RUN "$M" -z "$SCRATCH/spm.model"
expect_failure "empty tokenizer is one clear line" 1 "empty.bin: empty file" $RUN "$M" -z "$SCRATCH/empty.bin"
awk 'BEGIN { srand(7); for (i = 0; i < 5000; i++) printf "%c", 1 + int(rand() * 250) }' >"$SCRATCH/junk.bin"
expect_failure "random bytes as checkpoint are one clear line" 1 "junk.bin" $RUN "$SCRATCH/junk.bin" -z "$T"
expect_failure "random bytes as tokenizer are one clear line" 1 "junk.bin" $RUN "$M" -z "$SCRATCH/junk.bin"
# Weights that are NaN make NaN logits: a clear error, not garbage text.
"$PYTHON" -c '
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-4000:] = b"\x00\x00\xc0\x7f" * 1000
open(sys.argv[2], "wb").write(data)' "$M" "$SCRATCH/nan.bin"
run_captured $RUN "$SCRATCH/nan.bin" -z "$T" -n 5
if [ "$status" -eq 1 ] && grep -q "non-finite logits" "$SCRATCH/err"; then
    ok "NaN weights stop generation with a clear error"
else
    not_ok "NaN weights" "status $status: $(cat "$SCRATCH/err")"
fi
head -c 1000 "$M" >"$SCRATCH/truncated.bin"
expect_failure "truncated checkpoint is one clear line" 1 "truncated" $RUN "$SCRATCH/truncated.bin" -z "$T"
write_model other v1 --dim 32 --hidden-dim 48 --layers 1 --heads 4 --kv-heads 4 --vocab 200 --seq-len 16
expect_failure "tokenizer of another vocabulary size is rejected" 1 "vocab_size is 300" \
    $RUN "$M" -z "$SCRATCH/other.tok"
long_prompt=$(awk 'BEGIN { for (i = 0; i < 60; i++) printf "%c", 97 + (i * 7) % 26 }')
expect_failure "prompt longer than the context is an error" 1 "longer than the model's context of 48" \
    $RUN "$M" -z "$T" -i "$long_prompt"

expect_failure "quantize without two paths is a usage error" 2 "usage: ./run quantize" $RUN quantize "$M"
$RUN quantize "$M" "$SCRATCH/tiny_q8.bin" 2>/dev/null
expect_failure "quantizing an int8 file is refused, naming the input" 1 "tiny_q8.bin: the model to quantize must have float32" \
    $RUN quantize "$SCRATCH/tiny_q8.bin" "$SCRATCH/again.bin"

# quantize never touches its input: the output named as the input itself, through a
# hard link or a symbolic link, is refused and the input keeps every byte; a
# failed write leaves nothing behind, and a finished one no temporary file.
cp "$M" "$SCRATCH/keep.bin"
cp "$M" "$SCRATCH/keep.orig"
ln "$SCRATCH/keep.bin" "$SCRATCH/keep.hard"
ln -s keep.bin "$SCRATCH/keep.sym"
for out in "$SCRATCH/keep.bin" "$SCRATCH/keep.hard" "$SCRATCH/keep.sym" "$SCRATCH/../$(basename "$SCRATCH")/keep.bin"; do
    expect_failure "quantize refuses to write over its input ($(basename "$out"))" 2 "is the input file" \
        $RUN quantize "$SCRATCH/keep.bin" "$out"
    if ! cmp -s "$SCRATCH/keep.bin" "$SCRATCH/keep.orig"; then
        not_ok "quantize left its input whole ($(basename "$out"))" "keep.bin changed"
        cp "$SCRATCH/keep.orig" "$SCRATCH/keep.bin"
    fi
done
expect_failure "quantize into a missing directory fails cleanly" 1 "nodir/out.bin: cannot write" \
    $RUN quantize "$M" "$SCRATCH/nodir/out.bin"
echo "an older file" >"$SCRATCH/replaced.bin"
$RUN quantize "$M" "$SCRATCH/replaced.bin" 2>/dev/null
leftovers=$(ls "$SCRATCH" | grep -c '\.tmp-' || true)
if cmp -s "$SCRATCH/replaced.bin" "$SCRATCH/tiny_q8.bin" && [ "$leftovers" -eq 0 ] &&
    [ "$(stat -c %a "$SCRATCH/replaced.bin")" = "$(stat -c %a "$SCRATCH/tiny_q8.bin")" ]; then
    ok "quantize replaces an older output whole, with no temporary file left"
else
    not_ok "quantize over an older output" "$leftovers temporary files; $(stat -c %a "$SCRATCH/replaced.bin")"
fi
expect_failure "quantize names a missing input" 1 "none.bin: cannot open" $RUN quantize "$SCRATCH/none.bin" "$SCRATCH/x.bin"

# GGUF files it must refuse, each with one line naming the file and the reason.
gguf() {
    name=$1
    shift
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/$name.gguf" --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 \
        --vocab 300 --layers 1 "$@" >/dev/null 2>&1
}
gguf other_arch --set-string general.architecture=gemma
expect_failure "GGUF of another architecture is refused by name" 1 "architecture 'gemma' is not supported" \
    $RUN "$SCRATCH/other_arch.gguf"
gguf gpt2 --set-string tokenizer.ggml.model=gpt2
expect_failure "GGUF with a gpt2 vocabulary but no merges is refused" 1 "gpt2.gguf: no tokenizer.ggml.merges" \
    $RUN "$SCRATCH/gpt2.gguf"

# GPT-2 files it must refuse: a missing position table, a missing bias, a
# q|k|v matrix of the wrong shape; and a prompt past its position table.
gpt2_gguf() {
    name=$1
    shift
    "$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/$name.gguf" --dim 32 --heads 4 --layers 1 --seq-len 16 \
        "$@" >/dev/null 2>&1
}
gpt2_gguf gpt2_no_positions --omit position_embd.weight
expect_failure "GPT-2 GGUF without position_embd names it" 1 \
    "gpt2_no_positions.gguf: tensor position_embd.weight is missing" $RUN "$SCRATCH/gpt2_no_positions.gguf"
gpt2_gguf gpt2_no_bias --omit blk.0.ffn_up.bias
expect_failure "GPT-2 GGUF without a bias names it" 1 "tensor blk.0.ffn_up.bias is missing" \
    $RUN "$SCRATCH/gpt2_no_bias.gguf"
gpt2_gguf gpt2_bad_qkv --cut-rows blk.0.attn_qkv.weight=64
expect_failure "GPT-2 GGUF with a q|k|v matrix of the wrong shape names it" 1 \
    "tensor blk.0.attn_qkv.weight has shape \\[32, 64\\], expected \\[32, 96\\]" $RUN "$SCRATCH/gpt2_bad_qkv.gguf"
gpt2_gguf gpt2_short
expect_failure "GPT-2: a prompt longer than the position table is an error" 1 \
    "longer than the model's context of 16" $RUN "$SCRATCH/gpt2_short.gguf" -i "$long_prompt"

# Llama 3, Qwen2 and Qwen3 files it must refuse, each by the key or tensor at
# fault: a missing q/k norm or bias, a rope_freqs of the wrong length, a head
# size (key_length) the tensors do not have, an odd one, a value length
# apart from it, no key_length where dim does not divide, a RoPE scaling it
# does not run.
gguf qwen3_no_q_norm --arch qwen3 --head-size 16 --omit blk.0.attn_q_norm.weight
expect_failure "Qwen3 GGUF without attn_q_norm names it" 1 \
    "qwen3_no_q_norm.gguf: tensor blk.0.attn_q_norm.weight is missing" $RUN "$SCRATCH/qwen3_no_q_norm.gguf"
gguf qwen3_short_k_norm --arch qwen3 --head-size 16 --cut blk.0.attn_k_norm.weight=8
expect_failure "Qwen3 GGUF with a k norm of the wrong length names it" 1 \
    "tensor blk.0.attn_k_norm.weight must be 16 float32 values (it is type F32, 8 values)" \
    $RUN "$SCRATCH/qwen3_short_k_norm.gguf"
gguf qwen2_no_bias --arch qwen2 --omit blk.0.attn_k.bias
expect_failure "Qwen2 GGUF without a k bias names it" 1 "qwen2_no_bias.gguf: tensor blk.0.attn_k.bias is missing" \
    $RUN "$SCRATCH/qwen2_no_bias.gguf"
gguf llama3_short_freqs --rope-freq-base 500000 --llama3-rope 8:1:4:8192 --cut rope_freqs.weight=3
expect_failure "Llama 3 GGUF with a rope_freqs of the wrong length names it" 1 \
    "tensor rope_freqs.weight must be 4 float32 values (it is type F32, 3 values)" \
    $RUN "$SCRATCH/llama3_short_freqs.gguf"
gguf llama3_zero_freq --rope-freqs 1,2,4,0
expect_failure "Llama 3 GGUF with a rope_freqs divisor of 0 names it" 1 \
    "tensor rope_freqs.weight holds 0 at 3; a frequency's divisor must be positive" \
    $RUN "$SCRATCH/llama3_zero_freq.gguf"
gguf qwen3_bad_key_length --arch qwen3 --head-size 16 --set-u32 qwen3.attention.key_length=12 \
    --set-u32 qwen3.attention.value_length=12 --set-u32 qwen3.rope.dimension_count=12
expect_failure "Qwen3 GGUF whose key_length the tensors do not have names the tensor" 1 \
    "tensor blk.0.attn_q.weight has shape \[32, 64\], expected \[32, 48\] from the metadata" \
    $RUN "$SCRATCH/qwen3_bad_key_length.gguf"
gguf qwen3_odd_key_length --arch qwen3 --head-size 16 --set-u32 qwen3.attention.key_length=7 \
    --set-u32 qwen3.attention.value_length=7
expect_failure "Qwen3 GGUF with an odd key_length is refused" 1 "bad metadata: head size 7 is odd" \
    $RUN "$SCRATCH/qwen3_odd_key_length.gguf"
gguf qwen3_value_length --arch qwen3 --head-size 16 --set-u32 qwen3.attention.value_length=8
expect_failure "Qwen3 GGUF whose value_length differs from key_length names it" 1 \
    "qwen3.attention.value_length is 8 but the head size (key length) is 16" $RUN "$SCRATCH/qwen3_value_length.gguf"
gguf qwen2_indivisible --arch qwen2 --set-u32 qwen2.attention.head_count=6 --set-u32 qwen2.attention.head_count_kv=3
expect_failure "GGUF without key_length whose dim does not divide by its heads is refused" 1 \
    "bad metadata: dim 32 is not divisible by n_heads 6" $RUN "$SCRATCH/qwen2_indivisible.gguf"
gguf llama3_freqs --rope-freq-base 500000 --llama3-rope 8:1:4:8192
expect_failure "quantizing a Llama 3 GGUF to a .bin is refused: its RoPE base would be lost" 1 \
    "RoPE base 500000 would be lost: llama2.c's int8 format always means 10000" \
    $RUN quantize "$SCRATCH/llama3_freqs.gguf" "$SCRATCH/llama3_q8.bin"
gguf llama3_freqs_base10k --llama3-rope 8:1:4:8192
expect_failure "quantizing a GGUF with rope_freqs to a .bin is refused: llama2.c's format has no place for them" 1 \
    "its RoPE frequency factors (rope_freqs) would be lost: llama2.c's int8 format has no place for it" \
    $RUN quantize "$SCRATCH/llama3_freqs_base10k.gguf" "$SCRATCH/llama3_q8.bin"
gguf qwen3_quantize --arch qwen3 --head-size 16
expect_failure "quantizing a Qwen3 GGUF is refused" 1 "cannot quantize a qwen3 model" \
    $RUN quantize "$SCRATCH/qwen3_quantize.gguf" "$SCRATCH/qwen3_q8.bin"
gguf llama_partial_rope --set-u32 llama.rope.dimension_count=4
expect_failure "GGUF rotating part of each head only is refused by name" 1 \
    "llama.rope.dimension_count is 4; only rotating whole heads (8) is supported" \
    $RUN "$SCRATCH/llama_partial_rope.gguf"
gguf llama_yarn --rope-scaling yarn:4
expect_failure "GGUF with YaRN RoPE scaling is refused by name" 1 \
    "llama.rope.scaling.type 'yarn' is not supported (only none and linear)" $RUN "$SCRATCH/llama_yarn.gguf"

# llm.c checkpoints it must refuse: a version other than 3 (fp32) and 5 (bf16),
# an fp32 file that says bf16 (the sizes disagree), a truncated file, a header
# dimension of 0.
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/llmc_vocab.gguf" --dim 32 --heads 4 --layers 1 --seq-len 16 \
    --llmc "$SCRATCH/llmc.bin" >/dev/null 2>&1
"$PYTHON" -c '
import sys
data = bytearray(open(sys.argv[1], "rb").read())
bf16 = bytearray(data); bf16[4:8] = (5).to_bytes(4, "little")
open(sys.argv[2], "wb").write(bf16)
v4 = bytearray(data); v4[4:8] = (4).to_bytes(4, "little")
open(sys.argv[2] + ".v4", "wb").write(v4)
open(sys.argv[3], "wb").write(data[:-100])
zero = bytearray(data); zero[24:28] = (0).to_bytes(4, "little")
open(sys.argv[4], "wb").write(zero)' "$SCRATCH/llmc.bin" "$SCRATCH/llmc_bf16.bin" "$SCRATCH/llmc_cut.bin" \
    "$SCRATCH/llmc_zero.bin"
expect_failure "quantizing a GPT-2 model is refused: llama2.c's int8 format is Llama's" 1 \
    "cannot quantize a gpt2 model" $RUN quantize "$SCRATCH/llmc.bin" "$SCRATCH/llmc_q8.bin"
expect_failure "llm.c checkpoint of an unknown version is refused by number" 1 \
    "llmc_bf16.bin.v4: unsupported llm.c checkpoint version 4 (only 3, fp32, and 5, bf16)" \
    $RUN "$SCRATCH/llmc_bf16.bin.v4" -z "$SCRATCH/llmc_vocab.gguf"
expect_failure "llm.c fp32 data under a bf16 header is refused by its size" 1 \
    "llmc_bf16.bin: file is .* implies .*: truncated, or not this format" \
    $RUN "$SCRATCH/llmc_bf16.bin" -z "$SCRATCH/llmc_vocab.gguf"
expect_failure "truncated llm.c checkpoint is one clear line" 1 "llmc_cut.bin: file is .* implies" \
    $RUN "$SCRATCH/llmc_cut.bin" -z "$SCRATCH/llmc_vocab.gguf"
expect_failure "llm.c checkpoint with channels 0 is refused" 1 "llmc_zero.bin: bad header: dim is 0" \
    $RUN "$SCRATCH/llmc_zero.bin" -z "$SCRATCH/llmc_vocab.gguf"
"$PYTHON" -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[28:32] = (6).to_bytes(4, "little")
open(sys.argv[2], "wb").write(d)' "$SCRATCH/llmc.bin" "$SCRATCH/llmc_padded.bin"
expect_failure "llm.c checkpoint whose padded vocabulary is smaller than its vocabulary is refused" 1 \
    "llmc_padded.bin: bad header: padded_vocab_size 6 is less than vocab_size 263" \
    $RUN "$SCRATCH/llmc_padded.bin" -z "$SCRATCH/llmc_vocab.gguf"

# llm.c's gpt2_tokenizer.bin decodes only: anything that encodes text is one
# line, as are its broken headers and bodies.
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/llmc_tok.gguf" --dim 32 --heads 4 --layers 1 --seq-len 16 \
    --llmc-tokenizer "$SCRATCH/llmc_tok.bin" >/dev/null 2>&1
"$PYTHON" -c '
import sys
src, out = sys.argv[1], sys.argv[2]
data = bytes(open(src, "rb").read())
def put(name, blob):
    open(out + name, "wb").write(blob)
def field(i, v):
    d = bytearray(data); d[4 * i:4 * i + 4] = v.to_bytes(4, "little", signed=True); return bytes(d)
put("version.bin", field(1, 3))
put("count.bin", field(2, 262))
put("eot.bin", field(3, 263))
put("cut.bin", data[:-3])
put("tail.bin", data + b"x")
put("header.bin", data[:500])
empty = bytearray(data); empty[1024] = 0
put("empty.bin", bytes(empty))' "$SCRATCH/llmc_tok.bin" "$SCRATCH/llmc_tok_"
expect_failure "llm.c's tokenizer refuses a prompt" 1 "llm.c's tokenizer can only decode" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok.bin" -i "Hello"
expect_failure "llm.c's tokenizer refuses -m tokenize" 1 "llm.c's tokenizer can only decode" \
    $RUN -m tokenize -z "$SCRATCH/llmc_tok.bin" -i "Hello"
expect_failure "llm.c's tokenizer refuses chat" 1 "llm.c's tokenizer can only decode" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok.bin" -m chat
expect_failure "llm.c's tokenizer of another version is refused" 1 "unsupported llm.c tokenizer version 3" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_version.bin"
expect_failure "llm.c's tokenizer with fewer tokens than the model is refused" 1 \
    "holds 262 tokens but the model's vocab_size is 263" $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_count.bin"
expect_failure "llm.c's tokenizer whose end-of-text id is past its tokens is refused" 1 \
    "end-of-text token 263 is not among its 263 tokens" $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_eot.bin"
expect_failure "truncated llm.c tokenizer is one clear line" 1 "llmc_tok_cut.bin: truncated" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_cut.bin"
expect_failure "llm.c tokenizer with a truncated header is one clear line" 1 \
    "llmc_tok_header.bin: truncated header: 500 bytes" $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_header.bin"
expect_failure "llm.c tokenizer with bytes after its last token is refused" 1 "1 bytes after its 263 tokens" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_tail.bin"
expect_failure "llm.c tokenizer with an empty token is refused" 1 "token 0 is empty" \
    $RUN "$SCRATCH/llmc.bin" -z "$SCRATCH/llmc_tok_empty.bin"

# Byte-level BPE vocabularies (scripts/write_bpe_vocab.py): "the cat" is 116 257 261 there.
bpe_vocab() {
    name=$1
    shift
    "$PYTHON" scripts/write_bpe_vocab.py "$SCRATCH/$name.gguf" "$@" >/dev/null 2>&1
}
bpe_vocab bpe
bpe_vocab bpe_bos --add-bos
bpe_vocab bpe_no_pre --no-pre
ids=$($RUN -m tokenize -z "$SCRATCH/bpe.gguf" -i "the cat" 2>&1; printf 'the cat\n\n' | $RUN -m tokenize -z "$SCRATCH/bpe.gguf" 2>&1;
    $RUN -m tokenize -z "$SCRATCH/bpe_bos.gguf" -i "the cat" 2>&1; $RUN -m tokenize -z "$SCRATCH/bpe_no_pre.gguf" -i "the cat" 2>&1)
want=$(printf '116 257 261\n116 257 261\n262\n262 116 257 261\n116 257 261')
if [ "$ids" = "$want" ]; then
    ok "byte-level BPE: merges by rank, BOS only when add_bos_token says so (alone for an empty text), GPT-2's split without a pre"
else
    not_ok "byte-level BPE tokenize" "got: $ids"
fi
ids=$($RUN -m tokenize -z "$SCRATCH/bpe.gguf" -i "$(printf 'the\n\n cat')" 2>&1)
if [ "$ids" = "116 257 10 10 261" ]; then
    ok "byte-level BPE: tokenize -i keeps the text's newlines"
else
    not_ok "byte-level BPE tokenize -i" "got: $ids"
fi
bpe_vocab bpe_pre --pre deepseek-llm
expect_failure "byte-level BPE with an unknown pre-tokenizer is refused by name" 1 \
    "bpe_pre.gguf: pre-tokenizer 'deepseek-llm' is not supported yet" $RUN -m tokenize -z "$SCRATCH/bpe_pre.gguf" -i x
# Llama 3's, Qwen2's and SmolLM2's splits (each checked against its tokenizer.json in test_end_to_end.sh):
# "the cat" is the same in each; numbers and typed special tokens are not.
bpe_vocab bpe_llama3 --pre llama-bpe --control-token '<|eot_id|>'
bpe_vocab bpe_qwen2 --pre qwen2 --control-token '<|im_end|>' --user-token '<think>'
bpe_vocab bpe_smollm --pre smollm
ids=$(for v in bpe_llama3 bpe_qwen2 bpe_smollm; do
    $RUN -m tokenize -z "$SCRATCH/$v.gguf" -i "$(printf 'the cat 1234\r\n<think><|eot_id|>e\314\201')" 2>&1
done)
want=$(printf '%s\n' "116 257 261 32 49 50 51 52 13 10 60 116 104 105 110 107 62 60 124 101 111 116 95 105 100 124 62 101 204 129" \
    "116 257 261 32 49 50 51 52 13 10 264 60 124 101 111 116 95 105 100 124 62 195 169" \
    "116 257 261 32 49 50 51 52 13 10 60 116 104 105 110 107 62 60 124 101 111 116 95 105 100 124 62 101 204 129")
if [ "$ids" = "$want" ]; then
    ok "byte-level BPE: llama-bpe, qwen2 (NFC, a user-defined token) and smollm vocabularies load; typed control tokens are text"
else
    not_ok "byte-level BPE: llama-bpe, qwen2 and smollm" "got: $ids"
fi
bpe_vocab bpe_starcoder --pre starcoder
expect_failure "byte-level BPE: starcoder's split (digits one by one) is not GPT-2's" 1 \
    "pre-tokenizer 'starcoder' is not supported yet" $RUN -m tokenize -z "$SCRATCH/bpe_starcoder.gguf" -i x
bpe_vocab bpe_no_merges --no-merges
expect_failure "byte-level BPE without merges is refused" 1 "bpe_no_merges.gguf: no tokenizer.ggml.merges" \
    $RUN -m tokenize -z "$SCRATCH/bpe_no_merges.gguf" -i x
bpe_vocab bpe_unknown_piece --merge "Ġ zzz"
expect_failure "byte-level BPE merge naming no token is named" 1 \
    "merge 6 ('Ġ zzz') names 'zzz', which is not a token" $RUN -m tokenize -z "$SCRATCH/bpe_unknown_piece.gguf" -i x
bpe_vocab bpe_not_a_pair --merge "abc"
expect_failure "byte-level BPE merge that is not two pieces is named" 1 \
    "merge 6 ('abc') is not two pieces separated by one space" $RUN -m tokenize -z "$SCRATCH/bpe_not_a_pair.gguf" -i x
bpe_vocab bpe_no_result --merge "c a"
expect_failure "byte-level BPE merge whose piece is not a token is named" 1 \
    "merge 6 ('c a') makes a piece that is not a token" $RUN -m tokenize -z "$SCRATCH/bpe_no_result.gguf" -i x
gguf good
"$PYTHON" -c '
import sys
data = bytearray(open(sys.argv[1], "rb").read())
name = b"blk.0.attn_q.weight"
at = data.index(name) + len(name)
n_dims = int.from_bytes(data[at:at + 4], "little")
type_at = at + 4 + 8 * n_dims
data[type_at:type_at + 4] = (20).to_bytes(4, "little")          # IQ4_NL
open(sys.argv[2], "wb").write(data)
data = bytearray(open(sys.argv[1], "rb").read())
at = data.index(b"blk.0.ffn_up.weight")
data[at:at + 19] = b"blk.0.ffn_XX.weight"
open(sys.argv[3], "wb").write(data)' "$SCRATCH/good.gguf" "$SCRATCH/iq4.gguf" "$SCRATCH/missing.gguf"
expect_failure "GGUF tensor of a type it does not run is named" 1 "blk.0.attn_q.weight has type IQ4_NL" \
    $RUN "$SCRATCH/iq4.gguf"
expect_failure "GGUF with a missing tensor names it" 1 "tensor blk.0.ffn_up.weight is missing" \
    $RUN "$SCRATCH/missing.gguf"
head -c 3000 "$SCRATCH/good.gguf" >"$SCRATCH/cut.gguf"
expect_failure "truncated GGUF is one clear line" 1 "cut.gguf" $RUN "$SCRATCH/cut.gguf"

# Inputs the fuzzers once crashed or hung on: a clean exit (0 or 1) now, quickly.
for input in tests/fuzz/regressions/checkpoint/*; do
    [ -f "$input" ] || continue
    timeout 20 $RUN "$input" -z "$T" -n 4 -t 1e-30 >/dev/null 2>&1 </dev/null
    status=$?
    timeout 20 $RUN "$input" -m tokenize -z "$T" >/dev/null 2>&1 </dev/null
    status2=$?
    if [ "$status" -le 1 ] && [ "$status2" -le 1 ]; then
        ok "fuzz regression $(basename "$input"): clean exit"
    else
        not_ok "fuzz regression $(basename "$input")" "exit status $status / $status2"
    fi
done
for input in tests/fuzz/regressions/tokenizer_load/*; do
    [ -f "$input" ] || continue
    printf 'a b\n\n' | timeout 20 $RUN -m tokenize -z "$input" >/dev/null 2>&1
    status=$?
    if [ "$status" -le 1 ]; then
        ok "fuzz regression $(basename "$input"): clean exit"
    else
        not_ok "fuzz regression $(basename "$input")" "exit status $status"
    fi
done

# That vocabulary's BOS (id 7) is typed as the byte 0x04: a 0x04 in the text
# must not become a BOS (BOS first, then pieces only).
ids=$(printf 'a\004b\n' | $RUN -m tokenize -z tests/fuzz/regressions/tokenizer_load/crash-gguf-bos-typed-as-a-byte 2>&1)
if echo "$ids" | awk '$1 == 7 { for (i = 2; i <= NF; i++) if ($i == 7) exit 1; ok = 1 } END { exit !ok }'; then
    ok "a BOS typed as a byte token stays out of the text (ids: $ids)"
else
    not_ok "a BOS typed as a byte token stays out of the text" "ids: $ids"
fi

expect_failure "GGUF vocabulary whose BOS is the unknown token" 1 "the unknown token's" \
    $RUN -m tokenize -z tests/fuzz/regressions/tokenizer_load/crash-gguf-bos-is-the-unknown-token

run_captured $RUN --help
if [ "$status" -eq 0 ] && grep -q "Usage" "$SCRATCH/out" && ! [ -s "$SCRATCH/err" ]; then
    ok "--help prints usage to stdout"
else
    not_ok "--help prints usage to stdout" "status $status"
fi

run_captured $RUN "$M" -z "$T" -t 0 -n 1000
if [ "$status" -eq 0 ] && grep -q "past the context" "$SCRATCH/err" && grep -q "end of the context" "$SCRATCH/err"; then
    ok "-n past the context is clamped with a note, and the end of the context is reported"
else
    not_ok "-n past the context is clamped" "status $status: $(cat "$SCRATCH/err")"
fi

# Stdout carries only text, as valid UTF-8, whatever bytes the prompt had.
printf 'caf\303\251 \377\376 \303 end' >"$SCRATCH/junk"
run_captured $RUN "$M" -z "$T" -t 0.8 -s 5 -n 40 -i "$(cat "$SCRATCH/junk")"
if [ "$status" -eq 0 ] && "$PYTHON" -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <"$SCRATCH/out"; then
    ok "invalid UTF-8 in the prompt is encoded, and stdout stays valid UTF-8"
else
    not_ok "invalid UTF-8 prompt" "status $status"
fi
if "$PYTHON" -c '
import sys
data = open(sys.argv[1], "rb").read()
bad = [b for b in data if (b < 32 and b not in b"\t\n\r\x0b\x0c") or b == 127]
sys.exit(1 if bad else 0)' "$SCRATCH/out"; then
    ok "no control bytes other than whitespace reach stdout"
else
    not_ok "control bytes on stdout" "$(od -c "$SCRATCH/out" | head -3)"
fi

run_captured $RUN "$M" -z "$T" -s 3 -n 10 -i ""
if [ "$status" -eq 0 ] && [ -s "$SCRATCH/out" ]; then
    ok "an empty prompt generates from BOS"
else
    not_ok "empty prompt" "status $status"
fi

# Same seed, same text; the prompt is echoed first.
$RUN "$M" -z "$T" -s 42 -n 30 -i "ab" >"$SCRATCH/a" 2>/dev/null
$RUN "$M" -z "$T" -s 42 -n 30 -i "ab" >"$SCRATCH/b" 2>/dev/null
if cmp -s "$SCRATCH/a" "$SCRATCH/b" && [ "$(head -c 2 "$SCRATCH/a")" = "ab" ]; then
    ok "a seed makes a run reproducible, and the prompt is echoed"
else
    not_ok "seeded runs differ" "$(head -c 80 "$SCRATCH/a") / $(head -c 80 "$SCRATCH/b")"
fi

run_captured $RUN "$M" -z "$T" -t 0 -n 10 --top 3
top_lines=$(grep -c '^\[[0-9]*\] ' "$SCRATCH/err")
if [ "$status" -eq 0 ] && [ "$top_lines" -eq 10 ]; then
    ok "--top prints the candidates of every generated token on stderr"
else
    not_ok "--top" "status $status, $top_lines lines: $(head -3 "$SCRATCH/err")"
fi

# --logits: header, one record per position computed, token ids within the vocabulary.
run_captured $RUN "$M" -z "$T" -t 0 -n 12 -i "abc" --logits "$SCRATCH/logits"
if [ "$status" -eq 0 ] && "$PYTHON" -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
magic, version, vocab, n = data[:4], *struct.unpack("<3i", data[4:16])
assert magic == b"LOGT" and version == 1 and vocab == 300, (magic, version, vocab)
assert n == 12, n
assert len(data) == 16 + n * (8 + 4 * vocab), len(data)
for i in range(n):
    pos, tok = struct.unpack_from("<2i", data, 16 + i * (8 + 4 * vocab))
    assert pos == i and 0 <= tok < vocab, (i, pos, tok)
' "$SCRATCH/logits"; then
    ok "--logits writes one record per position, in the documented format"
else
    not_ok "--logits" "status $status"
fi

# tokenize: with only a tokenizer, or with a checkpoint; one line of ids per line.
printf 'ab\n\nabc de\n' | $RUN -m tokenize -z "$T" >"$SCRATCH/ids1" 2>"$SCRATCH/err"
s1=$?
printf 'ab\n\nabc de\n' | $RUN "$M" -m tokenize -z "$T" >"$SCRATCH/ids2" 2>>"$SCRATCH/err"
s2=$?
if [ $s1 -eq 0 ] && [ $s2 -eq 0 ] && cmp -s "$SCRATCH/ids1" "$SCRATCH/ids2" && [ "$(wc -l <"$SCRATCH/ids1")" -eq 3 ] &&
    [ "$(sed -n 2p "$SCRATCH/ids1")" = "1" ]; then
    ok "tokenize mode prints BOS and ids per line, with or without a checkpoint"
else
    not_ok "tokenize mode" "$s1 $s2 $(cat "$SCRATCH/ids1" "$SCRATCH/err")"
fi
expect_failure "tokenize without a tokenizer is a usage error" 2 "needs a tokenizer" $RUN -m tokenize
# tokenize -i: the one text, its newline included, as one line of ids; stdin is not read.
text=$(printf 'ab\nabc de')
echo "not read" | $RUN -m tokenize -z "$T" -i "$text" >"$SCRATCH/ids1" 2>"$SCRATCH/err"
s1=$?
$RUN "$M" -m tokenize -z "$T" -i "$text" >"$SCRATCH/ids2" 2>>"$SCRATCH/err" </dev/null
s2=$?
$RUN -m tokenize -z "$T" -i "" >"$SCRATCH/ids3" 2>>"$SCRATCH/err"
s3=$?
if [ $s1 -eq 0 ] && [ $s2 -eq 0 ] && [ $s3 -eq 0 ] && cmp -s "$SCRATCH/ids1" "$SCRATCH/ids2" &&
    [ "$(wc -l <"$SCRATCH/ids1")" -eq 1 ] && [ "$(cut -d' ' -f1 "$SCRATCH/ids1")" = "1" ] &&
    [ "$(wc -w <"$SCRATCH/ids1")" -gt 4 ] && [ "$(cat "$SCRATCH/ids3")" = "1" ]; then
    ok "tokenize -i prints one line of ids for a text with a newline, and BOS alone for an empty one"
else
    not_ok "tokenize -i" "$s1 $s2 $s3 $(cat "$SCRATCH/ids1" "$SCRATCH/ids3" "$SCRATCH/err")"
fi

# chat: -n caps each answer; a turn after the first closes the answer before it with
# </s> (EOS, then the next turn's BOS, as Llama 2's template has it); a Windows line
# ending is not part of the message; end of input ends the "User: " line; a first
# message longer than the context says so.
printf 'a\nb\n' | $RUN "$M" -z "$T" -m chat -s 3 -n 3 --top 1 --logits "$SCRATCH/chat.logits" \
    >/dev/null 2>"$SCRATCH/err"
status=$?
fed=$("$PYTHON" -c "
import struct, sys
d = open(sys.argv[1], 'rb').read()
vocab, n = struct.unpack_from('<ii', d, 8)
print(' '.join(str(struct.unpack_from('<ii', d, 16 + i * (8 + 4 * vocab))[1]) for i in range(n)))
" "$SCRATCH/chat.logits" 2>&1)
answers=$(grep -o 'Assistant:' "$SCRATCH/err" | wc -l)
sampled=$(grep -o '\[[0-9]*\] 0\.' "$SCRATCH/err" | wc -l)
case " $fed " in
*" 2 1 "*) closed=yes ;;
*) closed=no ;;
esac
if [ "$status" -eq 0 ] && [ "$closed" = yes ] && [ "$answers" -eq 2 ] && [ "$sampled" -le 6 ]; then
    ok "chat: -n caps each answer, and the next turn starts with </s><s>"
else
    not_ok "chat turns" "status $status, closed $closed, $sampled tokens in $answers answers; fed: $fed"
fi
printf 'hello\r\nwhat now\r\n' | $RUN "$M" -z "$T" -m chat -s 3 >"$SCRATCH/crlf" 2>/dev/null
printf 'hello\nwhat now\n' | $RUN "$M" -z "$T" -m chat -s 3 >"$SCRATCH/lf" 2>/dev/null
if [ -s "$SCRATCH/lf" ] && cmp -s "$SCRATCH/crlf" "$SCRATCH/lf"; then
    ok "chat: a Windows line ending is not part of the message"
else
    not_ok "chat with CRLF" "the answers differ from those to LF lines"
fi
$RUN "$M" -z "$T" -m chat -s 3 </dev/null >/dev/null 2>"$SCRATCH/err"
if [ "$(tail -c 7 "$SCRATCH/err" | od -An -c | tr -d ' ')" = 'User:\n' ]; then
    ok "chat: end of input ends the User: line"
else
    not_ok "chat at end of input" "stderr ends '$(tail -c 20 "$SCRATCH/err" | od -An -c)'"
fi
expect_failure "chat: a first message longer than the context says so" 1 "your message is" \
    $RUN "$M" -z "$T" -m chat -s 3 -i "$long_prompt"

# chat: turns from stdin, an end of input mid-turn, and a conversation that outgrows the context.
printf 'hello\nhow are you' | $RUN "$M" -z "$T" -m chat -s 3 >"$SCRATCH/out" 2>"$SCRATCH/err"
status=$?
if [ "$status" -eq 0 ] && [ "$(grep -c 'Assistant:' "$SCRATCH/err")" -ge 1 ]; then
    ok "chat reads turns from stdin and ends cleanly at end of input"
else
    not_ok "chat" "status $status: $(head -c 300 "$SCRATCH/err")"
fi
yes 'tell me a story' | head -50 | $RUN "$M" -z "$T" -m chat -s 3 >"$SCRATCH/out" 2>"$SCRATCH/err"
status=$?
if [ "$status" -eq 0 ] && grep -q "outgrew the context of 48 tokens: dropped the oldest" "$SCRATCH/err" &&
    [ "$(grep -o 'Assistant:' "$SCRATCH/err" | wc -l)" -eq 50 ]; then
    ok "a chat that outgrows the context drops its oldest turns, says so, and answers every message"
else
    not_ok "chat past the context" "status $status: $(tail -c 300 "$SCRATCH/err")"
fi

# valgrind memcheck: no invalid access, no uninitialized use, nothing definitely lost,
# through a whole generation and a whole chat. It runs MEMCHECK_RUN, a build
# without AVX-512 (valgrind 3.19 cannot decode it), and checks first that the
# build has no EVEX-encoded instruction: its first opcode byte after the
# legacy prefixes is 0x62, which in 64-bit mode always starts an EVEX prefix.
MEMCHECK_RUN=${MEMCHECK_RUN:-$RUN}
evex_count() {
    objdump -d --insn-width=16 "$1" | awk -F'\t' 'NF >= 3 {
        n = split($2, b, " "); i = 1
        while (i <= n && b[i] ~ /^(66|67|f2|f3|2e|3e|26|64|65|36|f0)$/) i++
        if (b[i] == "62") count++
    } END { print count + 0 }'
}
if [ -n "${SANITIZED:-}" ]; then
    echo "# sanitizer build: valgrind cannot run it, memcheck runs in make test"
elif command -v valgrind >/dev/null 2>&1; then
    evex=$(evex_count "$MEMCHECK_RUN")
    if ! objdump -f "$MEMCHECK_RUN" >/dev/null 2>&1; then
        not_ok "the memcheck build has no AVX-512 instructions" "objdump cannot read $MEMCHECK_RUN"
    elif [ "$evex" = 0 ]; then
        ok "the memcheck build has no AVX-512 instructions"
    else
        not_ok "the memcheck build has no AVX-512 instructions" "$MEMCHECK_RUN has $evex EVEX-encoded ones"
    fi
    memcheck="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
    $memcheck $MEMCHECK_RUN "$M" -z "$T" -s 1 -n 40 -i "ab cd" >/dev/null 2>"$SCRATCH/vg"
    s1=$?
    printf 'hello\nwhat now\n' | $memcheck $MEMCHECK_RUN "$M" -z "$T" -m chat -y "sys" -s 1 >/dev/null 2>"$SCRATCH/vg2"
    s2=$?
    printf 'the cat\n\377\376 x  \n\n' | $memcheck $MEMCHECK_RUN -m tokenize -z "$SCRATCH/bpe.gguf" >/dev/null 2>"$SCRATCH/vg3"
    s3=$?
    if [ $s1 -eq 0 ] && [ $s2 -eq 0 ] && [ $s3 -eq 0 ]; then
        ok "valgrind memcheck: generate, chat and byte-level BPE tokenize run clean"
    else
        not_ok "valgrind memcheck" "exit $s1/$s2/$s3: $(grep '==' "$SCRATCH/vg" "$SCRATCH/vg2" "$SCRATCH/vg3" | head -5)"
    fi
    # The newer architectures' buffers: Qwen3's q wider than its stream, Qwen2's biases, Llama 3's rope_freqs.
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/vg_qwen3.gguf" --arch qwen3 --head-size 16 --dim 32 --hidden-dim 64 \
        --heads 4 --kv-heads 2 --vocab 300 --seq-len 64 >/dev/null
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/vg_qwen2.gguf" --arch qwen2 --dim 32 --hidden-dim 64 \
        --heads 4 --kv-heads 2 --vocab 300 --seq-len 64 --separate-output >/dev/null
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/vg_llama3.gguf" --rope-freq-base 500000 --llama3-rope 8:1:4:64 \
        --dim 32 --hidden-dim 64 --heads 4 --kv-heads 2 --vocab 300 --seq-len 64 >/dev/null
    statuses=""
    for f in vg_qwen3 vg_qwen2 vg_llama3; do
        $memcheck $MEMCHECK_RUN "$SCRATCH/$f.gguf" -s 1 -n 40 -i "the quick brown fox" >/dev/null 2>"$SCRATCH/$f.vg"
        statuses="$statuses$?"
    done
    if [ "$statuses" = 000 ]; then
        ok "valgrind memcheck: Qwen3 (q wider than dim), Qwen2 and Llama 3 (rope_freqs) generations run clean"
    else
        not_ok "valgrind memcheck, newer architectures" "exit $statuses: $(grep -h '==' "$SCRATCH"/vg_*.vg | head -5)"
    fi
elif [ "${CI:-}" = "true" ]; then
    not_ok "valgrind memcheck" "valgrind is not installed"
else
    echo "# valgrind not found: skipping memcheck"
fi

# -m explain: the same tokens as plain generation, a block per step with one
# line per layer and head; --attention-html: a page the checker accepts.
$RUN "$M" -z "$T" -t 0.8 -s 7 -n 20 -i "ab" >"$SCRATCH/plain" 2>/dev/null
run_captured $RUN "$M" -z "$T" -t 0.8 -s 7 -n 20 -i "ab" -m explain --attention-html "$SCRATCH/att.html"
sed -n '/^--- text ---$/,$p' "$SCRATCH/out" | tail -n +2 >"$SCRATCH/explained"
steps=$(grep -c '^step ' "$SCRATCH/out")
head_lines=$(grep -c '^  *L[0-9]* H[0-9]*:' "$SCRATCH/out")
if [ "$status" -eq 0 ] && cmp -s "$SCRATCH/plain" "$SCRATCH/explained" && [ "$steps" -gt 0 ] &&
    [ "$head_lines" -eq $((steps * 2 * 4)) ]; then
    ok "-m explain generates the same text, with every layer and head at every step ($steps steps)"
else
    not_ok "-m explain" "status $status, $steps steps, $head_lines head lines; $(head -c 200 "$SCRATCH/err")"
fi
prompt_tokens=$(printf 'ab' | $RUN -m tokenize -z "$T" | wc -w)
n_tokens=$((prompt_tokens + steps - 1))
if "$PYTHON" scripts/check_attention_html.py "$SCRATCH/att.html" --layers 2 --heads 4 --tokens "$n_tokens" \
    --steps "$steps" >"$SCRATCH/check" 2>&1; then
    ok "--attention-html: one heatmap per layer x head, causal cells, step bars, self-contained XHTML"
else
    not_ok "--attention-html" "$(grep -v '^ok' "$SCRATCH/check" | head -5)"
fi
# The same on GPT-2: its attention goes through the same observer.
"$PYTHON" scripts/write_gguf_gpt2.py "$SCRATCH/gpt2_explain.gguf" --dim 32 --heads 4 --layers 2 --seq-len 48 >/dev/null
run_captured $RUN "$SCRATCH/gpt2_explain.gguf" -t 0 -n 20 -i "the cat" -m explain \
    --attention-html "$SCRATCH/gpt2_att.html"
steps=$(grep -c '^step ' "$SCRATCH/out")
head_lines=$(grep -c '^  *L[0-9]* H[0-9]*:' "$SCRATCH/out")
n_tokens=$(($($RUN -m tokenize -z "$SCRATCH/gpt2_explain.gguf" -i "the cat" | wc -w) + steps - 1))
if [ "$status" -eq 0 ] && [ "$steps" -gt 0 ] && [ "$head_lines" -eq $((steps * 2 * 4)) ] &&
    "$PYTHON" scripts/check_attention_html.py "$SCRATCH/gpt2_att.html" --layers 2 --heads 4 --tokens "$n_tokens" \
        --steps "$steps" >"$SCRATCH/check" 2>&1; then
    ok "GPT-2: -m explain shows every layer and head at every step ($steps steps), --attention-html checks"
else
    not_ok "GPT-2 -m explain" "status $status, $steps steps, $head_lines head lines; $(head -c 200 "$SCRATCH/err")$(grep -v '^ok' "$SCRATCH/check" | head -3)"
fi
# And on Llama 3, Qwen2 and Qwen3 (q wider than the stream): the same observer.
for arch_options in "llama --rope-freq-base 500000 --llama3-rope 8:1:4:64" "qwen2" "qwen3 --head-size 16"; do
    # shellcheck disable=SC2086  # options are words
    "$PYTHON" scripts/write_gguf.py "$SCRATCH/family_explain.gguf" --arch $arch_options --dim 32 --hidden-dim 64 \
        --heads 4 --kv-heads 2 --layers 2 --vocab 300 --seq-len 48 >/dev/null
    run_captured $RUN "$SCRATCH/family_explain.gguf" -t 0 -n 20 -i "the cat" -m explain \
        --attention-html "$SCRATCH/family_att.html"
    steps=$(grep -c '^step ' "$SCRATCH/out")
    head_lines=$(grep -c '^  *L[0-9]* H[0-9]*:' "$SCRATCH/out")
    n_tokens=$(($($RUN -m tokenize -z "$SCRATCH/family_explain.gguf" -i "the cat" | wc -w) + steps - 1))
    if [ "$status" -eq 0 ] && [ "$steps" -gt 0 ] && [ "$head_lines" -eq $((steps * 2 * 4)) ] &&
        "$PYTHON" scripts/check_attention_html.py "$SCRATCH/family_att.html" --layers 2 --heads 4 \
            --tokens "$n_tokens" --steps "$steps" >"$SCRATCH/check" 2>&1; then
        ok "${arch_options%% *}: -m explain shows every layer and head at every step ($steps steps), --attention-html checks"
    else
        not_ok "${arch_options%% *} -m explain" "status $status, $steps steps, $head_lines head lines; $(head -c 200 "$SCRATCH/err")$(grep -v '^ok' "$SCRATCH/check" | head -3)"
    fi
done
expect_failure "--attention-html with chat is a usage error" 2 "goes with -m generate" \
    $RUN "$M" -z "$T" -m chat --attention-html "$SCRATCH/x.html"
expect_failure "an unwritable attention page is one clear line" 1 "/nonexistent/x.html" \
    $RUN "$M" -z "$T" -n 5 --attention-html /nonexistent/x.html

# The page in a real browser: headless Chromium renders it to a non-trivial picture.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROMIUM" ]; then
    profile=$(mktemp -d)
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --window-size=1400,1000 --screenshot="$SCRATCH/page.png" "file://$SCRATCH/att.html" >/dev/null 2>&1
    rm -rf "$profile"
    size=$(wc -c <"$SCRATCH/page.png" 2>/dev/null || echo 0)
    if [ "$(head -c 4 "$SCRATCH/page.png" 2>/dev/null | od -An -c | tr -d ' ')" = "211PNG" ] && [ "$size" -gt 20000 ]; then
        ok "headless Chromium renders the attention page ($size-byte screenshot)"
    else
        not_ok "Chromium screenshot" "$size bytes"
    fi
elif [ "${CI:-}" = "true" ]; then
    not_ok "Chromium screenshot" "chromium is not installed"
else
    echo "# chromium not found: skipping the screenshot of the attention page"
fi
