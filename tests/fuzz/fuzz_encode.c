/* fuzz_encode.c - libFuzzer harness for encoding and decoding text.
 *
 * Each input is text (any bytes). It is encoded with every tokenizer loaded
 * at start-up, with and without BOS and EOS, and decoded back. Invariants
 * (abort() on violation):
 *   - every id is in [0, vocab_size); BOS and EOS appear only where asked;
 *     the ids between them do not depend on whether BOS and EOS were asked;
 *   - with a sentencepiece vocabulary that has all 256 byte tokens and the
 *       piece " ": decode(encode(x)) == x when x is valid UTF-8 whose only
 *       whitespace is single spaces not at either end, with no U+2581 and no
 *       NUL (so sentencepiece's normalization leaves it alone, whatever the
 *       vocabulary); and, for a vocabulary that keeps whitespace (Llama 2's),
 *       for any x without the bytes of U+2581: byte fallback spells every
 *       other byte;
 *   - with a byte-level BPE vocabulary (GPT-2's, Llama 3's, SmolLM2's):
 *       decode(encode(x)) == x for every x, which is lossless by
 *       construction; with one that puts text in NFC first (Qwen's),
 *       decode(encode(x)) == NFC(x) for every x that spells none of its
 *       user-defined tokens; and no id of the text is a special token;
 *   - NFC(NFC(x)) == NFC(x), and NFC(x) is at most NFC_MAX_GROWTH times longer.
 *
 * Tokenizers: a small built-in vocabulary (always; it keeps whitespace), plus
 * every file in FUZZ_TOKENIZER, a ':'-separated list. Unset, it is
 * ../shared/models/tokenizer.bin:../shared/models/tok512.bin:
 * ../shared/models/ggml-vocab-gpt-2.gguf, and files that are missing are
 * skipped; set, each must load ("builtin": none but the built-in vocabulary). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "nfc.h"
#include "tokenizer.h"

#define DEFAULT_TOKENIZERS \
    "../shared/models/tokenizer.bin:../shared/models/tok512.bin:../shared/models/ggml-vocab-gpt-2.gguf"
#define MAX_TOKENIZERS 12

typedef struct {
    Tokenizer t;
    char name[256];
    bool can_round_trip;  /* byte-level BPE, or every byte has a byte token and " " is a piece */
} Loaded;

static Loaded loaded[MAX_TOKENIZERS];
static int n_loaded;

/* A small vocabulary in tokenizer.bin form: the specials, the 256 byte
 * tokens, " " and "  " (so whitespace is kept), printable ASCII, a few
 * multi-byte characters, and some merges, each scoring below the previous. */
static size_t builtin_tokenizer(unsigned char *out, size_t cap)
{
    static const char *const merges[] = {
        " t", "th", "he", " th", " the", "in", "an", "er", " a", "on", "re", "nd", " o", "ou", " w",
        "is", "at", "en", "ing", " and", "   ", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
        " \xc3\xa9", "\n\n", "ll", "  a",
    };
    const char *pieces[3 + 256 + 2 + 94 + sizeof merges / sizeof merges[0]];
    static char byte_names[256][7], ascii[94][2];
    int n = 0;
    pieces[n++] = "<unk>";
    pieces[n++] = "\n<s>\n";
    pieces[n++] = "\n</s>\n";
    for (int b = 0; b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], "<0x%02X>", b);
        pieces[n++] = byte_names[b];
    }
    pieces[n++] = " ";
    pieces[n++] = "  ";
    for (int c = 33; c < 127; c++) {
        ascii[c - 33][0] = (char)c;
        ascii[c - 33][1] = '\0';
        pieces[n++] = ascii[c - 33];
    }
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++)
        pieces[n++] = merges[i];

    size_t pos = 0;
    int32_t max_len = 1;
    for (int id = 0; id < n; id++)
        if ((int32_t)strlen(pieces[id]) > max_len)
            max_len = (int32_t)strlen(pieces[id]);
    memcpy(out + pos, &max_len, 4);
    pos += 4;
    for (int id = 0; id < n; id++) {
        float score = id < 3 + 256 ? 0.0f : -(float)(id - 3 - 256);
        int32_t len = (int32_t)strlen(pieces[id]);
        if (pos + 8 + (size_t)len > cap)
            abort();
        memcpy(out + pos, &score, 4);
        memcpy(out + pos + 4, &len, 4);
        memcpy(out + pos + 8, pieces[id], (size_t)len);
        pos += 8 + (size_t)len;
    }
    return pos;
}

