/* model.c - loading a checkpoint, and the transformer's forward pass.
 *
 * Part 1 maps a llama2.c checkpoint file and checks every size in its header
 * against the file before a single weight is touched. Part 2 is the model:
 * token embedding, then per layer an attention block and a feed-forward block
 * (each wrapped in RMSNorm and a residual connection), then the classifier. */
#include "model.h"

#include "gguf_weights.h"
#include "llama2c.h"

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

int file_error(char err[ERROR_SIZE], const char *path, const char *fmt, ...)
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

/* ---------------------------------------------------------------------------
 * GGUF files: hyperparameters from the metadata, tensors found by name */

static int load_gguf_layer(const GgufFile *g, const char *path, const Config *c, int l, LayerWeights *lw,
                           char err[ERROR_SIZE])
{
    char name[GGUF_MAX_NAME + 1];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (gguf_vector(g, path, LAYER_TENSOR("attn_norm.weight"), c->dim, &lw->attn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_q.weight"), c->dim, c->dim, &lw->wq, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_k.weight"), c->kv_dim, c->dim, &lw->wk, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_v.weight"), c->kv_dim, c->dim, &lw->wv, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("attn_output.weight"), c->dim, c->dim, &lw->wo, err) ||
        gguf_vector(g, path, LAYER_TENSOR("ffn_norm.weight"), c->dim, &lw->ffn_norm, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_gate.weight"), c->hidden_dim, c->dim, &lw->w_gate, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_down.weight"), c->dim, c->hidden_dim, &lw->w_down, err) ||
        gguf_matrix(g, path, LAYER_TENSOR("ffn_up.weight"), c->hidden_dim, c->dim, &lw->w_up, err))
        return -1;
#undef LAYER_TENSOR
    return 0;
}

static int load_gguf(Model *model, const char *path, char err[ERROR_SIZE])
{
    GgufFile *g = calloc(1, sizeof *g);
    if (!g)
        return file_error(err, path, "out of memory");
    if (gguf_parse(g, model->mapping, model->mapping_size, path, err) != 0) {
        free(g);
        return -1;
    }
    model->gguf = g;
    GgufString arch;
    if (gguf_get_string(g, "general.architecture", &arch) != 0)
        return file_error(err, path, "no general.architecture in its metadata");
    if (arch.len != 5 || memcmp(arch.ptr, "llama", 5) != 0)
        return file_error(err, path, "architecture '%.*s' is not supported (only llama)", (int)(arch.len > 40 ? 40 : arch.len),
                    arch.ptr);
    Config *c = &model->config;
    const GgufTensor *embedding = gguf_find_tensor(g, "token_embd.weight");
    if (!embedding || embedding->n_dims != 2 || embedding->dims[1] > INT32_MAX)
        return file_error(err, path, "tensor token_embd.weight is missing or not a matrix");
    c->vocab_size = (int)embedding->dims[1];
    if (gguf_dimension(g, path, "llama.embedding_length", 0, &c->dim, err) ||
        gguf_dimension(g, path, "llama.feed_forward_length", 0, &c->hidden_dim, err) ||
        gguf_dimension(g, path, "llama.block_count", 0, &c->n_layers, err) ||
        gguf_dimension(g, path, "llama.attention.head_count", 0, &c->n_heads, err) ||
        gguf_dimension(g, path, "llama.attention.head_count_kv", c->n_heads, &c->n_kv_heads, err) ||
        gguf_dimension(g, path, "llama.context_length", 0, &c->seq_len, err))
        return -1;
    char why[ERROR_SIZE];
    if (config_validate(c, why) != 0)
        return file_error(err, path, "bad metadata: %s", why);
    c->head_size = c->dim / c->n_heads;
    c->kv_dim = c->n_kv_heads * c->head_size;
    int rope_dims = 0;
    if (gguf_dimension(g, path, "llama.rope.dimension_count", c->head_size, &rope_dims, err))
        return -1;
    if (rope_dims != c->head_size)
        return file_error(err, path, "llama.rope.dimension_count is %d; only rotating whole heads (%d) is supported",
                    rope_dims, c->head_size);
    c->rope_theta = LLAMA2C_ROPE_THETA;
    c->norm_eps = LLAMA2C_NORM_EPS;
    if (gguf_get_f32(g, "llama.rope.freq_base", &c->rope_theta) == -2 ||
        gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &c->norm_eps) == -2 ||
        !(c->rope_theta > 0) || !(c->norm_eps >= 0) || !isfinite(c->rope_theta) || !isfinite(c->norm_eps))
        return file_error(err, path, "bad llama.rope.freq_base or llama.attention.layer_norm_rms_epsilon");

    Weights *w = &model->weights;
    if (gguf_matrix(g, path, "token_embd.weight", c->vocab_size, c->dim, &w->token_embd, err) ||
        gguf_vector(g, path, "output_norm.weight", c->dim, &w->output_norm, err))
        return -1;
    c->shared_classifier = gguf_find_tensor(g, "output.weight") == NULL;
    if (c->shared_classifier)
        w->output = w->token_embd;
    else if (gguf_matrix(g, path, "output.weight", c->vocab_size, c->dim, &w->output, err))
        return -1;
    const uint64_t tensors_per_layer = 9;
    if ((uint64_t)c->n_layers * tensors_per_layer > g->n_tensors)
        return file_error(err, path, "llama.block_count is %d but the file holds only %llu tensors", c->n_layers,
                    (unsigned long long)g->n_tensors);
    w->layers = calloc((size_t)c->n_layers, sizeof(LayerWeights));
    if (!w->layers)
        return file_error(err, path, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if (load_gguf_layer(g, path, c, l, &w->layers[l], err) != 0)
            return -1;
    return 0;
}

