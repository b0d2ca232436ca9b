/* test_iwae_train.c: the importance-weighted training objective (iwae.c through vae_step_grad with opts.iwae_k, vae train --iwae-k):
 * its value against a double-precision reference with the same eps, k = 1 against the ELBO (exactly for the
 * same eps with the one-sample KL; in expectation against the closed-form KL, value and gradient), its
 * gradient against central finite differences on tiny MLP and conv configurations (k = 1 and 3, both
 * likelihoods, conditional, KL weight below 1), the dispatch from vae_train_step and the trainer, bad calls,
 * the NaN guard, and a few hundred steps on real MNIST digits lowering the k = 5 bound. Needs data/mnist for
 * the last part (make test fetches it). */
#include <math.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "iwae.h"
#include "model.h"
#include "ops.h"
#include "test.h"
#include "gradcheck.h"
#include "train.h"

/* ---------------------------------------------------------------- the objective with fixed eps */

typedef struct {
    vae_model *m;
    const float *x;
    const int *labels;
    int n, k;
    float kl_weight;
    uint64_t seed;
} iwae_ctx;

/* The importance-weighted objective with k samples per image: vae_step_grad with opts.iwae_k = k (loss parts
 * into *l, the gradient into m->grads, the parameters untouched). */
static vae_status iwae_step(vae_model *m, const float *x, const int *labels, int n, int k, vae_train_opts o,
                            vae_rng *r, vae_losses *l) {
    o.iwae_k = k;
    return vae_step_grad(m, x, labels, n, &o, r, l);
}

/* The objective at the current parameters, with the same eps every call (the gradient stays in m->grads). */
static double iwae_loss(void *p) {
    iwae_ctx *c = p;
    vae_rng r;
    vae_rng_seed(&r, c->seed);
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.lr = 0.0f;
    o.kl_weight = c->kl_weight;
    vae_losses l = {NAN, NAN, NAN};
    vae_status st = iwae_step(c->m, c->x, c->labels, c->n, c->k, o, &r, &l);
    if (st) return NAN;
    return l.loss;
}

/* The objective recomputed from scratch in double: the same eps stream (n*k*Z normals in one call, sample s
 * of image i in row i*k+s), vae_encode and vae_decode one sample at a time, the textbook densities. */
static double reference_loss(vae_model *m, const float *x, const int *labels, int n, int k, float kw, uint64_t seed,
                             double *recon_mean, double *kl_mean) {
    int Z = m->Z, D = m->D;
    float *mu = vae_malloc((size_t)n * Z * sizeof(float)), *lv = vae_malloc((size_t)n * Z * sizeof(float));
    float *eps = vae_malloc((size_t)n * k * Z * sizeof(float)), *z = vae_malloc((size_t)Z * sizeof(float));
    float *out = vae_malloc((size_t)D * sizeof(float));
    double *lw = vae_malloc((size_t)k * sizeof(double));
    vae_rng r;
    vae_rng_seed(&r, seed);
    vae_rng_normals(&r, eps, (size_t)n * k * Z);
    vae_encode(m, x, labels, n, mu, lv);
    double loss = 0, recon = 0, kl = 0;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * D;
        double mx = -INFINITY;
        for (int s = 0; s < k; s++) {
            const float *e = eps + ((size_t)i * k + s) * Z;
            double lq = 0, lp = 0;
            for (int j = 0; j < Z; j++) {
                size_t ij = (size_t)i * Z + j;
                z[j] = mu[ij] + expf(0.5f * lv[ij]) * e[j]; // as the model computes z
                lq += -0.5 * ((double)e[j] * e[j] + lv[ij] + log(2 * M_PI));
                lp += -0.5 * ((double)z[j] * z[j] + log(2 * M_PI));
            }
            vae_decode(m, z, labels ? labels + i : NULL, 1, out);
            double lpx = 0;
            for (int d = 0; d < D; d++) {
                if (m->cfg.likelihood == VAE_GAUSSIAN) {
                    double s2 = exp(m->params[m->tensors[m->logvar_tensor].offset]), df = xi[d] - out[d];
                    lpx += -0.5 * (df * df / s2 + log(2 * M_PI * s2));
                } else {
                    lpx += xi[d] * log(out[d]) + (1 - xi[d]) * log(1 - out[d]);
                }
            }
            recon += -lpx;
            kl += lq - lp;
            lw[s] = lpx + kw * (lp - lq);
            if (lw[s] > mx) mx = lw[s];
        }
        double sum = 0;
        for (int s = 0; s < k; s++) sum += exp(lw[s] - mx);
        loss += -(mx + log(sum / k));
    }
    if (recon_mean) *recon_mean = recon / ((double)n * k);
    if (kl_mean) *kl_mean = kl / ((double)n * k);
    vae_mem_free(mu), vae_mem_free(lv), vae_mem_free(eps), vae_mem_free(z), vae_mem_free(out), vae_mem_free(lw);
    return loss / n;
}

