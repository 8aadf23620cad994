/* gguf_tests.c - the GGUF parser (gguf.c) against files built here byte by
 * byte, against every way of corrupting them, and against the real
 * stories260K GGUF files (compared with stories260K.bin).
 *
 * Prints "ok - NAME" or "not ok - NAME: why" per test.
 * Usage: tests/gguf_tests [MODELS_DIR]
 * Build: cc -O1 -g -Wall -Wextra -D_GNU_SOURCE -I. -o gguf_tests tests/gguf_tests.c gguf.c -lm
 *
 * Every parse reads from a heap buffer of exactly the file's size, so that
 * AddressSanitizer catches a read one byte past the end. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quants.h"

#include "test_harness.h"

#define PATH "test.gguf"

/* ---------------------------------------------------------------------------
 * Building GGUF files in memory */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_le(Buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned char byte = (unsigned char)(v >> (8 * i));
        put(b, &byte, 1);
    }
}

static void put_u8(Buf *b, uint8_t v) { put_le(b, v, 1); }
static void put_u16(Buf *b, uint16_t v) { put_le(b, v, 2); }
static void put_u32(Buf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(Buf *b, uint64_t v) { put_le(b, v, 8); }

static void put_f32(Buf *b, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_u32(b, bits);
}

static void put_f64(Buf *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u64(b, bits);
}

static void put_str(Buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void pad_to(Buf *b, uint64_t alignment)
{
    while (b->len % alignment)
        put_u8(b, 0);
}

static void header(Buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void patch_le(unsigned char *p, size_t at, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[at + i] = (unsigned char)(v >> (8 * i));
}

/* The test file: every value type, string and number arrays, an array of
 * arrays, and five tensors (F32, an unknown type, F16, Q8_0, a 4-d F32).
 * Marks: where the fields a test corrupts are. */
#define N_TENSORS 5
enum { T_EMBD, T_UNKNOWN, T_NORM, T_Q8, T_4D };

typedef struct {
    size_t version, n_tensors, n_kv;
    size_t arch_key_len, arch_value_len;
    size_t u16_key;          /* the bytes "test.u16" */
    size_t u32_type;         /* test.u32's value type */
    size_t bool_value;
    size_t tokens_type, tokens_count, token2_len;
    size_t scores_count;
    size_t nested_count, nested_inner_type;
    size_t alignment_type, alignment_value;  /* 0 when the file has no general.alignment */
    size_t name_len[N_TENSORS], name[N_TENSORS], n_dims[N_TENSORS], dims[N_TENSORS], type[N_TENSORS],
        offset[N_TENSORS];
    uint64_t tensor_offset[N_TENSORS];
    size_t data_start;
} Marks;

static const char *const TOKENS[] = {"<unk>", "<s>", ("\xe2\x96\x81" "a"), ""};  /* "▁a", and an empty one */
static const float SCORES[] = {0.0f, -1.5f, 2.25f, -3.0f};
static const int32_t TOKEN_TYPES[] = {2, 3, 1, -7};
static const uint16_t NORM_F16[] = {0x3c00, 0xc000, 0x0001, 0x7bff};  /* 1, -2, 2^-24, 65504 */

/* The key, then its type; returns where the type field is. */
static size_t key(Buf *b, const char *k, uint32_t type)
{
    put_str(b, k);
    size_t at = b->len;
    put_u32(b, type);
    return at;
}

static unsigned char *build_file(uint64_t alignment, Marks *m, size_t *size)
{
    Buf b = {0};
    memset(m, 0, sizeof *m);
    uint64_t n_kv = 20 + (alignment != 0);
    put(&b, "GGUF", 4);
    m->version = b.len;
    put_u32(&b, 3);
    m->n_tensors = b.len;
    put_u64(&b, N_TENSORS);
    m->n_kv = b.len;
    put_u64(&b, n_kv);

    m->arch_key_len = b.len;
    key(&b, "general.architecture", GGUF_TYPE_STRING);
    m->arch_value_len = b.len;
    put_str(&b, "llama");
    key(&b, "test.u8", GGUF_TYPE_UINT8), put_u8(&b, 200);
    key(&b, "test.i8", GGUF_TYPE_INT8), put_u8(&b, (uint8_t)-100);
    m->u16_key = b.len + 8;
    key(&b, "test.u16", GGUF_TYPE_UINT16), put_u16(&b, 60000);
    key(&b, "test.i16", GGUF_TYPE_INT16), put_u16(&b, (uint16_t)-30000);
    m->u32_type = key(&b, "test.u32", GGUF_TYPE_UINT32), put_u32(&b, 4000000000u);
    key(&b, "test.i32", GGUF_TYPE_INT32), put_u32(&b, (uint32_t)-2000000000);
    key(&b, "test.f32", GGUF_TYPE_FLOAT32), put_f32(&b, 1.5f);
    key(&b, "test.bool", GGUF_TYPE_BOOL);
    m->bool_value = b.len;
    put_u8(&b, 1);
    key(&b, "test.u64", GGUF_TYPE_UINT64), put_u64(&b, (uint64_t)1 << 40);
    key(&b, "test.i64", GGUF_TYPE_INT64), put_u64(&b, (uint64_t)-5);
    key(&b, "test.f64", GGUF_TYPE_FLOAT64), put_f64(&b, 0.25);

    key(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    m->tokens_type = b.len;
    put_u32(&b, GGUF_TYPE_STRING);
    m->tokens_count = b.len;
    put_u64(&b, 4);
    for (int i = 0; i < 4; i++) {
        if (i == 2)
            m->token2_len = b.len;
        put_str(&b, TOKENS[i]);
    }
    key(&b, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_FLOAT32);
    m->scores_count = b.len;
    put_u64(&b, 4);
    for (int i = 0; i < 4; i++)
        put_f32(&b, SCORES[i]);
    key(&b, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_INT32), put_u64(&b, 4);
    for (int i = 0; i < 4; i++)
        put_u32(&b, (uint32_t)TOKEN_TYPES[i]);
    key(&b, "test.bools", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_BOOL), put_u64(&b, 3);
    put_u8(&b, 1), put_u8(&b, 0), put_u8(&b, 1);
    key(&b, "test.f64s", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_FLOAT64), put_u64(&b, 2);
    put_f64(&b, 0.5), put_f64(&b, -2.0);
    key(&b, "test.u16s", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_UINT16), put_u64(&b, 2);
    put_u16(&b, 7), put_u16(&b, 65535);
    key(&b, "test.empty", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_INT32), put_u64(&b, 0);
    /* [[uint16 1, 2], ["xy"], [[]]]: arrays of arrays, three deep */
    key(&b, "test.nested", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_ARRAY);
    m->nested_count = b.len;
    put_u64(&b, 3);
    m->nested_inner_type = b.len;
    put_u32(&b, GGUF_TYPE_UINT16), put_u64(&b, 2), put_u16(&b, 1), put_u16(&b, 2);
    put_u32(&b, GGUF_TYPE_STRING), put_u64(&b, 1), put_str(&b, "xy");
    put_u32(&b, GGUF_TYPE_ARRAY), put_u64(&b, 1), put_u32(&b, GGUF_TYPE_INT8), put_u64(&b, 0);
    if (alignment) {
        m->alignment_type = key(&b, "general.alignment", GGUF_TYPE_UINT32);
        m->alignment_value = b.len;
        put_u32(&b, (uint32_t)alignment);
    } else {
        alignment = GGUF_DEFAULT_ALIGNMENT;
    }

    static const char *const names[N_TENSORS] = {"token_embd.weight", "blk.0.ffn_gate.weight", "norm.weight",
                                                 "blk.0.attn_q.weight", "test.4d"};
    static const uint32_t n_dims[N_TENSORS] = {2, 1, 1, 2, 4};
    static const uint64_t dims[N_TENSORS][4] = {{4, 3}, {256}, {4}, {64, 2}, {1, 2, 1, 3}};
    static const uint32_t types[N_TENSORS] = {GGML_TYPE_F32, 20 /* IQ4_NL: not run */, GGML_TYPE_F16, GGML_TYPE_Q8_0,
                                              GGML_TYPE_F32};
    static const uint64_t sizes[N_TENSORS] = {48, 144, 8, 2 * 2 * 34, 24};
    uint64_t offset = 0;
    for (int t = 0; t < N_TENSORS; t++) {
        m->name_len[t] = b.len;
        m->name[t] = b.len + 8;
        put_str(&b, names[t]);
        m->n_dims[t] = b.len;
        put_u32(&b, n_dims[t]);
        m->dims[t] = b.len;
        for (uint32_t d = 0; d < n_dims[t]; d++)
            put_u64(&b, dims[t][d]);
        m->type[t] = b.len;
        put_u32(&b, types[t]);
        m->offset[t] = b.len;
        put_u64(&b, offset);
        m->tensor_offset[t] = offset;
        offset += (sizes[t] + alignment - 1) / alignment * alignment;
    }
    pad_to(&b, alignment);
    m->data_start = b.len;
    for (int t = 0; t < N_TENSORS; t++) {
        while (b.len < m->data_start + m->tensor_offset[t])
            put_u8(&b, 0);
        switch (t) {
        case T_EMBD:
            for (int i = 0; i < 12; i++)
                put_f32(&b, 0.5f * i);
            break;
        case T_UNKNOWN:
            for (int i = 0; i < 144; i++)
                put_u8(&b, (uint8_t)i);
            break;
        case T_NORM:
            for (int i = 0; i < 4; i++)
                put_u16(&b, NORM_F16[i]);
            break;
        case T_Q8:  /* 4 blocks: d = 0.5 (0x3800), q[j] = j - 16 + block */
            for (int blk = 0; blk < 4; blk++) {
                put_u16(&b, 0x3800);
                for (int j = 0; j < 32; j++)
                    put_u8(&b, (uint8_t)(j - 16 + blk));
            }
            break;
        case T_4D:
            for (int i = 0; i < 6; i++)
                put_f32(&b, -1.0f * i);
            break;
        }
    }
    *size = b.len;  /* no padding after the last tensor: every truncation cuts real data */
    return b.p;
}

/* Parses a copy of file[0..size) in a buffer of exactly that size. The copy
 * is returned in *copy (free it after g) on success, freed on failure. */
static int parse_copy(const unsigned char *file, size_t size, GgufFile *g, unsigned char **copy, char err[ERROR_SIZE])
{
    unsigned char *buf = malloc(size ? size : 1);
    if (size)
        memcpy(buf, file, size);
    err[0] = '\0';
    int r = gguf_parse(g, buf, size, PATH, err);
    if (r == 0 && copy) {
        *copy = buf;
    } else {
        free(buf);
        if (copy)
            *copy = NULL;
    }
    if (r == 0 && !copy)
        gguf_free(g);
    return r;
}

/* The file must be rejected with one line naming it and containing want. */
static void expect_rejected(const unsigned char *file, size_t size, const char *want)
{
    GgufFile g;
    char err[ERROR_SIZE];
    int r = parse_copy(file, size, &g, NULL, err);
    expect(r == -1, "accepted a bad file (expected an error containing \"%s\")", want);
    if (r != -1)
        return;
    expect(strncmp(err, PATH ": ", strlen(PATH ": ")) == 0, "message does not start with the path: %s", err);
    expect(strchr(err, '\n') == NULL, "message is more than one line: %s", err);
    expect(strstr(err, want) != NULL, "message \"%s\" does not say \"%s\"", err, want);
    expect(g.kvs == NULL && g.tensors == NULL && g.n_kv == 0, "a failed parse left data in the GgufFile");
}

/* The standard file with n bytes at `at` replaced by v, then rejected with want. */
static void expect_patch_rejected(const char *name, size_t at, int n, uint64_t v, const char *want)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(0, &m, &size);
    patch_le(file, at, v, n);
    expect_rejected(file, size, want);
    free(file);
    report(name);
}

static bool string_is(GgufString s, const char *text)
{
    return gguf_string_equals(s, text);
}

/* ---------------------------------------------------------------------------
 * Valid files */

static void test_valid_file(uint64_t alignment, const char *name)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(alignment, &m, &size);
    GgufFile g;
    unsigned char *buf;
    char err[ERROR_SIZE];
    if (parse_copy(file, size, &g, &buf, err) != 0) {
        expect(false, "rejected a valid file: %s", err);
        free(file);
        report(name);
        return;
    }
    expect(g.version == 3 && g.n_tensors == N_TENSORS && g.n_kv == 20 + (alignment != 0),
           "version %u, %llu tensors, %llu kvs", g.version, (unsigned long long)g.n_tensors,
           (unsigned long long)g.n_kv);
    expect(g.alignment == (alignment ? alignment : 32), "alignment %llu", (unsigned long long)g.alignment);
    expect(g.tensor_data == buf + m.data_start, "tensor data at %td, expected %zu", g.tensor_data - buf,
           m.data_start);
    expect(g.tensor_data_size == size - m.data_start, "tensor data size %llu",
           (unsigned long long)g.tensor_data_size);

    /* scalars through the getters */
    uint32_t u;
    float f;
    bool flag;
    GgufString s;
    expect(gguf_get_string(&g, "general.architecture", &s) == 0 && string_is(s, "llama"), "architecture");
    expect(gguf_get_u32(&g, "test.u8", &u) == 0 && u == 200, "u8 as u32: %u", u);
    expect(gguf_get_u32(&g, "test.u16", &u) == 0 && u == 60000, "u16 as u32");
    expect(gguf_get_u32(&g, "test.u32", &u) == 0 && u == 4000000000u, "u32");
    expect(gguf_get_u32(&g, "test.i8", &u) == -2, "a negative int8 must not read as u32");
    expect(gguf_get_u32(&g, "test.i32", &u) == -2, "a negative int32 must not read as u32");
    expect(gguf_get_u32(&g, "test.u64", &u) == -2, "2^40 must not read as u32");
    expect(gguf_get_u32(&g, "test.f32", &u) == -2, "a float must not read as u32");
    expect(gguf_get_u32(&g, "no.such.key", &u) == -1, "absent key");
    expect(gguf_get_f32(&g, "test.f32", &f) == 0 && f == 1.5f, "f32");
    expect(gguf_get_f32(&g, "test.f64", &f) == 0 && f == 0.25f, "f64 as f32");
    expect(gguf_get_f32(&g, "test.u32", &f) == -2, "an integer must not read as f32");
    expect(gguf_get_bool(&g, "test.bool", &flag) == 0 && flag, "bool");
    expect(gguf_get_string(&g, "test.u8", &s) == -2, "u8 as a string");
    const GgufKV *kv = gguf_find_kv(&g, "test.i16");
    expect(kv && kv->type == GGUF_TYPE_INT16 && kv->value.i == -30000, "int16");
    kv = gguf_find_kv(&g, "test.i64");
    expect(kv && kv->type == GGUF_TYPE_INT64 && kv->value.i == -5, "int64");
    kv = gguf_find_kv(&g, "test.u64");
    expect(kv && kv->value.u == (uint64_t)1 << 40, "uint64");
    expect(gguf_find_kv(&g, "test") == NULL && gguf_find_kv(&g, "test.u8x") == NULL, "prefix matches");

    /* arrays */
    const GgufArray *a = gguf_get_array(&g, "tokenizer.ggml.tokens");
    expect(a && a->type == GGUF_TYPE_STRING && a->count == 4, "tokens array");
    for (int i = 0; a && i < 4; i++)
        expect(gguf_array_string(a, i, &s) == 0 && string_is(s, TOKENS[i]), "token %d", i);
    expect(a && gguf_array_string(a, 4, &s) == -1, "token 4 is out of range");
    expect(a && gguf_array_f32(a, 0, &f) == -1, "a string array read as floats");
    a = gguf_get_array(&g, "tokenizer.ggml.scores");
    for (int i = 0; a && i < 4; i++)
        expect(gguf_array_f32(a, i, &f) == 0 && f == SCORES[i], "score %d", i);
    int32_t v;
    expect(a && gguf_array_f32(a, 4, &f) == -1 && gguf_array_i32(a, 0, &v) == -1, "scores bounds and type");
    a = gguf_get_array(&g, "tokenizer.ggml.token_type");
    for (int i = 0; a && i < 4; i++)
        expect(gguf_array_i32(a, i, &v) == 0 && v == TOKEN_TYPES[i], "token type %d", i);
    expect(a && gguf_array_i32(a, UINT64_MAX, &v) == -1, "index 2^64-1");
    a = gguf_get_array(&g, "test.f64s");
    expect(a && gguf_array_f32(a, 1, &f) == 0 && f == -2.0f, "f64 array as f32");
    a = gguf_get_array(&g, "test.u16s");
    expect(a && gguf_array_i32(a, 1, &v) == 0 && v == 65535, "u16 array as i32");
    a = gguf_get_array(&g, "test.bools");
    expect(a && a->type == GGUF_TYPE_BOOL && a->count == 3 && a->data[0] == 1 && a->data[1] == 0, "bools");
    a = gguf_get_array(&g, "test.empty");
    expect(a && a->count == 0 && gguf_array_i32(a, 0, &v) == -1, "empty array");
    a = gguf_get_array(&g, "test.nested");
    expect(a && a->type == GGUF_TYPE_ARRAY && a->count == 3 && gguf_array_i32(a, 0, &v) == -1, "nested array");
    expect(gguf_get_array(&g, "test.u8") == NULL && gguf_get_array(&g, "none") == NULL, "not arrays");

    /* tensors */
    const GgufTensor *t = gguf_find_tensor(&g, "token_embd.weight");
    expect(t && t->n_dims == 2 && t->dims[0] == 4 && t->dims[1] == 3 && t->dims[2] == 1 && t->dims[3] == 1 &&
           t->n_elements == 12 && t->type == GGML_TYPE_F32 && t->size_bytes == 48, "token_embd's info");
    if (t) {
        float x;
        memcpy(&x, (const unsigned char *)t->data + 4 * 7, sizeof x);  /* row 1, column 3 */
        expect(x == 3.5f, "token_embd[1][3] = %g, expected 3.5", x);
        expect((const unsigned char *)t->data == buf + m.data_start + m.tensor_offset[T_EMBD], "token_embd data");
    }
    t = gguf_find_tensor(&g, "blk.0.ffn_gate.weight");
    expect(t && t->type == 20 && t->size_bytes == 0 && t->n_elements == 256 &&
           t->data == g.tensor_data + m.tensor_offset[T_UNKNOWN], "an unknown type: size 0, data placed");
    expect(t && strcmp(gguf_type_name(t->type), "IQ4_NL") == 0, "IQ4_NL's name");
    t = gguf_find_tensor(&g, "norm.weight");
    if (t && t->type == GGML_TYPE_F16 && t->size_bytes == 8) {
        const unsigned char *p = t->data;
        const float want[] = {1.0f, -2.0f, ldexpf(1.0f, -24), 65504.0f};
        for (int i = 0; i < 4; i++) {
            float x = fp16_to_fp32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            expect(x == want[i], "norm[%d] = %g, expected %g", i, x, want[i]);
        }
    } else {
        expect(false, "norm.weight: missing or not F16 of 8 bytes");
    }
    t = gguf_find_tensor(&g, "blk.0.attn_q.weight");
    if (t && t->type == GGML_TYPE_Q8_0 && t->size_bytes == 136 && t->dims[0] == 64 && t->dims[1] == 2) {
        /* row 1, column 40: block 3 (row 1's second), q index 8 */
        const unsigned char *blk = (const unsigned char *)t->data + 3 * Q8_0_BLOCK_BYTES;
        float d = fp16_to_fp32((uint16_t)(blk[0] | blk[1] << 8));
        float x = d * (int8_t)blk[2 + 8];
        expect(x == 0.5f * (8 - 16 + 3), "q8_0 value %g", x);
    } else {
        expect(false, "blk.0.attn_q.weight: missing or wrong info");
    }
    t = gguf_find_tensor(&g, "test.4d");
    expect(t && t->n_dims == 4 && t->n_elements == 6 && t->dims[1] == 2 && t->dims[3] == 3 && t->size_bytes == 24,
           "the 4-d tensor");
    expect(gguf_find_tensor(&g, "token_embd") == NULL && gguf_find_tensor(&g, "") == NULL, "absent tensors");
    for (uint64_t i = 0; i < g.n_tensors; i++)
        expect((uintptr_t)((const unsigned char *)g.tensors[i].data - buf) % g.alignment == 0,
               "tensor %llu's data is not aligned", (unsigned long long)i);
    gguf_free(&g);
    gguf_free(&g);  /* twice is harmless */
    expect(g.kvs == NULL && g.tensors == NULL, "gguf_free leaves pointers");
    free(buf);
    free(file);
    report(name);
}

/* The same file as version 2, and files with no tensors or no metadata. */
static void test_valid_variants(void)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(0, &m, &size);
    patch_le(file, m.version, 2, 4);
    GgufFile g;
    unsigned char *buf;
    char err[ERROR_SIZE];
    int r = parse_copy(file, size, &g, &buf, err);
    expect(r == 0, "rejected a version 2 file: %s", err);
    if (r == 0) {
        expect(g.version == 2, "version %u", g.version);
        gguf_free(&g);
        free(buf);
    }
    free(file);
    report("gguf: version 2 is read like version 3");

    /* No tensors and no padding after the metadata: valid. */
    Buf b = {0};
    header(&b, 3, 0, 1);
    key(&b, "general.architecture", GGUF_TYPE_STRING), put_str(&b, "llama");
    r = parse_copy(b.p, b.len, &g, &buf, err);
    expect(r == 0, "rejected: %s", err);
    if (r == 0) {
        expect(g.n_tensors == 0 && g.tensor_data_size == 0, "a file without tensors");
        gguf_free(&g);
        free(buf);
    }
    free(b.p);
    /* Just a header. */
    b = (Buf){0};
    header(&b, 3, 0, 0);
    r = parse_copy(b.p, b.len, &g, &buf, err);
    expect(r == 0 && g.n_kv == 0 && gguf_find_kv(&g, "x") == NULL && gguf_find_tensor(&g, "x") == NULL,
           "an empty GGUF: %s", err);
    if (r == 0) {
        gguf_free(&g);
        free(buf);
    }
    free(b.p);
    report("gguf: files with no tensors, or nothing at all, parse");

    /* Tensors stored out of order, with a gap: allowed. */
    b = (Buf){0};
    header(&b, 3, 2, 0);
    put_str(&b, "b"), put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, GGML_TYPE_F32), put_u64(&b, 96);
    put_str(&b, "a"), put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, GGML_TYPE_F32), put_u64(&b, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 32; i++)  /* b, at 96, ends the file */
        put_f32(&b, (float)i);
    r = parse_copy(b.p, b.len, &g, &buf, err);
    expect(r == 0, "rejected: %s", err);
    if (r == 0) {
        const GgufTensor *t = gguf_find_tensor(&g, "b");
        float x = 0;
        if (t)
            memcpy(&x, t->data, sizeof x);
        expect(x == 24.0f, "tensor b starts with %g", x);
        gguf_free(&g);
        free(buf);
    }
    /* ... but the last one must fit: cut its last byte. */
    expect_rejected(b.p, b.len - 1, "runs past the end of the file");
    free(b.p);
    report("gguf: tensors out of order and with gaps");
}