int model_load(Model *model, const char *path, char err[ERROR_SIZE])
{
    memset(model, 0, sizeof *model);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return file_error(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return file_error(err, path, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return file_error(err, path, "empty file");
    }
    void *mapping = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);  /* the mapping keeps the file alive */
    if (mapping == MAP_FAILED)
        return file_error(err, path, "cannot map: %s", strerror(errno));
    model->mapping = mapping;
    model->mapping_size = size;
    if (size >= 4 && memcmp(mapping, GGUF_MAGIC, 4) == 0) {
        if (load_gguf(model, path, err) != 0)
            goto failed;
        return 0;
    }

    if (llama2c_load(model, path, err) != 0)
        goto failed;
    return 0;

failed:
    model_free(model);
    return -1;
}

bool model_map_pages(const Model *model)
{
    const long page = sysconf(_SC_PAGESIZE), free_pages = sysconf(_SC_AVPHYS_PAGES);
    if (page <= 0 || free_pages <= 0 || model->mapping_size / (size_t)page > (size_t)free_pages / 2)
        return false;  /* it may not all fit: leave the paging to the kernel */
    /* One read per page: the kernel maps the page and its neighbours in
     * one fault (fault-around), and the threads take faults side by side. */
    const volatile unsigned char *bytes = model->mapping;
    const long n_pages = (long)((model->mapping_size + (size_t)page - 1) / (size_t)page);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n_pages; i++)
        (void)bytes[(size_t)i * (size_t)page];
    return true;
}

void model_free(Model *model)
{
    if (model->gguf) {
        gguf_free(model->gguf);
        free(model->gguf);
    }
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

/* Room for the panels of a float matmul's input: (max_batch rounded up to
 * whole panels, cols) floats, 64-byte aligned so that a panel's column is
 * one cache line. NULL when out of memory or the size overflows. */
static float *alloc_panels(size_t max_batch, size_t cols)
{
    size_t tokens = (max_batch + MATMUL_PANEL_TOKENS - 1) / MATMUL_PANEL_TOKENS * MATMUL_PANEL_TOKENS, n;
    if (__builtin_mul_overflow(tokens, cols * sizeof(float), &n) || n > SIZE_MAX - 64)
        return NULL;
    void *p = NULL;
    return posix_memalign(&p, 64, (n + 63) / 64 * 64) == 0 ? p : NULL;
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
    /* Decoding's rows of weights, or a batch's scratch for each (head, block of queries). */
    const size_t blocks = (B + ATTENTION_BLOCK - 1) / ATTENTION_BLOCK;
    s->att = alloc_floats(blocks * c->n_heads, ATTENTION_SCRATCH(c->seq_len, c->head_size), 1);
    s->hb = alloc_floats(B, c->hidden_dim, 1);
    s->hb2 = alloc_floats(B, c->hidden_dim, 1);
    s->logits = alloc_floats(B, c->vocab_size, 1);
    s->key_cache = alloc_floats(c->n_layers, c->seq_len, c->kv_dim);
    s->value_cache = alloc_floats(c->n_layers, c->seq_len, c->kv_dim);
    s->rope_inv_freq = alloc_floats(c->head_size / 2, 1, 1);
    s->rope_cos_sin = alloc_floats(B, c->head_size, 1);
    const int widest = c->hidden_dim > c->dim ? c->hidden_dim : c->dim;
    s->matmul_scratch.scales = alloc_floats(B, widest, 1);  /* more than enough: one per group */
    s->matmul_scratch.values = (int8_t *)alloc_floats(B, widest, 1);
    s->matmul_scratch.panels = alloc_panels(B, widest);
    if (!s->matmul_scratch.scales || !s->matmul_scratch.values || !s->matmul_scratch.panels || !s->x || !s->xb || !s->xb2 || !s->q || !s->k || !s->v || !s->att || !s->hb || !s->hb2 ||
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
                        s->key_cache, s->value_cache, s->rope_inv_freq, s->rope_cos_sin,
                        s->matmul_scratch.scales, (float *)s->matmul_scratch.values, s->matmul_scratch.panels};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        free(buffers[i]);
    memset(s, 0, sizeof *s);
}

/* x (T, dim) = the embedding rows of the T tokens. */
static void embed_tokens(float *x, const Matrix *token_embd, const int *tokens, int T)
{
    for (int t = 0; t < T; t++)
        matrix_row(x + (size_t)t * token_embd->cols, token_embd, tokens[t]);
}

static void rmsnorm_rows(float *out, const float *x, const float *weight, int T, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)T * dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++)
        rmsnorm(out + (size_t)t * dim, x + (size_t)t * dim, weight, dim, eps);
}