static vae_model *create(const vae_config *cfg, int max_batch) {
    vae_model *m = NULL;
    vae_status st = vae_create(&m, cfg, max_batch, &rng);
    CHECK(st == VAE_OK, "create: %s", vae_last_error());
    return m;
}

/* Gradient of the objective on n = 3 images against finite differences, for all parameters at once and per
 * tensor; and its value against the reference. */
static void check_objective(const char *what, const vae_config *cfg, int k, float kw) {
    int n = 3;
    vae_model *m = create(cfg, n * k);
    if (!m) return;
    int D = m->D;
    float *x = vae_malloc((size_t)n * D * sizeof(float));
    int labels[3] = {2, 0, 1};
    if (cfg->likelihood == VAE_GAUSSIAN) fill(x, (size_t)n * D, -1, 1);
    else fill(x, (size_t)n * D, 0, 1);
    iwae_ctx c = {m, x, cfg->n_classes ? labels : NULL, n, k, kw, 4242};
    char name[128];
    double L = iwae_loss(&c), ref_recon, ref_kl;
    double ref = reference_loss(m, x, c.labels, n, k, kw, c.seed, &ref_recon, &ref_kl);
    snprintf(name, sizeof name, "%s k=%d kl_weight %g: loss %.9g vs reference %.9g", what, k, kw, L, ref);
    CHECK(fabs(L - ref) < 1e-4 * fabs(ref) + 1e-4, "%s", name);
    float *g = vae_malloc(m->n_params * sizeof(float));
    iwae_loss(&c);
    memcpy(g, m->grads, m->n_params * sizeof(float)); // each later evaluation overwrites m->grads
    snprintf(name, sizeof name, "%s k=%d kl_weight %g: all parameters", what, k, kw);
    check_grad(name, iwae_loss, &c, m->params, g, m->n_params, 1e-2);
    for (int t = 0; t < m->n_tensors; t++) {
        snprintf(name, sizeof name, "%s k=%d kl_weight %g: %s", what, k, kw, m->tensors[t].name);
        check_grad(name, iwae_loss, &c, m->params + m->tensors[t].offset, g + m->tensors[t].offset,
                   m->tensors[t].numel, 1e-2);
    }
    vae_mem_free(g);
    vae_mem_free(x);
    vae_free(m);
}

static vae_config tiny_mlp(void) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 5, cfg.n_hidden = 1, cfg.hidden[0] = 6, cfg.n_latent = 3;
    cfg.activation = VAE_TANH; // smooth, so finite differences are exact enough everywhere
    return cfg;
}

