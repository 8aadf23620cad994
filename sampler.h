/* sampler.h - picking the next token from the logits: greedy, or random
 * with temperature, top-k and top-p (nucleus), reproducible from a seed and
 * identical to llama2.c's sampler for the same seed and flags. */
#ifndef SAMPLER_H
#define SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int index;
    float prob;
} ProbIndex;

/* The samplers llama.cpp users reach for beyond llama2.c's, each off by
 * default (these values), so that the default output stays llama2.c's. */
typedef struct {
    float min_p;              /* keep tokens at least min_p times as likely as the best; 0 = off */
    float repeat_penalty;     /* a recent token's logit divided by it (positive) or times it; 1 = off */
    float presence_penalty;   /* subtracted from a recent token's logit once; 0 = off */
    float frequency_penalty;  /* subtracted once per time a token is recent; 0 = off */
    int repeat_last_n;        /* the penalties look at this many last tokens */
} SamplerFilters;

#define SAMPLER_FILTERS_OFF ((SamplerFilters){0.0f, 1.0f, 0.0f, 0.0f, 64})

typedef struct {
    int vocab_size;
    float temperature;  /* 0 = greedy */
    float topp;         /* keep the smallest set of tokens whose mass exceeds topp; 0 or 1 = off */
    int topk;           /* keep the k most likely tokens; 0 = off */
    uint64_t rng_state;
    ProbIndex *candidates;  /* (vocab_size) scratch */
    SamplerFilters filters;
    int *recent;        /* (filters.repeat_last_n) the last tokens fed, a ring; NULL when no penalty */
    int n_recent, next_recent;
    int *counts;        /* (vocab_size) scratch: each token's count among the recent */
} Sampler;

/* Returns 0, or -1 when out of memory. */
int sampler_init(Sampler *s, int vocab_size, float temperature, float topp, int topk, uint64_t seed);
/* Turns on min-p and the penalties (after sampler_init). Returns 0, or -1 when out of memory. */
int sampler_set_filters(Sampler *s, SamplerFilters filters);
void sampler_free(Sampler *s);

/* Tells the sampler a token the model was fed (prompt and generated alike),
 * for the penalties. */
void sampler_accept(Sampler *s, int token);

/* Picks a token id. Overwrites logits (vocab_size) with probabilities. */
int sample(Sampler *s, float *logits);

/* llama.cpp's penalties on logits (n) for the tokens in recent (n_recent),
 * counts (n) zeroed scratch, left zeroed: each token that occurs c > 0 times
 * has its logit divided by repeat_penalty if positive, else multiplied by it,
 * then lowered by c * frequency_penalty + presence_penalty. */
void apply_penalties(float *logits, int n, const int *recent, int n_recent, int *counts, const SamplerFilters *f);

/* Min-p on probabilities (n, summing to 1): tokens below ratio times the most
 * likely one's probability get 0, the rest are scaled to sum to 1. */
void keep_min_p(float *probs, int n, float ratio);

/* The random stream: xorshift64*, as llama2.c. */
uint32_t random_u32(uint64_t *state);
float random_f32(uint64_t *state);  /* in [0, 1) */

/* Index of the largest finite value; the lowest index on ties; 0 if none is finite. */
int argmax(const float *x, int n);

/* Whether every value is a finite number. */
bool all_finite(const float *x, int n);

/* Sorts candidates by probability, highest first; equal probabilities keep
 * index order, so results never depend on the C library's qsort. */
void sort_candidates(ProbIndex *c, int n);

/* Fills c (n) with the k most likely of probs (n) first, highest first (1 <= k <= n). */
void top_candidates(ProbIndex *c, const float *probs, int n, int k);

#endif
