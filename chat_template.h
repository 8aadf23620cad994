/* chat_template.h - how a chat model expects a conversation to be written:
 * Llama 2's [INST], Llama 3's headers, ChatML (Qwen2.5, Qwen3, SmolLM2) and
 * Zephyr's <|user|> (TinyLlama-Chat). One table row per template says what
 * goes around a system prompt, a user turn and an answer, and which token
 * ends an answer; chat_render writes a conversation into the token ids the
 * model is fed, exactly as the model's own (Jinja) template and tokenizer
 * would. run.c holds the conversation; this module only writes it.
 *
 * A file's template (GGUF tokenizer.chat_template) is recognized by the
 * marks it holds, not run: the engine has no Jinja interpreter. Special
 * tokens ("<|im_start|>") are found by their text in the vocabulary
 * (tokenizer_special_token); a user's text never makes them. */
#ifndef CHAT_TEMPLATE_H
#define CHAT_TEMPLATE_H

#include <stdbool.h>

#include "tokenizer.h"

typedef struct ChatTemplate ChatTemplate;

/* One exchange: the user's message, and (before the newest) the answer, as
 * the tokens generated or as text. */
typedef struct {
    const char *user;
    const int *answer;        /* the answer's tokens, as generated ... */
    int n_answer;
    const char *answer_text;  /* ... or its text (when answer is NULL); NULL: none yet */
} ChatExchange;

/* A template bound to a vocabulary: its special tokens' ids, found once. */
typedef struct {
    const ChatTemplate *template;
    const Tokenizer *tok;
    char *default_system;  /* the file template's own system prompt (Qwen2.5, SmolLM2), or NULL */
    int end_of_turn;       /* the token that ends an answer (besides EOS), or -1 */
    int think_open, think_close;  /* <think> and </think>, or -1: a reasoning model's */
} ChatFormat;

/* "llama2, llama3, chatml, qwen3, zephyr": for messages and --help. */
extern const char CHAT_TEMPLATE_NAMES[];

/* The template called name, or NULL. */
const ChatTemplate *chat_template_named(const char *name);

/* The template a file's tokenizer.chat_template text is written in, found by
 * its marks; Llama 2's for a file without one (text NULL); NULL when the
 * text is none of these. */
const ChatTemplate *chat_template_recognize(const char *text);

/* Binds t to tok. file_template (may be NULL) is the file's template text,
 * which may hold a default system prompt. Returns 0, or -1 with a message in
 * err (the vocabulary lacks a token the template needs; out of memory). */
int chat_format_init(ChatFormat *f, const ChatTemplate *t, const Tokenizer *tok, const char *file_template,
                     char err[ERROR_SIZE]);
void chat_format_free(ChatFormat *f);

/* The ids of a conversation: system_prompt (NULL: the template's default, if
 * any), then exchanges[0..n), each but the last with its answer, and the
 * prompt for the last one's answer. BOS first when the vocabulary adds it.
 * Returns the count with the ids in a malloc'ed *tokens, or -1 when out of
 * memory. */
int chat_render(const ChatFormat *f, const char *system_prompt, const ChatExchange *exchanges, int n,
                int **tokens);

/* Whether generation of an answer stops at token: the template's end of
 * turn, or the vocabulary's own end of generation. */
bool chat_is_end_of_answer(const ChatFormat *f, int token);

#endif
