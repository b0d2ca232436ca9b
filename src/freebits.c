/* freebits.c: the KL term with a floor per latent dimension ("free bits", Kingma et al. 2016, "Improved
 * variational inference with inverse autoregressive flow", eq. 15), used by the ELBO objective (elbo.c)
 * when vae_train_opts.free_bits = lambda > 0:
 *
 *   KL term = sum_d max(lambda, KLbar_d),   KLbar_d = (1/n) sum_b 0.5 (mu_bd^2 + e^lv_bd - lv_bd - 1)
 *
 * over the n images of the batch. A dimension whose batch-mean KL is below lambda costs lambda whatever it
 * does, so its gradient is 0: the encoder is free to use it up to lambda nats without pressure towards the
 * prior, which keeps dimensions from collapsing. Above the floor the gradient is the closed-form KL's.
 * Letters: n images, Z latent size. */
#include <math.h>

#include "objective.h"

double vae__free_bits_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, int n, int Z,
                               int stride, float lambda, float scale) {
    double term = 0.0;
    for (int d = 0; d < Z; d++) {
        double kl = 0.0;
        for (int b = 0; b < n; b++) {
            double m = mu[(size_t)b * stride + d], lv = logvar[(size_t)b * stride + d];
            kl += 0.5 * (m * m + exp(lv) - lv - 1.0);
        }
        kl /= n;
        term += kl > lambda ? kl : lambda;
        if (!(kl > lambda)) continue; // held at the floor: no gradient
        for (int b = 0; b < n; b++) {
            size_t k = (size_t)b * stride + d;
            dmu[k] += scale * mu[k];
            dlogvar[k] += scale * 0.5f * (expf(logvar[k]) - 1.0f);
        }
    }
    return term;
}
