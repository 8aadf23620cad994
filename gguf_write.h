/* gguf_write.h - writing GGUF files (version 3), and the Q8_0 GGUF that
 * `./run quantize IN OUT.gguf` makes of a model.
 *
 * Part 1, the writer: metadata entries and tensors are added to a GgufWriter
 * (a tensor by where its values are, so nothing is copied or quantized until
 * the file is written), then gguf_writer_save writes the file as gguf.h lays
 * it out, each tensor's data at a multiple of the alignment, under a
 * temporary name renamed when complete (save_file.h).
 *
 * Part 2, model_save_gguf: a model the engine loaded, as a GGUF file whose
 * matrices are Q8_0. */
#ifndef GGUF_WRITE_H
#define GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "model.h"
#include "quants.h"

/* llama.cpp's general.file_type (enum llama_ftype) of a file whose matrices
 * are Q8_0, and the general.quantization_version its quantizer writes. */
#define GGUF_FILE_TYPE_MOSTLY_Q8_0 7
#define GGUF_QUANTIZATION_VERSION 2

/* ---------------------------------------------------------------------------
 * Part 1: the writer */

typedef enum {
    GGUF_FROM_BYTES,  /* the tensor's bytes, copied as they are */
    GGUF_FROM_Q8_0,   /* the rows of a matrix, quantized to Q8_0 */
    GGUF_FROM_F32,    /* the rows of a matrix, as float32 */
    GGUF_FROM_QUANTIZED,  /* the rows of a matrix, quantized to `written` */
} GgufTensorSource;

typedef struct {
    char name[GGUF_MAX_NAME + 1];
    uint32_t n_dims;
    uint64_t dims[GGUF_MAX_DIMS];  /* ggml order: dims[0] is a row's length */
    uint32_t type;                 /* the ggml type written */
    uint64_t size;                 /* bytes of data written */
    uint64_t offset;               /* from the start of the tensor data */
    GgufTensorSource source;
    const void *bytes;             /* GGUF_FROM_BYTES */
    Matrix matrix;                 /* the rows' sources: any weight type (matrix_row) */
    WeightType written;            /* ... and the type they are written in */
} GgufWriterTensor;

typedef struct {
    unsigned char *kv;             /* the metadata entries, serialized */
    size_t kv_size, kv_capacity;
    uint64_t n_kv;
    GgufWriterTensor *tensors;
    size_t n_tensors, tensor_capacity;
    uint64_t alignment;            /* of the tensor data; general.alignment says so if not 32 */
    char error[ERROR_SIZE];        /* the first thing that went wrong while adding, else "" */
} GgufWriter;

void gguf_writer_init(GgufWriter *w);
void gguf_writer_free(GgufWriter *w);

/* Metadata, in the order added. The caller keeps keys unique. */
void gguf_writer_kv_raw(GgufWriter *w, const void *entry, size_t size);  /* a whole entry (GgufKV.raw) */
void gguf_writer_kv_u32(GgufWriter *w, const char *key, uint32_t value);
void gguf_writer_kv_f32(GgufWriter *w, const char *key, float value);
void gguf_writer_kv_string(GgufWriter *w, const char *key, const char *value);

/* Tensors, in the order added; the pointers must stay valid until the file
 * is saved. dims in ggml order. */
void gguf_writer_tensor_bytes(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                              uint32_t ggml_type, const void *data, uint64_t size);
/* m's rows, quantized to Q8_0 (m->cols a multiple of Q8_0_BLOCK) or as
 * float32; n_dims and dims may split the rows further (their product is
 * m->rows * m->cols, dims[0] m->cols). */
void gguf_writer_tensor_rows(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                             const Matrix *m, GgufTensorSource as);
/* The same, quantized to any type with a quantize_row (quants.h), F32 too;
 * m->cols must be whole blocks of it. */
