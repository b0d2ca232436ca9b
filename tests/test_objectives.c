/* test_objectives.c: the gradients of the objectives added for issue 17, against central finite differences
 * (tests/gradcheck.h): the ELBO with free bits (src/freebits.c) and the beta-TC-VAE objective (src/tcvae.c),
 * the latter also against its loss written out the slow, obvious way; and what vae_step_apply does around Adam
 * (gradient clipping by global norm, decoupled weight decay). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "gradcheck.h"
#include "model.h"
#include "objective.h"
#include "test.h"

/* A tanh VAE of h x w images, one hidden layer, latent Z, for up to 8 images; x (n, h*w) filled in [0, 1]. */
static vae_model *tiny_model(int h, int w, int hidden, int Z, float *x, int n) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = h, cfg.width = w, cfg.hidden[0] = hidden, cfg.n_latent = Z, cfg.activation = VAE_TANH;
    vae_model *m = NULL;
    CHECK(vae_create(&m, &cfg, 8, &rng) == VAE_OK, "create: %s", vae_last_error());
    fill(x, (size_t)n * h * w, 0, 1);
    return m;
}

/* An autoencoder's refusal of an option that needs a KL term (x: n images of h x w). */
static void check_ae_refuses(const char *what, const vae_train_opts *o, const float *x, int n, int h, int w) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = h, cfg.width = w, cfg.hidden[0] = 4, cfg.n_latent = 2, cfg.ae = 1;
    vae_model *m;
    CHECK(vae_create(&m, &cfg, 8, &rng) == VAE_OK, "create ae");
    vae_rng r;
    vae_rng_seed(&r, 1);
    vae_losses l;
    CHECK(vae_step_grad(m, x, NULL, n, o, &r, &l) == VAE_ERR_ARG, "%s for an autoencoder refused", what);
    vae_free(m);
}

/* ---------------------------------------------------------------- free bits */

typedef struct {
    vae_model *m;
    float *x;
    int n;
    float kl_weight, lambda;
    uint64_t seed;
} fb_ctx;

/* the batch's mean reconstruction + kl_weight * sum_d max(lambda, mean_b KL_bd), eps fixed by seed */
static double fb_loss(void *p) {
    fb_ctx *c = p;
    vae_rng r;
    vae_rng_seed(&r, c->seed);
    vae_forward(c->m, c->x, NULL, c->n, &r);
    int Z = c->m->Z;
    const float *head = c->m->head;
    double L = 0.0;
    for (int b = 0; b < c->n; b++) L += c->m->recon[b];
    L /= c->n;
    for (int d = 0; d < Z; d++) {
        double kl = 0.0;
        for (int b = 0; b < c->n; b++) {
            double mu = head[(size_t)b * 2 * Z + d], lv = head[(size_t)b * 2 * Z + Z + d];
            kl += 0.5 * (mu * mu + exp(lv) - lv - 1.0);
        }
        kl /= c->n;
        L += c->kl_weight * (kl > c->lambda ? kl : c->lambda);
    }
    return L;
}

static void test_free_bits(void) {
    enum { N = 5 };
    float x[N * 15];
    vae_model *m = tiny_model(3, 5, 7, 6, x, N);
    fb_ctx c = {m, x, N, 0.8f, 0.0f, 17};
    // the floor half way across the widest gap between the dimensions' KLs: some above, some below, none near it
    fb_loss(&c);
    const float *head = m->head;
    double kl[6];
    for (int d = 0; d < 6; d++) {
        kl[d] = 0;
        for (int b = 0; b < N; b++) {
            double mu = head[b * 12 + d], lv = head[b * 12 + 6 + d];
            kl[d] += 0.5 * (mu * mu + exp(lv) - lv - 1.0) / N;
        }
    }
    double sorted[6];
    memcpy(sorted, kl, sizeof kl);
    for (int i = 1; i < 6; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    int gap = 0;
    for (int i = 1; i < 5; i++) gap = sorted[i + 1] - sorted[i] > sorted[gap + 1] - sorted[gap] ? i : gap;
    c.lambda = (float)(0.5 * (sorted[gap] + sorted[gap + 1]));
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.kl_weight = c.kl_weight;
    o.free_bits = c.lambda;
    vae_rng r;
    vae_rng_seed(&r, c.seed);
    vae_losses l;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_OK, "step_grad: %s", vae_last_error());
    CHECK_CLOSE(l.loss, fb_loss(&c), 1e-4 * fabs(l.loss));
    grad_h = 1e-3;
    check_grad("free bits: all parameters", fb_loss, &c, m->params, m->grads, m->n_params, 1e-2);
    int head_w = vae_tensor_index(m, "enc.head.weight");
    check_grad("free bits: enc.head.weight", fb_loss, &c, m->params + m->tensors[head_w].offset,
               m->grads + m->tensors[head_w].offset, m->tensors[head_w].numel, 1e-2);
    // a floor above every dimension's KL: the KL term is constant, so the encoder's head gets the
    // reconstruction's gradient alone, which equals the ELBO's gradient at kl_weight 0
    o.free_bits = (float)(sorted[5] + 1.0);
    vae_rng_seed(&r, c.seed);
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_OK, "step_grad");
    CHECK_CLOSE(l.loss, l.recon + c.kl_weight * 6 * o.free_bits, 1e-4 * l.loss);
    float *g1 = vae_malloc(m->n_params * sizeof(float));
    memcpy(g1, m->grads, m->n_params * sizeof(float));
    o.free_bits = 0, o.kl_weight = 0;
    vae_rng_seed(&r, c.seed);
    vae_step_grad(m, x, NULL, N, &o, &r, &l);
    CHECK(max_abs_diff(g1, m->grads, m->n_params) == 0.0f, "floor above all: the reconstruction's gradient alone");
    vae_mem_free(g1);
    // refusals: with the importance-weighted bound, for an autoencoder, a negative floor
    o.free_bits = 0.5f, o.iwae_k = 2, o.kl_weight = 1;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_ERR_ARG, "free bits with iwae_k refused");
    o.iwae_k = 0, o.free_bits = -1;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_ERR_ARG, "negative free bits refused");
    vae_free(m);
    o.free_bits = 0.5f;
    check_ae_refuses("free bits", &o, x, N, 3, 5);
}