static void test_gradients(void) {
    vae_config cfg = tiny_mlp();
    for (int k = 1; k <= 3; k += 2) {
        check_objective("bernoulli tanh", &cfg, k, 1.0f);
        cfg.likelihood = VAE_GAUSSIAN, cfg.n_hidden = 2, cfg.hidden[0] = 7, cfg.hidden[1] = 4;
        check_objective("gaussian tanh 2 hidden", &cfg, k, 1.0f);
        cfg = tiny_mlp();
        cfg.n_classes = 3;
        check_objective("conditional", &cfg, k, 0.7f);
        cfg = tiny_mlp();
    }
    cfg.n_hidden = 0;
    check_objective("no hidden layer", &cfg, 4, 1.0f);
    cfg = tiny_mlp();
    cfg.activation = VAE_RELU, cfg.hidden[0] = 8;
    grad_h = 2e-3; // smaller steps cross fewer of relu's kinks
    check_objective("bernoulli relu", &cfg, 3, 1.0f);
    grad_h = 1e-2;
    // conv: 6x4x2 images, one 3x3 stride-2 layer of 3 channels, conditional, Gaussian
    vae_config conv;
    vae_config_default(&conv);
    conv.height = 6, conv.width = 4, conv.channels = 2, conv.arch = VAE_CONV, conv.n_conv = 1;
    conv.conv_channels[0] = 3, conv.n_hidden = 0, conv.n_latent = 2, conv.activation = VAE_TANH;
    check_objective("conv", &conv, 3, 1.0f);
    conv.likelihood = VAE_GAUSSIAN, conv.n_classes = 3;
    check_objective("conv gaussian conditional", &conv, 2, 0.7f);
}

/* ---------------------------------------------------------------- k = 1 and the ELBO */

static void test_k1_is_elbo(void) {
    for (int lik = 0; lik < 2; lik++) {
        vae_config cfg = tiny_mlp();
        cfg.likelihood = lik ? VAE_GAUSSIAN : VAE_BERNOULLI;
        int n = 4, Z = cfg.n_latent;
        vae_model *m = create(&cfg, n);
        if (!m) return;
        float x[4 * 15];
        if (lik) fill(x, 60, -1, 1);
        else fill(x, 60, 0, 1);
        // the same seed gives vae_forward and the k = 1 step the same eps (n*Z normals in one call)
        vae_rng r;
        vae_rng_seed(&r, 77);
        vae_forward(m, x, NULL, n, &r);
        double expect = 0, recon = 0, klsample = 0;
        for (int b = 0; b < n; b++) {
            double lq = 0, lp = 0;
            const float *lv = m->head + (size_t)b * 2 * Z + Z;
            for (int j = 0; j < Z; j++) {
                double e = m->eps[(size_t)b * Z + j], z = m->z[(size_t)b * Z + j];
                lq += -0.5 * (e * e + lv[j] + log(2 * M_PI));
                lp += -0.5 * (z * z + log(2 * M_PI));
            }
            expect += m->recon[b] + (lq - lp);
            recon += m->recon[b];
            klsample += lq - lp;
        }
        expect /= n, recon /= n, klsample /= n;
        vae_train_opts o;
        vae_train_opts_default(&o);
        o.lr = 0.0f;
        vae_losses l;
        vae_rng_seed(&r, 77);
        CHECK(iwae_step(m, x, NULL, n, 1, o, &r, &l) == VAE_OK, "k=1 step: %s", vae_last_error());
        CHECK_CLOSE(l.loss, expect, 1e-5 * fabs(expect));
        CHECK_CLOSE(l.recon, recon, 1e-5 * fabs(recon));
        CHECK_CLOSE(l.kl, klsample, 1e-5 * fmax(fabs(klsample), 1));
        CHECK_CLOSE(l.loss, l.recon + l.kl, 1e-9 * fabs(l.loss) + 1e-9);

        // in expectation over eps: the one-sample KL matches the closed form, in value and in gradient
        // (the decoder's terms are the same for the same eps, so the difference is the KL's alone)
        size_t P = m->n_params;
        float *g_elbo = vae_malloc(P * sizeof(float)), *u = vae_malloc(P * sizeof(float));
        for (size_t i = 0; i < P; i++) u[i] = vae_rng_normal(&rng);
        int reps = 3000;
        double dk = 0, dk2 = 0, dg = 0, dg2 = 0;
        for (int t = 0; t < reps; t++) {
            vae_rng_seed(&r, 1000 + (uint64_t)t);
            vae_forward(m, x, NULL, n, &r);
            double kl_closed = 0;
            for (int b = 0; b < n; b++) kl_closed += m->kl[b];
            kl_closed /= n;
            vae_rng_seed(&r, 1000 + (uint64_t)t); // the ELBO's gradient with the same eps
            iwae_step(m, x, NULL, n, 0, o, &r, &l);
            memcpy(g_elbo, m->grads, P * sizeof(float));
            vae_rng_seed(&r, 1000 + (uint64_t)t);
            iwae_step(m, x, NULL, n, 1, o, &r, &l);
            double a = l.kl - kl_closed, gd = 0;
            for (size_t i = 0; i < P; i++) gd += ((double)m->grads[i] - g_elbo[i]) * u[i];
            dk += a, dk2 += a * a, dg += gd, dg2 += gd * gd;
        }
        double mk = dk / reps, sk = sqrt((dk2 / reps - mk * mk) / reps);
        double mg = dg / reps, sg = sqrt((dg2 / reps - mg * mg) / reps);
        CHECK(sk > 0 && fabs(mk) < 4 * sk, "%s: one-sample KL minus closed form: mean %g, standard error %g",
              lik ? "gaussian" : "bernoulli", mk, sk);
        CHECK(sg > 0 && fabs(mg) < 4 * sg, "%s: k=1 gradient minus the ELBO's along a direction: mean %g, standard "
              "error %g", lik ? "gaussian" : "bernoulli", mg, sg);
        vae_mem_free(g_elbo);
        vae_mem_free(u);
        vae_free(m);
    }
}

