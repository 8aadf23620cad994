/* model.h - a transformer model: its shape, its weights, the memory of a
 * forward pass, and the calls the program makes (load, forward, free). How
 * a checkpoint file stores the weights is the loaders' business (llama2c.c,
 * gguf_weights.c); what the forward pass computes is the architecture's
 * (arch_*.c). */
#ifndef MODEL_H
#define MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "gguf.h"
#include "kernels.h"

/* Room for one error message: every loader function that can fail writes
 * one line, naming the file and the problem, into a buffer of this size. */
#define ERROR_SIZE 512

/* Token ids every llama2.c vocabulary shares. */
#define TOKEN_UNK 0
#define TOKEN_BOS 1
#define TOKEN_EOS 2

/* Which values of a head RoPE rotates together (llama.cpp's rope types). */
typedef enum {
    ROPE_ADJACENT_PAIRS = 0,  /* (x[2i], x[2i + 1]): Llama, as llama.cpp's converter stores it (NORM) */
    ROPE_NEOX_HALVES,         /* (x[i], x[i + head_size / 2]): the two halves, GPT-NeoX's and Qwen's (NEOX) */
} RopeStyle;

/* The model's shape and hyperparameters. */
typedef struct {
    int dim;          /* width of the residual stream */
    int hidden_dim;   /* width of the feed-forward block */
    int n_layers;
    int n_heads;      /* query heads */
    int n_kv_heads;   /* key/value heads; < n_heads means grouped-query attention */
    int vocab_size;
    int seq_len;      /* the context: positions the KV cache holds */
    int head_size;    /* dim / n_heads, unless the file gives its own (GGUF attention.key_length) */
    int q_dim;        /* n_heads * head_size: the width of the queries and of attention's output;
                         dim unless the head size is the file's own (Qwen3: 16 x 128 = 2048, dim 1024) */
    int kv_dim;       /* n_kv_heads * head_size */
    bool shared_classifier;  /* logits use the token embedding matrix */
    float rope_theta;        /* base of the rotary frequencies; 0 without RoPE (GPT-2's learned positions) */
    RopeStyle rope_style;    /* which values RoPE rotates together */
    float rope_scaling_factor;       /* linear RoPE scaling: positions are divided by it; 1 = none */
    const float *rope_freq_factors;  /* (head_size / 2) or NULL: pair i's frequency is divided by
                                        rope_freq_factors[i] (Llama 3.1's rope_freqs, in the file) */
    float norm_eps;          /* the norm's epsilon: RMSNorm's, or GPT-2's LayerNorm's */
} Config;

/* One transformer block's tensors, named as in GGUF files (blk.N.attn_q ...).
 * An architecture that needs more (biases, a fused q/k/v matrix) adds
 * optional fields here: a NULL pointer, or a Matrix whose data is NULL,
 * means the tensor is absent. */
typedef struct {
    const float *attn_norm;  /* (dim) RMSNorm weights before attention */
    Matrix wq;               /* (q_dim, dim) queries */
    Matrix wk;               /* (kv_dim, dim) keys */
    Matrix wv;               /* (kv_dim, dim) values */
    Matrix wo;               /* (dim, q_dim) attention output */
    const float *ffn_norm;   /* (dim) RMSNorm weights before the feed-forward block */
    Matrix w_gate;           /* (hidden_dim, dim) */
    Matrix w_up;             /* (hidden_dim, dim) */
    Matrix w_down;           /* (dim, hidden_dim) */
    /* GPT-2's: LayerNorm shifts, one matrix for q, k and v, and biases.
     * w_gate is absent there: its feed-forward block is up, GELU, down. */
    const float *attn_norm_bias;  /* (dim) LayerNorm's shift before attention */
    const float *bq, *bk, *bv;    /* (q_dim), (kv_dim), (kv_dim): GPT-2's, where wq, wk and wv
                                     are views of the rows of one q|k|v matrix (gpt2_split_qkv),
                                     and Qwen2's */
    const float *bo;              /* (dim) */
    const float *ffn_norm_bias;   /* (dim) */
    const float *b_up;            /* (hidden_dim) */
    const float *b_down;          /* (dim) */
    /* Qwen3's: RMSNorm weights over each head of q and of k, before RoPE. */
    const float *attn_q_norm;     /* (head_size) */
    const float *attn_k_norm;     /* (head_size) */
} LayerWeights;

/* The whole model's tensors; optional ones (GPT-2's position embedding, say)
 * join as in LayerWeights, absent when NULL. */
typedef struct {
    Matrix token_embd;        /* (vocab_size, dim) */
    LayerWeights *layers;     /* (n_layers) */
    const float *output_norm; /* (dim) the final norm's weights */
    Matrix output;            /* (vocab_size, dim) the classifier; token_embd when shared */
    Matrix position_embd;          /* (seq_len, dim) GPT-2's learned positions; data NULL in Llama */
    const float *output_norm_bias; /* (dim) GPT-2's final LayerNorm's shift */
    float *vectors;                /* owned: the norms and biases as floats, when the file holds another
                                      type (llm.c's bf16); NULL otherwise */
    size_t vector_values;          /* floats in vectors */
} Weights;

/* An architecture: its GGUF loader and its forward pass (arch.h). */
typedef struct Architecture Architecture;

typedef struct {
    Config config;
    Weights weights;
    const Architecture *arch;  /* set by model_load; a Model built by hand: find_architecture */
    void *mapping;        /* the whole checkpoint file, mapped read-only */
    size_t mapping_size;
    GgufFile *gguf;       /* a GGUF checkpoint's metadata (its vocabulary too), else NULL */
} Model;

