/* sentencepiece.c - sentencepiece-compatible BPE: Llama 1 and 2's vocabularies
 * and llama2.c's, read from tokenizer.bin or a GGUF file.
 *
 * Encoding normalizes the text as sentencepiece does, splits it into UTF-8
 * characters (unknown ones fall back to byte tokens "<0xXX>"), then merges
 * adjacent pieces, best score first, until no pair forms a piece of the
 * vocabulary (vocab.c holds the pieces and the merge queue). */
#include "sentencepiece.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define SPACE_SYMBOL_UTF8 "\xe2\x96\x81"  /* U+2581, sentencepiece's visible space */
#define SPACE_SYMBOL_LENGTH (sizeof SPACE_SYMBOL_UTF8 - 1)
#define BYTE_TOKEN_PREFIX "<0x"            /* a byte token is spelled "<0xXX>" */
#define BYTE_TOKEN_PREFIX_LENGTH (sizeof BYTE_TOKEN_PREFIX - 1)
#define BYTE_TOKEN_TEXT_LENGTH 6

/* ---------------------------------------------------------------------------
 * Loading */

static int parse_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Byte-fallback pieces are spelled "<0xXX>" with upper-case hex. Returns the byte or -1. */
static int byte_of_piece(const char *s, int len)
{
    if (len != BYTE_TOKEN_TEXT_LENGTH || memcmp(s, BYTE_TOKEN_PREFIX, BYTE_TOKEN_PREFIX_LENGTH) != 0 ||
        s[BYTE_TOKEN_TEXT_LENGTH - 1] != '>')
        return -1;
    int high = parse_hex_digit(s[BYTE_TOKEN_PREFIX_LENGTH]);
    int low = parse_hex_digit(s[BYTE_TOKEN_PREFIX_LENGTH + 1]);
    return high < 0 || low < 0 ? -1 : high * 16 + low;
}

/* The scores and the vocabulary's pieces; 0, or -1 when out of memory. */
static int allocate_tables(Tokenizer *t, int count, size_t text_bytes)
{
    t->vocab_size = count;
    t->sentencepiece.scores = malloc(count * sizeof(float));
    if (vocab_allocate(&t->vocab, count, text_bytes) != 0 || !t->sentencepiece.scores)
        return -1;
    return 0;
}

/* The kind of piece id in a vocabulary that says nothing about it: llama2.c's
 * ids 0, 1, 2 are <unk>, <s>, </s>, and byte tokens are spelled "<0xXX>". */
static PieceKind guess_kind(const Tokenizer *t, int id)
{
    if (id <= TOKEN_EOS)
        return PIECE_SPECIAL;
    const char *piece = vocab_piece_text(&t->vocab, id);
    return byte_of_piece(piece, t->vocab.piece_length[id]) >= 0 ? PIECE_BYTE : PIECE_NORMAL;
}

/* Once every piece is in place: puts the pieces text may match in the lookup,
 * records the byte tokens, and infers collapse_whitespace. */
static void index_pieces(Tokenizer *t, const unsigned char *kinds)
{
    bool has_double_space = false;
    for (int id = 0; id < t->vocab_size; id++) {
        /* BOS and EOS mark the ends of a text whatever kind the file gives
         * them, never a piece of it (a BOS typed as the byte 0x04 would turn
         * every 0x04 in a prompt into a BOS). */
        if (id == t->bos_id || id == t->eos_id)
            continue;
        const char *piece = vocab_piece_text(&t->vocab, id);
        int length = t->vocab.piece_length[id];
        int byte = byte_of_piece(piece, length);
        if (kinds[id] == PIECE_BYTE && byte >= 0) {
            vocab_add_byte_token(&t->vocab, id, (unsigned char)byte);
        } else if (kinds[id] == PIECE_NORMAL) {
            vocab_add_to_lookup(&t->vocab, id);
            if (memmem(piece, length, "  ", 2))
                has_double_space = true;
        }
    }
    t->sentencepiece.collapse_whitespace = !has_double_space;
}

/* tokenizer.bin: int32 max_token_length, then per token a float32 score, an
 * int32 length and that many bytes. data stays the caller's. */