/* ---------------------------------------------------------------- beta-TC-VAE */

typedef struct {
    vae_model *m;
    float *x;
    int n;
    float kl_weight, tc_beta;
    long long N;
    uint64_t seed;
} tc_ctx;

static double lse(const double *v, int n) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) mx = v[i] > mx ? v[i] : mx;
    for (int i = 0; i < n; i++) s += exp(v[i] - mx);
    return mx + log(s);
}

/* mean_i recon_i + w (KL_i + (B - 1) TC_i), TC_i = log q(z_i) - sum_d log q(z_id) with the weights 1 / (N n) */
static double tc_loss(void *p) {
    tc_ctx *c = p;
    vae_rng r;
    vae_rng_seed(&r, c->seed);
    vae_forward(c->m, c->x, NULL, c->n, &r); // draws eps as the training step does, z = mu + sigma eps
    int Z = c->m->Z, n = c->n;
    const float *h = c->m->head, *e = c->m->eps;
    double L = 0, lw = -log((double)c->N * n), joint[16], marg[16];
    for (int i = 0; i < n; i++) {
        L += c->m->recon[i] + c->kl_weight * c->m->kl[i];
        double zi[8], lprod = 0;
        for (int d = 0; d < Z; d++) zi[d] = h[i * 2 * Z + d] + exp(0.5 * h[i * 2 * Z + Z + d]) * e[i * Z + d];
        for (int j = 0; j < n; j++) {
            joint[j] = lw;
            for (int d = 0; d < Z; d++) {
                double mu = h[j * 2 * Z + d], lv = h[j * 2 * Z + Z + d];
                joint[j] += -0.5 * (1.8378770664093453 + lv + (zi[d] - mu) * (zi[d] - mu) * exp(-lv));
            }
        }
        for (int d = 0; d < Z; d++) {
            for (int j = 0; j < n; j++) {
                double mu = h[j * 2 * Z + d], lv = h[j * 2 * Z + Z + d];
                marg[j] = lw - 0.5 * (1.8378770664093453 + lv + (zi[d] - mu) * (zi[d] - mu) * exp(-lv));
            }
            lprod += lse(marg, n);
        }
        L += c->kl_weight * (c->tc_beta - 1.0) * (lse(joint, n) - lprod);
    }
    return L / n;
}

