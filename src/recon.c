/* recon.c: the plain autoencoder's objective (objective.h): loss = mean over images of the reconstruction
 * nll with z = mu (no noise, no KL; the head's logvar half gets no gradient). kl_weight is ignored. */
#include <string.h>

#include "model.h"
#include "objective.h"
#include "ops.h"

static vae_status recon_grad(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o,
                             int rows, vae_rng *rng, vae_losses *out) {
    vae__zero_floats(m->grads, m->n_params);
    vae_pass p = vae__pass_of(x, labels, rng, NULL, 1); // the sample entry takes z = mu (no noise)
    vae_status st = vae__forward_one(m, &p, n, 1, 1.0f / (float)rows);
    if (st) return st;
    memset(m->kl, 0, (size_t)n * sizeof(float));
    st = vae__mean_losses(m, n, 0.0f, out);
    if (st) return st;
    vae__backward_to_head(m, n);
    vae__encode_backward(m, x, n);
    return VAE_OK;
}

const vae__objective vae__objective_recon = {"recon", recon_grad};
