/* sampler.c - from logits to the next token. */
#include "sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int sampler_init(Sampler *s, int vocab_size, float temperature, float topp, int topk, uint64_t seed)
{
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->topp = topp;
    s->topk = topk;
    s->rng_state = seed;
    s->candidates = malloc((size_t)vocab_size * sizeof(ProbIndex));
    s->filters = SAMPLER_FILTERS_OFF;
    s->recent = s->counts = NULL;
    s->n_recent = s->next_recent = 0;
    return s->candidates ? 0 : -1;
}

int sampler_set_filters(Sampler *s, SamplerFilters filters)
{
    s->filters = filters;
    const bool penalized = filters.repeat_penalty != 1.0f || filters.presence_penalty != 0.0f ||
                           filters.frequency_penalty != 0.0f;
    if (!penalized || filters.repeat_last_n <= 0)
        return 0;
    s->recent = malloc((size_t)filters.repeat_last_n * sizeof(int));
    s->counts = calloc((size_t)s->vocab_size, sizeof(int));
    return s->recent && s->counts ? 0 : -1;
}

void sampler_free(Sampler *s)
{
    free(s->candidates);
    free(s->recent);
    free(s->counts);
    s->candidates = NULL;
    s->recent = s->counts = NULL;
}

void sampler_accept(Sampler *s, int token)
{
    if (!s->recent || token < 0 || token >= s->vocab_size)
        return;
    s->recent[s->next_recent] = token;
    s->next_recent = (s->next_recent + 1) % s->filters.repeat_last_n;
    if (s->n_recent < s->filters.repeat_last_n)
        s->n_recent++;
}

void apply_penalties(float *logits, int n, const int *recent, int n_recent, int *counts, const SamplerFilters *f)
{
    for (int i = 0; i < n_recent; i++)
        if (recent[i] >= 0 && recent[i] < n)
            counts[recent[i]]++;
    for (int i = 0; i < n_recent; i++) {
        const int t = recent[i];
        if (t < 0 || t >= n || counts[t] == 0)
            continue;  /* outside the vocabulary, or already penalized */
        logits[t] = logits[t] > 0.0f ? logits[t] / f->repeat_penalty : logits[t] * f->repeat_penalty;
        logits[t] -= (float)counts[t] * f->frequency_penalty + f->presence_penalty;
        counts[t] = 0;
    }
}

void keep_min_p(float *probs, int n, float ratio)
{
    float best = 0.0f;
    for (int i = 0; i < n; i++)
        best = probs[i] > best ? probs[i] : best;
    const float floor = ratio * best;
    float kept = 0.0f;
    for (int i = 0; i < n; i++) {
        if (probs[i] < floor)
            probs[i] = 0.0f;
        kept += probs[i];
    }
    for (int i = 0; i < n; i++)
        probs[i] /= kept;  /* kept >= best > 0: the best token always stays */
}

