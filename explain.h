/* explain.h - showing what the model attends to and how it picks the next
 * token: a plain-text block per generation step (-m explain) and one
 * self-contained XHTML page of attention heatmaps and next-token
 * probabilities (--attention-html). Presentation only: the engine captures
 * the attention weights and the candidates, this module prints them. */
#ifndef EXPLAIN_H
#define EXPLAIN_H

#include <stdio.h>

#include "sampler.h"    /* ProbIndex {int index; float prob;} */
#include "tokenizer.h"  /* Tokenizer, tokenizer_decode, ERROR_SIZE */

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
} StepView;

/* -m explain: prints, for the step just taken, the top-k candidates with
 * their probabilities and, for each layer and head, the top_attended
 * positions among 0..pos that position pos attended to most, with their
 * weights. tokens[0..pos] are the tokens fed so far (tokens[0] is BOS).
 * One block per step, plain UTF-8:
 *
 *   step 5: " Lily" (p=0.8312)
 *     next: " Lily" 0.8312 | " Sue" 0.0510 | " Amy" 0.0201
 *     L0 H0: " girl"@4 0.4100  " named"@5 0.2200  <s>@0 0.1000
 *     ...
 *
 * "step N" is pos, the position whose attention row is shown; the chosen
 * token goes to pos+1. Token text is double-quoted, with \" \\ and \xNN for
 * control bytes and bytes that are not valid UTF-8; the special tokens are
 * bare: <s>, </s>, <unk>. A chosen token outside the candidates shows
 * (p=?, not among the top K).
 * att may be NULL (no attention lines). */
void explain_print_step(FILE *out, const Tokenizer *tok, const int *tokens, const StepView *step,
                        const AttentionView *att, int top_attended);

/* --attention-html: writes one self-contained XHTML page (inline SVG and
 * CSS, no script, nothing fetched) for the n tokens fed (prompt and
 * generated): the text, one heatmap per layer and head (rows = query
 * position, columns = key position, lower triangle: n*(n+1)/2 cells, each
 * with a <title> "L2 H5: ' Lily'@7 -> ' girl'@4 = 0.4123"), and per step the
 * k candidates as probability bars with the chosen one marked. Markup for
 * tools: <svg class="heatmap" data-layer data-head>, <rect class="cell">,
 * <div class="step" data-pos> holding <div class="bar"> rows (class "bar
 * chosen" for the chosen token). att may be NULL (no heatmaps). Returns 0,
 * or -1 with "path: why" in err. */
int explain_write_html(const char *path, const Tokenizer *tok, const int *tokens, int n, const AttentionView *att,
                       const StepView *steps, int n_steps, char err[ERROR_SIZE]);

#endif
