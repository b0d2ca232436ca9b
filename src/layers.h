/* layers.h: the VAE's layers, each x_forward / x_backward side by side on raw float arrays.
 *
 * Argument order: outputs, saved values, inputs, weights, dimensions.
 * Convention: parameter gradients accumulate (+=) into d* buffers; gradients with respect to
 * activations are overwritten (=). Losses return per-image sums in nats (summed over pixels or latent
 * dimensions) and their backward passes take `scale` (1/B for a batch mean, times a KL weight).
 *
 * Letters as in model.h's legend (docs/model.md): B batch rows, D values per image (H*W*C), Z latent size;
 * n counts values.
 * The dense layer itself is vae__matmul_forward / vae__matmul_backward in ops.h.
 */
#ifndef VAE_LAYERS_H
#define VAE_LAYERS_H

#include <stddef.h>

#include "vae.h"

/* Activations, in place on the forward pass; backward uses the saved output y:
 * relu: dx = dy * (y > 0);  tanh: dx = dy * (1 - y^2). */
void vae__relu_forward(float *y, size_t n);
void vae__relu_backward(float *dx, const float *y, size_t n);
void vae__tanh_forward(float *y, size_t n);
void vae__tanh_backward(float *dx, const float *y, size_t n);

/* Bernoulli reconstruction from logits a (B, D) and targets x in [0, 1] (B, D):
 * nll[b] = sum_d max(a,0) - a*x + log1p(exp(-|a|)). */
void vae__bernoulli_nll_forward(float *nll, const float *logits, const float *x, int B, int D);
/* The same with row i of x at x + i * x_stride (stride 0: one image against B decodings, for IWAE). */
void vae__bernoulli_nll_forward_strided(float *nll, const float *logits, const float *x, size_t x_stride, int B, int D);
/* dlogits (B, D) = scale * (sigmoid(a) - x) */
void vae__bernoulli_nll_backward(float *dlogits, const float *logits, const float *x, int B, int D, float scale);
/* Both in one pass over the logits (the training step's path). */
void vae__bernoulli_nll_forward_backward(float *nll, float *dlogits, const float *logits, const float *x, int B, int D,
                                    float scale);
/* The same for the importance-weighted bound's rep decodings of each image: row b of logits (B rows) against
 * row b / rep of x, with scale 1 (dlogits = sigmoid(a) - x; the caller weighs the rows once it knows the
 * weights). */
void vae__bernoulli_nll_forward_backward_rep(float *nll, float *dlogits, const float *logits, const float *x, int B,
                                        int rep, int D);
/* The scalar functions behind them: softplus(a) = log(1 + e^a) and sigmoid(a), vectorisable. */
float vae_softplus(float a);
float vae_sigmoid(float a);
/* tanh as vae__tanh_forward computes it (fastmath.h), for the tests. */
float vae_tanh(float a);

/* Gaussian reconstruction with mean a (B, D) and one learned log-variance s shared by all pixels:
 * nll[b] = sum_d 0.5 * ((x - a)^2 exp(-s) + s + log(2 pi)). */
void vae__gaussian_nll_forward(float *nll, const float *mean, const float *x, float logvar, int B, int D);
void vae__gaussian_nll_forward_strided(float *nll, const float *mean, const float *x, size_t x_stride, float logvar, int B,
                                  int D);
/* dmean = scale * (a - x) exp(-s);  dlogvar += scale * sum 0.5 * (1 - (x - a)^2 exp(-s)) */
void vae__gaussian_nll_backward(float *dmean, float *dlogvar, const float *mean, const float *x, float logvar, int B,
                           int D, float scale);
/* The same with row b of mean against row b / rep of x and its own scale row_scale[b] (the importance
 * weights of the IWAE objective). */
void vae__gaussian_nll_backward_rep(float *dmean, float *dlogvar, const float *mean, const float *x, float logvar, int B,
                               int rep, int D, const float *row_scale);

/* KL(N(mu, exp(lv)) || N(0, I)) per image: kl[b] = 0.5 * sum_z (mu^2 + exp(lv) - lv - 1).
 * mu and logvar are read with row stride `stride` (they sit side by side in the head's output). */
void vae__kl_forward(float *kl, const float *mu, const float *logvar, int B, int Z, int stride);
/* dmu += scale * mu;  dlogvar += scale * 0.5 * (exp(lv) - 1) */
void vae__kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, int B, int Z, int stride,
                 float scale);

/* Reparameterization z = mu + exp(lv / 2) * eps, eps (B, Z) given (saved for backward).
 * z is written with row stride zstride (it may be followed by a one-hot label). */
void vae__reparam_forward(float *z, const float *mu, const float *logvar, const float *eps, int B, int Z, int stride,
                     int zstride);
/* dmu = dz;  dlogvar = dz * eps * 0.5 * exp(lv / 2)   (overwritten) */
void vae__reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *logvar, const float *eps, int B,
                      int Z, int stride, int zstride);

/* Log-variance is clamped to this range in the encoder's head (far outside what normal data reaches),
 * so exp(logvar) can neither overflow nor vanish; the gradient is 0 where the clamp acts. */
#define VAE_LOGVAR_MIN (-30.0f)
#define VAE_LOGVAR_MAX (20.0f)
void vae__clamp_forward(float *x, int B, int Z, int stride, float lo, float hi);
void vae__clamp_backward(float *dx, const float *x, int B, int Z, int stride, float lo, float hi);

/* sigmoid in place */
void vae__sigmoid_forward(float *y, size_t n);

/* Inverted dropout over n values: mask[i] = 1 / (1 - p) with probability 1 - p, else 0 (uniforms from rng, one
 * per value, in order); out = inp * mask. */
void vae__dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, vae_rng *rng);
/* dx *= mask, in place (the gradient of the forward pass's product) */
void vae__dropout_backward(float *dx, const float *mask, size_t n);

#endif /* VAE_LAYERS_H */
