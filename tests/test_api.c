/* test_api.c: the public API's training step in two calls and its argument policy (include/vae.h).
 *   - vae_train_step is vae_step_grad then vae_step_apply, bit for bit;
 *   - opts.grad_rows divides the gradient: twice the rows, exactly half the gradient; two half batches with
 *     grad_rows = the whole batch sum to the whole batch's gradient (what an all-reduce over ranks does);
 *   - a non-finite loss fills the gradient buffer with NaN, and vae_step_apply then refuses, parameters and
 *     step untouched;
 *   - every public function refuses NULL pointers and out-of-range or non-finite options with VAE_ERR_ARG and
 *     a message, changing nothing; vae_save refuses non-finite parameters and writes no file;
 *   - the schedules (schedule.c): parsing, the rate per epoch, the KL warm-up.
 * Uses include/vae.h (what a library user sees) and common.h's vae_clear_error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "test.h"
#include "vae.h"

enum { N = 8, D = 12 };

static vae_model *tiny(int ae, uint64_t seed) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 4, cfg.hidden[0] = 6, cfg.n_latent = 2, cfg.ae = ae;
    vae_rng r;
    vae_rng_seed(&r, seed);
    vae_model *m = NULL;
    vae_status st = vae_create(&m, &cfg, N, &r);
    CHECK(st == VAE_OK, "create: %s", vae_last_error());
    return m;
}

static float *copy_of(const float *p, size_t n) {
    float *c = malloc(n * sizeof *c);
    memcpy(c, p, n * sizeof *c);
    return c;
}

static void test_split_step(const float *x) {
    vae_model *a = tiny(0, 3), *b = tiny(0, 3);
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_rng ra, rb;
    vae_rng_seed(&ra, 9), vae_rng_seed(&rb, 9);
    vae_losses la, lb;
    for (int s = 0; s < 3; s++) {
        CHECK(vae_train_step(a, x, NULL, N, &o, &ra, &la) == VAE_OK, "train step: %s", vae_last_error());
        CHECK(vae_step_grad(b, x, NULL, N, &o, &rb, &lb) == VAE_OK, "grad: %s", vae_last_error());
        CHECK(vae_step_apply(b, &o) == VAE_OK, "apply: %s", vae_last_error());
    }
    float *pa, *pb;
    size_t na, nb;
    CHECK(vae_param_buffer(a, &pa, &na) == VAE_OK && vae_param_buffer(b, &pb, &nb) == VAE_OK, "param buffers");
    CHECK(na == vae_num_params(a) && na == nb && memcmp(pa, pb, na * sizeof(float)) == 0 && la.loss == lb.loss,
          "vae_train_step = vae_step_grad + vae_step_apply");
    CHECK(vae_steps_taken(a) == 3 && vae_steps_taken(b) == 3, "steps %ld %ld", vae_steps_taken(a), vae_steps_taken(b));
    vae_free(a);
    vae_free(b);
}

/* grad_rows: the divisor of the summed objective's gradient. */
static void test_grad_rows(const float *x) {
    vae_model *m = tiny(1, 4); // an autoencoder: no noise, so two calls on the same rows see the same z
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_rng r;
    vae_rng_seed(&r, 1);
    float *g;
    size_t n;
    CHECK(vae_grad_buffer(m, &g, &n) == VAE_OK && n == vae_num_params(m), "grad buffer");
    vae_step_grad(m, x, NULL, N, &o, &r, NULL);
    float *mean = copy_of(g, n);
    o.grad_rows = 2 * N;
    vae_step_grad(m, x, NULL, N, &o, &r, NULL);
    int half = 1;
    for (size_t i = 0; i < n; i++) half &= g[i] == 0.5f * mean[i];
    CHECK(half, "grad_rows = 2B gives exactly half the batch-mean gradient");
    // two "ranks" with half the batch each and grad_rows = B: their sum is the whole batch's gradient
    o.grad_rows = N;
    vae_step_grad(m, x, NULL, N / 2, &o, &r, NULL);
    float *sum = copy_of(g, n);
    vae_step_grad(m, x + (N / 2) * D, NULL, N / 2, &o, &r, NULL);
    float worst = 0.0f, scale = 0.0f;
    for (size_t i = 0; i < n; i++) {
        worst = fmaxf(worst, fabsf(sum[i] + g[i] - mean[i]));
        scale = fmaxf(scale, fabsf(mean[i]));
    }
    CHECK(scale > 0 && worst <= 1e-5f * scale, "two half batches sum to the batch gradient: max diff %g of %g", worst,
          scale);
    free(mean);
    free(sum);
    vae_free(m);
}

