/* model.c - loading a checkpoint, and the transformer's forward pass.
 *
 * Part 1 maps a llama2.c checkpoint file and checks every size in its header
 * against the file before a single weight is touched. Part 2 is the model:
 * token embedding, then per layer an attention block and a feed-forward block
 * (each wrapped in RMSNorm and a residual connection), then the classifier. */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LLAMA2C_ROPE_THETA 10000.0f
#define LLAMA2C_NORM_EPS 1e-5f

/* ---------------------------------------------------------------------------
 * Part 1: the checkpoint */

void file_error_v(char err[ERROR_SIZE], const char *path, const char *fmt, va_list args)
{
    int n = snprintf(err, ERROR_SIZE, "%s: ", path);
    if (n < 0 || n >= ERROR_SIZE)
        n = 0;
    vsnprintf(err + n, ERROR_SIZE - n, fmt, args);
}

static int fail(char err[ERROR_SIZE], const char *path, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    file_error_v(err, path, fmt, args);
    va_end(args);
    return -1;
}

int config_validate(const Config *c, char err[ERROR_SIZE])
{
    /* The caller prefixes the file name, so messages here start with the field. */
    const struct { const char *name; int value; } dims[] = {
        {"dim", c->dim},           {"hidden_dim", c->hidden_dim}, {"n_layers", c->n_layers},
        {"n_heads", c->n_heads},   {"n_kv_heads", c->n_kv_heads}, {"vocab_size", c->vocab_size},
        {"seq_len", c->seq_len},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].value <= 0)
            return snprintf(err, ERROR_SIZE, "%s is %d, must be positive", dims[i].name, dims[i].value), -1;
    if (c->dim % c->n_heads != 0)
        return snprintf(err, ERROR_SIZE, "dim %d is not divisible by n_heads %d", c->dim, c->n_heads), -1;
    if (c->n_heads % c->n_kv_heads != 0)
        return snprintf(err, ERROR_SIZE, "n_heads %d is not divisible by n_kv_heads %d", c->n_heads,
                        c->n_kv_heads), -1;
    if ((c->dim / c->n_heads) % 2 != 0)
        return snprintf(err, ERROR_SIZE, "head size %d is odd; rotary encoding rotates pairs",
                        c->dim / c->n_heads), -1;
    return 0;
}

/* Walks the tensors of a checkpoint in file order. With base == NULL it only
 * counts floats (to check the file size first); afterwards it hands out
 * pointers. Any count that overflows 64 bits marks the walk as failed. */
typedef struct {
    const float *base;
    uint64_t offset;  /* in floats */
    bool overflow;
} TensorCursor;

static const float *take_tensor(TensorCursor *cur, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t ab, count, end;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &count) ||
        __builtin_add_overflow(cur->offset, count, &end)) {
        cur->overflow = true;
        return NULL;
    }
    const float *p = cur->base ? cur->base + cur->offset : NULL;
    cur->offset = end;
    return p;
}

typedef enum { FORMAT_LEGACY, FORMAT_VERSION1 } CheckpointFormat;

/* Per-layer tensors are stored stacked, all layers of one kind together. */
typedef struct {
    const float *attention_norm, *ffn_norm, *wq, *wk, *wv, *wo, *w1, *w2, *w3;
} StackedLayers;

