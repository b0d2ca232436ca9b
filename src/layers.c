/* layers.c: activations, losses, KL and reparameterization; forward and backward side by side.
 * See layers.h for the conventions (saved outputs, accumulate vs overwrite, per-image sums). */
#include "layers.h"

#include <math.h>

#define LOG_2PI 1.8378770664093453

void relu_forward(float *y, size_t N) {
    #pragma omp parallel for schedule(static) if (N > 65536)
    for (size_t i = 0; i < N; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

void relu_backward(float *dx, const float *y, size_t N) {
    #pragma omp parallel for schedule(static) if (N > 65536)
    for (size_t i = 0; i < N; i++) dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
}

void tanh_forward(float *y, size_t N) {
    #pragma omp parallel for schedule(static) if (N > 16384)
    for (size_t i = 0; i < N; i++) y[i] = tanhf(y[i]);
}

void tanh_backward(float *dx, const float *y, size_t N) {
    #pragma omp parallel for schedule(static) if (N > 65536)
    for (size_t i = 0; i < N; i++) dx[i] *= 1.0f - y[i] * y[i];
}

void sigmoid_forward(float *y, size_t N) {
    for (size_t i = 0; i < N; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
}

void bernoulli_nll_forward(float *nll, const float *logits, const float *x, int B, int D) {
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *a = logits + (size_t)b * D, *t = x + (size_t)b * D;
        float acc = 0.0f;
        for (int d = 0; d < D; d++) {
            // stable form of -[x log sigmoid(a) + (1-x) log(1 - sigmoid(a))]
            acc += fmaxf(a[d], 0.0f) - a[d] * t[d] + log1pf(expf(-fabsf(a[d])));
        }
        nll[b] = acc;
    }
}

void bernoulli_nll_backward(float *dlogits, const float *logits, const float *x, int B, int D, float scale) {
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *a = logits + (size_t)b * D, *t = x + (size_t)b * D;
        float *da = dlogits + (size_t)b * D;
        for (int d = 0; d < D; d++) da[d] = scale * (1.0f / (1.0f + expf(-a[d])) - t[d]);
    }
}

void gaussian_nll_forward(float *nll, const float *mean, const float *x, float logvar, int B, int D) {
    float inv_var = expf(-logvar);
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *a = mean + (size_t)b * D, *t = x + (size_t)b * D;
        float sq = 0.0f;
        for (int d = 0; d < D; d++) sq += (t[d] - a[d]) * (t[d] - a[d]);
        nll[b] = 0.5f * (sq * inv_var + (float)D * (logvar + (float)LOG_2PI));
    }
}

void gaussian_nll_backward(float *dmean, float *dlogvar, const float *mean, const float *x, float logvar, int B,
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

void kl_forward(float *kl, const float *mu, const float *logvar, int B, int Z, int stride) {
    for (int b = 0; b < B; b++) {
        const float *m = mu + (size_t)b * stride, *lv = logvar + (size_t)b * stride;
        float acc = 0.0f;
        for (int z = 0; z < Z; z++) acc += m[z] * m[z] + expf(lv[z]) - lv[z] - 1.0f;
        kl[b] = 0.5f * acc;
    }
}

void kl_backward(float *dmu, float *dlogvar, const float *mu, const float *logvar, int B, int Z, int stride,
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

void reparam_forward(float *z, const float *mu, const float *logvar, const float *eps, int B, int Z, int stride,
                     int zstride) {
    for (int b = 0; b < B; b++) {
        const float *m = mu + (size_t)b * stride, *lv = logvar + (size_t)b * stride, *e = eps + (size_t)b * Z;
        float *zz = z + (size_t)b * zstride;
        for (int j = 0; j < Z; j++) zz[j] = m[j] + expf(0.5f * lv[j]) * e[j];
    }
}

void reparam_backward(float *dmu, float *dlogvar, const float *dz, const float *logvar, const float *eps, int B,
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

void clamp_forward(float *x, int B, int Z, int stride, float lo, float hi) {
    for (int b = 0; b < B; b++) {
        float *r = x + (size_t)b * stride;
        for (int j = 0; j < Z; j++) r[j] = r[j] < lo ? lo : (r[j] > hi ? hi : r[j]); // NaN passes through
    }
}

void clamp_backward(float *dx, const float *x, int B, int Z, int stride, float lo, float hi) {
    // x is the clamped output: a value sitting on a bound had its gradient cut by the clamp
    for (int b = 0; b < B; b++) {
        const float *r = x + (size_t)b * stride;
        float *d = dx + (size_t)b * stride;
        for (int j = 0; j < Z; j++)
            if (r[j] <= lo || r[j] >= hi) d[j] = 0.0f;
    }
}
