/* tokenizer.c - sentencepiece-compatible BPE over a tokenizer.bin vocabulary.
 *
 * Encoding normalizes the text as sentencepiece does, splits it into UTF-8
 * characters (unknown ones fall back to byte tokens), then merges adjacent
 * pieces, best score first, until no pair forms a piece of the vocabulary.
 * A priority queue of candidate pairs makes that O(n log n): rescanning
 * every pair after every merge would be O(n^2) and take minutes on 50 KB. */
#include "tokenizer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_SYMBOL_UTF8 "\xe2\x96\x81"  /* U+2581, sentencepiece's visible space */
#define BYTE_TOKEN_TEXT_LENGTH 6           /* "<0xXX>" */

/* ---------------------------------------------------------------------------
 * Loading */

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The id of the piece with exactly these bytes, or -1. */
static int lookup_piece(const Tokenizer *t, const char *s, size_t len)
{
    uint32_t mask = (uint32_t)t->lookup_size - 1;
    for (uint32_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
        int id = t->lookup[i];
        if (id < 0)
            return -1;
        if ((size_t)t->piece_length[id] == len && memcmp(t->text + t->piece_offset[id], s, len) == 0)
            return id;
    }
}

static void insert_piece(Tokenizer *t, int id)
{
    const char *s = t->text + t->piece_offset[id];
    size_t len = t->piece_length[id];
    if (lookup_piece(t, s, len) >= 0)
        return;  /* a duplicate piece: the lower id wins */
    uint32_t mask = (uint32_t)t->lookup_size - 1;
    uint32_t i = hash_bytes(s, len) & mask;
    while (t->lookup[i] >= 0)
        i = (i + 1) & mask;
    t->lookup[i] = id;
}

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
    if (len != BYTE_TOKEN_TEXT_LENGTH || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = parse_hex_digit(s[3]), lo = parse_hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Writes "path: message" into err, frees what was loaded so far, returns -1. */
static int tokenizer_fail(Tokenizer *t, unsigned char *data, char err[ERROR_SIZE], const char *path,
                          const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    file_error_v(err, path, fmt, args);
    va_end(args);
    free(data);
    tokenizer_free(t);
    return -1;
}

static unsigned char *read_whole_file(const char *path, size_t *size, char err[ERROR_SIZE])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, ERROR_SIZE, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (end >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            *size = (size_t)end;
            data = malloc(*size + 1);
            if (data && fread(data, 1, *size, f) != *size) {
                free(data);
                data = NULL;
            }
        }
    }
    if (!data)
        snprintf(err, ERROR_SIZE, "%s: cannot read (not a regular file, or out of memory)", path);
    fclose(f);
    return data;
}

/* What a piece is for: matched against text, never matched (<unk>, <s>,
 * </s>: typing "<s>" does not make a BOS, as in sentencepiece), or a
 * byte-fallback token "<0xXX>". */
typedef enum { PIECE_NORMAL, PIECE_SPECIAL, PIECE_BYTE } PieceKind;

static int allocate_vocabulary(Tokenizer *t, int count, size_t text_bytes)
{
    t->vocab_size = count;
    t->text = malloc(text_bytes);
    t->piece_offset = malloc(count * sizeof(int));
    t->piece_length = malloc(count * sizeof(int));
    t->scores = malloc(count * sizeof(float));
    t->is_byte_token = calloc(count, sizeof(bool));
    t->lookup_size = 1;
    while (t->lookup_size < 2 * count)
        t->lookup_size *= 2;
    t->lookup = malloc(t->lookup_size * sizeof(int));
    if (!t->text || !t->piece_offset || !t->piece_length || !t->scores || !t->is_byte_token || !t->lookup)
        return -1;
    memset(t->lookup, -1, t->lookup_size * sizeof(int));
    return 0;
}

/* The kind of piece id in a vocabulary that says nothing about it: llama2.c's
 * ids 0, 1, 2 are <unk>, <s>, </s>, and byte tokens are spelled "<0xXX>". */
static PieceKind guess_kind(const Tokenizer *t, int id)
{
    if (id <= TOKEN_EOS)
        return PIECE_SPECIAL;
    return byte_of_piece(t->text + t->piece_offset[id], t->piece_length[id]) >= 0 ? PIECE_BYTE : PIECE_NORMAL;
}

