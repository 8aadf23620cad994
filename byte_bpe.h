/* byte_bpe.h - the byte-level BPE kind of tokenizer (GPT-2, Llama 3, Qwen2
 * and 3, SmolLM2, and vocabularies built like them), read from a GGUF file
 * whose tokenizer.ggml.model is "gpt2": user-defined tokens are cut out of
 * the text as they are typed; what is left is put in NFC where the vocabulary
 * asks (Qwen's), a pre-tokenizer splits it into chunks, and each chunk's
 * bytes are merged by the ranks of tokenizer.ggml.merges. Called through
 * tokenizer.h, the public door; builds on vocab.h, nfc.h and pretokenizer.h. */
#ifndef BYTE_BPE_H
#define BYTE_BPE_H

#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "pretokenizer.h"
#include "vocab.h"

/* One entry of the merges: the pieces left and right become merged. */
typedef struct {
    int left, right, merged;  /* vocabulary ids */
} BpeMerge;

/* What byte-level BPE adds to a vocabulary (Tokenizer.byte_bpe). */
typedef struct {
    BpeMerge *merges;        /* (n_merges) in the file's order, which is the rank: 0 merges first */
    int n_merges;
    int *merge_lookup;       /* open-addressing hash table, (left, right) -> rank, -1 empty */
    int merge_lookup_size;   /* a power of two */
    PretokenizerRules pre;   /* the split, NFC and ignore_merges, as tokenizer.ggml.pre names them */
    /* The user-defined tokens (GGUF type USER_DEFINED, such as Qwen3's
     * "<think>"), which typed text makes wherever it spells one, as the
     * vocabulary's own tokenizer does; control tokens it never makes. Ordered
     * by first byte, then longest first; those starting with byte b are
     * user_tokens[user_token_start[b] .. user_token_start[b + 1]). */
    int *user_tokens;
    int user_token_start[BYTE_VALUES + 1];
} ByteBpeRules;

struct Tokenizer;  /* tokenizer.h */

/* Fills a zeroed t from a GGUF file's tokenizer.ggml.tokens, token_type
 * (optional), merges, pre, bos_token_id, eos_token_id and add_bos_token.
 * Returns 0, or -1 with "path: why" in err; the caller then frees t.
 * vocab_size is the model's, or 0 to take every token the file holds. */
int byte_bpe_read_gguf(struct Tokenizer *t, const GgufFile *g, const char *path, int vocab_size,
                       char err[ERROR_SIZE]);
void byte_bpe_free(ByteBpeRules *rules);

/* tokenizer_encode and tokenizer_decode for this kind. */
int byte_bpe_encode(const struct Tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                    int **tokens_out);
const char *byte_bpe_decode(const struct Tokenizer *t, int prev, int token, size_t *len);

#endif