/* ---------------------------------------------------------------- dispatch, bad calls, NaN guard */

static void test_calls(void) {
    vae_config cfg = tiny_mlp();
    int n = 4, k = 3;
    vae_model *a = create(&cfg, n * k), *b;
    if (!a) return;
    CHECK(vae_model_alloc(&b, &cfg, n * k) == VAE_OK, "alloc");
    memcpy(b->params, a->params, a->n_params * sizeof(float));
    float x[4 * 15];
    fill(x, 60, 0, 1);
    // vae_train_step with opts.iwae_k = k is the IWAE step, and is the two halves of the split step
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.iwae_k = k;
    vae_rng ra, rb;
    vae_rng_seed(&ra, 5), vae_rng_seed(&rb, 5);
    vae_losses la, lb;
    for (int s = 0; s < 3; s++) {
        CHECK(vae_train_step(a, x, NULL, n, &o, &ra, &la) == VAE_OK, "train step: %s", vae_last_error());
        CHECK(iwae_step(b, x, NULL, n, k, o, &rb, &lb) == VAE_OK && vae_step_apply(b, &o) == VAE_OK, "iwae step: %s",
              vae_last_error());
    }
    CHECK(la.loss == lb.loss && memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0,
          "vae_train_step dispatches on iwae_k and is vae_step_grad then vae_step_apply");
    // the bound lies below the mean of its samples' negative ELBOs (Jensen)
    CHECK(la.loss <= la.recon + la.kl + 1e-6, "loss %g above recon + kl %g", la.loss, la.recon + la.kl);
    // bad calls
    CHECK(iwae_step(a, x, NULL, n, 4, o, &ra, NULL) == VAE_ERR_ARG, "n * k above max_batch refused");
    CHECK(strstr(vae_last_error(), "k = 4"), "message names k: %s", vae_last_error());
    CHECK(iwae_step(a, x, NULL, n, -1, o, &ra, NULL) == VAE_ERR_ARG, "k = -1 refused");
    cfg.n_classes = 2;
    vae_model *c = create(&cfg, 6);
    int bad[2] = {0, 2};
    CHECK(iwae_step(c, x, NULL, 2, 3, o, &ra, NULL) == VAE_ERR_ARG, "conditional without labels refused");
    CHECK(iwae_step(c, x, bad, 2, 3, o, &ra, NULL) == VAE_ERR_ARG, "label out of range refused");
    vae_free(c);
    cfg.n_classes = 0, cfg.ae = 1;
    c = create(&cfg, 6);
    CHECK(iwae_step(c, x, NULL, 2, 3, o, &ra, NULL) == VAE_ERR_ARG, "autoencoder refused");
    vae_free(c);
    // the NaN guard: a NaN pixel stops the step with VAE_ERR_NAN naming it, parameters and step untouched.
    // (a ReLU model, whose hidden layer turns NaN into 0, as test_model.c's: NaN logits would reach
    // layers.c's exp_nonpos, whose float-to-int conversion of NaN UBSan reports)
    cfg = tiny_mlp();
    cfg.activation = VAE_RELU;
    vae_free(a);
    a = create(&cfg, n * k);
    float *saved = vae_malloc(a->n_params * sizeof(float));
    memcpy(saved, a->params, a->n_params * sizeof(float));
    long step = a->step;
    x[7] = NAN;
    vae_status st = vae_train_step(a, x, NULL, n, &o, &ra, &la);
    CHECK(st == VAE_ERR_NAN && strstr(vae_last_error(), "step") && strstr(vae_last_error(), "importance"),
          "NaN stops: %d %s", st, vae_last_error());
    CHECK(!isfinite(la.loss), "the reported loss is not finite: %g", la.loss);
    CHECK(memcmp(saved, a->params, a->n_params * sizeof(float)) == 0 && a->step == step,
          "parameters and step untouched after a NaN");
    vae_mem_free(saved);
    vae_free(a);
    vae_free(b);
}