/* ---------------------------------------------------------------------------
 * Corrupt files */

static void test_truncations(void)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(64, &m, &size);
    int accepted = -1;
    for (size_t n = 0; n < size && accepted < 0; n++) {
        GgufFile g;
        char err[ERROR_SIZE];
        if (parse_copy(file, n, &g, NULL, err) == 0)
            accepted = (int)n;
        else
            expect(strncmp(err, PATH ": ", strlen(PATH ": ")) == 0 && strchr(err, '\n') == NULL &&
                       (strstr(err, "truncated") || strstr(err, "past the end") || strstr(err, "left") ||
                        strstr(err, "cannot fit") || strstr(err, "empty file")),
                   "at %zu bytes: unclear message: %s", n, err);
    }
    expect(accepted < 0, "the file cut to %d of %zu bytes was accepted", accepted, size);
    free(file);
    report("gguf: every truncation point is rejected with a clear message");

    file = build_file(0, &m, &size);
    expect_rejected(file, 0, "empty file");
    expect_rejected(file, 3, "truncated: 3 bytes, too short for a GGUF header");
    expect_rejected(file, 6, "truncated: the version");
    expect_rejected(file, m.n_kv + 3, "the metadata count");
    expect_rejected(file, m.data_start - 1, "the tensor data should start at byte");
    expect_rejected(file, size - 1, "runs past the end of the file");
    free(file);
    report("gguf: truncation messages say where");
}