static void add_tokenizer(const char *path, const char *name, bool required)
{
    Loaded *l = &loaded[n_loaded];
    char err[ERROR_SIZE];
    if (tokenizer_load(&l->t, path, 0, err) != 0) {
        fprintf(stderr, "fuzz_encode: %s\n", err);
        if (required)
            exit(1);
        return;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    if (l->t.kind == TOKENIZER_BYTE_BPE) {
        l->can_round_trip = true;
        fprintf(stderr, "fuzz_encode: %s: %d tokens, byte-level BPE\n", name, l->t.vocab_size);
        n_loaded++;
        return;
    }
    bool all_bytes = true;
    for (int b = 0; b < 256; b++)
        all_bytes = all_bytes && l->t.vocab.byte_token[b] != TOKEN_UNK;
    bool space_piece = false;
    for (int id = TOKEN_EOS + 1; id < l->t.vocab_size; id++)
        if (l->t.vocab.piece_length[id] == 1 && l->t.vocab.text[l->t.vocab.piece_offset[id]] == ' ')
            space_piece = true;
    l->can_round_trip = all_bytes && space_piece;
    fprintf(stderr, "fuzz_encode: %s: %d tokens, %s whitespace%s\n", name, l->t.vocab_size,
            l->t.sentencepiece.collapse_whitespace ? "collapses" : "keeps",
            l->can_round_trip ? "" : ", no round-trip checks (byte tokens or \" \" missing)");
    n_loaded++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static unsigned char buf[8192];
    FuzzFile f;
    fuzz_file_open(&f, "builtin-tokenizer");
    size_t n = builtin_tokenizer(buf, sizeof buf);
    add_tokenizer(fuzz_file_write(&f, buf, n), "built-in vocabulary", true);
    close(f.fd);

    const char *env = getenv("FUZZ_TOKENIZER");
    bool required = env != NULL && *env != '\0';
    char list[4096];
    snprintf(list, sizeof list, "%s", required ? env : DEFAULT_TOKENIZERS);
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (strcmp(p, "builtin") == 0)
            continue;
        if (n_loaded == MAX_TOKENIZERS)
            break;
        if (!required && access(p, R_OK) != 0) {
            fprintf(stderr, "fuzz_encode: %s not found, skipped\n", p);
            continue;
        }
        add_tokenizer(p, p, required);
    }
    return 0;
}

/* x is left alone by normalization with any vocabulary. */
static bool plain_text(const uint8_t *s, size_t n)
{
    if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
        return false;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_char_length(s + i, n - i);
        if (len == 0)
            return false;
        unsigned char c = s[i];
        if (c == '\0' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
            return false;
        if (c == ' ' && i + 1 < n && s[i + 1] == ' ')
            return false;
        if (len == 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0)
            return false;
        i += len;
    }
    return true;
}

static bool has_space_symbol(const uint8_t *s, size_t n)
{
    return n >= 3 && memmem(s, n, "\xe2\x96\x81", 3) != NULL;
}

static void print_bytes(const char *label, const unsigned char *s, size_t n)
{
    fprintf(stderr, "  %s (%zu bytes):", label, n);
    for (size_t i = 0; i < n && i < 200; i++)
        fprintf(stderr, " %02x", s[i]);
    fputc('\n', stderr);
}

/* Encodes, checks the ids, and returns them (the text's ids only, without BOS/EOS) in *text_ids. */
static int encode_checked(const Loaded *l, const uint8_t *data, size_t size, bool bos, bool eos,
                          int **ids_out)
{
    int *ids = NULL;
    int n = tokenizer_encode(&l->t, (const char *)data, size, bos, eos, &ids);
    FUZZ_CHECK(n >= 0 && ids != NULL, "%s: tokenizer_encode failed on %zu bytes", l->name, size);
    /* At most a token a byte (NFC may make the text up to NFC_MAX_GROWTH times longer). */
    size_t most = l->t.kind == TOKENIZER_BYTE_BPE && l->t.byte_bpe.pre.nfc ? NFC_MAX_GROWTH * size : size;
    FUZZ_CHECK((size_t)n <= most + 1 + bos + eos, "%s: %d tokens for %zu bytes", l->name, n, size);
    FUZZ_CHECK(!bos || (n >= 1 && ids[0] == l->t.bos_id), "%s: BOS missing", l->name);
    FUZZ_CHECK(!eos || (n >= 1 && ids[n - 1] == l->t.eos_id), "%s: EOS missing", l->name);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < l->t.vocab_size, "%s: id %d at %d out of range (vocab %d)",
                   l->name, ids[i], i, l->t.vocab_size);
        bool end = (bos && i == 0) || (eos && i == n - 1);
        FUZZ_CHECK(end || (ids[i] != l->t.bos_id && ids[i] != l->t.eos_id), "%s: BOS/EOS inside the text at %d",
                   l->name, i);
        FUZZ_CHECK(end || !l->can_round_trip || l->t.kind != TOKENIZER_SENTENCEPIECE || ids[i] != TOKEN_UNK,
                   "%s: <unk> at %d though every byte has a byte token", l->name, i);
        FUZZ_CHECK(end || l->t.kind != TOKENIZER_BYTE_BPE || l->t.vocab.kinds[ids[i]] != PIECE_SPECIAL,
                   "%s: special token %d made from the text at %d", l->name, ids[i], i);
    }
    *ids_out = ids;
    return n;
}

