/* gguf_write.c - GGUF files written (see gguf_write.h): Q8_0 as ggml makes
 * it, a writer of metadata and tensors, and a model as a Q8_0 GGUF. */
#include "gguf_write.h"

#include "arch.h"
#include "save_file.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------
 * Part 1: the writer */

static void writer_fail(GgufWriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void writer_fail(GgufWriter *w, const char *fmt, ...)
{
    if (w->error[0])
        return;  /* the first error is the one to report */
    va_list args;
    va_start(args, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, args);
    va_end(args);
}

void gguf_writer_init(GgufWriter *w)
{
    memset(w, 0, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

void gguf_writer_free(GgufWriter *w)
{
    free(w->kv);
    free(w->tensors);
    memset(w, 0, sizeof *w);
}

/* Room for n more bytes of metadata; false (and the writer failed) if out of memory. */
static bool kv_reserve(GgufWriter *w, size_t n)
{
    if (w->error[0])
        return false;
    if (n <= w->kv_capacity - w->kv_size)
        return true;
    size_t capacity = w->kv_capacity ? w->kv_capacity : 4096;
    while (capacity - w->kv_size < n) {
        if (capacity > SIZE_MAX / 2) {
            writer_fail(w, "metadata too large");
            return false;
        }
        capacity *= 2;
    }
    unsigned char *grown = realloc(w->kv, capacity);
    if (!grown) {
        writer_fail(w, "out of memory for the metadata");
        return false;
    }
    w->kv = grown;
    w->kv_capacity = capacity;
    return true;
}

/* Little-endian, byte by byte: the file's order whatever the host's. */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* Appends the bytes of one entry's parts; kv_reserve has made room. */
static void kv_put(GgufWriter *w, const void *bytes, size_t n)
{
    memcpy(w->kv + w->kv_size, bytes, n);
    w->kv_size += n;
}

static void kv_put_le(GgufWriter *w, uint64_t v, int n)
{
    put_le(w->kv + w->kv_size, v, n);
    w->kv_size += n;
}

/* The key and the value type of an entry whose value takes value_bytes. */
static bool kv_begin(GgufWriter *w, const char *key, GgufValueType type, size_t value_bytes)
{
    const size_t key_len = strlen(key);
    if (!kv_reserve(w, 8 + key_len + 4 + value_bytes))
        return false;
    kv_put_le(w, key_len, 8);
    kv_put(w, key, key_len);
    kv_put_le(w, type, 4);
    w->n_kv++;
    return true;
}

void gguf_writer_kv_raw(GgufWriter *w, const void *entry, size_t size)
{
    if (!kv_reserve(w, size))
        return;
    kv_put(w, entry, size);
    w->n_kv++;
}

void gguf_writer_kv_u32(GgufWriter *w, const char *key, uint32_t value)
{
    if (kv_begin(w, key, GGUF_TYPE_UINT32, 4))
        kv_put_le(w, value, 4);
}

void gguf_writer_kv_f32(GgufWriter *w, const char *key, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (kv_begin(w, key, GGUF_TYPE_FLOAT32, 4))
        kv_put_le(w, bits, 4);
}

void gguf_writer_kv_string(GgufWriter *w, const char *key, const char *value)
{
    const size_t len = strlen(value);
    if (kv_begin(w, key, GGUF_TYPE_STRING, 8 + len)) {
        kv_put_le(w, len, 8);
        kv_put(w, value, len);
    }
}

/* A new tensor entry with its name and dimensions, or NULL (the writer failed). */
static GgufWriterTensor *tensor_begin(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims)
{
    if (w->error[0])
        return NULL;
    if (strlen(name) > GGUF_MAX_NAME) {
        writer_fail(w, "tensor name '%.64s...' is longer than GGUF's %d bytes", name, GGUF_MAX_NAME);
        return NULL;
    }
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        writer_fail(w, "tensor %s has %u dimensions; GGUF tensors have 1 to %d", name, n_dims, GGUF_MAX_DIMS);
        return NULL;
    }
    if (w->n_tensors == w->tensor_capacity) {
        size_t capacity = w->tensor_capacity ? 2 * w->tensor_capacity : 64;
        GgufWriterTensor *grown = realloc(w->tensors, capacity * sizeof *grown);
        if (!grown) {
            writer_fail(w, "out of memory for %zu tensors", capacity);
            return NULL;
        }
        w->tensors = grown;
        w->tensor_capacity = capacity;
    }
    GgufWriterTensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; d++)
        t->dims[d] = dims[d];
    return t;
}

void gguf_writer_tensor_bytes(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                              uint32_t ggml_type, const void *data, uint64_t size)
{
    GgufWriterTensor *t = tensor_begin(w, name, n_dims, dims);
    if (!t)
        return;
    t->type = ggml_type;
    t->size = size;
    t->source = GGUF_FROM_BYTES;
    t->bytes = data;
}

void gguf_writer_tensor_as(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims, const Matrix *m,
                           WeightType type)
{
    const WeightTypeInfo *to = &weight_types[type];
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims && d < GGUF_MAX_DIMS; d++)
        n *= dims[d];
    if (!w->error[0] && (n_dims < 1 || dims[0] != (uint64_t)m->cols || n != (uint64_t)m->rows * m->cols)) {
        writer_fail(w, "tensor %s: its dimensions do not hold its %d x %d values", name, m->rows, m->cols);
        return;
    }
    if (!to->quantize_row || to->ggml_type < 0) {
        writer_fail(w, "tensor %s: cannot write %s", name, to->name);
        return;
    }
    if (m->cols % to->block_values != 0) {
        writer_fail(w, "tensor %s: rows of %d values are not whole %s blocks of %d", name, m->cols, to->name,
                    to->block_values);
        return;
    }
    GgufWriterTensor *t = tensor_begin(w, name, n_dims, dims);
    if (!t)
        return;
    t->source = type == WEIGHT_F32 ? GGUF_FROM_F32 : GGUF_FROM_QUANTIZED;
    t->matrix = *m;
    t->written = type;
    t->type = (uint32_t)to->ggml_type;
    t->size = weight_type_size(type, n);
}

