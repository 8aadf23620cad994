/* chat_template.c - the chat templates, one table row each, and the writer
 * that renders a conversation with one of them into token ids. */
#include "chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In a row's strings, {bos} and {eos} are the vocabulary's BOS and EOS, and
 * "<...>" is the special token of that text when the vocabulary has one
 * (Zephyr's "<|user|>" is plain text in TinyLlama's); the rest is text. */
#define BOS_MARK "{bos}"
#define EOS_MARK "{eos}"
#define MARK_LENGTH 5
#define MAX_SPECIAL_TEXT 64  /* longest "<...>" looked up as a special token */
#define MAX_MARKS 3
#define MAX_NEEDED 3

struct ChatTemplate {
    const char *name;
    const char *marks[MAX_MARKS];  /* a file's template holding all of these is this one */
    const char *conversation_open; /* what the conversation starts with (Llama 3's bos_token), or NULL */
    const char *system_open, *system_close;
    bool system_in_first_user;     /* no system turn: the system prompt opens the first user message */
    const char *user_open, *user_close;
    const char *answer_open;       /* the generation prompt */
    const char *answer_close;
    const char *end_of_turn;       /* the special token that ends an answer; NULL: EOS does */
    const char *needs[MAX_NEEDED]; /* special tokens the vocabulary must have */
    bool trims;                    /* messages lose surrounding whitespace (Llama 3's `| trim`) */
    bool drops_reasoning;          /* earlier answers lose their <think> block (Qwen3) */
};

/* In the order chat_template_recognize tries them: Qwen3's before ChatML's. */
static const ChatTemplate TEMPLATES[] = {
    /* <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer}</s><s>[INST] {user} [/INST] */
    {.name = "llama2", .marks = {"[INST]", "<<SYS>>"},
     .system_open = "<<SYS>>\n", .system_close = "\n<</SYS>>\n\n", .system_in_first_user = true,
     .user_open = BOS_MARK "[INST] ", .user_close = " [/INST]", .answer_open = "", .answer_close = EOS_MARK},
    {.name = "llama3", .marks = {"<|start_header_id|>"}, .conversation_open = BOS_MARK,
     .system_open = "<|start_header_id|>system<|end_header_id|>\n\n", .system_close = "<|eot_id|>",
     .user_open = "<|start_header_id|>user<|end_header_id|>\n\n", .user_close = "<|eot_id|>",
     .answer_open = "<|start_header_id|>assistant<|end_header_id|>\n\n", .answer_close = "<|eot_id|>",
     .end_of_turn = "<|eot_id|>", .needs = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
     .trims = true},
    {.name = "qwen3", .marks = {"<|im_start|>", "</think>"},
     .system_open = "<|im_start|>system\n", .system_close = "<|im_end|>\n",
     .user_open = "<|im_start|>user\n", .user_close = "<|im_end|>\n",
     .answer_open = "<|im_start|>assistant\n", .answer_close = "<|im_end|>\n",
     .end_of_turn = "<|im_end|>", .needs = {"<|im_start|>", "<|im_end|>"}, .drops_reasoning = true},
    {.name = "chatml", .marks = {"<|im_start|>"},
     .system_open = "<|im_start|>system\n", .system_close = "<|im_end|>\n",
     .user_open = "<|im_start|>user\n", .user_close = "<|im_end|>\n",
     .answer_open = "<|im_start|>assistant\n", .answer_close = "<|im_end|>\n",
     .end_of_turn = "<|im_end|>", .needs = {"<|im_start|>", "<|im_end|>"}},
    {.name = "zephyr", .marks = {"<|user|>", "<|assistant|>", "eos_token"},
     .system_open = "<|system|>\n", .system_close = EOS_MARK "\n",
     .user_open = "<|user|>\n", .user_close = EOS_MARK "\n",
     .answer_open = "<|assistant|>\n", .answer_close = EOS_MARK "\n"},
};
#define N_TEMPLATES (sizeof TEMPLATES / sizeof TEMPLATES[0])