static void test_header_errors(void)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(0, &m, &size);
    file[0] = 'g';
    expect_rejected(file, size, "not a GGUF file: it starts with bytes 67 47 55 46");
    free(file);
    report("gguf: wrong magic");

    expect_patch_rejected("gguf: version 1", 4, 4, 1, "GGUF version 1 is not supported");
    expect_patch_rejected("gguf: version 4", 4, 4, 4, "unsupported GGUF version 4");
    expect_patch_rejected("gguf: version 0", 4, 4, 0, "unsupported GGUF version 0");
    expect_patch_rejected("gguf: a big-endian file", 4, 4, 0x03000000, "big-endian");
    expect_patch_rejected("gguf: tensor count 2^63", 8, 8, (uint64_t)1 << 63, "tensor count 9223372036854775808");
    expect_patch_rejected("gguf: tensor count 2^64-1", 8, 8, UINT64_MAX, "tensor count");
    expect_patch_rejected("gguf: metadata count 2^63", 16, 8, (uint64_t)1 << 63, "metadata count");
}

static void test_metadata_errors(void)
{
    Marks m;
    size_t size;
    free(build_file(0, &m, &size));
    /* Counts that fit the file but are wrong: the walk runs into other data. */
    expect_patch_rejected("gguf: one metadata entry too many", m.n_kv, 8, 21, "");
    expect_patch_rejected("gguf: one tensor too many", m.n_tensors, 8, N_TENSORS + 1, "");
    expect_patch_rejected("gguf: key length 2^63", m.arch_key_len, 8, (uint64_t)1 << 63,
                          "metadata key 0 claims 9223372036854775808 bytes");
    expect_patch_rejected("gguf: string value length 2^64-1", m.arch_value_len, 8, UINT64_MAX,
                          "the value of 'general.architecture' claims");
    expect_patch_rejected("gguf: string value length past the end", m.arch_value_len, 8, size,
                          "only");
    expect_patch_rejected("gguf: unknown value type 13", m.u32_type, 4, 13,
                          "metadata key 'test.u32' has unknown value type 13");
    expect_patch_rejected("gguf: unknown value type 2^32-1", m.u32_type, 4, UINT32_MAX, "unknown value type");
    expect_patch_rejected("gguf: bool value 2", m.bool_value, 1, 2, "'test.bool': bool value 2 is neither 0 nor 1");
    expect_patch_rejected("gguf: duplicate key", m.u16_key + 5, 1, 'i', "metadata key 'test.i16' appears twice");
    expect_patch_rejected("gguf: string array of 2^62 strings", m.tokens_count, 8, (uint64_t)1 << 62,
                          "array of 4611686018427387904 strings cannot fit");
    expect_patch_rejected("gguf: string array of 2^64-1 strings", m.tokens_count, 8, UINT64_MAX, "cannot fit");
    expect_patch_rejected("gguf: a string in an array with length 2^63", m.token2_len, 8, (uint64_t)1 << 63,
                          "string 2 of 'tokenizer.ggml.tokens' claims");
    expect_patch_rejected("gguf: float array of 2^62 elements", m.scores_count, 8, (uint64_t)1 << 62,
                          "array of 4611686018427387904 float32 runs past the end");
    expect_patch_rejected("gguf: float array of 2^64-1 elements", m.scores_count, 8, UINT64_MAX, "float32 runs past the end");
    expect_patch_rejected("gguf: unknown array element type", m.tokens_type, 4, 99,
                          "'tokenizer.ggml.tokens': array of unknown element type 99");
    expect_patch_rejected("gguf: array of arrays with 2^63 elements", m.nested_count, 8, (uint64_t)1 << 63,
                          "array of 9223372036854775808 arrays cannot fit");
    expect_patch_rejected("gguf: nested array of unknown type", m.nested_inner_type, 4, 77,
                          "a nested array has unknown element type 77");

    /* bool arrays hold 0 and 1 only */
    Buf b = {0};
    header(&b, 3, 0, 1);
    key(&b, "x", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_BOOL), put_u64(&b, 2), put_u8(&b, 0), put_u8(&b, 5);
    expect_rejected(b.p, b.len, "element 1 of a bool array is 5");
    free(b.p);
    report("gguf: bool array value 5");

    /* arrays nested deeper than GGUF_MAX_ARRAY_DEPTH: a stack-depth guard */
    b = (Buf){0};
    header(&b, 3, 0, 1);
    key(&b, "deep", GGUF_TYPE_ARRAY);
    for (int i = 0; i < 100000; i++)
        put_u32(&b, GGUF_TYPE_ARRAY), put_u64(&b, 1);
    put_u32(&b, GGUF_TYPE_UINT8), put_u64(&b, 0);
    expect_rejected(b.p, b.len, "arrays nested more than 8 deep");
    free(b.p);
    report("gguf: arrays of arrays 100000 deep");

    /* nested arrays with huge inner counts */
    b = (Buf){0};
    header(&b, 3, 0, 1);
    key(&b, "n", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_ARRAY), put_u64(&b, 1);
    put_u32(&b, GGUF_TYPE_FLOAT64), put_u64(&b, UINT64_MAX / 4);
    expect_rejected(b.p, b.len, "a nested array of 4611686018427387903 float64 runs past the end");
    free(b.p);
    b = (Buf){0};
    header(&b, 3, 0, 1);
    key(&b, "n", GGUF_TYPE_ARRAY), put_u32(&b, GGUF_TYPE_ARRAY), put_u64(&b, 1);
    put_u32(&b, GGUF_TYPE_STRING), put_u64(&b, UINT64_MAX), put_u64(&b, 1), put_u8(&b, 'a');
    expect_rejected(b.p, b.len, "truncated");
    free(b.p);
    report("gguf: nested arrays with huge counts");

    /* key longer than the spec's 65535 bytes */
    b = (Buf){0};
    header(&b, 3, 0, 1);
    put_u64(&b, 65536);
    for (int i = 0; i < 65536; i++)
        put_u8(&b, 'k');
    put_u32(&b, GGUF_TYPE_UINT8), put_u8(&b, 1);
    expect_rejected(b.p, b.len, "metadata key 0 is 65536 bytes long");
    free(b.p);
    report("gguf: a key of 65536 bytes");
}