/* Where the key or value of one kv head at one position is kept. */
static float *cache_row(float *cache, const Config *c, int layer, int kv_head, int pos)
{
    return cache + (((size_t)layer * c->n_kv_heads + kv_head) * c->seq_len + pos) * c->head_size;
}

/* Each query head looks back over every cached position up to its own:
 * scores = q.k / sqrt(head_size), softmax, then the weighted sum of values.
 * With grouped-query attention, n_heads / n_kv_heads query heads share one
 * key/value head. out (T, dim). */
static void multi_head_attention(float *out, const Config *c, RunState *s, int layer, int T, int pos, int first)
{
    const int heads_per_kv = c->n_heads / c->n_kv_heads;
    const float inv_sqrt_head = 1.0f / sqrtf((float)c->head_size);
    const size_t work = (size_t)(T - first) * c->n_heads * (pos + T) * c->head_size;
    if (T - first > 1 && !s->attention_record) {
        /* A batch: every (head, block of queries) is independent, and its
         * queries go through the keys and values together. */
        const int n_blocks = (T - first + ATTENTION_BLOCK - 1) / ATTENTION_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (work >= PARALLEL_MIN_WORK)
        for (int h = 0; h < c->n_heads; h++) {
            for (int b = 0; b < n_blocks; b++) {
                const int t0 = first + b * ATTENTION_BLOCK;
                const int n_queries = T - t0 < ATTENTION_BLOCK ? T - t0 : ATTENTION_BLOCK;
                float *scratch = s->att + ((size_t)b * c->n_heads + h) * ATTENTION_SCRATCH(c->seq_len, c->head_size);
                attention_query_block(out + (size_t)t0 * c->dim + (size_t)h * c->head_size, c->dim,
                                      s->q + (size_t)t0 * c->dim + (size_t)h * c->head_size, c->dim, n_queries,
                                      pos + t0, cache_row(s->key_cache, c, layer, h / heads_per_kv, 0),
                                      cache_row(s->value_cache, c, layer, h / heads_per_kv, 0), c->head_size,
                                      c->head_size, inv_sqrt_head, scratch);
            }
        }
        return;
    }
    /* Decoding, and batches whose attention weights are being recorded:
     * query by query; every (head, query) is independent. */
#pragma omp parallel for collapse(2) schedule(static) if (work >= PARALLEL_MIN_WORK)
    for (int h = 0; h < c->n_heads; h++) {
        for (int t = first; t < T; t++) {
            const int n_visible = pos + t + 1;  /* causal: no peeking ahead */
            float *row = s->att + ((size_t)t * c->n_heads + h) * c->seq_len;
            attention_scores(row, s->q + (size_t)t * c->dim + (size_t)h * c->head_size,
                             cache_row(s->key_cache, c, layer, h / heads_per_kv, 0), c->head_size, n_visible,
                             c->head_size, inv_sqrt_head);
            softmax(row, n_visible);
            if (s->attention_record && pos + t < s->record_capacity) {
                size_t rec = ((size_t)layer * c->n_heads + h) * s->record_capacity + pos + t;
                memcpy(s->attention_record + rec * s->record_capacity, row, n_visible * sizeof(float));
            }
            attention_weighted_sum(out + (size_t)t * c->dim + (size_t)h * c->head_size, row,
                                   cache_row(s->value_cache, c, layer, h / heads_per_kv, 0), c->head_size, n_visible,
                                   c->head_size);
        }
    }
}

/* x += Wo @ attention(RoPE(Wq xn), RoPE(Wk xn), Wv xn), with xn = RMSNorm(x),
 * for the tokens [first, T); the tokens before first give only their keys
 * and values (see forward). */
