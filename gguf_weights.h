/* gguf_weights.h - a GGUF checkpoint's hyperparameters and tensors as the
 * engine's types (int, Matrix, float vectors): what every architecture's
 * loader reads its model with. */
#ifndef GGUF_WEIGHTS_H
#define GGUF_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"

/* The integer hyperparameter key: required, or with a fallback > 0 optional.
 * Returns 0, or -1 with "path: why" in err. */
int gguf_dimension(const GgufFile *g, const char *path, const char *key, int fallback, int *out,
                   char err[ERROR_SIZE]);

/* The tensor called name, which must be a (rows, cols) matrix of a type the
 * kernels run. Returns 0, or -1 with "path: why" in err. */
int gguf_matrix(const GgufFile *g, const char *path, const char *name, int rows, int cols, Matrix *m,
                char err[ERROR_SIZE]);

/* The float32 vector called name, of n values (a norm's weights). Returns 0,
 * or -1 with "path: why" in err. */
int gguf_vector(const GgufFile *g, const char *path, const char *name, int n, const float **v,
                char err[ERROR_SIZE]);

#endif
