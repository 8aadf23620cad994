/* gguf_weights.c - a GGUF file's hyperparameters and tensors, checked and
 * turned into the engine's types: the pieces every architecture's loader is
 * built from. Each check names the key or tensor it refused. */
#include "gguf_weights.h"

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

WeightType gguf_weight_type(uint32_t ggml_type, bool *known)
{
    *known = true;
    switch (ggml_type) {
    case GGML_TYPE_F32:
        return WEIGHT_F32;
    case GGML_TYPE_F16:
        return WEIGHT_F16;
    case GGML_TYPE_Q8_0:
        return WEIGHT_Q8_0;
    }
    *known = false;
    return WEIGHT_F32;
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
    bool known;
    WeightType type = gguf_weight_type(t->type, &known);
    if (!known)
        return file_error(err, path, "tensor %s has type %s, which this engine does not run (F32, F16, Q8_0)", name,
                    gguf_type_name(t->type));
    *m = (Matrix){type, rows, cols, t->data, NULL, type == WEIGHT_Q8_0 ? Q8_0_BLOCK : 0};
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
