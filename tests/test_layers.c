/* test_layers.c: every layer's backward against central finite differences, the fast matrix products
 * against the naive ones on odd shapes, the losses against their textbook formulas, the whole model's
 * gradient on tiny configurations, and an Adam step against hand-computed values. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"
#include "ops.h"
#include "test.h"
#include "gradcheck.h"

/* ---------------------------------------------------------------- matmul */

static void test_matmul_against_naive(void) {
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {128, 784, 40}, {3, 2, 129}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        size_t nx = (size_t)B * C, nw = (size_t)OC * C, no = (size_t)B * OC;
        float *x = vae_malloc(nx * 4), *w = vae_malloc(nw * 4), *bias = vae_malloc(OC * 4);
        float *o1 = vae_malloc(no * 4), *o2 = vae_malloc(no * 4), *dout = vae_malloc(no * 4);
        float *dx1 = vae_malloc(nx * 4), *dx2 = vae_malloc(nx * 4);
        float *dw1 = vae_malloc(nw * 4), *dw2 = vae_malloc(nw * 4), *db1 = vae_malloc(OC * 4), *db2 = vae_malloc(OC * 4);
        fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(bias, OC, -1, 1), fill(dout, no, -1, 1);
        vae__matmul_forward(o1, x, w, bias, B, C, OC);
        vae__matmul_forward_naive(o2, x, w, bias, B, C, OC);
        float tol = 1e-5f * (float)C;
        CHECK(max_abs_diff(o1, o2, no) < tol, "forward %dx%dx%d: max diff %g", B, C, OC, max_abs_diff(o1, o2, no));
        // parameter gradients accumulate: start both from the same non-zero values
        fill(dw1, nw, -1, 1), fill(db1, OC, -1, 1);
        memcpy(dw2, dw1, nw * 4), memcpy(db2, db1, OC * 4);
        vae__matmul_backward(dx1, dw1, db1, dout, x, w, B, C, OC);
        vae__matmul_backward_naive(dx2, dw2, db2, dout, x, w, B, C, OC);
        CHECK(max_abs_diff(dx1, dx2, nx) < 1e-5f * OC, "dinp %dx%dx%d: max diff %g", B, C, OC, max_abs_diff(dx1, dx2, nx));
        CHECK(max_abs_diff(dw1, dw2, nw) < 1e-5f * B, "dweight %dx%dx%d: max diff %g", B, C, OC,
              max_abs_diff(dw1, dw2, nw));
        CHECK(max_abs_diff(db1, db2, OC) < 1e-5f * B, "dbias %dx%dx%d: max diff %g", B, C, OC,
              max_abs_diff(db1, db2, OC));
        // the fused bias + activation pass equals the naive product followed by the activation
        for (int act = ACT_RELU; act <= ACT_TANH; act++) {
            vae__matmul_forward_act(o1, x, w, bias, B, C, OC, (act_kind)act);
            vae__matmul_forward_naive(o2, x, w, bias, B, C, OC);
            if (act == ACT_RELU) vae__relu_forward(o2, no);
            else vae__tanh_forward(o2, no);
            CHECK(max_abs_diff(o1, o2, no) < tol, "fused %s %dx%dx%d: max diff %g", act == ACT_RELU ? "relu" : "tanh", B,
                  C, OC, max_abs_diff(o1, o2, no));
        }
        // without bias
        vae__matmul_forward(o1, x, w, NULL, B, C, OC);
        vae__matmul_forward_naive(o2, x, w, NULL, B, C, OC);
        CHECK(max_abs_diff(o1, o2, no) < tol, "forward no bias %dx%dx%d", B, C, OC);
        float *bufs[] = {x, w, bias, o1, o2, dout, dx1, dx2, dw1, dw2, db1, db2};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vae_mem_free(bufs[i]);
    }
}

/* ---------------------------------------------------------------- dense layer gradient */

typedef struct {
    int B, C, OC;
    float *x, *w, *b, *out, *r;
} dense_ctx;

static double dense_loss(void *p) {
    dense_ctx *c = p;
    vae__matmul_forward(c->out, c->x, c->w, c->b, c->B, c->C, c->OC);
    double L = 0;
    for (int i = 0; i < c->B * c->OC; i++) L += (double)c->r[i] * c->out[i];
    return L;
}

