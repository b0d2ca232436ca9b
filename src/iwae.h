/* iwae.h: the importance-weighted estimate of log p(x) (Burda, Grosse and Salakhutdinov, 2015):
 *   log p(x) ~ log (1/k) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x)),  z_k ~ q(z|x),
 * a lower bound that tightens as k grows (k = 1 is the ELBO). */
#ifndef VAE_IWAE_H
#define VAE_IWAE_H

#include "vae.h"

/**
 * nll (n) receives -log p(x) estimated with k samples per image. The samples of one image go through
 * the decoder together, in chunks of at most the model's max_batch rows (one product when k fits).
 * x (n, D), labels (n) or NULL; n <= max_batch. Not for autoencoders (VAE_ERR_ARG).
 */
vae_status vae_iwae_nll(vae_model *m, const float *x, const int *labels, int n, int k, vae_rng *rng, float *nll);

#endif /* VAE_IWAE_H */