static void lay_out_tensors(TensorCursor *cur, CheckpointFormat format, const Config *c,
                            StackedLayers *st, Weights *w)
{
    const uint64_t L = c->n_layers, dim = c->dim, kv = c->kv_dim, hid = c->hidden_dim;
    const uint64_t vocab = c->vocab_size;
    const float *classifier = NULL;
    if (format == FORMAT_LEGACY) {
        w->token_embedding = take_tensor(cur, vocab, dim, 1);
        st->attention_norm = take_tensor(cur, L, dim, 1);
        st->wq = take_tensor(cur, L, dim, dim);
        st->wk = take_tensor(cur, L, kv, dim);
        st->wv = take_tensor(cur, L, kv, dim);
        st->wo = take_tensor(cur, L, dim, dim);
        st->ffn_norm = take_tensor(cur, L, dim, 1);
        st->w1 = take_tensor(cur, L, hid, dim);
        st->w2 = take_tensor(cur, L, dim, hid);
        st->w3 = take_tensor(cur, L, hid, dim);
        w->final_norm = take_tensor(cur, dim, 1, 1);
        /* Old exports stored RoPE's cos and sin tables here; we compute them. */
        take_tensor(cur, c->seq_len, c->head_size / 2, 2);
    } else {
        st->attention_norm = take_tensor(cur, L, dim, 1);
        st->ffn_norm = take_tensor(cur, L, dim, 1);
        w->final_norm = take_tensor(cur, dim, 1, 1);
        w->token_embedding = take_tensor(cur, vocab, dim, 1);
        st->wq = take_tensor(cur, L, dim, dim);
        st->wk = take_tensor(cur, L, kv, dim);
        st->wv = take_tensor(cur, L, kv, dim);
        st->wo = take_tensor(cur, L, dim, dim);
        st->w1 = take_tensor(cur, L, hid, dim);
        st->w2 = take_tensor(cur, L, dim, hid);
        st->w3 = take_tensor(cur, L, hid, dim);
    }
    classifier = c->shared_classifier ? w->token_embedding : take_tensor(cur, vocab, dim, 1);
    w->classifier = (Matrix){WEIGHT_F32, c->vocab_size, c->dim, classifier};
}

static Matrix layer_matrix(const float *stacked, int layer, int rows, int cols)
{
    return (Matrix){WEIGHT_F32, rows, cols, stacked + (size_t)layer * rows * cols};
}

static int point_layers(Weights *w, const StackedLayers *st, const Config *c)
{
    w->layers = calloc((size_t)c->n_layers, sizeof(LayerWeights));
    if (!w->layers)
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *lw = &w->layers[l];
        lw->attention_norm = st->attention_norm + (size_t)l * c->dim;
        lw->ffn_norm = st->ffn_norm + (size_t)l * c->dim;
        lw->wq = layer_matrix(st->wq, l, c->dim, c->dim);
        lw->wk = layer_matrix(st->wk, l, c->kv_dim, c->dim);
        lw->wv = layer_matrix(st->wv, l, c->kv_dim, c->dim);
        lw->wo = layer_matrix(st->wo, l, c->dim, c->dim);
        lw->w1 = layer_matrix(st->w1, l, c->hidden_dim, c->dim);
        lw->w2 = layer_matrix(st->w2, l, c->dim, c->hidden_dim);
        lw->w3 = layer_matrix(st->w3, l, c->hidden_dim, c->dim);
    }
    return 0;
}

