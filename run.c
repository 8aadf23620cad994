/* run.c - the program: command line, text generation, chat, tokenize.
 *
 *   ./run CHECKPOINT [options]      see usage() or README.md
 *
 * Generated text goes to stdout as it is produced; everything else
 * (errors, notes, timings) goes to stderr. Exit codes: 0 success,
 * 1 a file or input the engine cannot use, 2 a bad command line. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>

#include "chat_template.h"
#include "explain.h"
#include "gguf_write.h"
#include "llama2c.h"
#include "model.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE 2
#ifndef RUN_VERSION
#define RUN_VERSION "(unknown version)"  /* the Makefile passes git describe */
#endif
#define DEFAULT_STEPS 256
#define DEFAULT_TEMPERATURE 1.0f
#define DEFAULT_TOPP 0.9f
/* Prompt tokens per forward pass: each weight is read from memory once per
 * batch (why 256: docs/performance.md, "Prompt batches"). */
#define PROMPT_BATCH 256
#define MAX_THREADS 1024
#define MAX_THREADS_TEXT "1024"
#define MAX_STOP_STRINGS 16
#define MAX_STOP_STRINGS_TEXT "16"
#define LOGITS_MAGIC "LOGT"
#define LOGITS_VERSION 1

typedef struct {
    const char *checkpoint_path;
    const char *tokenizer_path;
    const char *mode;           /* generate | chat | tokenize | explain */
    const char *prompt;
    bool prompt_given;          /* -i or -f was on the command line (tokenize then reads no stdin) */
    const char *prompt_file;    /* -f FILE, or "-" from -i -: the prompt is read from there */
    const char *system_prompt;
    const char *logits_path;    /* --logits: every position's logits */
    const char *html_path;      /* --attention-html: the attention page */
    float temperature;
    float topp;
    int topk;
    int steps;
    bool steps_given;           /* -n was on the command line (else the default may shrink quietly) */
    bool seed_from_time;        /* no -s: the seed is the time, said on stderr */
    int show_top;               /* --top: print the N best candidates per token */
    SamplerFilters filters;     /* --min-p, --repeat-penalty ... (off by default) */
    const char *stops[MAX_STOP_STRINGS];  /* --stop, repeatable */
    int n_stops;
    bool pieces;                /* --pieces: -m tokenize prints each id with its text */
    bool tokenize_chat;         /* --chat: -m tokenize reads a conversation, prints what chat feeds */
    const char *chat_template;  /* --chat-template: a template's name, else the file's is recognized */
    bool show_thinking;         /* --show-thinking: a reasoning model's <think> block on stdout */
    int threads;                /* --threads; 0 = OMP_NUM_THREADS, else every core */
    uint64_t seed;
} Options;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage:   ./run CHECKPOINT [options]\n"
            "Example: ./run stories15M.bin -z tokenizer.bin -n 256 -i \"Once upon a time\"\n"
            "Options:\n"
            "  -t <float>  temperature in [0, inf): 0 = greedy (default 1.0)\n"
            "  -p <float>  top-p (nucleus) in [0, 1]: 0 or 1 = off (default 0.9)\n"
            "  -k <int>    top-k: sample among the k most likely tokens, 0 = off (default 0)\n"
            "  -s <int>    random seed; 0 or none: the time, printed to stderr (default)\n"
            "  -n <int>    positions to run, prompt included (llama2.c's -n); 0 = the whole context\n"
            "              (default: the prompt and 256 tokens after it, within the context)\n"
            "  -i <string> prompt (chat: the first user message; tokenize: the one text to tokenize);\n"
            "              -i - reads it from standard input\n"
            "  -f <path>   the prompt from a file (one trailing newline dropped)\n"
            "  -z <path>   tokenizer.bin, a GGUF file's vocabulary, or llm.c's gpt2_tokenizer.bin (decodes\n"
            "              only: no prompt) (default: a GGUF checkpoint's own,\n"
            "              else tokenizer.bin beside the checkpoint)\n"
            "  -m <string> mode: generate | chat | tokenize | explain (default generate)\n"
            "  -y <string> system prompt, for chat\n"
            "  --chat-template <name>  chat's template: llama2, llama3, chatml, qwen3 or zephyr (default: the\n"
            "                   one the file's tokenizer.chat_template is written in; llama2 for a file without one)\n"
            "  --show-thinking  in chat, print a reasoning model's <think> block (Qwen3) with the answer\n"
            "                   (default: on stderr)\n"
            "  --logits <path>  write every position's logits to a file (format in README.md)\n"
            "  --min-p <float>  keep only tokens at least this fraction as likely as the best\n"
            "                   (before the temperature, as llama.cpp; default 0 = off)\n"
            "  --repeat-penalty <float>  the last tokens' logits divided by it (times it when\n"
            "                   negative); default 1 = off\n"
            "  --presence-penalty <float>, --frequency-penalty <float>  subtracted from the last\n"
            "                   tokens' logits once, and once per occurrence; default 0 = off\n"
            "  --repeat-last-n <int>  how many last tokens (prompt included) the penalties see\n"
            "                   (default 64)\n"
            "  --threads <int>  threads to run on (default: OMP_NUM_THREADS, else every core)\n"
            "  --stop <string>  end the generation (in chat, the answer) when the text ends with this\n"
            "                   string, which is not printed; repeatable, up to 16\n"
            "  --pieces         with -m tokenize: each id with its text, as 9038:\"Once\"\n"
            "  --chat           with -m tokenize: stdin is a conversation, one message a line (user, answer,\n"
            "                   user, ...); prints the ids chat feeds for it (with -y, --chat-template)\n"
            "  --top <int>      print the most likely candidates for each generated token to stderr,\n"
            "                   the sampled one marked *\n"
            "  --attention-html <path>  write a page of every head's attention and every step's\n"
            "                   candidates (generate and explain)\n"
            "  -h, --help       this text\n"
            "  --version        the version (git describe of the build)\n"
            "Long flags also take --flag=value; short ones -n10.\n"
            "Mode tokenize reads lines from stdin and prints, per line, the ids the model is fed; with -i it\n"
            "tokenizes that one text, newlines included. Its checkpoint is optional.\n"
            "Mode explain generates, printing for each token the candidates it was chosen from and, for\n"
            "every layer and head, the earlier tokens attended to most.\n"
            "Checkpoints: llama2.c's legacy, version 1 (fp32) and version 2 (int8) files, llm.c's GPT-2,\n"
            "and GGUF files of llama, qwen2, qwen3 and gpt2 (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,\n"
            "Q2_K ... Q6_K). ./run quantize IN OUT.gguf [--type q8_0|q4_0|q4_k|q4_k_m] writes a copy with\n"
            "quantized matrices, Q8_0 by default (any checkpoint; metadata and vocabulary kept);\n"
            "./run quantize IN OUT.bin llama2.c's int8 (version 2).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see ./run --help)\n");
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------------------
 * The command line */

static bool parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || fabs(v) > 1e30)
        return false;
    *out = (float)v;
    return true;
}

static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The flags that take a value; --help and --version take none. */
static const char *const VALUE_FLAGS[] = {"-t", "-p", "-k", "-s", "-n", "-i", "-f", "-z", "-m", "-y",
                                          "--logits", "--top", "--attention-html", "--min-p", "--repeat-penalty",
                                          "--repeat-last-n", "--presence-penalty", "--frequency-penalty", "--stop",
                                          "--threads", "--chat-template"};

static bool takes_value(const char *name)
{
    for (size_t i = 0; i < sizeof VALUE_FLAGS / sizeof VALUE_FLAGS[0]; i++)
        if (strcmp(name, VALUE_FLAGS[i]) == 0)
            return true;
    return false;
}

/* Splits argv[*i] into a flag's name and value: "--top 3" and "--top=3"
 * for long flags, "-n 10" and "-n10" for short ones (as getopt reads them).
 * The name goes to `name` (room for ERROR_SIZE bytes). Returns 0, or an
 * exit status after saying what is wrong. */