/* A NaN pixel: the loss is not finite, the buffer turns NaN, vae_step_apply refuses. */
static void test_nan(const float *x0) {
    vae_model *m = tiny(0, 5);
    float x[N * D];
    memcpy(x, x0, sizeof x);
    x[3] = NAN;
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_rng r;
    vae_rng_seed(&r, 1);
    float *p, *g;
    size_t n;
    vae_param_buffer(m, &p, &n);
    vae_grad_buffer(m, &g, &n);
    float *before = copy_of(p, n);
    CHECK(vae_step_grad(m, x, NULL, N, &o, &r, NULL) == VAE_ERR_NAN, "NaN loss: %s", vae_last_error());
    int all_nan = 1;
    for (size_t i = 0; i < n; i++) all_nan &= isnan(g[i]);
    CHECK(all_nan, "the gradient buffer is all NaN after a non-finite loss");
    CHECK(vae_step_apply(m, &o) == VAE_ERR_NAN && strstr(vae_last_error(), "gradient"), "apply refuses: %s",
          vae_last_error());
    CHECK(memcmp(before, p, n * sizeof(float)) == 0 && vae_steps_taken(m) == 0, "parameters and step untouched");
    free(before);
    vae_free(m);
}

/* EXPECT_ARG(call, what): VAE_ERR_ARG with a message (the last one cleared first). */
#define EXPECT_ARG(call, what)                                                                             \
    do {                                                                                                   \
        vae_clear_error();                                                                                 \
        vae_status st_ = (call);                                                                           \
        CHECK(st_ == VAE_ERR_ARG && vae_last_error()[0], "%s: status %d, message '%s'", what, st_,        \
              vae_last_error());                                                                           \
    } while (0)

static void test_bad_options(const float *x) {
    vae_model *m = tiny(0, 6);
    vae_rng r;
    vae_rng_seed(&r, 1);
    float *p;
    size_t n;
    vae_param_buffer(m, &p, &n);
    float *before = copy_of(p, n);
    struct {
        const char *what;
        vae_train_opts o;
    } bad[12];
    int nb = 0;
    vae_train_opts d;
    vae_train_opts_default(&d);
    for (int i = 0; i < 12; i++) bad[i].o = d;
    bad[nb].what = "lr NaN", bad[nb++].o.lr = NAN;
    bad[nb].what = "lr -1", bad[nb++].o.lr = -1.0f;
    bad[nb].what = "lr inf", bad[nb++].o.lr = INFINITY;
    bad[nb].what = "beta1 1", bad[nb++].o.beta1 = 1.0f;
    bad[nb].what = "beta1 NaN", bad[nb++].o.beta1 = NAN;
    bad[nb].what = "beta2 1", bad[nb++].o.beta2 = 1.0f;
    bad[nb].what = "beta2 -0.5", bad[nb++].o.beta2 = -0.5f;
    bad[nb].what = "adam_eps 0", bad[nb++].o.adam_eps = 0.0f;
    bad[nb].what = "adam_eps NaN", bad[nb++].o.adam_eps = NAN;
    bad[nb].what = "kl_weight -1", bad[nb++].o.kl_weight = -1.0f;
    bad[nb].what = "iwae_k -1", bad[nb++].o.iwae_k = -1;
    bad[nb].what = "grad_rows -1", bad[nb++].o.grad_rows = -1;
    for (int i = 0; i < nb; i++) {
        EXPECT_ARG(vae_train_step(m, x, NULL, N, &bad[i].o, &r, NULL), bad[i].what);
        EXPECT_ARG(vae_step_apply(m, &bad[i].o), bad[i].what);
    }
    vae_train_opts kl_nan = d;
    kl_nan.kl_weight = NAN;
    EXPECT_ARG(vae_step_grad(m, x, NULL, N, &kl_nan, &r, NULL), "kl_weight NaN");
    CHECK(memcmp(before, p, n * sizeof(float)) == 0 && vae_steps_taken(m) == 0, "bad options change nothing");
    free(before);
    vae_free(m);
}

