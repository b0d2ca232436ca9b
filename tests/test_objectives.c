/* test_objectives.c: the gradients of the objectives added for issue 17, against central finite differences
 * (tests/gradcheck.h): the ELBO with free bits (src/freebits.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "gradcheck.h"
#include "model.h"
#include "objective.h"
#include "test.h"

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
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 5, cfg.hidden[0] = 7, cfg.n_latent = 6, cfg.activation = VAE_TANH;
    vae_model *m;
    CHECK(vae_create(&m, &cfg, 8, &rng) == VAE_OK, "create");
    enum { N = 5 };
    float x[N * 15];
    fill(x, sizeof x / sizeof x[0], 0, 1);
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
    cfg.ae = 1;
    CHECK(vae_create(&m, &cfg, 8, &rng) == VAE_OK, "create ae");
    o.free_bits = 0.5f;
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, &l) == VAE_ERR_ARG, "free bits for an autoencoder refused");
    vae_free(m);
}

int main(void) {
    vae_rng_seed(&rng, 1717);
    test_free_bits();
    TEST_MAIN_END();
}
