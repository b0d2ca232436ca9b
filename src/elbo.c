/* elbo.c: the ELBO objective (objective.h): loss = mean over images of recon + kl_weight * KL, with one
 * z = mu + exp(logvar/2) * eps per image, a Bernoulli or Gaussian reconstruction and the closed-form
 * KL(q(z|x) || N(0, I)); kl_weight is beta times the warm-up factor (schedule.c). Also the evaluation pass
 * (vae_forward, vae_eval_batch: the negative ELBO with KL weight 1) and the batch means both training
 * objectives report. Uses the model's scratch (recon, kl, grad_a, dhead) and owns none of its own. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"
#include "objective.h"
#include "ops.h"

vae_status vae__mean_losses(vae_model *m, int n, float kl_weight, vae_losses *out) {
    double recon = 0.0, kl = 0.0;
    for (int b = 0; b < n; b++) {
        recon += m->recon[b];
        kl += m->kl[b];
    }
    recon /= n;
    kl /= n;
    double loss = recon + kl_weight * kl;
    out->loss = loss;
    out->recon = recon;
    out->kl = kl;
    if (!isfinite(loss))
        return vae_fail(VAE_ERR_NAN, "step %ld: the loss is %g (reconstruction %g, KL %g)", m->step + 1, loss, recon, kl);
    return VAE_OK;
}

static void kl_term_forward(vae_model *m, int n) { vae__kl_forward(m->kl, m->head, m->head + m->Z, n, m->Z, 2 * m->Z); }

vae_status vae_forward(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng) {
    vae_pass p = vae__pass_of(x, labels, rng, NULL, 0); // an evaluation pass
    vae_status st = vae__forward_one(m, &p, n, 0, 0.0f);
    if (st) return st;
    if (m->cfg.ae) memset(m->kl, 0, (size_t)n * sizeof(float));
    else kl_term_forward(m, n);
    return VAE_OK;
}

static vae_status elbo_grad(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o,
                            int rows, vae_rng *rng, vae_losses *out) {
    float scale = 1.0f / (float)rows; // the mean over rows images (vae_step_grad)
    vae__zero_floats(m->grads, m->n_params);
    vae_pass p = vae__pass_of(x, labels, rng, o->eps, 1);
    vae_status st = vae__forward_one(m, &p, n, 1, scale);
    if (st) return st;
    kl_term_forward(m, n);
    st = vae__mean_losses(m, n, o->kl_weight, out);
    if (st) return st;
    vae__backward_to_head(m, n);
    int Z = m->Z;
    if (o->free_bits > 0.0f) // the KL term with a floor per dimension (freebits.c)
        out->loss = out->recon + o->kl_weight * vae__free_bits_backward(m->dhead, m->dhead + Z, m->head, m->head + Z, n,
                                                                        Z, 2 * Z, o->free_bits, o->kl_weight * scale);
    else
        vae__kl_backward(m->dhead, m->dhead + Z, m->head, m->head + Z, n, Z, 2 * Z, o->kl_weight * scale);
    vae__encode_backward(m, x, n);
    return VAE_OK;
}

const vae__objective vae__objective_elbo = {"elbo", elbo_grad};

vae_status vae_eval_batch(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng, float *loss,
                          float *recon, float *kl) {
    if (!m || !x || !rng) return vae_fail(VAE_ERR_ARG, "vae_eval_batch: %s is NULL", !m ? "model" : !x ? "x" : "rng");
    vae_status st = vae_forward(m, x, labels, n, rng);
    if (st) return st;
    for (int b = 0; b < n; b++) {
        if (loss) loss[b] = m->recon[b] + m->kl[b];
        if (recon) recon[b] = m->recon[b];
        if (kl) kl[b] = m->kl[b];
    }
    return VAE_OK;
}
