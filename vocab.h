/* vocab.h - what every kind of tokenizer shares: the vocabulary's pieces with
 * a lookup from bytes to id, byte tokens, the priority queue that merges
 * symbols into pieces, and small helpers (UTF-8, whole files). The public door
 * is tokenizer.h; sentencepiece.c and byte_bpe.c build on this. */
#ifndef VOCAB_H
#define VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"  /* ERROR_SIZE, TOKEN_UNK */

#define BYTE_VALUES 256  /* how many values one byte can take */

/* The most pieces a vocabulary may hold: the lookup table (under 4 slots a
 * piece) and every per-piece array then have sizes that fit an int. */
#define VOCAB_MAX_PIECES (INT32_MAX / 4)
/* The longest piece, in bytes: two pieces' lengths still add up in an int. */
#define VOCAB_MAX_PIECE_LENGTH (INT32_MAX / 2)

/* Marks a token that is not a byte token, in Vocab.token_byte. */
#define NOT_A_BYTE (-1)

/* The pieces, ids 0..count-1, and the tables that find them. The count is
 * kept by the owner (Tokenizer.vocab_size). */
typedef struct {
    char *text;          /* every piece's bytes, back to back, each NUL-terminated */
    size_t text_used;    /* bytes of text filled so far, while loading */
    int *piece_offset;   /* (count) where piece i starts in text */
    int *piece_length;   /* (count) its length in bytes */
    int *lookup;         /* open-addressing hash table, piece bytes -> id, -1 empty */
    int lookup_size;     /* a power of two */
    int byte_token[BYTE_VALUES];  /* the byte token of each byte, or TOKEN_UNK */
    int16_t *token_byte;          /* (count) the byte a byte token decodes to, or NOT_A_BYTE */
    unsigned char byte_values[BYTE_VALUES];  /* 0..255: what decoding a byte token points into */
    unsigned char *kinds;         /* (count) each piece's PieceKind, set by the loader */
} Vocab;

/* What a piece is for: matched against text, never matched (<unk>, <s>,
 * </s>: typing "<s>" does not make a BOS, as in sentencepiece), or a byte
 * token, which stands for one byte. */
typedef enum { PIECE_NORMAL, PIECE_SPECIAL, PIECE_BYTE } PieceKind;

/* GGUF token types (tokenizer.ggml.token_type, llama.cpp's numbering). */
#define GGUF_TOKEN_NORMAL 1
#define GGUF_TOKEN_UNKNOWN 2
#define GGUF_TOKEN_CONTROL 3
#define GGUF_TOKEN_USER_DEFINED 4
#define GGUF_TOKEN_UNUSED 5
#define GGUF_TOKEN_BYTE 6

/* What a GGUF token type means here. */
PieceKind piece_kind_of_gguf_type(int32_t type);

/* ---------------------------------------------------------------------------
 * Building a vocabulary: allocate, add every piece in id order, then say
 * which pieces text may match and which are byte tokens. */

/* Room for count pieces of text_bytes bytes in all (their NULs included),
 * with no piece in the lookup and no byte token yet. Returns 0, or -1 when
 * out of memory (vocab_free then frees what was allocated). */
int vocab_allocate(Vocab *v, int count, size_t text_bytes);
void vocab_free(Vocab *v);

/* Where the next piece's bytes go. Room was allocated for the file's spelling
 * of every piece, so a loader may write a shorter spelling there. */
char *vocab_next_piece(Vocab *v);
/* Records the length bytes just written at vocab_next_piece as piece id. */
void vocab_add_piece(Vocab *v, int id, size_t length);

static inline const char *vocab_piece_text(const Vocab *v, int id)
{
    return v->text + v->piece_offset[id];
}

/* Makes piece id findable by its bytes; of two equal pieces the lower id wins. */
void vocab_add_to_lookup(Vocab *v, int id);
/* Makes id a byte token for byte; the lowest id is the one encoding uses. */
void vocab_add_byte_token(Vocab *v, int id, unsigned char byte);

/* The id of the piece in the lookup with exactly these bytes, or -1. */
int vocab_lookup(const Vocab *v, const char *bytes, size_t length);

static inline bool vocab_is_byte_token(const Vocab *v, int id)
{
    return v->token_byte[id] != NOT_A_BYTE;
}

/* The bytes token stands for: a byte token's one byte, else its piece.
 * Not NUL-terminated for byte tokens; use *length. */
const char *vocab_decode(const Vocab *v, int token, size_t *length);

/* ---------------------------------------------------------------------------
 * Merging: the text starts as a list of symbols (characters, bytes) and the
 * best candidate pair of neighbours is merged until none is left. A priority
 * queue of candidates makes that O(n log n): rescanning every pair after
 * every merge would be O(n^2) and take minutes on 50 KB. */

typedef struct {
    int start, length;  /* bytes of the text being encoded */
    int prev, next;     /* neighbours in the list; -1 at the ends */
    int id;             /* vocabulary id, or -1 for a character outside the vocabulary */
} Symbol;

typedef struct {
    /* Higher merges first: sentencepiece's score of the merged piece, or a
     * BPE merge's rank negated. A double holds either exactly. */
    double priority;
    int left, right;               /* symbol indices */
    int left_length, right_length; /* their lengths when queued: a change means stale */
} Candidate;

/* A binary heap of candidates, the best on top; ties go to the leftmost. */
typedef struct {
    Candidate *items;  /* room for every candidate that will be pushed */
    int count;
} MergeQueue;

void merge_queue_push(MergeQueue *q, Candidate c, const Symbol *symbols);
/* Removes and returns the best candidate; q must not be empty. */
Candidate merge_queue_pop(MergeQueue *q, const Symbol *symbols);

/* Whether an earlier merge has changed either symbol of c since it was queued. */
bool candidate_is_stale(const Candidate *c, const Symbol *symbols);
/* Merges c's right symbol into its left one, which becomes merged_id. */
void merge_candidate(Symbol *symbols, const Candidate *c, int merged_id);

/* ---------------------------------------------------------------------------
 * Helpers */

/* Length of the UTF-8 character starting at s (n bytes available), or 0 if
 * the bytes there are not one valid character (overlong forms and surrogates
 * are not). */
size_t utf8_char_length(const unsigned char *s, size_t n);
/* The same, and the character's code point in *codepoint (set only when the
 * length returned is not 0). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *codepoint);

/* Bytes from a file, made safe to quote in a one-line message: at most
 * QUOTE_MAX_BYTES of them, control bytes and bytes outside valid UTF-8 as
 * \xNN, "..." after a cut. Returns out. */
#define QUOTE_MAX_BYTES 40
#define QUOTE_SIZE (4 * QUOTE_MAX_BYTES + sizeof "...")
const char *quote_bytes(char out[QUOTE_SIZE], const char *bytes, size_t length);

/* The whole file at path in a malloc'ed buffer (one spare byte at the end),
 * its size in *size; NULL with "path: why" in err. */
unsigned char *read_whole_file(const char *path, size_t *size, char err[ERROR_SIZE]);

#endif
