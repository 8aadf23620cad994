/* gguf.c - a strict GGUF parser over a byte buffer (see gguf.h).
 *
 * The rule throughout: a number read from the file is a claim, checked
 * against the bytes actually left before anything is read, allocated or
 * pointed at by it. Counts are bounded by the smallest size their items
 * could have, so no claimed count allocates more than a small multiple of
 * the file's own size. */
#include "gguf.h"

#include "quants.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest encodings, for bounding counts by the bytes left: a key/value is a
 * string length, a type and at least one byte of value; a tensor info a name
 * length, n_dims, one dim, a type and an offset. */
#define MIN_KV_BYTES (8 + 4 + 1)
#define MIN_TENSOR_INFO_BYTES (8 + 4 + 8 + 4 + 8)
#define MIN_NESTED_ARRAY_BYTES (4 + 8)

/* ---------------------------------------------------------------------------
 * Reading the buffer */

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
    const char *path;
    char *err;
} Cursor;

static int fail(Cursor *c, const char *fmt, ...)
{
    va_list args;
    int n = snprintf(c->err, ERROR_SIZE, "%s: ", c->path);
    if (n < 0 || n >= ERROR_SIZE)
        n = 0;
    va_start(args, fmt);
    vsnprintf(c->err + n, ERROR_SIZE - n, fmt, args);
    va_end(args);
    return -1;
}

static size_t bytes_left(const Cursor *c)
{
    return c->size - c->pos;
}

/* A key or tensor name for a message: on one line (bytes outside printable
 * ASCII as \xNN) and at most about 80 characters. */
#define PRINTABLE_SIZE 96
static const char *printable(char out[PRINTABLE_SIZE], GgufString s)
{
    size_t n = 0;
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (n + 8 >= PRINTABLE_SIZE) {
            memcpy(out + n, "...", 4);
            return out;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[n++] = (char)ch;
        else
            n += snprintf(out + n, PRINTABLE_SIZE - n, "\\x%02x", ch);
    }
    out[n] = '\0';
    return out;
}

/* Byte by byte, so neither the host's endianness nor alignment matters. */
static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte little-endian integer; what names it for the message. */
static int read_le(Cursor *c, int n, uint64_t *out, const char *what)
{
    *out = 0;
    if (bytes_left(c) < (size_t)n)
        return fail(c, "truncated: %s needs %d bytes at offset %zu, but the file ends at %zu", what, n,
                    c->pos, c->size);
    *out = load_le(c->data + c->pos, n);
    c->pos += n;
    return 0;
}

