/* byte_bpe.c - byte-level BPE as GPT-2 defines it: GPT-2's vocabulary and
 * the vocabularies built like it (Llama 3's, Qwen's, SmolLM2's), read from a
 * GGUF file.
 *
 * GPT-2 spells each of the 256 bytes as one visible character (its byte map,
 * below), so that its vocabulary and merges are text. Loading turns every
 * piece back into the bytes it stands for; encoding then works on the text's
 * own bytes: user-defined tokens are cut out where the text spells them;
 * each stretch between them is put in NFC if the vocabulary asks for it, the
 * pre-tokenizer cuts it into chunks, each chunk starts as one symbol per
 * byte, and neighbours merge, the pair of lowest merge rank first, until no
 * pair is in the merges (or, where the vocabulary ignores merges, a chunk that
 * is a token is that token). Decoding gives a piece's bytes, so
 * decode(encode(x)) == x for any bytes x, or NFC(x) where NFC applies. */
#include "byte_bpe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfc.h"
#include "tokenizer.h"

/* GPT-2's map from bytes to characters: the bytes that are printable Latin-1
 * characters ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for
 * themselves; the other 68 (controls, space, DEL, no-break space, soft
 * hyphen) are U+0100, U+0101, ... in byte order: the space is U+0120 'Ġ'. */
#define FIRST_SHIFTED_CHAR 0x100
#define BYTE_MAP_CHARS (FIRST_SHIFTED_CHAR + BYTE_VALUES)  /* every character of the map is below this */
#define NOT_IN_MAP (-1)

#define MERGE_SEPARATOR ' '  /* a merge is written "left right" */
#define MERGE_LOOKUP_EMPTY (-1)
/* The merge table has at least this many slots per merge: at most half full. */
#define MERGE_LOOKUP_SLOTS_PER_MERGE 2
/* Fibonacci hashing: 2^64 divided by the golden ratio spreads nearby keys apart. */
#define FIBONACCI_MULTIPLIER 0x9e3779b97f4a7c15ull
#define HALF_KEY_BITS 32  /* a pair's key: the left id in the high half, the right id in the low */

/* ---------------------------------------------------------------------------
 * The byte map */

static bool byte_stands_for_itself(int byte)
{
    return (byte >= '!' && byte <= '~') || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

/* The map's inverse: the byte each character stands for, or NOT_IN_MAP. */
static void invert_byte_map(int16_t byte_of_char[BYTE_MAP_CHARS])
{
    for (int c = 0; c < BYTE_MAP_CHARS; c++)
        byte_of_char[c] = NOT_IN_MAP;
    int next_shifted = FIRST_SHIFTED_CHAR;
    for (int byte = 0; byte < BYTE_VALUES; byte++)
        byte_of_char[byte_stands_for_itself(byte) ? byte : next_shifted++] = (int16_t)byte;
}

/* Writes to out the bytes that text, spelled in the map's characters, stands
 * for; text with any other character is copied as it is (such a piece can
 * only be a special one). Returns the length written, at most length. */
static size_t spell_as_bytes(const int16_t byte_of_char[BYTE_MAP_CHARS], const char *text, size_t length,
                             char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < length;) {
        uint32_t c;
        size_t char_length = utf8_decode((const unsigned char *)text + i, length - i, &c);
        if (char_length == 0 || c >= BYTE_MAP_CHARS || byte_of_char[c] == NOT_IN_MAP) {
            memcpy(out, text, length);
            return length;
        }
        out[n++] = (char)byte_of_char[c];
        i += char_length;
    }
    return n;
}

/* ---------------------------------------------------------------------------
 * The merge table: (left id, right id) -> rank */

static uint32_t merge_slot(const ByteBpeRules *r, int left, int right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << HALF_KEY_BITS) | (uint32_t)right;
    /* The product's high half is where every bit of the key has mixed in. */
    return (uint32_t)((key * FIBONACCI_MULTIPLIER) >> HALF_KEY_BITS) & (uint32_t)(r->merge_lookup_size - 1);
}

