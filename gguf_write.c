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

/* ---------------------------------------------------------------------------
 * Q8_0, as ggml makes it */

uint16_t fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u)  /* NaN: quiet, with the top of its payload */
        return (uint16_t)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u)  /* 65520 and up (infinity too) round past 65504, the largest half */
        return (uint16_t)(sign | 0x7c00u);
    if (abs >= 0x38800000u) {
        /* A normal half (2^-14 and up): rebias the exponent (127 - 15 = 112,
         * 112 << 23 = 0x38000000) and round the mantissa's 13 low bits away,
         * to nearest, ties to the even result. A carry moves up the exponent,
         * which is right. */
        const uint32_t odd = (abs >> 13) & 1u;
        return (uint16_t)(sign | ((abs - 0x38000000u + 0xfffu + odd) >> 13));
    }
    /* A subnormal half (or 0): the value is m * 2^(e - 150) with the 24-bit
     * significand m; in units of the smallest half, 2^-24, that is
     * m >> (126 - e), rounded to nearest even. Below 2^-25 it is 0. */
    const uint32_t e = abs >> 23;
    if (e < 102)
        return (uint16_t)sign;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  /* 14 .. 24 */
    const uint32_t odd = (m >> shift) & 1u;
    return (uint16_t)(sign | ((m + (1u << (shift - 1)) - 1u + odd) >> shift));
}

void quantize_row_q8_0(unsigned char *out, const float *x, size_t n)
{
    for (size_t b = 0; b < n / Q8_0_BLOCK; b++, x += Q8_0_BLOCK, out += Q8_0_BLOCK_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < Q8_0_BLOCK; j++) {
            const float v = fabsf(x[j]);
            amax = amax > v ? amax : v;  /* ggml's MAX, NaN and all */
        }
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = fp32_to_fp16(d);
        out[0] = (unsigned char)(h & 0xff);
        out[1] = (unsigned char)(h >> 8);
        for (int j = 0; j < Q8_0_BLOCK; j++) {
            /* Finite values give |q| <= 127 already; the clamp only keeps
             * corrupt ones (NaN, infinities) out of undefined behaviour. */
            const float q = roundf(x[j] * id);
            out[2 + j] = (unsigned char)(int8_t)(q >= 127.0f ? 127 : q <= -127.0f ? -127 : q == q ? (int)q : 0);
        }
    }
}

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