void gguf_writer_tensor_as(GgufWriter *w, const char *name, uint32_t n_dims, const uint64_t *dims, const Matrix *m,
                           WeightType type);

/* Writes the file at path (a temporary name beside it, renamed when
 * complete). Returns 0, or -1 with "path: why" in err (or the first error
 * of adding). */
int gguf_writer_save(GgufWriter *w, const char *path, char err[ERROR_SIZE]);

/* ---------------------------------------------------------------------------
 * Part 2: a model as a Q8_0 GGUF file */

/* What ./run quantize --type NAME writes: llama.cpp's mixes. */
typedef struct {
    const char *name;    /* as --type takes it */
    WeightType type;     /* most matrices */
    uint32_t file_type;  /* general.file_type (llama.cpp's enum llama_ftype) */
    bool output_q6_k;    /* the classifier in Q6_K, as llama.cpp does for every type below 8 bits */
    bool more_bits;      /* Q4_K_M: attn_v and ffn_down in Q6_K on llama.cpp's use_more_bits layers */
} QuantizeRecipe;

/* "q8_0" (every matrix Q8_0), "q4_0" (Q4_0, the classifier Q6_K, as
 * llama.cpp's Q4_0), "q4_k" (every matrix Q4_K, as llama-quantize --pure),
 * "q4_k_m" (llama.cpp's Q4_K_M mix of Q4_K and Q6_K). */
extern const QuantizeRecipe quantize_recipes[];
/* The recipe named (case-insensitively), or NULL. */
const QuantizeRecipe *quantize_recipe(const char *name);
/* "q8_0, q4_0, ...", for messages. */
void quantize_recipe_names(char *out, size_t size);

/* What model_save_gguf did, for the caller's notes. */
typedef struct {
    int quantized;    /* F32 and F16 matrices quantized */
    int copied;       /* matrices already quantized to as few bits or fewer, copied as they were */
    int requantized;  /* quantized matrices (llama2.c int8, Q8_0, ...) rounded again */
    int written[WEIGHT_TYPE_COUNT];  /* matrices quantized (or again) to each type */
    int kept;         /* matrices whose rows are not whole blocks: left unquantized */
    char kept_name[GGUF_MAX_NAME + 1];         /* the first of those */
    char kept_type[16];                        /* and the type it was written in */
    int others;       /* tensors written as they were: norms, biases, the position table */
    uint64_t n_kv;    /* metadata entries written */
    bool from_gguf;   /* the metadata is the input's (else written from the model's config) */
    bool vocabulary;  /* the output holds a vocabulary (tokenizer.ggml.tokens) */
} GgufSaveSummary;

/* Writes model (read from model_path, which names it in messages) as a GGUF
 * version 3 file at path. Every matrix (a tensor of two or more dimensions,
 * but GPT-2's position table, which llama.cpp's quantizer leaves alone too)
 * is Q8_0; norms and biases are F32 as they were.
 *
 * From a GGUF file: every metadata entry is copied byte for byte, in order,
 * except general.file_type and general.quantization_version, which say what
 * the file now holds (as llama.cpp's quantizer writes them); every tensor
 * keeps its name and dimensions; Q8_0 (or any other quantized) tensors are
 * copied as they are, F32 and F16 ones quantized. From llama2.c's and llm.c's
 * checkpoints: the architecture's metadata (llama.* or gpt2.*) and
 * llama.cpp's tensor names, which the engine's GGUF loaders read back as the
 * same model; llama2.c's q and k rows already pair values as llama.cpp's
 * GGUF does (RoPE on (2i, 2i + 1)), so they are written unpermuted.
 *
 * A matrix whose rows are not whole blocks of 32 stays as it was (F32 for
 * llama2.c int8). Returns 0, or -1 with a message in err; summary says what
 * was done. */
int model_save_gguf(const Model *model, const char *model_path, const char *path, const QuantizeRecipe *recipe,
                    GgufSaveSummary *summary, char err[ERROR_SIZE]);

#endif
