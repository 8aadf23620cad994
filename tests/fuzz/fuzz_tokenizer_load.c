/* fuzz_tokenizer_load.c - libFuzzer harness for the tokenizer.bin loader.
 *
 * Each input is a tokenizer.bin, llm.c's gpt2_tokenizer.bin (which only
 * decodes) or a GGUF file (whose metadata holds a vocabulary: sentencepiece's
 * or byte-level BPE's). tokenizer_load with vocab_size 0 must
 * reject it with a message or load it; a loaded file must load again when
 * the model's vocab_size is its own count, and be refused for any other
 * (count + 1, and 512 as a model would ask). The loaded vocabulary then
 * encodes fixed strings and the input's own tail (ids in range, BOS and EOS
 * only at the ends, never a special token from the text) and decodes every
 * id, after BOS and after another token. The end of turn is -1 or an id, and
 * special tokens found by name are special. Every chat template renders a
 * conversation on the vocabulary (ids in range), its default system prompt
 * read from the file's tokenizer.chat_template and from the input itself as
 * template text. All of it is freed, so LeakSanitizer sees any leak. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chat_template.h"
#include "fuzz_common.h"
#include "nfc.h"
#include "tokenizer.h"

static FuzzFile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_file_open(&file, "tokenizer");
    return 0;
}

static void check_failure(int status, const Tokenizer *t, const char *err, const char *what)
{
    FUZZ_CHECK(status == -1, "%s: tokenizer_load returned %d", what, status);
    FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', ERROR_SIZE) != NULL, "%s: failure without a message", what);
    FUZZ_CHECK(t->vocab.text == NULL && t->vocab.lookup == NULL && t->sentencepiece.scores == NULL &&
                   t->byte_bpe.merges == NULL && t->byte_bpe.merge_lookup == NULL && t->byte_bpe.user_tokens == NULL &&
                   t->vocab.kinds == NULL,
               "%s: failure left memory behind", what);
}

/* Decodes one token; the bytes must be readable and no longer than a piece. */
static void check_decode(const Tokenizer *t, int prev, int id)
{
    size_t len = (size_t)-1;
    const char *piece = tokenizer_decode(t, prev, id, &len);
    FUZZ_CHECK(piece != NULL && (len <= (size_t)t->max_token_length || len == 1),
               "decode of %d gave length %zu (max_token_length %d)", id, len, t->max_token_length);
    fuzz_touch(piece, len);
}

static void check_encode(const Tokenizer *t, const char *text, size_t len, bool bos, bool eos)
{
    int *ids = NULL;
    int n = tokenizer_encode(t, text, len, bos, eos, &ids);
    if (!tokenizer_can_encode(t) && len > 0) {
        FUZZ_CHECK(n == -1, "a decode-only tokenizer encoded %zu bytes", len);
        return;
    }
    FUZZ_CHECK(n >= 0 && ids != NULL, "tokenizer_encode failed on %zu bytes", len);
    /* At most a token a byte (NFC may make the text up to NFC_MAX_GROWTH times longer). */
    size_t most = t->kind == TOKENIZER_BYTE_BPE && t->byte_bpe.pre.nfc ? NFC_MAX_GROWTH * len : len;
    FUZZ_CHECK((size_t)n <= most + 1 + bos + eos, "%d tokens for %zu bytes", n, len);
    FUZZ_CHECK(!bos || (n >= 1 && ids[0] == t->bos_id), "no BOS first");
    FUZZ_CHECK(!eos || (n >= 1 && ids[n - 1] == t->eos_id), "no EOS last");
    int prev = t->bos_id;
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < t->vocab_size, "id %d out of range (vocab %d)", ids[i],
                   t->vocab_size);
        bool end = (bos && i == 0) || (eos && i == n - 1);
        FUZZ_CHECK(end || (ids[i] != t->bos_id && ids[i] != t->eos_id), "BOS or EOS inside the text at %d", i);
        FUZZ_CHECK(end || t->kind != TOKENIZER_BYTE_BPE || t->vocab.kinds[ids[i]] != PIECE_SPECIAL,
                   "special token %d made from the text at %d", ids[i], i);
        check_decode(t, prev, ids[i]);
        prev = ids[i];
    }
    free(ids);
}

static const char *const texts[] = {
    "",
    "Once upon a time, there was a little girl named Lily.",
    "hello world",
    "  leading, trailing  and   repeated spaces  ",
    "tabs\tand\nnewlines\r\n",
    "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 caf\xc3\xa9",    /* é中😀 café */
    "\xff\xfe invalid \xc3 bytes \xed\xa0\x80 \xc0\xaf", /* stray, surrogate, overlong */
    "\xe2\x96\x81typed\xe2\x96\x81space",                /* U+2581 */
    "<s></s><unk><0x41>",
    "<|endoftext|> it's I'M don\xe2\x80\x99t \n\n  x\t 12345",  /* GPT-2's special cases */
    "<|im_start|>user\r\n<think></think><|eot_id|> IT'S 1234567 \r\n\r\n  y",  /* Llama 3's, Qwen's */
    "e\xcc\x81 a\xcc\x82\xcc\xa3 \xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 \xf0\x9d\x85\xa0 \xe2\x84\xab",  /* for NFC */
};

/* Renders a conversation with template name on t, reading a default system
 * prompt from template_text; a template the vocabulary cannot write is refused
 * with a message. */
