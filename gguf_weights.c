/* gguf_weights.c - a GGUF file's hyperparameters and tensors, checked and
 * turned into the engine's types: the pieces every architecture's loader is
 * built from. Each check names the key or tensor it refused. */
#include "gguf_weights.h"

#include "arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int gguf_dimension(const GgufFile *g, const char *path, const char *key, int fallback, int *out,
                   char err[ERROR_SIZE])
{
    uint32_t v;
    int rc = gguf_get_u32(g, key, &v);
    if (rc == -1 && fallback > 0) {
        *out = fallback;
        return 0;
    }
    if (rc != 0)
        return file_error(err, path, rc == -1 ? "no %s in its metadata" : "%s is not an integer", key);
    if (v > INT32_MAX)
        return file_error(err, path, "%s is %u, too large", key, v);
    *out = (int)v;
    return 0;
}

/* "arch.suffix" in key (a buffer of KEY_SIZE). */
#define KEY_SIZE 128
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)

/* The float hyperparameter key, or fallback when it is absent; it must be
 * finite and at least minimum (above it when strictly). */
static int hyperparameter_f32(const GgufFile *g, const char *path, const char *key, float fallback, float minimum,
                              bool strictly, float *out, char err[ERROR_SIZE])
{
    *out = fallback;
    const int rc = gguf_get_f32(g, key, out);
    if (rc == -2 || !isfinite(*out) || *out < minimum || (strictly && *out == minimum))
        return file_error(err, path, "%s must be a number %s %g", key, strictly ? ">" : ">=", minimum);
    return 0;
}

/* RoPE's scaling: rope.scaling.type (absent: linear, as llama.cpp reads it)
 * and rope.scaling.factor (or the older rope.scale_linear), which divides
 * the positions; none ignores the factor. */
static int rope_scaling(const GgufFile *g, const char *path, const char *arch, Config *c, char err[ERROR_SIZE])
{
    char key[KEY_SIZE];
    c->rope_scaling_factor = 1.0f;
    GgufString type = {"linear", 6};
    int rc = gguf_get_string(g, ARCH_KEY("rope.scaling.type"), &type);
    if (rc == -2)
        return file_error(err, path, "%s is not a string", key);
    if (!gguf_string_equals(type, "none") && !gguf_string_equals(type, "linear"))
        return file_error(err, path, "%s '%.*s' is not supported (only none and linear)", key,
                          (int)(type.len > 40 ? 40 : type.len), type.ptr);
    float factor = 0.0f;
    if (!gguf_find_kv(g, ARCH_KEY("rope.scaling.factor")))
        snprintf(key, sizeof key, "%s.rope.scale_linear", arch);  /* the older name */
    if (hyperparameter_f32(g, path, key, 0.0f, 0.0f, false, &factor, err) != 0)
        return -1;
    /* llama.cpp: a factor of 0 means none, and so does the type none. */
    if (factor != 0.0f && gguf_string_equals(type, "linear"))
        c->rope_scaling_factor = factor;
    float attn_factor;
    if (hyperparameter_f32(g, path, ARCH_KEY("rope.scaling.attn_factor"), 1.0f, 0.0f, true, &attn_factor, err) != 0)
        return -1;
    if (attn_factor != 1.0f)
        return file_error(err, path, "%s is %g; only 1 is supported", key, attn_factor);
    return 0;
}

int gguf_rotary_hyperparameters(const GgufFile *g, const char *path, const char *arch, Config *c,
                                char err[ERROR_SIZE])
{
    char key[KEY_SIZE];
    if (gguf_vocab_size(g, path, &c->vocab_size, err) != 0)
        return -1;
    if (gguf_dimension(g, path, ARCH_KEY("embedding_length"), 0, &c->dim, err) ||
        gguf_dimension(g, path, ARCH_KEY("feed_forward_length"), 0, &c->hidden_dim, err) ||
        gguf_dimension(g, path, ARCH_KEY("block_count"), 0, &c->n_layers, err) ||
        gguf_dimension(g, path, ARCH_KEY("attention.head_count"), 0, &c->n_heads, err) ||
        gguf_dimension(g, path, ARCH_KEY("attention.head_count_kv"), c->n_heads, &c->n_kv_heads, err) ||
        gguf_dimension(g, path, ARCH_KEY("context_length"), 0, &c->seq_len, err))
        return -1;
    /* The head size: the file's own when it says (then dim need not be
     * n_heads of them), else dim / n_heads (config_validate). */
    c->head_size = 0;
    if (gguf_find_kv(g, ARCH_KEY("attention.key_length"))) {
        if (gguf_dimension(g, path, key, 0, &c->head_size, err) != 0)
            return -1;
        if (c->head_size == 0)
            return file_error(err, path, "%s is 0, must be positive", key);
    }
    char why[ERROR_SIZE];
    if (config_validate(c, true, why) != 0)
        return file_error(err, path, "bad metadata: %s", why);
    int value_length = 0;
    if (gguf_dimension(g, path, ARCH_KEY("attention.value_length"), c->head_size, &value_length, err) != 0)
        return -1;
    if (value_length != c->head_size)
        return file_error(err, path, "%s is %d but the head size (key length) is %d; only equal ones are supported",
                          key, value_length, c->head_size);
    int rope_dims = 0;
    if (gguf_dimension(g, path, ARCH_KEY("rope.dimension_count"), c->head_size, &rope_dims, err))
        return -1;
    if (rope_dims != c->head_size)
        return file_error(err, path, "%s is %d; only rotating whole heads (%d) is supported", key, rope_dims,
                          c->head_size);
    c->rope_style = ROPE_ADJACENT_PAIRS;
    c->rope_freq_factors = NULL;
    if (hyperparameter_f32(g, path, ARCH_KEY("rope.freq_base"), LLAMA_ROPE_THETA, 0.0f, true, &c->rope_theta, err) ||
        hyperparameter_f32(g, path, ARCH_KEY("attention.layer_norm_rms_epsilon"), LLAMA_NORM_EPS, 0.0f, false,
                           &c->norm_eps, err))
        return -1;
    return rope_scaling(g, path, arch, c, err);
}

