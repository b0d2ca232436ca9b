/* model.h: the inside of vae_model, shared by model.c, optim.c, checkpoint.c and the tests.
 *
 * Parameters live in one flat float buffer described by a table of named tensors; gradients and the two
 * Adam moments have the same layout, so zeroing is one memset, Adam is one loop and a checkpoint is the
 * table plus one write. Activations are allocated once for max_batch images.
 *
 * MLP network (K = n_classes, 0 when not conditional):
 *   encoder: [x | onehot(y)] (B, D+K) -> dense+act per hidden layer -> head (B, 2Z) = [mu | logvar]
 *   z = mu + exp(logvar/2) * eps                      (z = mu for a plain autoencoder)
 *   decoder: [z | onehot(y)] (B, Z+K) -> dense+act per hidden layer (reversed widths) -> out (B, D)
 *   out is the Bernoulli logits, or the Gaussian mean (with one learned log-variance "dec.logvar").
 *
 * Convolutional network (cfg.arch VAE_CONV, n_conv layers with channels c1..cn; docs/conv.md):
 *   encoder: x (B, H, W, C) -> [conv 3x3 stride 2 pad 1 + act] per channel entry -> (B, H/2^n, W/2^n, cn)
 *            flattened to (B, F) [| onehot(y)] -> dense+act per hidden layer -> head (B, 2Z)
 *   decoder: [z | onehot(y)] -> dense+act per hidden layer -> dense "dec.proj" + act to (B, F)
 *            -> [transposed conv 4x4 stride 2 pad 1 (+ act but the last)] cn -> ... -> c1 -> C: out (B, D)
 *   Tensors: enc.conv1.weight (c1, C, 3, 3), ..., dec.deconv1.weight (cn, cn-1, 4, 4), ..., as PyTorch.
 */
#ifndef VAE_MODEL_H
#define VAE_MODEL_H

#include "conv.h"
#include "vae.h"

#define VAE_MAX_DENSE (VAE_MAX_HIDDEN + 1)
#define VAE_MAX_TENSORS (4 * VAE_MAX_DENSE + 4 * VAE_MAX_CONV + 1)
#define VAE_MAX_NDIM 4

typedef struct {
    char name[32];
    size_t offset;      /* in floats, into params / grads / adam_m / adam_v */
    int ndim;           /* 1..VAE_MAX_NDIM */
    int shape[VAE_MAX_NDIM]; /* outermost first; entries past ndim are 1 */
    size_t numel;
} vae_tensor_info;

typedef struct {
    int C, OC;          /* input and output widths */
    int weight, bias;   /* indexes into the tensor table */
} vae_dense;

typedef struct {
    conv_dims d;        /* shapes, kernel, stride, padding; d.transposed for the decoder's layers */
    int weight, bias;   /* indexes into the tensor table */
} vae_conv;

struct vae_model {
    vae_config cfg;
    int max_batch;
    int D, Z, K;                 /* input size, latent size, classes */
    int n_enc, n_dec;            /* dense layers in encoder (hidden + head) and decoder (hidden + out) */
    vae_dense enc[VAE_MAX_DENSE], dec[VAE_MAX_DENSE];
    int logvar_tensor;           /* index of "dec.logvar" (Gaussian), or -1 */

    int n_tensors;
    vae_tensor_info tensors[VAE_MAX_TENSORS];
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;   /* each n_params floats */
    long step;                                  /* Adam steps taken */

    /* activations, all inside one allocation, sized for max_batch rows */
    float *acts;
    size_t n_acts;                    /* floats in acts */
    float *xin;                       /* (B, D+K) encoder input (used when K > 0) */
    float *enc_out[VAE_MAX_DENSE];    /* (B, enc[l].OC) after activation; the last is the head [mu|logvar] */
    float *eps;                       /* (B, Z) reparameterization noise of the last forward */
    float *zin;                       /* (B, Z+K) decoder input */
    float *dec_out[VAE_MAX_DENSE];    /* (B, dec[l].OC) after activation; the last is the logits / mean */
    float *dhead;                     /* (B, 2Z) */
    float *grad_a, *grad_b;           /* (B, widest layer) ping-pong gradient buffers */
    float *recon, *kl;                /* (B) per-image losses of the last forward */

