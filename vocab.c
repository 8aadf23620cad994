/* vocab.c - the vocabulary every kind of tokenizer builds on: pieces and
 * their lookup, byte tokens, the merge queue, UTF-8 and file helpers. */
#include "vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The lookup table has at least this many slots per piece, so that it is at
 * most half full and a probe soon meets an empty slot. */
#define LOOKUP_SLOTS_PER_PIECE 2
#define LOOKUP_EMPTY (-1)

/* FNV-1a, a simple hash that spreads short strings well. */
#define FNV_OFFSET_BASIS 2166136261u
#define FNV_PRIME 16777619u

PieceKind piece_kind_of_gguf_type(int32_t type)
{
    switch (type) {
    case GGUF_TOKEN_BYTE:
        return PIECE_BYTE;
    case GGUF_TOKEN_UNKNOWN:
    case GGUF_TOKEN_CONTROL:
    case GGUF_TOKEN_UNUSED:
        return PIECE_SPECIAL;
    default:  /* GGUF_TOKEN_NORMAL, GGUF_TOKEN_USER_DEFINED, and types added since */
        return PIECE_NORMAL;
    }
}

/* ---------------------------------------------------------------------------
 * Building */

int vocab_allocate(Vocab *v, int count, size_t text_bytes)
{
    v->text = malloc(text_bytes);
    v->text_used = 0;
    v->piece_offset = malloc(count * sizeof(int));
    v->piece_length = malloc(count * sizeof(int));
    v->token_byte = malloc(count * sizeof(int16_t));
    v->lookup_size = 1;
    while (v->lookup_size < LOOKUP_SLOTS_PER_PIECE * count)
        v->lookup_size *= 2;
    v->lookup = malloc(v->lookup_size * sizeof(int));
    if (!v->text || !v->piece_offset || !v->piece_length || !v->token_byte || !v->lookup)
        return -1;
    for (int slot = 0; slot < v->lookup_size; slot++)
        v->lookup[slot] = LOOKUP_EMPTY;
    for (int id = 0; id < count; id++)
        v->token_byte[id] = NOT_A_BYTE;
    for (int byte = 0; byte < BYTE_VALUES; byte++) {
        v->byte_token[byte] = TOKEN_UNK;
        v->byte_values[byte] = (unsigned char)byte;
    }
    return 0;
}

void vocab_free(Vocab *v)
{
    free(v->text);
    free(v->piece_offset);
    free(v->piece_length);
    free(v->token_byte);
    free(v->lookup);
    free(v->kinds);
    memset(v, 0, sizeof *v);
}

char *vocab_next_piece(Vocab *v)
{
    return v->text + v->text_used;
}

void vocab_add_piece(Vocab *v, int id, size_t length)
{
    v->text[v->text_used + length] = '\0';
    v->piece_offset[id] = (int)v->text_used;
    v->piece_length[id] = (int)length;
    v->text_used += length + 1;
}

/* ---------------------------------------------------------------------------
 * Lookup and byte tokens */

static uint32_t hash_bytes(const char *s, size_t length)
{
    uint32_t h = FNV_OFFSET_BASIS;
    for (size_t i = 0; i < length; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

int vocab_lookup(const Vocab *v, const char *bytes, size_t length)
{
    uint32_t mask = (uint32_t)v->lookup_size - 1;
    for (uint32_t slot = hash_bytes(bytes, length) & mask;; slot = (slot + 1) & mask) {
        int id = v->lookup[slot];
        if (id == LOOKUP_EMPTY)
            return -1;
        if ((size_t)v->piece_length[id] == length && memcmp(vocab_piece_text(v, id), bytes, length) == 0)
            return id;
    }
}

void vocab_add_to_lookup(Vocab *v, int id)
{
    const char *bytes = vocab_piece_text(v, id);
    size_t length = v->piece_length[id];
    if (vocab_lookup(v, bytes, length) >= 0)
        return;  /* a duplicate piece: the lower id wins */
    uint32_t mask = (uint32_t)v->lookup_size - 1;
    uint32_t slot = hash_bytes(bytes, length) & mask;
    while (v->lookup[slot] != LOOKUP_EMPTY)
        slot = (slot + 1) & mask;
    v->lookup[slot] = id;
}

void vocab_add_byte_token(Vocab *v, int id, unsigned char byte)
{
    v->token_byte[id] = byte;
    if (v->byte_token[byte] == TOKEN_UNK)
        v->byte_token[byte] = id;
}

/* ---------------------------------------------------------------------------
 * Decoding */

const char *vocab_decode(const Vocab *v, int token, size_t *length)
{
    if (vocab_is_byte_token(v, token)) {
        *length = 1;
        return (const char *)&v->byte_values[v->token_byte[token]];
    }
    *length = v->piece_length[token];
    return vocab_piece_text(v, token);
}

/* ---------------------------------------------------------------------------
 * Merging */

/* The better candidate merges first: higher priority, then the leftmost. */
static bool better(const Candidate *a, const Candidate *b, const Symbol *symbols)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return symbols[a->left].start < symbols[b->left].start;
}

void merge_queue_push(MergeQueue *q, Candidate c, const Symbol *symbols)
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

Candidate merge_queue_pop(MergeQueue *q, const Symbol *symbols)
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

bool candidate_is_stale(const Candidate *c, const Symbol *symbols)
{
    const Symbol *left = &symbols[c->left], *right = &symbols[c->right];
    return left->length != c->left_length || right->length != c->right_length || left->next != c->right;
}

void merge_candidate(Symbol *symbols, const Candidate *c, int merged_id)
{
    Symbol *left = &symbols[c->left], *right = &symbols[c->right];
    left->id = merged_id;
    left->length += right->length;
    left->next = right->next;
    if (right->next >= 0)
        symbols[right->next].prev = c->left;
    right->length = 0;  /* dead: any candidate holding it is now stale */
}

/* ---------------------------------------------------------------------------
 * Helpers */

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *codepoint)
{
    /* The first byte gives the length: 0xxxxxxx, 110xxxxx, 1110xxxx or
     * 11110xxx; each byte after it is 10xxxxxx. */
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        *codepoint = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
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
    *codepoint = cp;
    return len;
}

size_t utf8_char_length(const unsigned char *s, size_t n)
{
    uint32_t codepoint;
    return utf8_decode(s, n, &codepoint);
}

const char *quote_bytes(char out[QUOTE_SIZE], const char *bytes, size_t length)
{
    const unsigned char *s = (const unsigned char *)bytes;
    size_t shown = length < QUOTE_MAX_BYTES ? length : QUOTE_MAX_BYTES;
    size_t n = 0;
    for (size_t i = 0; i < shown;) {
        size_t char_length = utf8_char_length(s + i, shown - i);
        bool printable = char_length > 1 || (char_length == 1 && s[i] >= 0x20 && s[i] != 0x7f);
        if (printable) {
            memcpy(out + n, s + i, char_length);
            n += char_length;
            i += char_length;
        } else {
            n += (size_t)snprintf(out + n, QUOTE_SIZE - n, "\\x%02x", s[i]);
            i++;
        }
    }
    snprintf(out + n, QUOTE_SIZE - n, "%s", shown < length ? "..." : "");
    return out;
}

unsigned char *read_whole_file(const char *path, size_t *size, char err[ERROR_SIZE])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, ERROR_SIZE, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *data = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, ERROR_SIZE, "%s: is a directory, not a tokenizer file", path);
        fclose(f);
        return NULL;
    }
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
