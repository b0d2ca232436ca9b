/* iwae.h: the importance-weighted estimate of log p(x) (Burda, Grosse and Salakhutdinov, 2015):
 *   log p(x) ~ log (1/k) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x)),  z_k ~ q(z|x),
 * a lower bound that tightens as k grows (k = 1 is the ELBO), and the training step that maximises it. */
#ifndef VAE_IWAE_H
#define VAE_IWAE_H

#include "vae.h"

/**
 * nll (n) receives -log p(x) estimated with k samples per image. The samples of one image go through
 * the decoder together, in chunks of at most the model's max_batch rows (one product when k fits).
 * x (n, D), labels (n) or NULL; n <= max_batch. Not for autoencoders (VAE_ERR_ARG).
 */
vae_status vae_iwae_nll(vae_model *m, const float *x, const int *labels, int n, int k, vae_rng *rng, float *nll);

/* The training objective on the same bound (objective.h's vae__objective_iwae, chosen by vae_step_grad when
 * opts->iwae_k = k > 0), with k samples per image:
 *   loss = mean_i -log (1/k) sum_s w_is,  log w_is = log p(x_i|z_is) + kl_weight * (log p(z_is) - log q(z_is|x_i)),
 *   z_is = mu_i + exp(logvar_i / 2) * eps_is, eps (n*k, Z) drawn from rng, sample s of image i in row i*k + s.
 * Its gradient is sum_s wt_is grad(-log w_is) / rows with the normalised weights wt_is = w_is / sum_s' w_is'
 * held constant. The encoder runs once on the n images; the n*k samples go through the decoder as one batch,
 * so n * k <= max_batch. out->recon, out->kl: means over the n*k samples of -log p(x|z) and log q - log p.
 * Leaves scratch (not per-image losses) in m->recon and m->kl. VAE_ERR_ARG for an autoencoder or a batch too
 * large. */

#endif /* VAE_IWAE_H */