/* The rank of the merge of left and right, or -1 when they do not merge. */
static int merge_rank(const ByteBpeRules *r, int left, int right)
{
    uint32_t mask = (uint32_t)r->merge_lookup_size - 1;
    for (uint32_t slot = merge_slot(r, left, right);; slot = (slot + 1) & mask) {
        int rank = r->merge_lookup[slot];
        if (rank == MERGE_LOOKUP_EMPTY || (r->merges[rank].left == left && r->merges[rank].right == right))
            return rank;
    }
}

/* Makes merge rank findable; of two entries for one pair the first wins. */
static void add_merge_to_lookup(ByteBpeRules *r, int rank)
{
    const BpeMerge *m = &r->merges[rank];
    if (merge_rank(r, m->left, m->right) != MERGE_LOOKUP_EMPTY)
        return;
    uint32_t mask = (uint32_t)r->merge_lookup_size - 1;
    uint32_t slot = merge_slot(r, m->left, m->right);
    while (r->merge_lookup[slot] != MERGE_LOOKUP_EMPTY)
        slot = (slot + 1) & mask;
    r->merge_lookup[slot] = rank;
}

/* ---------------------------------------------------------------------------
 * Loading */

/* BOS and EOS from the file (one stands for both when the other is absent),
 * and whether a prompt starts with BOS (absent: no, as llama.cpp reads it). */
static int read_special_tokens(Tokenizer *t, const GgufFile *g, int count, const char *path, char err[ERROR_SIZE])
{
    uint32_t bos = 0, eos = 0;
    int has_bos = gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos);
    int has_eos = gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos);
    if (has_bos == -2 || has_eos == -2)
        return file_error(err, path, "tokenizer.ggml.bos_token_id or eos_token_id is not a token id");
    if (has_bos != 0 && has_eos != 0)
        return file_error(err, path, "no tokenizer.ggml.bos_token_id or eos_token_id");
    if (has_bos != 0)
        bos = eos;
    if (has_eos != 0)
        eos = bos;
    if (bos >= (uint32_t)count || eos >= (uint32_t)count)
        return file_error(err, path, "BOS %u or EOS %u is not among its %d tokens", bos, eos, count);
    bool add_bos = false;
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos) == -2)
        return file_error(err, path, "tokenizer.ggml.add_bos_token is not a bool");
    t->bos_id = (int)bos, t->eos_id = (int)eos;
    t->add_bos = add_bos;
    return 0;
}

/* The split (and NFC, ignore_merges) named by tokenizer.ggml.pre; without
 * one, GPT-2's. */
static int read_pretokenizer(Tokenizer *t, const GgufFile *g, const char *path, char err[ERROR_SIZE])
{
    GgufString name;
    int status = gguf_get_string(g, "tokenizer.ggml.pre", &name);
    if (status == -1) {
        t->byte_bpe.pre = (PretokenizerRules){PRETOKENIZER_GPT2, false, false};
        return 0;
    }
    if (status != 0)
        return file_error(err, path, "tokenizer.ggml.pre is not a string");
    if (pretokenizer_from_name(name.ptr, name.len, &t->byte_bpe.pre) != 0) {
        char quoted[QUOTE_SIZE];
        return file_error(err, path, "pre-tokenizer '%s' is not supported yet",
                          quote_bytes(quoted, name.ptr, name.len));
    }
    return 0;
}

/* Every piece into t->vocab, a normal one as the bytes it stands for, its
 * kind into kinds, and whether it is user-defined into user_defined. */