static void test_dense_grad(void) {
    dense_ctx c = {.B = 5, .C = 7, .OC = 3};
    float x[35], w[21], b[3], out[15], r[15], dx[35], dw[21] = {0}, db[3] = {0};
    c.x = x, c.w = w, c.b = b, c.out = out, c.r = r;
    fill(x, 35, -1, 1), fill(w, 21, -1, 1), fill(b, 3, -1, 1), fill(r, 15, -1, 1);
    vae__matmul_backward(dx, dw, db, r, x, w, c.B, c.C, c.OC);
    check_grad("dense dinp", dense_loss, &c, x, dx, 35, 1e-3);
    check_grad("dense dweight", dense_loss, &c, w, dw, 21, 1e-3);
    check_grad("dense dbias", dense_loss, &c, b, db, 3, 1e-3);
}

/* ---------------------------------------------------------------- activations */

typedef struct {
    int tanh_act;
    float *x, *y, *r;
    size_t n;
} act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    memcpy(c->y, c->x, c->n * sizeof(float));
    if (c->tanh_act) vae__tanh_forward(c->y, c->n);
    else vae__relu_forward(c->y, c->n);
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += (double)c->r[i] * c->y[i];
    return L;
}

static void test_activation_grads(void) {
    enum { N = 40 };
    float x[N], y[N], r[N], dx[N];
    for (int t = 0; t < 2; t++) {
        act_ctx c = {t, x, y, r, N};
        fill(x, N, -2, 2), fill(r, N, -1, 1);
        for (int i = 0; i < N; i++)
            if (fabsf(x[i]) < 0.01f) x[i] = 0.5f; // keep away from relu's kink
        act_loss(&c);
        memcpy(dx, r, sizeof dx);
        if (t) vae__tanh_backward(dx, y, N);
        else vae__relu_backward(dx, y, N);
        check_grad(t ? "tanh" : "relu", act_loss, &c, x, dx, N, 1e-3);
    }
}

/* ---------------------------------------------------------------- losses */

typedef struct {
    int B, D, Z;
    float *a, *x, *nll, *mu, *lv, *eps, *z, *r;
    float s; // gaussian log-variance
    int kind;
} loss_ctx;

static double loss_value(void *p) {
    loss_ctx *c = p;
    double L = 0;
    if (c->kind == 0) vae__bernoulli_nll_forward(c->nll, c->a, c->x, c->B, c->D);
    if (c->kind == 1) vae__gaussian_nll_forward(c->nll, c->a, c->x, c->s, c->B, c->D);
    if (c->kind == 2) vae__kl_forward(c->nll, c->mu, c->lv, c->B, c->Z, 2 * c->Z);
    if (c->kind == 3) {
        vae__reparam_forward(c->z, c->mu, c->lv, c->eps, c->B, c->Z, 2 * c->Z, c->Z + 1);
        for (int b = 0; b < c->B; b++)
            for (int j = 0; j < c->Z; j++) L += (double)c->r[b * c->Z + j] * c->z[b * (c->Z + 1) + j];
        return L;
    }
    for (int b = 0; b < c->B; b++) L += (double)c->nll[b] * (b + 1); // per-image weights catch row mix-ups
    return L;
}

static void test_bernoulli(void) {
    enum { B = 3, D = 11 };
    float a[B * D], x[B * D], nll[B], da[B * D];
    loss_ctx c = {.B = B, .D = D, .a = a, .x = x, .nll = nll, .kind = 0};
    fill(a, B * D, -4, 4), fill(x, B * D, 0, 1);
    loss_value(&c);
    for (int b = 0; b < B; b++) {
        double ref = 0;
        for (int d = 0; d < D; d++) {
            double s = 1 / (1 + exp(-(double)a[b * D + d])), t = x[b * D + d];
            ref -= t * log(s) + (1 - t) * log(1 - s);
        }
        CHECK_CLOSE(nll[b], ref, 1e-4 * fabs(ref));
    }
    // backward with per-image weights b+1: apply them through scale by doing rows separately
    for (int b = 0; b < B; b++) vae__bernoulli_nll_backward(da + b * D, a + b * D, x + b * D, 1, D, (float)(b + 1));
    check_grad("bernoulli dlogits", loss_value, &c, a, da, B * D, 1e-3);
    // stability: huge logits give exact finite values, no inf or NaN
    float big[2] = {100.0f, -100.0f}, t0[2] = {0.0f, 1.0f}, out[2];
    vae__bernoulli_nll_forward(out, big, t0, 1, 2);
    CHECK_CLOSE(out[0], 200.0, 1e-3);
}