static int split_flag(int argc, char **argv, int *i, char name[ERROR_SIZE], const char **value)
{
    const char *arg = argv[*i];
    const char *equals = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t name_len = equals ? (size_t)(equals - arg) : strlen(arg);
    if (arg[1] != '-' && name_len > 2) {
        char short_name[3] = {arg[0], arg[1], '\0'};
        if (takes_value(short_name))
            name_len = 2;  /* "-n10": the value follows the letter */
    }
    if (name_len >= ERROR_SIZE)
        name_len = ERROR_SIZE - 1;
    memcpy(name, arg, name_len);
    name[name_len] = '\0';
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "--version") == 0 ||
        strcmp(name, "--pieces") == 0 || strcmp(name, "--chat") == 0 || strcmp(name, "--show-thinking") == 0) {
        *value = NULL;
        return equals ? usage_error("%s takes no value", name) : 0;
    }
    if (!takes_value(name))
        return usage_error("unknown option '%s'", name);
    if (equals)
        *value = equals + 1;
    else if (arg[name_len] != '\0')
        *value = arg + name_len;
    else if (*i + 1 < argc)
        *value = argv[++*i];
    else
        return usage_error("option %s needs a value", name);
    return 0;
}

/* Flags the chosen mode would ignore: a note, so that none is ignored silently. */
static void note_unused_flags(const Options *o, bool sampling_given)
{
    const bool tokenize = strcmp(o->mode, "tokenize") == 0, chat = strcmp(o->mode, "chat") == 0;
    if (o->system_prompt && !chat && !o->tokenize_chat)
        fprintf(stderr, "run: note: -y (system prompt) has no effect with -m %s; it is for -m chat\n", o->mode);
    if ((o->chat_template || o->show_thinking) && !chat && !o->tokenize_chat)
        fprintf(stderr, "run: note: --chat-template and --show-thinking have no effect with -m %s; they are for "
                "-m chat\n", o->mode);
    if (o->tokenize_chat && !tokenize)
        fprintf(stderr, "run: note: --chat has no effect with -m %s; it is for -m tokenize\n", o->mode);
    if (tokenize && (sampling_given || o->steps_given || o->logits_path || o->n_stops))
        fprintf(stderr, "run: note: sampling, -n, --stop and --logits have no effect with -m tokenize\n");
    if (o->pieces && !tokenize)
        fprintf(stderr, "run: note: --pieces has no effect with -m %s; it is for -m tokenize\n", o->mode);
}