/* Builds the lookup table and the byte tokens once every piece is in place. */
static void index_vocabulary(Tokenizer *t, const unsigned char *kinds)
{
    for (int b = 0; b < 256; b++) {
        t->byte_token[b] = TOKEN_UNK;
        t->byte_values[b] = (unsigned char)b;
    }
    bool has_double_space = false;
    for (int id = 0; id < t->vocab_size; id++) {
        /* BOS and EOS mark the ends of a text whatever kind the file gives
         * them, never a piece of it (a BOS typed as the byte 0x04 would turn
         * every 0x04 in a prompt into a BOS). */
        if (id == t->bos_id || id == t->eos_id)
            continue;
        const char *s = t->text + t->piece_offset[id];
        int byte = byte_of_piece(s, t->piece_length[id]);
        if (kinds[id] == PIECE_BYTE && byte >= 0) {
            t->is_byte_token[id] = true;
            if (t->byte_token[byte] == TOKEN_UNK)
                t->byte_token[byte] = id;
        } else if (kinds[id] == PIECE_NORMAL) {
            insert_piece(t, id);
            if (memmem(s, t->piece_length[id], "  ", 2))
                has_double_space = true;
        }
    }
    t->collapse_whitespace = !has_double_space;
}

static int tokenizer_load_bin(Tokenizer *t, unsigned char *data, size_t size, const char *path, int vocab_size,
                              char err[ERROR_SIZE])
{
    int32_t max_len;
    size_t pos = sizeof max_len;
    if (size == 0)
        return tokenizer_fail(t, data, err, path, "empty file");
    if (size < sizeof max_len)
        return tokenizer_fail(t, data, err, path, "truncated: too short for a tokenizer header");
    memcpy(&max_len, data, sizeof max_len);
    if (max_len <= 0)
        return tokenizer_fail(t, data, err, path, "max_token_length is %d, must be positive", max_len);
    t->max_token_length = max_len;

    /* First pass: count the entries and check that each one fits the file. */
    int count = 0;
    size_t text_bytes = 0;
    while (pos < size) {
        float score;
        int32_t len;
        if (size - pos < sizeof score + sizeof len)
            return tokenizer_fail(t, data, err, path, "truncated in the header of token %d", count);
        memcpy(&score, data + pos, sizeof score);
        memcpy(&len, data + pos + sizeof score, sizeof len);
        pos += sizeof score + sizeof len;
        if (len < 0 || len > max_len)
            return tokenizer_fail(t, data, err, path,
                                  "token %d has length %d, outside 0..max_token_length (%d)", count, len,
                                  max_len);
        if ((size_t)len > size - pos)
            return tokenizer_fail(t, data, err, path,
                                  "truncated: token %d's %d bytes run past the end of the file", count, len);
        if (!isfinite(score))
            return tokenizer_fail(t, data, err, path, "token %d's score is not a finite number", count);
        pos += (size_t)len;
        text_bytes += (size_t)len + 1;
        if (count == INT32_MAX / 4)
            return tokenizer_fail(t, data, err, path, "too many tokens");
        count++;
    }
    if (vocab_size > 0 && count != vocab_size)
        return tokenizer_fail(t, data, err, path,
                              "holds %d tokens but the model's vocab_size is %d (wrong tokenizer for "
                              "this model?)", count, vocab_size);
    if (count <= TOKEN_EOS)
        return tokenizer_fail(t, data, err, path,
                              "holds %d tokens; a vocabulary needs at least <unk>, <s> and </s>", count);

    /* Second pass: copy the pieces out and index them. */
    unsigned char *kinds = malloc(count);
    if (!kinds || allocate_vocabulary(t, count, text_bytes) != 0) {
        free(kinds);
        return tokenizer_fail(t, data, err, path, "out of memory");
    }
    pos = sizeof max_len;
    size_t text_pos = 0;
    for (int id = 0; id < count; id++) {
        int32_t len;
        memcpy(&t->scores[id], data + pos, sizeof(float));
        memcpy(&len, data + pos + sizeof(float), sizeof len);
        pos += sizeof(float) + sizeof len;
        memcpy(t->text + text_pos, data + pos, len);
        t->text[text_pos + len] = '\0';
        t->piece_offset[id] = (int)text_pos;
        t->piece_length[id] = len;
        pos += len;
        text_pos += len + 1;
    }
    free(data);
    for (int id = 0; id < count; id++)
        kinds[id] = guess_kind(t, id);
    index_vocabulary(t, kinds);
    free(kinds);
    return 0;
}