static void test_alignment_errors(void)
{
    Marks m;
    size_t size;
    const uint64_t bad[] = {0, 1, 3, 4, 12, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *file = build_file(32, &m, &size);
        patch_le(file, m.alignment_value, bad[i], 4);
        char want[128], name[64];
        snprintf(want, sizeof want, "general.alignment is %llu; it must be a power of two and a multiple of 8",
                 (unsigned long long)bad[i]);
        expect_rejected(file, size, want);
        free(file);
        snprintf(name, sizeof name, "gguf: alignment %llu", (unsigned long long)bad[i]);
        report(name);
    }
    unsigned char *file = build_file(32, &m, &size);
    patch_le(file, m.alignment_type, GGUF_TYPE_INT32, 4);
    expect_rejected(file, size, "general.alignment has type int32; it must be uint32");
    free(file);
    report("gguf: alignment of type int32");

    /* With alignment 64 the data moves: offsets of the 32-byte layout are misaligned. */
    file = build_file(32, &m, &size);
    patch_le(file, m.alignment_value, 64, 4);
    expect_rejected(file, size, "not a multiple of the alignment 64");
    free(file);
    report("gguf: offsets written for alignment 32 in a file that says 64");
}

static void test_tensor_errors(void)
{
    Marks m;
    size_t size;
    free(build_file(0, &m, &size));
    expect_patch_rejected("gguf: n_dims 0", m.n_dims[T_EMBD], 4, 0,
                          "tensor 'token_embd.weight' has 0 dimensions; GGUF tensors have 1 to 4");
    expect_patch_rejected("gguf: n_dims 5", m.n_dims[T_EMBD], 4, 5, "has 5 dimensions");
    expect_patch_rejected("gguf: n_dims 2^32-1", m.n_dims[T_EMBD], 4, UINT32_MAX, "has 4294967295 dimensions");
    expect_patch_rejected("gguf: a zero dimension", m.dims[T_EMBD] + 8, 8, 0,
                          "tensor 'token_embd.weight': dimension 1 is 0");
    expect_patch_rejected("gguf: dimensions whose product passes 2^63", m.dims[T_4D], 8, (uint64_t)1 << 62,
                          "its dimensions hold more than 2^63 elements");
    expect_patch_rejected("gguf: a dimension of 2^64-1", m.dims[T_EMBD], 8, UINT64_MAX, "more than 2^63 elements");
    expect_patch_rejected("gguf: F32 of 3 x 2^61 elements (more than 2^64 bytes)", m.dims[T_4D], 8,
                          (uint64_t)1 << 60, "tensor 'test.4d': 6917529027641081856 values of F32 take more than "
                          "2^64 bytes");
    expect_patch_rejected("gguf: F32 of 3 x 2^59 elements, past the end", m.dims[T_EMBD], 8, (uint64_t)1 << 59,
                          "runs past the end of the file");
    expect_patch_rejected("gguf: F16 of 2^62 elements, past the end", m.dims[T_NORM], 8, (uint64_t)1 << 62,
                          "tensor 'norm.weight' (F16, 9223372036854775808 bytes at offset");
    expect_patch_rejected("gguf: Q8_0 row of 48 values", m.dims[T_Q8], 8, 48,
                          "is Q8_0 but its rows of 48 values are not a multiple of 32");
    expect_patch_rejected("gguf: misaligned offset", m.offset[T_NORM], 8, m.tensor_offset[T_NORM] + 4,
                          "tensor 'norm.weight': offset");
    expect_patch_rejected("gguf: offset 2^63", m.offset[T_NORM], 8, (uint64_t)1 << 63, "past the end");
    expect_patch_rejected("gguf: offset 2^64-32", m.offset[T_NORM], 8, UINT64_MAX - 31, "past the end");
    expect_patch_rejected("gguf: unknown-type tensor starting past the end", m.offset[T_UNKNOWN], 8, 1 << 20,
                          "tensor 'blk.0.ffn_gate.weight' starts at offset 1048576, past the end");
    expect_patch_rejected("gguf: last tensor straddling the end", m.offset[T_4D], 8, m.tensor_offset[T_4D] + 32,
                          "tensor 'test.4d' (F32, 24 bytes at offset");
    expect_patch_rejected("gguf: overlapping tensors", m.offset[T_NORM], 8, m.tensor_offset[T_EMBD],
                          "overlap");
    expect_patch_rejected("gguf: a tensor at an unknown-type tensor's offset", m.offset[T_NORM], 8,
                          m.tensor_offset[T_UNKNOWN], "overlap");
    expect_patch_rejected("gguf: tensor name length 2^63", m.name_len[T_NORM], 8, (uint64_t)1 << 63,
                          "tensor 2's name claims");
    expect_patch_rejected("gguf: tensor name of 65 bytes", m.name_len[T_NORM], 8, 65,
                          "tensor 2's name is 65 bytes long");

    Buf b = {0};
    header(&b, 3, 2, 0);
    put_str(&b, "w"), put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, GGML_TYPE_F32), put_u64(&b, 0);
    put_str(&b, "w"), put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, GGML_TYPE_F32), put_u64(&b, 32);
    pad_to(&b, 32);
    for (int i = 0; i < 16; i++)
        put_f32(&b, 0);
    expect_rejected(b.p, b.len, "tensor 'w' appears twice");
    free(b.p);
    report("gguf: duplicate tensor names");

    b = (Buf){0};
    header(&b, 3, 1, 0);
    put_str(&b, "a_name_that_is_longer_than_the_sixty_four_bytes_that_gguf_allows__");
    put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, GGML_TYPE_F32), put_u64(&b, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 8; i++)
        put_f32(&b, 0);
    expect_rejected(b.p, b.len, "tensor 0's name is 66 bytes long; GGUF names are at most 64");
    free(b.p);
    report("gguf: a tensor name of 66 bytes");
}

