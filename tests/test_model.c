/* test_model.c: the model learns and repeats itself: overfitting one batch of real MNIST digits drives the
 * loss far down, the same seed gives the same losses bit for bit, and the trainer's epochs, evaluation
 * and NaN guard behave. Needs data/mnist (make test fetches it). */
#include <math.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "model.h"
#include "test.h"
#include "train.h"

static vae_dataset mnist;

/* Train a small model on the first n images for steps steps; returns the last loss. */
static double train_batch(int hidden, int n, int steps, uint64_t seed, double *first) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.hidden[0] = hidden;
    cfg.n_latent = 8;
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_model *m;
    CHECK(vae_create(&m, &cfg, n, &rng) == VAE_OK, "create: %s", vae_last_error());
    float *x = vae_malloc((size_t)n * 784 * sizeof(float));
    vae_dataset_batch(&mnist, NULL, 0, n, x);
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_losses l = {0};
    for (int s = 0; s < steps; s++) {
        vae_status st = vae_train_step(m, x, NULL, n, &o, &rng, &l);
        if (st) {
            CHECK(0, "step %d: %s", s, vae_last_error());
            break;
        }
        if (s == 0 && first) *first = l.loss;
    }
    vae_mem_free(x);
    vae_free(m);
    return l.loss;
}

static void test_overfit_one_batch(void) {
    double first = 0, last = train_batch(128, 16, 400, 3, &first);
    // 16 digits start near 544 nats (784 * log 2 minus a little); a model that learns memorises them
    CHECK(first > 400, "first loss %g", first);
    CHECK(last < 0.25 * first && last < 120, "after 400 steps on one batch the loss is %g (started at %g)", last, first);
}

static void test_same_seed_same_run(void) {
    double a = train_batch(64, 32, 30, 7, NULL), b = train_batch(64, 32, 30, 7, NULL);
    CHECK(a == b, "same seed, losses %.17g and %.17g", a, b);
    double c = train_batch(64, 32, 30, 8, NULL);
    CHECK(a != c, "another seed gives another run");
}

static void test_epoch_and_eval(void) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.hidden[0] = 64, cfg.n_latent = 4;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m;
    vae_create(&m, &cfg, 500, &rng); // evaluation batches of up to 500
    // a trainer over the first 2000 images in batches of 50
    vae_trainer t;
    CHECK(vae_trainer_init(&t, m, &mnist, 2000, 50, 0, 1) == VAE_OK, "trainer: %s", vae_last_error());
    CHECK(vae_trainer_batches(&t) == 40, "40 batches");
    float *x = vae_malloc(500 * 784 * sizeof(float));
    int labels[500];
    vae_eval_result before, after, again;
    vae_evaluate(m, &mnist, 50000, 1000, 500, 9, 0, 0, x, labels, NULL, NULL, NULL, 0, NULL, &before);
    vae_train_opts o;
    vae_train_opts_default(&o);
    for (int e = 0; e < 3; e++) CHECK(vae_trainer_run_epoch(&t, &o, NULL, NULL, NULL) == VAE_OK, "epoch");
    CHECK(t.epoch == 3 && t.next_batch == 0, "epoch %d batch %d", t.epoch, t.next_batch);
    vae_evaluate(m, &mnist, 50000, 1000, 500, 9, 0, 0, x, labels, NULL, NULL, NULL, 0, NULL, &after);
    vae_evaluate(m, &mnist, 50000, 1000, 250, 9, 0, 0, x, labels, NULL, NULL, NULL, 0, NULL, &again);
    CHECK(after.loss < before.loss - 250, "held-out loss %g -> %g", before.loss, after.loss);
    // the same eps stream whatever the batch size; only BLAS's blocking differs, at float rounding
    CHECK(fabs(after.loss - again.loss) < 1e-6 * after.loss, "evaluation batch size changes the loss: %.17g vs %.17g",
          after.loss, again.loss);
    CHECK(fabs(after.loss - (after.recon + after.kl)) < 1e-9, "loss = recon + kl");
    // a stop flag set before the epoch stops it at once, keeping the position
    volatile sig_atomic_t stop = 1;
    vae_rng rng_before = t.rng;
    CHECK(vae_trainer_run_epoch(&t, &o, NULL, NULL, &stop) == VAE_OK && t.epoch == 3, "stopped epoch");
    // stopped before its first batch, the epoch drew nothing (no shuffle): a resumed run draws the same order
    CHECK(memcmp(&rng_before, &t.rng, sizeof t.rng) == 0 && t.next_batch == 0, "a stop before the first batch draws nothing");
    // the NaN guard: a NaN input gives VAE_ERR_NAN naming the step, parameters untouched
    float *before_params = vae_malloc(m->n_params * sizeof(float));
    memcpy(before_params, m->params, m->n_params * sizeof(float));
    vae_dataset_batch(&mnist, NULL, 0, 10, x);
    x[5] = NAN;
    vae_status st = vae_train_step(m, x, NULL, 10, &o, &rng, NULL);
    CHECK(st == VAE_ERR_NAN && strstr(vae_last_error(), "step"), "NaN stops: %d %s", st, vae_last_error());
    CHECK(memcmp(before_params, m->params, m->n_params * sizeof(float)) == 0, "parameters untouched after a NaN");
    vae_mem_free(before_params);
    vae_mem_free(x);
    vae_trainer_free(&t);
    vae_free(m);
}

int main(void) {
    if (vae_dataset_load(&mnist, "data/mnist", "train")) {
        fprintf(stderr, "%s (run scripts/fetch-data)\n", vae_last_error());
        CHECK(0, "data/mnist is needed");
        TEST_MAIN_END();
    }
    test_overfit_one_batch();
    test_same_seed_same_run();
    test_epoch_and_eval();
    vae_dataset_free(&mnist);
    TEST_MAIN_END();
}
