/* test_iwae.c: the importance-weighted bound against a direct double-precision computation with the same
 * samples, chunking that does not change the result, k = 1 matching the ELBO on average, and the bound
 * tightening with k. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "iwae.h"
#include "model.h"
#include "test.h"

static vae_model *tiny(int max_batch, int likelihood, int classes) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 4, cfg.hidden[0] = 5, cfg.n_latent = 2, cfg.likelihood = likelihood;
    cfg.n_classes = classes;
    vae_rng r;
    vae_rng_seed(&r, 99);
    vae_model *m = NULL;
    vae_status st = vae_create(&m, &cfg, max_batch, &r);
    CHECK(st == VAE_OK, "create: %s", vae_last_error());
    return m;
}

/* -log p(x) estimate recomputed from scratch: the same eps stream, vae_decode, formulas in double. */
static double reference_nll(vae_model *m, const float *x, const int *label, int k, uint64_t seed) {
    int Z = m->Z, D = m->D;
    float mu[8], lv[8], z[8], out[64];
    vae_encode(m, x, label, 1, mu, lv);
    vae_rng r;
    vae_rng_seed(&r, seed);
    double *lw = vae_malloc((size_t)k * sizeof(double)), mx = -INFINITY;
    float *eps = vae_malloc((size_t)k * Z * sizeof(float));
    // the same stream as the chunked run: chunks of whole rows, and each chunk's count is even here
    vae_rng_normals(&r, eps, (size_t)k * Z);
    for (int s = 0; s < k; s++) {
        double lq = 0, lp = 0;
        for (int j = 0; j < Z; j++) {
            double e = eps[(size_t)s * Z + j];
            z[j] = (float)(mu[j] + exp(0.5 * lv[j]) * e);
            lq += -0.5 * (e * e + lv[j] + log(2 * M_PI));
            lp += -0.5 * ((double)z[j] * z[j] + log(2 * M_PI));
        }
        vae_decode(m, z, label, 1, out);
        double lpx = 0;
        for (int d = 0; d < D; d++) {
            if (m->cfg.likelihood == VAE_GAUSSIAN) {
                double s2 = exp(m->params[m->tensors[m->logvar_tensor].offset]), e = x[d] - out[d];
                lpx += -0.5 * (e * e / s2 + log(2 * M_PI * s2));
            } else {
                lpx += x[d] * log(out[d]) + (1 - x[d]) * log(1 - out[d]);
            }
        }
        lw[s] = lpx + lp - lq;
        if (lw[s] > mx) mx = lw[s];
    }
    double sum = 0;
    for (int s = 0; s < k; s++) sum += exp(lw[s] - mx);
    vae_mem_free(lw);
    vae_mem_free(eps);
    return -(mx + log(sum / k));
}

int main(void) {
    float x[2 * 12];
    for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 11) / 10.0f;
    int labels[2] = {1, 0};
    for (int lik = 0; lik < 2; lik++) {
        for (int classes = 0; classes <= 2; classes += 2) {
            vae_model *big = tiny(64, lik, classes), *small = tiny(7, lik, classes);
            const int *lab = classes ? labels : NULL;
            float nll_big[2], nll_small[2];
            vae_rng r;
            vae_rng_seed(&r, 5);
            CHECK(vae_iwae_nll(big, x, lab, 1, 50, &r, nll_big) == VAE_OK, "iwae: %s", vae_last_error());
            double ref = reference_nll(big, x, lab, 50, 5);
            CHECK_CLOSE(nll_big[0], ref, 1e-3 * fabs(ref));
            // chunks of 7 rows draw the same samples in the same order: the same estimate
            vae_rng_seed(&r, 5);
            CHECK(vae_iwae_nll(small, x, lab, 1, 50, &r, nll_small) == VAE_OK, "iwae chunked: %s", vae_last_error());
            CHECK_CLOSE(nll_small[0], nll_big[0], 1e-4 * fabs(ref));
            // k = 1 is the ELBO: averaged over many draws it matches the mean negative ELBO
            double iw1 = 0, elbo = 0;
            int reps = 4000;
            vae_rng_seed(&r, 11);
            for (int i = 0; i < reps; i++) {
                float v[2], l[2];
                vae_iwae_nll(big, x, lab, 2, 1, &r, v);
                vae_eval_batch(big, x, lab, 2, &r, l, NULL, NULL);
                iw1 += v[0] + v[1];
                elbo += l[0] + l[1];
            }
            CHECK(fabs(iw1 - elbo) / reps < 0.02 * fabs(elbo / reps) + 0.05, "k=1 mean %g vs ELBO mean %g", iw1 / reps,
                  elbo / reps);
            // a tighter bound with more samples: the k = 1000 estimate lies below the mean negative ELBO
            float v1000[2];
            vae_iwae_nll(big, x, lab, 2, 1000, &r, v1000);
            CHECK(v1000[0] + v1000[1] < elbo / reps, "k=1000 estimate %g not below the ELBO %g", v1000[0] + v1000[1],
                  elbo / reps);
            vae_free(big);
            vae_free(small);
        }
    }
    // bad calls
    vae_model *m = tiny(4, VAE_BERNOULLI, 0);
    vae_rng r;
    vae_rng_seed(&r, 1);
    float v[8];
    CHECK(vae_iwae_nll(m, x, NULL, 5, 10, &r, v) == VAE_ERR_ARG, "batch above max_batch refused");
    CHECK(vae_iwae_nll(m, x, NULL, 1, 0, &r, v) == VAE_ERR_ARG, "k = 0 refused");
    vae_free(m);
    TEST_MAIN_END();
}
