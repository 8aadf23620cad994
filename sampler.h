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

typedef struct {
    int vocab_size;
    float temperature;  /* 0 = greedy */
    float topp;         /* keep the smallest set of tokens whose mass exceeds topp; 0 or 1 = off */
    int topk;           /* keep the k most likely tokens; 0 = off */
    uint64_t rng_state;
    ProbIndex *candidates;  /* (vocab_size) scratch */
} Sampler;

/* Returns 0, or -1 when out of memory. */
int sampler_init(Sampler *s, int vocab_size, float temperature, float topp, int topk, uint64_t seed);
void sampler_free(Sampler *s);

/* Picks a token id. Overwrites logits (vocab_size) with probabilities. */
int sample(Sampler *s, float *logits);

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
