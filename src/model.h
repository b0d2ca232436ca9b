/* model.h: the inside of vae_model, shared by model.c, layer_kinds.c, the objectives, optim.c, checkpoint.c
 * and the tests.
 *
 * Letters (one meaning each, here and in docs/): B batch rows, D input size (H*W*C), H, W, C height, width,
 * channels of an image or feature map (a dense layer's C is its input width), OH, OW, OC those of a layer's
 * output, F the flattened feature map, N hidden width, Z latent size, L classes, k importance samples (lower
 * case, as Burda et al. write it), K, S, P kernel size, stride, padding.
 *
 * Parameters live in one flat float buffer described by a table of named tensors; gradients and the two
 * Adam moments have the same layout, so zeroing is one memset, Adam is one loop and a checkpoint is the
 * table plus one write.
 *
 * The network is a list of layers built once from the configuration (model.c's build_list). Each entry holds
 * its kind, its row widths, tensor indices and buffers; the forward pass walks the list, the backward pass walks
 * it in reverse, each entry through its kind's forward / backward pair (layer_kinds.c's table). No variant flag
 * is tested in the passes: the variants are entries (or the configuration of one).
 *
 * MLP list (conditional: with the label entries; dropout: an entry after each hidden layer):
 *   [label] x (B, D) -> (B, D+L)        dense enc.fc1 + act (B, N1) [dropout] ... dense enc.head (B, 2Z)
 *   clamp (logvar in place)             sample z = mu + exp(logvar/2) * eps (B, Z)   (z = mu for --ae)
 *   [label] (B, Z+L)                    dense dec.fc1 + act [dropout] ... dense dec.out (B, D)
 *   out is the Bernoulli logits, or the Gaussian mean (with one learned log-variance "dec.logvar").
 * Convolutional list (cfg.arch VAE_CONV, n_conv layers with channels c1..cn; docs/conv.md):
 *   conv enc.conv1 3x3 stride 2 pad 1 + act ... (B, H/2^n, W/2^n, cn) = (B, F) [label] dense ... enc.head,
 *   clamp, sample, [label], dense ... dec.proj + act (B, F), deconv dec.deconv1 4x4 stride 2 pad 1 + act ...
 *   the last deconv without act: out (B, D)
 *   Tensors: enc.conv1.weight (c1, C, 3, 3), ..., dec.deconv1.weight (cn, cn-1, 4, 4), ..., as PyTorch.
 * The encoder is the entries before the sample entry, the decoder the entries after it.
 */
#ifndef VAE_MODEL_H
#define VAE_MODEL_H

#include "conv.h"
#include "ops.h"
#include "vae.h"

#define VAE_MAX_DENSE (VAE_MAX_HIDDEN + 1)
#define VAE_MAX_TENSORS (4 * VAE_MAX_DENSE + 4 * VAE_MAX_CONV + 1)
#define VAE_MAX_NDIM 4
/* every entry a configuration can make: 2 * (convs + label + dense layers with their dropouts) + clamp + sample */
#define VAE_MAX_LAYERS (2 * (VAE_MAX_CONV + 1 + 2 * VAE_MAX_DENSE) + 2)

typedef struct {
    char name[32];
    size_t offset;      /* in floats, into params / grads / adam_m / adam_v */
    int ndim;           /* 1..VAE_MAX_NDIM */
    int shape[VAE_MAX_NDIM]; /* outermost first; entries past ndim are 1 */
    size_t numel;
} vae_tensor_info;

/* The kinds of layer; each has one forward / backward pair in layer_kinds.c. */
typedef enum {
    VAE_LAYER_DENSE,   /* out (B, OC) = act(inp (B, C) @ weight (OC, C)^T + bias) */
    VAE_LAYER_CONV,    /* out (B, OH, OW, OC) = act(conv2d(inp (B, H, W, C))) */
    VAE_LAYER_DECONV,  /* out (B, OH, OW, OC) = act(conv_transpose2d(inp (B, H, W, C))) */
    VAE_LAYER_LABEL,   /* out (B, C + L) = [inp | onehot(label)] */
    VAE_LAYER_CLAMP,   /* in place: the logvar half of the head (B, 2Z) clamped to [VAE_LOGVAR_MIN, VAE_LOGVAR_MAX] */
    VAE_LAYER_SAMPLE,  /* out (B, Z) = mu + exp(logvar / 2) * eps from inp (B, 2Z) = [mu | logvar]; saved eps */
    VAE_LAYER_DROPOUT, /* out = inp * mask / (1 - p) in training passes, inp otherwise; saved mask */
    VAE_LAYER_KINDS
} vae_layer_kind;