/* The vectorisable softplus and sigmoid against double precision over the whole useful range. */
static void test_fast_functions(void) {
    double worst_sp = 0, worst_sig = 0;
    for (int i = -200000; i <= 200000; i++) {
        float a = (float)i * 5e-4f; // -100 .. 100
        double ad = a, sp = ad > 0 ? ad + log1p(exp(-ad)) : log1p(exp(ad)), sig = 1 / (1 + exp(-ad));
        // relative error where the value is a normal float, absolute below (e^-87 and less count as 0)
        worst_sp = fmax(worst_sp, fabs(vae_softplus(a) - sp) / fmax(sp, 1e-30));
        worst_sig = fmax(worst_sig, fabs(vae_sigmoid(a) - sig) / fmax(sig, 1e-30));
    }
    CHECK(worst_sp < 1e-6, "softplus: worst relative error %.3g", worst_sp);
    CHECK(worst_sig < 1e-6, "sigmoid: worst relative error %.3g", worst_sig);
    CHECK(vae_softplus(-200.0f) >= 0.0f && vae_softplus(-200.0f) < 1e-30f, "softplus(-200) = %g", vae_softplus(-200.0f));
    CHECK(vae_softplus(200.0f) == 200.0f, "softplus(200) = %g", vae_softplus(200.0f));
    CHECK(vae_sigmoid(200.0f) == 1.0f && vae_sigmoid(-200.0f) < 1e-30f, "sigmoid saturates");
    CHECK(isnan(vae_softplus(NAN)), "softplus(NaN) is NaN");
    // tanh, relative error everywhere (small arguments included: it is built on expm1, not exp - 1)
    double worst_tanh = 0;
    for (int i = -400000; i <= 400000; i++) {
        float a = (float)i * 5e-5f; // -20 .. 20
        worst_tanh = fmax(worst_tanh, fabs(vae_tanh(a) - tanh((double)a)) / fmax(fabs(tanh((double)a)), 1e-30));
    }
    for (float a = 1e-30f; a < 1.0f; a *= 1.7f)
        worst_tanh = fmax(worst_tanh, fabs(vae_tanh(-a) + tanh((double)a)) / tanh((double)a));
    CHECK(worst_tanh < 1e-6, "tanh: worst relative error %.3g", worst_tanh);
    CHECK(vae_tanh(100.0f) == 1.0f && vae_tanh(-100.0f) == -1.0f && vae_tanh(0.0f) == 0.0f, "tanh saturates");
    CHECK(isnan(vae_tanh(NAN)), "tanh(NaN) is NaN");
    // the fused pass gives what the two separate passes give
    enum { B = 3, D = 37 };
    float a[B * D], x[B * D], n1[B], n2[B], g1[B * D], g2[B * D];
    fill(a, B * D, -20, 20), fill(x, B * D, 0, 1);
    vae__bernoulli_nll_forward(n1, a, x, B, D);
    vae__bernoulli_nll_backward(g1, a, x, B, D, 0.25f);
    vae__bernoulli_nll_forward_backward(n2, g2, a, x, B, D, 0.25f);
    CHECK(memcmp(n1, n2, sizeof n1) == 0 && memcmp(g1, g2, sizeof g1) == 0, "fused bernoulli pass differs");
}

