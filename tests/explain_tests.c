/* explain_tests.c - the -m explain text and the --attention-html page, on
 * synthetic attention weights (random causal rows, each summing to 1) and
 * candidates: what is printed is checked against the numbers it came from,
 * token text is escaped, the page is well-formed XML carrying one block of
 * weights per layer and head, n*(n+1)/2 cells each, that decode (here, on
 * their own) to the weights given, and write errors are reported.
 *
 * Usage: tests/explain_tests [MODELS_DIR [PAGE]]
 * With MODELS_DIR, the stories260K-shaped page (5 layers x 8 heads x 100
 * tokens) uses its tok512.bin; PAGE keeps that page for
 * scripts/check_attention_html.py (--layers 5 --heads 8 --tokens 99 --steps 99: the last token
 * was chosen, never fed, so the attention covers 99 positions). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "explain.h"
#include "sampler.h"
#include "tokenizer.h"

#include "test_harness.h"

#define GARBAGE 99.0f  /* above the diagonal: any read of it shows up as a weight > 1 */

static char scratch_dir[] = "/tmp/explain_tests_XXXXXX";
static uint64_t test_rng = 7;

/* ---------------------------------------------------------------------------
 * Fixtures */

/* The synthetic vocabulary's words, after <unk>, <s>, </s> and the 256 byte
 * tokens: ordinary ones, and ones that need escaping in text and in XML. */
static const char *const WORDS[] = {
    " Lily", " girl", " named", " Once", " upon", " a", " time", " there", " was", ".",
    " a<b>", " R&D", " \"hi\"", " it's", "caf\xc3\xa9", "bad\xff", "tab\tx", "back\\slash",
    "\xef\xbf\xbe", "\xc2\x85", " ]]>", " @x",
};
#define N_WORDS ((int)(sizeof WORDS / sizeof WORDS[0]))
#define FIRST_WORD 259

/* The id of a word of the synthetic vocabulary. */
static int word(const char *w)
{
    for (int i = 0; i < N_WORDS; i++)
        if (strcmp(WORDS[i], w) == 0)
            return FIRST_WORD + i;
    fprintf(stderr, "no word '%s' in the synthetic vocabulary\n", w);
    exit(2);
}

static void write_piece(FILE *f, float score, const char *s, int len)
{
    fwrite(&score, sizeof score, 1, f);
    fwrite(&len, sizeof len, 1, f);
    fwrite(s, 1, len, f);
}

/* tokenizer.bin: int32 max_token_length; per token float32 score, int32 length, bytes. */
static int write_synthetic_tokenizer(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int max_len = 16;
    fwrite(&max_len, sizeof max_len, 1, f);
    write_piece(f, 0, "<unk>", 5);
    write_piece(f, 0, "\n<s>\n", 5);
    write_piece(f, 0, "\n</s>\n", 6);
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        write_piece(f, 0, piece, 6);
    }
    for (int i = 0; i < N_WORDS; i++)
        write_piece(f, -(float)i, WORDS[i], (int)strlen(WORDS[i]));
    return fclose(f);
}

/* weight(l, h, p, j) for positions 0..n-1 in rows of stride > n; above the
 * diagonal and past n, GARBAGE. Peaked rows (exp of up to 6) so the top
 * weights are well apart. */
static float *random_attention(int n_layers, int n_heads, int n, int stride)
{
    size_t size = (size_t)n_layers * n_heads * stride * stride;
    float *a = malloc(size * sizeof(float));
    for (size_t i = 0; i < size; i++)
        a[i] = GARBAGE;
    for (int m = 0; m < n_layers * n_heads; m++) {
        for (int p = 0; p < n; p++) {
            float *row = a + ((size_t)m * stride + p) * stride;
            double sum = 0;
            for (int j = 0; j <= p; j++)
                sum += row[j] = expf(6 * random_f32(&test_rng));
            for (int j = 0; j <= p; j++)
                row[j] = (float)(row[j] / sum);
        }
    }
    return a;
}

static float weight(const AttentionView *att, int l, int h, int p, int j)
{
    return att->a[((size_t)(l * att->n_heads + h) * att->stride + p) * att->stride + j];
}

/* Steps for positions first..n-2: k random candidates, decreasing, summing
 * to less than 1; the chosen one is the token at pos+1, first or second. */
typedef struct {
    StepView *steps;
    ProbIndex *candidates;
    int n_steps;
} Steps;

static Steps random_steps(const int *tokens, int n, int first, int k, int vocab_size)
{
    Steps s = {0};
    s.n_steps = n - 1 - first;
    s.steps = calloc(s.n_steps > 0 ? s.n_steps : 1, sizeof(StepView));
    s.candidates = calloc((size_t)(s.n_steps > 0 ? s.n_steps : 1) * k, sizeof(ProbIndex));
    for (int i = 0; i < s.n_steps; i++) {
        ProbIndex *c = s.candidates + (size_t)i * k;
        int pos = first + i, chosen = tokens[pos + 1];
        float left = 1;
        for (int r = 0; r < k; r++) {
            /* Every other step, the chosen token is the runner-up. */
            c[r].index = r == (i % 2) ? chosen : (int)(random_u32(&test_rng) % vocab_size);
            if (r != (i % 2) && c[r].index == chosen)
                c[r].index = (chosen + 1) % vocab_size;
            c[r].prob = left * (0.5f + 0.3f * random_f32(&test_rng));  /* so each is below the last */
            left -= c[r].prob;
        }
        s.steps[i] = (StepView){.pos = pos, .chosen = chosen, .k = k, .top = c};
    }
    return s;
}

