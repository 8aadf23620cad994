/* model.c - what every model shares, whatever its architecture or file.
 *
 * Loading maps the checkpoint, tells GGUF, llm.c's and llama2.c's formats
 * apart by their first bytes, and hands it to that format's reader: llmc.c,
 * llama2c.c, or for GGUF the loader of the architecture the file names (the
 * table below). Then the run state, and forward(), which runs the model's
 * architecture. */
#include "model.h"

#include "arch.h"
#include "layers.h"
#include "llama2c.h"
#include "llmc.h"

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

/* ---------------------------------------------------------------------------
 * Errors and checks every loader shares */

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

int config_validate(Config *c, bool rotary, char err[ERROR_SIZE])
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
    if (c->head_size < 0)
        return snprintf(err, ERROR_SIZE, "head size %d must be positive", c->head_size), -1;
    if (c->head_size == 0 && c->dim % c->n_heads != 0)
        return snprintf(err, ERROR_SIZE, "dim %d is not divisible by n_heads %d", c->dim, c->n_heads), -1;
    if (c->n_heads % c->n_kv_heads != 0)
        return snprintf(err, ERROR_SIZE, "n_heads %d is not divisible by n_kv_heads %d", c->n_heads,
                        c->n_kv_heads), -1;
    const int head_size = c->head_size > 0 ? c->head_size : c->dim / c->n_heads;
    if (rotary && head_size % 2 != 0)
        return snprintf(err, ERROR_SIZE, "head size %d is odd; rotary encoding rotates pairs", head_size), -1;
    if ((int64_t)c->n_heads * head_size > INT32_MAX)
        return snprintf(err, ERROR_SIZE, "%d heads of %d values are too many", c->n_heads, head_size), -1;
    c->head_size = head_size;
    c->q_dim = c->n_heads * head_size;
    c->kv_dim = c->n_kv_heads * head_size;
    return 0;
}

/* ---------------------------------------------------------------------------
 * The architectures: a GGUF file names its own, llama2.c files are Llama's */

static const Architecture ARCHITECTURES[] = {
    {"llama", llama_load_gguf, llama_forward},
    {"qwen2", qwen2_load_gguf, llama_forward},
    {"qwen3", qwen3_load_gguf, llama_forward},
    {"gpt2", gpt2_load_gguf, gpt2_forward},
};
#define N_ARCHITECTURES (sizeof ARCHITECTURES / sizeof ARCHITECTURES[0])
#define NAME_SHOWN_MAX 40  /* an unknown architecture's name in a message: at most this many bytes */

const Architecture *find_architecture(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ARCHITECTURES; i++)
        if (strlen(ARCHITECTURES[i].name) == len && memcmp(ARCHITECTURES[i].name, name, len) == 0)
            return &ARCHITECTURES[i];
    return NULL;
}

/* "llama, qwen2, qwen3, gpt2": the names of the table's rows, for a message. */
static void list_architectures(char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_ARCHITECTURES && n < size; i++) {
        int written = snprintf(out + n, size - n, "%s%s", i ? ", " : "", ARCHITECTURES[i].name);
        if (written < 0)
            break;
        n += (size_t)written;
    }
}

/* Parses the GGUF file and hands it to the loader of its architecture. */
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
    GgufString name;
    if (gguf_get_string(g, "general.architecture", &name) != 0)
        return file_error(err, path, "no general.architecture in its metadata");
    model->arch = find_architecture(name.ptr, name.len);
    if (!model->arch) {
        char supported[ERROR_SIZE];
        list_architectures(supported, sizeof supported);
        return file_error(err, path, "architecture '%.*s' is not supported (only %s)",
                          (int)(name.len > NAME_SHOWN_MAX ? NAME_SHOWN_MAX : name.len), name.ptr, supported);
    }
    return model->arch->load_gguf(model, path, err);
}

/* ---------------------------------------------------------------------------
 * Loading, paging in, freeing */

int model_load(Model *model, const char *path, char err[ERROR_SIZE])
{
    memset(model, 0, sizeof *model);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return file_error(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return file_error(err, path, S_ISDIR(st.st_mode) ? "is a directory, not a checkpoint file" : "not a regular file");
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

    /* llm.c's checkpoints hold GPT-2 models. */
    if (llmc_is_checkpoint(mapping, size)) {
        model->arch = find_architecture("gpt2", strlen("gpt2"));
        if (llmc_load(model, path, err) != 0)
            goto failed;
        return 0;
    }

    /* Otherwise one of llama2.c's formats, which hold Llama models. */
    model->arch = find_architecture("llama", strlen("llama"));
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
    free(model->weights.vectors);
    memset(model, 0, sizeof *model);
}

/* ---------------------------------------------------------------------------
 * The run state, and the forward pass */

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
    const int block_io = c->q_dim > c->dim ? c->q_dim : c->dim;  /* a block's input, or attention's output */
    s->xb = alloc_floats(B, block_io, 1);
    s->xb2 = alloc_floats(B, c->dim, 1);
    s->q = alloc_floats(B, c->q_dim, 1);
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
    const int widest = c->hidden_dim > block_io ? c->hidden_dim : block_io;  /* a matmul's input */
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
    if (c->rope_theta > 0)
        rope_frequencies(s->rope_inv_freq, c);
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

float *forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted)
{
    return model->arch->forward(model, s, tokens, T, pos, wanted);
}