static int32_t read_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reads the header: which format, the hyperparameters, and where weights begin. */
static int parse_header(const unsigned char *data, size_t size, const char *path, Config *c,
                        CheckpointFormat *format, size_t *weights_offset, char err[ERROR_SIZE])
{
    const unsigned char *params;
    uint32_t magic = 0;
    if (size >= sizeof magic)
        memcpy(&magic, data, sizeof magic);
    if (magic == CHECKPOINT_MAGIC) {
        if (size < CHECKPOINT_HEADER_SIZE)
            return fail(err, path, "truncated header: %zu bytes, a versioned checkpoint needs %d", size,
                        CHECKPOINT_HEADER_SIZE);
        int32_t version = read_i32(data + 4);
        if (version != 1)
            return fail(err, path, "unsupported checkpoint version %d (this engine reads version 1 and "
                        "legacy files)", version);
        params = data + 8;
        c->shared_classifier = data[8 + LEGACY_HEADER_INTS * 4] != 0;
        *format = FORMAT_VERSION1;
        *weights_offset = CHECKPOINT_HEADER_SIZE;
    } else {
        if (size < LEGACY_HEADER_INTS * 4)
            return fail(err, path, "%s: %zu bytes is too short for a checkpoint header",
                        size == 0 ? "empty file" : "truncated header", size);
        params = data;
        *format = FORMAT_LEGACY;
        *weights_offset = LEGACY_HEADER_INTS * 4;
    }
    c->dim = read_i32(params);
    c->hidden_dim = read_i32(params + 4);
    c->n_layers = read_i32(params + 8);
    c->n_heads = read_i32(params + 12);
    c->n_kv_heads = read_i32(params + 16);
    c->vocab_size = read_i32(params + 20);
    c->seq_len = read_i32(params + 24);
    if (*format == FORMAT_LEGACY) {
        /* A negative vocab_size is how legacy files flag a separate classifier. */
        c->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN)
            c->vocab_size = -c->vocab_size;
    }
    char why[ERROR_SIZE];
    if (config_validate(c, why) != 0)
        return fail(err, path, "bad header: %s", why);
    c->head_size = c->dim / c->n_heads;
    c->kv_dim = c->n_kv_heads * c->head_size;
    c->rope_theta = LLAMA2C_ROPE_THETA;
    c->norm_eps = LLAMA2C_NORM_EPS;
    return 0;
}

int model_load(Model *model, const char *path, char err[ERROR_SIZE])
{
    memset(model, 0, sizeof *model);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, path, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return fail(err, path, "empty file");
    }
    void *mapping = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);  /* the mapping keeps the file alive */
    if (mapping == MAP_FAILED)
        return fail(err, path, "cannot map: %s", strerror(errno));
    model->mapping = mapping;
    model->mapping_size = size;

    Config *c = &model->config;
    CheckpointFormat format = FORMAT_LEGACY;
    size_t weights_offset = 0;
    if (parse_header(mapping, size, path, c, &format, &weights_offset, err) != 0)
        goto failed;

    /* Count first, compare with the file, and only then hand out pointers. */
    StackedLayers stacked;
    TensorCursor counter = {NULL, 0, false};
    lay_out_tensors(&counter, format, c, &stacked, &model->weights);
    uint64_t expected;
    if (counter.overflow || __builtin_mul_overflow(counter.offset, sizeof(float), &expected) ||
        __builtin_add_overflow(expected, weights_offset, &expected)) {
        fail(err, path, "bad header: its dimensions imply more than 2^64 bytes of weights");
        goto failed;
    }
    if (expected != size) {
        fail(err, path, "file is %zu bytes but its header (dim %d, hidden_dim %d, %d layers, %d heads, "
             "%d kv heads, vocab %d, seq_len %d) implies %llu: truncated, or not this format",
             size, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
             c->seq_len, (unsigned long long)expected);
        goto failed;
    }
    TensorCursor cursor = {(const float *)((const char *)mapping + weights_offset), 0, false};
    lay_out_tensors(&cursor, format, c, &stacked, &model->weights);
    if (point_layers(&model->weights, &stacked, c) != 0) {
        fail(err, path, "out of memory");
        goto failed;
    }
    return 0;

failed:
    model_free(model);
    return -1;
}

void model_free(Model *model)
{
    if (model->mapping)
        munmap(model->mapping, model->mapping_size);
    free(model->weights.layers);
    memset(model, 0, sizeof *model);
}

/* ---------------------------------------------------------------------------
 * Part 2: the forward pass */

/* calloc for a * b * c floats, or NULL when the product overflows. */
static float *alloc_floats(size_t a, size_t b, size_t c)
{
    size_t ab, n;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &n))
        return NULL;
    return calloc(n, sizeof(float));
}