const char CHAT_TEMPLATE_NAMES[] = "llama2, llama3, chatml, qwen3, zephyr";

const ChatTemplate *chat_template_named(const char *name)
{
    for (size_t i = 0; i < N_TEMPLATES; i++)
        if (strcmp(TEMPLATES[i].name, name) == 0)
            return &TEMPLATES[i];
    return NULL;
}

const ChatTemplate *chat_template_recognize(const char *text)
{
    if (!text)
        return chat_template_named("llama2");
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        bool all = true;
        for (int m = 0; m < MAX_MARKS && TEMPLATES[i].marks[m]; m++)
            all = all && strstr(text, TEMPLATES[i].marks[m]) != NULL;
        if (all)
            return &TEMPLATES[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The template's default system prompt, read from the file's template text */

/* Whether the Jinja source at s spells literal (whose "\n" the source may
 * write as a newline or as the escape \n); *end is where it stops. */
static bool source_spells(const char *s, const char *literal, const char **end)
{
    for (; *literal; literal++) {
        if (*literal == '\n' && s[0] == '\\' && s[1] == 'n')
            s += 2;
        else if (*s == *literal)
            s++;
        else
            return false;
    }
    *end = s;
    return true;
}

/* The string literal's text from s up to stop (a special token's text):
 * malloc'ed and unescaped, or NULL when the literal ends first (a quote: the
 * template adds a message there, not a text of its own). */
static char *literal_until(const char *s, const char *stop)
{
    const char *end = strstr(s, stop);
    char *text = end ? malloc((size_t)(end - s) + 1) : NULL;
    size_t n = 0;
    for (const char *p = s; text && p < end; p++) {
        if (*p == '\'' || *p == '"') {
            free(text);
            return NULL;
        }
        if (*p == '\\' && p + 1 < end) {
            p++;
            text[n++] = *p == 'n' ? '\n' : *p;  /* \n, and \' \" \\ as themselves */
        } else {
            text[n++] = *p;
        }
    }
    if (text)
        text[n] = '\0';
    return text;
}

/* A system prompt the file's template writes when the conversation has none:
 * a string literal holding system_open, some text and system_close's first
 * special token, as Qwen2.5's '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n'.
 * NULL when there is none (or out of memory). */
static char *default_system_prompt(const ChatTemplate *t, const char *file_template)
{
    if (!file_template || t->system_in_first_user)
        return NULL;
    const char *close_start = t->system_close;
    const char *close_end = strchr(close_start, '>');
    char stop[MAX_SPECIAL_TEXT];
    if (close_start[0] != '<' || !close_end || close_end - close_start + 1 >= MAX_SPECIAL_TEXT)
        return NULL;
    snprintf(stop, sizeof stop, "%.*s", (int)(close_end - close_start + 1), close_start);
    for (const char *s = file_template; (s = strchr(s, '<')) != NULL; s++) {
        const char *after;
        bool quoted = s > file_template && (s[-1] == '\'' || s[-1] == '"');
        if (!quoted || !source_spells(s, t->system_open, &after))
            continue;
        char *text = literal_until(after, stop);
        if (text)
            return text;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Binding a template to a vocabulary */

/* The id of a token spelled exactly text: a special one, else the single
 * token text encodes to (a user-defined token, such as Qwen3's <think>); -1. */
static int token_of_text(const Tokenizer *tok, const char *text)
{
    int id = tokenizer_special_token(tok, text);
    if (id >= 0)
        return id;
    int *tokens;
    int n = tokenizer_encode(tok, text, strlen(text), false, false, &tokens);
    if (n == 1) {
        size_t len;
        const char *piece = tokenizer_decode(tok, -1, tokens[0], &len);
        if (len == strlen(text) && memcmp(piece, text, len) == 0)
            id = tokens[0];
    }
    if (n >= 0)
        free(tokens);
    return id;
}

int chat_format_init(ChatFormat *f, const ChatTemplate *t, const Tokenizer *tok, const char *file_template,
                     char err[ERROR_SIZE])
{
    *f = (ChatFormat){.template = t, .tok = tok, .end_of_turn = -1};
    for (int i = 0; i < MAX_NEEDED && t->needs[i]; i++) {
        if (tokenizer_special_token(tok, t->needs[i]) < 0) {
            snprintf(err, ERROR_SIZE, "the %s chat template needs the special token %s, which the vocabulary "
                     "lacks (--chat-template NAME picks another: %s)", t->name, t->needs[i], CHAT_TEMPLATE_NAMES);
            return -1;
        }
    }
    if (t->end_of_turn)
        f->end_of_turn = tokenizer_special_token(tok, t->end_of_turn);
    f->think_open = token_of_text(tok, "<think>");
    f->think_close = token_of_text(tok, "</think>");
    if (f->think_open < 0 || f->think_close < 0)
        f->think_open = f->think_close = -1;
    f->default_system = default_system_prompt(t, file_template);
    return 0;
}

void chat_format_free(ChatFormat *f)
{
    free(f->default_system);
    f->default_system = NULL;
}

bool chat_is_end_of_answer(const ChatFormat *f, int token)
{
    return token == f->end_of_turn || tokenizer_is_end_of_generation(f->tok, token);
}

/* ---------------------------------------------------------------------------
 * Rendering */

/* Tokens so far, and text not yet tokenized: text runs until a special token. */
typedef struct {
    const ChatFormat *f;
    int *tokens;
    int count, capacity;
    char *text;
    size_t text_len, text_capacity;
    bool failed;  /* out of memory */
} Writer;

static void put_ids(Writer *w, const int *ids, int n)
{
    if (w->failed || n <= 0)
        return;
    if (w->count + n > w->capacity) {
        int capacity = 2 * (w->count + n);
        int *bigger = realloc(w->tokens, (size_t)capacity * sizeof(int));
        if (!bigger) {
            w->failed = true;
            return;
        }
        w->tokens = bigger, w->capacity = capacity;
    }
    memcpy(w->tokens + w->count, ids, (size_t)n * sizeof(int));
    w->count += n;
}

static void put_text(Writer *w, const char *text, size_t len)
{
    if (w->failed)
        return;
    if (w->text_len + len + 1 > w->text_capacity) {
        size_t capacity = 2 * (w->text_len + len + 1);
        char *bigger = realloc(w->text, capacity);
        if (!bigger) {
            w->failed = true;
            return;
        }
        w->text = bigger, w->text_capacity = capacity;
    }
    memcpy(w->text + w->text_len, text, len);
    w->text_len += len;
}

/* Tokenizes the pending text, as one piece (no BOS: the conversation has its own). */
static void flush_text(Writer *w)
{
    if (w->failed || w->text_len == 0)
        return;
    int *ids;
    int n = tokenizer_encode(w->f->tok, w->text, w->text_len, false, false, &ids);
    if (n < 0) {
        w->failed = true;
        return;
    }
    put_ids(w, ids, n);
    free(ids);
    w->text_len = 0;
}

static void put_special(Writer *w, int id)
{
    flush_text(w);
    put_ids(w, &id, 1);
}

/* A row's string: its marks and special tokens, and its text. */
static void put_template_string(Writer *w, const char *s)
{
    while (*s) {
        if (strncmp(s, BOS_MARK, MARK_LENGTH) == 0 || strncmp(s, EOS_MARK, MARK_LENGTH) == 0) {
            put_special(w, s[1] == 'b' ? w->f->tok->bos_id : w->f->tok->eos_id);
            s += MARK_LENGTH;
            continue;
        }
        const char *close = *s == '<' ? strchr(s, '>') : NULL;
        if (close && close - s + 1 < MAX_SPECIAL_TEXT) {
            char name[MAX_SPECIAL_TEXT];
            snprintf(name, sizeof name, "%.*s", (int)(close - s + 1), s);
            int id = tokenizer_special_token(w->f->tok, name);
            if (id >= 0) {
                put_special(w, id);
                s = close + 1;
                continue;
            }
        }
        put_text(w, s, 1);
        s++;
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A message's text, trimmed when the template trims. */
static void put_message(Writer *w, const char *text)
{
    size_t len = strlen(text);
    if (w->f->template->trims) {
        while (len > 0 && is_space(text[0]))
            text++, len--;
        while (len > 0 && is_space(text[len - 1]))
            len--;
    }
    put_text(w, text, len);
}

/* The text of a piece is newlines only (Qwen3's template strips them after </think>). */
static bool only_newlines(const Tokenizer *tok, int token)
{
    size_t len;
    const char *piece = tokenizer_decode(tok, -1, token, &len);
    for (size_t i = 0; i < len; i++)
        if (piece[i] != '\n')
            return false;
    return len > 0;
}

/* An earlier answer. A template that drops reasoning keeps only what follows
 * the last </think>, without the newlines that start it (Qwen3's
 * content.split('</think>')[-1].lstrip('\n')). */
static void put_answer(Writer *w, const ChatExchange *x)
{
    const ChatFormat *f = w->f;
    const bool drop = f->template->drops_reasoning;
    if (!x->answer) {
        const char *text = x->answer_text ? x->answer_text : "";
        const char *after = NULL;
        for (const char *p = text; drop && (p = strstr(p, "</think>")) != NULL; p++)
            after = p + strlen("</think>");
        if (after) {
            while (*after == '\n')
                after++;
            text = after;
        }
        put_message(w, text);
        return;
    }
    int start = 0;
    for (int i = 0; drop && f->think_close >= 0 && i < x->n_answer; i++)
        if (x->answer[i] == f->think_close)
            start = i + 1;
    if (start > 0)
        while (start < x->n_answer && only_newlines(f->tok, x->answer[start]))
            start++;
    flush_text(w);
    put_ids(w, x->answer + start, x->n_answer - start);
}

int chat_render(const ChatFormat *f, const char *system_prompt, const ChatExchange *exchanges, int n,
                int **tokens)
{
    const ChatTemplate *t = f->template;
    Writer w = {.f = f};
    const char *system = system_prompt ? system_prompt : f->default_system;
    if (t->conversation_open)
        put_template_string(&w, t->conversation_open);
    if (system && !t->system_in_first_user) {
        put_template_string(&w, t->system_open);
        put_message(&w, system);
        put_template_string(&w, t->system_close);
    }
    for (int i = 0; i < n; i++) {
        put_template_string(&w, t->user_open);
        if (i == 0 && system && t->system_in_first_user) {
            put_template_string(&w, t->system_open);
            put_message(&w, system);
            put_template_string(&w, t->system_close);
        }
        put_message(&w, exchanges[i].user);
        put_template_string(&w, t->user_close);
        put_template_string(&w, t->answer_open);
        if (i + 1 < n) {
            put_answer(&w, &exchanges[i]);
            put_template_string(&w, t->answer_close);
        }
    }
    flush_text(&w);
    const int bos = f->tok->bos_id;  /* the vocabulary's BOS, unless the template wrote it */
    if (f->tok->add_bos && (w.count == 0 || w.tokens[0] != bos)) {
        put_ids(&w, &bos, 1);  /* room for one more, then moved to the front */
        if (!w.failed) {
            memmove(w.tokens + 1, w.tokens, (size_t)(w.count - 1) * sizeof(int));
            w.tokens[0] = bos;
        }
    }
    free(w.text);
    if (w.failed) {
        free(w.tokens);
        *tokens = NULL;
        return -1;
    }
    *tokens = w.tokens;
    return w.count;
}