typedef struct {
    vae_layer_kind kind;
    int in_w, out_w;   /* floats per row of the input and of the output (C and OC, or H*W*C and OH*OW*OC) */
    act_kind act;      /* dense, conv, deconv: the activation after the product (ACT_NONE for none) */
    int weight, bias;  /* tensor table indices, or -1 */
    conv_dims d;       /* conv, deconv: shapes, kernel, stride, padding */
    int noise;         /* sample: 1 draws eps (a VAE), 0 takes z = mu (eps = 0: a plain autoencoder) */
    float p;           /* dropout: the probability of zeroing a value */
    int need_dinp;     /* backward computes d inp: 0 when no entry before this one has parameters */
    float *out;        /* (B, out_w); an in-place kind's (clamp) is its input */
    float *saved;      /* (B, out_w): sample's eps, dropout's mask; NULL for the other kinds */
} vae_layer;

/* What a forward pass needs besides the layers' own inputs. */
typedef struct {
    const float *x;     /* (B, D) the model's input: the first entry's input */
    const int *labels;  /* class per image or NULL; row r uses labels[r / rep] */
    int rep;            /* rows per image (IWAE's k samples decoded together); 1 otherwise */
    vae_rng *rng;       /* sample's eps (when no eps is given) and dropout's masks; NULL: z = mu */
    const float *eps;   /* the caller's eps (B, Z) for sample instead of rng, or NULL */
    int train;          /* 1: a training pass (dropout zeroes values); 0: evaluation, encode, decode */
} vae_pass;

struct vae_model {
    vae_config cfg;
    int max_batch;
    int D, Z, L;                 /* input size, latent size, classes */
    int logvar_tensor;           /* index of "dec.logvar" (Gaussian), or -1 */

    int n_tensors;
    vae_tensor_info tensors[VAE_MAX_TENSORS];
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;   /* each n_params floats */
    long step;                                  /* Adam steps taken */

    int n_layers;
    vae_layer layers[VAE_MAX_LAYERS];
    int i_sample;                     /* index of the sample entry: the encoder is [0, i_sample), the decoder the rest */
    int F;                            /* conv: the flattened feature map Hf*Wf*Cf; 0 for an MLP */

    /* activations, all inside one allocation sized for max_batch rows by model.c's one size table (layout) */
    float *acts;
    size_t n_acts;                    /* floats in acts */
    float *head;                      /* (B, 2Z) the encoder's output [mu | logvar] (the clamp entry's) */
    float *z;                         /* (B, Z) the sample entry's output */
    float *eps;                       /* (B, Z) its saved noise */
    float *out;                       /* (B, D) the decoder's output: logits (Bernoulli) or mean (Gaussian) */
    float *dhead;                     /* (B, 2Z) d loss / d head, where the sample entry's backward writes */
    float *grad_a, *grad_b;           /* (B, widest row) ping-pong gradient buffers */
    float *recon, *kl;                /* (B) per-image losses of the last forward */
    float *col;                       /* conv: im2col scratch of col_cap floats, shared by all conv entries */
    size_t col_cap;
    float *obj_scratch;               /* an objective's own scratch (tcvae.c), allocated at its first step */
    size_t obj_scratch_cap;           /* floats in obj_scratch */
};

/* The kinds' table (layer_kinds.c): the forward pass of entry l on n rows of inp (into l->out), and its
 * backward pass from dout (n, out_w), which it may change in place, to d inp (n, in_w), returned: dout itself,
 * dfree (a free buffer of the widest row), m->dhead (sample), or NULL when l->need_dinp is 0. Parameter
 * gradients accumulate into m->grads. */
typedef struct {
    const char *name;
    int in_place;      /* the output is the input itself (no buffer of its own) */
    int saves;         /* keeps a (B, out_w) buffer from forward for backward (l->saved) */
    void (*forward)(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p);
    float *(*backward)(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree, int n);
} vae_layer_ops;

extern const vae_layer_ops vae__layer_ops[VAE_LAYER_KINDS];

/** Check a configuration; VAE_ERR_ARG with a message naming the field otherwise. */
vae_status vae_config_check(const vae_config *cfg);

/** @return the number of parameters of a configuration that passed vae_config_check, allocating nothing
 *  (the table alone is built), so a loader can check a file holds that much data before allocating. */
size_t vae_config_n_params(const vae_config *cfg);

/** Allocate a model's table and buffers (parameters zeroed). */
vae_status vae_model_alloc(vae_model **out, const vae_config *cfg, int max_batch);

/** Initialise parameters as PyTorch's nn.Linear does: U(-1/sqrt(C), 1/sqrt(C)) for weights and biases. */
void vae_model_init(vae_model *m, vae_rng *rng);

