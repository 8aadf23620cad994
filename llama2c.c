/* llama2c.c - llama2.c's checkpoint files, read and written.
 *
 * A header of int32 hyperparameters, then every tensor back to back with no
 * names: the layout is fixed by the format. The reader checks every size the
 * header implies against the file before a single weight is touched; then
 * the weights are pointers into the mapped file. */
#include "llama2c.h"

#include "arch.h"
#include "save_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { FORMAT_LEGACY, FORMAT_VERSION1, FORMAT_VERSION2 } CheckpointFormat;

/* What the header says about the file, beyond the model's shape. */
typedef struct {
    CheckpointFormat format;
    WeightType weight_type;  /* of every matrix: F32, or Q8 (version 2) */
    int group_size;          /* Q8: values per scale */
    size_t weights_offset;   /* where the first tensor begins */
} Header;

/* ---------------------------------------------------------------------------
 * The tensors, in file order */

/* Walks the tensors of a checkpoint in file order. With base == NULL it only
 * counts bytes (to check the file size first); afterwards it hands out
 * pointers. Any count that overflows 64 bits marks the walk as failed. */
typedef struct {
    const unsigned char *base;
    uint64_t offset;  /* in bytes */
    bool overflow;
} TensorCursor;

static const void *take_bytes(TensorCursor *cur, uint64_t rows, uint64_t cols, uint64_t element_size)
{
    uint64_t count, bytes, end;
    if (__builtin_mul_overflow(rows, cols, &count) || __builtin_mul_overflow(count, element_size, &bytes) ||
        __builtin_add_overflow(cur->offset, bytes, &end)) {
        cur->overflow = true;
        return NULL;
    }
    const void *p = cur->base ? cur->base + cur->offset : NULL;
    cur->offset = end;
    return p;
}

static const float *take_floats(TensorCursor *cur, uint64_t rows, uint64_t cols)
{
    return take_bytes(cur, rows, cols, sizeof(float));
}

/* A float32 matrix, or (version 2) its int8 values followed by their scales. */
static Matrix take_matrix(TensorCursor *cur, const Header *h, int rows, int cols)
{
    Matrix m = {h->weight_type, rows, cols, NULL, NULL, h->group_size};
    if (h->weight_type == WEIGHT_F32) {
        m.data = take_floats(cur, rows, cols);
    } else {
        m.data = take_bytes(cur, rows, cols, sizeof(int8_t));
        m.scales = take_floats(cur, rows, cols / h->group_size);
    }
    return m;
}

/* Which per-layer tensor, in the order the files store them (all layers of
 * one kind, then the next kind). */
typedef enum { NORM_ATTENTION, NORM_FFN } LayerNorm;
typedef enum {
    MATRIX_WQ, MATRIX_WK, MATRIX_WV, MATRIX_WO, MATRIX_GATE, MATRIX_DOWN, MATRIX_UP,
    LAYER_MATRICES  /* how many */
} LayerMatrix;

/* A layer's matrix of each kind, for the writer. */
static const Matrix *layer_matrix(const LayerWeights *lw, LayerMatrix which)
{
    const Matrix *const in_file_order[LAYER_MATRICES] = {&lw->wq,     &lw->wk,     &lw->wv,  &lw->wo,
                                                         &lw->w_gate, &lw->w_down, &lw->w_up};
    return in_file_order[which];
}

/* w->layers is NULL while counting: the pointers then go nowhere. */
static void take_layer_norms(TensorCursor *cur, const Config *c, Weights *w, LayerNorm which)
{
    for (int l = 0; l < c->n_layers; l++) {
        const float *norm = take_floats(cur, c->dim, 1);
        if (w->layers)
            *(which == NORM_ATTENTION ? &w->layers[l].attn_norm : &w->layers[l].ffn_norm) = norm;
    }
}

static void take_layer_matrices(TensorCursor *cur, const Config *c, const Header *h, Weights *w, LayerMatrix first,
                                LayerMatrix last)
{
    for (LayerMatrix which = first; which <= last; which++) {
        const int rows[] = {c->dim, c->kv_dim, c->kv_dim, c->dim, c->hidden_dim, c->dim, c->hidden_dim};
        const int cols[] = {c->dim, c->dim, c->dim, c->dim, c->dim, c->hidden_dim, c->dim};
        for (int l = 0; l < c->n_layers; l++) {
            Matrix m = take_matrix(cur, h, rows[which], cols[which]);
            if (!w->layers)
                continue;
            LayerWeights *lw = &w->layers[l];
            Matrix *slots[] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_down, &lw->w_up};
            *slots[which] = m;
        }
    }
}