static bool gguf_string_is(GgufString s, const char *text)
{
    return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

/* gguf token types (llama.cpp's): what kind of piece each one is. */
#define GGUF_TOKEN_NORMAL 1
#define GGUF_TOKEN_UNKNOWN 2
#define GGUF_TOKEN_CONTROL 3
#define GGUF_TOKEN_USER_DEFINED 4
#define GGUF_TOKEN_UNUSED 5
#define GGUF_TOKEN_BYTE 6

int tokenizer_from_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size, char err[ERROR_SIZE])
{
    memset(t, 0, sizeof *t);
    GgufString model;
    if (gguf_get_string(g, "tokenizer.ggml.model", &model) != 0)
        return tokenizer_fail(t, NULL, err, path, "no vocabulary in its metadata (tokenizer.ggml.model); "
                              "give a tokenizer.bin with -z");
    if (gguf_string_is(model, "gpt2"))
        return tokenizer_fail(t, NULL, err, path, "byte-level BPE vocabularies (tokenizer.ggml.model = gpt2) "
                              "are not supported yet; only sentencepiece's (llama)");
    if (!gguf_string_is(model, "llama"))
        return tokenizer_fail(t, NULL, err, path, "tokenizer model '%.*s' is not supported (only llama)",
                              (int)(model.len > 40 ? 40 : model.len), model.ptr);
    const GgufArray *tokens = gguf_get_array(g, "tokenizer.ggml.tokens");
    const GgufArray *scores = gguf_get_array(g, "tokenizer.ggml.scores");
    const GgufArray *types = gguf_get_array(g, "tokenizer.ggml.token_type");
    if (!tokens || tokens->type != GGUF_TYPE_STRING || !scores)
        return tokenizer_fail(t, NULL, err, path, "tokenizer.ggml.tokens (strings) and tokenizer.ggml.scores "
                              "are required");
    if (tokens->count > INT32_MAX / 4 || tokens->count <= TOKEN_EOS)
        return tokenizer_fail(t, NULL, err, path, "holds %llu tokens", (unsigned long long)tokens->count);
    int count = (int)tokens->count;
    if (scores->count != tokens->count || (types && types->count != tokens->count))
        return tokenizer_fail(t, NULL, err, path, "tokenizer.ggml.tokens, scores and token_type differ in length");
    if (vocab_size > 0 && count != vocab_size)
        return tokenizer_fail(t, NULL, err, path, "holds %d tokens but the model's vocab_size is %d", count,
                              vocab_size);
    uint32_t bos = TOKEN_BOS, eos = TOKEN_EOS;
    if ((gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos) == -2) ||
        (gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) == -2) || bos >= (uint32_t)count ||
        eos >= (uint32_t)count)
        return tokenizer_fail(t, NULL, err, path, "bad BOS or EOS token id");
    /* Text falls back to the unknown token: it cannot also mark a text's ends. */
    if (bos == TOKEN_UNK || eos == TOKEN_UNK)
        return tokenizer_fail(t, NULL, err, path, "the BOS or EOS token id is %d, the unknown token's", TOKEN_UNK);
    t->bos_id = (int)bos, t->eos_id = (int)eos;

    size_t text_bytes = 0;
    for (int id = 0; id < count; id++) {
        GgufString piece;
        if (gguf_array_string(tokens, id, &piece) != 0 || piece.len > INT32_MAX / 2)
            return tokenizer_fail(t, NULL, err, path, "token %d is unreadable", id);
        text_bytes += piece.len + 1;
    }
    unsigned char *kinds = malloc(count);
    if (!kinds || allocate_vocabulary(t, count, text_bytes) != 0) {
        free(kinds);
        return tokenizer_fail(t, NULL, err, path, "out of memory");
    }
    size_t text_pos = 0;
    for (int id = 0; id < count; id++) {
        GgufString piece;
        int32_t type = GGUF_TOKEN_NORMAL;
        gguf_array_string(tokens, id, &piece);
        if (gguf_array_f32(scores, id, &t->scores[id]) != 0 || !isfinite(t->scores[id]) ||
            (types && gguf_array_i32(types, id, &type) != 0)) {
            free(kinds);
            return tokenizer_fail(t, NULL, err, path, "token %d has a bad score or type", id);
        }
        /* GGUF spells sentencepiece's space as U+2581, tokenizer.bin as ' ': use ' '. */
        int len = 0;
        char *out = t->text + text_pos;
        for (uint64_t i = 0; i < piece.len; i++) {
            if (piece.len - i >= 3 && memcmp(piece.ptr + i, SPACE_SYMBOL_UTF8, 3) == 0) {
                out[len++] = ' ';
                i += 2;
            } else {
                out[len++] = piece.ptr[i];
            }
        }
        out[len] = '\0';
        t->piece_offset[id] = (int)text_pos;
        t->piece_length[id] = len;
        if (len > t->max_token_length)
            t->max_token_length = len;
        text_pos += (size_t)len + 1;
        if (!types)
            kinds[id] = PIECE_NORMAL;  /* decided below, once every piece is in place */
        else if (type == GGUF_TOKEN_BYTE)
            kinds[id] = PIECE_BYTE;
        else if (type == GGUF_TOKEN_UNKNOWN || type == GGUF_TOKEN_CONTROL || type == GGUF_TOKEN_UNUSED)
            kinds[id] = PIECE_SPECIAL;
        else
            kinds[id] = PIECE_NORMAL;
    }
    for (int id = 0; !types && id < count; id++)
        kinds[id] = guess_kind(t, id);
    index_vocabulary(t, kinds);
    free(kinds);
    return 0;
}