/* Random corruptions of the test file: each must parse or fail with a
 * message, and what parses must point inside the buffer (ASan checks the rest). */
static void test_random_corruptions(void)
{
    Marks m;
    size_t size;
    unsigned char *file = build_file(0, &m, &size);
    unsigned char *copy = malloc(size);
    uint64_t state = 0x9e3779b97f4a7c15u;
    int accepted = 0;
    for (int round = 0; round < 20000 && !failure[0]; round++) {
        memcpy(copy, file, size);
        int changes = 1 + round % 4;
        for (int k = 0; k < changes; k++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            size_t at = (size_t)(state % (m.data_start + 8));  /* the header, metadata and tensor infos */
            uint64_t values[] = {state >> 32, 0, 1, UINT64_MAX, (uint64_t)1 << 63, state >> 40, 5, 32};
            int width = (state >> 8) % 2 ? 8 : 1;
            if (at + width > size)
                at = size - width;
            patch_le(copy, at, values[(state >> 20) % 8], width);
        }
        size_t n = size - (round % 7 == 0 ? (size_t)(state % size) : 0);
        GgufFile g;
        unsigned char *buf;
        char err[ERROR_SIZE];
        if (parse_copy(copy, n, &g, &buf, err) != 0) {
            expect(strncmp(err, PATH ": ", strlen(PATH ": ")) == 0 && strchr(err, '\n') == NULL,
                   "round %d: bad message: %s", round, err);
            continue;
        }
        accepted++;
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const GgufTensor *t = &g.tensors[i];
            const unsigned char *p = t->data;
            expect(p >= g.tensor_data && g.tensor_data >= buf && p < buf + n &&
                       (uint64_t)(buf + n - p) >= (t->size_bytes ? t->size_bytes : 1),
                   "round %d: tensor %llu lies outside the file", round, (unsigned long long)i);
        }
        for (uint64_t i = 0; i < g.n_kv; i++) {
            const GgufString *k = &g.kvs[i].key;
            expect((const unsigned char *)k->ptr >= buf && (const unsigned char *)k->ptr + k->len <= buf + n,
                   "round %d: key %llu lies outside the file", round, (unsigned long long)i);
        }
        gguf_free(&g);
        free(buf);
    }
    expect(accepted > 0, "no corrupted file parsed at all: the corruptions are too blunt to test much");
    free(copy);
    free(file);
    report("gguf: 20000 random corruptions parse or fail with a message, never out of bounds");
}