    /* convolutional networks (n_conv > 0; docs/conv.md); images and feature maps are NHWC */
    int n_conv;                       /* convolutions in the encoder = transposed ones in the decoder; 0: MLP */
    vae_conv conv[VAE_MAX_CONV];      /* encoder: image -> ... -> feature map (Hf, Wf, Cf) */
    vae_conv deconv[VAE_MAX_CONV];    /* decoder: feature map -> ... -> image (H, W, C) */
    int F;                            /* Hf*Wf*Cf, the flattened feature map (the dense layers' width) */
    float *conv_out[VAE_MAX_CONV];    /* (B, OH, OW, OC) after activation */
    float *deconv_out[VAE_MAX_CONV];  /* (B, OH, OW, OC) after activation; the last is the logits / mean */
    float *col;                       /* im2col scratch of col_cap floats, shared by all conv layers */
    size_t col_cap;

    float *out;                       /* (B, D) the decoder's output: logits (Bernoulli) or mean (Gaussian);
                                         dec_out[n_dec-1] for an MLP, deconv_out[n_conv-1] for conv */
};

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

/**
 * Evaluation pass over n images (the negative ELBO's parts): per-image recon and kl in m->recon, m->kl.
 * eps: sample fresh noise from rng (rng non-NULL), or use z = mu when rng is NULL (always for an autoencoder,
 * whose kl is 0). elbo.c.
 */
vae_status vae_forward(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng);

/** Run the decoder on m->zin (n rows, labels already in place); the output is m->out. */
void vae_decoder_forward(vae_model *m, int n);

/* The pieces of the forward and backward passes, for objectives built from them (iwae.c's training step). */

/** Encoder: x (n, D) [+ onehot(labels)] -> head m->enc_out[n_enc-1] (n, 2Z) = [mu | logvar], logvar clamped.
 *  n is not checked against max_batch here. */
void vae_encoder_forward(vae_model *m, const float *x, const int *labels, int n);

/** Decoder backward: m->grad_a holds d loss / d m->out (n, D) (the last vae_decoder_forward's rows);
 *  accumulates the decoder's parameter gradients and returns the buffer (grad_a or grad_b) holding
 *  d loss / d m->zin (n, Z+K). */
float *vae_decoder_backward(vae_model *m, int n);

/** Encoder backward: m->dhead holds d loss / d [mu | logvar] (n, 2Z); passes it through the logvar clamp
 *  (in place) and the encoder of the last vae_encoder_forward on x, accumulating parameter gradients.
 *  Uses grad_a and grad_b as scratch. */
void vae_encoder_backward(vae_model *m, const float *x, int n);

/** VAE_ERR_ARG unless 1 <= n <= max_batch and, for a conditional model, labels holds n classes in range. */
vae_status vae__check_batch(const vae_model *m, int n, const int *labels);

/** z into m->zin from the head: mu + exp(logvar/2) * eps with the caller's eps (n, Z) copied into m->eps, else
 *  eps drawn from rng into m->eps, or z = mu when both are NULL; the one-hot labels after it for a conditional
 *  model. */
void vae__sample_z(vae_model *m, const int *labels, int n, vae_rng *rng, const float *eps);
/** d loss / d zin (n, Z+L) -> d loss / d [mu | logvar] in m->dhead (overwritten), with the saved eps. */
void vae__sample_z_backward(vae_model *m, const float *dzin, int n);

/** Per-image reconstruction nll of m->out against x (n, D) into m->recon; with dout, also
 *  d (scale * sum nll) / d out into dout and (Gaussian) the log-variance's gradient added to m->grads. */
void vae__recon_forward(vae_model *m, const float *x, int n, float *dout, float scale);

/** One z per image through the model (check, encode, sample, decode, reconstruction nll into m->recon; with
 *  want_grad its gradient times scale into m->grad_a): the pass the ELBO, the autoencoder and evaluation share. */
vae_status vae__forward_one(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng, const float *eps,
                            int want_grad, float scale);
/** Backward of vae__forward_one from m->grad_a to m->dhead; the objective then adds its latent term to dhead
 *  and calls vae_encoder_backward. */
void vae__backward_to_head(vae_model *m, int n);

/** @return the name of the first tensor whose values in buf (m->grads or m->params) are not all finite, or
 *  NULL (the messages of the NaN guard and of vae_save). */
const char *vae_nonfinite_tensor(const vae_model *m, const float *buf);

/** One Adam step over the flat buffer (PyTorch's formula, bias-corrected). */
void vae_adam_step(vae_model *m, float lr, float beta1, float beta2, float eps);

#endif /* VAE_MODEL_H */