void gguf_writer_tensor_rows(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                             const Matrix *m, GgufTensorSource as)
{
    gguf_writer_tensor_as(w, name, n_dims, dims, m, as == GGUF_FROM_F32 ? WEIGHT_F32 : WEIGHT_Q8_0);
}

static uint64_t align_up(uint64_t n, uint64_t alignment)
{
    return (n + alignment - 1) / alignment * alignment;
}

/* Zeros up to the next multiple of the alignment after `written` bytes. */
static bool write_padding(FILE *f, uint64_t written, uint64_t alignment)
{
    static const unsigned char zeros[256];
    uint64_t n = align_up(written, alignment) - written;
    while (n > 0) {
        size_t chunk = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (fwrite(zeros, 1, chunk, f) != chunk)
            return false;
        n -= chunk;
    }
    return true;
}

/* Header, metadata and tensor infos; returns the bytes written, 0 on a write error. */
static uint64_t write_head(FILE *f, const GgufWriter *w)
{
    unsigned char header[4 + 4 + 8 + 8];
    memcpy(header, GGUF_MAGIC, 4);
    put_le(header + 4, 3, 4);
    put_le(header + 8, w->n_tensors, 8);
    put_le(header + 16, w->n_kv, 8);
    if (fwrite(header, 1, sizeof header, f) != sizeof header || fwrite(w->kv, 1, w->kv_size, f) != w->kv_size)
        return 0;
    uint64_t written = sizeof header + w->kv_size;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const GgufWriterTensor *t = &w->tensors[i];
        unsigned char info[8 + GGUF_MAX_NAME + 4 + 8 * GGUF_MAX_DIMS + 4 + 8];
        const size_t name_len = strlen(t->name);
        size_t n = 0;
        put_le(info, name_len, 8), n += 8;
        memcpy(info + n, t->name, name_len), n += name_len;
        put_le(info + n, t->n_dims, 4), n += 4;
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_le(info + n, t->dims[d], 8), n += 8;
        put_le(info + n, t->type, 4), n += 4;
        put_le(info + n, t->offset, 8), n += 8;
        if (fwrite(info, 1, n, f) != n)
            return 0;
        written += n;
    }
    return written;
}