void gguf_writer_tensor_rows(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                             const Matrix *m, GgufTensorSource as)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims && d < GGUF_MAX_DIMS; d++)
        n *= dims[d];
    if (!w->error[0] && (n_dims < 1 || dims[0] != (uint64_t)m->cols || n != (uint64_t)m->rows * m->cols)) {
        writer_fail(w, "tensor %s: its dimensions do not hold its %d x %d values", name, m->rows, m->cols);
        return;
    }
    if (as == GGUF_FROM_Q8_0 && m->cols % Q8_0_BLOCK != 0) {
        writer_fail(w, "tensor %s: rows of %d values are not whole Q8_0 blocks of %d", name, m->cols, Q8_0_BLOCK);
        return;
    }
    GgufWriterTensor *t = tensor_begin(w, name, n_dims, dims);
    if (!t)
        return;
    t->source = as;
    t->matrix = *m;
    t->type = as == GGUF_FROM_Q8_0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32;
    t->size = as == GGUF_FROM_Q8_0 ? n / Q8_0_BLOCK * Q8_0_BLOCK_BYTES : n * sizeof(float);
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
    for (int r = 0; r < m->rows; r++) {
        matrix_row(row, m, r);
        if (t->source == GGUF_FROM_F32) {
            if (fwrite(row, sizeof(float), (size_t)m->cols, f) != (size_t)m->cols)
                return false;
            continue;
        }
        const size_t bytes = (size_t)m->cols / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
        quantize_row_q8_0(blocks, row, (size_t)m->cols);
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
    unsigned char *blocks = malloc((size_t)widest / Q8_0_BLOCK * Q8_0_BLOCK_BYTES + 1);
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

/* Adds a matrix (dims in ggml order, the product m->rows * m->cols) as Q8_0,
 * or as it was when that is already quantized or its rows are not whole blocks. */
static void add_matrix(GgufWriter *w, GgufSaveSummary *s, const char *name, uint32_t n_dims, const uint64_t *dims,
                       const Matrix *m)
{
    const bool whole_blocks = m->cols % Q8_0_BLOCK == 0;
    const WeightTypeInfo *info = &weight_types[m->type];
    if (info->input == INPUT_FLOATS) {  /* F32, F16, BF16 */
        if (whole_blocks) {
            gguf_writer_tensor_rows(w, name, n_dims, dims, m, GGUF_FROM_Q8_0);
            s->quantized++;
            return;
        }
    } else if (info->ggml_type < 0) {
        /* llama2.c's int8 has no GGUF type: its values (q * scale) rounded again to Q8_0. */
        gguf_writer_tensor_rows(w, name, n_dims, dims, m, whole_blocks ? GGUF_FROM_Q8_0 : GGUF_FROM_F32);
        if (whole_blocks) {
            s->requantized++;
            return;
        }
        if (s->kept++ == 0)
            snprintf(s->kept_name, sizeof s->kept_name, "%s", name), snprintf(s->kept_type, sizeof s->kept_type, "F32");
        return;
    } else {
        /* Already quantized: copied as it is (a second rounding would only lose). */
        gguf_writer_tensor_bytes(w, name, n_dims, dims, (uint32_t)info->ggml_type, m->data,
                                 weight_type_size(m->type, (uint64_t)m->rows * (uint64_t)m->cols));
        s->copied++;
        return;
    }
    /* Float rows that are not whole Q8_0 blocks: as they are. */
    gguf_writer_tensor_bytes(w, name, n_dims, dims, (uint32_t)info->ggml_type, m->data,
                             weight_type_size(m->type, (uint64_t)m->rows * (uint64_t)m->cols));
    if (s->kept++ == 0)
        snprintf(s->kept_name, sizeof s->kept_name, "%s", name), snprintf(s->kept_type, sizeof s->kept_type, "%s",
                                                                          info->name);
}

static void add_vector(GgufWriter *w, GgufSaveSummary *s, const char *name, const float *v, int n)
{
    const uint64_t dims[1] = {(uint64_t)n};
    gguf_writer_tensor_bytes(w, name, 1, dims, GGML_TYPE_F32, v, (uint64_t)n * sizeof(float));
    s->others++;
}

static void add_model_matrix(GgufWriter *w, GgufSaveSummary *s, const char *name, const Matrix *m)
{
    const uint64_t dims[2] = {(uint64_t)m->cols, (uint64_t)m->rows};
    add_matrix(w, s, name, 2, dims, m);
}

/* A layer's tensor name: "blk.l.suffix". */
static const char *layer_name(char name[GGUF_MAX_NAME + 1], int l, const char *suffix)
{
    snprintf(name, GGUF_MAX_NAME + 1, "blk.%d.%s", l, suffix);
    return name;
}

static void add_quantization_kvs(GgufWriter *w)
{
    gguf_writer_kv_u32(w, "general.quantization_version", GGUF_QUANTIZATION_VERSION);
    gguf_writer_kv_u32(w, "general.file_type", GGUF_FILE_TYPE_MOSTLY_Q8_0);
}

/* A llama2.c checkpoint: llama.* metadata as llama.cpp names it, tensors in
 * the order of its convert-llama2c-to-ggml. */
static void add_llama(GgufWriter *w, GgufSaveSummary *s, const Model *model)
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
    add_quantization_kvs(w);

    add_model_matrix(w, s, "token_embd.weight", &wt->token_embd);
    add_vector(w, s, "output_norm.weight", wt->output_norm, c->dim);
    if (!c->shared_classifier)
        add_model_matrix(w, s, "output.weight", &wt->output);
    char name[GGUF_MAX_NAME + 1];
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *lw = &wt->layers[l];
        add_model_matrix(w, s, layer_name(name, l, "attn_q.weight"), &lw->wq);
        add_model_matrix(w, s, layer_name(name, l, "attn_k.weight"), &lw->wk);
        add_model_matrix(w, s, layer_name(name, l, "attn_v.weight"), &lw->wv);
        add_model_matrix(w, s, layer_name(name, l, "attn_output.weight"), &lw->wo);
        add_vector(w, s, layer_name(name, l, "attn_norm.weight"), lw->attn_norm, c->dim);
        add_model_matrix(w, s, layer_name(name, l, "ffn_gate.weight"), &lw->w_gate);
        add_model_matrix(w, s, layer_name(name, l, "ffn_down.weight"), &lw->w_down);
        add_model_matrix(w, s, layer_name(name, l, "ffn_up.weight"), &lw->w_up);
        add_vector(w, s, layer_name(name, l, "ffn_norm.weight"), lw->ffn_norm, c->dim);
    }
}

