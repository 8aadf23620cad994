/* gguf.h - reading GGUF files (llama.cpp's model format), versions 2 and 3.
 *
 * gguf_parse walks a file already in memory (mapped by the caller) and checks
 * every count, length, dimension and offset against the file's size before
 * using it, so a corrupt or truncated file gives one line naming the file and
 * the problem, never a crash or a huge allocation. Nothing is copied: strings
 * and tensor data point into the caller's buffer, which must outlive the
 * GgufFile. Tensor data is as aligned as the buffer plus general.alignment
 * (at least 8): a page-aligned mapping gives aligned floats.
 *
 * Layout (ggml's docs/gguf.md), all little-endian:
 *   "GGUF", uint32 version, uint64 tensor_count, uint64 kv_count
 *   kv_count x  (string key, uint32 value type, value)
 *   tensor_count x (string name, uint32 n_dims, n_dims x uint64 dims,
 *                   uint32 ggml type, uint64 offset)
 *   zero padding to a multiple of general.alignment (default 32)
 *   tensor data: each tensor at that start + its offset
 * A string is a uint64 byte count and the bytes (no NUL); an array is a uint32
 * element type, a uint64 element count, and the elements back to back.
 *
 * ggml's dims run innermost first: dims[0] is the length of a row (a matrix's
 * columns, in_features), dims[1] the number of rows (out_features). So a
 * llama blk.N.attn_q.weight is {dim, dim}, token_embd.weight {dim, vocab},
 * ffn_gate and ffn_up {dim, hidden}, ffn_down {hidden, dim}. */
#ifndef GGUF_H
#define GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for one error message; the same as model.h's (an identical
 * redefinition is allowed, so either header may come first). */
#ifndef ERROR_SIZE
#define ERROR_SIZE 512
#endif

#define GGUF_MAGIC "GGUF"     /* the first 4 bytes of every GGUF file */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64        /* bytes in a tensor name, per the spec */
#define GGUF_MAX_KEY 65535      /* bytes in a metadata key, per the spec */
#define GGUF_MAX_ARRAY_DEPTH 8  /* arrays of arrays: deeper nesting is taken for corruption */

/* Metadata value types, numbered as in the file. */
typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} GgufValueType;

/* Some ggml tensor types by their ids in the file (gguf_type_name has the
 * names of all; the sizes of those the engine runs are in quants.h's table). */
#define GGML_TYPE_F32 0
#define GGML_TYPE_F16 1
#define GGML_TYPE_Q8_0 8

/* Points into the file: NOT NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} GgufString;

typedef struct {
    GgufValueType type;         /* of the elements */
    uint64_t count;
    const unsigned char *data;  /* the first element's bytes: little-endian, unaligned */
    GgufString *strings;        /* STRING arrays: every element, found once at parse time;
                                   NULL otherwise. Arrays of arrays are checked and skipped:
                                   their elements are not reachable through this API. */
} GgufArray;

typedef struct {
    GgufString key;
    GgufValueType type;
    union {
        uint64_t u;      /* UINT8, UINT16, UINT32, UINT64; BOOL as 0 or 1 */
        int64_t i;       /* INT8, INT16, INT32, INT64 */
        double f;        /* FLOAT32 (exactly), FLOAT64 */
        GgufString str;  /* STRING */
        GgufArray arr;   /* ARRAY */
    } value;
    const unsigned char *raw;  /* the whole entry as the file holds it (key, type, value): */
    uint64_t raw_size;         /* what a writer copies to keep the value exactly */
} GgufKV;

typedef struct {
    GgufString name;
    uint32_t n_dims;                 /* 1..GGUF_MAX_DIMS */
    uint64_t dims[GGUF_MAX_DIMS];    /* dims[0] innermost; past n_dims: 1 */
    uint64_t n_elements;             /* product of dims, < 2^63 */
    uint32_t type;                   /* ggml type: GGML_TYPE_F32, ... */
    uint64_t offset;                 /* from the start of the tensor data */
    const void *data;                /* tensor_data + offset, inside the file */
    uint64_t size_bytes;             /* 0 when gguf_tensor_size does not know the type:
                                        then only the offset was checked */
} GgufTensor;

typedef struct {
    const unsigned char *data;  /* the whole file, the caller's */
    size_t size;
    uint32_t version;           /* 2 or 3 */
    uint64_t n_tensors, n_kv;
    GgufKV *kvs;                /* (n_kv) in file order */
    GgufTensor *tensors;        /* (n_tensors) in file order */
    uint64_t alignment;         /* general.alignment, or 32 */
    const unsigned char *tensor_data;  /* data + the aligned end of the tensor infos */
    uint64_t tensor_data_size;         /* bytes from there to the end of the file */
} GgufFile;

/* Parses and checks the size bytes at data; path names the file in messages.
 * Returns 0, or -1 with "path: what is wrong" in err (g then holds nothing). */
int gguf_parse(GgufFile *g, const void *data, size_t size, const char *path, char err[ERROR_SIZE]);
/* Frees what gguf_parse allocated (not the buffer). Safe on a zeroed or freed g. */
void gguf_free(GgufFile *g);

/* NULL when absent. */
const GgufKV *gguf_find_kv(const GgufFile *g, const char *key);
const GgufTensor *gguf_find_tensor(const GgufFile *g, const char *name);

/* Typed metadata getters: 0, or -1 when the key is absent, or -2 when it has
 * another type or a value that does not fit (the caller words the message,
 * with gguf_value_type_name(gguf_find_kv(...)->type)). */
int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *out);   /* any integer type, 0..2^32-1 */
int gguf_get_f32(const GgufFile *g, const char *key, float *out);      /* FLOAT32 or FLOAT64 */
int gguf_get_bool(const GgufFile *g, const char *key, bool *out);
int gguf_get_string(const GgufFile *g, const char *key, GgufString *out);
/* NULL when absent or not an array. */
const GgufArray *gguf_get_array(const GgufFile *g, const char *key);

/* Element i of an array: 0, or -1 when i >= count or the elements are of
 * another type. i32 takes any integer type whose value fits; f32 FLOAT32 or
 * FLOAT64. */
int gguf_array_string(const GgufArray *a, uint64_t i, GgufString *out);
int gguf_array_f32(const GgufArray *a, uint64_t i, float *out);
int gguf_array_i32(const GgufArray *a, uint64_t i, int32_t *out);

/* s equals the NUL-terminated text. */
bool gguf_string_equals(GgufString s, const char *text);

/* "uint32", "string", ... or "unknown". */
const char *gguf_value_type_name(uint32_t type);
/* ggml's name of a tensor type ("F32", "Q4_K", ...), or "unknown". */
const char *gguf_type_name(uint32_t type);
/* Bytes of n_elements values of a tensor type the engine runs (quants.h's
 * table; n whole blocks); 0 for any other type, or on overflow. */
uint64_t gguf_tensor_size(uint32_t type, uint64_t n_elements);



#endif