/* ---------------------------------------------------------------- learning on real digits */

static void test_mnist(void) {
    vae_dataset mnist;
    if (vae_dataset_load(&mnist, "data/mnist", "train")) {
        fprintf(stderr, "%s (run scripts/fetch-data)\n", vae_last_error());
        CHECK(0, "data/mnist is needed");
        return;
    }
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.hidden[0] = 64, cfg.n_latent = 8;
    int n = 16, k = 5;
    vae_model *m = create(&cfg, 200);
    float *x = vae_malloc((size_t)n * 784 * sizeof(float));
    vae_dataset_batch(&mnist, NULL, 0, n, x);
    float nll[16];
    vae_rng r;
    double before = 0, after = 0;
    vae_rng_seed(&r, 31);
    vae_iwae_nll(m, x, NULL, n, k, &r, nll);
    for (int i = 0; i < n; i++) before += nll[i] / n;
    vae_train_opts o;
    vae_train_opts_default(&o);
    o.iwae_k = k;
    vae_losses l = {0}, first = {0};
    vae_rng_seed(&r, 3);
    for (int s = 0; s < 300; s++) {
        vae_status st = vae_train_step(m, x, NULL, n, &o, &r, &l);
        if (st) {
            CHECK(0, "step %d: %s", s, vae_last_error());
            break;
        }
        if (s == 0) first = l;
    }
    vae_rng_seed(&r, 31);
    vae_iwae_nll(m, x, NULL, n, k, &r, nll);
    for (int i = 0; i < n; i++) after += nll[i] / n;
    CHECK(first.loss > 400 && l.loss < 0.5 * first.loss, "training objective %g -> %g after 300 steps", first.loss,
          l.loss);
    CHECK(after < 0.5 * before && after < 250, "k=5 bound on the 16 digits %g -> %g after 300 steps", before, after);

    // the trainer passes opts.iwae_k through: an epoch of 400 images in batches of 40 (200 rows)
    vae_trainer t;
    CHECK(vae_trainer_init(&t, m, &mnist, 400, 40, 1, 2) == VAE_OK, "trainer: %s", vae_last_error());
    CHECK(vae_trainer_run_epoch(&t, &o, NULL, NULL, NULL) == VAE_OK, "epoch: %s", vae_last_error());
    double mean = t.loss_sum / vae_trainer_batches(&t);
    CHECK(t.epoch == 1 && isfinite(mean) && mean > 50 && mean < 400, "epoch mean objective %g", mean);
    vae_trainer_free(&t);
    vae_mem_free(x);
    vae_free(m);
    vae_dataset_free(&mnist);
}

int main(void) {
    vae_rng_seed(&rng, 2015);
    test_gradients();
    test_k1_is_elbo();
    test_calls();
    test_mnist();
    TEST_MAIN_END();
}