static void test_null_arguments(const float *x) {
    vae_model *m = tiny(0, 7);
    vae_config cfg;
    vae_config_default(&cfg);
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_rng r;
    vae_rng_seed(&r, 1);
    float out[N * D], mu[N * 2];
    int labels_buf[4] = {0, 1, 2, 3};
    float *g;
    size_t n;
    vae_model *made = (vae_model *)&cfg; // must be set to NULL by a refused create or load
    EXPECT_ARG(vae_create(NULL, &cfg, 4, &r), "create out NULL");
    EXPECT_ARG(vae_create(&made, NULL, 4, &r), "create cfg NULL");
    CHECK(made == NULL, "a refused create leaves *out NULL");
    EXPECT_ARG(vae_create(&made, &cfg, 4, NULL), "create rng NULL");
    EXPECT_ARG(vae_create(&made, &cfg, 0, &r), "create max_batch 0");
    EXPECT_ARG(vae_train_step(NULL, x, NULL, N, &o, &r, NULL), "train_step model NULL");
    EXPECT_ARG(vae_train_step(m, NULL, NULL, N, &o, &r, NULL), "train_step x NULL");
    EXPECT_ARG(vae_train_step(m, x, NULL, N, NULL, &r, NULL), "train_step opts NULL");
    EXPECT_ARG(vae_train_step(m, x, NULL, N, &o, NULL, NULL), "train_step rng NULL");
    EXPECT_ARG(vae_train_step(m, x, NULL, N + 1, &o, &r, NULL), "train_step n > max_batch");
    EXPECT_ARG(vae_train_step(m, x, NULL, 0, &o, &r, NULL), "train_step n 0");
    EXPECT_ARG(vae_step_apply(NULL, &o), "step_apply model NULL");
    EXPECT_ARG(vae_grad_buffer(NULL, &g, &n), "grad_buffer model NULL");
    EXPECT_ARG(vae_grad_buffer(m, NULL, &n), "grad_buffer grad NULL");
    EXPECT_ARG(vae_param_buffer(m, &g, NULL), "param_buffer len NULL");
    EXPECT_ARG(vae_eval_batch(NULL, x, NULL, N, &r, NULL, NULL, NULL), "eval_batch model NULL");
    EXPECT_ARG(vae_eval_batch(m, NULL, NULL, N, &r, NULL, NULL, NULL), "eval_batch x NULL");
    EXPECT_ARG(vae_eval_batch(m, x, NULL, N, NULL, NULL, NULL, NULL), "eval_batch rng NULL");
    EXPECT_ARG(vae_encode(NULL, x, NULL, N, mu, NULL), "encode model NULL");
    EXPECT_ARG(vae_encode(m, NULL, NULL, N, mu, NULL), "encode x NULL");
    EXPECT_ARG(vae_encode(m, x, NULL, N, NULL, NULL), "encode mu NULL");
    EXPECT_ARG(vae_decode(NULL, mu, NULL, N, out), "decode model NULL");
    EXPECT_ARG(vae_decode(m, NULL, NULL, N, out), "decode z NULL");
    EXPECT_ARG(vae_decode(m, mu, NULL, N, NULL), "decode out NULL");
    EXPECT_ARG(vae_save(NULL, "x.safetensors"), "save model NULL");
    EXPECT_ARG(vae_save(m, NULL), "save path NULL");
    made = (vae_model *)&cfg;
    EXPECT_ARG(vae_load(&made, NULL, 4), "load path NULL");
    CHECK(made == NULL, "a refused load leaves *out NULL");
    EXPECT_ARG(vae_load(NULL, "x.safetensors", 4), "load out NULL");
    CHECK(vae_num_params(NULL) == 0 && strstr(vae_last_error(), "NULL"), "num_params(NULL): 0 and a message");
    CHECK(vae_get_config(NULL) == NULL && strstr(vae_last_error(), "NULL"), "get_config(NULL): NULL and a message");
    CHECK(vae_max_batch(NULL) == 0 && strstr(vae_last_error(), "NULL"), "max_batch(NULL): 0 and a message");
    CHECK(vae_steps_taken(NULL) == 0 && strstr(vae_last_error(), "NULL"), "steps_taken(NULL): 0 and a message");
    // the generator's functions: a NULL generator or output is refused with a message, nothing drawn
    vae_clear_error();
    vae_rng_seed(NULL, 1);
    CHECK(strstr(vae_last_error(), "vae_rng_seed"), "rng_seed(NULL): '%s'", vae_last_error());
    CHECK(vae_rng_next(NULL) == 0 && vae_rng_uniform(NULL) == 0.0 && vae_rng_normal(NULL) == 0.0f,
          "a NULL generator's numbers are 0");
    vae_rng before = r;
    vae_clear_error();
    vae_rng_normals(&r, NULL, 4);
    CHECK(strstr(vae_last_error(), "output") && memcmp(&before, &r, sizeof r) == 0, "normals into NULL: '%s'",
          vae_last_error());
    vae_rng_normals(NULL, out, 4);
    vae_rng_bernoulli(NULL, out, 4);
    vae_rng_bernoulli(&r, NULL, 4);
    vae_rng_shuffle(NULL, labels_buf, 4);
    vae_rng_shuffle(&r, NULL, 4);
    CHECK(memcmp(&before, &r, sizeof r) == 0, "refused calls draw nothing");
    vae_rng_normals(&r, NULL, 0); // nothing asked, nothing refused
    vae_config_default(NULL);      // nothing to fill: no crash
    vae_train_opts_default(NULL);  // likewise
    vae_free(NULL);
    CHECK(strcmp(vae_strerror((vae_status)99), "unknown status") == 0, "an unknown status has a string");
    vae_free(m);
}

