/* gradcheck.h: what the gradient-checking tests share: one seeded generator `rng`, random fills, the
 * largest difference of two arrays, and check_grad, which compares an analytic gradient with central
 * finite differences (the approach of kann's kad_check_grad). Include after test.h. */
#ifndef VAE_GRADCHECK_H
#define VAE_GRADCHECK_H

#include <math.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "test.h"

static vae_rng rng;

static inline void fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)vae_rng_uniform(&rng);
}

static inline float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* ---------------------------------------------------------------- gradient checking */

typedef double (*scalar_fn)(void *ctx);

/* Finite-difference step: 1e-2 suits smooth functions in float; ReLU networks use a smaller one so the
 * step crosses fewer kinks. */
static double grad_h = 1e-2;

/* Compare the analytic gradient g of f with respect to x (n values) with central differences:
 * along a random direction (checks everything at once, as kann's kad_check_grad does) and at the three
 * coordinates of largest gradient (catches a gradient that lands in the wrong place). f is computed in
 * float, so each comparison allows for its rounding noise, about 1e-6 |f| / h, besides the relative tol. */
static inline void check_grad(const char *what, scalar_fn f, void *ctx, float *x, const float *g, size_t n, double tol) {
    const double h = grad_h;
    float *u = vae_malloc(n * sizeof(float)), *x0 = vae_malloc(n * sizeof(float));
    memcpy(x0, x, n * sizeof(float));
    double analytic = 0.0, f0 = fabs(f(ctx));
    double noise = 1e-6 * fmax(f0, 1.0) / h;
    for (size_t i = 0; i < n; i++) {
        u[i] = vae_rng_normal(&rng);
        analytic += (double)g[i] * u[i];
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * u[i]);
    double fp = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] - h * u[i]);
    double fm = f(ctx);
    memcpy(x, x0, n * sizeof(float));
    double numeric = (fp - fm) / (2 * h);
    double err = fabs(numeric - analytic);
    CHECK(err < tol * fmax(fabs(numeric), fabs(analytic)) + sqrt((double)n) * noise,
          "%s: directional derivative analytic %.6g numeric %.6g (rel err %.2g)", what, analytic, numeric,
          err / fmax(fabs(numeric), 1e-12));
    size_t top[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (fabsf(g[i]) > fabsf(g[top[0]])) top[2] = top[1], top[1] = top[0], top[0] = i;
        else if (fabsf(g[i]) > fabsf(g[top[1]])) top[2] = top[1], top[1] = i;
        else if (fabsf(g[i]) > fabsf(g[top[2]])) top[2] = i;
    }
    for (int k = 0; k < 3 && k < (int)n; k++) {
        size_t i = top[k];
        x[i] = (float)(x0[i] + h);
        fp = f(ctx);
        x[i] = (float)(x0[i] - h);
        fm = f(ctx);
        x[i] = x0[i];
        numeric = (fp - fm) / (2 * h);
        err = fabs(numeric - g[i]);
        CHECK(err < tol * fabs(numeric) + noise, "%s[%zu]: analytic %.6g numeric %.6g", what, i, (double)g[i], numeric);
    }
    vae_mem_free(u);
    vae_mem_free(x0);
}

/* The whole model's training objective (vae_step_grad's loss: recon + kl_weight * KL, the autoencoder's
 * reconstruction, dropout active) with the same eps and dropout masks on every call (seeded by seed): the
 * function check_grad differentiates for a model. It leaves its gradient in m->grads. */
typedef struct {
    vae_model *m;
    float *x;
    int *labels;
    int n;
    float kl_weight;
    uint64_t seed;
} model_ctx;

static inline double model_loss(void *p) {
    model_ctx *c = p;
    vae_rng r;
    vae_rng_seed(&r, c->seed); // the same eps and masks every call
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.kl_weight = c->kl_weight;
    vae_losses l = {NAN, NAN, NAN};
    vae_step_grad(c->m, c->x, c->labels, c->n, &o, &r, &l);
    return l.loss;
}

/* The whole model's gradient on 5 random inputs (labels 0,1,2,1,0 for conditional models), KL weight 0.7, as
 * vae_step_grad leaves it (the ELBO, or the reconstruction for an autoencoder): along a random direction over
 * all parameters, then tensor by tensor. */
static inline void check_model(const char *what, const vae_config *cfg) {
    vae_model *m;
    vae_status st = vae_create(&m, cfg, 6, &rng);
    CHECK(st == VAE_OK, "%s: create: %s", what, vae_last_error());
    if (st) return;
    int n = 5, D = m->D;
    float *x = vae_malloc((size_t)n * D * sizeof(float));
    int labels[5] = {0, 1, 2, 1, 0};
    if (cfg->likelihood == VAE_GAUSSIAN) fill(x, (size_t)n * D, -1, 1);
    else fill(x, (size_t)n * D, 0, 1);
    model_ctx c = {m, x, cfg->n_classes ? labels : NULL, n, 0.7f, 42};
    // the training step's gradient (vae_step_grad, the objective the configuration trains) with the same eps
    CHECK(isfinite(model_loss(&c)), "%s: step_grad: %s", what, vae_last_error());
    float *g = vae_malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float)); // each later evaluation overwrites m->grads
    char name[96];
    snprintf(name, sizeof name, "%s: all parameters", what);
    check_grad(name, model_loss, &c, m->params, g, m->n_params, 1e-2);
    for (int t = 0; t < m->n_tensors; t++) {
        snprintf(name, sizeof name, "%s: %s", what, m->tensors[t].name);
        check_grad(name, model_loss, &c, m->params + m->tensors[t].offset, g + m->tensors[t].offset,
                   m->tensors[t].numel, 1e-2);
    }
    vae_mem_free(g);
    vae_mem_free(x);
    vae_free(m);
}

#endif /* VAE_GRADCHECK_H */