static void test_gaussian(void) {
    enum { B = 3, D = 7 };
    float a[B * D], x[B * D], nll[B], da[B * D];
    loss_ctx c = {.B = B, .D = D, .a = a, .x = x, .nll = nll, .kind = 1, .s = -0.7f};
    fill(a, B * D, -1, 1), fill(x, B * D, -1, 1);
    loss_value(&c);
    for (int b = 0; b < B; b++) {
        double ref = 0, var = exp(c.s);
        for (int d = 0; d < D; d++) {
            double e = x[b * D + d] - a[b * D + d];
            ref += 0.5 * log(2 * M_PI * var) + e * e / (2 * var);
        }
        CHECK_CLOSE(nll[b], ref, 1e-5 * fabs(ref) + 1e-5);
    }
    float ds = 0;
    for (int b = 0; b < B; b++) vae__gaussian_nll_backward(da + b * D, &ds, a + b * D, x + b * D, c.s, 1, D, (float)(b + 1));
    check_grad("gaussian dmean", loss_value, &c, a, da, B * D, 1e-3);
    check_grad("gaussian dlogvar", loss_value, &c, &c.s, &ds, 1, 1e-3);
}

static void test_kl_and_reparam(void) {
    enum { B = 4, Z = 3 };
    float head[B * 2 * Z], nll[B], dhead[B * 2 * Z], eps[B * Z], z[B * (Z + 1)], r[B * Z], dz[B * (Z + 1)];
    fill(head, B * 2 * Z, -1.5f, 1.5f), fill(eps, B * Z, -2, 2), fill(r, B * Z, -1, 1);
    loss_ctx c = {.B = B, .Z = Z, .mu = head, .lv = head + Z, .nll = nll, .eps = eps, .z = z, .r = r, .kind = 2};
    loss_value(&c);
    for (int b = 0; b < B; b++) {
        double ref = 0;
        for (int j = 0; j < Z; j++) {
            double m = head[b * 2 * Z + j], lv = head[b * 2 * Z + Z + j];
            ref += 0.5 * (m * m + exp(lv) - lv - 1);
        }
        CHECK_CLOSE(nll[b], ref, 1e-5);
    }
    memset(dhead, 0, sizeof dhead);
    for (int b = 0; b < B; b++)
        vae__kl_backward(dhead + b * 2 * Z, dhead + b * 2 * Z + Z, head + b * 2 * Z, head + b * 2 * Z + Z, 1, Z, 2 * Z,
                    (float)(b + 1));
    check_grad("kl d[mu|logvar]", loss_value, &c, head, dhead, B * 2 * Z, 1e-3);
    // KL of the prior itself is 0
    float zero[2 * Z] = {0};
    vae__kl_forward(nll, zero, zero + Z, 1, Z, 2 * Z);
    CHECK(nll[0] == 0.0f, "KL(N(0,I)||N(0,I)) = %g", nll[0]);

    c.kind = 3;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < Z; j++) dz[b * (Z + 1) + j] = r[b * Z + j];
    vae__reparam_backward(dhead, dhead + Z, dz, head + Z, eps, B, Z, 2 * Z, Z + 1);
    check_grad("reparam d[mu|logvar]", loss_value, &c, head, dhead, B * 2 * Z, 1e-3);
}

/* ---------------------------------------------------------------- whole model */



static void test_model_grads(void) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 5, cfg.n_hidden = 1, cfg.hidden[0] = 6, cfg.n_latent = 3;
    cfg.activation = VAE_TANH; // smooth, so finite differences are exact enough everywhere
    check_model("bernoulli tanh", &cfg);
    cfg.n_hidden = 2, cfg.hidden[0] = 7, cfg.hidden[1] = 4;
    cfg.likelihood = VAE_GAUSSIAN;
    check_model("gaussian tanh 2 hidden", &cfg);
    cfg.likelihood = VAE_BERNOULLI, cfg.n_classes = 3;
    check_model("conditional", &cfg);
    cfg.n_classes = 0, cfg.ae = 1;
    check_model("autoencoder", &cfg);
    cfg.ae = 0, cfg.dropout = 0.3f;
    check_model("dropout 0.3", &cfg);
    cfg.dropout = 0.0f, cfg.n_hidden = 0;
    check_model("no hidden layer", &cfg);
    cfg.n_hidden = 1, cfg.hidden[0] = 8, cfg.activation = VAE_RELU;
    grad_h = 2e-3;
    check_model("bernoulli relu", &cfg);
    grad_h = 1e-2;
}

