/* layers.c: activations, losses, KL, reparameterization and dropout; forward and backward side by side.
 * See layers.h for the conventions (saved outputs, accumulate vs overwrite, per-image sums). Letters as in
 * model.h's legend: B batch rows, D values per image, Z latent size; n counts values. */
#include "layers.h"
#include "fastmath.h"

#include <math.h>
#include <stdint.h>

#define LOG_2PI 1.8378770664093453

void vae__relu_forward(float *y, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

void vae__relu_backward(float *dx, const float *y, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
}

void vae__tanh_forward(float *y, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 16384)
    for (size_t i = 0; i < n; i++) y[i] = tanh_fast(y[i]);
}

float vae_tanh(float a) { return tanh_fast(a); }

void vae__tanh_backward(float *dx, const float *y, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] *= 1.0f - y[i] * y[i];
}

static inline float log1p_unit(float y) { return log1p_unit_inv(y, 1.0f / (1.0f + y)); }

void vae__sigmoid_forward(float *y, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float e = exp_nonpos(-fabsf(y[i])), s = 1.0f / (1.0f + e);
        y[i] = y[i] >= 0.0f ? s : e * s;
    }
}

float vae_softplus(float a) { return fmaxf(a, 0.0f) + log1p_unit(exp_nonpos(-fabsf(a))); }

float vae_sigmoid(float a) {
    float e = exp_nonpos(-fabsf(a)), s = 1.0f / (1.0f + e);
    return a >= 0.0f ? s : e * s;
}

/* One image's Bernoulli loss (and, with want_grad, its logit gradient times scale). The sum runs in 16
 * lanes so the loop vectorises without -ffast-math; the lane order is fixed, so results do not depend on
 * the thread count. want_grad is a constant at each call, so the branch folds away. */
#define LANES 16
static inline float bernoulli_row(float *da, const float *a, const float *t, int D, float scale, int want_grad) {
    float lane[LANES] = {0};
    int d = 0;
    for (; d + LANES <= D; d += LANES) {
        #pragma omp simd
        for (int l = 0; l < LANES; l++) {
            float v = a[d + l], e = exp_nonpos(-fabsf(v)), s = 1.0f / (1.0f + e);
            // stable form of -[x log sigmoid(a) + (1-x) log(1 - sigmoid(a))] = softplus(a) - a x
            lane[l] += (v > 0.0f ? v : 0.0f) + log1p_unit_inv(e, s) - v * t[d + l]; // (not fmaxf: a libm call)
            if (want_grad) da[d + l] = scale * ((v >= 0.0f ? s : e * s) - t[d + l]);
        }
    }
    float acc = 0.0f;
    for (int l = 0; l < LANES; l++) acc += lane[l];
    for (; d < D; d++) {
        float v = a[d], e = exp_nonpos(-fabsf(v)), s = 1.0f / (1.0f + e);
        acc += (v > 0.0f ? v : 0.0f) + log1p_unit_inv(e, s) - v * t[d];
        if (want_grad) da[d] = scale * ((v >= 0.0f ? s : e * s) - t[d]);
    }
    return acc;
}

void vae__bernoulli_nll_forward(float *nll, const float *logits, const float *x, int B, int D) {
    vae__bernoulli_nll_forward_strided(nll, logits, x, D, B, D);
}

void vae__bernoulli_nll_forward_strided(float *nll, const float *logits, const float *x, size_t x_stride, int B, int D) {
    #pragma omp parallel for schedule(static) if ((size_t)B * D > 32768)
    for (int b = 0; b < B; b++)
        nll[b] = bernoulli_row(NULL, logits + (size_t)b * D, x + (size_t)b * x_stride, D, 0.0f, 0);
}

void vae__bernoulli_nll_backward(float *dlogits, const float *logits, const float *x, int B, int D, float scale) {
    #pragma omp parallel for schedule(static) if ((size_t)B * D > 32768)
    for (int b = 0; b < B; b++) {
        const float *a = logits + (size_t)b * D, *t = x + (size_t)b * D;
        float *da = dlogits + (size_t)b * D;
        #pragma omp simd
        for (int d = 0; d < D; d++) {
            float e = exp_nonpos(-fabsf(a[d])), s = 1.0f / (1.0f + e);
            da[d] = scale * ((a[d] >= 0.0f ? s : e * s) - t[d]);
        }
    }
}

void vae__bernoulli_nll_forward_backward(float *nll, float *dlogits, const float *logits, const float *x, int B, int D,
                                    float scale) {
    #pragma omp parallel for schedule(static) if ((size_t)B * D > 32768)
    for (int b = 0; b < B; b++)
        nll[b] = bernoulli_row(dlogits + (size_t)b * D, logits + (size_t)b * D, x + (size_t)b * D, D, scale, 1);
}

void vae__bernoulli_nll_forward_backward_rep(float *nll, float *dlogits, const float *logits, const float *x, int B,
                                        int rep, int D) {
    #pragma omp parallel for schedule(static) if ((size_t)B * D > 32768)
    for (int b = 0; b < B; b++)
        nll[b] = bernoulli_row(dlogits + (size_t)b * D, logits + (size_t)b * D, x + (size_t)(b / rep) * D, D, 1.0f, 1);
}

void vae__gaussian_nll_forward(float *nll, const float *mean, const float *x, float logvar, int B, int D) {
    vae__gaussian_nll_forward_strided(nll, mean, x, D, logvar, B, D);
}