static void steps_free(Steps *s)
{
    free(s->steps), free(s->candidates);
}

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(end + 1);
    *size = fread(data, 1, end, f);
    data[*size] = '\0';
    fclose(f);
    return data;
}

/* What explain_print_step prints, as a string. */
static char *print_step(const Tokenizer *tok, const int *tokens, const StepView *step, const AttentionView *att,
                        int top_attended)
{
    FILE *f = tmpfile();
    explain_print_step(f, tok, tokens, step, att, top_attended);
    long end = ftell(f);
    rewind(f);
    char *text = malloc(end + 1);
    size_t got = fread(text, 1, end, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* A plain loop: sanitizers check strstr's whole haystack on every call,
 * which makes counting in a 20 MB page quadratic. */
static int count_occurrences(const char *s, const char *needle)
{
    size_t len = strlen(needle);
    int count = 0;
    for (const char *p = s; *p; p++)
        count += *p == needle[0] && strncmp(p, needle, len) == 0;
    return count;
}

/* Whether s is valid UTF-8 with no control bytes other than newline. */
static bool is_clean_utf8(const char *s, size_t len, size_t *bad_at)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_length((const unsigned char *)s + i, len - i);
        if (n == 0 || (n == 1 && (unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f) {
            *bad_at = i;
            return false;
        }
        i += n;
    }
    return true;
}

/* ---------------------------------------------------------------------------
 * A small XML well-formedness check: tags nest and close, attributes are
 * quoted, '<' never appears in text or values, '&' only starts an entity. */

static const char *skip_past(const char *s, const char *end_mark)
{
    const char *e = strstr(s, end_mark);
    return e ? e + strlen(end_mark) : NULL;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == ':' || c == '.';
}

static bool entity_ok(const char *s)
{
    static const char *const names[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(s, names[i], strlen(names[i])) == 0)
            return true;
    if (s[1] != '#')
        return false;
    const char *p = s + 2;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > s + 2 && *p == ';';
}

/* Returns NULL if well-formed, else a description of the first problem. */
static const char *xml_problem(const char *doc, char why[256])
{
    const char *stack[64];
    size_t stack_len[64];
    int depth = 0, roots = 0;
    const char *s = doc;
    while (*s) {
        if (*s == '&') {
            if (!entity_ok(s))
                return snprintf(why, 256, "bad entity at byte %td: %.20s", s - doc, s), why;
            s++;
        } else if (*s != '<') {
            if (*s == '>' && s > doc + 1 && s[-1] == ']' && s[-2] == ']')
                return snprintf(why, 256, "']]>' in text at byte %td", s - doc), why;
            s++;
        } else if (strncmp(s, "<?", 2) == 0) {
            s = skip_past(s, "?>");
        } else if (strncmp(s, "<!--", 4) == 0) {
            s = skip_past(s, "-->");
        } else if (strncmp(s, "<![CDATA[", 9) == 0) {
            s = skip_past(s, "]]>");
        } else if (strncmp(s, "<!", 2) == 0) {
            s = skip_past(s, ">");
        } else if (s[1] == '/') {
            const char *name = s + 2, *e = name;
            while (is_name_char(*e))
                e++;
            if (depth == 0 || (size_t)(e - name) != stack_len[depth - 1] ||
                strncmp(name, stack[depth - 1], e - name) != 0 || *e != '>')
                return snprintf(why, 256, "unmatched </%.*s> at byte %td", (int)(e - name), name, s - doc), why;
            depth--;
            s = e + 1;
        } else {
            const char *name = s + 1, *e = name;
            while (is_name_char(*e))
                e++;
            const char *name_end = e;
            if (e == name)
                return snprintf(why, 256, "'<' not starting a tag at byte %td", s - doc), why;
            /* Attributes: name="value" with no '<' and only entities after '&'. */
            for (;;) {
                while (*e == ' ' || *e == '\n')
                    e++;
                if (*e == '>' || (e[0] == '/' && e[1] == '>'))
                    break;
                const char *attr = e;
                while (is_name_char(*e))
                    e++;
                if (e == attr || e[0] != '=' || (e[1] != '"' && e[1] != '\''))
                    return snprintf(why, 256, "bad attribute at byte %td", e - doc), why;
                char quote = e[1];
                for (e += 2; *e != quote; e++) {
                    if (!*e || *e == '<' || (*e == '&' && !entity_ok(e)))
                        return snprintf(why, 256, "bad attribute value at byte %td", e - doc), why;
                }
                e++;
            }
            if (depth == 0)
                roots++;
            if (*e == '>') {
                if (depth == 64)
                    return "nesting deeper than 64";
                stack[depth] = name;
                stack_len[depth++] = (size_t)(name_end - name);
                s = e + 1;
            } else {
                s = e + 2;
            }
        }
        if (!s)
            return "unterminated declaration or comment";
    }
    if (depth != 0)
        return snprintf(why, 256, "<%.*s> never closed", (int)stack_len[depth - 1], stack[depth - 1]), why;
    if (roots != 1)
        return snprintf(why, 256, "%d root elements", roots), why;
    return NULL;
}

/* ---------------------------------------------------------------------------
 * -m explain */

/* The positions of row[0..n) in order: weight descending, position ascending. */
static const float *sort_row;
static int by_weight(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_row[i] != sort_row[j])
        return sort_row[i] > sort_row[j] ? -1 : 1;
    return i - j;
}

static void test_print_step(const Tokenizer *tok, const int *tokens, int n, const char *label)
{
    const int L = 3, H = 4, top = 3;
    AttentionView att = {L, H, n + 5, random_attention(L, H, n, n + 5)};
    Steps s = random_steps(tokens, n, 4, 5, tok->vocab_size);
    for (int i = 0; i < s.n_steps; i++) {
        const StepView *step = &s.steps[i];
        char *text = print_step(tok, tokens, step, &att, top);

        /* The header names the position and the chosen token, with its probability. */
        char header[64];
        snprintf(header, sizeof header, "step %d: ", step->pos);
        expect(strncmp(text, header, strlen(header)) == 0, "step %d starts '%.30s'", step->pos, text);
        char want[64];
        float p_chosen = -1;
        for (int r = step->k - 1; r >= 0; r--)
            if (step->top[r].index == step->chosen)
                p_chosen = step->top[r].prob;
        snprintf(want, sizeof want, " (p=%.4f)\n", p_chosen);
        expect(strstr(text, want) != NULL, "step %d: no '%s' in\n%s", step->pos, want, text);
        expect(count_occurrences(text, "\n  next: ") == 1, "step %d: no next: line", step->pos);
        expect(count_occurrences(text, " | ") == step->k - 1, "step %d: not %d candidates", step->pos, step->k);

        /* One line per layer and head, holding the row's largest weights in order. */
        int lines = 0;
        for (int l = 0; l < L; l++) {
            for (int h = 0; h < H; h++) {
                char head[32];
                snprintf(head, sizeof head, "\n  L%d H%d:", l, h);
                const char *line = strstr(text, head);
                if (!line) {
                    expect(false, "step %d: no line for L%d H%d", step->pos, l, h);
                    continue;
                }
                lines++;
                const float *row = &att.a[((size_t)(l * H + h) * att.stride + step->pos) * att.stride];
                int order[256];
                for (int j = 0; j <= step->pos; j++)
                    order[j] = j;
                sort_row = row;
                qsort(order, step->pos + 1, sizeof(int), by_weight);
                const char *end = strchr(line + 1, '\n');
                const char *q = line + 1;
                int shown = 0;
                while ((q = strchr(q, '@')) && q < end) {
                    int j;
                    float w;
                    if (sscanf(q, "@%d %f", &j, &w) == 2) {
                        expect(shown < top && j == order[shown], "step %d L%d H%d: #%d is @%d, want @%d",
                               step->pos, l, h, shown, j, order[shown]);
                        expect(j >= 0 && j <= step->pos && fabsf(w - row[j]) < 5.1e-5f,
                               "step %d L%d H%d: @%d printed %f, weight %f", step->pos, l, h, j, w,
                               j >= 0 && j <= step->pos ? row[j] : -1);
                        shown++;
                    }
                    q++;
                }
                int want_shown = step->pos + 1 < top ? step->pos + 1 : top;
                expect(shown == want_shown, "step %d L%d H%d: %d attended shown, want %d", step->pos, l, h, shown,
                       want_shown);
            }
        }
        expect(lines == L * H && count_occurrences(text, "\n  L") == L * H, "step %d: %d layer-head lines, want %d",
               step->pos, count_occurrences(text, "\n  L"), L * H);
        size_t bad = 0;
        expect(is_clean_utf8(text, strlen(text), &bad), "step %d: control byte or bad UTF-8 at %zu", step->pos, bad);
        free(text);
    }
    /* Fewer positions than asked for: all of them, and nothing past pos. */
    StepView early = {.pos = 1, .chosen = tokens[2], .k = 1, .top = &(ProbIndex){tokens[2], 0.5f}};
    char *text = print_step(tok, tokens, &early, &att, 10);
    expect(count_occurrences(text, "@") == 2 * L * H, "at pos 1 with top 10: %d attended, want %d",
           count_occurrences(text, "@"), 2 * L * H);
    free(text);
    steps_free(&s);
    free((float *)att.a);
    report(label);
}

static void test_print_escaping(const Tokenizer *tok)
{
    const int tokens[] = {TOKEN_BOS, word(" Lily"), word(" a<b>"), word("bad\xff"), word(" \"hi\"")};
    const char *candidates[] = {" a<b>", " R&D", " \"hi\"", " it's", "caf\xc3\xa9", "bad\xff", "tab\tx",
                                "back\\slash", "\xef\xbf\xbe", "\xc2\x85"};
    const int k = (int)(sizeof candidates / sizeof candidates[0]);
    ProbIndex top[16];
    for (int i = 0; i < k; i++)
        top[i] = (ProbIndex){word(candidates[i]), 0.5f / (i + 1)};
    top[k] = (ProbIndex){tok->eos_id, 0.01f};
    top[k + 1] = (ProbIndex){tok->vocab.byte_token['\n'], 0.005f};
    AttentionView att = {1, 1, 5, random_attention(1, 1, 5, 5)};
    StepView step = {.pos = 4, .chosen = word("caf\xc3\xa9"), .k = k + 2, .top = top};
    char *text = print_step(tok, tokens, &step, &att, 5);
    const char *wanted[] = {
        "step 4: \"caf\xc3\xa9\" (p=",  "\" a<b>\" 0.5000", "\" R&D\"", "\" \\\"hi\\\"\"", "\" it's\"",
        "\"bad\\xff\"",                  "\"tab\\x09x\"",     "\"back\\\\slash\"", "\"\\xef\\xbf\\xbe\"",
        "\"\\xc2\\x85\"",               "</s> 0.0100",      "<0x0A> 0.0050", "<s>@0 ",
        "\"Lily\"@1",  /* no leading space right after BOS, as the text reads */
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        expect(strstr(text, wanted[i]) != NULL, "no '%s' in\n%s", wanted[i], text);
    size_t bad = 0;
    expect(is_clean_utf8(text, strlen(text), &bad), "control byte or bad UTF-8 at %zu in\n%s", bad, text);

    /* A chosen token outside the candidates, and no attention. */
    free(text);
    step.chosen = word(" girl");
    text = print_step(tok, tokens, &step, NULL, 3);
    expect(strstr(text, "step 4: \" girl\" (p=?") != NULL, "outside the top k: %s", text);
    expect(strstr(text, "  L0") == NULL, "attention lines without attention: %s", text);
    free(text);
    free((float *)att.a);
    report("explain text: token text is quoted and escaped, special tokens bare");
}

/* ---------------------------------------------------------------------------
 * --attention-html */

/* The text of the weights of (l, h) in a page, and its end; NULL if absent. */
static const char *page_weights(const char *page, int l, int h, const char **end)
{
    char attrs[96];
    snprintf(attrs, sizeof attrs, "class=\"weights\" data-layer=\"%d\" data-head=\"%d\">", l, h);
    const char *start = strstr(page, attrs);
    if (!start)
        return NULL;
    start += strlen(attrs);
    *end = strstr(start, "</script>");
    return *end ? start : NULL;
}

/* One cell's code point in the page's weights text: a one-byte character or
 * a two-byte UTF-8 one (explain.c's format: v < 64 as 0x3F + v, else U+00A0 + v - 64). */
static int next_weight(const unsigned char **s)
{
    const unsigned char *c = *s;
    if (c[0] >= 0x3f && c[0] < 0x3f + 64) {
        *s += 1;
        return c[0] - 0x3f;
    }
    if ((c[0] & 0xe0) == 0xc0 && (c[1] & 0xc0) == 0x80) {
        int code = ((c[0] & 0x1f) << 6) | (c[1] & 0x3f);
        *s += 2;
        return code >= 0xa0 && code <= 0xa0 + 1001 - 64 ? code - 0xa0 + 64 : -1;
    }
    return -1;
}

/* How many cells the page holds for (l, h); -1 if absent or malformed. */
static int page_cells(const char *page, int l, int h)
{
    const char *end;
    const unsigned char *s = (const unsigned char *)page_weights(page, l, h, &end);
    if (!s)
        return -1;
    int cells = 0;
    while (s < (const unsigned char *)end) {
        if (next_weight(&s) < 0)
            return -1;
        cells++;
    }
    return cells;
}

/* The weight the page holds for (l, h, p, j), in thousandths; -1 if absent. */
static int page_weight(const char *page, int l, int h, int p, int j)
{
    const char *end;
    const unsigned char *s = (const unsigned char *)page_weights(page, l, h, &end);
    if (!s)
        return -1;
    long index = (long)p * (p + 1) / 2 + j;
    for (long i = 0; i < index && s < (const unsigned char *)end; i++)
        if (next_weight(&s) < 0)
            return -1;
    return s < (const unsigned char *)end ? next_weight(&s) : -1;
}

/* Checks a written page: well-formed, clean UTF-8, the counts of its parts. */
static char *check_page(const char *path, int L, int H, int n, int n_steps, size_t *size)
{
    char *page = read_file(path, size);
    expect(page != NULL && *size > 0, "%s: not written", path);
    if (!page)
        return NULL;
    char why[256];
    const char *problem = xml_problem(page, why);
    expect(!problem, "%s: not well-formed: %s", path, problem);
    size_t bad = 0;
    expect(is_clean_utf8(page, *size, &bad), "%s: control byte or bad UTF-8 at byte %zu", path, bad);
    expect(strncmp(page, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0, "%s: no XML declaration", path);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            char attrs[96];
            snprintf(attrs, sizeof attrs, "class=\"weights\" data-layer=\"%d\" data-head=\"%d\">", l, h);
            expect(count_occurrences(page, attrs) == 1, "%s: no single block of weights with %s", path, attrs);
            int cells = page_cells(page, l, h);
            expect(cells == n * (n + 1) / 2, "%s: L%d H%d has %d cells, want %d", path, l, h, cells,
                   n * (n + 1) / 2);
        }
    expect(count_occurrences(page, "class=\"weights\"") == L * H, "%s: %d blocks of weights, want %d", path,
           count_occurrences(page, "class=\"weights\""), L * H);
    expect(count_occurrences(page, "<div class=\"step\"") == n_steps, "%s: %d steps, want %d", path,
           count_occurrences(page, "<div class=\"step\""), n_steps);
    expect(strstr(page, "src=") == NULL && strstr(page, "@import") == NULL && strstr(page, "href=\"http") == NULL &&
               strstr(page, "fetch(") == NULL && strstr(page, "XMLHttpRequest") == NULL,
           "%s: refers to something outside the page", path);
    return page;
}


static void test_html_escaping(const Tokenizer *tok)
{
    const int tokens[] = {TOKEN_BOS, word(" Once"), word(" a<b>"), word(" R&D"), word(" \"hi\""), word(" it's"),
                          word("bad\xff"),  word("tab\tx"), word(" ]]>"), word("\xef\xbf\xbe"), tok->vocab.byte_token['\n'],
                          word(" Lily"), tok->eos_id};
    const int n = (int)(sizeof tokens / sizeof tokens[0]);
    const int L = 2, H = 3;
    AttentionView att = {L, H, n + 2, random_attention(L, H, n, n + 2)};
    Steps s = random_steps(tokens, n, 3, 4, tok->vocab_size);
    char path[256], err[ERROR_SIZE] = "";
    snprintf(path, sizeof path, "%s/escaping.html", scratch_dir);
    int status = explain_write_html(path, tok, tokens, n, &att, s.steps, s.n_steps, err);
    expect(status == 0, "explain_write_html: %d, %s", status, err);
    size_t size;
    /* The last step chose the last token, which was never fed: n - 1 positions of attention. */
    char *page = check_page(path, L, H, n - 1, s.n_steps, &size);
    if (page) {
        /* The running text: each token in its span, a newline as an arrow and a line break. */
        const char *wanted[] = {
            "> a&lt;b&gt;</span>", "> R&amp;D</span>", "> &quot;hi&quot;</span>",
            "> it&#39;s</span>", ">bad\\xff</span>", ">tab\\x09x</span>",
            "> ]]&gt;</span>", ">\\xef\\xbf\\xbe</span>", ">\xe2\x86\xb5</span><br/>",
            ">&lt;/s&gt;</span>", ">&lt;s&gt;</span>",
            ">Once</span>", /* the text's first word has no leading space */
        };
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
            expect(strstr(page, wanted[i]) != NULL, "page lacks %s", wanted[i]);
        /* Every weight, decoded here, is the one given, rounded to 3 decimals. */
        int wrong = 0;
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                for (int p = 0; p < n - 1; p++)
                    for (int j = 0; j <= p; j++)
                        wrong += page_weight(page, l, h, p, j) != (int)lrintf(weight(&att, l, h, p, j) * 1000);
        expect(wrong == 0, "%d weights differ from the data", wrong);
        expect(count_occurrences(page, "<div class=\"bar chosen\">") == s.n_steps, "%d chosen bars, want %d",
               count_occurrences(page, "<div class=\"bar chosen\">"), s.n_steps);
    }
    free(page);
    steps_free(&s);
    free((float *)att.a);
    report("attention page: well-formed XML, token text escaped, weights exact to 3 decimals");
}

/* A stories260K-shaped page: 5 layers x 8 heads x 100 tokens, 99 steps
 * (every token after BOS chosen by the model). */
static void test_html_full_size(const Tokenizer *tok, const char *keep_path, const char *label)
{
    const int L = 5, H = 8, n = 100;
    int *tokens = malloc(n * sizeof(int));
    int *encoded = NULL;
    const char *story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                        "park with her friend, a big brown dog. One day, Lily & the dog found a shiny <red> ball "
                        "under a tree. \"Look!\" said Lily. They played all day until the sun went down, and then "
                        "they went home happy and tired. The end. Once upon a time there was a boy named Tim.";
    int count = tokenizer_encode(tok, story, strlen(story), true, false, &encoded);
    for (int p = 0; p < n; p++)
        tokens[p] = count > 0 ? encoded[p % count] : TOKEN_BOS;
    free(encoded);
    AttentionView att = {L, H, n, random_attention(L, H, n, n)};
    Steps s = random_steps(tokens, n, 0, 5, tok->vocab_size);
    char path[256], err[ERROR_SIZE] = "";
    snprintf(path, sizeof path, "%s/full.html", scratch_dir);
    if (keep_path)
        snprintf(path, sizeof path, "%s", keep_path);
    int status = explain_write_html(path, tok, tokens, n, &att, s.steps, s.n_steps, err);
    expect(status == 0, "explain_write_html: %d, %s", status, err);
    size_t size = 0;
    char *page = check_page(path, L, H, n - 1, s.n_steps, &size);
    /* Compact: about a byte per cell, 202,000 cells. */
    expect(size < 1000000, "%s: %zu bytes", path, size);
    printf("# %s: %d layers x %d heads x %d tokens, %d steps: %zu bytes\n", path, L, H, n, s.n_steps, size);
    free(page);
    steps_free(&s);
    free(tokens);
    free((float *)att.a);
    report(label);
}

static void test_html_small_cases(const Tokenizer *tok)
{
    char path[256], err[ERROR_SIZE] = "";
    size_t size;
    /* Only BOS, nothing generated. */
    const int bos = TOKEN_BOS;
    AttentionView att = {2, 2, 1, random_attention(2, 2, 1, 1)};
    snprintf(path, sizeof path, "%s/one.html", scratch_dir);
    expect(explain_write_html(path, tok, &bos, 1, &att, NULL, 0, err) == 0, "one token: %s", err);
    free(check_page(path, 2, 2, 1, 0, &size));
    /* No attention at all: the text and the steps only. */
    const int tokens[] = {TOKEN_BOS, word(" Lily"), word(" girl")};
    Steps s = random_steps(tokens, 3, 0, 3, tok->vocab_size);
    snprintf(path, sizeof path, "%s/no_attention.html", scratch_dir);
    expect(explain_write_html(path, tok, tokens, 3, NULL, s.steps, s.n_steps, err) == 0, "no attention: %s", err);
    free(check_page(path, 0, 0, 3, s.n_steps, &size));
    /* Token ids from another vocabulary are shown, not read past the tables. */
    const int odd[] = {TOKEN_BOS, tok->vocab_size + 5, -3};
    snprintf(path, sizeof path, "%s/odd.html", scratch_dir);
    expect(explain_write_html(path, tok, odd, 3, NULL, NULL, 0, err) == 0, "odd ids: %s", err);
    char *page = check_page(path, 0, 0, 3, 0, &size);
    expect(page && strstr(page, "&lt;id -3?&gt;"), "no placeholder for id -3");
    free(page);
    steps_free(&s);
    free((float *)att.a);
    report("attention page: one token, no attention, ids outside the vocabulary");
}

static void test_html_errors(const Tokenizer *tok)
{
    const int tokens[] = {TOKEN_BOS, word(" Lily")};
    AttentionView att = {1, 1, 2, random_attention(1, 1, 2, 2)};
    char err[ERROR_SIZE] = "";
    const char *path = "/nonexistent/dir/x.html";
    int status = explain_write_html(path, tok, tokens, 2, &att, NULL, 0, err);
    expect(status == -1, "unwritable path: returned %d", status);
    expect(strncmp(err, "/nonexistent/dir/x.html: ", strlen(path) + 2) == 0 && strstr(err, "No such file"),
           "unwritable path: '%s'", err);

    char dir_path[256];
    snprintf(dir_path, sizeof dir_path, "%s", scratch_dir);  /* a directory */
    err[0] = '\0';
    expect(explain_write_html(dir_path, tok, tokens, 2, &att, NULL, 0, err) == -1 && strstr(err, dir_path) == err,
           "a directory: '%s'", err);

    /* Rows narrower than the tokens: refused before anything is written. */
    char path2[256];
    snprintf(path2, sizeof path2, "%s/short.html", scratch_dir);
    AttentionView narrow = {1, 1, 1, att.a};
    err[0] = '\0';
    expect(explain_write_html(path2, tok, tokens, 2, &narrow, NULL, 0, err) == -1 && strstr(err, "fewer than"),
           "stride < n: '%s'", err);
    expect(access(path2, F_OK) != 0, "stride < n: %s was written", path2);

    if (access("/dev/full", W_OK) == 0) {
        err[0] = '\0';
        expect(explain_write_html("/dev/full", tok, tokens, 2, &att, NULL, 0, err) == -1 &&
                   strstr(err, "/dev/full: cannot write"),
               "/dev/full: '%s'", err);
    }
    free((float *)att.a);
    report("attention page: write errors name the path");
}

/* ---------------------------------------------------------------------------*/
/* The Inspector, as run.c drives it: the prompt, attention rows through its
 * observer, a step's candidates and choice, the chosen tokens, and the page;
 * and its refusals (a record too large, a page that cannot be written). */
static void test_inspector(const Tokenizer *tok)
{
    enum { L = 2, H = 3, CAPACITY = 4 };
    const Config c = {.n_layers = L, .n_heads = H, .vocab_size = tok->vocab_size};
    const int prompt[2] = {TOKEN_BOS, word(" Once")};
    char path[512], err[ERROR_SIZE] = "";
    const Config huge = {.n_layers = 1 << 14, .n_heads = H, .vocab_size = tok->vocab_size};
    expect(inspector_new(&huge, 100, prompt, 2, false, NULL, err) == NULL && strstr(err, "shorten the run with -n"),
           "a record of 2 GiB: %s", err);
    expect(inspector_new(&c, CAPACITY, prompt, 2, false, "/nonexistent/dir/x.html", err) == NULL &&
               strstr(err, "/nonexistent/dir/x.html: cannot write the attention page"),
           "an unwritable page: %s", err);

    snprintf(path, sizeof path, "%s/inspector.html", scratch_dir);
    Inspector *in = inspector_new(&c, CAPACITY, prompt, 2, false, path, err);
    expect(in != NULL, "inspector_new: %s", err);
    if (!in)
        return;
    expect(!inspector_prints_steps(in), "prints steps without -m explain");
    /* Every row the forward pass would hand over for positions 0..CAPACITY, the last one past the record. */
    const AttentionObserver *observer = inspector_observer(in);
    float weights[CAPACITY + 1];
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++)
            for (int pos = 0; pos <= CAPACITY; pos++) {
                for (int j = 0; j <= pos; j++)
                    weights[j] = 1.0f / (pos + 1);
                observer->row(observer->context, l, h, pos, weights, pos + 1);
            }
    /* One step at position 1: " upon" is the likeliest and chosen. */
    float *logits = calloc(tok->vocab_size, sizeof(float));
    logits[word(" upon")] = 5.0f;
    logits[word(" a")] = 4.0f;
    inspector_candidates(in, logits, 1);
    inspector_choice(in, tok, word(" upon"));
    inspector_add_token(in, word(" upon"));
    for (int i = 0; i < 3; i++)  /* past capacity + 1 tokens: dropped */
        inspector_add_token(in, word(" a"));
    int n;
    const int *text = inspector_tokens(in, &n);
    expect(n == CAPACITY + 1 && text[0] == TOKEN_BOS && text[1] == word(" Once") && text[2] == word(" upon"),
           "the text holds %d tokens", n);
    expect(inspector_write_page(in, tok, err) == 0, "inspector_write_page: %s", err);
    size_t size;
    char *page = check_page(path, L, H, CAPACITY, 1, &size);
    if (page) {
        expect(strstr(page, "<div class=\"bar chosen\"><span class=\"k\">' upon'") != NULL,
               "the page does not mark ' upon' as chosen");
        expect(page_weight(page, 1, 2, 3, 1) == 250, "the page holds %d, not the observed 0.250 of L1 H2, 3 -> 1",
               page_weight(page, 1, 2, 3, 1));
    }
    free(page);
    free(logits);
    inspector_free(in);
    remove(path);
    report("inspector: prompt, observed attention, a step, the text and its page; too large or unwritable refused");
}

/* The logit lens and direct logit attribution on a real forward pass (a
 * prompt batch, then decoding steps), with the inspector watching. After the
 * last layer the lens must give the logits the forward pass gave, to float
 * precision: it reads the stream the classifier reads. The parts of the
 * chosen token's logit must sum to it within 1e-4 (relative, for a logit
 * above 1): the split leaves nothing out. */
static void test_lens_and_attribution(const char *path)
{
    char err[ERROR_SIZE] = "";
    Model model;
    RunState state;
    if (model_load(&model, path, err) != 0) {
        printf("not ok - logit lens and attribution: %s\n", err);
        n_failed++;
        return;
    }
    enum { N_PROMPT = 6, STEPS = 10 };
    /* stories260K's "Once upon a time," (tok512 ids); any vocabulary has them */
    int prompt[N_PROMPT] = {TOKEN_BOS, 403, 407, 261, 378, 429};
    for (int i = 0; i < N_PROMPT; i++)
        prompt[i] %= model.config.vocab_size;
    Inspector *in = NULL;
    if (run_state_init(&state, &model.config, N_PROMPT, err) == 0) {
        in = inspector_new(&model.config, STEPS, prompt, N_PROMPT, false, NULL, err);
        expect(in && inspector_watch_model(in, &model, &state, err) == 0, "inspector: %s", err);
    } else {
        expect(false, "run_state_init: %s", err);
    }
    if (in) {
        state.observer = inspector_observer(in);
        expect(inspector_lens_error(in) == -1, "a lens error before any step");
        float *logits = forward(&model, &state, prompt, N_PROMPT, 0, LOGITS_LAST);
        int token = 0, steps = 0;
        for (int pos = N_PROMPT - 1; pos < STEPS - 1; pos++, steps++) {
            inspector_candidates(in, logits, pos);
            token = 0;
            for (int i = 1; i < model.config.vocab_size; i++)
                if (logits[i] > logits[token])
                    token = i;
            inspector_choice(in, NULL, token);
            inspector_add_token(in, token);
            logits = forward(&model, &state, &token, 1, pos + 1, LOGITS_LAST);
        }
        float error = inspector_lens_error(in);
        expect(steps > 1 && error >= 0 && error <= 1e-6f, "the last layer's lens is off the logits by %g", error);
        float parts_error = inspector_attribution_error(in);
        expect(parts_error >= 0 && parts_error <= 1e-4f, "the parts' sum is off the chosen logit by %g",
               parts_error);
        inspector_free(in);
        run_state_free(&state);
        if (!failure[0])
            printf("# %s: the parts of the chosen logits sum to them within %.2g\n", path, parts_error);
    }
    model_free(&model);
    char name[600];
    snprintf(name, sizeof name, "%s: the last layer's lens equals the logits, and the parts of each chosen logit "
             "sum to it (a prompt batch and decoding)", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    report(name);
}

static void remove_scratch(void)
{
    const char *names[] = {"tokenizer.bin", "escaping.html", "full.html", "full_tok512.html", "one.html",
                           "no_attention.html", "odd.html", "short.html"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", scratch_dir, names[i]);
        remove(path);
    }
    rmdir(scratch_dir);
}

/* GPT-2's vocabulary names its one marker <|endoftext|> (id 50256, its BOS
 * and EOS, per ../shared/models/README.md): the step's lines show that name,
 * bare, not sentencepiece's <s>. */
static void test_gpt2_marker(const char *models_dir)
{
    char path[512], err[ERROR_SIZE];
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", models_dir);
    Tokenizer gpt2;
    if (tokenizer_load(&gpt2, path, 0, err) != 0) {
        expect(false, "%s", err);
        report("explain text: GPT-2's <|endoftext|> by its name");
        return;
    }
    enum { MARKER = 50256, N = 3 };
    const int tokens[N] = {MARKER, 15496, 995};  /* <|endoftext|> "Hello" " world" */
    const int L = 1, H = 1;
    float weights[N * N] = {1, 0, 0, 0.5f, 0.5f, 0, 0.7f, 0.2f, 0.1f};
    AttentionView att = {L, H, N, weights};
    ProbIndex top[2] = {{MARKER, 0.6f}, {13, 0.4f}};
    StepView step = {.pos = N - 1, .chosen = MARKER, .k = 2, .top = top};
    char *text = print_step(&gpt2, tokens, &step, &att, 3);
    expect(strstr(text, "step 2: <|endoftext|> (p=0.6000)") != NULL, "the chosen marker is not named: %s", text);
    expect(strstr(text, "<|endoftext|>@0 0.7000") != NULL, "the attended marker is not named: %s", text);
    expect(strstr(text, "<s>") == NULL, "sentencepiece's <s> in GPT-2's text: %s", text);
    free(text);
    tokenizer_free(&gpt2);
    report("explain text: GPT-2's <|endoftext|> by its name, not <s>");
}

int main(int argc, char **argv)
{
    /* --model FILE: the lens and attribution checks alone, on that model
     * (tests/test_attribution.sh's random GPT-2 and Qwen files). */
    if (argc == 3 && strcmp(argv[1], "--model") == 0) {
        test_lens_and_attribution(argv[2]);
        return n_failed ? 1 : 0;
    }
    const char *models_dir = argc > 1 ? argv[1] : NULL;
    const char *keep_page = argc > 2 ? argv[2] : NULL;
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[512], err[ERROR_SIZE];
    snprintf(path, sizeof path, "%s/tokenizer.bin", scratch_dir);
    Tokenizer synthetic;
    if (write_synthetic_tokenizer(path) != 0 || tokenizer_load(&synthetic, path, 0, err) != 0) {
        printf("not ok - synthetic tokenizer: %s\n", err);
        remove_scratch();
        return 1;
    }

    int tokens[40];
    const char *text[] = {" Once", " upon", " a", " time", " there", " was", " a", " girl", " named", " Lily", "."};
    tokens[0] = TOKEN_BOS;
    for (int p = 1; p < 40; p++)
        tokens[p] = word(text[(p - 1) % 11]);
    test_print_step(&synthetic, tokens, 40, "explain text: the chosen token, one line per head, the largest weights");
    test_print_escaping(&synthetic);
    test_html_escaping(&synthetic);
    test_html_small_cases(&synthetic);
    test_html_errors(&synthetic);
    test_inspector(&synthetic);

    if (models_dir) {
        test_gpt2_marker(models_dir);
        snprintf(path, sizeof path, "%s/stories260K.bin", models_dir);
        test_lens_and_attribution(path);
        Tokenizer tok512;
        snprintf(path, sizeof path, "%s/tok512.bin", models_dir);
        if (tokenizer_load(&tok512, path, 0, err) != 0) {
            printf("not ok - tok512: %s\n", err);
            n_failed++;
        } else {
            test_html_full_size(&tok512, keep_page, "attention page: 5 layers x 8 heads x 100 tokens with tok512");
            tokenizer_free(&tok512);
        }
    } else {
        test_html_full_size(&synthetic, keep_page, "attention page: 5 layers x 8 heads x 100 tokens");
    }
    tokenizer_free(&synthetic);
    remove_scratch();
    return n_failed ? 1 : 0;
}