int run_state_init(RunState *s, const Config *c, int max_batch, char err[ERROR_SIZE])
{
    memset(s, 0, sizeof *s);
    s->max_batch = max_batch;
    size_t B = (size_t)max_batch;
    s->x = alloc_floats(B, c->dim, 1);
    s->xb = alloc_floats(B, c->dim, 1);
    s->xb2 = alloc_floats(B, c->dim, 1);
    s->q = alloc_floats(B, c->dim, 1);
    s->k = alloc_floats(B, c->kv_dim, 1);
    s->v = alloc_floats(B, c->kv_dim, 1);
    s->att = alloc_floats(B, c->n_heads, c->seq_len);
    s->hb = alloc_floats(B, c->hidden_dim, 1);
    s->hb2 = alloc_floats(B, c->hidden_dim, 1);
    s->logits = alloc_floats(B, c->vocab_size, 1);
    s->key_cache = alloc_floats(c->n_layers, c->seq_len, c->kv_dim);
    s->value_cache = alloc_floats(c->n_layers, c->seq_len, c->kv_dim);
    s->rope_inv_freq = alloc_floats(c->head_size / 2, 1, 1);
    s->rope_cos_sin = alloc_floats(B, c->head_size, 1);
    if (!s->x || !s->xb || !s->xb2 || !s->q || !s->k || !s->v || !s->att || !s->hb || !s->hb2 ||
        !s->logits || !s->key_cache || !s->value_cache || !s->rope_inv_freq || !s->rope_cos_sin) {
        double cache_mib = 2.0 * c->n_layers * c->seq_len * c->kv_dim * sizeof(float) / (1 << 20);
        snprintf(err, ERROR_SIZE, "out of memory for the run state (the KV cache alone is %.0f MiB: "
                 "%d layers x %d positions x %d)", cache_mib, c->n_layers, c->seq_len, c->kv_dim);
        run_state_free(s);
        return -1;
    }
    /* Pair i of every head turns at frequency theta^(-2i / head_size): fast
     * for the first pairs, slow for the last, so positions stay tellable apart
     * at every distance. */
    for (int i = 0; i < c->head_size / 2; i++)
        s->rope_inv_freq[i] = 1.0f / powf(c->rope_theta, (2 * i) / (float)c->head_size);
    return 0;
}

void run_state_free(RunState *s)
{
    float *buffers[] = {s->x,      s->xb,     s->xb2,          s->q,           s->k,
                        s->v,      s->att,    s->hb,           s->hb2,         s->logits,
                        s->key_cache, s->value_cache, s->rope_inv_freq, s->rope_cos_sin};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        free(buffers[i]);
    memset(s, 0, sizeof *s);
}

/* x (T, dim) = the embedding rows of the T tokens. */
static void embed_tokens(float *x, const float *token_embedding, const int *tokens, int T, int dim)
{
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * dim, token_embedding + (size_t)tokens[t] * dim, dim * sizeof(float));
}

static void rmsnorm_rows(float *out, const float *x, const float *weight, int T, int dim, float eps)
{
    for (int t = 0; t < T; t++)
        rmsnorm(out + (size_t)t * dim, x + (size_t)t * dim, weight, dim, eps);
}

/* Each query head looks back over every cached position up to its own:
 * scores = q.k / sqrt(head_size), softmax, then the weighted sum of values.
 * With grouped-query attention, n_heads / n_kv_heads query heads share one
 * key/value head. out (T, dim). */
static void multi_head_attention(float *out, const Config *c, RunState *s, int layer, int T, int pos)
{
    const int heads_per_kv = c->n_heads / c->n_kv_heads;
    const float inv_sqrt_head = 1.0f / sqrtf((float)c->head_size);
    const float *keys = s->key_cache + (size_t)layer * c->seq_len * c->kv_dim;
    const float *values = s->value_cache + (size_t)layer * c->seq_len * c->kv_dim;
#pragma omp parallel for collapse(2) schedule(static) if (T * c->n_heads * (pos + T) > 4096)
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < c->n_heads; h++) {
            const int kv_offset = (h / heads_per_kv) * c->head_size;
            const int n_visible = pos + t + 1;  /* causal: no peeking ahead */
            const float *q = s->q + (size_t)t * c->dim + (size_t)h * c->head_size;
            float *att = s->att + ((size_t)t * c->n_heads + h) * c->seq_len;
            for (int i = 0; i < n_visible; i++)
                att[i] = dot_product(q, keys + (size_t)i * c->kv_dim + kv_offset, c->head_size) *
                         inv_sqrt_head;
            softmax(att, n_visible);
            float *head_out = out + (size_t)t * c->dim + (size_t)h * c->head_size;
            memset(head_out, 0, c->head_size * sizeof(float));
            for (int i = 0; i < n_visible; i++) {
                const float *v = values + (size_t)i * c->kv_dim + kv_offset;
                const float a = att[i];
                for (int j = 0; j < c->head_size; j++)
                    head_out[j] += a * v[j];
            }
        }
    }
}

