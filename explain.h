/* explain.h - showing what the model attends to and how it picks the next
 * token: a plain-text block per generation step (-m explain) and one
 * self-contained XHTML page of attention heatmaps and next-token
 * probabilities (--attention-html), small enough for a real model's 22
 * layers x 32 heads over 256 tokens. The Inspector records them during a
 * run, outside the engine: the forward pass only calls its attention
 * observer (model.h), and the program hands it each step's logits. */
#ifndef EXPLAIN_H
#define EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

#include "attribution.h"  /* AttributionShape: the parts a logit splits into */
#include "model.h"      /* Config, AttentionObserver */
#include "sampler.h"    /* ProbIndex {int index; float prob;} */
#include "tokenizer.h"  /* Tokenizer, tokenizer_decode, ERROR_SIZE */

/* ---------------------------------------------------------------------------
 * The Inspector: a generation, recorded step by step
 *
 *   in = inspector_new(...)                       the prompt's tokens
 *   state.observer = inspector_observer(in)       every attention row, from forward()
 *   per step: inspector_candidates(in, logits)    before sampling overwrites them
 *             inspector_choice(in, tok, chosen)   prints the step (-m explain)
 *             inspector_add_token(in, chosen)     the text so far
 *   inspector_write_page(in, tok)                 --attention-html
 *   inspector_free(in) */
typedef struct Inspector Inspector;

/* Records up to capacity positions of a model of shape c, starting from the
 * prompt's tokens (n_prompt <= capacity). print_steps: -m explain's block
 * per step on stdout; html_path: --attention-html's page, or NULL (created
 * now, so that a path that cannot be written fails before generating).
 * Returns NULL with a message in err. */
Inspector *inspector_new(const Config *c, int capacity, const int *prompt, int n_prompt, bool print_steps,
                         const char *html_path, char err[ERROR_SIZE]);
void inspector_free(Inspector *in);

/* The hook for RunState.observer: keeps every layer's and head's attention
 * row for positions below capacity. */
const AttentionObserver *inspector_observer(Inspector *in);

/* Step at pos: first the candidates the logits offer (before sampling
 * overwrites them), then the token chosen, which prints the step's block
 * when print_steps. */
void inspector_candidates(Inspector *in, const float *logits, int pos);
void inspector_choice(Inspector *in, const Tokenizer *tok, int chosen);

/* A chosen token joins the text (up to capacity + 1 tokens). */
void inspector_add_token(Inspector *in, int token);

/* Whether the steps go to stdout (-m explain): the text then follows them. */
bool inspector_prints_steps(const Inspector *in);

/* The text's tokens: the prompt's, then the chosen ones. */
const int *inspector_tokens(const Inspector *in, int *n);

/* -m explain, --attention-html: the logit lens and direct logit attribution.
 * Watches the residual stream and the blocks' outputs of model's forward
 * pass through the observer; at each step applies the final norm and the
 * classifier to the stream after every layer, with state's scratch (free
 * between forward passes), and splits the chosen token's logit into the
 * shares of the parts of the network (attribution.h). Returns 0, or -1 (out
 * of memory) with a message in err. */
int inspector_watch_model(Inspector *in, const Model *model, RunState *state, char err[ERROR_SIZE]);

/* The largest difference, over the steps so far, between the last layer's
 * lens logits and the real ones, relative to the largest real logit: a
 * check that the lens reads the stream the classifier reads (0 exactly when
 * it does). -1 before any lens was taken. */
float inspector_lens_error(const Inspector *in);

/* The largest difference, over the steps so far, between the sum of a
 * chosen token's shares and its real logit, over max(1, |logit|): nothing is
 * left out of the split when it is float rounding. -1 before any step. */
float inspector_attribution_error(const Inspector *in);

/* Writes the --attention-html page, if one was asked for. Returns 0, or -1
 * with a message in err. */
int inspector_write_page(const Inspector *in, const Tokenizer *tok, char err[ERROR_SIZE]);

/* ---------------------------------------------------------------------------
 * The presentation, on recorded data */

/* Attention weights of every layer and head for positions 0..n-1:
 * weight(l, h, p, j) = a[((size_t)(l * n_heads + h) * stride + p) * stride + j], defined for j <= p
 * (causal; j > p entries are garbage, never read). Row p sums to 1. */
typedef struct {
    int n_layers, n_heads;
    int stride;          /* >= n: the capacity the rows were allocated with */
    const float *a;
} AttentionView;