/* An llm.c checkpoint: gpt2.* metadata and tensors in the order of llama.cpp's
 * convert_hf_to_gguf.py for GPT-2. q, k and v are views of one matrix's rows
 * (gpt2_split_qkv), written back as that one matrix. */
static int add_gpt2(GgufWriter *w, GgufSaveSummary *s, const Model *model, const char *model_path,
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
    add_quantization_kvs(w);

    add_model_matrix(w, s, "token_embd.weight", &wt->token_embd);
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
        add_model_matrix(w, s, layer_name(name, l, "attn_qkv.weight"), &wqkv);
        add_vector(w, s, layer_name(name, l, "attn_qkv.bias"), lw->bq, qkv_rows);
        add_model_matrix(w, s, layer_name(name, l, "attn_output.weight"), &lw->wo);
        add_vector(w, s, layer_name(name, l, "attn_output.bias"), lw->bo, c->dim);
        add_vector(w, s, layer_name(name, l, "ffn_norm.weight"), lw->ffn_norm, c->dim);
        add_vector(w, s, layer_name(name, l, "ffn_norm.bias"), lw->ffn_norm_bias, c->dim);
        add_model_matrix(w, s, layer_name(name, l, "ffn_up.weight"), &lw->w_up);
        add_vector(w, s, layer_name(name, l, "ffn_up.bias"), lw->b_up, c->hidden_dim);
        add_model_matrix(w, s, layer_name(name, l, "ffn_down.weight"), &lw->w_down);
        add_vector(w, s, layer_name(name, l, "ffn_down.bias"), lw->b_down, c->dim);
    }
    add_vector(w, s, "output_norm.weight", wt->output_norm, c->dim);
    add_vector(w, s, "output_norm.bias", wt->output_norm_bias, c->dim);
    if (!c->shared_classifier)
        add_model_matrix(w, s, "output.weight", &wt->output);
    return 0;
}

/* A GGUF file: its metadata entries byte for byte (but the two that say how
 * the file is quantized), and its tensors by the rules of add_matrix. */
static int add_gguf(GgufWriter *w, GgufSaveSummary *s, const GgufFile *g, const char *model_path,
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
            gguf_writer_kv_u32(w, "general.file_type", GGUF_FILE_TYPE_MOSTLY_Q8_0);
            have_file_type = true;
        } else {
            gguf_writer_kv_raw(w, kv->raw, kv->raw_size);
        }
    }
    if (!have_version)
        gguf_writer_kv_u32(w, "general.quantization_version", GGUF_QUANTIZATION_VERSION);
    if (!have_file_type)
        gguf_writer_kv_u32(w, "general.file_type", GGUF_FILE_TYPE_MOSTLY_Q8_0);
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
        add_matrix(w, s, name, t->n_dims, t->dims, &m);
    }
    return 0;
}

int model_save_gguf(const Model *model, const char *model_path, const char *path, GgufSaveSummary *summary,
                    char err[ERROR_SIZE])
{
    memset(summary, 0, sizeof *summary);
    GgufWriter w;
    gguf_writer_init(&w);
    int rc = 0;
    if (model->gguf) {
        summary->from_gguf = true;
        rc = add_gguf(&w, summary, model->gguf, model_path, err);
    } else if (model->arch == find_architecture("llama", strlen("llama"))) {
        add_llama(&w, summary, model);
    } else if (model->arch == find_architecture("gpt2", strlen("gpt2"))) {
        rc = add_gpt2(&w, summary, model, model_path, err);
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