/* One tensor's data; row and blocks are scratch for its widest row. */
static bool write_tensor_data(FILE *f, const GgufWriterTensor *t, float *row, unsigned char *blocks)
{
    if (t->source == GGUF_FROM_BYTES)
        return fwrite(t->bytes, 1, t->size, f) == t->size;
    const Matrix *m = &t->matrix;
    const size_t bytes = (size_t)weight_type_size(t->written, (uint64_t)m->cols);
    for (int r = 0; r < m->rows; r++) {
        matrix_row(row, m, r);
        weight_types[t->written].quantize_row(blocks, row, (size_t)m->cols);
        if (fwrite(blocks, 1, bytes, f) != bytes)
            return false;
    }
    return true;
}

int gguf_writer_save(GgufWriter *w, const char *path, char err[ERROR_SIZE])
{
    if (w->error[0])
        return file_error(err, path, "cannot write: %s", w->error);
    /* Offsets first: the tensor infos hold them. */
    uint64_t offset = 0;
    int widest = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        GgufWriterTensor *t = &w->tensors[i];
        t->offset = offset;
        offset = align_up(offset + t->size, w->alignment);
        if (t->source != GGUF_FROM_BYTES && t->matrix.cols > widest)
            widest = t->matrix.cols;
    }
    float *row = malloc(((size_t)widest + 1) * sizeof(float));
    unsigned char *blocks = malloc(((size_t)widest + 1) * sizeof(float));  /* no type takes more than F32 */
    if (!row || !blocks) {
        free(row), free(blocks);
        return file_error(err, path, "cannot write: out of memory");
    }
    SaveFile out;
    if (save_begin(&out, path, err) != 0) {
        free(row), free(blocks);
        return -1;
    }
    const uint64_t head = write_head(out.f, w);
    bool ok = head > 0 && write_padding(out.f, head, w->alignment);
    for (size_t i = 0; ok && i < w->n_tensors; i++)
        ok = write_tensor_data(out.f, &w->tensors[i], row, blocks) &&
             write_padding(out.f, w->tensors[i].size, w->alignment);
    free(row), free(blocks);
    return save_end(&out, ok, err);
}

/* ---------------------------------------------------------------------------
 * Part 2: a model as a Q8_0 GGUF file */

/* ---------------------------------------------------------------------------
 * What --type writes */

/* What every matrix's type depends on, besides its name. */
typedef struct {
    const QuantizeRecipe *recipe;
    int n_layers;
    bool has_output;  /* a classifier of its own (else token_embd is it) */
} SaveContext;

/* llama.cpp's general.file_type (enum llama_ftype) of each recipe */
#define FILE_TYPE_MOSTLY_Q4_0 2
#define FILE_TYPE_MOSTLY_Q4_K_S 14
#define FILE_TYPE_MOSTLY_Q4_K_M 15

const QuantizeRecipe quantize_recipes[] = {
    {"q8_0", WEIGHT_Q8_0, GGUF_FILE_TYPE_MOSTLY_Q8_0, false, false},
    {"q4_0", WEIGHT_Q4_0, FILE_TYPE_MOSTLY_Q4_0, true, false},
    {"q4_k", WEIGHT_Q4_K, FILE_TYPE_MOSTLY_Q4_K_S, false, false},
    {"q4_k_m", WEIGHT_Q4_K, FILE_TYPE_MOSTLY_Q4_K_M, true, true},
};
#define N_RECIPES (sizeof quantize_recipes / sizeof quantize_recipes[0])

