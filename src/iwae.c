/* iwae.c: importance-weighted log-likelihood estimates (see iwae.h). Per image: encode once, draw k
 * samples z = mu + sigma * eps in chunks, decode each chunk as one batch, and fold log w into a running
 * log-sum-exp (running maximum and scaled sum), so any k works in bounded memory. Then the training step
 * on the same bound (vae train --iwae-k): a batch's n*k samples decoded at once, one backward pass. */
#include "iwae.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"
#include "objective.h"
#include "ops.h"

#define LOG_2PI 1.8378770664093453

vae_status vae_iwae_nll(vae_model *m, const float *x, const int *labels, int n, int k, vae_rng *rng, float *nll) {
    if (m->cfg.ae) return vae_fail(VAE_ERR_ARG, "the importance-weighted bound needs a VAE; this model is an autoencoder");
    if (k < 1) return vae_fail(VAE_ERR_ARG, "k = %d samples: at least 1 needed", k);
    if (n < 1 || n > m->max_batch)
        return vae_fail(VAE_ERR_ARG, "batch of %d images: the model holds 1..%d", n, m->max_batch);
    int Z = m->Z, D = m->D;
    // encode the whole batch once; keep mu | logvar of each image (the head's rows are reused below)
    float *head = vae_malloc((size_t)n * 2 * Z * sizeof(float)), *sigma = vae_malloc((size_t)Z * sizeof(float));
    if (!head || !sigma) {
        vae_mem_free(head);
        vae_mem_free(sigma);
        return vae_fail(VAE_ERR_NOMEM, "out of memory");
    }
    vae_status st = vae_encode(m, x, labels, n, head, NULL);
    if (st) {
        vae_mem_free(head);
        vae_mem_free(sigma);
        return st;
    }
    memcpy(head, m->head, (size_t)n * 2 * Z * sizeof(float)); // [mu | logvar] rows, clamped
    float *logw = m->recon; // (max_batch) scratch: per-sample log p(x|z) then log w
    float *lpz = m->kl;     // (max_batch) scratch: log p(z) - log q(z|x)
    const float *out = m->out; // the decoder's output (the list's last entry's)
    for (int i = 0; i < n; i++) {
        const float *mu = head + (size_t)i * 2 * Z, *lv = mu + Z;
        double run_max = -INFINITY, run_sum = 0.0, lq0 = 0.0;
        for (int j = 0; j < Z; j++) {
            sigma[j] = expf(0.5f * lv[j]);
            lq0 += -0.5 * (lv[j] + LOG_2PI);
        }
        for (int done = 0; done < k;) {
            int c = k - done < m->max_batch ? k - done : m->max_batch;
            vae_rng_normals(rng, m->eps, (size_t)c * Z); // eps holds max_batch rows of Z
            for (int s = 0; s < c; s++) {
                float *z = m->z + (size_t)s * Z; // the sample entry's output: the decoder's input
                const float *eps = m->eps + (size_t)s * Z;
                double lq = lq0, lp = 0.0;
                for (int j = 0; j < Z; j++) {
                    float e = eps[j];
                    z[j] = mu[j] + sigma[j] * e;
                    lq += -0.5 * (double)e * e;
                    lp += -0.5 * ((double)z[j] * z[j] + LOG_2PI);
                }
                lpz[s] = (float)(lp - lq);
            }
            vae_pass p = {NULL, labels ? labels + i : NULL, c, NULL, NULL, 0}; // image i's label on all c rows
            vae__decode(m, &p, c);
            const float *xi = x + (size_t)i * D;
            if (m->cfg.likelihood == VAE_GAUSSIAN)
                vae__gaussian_nll_forward_strided(logw, out, xi, 0, m->params[m->tensors[m->logvar_tensor].offset], c, D);
            else
                vae__bernoulli_nll_forward_strided(logw, out, xi, 0, c, D);
            for (int s = 0; s < c; s++) {
                double lw = -(double)logw[s] + lpz[s];
                if (lw > run_max) { // rescale the running sum to the new maximum
                    run_sum = run_sum * exp(run_max - lw) + 1.0;
                    run_max = lw;
                } else {
                    run_sum += exp(lw - run_max);
                }
            }
            done += c;
        }
        nll[i] = (float)-(run_max + log(run_sum) - log((double)k));
    }
    vae_mem_free(head);
    vae_mem_free(sigma);
    return VAE_OK;
}