/* ---------------------------------------------------------------------------
 * Types and fp16 */

static void test_type_names(void)
{
    expect(strcmp(gguf_type_name(0), "F32") == 0 && strcmp(gguf_type_name(1), "F16") == 0 &&
               strcmp(gguf_type_name(8), "Q8_0") == 0 && strcmp(gguf_type_name(12), "Q4_K") == 0 &&
               strcmp(gguf_type_name(30), "BF16") == 0 && strcmp(gguf_type_name(2), "Q4_0") == 0 &&
               strcmp(gguf_type_name(23), "IQ4_XS") == 0,
           "ggml type names");
    expect(strcmp(gguf_type_name(4), "unknown") == 0 && strcmp(gguf_type_name(33), "unknown") == 0 &&
               strcmp(gguf_type_name(1000), "unknown") == 0 && strcmp(gguf_type_name(UINT32_MAX), "unknown") == 0,
           "removed or unknown types");
    expect(strcmp(gguf_value_type_name(GGUF_TYPE_FLOAT64), "float64") == 0 &&
               strcmp(gguf_value_type_name(13), "unknown") == 0, "value type names");
    expect(gguf_tensor_size(GGML_TYPE_F32, 10) == 40 && gguf_tensor_size(GGML_TYPE_F16, 10) == 20 &&
               gguf_tensor_size(GGML_TYPE_Q8_0, 64) == 68 && gguf_tensor_size(GGML_TYPE_Q8_0, 48) == 0 &&
               gguf_tensor_size(20, 256) == 0 && gguf_tensor_size(GGML_TYPE_F32, (uint64_t)1 << 62) == 0,
           "tensor sizes");
    /* ggml's blocks: Q4_0 18 bytes per 32 values, Q5_1 24, Q2_K 84 per 256, Q4_K 144, Q6_K 210 */
    expect(gguf_tensor_size(2, 64) == 36 && gguf_tensor_size(7, 32) == 24 && gguf_tensor_size(10, 512) == 168 &&
               gguf_tensor_size(12, 256) == 144 && gguf_tensor_size(14, 256) == 210 &&
               gguf_tensor_size(12, 255) == 0 && gguf_tensor_size(3, 48) == 0,
           "block types' sizes");
    report("gguf: type names and sizes");
}

