#!/bin/sh
# make run: generate with MODEL and TOKENIZER. The default, stories15M with the
# Llama 2 tokenizer (as llama2.c users know it), is downloaded on first use.
# Usage: scripts/run_default.sh MODEL TOKENIZER [PROMPT]
set -u
model=$1
tokenizer=$2
prompt=${3:-}
MODEL_URL=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin
TOKENIZER_URL=https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin

download() {  # download URL DEST
    [ -s "$2" ] && return 0
    mkdir -p "$(dirname "$2")"
    echo "run: downloading $(basename "$2") from $1" >&2
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 2 -o "$2.part" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -O "$2.part" "$1"
    else
        echo "run: neither curl nor wget is installed" >&2
        false
    fi && mv "$2.part" "$2" && return 0
    rm -f "$2.part"
    cat >&2 <<MSG
run: could not download $(basename "$2") (no network here?).
     Fetch it on a machine that has a network and copy it to $2:
         $1
     or run a model you have:  make run MODEL=path/to/model.bin TOKENIZER=path/to/tokenizer.bin
MSG
    return 1
}

if [ "$model" = models/stories15M.bin ]; then
    download "$MODEL_URL" "$model" || exit 1
fi
if [ "$tokenizer" = models/tokenizer.bin ]; then
    download "$TOKENIZER_URL" "$tokenizer" || exit 1
fi
exec ./run "$model" -z "$tokenizer" -i "$prompt"
