/* tokenizer.c - the public door to the tokenizers: reads a vocabulary, picks
 * its kind, and hands encoding and decoding to that kind. Each place that
 * depends on the kind is a switch here; vocab.c holds what the kinds share. */
#include "tokenizer.h"

#include "llmc.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC_LENGTH (sizeof GGUF_MAGIC - 1)
#define MAX_QUOTED_NAME 40  /* longest name from a file quoted in a message */

/* Control tokens that end a turn, by the names chat templates give them
 * (Llama 3's, ChatML's as in Qwen and SmolLM2, Phi 3's), for a file without
 * tokenizer.ggml.eot_token_id, as llama.cpp looks them up. */
static const char *const end_of_turn_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>"};

/* ---------------------------------------------------------------------------
 * Loading */

/* t->eot_id from tokenizer.ggml.eot_token_id, else the first control token
 * with one of the names above, else -1. */
static int read_end_of_turn(Tokenizer *t, const GgufFile *g, const char *path, char err[ERROR_SIZE])
{
    uint32_t eot;
    int status = gguf_get_u32(g, "tokenizer.ggml.eot_token_id", &eot);
    if (status == -2)
        return file_error(err, path, "tokenizer.ggml.eot_token_id is not a token id");
    if (status == 0) {
        if (eot >= (uint32_t)t->vocab_size)
            return file_error(err, path, "end-of-turn token %u is not among its %d tokens", eot, t->vocab_size);
        t->eot_id = (int)eot;
        return 0;
    }
    t->eot_id = -1;
    const GgufArray *tokens = gguf_get_array(g, "tokenizer.ggml.tokens");
    const GgufArray *types = gguf_get_array(g, "tokenizer.ggml.token_type");
    if (!tokens || !types || tokens->type != GGUF_TYPE_STRING)
        return 0;
    for (int id = 0; id < t->vocab_size && (uint64_t)id < tokens->count; id++) {
        int32_t type;
        GgufString piece;
        if (gguf_array_i32(types, id, &type) != 0 || type != GGUF_TOKEN_CONTROL ||
            gguf_array_string(tokens, id, &piece) != 0)
            continue;
        for (size_t i = 0; i < sizeof end_of_turn_names / sizeof end_of_turn_names[0]; i++) {
            if (gguf_string_equals(piece, end_of_turn_names[i])) {
                t->eot_id = id;
                return 0;
            }
        }
    }
    return 0;
}

/* t->chat_template: a copy of tokenizer.chat_template, which chat_template.c
 * recognizes (a text with a NUL in it is cut there). */
static int read_chat_template(Tokenizer *t, const GgufFile *g, const char *path, char err[ERROR_SIZE])
{
    GgufString text;
    int status = gguf_get_string(g, "tokenizer.chat_template", &text);
    if (status == -2)
        return file_error(err, path, "tokenizer.chat_template is not a string");
    if (status != 0)
        return 0;
    t->chat_template = malloc(text.len + 1);
    if (!t->chat_template)
        return file_error(err, path, "out of memory");
    memcpy(t->chat_template, text.ptr, text.len);
    t->chat_template[text.len] = '\0';
    return 0;
}

int tokenizer_from_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size, char err[ERROR_SIZE])
{
    memset(t, 0, sizeof *t);
    t->eot_id = -1;
    /* The kind of vocabulary, in llama.cpp's words. */
    GgufString model;
    int status;
    if (gguf_get_string(g, "tokenizer.ggml.model", &model) != 0) {
        status = file_error(err, path, "no vocabulary in its metadata (tokenizer.ggml.model); "
                            "give a tokenizer.bin with -z");
    } else if (gguf_string_equals(model, "llama")) {
        t->kind = TOKENIZER_SENTENCEPIECE;
        status = sentencepiece_read_gguf(t, g, path, vocab_size, err);
    } else if (gguf_string_equals(model, "gpt2")) {
        t->kind = TOKENIZER_BYTE_BPE;
        status = byte_bpe_read_gguf(t, g, path, vocab_size, err);
    } else {
        status = file_error(err, path, "tokenizer model '%.*s' is not supported (only llama and gpt2)",
                            (int)(model.len > MAX_QUOTED_NAME ? MAX_QUOTED_NAME : model.len), model.ptr);
    }
    if (status == 0)
        status = read_end_of_turn(t, g, path, err);
    if (status == 0)
        status = read_chat_template(t, g, path, err);
    if (status != 0)
        tokenizer_free(t);
    return status;
}

/* A sentencepiece ModelProto starts with its first piece: field 1 (pieces),
 * length-delimited (0x0A), a length, then the piece's own field 1 (0x0A).
 * A tokenizer.bin starts with a small int32, whose third byte is 0. */