static int read_pieces(Tokenizer *t, const GgufArray *tokens, const GgufArray *types,
                       const int16_t byte_of_char[BYTE_MAP_CHARS], unsigned char *kinds, bool *user_defined,
                       const char *path, char err[ERROR_SIZE])
{
    size_t text_bytes = 0;
    for (int id = 0; id < t->vocab_size; id++) {
        if (tokens->strings[id].len > VOCAB_MAX_PIECE_LENGTH)
            return file_error(err, path, "token %d is longer than %d bytes", id, VOCAB_MAX_PIECE_LENGTH);
        text_bytes += tokens->strings[id].len + 1;
    }
    if (vocab_allocate(&t->vocab, t->vocab_size, text_bytes) != 0)
        return file_error(err, path, "out of memory");
    for (int id = 0; id < t->vocab_size; id++) {
        GgufString piece = tokens->strings[id];
        int32_t type = GGUF_TOKEN_NORMAL;
        if (types && gguf_array_i32(types, id, &type) != 0)
            return file_error(err, path, "token %d has a bad type", id);
        char *out = vocab_next_piece(&t->vocab);
        size_t length = piece.len;
        if (type == GGUF_TOKEN_NORMAL)
            length = spell_as_bytes(byte_of_char, piece.ptr, piece.len, out);
        else
            memcpy(out, piece.ptr, piece.len);  /* special tokens are spelled as they are */
        vocab_add_piece(&t->vocab, id, length);
        if ((int)length > t->max_token_length)
            t->max_token_length = (int)length;
        kinds[id] = piece_kind_of_gguf_type(type);
        user_defined[id] = type == GGUF_TOKEN_USER_DEFINED;
    }
    return 0;
}

/* A user-defined token, as the order of t->byte_bpe.user_tokens sees it: by
 * first byte, then longest first (so the first that matches is the longest),
 * then the lower id. */
typedef struct {
    unsigned char first;
    int length, id;
} UserTokenKey;

static int compare_user_tokens(const void *a, const void *b)
{
    const UserTokenKey *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->length != y->length)
        return x->length > y->length ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The user-defined tokens that typed text makes: not empty, not BOS or EOS. */
static bool typed_user_token(const Tokenizer *t, const bool *user_defined, int id)
{
    return user_defined[id] && t->vocab.piece_length[id] > 0 && id != t->bos_id && id != t->eos_id;
}

static int index_user_tokens(Tokenizer *t, const bool *user_defined, const char *path, char err[ERROR_SIZE])
{
    ByteBpeRules *r = &t->byte_bpe;
    int n = 0;
    for (int id = 0; id < t->vocab_size; id++)
        n += typed_user_token(t, user_defined, id);
    UserTokenKey *keys = malloc(((size_t)n + 1) * sizeof *keys);
    r->user_tokens = malloc(((size_t)n + 1) * sizeof(int));
    if (!keys || !r->user_tokens) {
        free(keys);
        return file_error(err, path, "out of memory");
    }
    n = 0;
    for (int id = 0; id < t->vocab_size; id++)
        if (typed_user_token(t, user_defined, id))
            keys[n++] = (UserTokenKey){(unsigned char)vocab_piece_text(&t->vocab, id)[0],
                                       t->vocab.piece_length[id], id};
    qsort(keys, (size_t)n, sizeof *keys, compare_user_tokens);
    memset(r->user_token_start, 0, sizeof r->user_token_start);
    for (int i = 0; i < n; i++) {
        r->user_tokens[i] = keys[i].id;
        r->user_token_start[keys[i].first + 1]++;
    }
    for (int b = 0; b < BYTE_VALUES; b++)
        r->user_token_start[b + 1] += r->user_token_start[b];
    free(keys);
    return 0;
}

/* Puts the pieces text may form in the lookup (not BOS, EOS or special
 * ones), and finds each byte's token, the symbols every chunk starts from. */
static int index_pieces(Tokenizer *t, const unsigned char *kinds, const char *path, char err[ERROR_SIZE])
{
    for (int id = 0; id < t->vocab_size; id++)
        if (kinds[id] == PIECE_NORMAL && id != t->bos_id && id != t->eos_id)
            vocab_add_to_lookup(&t->vocab, id);
    for (int byte = 0; byte < BYTE_VALUES; byte++) {
        char c = (char)byte;
        int id = vocab_lookup(&t->vocab, &c, 1);
        if (id < 0)
            return file_error(err, path, "no token for the byte 0x%02x: byte-level BPE needs one for each byte",
                              byte);
        vocab_add_byte_token(&t->vocab, id, (unsigned char)byte);
    }
    return 0;
}

/* Merge rank, "left right", as ids into t->byte_bpe.merges[rank]. scratch
 * has room for the entry's length. */
