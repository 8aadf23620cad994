/* llmc.c - llm.c's GPT-2 checkpoints (train_gpt2.c's gpt2_124M.bin, float32,
 * and gpt2_124M_bf16.bin), and
 * its decode-only tokenizer (gpt2_tokenizer.bin).
 *
 * A header of 256 int32 (magic, version, then the shape), then the 16
 * parameter tensors back to back in a fixed order, every layer's tensors of
 * one kind together. The reader checks the header and the exact file size
 * before a single weight is touched; the weights are then pointers into the
 * mapped file, run by arch_gpt2.c's forward pass. */
#include "llmc.h"

#include "arch.h"
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLMC_HEADER_INTS 256
#define LLMC_VERSION_FP32 3
#define LLMC_VERSION_BF16 5
#define LLMC_NORM_EPS 1e-5f  /* llm.c's LayerNorm epsilon: not in the file */
#define LLMC_FFN_MULTIPLE 4  /* GPT-2's feed-forward block is 4 C wide */
#define LLMC_TOKENIZER_VERSION_NO_EOT 1  /* the end-of-text id is not in the header: GPT-2's */
#define LLMC_TOKENIZER_VERSION 2         /* header[3] holds the end-of-text id */
#define GPT2_END_OF_TEXT 50256           /* <|endoftext|> */

/* Header fields, by int32 index. */
enum { FIELD_MAGIC, FIELD_VERSION, FIELD_MAX_SEQ_LEN, FIELD_VOCAB_SIZE, FIELD_LAYERS, FIELD_HEADS, FIELD_CHANNELS,
       FIELD_PADDED_VOCAB_SIZE };
/* The tokenizer's header fields. */
enum { TOKENIZER_FIELD_VERSION = 1, TOKENIZER_FIELD_VOCAB_SIZE, TOKENIZER_FIELD_END_OF_TEXT };

static int32_t header_field(const void *mapping, int field)
{
    int32_t v;
    memcpy(&v, (const unsigned char *)mapping + (size_t)field * sizeof v, sizeof v);
    return v;
}

bool llmc_is_checkpoint(const void *mapping, size_t size)
{
    return size >= sizeof(int32_t) && header_field(mapping, FIELD_MAGIC) == LLMC_MAGIC;
}

/* Hands out the tensors in file order: with base NULL it only counts values.
 * Matrices stay in the file; a bf16 file's vectors (norms, biases) are
 * converted into `vectors`, which the counting pass sizes. A count past 64
 * bits marks the walk as failed. */
typedef struct {
    const unsigned char *base;
    WeightType type;      /* F32 (version 3) or BF16 (version 5) */
    uint64_t offset;      /* in values */
    float *vectors;       /* BF16: where converted vectors go */
    uint64_t vector_values;
    bool overflow;
} Cursor;

static const void *take(Cursor *cur, uint64_t rows, uint64_t cols)
{
    uint64_t n, end;
    if (__builtin_mul_overflow(rows, cols, &n) || __builtin_add_overflow(cur->offset, n, &end)) {
        cur->overflow = true;
        return NULL;
    }
    const void *p = cur->base ? cur->base + cur->offset * weight_types[cur->type].block_bytes : NULL;
    cur->offset = end;
    return p;
}

/* A vector of n values (rows of cols), as floats: in place for F32, else
 * converted into the next n floats of cur->vectors. */
static const float *take_vector(Cursor *cur, uint64_t rows, uint64_t cols)
{
    const void *p = take(cur, rows, cols);
    if (cur->type == WEIGHT_F32 || cur->overflow)
        return p;
    const uint64_t n = rows * cols;  /* no overflow: take checked it */
    float *out = cur->vectors ? cur->vectors + cur->vector_values : NULL;
    cur->vector_values += n;
    if (!out)
        return NULL;
    const uint16_t *bf16 = p;  /* llm.c's other type */
    for (uint64_t i = 0; i < n; i++)
        out[i] = bf16_to_fp32(bf16[i]);
    return out;
}

/* Walks llm.c's 16 tensors (wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw,
 * attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb). Every layer's
 * tensors of one kind lie together: layer l's is the l-th slice. With
 * w->layers NULL it only counts. */
