/* test_diagnostics.c: the latent diagnostics (src/diagnostics.c) against hand computations and a naive
 * reference: per-dimension KL and activity, and the KL decomposition (mutual information, total
 * correlation, dimension-wise KL). */
#include <math.h>
#include <string.h>

#include "common.h"
#include "diagnostics.h"
#include "test.h"
#include "vae.h"

#define LOG_2PI 1.8378770664093453

static double lse(const double *v, int n) {
    double mx = -INFINITY, s = 0.0;
    for (int i = 0; i < n; i++) mx = v[i] > mx ? v[i] : mx;
    for (int i = 0; i < n; i++) s += exp(v[i] - mx);
    return mx + log(s);
}

static double lnorm(double z, double mu, double lv) { return -0.5 * (LOG_2PI + lv + (z - mu) * (z - mu) * exp(-lv)); }

/* The whole-set estimate written the slow, obvious way: same z draws, log q(z) = log (1/n) sum_j q(z|x_j). */
static void naive_parts(const float *mu, const float *lv, int n, int Z, uint64_t seed, vae_kl_parts *out) {
    float z[64 * 4];
    double t[64];
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_rng_normals(&rng, z, (size_t)n * Z);
    for (int k = 0; k < n * Z; k++) z[k] = mu[k] + expf(0.5f * lv[k]) * z[k];
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        double lq_cond = 0, lp = 0, lprod = 0;
        for (int d = 0; d < Z; d++) {
            lq_cond += lnorm(z[i * Z + d], mu[i * Z + d], lv[i * Z + d]);
            lp += lnorm(z[i * Z + d], 0, 0);
            for (int j = 0; j < n; j++) t[j] = lnorm(z[i * Z + d], mu[j * Z + d], lv[j * Z + d]);
            lprod += lse(t, n) - log(n);
        }
        for (int j = 0; j < n; j++) {
            t[j] = 0;
            for (int d = 0; d < Z; d++) t[j] += lnorm(z[i * Z + d], mu[j * Z + d], lv[j * Z + d]);
        }
        double lqz = lse(t, n) - log(n);
        out->mi += (lq_cond - lqz) / n;
        out->tc += (lqz - lprod) / n;
        out->dwkl += (lprod - lp) / n;
    }
    out->kl = out->mi + out->tc + out->dwkl;
}

static void test_activity(void) {
    // 3 images, 2 dims: dim 0 varies (mu -1, 0, 1), dim 1 is collapsed (mu 0, logvar 0)
    float mu[6] = {-1, 0, 0, 0, 1, 0}, lv[6] = {-2, 0, -2, 0, -2, 0};
    double kl[2], var[2];
    int active = vae_latent_activity(mu, lv, 3, 2, kl, var);
    CHECK(active == 1, "active %d, want 1", active);
    CHECK_CLOSE(var[0], 2.0 / 3.0, 1e-12);
    CHECK_CLOSE(var[1], 0.0, 1e-12);
    double k0 = (0.5 * (1 + exp(-2.0) + 2 - 1) * 2 + 0.5 * (exp(-2.0) + 2 - 1)) / 3;
    CHECK_CLOSE(kl[0], k0, 1e-9);
    CHECK_CLOSE(kl[1], 0.0, 1e-12);
    // the threshold is strict: a variance of exactly 0.01 is not active
    float m2[2] = {-0.1f, 0.1f}, l2[2] = {0, 0};
    CHECK(vae_latent_activity(m2, l2, 2, 1, NULL, var) == (var[0] > VAE_ACTIVE_THRESHOLD), "threshold");
}