int gguf_matrix(const GgufFile *g, const char *path, const char *name, int rows, int cols, Matrix *m,
                char err[ERROR_SIZE])
{
    const GgufTensor *t = gguf_find_tensor(g, name);
    if (!t)
        return file_error(err, path, "tensor %s is missing", name);
    if (t->n_dims != 2 || t->dims[0] != (uint64_t)cols || t->dims[1] != (uint64_t)rows)
        return file_error(err, path, "tensor %s has shape [%llu, %llu], expected [%d, %d] from the metadata", name,
                    (unsigned long long)t->dims[0], (unsigned long long)(t->n_dims > 1 ? t->dims[1] : 1), cols,
                    rows);
    WeightType type;
    if (weight_type_from_ggml(t->type, &type) != 0) {
        char runs[WEIGHT_TYPE_NAMES_SIZE];
        weight_type_gguf_names(runs, sizeof runs);
        return file_error(err, path, "tensor %s has type %s, which this engine does not run (%s)", name,
                          gguf_type_name(t->type), runs);
    }
    *m = (Matrix){type, rows, cols, t->data, NULL, 0};
    return 0;
}

int gguf_vector(const GgufFile *g, const char *path, const char *name, int n, const float **v,
                char err[ERROR_SIZE])
{
    const GgufTensor *t = gguf_find_tensor(g, name);
    if (!t)
        return file_error(err, path, "tensor %s is missing", name);
    if (t->n_dims != 1 || t->dims[0] != (uint64_t)n || t->type != GGML_TYPE_F32)
        return file_error(err, path, "tensor %s must be %d float32 values (it is type %s, %llu values)", name, n,
                    gguf_type_name(t->type), (unsigned long long)t->n_elements);
    *v = t->data;
    return 0;
}

int gguf_vocab_size(const GgufFile *g, const char *path, int *vocab_size, char err[ERROR_SIZE])
{
    const GgufTensor *embedding = gguf_find_tensor(g, "token_embd.weight");
    if (!embedding || embedding->n_dims != 2 || embedding->dims[1] > INT32_MAX)
        return file_error(err, path, "tensor token_embd.weight is missing or not a matrix");
    *vocab_size = (int)embedding->dims[1];
    return 0;
}

int gguf_classifier(const GgufFile *g, const char *path, Config *c, Weights *w, char err[ERROR_SIZE])
{
    c->shared_classifier = gguf_find_tensor(g, "output.weight") == NULL;
    if (c->shared_classifier) {
        w->output = w->token_embd;
        return 0;
    }
    return gguf_matrix(g, path, "output.weight", c->vocab_size, c->dim, &w->output, err);
}

int gguf_layers(const GgufFile *g, const char *path, const Config *c, Weights *w, int tensors_per_layer,
                const char *block_count_key, GgufLayerLoader load_layer, char err[ERROR_SIZE])
{
    if ((uint64_t)c->n_layers * (uint64_t)tensors_per_layer > g->n_tensors)
        return file_error(err, path, "%s is %d but the file holds only %llu tensors", block_count_key, c->n_layers,
                          (unsigned long long)g->n_tensors);
    w->layers = calloc((size_t)c->n_layers, sizeof(LayerWeights));
    if (!w->layers)
        return file_error(err, path, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if (load_layer(g, path, c, l, &w->layers[l], err) != 0)
            return -1;
    return 0;
}