/* The outputs of a layer's blocks that an observer is handed. */
typedef enum {
    BLOCK_ATTENTION_HEADS,  /* (q_dim) every head's output before wo, head h at h * head_size */
    BLOCK_FEED_FORWARD,     /* (dim) the feed-forward block's output, its bias included */
} BlockOutput;

/* A watcher of the attention weights (-m explain, --attention-html): the
 * forward pass hands it every row of softmaxed weights, that of the query at
 * position pos in (layer, head) over positions 0 .. n - 1. It is called from
 * the OpenMP threads at once, but never twice for the same (layer, head,
 * pos): a callback that writes only that row's own place needs no lock. */
typedef struct {
    void (*row)(void *context, int layer, int head, int pos, const float *weights, int n);
    void *context;
    /* Optional (NULL: not watched): the residual stream (dim floats) of the
     * token at pos after layer `layer`, from one thread, rows in order: what
     * the logit lens reads. Every architecture calls it through
     * observe_residual (layers.h) once per layer. */
    void (*residual)(void *context, int layer, int pos, const float *x, int dim);
    /* Optional (NULL: not watched): what a block adds to the stream, for
     * direct logit attribution, the token at pos's row, from one thread, rows
     * in order. Every architecture calls it through observe_block (layers.h)
     * once per block. */
    void (*block)(void *context, int layer, BlockOutput what, int pos, const float *out, int width);
} AttentionObserver;

/* Scratch memory for the forward pass, allocated once: nothing is allocated
 * per token. Activations hold up to max_batch tokens at a time. */
typedef struct {
    int max_batch;
    float *x;           /* (max_batch, dim) the residual stream */
    float *xb;          /* (max_batch, max(dim, q_dim)): normalized input of a block (dim),
                           then attention's output (q_dim) */
    float *xb2;         /* (max_batch, dim) output of a block */
    float *q;           /* (max_batch, q_dim) queries */
    float *k;           /* (max_batch, kv_dim) keys of the new tokens */
    float *v;           /* (max_batch, kv_dim) values of the new tokens */
    float *att;         /* (max_batch * n_heads, seq_len) attention weights; for a batch,
                           ATTENTION_SCRATCH(seq_len, head_size) per (block of queries, head) */
    float *hb;          /* (max_batch, hidden_dim) feed-forward gate */
    float *hb2;         /* (max_batch, hidden_dim) feed-forward up projection */
    float *logits;      /* (max_batch, vocab_size) */
    float *key_cache;   /* (n_layers, n_kv_heads, seq_len, head_size): a head's keys side by side */
    float *value_cache; /* (n_layers, n_kv_heads, seq_len, head_size) */
    float *rope_inv_freq;  /* (head_size / 2) */
    float *rope_cos_sin;   /* (max_batch, head_size) */
    MatmulScratch matmul_scratch; /* (max_batch, max(dim, q_dim, hidden_dim)): a matmul input, rearranged */
    /* NULL, but for -m explain and --attention-html (the caller's): with
     * one, attention runs query by query and every layer runs every row. */
    const AttentionObserver *observer;
} RunState;

/* Writes "path: message" into err: how every loader reports a bad file. */
void file_error_v(char err[ERROR_SIZE], const char *path, const char *fmt, va_list args);
int file_error(char err[ERROR_SIZE], const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* (file_error returns -1, so that `return file_error(...)` reports and fails at once.) */

/* Maps and validates a checkpoint: llama2.c's formats, llm.c's or GGUF, told
 * apart by the file's first bytes. Returns 0, or -1 with a message in err. */
int model_load(Model *model, const char *path, char err[ERROR_SIZE]);
void model_free(Model *model);

/* Maps every page of the checkpoint into memory now, with all threads, and
 * returns true; or, when it might not fit in the free memory, does nothing
 * and returns false: the pages then come in as the forward pass first reads
 * them. Either way the first pass over the weights pays for it once. */
bool model_map_pages(const Model *model);

/* The architecture called name (len bytes, a GGUF general.architecture), or NULL. */
const Architecture *find_architecture(const char *name, size_t len);

/* Checks a header's dimensions and sets the heads' from them; shared by every
 * format's loader. head_size is the file's own when it gives one (> 0), else
 * dim / n_heads (dim must then divide); q_dim and kv_dim follow. A rotary
 * model (RoPE rotates pairs of a head's values) needs an even head size. */
int config_validate(Config *c, bool rotary, char err[ERROR_SIZE]);

int run_state_init(RunState *s, const Config *c, int max_batch, char err[ERROR_SIZE]);
void run_state_free(RunState *s);

/* Which tokens of a forward pass need logits: the classifier is the largest
 * matrix, so a prompt's batches before the last skip it. (The values keep
 * the meaning of the bool this replaced: false = last, true = all.) */
typedef enum {
    LOGITS_LAST = 0,  /* (vocab_size) of the last token: what sampling needs */
    LOGITS_ALL = 1,   /* (T, vocab_size), one row per token: --logits */
    LOGITS_NONE = 2,  /* only fill the KV cache */
} LogitRows;

/* Runs tokens[0..T) at positions pos..pos+T-1 through the model's
 * architecture (T <= max_batch, pos + T <= seq_len), extending the KV cache.
 * Returns the logits asked for, or NULL for LOGITS_NONE. */
float *forward(const Model *model, RunState *s, const int *tokens, int T, int pos, LogitRows wanted);

#endif
