/* diagnostics.c: what an encoder's codes say about its latent space, computed from vae_encode's outputs
 * mu and logvar (n, Z) of n images (docs/model.md, "Latent diagnostics", gives each formula).
 *
 *   per-dimension KL   kl_d = mean_i 0.5 (mu_id^2 + e^lv_id - lv_id - 1)
 *   activity           A_d = Cov_x(E_q[z_d]) = the variance of mu_id over the images; dimension d is active
 *                      when A_d > 0.01 (Burda et al. 2015)
 *   KL decomposition   mean_i KL(q(z|x_i) || p(z)) = I(x; z) + TC + dimension-wise KL (Chen et al. 2018),
 *                      each estimated with one z_i ~ q(z|x_i) per image and the aggregate posterior
 *                      q(z) = (1/N) sum_n q(z|x_n) estimated over a minibatch of M codes.
 *
 * Letters: n images, Z latent size, M codes per minibatch, N images the aggregate posterior averages over.
 */
#include "diagnostics.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "fastmath.h"

#define LOG_2PI 1.8378770664093453

int vae_latent_activity(const float *mu, const float *logvar, int n, int Z, double *kl, double *var_mu) {
    int active = 0;
    for (int d = 0; d < Z; d++) {
        double s = 0.0, k = 0.0;
        for (int i = 0; i < n; i++) {
            double m = mu[(size_t)i * Z + d], lv = logvar[(size_t)i * Z + d];
            s += m;
            k += 0.5 * (m * m + exp(lv) - lv - 1.0);
        }
        double mean = n > 0 ? s / n : 0.0, v = 0.0;
        for (int i = 0; i < n; i++) {
            double e = mu[(size_t)i * Z + d] - mean;
            v += e * e;
        }
        if (kl) kl[d] = n > 0 ? k / n : 0.0;
        if (var_mu) var_mu[d] = n > 0 ? v / n : 0.0;
        if (n > 0 && v / n > VAE_ACTIVE_THRESHOLD) active++;
    }
    return active;
}

/* log N(z; mu, e^lv) of one coordinate */
static double log_normal(double z, double mu, double lv) {
    double e = z - mu;
    return -0.5 * (LOG_2PI + lv + e * e * exp(-lv));
}

void vae__aggregate_prepare(float *iv, float *c, const float *logvar, size_t n) {
    for (size_t k = 0; k < n; k++) {
        iv[k] = expf(-logvar[k]);
        c[k] = -0.5f * ((float)LOG_2PI + logvar[k]);
    }
}

double vae__aggregate_row(float *a, float *s, double *lqz_dim, float *scratch, const float *zi, const float *mu,
                          const float *iv, const float *c, int m, int Z, int i, double lw_own, double lw_other) {
    // log q(z_id | x_j) = c_jd - 0.5 (z_id - mu_jd)^2 iv_jd: no exp in the m * Z pair loop. Floats with
    // exp_nonpos (fastmath.h), so the loops over d vectorise.
    float *acc = scratch, *md = scratch + Z; // (Z) the marginals' sums and maxima
    double mx = -INFINITY;
    for (int d = 0; d < Z; d++) md[d] = -INFINITY;
    for (int j = 0; j < m; j++) {
        const float *mj = mu + (size_t)j * Z, *ivj = iv + (size_t)j * Z, *cj = c + (size_t)j * Z;
        float *aj = a + (size_t)j * Z, w = (float)(j == i ? lw_own : lw_other), sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int d = 0; d < Z; d++) {
            float e = zi[d] - mj[d], v = cj[d] - 0.5f * e * e * ivj[d];
            aj[d] = v + w;
            md[d] = aj[d] > md[d] ? aj[d] : md[d];
            sum += v;
        }
        s[j] = sum + w;
        if (s[j] > mx) mx = s[j];
    }
    // joint: log sum_j w_ij prod_d q(z_id|x_jd)
    double sum = 0.0;
    for (int j = 0; j < m; j++) sum += exp_nonpos((float)(s[j] - mx));
    // marginals: log sum_j w_ij q(z_id|x_jd), each shifted by its own maximum
    for (int d = 0; d < Z; d++) acc[d] = 0.0f;
    for (int j = 0; j < m; j++) {
        const float *aj = a + (size_t)j * Z;
        #pragma omp simd
        for (int d = 0; d < Z; d++) acc[d] += exp_nonpos(aj[d] - md[d]);
    }
    for (int d = 0; d < Z; d++) lqz_dim[d] = md[d] + log(acc[d]);
    return mx + log(sum);
}