static void test_save_refuses_nonfinite(void) {
    vae_model *m = tiny(0, 8);
    char path[] = "/tmp/test_api.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temporary file");
    close(fd);
    unlink(path);
    float *p;
    size_t n;
    vae_param_buffer(m, &p, &n);
    p[n / 2] = NAN;
    EXPECT_ARG(vae_save(m, path), "save NaN parameters");
    CHECK(strstr(vae_last_error(), "not all finite"), "message says why: %s", vae_last_error());
    CHECK(access(path, F_OK) != 0, "no file written");
    p[n / 2] = INFINITY;
    EXPECT_ARG(vae_save(m, path), "save infinite parameters");
    p[n / 2] = 0.0f;
    CHECK(vae_save(m, path) == VAE_OK && access(path, F_OK) == 0, "finite parameters are saved: %s", vae_last_error());
    unlink(path);
    vae_free(m);
}

static void test_schedules(void) {
    vae_lr_schedule s;
    CHECK(vae_lr_schedule_parse(&s, "2:1e-3,3:5e-4") == VAE_OK && s.n == 2, "parse: %s", vae_last_error());
    CHECK(vae_lr_at(&s, 1, 9) == 1e-3 && vae_lr_at(&s, 2, 9) == 1e-3 && vae_lr_at(&s, 3, 9) == 5e-4 &&
              vae_lr_at(&s, 5, 9) == 5e-4 && vae_lr_at(&s, 50, 9) == 5e-4,
          "the rate per epoch, the last one continuing");
    CHECK(vae_lr_schedule_parse(&s, "") == VAE_OK && s.n == 0 && vae_lr_at(&s, 3, 0.25) == 0.25, "empty: the fallback");
    const char *bad[] = {"1:x", "0:1e-3", "1:1e-3,", "1:0", "1:10", ":1e-3", "1", "1:1e-3;2:1e-4", "-1:1e-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s.n = 7;
        EXPECT_ARG(vae_lr_schedule_parse(&s, bad[i]), bad[i]);
        CHECK(s.n == 0, "%s: a refused schedule is empty", bad[i]);
    }
    EXPECT_ARG(vae_lr_schedule_parse(NULL, "1:1e-3"), "schedule NULL");
    EXPECT_ARG(vae_lr_schedule_parse(&s, NULL), "spec NULL");
    CHECK(vae_kl_weight_at(0.5f, 0, 0) == 0.5f && vae_kl_weight_at(0.5f, 10, 10) == 0.5f &&
              vae_kl_weight_at(0.5f, 10, 100) == 0.5f,
          "no warm-up, or after it: beta");
    CHECK(vae_kl_weight_at(0.5f, 10, 0) == 0.0f && vae_kl_weight_at(0.5f, 10, 4) == 0.5f * 0.4f,
          "during the warm-up: linear from 0");
}

int main(void) {
    float x[N * D];
    for (int i = 0; i < N * D; i++) x[i] = (float)((i * 7) % 11) / 10.0f;
    test_split_step(x);
    test_grad_rows(x);
    test_nan(x);
    test_bad_options(x);
    test_null_arguments(x);
    test_save_refuses_nonfinite();
    test_schedules();
    TEST_MAIN_END();
}