static void lay_out_tensors(TensorCursor *cur, const Header *h, const Config *c, Weights *w)
{
    if (h->format == FORMAT_LEGACY) {
        w->token_embd = take_matrix(cur, h, c->vocab_size, c->dim);
        take_layer_norms(cur, c, w, NORM_ATTENTION);
        take_layer_matrices(cur, c, h, w, MATRIX_WQ, MATRIX_WO);
        take_layer_norms(cur, c, w, NORM_FFN);
        take_layer_matrices(cur, c, h, w, MATRIX_GATE, MATRIX_UP);
        w->output_norm = take_floats(cur, c->dim, 1);
        /* Old exports stored RoPE's cos and sin tables here; we compute them. */
        take_floats(cur, c->seq_len, c->head_size);
    } else {
        /* Versions 1 and 2: norms first (always float32), then the matrices. */
        take_layer_norms(cur, c, w, NORM_ATTENTION);
        take_layer_norms(cur, c, w, NORM_FFN);
        w->output_norm = take_floats(cur, c->dim, 1);
        w->token_embd = take_matrix(cur, h, c->vocab_size, c->dim);
        take_layer_matrices(cur, c, h, w, MATRIX_WQ, MATRIX_UP);
    }
    w->output = c->shared_classifier ? w->token_embd : take_matrix(cur, h, c->vocab_size, c->dim);
}

/* ---------------------------------------------------------------------------
 * The header */

static int32_t read_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

int q8_group_size(const Config *c, int preferred)
{
    /* Groups must not straddle rows (every matrix's cols is dim or hidden_dim),
     * and a multiple of 4 keeps each matrix's scales 4-byte aligned. */
    for (int g = preferred; g >= 4; g /= 2)
        if (g % 4 == 0 && c->dim % g == 0 && c->hidden_dim % g == 0)
            return g;
    return 0;
}

/* Whether the n bytes at data are all printable ASCII or whitespace. */
static bool is_text(const unsigned char *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(data[i] >= 0x20 && data[i] < 0x7f) && data[i] != '\n' && data[i] != '\t' && data[i] != '\r')
            return false;
    return true;
}

/* Reads the header: which format, the hyperparameters, and where weights begin. */
static int parse_header(const unsigned char *data, size_t size, const char *path, Config *c, Header *h,
                        char err[ERROR_SIZE])
{
    const unsigned char *params;
    uint32_t magic = 0;
    h->weight_type = WEIGHT_F32;
    h->group_size = 0;
    if (size >= sizeof magic)
        memcpy(&magic, data, sizeof magic);
    if (magic == CHECKPOINT_MAGIC) {
        if (size < CHECKPOINT_HEADER_SIZE)
            return file_error(err, path, "truncated header: %zu bytes, a versioned checkpoint needs %d", size,
                        CHECKPOINT_HEADER_SIZE);
        int32_t version = read_i32(data + 4);
        if (version != 1 && version != 2)
            return file_error(err, path, "unsupported checkpoint version %d (this engine reads versions 1 and 2 "
                        "and legacy files)", version);
        params = data + 8;
        c->shared_classifier = data[8 + LEGACY_HEADER_INTS * 4] != 0;
        h->format = version == 1 ? FORMAT_VERSION1 : FORMAT_VERSION2;
        h->weights_offset = CHECKPOINT_HEADER_SIZE;
        if (version == 2) {
            h->weight_type = WEIGHT_Q8;
            h->group_size = read_i32(data + 8 + LEGACY_HEADER_INTS * 4 + 1);
        }
    } else {
        if (size < LEGACY_HEADER_INTS * 4)
            return file_error(err, path, "%s: %zu bytes is too short for a checkpoint header",
                        size == 0 ? "empty file" : "truncated header", size);
        /* The legacy format has no magic: a text file would read as absurd dimensions. */
        if (is_text(data, LEGACY_HEADER_INTS * 4))
            return file_error(err, path, "a text file, not a checkpoint (llama2.c's .bin or GGUF)");
        params = data;
        h->format = FORMAT_LEGACY;
        h->weights_offset = LEGACY_HEADER_INTS * 4;
    }
    c->dim = read_i32(params);
    c->hidden_dim = read_i32(params + 4);
    c->n_layers = read_i32(params + 8);
    c->n_heads = read_i32(params + 12);
    c->n_kv_heads = read_i32(params + 16);
    c->vocab_size = read_i32(params + 20);
    c->seq_len = read_i32(params + 24);
    if (h->format == FORMAT_LEGACY) {
        /* A negative vocab_size is how legacy files flag a separate classifier. */
        c->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN)
            c->vocab_size = -c->vocab_size;
    }
    char why[ERROR_SIZE];
    if (config_validate(c, true, why) != 0)
        return file_error(err, path, "bad header: %s", why);
    if (h->weight_type == WEIGHT_Q8 &&
        (h->group_size <= 0 || h->group_size % 4 != 0 || c->dim % h->group_size != 0 ||
         c->hidden_dim % h->group_size != 0))
        return file_error(err, path, "bad header: group size %d must be a positive multiple of 4 dividing dim "
                    "%d and hidden_dim %d", h->group_size, c->dim, c->hidden_dim);
    c->rope_theta = LLAMA_ROPE_THETA;
    c->rope_style = ROPE_ADJACENT_PAIRS;
    c->rope_scaling_factor = 1.0f;
    c->norm_eps = LLAMA_NORM_EPS;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Reading */