static void test_decompose_matches_naive(void) {
    enum { N = 40, Z = 3 };
    float mu[N * Z], lv[N * Z];
    vae_rng r;
    vae_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        float c = vae_rng_normal(&r);
        mu[i * Z + 0] = c;                                 // dims 0 and 1 carry the same factor: correlated
        mu[i * Z + 1] = c + 0.1f * vae_rng_normal(&r);
        mu[i * Z + 2] = 0.02f * vae_rng_normal(&r);        // nearly collapsed
        lv[i * Z + 0] = -3.0f, lv[i * Z + 1] = -2.5f, lv[i * Z + 2] = -0.05f;
    }
    vae_kl_parts p, q;
    CHECK(vae_kl_decompose(mu, lv, N, Z, N, 11, &p) == VAE_OK, "decompose: %s", vae_last_error());
    naive_parts(mu, lv, N, Z, 11, &q);
    CHECK_CLOSE(p.mi, q.mi, 1e-4);
    CHECK_CLOSE(p.tc, q.tc, 1e-4);
    CHECK_CLOSE(p.dwkl, q.dwkl, 1e-4);
    CHECK_CLOSE(p.kl, p.mi + p.tc + p.dwkl, 1e-9);
    CHECK(p.tc > 0.5, "two copies of one factor: total correlation %g should be well above 0", p.tc);
    CHECK(p.mi > 0 && p.mi <= log(N) + 1e-9, "mutual information %g should lie in (0, log n]", p.mi);
    // minibatches: still an estimate of the same quantities (within the estimator's noise here)
    vae_kl_parts b;
    CHECK(vae_kl_decompose(mu, lv, N, Z, 13, 11, &b) == VAE_OK, "decompose in minibatches");
    CHECK(isfinite(b.mi) && isfinite(b.dwkl), "finite parts");
    CHECK(b.tc > 0.3, "minibatch total correlation %g", b.tc);
}

static void test_collapsed_is_zero(void) {
    // every code the prior: q(z|x) = p(z) = q(z), so all three parts are 0 (whatever the minibatch; float rounding)
    enum { N = 30, Z = 4 };
    float mu[N * Z], lv[N * Z];
    memset(mu, 0, sizeof mu);
    memset(lv, 0, sizeof lv);
    for (int batch = 2; batch <= N; batch += 7) {
        vae_kl_parts p;
        CHECK(vae_kl_decompose(mu, lv, N, Z, batch, 3, &p) == VAE_OK, "decompose");
        CHECK_CLOSE(p.mi, 0.0, 1e-5);
        CHECK_CLOSE(p.tc, 0.0, 1e-5);
        CHECK_CLOSE(p.dwkl, 0.0, 1e-5);
    }
    // independent dims, each one spread over the data: the total correlation is small beside the correlated case
    vae_rng r;
    vae_rng_seed(&r, 5);
    for (int k = 0; k < N * Z; k++) mu[k] = vae_rng_normal(&r), lv[k] = -1.0f;
    vae_kl_parts ind;
    CHECK(vae_kl_decompose(mu, lv, N, Z, N, 3, &ind) == VAE_OK, "decompose");
    CHECK(ind.tc < 1.0, "independent dims: total correlation %g", ind.tc);
}

static void test_kl_estimate(void) {
    // the one-sample KL estimate averages to the closed form over many codes
    enum { N = 2000, Z = 2 };
    static float mu[N * Z], lv[N * Z];
    vae_rng r;
    vae_rng_seed(&r, 9);
    for (int k = 0; k < N * Z; k++) mu[k] = vae_rng_normal(&r), lv[k] = -1.0f + 0.5f * vae_rng_normal(&r);
    double kl[Z];
    vae_latent_activity(mu, lv, N, Z, kl, NULL);
    vae_kl_parts p;
    CHECK(vae_kl_decompose(mu, lv, N, Z, 200, 1, &p) == VAE_OK, "decompose");
    CHECK_CLOSE(p.kl, kl[0] + kl[1], 0.1);
}

static void test_errors(void) {
    float mu[4] = {0}, lv[4] = {0};
    vae_kl_parts p;
    CHECK(vae_kl_decompose(mu, lv, 1, 4, 10, 1, &p) == VAE_ERR_ARG, "one code");
    CHECK(vae_kl_decompose(mu, lv, 2, 2, 1, 1, &p) == VAE_ERR_ARG, "minibatch of one");
    vae_alloc_fail_at(1);
    CHECK(vae_kl_decompose(mu, lv, 2, 2, 2, 1, &p) == VAE_ERR_NOMEM, "allocation failure reported");
    vae_alloc_fail_at(0);
}

int main(void) {
    test_activity();
    test_decompose_matches_naive();
    test_collapsed_is_zero();
    test_kl_estimate();
    test_errors();
    TEST_MAIN_END();
}