/* The training step (iwae.h). Shapes: n images, k samples each, R = n*k rows in sample order (image i's
 * samples in rows i*k .. i*k+k-1); Z latent, L classes (the label entry appends image i's one-hot to its rows),
 * D pixels.
 * Per row r of image i, with eps fixed:
 *   log q(z|x) = -0.5 sum_j (eps_j^2 + logvar_ij + log 2 pi)   (z - mu = sigma * eps, so no z in it)
 *   log p(z)   = -0.5 sum_j (z_j^2 + log 2 pi)
 * so the gradient of -log w_r = nll_r + kl_weight * (log q - log p) reaches z through the decoder and through
 * kl_weight * z, and logvar directly through -0.5 * kl_weight (the entropy term); mu and logvar also get
 * the z path, dmu = dz and dlogvar = dz * eps * sigma / 2 (vae__reparam_backward's rule), summed over the
 * image's samples. The weights scale each row's gradient before the decoder's backward pass. */
static vae_status iwae_grad(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o,
                            int rows, vae_rng *rng, vae_losses *out) {
    int k = o->iwae_k;
    if (m->cfg.ae) return vae_fail(VAE_ERR_ARG, "the importance-weighted bound needs a VAE; this model is an autoencoder");
    if (k < 1) return vae_fail(VAE_ERR_ARG, "iwae k = %d samples: at least 1 needed", k);
    if (n < 1 || (long long)n * k > m->max_batch)
        return vae_fail(VAE_ERR_ARG, "batch of %d images times k = %d samples: %lld rows, the model holds 1..%d", n, k,
                        (long long)n * k, m->max_batch);
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    int Z = m->Z, D = m->D, R = n * k;
    float kw = o->kl_weight;
    const float *head = m->head; // (n, 2Z) [mu | logvar]
    vae_pass p = vae__pass_of(x, labels, rng, NULL, 1);
    vae__encode(m, &p, n);

    // z (R, Z), the sample entry's output: the k rows of image i share its mu and logvar (row stride 0)
    if (o->eps) memcpy(m->eps, o->eps, (size_t)R * Z * sizeof(float));
    else vae_rng_normals(rng, m->eps, (size_t)R * Z);
    for (int i = 0; i < n; i++) {
        const float *mu = head + (size_t)i * 2 * Z;
        vae__reparam_forward(m->z + (size_t)i * k * Z, mu, mu + Z, m->eps + (size_t)i * k * Z, k, Z, 0, Z);
    }
    // per row: log q(z|x) - log p(z) (the one-sample KL estimate; the log 2 pi terms cancel)
    float *nll = m->recon, *klr = m->kl; // (R) each
    for (int r = 0; r < R; r++) {
        const float *lv = head + (size_t)(r / k) * 2 * Z + Z, *z = m->z + (size_t)r * Z, *e = m->eps + (size_t)r * Z;
        double acc = 0.0;
        for (int j = 0; j < Z; j++) acc += (double)z[j] * z[j] - (double)e[j] * e[j] - lv[j];
        klr[r] = (float)(0.5 * acc);
    }

    // decode all samples as one batch; -log p(x|z) per row (Bernoulli: with its unscaled logit gradient)
    p.rep = k; // image i's label on its k rows
    vae__decode(m, &p, R);
    float dec_logvar = m->logvar_tensor >= 0 ? m->params[m->tensors[m->logvar_tensor].offset] : 0.0f;
    if (m->cfg.likelihood == VAE_GAUSSIAN)
        for (int i = 0; i < n; i++)
            vae__gaussian_nll_forward_strided(nll + (size_t)i * k, m->out + (size_t)i * k * D, x + (size_t)i * D, 0,
                                         dec_logvar, k, D);
    else
        vae__bernoulli_nll_forward_backward_rep(nll, m->grad_a, m->out, x, R, k, D);

    // per image: log-mean-exp of log w, and the row scales wt / rows (written over nll, which is then done)
    double loss = 0.0, recon = 0.0, kl = 0.0;
    for (int i = 0; i < n; i++) {
        float *nl = nll + (size_t)i * k;
        const float *kr = klr + (size_t)i * k;
        double mx = -INFINITY, sum = 0.0;
        for (int s = 0; s < k; s++) {
            double lw = -(double)nl[s] - (double)kw * kr[s];
            recon += nl[s];
            kl += kr[s];
            if (lw > mx) mx = lw;
        }
        for (int s = 0; s < k; s++) {
            double w = exp(-(double)nl[s] - (double)kw * kr[s] - mx);
            nl[s] = (float)w;
            sum += w;
        }
        for (int s = 0; s < k; s++) nl[s] = (float)(nl[s] / sum / rows);
        loss += -(mx + log(sum) - log((double)k));
    }
    loss /= n;
    recon /= R;
    kl /= R;
    out->loss = loss;
    out->recon = recon;
    out->kl = kl;
    if (!isfinite(loss))
        return vae_fail(VAE_ERR_NAN, "step %ld: the importance-weighted loss (k = %d) is %g (reconstruction %g, KL "
                        "estimate %g)", m->step + 1, k, loss, recon, kl);
    const float *scale = nll; // (R) wt / rows

    // backward: reconstruction -> decoder output, each row times its scale
    vae__zero_floats(m->grads, m->n_params);
    if (m->cfg.likelihood == VAE_GAUSSIAN) {
        vae__gaussian_nll_backward_rep(m->grad_a, m->grads + m->tensors[m->logvar_tensor].offset, m->out, x, dec_logvar, R,
                                  k, D, scale);
    } else {
        float *da = m->grad_a;
        #pragma omp parallel for schedule(static) if ((size_t)R * D > 32768)
        for (int r = 0; r < R; r++) {
            float s = scale[r], *row = da + (size_t)r * D;
            for (int d = 0; d < D; d++) row[d] *= s;
        }
    }
    const float *dz = vae__decode_backward(m, m->grad_a, R); // (R, Z)

    // -> z (decoder path + kl_weight * z from -log p(z)) -> [mu | logvar] of each image, summed over its samples
    for (int i = 0; i < n; i++) {
        const float *lv = head + (size_t)i * 2 * Z + Z;
        float *dmu = m->dhead + (size_t)i * 2 * Z, *dlv = dmu + Z;
        memset(dmu, 0, (size_t)2 * Z * sizeof(float));
        double wsum = 0.0;
        for (int s = 0; s < k; s++) {
            size_t r = (size_t)i * k + s;
            const float *g = dz + r * Z, *z = m->z + r * Z, *e = m->eps + r * Z;
            float sk = scale[r] * kw;
            for (int j = 0; j < Z; j++) {
                float gz = g[j] + sk * z[j];
                dmu[j] += gz;
                dlv[j] += gz * e[j];
            }
            wsum += scale[r];
        }
        // log q's direct -0.5 per logvar, weighted by the image's scales (sum wt / rows = 1/rows)
        float dq = (float)(-0.5 * kw * wsum);
        for (int j = 0; j < Z; j++) dlv[j] = dlv[j] * 0.5f * expf(0.5f * lv[j]) + dq;
    }
    vae__encode_backward(m, x, n);
    return VAE_OK;
}

const vae__objective vae__objective_iwae = {"iwae", iwae_grad};