int llama2c_load(Model *model, const char *path, char err[ERROR_SIZE])
{
    const size_t size = model->mapping_size;
    Config *c = &model->config;
    Header h = {FORMAT_LEGACY, WEIGHT_F32, 0, 0};
    if (parse_header(model->mapping, size, path, c, &h, err) != 0)
        return -1;

    /* Every layer holds at least its two norms (2 * dim floats): a layer count
     * the file cannot hold is refused before walking 2^31 layers to count them. */
    if ((uint64_t)c->n_layers > size / (2 * sizeof(float) * (uint64_t)c->dim))
        return file_error(err, path, "bad header: %d layers of dim %d cannot fit in %zu bytes", c->n_layers, c->dim,
                          size);

    /* Count first, compare with the file, and only then hand out pointers. */
    TensorCursor counter = {NULL, 0, false};
    lay_out_tensors(&counter, &h, c, &model->weights);
    uint64_t expected;
    if (counter.overflow || __builtin_add_overflow(counter.offset, h.weights_offset, &expected))
        return file_error(err, path, "bad header: its dimensions imply more than 2^64 bytes of weights");
    if (expected != size)
        return file_error(err, path, "file is %zu bytes but its header (dim %d, hidden_dim %d, %d layers, %d heads, "
                          "%d kv heads, vocab %d, seq_len %d) implies %llu: truncated, or not this format",
                          size, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
                          c->seq_len, (unsigned long long)expected);
    model->weights.layers = calloc((size_t)c->n_layers, sizeof(LayerWeights));
    if (!model->weights.layers)
        return file_error(err, path, "out of memory");
    TensorCursor cursor = {(const unsigned char *)model->mapping + h.weights_offset, 0, false};
    lay_out_tensors(&cursor, &h, c, &model->weights);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Writing version 2 */

/* The name of the first matrix type that is not float32 ("F16", "Q8_0", ...), or NULL. */
static const char *first_non_float32(const Model *model)
{
    const Weights *w = &model->weights;
    if (w->token_embd.type != WEIGHT_F32)
        return weight_types[w->token_embd.type].name;
    if (w->output.type != WEIGHT_F32)
        return weight_types[w->output.type].name;
    for (int l = 0; l < model->config.n_layers; l++)
        for (LayerMatrix which = 0; which < LAYER_MATRICES; which++)
            if (layer_matrix(&w->layers[l], which)->type != WEIGHT_F32)
                return weight_types[layer_matrix(&w->layers[l], which)->type].name;
    return NULL;
}

static bool all_float32(const Model *model)
{
    return first_non_float32(model) == NULL;
}

/* Quantizes one float32 matrix and appends its int8 values, then its scales. */
static bool write_q8_matrix(FILE *f, const Matrix *m, int group_size, int8_t *q, float *scales)
{
    size_t n = (size_t)m->rows * m->cols;
    quantize_q8(q, scales, m->data, n, group_size);
    return fwrite(q, 1, n, f) == n && fwrite(scales, sizeof(float), n / group_size, f) == n / group_size;
}

/* The int8 file's bytes, in llama2.c's version 2 order; false on a write error. */
static bool write_q8_checkpoint(FILE *f, const Model *model, int group_size, int8_t *q, float *scales)
{
    const Config *c = &model->config;
    const Weights *w = &model->weights;
    unsigned char header[CHECKPOINT_HEADER_SIZE] = {0};
    uint32_t magic = CHECKPOINT_MAGIC;
    int32_t fields[] = {2, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
                        c->seq_len};
    memcpy(header, &magic, 4);
    memcpy(header + 4, fields, sizeof fields);
    header[4 + sizeof fields] = c->shared_classifier;
    memcpy(header + 4 + sizeof fields + 1, &group_size, 4);
    bool ok = fwrite(header, 1, sizeof header, f) == sizeof header;
    for (int l = 0; ok && l < c->n_layers; l++)
        ok = fwrite(w->layers[l].attn_norm, sizeof(float), c->dim, f) == (size_t)c->dim;
    for (int l = 0; ok && l < c->n_layers; l++)
        ok = fwrite(w->layers[l].ffn_norm, sizeof(float), c->dim, f) == (size_t)c->dim;
    ok = ok && fwrite(w->output_norm, sizeof(float), c->dim, f) == (size_t)c->dim;
    ok = ok && write_q8_matrix(f, &w->token_embd, group_size, q, scales);
    for (LayerMatrix which = 0; ok && which < LAYER_MATRICES; which++)
        for (int l = 0; ok && l < c->n_layers; l++)
            ok = write_q8_matrix(f, layer_matrix(&w->layers[l], which), group_size, q, scales);
    if (ok && !c->shared_classifier)
        ok = write_q8_matrix(f, &w->output, group_size, q, scales);
    return ok;
}

int llama2c_q8_can_hold(const Model *model, const char *model_path, char err[ERROR_SIZE])
{
    const Config *c = &model->config;
    /* The format's layout is Llama's: another architecture's tensors have no place in it. */
    if (model->arch != find_architecture("llama", strlen("llama")))
        return file_error(err, model_path, "cannot quantize a %s model to a .bin: llama2.c's int8 format holds only "
                          "Llama models", model->arch ? model->arch->name : "unknown");
    /* Its header has no field for these: a reader takes Llama 2's values. */
    if (c->rope_theta != LLAMA_ROPE_THETA)
        return file_error(err, model_path, "RoPE base %g would be lost: llama2.c's int8 format always means %g",
                          c->rope_theta, LLAMA_ROPE_THETA);
    if (c->norm_eps != LLAMA_NORM_EPS)
        return file_error(err, model_path, "RMS epsilon %g would be lost: llama2.c's int8 format always means %g",
                          c->norm_eps, LLAMA_NORM_EPS);
    /* Nor past the seven numbers: a GGUF Llama's own head size or RoPE frequencies. */
    const char *lost = c->q_dim != c->dim              ? "head size of its own (key_length)"
                       : c->rope_freq_factors           ? "RoPE frequency factors (rope_freqs)"
                       : c->rope_scaling_factor != 1.0f ? "RoPE scaling"
                                                        : NULL;
    if (lost)
        return file_error(err, model_path, "its %s would be lost: llama2.c's int8 format has no place for it", lost);
    if (!all_float32(model))
        return file_error(err, model_path, "the model to quantize must have float32 weights to write llama2.c's "
                          "int8 format (it has %s matrices)", first_non_float32(model));
    return 0;
}

int model_save_q8(const Model *model, const char *model_path, const char *path, int group_size,
                  char err[ERROR_SIZE])
{
    const Config *c = &model->config;
    if (llama2c_q8_can_hold(model, model_path, err) != 0)
        return -1;
    if (group_size <= 0)
        return file_error(err, model_path, "no group size (a multiple of 4) divides both dim %d and hidden_dim %d",
                    c->dim, c->hidden_dim);
    size_t largest = (size_t)c->vocab_size * c->dim;
    size_t layer_largest = (size_t)c->hidden_dim * c->dim;
    if (layer_largest > largest)
        largest = layer_largest;
    int8_t *q = malloc(largest);
    float *scales = malloc(largest / group_size * sizeof(float));
    SaveFile out;
    if (!q || !scales) {
        free(q), free(scales);
        return file_error(err, path, "cannot write: out of memory");
    }
    if (save_begin(&out, path, err) != 0) {
        free(q), free(scales);
        return -1;
    }
    bool ok = write_q8_checkpoint(out.f, model, group_size, q, scales);
    free(q), free(scales);
    return save_end(&out, ok, err);
}