void vae__gaussian_nll_forward_strided(float *nll, const float *mean, const float *x, size_t x_stride, float logvar, int B,
                                  int D) {
    float inv_var = expf(-logvar);
    #pragma omp parallel for schedule(static) if ((size_t)B * D > 32768)
    for (int b = 0; b < B; b++) {
        const float *a = mean + (size_t)b * D, *t = x + (size_t)b * x_stride;
        float sq = 0.0f;
        for (int d = 0; d < D; d++) sq += (t[d] - a[d]) * (t[d] - a[d]);
        nll[b] = 0.5f * (sq * inv_var + (float)D * (logvar + (float)LOG_2PI));
    }
}

void vae__gaussian_nll_backward(float *dmean, float *dlogvar, const float *mean, const float *x, float logvar, int B,
                           int D, float scale) {
    float inv_var = expf(-logvar);
    double dlv = 0.0;
    #pragma omp parallel for schedule(static) reduction(+ : dlv)
    for (int b = 0; b < B; b++) {
        const float *a = mean + (size_t)b * D, *t = x + (size_t)b * D;
        float *da = dmean + (size_t)b * D;
        float sq = 0.0f;
        for (int d = 0; d < D; d++) {
            float e = a[d] - t[d];
            da[d] = scale * e * inv_var;
            sq += e * e;
        }
        dlv += 0.5 * ((double)D - (double)sq * inv_var);
    }
    *dlogvar += scale * (float)dlv;
}

void vae__gaussian_nll_backward_rep(float *dmean, float *dlogvar, const float *mean, const float *x, float logvar, int B,
                               int rep, int D, const float *row_scale) {
    float inv_var = expf(-logvar);
    double dlv = 0.0;
    #pragma omp parallel for schedule(static) reduction(+ : dlv)
    for (int b = 0; b < B; b++) {
        const float *a = mean + (size_t)b * D, *t = x + (size_t)(b / rep) * D;
        float *da = dmean + (size_t)b * D, s = row_scale[b];
        float sq = 0.0f;
        for (int d = 0; d < D; d++) {
            float e = a[d] - t[d];
            da[d] = s * e * inv_var;
            sq += e * e;
        }
        dlv += (double)s * 0.5 * ((double)D - (double)sq * inv_var);
    }
    *dlogvar += (float)dlv;
}

void vae__kl_forward(float *kl, const float *mu, const float *logvar, int B, int Z, int stride) {
    for (int b = 0; b < B; b++) {
        const float *m = mu + (size_t)b * stride, *lv = logvar + (size_t)b * stride;
        float acc = 0.0f;
        for (int z = 0; z < Z; z++) acc += m[z] * m[z] + expf(lv[z]) - lv[z] - 1.0f;
        kl[b] = 0.5f * acc;
    }
}

void vae__kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, int B, int Z, int stride,
                 float scale) {
    for (int b = 0; b < B; b++) {
        const float *m = mu + (size_t)b * stride, *lv = logvar + (size_t)b * stride;
        float *dm = dmu + (size_t)b * stride, *dlv = dlogvar + (size_t)b * stride;
        for (int z = 0; z < Z; z++) {
            dm[z] += scale * m[z];
            dlv[z] += scale * 0.5f * (expf(lv[z]) - 1.0f);
        }
    }
}

void vae__reparam_forward(float *z, const float *mu, const float *logvar, const float *eps, int B, int Z, int stride,
                     int zstride) {
    for (int b = 0; b < B; b++) {
        const float *m = mu + (size_t)b * stride, *lv = logvar + (size_t)b * stride, *e = eps + (size_t)b * Z;
        float *zz = z + (size_t)b * zstride;
        for (int j = 0; j < Z; j++) zz[j] = m[j] + expf(0.5f * lv[j]) * e[j];
    }
}

void vae__reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *logvar, const float *eps, int B,
                      int Z, int stride, int zstride) {
    for (int b = 0; b < B; b++) {
        const float *lv = logvar + (size_t)b * stride, *e = eps + (size_t)b * Z, *g = dz + (size_t)b * zstride;
        float *dm = dmu + (size_t)b * stride, *dlv = dlogvar + (size_t)b * stride;
        for (int j = 0; j < Z; j++) {
            dm[j] = g[j];
            dlv[j] = g[j] * e[j] * 0.5f * expf(0.5f * lv[j]);
        }
    }
}

void vae__clamp_forward(float *x, int B, int Z, int stride, float lo, float hi) {
    for (int b = 0; b < B; b++) {
        float *r = x + (size_t)b * stride;
        for (int j = 0; j < Z; j++) r[j] = r[j] < lo ? lo : (r[j] > hi ? hi : r[j]); // NaN passes through
    }
}

void vae__clamp_backward(float *dx, const float *x, int B, int Z, int stride, float lo, float hi) {
    // x is the clamped output: a value sitting on a bound had its gradient cut by the clamp
    for (int b = 0; b < B; b++) {
        const float *r = x + (size_t)b * stride;
        float *d = dx + (size_t)b * stride;
        for (int j = 0; j < Z; j++)
            if (r[j] <= lo || r[j] >= hi) d[j] = 0.0f;
    }
}

void vae__dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, vae_rng *rng) {
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = vae_rng_uniform(rng) >= (double)p ? keep : 0.0f;
        out[i] = inp[i] * mask[i];
    }
}

void vae__dropout_backward(float *dx, const float *mask, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] *= mask[i];
}
