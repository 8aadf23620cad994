/* attribution.c - direct logit attribution (attribution.h says what it
 * computes). Sums in double: the shares must add up to the logit the
 * forward pass computed in float, to well within 1e-4 of it. */
#include "attribution.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

AttributionShape attribution_shape(const Model *model)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    return (AttributionShape){
        .n_layers = c->n_layers,
        .n_heads = c->n_heads,
        .position = w->position_embd.data != NULL,
        .attention_bias = c->n_layers > 0 && w->layers[0].bo != NULL,
        .norm_bias = w->output_norm_bias != NULL,
    };
}

/* Parts per layer: the heads, wo's bias if any, the feed-forward block. */
static int parts_per_layer(const AttributionShape *shape)
{
    return shape->n_heads + shape->attention_bias + 1;
}

/* Parts before the first layer's: the embedding, the position if any. */
static int parts_before_layers(const AttributionShape *shape)
{
    return 1 + shape->position;
}

int attribution_count(const AttributionShape *shape)
{
    return parts_before_layers(shape) + shape->n_layers * parts_per_layer(shape) + shape->norm_bias;
}

PartKind attribution_part(const AttributionShape *shape, int i, int *layer, int *head)
{
    *layer = *head = -1;
    if (i == 0)
        return PART_EMBEDDING;
    if (i < parts_before_layers(shape))
        return PART_POSITION;
    i -= parts_before_layers(shape);
    if (i >= shape->n_layers * parts_per_layer(shape))
        return PART_NORM_BIAS;
    *layer = i / parts_per_layer(shape);
    int within = i % parts_per_layer(shape);
    if (within < shape->n_heads) {
        *head = within;
        return PART_HEAD;
    }
    return within == shape->n_heads && shape->attention_bias ? PART_ATTENTION_BIAS : PART_FEED_FORWARD;
}

const char *attribution_kind_name(PartKind kind)
{
    switch (kind) {
    case PART_EMBEDDING: return "embedding";
    case PART_POSITION: return "position";
    case PART_HEAD: return "heads";
    case PART_ATTENTION_BIAS: return "attn biases";
    case PART_FEED_FORWARD: return "ffn";
    case PART_NORM_BIAS: return "norm bias";
    case PART_KINDS: break;
    }
    return "?";
}

void attribution_name(const AttributionShape *shape, int i, char name[PART_NAME_SIZE])
{
    int layer, head;
    switch (attribution_part(shape, i, &layer, &head)) {
    case PART_HEAD:
        snprintf(name, PART_NAME_SIZE, "L%d H%d", layer, head);
        return;
    case PART_ATTENTION_BIAS:
        snprintf(name, PART_NAME_SIZE, "L%d attn bias", layer);
        return;
    case PART_FEED_FORWARD:
        snprintf(name, PART_NAME_SIZE, "L%d ffn", layer);
        return;
    case PART_EMBEDDING:
    case PART_POSITION:
    case PART_NORM_BIAS:
    case PART_KINDS:
        break;
    }
    snprintf(name, PART_NAME_SIZE, "%s", attribution_kind_name(attribution_part(shape, i, &layer, &head)));
}

int attribution_scratch_init(AttributionScratch *s, const Config *c)
{
    const int widest = c->dim > c->q_dim ? c->dim : c->q_dim;
    s->direction = malloc((size_t)c->dim * sizeof(double));
    s->through_wo = malloc((size_t)c->q_dim * sizeof(double));
    s->row = malloc((size_t)widest * sizeof(float));
    return s->direction && s->through_wo && s->row ? 0 : -1;
}

void attribution_scratch_free(AttributionScratch *s)
{
    free(s->direction), free(s->through_wo), free(s->row);
    *s = (AttributionScratch){0};
}

static double dot(const double *u, const float *x, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += u[i] * x[i];
    return sum;
}

/* u (dim): the direction in the stream that the final norm and the
 * classifier's row of chosen read, with the norm's scale at this position
 * held fixed (see attribution.h). Returns the norm bias's share (0 without). */
static double logit_direction(double *u, float *row, const Model *model, const float *x, int chosen)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    const int dim = c->dim;
    const bool layernorm = w->output_norm_bias != NULL;
    double mean = 0, sum_squares = 0;
    if (layernorm) {
        for (int i = 0; i < dim; i++)
            mean += x[i];
        mean /= dim;
    }
    for (int i = 0; i < dim; i++)
        sum_squares += (x[i] - mean) * (x[i] - mean);
    const double scale = 1.0 / sqrt(sum_squares / dim + c->norm_eps);
    matrix_row(row, &w->output, chosen);
    double u_mean = 0, bias_share = 0;
    for (int i = 0; i < dim; i++) {
        u[i] = (double)row[i] * w->output_norm[i] * scale;
        u_mean += u[i] / dim;
    }
    if (layernorm) {
        /* u . (part - mean(part)) = (u - mean(u)) . part */
        for (int i = 0; i < dim; i++) {
            u[i] -= u_mean;
            bias_share += (double)row[i] * w->output_norm_bias[i];
        }
    }
    return bias_share;
}

void attribution_compute(float *parts, const Model *model, const AttributionInput *in, int chosen,
                         AttributionScratch *scratch)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    const AttributionShape shape = attribution_shape(model);
    double *u = scratch->direction, *through = scratch->through_wo;
    float *row = scratch->row;
    const double norm_bias = logit_direction(u, row, model, in->residual, chosen);

    int at = 0;
    matrix_row(row, &w->token_embd, in->token);
    parts[at++] = (float)dot(u, row, c->dim);
    if (shape.position) {
        matrix_row(row, &w->position_embd, in->pos);
        parts[at++] = (float)dot(u, row, c->dim);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &w->layers[l];
        /* through = wo^T u, a row of wo at a time: head h's share is
         * through's slice of h . head h's output. */
        for (int j = 0; j < c->q_dim; j++)
            through[j] = 0;
        for (int i = 0; i < c->dim; i++) {
            matrix_row(row, &lw->wo, i);
            for (int j = 0; j < c->q_dim; j++)
                through[j] += u[i] * row[j];
        }
        const float *heads = in->heads + (size_t)l * c->q_dim;
        for (int h = 0; h < c->n_heads; h++) {
            const size_t first = (size_t)h * c->head_size;
            parts[at++] = (float)dot(through + first, heads + first, c->head_size);
        }
        if (shape.attention_bias)
            parts[at++] = (float)dot(u, lw->bo, c->dim);
        parts[at++] = (float)dot(u, in->feed_forward + (size_t)l * c->dim, c->dim);
    }
    if (shape.norm_bias)
        parts[at++] = (float)norm_bias;
}