int sentencepiece_read_bin(Tokenizer *t, const unsigned char *data, size_t size, const char *path, int vocab_size,
                           char err[ERROR_SIZE])
{
    int32_t max_len;
    size_t pos = sizeof max_len;
    if (size == 0)
        return file_error(err, path, "empty file");
    if (size < sizeof max_len)
        return file_error(err, path, "truncated: too short for a tokenizer header");
    memcpy(&max_len, data, sizeof max_len);
    if (max_len <= 0)
        return file_error(err, path, "max_token_length is %d, must be positive", max_len);
    t->max_token_length = max_len;

    /* First pass: count the entries and check that each one fits the file. */
    int count = 0;
    size_t text_bytes = 0;
    while (pos < size) {
        float score;
        int32_t len;
        if (size - pos < sizeof score + sizeof len)
            return file_error(err, path, "truncated in the header of token %d", count);
        memcpy(&score, data + pos, sizeof score);
        memcpy(&len, data + pos + sizeof score, sizeof len);
        pos += sizeof score + sizeof len;
        if (len < 0 || len > max_len)
            return file_error(err, path, "token %d has length %d, outside 0..max_token_length (%d)", count, len,
                              max_len);
        if ((size_t)len > size - pos)
            return file_error(err, path, "truncated: token %d's %d bytes run past the end of the file", count,
                              len);
        if (!isfinite(score))
            return file_error(err, path, "token %d's score is not a finite number", count);
        pos += (size_t)len;
        text_bytes += (size_t)len + 1;
        if (count == VOCAB_MAX_PIECES)
            return file_error(err, path, "too many tokens");
        count++;
    }
    if (vocab_size > 0 && count != vocab_size)
        return file_error(err, path,
                          "holds %d tokens but the model's vocab_size is %d (wrong tokenizer for "
                          "this model?)", count, vocab_size);
    if (count <= TOKEN_EOS)
        return file_error(err, path, "holds %d tokens; a vocabulary needs at least <unk>, <s> and </s>", count);

    /* Second pass: copy the pieces out and index them. */
    unsigned char *kinds = malloc(count);
    if (!kinds || allocate_tables(t, count, text_bytes) != 0) {
        free(kinds);
        return file_error(err, path, "out of memory");
    }
    pos = sizeof max_len;
    for (int id = 0; id < count; id++) {
        int32_t len;
        memcpy(&t->sentencepiece.scores[id], data + pos, sizeof(float));
        memcpy(&len, data + pos + sizeof(float), sizeof len);
        pos += sizeof(float) + sizeof len;
        memcpy(vocab_next_piece(&t->vocab), data + pos, len);
        vocab_add_piece(&t->vocab, id, len);
        pos += len;
    }
    for (int id = 0; id < count; id++)
        kinds[id] = guess_kind(t, id);
    index_pieces(t, kinds);
    t->add_bos = true;  /* as llama2.c does */
    t->vocab.kinds = kinds;  /* the vocabulary keeps them: tokenizer_special_token looks */
    return 0;
}

/* Copies a GGUF piece to out, each U+2581 as a space: GGUF spells
 * sentencepiece's space as U+2581, tokenizer.bin as ' '. Returns the length. */
static size_t copy_replacing_space_symbol(char *out, const char *piece, uint64_t len)
{
    size_t n = 0;
    for (uint64_t i = 0; i < len; i++) {
        if (len - i >= SPACE_SYMBOL_LENGTH && memcmp(piece + i, SPACE_SYMBOL_UTF8, SPACE_SYMBOL_LENGTH) == 0) {
            out[n++] = ' ';
            i += SPACE_SYMBOL_LENGTH - 1;
        } else {
            out[n++] = piece[i];
        }
    }
    return n;
}

/* A GGUF file's "llama" vocabulary: tokenizer.ggml.tokens, scores and
 * (optionally) token_type, and the BOS and EOS ids. */