static void attention_block(const Config *c, const LayerWeights *lw, RunState *s, int layer, int T, int pos,
                            int first)
{
    rmsnorm_rows(s->xb, s->x, lw->attn_norm, T, c->dim, c->norm_eps);
    const size_t rows_before = (size_t)first * c->dim;
    if (first == 0) {
        float *const qkv[] = {s->q, s->k, s->v};
        const Matrix *const wqkv[] = {&lw->wq, &lw->wk, &lw->wv};
        matmul_shared_input(qkv, wqkv, 3, s->xb, T, &s->matmul_scratch);
    } else {
        float *const kv[] = {s->k, s->v};
        const Matrix *const wkv[] = {&lw->wk, &lw->wv};
        matmul_shared_input(kv, wkv, 2, s->xb, T, &s->matmul_scratch);
        if (first < T)
            matmul(s->q + rows_before, s->xb + rows_before, &lw->wq, T - first, &s->matmul_scratch);
    }
    /* Each token's rotation and cache rows are its own: the threads share
     * the tokens (and the first writes to the cache's pages). */
#pragma omp parallel for schedule(static) if ((size_t)T * c->dim >= PARALLEL_MIN_WORK)
    for (int t = 0; t < T; t++) {
        /* Rotating q and k by their positions makes q.k depend on the
         * distance between the two tokens: that is all the model knows of order. */
        const float *cos_sin = s->rope_cos_sin + (size_t)t * c->head_size;
        if (t >= first)
            rope_rotate(s->q + (size_t)t * c->dim, cos_sin, c->n_heads, c->head_size);
        rope_rotate(s->k + (size_t)t * c->kv_dim, cos_sin, c->n_kv_heads, c->head_size);
        /* Keys and values are kept so later tokens can attend to this one. */
        for (int kv = 0; kv < c->n_kv_heads; kv++) {
            const size_t head = (size_t)t * c->kv_dim + (size_t)kv * c->head_size;
            memcpy(cache_row(s->key_cache, c, layer, kv, pos + t), s->k + head, c->head_size * sizeof(float));
            memcpy(cache_row(s->value_cache, c, layer, kv, pos + t), s->v + head, c->head_size * sizeof(float));
        }
    }
    if (first == T)
        return;
    multi_head_attention(s->xb, c, s, layer, T, pos, first);
    matmul(s->xb2 + rows_before, s->xb + rows_before, &lw->wo, T - first, &s->matmul_scratch);
    add_in_place(s->x + rows_before, s->xb2 + rows_before, (T - first) * c->dim);
}

/* x += W_down @ (silu(W_gate xn) * W_up xn), with xn = RMSNorm(x), for the n rows of x. */
static void feed_forward_block(const Config *c, const LayerWeights *lw, RunState *s, float *x, int n)
{
    rmsnorm_rows(s->xb, x, lw->ffn_norm, n, c->dim, c->norm_eps);
    float *const gate_up[] = {s->hb, s->hb2};
    const Matrix *const w13[] = {&lw->w_gate, &lw->w_up};
    matmul_shared_input(gate_up, w13, 2, s->xb, n, &s->matmul_scratch);
    swiglu(s->hb, s->hb2, n * c->hidden_dim);
    matmul(s->xb2, s->hb, &lw->w_down, n, &s->matmul_scratch);
    add_in_place(x, s->xb2, n * c->dim);
}

float *forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    embed_tokens(s->x, &w->token_embd, tokens, T);
    for (int t = 0; t < T; t++)
        rope_angles(s->rope_cos_sin + (size_t)t * c->head_size, s->rope_inv_freq, c->head_size, pos + t);
    /* Only the rows whose logits are wanted go through the last layer's
     * attention and feed-forward, and then the classifier; the other tokens
     * give that layer their keys and values, which later tokens will need,
     * and nothing else of theirs is read again. (Unless every layer's
     * attention is being recorded.) */
    const int first = wanted == LOGITS_ALL ? 0 : T - 1;  /* the first row whose logits are wanted */
    const int last_layer_first = s->attention_record ? 0 : wanted == LOGITS_NONE ? T : first;
    for (int l = 0; l < c->n_layers; l++) {
        const int layer_first = l == c->n_layers - 1 ? last_layer_first : 0;
        attention_block(c, &w->layers[l], s, l, T, pos, layer_first);
        if (layer_first < T)
            feed_forward_block(c, &w->layers[l], s, s->x + (size_t)layer_first * c->dim, T - layer_first);
    }
    if (wanted == LOGITS_NONE)
        return NULL;
    const int n_rows = T - first;
    const float *x = s->x + (size_t)first * c->dim;
    rmsnorm_rows(s->xb, x, w->output_norm, n_rows, c->dim, c->norm_eps);
    matmul(s->logits, s->xb, &w->output, n_rows, &s->matmul_scratch);
    return s->logits;
}