static int read_merge(Tokenizer *t, GgufString entry, int rank, const int16_t byte_of_char[BYTE_MAP_CHARS],
                      char *scratch, const char *path, char err[ERROR_SIZE])
{
    char quoted_entry[QUOTE_SIZE], quoted_piece[QUOTE_SIZE];
    const char *separator = memchr(entry.ptr, MERGE_SEPARATOR, entry.len);
    size_t left_length = separator ? (size_t)(separator - entry.ptr) : 0;
    size_t right_length = separator ? entry.len - left_length - 1 : 0;
    if (!separator || left_length == 0 || right_length == 0 ||
        memchr(separator + 1, MERGE_SEPARATOR, right_length) != NULL)
        return file_error(err, path, "merge %d ('%s') is not two pieces separated by one space", rank,
                          quote_bytes(quoted_entry, entry.ptr, entry.len));
    /* Both pieces' bytes side by side in scratch: together, they are the merged piece. */
    size_t left_bytes = spell_as_bytes(byte_of_char, entry.ptr, left_length, scratch);
    size_t right_bytes = spell_as_bytes(byte_of_char, separator + 1, right_length, scratch + left_bytes);
    BpeMerge *m = &t->byte_bpe.merges[rank];
    m->left = vocab_lookup(&t->vocab, scratch, left_bytes);
    m->right = vocab_lookup(&t->vocab, scratch + left_bytes, right_bytes);
    m->merged = vocab_lookup(&t->vocab, scratch, left_bytes + right_bytes);
    if (m->left < 0 || m->right < 0)
        return file_error(err, path, "merge %d ('%s') names '%s', which is not a token of the vocabulary", rank,
                          quote_bytes(quoted_entry, entry.ptr, entry.len),
                          m->left < 0 ? quote_bytes(quoted_piece, entry.ptr, left_length)
                                      : quote_bytes(quoted_piece, separator + 1, right_length));
    if (m->merged < 0)
        return file_error(err, path, "merge %d ('%s') makes a piece that is not a token of the vocabulary", rank,
                          quote_bytes(quoted_entry, entry.ptr, entry.len));
    return 0;
}

/* Every merge, checked, into the merge table. */
static int read_merges(Tokenizer *t, const GgufArray *merges, const int16_t byte_of_char[BYTE_MAP_CHARS],
                       const char *path, char err[ERROR_SIZE])
{
    ByteBpeRules *r = &t->byte_bpe;
    r->n_merges = (int)merges->count;
    r->merge_lookup_size = 1;
    while (r->merge_lookup_size < MERGE_LOOKUP_SLOTS_PER_MERGE * r->n_merges)
        r->merge_lookup_size *= 2;
    size_t longest = 0;
    for (int rank = 0; rank < r->n_merges; rank++)
        if (merges->strings[rank].len > longest)
            longest = merges->strings[rank].len;
    r->merges = malloc(((size_t)r->n_merges + 1) * sizeof(BpeMerge));
    r->merge_lookup = malloc((size_t)r->merge_lookup_size * sizeof(int));
    char *scratch = malloc(longest + 1);
    if (!r->merges || !r->merge_lookup || !scratch) {
        free(scratch);
        return file_error(err, path, "out of memory");
    }
    for (int slot = 0; slot < r->merge_lookup_size; slot++)
        r->merge_lookup[slot] = MERGE_LOOKUP_EMPTY;
    int status = 0;
    for (int rank = 0; rank < r->n_merges && status == 0; rank++) {
        status = read_merge(t, merges->strings[rank], rank, byte_of_char, scratch, path, err);
        if (status == 0)
            add_merge_to_lookup(r, rank);
    }
    free(scratch);
    return status;
}

