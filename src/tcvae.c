/* tcvae.c: the beta-TC-VAE objective (objective.h; Chen, Li, Grosse and Duvenaud 2018, "Isolating sources of
 * disentanglement in variational autoencoders"), chosen when vae_train_opts.tc_beta = B > 0. The KL splits
 * into index-code mutual information, total correlation and dimension-wise KL, KL = MI + TC + DWKL in
 * expectation, and the total correlation gets weight B:
 *
 *   loss = mean_i recon_i + w (KL_i + (B - 1) TC_i)      w = kl_weight (beta times the warm-up factor)
 *
 * with KL_i the closed-form KL (the same expectation as the sampled MI + TC + DWKL, less noise) and TC_i the
 * minibatch-weighted sampling estimate over the batch's n samples z_i ~ q(z|x_i), N the training set's size:
 *
 *   TC_i = log q(z_i) - sum_d log q(z_id),   log q(z_i) ~ log sum_j q(z_i|x_j) - log(N n),
 *                                            log q(z_id) ~ log sum_j q(z_id|x_jd) - log(N n).
 *
 * Gradient. With a_ijd = log q(z_id|x_jd) = -0.5 (log 2 pi + lv_jd + (z_id - mu_jd)^2 e^-lv_jd), the
 * softmaxes p_ij = softmax_j(sum_d a_ijd) and r_ijd = softmax_j(a_ijd) give d TC_i / d a_ijd = p_ij - r_ijd,
 * and with t = (z_id - mu_jd) e^-lv_jd:
 *   d a_ijd / d z_id = -t,   d a_ijd / d mu_jd = t,   d a_ijd / d lv_jd = -0.5 + 0.5 (z_id - mu_jd) t,
 * then z_i = mu_i + e^(lv_i/2) eps_i carries d z_i to mu_i and lv_i (the sample entry's rule). The pairs cost
 * n * n * Z per step, small beside the network's matrix products at the usual batch sizes. A batch of one image
 * (an epoch's last, say) has p = r = 1: its TC is a constant and adds no gradient.
 * Letters: n images, Z latent size, N the training set's size. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "diagnostics.h"
#include "layers.h"
#include "model.h"
#include "objective.h"
#include "ops.h"

/* The objective's scratch, allocated once (at its first step) for max_batch rows and kept by the model:
 * mu, iv, c, a and dz (B, Z) each, s (B), and 4 Z (+ 1 to align its doubles) for the row's marginals and scratch. */
static float *tc_scratch(vae_model *m) {
    size_t need = 5 * (size_t)m->max_batch * m->Z + (size_t)m->max_batch + 4 * (size_t)m->Z + 1; // + 1: alignment
    if (m->obj_scratch_cap < need) {
        vae_mem_free(m->obj_scratch);
        m->obj_scratch = vae_malloc(need * sizeof(float));
        m->obj_scratch_cap = m->obj_scratch ? need : 0;
    }
    return m->obj_scratch;
}

/* TC_i for the batch's samples m->z against the codes in m->head; adds coef * d(sum_i TC_i) to dhead.
 * @return sum_i TC_i. */
static double tc_forward_backward(vae_model *m, int n, long long N, float coef, float *scratch) {
    int Z = m->Z;
    size_t nz = (size_t)n * Z;
    float *mu = scratch, *iv = mu + nz, *c = iv + nz, *a = c + nz, *dz = a + nz, *s = dz + nz, *row = s + n;
    size_t off = (size_t)(row + 2 * Z - scratch);
    double *lqd = (double *)(scratch + off + (off & 1)); // Z doubles (2 Z floats), at an 8-byte boundary
    for (int j = 0; j < n; j++) {
        memcpy(mu + (size_t)j * Z, m->head + (size_t)j * 2 * Z, (size_t)Z * sizeof(float));
        memcpy(a + (size_t)j * Z, m->head + (size_t)j * 2 * Z + Z, (size_t)Z * sizeof(float)); // logvar, for now
    }
    vae__aggregate_prepare(iv, c, a, nz);
    memset(dz, 0, nz * sizeof(float));
    double lw = -log((double)N * n), tc = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = m->z + (size_t)i * Z;
        double lqz = vae__aggregate_row(a, s, lqd, row, zi, mu, iv, c, n, Z, i, lw, lw);
        double lprod = 0.0;
        for (int d = 0; d < Z; d++) lprod += lqd[d];
        tc += lqz - lprod;
        float *dzi = dz + (size_t)i * Z;
        for (int j = 0; j < n; j++) {
            float p = (float)exp(s[j] - lqz);
            const float *aj = a + (size_t)j * Z, *mj = mu + (size_t)j * Z, *ivj = iv + (size_t)j * Z;
            float *dmu = m->dhead + (size_t)j * 2 * Z, *dlv = dmu + Z;
            for (int d = 0; d < Z; d++) {
                float g = coef * (p - (float)exp(aj[d] - lqd[d])), e = zi[d] - mj[d], t = e * ivj[d];
                dzi[d] -= g * t;
                dmu[d] += g * t;
                dlv[d] += g * (0.5f * e * t - 0.5f);
            }
        }
    }
    // z_i = mu_i + e^(lv_i / 2) eps_i
    for (int i = 0; i < n; i++) {
        const float *lvi = m->head + (size_t)i * 2 * Z + Z, *e = m->eps + (size_t)i * Z, *g = dz + (size_t)i * Z;
        float *dmu = m->dhead + (size_t)i * 2 * Z, *dlv = dmu + Z;
        for (int d = 0; d < Z; d++) {
            dmu[d] += g[d];
            dlv[d] += g[d] * e[d] * 0.5f * expf(0.5f * lvi[d]);
        }
    }
    return tc;
}

static vae_status tcvae_grad(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o, int rows,
                             vae_rng *rng, vae_losses *out) {
    if (m->cfg.ae) return vae_fail(VAE_ERR_ARG, "the beta-TC objective needs a VAE; this model is an autoencoder");
    float *scratch = tc_scratch(m);
    if (!scratch) return vae_fail(VAE_ERR_NOMEM, "out of memory for the beta-TC objective's scratch");
    float scale = 1.0f / (float)rows;
    vae__zero_floats(m->grads, m->n_params);
    vae_pass p = vae__pass_of(x, labels, rng, o->eps, 1);
    vae_status st = vae__forward_one(m, &p, n, 1, scale);
    if (st) return st;
    int Z = m->Z;
    vae__kl_forward(m->kl, m->head, m->head + Z, n, Z, 2 * Z);
    st = vae__mean_losses(m, n, o->kl_weight, out);
    if (st) return st;
    vae__backward_to_head(m, n);
    vae__kl_backward(m->dhead, m->dhead + Z, m->head, m->head + Z, n, Z, 2 * Z, o->kl_weight * scale);
    long long N = o->dataset_size > 0 ? o->dataset_size : n;
    float coef = o->kl_weight * (o->tc_beta - 1.0f) * scale;
    double tc = tc_forward_backward(m, n, N, coef, scratch) / n;
    out->loss += (double)o->kl_weight * (o->tc_beta - 1.0) * tc;
    if (!isfinite(out->loss))
        return vae_fail(VAE_ERR_NAN, "step %ld: the beta-TC loss is %g (total correlation estimate %g)", m->step + 1,
                        out->loss, tc);
    vae__encode_backward(m, x, n);
    return VAE_OK;
}

const vae__objective vae__objective_tcvae = {"beta-tc", tcvae_grad};