void vae__aggregate_log_density(double *lqz, double *lqz_dim, float *a, const float *z, const float *mu,
                                const float *logvar, int m, int Z, double lw_own, double lw_other) {
    // scratch a: (m, Z) rows of densities, then iv and c (m, Z) each, s (m) and 2 Z more
    float *iv = a + (size_t)m * Z, *c = iv + (size_t)m * Z, *s = c + (size_t)m * Z, *rest = s + m;
    vae__aggregate_prepare(iv, c, logvar, (size_t)m * Z);
    for (int i = 0; i < m; i++)
        lqz[i] = vae__aggregate_row(a, s, lqz_dim + (size_t)i * Z, rest, z + (size_t)i * Z, mu, iv, c, m, Z, i, lw_own,
                                    lw_other);
}

void vae__stratified_weights(int m, long long N, double *lw_own, double *lw_other) {
    // The image's own term stands for itself (1/N); the m - 1 others stand for the N - 1 other images.
    *lw_own = -log((double)N);
    *lw_other = m > 1 ? log((double)(N - 1)) - log((double)N) - log((double)(m - 1)) : -INFINITY;
}

vae_status vae_kl_decompose(const float *mu, const float *logvar, int n, int Z, int batch, uint64_t seed,
                            vae_kl_parts *out) {
    memset(out, 0, sizeof *out);
    if (n < 2 || Z < 1 || batch < 2)
        return vae_fail(VAE_ERR_ARG, "KL decomposition: %d codes of %d dimensions in minibatches of %d (need n >= 2, "
                        "batch >= 2)", n, Z, batch);
    int n_chunks = (n + batch - 1) / batch, m_max = (n + n_chunks - 1) / n_chunks;
    size_t mz = (size_t)m_max * Z;
    float *z = vae_malloc(mz * sizeof(float));
    double *lqz = vae_malloc((size_t)m_max * sizeof(double)), *lqd = vae_malloc(mz * sizeof(double));
    float *a = vae_malloc((3 * mz + (size_t)m_max + 2 * (size_t)Z) * sizeof(float));
    if (!z || !lqz || !lqd || !a) {
        vae_mem_free(z), vae_mem_free(lqz), vae_mem_free(lqd), vae_mem_free(a);
        return vae_fail(VAE_ERR_NOMEM, "out of memory for the KL decomposition (%d codes per minibatch)", m_max);
    }
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    double mi = 0.0, tc = 0.0, dw = 0.0;
    // chunks of nearly equal size (never a chunk of one image, whose aggregate posterior would be itself)
    for (int c = 0, start = 0; c < n_chunks; c++) {
        int m = n / n_chunks + (c < n % n_chunks ? 1 : 0);
        const float *mc = mu + (size_t)start * Z, *lc = logvar + (size_t)start * Z;
        vae_rng_normals(&rng, z, (size_t)m * Z);
        for (size_t k = 0; k < (size_t)m * Z; k++) z[k] = mc[k] + expf(0.5f * lc[k]) * z[k];
        double lw_own, lw_other;
        vae__stratified_weights(m, n, &lw_own, &lw_other);
        vae__aggregate_log_density(lqz, lqd, a, z, mc, lc, m, Z, lw_own, lw_other);
        for (int i = 0; i < m; i++) {
            double lq_cond = 0.0, lp = 0.0, lprod = 0.0;
            for (int d = 0; d < Z; d++) {
                size_t k = (size_t)i * Z + d;
                lq_cond += log_normal(z[k], mc[k], lc[k]);
                lp += -0.5 * (LOG_2PI + (double)z[k] * z[k]);
                lprod += lqd[k];
            }
            mi += lq_cond - lqz[i];
            tc += lqz[i] - lprod;
            dw += lprod - lp;
        }
        start += m;
    }
    vae_mem_free(z), vae_mem_free(lqz), vae_mem_free(lqd), vae_mem_free(a);
    out->mi = mi / n;
    out->tc = tc / n;
    out->dwkl = dw / n;
    out->kl = out->mi + out->tc + out->dwkl;
    return VAE_OK;
}
