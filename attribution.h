/* attribution.h - direct logit attribution: how much each part of the
 * network added, directly, to the logit of one token at one position.
 *
 * The residual stream after the last layer is a sum: the token's embedding
 * (GPT-2: and its position's), then what every block added. An attention
 * block adds wo @ (its heads' outputs, side by side) = the sum over heads h
 * of wo's columns of h @ head h's output (GPT-2: plus wo's bias); a
 * feed-forward block adds its output (GPT-2: its w_down bias included). The
 * final norm is linear in the stream once its scale at that position is held
 * fixed: RMSNorm divides every part by the same rms; LayerNorm also
 * subtracts each part's own mean (the mean of a sum is the sum of the means)
 * and adds its bias, a part of its own. The classifier's row of the token is
 * linear too. So each part's share is u . part, with
 *
 *   u = classifier row (token) * norm weight / scale   (LayerNorm: less its mean)
 *
 * and the shares sum to the token's logit: nothing is left over. */
#ifndef ATTRIBUTION_H
#define ATTRIBUTION_H

#include <stdbool.h>

#include "model.h"

/* The parts a model's logits split into, in this order:
 *   embedding, [position], then per layer: H0 .. H(n_heads-1), [attn bias], ffn; [norm bias]
 * (the bracketed ones when the model has them: GPT-2's). */
typedef struct {
    int n_layers, n_heads;
    bool position;        /* a learned position embedding */
    bool attention_bias;  /* wo's bias: one part per layer */
    bool norm_bias;       /* the final LayerNorm's bias */
} AttributionShape;

typedef enum {
    PART_EMBEDDING,
    PART_POSITION,
    PART_HEAD,
    PART_ATTENTION_BIAS,
    PART_FEED_FORWARD,
    PART_NORM_BIAS,
    PART_KINDS
} PartKind;

AttributionShape attribution_shape(const Model *model);
int attribution_count(const AttributionShape *shape);
/* Part i's kind, and its layer and head (-1 where it has none). */
PartKind attribution_part(const AttributionShape *shape, int i, int *layer, int *head);

#define PART_NAME_SIZE 32
/* Part i's name: "embedding", "position", "L3 H5", "L3 attn bias", "L3 ffn", "norm bias". */
void attribution_name(const AttributionShape *shape, int i, char name[PART_NAME_SIZE]);
/* A kind's name, for totals: "embedding", "position", "heads", "attn biases", "ffn", "norm bias". */
const char *attribution_kind_name(PartKind kind);

/* What the forward pass showed of one position: the stream after the last
 * layer, and every layer's heads (before wo) and feed-forward output. */
typedef struct {
    const float *residual;       /* (dim) */
    const float *heads;          /* (n_layers, q_dim) */
    const float *feed_forward;   /* (n_layers, dim) */
    int token, pos;              /* the token fed at pos */
} AttributionInput;

/* Scratch for attribution_compute, allocated once per model. */
typedef struct {
    double *direction;  /* (dim) u above */
    double *through_wo; /* (q_dim) wo^T u */
    float *row;         /* (max(dim, q_dim)) one row of a matrix */
} AttributionScratch;

int attribution_scratch_init(AttributionScratch *s, const Config *c);
void attribution_scratch_free(AttributionScratch *s);

/* parts (attribution_count) = each part's share of token chosen's logit at
 * the position of in. */
void attribution_compute(float *parts, const Model *model, const AttributionInput *in, int chosen,
                         AttributionScratch *scratch);

#endif
