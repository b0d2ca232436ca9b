/* diagnostics.h: the internals of the latent diagnostics (the public part is in vae.h, "latent
 * diagnostics"), shared with the objectives that estimate the same quantities during training. */
#ifndef VAE_DIAGNOSTICS_H
#define VAE_DIAGNOSTICS_H

#include "vae.h"

/**
 * Aggregate-posterior log densities of m samples z (m, Z), each z_i drawn from q(z|x_i) with the codes mu,
 * logvar (m, Z) of the same m images:
 *   lqz[i]          = log sum_j w_ij prod_d q(z_id | x_jd)      ~ log q(z_i)
 *   lqz_dim[i*Z+d]  = log sum_j w_ij q(z_id | x_jd)             ~ log q(z_id)
 * with log w_ii = lw_own and log w_ij = lw_other (j != i). a is scratch of 3 * m * Z + m + 2 * Z floats.
 */
void vae__aggregate_log_density(double *lqz, double *lqz_dim, float *a, const float *z, const float *mu,
                                const float *logvar, int m, int Z, double lw_own, double lw_other);

/** Per code j and dimension d of logvar (n floats): iv = e^-logvar, c = -0.5 (log 2 pi + logvar). */
void vae__aggregate_prepare(float *iv, float *c, const float *logvar, size_t n);

/**
 * One row of vae__aggregate_log_density: sample i (zi, Z values) against the m codes (mu, and iv, c from
 * vae__aggregate_prepare). a (m, Z) receives log q(z_id | x_j) + log w_ij, s (m) sum_d log q(z_id | x_j) +
 * log w_ij, lqz_dim (Z) log sum_j w_ij q(z_id | x_j); scratch holds 2 Z floats. @return log q(z_i) ~
 * log sum_j w_ij prod_d q(z_id | x_j).
 */
double vae__aggregate_row(float *a, float *s, double *lqz_dim, float *scratch, const float *zi, const float *mu,
                          const float *iv, const float *c, int m, int Z, int i, double lw_own, double lw_other);

/** The weights of vae_kl_decompose for a minibatch of m codes out of N: 1/N for an image's own term and
 *  (N - 1) / (N (m - 1)) for each other one (logs). */
void vae__stratified_weights(int m, long long N, double *lw_own, double *lw_other);

#endif /* VAE_DIAGNOSTICS_H */