static void lay_out(Cursor *cur, const Config *c, int padded_vocab, Weights *w)
{
    const uint64_t C = (uint64_t)c->dim, L = (uint64_t)c->n_layers, H = (uint64_t)c->hidden_dim;
    const WeightType type = cur->type;
    const size_t value_bytes = (size_t)weight_types[type].block_bytes;  /* one value a block */
    /* (rows, cols): each factor is below 2^33, so rows never overflows. */
    const unsigned char *wte = take(cur, (uint64_t)padded_vocab, C);
    const unsigned char *wpe = take(cur, (uint64_t)c->seq_len, C);
    const float *ln1w = take_vector(cur, L, C), *ln1b = take_vector(cur, L, C);
    const unsigned char *qkvw = take(cur, L * 3 * C, C);
    const float *qkvb = take_vector(cur, L, 3 * C);
    const unsigned char *attprojw = take(cur, L * C, C);
    const float *attprojb = take_vector(cur, L, C);
    const float *ln2w = take_vector(cur, L, C), *ln2b = take_vector(cur, L, C);
    const unsigned char *fcw = take(cur, L * H, C);
    const float *fcb = take_vector(cur, L, H);
    const unsigned char *fcprojw = take(cur, L * C, H);
    const float *fcprojb = take_vector(cur, L, C);
    const float *lnfw = take_vector(cur, 1, C), *lnfb = take_vector(cur, 1, C);
    if (!w->layers)
        return;
    /* The padded rows past vocab_size are never read: the matrix has vocab_size rows. */
    w->token_embd = (Matrix){type, c->vocab_size, c->dim, wte, NULL, 0};
    w->output = w->token_embd;  /* llm.c ties the classifier to the embedding */
    w->position_embd = (Matrix){type, c->seq_len, c->dim, wpe, NULL, 0};
    w->output_norm = lnfw;
    w->output_norm_bias = lnfb;
    for (uint64_t l = 0; l < L; l++) {
        LayerWeights *lw = &w->layers[l];
        lw->attn_norm = ln1w + l * C;
        lw->attn_norm_bias = ln1b + l * C;
        const Matrix wqkv = {type, 3 * c->dim, c->dim, qkvw + l * 3 * C * C * value_bytes, NULL, 0};
        gpt2_split_qkv(lw, &wqkv, qkvb + l * 3 * C, c);
        lw->wo = (Matrix){type, c->dim, c->dim, attprojw + l * C * C * value_bytes, NULL, 0};
        lw->bo = attprojb + l * C;
        lw->ffn_norm = ln2w + l * C;
        lw->ffn_norm_bias = ln2b + l * C;
        lw->w_up = (Matrix){type, c->hidden_dim, c->dim, fcw + l * H * C * value_bytes, NULL, 0};
        lw->b_up = fcb + l * H;
        lw->w_down = (Matrix){type, c->dim, c->hidden_dim, fcprojw + l * C * H * value_bytes, NULL, 0};
        lw->b_down = fcprojb + l * C;
    }
}

int llmc_load(Model *model, const char *path, char err[ERROR_SIZE])
{
    const size_t size = model->mapping_size;
    const size_t header_bytes = LLMC_HEADER_INTS * sizeof(int32_t);
    if (size < header_bytes)
        return file_error(err, path, "truncated header: %zu bytes, an llm.c checkpoint's header is %zu", size,
                          header_bytes);
    const int32_t version = header_field(model->mapping, FIELD_VERSION);
    if (version != LLMC_VERSION_FP32 && version != LLMC_VERSION_BF16)
        return file_error(err, path, "unsupported llm.c checkpoint version %d (only 3, fp32, and 5, bf16)", version);
    const WeightType type = version == LLMC_VERSION_BF16 ? WEIGHT_BF16 : WEIGHT_F32;
    Config *c = &model->config;
    c->seq_len = header_field(model->mapping, FIELD_MAX_SEQ_LEN);
    c->vocab_size = header_field(model->mapping, FIELD_VOCAB_SIZE);
    c->n_layers = header_field(model->mapping, FIELD_LAYERS);
    c->n_heads = header_field(model->mapping, FIELD_HEADS);
    c->n_kv_heads = c->n_heads;
    c->dim = header_field(model->mapping, FIELD_CHANNELS);
    const int padded_vocab = header_field(model->mapping, FIELD_PADDED_VOCAB_SIZE);
    if (c->dim > INT32_MAX / LLMC_FFN_MULTIPLE)
        return file_error(err, path, "bad header: channels %d is too large", c->dim);
    c->hidden_dim = c->dim > 0 ? LLMC_FFN_MULTIPLE * c->dim : 0;  /* config_validate names a bad dim */
    char why[ERROR_SIZE];
    if (config_validate(c, false, why) != 0)
        return file_error(err, path, "bad header: %s", why);
    if (padded_vocab < c->vocab_size)
        return file_error(err, path, "bad header: padded_vocab_size %d is less than vocab_size %d", padded_vocab,
                          c->vocab_size);
    c->shared_classifier = true;
    c->rope_theta = 0.0f;
    c->rope_scaling_factor = 1.0f;
    c->norm_eps = LLMC_NORM_EPS;

    /* Count first, compare with the file, then hand out pointers. */
    Cursor counter = {.base = NULL, .type = type};
    Weights *w = &model->weights;
    lay_out(&counter, c, padded_vocab, w);
    uint64_t expected;
    if (counter.overflow ||
        __builtin_mul_overflow(counter.offset, (uint64_t)weight_types[type].block_bytes, &expected) ||
        __builtin_add_overflow(expected, header_bytes, &expected))
        return file_error(err, path, "bad header: its dimensions imply more than 2^64 bytes of weights");
    if (expected != size)
        return file_error(err, path, "file is %zu bytes but its header (channels %d, %d layers, %d heads, vocab %d "
                          "padded to %d, max_seq_len %d) implies %llu: truncated, or not this format", size, c->dim,
                          c->n_layers, c->n_heads, c->vocab_size, padded_vocab, c->seq_len,
                          (unsigned long long)expected);
    w->layers = calloc((size_t)c->n_layers, sizeof(LayerWeights));
    if (counter.vector_values > 0) {  /* bf16: room for the vectors as floats (a small part of the file) */
        w->vectors = malloc(counter.vector_values * sizeof(float));
        w->vector_values = counter.vector_values;
    }
    if (!w->layers || (counter.vector_values > 0 && !w->vectors))
        return file_error(err, path, "out of memory");
    Cursor cursor = {.base = (const unsigned char *)model->mapping + header_bytes, .type = type,
                     .vectors = w->vectors};
    lay_out(&cursor, c, padded_vocab, w);
    return 0;
}