/** @return the index of the named tensor or -1. */
int vae_tensor_index(const vae_model *m, const char *name);

/** The parameters (P) and gradient (G) of tensor idx. */
#define VAE_P(m, idx) ((m)->params + (m)->tensors[idx].offset)
#define VAE_G(m, idx) ((m)->grads + (m)->tensors[idx].offset)

/* ---------------------------------------------------------------- the walks (model.c) */

/** Entries [from, to) forward on n rows; entry 0 reads p->x, every other one its predecessor's output. */
void vae__forward(vae_model *m, int from, int to, const vae_pass *p, int n);

/** Entries [from, to) backward, last first, from dout = d loss / d (entry to-1's output), n rows; x is the
 *  model's input (read when from is 0). @return d loss / d (entry from's input), or NULL where no entry
 *  needs it. */
float *vae__backward(vae_model *m, int from, int to, float *dout, const float *x, int n);

/** The encoder (entries before the sample entry) on x: head (n, 2Z) = [mu | logvar], logvar clamped. */
void vae__encode(vae_model *m, const vae_pass *p, int n);
/** The sample entry: z (n, Z) from the head (eps from p->eps, else p->rng, else 0). */
void vae__sample(vae_model *m, const vae_pass *p, int n);
/** The decoder (entries after the sample entry) on z (n rows): m->out (n, D). */
void vae__decode(vae_model *m, const vae_pass *p, int n);
/** Decoder backward from dout (n, D): @return d loss / d z (n, Z). */
float *vae__decode_backward(vae_model *m, float *dout, int n);
/** Sample backward: d loss / d z (n, Z) -> m->dhead (n, 2Z), overwritten. */
void vae__sample_backward(vae_model *m, float *dz, int n);
/** Encoder backward from m->dhead (changed in place by the clamp) on the pass's input x. */
void vae__encode_backward(vae_model *m, const float *x, int n);

/** The pass of a training step or of evaluation: x, labels, rng and the caller's eps (or NULL). */
static inline vae_pass vae__pass_of(const float *x, const int *labels, vae_rng *rng, const float *eps, int train) {
    vae_pass p = {x, labels, 1, rng, eps, train};
    return p;
}

/* ---------------------------------------------------------------- what the objectives share */

/** VAE_ERR_ARG unless 1 <= n <= max_batch and, for a conditional model, labels holds n classes in range. */
vae_status vae__check_batch(const vae_model *m, int n, const int *labels);

/** Per-image reconstruction nll of m->out against x (n, D) into m->recon; with dout, also
 *  d (scale * sum nll) / d out into dout and (Gaussian) the log-variance's gradient added to m->grads. */
void vae__recon_forward(vae_model *m, const float *x, int n, float *dout, float scale);

/** One z per image through the model (check, encode, sample, decode, reconstruction nll into m->recon; with
 *  want_grad its gradient times scale into m->grad_a): the pass the ELBO, the autoencoder and evaluation share. */
vae_status vae__forward_one(vae_model *m, const vae_pass *p, int n, int want_grad, float scale);
/** Backward of vae__forward_one from m->grad_a to m->dhead; the objective then adds its latent term to dhead
 *  and calls vae__encode_backward. */
void vae__backward_to_head(vae_model *m, int n);

/**
 * Evaluation pass over n images (the negative ELBO's parts): per-image recon and kl in m->recon, m->kl.
 * eps: sample fresh noise from rng (rng non-NULL), or use z = mu when rng is NULL (always for an autoencoder,
 * whose kl is 0). elbo.c.
 */
vae_status vae_forward(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng);

/** @return the name of the first tensor whose values in buf (m->grads or m->params) are not all finite, or
 *  NULL (the messages of the NaN guard and of vae_save). */
const char *vae_nonfinite_tensor(const vae_model *m, const float *buf);

/* A dense entry's widths and tensors, as export-c and the benchmarks read them. */
typedef struct {
    int C, OC;          /* input and output widths */
    int weight, bias;   /* indexes into the tensor table */
    const vae_layer *layer;
} vae_dense;

/** The dense entries of the encoder (decoder = 0) or of the decoder (1), in order, into out (at most max,
 *  VAE_MAX_DENSE + 1 is always enough); @return their number. */
int vae__dense_layers(const vae_model *m, int decoder, vae_dense *out, int max);

/** One Adam step over the flat buffer (PyTorch's formula, bias-corrected). */
void vae_adam_step(vae_model *m, float lr, float beta1, float beta2, float eps);

#endif /* VAE_MODEL_H */
