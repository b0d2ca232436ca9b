/* step.c: the training step in two calls (vae.h): vae_step_grad (the objective's forward and backward passes,
 * the gradient left in the flat buffer) and vae_step_apply (the non-finite guard, then Adam), with
 * vae_train_step the two in sequence. A data-parallel caller sums the ranks' gradient buffers between them.
 * The objective is chosen from the configuration and options: the autoencoder's reconstruction, the
 * importance-weighted bound (iwae_k > 0) or the ELBO. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "objective.h"
#include "ops.h"

void vae_train_opts_default(vae_train_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->adam_eps = 1e-8f;
    o->kl_weight = 1.0f;
    o->iwae_k = 0;
    o->grad_rows = 0;
}

/* Every option in range and finite (vae.h's argument policy). */
vae_status vae__check_opts(const vae_train_opts *o) {
    if (!o) return vae_fail(VAE_ERR_ARG, "opts is NULL");
    if (!(isfinite(o->lr) && o->lr >= 0.0f)) return vae_fail(VAE_ERR_ARG, "opts.lr = %g: a finite rate >= 0 needed", o->lr);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f)) return vae_fail(VAE_ERR_ARG, "opts.beta1 = %g: not in [0, 1)", o->beta1);
    if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f)) return vae_fail(VAE_ERR_ARG, "opts.beta2 = %g: not in [0, 1)", o->beta2);
    if (!(isfinite(o->adam_eps) && o->adam_eps > 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.adam_eps = %g: a finite value > 0 needed", o->adam_eps);
    if (!(isfinite(o->kl_weight) && o->kl_weight >= 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.kl_weight = %g: a finite weight >= 0 needed", o->kl_weight);
    if (o->iwae_k < 0) return vae_fail(VAE_ERR_ARG, "opts.iwae_k = %d: 0 (the ELBO) or a sample count >= 1 needed", o->iwae_k);
    if (o->grad_rows < 0) return vae_fail(VAE_ERR_ARG, "opts.grad_rows = %d: 0 (the batch) or a row count >= 1 needed", o->grad_rows);
    if (!(isfinite(o->free_bits) && o->free_bits >= 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.free_bits = %g: a finite floor >= 0 needed", o->free_bits);
    if (!(isfinite(o->tc_beta) && o->tc_beta >= 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.tc_beta = %g: a finite weight >= 0 needed", o->tc_beta);
    if (!(isfinite(o->clip_grad) && o->clip_grad >= 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.clip_grad = %g: a finite norm >= 0 needed (0: off)", o->clip_grad);
    if (!(isfinite(o->weight_decay) && o->weight_decay >= 0.0f && o->weight_decay * o->lr < 1.0f))
        return vae_fail(VAE_ERR_ARG, "opts.weight_decay = %g: >= 0 and below 1 / lr needed", o->weight_decay);
    if (o->dataset_size < 0) return vae_fail(VAE_ERR_ARG, "opts.dataset_size = %d: 0 or a size >= 1 needed", o->dataset_size);
    if (o->tc_beta > 0.0f && (o->iwae_k > 0 || o->free_bits > 0.0f))
        return vae_fail(VAE_ERR_ARG, "opts.tc_beta: the beta-TC objective goes with neither iwae_k nor free_bits");
    if (o->free_bits > 0.0f && o->iwae_k > 0)
        return vae_fail(VAE_ERR_ARG, "opts.free_bits applies to the ELBO, not to the importance-weighted bound (iwae_k)");
    return VAE_OK;
}

const vae__objective *vae__objective_for(const vae_model *m, const vae_train_opts *o) {
    if (o->iwae_k > 0) return &vae__objective_iwae; // which refuses an autoencoder
    if (o->tc_beta > 0.0f) return &vae__objective_tcvae; // which too
    return m->cfg.ae ? &vae__objective_recon : &vae__objective_elbo;
}

vae_status vae_step_grad(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o, vae_rng *rng,
                         vae_losses *out) {
    if (!m || !x || !rng) return vae_fail(VAE_ERR_ARG, "vae_step_grad: %s is NULL", !m ? "model" : !x ? "x" : "rng");
    vae_status st = vae__check_opts(o);
    if (st) return st;
    if (o->free_bits > 0.0f && m->cfg.ae)
        return vae_fail(VAE_ERR_ARG, "opts.free_bits: an autoencoder has no KL term to put a floor under");
    const vae__objective *obj = vae__objective_for(m, o);
    // the gradient of the summed objective divided by this many rows: the batch mean unless the caller says
    int rows = o->grad_rows > 0 ? o->grad_rows : n;
    vae_losses l = {0};
    st = obj->grad(m, x, labels, n, o, rows, rng, &l);
    if (out) *out = l;
    if (st == VAE_ERR_NAN) { // the loss: a sum over ranks of this buffer then fails on every rank
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] = NAN;
    }
    return st;
}

vae_status vae_step_apply(vae_model *m, const vae_train_opts *o) {
    if (!m) return vae_fail(VAE_ERR_ARG, "vae_step_apply: model is NULL");
    vae_status st = vae__check_opts(o);
    if (st) return st;
    if (!vae__all_finite(m->grads, m->n_params))
        return vae_fail(VAE_ERR_NAN, "step %ld: the gradient of %s is not finite", m->step + 1, vae_nonfinite_tensor(m, m->grads));
    if (o->clip_grad > 0.0f) vae__clip_grad_norm(m, o->clip_grad);          // regularize.c
    if (o->weight_decay > 0.0f) vae__decay_weights(m, o->lr, o->weight_decay); // AdamW: before the Adam step
    vae_adam_step(m, o->lr, o->beta1, o->beta2, o->adam_eps);
    return VAE_OK;
}

vae_status vae_train_step(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o,
                          vae_rng *rng, vae_losses *out) {
    vae_status st = vae_step_grad(m, x, labels, n, o, rng, out);
    return st ? st : vae_step_apply(m, o);
}

vae_status vae_grad_buffer(vae_model *m, float **grad, size_t *len) {
    if (!m || !grad || !len)
        return vae_fail(VAE_ERR_ARG, "vae_grad_buffer: %s is NULL", !m ? "model" : !grad ? "grad" : "len");
    *grad = m->grads;
    *len = m->n_params;
    return VAE_OK;
}

vae_status vae_param_buffer(vae_model *m, float **params, size_t *len) {
    if (!m || !params || !len)
        return vae_fail(VAE_ERR_ARG, "vae_param_buffer: %s is NULL", !m ? "model" : !params ? "params" : "len");
    *params = m->params;
    *len = m->n_params;
    return VAE_OK;
}

long vae_steps_taken(const vae_model *m) {
    if (!m) {
        vae_fail(VAE_ERR_ARG, "vae_steps_taken: model is NULL");
        return 0;
    }
    return m->step;
}
