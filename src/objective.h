/* objective.h: the training objectives as modules over the encoder/decoder interface of model.h. Each one
 * computes the per-batch loss parts and leaves the gradient of the batch's summed objective divided by `rows`
 * (vae_step_grad's divisor: the batch size or opts.grad_rows) in the model's flat gradient buffer, which it overwrites; none of them
 * touches the parameters. The step (step.c) picks one and applies the guard and Adam.
 *
 *   elbo.c   the ELBO: Bernoulli or Gaussian reconstruction + kl_weight * closed-form KL (beta, warm-up)
 *   recon.c  the plain autoencoder's reconstruction (z = mu, no KL)
 *   iwae.c   the importance-weighted bound with k = iwae_k samples per image
 *   tcvae.c  beta-TC-VAE: the ELBO with the total correlation weighted tc_beta (minibatch-weighted sampling)
 */
#ifndef VAE_OBJECTIVE_H
#define VAE_OBJECTIVE_H

#include "vae.h"

typedef struct {
    const char *name;
    /* x (n, D), labels (n) or NULL; the loss parts into *out; VAE_ERR_NAN when the loss is not finite */
    vae_status (*grad)(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o, int rows,
                       vae_rng *rng, vae_losses *out);
} vae__objective;

extern const vae__objective vae__objective_elbo, vae__objective_recon, vae__objective_iwae, vae__objective_tcvae;

/** The objective a configuration and options train: recon for an autoencoder, iwae when o->iwae_k > 0, else
 *  the ELBO. */
const vae__objective *vae__objective_for(const vae_model *m, const vae_train_opts *o);

/** vae_train_opts in range and finite (the step's argument check). */
vae_status vae__check_opts(const vae_train_opts *o);

/** The batch means of m->recon and m->kl (n images) into *out, loss = recon + kl_weight * kl; VAE_ERR_NAN
 *  naming the step when the loss is not finite (elbo.c). */
vae_status vae__mean_losses(vae_model *m, int n, float kl_weight, vae_losses *out);

/** Free bits (freebits.c): accumulate into dmu, dlogvar (n, Z, row stride `stride`) scale times the gradient of
 *  sum_d max(lambda, mean_b KL_bd) times n (each image's share of the batch term), and return that term
 *  sum_d max(lambda, mean_b KL_bd) (nats per image). */
double vae__free_bits_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, int n, int Z,
                               int stride, float lambda, float scale);

/** Global-norm gradient clipping (regularize.c): @return ||grads||, scaled down to max_norm when above it. */
double vae__clip_grad_norm(vae_model *m, float max_norm);
/** Decoupled weight decay (regularize.c): params *= 1 - lr * weight_decay. */
void vae__decay_weights(vae_model *m, float lr, float weight_decay);

#endif /* VAE_OBJECTIVE_H */
