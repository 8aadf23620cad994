#!/bin/sh
# make run: generate with MODEL and TOKENIZER. The default, stories15M with the
# Llama 2 tokenizer (as llama2.c users know it), is downloaded on first use.
# Usage: scripts/run_default.sh MODEL [TOKENIZER] [PROMPT]   (RUN: the engine, default ./run)
set -u
RUN=${RUN:-./run}
DEFAULT_MODEL=models/stories15M.bin
DEFAULT_TOKENIZER=models/tokenizer.bin
model=$1
tokenizer=${2:-}
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
     or run a model you have:  make run MODEL=path/to/model.gguf (or MODEL=x.bin TOKENIZER=tokenizer.bin)
MSG
    return 1
}

# The tokenizer: TOKENIZER when given; none for a GGUF file (it carries its vocabulary);
# else tokenizer.bin beside the checkpoint, then $MODELS_DIR's, and for the default model
# Llama 2's, downloaded.
if [ -z "$tokenizer" ]; then
    case $model in
    *.gguf) ;;
    *)
        if [ -s "$(dirname "$model")/tokenizer.bin" ]; then
            tokenizer=$(dirname "$model")/tokenizer.bin
        elif [ -s "${MODELS_DIR:-../shared/models}/tokenizer.bin" ]; then
            tokenizer=${MODELS_DIR:-../shared/models}/tokenizer.bin
        elif [ "$model" = "$DEFAULT_MODEL" ]; then
            tokenizer=$DEFAULT_TOKENIZER
        fi
        ;;
    esac
fi
if [ "$model" = "$DEFAULT_MODEL" ]; then
    download "$MODEL_URL" "$model" || exit 1
fi
if [ "$tokenizer" = "$DEFAULT_TOKENIZER" ]; then
    download "$TOKENIZER_URL" "$tokenizer" || exit 1
fi
if [ -n "$tokenizer" ]; then
    exec "$RUN" "$model" -z "$tokenizer" -i "$prompt"
fi
exec "$RUN" "$model" -i "$prompt"
