/* explain.c - the text blocks of -m explain and the page of --attention-html,
 * and the Inspector that records what they show during a generation.
 *
 * Both show token text the same way: the bytes tokenizer_decode gives, with
 * control bytes and bytes that are not valid UTF-8 spelled \xNN, so that
 * what is printed is always valid UTF-8 (and, on the page, valid XML) and a
 * newline or a stray byte stays visible. Special tokens are shown bare
 * (<s>), text quoted (" Lily"), so the two can never be confused. */
#include "explain.h"

#include "layers.h"   /* the final norm and the classifier, for the logit lens */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------
 * Growable text: a token's display string is built once, used many times */

typedef struct {
    char *data;
    size_t len, cap;
    bool failed;  /* out of memory: the contents are incomplete */
} Buffer;

static void buffer_add(Buffer *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buffer_str(Buffer *b, const char *s)
{
    buffer_add(b, s, strlen(s));
}

static void buffer_printf(Buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buffer_printf(Buffer *b, const char *fmt, ...)
{
    char text[64];  /* only ever numbers and short labels */
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    if (n > 0)
        buffer_add(b, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* ---------------------------------------------------------------------------
 * Token text */

typedef struct {
    char quote;       /* '"' or '\'' around text (escaped inside as \" or \'), or 0 for none */
    bool xml;         /* escape & < > " ' as entities, for the page */
    bool dot_spaces;  /* spaces as U+00B7: on an axis label a leading space is invisible */
    int max_chars;    /* characters shown before an ellipsis; 0 = all */
    bool newline_arrow;  /* a newline as U+21B5, the running text's line break follows it */
} TokenStyle;

static const TokenStyle STYLE_TEXT = {'"', false, false, 0, false};    /* -m explain */
static const TokenStyle STYLE_TOOLTIP = {'\'', true, false, 0, false};  /* page: bars */
static const TokenStyle STYLE_RUNNING = {0, true, false, 0, true};       /* page: the text itself */

/* One ASCII character, escaped for the style. */
static void add_ascii(Buffer *b, char c, const TokenStyle *style)
{
    if (c == '\\' || (style->quote && c == style->quote))
        buffer_add(b, "\\", 1);
    if (style->dot_spaces && c == ' ') {
        buffer_str(b, "\xc2\xb7");
        return;
    }
    if (style->xml) {
        switch (c) {
        case '&': buffer_str(b, "&amp;"); return;
        case '<': buffer_str(b, "&lt;"); return;
        case '>': buffer_str(b, "&gt;"); return;
        case '"': buffer_str(b, "&quot;"); return;
        case '\'': buffer_str(b, "&#39;"); return;
        default: break;
        }
    }
    buffer_add(b, &c, 1);
}

/* Whether the valid UTF-8 character s (n bytes) should be shown as \xNN
 * bytes: C0 and C1 controls and DEL move the cursor or are invisible, and
 * U+FFFE, U+FFFF are not characters XML allows. */
static bool is_hidden_character(const unsigned char *s, size_t n)
{
    if (n == 1)
        return s[0] < 0x20 || s[0] == 0x7f;
    if (n == 2)
        return s[0] == 0xc2 && s[1] < 0xa0;
    return n == 3 && s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe;
}

/* Bytes as text: valid characters as they are, everything else \xNN. */
static void add_bytes(Buffer *b, const unsigned char *s, size_t len, const TokenStyle *style)
{
    int shown = 0;
    for (size_t i = 0; i < len; shown++) {
        if (style->max_chars > 0 && shown == style->max_chars) {
            buffer_str(b, "\xe2\x80\xa6");  /* U+2026 ellipsis */
            return;
        }
        size_t n = utf8_char_length(s + i, len - i);
        if (style->newline_arrow && s[i] == '\n') {
            buffer_str(b, "\xe2\x86\xb5");  /* U+21B5 */
            i++;
        } else if (n == 0 || is_hidden_character(s + i, n)) {
            buffer_printf(b, "\\x%02x", s[i]);
            i++;
        } else if (n == 1) {
            add_ascii(b, (char)s[i], style);
            i++;
        } else {
            buffer_add(b, (const char *)s + i, n);
            i += n;
        }
    }
}

/* The bare name of a token that stands for no text, or NULL. A byte-level
 * BPE vocabulary spells its markers itself (GPT-2's <|endoftext|>); a
 * sentencepiece one's are <s> and </s> (llama2.c's tokenizer.bin spells its
 * BOS with newlines around it). */
static const char *special_name(const Tokenizer *tok, int id)
{
    if ((id == tok->bos_id || id == tok->eos_id) && tok->kind == TOKENIZER_BYTE_BPE)
        return vocab_piece_text(&tok->vocab, id);
    if (id == tok->bos_id)
        return "<s>";
    if (id == tok->eos_id)
        return "</s>";
    if (id == TOKEN_UNK && tok->vocab.piece_length[id] == 5 &&
        memcmp(tok->vocab.text + tok->vocab.piece_offset[id], "<unk>", 5) == 0)
        return "<unk>";
    return NULL;
}

/* Appends how token id reads after prev (-1 for none). */
static void add_token(Buffer *b, const Tokenizer *tok, int prev, int id, const TokenStyle *style)
{
    if (id < 0 || id >= tok->vocab_size) {
        /* Not from this vocabulary: say so rather than read past the tables. */
        char name[32];
        snprintf(name, sizeof name, "<id %d?>", id);
        TokenStyle bare = *style;
        bare.quote = 0, bare.dot_spaces = false, bare.max_chars = 0;
        add_bytes(b, (const unsigned char *)name, strlen(name), &bare);
        return;
    }
    const char *special = special_name(tok, id);
    char byte_name[sizeof "<0xFF>"];
    /* A sentencepiece byte token that is not printable ASCII, by the vocabulary's
     * own name: one byte of a character alone shows nothing readable. */
    if (!special && tok->kind == TOKENIZER_SENTENCEPIECE && vocab_is_byte_token(&tok->vocab, id)) {
        const unsigned char byte = tok->vocab.token_byte[id];
        if ((byte < 0x20 || byte >= 0x7f) && !(byte == '\n' && style->newline_arrow)) {
            snprintf(byte_name, sizeof byte_name, "<0x%02X>", byte);
            special = byte_name;
        }
    }
    if (special) {
        TokenStyle bare = *style;
        bare.quote = 0, bare.max_chars = 0;
        add_bytes(b, (const unsigned char *)special, strlen(special), &bare);
        return;
    }
    size_t len;
    const char *text = tokenizer_decode(tok, prev >= 0 && prev < tok->vocab_size ? prev : -1, id, &len);
    if (style->quote)
        buffer_add(b, &style->quote, 1);
    add_bytes(b, (const unsigned char *)text, len, style);
    if (style->quote)
        buffer_add(b, &style->quote, 1);
}

/* Prints the token to out; an allocation failure shows as "?". */
static void print_token(FILE *out, const Tokenizer *tok, int prev, int id, const TokenStyle *style)
{
    Buffer b = {0};
    add_token(&b, tok, prev, id, style);
    fputs(b.failed || !b.data ? "?" : b.data, out);
    free(b.data);
}

void explain_print_token(FILE *out, const Tokenizer *tok, int prev, int id)
{
    print_token(out, tok, prev, id, &STYLE_TEXT);
}

/* ---------------------------------------------------------------------------
 * -m explain */

static const float *attention_row(const AttentionView *att, int layer, int head, int pos)
{
    return att->a + ((size_t)(layer * att->n_heads + head) * att->stride + pos) * att->stride;
}

/* What values are ranked by: themselves, or their magnitude. NaN sorts
 * below everything, so a broken row still prints something sensible. */
static float sort_key(float w, bool magnitude)
{
    return isnan(w) ? -INFINITY : magnitude ? fabsf(w) : w;
}

/* The next position after (prev_w, prev_j) in the order "key descending,
 * position ascending" among row[0..n), or -1, where prev_w is the key of
 * prev_j. Picking the top m this way needs no scratch memory, and m is small. */
static int next_largest(const float *row, int n, float prev_w, int prev_j, bool magnitude)
{
    int best = -1;
    for (int j = 0; j < n; j++) {
        float w = sort_key(row[j], magnitude);
        bool after = prev_j < 0 || w < prev_w || (w == prev_w && j > prev_j);
        if (after && (best < 0 || w > sort_key(row[best], magnitude)))
            best = j;
    }
    return best;
}

#define EXPLAIN_TOP_PARTS 8  /* -m explain: the largest shares of the chosen token's logit */

/* Two lines: the chosen token's logit as the sum of each kind's shares, and
 * the largest shares (by magnitude) of single parts. */
static void print_attribution(FILE *out, const StepView *step)
{
    const int n = attribution_count(step->shape);
    double totals[PART_KINDS] = {0};
    bool present[PART_KINDS] = {false};
    for (int i = 0; i < n; i++) {
        int layer, head;
        PartKind kind = attribution_part(step->shape, i, &layer, &head);
        totals[kind] += step->parts[i];
        present[kind] = true;
    }
    fprintf(out, "  logit: %.4f =", step->logit);
    for (int k = 0, shown = 0; k < PART_KINDS; k++)
        if (present[k])
            fprintf(out, "%s%s %+.4f", shown++ ? " | " : " ", attribution_kind_name((PartKind)k), totals[k]);
    fprintf(out, "\n  shares:");
    float key = 0;
    for (int i = 0, j = -1; i < EXPLAIN_TOP_PARTS; i++) {
        j = next_largest(step->parts, n, key, j, true);
        if (j < 0)
            break;
        key = sort_key(step->parts[j], true);
        char name[PART_NAME_SIZE];
        attribution_name(step->shape, j, name);
        fprintf(out, "%s%s %+.4f", i ? " | " : " ", name, step->parts[j]);
    }
    fprintf(out, "\n");
}

/* The probability the model gave the token it chose at a step, or -1 when
 * it is not among the candidates. */
static float chosen_probability(const StepView *step)
{
    for (int i = 0; i < step->k; i++)
        if (step->top[i].index == step->chosen)
            return step->top[i].prob;
    return -1;
}

void explain_print_step(FILE *out, const Tokenizer *tok, const int *tokens, const StepView *step,
                        const AttentionView *att, int top_attended)
{
    const int pos = step->pos;
    const int prev = tokens[pos];

    /* The chosen token and its probability, if it is among the candidates. */
    fprintf(out, "step %d: ", pos);
    print_token(out, tok, prev, step->chosen, &STYLE_TEXT);
    float prob = chosen_probability(step);
    if (prob >= 0)
        fprintf(out, " (p=%.4f)\n", prob);
    else
        fprintf(out, " (p=?, not among the top %d)\n", step->k);

    fprintf(out, "  next:");
    for (int i = 0; i < step->k; i++) {
        fprintf(out, "%s", i ? " | " : " ");
        print_token(out, tok, prev, step->top[i].index, &STYLE_TEXT);
        fprintf(out, " %.4f", step->top[i].prob);
    }
    fprintf(out, "\n");

    if (step->lens) {
        fprintf(out, "  lens:");
        for (int l = 0; l < step->n_lens; l++) {
            fprintf(out, "%sL%d ", l ? " | " : " ", l);
            print_token(out, tok, prev, step->lens[l].index, &STYLE_TEXT);
            fprintf(out, " %.4f", step->lens[l].prob);
        }
        fprintf(out, "\n");
    }
    if (step->parts)
        print_attribution(out, step);

    if (!att || !att->a || top_attended <= 0)
        return;
    if (pos >= att->stride) {
        fprintf(out, "  (no attention recorded for position %d)\n", pos);
        return;
    }
    for (int l = 0; l < att->n_layers; l++) {
        for (int h = 0; h < att->n_heads; h++) {
            const float *row = attention_row(att, l, h, pos);
            fprintf(out, "  L%d H%d:", l, h);
            float w = 0;
            for (int i = 0, j = -1; i < top_attended; i++) {
                j = next_largest(row, pos + 1, w, j, false);
                if (j < 0)
                    break;  /* fewer positions than top_attended */
                w = sort_key(row[j], false);
                fprintf(out, "%s", i ? "  " : " ");
                print_token(out, tok, j > 0 ? tokens[j - 1] : -1, tokens[j], &STYLE_TEXT);
                fprintf(out, "@%d %.4f", j, row[j]);
            }
            fprintf(out, "\n");
        }
    }
}

/* ---------------------------------------------------------------------------
 * --attention-html: the attention weights, as compact text
 *
 * Every head's weights go into the page as text, one character per cell of
 * its lower triangle, row by row (query p = 0 .. n-1, keys j = 0 .. p), and
 * a small script in the page draws the chosen head on a <canvas>: nothing
 * per cell in the document, so the page grows with layers x heads x n^2 / 2
 * bytes and no more (22 layers x 32 heads over 256 tokens: about 24 MB).
 *
 * A cell holds its weight rounded to 3 decimals, v = round(1000 w), exactly
 * the value the page shows: v < 64 as the ASCII character 0x3F + v (one
 * byte), larger v as the character U+00A0 + v - 64 (two bytes of UTF-8).
 * Attention over many tokens is mostly small weights, so most cells take one
 * byte. Neither range holds < & > or a control character, so the text is
 * the same inside a <script> element of HTML and of XML. A NaN weight is
 * v = 1001. scripts/check_attention_html.py reads it back on its own. */
#define WEIGHT_SCALE 1000
#define WEIGHT_NAN (WEIGHT_SCALE + 1)
#define WEIGHT_ONE_BYTE 64       /* v below this: one ASCII character */
#define WEIGHT_ASCII_BASE 0x3F   /* '?' .. '~' */
#define WEIGHT_WIDE_BASE 0xA0    /* U+00A0 .. U+0449 */

static int quantize_weight(float w)
{
    if (isnan(w))
        return WEIGHT_NAN;
    return (int)lrintf((w < 0 ? 0 : w > 1 ? 1 : w) * WEIGHT_SCALE);
}

static void write_weight(FILE *out, int v)
{
    if (v < WEIGHT_ONE_BYTE) {
        putc(WEIGHT_ASCII_BASE + v, out);
        return;
    }
    unsigned code = WEIGHT_WIDE_BASE + (unsigned)(v - WEIGHT_ONE_BYTE);  /* < 0x800: two bytes */
    putc(0xc0 | (code >> 6), out);
    putc(0x80 | (code & 0x3f), out);
}

/* The colour scale: weight w is shown at sqrt(w) along viridis, so a head
 * spreading its attention evenly over 100 tokens (0.01 each) is visibly
 * different from one ignoring them, while weights near 1 stand out. The
 * page's script draws with the same stops. */
#define COLOR_LEVELS 64
#define LEGEND_WIDTH 320
#define LEGEND_BAR_HEIGHT 14

static const unsigned char VIRIDIS[9][3] = {
    {68, 1, 84},    {71, 44, 122},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
    {40, 174, 128}, {94, 201, 98},  {173, 220, 48}, {253, 231, 37},
};

/* "#rrggbb" for a level 0 .. COLOR_LEVELS - 1. */
static void color_hex(char hex[8], int level)
{
    double t = (double)level / (COLOR_LEVELS - 1) * 8;
    int i = t >= 8 ? 7 : (int)t;
    double f = t - i;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lrint(VIRIDIS[i][c] + f * (VIRIDIS[i + 1][c] - VIRIDIS[i][c]));
    snprintf(hex, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* ---------------------------------------------------------------------------
 * --attention-html: the page */

static const char PAGE_CSS[] =
    "html{scroll-padding-top:56px}\n"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "color:#1f2328;background:#f4f4f1}\n"
    "header{position:sticky;top:0;z-index:2;background:#fffffe;border-bottom:1px solid #d8d8d4;"
    "padding:8px 20px;display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 18px}\n"
    "h1{font-size:17px;margin:0}\n"
    "header nav a{color:#0b57d0;text-decoration:none;margin-right:10px;font-size:13px}\n"
    "main{padding:10px 20px 40px}\n"
    "h2{font-size:15px;margin:18px 0 6px}\n"
    ".note{color:#59636e;font-size:12.5px;margin:2px 0 8px}\n"
    ".text{background:#fff;border:1px solid #d8d8d4;border-radius:6px;padding:8px 12px;"
    "white-space:pre-wrap;font-size:15px;line-height:1.8;max-height:14em;overflow:auto}\n"
    ".t{border-radius:3px;padding:1px 0;cursor:pointer}\n"
    ".t.o{box-shadow:inset 0 -1px #d0d0ca}\n"
    ".t:hover{outline:1px solid #888}\n"
    ".t.q{outline:2px solid #e4572e}\n"
    ".t.g{color:#0b3d91}\n"
    ".t.s{color:#8a8f98;font-size:12px}\n"
    ".nl{color:#8a8f98}\n"
    ".key{display:flex;flex-wrap:wrap;align-items:center;gap:6px 20px}\n"
    ".legend text{font-size:10px;fill:#444}\n"
    ".controls{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;margin:6px 0}\n"
    ".controls select{font:inherit}\n"
    ".view{position:relative;display:inline-block;background:#fff;border:1px solid #d8d8d4;padding:6px}\n"
    "canvas#heatmap{display:block;image-rendering:pixelated;cursor:crosshair}\n"
    "#readout{display:block;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;"
    "min-height:1.5em;margin:6px 0;white-space:pre}\n"
    ".steps{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:8px}\n"
    ".step{background:#fff;border:1px solid #d8d8d4;border-radius:6px;padding:5px 8px 6px;font-size:12px}\n"
    ".step:target{outline:2px solid #e4572e}\n"
    ".step .h{color:#59636e;margin-bottom:3px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\n"
    ".step .h b{color:#1f2328}\n"
    ".bar{display:grid;grid-template-columns:8.5em 1fr 3.8em;gap:6px;align-items:center;line-height:1.5}\n"
    ".bar .k{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre;overflow:hidden;"
    "text-overflow:ellipsis}\n"
    ".bar .track{background:#ececea;height:9px;border-radius:2px;overflow:hidden}\n"
    ".bar .track span{display:block;height:100%;background:#7a9cc6}\n"
    ".bar .p{text-align:right;font-variant-numeric:tabular-nums;color:#444}\n"
    ".bar.chosen{font-weight:700}\n"
    ".bar.chosen .track span{background:#e4572e}\n"
    ".bar.chosen .k::before{content:'\\2192 '}\n"
    ".missed{color:#b3261e}\n"
    ".lensbox{overflow-x:auto;background:#fff;border:1px solid #d8d8d4;border-radius:6px}\n"
    "canvas#parts{display:block;cursor:crosshair}\n"
    "#parts-readout{display:block;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;"
    "min-height:1.5em;margin:4px 0}\n"
    "table.lens{border-collapse:collapse;font:12px ui-monospace,Menlo,Consolas,monospace}\n"
    "table.lens th{color:#59636e;font-weight:400;padding:2px 4px;position:sticky;left:0;background:#fff}\n"
    "table.lens td{padding:2px 4px;white-space:pre;border:1px solid #f0f0ec}\n";

/* The page's script: decodes a head's weights (the format above) when it is
 * first shown, draws it on the canvas, and follows the pickers, the mouse
 * and the token clicked. Inside CDATA so that the page stays XML; it holds
 * no "]]>". When ready it writes, for tools, the readout of one cell (the
 * URL's #LAYER,HEAD,QUERY,KEY, else the last query's strongest key) and the
 * milliseconds since the page was asked for (data-ready-ms on <html>). */
static const char PAGE_SCRIPT[] =
    "//<![CDATA[\n"
    "(function () {\n"
    "'use strict';\n"
    "var data = document.getElementById('attention-data');\n"
    "if (!data) return;\n"
    "var n = +data.getAttribute('data-tokens'), L = +data.getAttribute('data-layers'),\n"
    "    H = +data.getAttribute('data-heads');\n"
    "var chunks = {}, decoded = {};\n"
    "/* The text moves into the script's memory: the document stays light. */\n"
    "data.querySelectorAll('script.weights').forEach(function (s) {\n"
    "  chunks[s.getAttribute('data-layer') + ',' + s.getAttribute('data-head')] = s.textContent;\n"
    "  s.remove();\n"
    "});\n"
    "function weights(l, h) {  /* v = round(1000 w) per cell, row after row */\n"
    "  var key = l + ',' + h;\n"
    "  if (decoded[key]) return decoded[key];\n"
    "  var s = chunks[key], a = new Uint16Array(s.length);\n"
    "  for (var i = 0; i !== s.length; i++) {\n"
    "    var c = s.charCodeAt(i);\n"
    "    a[i] = c >= 0xA0 ? c - 0xA0 + 64 : c - 0x3F;\n"
    "  }\n"
    "  return (decoded[key] = a);\n"
    "}\n"
    "function cell(a, p, j) { return a[p * (p + 1) / 2 + j]; }\n"
    "function shown(v) { return v === 1001 ? 'NaN' : (v / 1000).toFixed(3); }\n"
    "var stops = [[68,1,84],[71,44,122],[59,82,139],[44,114,142],[33,145,140],[40,174,128],[94,201,98],\n"
    "             [173,220,48],[253,231,37]];\n"
    "var palette = new Uint8Array(1002 * 3);  /* sqrt(w) along viridis; NaN grey */\n"
    "for (var v = 0; v !== 1002; v++) {\n"
    "  var t = Math.sqrt(Math.min(v, 1000) / 1000) * 8, i = Math.min(7, Math.floor(t)), f = t - i;\n"
    "  for (var k = 0; k !== 3; k++)\n"
    "    palette[v * 3 + k] = v === 1001 ? 154 : Math.round(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));\n"
    "}\n"
    "var tokens = [];\n"
    "document.querySelectorAll('#text .t').forEach(function (e) { tokens[+e.getAttribute('data-p')] = e; });\n"
    "function label(p) {\n"
    "  var e = tokens[p];\n"
    "  if (!e) return '@' + p;\n"
    "  var text = e.textContent;\n"
    "  return (e.classList.contains('s') ? text : \"'\" + text + \"'\") + '@' + p;\n"
    "}\n"
    "var layerPick = document.getElementById('layer'), headPick = document.getElementById('head');\n"
    "var canvas = document.getElementById('heatmap'), readout = document.getElementById('readout');\n"
    "var queryNote = document.getElementById('query');\n"
    "var px = Math.max(1, Math.min(16, Math.floor(720 / Math.max(n, 1))));\n"
    "canvas.style.width = canvas.style.height = n * px + 'px';\n"
    "var layer = 0, head = 0, query = n - 1;\n"
    "function say(p, j) {\n"
    "  readout.textContent = 'L' + layer + ' H' + head + ': ' + label(p) + ' -> ' + label(j) + ' = ' +\n"
    "    shown(cell(weights(layer, head), p, j));\n"
    "}\n"
    "function draw() {\n"
    "  var a = weights(layer, head), ctx = canvas.getContext('2d'), image = ctx.createImageData(n, n);\n"
    "  var d = image.data, at = 0;\n"
    "  for (var p = 0; p !== n; p++) {\n"
    "    for (var j = 0; j !== n; j++, at += 4) {\n"
    "      if (j > p) { d[at] = d[at + 1] = d[at + 2] = 246; d[at + 3] = 255; continue; }\n"
    "      var v = a[p * (p + 1) / 2 + j] * 3;\n"
    "      d[at] = palette[v]; d[at + 1] = palette[v + 1]; d[at + 2] = palette[v + 2]; d[at + 3] = 255;\n"
    "    }\n"
    "  }\n"
    "  ctx.putImageData(image, 0, 0);\n"
    "  if (query >= 0) {  /* the chosen query's row, framed */\n"
    "    ctx.fillStyle = 'rgba(228,87,46,0.9)';\n"
    "    ctx.fillRect(query + 1, query, n - query - 1, 1);\n"
    "  }\n"
    "  highlight();\n"
    "  drawParts();\n"
    "}\n"
    "function highlight() {  /* the query's attention over the text */\n"
    "  var a = weights(layer, head);\n"
    "  tokens.forEach(function (e, j) {\n"
    "    e.classList.toggle('q', j === query);\n"
    "    if (j > query || !(j < n)) { e.style.background = ''; e.removeAttribute('data-w'); return; }\n"
    "    var v = cell(a, query, j), w = v === 1001 ? 0 : v / 1000;\n"
    "    e.style.background = 'rgba(228,87,46,' + Math.sqrt(w).toFixed(3) + ')';\n"
    "    e.setAttribute('data-w', shown(v));\n"
    "  });\n"
    "  queryNote.textContent = 'query ' + label(query) + ': its attention in L' + layer + ' H' + head +\n"
    "    ' shades the text above (click a token, or a row of the map, to choose another)';\n"
    "}\n"
    "/* Direct logit attribution: the query's step, a bar per part. */\n"
    "var partsData = document.getElementById('attribution-data'), partsCanvas = document.getElementById('parts');\n"
    "var partsOut = document.getElementById('parts-readout'), partsNote = document.getElementById('parts-note');\n"
    "var partNames = partsData ? partsData.getAttribute('data-names').split(',') : [], partsOf = {};\n"
    "if (partsData) partsData.querySelectorAll('script.parts').forEach(function (s) {\n"
    "  partsOf[s.getAttribute('data-pos')] = {logit: +s.getAttribute('data-logit'), text: s.textContent};\n"
    "  s.remove();\n"
    "});\n"
    "function partsAt(p) {  /* a step's shares, read when first shown */\n"
    "  var d = partsOf[p];\n"
    "  if (d && !d.v) d.v = d.text.trim().split(' ').map(Number);\n"
    "  return d;\n"
    "}\n"
    "var partPx = Math.max(1, Math.min(12, Math.floor(960 / Math.max(partNames.length, 1))));\n"
    "if (partsCanvas) partsCanvas.width = partNames.length * partPx;\n"
    "function partColor(name) { return / H\\d+$/.test(name) ? '#3b6fb6' : / ffn$/.test(name) ? '#e08a2e' : '#8a8f98'; }\n"
    "function sayPart(i) {\n"
    "  var d = partsAt(query);\n"
    "  if (d && i >= 0 && i < d.v.length)\n"
    "    partsOut.textContent = partNames[i] + ': ' + (d.v[i] >= 0 ? '+' : '') + d.v[i].toFixed(4) + ' of ' +\n"
    "      d.logit.toFixed(4);\n"
    "}\n"
    "function drawParts() {\n"
    "  if (!partsCanvas) return;\n"
    "  var d = partsAt(query), ctx = partsCanvas.getContext('2d'), W = partsCanvas.width, mid = partsCanvas.height / 2;\n"
    "  ctx.clearRect(0, 0, W, partsCanvas.height);\n"
    "  if (!d) { partsNote.textContent = label(query) + ' chose no token: the prompt went on'; partsOut.textContent = ''; return; }\n"
    "  var top = 0, best = 0;\n"
    "  d.v.forEach(function (x, i) { if (Math.abs(x) > top) { top = Math.abs(x); best = i; } });\n"
    "  var scale = top > 0 ? (mid - 2) / top : 0;\n"
    "  ctx.fillStyle = '#bbb'; ctx.fillRect(0, mid, W, 1);\n"
    "  d.v.forEach(function (x, i) {\n"
    "    var layerStart = /^(L\\d+) H0$/.exec(partNames[i]);\n"
    "    if (layerStart) {  /* each layer's parts begin at a rule, labelled */\n"
    "      ctx.fillStyle = '#d8d8d4'; ctx.fillRect(i * partPx, 0, 1, 2 * mid);\n"
    "      ctx.fillStyle = '#59636e'; ctx.font = '10px sans-serif'; ctx.fillText(layerStart[1], i * partPx + 2, 10);\n"
    "    }\n"
    "    var h = Math.max(1, Math.abs(x) * scale);\n"
    "    ctx.fillStyle = partColor(partNames[i]);\n"
    "    ctx.fillRect(i * partPx, x >= 0 ? mid - h : mid + 1, partPx > 3 ? partPx - 1 : partPx, h);\n"
    "  });\n"
    "  partsNote.textContent = label(query) + ' chose ' + label(query + 1) + ': its logit, ' + d.logit.toFixed(4) +\n"
    "    ', is the sum of the bars (hover one for its share)';\n"
    "  sayPart(best);\n"
    "}\n"
    "if (partsCanvas) partsCanvas.addEventListener('mousemove', function (ev) {\n"
    "  var r = partsCanvas.getBoundingClientRect();\n"
    "  sayPart(Math.floor((ev.clientX - r.left) / r.width * partNames.length));\n"
    "});\n"
    "function pick() { layer = +layerPick.value; head = +headPick.value; draw(); }\n"
    "layerPick.addEventListener('change', pick);\n"
    "headPick.addEventListener('change', pick);\n"
    "function cellAt(ev) {\n"
    "  var r = canvas.getBoundingClientRect();\n"
    "  return [Math.floor((ev.clientY - r.top) / r.height * n), Math.floor((ev.clientX - r.left) / r.width * n)];\n"
    "}\n"
    "canvas.addEventListener('mousemove', function (ev) {\n"
    "  var c = cellAt(ev);\n"
    "  if (c[0] >= 0 && c[0] < n && c[1] >= 0 && c[1] <= c[0]) say(c[0], c[1]);\n"
    "});\n"
    "canvas.addEventListener('click', function (ev) {\n"
    "  var c = cellAt(ev);\n"
    "  if (c[0] >= 0 && c[0] < n) { query = c[0]; draw(); }\n"
    "});\n"
    "tokens.forEach(function (e, p) {\n"
    "  e.addEventListener('click', function () { if (p < n) { query = p; draw(); } });\n"
    "  e.addEventListener('mouseenter', function () { if (p <= query && p < n) say(query, p); });\n"
    "});\n"
    "var probe = /^#(\\d+),(\\d+),(\\d+),(\\d+)$/.exec(location.hash), key = 0;\n"
    "if (probe && +probe[1] < L && +probe[2] < H && +probe[4] <= +probe[3] && +probe[3] < n) {\n"
    "  layer = +probe[1]; head = +probe[2]; query = +probe[3]; key = +probe[4];\n"
    "} else if (n > 0) {\n"
    "  var a = weights(0, 0);\n"
    "  for (var j = 1; j <= query; j++) if (cell(a, query, j) > cell(a, query, key)) key = j;\n"
    "}\n"
    "layerPick.value = String(layer); headPick.value = String(head);\n"
    "if (n > 0) { draw(); say(query, key); }\n"
    "document.documentElement.setAttribute('data-ready-ms', performance.now().toFixed(0));\n"
    "})();\n"
    "//]]>\n";

/* What the page needs about each position, computed once. */
typedef struct {
    int n;
    int *step_of;        /* (n) the step that chose the token at this position, or -1 */
} PageTokens;

static int page_tokens_init(PageTokens *pt, int n, const StepView *steps, int n_steps)
{
    pt->n = n;
    pt->step_of = malloc((n > 0 ? (size_t)n : 1) * sizeof(int));
    if (!pt->step_of)
        return -1;
    for (int p = 0; p < n; p++)
        pt->step_of[p] = -1;
    for (int s = 0; s < n_steps; s++) {
        int p = steps[s].pos + 1;
        if (p > 0 && p < n && pt->step_of[p] < 0)
            pt->step_of[p] = s;
    }
    return 0;
}

static void page_tokens_free(PageTokens *pt)
{
    free(pt->step_of);
}

static void write_head(FILE *out, int n, const AttentionView *att, int n_steps, bool steps_have_lens,
                       bool steps_have_parts)
{
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<!DOCTYPE html>\n"
            "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\" xml:lang=\"en\">\n"
            "<head>\n<meta charset=\"utf-8\"/>\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
            "<title>Attention: %d tokens", n);
    if (att)
        fprintf(out, ", %d layers \xc3\x97 %d heads", att->n_layers, att->n_heads);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", PAGE_CSS);
    fprintf(out, "<header><h1>What the model attends to</h1><nav><a href=\"#text\">text</a>");
    if (att)
        fprintf(out, "<a href=\"#attention\">attention</a>");
    if (n_steps > 0 && steps_have_lens)
        fprintf(out, "<a href=\"#lens\">logit lens</a>");
    if (steps_have_parts)
        fprintf(out, "<a href=\"#attribution\">attribution</a>");
    if (n_steps > 0)
        fprintf(out, "<a href=\"#steps\">next-token choices</a>");
    fprintf(out, "</nav></header>\n<main>\n");
}

static void write_text_section(FILE *out, const Tokenizer *tok, const int *tokens, const PageTokens *pt,
                               const StepView *steps, bool attention)
{
    int generated = 0;
    for (int p = 0; p < pt->n; p++)
        generated += pt->step_of[p] >= 0;
    fprintf(out,
            "<section id=\"text\"><h2>The text</h2>\n"
            "<p class=\"note\">%d tokens: %d fed as the prompt, %d chosen by the model (dark blue; its "
            "candidates are under next-token choices). Hover a token for its position%s.</p>\n"
            "<div class=\"text\">",
            pt->n, pt->n - generated, generated,
            attention ? "; click one to see where it looks (attention below)" : "");
    for (int p = 0; p < pt->n; p++) {
        int prev = p > 0 ? tokens[p - 1] : -1;
        bool special = tokens[p] >= 0 && tokens[p] < tok->vocab_size && special_name(tok, tokens[p]);
        int s = pt->step_of[p];
        fprintf(out, "<span class=\"t%s%s%s\" data-p=\"%d\" title=\"@%d", special ? " s" : "", p % 2 ? " o" : "",
                s >= 0 ? " g" : "", p, p);
        if (s >= 0) {
            fprintf(out, ", step %d", s);
            float prob = chosen_probability(&steps[s]);
            if (prob >= 0)
                fprintf(out, ", p=%.4f", prob);
        }
        fprintf(out, "\">");
        print_token(out, tok, prev, tokens[p], &STYLE_RUNNING);
        fputs("</span>", out);
        /* A newline token shows as an arrow; the line breaks after it, as in the text. */
        size_t len = 0;
        const char *bytes = special || tokens[p] < 0 || tokens[p] >= tok->vocab_size
                                ? ""
                                : tokenizer_decode(tok, prev, tokens[p], &len);
        if (len > 0 && memchr(bytes, '\n', len))
            fprintf(out, "<br/>");
    }
    fprintf(out, "</div>\n</section>\n");
}

static void write_legend(FILE *out)
{
    const double ticks[] = {0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1};
    const int n_ticks = (int)(sizeof ticks / sizeof ticks[0]);
    const int pad = 12;
    fprintf(out,
            "<div class=\"key\"><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"legend\" width=\"%d\" "
            "height=\"%d\" viewBox=\"%d 0 %d %d\" shape-rendering=\"crispEdges\">",
            LEGEND_WIDTH + 2 * pad, LEGEND_BAR_HEIGHT + 18, -pad, LEGEND_WIDTH + 2 * pad, LEGEND_BAR_HEIGHT + 18);
    double w = (double)LEGEND_WIDTH / COLOR_LEVELS;
    for (int i = 0; i < COLOR_LEVELS; i++) {
        char hex[8];
        color_hex(hex, i);
        fprintf(out, "<rect x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>", i * w, w + 0.3,
                LEGEND_BAR_HEIGHT, hex);
    }
    for (int i = 0; i < n_ticks; i++) {
        double x = sqrt(ticks[i]) * LEGEND_WIDTH;
        fprintf(out,
                "<rect x=\"%.2f\" y=\"%d\" width=\"1\" height=\"3\" fill=\"#444\"/>"
                "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%g</text>",
                x - 0.5, LEGEND_BAR_HEIGHT, x, LEGEND_BAR_HEIGHT + 14, ticks[i]);
    }
    fprintf(out,
            "</svg><p class=\"note\">Colour: attention weight (square-root scale, so small weights "
            "stay visible). Rows: the position attending (query); columns: the positions it attends to "
            "(keys), only earlier ones. Each row sums to 1. Hover a cell for its weight (to 3 decimals); "
            "click a row to make it the query.</p></div>\n");
}

/* The pickers, the canvas, and every head's weights as text (see above). */
static void write_attention_section(FILE *out, const AttentionView *att, int n)
{
    fprintf(out, "<section id=\"attention\"><h2>Attention, per layer and head</h2>\n");
    write_legend(out);
    fprintf(out, "<div class=\"controls\"><label>layer <select id=\"layer\">");
    for (int l = 0; l < att->n_layers; l++)
        fprintf(out, "<option value=\"%d\">%d</option>", l, l);
    fprintf(out, "</select></label><label>head <select id=\"head\">");
    for (int h = 0; h < att->n_heads; h++)
        fprintf(out, "<option value=\"%d\">%d</option>", h, h);
    fprintf(out, "</select></label><span id=\"query\" class=\"note\"></span></div>\n"
                 "<output id=\"readout\"></output>\n"
                 "<div class=\"view\"><canvas id=\"heatmap\" width=\"%d\" height=\"%d\"></canvas></div>\n",
            n, n);
    fprintf(out, "<div id=\"attention-data\" hidden=\"hidden\" data-layers=\"%d\" data-heads=\"%d\" "
                 "data-tokens=\"%d\" data-scale=\"%d\">\n", att->n_layers, att->n_heads, n, WEIGHT_SCALE);
    for (int l = 0; l < att->n_layers; l++) {
        for (int h = 0; h < att->n_heads; h++) {
            fprintf(out, "<script type=\"text/plain\" class=\"weights\" data-layer=\"%d\" data-head=\"%d\">", l, h);
            for (int p = 0; p < n; p++) {
                const float *row = attention_row(att, l, h, p);
                for (int j = 0; j <= p; j++)
                    write_weight(out, quantize_weight(row[j]));
            }
            fprintf(out, "</script>\n");
        }
    }
    fprintf(out, "</div>\n</section>\n");
}

static void write_step(FILE *out, const Tokenizer *tok, const int *tokens, int n, const StepView *step, int s)
{
    /* The candidates follow the token at pos, which decides their leading space. */
    int prev = step->pos >= 0 && step->pos < n ? tokens[step->pos] : -1;
    fprintf(out, "<div class=\"step\" id=\"step-%d\" data-pos=\"%d\" data-chosen=\"%d\"><div class=\"h\">", s,
            step->pos, step->chosen);
    if (prev >= 0)
        print_token(out, tok, step->pos > 0 ? tokens[step->pos - 1] : -1, prev, &STYLE_TOOLTIP);
    fprintf(out, " \xe2\x86\x92 <b>");
    print_token(out, tok, prev, step->chosen, &STYLE_TOOLTIP);
    fprintf(out, "</b> @%d</div>\n", step->pos + 1);
    bool shown = false;
    for (int i = 0; i < step->k; i++) {
        float p = step->top[i].prob;
        double width = isfinite(p) ? fmin(1, fmax(0, p)) * 100 : 0;
        bool chosen = step->top[i].index == step->chosen && !shown;
        shown |= chosen;
        fprintf(out, "<div class=\"bar%s\"><span class=\"k\">", chosen ? " chosen" : "");
        print_token(out, tok, prev, step->top[i].index, &STYLE_TOOLTIP);
        fprintf(out, "</span><span class=\"track\"><span style=\"width:%.1f%%\"></span></span>"
                     "<span class=\"p\">%.4f</span></div>\n", width, p);
    }
    if (!shown)
        fprintf(out, "<div class=\"missed\">chosen outside the top %d</div>\n", step->k);
    fprintf(out, "</div>\n");
}

/* The logit lens as a grid: a row per layer, a column per step, each cell
 * the layer's likeliest token shaded by its probability. */
/* The first step with an attribution, or NULL. */
static const StepView *first_attributed(const StepView *steps, int n_steps)
{
    for (int s = 0; s < n_steps; s++)
        if (steps[s].parts)
            return &steps[s];
    return NULL;
}

/* Direct logit attribution: the parts' names once, then per step its shares
 * as text (5 significant digits), drawn as bars by the page's script for the
 * chosen query's step. About 8 bytes a part a step: 727 parts (22 layers x
 * 32 heads) over 255 steps add 1.5 MB. */
static void write_attribution_section(FILE *out, const StepView *steps, int n_steps)
{
    const StepView *first = first_attributed(steps, n_steps);
    if (!first)
        return;
    const AttributionShape *shape = first->shape;
    const int n_parts = attribution_count(shape);
    fprintf(out,
            "<section id=\"attribution\"><h2>Which parts chose the token: direct logit attribution</h2>\n"
            "<p class=\"note\">For the query above (click a token), the share of the chosen next token's logit "
            "that each part of the network added directly: a bar per part, in order (embedding, then per layer "
            "its heads in blue and its feed-forward block in orange), up for a part that raised the logit, down "
            "for one that lowered it. The final norm's scale at that position is held fixed, so the shares "
            "sum to the logit.</p>\n"
            "<p class=\"note\" id=\"parts-note\"></p><output id=\"parts-readout\"></output>\n"
            "<div class=\"view\"><canvas id=\"parts\" width=\"%d\" height=\"160\"></canvas></div>\n"
            "<div id=\"attribution-data\" hidden=\"hidden\" data-parts=\"%d\" data-names=\"",
            n_parts, n_parts);
    for (int i = 0; i < n_parts; i++) {
        char name[PART_NAME_SIZE];
        attribution_name(shape, i, name);
        fprintf(out, "%s%s", i ? "," : "", name);
    }
    fprintf(out, "\">\n");
    for (int s = 0; s < n_steps; s++) {
        if (!steps[s].parts)
            continue;
        fprintf(out, "<script type=\"text/plain\" class=\"parts\" data-pos=\"%d\" data-chosen=\"%d\" "
                     "data-logit=\"%.7g\">", steps[s].pos, steps[s].chosen, steps[s].logit);
        for (int i = 0; i < n_parts; i++)
            fprintf(out, "%s%.5g", i ? " " : "", steps[s].parts[i]);
        fprintf(out, "</script>\n");
    }
    fprintf(out, "</div>\n</section>\n");
}

static void write_lens_section(FILE *out, const Tokenizer *tok, const int *tokens, int n, const StepView *steps,
                               int n_steps)
{
    int n_layers = 0;
    for (int s = 0; s < n_steps; s++)
        if (steps[s].lens && steps[s].n_lens > n_layers)
            n_layers = steps[s].n_lens;
    if (n_layers == 0)
        return;
    fprintf(out,
            "<section id=\"lens\"><h2>Logit lens: the prediction after each layer</h2>\n"
            "<p class=\"note\">Each column is a step; row L is the token the model would predict had it "
            "stopped after layer L (the final norm and the classifier applied to the residual stream), "
            "shaded by its probability. The last row is the model's own prediction.</p>\n"
            "<div class=\"lensbox\"><table class=\"lens\"><tr><th></th>");
    for (int s = 0; s < n_steps; s++)
        fprintf(out, "<th>@%d</th>", steps[s].pos + 1);
    fprintf(out, "</tr>\n");
    for (int l = 0; l < n_layers; l++) {
        fprintf(out, "<tr data-layer=\"%d\"><th>L%d</th>", l, l);
        for (int s = 0; s < n_steps; s++) {
            const StepView *step = &steps[s];
            if (!step->lens || l >= step->n_lens) {
                fprintf(out, "<td></td>");
                continue;
            }
            const ProbIndex *c = &step->lens[l];
            int prev = step->pos >= 0 && step->pos < n ? tokens[step->pos] : -1;
            float p = isfinite(c->prob) ? fminf(1, fmaxf(0, c->prob)) : 0;
            fprintf(out, "<td data-token=\"%d\" data-p=\"%.4f\" style=\"background:rgba(122,156,198,%.2f)\">",
                    c->index, c->prob, p);
            print_token(out, tok, prev, c->index, &STYLE_TOOLTIP);
            fprintf(out, "</td>");
        }
        fprintf(out, "</tr>\n");
    }
    fprintf(out, "</table></div>\n</section>\n");
}

static void write_steps_section(FILE *out, const Tokenizer *tok, const int *tokens, int n, const StepView *steps,
                                int n_steps)
{
    fprintf(out,
            "<section id=\"steps\"><h2>Next-token choices</h2>\n"
            "<p class=\"note\">At each step, the most likely next tokens and their probabilities; "
            "the arrow and the red bar mark the token chosen.</p>\n<div class=\"steps\">\n");
    for (int s = 0; s < n_steps; s++)
        write_step(out, tok, tokens, n, &steps[s], s);
    fprintf(out, "</div>\n</section>\n");
}


int explain_write_html(const char *path, const Tokenizer *tok, const int *tokens, int n, const AttentionView *att,
                       const StepView *steps, int n_steps, char err[ERROR_SIZE])
{
    if (n < 0 || n_steps < 0)
        return file_error(err, path, "nothing to show (%d tokens, %d steps)", n, n_steps);
    if (att && !att->a)
        att = NULL;
    /* The attention covers the positions computed: every token but a last
     * one chosen by the last step, which was never fed back. */
    const int n_att = n_steps > 0 && steps[n_steps - 1].pos == n - 2 ? n - 1 : n;
    if (att && (att->stride < n_att || att->n_layers < 0 || att->n_heads < 0))
        return file_error(err, path, "the attention record holds %d positions, fewer than the %d tokens",
                         att->stride, n_att);
    PageTokens pt;
    if (page_tokens_init(&pt, n, steps, n_steps) != 0) {
        page_tokens_free(&pt);
        return file_error(err, path, "out of memory");
    }
    FILE *out = fopen(path, "w");
    if (!out) {
        int saved = errno;
        page_tokens_free(&pt);
        return file_error(err, path, "cannot write: %s", strerror(saved));
    }
    /* A page is millions of one-character writes: buffer them generously. */
    setvbuf(out, NULL, _IOFBF, 1 << 16);

    int status = 0;
    write_head(out, n, att, n_steps, n_steps > 0 && steps[n_steps - 1].lens, att && first_attributed(steps, n_steps));
    write_text_section(out, tok, tokens, &pt, steps, att != NULL);
    if (att)
        write_attention_section(out, att, n_att);
    if (att)
        write_attribution_section(out, steps, n_steps);
    write_lens_section(out, tok, tokens, n, steps, n_steps);
    if (n_steps > 0)
        write_steps_section(out, tok, tokens, n, steps, n_steps);
    if (att)
        fprintf(out, "<script>\n%s</script>\n", PAGE_SCRIPT);
    fprintf(out, "</main>\n</body>\n</html>\n");
    page_tokens_free(&pt);

    int saved = 0;
    if (fflush(out) != 0 || ferror(out))
        saved = errno ? errno : EIO;
    /* A half-written page would look complete in a browser: remove it, if it
     * is a file (never, say, /dev/full). */
    struct stat st;
    bool regular = fstat(fileno(out), &st) == 0 && S_ISREG(st.st_mode);
    if (fclose(out) != 0 && !saved)
        saved = errno ? errno : EIO;
    if (status != 0 || saved) {
        if (regular)
            remove(path);
        if (status != 0)
            return file_error(err, path, "out of memory");
        return file_error(err, path, "cannot write: %s", strerror(saved));
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * The Inspector */

#define EXPLAIN_CANDIDATES 5               /* next-token candidates kept per step */
#define EXPLAIN_ATTENDED 3                 /* -m explain: earlier tokens shown per layer and head */
#define ATTENTION_RECORD_MAX (1ull << 30)  /* bytes of attention weights kept for the page */

struct Inspector {
    bool print_steps;       /* -m explain: a block per step on stdout */
    const char *html_path;  /* --attention-html, or NULL */
    int n_layers, n_heads, vocab_size;
    int capacity;           /* positions recorded */
    int *tokens;            /* (capacity + 1) the text: prompt, then chosen tokens */
    int n_tokens;
    StepView *steps;        /* (capacity) */
    ProbIndex *candidates;  /* (capacity, EXPLAIN_CANDIDATES) the steps' top */
    int n_steps;
    float *attention;       /* (n_layers, n_heads, capacity, capacity) */
    float *probs;           /* (vocab_size) scratch: a step's probabilities */
    ProbIndex *ranked;      /* (vocab_size) scratch: them ranked */
    AttentionObserver observer;
    /* The logit lens (inspector_watch_model), or model NULL. */
    const Model *model;
    RunState *state;
    float *residual;        /* (n_layers, dim) the stream after each layer, at residual_pos */
    int residual_pos;
    ProbIndex *lens;        /* (capacity, n_layers) each step's lens */
    float lens_error;
    /* Direct logit attribution (with the lens): the blocks' outputs at block_pos. */
    AttributionShape shape;
    int n_parts;
    float *heads;           /* (n_layers, q_dim) every head's output before wo */
    float *feed_forward;    /* (n_layers, dim) */
    int block_pos;
    float *logits;          /* (vocab_size) the step's logits, before sampling overwrites them */
    float *parts;           /* (capacity, n_parts) each step's shares of its chosen token's logit */
    AttributionScratch attribution;
    float attribution_error;
};

/* The residual observer's callback: rows come in order, so the last one
 * kept for a layer is that of the last token of the forward pass. */
static void record_residual(void *context, int layer, int pos, const float *x, int dim)
{
    Inspector *in = context;
    memcpy(in->residual + (size_t)layer * dim, x, dim * sizeof(float));
    in->residual_pos = pos;
}

/* The block observer's callback: as record_residual, the last row of a
 * forward pass stays. */
static void record_block(void *context, int layer, BlockOutput what, int pos, const float *out, int width)
{
    Inspector *in = context;
    float *to = what == BLOCK_ATTENTION_HEADS ? in->heads : in->feed_forward;
    memcpy(to + (size_t)layer * width, out, width * sizeof(float));
    in->block_pos = pos;
}

/* The attention observer's callback: rows are disjoint, so threads need no lock. */
static void record_attention_row(void *context, int layer, int head, int pos, const float *weights, int n)
{
    Inspector *in = context;
    if (pos >= in->capacity)
        return;
    size_t row = ((size_t)layer * in->n_heads + head) * in->capacity + pos;
    memcpy(in->attention + row * in->capacity, weights, n * sizeof(float));
}

Inspector *inspector_new(const Config *c, int capacity, const int *prompt, int n_prompt, bool print_steps,
                         const char *html_path, char err[ERROR_SIZE])
{
    size_t cells = (size_t)c->n_layers * c->n_heads * capacity * capacity;
    if (cells * sizeof(float) > ATTENTION_RECORD_MAX) {
        snprintf(err, ERROR_SIZE, "recording attention over %d positions needs %.1f GiB; shorten the run with -n",
                 capacity, cells * sizeof(float) / (double)(1u << 30));
        return NULL;
    }
    if (html_path) {  /* fail now, not after generating */
        FILE *f = fopen(html_path, "w");
        if (!f) {
            file_error(err, html_path, "cannot write the attention page: %s", strerror(errno));
            return NULL;
        }
        fclose(f);
    }
    Inspector *in = calloc(1, sizeof *in);
    if (in) {
        *in = (Inspector){.print_steps = print_steps, .html_path = html_path, .n_layers = c->n_layers,
                          .n_heads = c->n_heads, .vocab_size = c->vocab_size, .capacity = capacity};
        in->observer = (AttentionObserver){.row = record_attention_row, .context = in};
        in->residual_pos = in->block_pos = -1;
        in->lens_error = in->attribution_error = -1;
        in->tokens = malloc(((size_t)capacity + 1) * sizeof(int));
        in->steps = malloc((size_t)capacity * sizeof(StepView));
        in->candidates = malloc((size_t)capacity * EXPLAIN_CANDIDATES * sizeof(ProbIndex));
        in->attention = calloc(cells, sizeof(float));
        in->probs = malloc((size_t)c->vocab_size * sizeof(float));
        in->ranked = malloc((size_t)c->vocab_size * sizeof(ProbIndex));
    }
    if (!in || !in->tokens || !in->steps || !in->candidates || !in->attention || !in->probs || !in->ranked) {
        inspector_free(in);
        snprintf(err, ERROR_SIZE, "out of memory for the attention record");
        return NULL;
    }
    for (int i = 0; i < n_prompt; i++)
        inspector_add_token(in, prompt[i]);
    return in;
}

void inspector_free(Inspector *in)
{
    if (!in)
        return;
    free(in->tokens), free(in->steps), free(in->candidates), free(in->attention);
    free(in->probs), free(in->ranked), free(in->residual), free(in->lens);
    free(in->heads), free(in->feed_forward), free(in->logits), free(in->parts);
    attribution_scratch_free(&in->attribution);
    free(in);
}

const AttentionObserver *inspector_observer(Inspector *in)
{
    return &in->observer;
}

static AttentionView attention_view(const Inspector *in)
{
    return (AttentionView){in->n_layers, in->n_heads, in->capacity, in->attention};
}

int inspector_watch_model(Inspector *in, const Model *model, RunState *state, char err[ERROR_SIZE])
{
    const Config *c = &model->config;
    in->shape = attribution_shape(model);
    in->n_parts = attribution_count(&in->shape);
    in->residual = malloc((size_t)c->n_layers * c->dim * sizeof(float));
    in->lens = malloc((size_t)in->capacity * c->n_layers * sizeof(ProbIndex));
    in->heads = malloc((size_t)c->n_layers * c->q_dim * sizeof(float));
    in->feed_forward = malloc((size_t)c->n_layers * c->dim * sizeof(float));
    in->logits = malloc((size_t)c->vocab_size * sizeof(float));
    in->parts = malloc((size_t)in->capacity * in->n_parts * sizeof(float));
    if (!in->residual || !in->lens || !in->heads || !in->feed_forward || !in->logits || !in->parts ||
        attribution_scratch_init(&in->attribution, c) != 0) {
        snprintf(err, ERROR_SIZE, "out of memory for the logit lens and attribution");
        return -1;
    }
    in->model = model;
    in->state = state;
    in->observer.residual = record_residual;
    in->observer.block = record_block;
    return 0;
}

float inspector_lens_error(const Inspector *in)
{
    return in->lens_error;
}

float inspector_attribution_error(const Inspector *in)
{
    return in->attribution_error;
}

/* Direct logit attribution of the step just chosen, from the stream and the
 * blocks' outputs its forward pass showed; and how far the shares' sum is
 * from the real logit. */
static void take_attribution(Inspector *in, StepView *step)
{
    if (step->pos != in->residual_pos || step->pos != in->block_pos || step->chosen < 0 ||
        step->chosen >= in->vocab_size)
        return;
    const Config *c = &in->model->config;
    float *parts = in->parts + (size_t)(step - in->steps) * in->n_parts;
    const AttributionInput input = {
        .residual = in->residual + (size_t)(c->n_layers - 1) * c->dim,
        .heads = in->heads,
        .feed_forward = in->feed_forward,
        .token = in->tokens[step->pos],
        .pos = step->pos,
    };
    attribution_compute(parts, in->model, &input, step->chosen, &in->attribution);
    double sum = 0;
    for (int i = 0; i < in->n_parts; i++)
        sum += parts[i];
    const float logit = in->logits[step->chosen];
    float error = (float)(fabs(sum - logit) / fmax(1.0, fabs(logit)));
    if (!(error <= in->attribution_error))
        in->attribution_error = isnan(error) ? INFINITY : error;
    step->parts = parts;
    step->shape = &in->shape;
    step->logit = logit;
}

/* The logit lens of the step just computed: after each layer, the final
 * norm (RMSNorm, or LayerNorm when the model has its shift) and the
 * classifier applied to the stream, as the forward pass applies them after
 * the last layer, and the likeliest token. in->probs holds the logits on
 * the way; the run state's xb row 0 the normalized stream. */
static void take_lens(Inspector *in, const float *logits, StepView *step)
{
    const Config *c = &in->model->config;
    const Weights *w = &in->model->weights;
    RunState *s = in->state;
    ProbIndex *lens = in->lens + (size_t)in->n_steps * c->n_layers;
    for (int l = 0; l < c->n_layers; l++) {
        const float *x = in->residual + (size_t)l * c->dim;
        if (w->output_norm_bias)
            layernorm_rows(s->xb, x, w->output_norm, w->output_norm_bias, 1, c->dim, c->norm_eps);
        else
            rmsnorm_rows(s->xb, x, w->output_norm, 1, c->dim, c->norm_eps);
        linear(in->probs, s->xb, &w->output, NULL, 1, &s->matmul_scratch);
        if (l == c->n_layers - 1) {
            float largest = 0, diff = 0;
            for (int i = 0; i < c->vocab_size; i++) {
                largest = fmaxf(largest, fabsf(logits[i]));
                diff = fmaxf(diff, fabsf(in->probs[i] - logits[i]));
            }
            float error = largest > 0 ? diff / largest : diff;
            if (!(error <= in->lens_error))
                in->lens_error = isnan(error) ? INFINITY : error;
        }
        softmax(in->probs, c->vocab_size);
        int best = 0;
        for (int i = 1; i < c->vocab_size; i++)
            if (in->probs[i] > in->probs[best])
                best = i;
        lens[l] = (ProbIndex){.index = best, .prob = in->probs[best]};
    }
    step->lens = lens;
    step->n_lens = c->n_layers;
}

void inspector_candidates(Inspector *in, const float *logits, int pos)
{
    const int n = in->vocab_size;
    const int k = EXPLAIN_CANDIDATES < n ? EXPLAIN_CANDIDATES : n;
    if (in->n_steps >= in->capacity)
        return;
    /* The model's own prediction: softmax of the logits, no temperature. */
    memcpy(in->probs, logits, n * sizeof(float));
    softmax(in->probs, n);
    top_candidates(in->ranked, in->probs, n, k);
    ProbIndex *top = in->candidates + (size_t)in->n_steps * EXPLAIN_CANDIDATES;
    memcpy(top, in->ranked, k * sizeof(ProbIndex));
    in->steps[in->n_steps] = (StepView){.pos = pos, .chosen = -1, .k = k, .top = top};
    if (in->model && in->residual_pos == pos) {
        take_lens(in, logits, &in->steps[in->n_steps]);
        memcpy(in->logits, logits, n * sizeof(float));
    }
}

void inspector_choice(Inspector *in, const Tokenizer *tok, int chosen)
{
    if (in->n_steps >= in->capacity)
        return;
    StepView *step = &in->steps[in->n_steps++];
    step->chosen = chosen;
    if (in->model && step->pos < in->n_tokens)
        take_attribution(in, step);
    if (in->print_steps) {
        AttentionView view = attention_view(in);
        explain_print_step(stdout, tok, in->tokens, step, &view, EXPLAIN_ATTENDED);
        fflush(stdout);
    }
}

void inspector_add_token(Inspector *in, int token)
{
    if (in->n_tokens <= in->capacity)
        in->tokens[in->n_tokens++] = token;
}

bool inspector_prints_steps(const Inspector *in)
{
    return in->print_steps;
}

const int *inspector_tokens(const Inspector *in, int *n)
{
    *n = in->n_tokens;
    return in->tokens;
}

int inspector_write_page(const Inspector *in, const Tokenizer *tok, char err[ERROR_SIZE])
{
    if (!in->html_path)
        return 0;
    /* Every token, the last one chosen too (explain_write_html shows the
     * attention of the positions computed, which leaves it out); never more
     * positions than were recorded. */
    AttentionView view = attention_view(in);
    int n = in->n_tokens;
    const bool last_chosen = in->n_steps > 0 && in->steps[in->n_steps - 1].pos == n - 2;
    if (n - last_chosen > in->capacity)
        n = in->capacity;
    return explain_write_html(in->html_path, tok, in->tokens, n, &view, in->steps, in->n_steps, err);
}