static int parse_options(int argc, char **argv, Options *o)
{
    *o = (Options){.mode = "generate", .prompt = "", .temperature = DEFAULT_TEMPERATURE,
                   .topp = DEFAULT_TOPP, .steps = DEFAULT_STEPS, .filters = SAMPLER_FILTERS_OFF};
    bool sampling_given = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (o->checkpoint_path)
                return usage_error("unexpected argument '%s': one checkpoint only", arg);
            o->checkpoint_path = arg;
            continue;
        }
        char flag[ERROR_SIZE];
        const char *value = NULL;
        int status = split_flag(argc, argv, &i, flag, &value);
        if (status != 0)
            return status;
        long long n;
        if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(flag, "--pieces") == 0) {
            o->pieces = true;
        } else if (strcmp(flag, "--chat") == 0) {
            o->tokenize_chat = true;
        } else if (strcmp(flag, "--show-thinking") == 0) {
            o->show_thinking = true;
        } else if (strcmp(flag, "--chat-template") == 0) {
            if (!chat_template_named(value)) {
                fprintf(stderr, "run: unknown chat template '%s': use one of %s (see ./run --help)\n", value,
                        CHAT_TEMPLATE_NAMES);
                return EXIT_USAGE;
            }
            o->chat_template = value;
        } else if (strcmp(flag, "--version") == 0) {
            printf("run %s\n", RUN_VERSION);
            exit(0);
        } else if (strcmp(flag, "-t") == 0) {
            if (!parse_float(value, &o->temperature) || o->temperature < 0)
                return usage_error("-t (temperature) must be a number >= 0, not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "-p") == 0) {
            if (!parse_float(value, &o->topp) || o->topp < 0 || o->topp > 1)
                return usage_error("-p (top-p) must be a number in [0, 1], not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "-k") == 0) {
            if (!parse_int(value, 0, INT_MAX, &n))
                return usage_error("-k (top-k) must be an integer >= 0, not '%s'", value);
            o->topk = (int)n;
            sampling_given = true;
        } else if (strcmp(flag, "-s") == 0) {
            if (!parse_int(value, 0, LLONG_MAX, &n))
                return usage_error("-s (seed) must be an integer >= 0, not '%s'", value);
            o->seed = (uint64_t)n;
            sampling_given = true;
        } else if (strcmp(flag, "-n") == 0) {
            if (!parse_int(value, 0, INT_MAX, &n))
                return usage_error("-n (steps) must be an integer >= 0, not '%s'", value);
            o->steps = (int)n;
            o->steps_given = true;
        } else if (strcmp(flag, "--min-p") == 0) {
            if (!parse_float(value, &o->filters.min_p) || o->filters.min_p < 0 || o->filters.min_p > 1)
                return usage_error("--min-p must be a number in [0, 1], not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "--repeat-penalty") == 0) {
            if (!parse_float(value, &o->filters.repeat_penalty) || o->filters.repeat_penalty <= 0)
                return usage_error("--repeat-penalty must be a number > 0 (1 = off), not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "--presence-penalty") == 0) {
            if (!parse_float(value, &o->filters.presence_penalty))
                return usage_error("--presence-penalty must be a number, not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "--frequency-penalty") == 0) {
            if (!parse_float(value, &o->filters.frequency_penalty))
                return usage_error("--frequency-penalty must be a number, not '%s'", value);
            sampling_given = true;
        } else if (strcmp(flag, "--repeat-last-n") == 0) {
            if (!parse_int(value, 0, 1 << 20, &n))
                return usage_error("--repeat-last-n must be an integer in [0, 1048576], not '%s'", value);
            o->filters.repeat_last_n = (int)n;
            sampling_given = true;
        } else if (strcmp(flag, "--threads") == 0) {
            if (!parse_int(value, 1, MAX_THREADS, &n))
                return usage_error("--threads must be an integer in [1, " MAX_THREADS_TEXT "], not '%s'", value);
            o->threads = (int)n;
        } else if (strcmp(flag, "--stop") == 0) {
            if (!*value)
                return usage_error("%s", "--stop needs a non-empty string");
            if (o->n_stops == MAX_STOP_STRINGS)
                return usage_error("at most %s --stop strings", MAX_STOP_STRINGS_TEXT);
            o->stops[o->n_stops++] = value;
        } else if (strcmp(flag, "--top") == 0) {
            if (!parse_int(value, 0, INT_MAX, &n))
                return usage_error("--top must be an integer >= 0, not '%s'", value);
            o->show_top = (int)n;
            sampling_given = true;
        } else if (strcmp(flag, "-i") == 0 || strcmp(flag, "-f") == 0) {
            if (o->prompt_given)
                return usage_error("%s", "one prompt only: -i TEXT, -i - (standard input) or -f FILE");
            if (strcmp(flag, "-f") == 0 || strcmp(value, "-") == 0)
                o->prompt_file = value;
            else
                o->prompt = value;
            o->prompt_given = true;
        } else if (strcmp(flag, "-z") == 0) {
            o->tokenizer_path = value;
        } else if (strcmp(flag, "-y") == 0) {
            o->system_prompt = value;
        } else if (strcmp(flag, "--logits") == 0) {
            o->logits_path = value;
        } else if (strcmp(flag, "--attention-html") == 0) {
            o->html_path = value;
        } else if (strcmp(flag, "-m") == 0) {
            if (strcmp(value, "generate") != 0 && strcmp(value, "chat") != 0 &&
                strcmp(value, "tokenize") != 0 && strcmp(value, "explain") != 0)
                return usage_error("unknown mode '%s': use generate, chat, tokenize or explain", value);
            o->mode = value;
        }
    }
    if (!o->checkpoint_path && strcmp(o->mode, "tokenize") != 0)
        return usage_error("%s", "no checkpoint given");
    if (o->html_path && strcmp(o->mode, "generate") != 0 && strcmp(o->mode, "explain") != 0)
        return usage_error("%s", "--attention-html goes with -m generate or -m explain");
    if (o->prompt_file && strcmp(o->prompt_file, "-") == 0 && strcmp(o->mode, "chat") == 0)
        return usage_error("%s", "-i - reads the prompt from standard input, where chat reads its turns: "
                           "use -f FILE for the first message");
    note_unused_flags(o, sampling_given);
    if (o->seed == 0) {
        o->seed = (uint64_t)time(NULL);
        o->seed_from_time = true;
    }
    return 0;
}

/* tokenizer.bin beside the checkpoint, as llama2.c users keep them. */
static char *default_tokenizer_path(const char *checkpoint_path)
{
    const char *slash = strrchr(checkpoint_path, '/');
    size_t dir_len = slash ? (size_t)(slash - checkpoint_path + 1) : 0;
    const char *name = "tokenizer.bin";
    char *path = malloc(dir_len + strlen(name) + 1);
    if (path) {
        memcpy(path, checkpoint_path, dir_len);
        strcpy(path + dir_len, name);
    }
    return path;
}

/* ---------------------------------------------------------------------------
 * Output: text that is safe to print */

/* Streams decoded bytes to stdout as valid UTF-8: a character split across
 * byte tokens is held until it is whole, an invalid sequence becomes U+FFFD,
 * and control bytes other than whitespace are dropped. */
typedef struct {
    unsigned char pending[4];
    size_t n_pending, expected;
} TextStream;

#define REPLACEMENT_CHARACTER "\xef\xbf\xbd"

static void text_stream_put(TextStream *ts, unsigned char byte)
{
    if (ts->n_pending > 0) {
        if ((byte & 0xc0) == 0x80) {
            ts->pending[ts->n_pending++] = byte;
            if (ts->n_pending < ts->expected)
                return;
            if (utf8_char_length(ts->pending, ts->n_pending) == ts->n_pending)
                fwrite(ts->pending, 1, ts->n_pending, stdout);
            else
                fputs(REPLACEMENT_CHARACTER, stdout);
            ts->n_pending = 0;
            return;
        }
        fputs(REPLACEMENT_CHARACTER, stdout);  /* cut short: the byte starts afresh */
        ts->n_pending = 0;
    }
    if (byte < 0x80) {
        bool whitespace = byte == ' ' || (byte >= '\t' && byte <= '\r');
        if (byte >= 0x20 ? byte != 0x7f : whitespace)
            fputc(byte, stdout);
    } else if (byte >= 0xc2 && byte <= 0xf4) {
        ts->pending[0] = byte;
        ts->n_pending = 1;
        ts->expected = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    } else {
        fputs(REPLACEMENT_CHARACTER, stdout);
    }
}

static void text_stream_write(TextStream *ts, const char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        text_stream_put(ts, (unsigned char)bytes[i]);
    fflush(stdout);
}

static void text_stream_finish(TextStream *ts)
{
    if (ts->n_pending > 0)
        fputs(REPLACEMENT_CHARACTER, stdout);
    ts->n_pending = 0;
    fflush(stdout);
}

/* --stop: generated text passes through here on its way to the stream. A
 * tail that could still become a stop string is held back until it cannot;
 * when one completes, the text before it is printed and the rest dropped. */
typedef struct {
    const char *const *strings;
    int count;
    char *held;  /* bytes not printed yet */
    size_t n_held, capacity;
} StopStrings;

/* Adds len bytes of generated text; prints (to ts, unless NULL) what can no
 * longer be part of a stop string. Returns 1 when a stop string completed,
 * -1 when out of memory, else 0. */
static int stop_strings_add(StopStrings *st, TextStream *ts, const char *bytes, size_t len)
{
    if (st->count == 0) {
        if (ts)
            text_stream_write(ts, bytes, len);
        return 0;
    }
    if (st->n_held + len > st->capacity) {
        size_t capacity = 2 * (st->n_held + len);
        char *bigger = realloc(st->held, capacity);
        if (!bigger)
            return -1;
        st->held = bigger, st->capacity = capacity;
    }
    memcpy(st->held + st->n_held, bytes, len);
    st->n_held += len;
    size_t cut = SIZE_MAX;  /* where the earliest stop string starts */
    for (int i = 0; i < st->count; i++) {
        const char *found = memmem(st->held, st->n_held, st->strings[i], strlen(st->strings[i]));
        if (found && (size_t)(found - st->held) < cut)
            cut = (size_t)(found - st->held);
    }
    if (cut != SIZE_MAX) {
        if (ts)
            text_stream_write(ts, st->held, cut);
        st->n_held = 0;
        return 1;
    }
    size_t keep = 0;  /* the longest tail that begins a stop string */
    for (int i = 0; i < st->count; i++) {
        const size_t n = strlen(st->strings[i]);
        for (size_t k = n - 1 < st->n_held ? n - 1 : st->n_held; k > keep; k--)
            if (memcmp(st->held + st->n_held - k, st->strings[i], k) == 0) {
                keep = k;
                break;
            }
    }
    if (ts)
        text_stream_write(ts, st->held, st->n_held - keep);
    memmove(st->held, st->held + st->n_held - keep, keep);
    st->n_held = keep;
    return 0;
}

/* The held-back tail, printed when generation ends without a stop string. */
static void stop_strings_flush(StopStrings *st, TextStream *ts)
{
    if (ts)
        text_stream_write(ts, st->held, st->n_held);
    st->n_held = 0;
}

static void print_token(TextStream *ts, const Tokenizer *tok, int prev, int token)
{
    size_t len;
    const char *piece = tokenizer_decode(tok, prev, token, &len);
    text_stream_write(ts, piece, len);
}

/* Prints the text of tokens[0..n): every token but a leading BOS. */
static void print_tokens(TextStream *ts, const Tokenizer *tok, const int *tokens, int n)
{
    for (int i = 0; i < n; i++)
        if (i > 0 || tokens[0] != tok->bos_id)
            print_token(ts, tok, i > 0 ? tokens[i - 1] : -1, tokens[i]);
}

/* ---------------------------------------------------------------------------
 * The prompt's tokens */

/* The ids the model is fed for a text, in a malloc'ed *tokens: BOS first
 * when the vocabulary asks for it, and BOS alone for a text of no tokens
 * (the model needs a token to start from, as llama.cpp does). -m tokenize
 * prints exactly these. Returns the count, or -1 when out of memory. */
static int encode_text(const Tokenizer *tok, const char *text, size_t len, int **tokens)
{
    int n = tokenizer_encode(tok, text, len, tok->add_bos, false, tokens);
    if (n == 0) {
        int *just_bos = realloc(*tokens, sizeof(int));
        if (!just_bos) {
            free(*tokens);
            return -1;
        }
        just_bos[0] = tok->bos_id;
        *tokens = just_bos;
        n = 1;
    }
    return n;
}

/* ---------------------------------------------------------------------------
 * The logits file: "LOGT", int32 version, int32 vocab_size, int32 positions,
 * then per position: int32 position, int32 token fed, float32 logits[vocab]. */

typedef struct {
    FILE *file;
    int vocab_size;
    int32_t positions;
} LogitsWriter;

static int logits_open(LogitsWriter *w, const char *path, int vocab_size)
{
    w->file = fopen(path, "wb");
    w->vocab_size = vocab_size;
    w->positions = 0;
    if (!w->file) {
        fprintf(stderr, "run: %s: cannot write logits: %s\n", path, strerror(errno));
        return -1;
    }
    int32_t header[3] = {LOGITS_VERSION, vocab_size, 0};
    fwrite(LOGITS_MAGIC, 1, 4, w->file);
    fwrite(header, sizeof header, 1, w->file);
    return 0;
}

static void logits_write(LogitsWriter *w, int pos, int token, const float *logits)
{
    if (!w->file)
        return;
    int32_t record[2] = {pos, token};
    fwrite(record, sizeof record, 1, w->file);
    fwrite(logits, sizeof(float), w->vocab_size, w->file);
    w->positions++;
}

static int logits_close(LogitsWriter *w, const char *path)
{
    if (!w->file)
        return 0;
    int ok = fseek(w->file, 12, SEEK_SET) == 0 && fwrite(&w->positions, 4, 1, w->file) == 1;
    ok = (fclose(w->file) == 0) && ok;
    w->file = NULL;
    if (!ok)
        fprintf(stderr, "run: %s: writing logits failed\n", path);
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Generation */

typedef struct {
    Model model;
    RunState state;
    Tokenizer tokenizer;
    Sampler sampler;
    LogitsWriter logits_writer;
    TextStream text;
    float *probs;    /* (vocab_size) scratch for --top */
    ProbIndex *top;  /* (vocab_size) --top's candidates, the best show_top first */
    int show_top;
    bool show_thinking;         /* --show-thinking */
    bool explain;               /* -m explain */
    const char *html_path;      /* --attention-html */
    Inspector *inspector;       /* during an explained generation; else NULL */
    uint64_t time_seed;  /* the seed when it was the time (said on stderr as a run starts), else 0 */
    int reply_limit;     /* chat: tokens per answer at most (-n), 0 = until EOS or the context is full */
    int tokens_after_prompt;  /* without -n: generate this many after the prompt (within the context) */
    StopStrings stops;        /* --stop */
} Engine;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A generated token's text, through the stop strings; returns as stop_strings_add. */
static int emit_token(Engine *e, bool print, int prev, int token)
{
    size_t len;
    const char *piece = tokenizer_decode(&e->tokenizer, prev, token, &len);
    return stop_strings_add(&e->stops, print ? &e->text : NULL, piece, len);
}

/* Runs one token at pos; returns its logits. */
static float *decode_step(Engine *e, int token, int pos)
{
    float *logits = forward(&e->model, &e->state, &token, 1, pos, LOGITS_LAST);
    logits_write(&e->logits_writer, pos, token, logits);
    sampler_accept(&e->sampler, token);
    return logits;
}

/* Runs tokens[0..n) at positions pos.. in batches; returns the last token's logits. */
static float *process_prompt(Engine *e, const int *tokens, int n, int pos)
{
    const bool all_logits = e->logits_writer.file != NULL;
    float *logits = NULL;
    for (int done = 0; done < n;) {
        int batch = n - done < PROMPT_BATCH ? n - done : PROMPT_BATCH;
        const bool last = done + batch == n;
        logits = forward(&e->model, &e->state, tokens + done, batch, pos + done,
                         all_logits ? LOGITS_ALL : last ? LOGITS_LAST : LOGITS_NONE);
        for (int t = 0; all_logits && t < batch; t++)
            logits_write(&e->logits_writer, pos + done + t, tokens[done + t],
                         logits + (size_t)t * e->model.config.vocab_size);
        for (int t = 0; t < batch; t++)
            sampler_accept(&e->sampler, tokens[done + t]);
        done += batch;
    }
    if (all_logits)
        logits += (size_t)((n - 1) % PROMPT_BATCH) * e->model.config.vocab_size;
    return logits;
}

/* --top: the k most likely next tokens as the model predicts them (softmax
 * of the logits, no temperature), into e->top; e->probs keeps every
 * token's probability. Before sampling, which may rescale the logits. */
static void find_candidates(Engine *e, const float *logits)
{
    const int n = e->model.config.vocab_size;
    memcpy(e->probs, logits, n * sizeof(float));
    softmax(e->probs, n);
    top_candidates(e->top, e->probs, n, e->show_top < n ? e->show_top : n);
}

/* --top, on stderr: "[pos] p "token" p "token" ...", the sampled token marked
 * with a * after it, or named at the end when it is not among them. */
static void show_candidates(const Engine *e, int pos, int chosen)
{
    const int n = e->model.config.vocab_size;
    const int k = e->show_top < n ? e->show_top : n;
    bool shown = false;
    fprintf(stderr, "[%d]", pos);
    for (int i = 0; i < k; i++) {
        fprintf(stderr, " %6.4f ", e->top[i].prob);
        explain_print_token(stderr, &e->tokenizer, -1, e->top[i].index);
        if (e->top[i].index == chosen) {
            fputc('*', stderr);
            shown = true;
        }
    }
    if (!shown) {
        fprintf(stderr, " | sampled ");
        explain_print_token(stderr, &e->tokenizer, -1, chosen);
        fprintf(stderr, "* %6.4f", e->probs[chosen]);
    }
    fputc('\n', stderr);
}

/* Samples the next token, first printing the candidates if asked to.
 * Returns -1 (after saying why) when the logits are not numbers. */
static int next_token(Engine *e, float *logits, int pos)
{
    if (!all_finite(logits, e->model.config.vocab_size)) {
        fprintf(stderr, "\nrun: the model computed non-finite logits at position %d: its weights hold NaN "
                "or overflowing values\n", pos);
        return -1;
    }
    if (e->show_top > 0)
        find_candidates(e, logits);
    if (e->inspector)
        inspector_candidates(e->inspector, logits, pos);
    int chosen = sample(&e->sampler, logits);
    if (e->show_top > 0)
        show_candidates(e, pos, chosen);
    if (e->inspector)
        inspector_choice(e->inspector, &e->tokenizer, chosen);
    return chosen;
}

/* The prompt's tokens, checked against the context; *steps grows to hold
 * them and one more. NULL (after saying why) when they cannot run. */
static int *encode_prompt(Engine *e, const char *prompt, int *n_prompt, int *steps)
{
    const int seq_len = e->model.config.seq_len;
    int *tokens;
    int n = encode_text(&e->tokenizer, prompt, strlen(prompt), &tokens);
    if (n < 0) {
        fprintf(stderr, "run: out of memory encoding the prompt\n");
        return NULL;
    }
    if (n > seq_len) {
        fprintf(stderr, "run: the prompt is %d tokens, longer than the model's context of %d\n", n, seq_len);
        free(tokens);
        return NULL;
    }
    /* The last position's token is printed but never run: n + k - 1 positions print k tokens. */
    if (e->tokens_after_prompt > 0)
        *steps = n <= seq_len - e->tokens_after_prompt ? n + e->tokens_after_prompt - 1 : seq_len;
    if (*steps < n) {
        fprintf(stderr, "run: note: -n %d is shorter than the prompt (%d tokens): running the prompt "
                "and one more token\n", *steps, n);
        *steps = n;
    }
    *n_prompt = n;
    return tokens;
}

/* -m explain, --attention-html: an inspector for the run, watching attention and the residual stream. */
static int start_inspector(Engine *e, const int *tokens, int n_prompt, int steps)
{
    if (!e->explain && !e->html_path)
        return 0;
    char err[ERROR_SIZE];
    e->inspector = inspector_new(&e->model.config, steps, tokens, n_prompt, e->explain, e->html_path, err);
    if (e->inspector && inspector_watch_model(e->inspector, &e->model, &e->state, err) != 0) {
        inspector_free(e->inspector);
        e->inspector = NULL;
    }
    if (!e->inspector) {
        fprintf(stderr, "run: %s\n", err);
        return -1;
    }
    e->state.observer = inspector_observer(e->inspector);
    return 0;
}

static void stop_inspector(Engine *e)
{
    e->state.observer = NULL;
    inspector_free(e->inspector);
    e->inspector = NULL;
}

/* The last token chosen is never fed back: `generated` tokens took one
 * forward pass fewer. With no decoding pass there is no speed to give. */
static void print_speed(int n_prompt, double prompt_seconds, int generated, double decode_seconds, bool paged,
                        double paging_seconds)
{
    fprintf(stderr, "prompt: %d token%s, %.1f tok/s; generated: %d token%s, ", n_prompt, n_prompt == 1 ? "" : "s",
            n_prompt / (prompt_seconds + 1e-9), generated, generated == 1 ? "" : "s");
    if (generated > 1)
        fprintf(stderr, "%.1f tok/s", (generated - 1) / (decode_seconds + 1e-9));
    else
        fprintf(stderr, "- tok/s");
    if (paged)
        fprintf(stderr, "; weights paged in: %.0f ms", paging_seconds * 1e3);
    fprintf(stderr, "\n");
}

/* Says the seed when it was the time, so that the run can be repeated with -s. */
static void say_time_seed(const Engine *e)
{
    if (e->time_seed)
        fprintf(stderr, "run: seed %llu (the time; -s repeats the run)\n", (unsigned long long)e->time_seed);
}

static int generate(Engine *e, const char *prompt, int steps)
{
    const Config *c = &e->model.config;
    int n_prompt;
    int *tokens = encode_prompt(e, prompt, &n_prompt, &steps);
    if (!tokens || start_inspector(e, tokens, n_prompt, steps) != 0) {
        free(tokens);
        return EXIT_BAD_INPUT;
    }
    say_time_seed(e);
    /* -m explain writes its blocks on stdout, and the text after them. */
    const bool stream_text = !(e->inspector && inspector_prints_steps(e->inspector));

    /* The weights' pages are mapped before the clock starts, and timed on
     * their own: a one-time cost, which decoding does not pay either. */
    double paging_start = now_seconds();
    const bool paged = model_map_pages(&e->model);
    double start = now_seconds();
    float *logits = process_prompt(e, tokens, n_prompt, 0);
    double prompt_done = now_seconds();
    if (stream_text)
        print_tokens(&e->text, &e->tokenizer, tokens, n_prompt);

    /* pos is the last position computed; its logits predict position pos + 1. */
    int token = tokens[n_prompt - 1];
    int generated = 0, status = 0;
    for (int pos = n_prompt - 1;;) {
        int next = next_token(e, logits, pos);
        if (next < 0) {
            status = EXIT_BAD_INPUT;
            break;
        }
        if (next == e->tokenizer.bos_id || tokenizer_is_end_of_generation(&e->tokenizer, next))
            break;  /* the stories models emit BOS between stories */
        const int stopped = emit_token(e, stream_text, token, next);
        if (e->inspector)
            inspector_add_token(e->inspector, next);
        token = next;
        generated++;
        if (stopped != 0) {
            if (stopped < 0) {
                fprintf(stderr, "\nrun: out of memory\n");
                status = EXIT_BAD_INPUT;
            }
            break;  /* --stop: the text ends with one of the strings */
        }
        if (++pos >= steps) {
            if (steps == c->seq_len)
                fprintf(stderr, "\nrun: stopped at the end of the context (%d positions)\n", c->seq_len);
            break;
        }
        logits = decode_step(e, token, pos);
    }
    stop_strings_flush(&e->stops, stream_text ? &e->text : NULL);
    if (!stream_text) {
        int n;
        const int *text = inspector_tokens(e->inspector, &n);
        printf("--- text ---\n");
        print_tokens(&e->text, &e->tokenizer, text, n);
    }
    text_stream_finish(&e->text);
    printf("\n");
    fflush(stdout);
    double end = now_seconds();
    char err[ERROR_SIZE];
    if (e->inspector && status == 0 && inspector_write_page(e->inspector, &e->tokenizer, err) != 0) {
        fprintf(stderr, "run: %s\n", err);
        status = EXIT_BAD_INPUT;
    }
    print_speed(n_prompt, prompt_done - start, generated, end - prompt_done, paged, start - paging_start);
    stop_inspector(e);
    free(tokens);
    return status;
}

/* ---------------------------------------------------------------------------
 * Chat. The conversation is kept as the user's messages and the answers'
 * tokens; before each answer the model's chat template (chat_template.c)
 * writes it out whole, and only the tokens after what the model has already
 * seen are run. */

/* Reads one line of user input into *line (without its newline); false at
 * EOF. prompt (NULL: none) is shown on stderr first. */
static bool read_user_line(char **line, size_t *cap, const char *prompt)
{
    if (prompt)
        fprintf(stderr, "%s", prompt);
    ssize_t n = getline(line, cap, stdin);
    if (n < 0) {
        if (prompt)
            fputc('\n', stderr);  /* end the prompt's line */
        return false;
    }
    if (n > 0 && (*line)[n - 1] == '\n')
        (*line)[--n] = '\0';
    if (n > 0 && (*line)[n - 1] == '\r')  /* a Windows line ending */
        (*line)[--n] = '\0';
    return true;
}

/* One exchange of a conversation, kept so that the conversation can be
 * written out again, and without its oldest turns when it outgrows the context. */
typedef struct {
    char *user;   /* the message as typed */
    int *answer;  /* the tokens of the answer, as generated */
    int n_answer, answer_capacity;
} Turn;

typedef struct {
    Turn *turns;
    int count, capacity;
    int first_kept;  /* turns before this one have been dropped */
    int *fed;        /* (seq_len) the tokens the model has run, at positions 0 .. n_fed - 1 */
    int n_fed;
} Conversation;

static void conversation_free(Conversation *cv)
{
    for (int i = 0; i < cv->count; i++) {
        free(cv->turns[i].user);
        free(cv->turns[i].answer);
    }
    free(cv->turns);
    free(cv->fed);
}

/* Appends a turn for the message user; NULL when out of memory. */
static Turn *conversation_add(Conversation *cv, const char *user)
{
    if (cv->count == cv->capacity) {
        int capacity = cv->capacity ? 2 * cv->capacity : 8;
        Turn *bigger = realloc(cv->turns, (size_t)capacity * sizeof(Turn));
        if (!bigger)
            return NULL;
        cv->turns = bigger, cv->capacity = capacity;
    }
    Turn *t = &cv->turns[cv->count];
    *t = (Turn){strdup(user), NULL, 0, 0};
    if (!t->user)
        return NULL;
    cv->count++;
    return t;
}

static bool turn_add_answer_token(Turn *t, int token)
{
    if (t->n_answer == t->answer_capacity) {
        int capacity = t->answer_capacity ? 2 * t->answer_capacity : 64;
        int *bigger = realloc(t->answer, (size_t)capacity * sizeof(int));
        if (!bigger)
            return false;
        t->answer = bigger, t->answer_capacity = capacity;
    }
    t->answer[t->n_answer++] = token;
    return true;
}

/* The tokens of turns [first, cv->count) in the template: the system prompt
 * first, each answer closed, the last turn's answer still to come. A
 * malloc'ed array, its length in *n; NULL (*n = -1) when out of memory. */
static int *render_conversation(const ChatFormat *format, const Conversation *cv, int first,
                                const char *system_prompt, int *n)
{
    const int count = cv->count - first;
    ChatExchange *exchanges = malloc((size_t)count * sizeof *exchanges);
    int *tokens = NULL;
    *n = -1;
    if (!exchanges)
        return NULL;
    for (int i = 0; i < count; i++) {
        const Turn *t = &cv->turns[first + i];
        exchanges[i] = (ChatExchange){.user = t->user, .answer = t->answer, .n_answer = t->n_answer};
    }
    *n = chat_render(format, system_prompt, exchanges, count, &tokens);
    free(exchanges);
    return tokens;
}

/* The conversation from its first kept turn to the newest (which is to be
 * answered), dropping the oldest turns while it does not leave half the
 * context for the answer; the system prompt stays. Returns the tokens to
 * feed from position 0, or NULL: out of memory (*n = -1) or the newest turn
 * alone does not fit (*n its length). */
static int *roll_conversation(const ChatFormat *format, Conversation *cv, const char *system_prompt, int seq_len,
                              int *n)
{
    for (int first = cv->first_kept; first < cv->count; first++) {
        int *tokens = render_conversation(format, cv, first, system_prompt, n);
        if (!tokens)
            return NULL;
        const bool newest_alone = first == cv->count - 1;
        if (*n <= seq_len / 2 || (newest_alone && *n < seq_len)) {
            cv->first_kept = first;
            return tokens;
        }
        free(tokens);
    }
    return NULL;
}

/* A message: a line, and the next while a line ends with a backslash (which
 * becomes a newline). prompt: show "User: " on stderr first. False at end of input. */
static bool read_user_message(char **message, size_t *cap, bool prompt)
{
    char *line = NULL;
    size_t line_cap = 0, len = 0;
    bool got = false;
    for (bool more = true; more;) {
        if (!read_user_line(&line, &line_cap, !prompt ? NULL : got ? "...   " : "User: "))
            break;
        size_t n = strlen(line);
        more = n > 0 && line[n - 1] == '\\';
        if (more)
            line[n - 1] = '\n';
        if (len + n + 1 > *cap) {
            char *bigger = realloc(*message, len + n + 1);
            if (!bigger)
                break;
            *message = bigger, *cap = len + n + 1;
        }
        memcpy(*message + len, line, n + 1);
        len += n;
        got = true;
    }
    free(line);
    return got;
}

/* Where a reasoning model (Qwen3) is in its answer: the <think> block and
 * the blank lines after it go to stderr, unless --show-thinking. */
typedef enum { ANSWER_TEXT, ANSWER_THINKING, ANSWER_AFTER_THINKING } AnswerPart;

static bool is_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n')
            return false;
    return true;
}

/* A token of an answer: printed as emit_token does, or to stderr while the
 * model thinks. Returns as emit_token. */
static int emit_answer_token(Engine *e, const ChatFormat *format, AnswerPart *part, int prev, int token)
{
    size_t len;
    const char *piece = tokenizer_decode(&e->tokenizer, prev, token, &len);
    if (!e->show_thinking && token == format->think_open)
        *part = ANSWER_THINKING;
    if (*part == ANSWER_AFTER_THINKING && !is_blank(piece, len))
        *part = ANSWER_TEXT;
    if (*part == ANSWER_TEXT)
        return emit_token(e, true, prev, token);
    fwrite(piece, 1, len, stderr);
    if (token == format->think_close)
        *part = ANSWER_AFTER_THINKING;
    return 0;
}

/* How many tokens a and b start with alike. */
static int common_prefix(const int *a, int n_a, const int *b, int n_b)
{
    int n = 0;
    while (n < n_a && n < n_b && a[n] == b[n])
        n++;
    return n;
}

static int chat(Engine *e, const ChatFormat *format, const char *first_prompt, const char *system_prompt)
{
    const Config *c = &e->model.config;
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    Conversation cv = {.fed = malloc((size_t)c->seq_len * sizeof(int))};
    if (!cv.fed) {
        fprintf(stderr, "run: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    model_map_pages(&e->model);  /* now, not in the middle of the first answer */
    say_time_seed(e);
    for (int turn = 0;; turn++) {
        const char *user = first_prompt;
        if (turn > 0 || !first_prompt || !*first_prompt) {
            if (!read_user_message(&line, &cap, true))
                break;  /* EOF: the conversation is over */
            user = line;
        }
        if (!*user) {
            turn--;
            continue;
        }
        int n = -1;
        int *tokens = conversation_add(&cv, user) ? render_conversation(format, &cv, cv.first_kept, system_prompt, &n)
                                                  : NULL;
        if (tokens && n >= c->seq_len) {
            /* Too long to go on: start again from position 0 with the newest turns. */
            free(tokens);
            const int dropped_before = cv.first_kept;
            tokens = roll_conversation(format, &cv, system_prompt, c->seq_len, &n);
            if (!tokens && n >= 0) {
                fprintf(stderr, "run: your message is %d tokens; the context holds %d\n", n, c->seq_len);
                status = EXIT_BAD_INPUT;
                break;
            }
            if (tokens && cv.n_fed > 0)
                fprintf(stderr, "run: note: the conversation outgrew the context of %d tokens: dropped the "
                        "oldest %d turn%s and recomputed the rest (%d tokens)\n", c->seq_len,
                        cv.first_kept - dropped_before, cv.first_kept - dropped_before == 1 ? "" : "s", n);
            cv.n_fed = 0;
        }
        if (!tokens) {
            fprintf(stderr, "run: out of memory\n");
            status = EXIT_BAD_INPUT;
            break;
        }
        /* What the model has seen stays in its cache; at least the last token runs, for its logits. */
        int start = common_prefix(cv.fed, cv.n_fed, tokens, n);
        if (start == n)
            start = n - 1;
        float *logits = process_prompt(e, tokens + start, n - start, start);
        memcpy(cv.fed, tokens, (size_t)n * sizeof(int));
        cv.n_fed = n;
        int pos = n;  /* the next position to run */
        int token = tokens[n - 1];
        free(tokens);
        Turn *current = &cv.turns[cv.count - 1];
        AnswerPart part = ANSWER_TEXT;
        fprintf(stderr, "Assistant: ");
        for (int answered = 0; e->reply_limit == 0 || answered < e->reply_limit; answered++) {
            int next = next_token(e, logits, pos - 1);
            if (next < 0)
                status = EXIT_BAD_INPUT;
            if (next < 0 || chat_is_end_of_answer(format, next) || next == e->tokenizer.bos_id)
                break;
            const int stopped = emit_answer_token(e, format, &part, token, next);
            token = next;
            if (stopped < 0 || !turn_add_answer_token(current, next)) {
                fprintf(stderr, "\nrun: out of memory\n");
                status = EXIT_BAD_INPUT;
                break;
            }
            if (stopped)
                break;  /* --stop ends the answer */
            if (pos >= c->seq_len) {
                fprintf(stderr, "\nrun: note: the answer reached the end of the context (%d tokens); the next "
                        "turn starts without the oldest ones", c->seq_len);
                break;
            }
            logits = decode_step(e, token, pos);
            cv.fed[pos] = token;
            cv.n_fed = ++pos;
        }
        stop_strings_flush(&e->stops, &e->text);
        text_stream_finish(&e->text);
        printf("\n");
        fflush(stdout);
        if (status != 0)
            break;
    }
    conversation_free(&cv);
    free(line);
    return status;
}

/* -m tokenize --chat: a conversation on stdin, one message a line (a line
 * ending with a backslash continues on the next), the user's first, then an
 * answer, a message, ...; prints the ids -m chat feeds the model for it
 * before answering its last message. */
static int tokenize_conversation(const ChatFormat *format, const char *system_prompt)
{
    char **messages = NULL;
    size_t n = 0, capacity = 0;
    int status = 0;
    for (;;) {
        char *message = NULL;
        size_t cap = 0;
        if (n == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            char **bigger = realloc(messages, capacity * sizeof *messages);
            if (!bigger) {
                fprintf(stderr, "run: out of memory\n");
                status = EXIT_BAD_INPUT;
                break;
            }
            messages = bigger;
        }
        if (!read_user_message(&message, &cap, false)) {
            free(message);
            break;
        }
        messages[n++] = message;
    }
    const int n_exchanges = (int)(n + 1) / 2;
    ChatExchange *exchanges = status == 0 ? calloc((size_t)n_exchanges + 1, sizeof *exchanges) : NULL;
    int *tokens = NULL;
    int count = -1;
    if (status == 0 && n % 2 == 0) {
        fprintf(stderr, "run: -m tokenize --chat: the conversation must end with a user's message (one message a "
                "line: user, answer, user, ...); it has %zu\n", n);
        status = EXIT_BAD_INPUT;
    } else if (exchanges) {
        for (size_t i = 0; i < n; i++) {
            if (i % 2 == 0)
                exchanges[i / 2].user = messages[i];
            else
                exchanges[i / 2].answer_text = messages[i];
        }
        count = chat_render(format, system_prompt, exchanges, n_exchanges, &tokens);
    }
    if (status == 0 && count < 0) {
        fprintf(stderr, "run: out of memory\n");
        status = EXIT_BAD_INPUT;
    }
    for (int i = 0; status == 0 && i < count; i++)
        printf(i ? " %d" : "%d", tokens[i]);
    if (status == 0)
        putchar('\n');
    for (size_t i = 0; i < n; i++)
        free(messages[i]);
    free(messages);
    free(exchanges);
    free(tokens);
    return status;
}

/* ---------------------------------------------------------------------------
 * Tokenize: one line of ids per line of stdin, or for the text of -i */

/* Prints the ids the model is fed for text as one line, with pieces each
 * as id:"text" (its text as it reads there); -1 when out of memory. */
static int print_ids(const Tokenizer *tok, const char *text, size_t len, bool pieces)
{
    int *tokens;
    int count = encode_text(tok, text, len, &tokens);
    if (count < 0) {
        fprintf(stderr, "run: out of memory\n");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        printf(i ? " %d" : "%d", tokens[i]);
        if (pieces) {
            putchar(':');
            explain_print_token(stdout, tok, i > 0 ? tokens[i - 1] : -1, tokens[i]);
        }
    }
    putchar('\n');
    free(tokens);
    return 0;
}

static int tokenize_lines(const Tokenizer *tok, bool pieces)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (print_ids(tok, line, (size_t)n, pieces) != 0) {
            free(line);
            return EXIT_BAD_INPUT;
        }
    }
    free(line);
    return fflush(stdout) == 0 ? 0 : EXIT_BAD_INPUT;
}

/* llm.c's gpt2_tokenizer.bin only decodes: a run that must encode text (a
 * prompt, chat, -m tokenize) is refused before it starts. */
static int check_can_encode(const Tokenizer *tok, const Options *o)
{
    const bool encodes = o->prompt[0] != '\0' || strcmp(o->mode, "chat") == 0 || strcmp(o->mode, "tokenize") == 0;
    if (!encodes || tokenizer_can_encode(tok))
        return 0;
    fprintf(stderr, "run: %s: llm.c's tokenizer can only decode; for a prompt, chat or -m tokenize give a GGUF "
            "vocabulary with -z (e.g. ggml-vocab-gpt-2.gguf)\n", o->tokenizer_path ? o->tokenizer_path : "-z");
    return -1;
}

/* The chat template: --chat-template's, else the one the vocabulary's file
 * is written in. -1 after saying why not. */
static int chat_format_setup(ChatFormat *f, const Options *o, const Tokenizer *tok)
{
    const ChatTemplate *t = o->chat_template ? chat_template_named(o->chat_template)
                                             : chat_template_recognize(tok->chat_template);
    const char *file = o->tokenizer_path ? o->tokenizer_path : o->checkpoint_path;
    char err[ERROR_SIZE];
    if (!t) {
        fprintf(stderr, "run: %s: its chat template (tokenizer.chat_template) is none of those this engine knows "
                "(%s): pass --chat-template NAME\n", file, CHAT_TEMPLATE_NAMES);
        return -1;
    }
    if (chat_format_init(f, t, tok, tok->chat_template, err) != 0) {
        fprintf(stderr, "run: %s: %s\n", file, err);
        return -1;
    }
    return 0;
}

/* -m tokenize: the text of -i, whole (its newlines are text), else stdin's
 * lines; with --chat, stdin's conversation. */
static int tokenize(const Tokenizer *tok, const Options *o)
{
    if (check_can_encode(tok, o) != 0)
        return EXIT_BAD_INPUT;
    if (o->tokenize_chat) {
        ChatFormat format;
        if (chat_format_setup(&format, o, tok) != 0)
            return EXIT_BAD_INPUT;
        int status = tokenize_conversation(&format, o->system_prompt);
        chat_format_free(&format);
        return status != 0 ? status : fflush(stdout) == 0 ? 0 : EXIT_BAD_INPUT;
    }
    if (!o->prompt_given)
        return tokenize_lines(tok, o->pieces);
    if (print_ids(tok, o->prompt, strlen(o->prompt), o->pieces) != 0)
        return EXIT_BAD_INPUT;
    return fflush(stdout) == 0 ? 0 : EXIT_BAD_INPUT;
}

/* ---------------------------------------------------------------------------
 * main */

/* The tokenizer: -z, else a GGUF checkpoint's own vocabulary, else
 * tokenizer.bin beside the checkpoint. */
static int load_tokenizer(Tokenizer *tok, const Options *o, const Model *model)
{
    char err[ERROR_SIZE];
    const int vocab_size = model->config.vocab_size;
    if (!o->tokenizer_path && model->gguf) {
        if (tokenizer_from_gguf(tok, model->gguf, o->checkpoint_path, vocab_size, err) == 0)
            return 0;
        fprintf(stderr, "run: %s\n", err);
        return -1;
    }
    char *path = o->tokenizer_path ? NULL : default_tokenizer_path(o->checkpoint_path);
    const char *use = o->tokenizer_path ? o->tokenizer_path : path;
    int rc = use ? tokenizer_load(tok, use, vocab_size, err) : -1;
    if (rc != 0) {
        fprintf(stderr, "run: %s%s\n", use ? err : "out of memory",
                o->tokenizer_path || !use ? "" : " (give the tokenizer with -z)");
    }
    free(path);
    if (rc == 0 && check_can_encode(tok, o) != 0) {
        tokenizer_free(tok);
        rc = -1;
    }
    return rc;
}

/* ./run quantize IN OUT: a GGUF file with Q8_0 matrices when OUT ends in
 * .gguf, else llama2.c's int8 (version 2) file, which holds less: it refuses
 * what it cannot keep rather than change the model without a word. */

/* Whether path b names the file at path a (the same file through another
 * name, a hard link or a symbolic link counts). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool ends_with_gguf(const char *path)
{
    const size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".gguf") == 0;
}

/* OUT with its extension (if any) replaced by .gguf, for a suggestion; or by
 * .q8_0.gguf when that would name the input. */
static void gguf_name(char *name, size_t size, const char *out, const char *in)
{
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    const char *dot = strrchr(base, '.');
    const int keep = dot && dot != base ? (int)(dot - out) : (int)strlen(out);
    snprintf(name, size, "%.*s.gguf", keep, out);
    if (strcmp(name, in) == 0 || same_file(name, in))
        snprintf(name, size, "%.*s.q8_0.gguf", keep, out);
}

static int quantize_to_gguf(const Model *model, const char *in, const char *out, const QuantizeRecipe *recipe)
{
    char err[ERROR_SIZE];
    GgufSaveSummary s;
    if (model_save_gguf(model, in, out, recipe, &s, err) != 0) {
        fprintf(stderr, "run: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    fprintf(stderr, "run: wrote %s (GGUF %s: %d matrices quantized (", out, recipe->name, s.quantized + s.requantized);
    for (int t = 0, first = 1; t < WEIGHT_TYPE_COUNT; t++)
        if (s.written[t]) {
            fprintf(stderr, "%s%d %s", first ? "" : ", ", s.written[t], weight_types[t].name);
            first = 0;
        }
    fprintf(stderr, ")");
    if (s.copied)
        fprintf(stderr, ", %d already quantized copied as they were", s.copied);
    if (s.kept)
        fprintf(stderr, ", %d left unquantized", s.kept);
    fprintf(stderr, ", %d other tensors as they were; %llu metadata entries%s)\n", s.others,
            (unsigned long long)s.n_kv, s.from_gguf ? ": the input's, general.file_type updated" : "");
    if (s.requantized)
        fprintf(stderr, "run: note: %d quantized matrices of %s (llama2.c's int8, or more bits than %s) were "
                "rounded again: their values differ slightly from the input's\n", s.requantized, in, recipe->name);
    if (s.kept)
        fprintf(stderr, "run: note: %d matrices whose rows are not whole blocks of %d values (the first: %s) "
                "are kept as %s\n", s.kept, QBLOCK, s.kept_name, s.kept_type);
    if (!s.vocabulary)
        fprintf(stderr, "run: note: %s holds no vocabulary (%s has none): run it with -z TOKENIZER\n", out, in);
    return 0;
}

static int quantize_to_bin(const Model *model, const char *in, const char *out)
{
    char err[ERROR_SIZE];
    if (llama2c_q8_can_hold(model, in, err) != 0) {
        char suggestion[PATH_MAX + 8];
        gguf_name(suggestion, sizeof suggestion, out, in);
        fprintf(stderr, "run: %s; write a .gguf instead: ./run quantize %s %s\n", err, in, suggestion);
        return EXIT_BAD_INPUT;
    }
    int group_size = q8_group_size(&model->config, Q8_GROUP_SIZE);
    if (model_save_q8(model, in, out, group_size, err) != 0) {
        fprintf(stderr, "run: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    fprintf(stderr, "run: wrote %s (int8, groups of %d)\n", out, group_size);
    if (model->gguf && gguf_find_kv(model->gguf, "tokenizer.ggml.tokens"))
        fprintf(stderr, "run: note: the vocabulary of %s is not carried into %s (llama2.c's format has none): run it "
                "with -z %s\n", in, out, in);
    return 0;
}

static int quantize_command(int argc, char **argv)
{
    const QuantizeRecipe *recipe = quantize_recipe("q8_0");
    if (argc == 6 && strcmp(argv[4], "--type") == 0) {
        recipe = quantize_recipe(argv[5]);
        if (!recipe || !ends_with_gguf(argv[3])) {
            char message[WEIGHT_TYPE_NAMES_SIZE + 64];
            quantize_recipe_names(message, sizeof message);
            if (recipe)
                return usage_error("--type is for a .gguf output, not %s", argv[3]);
            fprintf(stderr, "run: unknown --type %s: ./run quantize writes %s\n", argv[5], message);
            return EXIT_USAGE;
        }
    } else if (argc != 4) {
        return usage_error("%s", "usage: ./run quantize IN OUT.gguf [--type q8_0|q4_0|q4_k|q4_k_m] | ./run quantize "
                           "IN OUT.bin (llama2.c int8)");
    }
    const char *in = argv[2], *out = argv[3];
    /* The input is mapped while the output is written: writing over it would destroy it. */
    if (same_file(in, out)) {
        fprintf(stderr, "run: %s is the input file %s: give the quantized copy another name\n", out, in);
        return EXIT_USAGE;
    }
    Model model;
    char err[ERROR_SIZE];
    if (model_load(&model, in, err) != 0) {
        fprintf(stderr, "run: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    int status = ends_with_gguf(out) ? quantize_to_gguf(&model, in, out, recipe) : quantize_to_bin(&model, in, out);
    model_free(&model);
    return status;
}

/* -f FILE or -i -: the whole file or standard input, as text; one trailing
 * newline is dropped (a file's last line ends with one), as llama.cpp's -f
 * does. NULL after saying why. */
static char *read_prompt(const char *path)
{
    const bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "standard input" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    struct stat st;
    if (!f) {
        fprintf(stderr, "run: %s: cannot open the prompt file: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "run: %s: is a directory, not a prompt file\n", path);
        fclose(f);
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    for (size_t got = 1; text && got > 0;) {
        if (len + 1 == cap) {
            char *bigger = cap < SIZE_MAX / 2 ? realloc(text, cap * 2) : NULL;
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger, cap *= 2;
        }
        got = fread(text + len, 1, cap - 1 - len, f);
        len += got;
    }
    const bool failed = ferror(f);
    if (!from_stdin)
        fclose(f);
    if (!text || failed) {
        fprintf(stderr, "run: %s: %s\n", name, text ? "cannot read the prompt" : "out of memory reading the prompt");
        free(text);
        return NULL;
    }
    if (memchr(text, '\0', len)) {
        fprintf(stderr, "run: %s: holds a NUL byte at offset %zu: a prompt is text\n", name,
                (size_t)((char *)memchr(text, '\0', len) - text));
        free(text);
        return NULL;
    }
    if (len > 0 && text[len - 1] == '\n')
        len--;
    text[len] = '\0';
    return text;
}

static int run_with_options(Options *o);

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "quantize") == 0)
        return quantize_command(argc, argv);
    Options o;
    int status = parse_options(argc, argv, &o);
    if (status != 0)
        return status;
    char *prompt_text = NULL;
    if (o.prompt_file) {
        prompt_text = read_prompt(o.prompt_file);
        if (!prompt_text)
            return EXIT_BAD_INPUT;
        o.prompt = prompt_text;
    }
    status = run_with_options(&o);
    free(prompt_text);
    return status;
}

/* Everything after the command line: load, then generate, chat or tokenize. */
static int run_with_options(Options *options)
{
    const Options o = *options;
    int status = 0;
    char err[ERROR_SIZE];
    Engine e;
    memset(&e, 0, sizeof e);
    ChatFormat format = {0};
    const bool chatting = strcmp(o.mode, "chat") == 0;
    bool tokenize_only = strcmp(o.mode, "tokenize") == 0;
    if (tokenize_only && !o.checkpoint_path) {
        if (!o.tokenizer_path)
            return usage_error("%s", "-m tokenize needs a tokenizer (-z) or a checkpoint");
        if (tokenizer_load(&e.tokenizer, o.tokenizer_path, 0, err) != 0) {
            fprintf(stderr, "run: %s\n", err);
            return EXIT_BAD_INPUT;
        }
        status = tokenize(&e.tokenizer, &o);
        tokenizer_free(&e.tokenizer);
        return status;
    }

    if (model_load(&e.model, o.checkpoint_path, err) != 0) {
        fprintf(stderr, "run: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    const Config *c = &e.model.config;
    if (load_tokenizer(&e.tokenizer, &o, &e.model) != 0) {
        model_free(&e.model);
        return EXIT_BAD_INPUT;
    }
    if (tokenize_only) {
        status = tokenize(&e.tokenizer, &o);
        goto done;
    }
    if (chatting && chat_format_setup(&format, &o, &e.tokenizer) != 0) {
        status = EXIT_BAD_INPUT;
        goto done;
    }

    int steps = o.steps;
    if (!o.steps_given)
        e.tokens_after_prompt = DEFAULT_STEPS;  /* counted once the prompt's length is known */
    if (steps > c->seq_len && o.steps_given)
        fprintf(stderr, "run: note: -n %d is past the context; running %d positions\n", steps, c->seq_len);
    if (steps == 0 || steps > c->seq_len)
        steps = c->seq_len;
    if (run_state_init(&e.state, c, PROMPT_BATCH, err) != 0) {
        fprintf(stderr, "run: %s: %s\n", o.checkpoint_path, err);
        status = EXIT_BAD_INPUT;
        goto done;
    }
    e.show_top = o.show_top;
    e.probs = malloc((size_t)c->vocab_size * sizeof(float));
    e.top = malloc((size_t)c->vocab_size * sizeof(ProbIndex));
    if (!e.probs || !e.top || sampler_init(&e.sampler, c->vocab_size, o.temperature, o.topp, o.topk, o.seed) != 0 ||
        sampler_set_filters(&e.sampler, o.filters) != 0) {
        fprintf(stderr, "run: out of memory\n");
        status = EXIT_BAD_INPUT;
        goto done;
    }
    if (o.logits_path && logits_open(&e.logits_writer, o.logits_path, c->vocab_size) != 0) {
        status = EXIT_BAD_INPUT;
        goto done;
    }
    e.explain = strcmp(o.mode, "explain") == 0;
    e.html_path = o.html_path;
    if (o.seed_from_time && o.temperature > 0)
        e.time_seed = o.seed;
    e.reply_limit = o.steps_given ? o.steps : 0;
    threads_use(o.threads > 0 ? o.threads : threads_default());
    e.stops = (StopStrings){.strings = options->stops, .count = o.n_stops};
    e.show_thinking = o.show_thinking;
    if (chatting)
        status = chat(&e, &format, o.prompt, o.system_prompt);
    else
        status = generate(&e, o.prompt, steps);
    if (logits_close(&e.logits_writer, o.logits_path) != 0 && status == 0)
        status = EXIT_BAD_INPUT;

done:
    chat_format_free(&format);
    free(e.stops.held);
    free(e.probs);
    free(e.top);
    sampler_free(&e.sampler);
    run_state_free(&e.state);
    tokenizer_free(&e.tokenizer);
    model_free(&e.model);
    return status;
}