const QuantizeRecipe *quantize_recipe(const char *name)
{
    for (size_t i = 0; i < N_RECIPES; i++)
        if (strcasecmp(name, quantize_recipes[i].name) == 0)
            return &quantize_recipes[i];
    return NULL;
}

void quantize_recipe_names(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_RECIPES && used < size; i++) {
        const int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", quantize_recipes[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* llama.cpp's use_more_bits: Q4_K_M's layers whose attn_v and ffn_down get
 * Q6_K (the first and last eighth, and every third between). */
static bool uses_more_bits(int layer, int n_layers)
{
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The type the recipe gives the matrix `name`, as llama.cpp's quantizer
 * does: the classifier (or the embedding table that stands in for it) in
 * Q6_K, and under Q4_K_M the attn_v and ffn_down of some layers. */
static WeightType recipe_type(const SaveContext *ctx, const char *name)
{
    const QuantizeRecipe *r = ctx->recipe;
    if (r->output_q6_k &&
        (strcmp(name, "output.weight") == 0 || (!ctx->has_output && strcmp(name, "token_embd.weight") == 0)))
        return WEIGHT_Q6_K;
    int layer;
    if (r->more_bits && (ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight")) &&
        sscanf(name, "blk.%d.", &layer) == 1 && uses_more_bits(layer, ctx->n_layers))
        return WEIGHT_Q6_K;
    return r->type;
}

/* llama.cpp's stand-in for a k-quant when a row is not whole super-blocks
 * of 256: Q4_K -> Q5_0, Q6_K -> Q8_0 (blocks of 32). */
static WeightType stand_in(WeightType type)
{
    return type == WEIGHT_Q4_K ? WEIGHT_Q5_0 : type == WEIGHT_Q6_K ? WEIGHT_Q8_0 : type;
}

static double bits_per_weight(WeightType type)
{
    const WeightTypeInfo *info = &weight_types[type];
    return 8.0 * info->block_bytes / info->block_values;
}

static void note_kept(GgufSaveSummary *s, const char *name, const char *type)
{
    if (s->kept++ == 0)
        snprintf(s->kept_name, sizeof s->kept_name, "%s", name), snprintf(s->kept_type, sizeof s->kept_type, "%s", type);
}

/* Adds a matrix (dims in ggml order, the product m->rows * m->cols) in the
 * recipe's type for it: quantized from its values when it has more bits per
 * weight than that type (or is llama2.c's int8, which GGUF lacks), copied as
 * it is otherwise (a second rounding would only lose); as it was when its
 * rows are not whole blocks of the type (nor of its stand-in). */
static void add_matrix(GgufWriter *w, GgufSaveSummary *s, const SaveContext *ctx, const char *name, uint32_t n_dims,
                       const uint64_t *dims, const Matrix *m)
{
    const WeightTypeInfo *info = &weight_types[m->type];
    WeightType target = recipe_type(ctx, name);
    if (m->cols % weight_types[target].block_values != 0)
        target = stand_in(target);
    const bool whole_blocks = m->cols % weight_types[target].block_values == 0;
    if (info->ggml_type >= 0 && bits_per_weight(m->type) <= bits_per_weight(target)) {
        gguf_writer_tensor_bytes(w, name, n_dims, dims, (uint32_t)info->ggml_type, m->data,
                                 weight_type_size(m->type, (uint64_t)m->rows * (uint64_t)m->cols));
        s->copied++;
        return;
    }
    if (whole_blocks) {
        gguf_writer_tensor_as(w, name, n_dims, dims, m, target);
        s->written[target]++;
        if (info->input == INPUT_FLOATS)  /* F32, F16, BF16 */
            s->quantized++;
        else
            s->requantized++;
        return;
    }
    if (info->ggml_type < 0) {  /* llama2.c's int8 has no GGUF type: its values as F32 */
        gguf_writer_tensor_as(w, name, n_dims, dims, m, WEIGHT_F32);
        note_kept(s, name, "F32");
        return;
    }
    gguf_writer_tensor_bytes(w, name, n_dims, dims, (uint32_t)info->ggml_type, m->data,
                             weight_type_size(m->type, (uint64_t)m->rows * (uint64_t)m->cols));
    note_kept(s, name, info->name);
}

static void add_vector(GgufWriter *w, GgufSaveSummary *s, const char *name, const float *v, int n)
{
    const uint64_t dims[1] = {(uint64_t)n};
    gguf_writer_tensor_bytes(w, name, 1, dims, GGML_TYPE_F32, v, (uint64_t)n * sizeof(float));
    s->others++;
}

static void add_model_matrix(GgufWriter *w, GgufSaveSummary *s, const SaveContext *ctx, const char *name,
                             const Matrix *m)
{
    const uint64_t dims[2] = {(uint64_t)m->cols, (uint64_t)m->rows};
    add_matrix(w, s, ctx, name, 2, dims, m);
}

/* A layer's tensor name: "blk.l.suffix". */
static const char *layer_name(char name[GGUF_MAX_NAME + 1], int l, const char *suffix)
{
    snprintf(name, GGUF_MAX_NAME + 1, "blk.%d.%s", l, suffix);
    return name;
}

static void add_quantization_kvs(GgufWriter *w, const SaveContext *ctx)
{
    gguf_writer_kv_u32(w, "general.quantization_version", GGUF_QUANTIZATION_VERSION);
    gguf_writer_kv_u32(w, "general.file_type", ctx->recipe->file_type);
}

/* A llama2.c checkpoint: llama.* metadata as llama.cpp names it, tensors in
 * the order of its convert-llama2c-to-ggml. */
static void add_llama(GgufWriter *w, GgufSaveSummary *s, const SaveContext *ctx, const Model *model)
{
    const Config *c = &model->config;
    const Weights *wt = &model->weights;
    gguf_writer_kv_string(w, "general.architecture", "llama");
    gguf_writer_kv_u32(w, "llama.context_length", (uint32_t)c->seq_len);
    gguf_writer_kv_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    gguf_writer_kv_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    gguf_writer_kv_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    gguf_writer_kv_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    gguf_writer_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    gguf_writer_kv_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_size);
    gguf_writer_kv_f32(w, "llama.rope.freq_base", c->rope_theta);
    gguf_writer_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    add_quantization_kvs(w, ctx);

    add_model_matrix(w, s, ctx, "token_embd.weight", &wt->token_embd);
    add_vector(w, s, "output_norm.weight", wt->output_norm, c->dim);
    if (!c->shared_classifier)
        add_model_matrix(w, s, ctx, "output.weight", &wt->output);
    char name[GGUF_MAX_NAME + 1];
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &wt->layers[l];
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_q.weight"), &lw->wq);
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_k.weight"), &lw->wk);
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_v.weight"), &lw->wv);
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_output.weight"), &lw->wo);
        add_vector(w, s, layer_name(name, l, "attn_norm.weight"), lw->attn_norm, c->dim);
        add_model_matrix(w, s, ctx, layer_name(name, l, "ffn_gate.weight"), &lw->w_gate);
        add_model_matrix(w, s, ctx, layer_name(name, l, "ffn_down.weight"), &lw->w_down);
        add_model_matrix(w, s, ctx, layer_name(name, l, "ffn_up.weight"), &lw->w_up);
        add_vector(w, s, layer_name(name, l, "ffn_norm.weight"), lw->ffn_norm, c->dim);
    }
}

/* An llm.c checkpoint: gpt2.* metadata and tensors in the order of llama.cpp's
 * convert_hf_to_gguf.py for GPT-2. q, k and v are views of one matrix's rows
 * (gpt2_split_qkv), written back as that one matrix. */
static int add_gpt2(GgufWriter *w, GgufSaveSummary *s, const SaveContext *ctx, const Model *model, const char *model_path,
                    char err[ERROR_SIZE])
{
    const Config *c = &model->config;
    const Weights *wt = &model->weights;
    gguf_writer_kv_string(w, "general.architecture", "gpt2");
    gguf_writer_kv_u32(w, "gpt2.context_length", (uint32_t)c->seq_len);
    gguf_writer_kv_u32(w, "gpt2.embedding_length", (uint32_t)c->dim);
    gguf_writer_kv_u32(w, "gpt2.feed_forward_length", (uint32_t)c->hidden_dim);
    gguf_writer_kv_u32(w, "gpt2.block_count", (uint32_t)c->n_layers);
    gguf_writer_kv_u32(w, "gpt2.attention.head_count", (uint32_t)c->n_heads);
    gguf_writer_kv_f32(w, "gpt2.attention.layer_norm_epsilon", c->norm_eps);
    add_quantization_kvs(w, ctx);

    add_model_matrix(w, s, ctx, "token_embd.weight", &wt->token_embd);
    /* The position table is added to the stream, not multiplied: llama.cpp's
     * quantizer leaves it as it is, and so does this. */
    const uint64_t position_dims[2] = {(uint64_t)c->dim, (uint64_t)c->seq_len};
    gguf_writer_tensor_bytes(w, "position_embd.weight", 2, position_dims, GGML_TYPE_F32, wt->position_embd.data,
                             (uint64_t)c->seq_len * c->dim * sizeof(float));
    s->others++;
    char name[GGUF_MAX_NAME + 1];
    const int qkv_rows = c->dim + 2 * c->kv_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &wt->layers[l];
        Matrix wqkv = lw->wq;
        wqkv.rows = qkv_rows;
        if (matrix_rows(&wqkv, c->dim, c->kv_dim).data != lw->wk.data ||
            matrix_rows(&wqkv, c->dim + c->kv_dim, c->kv_dim).data != lw->wv.data || lw->bk != lw->bq + c->dim ||
            lw->bv != lw->bq + c->dim + c->kv_dim)
            return file_error(err, model_path, "layer %d's q, k and v are not one matrix: cannot write attn_qkv", l);
        add_vector(w, s, layer_name(name, l, "attn_norm.weight"), lw->attn_norm, c->dim);
        add_vector(w, s, layer_name(name, l, "attn_norm.bias"), lw->attn_norm_bias, c->dim);
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_qkv.weight"), &wqkv);
        add_vector(w, s, layer_name(name, l, "attn_qkv.bias"), lw->bq, qkv_rows);
        add_model_matrix(w, s, ctx, layer_name(name, l, "attn_output.weight"), &lw->wo);
        add_vector(w, s, layer_name(name, l, "attn_output.bias"), lw->bo, c->dim);
        add_vector(w, s, layer_name(name, l, "ffn_norm.weight"), lw->ffn_norm, c->dim);
        add_vector(w, s, layer_name(name, l, "ffn_norm.bias"), lw->ffn_norm_bias, c->dim);
        add_model_matrix(w, s, ctx, layer_name(name, l, "ffn_up.weight"), &lw->w_up);
        add_vector(w, s, layer_name(name, l, "ffn_up.bias"), lw->b_up, c->hidden_dim);
        add_model_matrix(w, s, ctx, layer_name(name, l, "ffn_down.weight"), &lw->w_down);
        add_vector(w, s, layer_name(name, l, "ffn_down.bias"), lw->b_down, c->dim);
    }
    add_vector(w, s, "output_norm.weight", wt->output_norm, c->dim);
    add_vector(w, s, "output_norm.bias", wt->output_norm_bias, c->dim);
    if (!c->shared_classifier)
        add_model_matrix(w, s, ctx, "output.weight", &wt->output);
    return 0;
}