int tokenizer_load(Tokenizer *t, const char *path, int vocab_size, char err[ERROR_SIZE])
{
    memset(t, 0, sizeof *t);
    t->bos_id = TOKEN_BOS, t->eos_id = TOKEN_EOS;
    size_t size;
    unsigned char *data = read_whole_file(path, &size, err);
    if (!data)
        return -1;
    if (size >= 4 && memcmp(data, GGUF_MAGIC, 4) == 0) {
        /* A GGUF model file: its vocabulary is in the metadata. */
        GgufFile g;
        if (gguf_parse(&g, data, size, path, err) != 0) {
            free(data);  /* err already names the file and the problem */
            return -1;
        }
        int rc = tokenizer_from_gguf(t, &g, path, vocab_size, err);
        gguf_free(&g);
        free(data);
        return rc;
    }
    return tokenizer_load_bin(t, data, size, path, vocab_size, err);
}

void tokenizer_free(Tokenizer *t)
{
    free(t->text);
    free(t->piece_offset);
    free(t->piece_length);
    free(t->scores);
    free(t->lookup);
    free(t->is_byte_token);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------------------
 * Encoding */

size_t utf8_char_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80)
        return 1;
    else if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    uint32_t cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not characters. */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

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
            if (!(t->collapse_whitespace && prev_space))
                out[n++] = ' ';
            prev_space = true;
            i++;
            continue;
        }
        if (len - i >= 3 && memcmp(text + i, SPACE_SYMBOL_UTF8, 3) == 0) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = text[i++];
        }
        prev_space = false;
    }
    if (t->collapse_whitespace)
        while (n > 0 && out[n - 1] == ' ')
            n--;
    if (n == 0)
        return 0;
    memmove(out + 1, out, n);
    out[0] = ' ';
    return n + 1;
}

typedef struct {
    int start, length;  /* bytes of the normalized text */
    int prev, next;     /* neighbours in the list; -1 at the ends */
    int id;             /* vocabulary id, or -1 for a character to spell as bytes */
} Symbol;

typedef struct {
    float score;
    int left, right;               /* symbol indices */
    int left_length, right_length; /* their lengths when queued: a change means stale */
} Candidate;

/* The better candidate merges first: higher score, then the leftmost. */
static bool better(const Candidate *a, const Candidate *b, const Symbol *symbols)
{
    if (a->score != b->score)
        return a->score > b->score;
    return symbols[a->left].start < symbols[b->left].start;
}

typedef struct {
    Candidate *items;
    int count;
} Queue;

static void queue_push(Queue *q, Candidate c, const Symbol *symbols)
{
    int i = q->count++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!better(&c, &q->items[parent], symbols))
            break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = c;
}