/* An independent fp16 decoder: the formula, in double. */
static double fp16_formula(uint16_t h)
{
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double v;
    if (exponent == 0)
        v = ldexp(mantissa, -24);
    else if (exponent == 31)
        v = mantissa ? NAN : INFINITY;
    else
        v = ldexp(1024 + mantissa, exponent - 25);
    return sign ? -v : v;
}

static void test_fp16(void)
{
    const struct { uint16_t h; float want; } cases[] = {
        {0x3c00, 1.0f},       {0xc000, -2.0f},       {0x7bff, 65504.0f},      {0x0001, 0x1p-24f},
        {0x8001, -0x1p-24f},  {0x03ff, 1023 * 0x1p-24f}, {0x0400, 0x1p-14f},  {0x3555, 0.333251953125f},
        {0x3800, 0.5f},       {0xfbff, -65504.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float got = fp16_to_fp32(cases[i].h);
        expect(got == cases[i].want, "0x%04x -> %a, expected %a", cases[i].h, got, cases[i].want);
    }
    expect(isinf(fp16_to_fp32(0x7c00)) && fp16_to_fp32(0x7c00) > 0, "0x7c00 is +inf");
    expect(isinf(fp16_to_fp32(0xfc00)) && fp16_to_fp32(0xfc00) < 0, "0xfc00 is -inf");
    expect(isnan(fp16_to_fp32(0x7e00)) && isnan(fp16_to_fp32(0xfe00)) && isnan(fp16_to_fp32(0x7c01)), "NaNs");
    float nan = fp16_to_fp32(0x7e01);
    uint32_t bits;
    memcpy(&bits, &nan, sizeof bits);
    expect(bits == 0x7fc02000u, "NaN payload: 0x7e01 -> 0x%08x, expected 0x7fc02000", bits);
    float zero = fp16_to_fp32(0x0000), negative_zero = fp16_to_fp32(0x8000);
    expect(zero == 0.0f && !signbit(zero), "0x0000 is +0");
    expect(negative_zero == 0.0f && signbit(negative_zero), "0x8000 is -0");
    for (uint32_t h = 0; h < 65536; h++) {
        float got = fp16_to_fp32((uint16_t)h);
        double want = fp16_formula((uint16_t)h);
        if (isnan(want))
            expect(isnan(got), "0x%04x should be NaN", h);
        else
            expect((double)got == want && !signbit(got) == !signbit(want), "0x%04x -> %a, expected %a", h, got, want);
    }
    report("gguf: fp16_to_fp32 on hand-computed values and all 65536 patterns");
}

/* ---------------------------------------------------------------------------
 * The real files */

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc(n ? (size_t)n : 1);
            if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            }
            *size = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

static float f32_at(const void *p, size_t i)
{
    float x;
    memcpy(&x, (const unsigned char *)p + 4 * i, sizeof x);
    return x;
}