/* ---------------------------------------------------------------- Adam */

static void test_adam(void) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 1, cfg.width = 1, cfg.n_hidden = 0, cfg.n_latent = 1;
    vae_model *m;
    CHECK(vae_create(&m, &cfg, 1, &rng) == VAE_OK, "create");
    // hand-computed with lr 0.1, betas (0.9, 0.999), eps 1e-8 (PyTorch's formula), two steps
    m->params[0] = 1.0f, m->params[1] = -2.0f;
    m->grads[0] = 0.5f, m->grads[1] = -3.0f;
    vae_adam_step(m, 0.1f, 0.9f, 0.999f, 1e-8f);
    CHECK_CLOSE(m->params[0], 0.900000002, 1e-6);
    CHECK_CLOSE(m->params[1], -1.900000000, 1e-6);
    m->grads[0] = -0.25f, m->grads[1] = 1.0f;
    vae_adam_step(m, 0.1f, 0.9f, 0.999f, 1e-8f);
    CHECK_CLOSE(m->params[0], 0.873366299, 1e-5);
    CHECK_CLOSE(m->params[1], -1.859978143, 1e-5);
    CHECK(m->step == 2, "step %ld", m->step);
    vae_free(m);
}

static void test_rng(void) {
    vae_rng a, b;
    vae_rng_seed(&a, 7), vae_rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= vae_rng_next(&a) == vae_rng_next(&b);
    CHECK(same, "same seed, same stream");
    vae_rng_seed(&b, 8);
    CHECK(vae_rng_next(&a) != vae_rng_next(&b), "different seeds differ");
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double v = vae_rng_normal(&a);
        s += v, s2 += v * v;
    }
    CHECK(fabs(s / n) < 0.01 && fabs(s2 / n - 1) < 0.02, "normal mean %g var %g", s / n, s2 / n);
    // binarization: exact 0 and 1 only, 0 and 1 kept, each grey value's frequency within 4 standard errors,
    // and an odd length (the last pixel takes a draw of its own)
    enum { D = 7, R = 20000 };
    const float p[D] = {0.0f, 1.0f, 0.5f, 3.0f / 255.0f, 0.9f, 0.25f, 254.0f / 255.0f};
    long ones[D] = {0};
    int binary = 1;
    for (int r = 0; r < R; r++) {
        float x[D];
        memcpy(x, p, sizeof x);
        vae_rng_bernoulli(&a, x, D);
        for (int d = 0; d < D; d++) binary &= x[d] == 0.0f || x[d] == 1.0f, ones[d] += x[d] == 1.0f;
    }
    CHECK(binary, "binarized values are 0 or 1");
    CHECK(ones[0] == 0 && ones[1] == R, "p = 0 gives %ld ones, p = 1 gives %ld of %d", ones[0], ones[1], R);
    for (int d = 2; d < D; d++) {
        double f = (double)ones[d] / R, se = sqrt(p[d] * (1 - p[d]) / R);
        CHECK(fabs(f - p[d]) < 4 * se, "p = %g: frequency %g", p[d], f);
    }
}

/* vae_fail may be given vae_last_error() itself, as callers that add a file name do. */
static void test_error_messages(void) {
    vae_fail(VAE_ERR_FORMAT, "inner %d", 7);
    CHECK(vae_fail(VAE_ERR_ARG, "outer: %s", vae_last_error()) == VAE_ERR_ARG, "status passes through");
    CHECK(strcmp(vae_last_error(), "outer: inner 7") == 0, "message '%s'", vae_last_error());
    CHECK(strcmp(vae_strerror(VAE_ERR_NOMEM), "out of memory") == 0, "strerror");
}

int main(void) {
    vae_rng_seed(&rng, 1234);
    test_error_messages();
    test_rng();
    test_matmul_against_naive();
    test_dense_grad();
    test_activation_grads();
    test_bernoulli();
    test_fast_functions();
    test_gaussian();
    test_kl_and_reparam();
    test_model_grads();
    test_adam();
    TEST_MAIN_END();
}