int byte_bpe_read_gguf(Tokenizer *t, const GgufFile *g, const char *path, int vocab_size, char err[ERROR_SIZE])
{
    const GgufArray *tokens = gguf_get_array(g, "tokenizer.ggml.tokens");
    const GgufArray *types = gguf_get_array(g, "tokenizer.ggml.token_type");
    const GgufArray *merges = gguf_get_array(g, "tokenizer.ggml.merges");
    if (!tokens || tokens->type != GGUF_TYPE_STRING)
        return file_error(err, path, "no tokenizer.ggml.tokens (an array of strings)");
    if (!merges || merges->type != GGUF_TYPE_STRING)
        return file_error(err, path, "no tokenizer.ggml.merges (an array of strings): byte-level BPE needs them");
    if (tokens->count == 0 || tokens->count > VOCAB_MAX_PIECES)
        return file_error(err, path, "holds %llu tokens", (unsigned long long)tokens->count);
    if (merges->count > VOCAB_MAX_PIECES)
        return file_error(err, path, "holds %llu merges", (unsigned long long)merges->count);
    if (types && types->count != tokens->count)
        return file_error(err, path, "tokenizer.ggml.tokens and token_type differ in length");
    int count = (int)tokens->count;
    if (vocab_size > 0 && count != vocab_size)
        return file_error(err, path, "holds %d tokens but the model's vocab_size is %d", count, vocab_size);
    t->vocab_size = count;
    if (read_special_tokens(t, g, count, path, err) != 0 || read_pretokenizer(t, g, path, err) != 0)
        return -1;

    int16_t byte_of_char[BYTE_MAP_CHARS];
    invert_byte_map(byte_of_char);
    unsigned char *kinds = malloc(count);
    bool *user_defined = malloc(count * sizeof(bool));
    if (!kinds || !user_defined) {
        free(kinds), free(user_defined);
        return file_error(err, path, "out of memory");
    }
    int status = read_pieces(t, tokens, types, byte_of_char, kinds, user_defined, path, err);
    if (status == 0)
        status = index_pieces(t, kinds, path, err);
    if (status == 0)
        status = index_user_tokens(t, user_defined, path, err);
    free(user_defined);
    if (status == 0)
        t->vocab.kinds = kinds;  /* the vocabulary keeps them: tokenizer_special_token looks */
    else
        free(kinds);
    if (status == 0)
        status = read_merges(t, merges, byte_of_char, path, err);
    return status;
}

void byte_bpe_free(ByteBpeRules *rules)
{
    free(rules->merges);
    free(rules->merge_lookup);
    free(rules->user_tokens);
    memset(rules, 0, sizeof *rules);
}

/* ---------------------------------------------------------------------------
 * Encoding */

/* One symbol per byte of text[start, end), each its byte's token, linked in
 * order. Returns the count. */
static int bytes_as_symbols(const Tokenizer *t, const char *text, size_t start, size_t end, Symbol *symbols)
{
    int n = 0;
    for (size_t i = start; i < end; i++, n++)
        symbols[n] = (Symbol){(int)i, 1, n - 1, n + 1, t->vocab.byte_token[(unsigned char)text[i]]};
    symbols[n - 1].next = -1;
    return n;
}

/* Queues the pair (left, right) if the merges have it, by its rank. */
static void consider_pair(const Tokenizer *t, const Symbol *symbols, MergeQueue *q, int left, int right)
{
    if (left < 0 || right < 0)
        return;
    int rank = merge_rank(&t->byte_bpe, symbols[left].id, symbols[right].id);
    if (rank == MERGE_LOOKUP_EMPTY)
        return;
    /* The queue serves the highest priority first; the lowest rank must merge first. */
    merge_queue_push(q, (Candidate){-(double)rank, left, right, symbols[left].length, symbols[right].length},
                     symbols);
}

/* Merges neighbours, lowest rank first (the leftmost of equals), until no
 * pair of neighbours is a merge. */
static void merge_by_rank(const Tokenizer *t, Symbol *symbols, int n_symbols, MergeQueue *q)
{
    q->count = 0;
    for (int i = 0; i + 1 < n_symbols; i++)
        consider_pair(t, symbols, q, i, i + 1);
    while (q->count > 0) {
        Candidate c = merge_queue_pop(q, symbols);
        if (candidate_is_stale(&c, symbols))
            continue;
        int rank = merge_rank(&t->byte_bpe, symbols[c.left].id, symbols[c.right].id);
        merge_candidate(symbols, &c, t->byte_bpe.merges[rank].merged);
        consider_pair(t, symbols, q, symbols[c.left].prev, c.left);
        consider_pair(t, symbols, q, c.left, symbols[c.left].next);
    }
}