/* ---------------------------------------------------------------------------
 * gpt2_tokenizer.bin */

bool llmc_is_tokenizer(const unsigned char *data, size_t size)
{
    return size >= sizeof(int32_t) && header_field(data, FIELD_MAGIC) == LLMC_TOKENIZER_MAGIC;
}

int llmc_read_tokenizer(Tokenizer *t, const unsigned char *data, size_t size, const char *path, int vocab_size,
                        char err[ERROR_SIZE])
{
    const size_t header_bytes = LLMC_HEADER_INTS * sizeof(int32_t);
    if (size < header_bytes)
        return file_error(err, path, "truncated header: %zu bytes, llm.c's tokenizer header is %zu", size,
                          header_bytes);
    const int32_t version = header_field(data, TOKENIZER_FIELD_VERSION);
    const int32_t count = header_field(data, TOKENIZER_FIELD_VOCAB_SIZE);
    if (version != LLMC_TOKENIZER_VERSION_NO_EOT && version != LLMC_TOKENIZER_VERSION)
        return file_error(err, path, "unsupported llm.c tokenizer version %d (only 1 and 2)", version);
    if (count <= 0 || count > VOCAB_MAX_PIECES)
        return file_error(err, path, "bad header: vocab_size %d", count);
    if (vocab_size > 0 && count != vocab_size)
        return file_error(err, path, "holds %d tokens but the model's vocab_size is %d (wrong tokenizer for this "
                          "model?)", count, vocab_size);
    const int32_t end_of_text =
        version == LLMC_TOKENIZER_VERSION ? header_field(data, TOKENIZER_FIELD_END_OF_TEXT) : GPT2_END_OF_TEXT;
    if (end_of_text < 0 || end_of_text >= count)
        return file_error(err, path, "end-of-text token %d is not among its %d tokens", end_of_text, count);

    /* First pass: each token's length byte and bytes fit, and the file ends with the last. */
    size_t pos = header_bytes, text_bytes = 0;
    for (int id = 0; id < count; id++) {
        if (pos >= size)
            return file_error(err, path, "truncated: %d of its %d tokens", id, count);
        const size_t length = data[pos++];
        if (length == 0)
            return file_error(err, path, "token %d is empty", id);
        if (length > size - pos)
            return file_error(err, path, "truncated: token %d's %zu bytes run past the end of the file", id,
                              length);
        pos += length;
        text_bytes += length + 1;
    }
    if (pos != size)
        return file_error(err, path, "%zu bytes after its %d tokens: not llm.c's tokenizer format", size - pos,
                          count);

    /* Second pass: the pieces, by id. Nothing is looked up: there is no encoding. */
    if (vocab_allocate(&t->vocab, count, text_bytes) != 0)
        return file_error(err, path, "out of memory");
    t->kind = TOKENIZER_DECODE_ONLY;
    t->vocab_size = count;
    pos = header_bytes;
    for (int id = 0; id < count; id++) {
        const size_t length = data[pos++];
        memcpy(vocab_next_piece(&t->vocab), data + pos, length);
        vocab_add_piece(&t->vocab, id, length);
        pos += length;
        if ((int)length > t->max_token_length)
            t->max_token_length = (int)length;
    }
    /* As llm.c's sampling loop: generation starts from end-of-text, and stops at it. */
    t->bos_id = t->eos_id = end_of_text;
    t->add_bos = true;
    return 0;
}
