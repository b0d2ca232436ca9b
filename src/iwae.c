/* iwae.c: importance-weighted log-likelihood estimates (see iwae.h). Per image: encode once, draw k
 * samples z = mu + sigma * eps in chunks, decode each chunk as one batch, and fold log w into a running
 * log-sum-exp (running maximum and scaled sum), so any k works in bounded memory. */
#include "iwae.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"

#define LOG_2PI 1.8378770664093453

vae_status vae_iwae_nll(vae_model *m, const float *x, const int *labels, int n, int k, vae_rng *rng, float *nll) {
    if (m->cfg.ae) return vae_fail(VAE_ERR_ARG, "the importance-weighted bound needs a VAE; this model is an autoencoder");
    if (k < 1) return vae_fail(VAE_ERR_ARG, "k = %d samples: at least 1 needed", k);
    if (n < 1 || n > m->max_batch)
        return vae_fail(VAE_ERR_ARG, "batch of %d images: the model holds 1..%d", n, m->max_batch);
    int Z = m->Z, K = m->K, D = m->D;
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
    memcpy(head, m->enc_out[m->n_enc - 1], (size_t)n * 2 * Z * sizeof(float)); // [mu | logvar] rows, clamped
    float *logw = m->recon; // (max_batch) scratch: per-sample log p(x|z) then log w
    float *lpz = m->kl;     // (max_batch) scratch: log p(z) - log q(z|x)
    const float *out = m->dec_out[m->n_dec - 1];
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
                float *z = m->zin + (size_t)s * (Z + K);
                const float *eps = m->eps + (size_t)s * Z;
                double lq = lq0, lp = 0.0;
                for (int j = 0; j < Z; j++) {
                    float e = eps[j];
                    z[j] = mu[j] + sigma[j] * e;
                    lq += -0.5 * (double)e * e;
                    lp += -0.5 * ((double)z[j] * z[j] + LOG_2PI);
                }
                if (K > 0) {
                    memset(z + Z, 0, (size_t)K * sizeof(float));
                    z[Z + labels[i]] = 1.0f;
                }
                lpz[s] = (float)(lp - lq);
            }
            vae_decoder_forward(m, c);
            const float *xi = x + (size_t)i * D;
            if (m->cfg.likelihood == VAE_GAUSSIAN)
                gaussian_nll_forward_strided(logw, out, xi, 0, m->params[m->tensors[m->logvar_tensor].offset], c, D);
            else
                bernoulli_nll_forward_strided(logw, out, xi, 0, c, D);
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