static void check_chat_template(const Tokenizer *t, const char *name, const char *template_text)
{
    ChatFormat f;
    char err[ERROR_SIZE];
    err[0] = '\0';
    if (chat_format_init(&f, chat_template_named(name), t, template_text, err) != 0) {
        FUZZ_CHECK(err[0] != '\0', "%s: refused without a message", name);
        return;
    }
    const int answer[] = {t->eos_id, f.think_close, t->bos_id, t->vocab_size - 1};
    const int n_answer = f.think_close >= 0 ? 4 : 1;
    const ChatExchange exchanges[] = {
        {.user = "hello <|im_end|>", .answer = answer, .n_answer = n_answer},
        {.user = "  x  ", .answer_text = "<think>a</think>\n\nb"},
        {.user = ""},
    };
    for (int system = 0; system < 2; system++) {
        int *ids = NULL;
        int n = chat_render(&f, system ? "  be brief \n" : NULL, exchanges, 3, &ids);
        FUZZ_CHECK(n > 0 && ids != NULL, "%s: chat_render gave %d", name, n);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0 && ids[i] < t->vocab_size, "%s: id %d out of range", name, ids[i]);
        free(ids);
    }
    chat_format_free(&f);
}

static void check_chat_templates(const Tokenizer *t, const uint8_t *data, size_t size)
{
    static const char *const templates[] = {"llama2", "llama3", "chatml", "qwen3", "zephyr"};
    if (!tokenizer_can_encode(t))
        return;  /* llm.c's decode-only tokenizer: ./run refuses chat with it before any template */
    FUZZ_CHECK(chat_template_recognize(NULL) == chat_template_named("llama2"), "no template is not Llama 2's");
    if (t->chat_template)
        chat_template_recognize(t->chat_template);
    char *text = malloc(size + 1);  /* the input as a template's text */
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        check_chat_template(t, templates[i], t->chat_template);
        check_chat_template(t, templates[i], text);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write(&file, data, size);
    Tokenizer t;
    char err[ERROR_SIZE];
    err[0] = '\0';
    int status = tokenizer_load(&t, path, 0, err);
    if (status != 0) {
        check_failure(status, &t, err, "vocab_size 0");
        return 0;
    }
    /* llm.c's tokenizer does not need sentencepiece's <unk>, <s> and </s>. */
    const int fewest = tokenizer_can_encode(&t) ? TOKEN_EOS + 1 : 1;
    FUZZ_CHECK(t.vocab_size >= fewest && t.max_token_length > 0 && t.vocab.lookup_size >= t.vocab_size,
               "loaded vocab_size %d max_token_length %d lookup_size %d", t.vocab_size, t.max_token_length,
               t.vocab.lookup_size);
    FUZZ_CHECK(t.bos_id >= 0 && t.bos_id < t.vocab_size && t.eos_id >= 0 && t.eos_id < t.vocab_size,
               "BOS %d or EOS %d outside the vocabulary of %d", t.bos_id, t.eos_id, t.vocab_size);
    FUZZ_CHECK(t.eot_id >= -1 && t.eot_id < t.vocab_size && tokenizer_is_end_of_generation(&t, t.eos_id) &&
                   (t.eot_id < 0 || tokenizer_is_end_of_generation(&t, t.eot_id)),
               "end of turn %d (vocabulary of %d), EOS %d", t.eot_id, t.vocab_size, t.eos_id);
    static const char *const names[] = {"<|im_start|>", "<|eot_id|>", "<|endoftext|>", "<s>", "</s>", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int id = tokenizer_special_token(&t, names[i]);
        FUZZ_CHECK(id == -1 || (id >= 0 && id < t.vocab_size && (size_t)t.vocab.piece_length[id] == strlen(names[i]) &&
                                (id == t.bos_id || id == t.eos_id || t.vocab.kinds[id] == PIECE_SPECIAL)),
                   "special token %s found as %d", names[i], id);
    }

    /* The model's vocab_size: the file's own count loads, any other is refused. */
    Tokenizer again;
    err[0] = '\0';
    FUZZ_CHECK(tokenizer_load(&again, path, t.vocab_size, err) == 0, "reload with vocab_size %d: %s",
               t.vocab_size, err);
    FUZZ_CHECK(again.vocab_size == t.vocab_size &&
                   again.sentencepiece.collapse_whitespace == t.sentencepiece.collapse_whitespace &&
                   again.bos_id == t.bos_id && again.eos_id == t.eos_id &&
                   memcmp(again.vocab.byte_token, t.vocab.byte_token, sizeof t.vocab.byte_token) == 0,
               "reload differs");
    tokenizer_free(&again);
    if (t.vocab_size < INT32_MAX) {
        err[0] = '\0';
        check_failure(tokenizer_load(&again, path, t.vocab_size + 1, err), &again, err, "vocab_size count+1");
    }
    if (t.vocab_size != 512) {
        err[0] = '\0';
        check_failure(tokenizer_load(&again, path, 512, err), &again, err, "vocab_size 512");
    }

    for (int b = 0; b < 256; b++)
        FUZZ_CHECK(t.vocab.byte_token[b] >= 0 && t.vocab.byte_token[b] < t.vocab_size, "byte_token[%d] = %d", b,
                   t.vocab.byte_token[b]);
    for (int id = 0; id < t.vocab_size; id++) {
        check_decode(&t, t.bos_id, id);
        check_decode(&t, id, id);
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        check_encode(&t, texts[i], strlen(texts[i]), true, false);
        check_encode(&t, texts[i], strlen(texts[i]), false, true);
    }
    /* The input's tail as text: odd vocabularies meet odd text. */
    size_t tail = size < 64 ? size : 64;
    check_encode(&t, (const char *)data + size - tail, tail, true, true);
    check_chat_templates(&t, data, size);
    tokenizer_free(&t);
    return 0;
}