int sentencepiece_read_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size,
                            char err[ERROR_SIZE])
{
    const GgufArray *tokens = gguf_get_array(g, "tokenizer.ggml.tokens");
    const GgufArray *scores = gguf_get_array(g, "tokenizer.ggml.scores");
    const GgufArray *types = gguf_get_array(g, "tokenizer.ggml.token_type");
    if (!tokens || tokens->type != GGUF_TYPE_STRING || !scores)
        return file_error(err, path, "tokenizer.ggml.tokens (strings) and tokenizer.ggml.scores are required");
    if (tokens->count > VOCAB_MAX_PIECES || tokens->count <= TOKEN_EOS)
        return file_error(err, path, "holds %llu tokens", (unsigned long long)tokens->count);
    int count = (int)tokens->count;
    if (scores->count != tokens->count || (types && types->count != tokens->count))
        return file_error(err, path, "tokenizer.ggml.tokens, scores and token_type differ in length");
    if (vocab_size > 0 && count != vocab_size)
        return file_error(err, path, "holds %d tokens but the model's vocab_size is %d", count, vocab_size);
    uint32_t bos = TOKEN_BOS, eos = TOKEN_EOS;
    if ((gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos) == -2) ||
        (gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) == -2) || bos >= (uint32_t)count ||
        eos >= (uint32_t)count)
        return file_error(err, path, "bad BOS or EOS token id");
    /* Text falls back to the unknown token: it cannot also mark a text's ends. */
    if (bos == TOKEN_UNK || eos == TOKEN_UNK)
        return file_error(err, path, "the BOS or EOS token id is %d, the unknown token's", TOKEN_UNK);
    t->bos_id = (int)bos, t->eos_id = (int)eos;

    size_t text_bytes = 0;
    for (int id = 0; id < count; id++) {
        GgufString piece;
        if (gguf_array_string(tokens, id, &piece) != 0 || piece.len > VOCAB_MAX_PIECE_LENGTH)
            return file_error(err, path, "token %d is unreadable", id);
        text_bytes += piece.len + 1;
    }
    unsigned char *kinds = malloc(count);
    if (!kinds || allocate_tables(t, count, text_bytes) != 0) {
        free(kinds);
        return file_error(err, path, "out of memory");
    }
    for (int id = 0; id < count; id++) {
        GgufString piece;
        int32_t type = GGUF_TOKEN_NORMAL;
        float *score = &t->sentencepiece.scores[id];
        gguf_array_string(tokens, id, &piece);
        if (gguf_array_f32(scores, id, score) != 0 || !isfinite(*score) ||
            (types && gguf_array_i32(types, id, &type) != 0)) {
            free(kinds);
            return file_error(err, path, "token %d has a bad score or type", id);
        }
        size_t len = copy_replacing_space_symbol(vocab_next_piece(&t->vocab), piece.ptr, piece.len);
        vocab_add_piece(&t->vocab, id, len);
        if ((int)len > t->max_token_length)
            t->max_token_length = (int)len;
        /* Without token types, the kinds are guessed below, once every piece is in place. */
        kinds[id] = types ? piece_kind_of_gguf_type(type) : PIECE_NORMAL;
    }
    for (int id = 0; !types && id < count; id++)
        kinds[id] = guess_kind(t, id);
    index_pieces(t, kinds);
    t->add_bos = true;  /* as for tokenizer.bin, whatever tokenizer.ggml.add_bos_token says */
    t->vocab.kinds = kinds;  /* the vocabulary keeps them: tokenizer_special_token looks */
    return 0;
}

void sentencepiece_free(SentencepieceRules *rules)
{
    free(rules->scores);
    memset(rules, 0, sizeof *rules);
}

/* ---------------------------------------------------------------------------
 * Encoding */

/* sentencepiece's normalization (with the "identity" rule that both Llama
 * vocabularies use): a typed U+2581 means a space, optionally runs of spaces
 * collapse, and a non-empty text gets one leading space so that a word is the
 * same piece at the start of the text as in the middle. */
static size_t normalize(const Tokenizer *t, const char *text, size_t len, char *out)
{
    size_t n = 0;
    /* Collapsing looks at typed spaces only; a typed U+2581 is never dropped
     * (sentencepiece only turns it into a space after collapsing). */
    bool prev_space = true;  /* so leading spaces are dropped too */
    for (size_t i = 0; i < len;) {
        if (text[i] == ' ') {
            if (!(t->sentencepiece.collapse_whitespace && prev_space))
                out[n++] = ' ';
            prev_space = true;
            i++;
            continue;
        }
        if (len - i >= SPACE_SYMBOL_LENGTH && memcmp(text + i, SPACE_SYMBOL_UTF8, SPACE_SYMBOL_LENGTH) == 0) {
            out[n++] = ' ';
            i += SPACE_SYMBOL_LENGTH;
        } else {
            out[n++] = text[i++];
        }
        prev_space = false;
    }
    if (t->sentencepiece.collapse_whitespace)
        while (n > 0 && out[n - 1] == ' ')
            n--;
    if (n == 0)
        return 0;
    memmove(out + 1, out, n);
    out[0] = ' ';
    return n + 1;
}