static int read_u32(Cursor *c, uint32_t *out, const char *what)
{
    uint64_t v;
    if (read_le(c, 4, &v, what) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A string without a message on failure (the caller words it): 0, or -1
 * when its length is cut off, or -2 when its bytes run past the end. */
static int take_string(Cursor *c, GgufString *s)
{
    if (bytes_left(c) < 8)
        return -1;
    s->len = load_le(c->data + c->pos, 8);
    if (s->len > bytes_left(c) - 8)
        return -2;
    c->pos += 8;
    s->ptr = (const char *)c->data + c->pos;
    c->pos += s->len;
    return 0;
}

static int string_error(Cursor *c, int why, const char *what)
{
    if (why == -1)
        return fail(c, "truncated: the length of %s needs 8 bytes at offset %zu, but the file ends at %zu", what,
                    c->pos, c->size);
    return fail(c, "%s claims %llu bytes at offset %zu, but only %zu are left in the file", what,
                (unsigned long long)load_le(c->data + c->pos, 8), c->pos + 8, bytes_left(c) - 8);
}

static int read_string(Cursor *c, GgufString *s, const char *what)
{
    int r = take_string(c, s);
    return r == 0 ? 0 : string_error(c, r, what);
}

/* Bytes of one element of a fixed-size value type, 0 for STRING and ARRAY. */
static int fixed_size(uint32_t type)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static bool is_unsigned(uint32_t type)
{
    return type == GGUF_TYPE_UINT8 || type == GGUF_TYPE_UINT16 || type == GGUF_TYPE_UINT32 ||
           type == GGUF_TYPE_UINT64;
}

static bool is_signed(uint32_t type)
{
    return type == GGUF_TYPE_INT8 || type == GGUF_TYPE_INT16 || type == GGUF_TYPE_INT32 ||
           type == GGUF_TYPE_INT64;
}

static int64_t sign_extend(uint64_t v, int bytes)
{
    if (bytes == 8)
        return (int64_t)v;
    uint64_t sign = (uint64_t)1 << (bytes * 8 - 1);
    return (int64_t)((v ^ sign) - sign);  /* two's complement, without implementation-defined casts */
}

static double float_from_bits(uint64_t bits, int bytes)
{
    if (bytes == 4) {
        uint32_t b = (uint32_t)bits;
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ---------------------------------------------------------------------------
 * Metadata */

/* Steps over the elements of an array of arrays (or of strings, inside one),
 * checking every length: their values are not kept. */
static int skip_array_elements(Cursor *c, uint32_t type, uint64_t count, int depth, const char *key)
{
    if (type == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            GgufString s;
            int r = take_string(c, &s);
            if (r != 0) {
                char what[PRINTABLE_SIZE + 48];
                snprintf(what, sizeof what, "a string in a nested array of '%s'", key);
                return string_error(c, r, what);
            }
        }
        return 0;
    }
    if (type == GGUF_TYPE_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return fail(c, "metadata key '%s': arrays nested more than %d deep", key, GGUF_MAX_ARRAY_DEPTH);
        for (uint64_t i = 0; i < count; i++) {
            uint32_t inner_type = 0;
            uint64_t inner_count = 0;
            char what[PRINTABLE_SIZE + 48];
            snprintf(what, sizeof what, "a nested array of '%s'", key);
            if (read_u32(c, &inner_type, what) != 0 || read_le(c, 8, &inner_count, what) != 0)
                return -1;
            if (skip_array_elements(c, inner_type, inner_count, depth + 1, key) != 0)
                return -1;
        }
        return 0;
    }
    int size = fixed_size(type);
    if (size == 0)
        return fail(c, "metadata key '%s': a nested array has unknown element type %u", key, type);
    if (count > bytes_left(c) / size)
        return fail(c, "metadata key '%s': a nested array of %llu %s runs past the end of the file", key,
                    (unsigned long long)count, gguf_value_type_name(type));
    c->pos += count * size;
    return 0;
}

static int read_array(Cursor *c, GgufArray *a, const char *key)
{
    uint32_t type;
    char what[PRINTABLE_SIZE + 48];
    snprintf(what, sizeof what, "the element type of '%s'", key);
    if (read_u32(c, &type, what) != 0)
        return -1;
    snprintf(what, sizeof what, "the element count of '%s'", key);
    if (read_le(c, 8, &a->count, what) != 0)
        return -1;
    a->type = type;
    a->data = c->data + c->pos;
    if (type == GGUF_TYPE_STRING) {
        /* Each string takes at least its 8-byte length: that bounds the table. */
        if (a->count > bytes_left(c) / 8)
            return fail(c, "metadata key '%s': array of %llu strings cannot fit in the %zu bytes left", key,
                        (unsigned long long)a->count, bytes_left(c));
        a->strings = malloc((a->count ? a->count : 1) * sizeof *a->strings);
        if (!a->strings)
            return fail(c, "out of memory for the %llu strings of '%s'", (unsigned long long)a->count, key);
        for (uint64_t i = 0; i < a->count; i++) {
            int r = take_string(c, &a->strings[i]);
            if (r != 0) {
                snprintf(what, sizeof what, "string %llu of '%s'", (unsigned long long)i, key);
                return string_error(c, r, what);
            }
        }
        return 0;
    }
    if (type == GGUF_TYPE_ARRAY) {
        if (a->count > bytes_left(c) / MIN_NESTED_ARRAY_BYTES)
            return fail(c, "metadata key '%s': array of %llu arrays cannot fit in the %zu bytes left", key,
                        (unsigned long long)a->count, bytes_left(c));
        return skip_array_elements(c, type, a->count, 1, key);
    }
    int size = fixed_size(type);
    if (size == 0)
        return fail(c, "metadata key '%s': array of unknown element type %u", key, type);
    if (a->count > bytes_left(c) / size)
        return fail(c, "metadata key '%s': array of %llu %s runs past the end of the file (%zu bytes left)",
                    key, (unsigned long long)a->count, gguf_value_type_name(type), bytes_left(c));
    if (type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < a->count; i++)
            if (a->data[i] > 1)
                return fail(c, "metadata key '%s': element %llu of a bool array is %u, neither 0 nor 1", key,
                            (unsigned long long)i, a->data[i]);
    c->pos += a->count * size;
    return 0;
}

static int read_kv(Cursor *c, GgufKV *kv, uint64_t index)
{
    char what[64];
    snprintf(what, sizeof what, "metadata key %llu", (unsigned long long)index);
    if (read_string(c, &kv->key, what) != 0)
        return -1;
    char key[PRINTABLE_SIZE];  /* for messages */
    printable(key, kv->key);
    if (kv->key.len > GGUF_MAX_KEY)
        return fail(c, "metadata key %llu is %llu bytes long; GGUF keys are at most %d",
                    (unsigned long long)index, (unsigned long long)kv->key.len, GGUF_MAX_KEY);
    uint32_t type;
    char where[PRINTABLE_SIZE + 32];
    snprintf(where, sizeof where, "the value type of '%s'", key);
    if (read_u32(c, &type, where) != 0)
        return -1;
    if (type >= GGUF_TYPE_COUNT)
        return fail(c, "metadata key '%s' has unknown value type %u", key, type);
    kv->type = type;
    snprintf(where, sizeof where, "the value of '%s'", key);
    if (type == GGUF_TYPE_STRING)
        return read_string(c, &kv->value.str, where);
    if (type == GGUF_TYPE_ARRAY)
        return read_array(c, &kv->value.arr, key);

    int size = fixed_size(type);
    uint64_t bits = 0;
    if (read_le(c, size, &bits, where) != 0)
        return -1;
    if (type == GGUF_TYPE_FLOAT32 || type == GGUF_TYPE_FLOAT64)
        kv->value.f = float_from_bits(bits, size);
    else if (is_signed(type))
        kv->value.i = sign_extend(bits, size);
    else if (type == GGUF_TYPE_BOOL && bits > 1)
        return fail(c, "metadata key '%s': bool value %llu is neither 0 nor 1", key, (unsigned long long)bits);
    else
        kv->value.u = bits;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Duplicate names, found by sorting */

static int compare_strings(const void *pa, const void *pb)
{
    const GgufString *a = *(const GgufString *const *)pa, *b = *(const GgufString *const *)pb;
    uint64_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (r != 0)
        return r;
    return (a->len > b->len) - (a->len < b->len);
}

/* The n strings, each stride bytes after the previous: -1 with a message if
 * two are equal (what: "metadata key" or "tensor"), -1 out of memory. */
static int check_unique(Cursor *c, const void *first, size_t stride, uint64_t n, const char *what)
{
    if (n < 2)
        return 0;
    const GgufString **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return fail(c, "out of memory checking %llu names", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        sorted[i] = (const GgufString *)((const unsigned char *)first + i * stride);
    qsort(sorted, n, sizeof *sorted, compare_strings);
    int result = 0;
    for (uint64_t i = 1; i < n && result == 0; i++)
        if (compare_strings(&sorted[i - 1], &sorted[i]) == 0) {
            char name[PRINTABLE_SIZE];
            result = fail(c, "%s '%s' appears twice", what, printable(name, *sorted[i]));
        }
    free(sorted);
    return result;
}

/* ---------------------------------------------------------------------------
 * Tensor infos */

static int read_tensor_info(Cursor *c, GgufTensor *t, uint64_t index, uint64_t alignment)
{
    char what[64];
    snprintf(what, sizeof what, "tensor %llu's name", (unsigned long long)index);
    if (read_string(c, &t->name, what) != 0)
        return -1;
    if (t->name.len > GGUF_MAX_NAME)
        return fail(c, "tensor %llu's name is %llu bytes long; GGUF names are at most %d",
                    (unsigned long long)index, (unsigned long long)t->name.len, GGUF_MAX_NAME);
    char name[PRINTABLE_SIZE];
    printable(name, t->name);

    char field[GGUF_MAX_NAME + 64];
    snprintf(field, sizeof field, "tensor '%s''s n_dims", name);
    if (read_u32(c, &t->n_dims, field) != 0)
        return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(c, "tensor '%s' has %u dimensions; GGUF tensors have 1 to %d", name, t->n_dims,
                    GGUF_MAX_DIMS);
    t->n_elements = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->dims[d] = 1;
        if (d >= t->n_dims)
            continue;
        snprintf(field, sizeof field, "tensor '%s''s dimension %u", name, d);
        if (read_le(c, 8, &t->dims[d], field) != 0)
            return -1;
        if (t->dims[d] == 0)
            return fail(c, "tensor '%s': dimension %u is 0", name, d);
        /* ggml counts elements in int64_t. */
        if (__builtin_mul_overflow(t->n_elements, t->dims[d], &t->n_elements) || t->n_elements > INT64_MAX)
            return fail(c, "tensor '%s': its dimensions hold more than 2^63 elements", name);
    }
    snprintf(field, sizeof field, "tensor '%s''s type", name);
    if (read_u32(c, &t->type, field) != 0)
        return -1;
    snprintf(field, sizeof field, "tensor '%s''s offset", name);
    if (read_le(c, 8, &t->offset, field) != 0)
        return -1;
    if (t->offset % alignment != 0)
        return fail(c, "tensor '%s': offset %llu is not a multiple of the alignment %llu", name,
                    (unsigned long long)t->offset, (unsigned long long)alignment);
    /* A block-quantized row must be whole blocks, or rows would not start on a block. */
    WeightType known;
    if (weight_type_from_ggml(t->type, &known) != 0)
        return 0;  /* a type the engine does not run: its size is unknown */
    const int block = weight_types[known].block_values;
    if (t->dims[0] % (uint64_t)block != 0)
        return fail(c, "tensor '%s' is %s but its rows of %llu values are not a multiple of %d", name,
                    weight_types[known].name, (unsigned long long)t->dims[0], block);
    t->size_bytes = gguf_tensor_size(t->type, t->n_elements);
    if (t->size_bytes == 0)
        return fail(c, "tensor '%s': %llu values of %s take more than 2^64 bytes", name,
                    (unsigned long long)t->n_elements, gguf_type_name(t->type));
    return 0;
}

static int compare_offsets(const void *pa, const void *pb)
{
    const GgufTensor *a = *(const GgufTensor *const *)pa, *b = *(const GgufTensor *const *)pb;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* Every tensor lies inside the data section, and none overlaps the next one
 * (a tensor of unknown size is taken to be at least one byte). */
static int place_tensors(Cursor *c, GgufFile *g)
{
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        GgufTensor *t = &g->tensors[i];
        uint64_t size = t->size_bytes ? t->size_bytes : 1;
        char name[PRINTABLE_SIZE];
        if (t->offset > g->tensor_data_size || size > g->tensor_data_size - t->offset) {
            if (t->size_bytes)
                return fail(c, "tensor '%s' (%s, %llu bytes at offset %llu) runs past the end of the file: "
                            "the tensor data holds %llu bytes (truncated?)", printable(name, t->name),
                            gguf_type_name(t->type), (unsigned long long)t->size_bytes,
                            (unsigned long long)t->offset, (unsigned long long)g->tensor_data_size);
            return fail(c, "tensor '%s' starts at offset %llu, past the end of the file: the tensor data "
                        "holds %llu bytes (truncated?)", printable(name, t->name),
                        (unsigned long long)t->offset, (unsigned long long)g->tensor_data_size);
        }
        t->data = g->tensor_data + t->offset;
    }
    if (g->n_tensors < 2)
        return 0;
    const GgufTensor **order = malloc(g->n_tensors * sizeof *order);
    if (!order)
        return fail(c, "out of memory ordering %llu tensors", (unsigned long long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, compare_offsets);
    int result = 0;
    for (uint64_t i = 1; i < g->n_tensors && result == 0; i++) {
        const GgufTensor *a = order[i - 1], *b = order[i];
        uint64_t size = a->size_bytes ? a->size_bytes : 1;
        if (b->offset - a->offset < size) {  /* sorted: b->offset >= a->offset */
            char name_a[PRINTABLE_SIZE], name_b[PRINTABLE_SIZE];
            result = fail(c, "tensors '%s' and '%s' overlap (offsets %llu and %llu)", printable(name_a, a->name),
                          printable(name_b, b->name), (unsigned long long)a->offset, (unsigned long long)b->offset);
        }
    }
    free(order);
    return result;
}

/* ---------------------------------------------------------------------------
 * The file */

static int read_header(Cursor *c, GgufFile *g)
{
    if (c->size == 0)
        return fail(c, "empty file");
    if (c->size < 4 && memcmp(c->data, GGUF_MAGIC, c->size) == 0)
        return fail(c, "truncated: %zu bytes, too short for a GGUF header", c->size);
    if (c->size < 4 || memcmp(c->data, GGUF_MAGIC, 4) != 0) {
        unsigned char m[4] = {0};
        memcpy(m, c->data, c->size < 4 ? c->size : 4);
        return fail(c, "not a GGUF file: it starts with bytes %02x %02x %02x %02x, not \"GGUF\"", m[0], m[1],
                    m[2], m[3]);
    }
    c->pos = 4;
    if (read_u32(c, &g->version, "the version") != 0)
        return -1;
    if (g->version == 1)
        return fail(c, "GGUF version 1 is not supported (it predates 64-bit counts; convert the model again)");
    if (g->version != 2 && g->version != 3) {
        /* A big-endian file's version 3 reads as 0x03000000 here. */
        if (g->version != 0 && (g->version & 0xffff) == 0)
            return fail(c, "GGUF version field is 0x%08x: a big-endian file, which is not supported",
                        g->version);
        return fail(c, "unsupported GGUF version %u (this engine reads versions 2 and 3)", g->version);
    }
    if (read_le(c, 8, &g->n_tensors, "the tensor count") != 0 ||
        read_le(c, 8, &g->n_kv, "the metadata count") != 0)
        return -1;
    /* Claims no file this size could hold are corruption: say so now, not
     * after an allocation or a long walk. */
    if (g->n_kv > bytes_left(c) / MIN_KV_BYTES)
        return fail(c, "metadata count %llu cannot fit in a file of %zu bytes (corrupt header)",
                    (unsigned long long)g->n_kv, c->size);
    if (g->n_tensors > bytes_left(c) / MIN_TENSOR_INFO_BYTES)
        return fail(c, "tensor count %llu cannot fit in a file of %zu bytes (corrupt header)",
                    (unsigned long long)g->n_tensors, c->size);
    return 0;
}

static int read_alignment(Cursor *c, GgufFile *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const GgufKV *kv = gguf_find_kv(g, "general.alignment");
    if (!kv)
        return 0;
    if (kv->type != GGUF_TYPE_UINT32)
        return fail(c, "general.alignment has type %s; it must be uint32", gguf_value_type_name(kv->type));
    /* The spec asks for a multiple of 8, and ggml pads with a bit mask, so a power of two. */
    uint64_t a = kv->value.u;
    if (a < 8 || (a & (a - 1)) != 0)
        return fail(c, "general.alignment is %llu; it must be a power of two and a multiple of 8",
                    (unsigned long long)a);
    g->alignment = a;
    return 0;
}

static int parse(Cursor *c, GgufFile *g)
{
    if (read_header(c, g) != 0)
        return -1;
    g->kvs = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kvs);
    if (!g->kvs)
        return fail(c, "out of memory for %llu metadata entries", (unsigned long long)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const size_t start = c->pos;
        if (read_kv(c, &g->kvs[i], i) != 0)
            return -1;
        g->kvs[i].raw = c->data + start;
        g->kvs[i].raw_size = c->pos - start;
    }
    if (check_unique(c, &g->kvs[0].key, sizeof g->kvs[0], g->n_kv, "metadata key") != 0 ||
        read_alignment(c, g) != 0)
        return -1;

    if (g->n_tensors > bytes_left(c) / MIN_TENSOR_INFO_BYTES)
        return fail(c, "tensor count %llu cannot fit in the %zu bytes after the metadata",
                    (unsigned long long)g->n_tensors, bytes_left(c));
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors)
        return fail(c, "out of memory for %llu tensors", (unsigned long long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor_info(c, &g->tensors[i], i, g->alignment) != 0)
            return -1;
    if (check_unique(c, &g->tensors[0].name, sizeof g->tensors[0], g->n_tensors, "tensor") != 0)
        return -1;

    /* The data starts at the next multiple of the alignment. A file without
     * tensors may end before that padding. */
    uint64_t start = c->pos + (g->alignment - c->pos % g->alignment) % g->alignment;
    if (start > c->size) {
        if (g->n_tensors > 0)
            return fail(c, "truncated: the tensor data should start at byte %llu, but the file ends at %zu",
                        (unsigned long long)start, c->size);
        start = c->size;
    }
    g->tensor_data = c->data + start;
    g->tensor_data_size = c->size - start;
    return place_tensors(c, g);
}

int gguf_parse(GgufFile *g, const void *data, size_t size, const char *path, char err[ERROR_SIZE])
{
    memset(g, 0, sizeof *g);
    g->data = data;
    g->size = size;
    Cursor c = {data, size, 0, path, err};
    if (parse(&c, g) != 0) {
        gguf_free(g);
        return -1;
    }
    return 0;
}

void gguf_free(GgufFile *g)
{
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++)
            if (g->kvs[i].type == GGUF_TYPE_ARRAY)
                free(g->kvs[i].value.arr.strings);
    free(g->kvs);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------------------
 * Looking things up */

bool gguf_string_equals(GgufString s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0 || memcmp(s.ptr, text, n) == 0);
}

const GgufKV *gguf_find_kv(const GgufFile *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (gguf_string_equals(g->kvs[i].key, key))
            return &g->kvs[i];
    return NULL;
}

const GgufTensor *gguf_find_tensor(const GgufFile *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (gguf_string_equals(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *out)
{
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv)
        return -1;
    if (is_unsigned(kv->type) && kv->value.u <= UINT32_MAX)
        *out = (uint32_t)kv->value.u;
    else if (is_signed(kv->type) && kv->value.i >= 0 && kv->value.i <= (int64_t)UINT32_MAX)
        *out = (uint32_t)kv->value.i;
    else
        return -2;
    return 0;
}

int gguf_get_f32(const GgufFile *g, const char *key, float *out)
{
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv)
        return -1;
    if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)
        return -2;
    *out = (float)kv->value.f;
    return 0;
}

int gguf_get_bool(const GgufFile *g, const char *key, bool *out)
{
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv)
        return -1;
    if (kv->type != GGUF_TYPE_BOOL)
        return -2;
    *out = kv->value.u != 0;
    return 0;
}

int gguf_get_string(const GgufFile *g, const char *key, GgufString *out)
{
    const GgufKV *kv = gguf_find_kv(g, key);
    if (!kv)
        return -1;
    if (kv->type != GGUF_TYPE_STRING)
        return -2;
    *out = kv->value.str;
    return 0;
}

const GgufArray *gguf_get_array(const GgufFile *g, const char *key)
{
    const GgufKV *kv = gguf_find_kv(g, key);
    return kv && kv->type == GGUF_TYPE_ARRAY ? &kv->value.arr : NULL;
}

int gguf_array_string(const GgufArray *a, uint64_t i, GgufString *out)
{
    if (a->type != GGUF_TYPE_STRING || i >= a->count)
        return -1;
    *out = a->strings[i];
    return 0;
}

int gguf_array_f32(const GgufArray *a, uint64_t i, float *out)
{
    if ((a->type != GGUF_TYPE_FLOAT32 && a->type != GGUF_TYPE_FLOAT64) || i >= a->count)
        return -1;
    int size = fixed_size(a->type);
    *out = (float)float_from_bits(load_le(a->data + i * size, size), size);
    return 0;
}

int gguf_array_i32(const GgufArray *a, uint64_t i, int32_t *out)
{
    int size = fixed_size(a->type);
    if (!(is_signed(a->type) || is_unsigned(a->type)) || i >= a->count)
        return -1;
    uint64_t bits = load_le(a->data + i * size, size);
    if (is_signed(a->type)) {
        int64_t v = sign_extend(bits, size);
        if (v < INT32_MIN || v > INT32_MAX)
            return -1;
        *out = (int32_t)v;
    } else {
        if (bits > INT32_MAX)
            return -1;
        *out = (int32_t)bits;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Types */

const char *gguf_value_type_name(uint32_t type)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool",  "string", "array", "uint64", "int64", "float64",
    };
    return type < GGUF_TYPE_COUNT ? names[type] : "unknown";
}

const char *gguf_type_name(uint32_t type)
{
    /* ggml's enum ggml_type; the gaps are types ggml has removed. */
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",     [3] = "Q4_1",    [6] = "Q5_0",
        [7] = "Q5_1",     [8] = "Q8_0",     [9] = "Q8_1",     [10] = "Q2_K",   [11] = "Q3_K",
        [12] = "Q4_K",    [13] = "Q5_K",    [14] = "Q6_K",    [15] = "Q8_K",   [16] = "IQ2_XXS",
        [17] = "IQ2_XS",  [18] = "IQ3_XXS", [19] = "IQ1_S",   [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S",   [23] = "IQ4_XS",  [24] = "I8",      [25] = "I16",    [26] = "I32",
        [27] = "I64",     [28] = "F64",     [29] = "IQ1_M",   [30] = "BF16",   [34] = "TQ1_0",
        [35] = "TQ2_0",   [39] = "MXFP4",
    };
    if (type < sizeof names / sizeof names[0] && names[type])
        return names[type];
    return "unknown";
}

uint64_t gguf_tensor_size(uint32_t type, uint64_t n_elements)
{
    WeightType known;
    return weight_type_from_ggml(type, &known) == 0 ? weight_type_size(known, n_elements) : 0;
}