static void test_tcvae(void) {
    enum { N = 7 };
    float x[N * 12];
    vae_model *m = tiny_model(4, 3, 6, 4, x, N);
    tc_ctx c = {m, x, N, 0.9f, 6.0f, 1000, 23};
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.kl_weight = c.kl_weight;
    o.tc_beta = c.tc_beta;
    o.dataset_size = (int)c.N;
    vae_rng r;
    vae_rng_seed(&r, c.seed);
    vae_losses l;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_OK, "step_grad: %s", vae_last_error());
    CHECK_CLOSE(l.loss, tc_loss(&c), 1e-4 * fabs(l.loss));
    grad_h = 1e-2;
    check_grad("beta-TC: all parameters", tc_loss, &c, m->params, m->grads, m->n_params, 1e-2);
    for (int t = 0; t < m->n_tensors; t++) {
        char name[64];
        snprintf(name, sizeof name, "beta-TC: %s", m->tensors[t].name);
        check_grad(name, tc_loss, &c, m->params + m->tensors[t].offset, m->grads + m->tensors[t].offset,
                   m->tensors[t].numel, 1e-2);
    }
    // tc_beta 1 is the ELBO: the same loss and gradient as the ELBO's objective
    float *g = vae_malloc(m->n_params * sizeof(float));
    o.tc_beta = 1.0f;
    vae_rng_seed(&r, c.seed);
    vae_losses l1, l0;
    vae_step_grad(m, x, NULL, N, &o, &r, &l1);
    memcpy(g, m->grads, m->n_params * sizeof(float));
    o.tc_beta = 0.0f;
    vae_rng_seed(&r, c.seed);
    vae_step_grad(m, x, NULL, N, &o, &r, &l0);
    CHECK_CLOSE(l1.loss, l0.loss, 1e-6 * fabs(l0.loss));
    CHECK(max_abs_diff(g, m->grads, m->n_params) < 1e-6f, "tc_beta 1: the ELBO's gradient");
    // a batch of one image: its total correlation is a constant, the gradient the ELBO's
    o.tc_beta = 0.0f;
    vae_rng_seed(&r, c.seed);
    vae_step_grad(m, x, NULL, 1, &o, &r, &l0);
    memcpy(g, m->grads, m->n_params * sizeof(float));
    o.tc_beta = 6.0f;
    vae_rng_seed(&r, c.seed);
    CHECK(vae_step_grad(m, x, NULL, 1, &o, &r, &l) == VAE_OK, "a batch of one");
    CHECK(max_abs_diff(g, m->grads, m->n_params) < 1e-6f, "a batch of one: the ELBO's gradient");
    // refusals: with iwae_k or free bits, an autoencoder
    o.iwae_k = 2;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_ERR_ARG, "with iwae_k refused");
    o.iwae_k = 0, o.free_bits = 0.5f;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_ERR_ARG, "with free bits refused");
    vae_mem_free(g);
    vae_free(m);
    o.free_bits = 0;
    check_ae_refuses("beta-TC", &o, x, N, 4, 3);
}

/* ---------------------------------------------------------------- clipping and weight decay */

static void test_clip_and_decay(void) {
    enum { N = 4 };
    float x[N * 15];
    vae_model *a = tiny_model(3, 5, 7, 2, x, N);
    size_t n = a->n_params;
    vae_train_opts o;
    vae_train_opts_default(&o);
    // clipping: a gradient of norm 5 * sqrt(n) scaled to norm 2, direction kept; one below the bound untouched
    float *g, *before = vae_malloc(n * sizeof(float));
    size_t len;
    vae_grad_buffer(a, &g, &len);
    for (size_t i = 0; i < n; i++) g[i] = i % 2 ? 5.0f : -5.0f;
    o.clip_grad = 2.0f;
    CHECK(vae_step_apply(a, &o) == VAE_OK, "apply: %s", vae_last_error());
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    CHECK_CLOSE(sqrt(ss), 2.0, 1e-5);
    CHECK(g[0] < 0 && g[1] > 0 && fabsf(g[0] + g[1]) < 1e-7f, "clipping keeps the direction");
    memcpy(before, g, n * sizeof(float));
    o.clip_grad = 3.0f;
    CHECK(vae_step_apply(a, &o) == VAE_OK, "apply");
    CHECK(max_abs_diff(before, g, n) == 0.0f, "a gradient below the bound is untouched");
    // decoupled decay: parameters times 1 - lr w, then the same Adam step as without decay
    vae_model *b = tiny_model(3, 5, 7, 2, x, N);
    memcpy(b->params, a->params, n * sizeof(float));
    memcpy(b->adam_m, a->adam_m, n * sizeof(float));
    memcpy(b->adam_v, a->adam_v, n * sizeof(float));
    b->step = a->step;
    for (size_t i = 0; i < n; i++) a->grads[i] = b->grads[i] = 0.01f * (float)((int)(i % 7) - 3);
    o.clip_grad = 0, o.lr = 0.1f, o.weight_decay = 0.5f;
    CHECK(vae_step_apply(a, &o) == VAE_OK, "apply with decay");
    for (size_t i = 0; i < n; i++) b->params[i] *= 1.0f - 0.1f * 0.5f;
    o.weight_decay = 0;
    CHECK(vae_step_apply(b, &o) == VAE_OK, "apply without decay");
    CHECK(max_abs_diff(a->params, b->params, n) == 0.0f, "decay = scaling before Adam");
    o.weight_decay = 20.0f; // lr w >= 1 would flip or zero every parameter
    CHECK(vae_step_apply(a, &o) == VAE_ERR_ARG, "weight decay of 1 / lr or more refused");
    o.weight_decay = 0, o.clip_grad = -1;
    CHECK(vae_step_apply(a, &o) == VAE_ERR_ARG, "negative clip refused");
    vae_mem_free(before);
    vae_free(a);
    vae_free(b);
}

int main(void) {
    vae_rng_seed(&rng, 1717);
    test_free_bits();
    test_tcvae();
    test_clip_and_decay();
    TEST_MAIN_END();
}