static Candidate queue_pop(Queue *q, const Symbol *symbols)
{
    Candidate top = q->items[0];
    Candidate last = q->items[--q->count];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= q->count)
            break;
        if (child + 1 < q->count && better(&q->items[child + 1], &q->items[child], symbols))
            child++;
        if (!better(&q->items[child], &last, symbols))
            break;
        q->items[i] = q->items[child];
        i = child;
    }
    if (q->count > 0)
        q->items[i] = last;
    return top;
}

/* Queues the pair (left, right) if their concatenation is a piece. */
static void consider_pair(const Tokenizer *t, const char *text, const Symbol *symbols, Queue *q,
                          int left, int right)
{
    if (left < 0 || right < 0 || symbols[left].id < 0 || symbols[right].id < 0)
        return;
    const Symbol *a = &symbols[left], *b = &symbols[right];
    int id = lookup_piece(t, text + a->start, (size_t)a->length + b->length);
    if (id < 0)
        return;
    queue_push(q, (Candidate){t->scores[id], left, right, a->length, b->length}, symbols);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                     int **tokens_out)
{
    /* Worst cases: normalizing adds one byte; every byte becomes a token. */
    char *norm = malloc(len + 1);
    Symbol *symbols = malloc((len + 1) * sizeof(Symbol));
    Queue queue = {malloc((3 * len + 3) * sizeof(Candidate)), 0};
    int *tokens = malloc((len + 3) * sizeof(int));
    if (!norm || !symbols || !queue.items || !tokens) {
        free(norm), free(symbols), free(queue.items), free(tokens);
        return -1;
    }
    size_t n = normalize(t, text, len, norm);

    /* One symbol per character; characters outside the vocabulary keep id -1
     * and are spelled as byte tokens at the end, as sentencepiece does. */
    int n_symbols = 0;
    for (size_t i = 0; i < n;) {
        size_t char_len = utf8_char_length((const unsigned char *)norm + i, n - i);
        if (char_len == 0)
            char_len = 1;  /* a stray byte: its own symbol, spelled as that byte */
        int id = lookup_piece(t, norm + i, char_len);
        symbols[n_symbols] = (Symbol){(int)i, (int)char_len, n_symbols - 1, n_symbols + 1, id};
        n_symbols++;
        i += char_len;
    }
    if (n_symbols > 0)
        symbols[n_symbols - 1].next = -1;
    for (int i = 0; i + 1 < n_symbols; i++)
        consider_pair(t, norm, symbols, &queue, i, i + 1);

    while (queue.count > 0) {
        Candidate c = queue_pop(&queue, symbols);
        Symbol *a = &symbols[c.left], *b = &symbols[c.right];
        /* Skip pairs that an earlier merge has already changed. */
        if (a->length != c.left_length || b->length != c.right_length || a->next != c.right)
            continue;
        a->id = lookup_piece(t, norm + a->start, (size_t)a->length + b->length);
        a->length += b->length;
        a->next = b->next;
        if (b->next >= 0)
            symbols[b->next].prev = c.left;
        b->length = 0;  /* dead */
        consider_pair(t, norm, symbols, &queue, a->prev, c.left);
        consider_pair(t, norm, symbols, &queue, c.left, a->next);
    }

    int count = 0;
    if (add_bos)
        tokens[count++] = t->bos_id;
    for (int i = n_symbols > 0 ? 0 : -1; i >= 0; i = symbols[i].next) {
        if (symbols[i].id >= 0) {
            tokens[count++] = symbols[i].id;
            continue;
        }
        for (int j = 0; j < symbols[i].length; j++)
            tokens[count++] = t->byte_token[(unsigned char)norm[symbols[i].start + j]];
    }
    if (add_eos)
        tokens[count++] = t->eos_id;
    free(norm), free(symbols), free(queue.items);
    *tokens_out = tokens;
    return count;
}

/* ---------------------------------------------------------------------------
 * Decoding */

const char *tokenizer_decode(const Tokenizer *t, int prev, int token, size_t *len)
{
    const char *piece = t->text + t->piece_offset[token];
    *len = t->piece_length[token];
    if (t->is_byte_token[token]) {
        *len = 1;
        return (const char *)&t->byte_values[byte_of_piece(piece, BYTE_TOKEN_TEXT_LENGTH)];
    }
    if (prev == t->bos_id && *len > 0 && piece[0] == ' ') {
        piece++;
        (*len)--;
    }
    return piece;
}