static bool is_sentencepiece_model(const unsigned char *data, size_t size)
{
    const unsigned char length_delimited_field_1 = 0x0A;
    return size >= 3 && data[0] == length_delimited_field_1 && data[2] == length_delimited_field_1;
}

int tokenizer_load(Tokenizer *t, const char *path, int vocab_size, char err[ERROR_SIZE])
{
    memset(t, 0, sizeof *t);
    t->bos_id = TOKEN_BOS, t->eos_id = TOKEN_EOS, t->eot_id = -1;
    size_t size;
    unsigned char *data = read_whole_file(path, &size, err);
    if (!data)
        return -1;
    int status;
    if (size >= GGUF_MAGIC_LENGTH && memcmp(data, GGUF_MAGIC, GGUF_MAGIC_LENGTH) == 0) {
        /* A GGUF model file: its vocabulary is in the metadata. */
        GgufFile g;
        status = gguf_parse(&g, data, size, path, err);  /* err then names the file and the problem */
        if (status == 0) {
            status = tokenizer_from_gguf(t, &g, path, vocab_size, err);
            gguf_free(&g);
        }
    } else if (llmc_is_tokenizer(data, size)) {
        status = llmc_read_tokenizer(t, data, size, path, vocab_size, err);
        if (status != 0)
            tokenizer_free(t);
    } else if (is_sentencepiece_model(data, size)) {
        status = file_error(err, path, "a sentencepiece .model file (protobuf); give its tokenizer.bin (llama2.c's "
                            "tokenizer.py writes one) or a GGUF file");
    } else {
        /* Anything else is read as llama2.c's tokenizer.bin. */
        t->kind = TOKENIZER_SENTENCEPIECE;
        status = sentencepiece_read_bin(t, data, size, path, vocab_size, err);
        if (status != 0)
            tokenizer_free(t);
    }
    free(data);
    return status;
}

void tokenizer_free(Tokenizer *t)
{
    /* Every kind's part starts zeroed, so each can be freed whatever the kind. */
    vocab_free(&t->vocab);
    sentencepiece_free(&t->sentencepiece);
    byte_bpe_free(&t->byte_bpe);
    free(t->chat_template);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------------------
 * Encoding and decoding */

bool tokenizer_can_encode(const Tokenizer *t)
{
    return t->kind != TOKENIZER_DECODE_ONLY;
}

/* The empty text: BOS and EOS if asked. */
static int encode_nothing(const Tokenizer *t, bool add_bos, bool add_eos, int **tokens_out)
{
    int *tokens = malloc(2 * sizeof *tokens);
    if (!tokens)
        return -1;
    int n = 0;
    if (add_bos)
        tokens[n++] = t->bos_id;
    if (add_eos)
        tokens[n++] = t->eos_id;
    *tokens_out = tokens;
    return n;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                     int **tokens_out)
{
    switch (t->kind) {
    case TOKENIZER_DECODE_ONLY:
        return len == 0 ? encode_nothing(t, add_bos, add_eos, tokens_out) : -1;
    case TOKENIZER_SENTENCEPIECE:
        return sentencepiece_encode(t, text, len, add_bos, add_eos, tokens_out);
    case TOKENIZER_BYTE_BPE:
        return byte_bpe_encode(t, text, len, add_bos, add_eos, tokens_out);
    }
    return -1;  /* not reached: each kind is a case above */
}

const char *tokenizer_decode(const Tokenizer *t, int prev, int token, size_t *len)
{
    switch (t->kind) {
    case TOKENIZER_SENTENCEPIECE:
        return sentencepiece_decode(t, prev, token, len);
    case TOKENIZER_BYTE_BPE:
        return byte_bpe_decode(t, prev, token, len);
    case TOKENIZER_DECODE_ONLY:
        return vocab_decode(&t->vocab, token, len);
    }
    return NULL;  /* not reached: each kind is a case above */
}

/* ---------------------------------------------------------------------------
 * Special tokens */

bool tokenizer_is_end_of_generation(const Tokenizer *t, int token)
{
    return token == t->eos_id || (t->eot_id >= 0 && token == t->eot_id);
}

int tokenizer_special_token(const Tokenizer *t, const char *text)
{
    size_t length = strlen(text);
    for (int id = 0; id < t->vocab_size; id++) {
        bool special = id == t->bos_id || id == t->eos_id || (t->vocab.kinds && t->vocab.kinds[id] == PIECE_SPECIAL);
        if (special && !vocab_is_byte_token(&t->vocab, id) && (size_t)t->vocab.piece_length[id] == length &&
            memcmp(vocab_piece_text(&t->vocab, id), text, length) == 0)
            return id;
    }
    return -1;
}