/* x += Wo @ attention(RoPE(Wq xn), RoPE(Wk xn), Wv xn), with xn = RMSNorm(x). */
static void attention_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, int T, int pos)
{
    rmsnorm_rows(s->xb, s->x, lw->attention_norm, T, c->dim, c->norm_eps);
    matmul(s->q, s->xb, &lw->wq, T);
    matmul(s->k, s->xb, &lw->wk, T);
    matmul(s->v, s->xb, &lw->wv, T);
    for (int t = 0; t < T; t++) {
        /* Rotating q and k by their positions makes q.k depend on the
         * distance between the two tokens: that is all the model knows of order. */
        const float *cos_sin = s->rope_cos_sin + (size_t)t * c->head_size;
        rope_rotate(s->q + (size_t)t * c->dim, cos_sin, c->n_heads, c->head_size);
        rope_rotate(s->k + (size_t)t * c->kv_dim, cos_sin, c->n_kv_heads, c->head_size);
        /* Keys and values are kept so later tokens can attend to this one. */
        size_t cache_row = ((size_t)layer * c->seq_len + pos + t) * c->kv_dim;
        memcpy(s->key_cache + cache_row, s->k + (size_t)t * c->kv_dim, c->kv_dim * sizeof(float));
        memcpy(s->value_cache + cache_row, s->v + (size_t)t * c->kv_dim, c->kv_dim * sizeof(float));
    }
    multi_head_attention(s->xb, c, s, layer, T, pos);
    matmul(s->xb2, s->xb, &lw->wo, T);
    add_in_place(s->x, s->xb2, T * c->dim);
}

/* x += W2 @ (silu(W1 xn) * W3 xn), with xn = RMSNorm(x). */
static void feed_forward_block(const Config *c, const LayerWeights *lw, RunState *s, int T)
{
    rmsnorm_rows(s->xb, s->x, lw->ffn_norm, T, c->dim, c->norm_eps);
    matmul(s->hb, s->xb, &lw->w1, T);
    matmul(s->hb2, s->xb, &lw->w3, T);
    swiglu(s->hb, s->hb2, T * c->hidden_dim);
    matmul(s->xb2, s->hb, &lw->w2, T);
    add_in_place(s->x, s->xb2, T * c->dim);
}

float *forward(const Model *model, RunState *s, const int *tokens, int T, int pos, bool all_logits)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    embed_tokens(s->x, w->token_embedding, tokens, T, c->dim);
    for (int t = 0; t < T; t++)
        rope_angles(s->rope_cos_sin + (size_t)t * c->head_size, s->rope_inv_freq, c->head_size, pos + t);
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(c, &w->layers[l], s, l, T, pos);
        feed_forward_block(c, &w->layers[l], s, T);
    }
    /* Only the rows whose logits are wanted go through the classifier. */
    const int first = all_logits ? 0 : T - 1;
    const int n_rows = T - first;
    const float *x = s->x + (size_t)first * c->dim;
    rmsnorm_rows(s->xb, x, w->final_norm, n_rows, c->dim, c->norm_eps);
    matmul(s->logits, s->xb, &w->classifier, n_rows);
    return s->logits;
}