uint32_t random_u32(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

float random_f32(uint64_t *state)
{
    return (random_u32(state) >> 8) / 16777216.0f;  /* 24 random bits */
}

/* A float's bits as an int32 that orders as the float does (for numbers; -0
 * just below +0), so that the largest is an integer max, which every compiler
 * vectorizes (a float max reduction needs -ffast-math in clang). NaN and the
 * infinities get INT32_MIN, which no number has: they never win. */
static inline int32_t order_key(float x)
{
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const bool not_number_or_infinite = (bits & 0x7f800000) == 0x7f800000;
    return not_number_or_infinite ? INT32_MIN : bits ^ ((bits >> 31) & 0x7fffffff);
}

/* Two passes the compiler vectorizes, where one pass that keeps an index is
 * a chain of dependent compares: 32,000 logits went from 1% of a 110M
 * decoding step to nothing measurable. The first of equal values wins. */
int argmax(const float *x, int n)
{
    int32_t best = INT32_MIN;
#pragma omp simd reduction(max : best)
    for (int i = 0; i < n; i++) {
        const int32_t key = order_key(x[i]);
        best = key > best ? key : best;
    }
    if (best == INT32_MIN)
        return 0;  /* no finite value */
    const int32_t bits = best ^ ((best >> 31) & 0x7fffffff);  /* order_key undone */
    float largest;
    memcpy(&largest, &bits, sizeof largest);
    for (int i = 0; i < n; i++)
        if (x[i] == largest)
            return i;
    return 0;
}

static int compare_candidates(const void *a, const void *b)
{
    const ProbIndex *x = a, *y = b;
    if (x->prob != y->prob)
        return x->prob > y->prob ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

void sort_candidates(ProbIndex *c, int n)
{
    qsort(c, n, sizeof *c, compare_candidates);
}

/* Walks the cumulative distribution of probs (n) until it passes coin. */
static int sample_from_distribution(const float *probs, int n, float coin)
{
    float cdf = 0.0f;
    for (int i = 0; i < n; i++) {
        cdf += probs[i];
        if (coin < cdf)
            return i;
    }
    return n - 1;  /* rounding left the total a hair under 1 */
}

/* Samples among sorted candidates c (n), cut to the smallest prefix whose
 * share of their total mass exceeds topp. */
static int sample_sorted(const ProbIndex *c, int n, float topp, float total, float coin)
{
    float cumulative = 0.0f;
    int last = n - 1;
    for (int i = 0; i < n; i++) {
        cumulative += c[i].prob;
        if (topp > 0.0f && topp < 1.0f && cumulative > topp * total) {
            last = i;
            break;
        }
    }
    float r = coin * cumulative;
    float cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += c[i].prob;
        if (r < cdf)
            return c[i].index;
    }
    return c[last].index;
}

/* llama2.c's nucleus sampling: tokens under (1 - topp) / (n - 1) cannot be
 * in the nucleus, so they are dropped before sorting. */
static int sample_topp(Sampler *s, const float *probs, float coin)
{
    const int n = s->vocab_size;
    const float cutoff = (1.0f - s->topp) / (n - 1);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (probs[i] >= cutoff)
            s->candidates[kept++] = (ProbIndex){i, probs[i]};
    sort_candidates(s->candidates, kept);
    return sample_sorted(s->candidates, kept, s->topp, 1.0f, coin);
}

/* Moves the k best of c (n) to the front, in no particular order: quickselect,
 * O(n), so top-k costs no full sort of the vocabulary per token. */
static void select_best(ProbIndex *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        ProbIndex pivot = c[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (compare_candidates(&c[i], &pivot) < 0)
                i++;
            while (compare_candidates(&c[j], &pivot) > 0)
                j--;
            if (i <= j) {
                ProbIndex tmp = c[i];
                c[i++] = c[j];
                c[j--] = tmp;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

void top_candidates(ProbIndex *c, const float *probs, int n, int k)
{
    for (int i = 0; i < n; i++)
        c[i] = (ProbIndex){i, probs[i]};
    select_best(c, n, k);
    sort_candidates(c, k);
}

/* The k most likely tokens, then top-p among them. */
static int sample_topk(Sampler *s, const float *probs, float coin)
{
    top_candidates(s->candidates, probs, s->vocab_size, s->topk);
    float total = 0.0f;
    for (int i = 0; i < s->topk; i++)
        total += s->candidates[i].prob;
    return sample_sorted(s->candidates, s->topk, s->topp, total, coin);
}

bool all_finite(const float *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

int sample(Sampler *s, float *logits)
{
    const int n = s->vocab_size;
    if (s->recent)
        apply_penalties(logits, n, s->recent, s->n_recent, s->counts, &s->filters);
    /* NaN or infinite logits (corrupt weights) would poison every probability:
     * fall back to the largest finite logit rather than read garbage. */
    if (s->temperature == 0.0f || !all_finite(logits, n))
        return argmax(logits, n);
    const int greedy = argmax(logits, n);
    for (int i = 0; i < n; i++)
        logits[i] /= s->temperature;
    if (!all_finite(logits, n))
        return greedy;  /* a temperature so low that logits overflow: it is greedy */
    softmax(logits, n);
    /* llama.cpp applies min-p to the logits before the temperature: a token
     * within log(min_p) of the best logit stays. After the temperature that
     * is a probability ratio of min_p^(1/T). */
    if (s->filters.min_p > 0.0f)
        keep_min_p(logits, n, powf(s->filters.min_p, 1.0f / s->temperature));
    float coin = random_f32(&s->rng_state);
    if (s->topk > 0 && s->topk < n)
        return sample_topk(s, logits, coin);
    if (s->topp <= 0.0f || s->topp >= 1.0f)
        return sample_from_distribution(logits, n, coin);
    return sample_topp(s, logits, coin);
}