/* A GGUF file: its metadata entries byte for byte (but the two that say how
 * the file is quantized), and its tensors by the rules of add_matrix. */
static int add_gguf(GgufWriter *w, GgufSaveSummary *s, const SaveContext *ctx, const GgufFile *g, const char *model_path,
                    char err[ERROR_SIZE])
{
    w->alignment = g->alignment;  /* general.alignment, copied below, says so */
    bool have_version = false, have_file_type = false;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const GgufKV *kv = &g->kvs[i];
        if (gguf_string_equals(kv->key, "general.quantization_version")) {
            gguf_writer_kv_u32(w, "general.quantization_version", GGUF_QUANTIZATION_VERSION);
            have_version = true;
        } else if (gguf_string_equals(kv->key, "general.file_type")) {
            gguf_writer_kv_u32(w, "general.file_type", ctx->recipe->file_type);
            have_file_type = true;
        } else {
            gguf_writer_kv_raw(w, kv->raw, kv->raw_size);
        }
    }
    if (!have_version)
        gguf_writer_kv_u32(w, "general.quantization_version", GGUF_QUANTIZATION_VERSION);
    if (!have_file_type)
        gguf_writer_kv_u32(w, "general.file_type", ctx->recipe->file_type);
    s->vocabulary = gguf_find_kv(g, "tokenizer.ggml.tokens") != NULL;

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const GgufTensor *t = &g->tensors[i];
        char name[GGUF_MAX_NAME + 1];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (strlen(name) != t->name.len)  /* a NUL inside: the name would not survive */
            return file_error(err, model_path, "tensor %llu's name holds a NUL byte", (unsigned long long)i);
        WeightType type;
        if (t->size_bytes == 0 || weight_type_from_ggml(t->type, &type) != 0)
            return file_error(err, model_path, "tensor %s has type %s, which ./run quantize cannot copy", name,
                              gguf_type_name(t->type));
        const bool matrix = t->n_dims >= 2 && strcmp(name, "position_embd.weight") != 0;
        const uint64_t rows = t->n_elements / t->dims[0];
        if (!matrix) {
            gguf_writer_tensor_bytes(w, name, t->n_dims, t->dims, t->type, t->data, t->size_bytes);
            s->others++;
            continue;
        }
        if (t->dims[0] > INT32_MAX || rows > INT32_MAX)
            return file_error(err, model_path, "tensor %s: %llu rows of %llu values are more than this engine "
                              "handles", name, (unsigned long long)rows, (unsigned long long)t->dims[0]);
        const Matrix m = {type, (int)rows, (int)t->dims[0], t->data, NULL, 0};
        add_matrix(w, s, ctx, name, t->n_dims, t->dims, &m);
    }
    return 0;
}

int model_save_gguf(const Model *model, const char *model_path, const char *path, const QuantizeRecipe *recipe,
                    GgufSaveSummary *summary, char err[ERROR_SIZE])
{
    memset(summary, 0, sizeof *summary);
    SaveContext c = {recipe, model->config.n_layers, !model->config.shared_classifier};
    if (model->gguf)
        c.has_output = gguf_find_tensor(model->gguf, "output.weight") != NULL;
    GgufWriter w;
    gguf_writer_init(&w);
    int rc = 0;
    if (model->gguf) {
        summary->from_gguf = true;
        rc = add_gguf(&w, summary, &c, model->gguf, model_path, err);
    } else if (model->arch == find_architecture("llama", strlen("llama"))) {
        add_llama(&w, summary, &c, model);
    } else if (model->arch == find_architecture("gpt2", strlen("gpt2"))) {
        rc = add_gpt2(&w, summary, &c, model, model_path, err);
    } else {
        rc = file_error(err, model_path, "cannot write a %s model read from this format as GGUF",
                        model->arch ? model->arch->name : "unknown");
    }
    summary->n_kv = w.n_kv;
    if (rc == 0)
        rc = gguf_writer_save(&w, path, err);
    gguf_writer_free(&w);
    return rc;
}