/* What the model predicted at one step: the k best candidates (sorted, best
 * first) for the token at position pos+1, and the token actually chosen. */
typedef struct {
    int pos;
    int chosen;
    int k;
    const ProbIndex *top;  /* (k) */
    /* The logit lens, or NULL: for each of n_lens layers, the token the model
     * would predict had it stopped after that layer (the final norm and the
     * classifier applied to the residual stream at pos), and its probability. */
    const ProbIndex *lens;  /* (n_lens) */
    int n_lens;
    /* Direct logit attribution, or NULL: the chosen token's logit (the real
     * one), and the share of it each part of shape added (attribution.h). */
    const float *parts;     /* (attribution_count(shape)) */
    const AttributionShape *shape;
    float logit;
} StepView;

/* -m explain: prints, for the step just taken, the top-k candidates with
 * their probabilities and, for each layer and head, the top_attended
 * positions among 0..pos that position pos attended to most, with their
 * weights. tokens[0..pos] are the tokens fed so far (tokens[0] is BOS).
 * One block per step, plain UTF-8:
 *
 *   step 5: " Lily" (p=0.8312)
 *     next: " Lily" 0.8312 | " Sue" 0.0510 | " Amy" 0.0201
 *     lens: L0 " named" 0.9815 | L1 " Lily" 0.7343
 *     logit: 18.0503 = embedding +0.9321 | heads +3.9448 | ffn +13.1733
 *     shares: L1 ffn +7.9131 | L0 ffn +1.7966 | L1 H3 +0.6598 | ...
 *     L0 H0: " girl"@4 0.4100  " named"@5 0.2200  <s>@0 0.1000
 *     ...
 *
 * lens: when the step has one; logit: and shares: when it has parts (the
 * chosen token's logit, the sum of each kind's shares, then the eight
 * largest shares by magnitude, attribution.h names them).
 * "step N" is pos, the position whose attention row is shown; the chosen
 * token goes to pos+1. Token text is double-quoted, with \" \\ and \xNN for
 * control bytes and bytes that are not valid UTF-8; the special tokens are
 * bare: <s>, </s>, <unk> (a byte-level BPE vocabulary's own spelling of
 * its markers, e.g. <|endoftext|>), and so are sentencepiece byte tokens
 * other than printable ASCII (<0xE2>, <0x0A>). A chosen token outside the candidates shows
 * (p=?, not among the top K).
 * att may be NULL (no attention lines). */
void explain_print_step(FILE *out, const Tokenizer *tok, const int *tokens, const StepView *step,
                        const AttentionView *att, int top_attended);

/* One token as -m explain shows it (quoted text, bare special and byte
 * tokens), as it reads after prev (-1 for none). */
void explain_print_token(FILE *out, const Tokenizer *tok, int prev, int id);

/* --attention-html: writes one self-contained page (XHTML that browsers read
 * as HTML; inline CSS and script, nothing fetched) for the n tokens of the
 * text (prompt and generated): the text, each token a <span class="t"
 * data-p> (a newline shows as U+21B5 and a line break); the attention of
 * every layer and head as compact text that the page's script draws on a
 * <canvas>, with layer and head pickers, the exact weight (to 3 decimals) on
 * hover and the chosen query's attention shading the text; and per step the
 * k candidates as probability bars with the chosen one marked.
 *
 * The attention covers the positions computed: all n, or n - 1 when the
 * last step chose the last token (it was never fed). Its format, one
 * character per cell (explain.c says how), is what
 * scripts/check_attention_html.py reads: <div id="attention-data"
 * data-layers data-heads data-tokens data-scale> holding one <script
 * type="text/plain" class="weights" data-layer data-head> per head. Steps
 * are <div class="step" data-pos> holding <div class="bar"> rows (class
 * "bar chosen" for the chosen token). With attention and steps that have
 * parts, the chosen query's step is drawn as a bar per part from <div
 * id="attribution-data" data-parts data-names="embedding,L0 H0,..."> holding
 * one <script type="text/plain" class="parts" data-pos data-chosen
 * data-logit> per step: its shares, 5 significant digits, space-separated
 * (what scripts/attribution.py reads). att may be NULL (no attention).
 * Returns 0, or -1 with "path: why" in err. */
int explain_write_html(const char *path, const Tokenizer *tok, const int *tokens, int n, const AttentionView *att,
                       const StepView *steps, int n_steps, char err[ERROR_SIZE]);

#endif
