/* gguf_weights.c - a GGUF file's hyperparameters and tensors, checked and
 * turned into the engine's types: the pieces every architecture's loader is
 * built from. Each check names the key or tensor it refused. */
#include "gguf_weights.h"

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