static float element(const GgufTensor *t, size_t i)
{
    if (t->type == GGML_TYPE_F32)
        return f32_at(t->data, i);
    const unsigned char *p = (const unsigned char *)t->data + 2 * i;
    return fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

static void expect_u32(const GgufFile *g, const char *key, uint32_t want)
{
    uint32_t v = 0;
    int r = gguf_get_u32(g, key, &v);
    expect(r == 0 && v == want, "%s = %u (status %d), expected %u", key, v, r, want);
}

static void expect_dims(const GgufFile *g, const char *name, uint32_t type_matrix, uint64_t d0, uint64_t d1)
{
    const GgufTensor *t = gguf_find_tensor(g, name);
    expect(t != NULL, "no tensor %s", name);
    if (!t)
        return;
    uint32_t want_type = d1 == 1 ? GGML_TYPE_F32 : type_matrix;  /* norms stay F32 */
    expect(t->n_dims == (d1 == 1 ? 1u : 2u) && t->dims[0] == d0 && t->dims[1] == d1 && t->type == want_type &&
               t->size_bytes == d0 * d1 * (want_type == GGML_TYPE_F32 ? 4 : 2),
           "%s: n_dims %u dims {%llu, %llu} type %s", name, t->n_dims, (unsigned long long)t->dims[0],
           (unsigned long long)t->dims[1], gguf_type_name(t->type));
}

/* stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512. */
static void test_real_file(const char *dir, const char *file, uint32_t matrix_type, uint64_t n_kv,
                           uint64_t data_start)
{
    char path[1024], name[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(name, sizeof name, "gguf: %s parses, with the metadata and tensors found", file);
    size_t size = 0;
    unsigned char *buf = read_file(path, &size);
    if (!buf) {
        expect(false, "cannot read %s", path);
        report(name);
        return;
    }
    GgufFile g;
    char err[ERROR_SIZE];
    if (gguf_parse(&g, buf, size, path, err) != 0) {
        expect(false, "%s", err);
        report(name);
        free(buf);
        return;
    }
    expect(g.version == 3 && g.n_tensors == 48 && g.n_kv == n_kv && g.alignment == 32,
           "version %u, %llu tensors, %llu kvs, alignment %llu", g.version, (unsigned long long)g.n_tensors,
           (unsigned long long)g.n_kv, (unsigned long long)g.alignment);
    expect(g.tensor_data == buf + data_start, "tensor data at %td", g.tensor_data - buf);
    GgufString s;
    expect(gguf_get_string(&g, "general.architecture", &s) == 0 && string_is(s, "llama"), "architecture");
    expect(gguf_get_string(&g, "tokenizer.ggml.model", &s) == 0 && string_is(s, "llama"), "tokenizer model");
    expect_u32(&g, "llama.context_length", 128);  /* the converter's default, not the .bin's 512 */
    expect_u32(&g, "llama.embedding_length", 64);
    expect_u32(&g, "llama.feed_forward_length", 172);
    expect_u32(&g, "llama.block_count", 5);
    expect_u32(&g, "llama.attention.head_count", 8);
    expect_u32(&g, "llama.attention.head_count_kv", 4);
    expect_u32(&g, "llama.rope.dimension_count", 8);
    expect_u32(&g, "tokenizer.ggml.unknown_token_id", 0);
    expect_u32(&g, "tokenizer.ggml.bos_token_id", 1);
    expect_u32(&g, "tokenizer.ggml.eos_token_id", 2);
    float eps = 0;
    expect(gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &eps) == 0 && eps == 1e-5f, "eps %g", eps);
    expect(gguf_find_kv(&g, "llama.rope.freq_base") == NULL, "rope.freq_base is absent (default 10000)");
    expect(gguf_find_kv(&g, "general.alignment") == NULL, "general.alignment is absent");
    if (matrix_type == GGML_TYPE_F16)
        expect_u32(&g, "general.file_type", 1);

    const GgufArray *tokens = gguf_get_array(&g, "tokenizer.ggml.tokens");
    const GgufArray *scores = gguf_get_array(&g, "tokenizer.ggml.scores");
    const GgufArray *types = gguf_get_array(&g, "tokenizer.ggml.token_type");
    expect(tokens && scores && types && tokens->count == 512 && scores->count == 512 && types->count == 512 &&
               tokens->type == GGUF_TYPE_STRING && scores->type == GGUF_TYPE_FLOAT32 &&
               types->type == GGUF_TYPE_INT32,
           "the vocabulary arrays");
    if (tokens && scores && types) {
        GgufString t0, t1, t3, t258, t259;
        float sc = 1;
        int32_t ty[5] = {0};
        gguf_array_string(tokens, 0, &t0), gguf_array_string(tokens, 1, &t1), gguf_array_string(tokens, 3, &t3);
        gguf_array_string(tokens, 258, &t258), gguf_array_string(tokens, 259, &t259);
        expect(string_is(t0, "<unk>") && string_is(t1, "<s>") && string_is(t3, "<0x00>") &&
                   string_is(t258, "<0xFF>") && string_is(t259, "\xe2\x96\x81t"),
               "tokens 0, 1, 3, 258, 259");
        expect(gguf_array_f32(scores, 260, &sc) == 0 && sc == -1.0f, "score of token 260: %g", sc);
        gguf_array_i32(types, 0, &ty[0]), gguf_array_i32(types, 1, &ty[1]), gguf_array_i32(types, 2, &ty[2]);
        gguf_array_i32(types, 3, &ty[3]), gguf_array_i32(types, 259, &ty[4]);
        expect(ty[0] == 2 && ty[1] == 3 && ty[2] == 3 && ty[3] == 6 && ty[4] == 1, "token types");
    }

    expect_dims(&g, "token_embd.weight", matrix_type, 64, 512);
    expect_dims(&g, "output.weight", matrix_type, 64, 512);
    expect_dims(&g, "output_norm.weight", matrix_type, 64, 1);
    for (int l = 0; l < 5; l++) {
        const struct { const char *suffix; uint64_t d0, d1; } layer[] = {
            {"attn_q", 64, 64},    {"attn_k", 64, 32},   {"attn_v", 64, 32},  {"attn_output", 64, 64},
            {"attn_norm", 64, 1},  {"ffn_gate", 64, 172}, {"ffn_down", 172, 64}, {"ffn_up", 64, 172},
            {"ffn_norm", 64, 1},
        };
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            char tname[64];
            snprintf(tname, sizeof tname, "blk.%d.%s.weight", l, layer[i].suffix);
            expect_dims(&g, tname, matrix_type, layer[i].d0, layer[i].d1);
        }
    }
    /* The converter writes the shared classifier out as a copy. */
    const GgufTensor *embd = gguf_find_tensor(&g, "token_embd.weight"), *out = gguf_find_tensor(&g, "output.weight");
    expect(embd && out && embd->size_bytes == out->size_bytes &&
               memcmp(embd->data, out->data, embd->size_bytes) == 0,
           "output.weight is a copy of token_embd.weight");
    report(name);

    /* Against stories260K.bin: same tensors, same row order (no q/k permutation). */
    snprintf(name, sizeof name, "gguf: %s holds stories260K.bin's weights, q and k rows unpermuted", file);
    snprintf(path, sizeof path, "%s/stories260K.bin", dir);
    size_t bin_size = 0;
    unsigned char *bin = read_file(path, &bin_size);
    const int dim = 64, hidden = 172, layers = 5, kv_dim = 32, vocab = 512;
    size_t floats = (size_t)vocab * dim + layers * (size_t)(2 * dim + 2 * dim * dim + 2 * kv_dim * dim +
                                                           3 * dim * hidden) + dim;
    if (!bin || bin_size < 28 + 4 * floats) {
        expect(false, "cannot read %s", path);
    } else {
        const unsigned char *w = bin + 28;
        /* legacy order: embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final */
        size_t at = 0;
        struct { const char *suffix; size_t count; } order[] = {
            {"attn_norm", dim}, {"attn_q", (size_t)dim * dim}, {"attn_k", (size_t)kv_dim * dim},
            {"attn_v", (size_t)kv_dim * dim}, {"attn_output", (size_t)dim * dim}, {"ffn_norm", dim},
            {"ffn_gate", (size_t)hidden * dim}, {"ffn_down", (size_t)dim * hidden}, {"ffn_up", (size_t)hidden * dim},
        };
        double worst = 0;
        size_t compared = 0;
        const GgufTensor *t = gguf_find_tensor(&g, "token_embd.weight");
        for (size_t i = 0; t && i < (size_t)vocab * dim; i++, compared++)
            worst = fmax(worst, fabs(element(t, i) - f32_at(w, i)) / fmax(fabs(f32_at(w, i)), 1e-3));
        at += (size_t)vocab * dim;
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
            for (int l = 0; l < layers; l++) {
                char tname[64];
                snprintf(tname, sizeof tname, "blk.%d.%s.weight", l, order[k].suffix);
                t = gguf_find_tensor(&g, tname);
                for (size_t i = 0; t && i < order[k].count; i++, compared++) {
                    float want = f32_at(w, at + i);
                    worst = fmax(worst, fabs(element(t, i) - want) / fmax(fabs(want), 1e-3));
                }
                at += order[k].count;
            }
        }
        t = gguf_find_tensor(&g, "output_norm.weight");
        for (size_t i = 0; t && i < (size_t)dim; i++, compared++)
            worst = fmax(worst, fabs(element(t, i) - f32_at(w, at + i)));
        /* F32: bit-exact. F16: within half an fp16 ulp (2^-11 relative), or the
         * absolute error of fp16's subnormal range near zero. */
        double tolerance = matrix_type == GGML_TYPE_F32 ? 0.0 : 1.0 / 2048 + 1e-4;
        expect(compared == floats && worst <= tolerance, "compared %zu of %zu values, worst relative error %g",
               compared, floats, worst);
    }
    free(bin);
    report(name);
    gguf_free(&g);
    free(buf);
}

int main(int argc, char **argv)
{
    const char *models_dir = argc > 1 ? argv[1] : NULL;
    test_valid_file(0, "gguf: a valid file with every value type and five tensors parses");
    test_valid_file(64, "gguf: the same with general.alignment 64");
    test_valid_file(32, "gguf: the same with general.alignment 32 written out");
    test_valid_variants();
    test_truncations();
    test_header_errors();
    test_metadata_errors();
    test_alignment_errors();
    test_tensor_errors();
    test_random_corruptions();
    test_type_names();
    test_fp16();
    if (models_dir) {
        test_real_file(models_dir, "stories260K.f32.gguf", GGML_TYPE_F32, 19, 14176);
        test_real_file(models_dir, "stories260K.f16.gguf", GGML_TYPE_F16, 21, 14240);
    }
    return n_failed ? 1 : 0;
}