/* The next user-defined token the text spells at or after from: where it
 * starts and its id, or start len and id -1 when there is none. The leftmost,
 * and of those the longest, as the vocabulary's own tokenizer cuts them. */
typedef struct {
    size_t start;
    int id;
} UserToken;

static UserToken next_user_token(const Tokenizer *t, const char *text, size_t len, size_t from)
{
    const ByteBpeRules *r = &t->byte_bpe;
    for (size_t at = from; at < len; at++) {
        unsigned char b = (unsigned char)text[at];
        for (int i = r->user_token_start[b]; i < r->user_token_start[b + 1]; i++) {
            int id = r->user_tokens[i];
            size_t length = (size_t)t->vocab.piece_length[id];
            if (length <= len - at && memcmp(text + at, vocab_piece_text(&t->vocab, id), length) == 0)
                return (UserToken){at, id};
        }
    }
    return (UserToken){len, -1};
}

/* Work space for encoding stretches of up to room bytes. */
typedef struct {
    Symbol *symbols;
    MergeQueue queue;
} MergeSpace;

/* Appends the tokens of text[0, len) (no user-defined token in it, NFC done)
 * to tokens; returns how many. */
static int encode_stretch(const Tokenizer *t, const char *text, size_t len, MergeSpace *space, int *tokens)
{
    const PretokenizerRules *pre = &t->byte_bpe.pre;
    int count = 0;
    for (size_t start = 0, end; start < len; start = end) {
        end = pretokenizer_next_chunk(pre->split, text, len, start);
        if (pre->ignore_merges) {
            int whole = vocab_lookup(&t->vocab, text + start, end - start);
            if (whole >= 0) {
                tokens[count++] = whole;
                continue;
            }
        }
        int n_symbols = bytes_as_symbols(t, text, start, end, space->symbols);
        merge_by_rank(t, space->symbols, n_symbols, &space->queue);
        for (int i = 0; i >= 0; i = space->symbols[i].next)
            tokens[count++] = space->symbols[i].id;
    }
    return count;
}

int byte_bpe_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                    int **tokens_out)
{
    /* NFC may make a stretch longer (up to NFC_MAX_GROWTH times). Worst cases
     * then: every byte a token; a chunk of n bytes queues n - 1 pairs, then at
     * most two for each of at most n - 1 merges. */
    const bool nfc = t->byte_bpe.pre.nfc;
    const size_t room = nfc ? NFC_MAX_GROWTH * len : len;
    MergeSpace space = {malloc((room + 1) * sizeof(Symbol)), {malloc((3 * room + 1) * sizeof(Candidate)), 0}};
    int *tokens = malloc((room + 2) * sizeof(int));
    char *normalized = nfc ? malloc(room + 1) : NULL;
    int count = 0;
    if (!space.symbols || !space.queue.items || !tokens || (nfc && !normalized))
        goto out_of_memory;
    if (add_bos)
        tokens[count++] = t->bos_id;
    for (size_t at = 0; at < len;) {
        UserToken next = next_user_token(t, text, len, at);
        const char *stretch = text + at;
        size_t stretch_len = next.start - at;
        if (nfc && stretch_len > 0) {
            stretch_len = nfc_normalize(stretch, stretch_len, normalized);
            if (stretch_len == (size_t)-1)
                goto out_of_memory;
            stretch = normalized;
        }
        count += encode_stretch(t, stretch, stretch_len, &space, tokens + count);
        if (next.id < 0)
            break;
        tokens[count++] = next.id;
        at = next.start + (size_t)t->vocab.piece_length[next.id];
    }
    if (add_eos)
        tokens[count++] = t->eos_id;
    free(space.symbols), free(space.queue.items), free(normalized);
    *tokens_out = tokens;
    return count;

out_of_memory:
    free(space.symbols), free(space.queue.items), free(normalized), free(tokens);
    return -1;
}

/* ---------------------------------------------------------------------------
 * Decoding */

const char *byte_bpe_decode(const Tokenizer *t, int prev, int token, size_t *len)
{
    return vocab_decode(&t->vocab, token, len);  /* the piece's bytes, as loading spelled them */
}