/* One symbol per UTF-8 character of text, linked in order; characters
 * outside the vocabulary keep id -1. Returns the count. */
static int split_into_characters(const Tokenizer *t, const char *text, size_t len, Symbol *symbols)
{
    int n_symbols = 0;
    for (size_t i = 0; i < len;) {
        size_t char_len = utf8_char_length((const unsigned char *)text + i, len - i);
        if (char_len == 0)
            char_len = 1;  /* a stray byte: its own symbol, spelled as that byte */
        int id = vocab_lookup(&t->vocab, text + i, char_len);
        symbols[n_symbols] = (Symbol){(int)i, (int)char_len, n_symbols - 1, n_symbols + 1, id};
        n_symbols++;
        i += char_len;
    }
    if (n_symbols > 0)
        symbols[n_symbols - 1].next = -1;
    return n_symbols;
}

/* Queues the pair (left, right) if their concatenation is a piece, with that piece's score. */
static void consider_pair(const Tokenizer *t, const char *text, const Symbol *symbols, MergeQueue *q, int left,
                          int right)
{
    if (left < 0 || right < 0 || symbols[left].id < 0 || symbols[right].id < 0)
        return;
    const Symbol *a = &symbols[left], *b = &symbols[right];
    int id = vocab_lookup(&t->vocab, text + a->start, (size_t)a->length + b->length);
    if (id < 0)
        return;
    merge_queue_push(q, (Candidate){t->sentencepiece.scores[id], left, right, a->length, b->length}, symbols);
}

/* Merges neighbours, best score first, until no pair forms a piece. */
static void merge_by_score(const Tokenizer *t, const char *text, Symbol *symbols, int n_symbols, MergeQueue *q)
{
    for (int i = 0; i + 1 < n_symbols; i++)
        consider_pair(t, text, symbols, q, i, i + 1);
    while (q->count > 0) {
        Candidate c = merge_queue_pop(q, symbols);
        if (candidate_is_stale(&c, symbols))
            continue;
        const Symbol *left = &symbols[c.left];
        size_t merged_length = (size_t)c.left_length + c.right_length;
        merge_candidate(symbols, &c, vocab_lookup(&t->vocab, text + left->start, merged_length));
        consider_pair(t, text, symbols, q, left->prev, c.left);
        consider_pair(t, text, symbols, q, c.left, left->next);
    }
}

int sentencepiece_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                         int **tokens_out)
{
    /* Worst cases: normalizing adds one byte; every byte becomes a token;
     * each merge queues at most two candidates after the first n - 1. */
    char *norm = malloc(len + 1);
    Symbol *symbols = malloc((len + 1) * sizeof(Symbol));
    MergeQueue queue = {malloc((3 * len + 3) * sizeof(Candidate)), 0};
    int *tokens = malloc((len + 3) * sizeof(int));
    if (!norm || !symbols || !queue.items || !tokens) {
        free(norm), free(symbols), free(queue.items), free(tokens);
        return -1;
    }
    size_t n = normalize(t, text, len, norm);
    int n_symbols = split_into_characters(t, norm, n, symbols);
    merge_by_score(t, norm, symbols, n_symbols, &queue);

    /* A symbol outside the vocabulary is spelled as byte tokens, as sentencepiece does. */
    int count = 0;
    if (add_bos)
        tokens[count++] = t->bos_id;
    for (int i = n_symbols > 0 ? 0 : -1; i >= 0; i = symbols[i].next) {
        if (symbols[i].id >= 0) {
            tokens[count++] = symbols[i].id;
            continue;
        }
        for (int j = 0; j < symbols[i].length; j++)
            tokens[count++] = t->vocab.byte_token[(unsigned char)norm[symbols[i].start + j]];
    }
    if (add_eos)
        tokens[count++] = t->eos_id;
    free(norm), free(symbols), free(queue.items);
    *tokens_out = tokens;
    return count;
}

/* ---------------------------------------------------------------------------
 * Decoding */

const char *sentencepiece_decode(const Tokenizer *t, int prev, int token, size_t *len)
{
    const char *piece = vocab_decode(&t->vocab, token, len);
    /* The dummy prefix: the space normalizing put before the first word. */
    if (prev == t->bos_id && !vocab_is_byte_token(&t->vocab, token) && *len > 0 && piece[0] == ' ') {
        piece++;
        (*len)--;
    }
    return piece;
}