/* Whether x spells one of a byte-level BPE vocabulary's user-defined tokens. */
static bool has_user_token(const Tokenizer *t, const uint8_t *s, size_t n)
{
    const ByteBpeRules *r = &t->byte_bpe;
    for (int i = 0; i < r->user_token_start[BYTE_VALUES]; i++) {
        int id = r->user_tokens[i];
        if (memmem(s, n, vocab_piece_text(&t->vocab, id), (size_t)t->vocab.piece_length[id]) != NULL)
            return true;
    }
    return false;
}

static void check_one(const Loaded *l, const uint8_t *data, size_t size)
{
    int *plain, *marked;
    int n_plain = encode_checked(l, data, size, false, false, &plain);
    int n_marked = encode_checked(l, data, size, true, true, &marked);
    FUZZ_CHECK(n_marked == n_plain + 2 && memcmp(marked + 1, plain, (size_t)n_plain * sizeof(int)) == 0,
               "%s: BOS/EOS changed the text's ids (%d vs %d tokens)", l->name, n_plain, n_marked);
    free(marked);

    /* Decode as ./run prints: the first token follows BOS, whose dummy-prefix space it drops. */
    size_t cap = 16, out_len = 0;
    unsigned char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "out of memory");
    int prev = l->t.bos_id;
    for (int i = 0; i < n_plain; i++) {
        size_t len;
        const char *piece = tokenizer_decode(&l->t, prev, plain[i], &len);
        FUZZ_CHECK(piece != NULL && (len <= (size_t)l->t.max_token_length || len == 1),
                   "%s: decode of %d gave %zu bytes", l->name, plain[i], len);
        while (out_len + len > cap) {
            cap *= 2;
            out = realloc(out, cap);
            FUZZ_CHECK(out != NULL, "out of memory");
        }
        memcpy(out + out_len, piece, len);
        out_len += len;
        prev = plain[i];
    }
    bool must_match = l->can_round_trip &&
                      (l->t.kind == TOKENIZER_BYTE_BPE || plain_text(data, size) ||
                       (!l->t.sentencepiece.collapse_whitespace && !has_space_symbol(data, size)));
    /* NFC: decoding gives the normalized text, when no user-defined token cuts it in stretches. */
    const uint8_t *want = data;
    size_t want_len = size;
    char *normalized = NULL;
    if (must_match && l->t.kind == TOKENIZER_BYTE_BPE && l->t.byte_bpe.pre.nfc) {
        must_match = !has_user_token(&l->t, data, size);
        normalized = malloc(NFC_MAX_GROWTH * size + 1);
        FUZZ_CHECK(normalized != NULL, "out of memory");
        want_len = nfc_normalize((const char *)data, size, normalized);
        want = (const uint8_t *)normalized;
    }
    if (must_match && (out_len != want_len || memcmp(out, want, want_len) != 0)) {
        fprintf(stderr, "fuzz_encode: %s: decode(encode(x)) != %s\n", l->name, normalized ? "NFC(x)" : "x");
        print_bytes("x", data, size);
        print_bytes("decoded", out, out_len);
        fprintf(stderr, "  ids:");
        for (int i = 0; i < n_plain && i < 100; i++)
            fprintf(stderr, " %d", plain[i]);
        fputc('\n', stderr);
        abort();
    }
    free(normalized);
    free(out);
    free(plain);
}

/* NFC is idempotent and grows a text at most NFC_MAX_GROWTH times. */
static void check_nfc(const uint8_t *data, size_t size)
{
    char *once = malloc(NFC_MAX_GROWTH * size + 1);
    FUZZ_CHECK(once != NULL, "out of memory");
    size_t n = nfc_normalize((const char *)data, size, once);
    FUZZ_CHECK(n != (size_t)-1 && n <= NFC_MAX_GROWTH * size, "NFC of %zu bytes gave %zu", size, n);
    char *twice = malloc(NFC_MAX_GROWTH * n + 1);
    FUZZ_CHECK(twice != NULL, "out of memory");
    size_t m = nfc_normalize(once, n, twice);
    if (m != n || memcmp(once, twice, n) != 0) {
        fprintf(stderr, "fuzz_encode: NFC(NFC(x)) != NFC(x)\n");
        print_bytes("x", data, size);
        print_bytes("NFC(x)", (const unsigned char *)once, n);
        print_bytes("NFC(NFC(x))", (const unsigned char *)twice, m);
        abort();
    }
    free(once), free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_nfc(data, size);
    for (int i = 0; i < n_loaded; i++)
        check_one(&loaded[i], data, size);
    return 0;
}
