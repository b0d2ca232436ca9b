/* test_conv.c: the convolution layers and the convolutional model.
 *   - hand-computed outputs on tiny asymmetric inputs (catch flips, transposes and swapped channels);
 *   - im2col + sgemm against the naive direct loops, forward and both gradients, on odd shapes, strides and
 *     paddings, with the batch split into chunks of every size (a small col buffer);
 *   - conv_transpose2d is the adjoint of conv2d with the same weight, im2col the adjoint of col2im;
 *   - each layer's backward against central finite differences;
 *   - the whole conv model's gradient on tiny configurations (as tests/test_layers.c does for the MLP);
 *   - configurations the strides do not divide are refused with a message; a checkpoint round trip keeps
 *     the 4-dimensional tensors, the configuration and the outputs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "common.h"
#include "conv.h"
#include "iwae.h"
#include "model.h"
#include "safetensors.h"
#include "test.h"
#include "gradcheck.h"

static float max_abs(const float *a, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i]));
    return m;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- hand-computed values */

static void test_known_values(void) {
    // conv2d, one 3x4 image with 2 channels; the weight reads only channel 1 with taps 1 2 / 3 4:
    // out[oh, ow] = x1[oh, ow] + 2 x1[oh, ow+1] + 3 x1[oh+1, ow] + 4 x1[oh+1, ow+1] + bias
    conv_dims d;
    CHECK(vae__conv2d_dims(&d, 3, 4, 2, 1, 2, 1, 0) == 0 && d.OH == 2 && d.OW == 3, "dims 2x3, got %dx%d", d.OH, d.OW);
    float x[3 * 4 * 2], w[1 * 2 * 2 * 2] = {0, 0, 0, 0, 1, 2, 3, 4}, b = 0.5f, out[6], col[64];
    for (int i = 0; i < 12; i++) x[2 * i] = 100.0f + i, x[2 * i + 1] = (float)i; // channel 0 must not show
    vae__conv2d_forward(out, col, x, w, &b, 1, &d, sizeof col / sizeof col[0]);
    for (int oh = 0; oh < 2; oh++)
        for (int ow = 0; ow < 3; ow++) {
            float x00 = (float)(oh * 4 + ow), want = x00 + 2 * (x00 + 1) + 3 * (x00 + 4) + 4 * (x00 + 5) + 0.5f;
            CHECK_CLOSE(out[oh * 3 + ow], want, 1e-4);
        }
    // stride 2, padding 1 on a 1-channel 4x4 image with a 3x3 kernel that is 1 at its centre only:
    // output (2x2) samples the image at rows/cols 0 and 2 (tap (1,1) of grid (gh,gw) is pixel (2gh, 2gw))
    CHECK(vae__conv2d_dims(&d, 4, 4, 1, 1, 3, 2, 1) == 0 && d.OH == 2 && d.OW == 2, "dims 2x2");
    float img[16], k3[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, o4[4];
    for (int i = 0; i < 16; i++) img[i] = (float)i;
    vae__conv2d_forward(o4, col, img, k3, NULL, 1, &d, sizeof col / sizeof col[0]);
    CHECK(o4[0] == 0 && o4[1] == 2 && o4[2] == 8 && o4[3] == 10, "stride-2 centre taps %g %g %g %g", o4[0], o4[1], o4[2],
          o4[3]);
    // transposed, stride 2, 2x2 kernel, no padding: each input pixel paints its own 2x2 block scaled by the
    // kernel 1 2 / 3 4, into output channel 1 only (weight (C=1, OC=2, 2, 2))
    CHECK(vae__conv_transpose2d_dims(&d, 2, 3, 1, 2, 2, 2, 0) == 0 && d.OH == 4 && d.OW == 6, "transposed dims 4x6");
    float xi[6] = {1, 2, 3, 4, 5, 6}, wt[8] = {0, 0, 0, 0, 1, 2, 3, 4}, bt[2] = {-1, 0}, ot[4 * 6 * 2];
    vae__conv_transpose2d_forward(ot, col, xi, wt, bt, 1, &d, sizeof col / sizeof col[0]);
    int ok = 1;
    for (int oh = 0; oh < 4; oh++)
        for (int ow = 0; ow < 6; ow++) {
            float v = xi[(oh / 2) * 3 + ow / 2] * (float)(1 + (oh % 2) * 2 + ow % 2);
            ok &= ot[(oh * 6 + ow) * 2 + 0] == -1.0f && ot[(oh * 6 + ow) * 2 + 1] == v;
        }
    CHECK(ok, "transposed conv paints 2x2 blocks into channel 1");
}

/* ---------------------------------------------------------------- fast against naive */

typedef struct {
    int B, H, W, C, OC, K, S, P;
} shape;

static const shape shapes[] = {
    {2, 7, 5, 3, 4, 3, 1, 0}, {2, 7, 5, 3, 4, 3, 1, 1}, {2, 7, 5, 3, 4, 3, 2, 0}, {2, 7, 5, 3, 4, 3, 2, 1},
    {3, 8, 6, 2, 5, 3, 2, 0},   // the last row and column reach no output: their gradient must be 0
    {1, 1, 1, 1, 1, 1, 1, 0},   {2, 9, 4, 3, 2, 4, 3, 2}, {3, 5, 7, 4, 3, 5, 1, 2}, {2, 6, 6, 5, 7, 4, 2, 1},
    {4, 28, 28, 1, 8, 3, 2, 1}, {2, 7, 7, 16, 9, 4, 2, 1}, {3, 11, 3, 2, 3, 2, 3, 1},
};

/* One layer's forward and backward, fast (im2col + sgemm) and naive, side by side; b, dx and db may be NULL. */
static void fast_and_naive(int transposed, float *o1, float *o2, float *dx1, float *dx2, float *dw1, float *dw2,
                           float *db1, float *db2, float *col, const float *g, const float *x, const float *w,
                           const float *b, int B, const conv_dims *d, size_t col_cap) {
    if (transposed) {
        vae__conv_transpose2d_forward(o1, col, x, w, b, B, d, col_cap);
        vae__conv_transpose2d_forward_naive(o2, x, w, b, B, d);
        vae__conv_transpose2d_backward(dx1, dw1, db1, col, g, x, w, B, d, col_cap);
        vae__conv_transpose2d_backward_naive(dx2, dw2, db2, g, x, w, B, d);
    } else {
        vae__conv2d_forward(o1, col, x, w, b, B, d, col_cap);
        vae__conv2d_forward_naive(o2, x, w, b, B, d);
        vae__conv2d_backward(dx1, dw1, db1, col, g, x, w, B, d, col_cap);
        vae__conv2d_backward_naive(dx2, dw2, db2, g, x, w, B, d);
    }
}

static void run_compare(const shape *s, int transposed, size_t col_images) {
    conv_dims d;
    int rc = transposed ? vae__conv_transpose2d_dims(&d, s->H, s->W, s->C, s->OC, s->K, s->S, s->P)
                        : vae__conv2d_dims(&d, s->H, s->W, s->C, s->OC, s->K, s->S, s->P);
    CHECK(rc == 0, "dims of %dx%dx%d K%d S%d P%d", s->H, s->W, s->C, s->K, s->S, s->P);
    if (rc) return;
    int B = s->B;
    size_t nx = (size_t)B * d.H * d.W * d.C, no = (size_t)B * d.OH * d.OW * d.OC, nw = (size_t)d.C * d.OC * d.K * d.K;
    size_t col_cap = col_images * vae__conv_col_size(&d) + (col_images > 1 ? 3 : 0); // a cap not a multiple of the size
    float *x = vae_malloc(nx * 4), *w = vae_malloc(nw * 4), *b = vae_malloc(d.OC * 4), *col = vae_malloc(col_cap * 4);
    float *o1 = vae_malloc(no * 4), *o2 = vae_malloc(no * 4), *g = vae_malloc(no * 4);
    float *dx1 = vae_malloc(nx * 4), *dx2 = vae_malloc(nx * 4), *dw1 = vae_malloc(nw * 4), *dw2 = vae_malloc(nw * 4);
    float *db1 = vae_malloc(d.OC * 4), *db2 = vae_malloc(d.OC * 4);
    fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(b, d.OC, -1, 1), fill(g, no, -1, 1);
    fill(dw1, nw, -1, 1), fill(db1, d.OC, -1, 1); // parameter gradients accumulate: start from non-zero values
    memcpy(dw2, dw1, nw * 4), memcpy(db2, db1, d.OC * 4);
    fill(dx1, nx, 5, 6); // input gradients are overwritten: stale values must not survive
    char what[128];
    snprintf(what, sizeof what, "%s B%d %dx%dx%d->%d K%d S%d P%d (col for %zu images)",
             transposed ? "conv_transpose2d" : "conv2d", B, s->H, s->W, s->C, s->OC, s->K, s->S, s->P, col_images);
    float tol = 1e-5f * (float)(d.C * d.K * d.K + d.OC * d.K * d.K);
    fast_and_naive(transposed, o1, o2, dx1, dx2, dw1, dw2, db1, db2, col, g, x, w, b, B, &d, col_cap);
    CHECK(max_abs_diff(o1, o2, no) < tol, "%s forward: max diff %g", what, max_abs_diff(o1, o2, no));
    CHECK(max_abs_diff(dx1, dx2, nx) < tol, "%s dinp: max diff %g", what, max_abs_diff(dx1, dx2, nx));
    float tolw = 1e-5f * (float)(B * d.OH * d.OW + B * d.H * d.W);
    CHECK(max_abs_diff(dw1, dw2, nw) < tolw, "%s dweight: max diff %g", what, max_abs_diff(dw1, dw2, nw));
    CHECK(max_abs_diff(db1, db2, d.OC) < tolw, "%s dbias: max diff %g", what, max_abs_diff(db1, db2, d.OC));
    // no bias, no input gradient: the output starts from 0 and the weight gradient is the same
    memcpy(dw1, dw2, nw * 4);
    fast_and_naive(transposed, o1, o2, NULL, NULL, dw1, dw2, NULL, NULL, col, g, x, w, NULL, B, &d, col_cap);
    CHECK(max_abs_diff(o1, o2, no) < tol, "%s forward without bias: max diff %g", what, max_abs_diff(o1, o2, no));
    CHECK(max_abs_diff(dw1, dw2, nw) < 2 * tolw, "%s dweight without dinp: max diff %g", what,
          max_abs_diff(dw1, dw2, nw));
    float *bufs[] = {x, w, b, col, o1, o2, g, dx1, dx2, dw1, dw2, db1, db2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vae_mem_free(bufs[i]);
}

static void test_against_naive(void) {
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 2; t++) {
            run_compare(&shapes[i], t, 1);                   // one image per chunk
            if (shapes[i].B > 2) run_compare(&shapes[i], t, 2); // chunks of 2 and a short last one
            run_compare(&shapes[i], t, 64);                  // the whole batch at once
        }
    // the gradient of pixels that reach no output is exactly 0
    conv_dims d;
    vae__conv2d_dims(&d, 8, 6, 1, 1, 3, 2, 0); // rows 0..6 and columns 0..4 are read; row 7 and column 5 are not
    float x[48], w[9], g[3 * 2], dx[48], dw[9] = {0}, col[64];
    fill(x, 48, -1, 1), fill(w, 9, -1, 1), fill(g, 6, -1, 1);
    vae__conv2d_backward(dx, dw, NULL, col, g, x, w, 1, &d, 64);
    int zero = 1;
    for (int c = 0; c < 6; c++) zero &= dx[7 * 6 + c] == 0.0f;
    for (int r = 0; r < 8; r++) zero &= dx[r * 6 + 5] == 0.0f;
    CHECK(zero && max_abs(dx, 48) > 0, "unread pixels get no gradient, read ones do");
}

/* <conv2d(x; w), y> = <x, conv_transpose2d(y; w)> when the transposed layer maps the output grid back onto
 * the input exactly; and <im2col(x), c> = <x, col2im(c)>. */
static void test_adjoint(void) {
    const int B = 2, H = 9, W = 7, C = 3, OC = 4, K = 3, S = 2, P = 1;
    conv_dims a, t;
    CHECK(vae__conv2d_dims(&a, H, W, C, OC, K, S, P) == 0, "conv dims");
    CHECK(vae__conv_transpose2d_dims(&t, a.OH, a.OW, OC, C, K, S, P) == 0 && t.OH == H && t.OW == W,
          "transposed dims give back %dx%d: %dx%d", H, W, t.OH, t.OW);
    size_t nx = (size_t)B * H * W * C, ny = (size_t)B * a.OH * a.OW * OC, nw = (size_t)OC * C * K * K;
    size_t cap = 2 * (vae__conv_col_size(&a) > vae__conv_col_size(&t) ? vae__conv_col_size(&a) : vae__conv_col_size(&t));
    float *x = vae_malloc(nx * 4), *y = vae_malloc(ny * 4), *w = vae_malloc(nw * 4), *ax = vae_malloc(ny * 4);
    float *ty = vae_malloc(nx * 4), *col = vae_malloc(cap * 4);
    fill(x, nx, -1, 1), fill(y, ny, -1, 1), fill(w, nw, -1, 1);
    vae__conv2d_forward(ax, col, x, w, NULL, B, &a, cap);
    vae__conv_transpose2d_forward(ty, col, y, w, NULL, B, &t, cap); // weight (OC, C, K, K) read as (C', OC', K, K)
    double l = dot(ax, y, ny), r = dot(x, ty, nx);
    CHECK(fabs(l - r) < 1e-4 * fabs(l) + 1e-4, "<conv x, y> %.8g vs <x, convT y> %.8g", l, r);

    size_t ncol = vae__conv_col_size(&a);
    float *cx = vae_malloc(ncol * 4), *c = vae_malloc(ncol * 4), *img = vae_malloc((size_t)H * W * C * 4);
    fill(c, ncol, -1, 1);
    memset(img, 0, (size_t)H * W * C * 4);
    vae__conv_im2col(cx, x, H, W, C, a.OH, a.OW, K, S, P);
    vae__conv_col2im(img, c, H, W, C, a.OH, a.OW, K, S, P);
    l = dot(cx, c, ncol), r = dot(x, img, (size_t)H * W * C);
    CHECK(fabs(l - r) < 1e-4 * fabs(l) + 1e-4, "<im2col x, c> %.8g vs <x, col2im c> %.8g", l, r);
    float *bufs[] = {x, y, w, ax, ty, col, cx, c, img};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vae_mem_free(bufs[i]);
}

/* ---------------------------------------------------------------- layer gradients */

typedef struct {
    conv_dims d;
    int B;
    size_t col_cap;
    float *x, *w, *b, *out, *r, *col;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    if (c->d.transposed) vae__conv_transpose2d_forward(c->out, c->col, c->x, c->w, c->b, c->B, &c->d, c->col_cap);
    else vae__conv2d_forward(c->out, c->col, c->x, c->w, c->b, c->B, &c->d, c->col_cap);
    return dot(c->r, c->out, (size_t)c->B * c->d.OH * c->d.OW * c->d.OC);
}

static void test_layer_grads(void) {
    const shape s[] = {{2, 7, 5, 3, 4, 3, 2, 1}, {3, 5, 6, 2, 3, 4, 2, 1}, {2, 4, 3, 2, 2, 3, 1, 0}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        for (int t = 0; t < 2; t++) {
            conv_ctx c = {.B = s[i].B};
            if (t) vae__conv_transpose2d_dims(&c.d, s[i].H, s[i].W, s[i].C, s[i].OC, s[i].K, s[i].S, s[i].P);
            else vae__conv2d_dims(&c.d, s[i].H, s[i].W, s[i].C, s[i].OC, s[i].K, s[i].S, s[i].P);
            size_t nx = (size_t)c.B * c.d.H * c.d.W * c.d.C, no = (size_t)c.B * c.d.OH * c.d.OW * c.d.OC;
            size_t nw = (size_t)c.d.C * c.d.OC * c.d.K * c.d.K;
            c.col_cap = vae__conv_col_size(&c.d); // one image per chunk
            c.x = vae_malloc(nx * 4), c.w = vae_malloc(nw * 4), c.b = vae_malloc(c.d.OC * 4);
            c.out = vae_malloc(no * 4), c.r = vae_malloc(no * 4), c.col = vae_malloc(c.col_cap * 4);
            float *dx = vae_malloc(nx * 4), *dw = vae_calloc(nw, 4), *db = vae_calloc(c.d.OC, 4);
            fill(c.x, nx, -1, 1), fill(c.w, nw, -1, 1), fill(c.b, c.d.OC, -1, 1), fill(c.r, no, -1, 1);
            // the loss sum(r * out) has d(loss)/d(out) = r
            if (t) vae__conv_transpose2d_backward(dx, dw, db, c.col, c.r, c.x, c.w, c.B, &c.d, c.col_cap);
            else vae__conv2d_backward(dx, dw, db, c.col, c.r, c.x, c.w, c.B, &c.d, c.col_cap);
            char name[96];
            const char *kind = t ? "conv_transpose2d" : "conv2d";
            snprintf(name, sizeof name, "%s %zu dinp", kind, i);
            check_grad(name, conv_loss, &c, c.x, dx, nx, 1e-3);
            snprintf(name, sizeof name, "%s %zu dweight", kind, i);
            check_grad(name, conv_loss, &c, c.w, dw, nw, 1e-3);
            snprintf(name, sizeof name, "%s %zu dbias", kind, i);
            check_grad(name, conv_loss, &c, c.b, db, c.d.OC, 1e-3);
            float *bufs[] = {c.x, c.w, c.b, c.out, c.r, c.col, dx, dw, db};
            for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) vae_mem_free(bufs[k]);
        }
}

/* ---------------------------------------------------------------- whole model */


static vae_config conv_config(int H, int W, int C, int c1, int c2) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = H, cfg.width = W, cfg.channels = C;
    cfg.arch = VAE_CONV;
    cfg.n_conv = c2 > 0 ? 2 : 1;
    cfg.conv_channels[0] = c1, cfg.conv_channels[1] = c2;
    cfg.n_hidden = 0;
    cfg.n_latent = 3;
    cfg.activation = VAE_TANH; // smooth, so finite differences are exact enough everywhere
    return cfg;
}


static void test_model_grads(void) {
    vae_config cfg = conv_config(8, 8, 1, 2, 3);
    check_model("conv 8x8x1 channels 2,3", &cfg);
    cfg = conv_config(4, 12, 3, 2, 3); // not square, 3 channels: catches mixed-up axes and channel order
    cfg.n_hidden = 1, cfg.hidden[0] = 5;
    cfg.likelihood = VAE_GAUSSIAN;
    check_model("conv 4x12x3 gaussian hidden 5", &cfg);
    cfg = conv_config(6, 10, 2, 3, 0);
    cfg.n_classes = 3;
    check_model("conv 6x10x2 one layer conditional", &cfg);
    cfg = conv_config(8, 4, 2, 3, 2);
    cfg.n_classes = 3, cfg.n_hidden = 2, cfg.hidden[0] = 6, cfg.hidden[1] = 4;
    check_model("conv 8x4x2 conditional 2 hidden", &cfg);
    cfg = conv_config(8, 8, 1, 2, 3);
    cfg.ae = 1;
    check_model("conv autoencoder", &cfg);
    cfg = conv_config(8, 8, 1, 3, 2);
    cfg.activation = VAE_RELU;
    grad_h = 2e-3; // smaller steps cross fewer of relu's kinks
    check_model("conv relu", &cfg);
    grad_h = 1e-2;
}

/* The model's buffers for a large batch chunk the im2col work; the result must not depend on the chunking:
 * one forward of 40 images equals 40 forwards of one. */
static void test_model_batch_independence(void) {
    vae_config cfg = conv_config(8, 8, 2, 3, 4);
    cfg.n_latent = 2;
    vae_model *m;
    CHECK(vae_create(&m, &cfg, 40, &rng) == VAE_OK, "create: %s", vae_last_error());
    int D = m->D;
    float x[40 * 128], mu_all[40 * 2], mu_one[2], out_all[40 * 128], out_one[128], z[40 * 2];
    fill(x, (size_t)40 * D, 0, 1), fill(z, 80, -1, 1);
    CHECK(vae_encode(m, x, NULL, 40, mu_all, NULL) == VAE_OK, "encode");
    CHECK(vae_decode(m, z, NULL, 40, out_all) == VAE_OK, "decode");
    float dmax = 0;
    for (int b = 0; b < 40; b++) {
        vae_encode(m, x + (size_t)b * D, NULL, 1, mu_one, NULL);
        dmax = fmaxf(dmax, max_abs_diff(mu_one, mu_all + 2 * b, 2));
        vae_decode(m, z + 2 * b, NULL, 1, out_one);
        dmax = fmaxf(dmax, max_abs_diff(out_one, out_all + (size_t)b * D, D));
    }
    CHECK(dmax < 1e-5f, "one batch of 40 vs 40 batches of 1: max diff %g", dmax);
    vae_free(m);
}

/* The importance-weighted estimate reads the decoder's output as every other path does (m->out, the list's
 * last entry's; in a conv model the last dense entry, dec.proj, gives the feature map, not the logits): -log p(x) with k samples lies below the
 * one-sample negative ELBO on average (k = 20 gains a few nats; a wrong output buffer is off by hundreds). */
static void test_model_iwae(void) {
    vae_config cfg = conv_config(8, 8, 1, 4, 8);
    vae_model *m;
    CHECK(vae_create(&m, &cfg, 40, &rng) == VAE_OK, "create: %s", vae_last_error());
    // logits near +3 everywhere: a fresh model's near-0 logits would give about the same loss from any buffer
    int t = vae_tensor_index(m, "dec.deconv2.bias");
    m->params[m->tensors[t].offset] = 3.0f;
    float x[16 * 64], loss[16], nll[16];
    fill(x, sizeof x / sizeof x[0], 0, 1);
    vae_rng r;
    vae_rng_seed(&r, 3);
    double elbo = 0, iw = 0;
    for (int rep = 0; rep < 8; rep++) { // average the one-sample ELBO over draws
        vae_eval_batch(m, x, NULL, 16, &r, loss, NULL, NULL);
        for (int b = 0; b < 16; b++) elbo += loss[b] / (8.0 * 16);
    }
    vae_status st = vae_iwae_nll(m, x, NULL, 16, 20, &r, nll);
    CHECK(st == VAE_OK, "iwae: %s", vae_last_error());
    for (int b = 0; b < 16; b++) iw += nll[b] / 16.0;
    CHECK(iw <= elbo + 0.5 && iw > elbo - 20, "conv model: IWAE -log p(x) (k=20) %.3f vs negative ELBO %.3f: the IWAE "
          "path must read the decoder output from m->out", iw, elbo);
    vae_free(m);
}

/* ---------------------------------------------------------------- configuration and files */

static void test_config_errors(void) {
    vae_model *m = NULL;
    vae_config cfg = conv_config(30, 28, 1, 32, 64); // 30 is not divisible by 4
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG && !m, "30x28 with two stride-2 layers refused");
    CHECK(strstr(vae_last_error(), "divisible by 4") && strstr(vae_last_error(), "30x28"), "message: %s",
          vae_last_error());
    cfg = conv_config(28, 28, 1, 32, 64);
    cfg.n_conv = 0;
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG, "conv without channels refused");
    cfg.n_conv = VAE_MAX_CONV + 1;
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG, "too many conv layers refused");
    cfg = conv_config(28, 28, 1, 0, 64);
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG, "0 channels refused");
    vae_config_default(&cfg);
    cfg.n_conv = 2;
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG, "conv channels on an mlp refused: %s", vae_last_error());
    cfg = conv_config(28, 28, 1, 32, 64);
    cfg.arch = (vae_arch)7;
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_ERR_ARG, "unknown architecture refused");
    // the default conv network for 28x28: 32 and 64 channels, 7x7 feature map, back up to 28x28x1
    cfg = conv_config(28, 28, 1, 32, 64);
    cfg.n_latent = 20;
    CHECK(vae_create(&m, &cfg, 4, &rng) == VAE_OK, "default conv: %s", vae_last_error());
    if (m) {
        CHECK(m->F == 7 * 7 * 64, "feature map %d", m->F);
        const vae_layer *last = &m->layers[m->n_layers - 1];
        CHECK(last->kind == VAE_LAYER_DECONV && last->d.OH == 28 && last->d.OW == 28 && last->d.OC == 1,
              "output 28x28x1");
        int t = vae_tensor_index(m, "enc.conv2.weight"), u = vae_tensor_index(m, "dec.deconv1.weight");
        CHECK(t >= 0 && m->tensors[t].ndim == 4 && m->tensors[t].shape[0] == 64 && m->tensors[t].shape[1] == 32 &&
                  m->tensors[t].shape[2] == 3 && m->tensors[t].shape[3] == 3,
              "enc.conv2.weight (64, 32, 3, 3)");
        CHECK(u >= 0 && m->tensors[u].shape[0] == 64 && m->tensors[u].shape[1] == 32 && m->tensors[u].shape[2] == 4,
              "dec.deconv1.weight (64, 32, 4, 4)");
        CHECK(vae_tensor_index(m, "dec.proj.weight") >= 0 && vae_tensor_index(m, "dec.out.weight") < 0, "dec.proj");
        vae_free(m);
    }
}

static void test_checkpoint_roundtrip(void) {
    vae_config cfg = conv_config(8, 12, 3, 4, 5);
    cfg.n_hidden = 1, cfg.hidden[0] = 7, cfg.n_classes = 2, cfg.likelihood = VAE_GAUSSIAN;
    vae_model *a, *b = NULL;
    CHECK(vae_create(&a, &cfg, 3, &rng) == VAE_OK, "create");
    char path[] = "/tmp/test_conv_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(vae_save(a, path) == VAE_OK, "save: %s", vae_last_error());
    CHECK(vae_load(&b, path, 3) == VAE_OK, "load: %s", vae_last_error());
    if (b) {
        const vae_config *c = vae_get_config(b);
        CHECK(c->arch == VAE_CONV && c->n_conv == 2 && c->conv_channels[0] == 4 && c->conv_channels[1] == 5 &&
                  c->n_hidden == 1 && c->hidden[0] == 7 && c->n_classes == 2,
              "configuration survives");
        CHECK(b->n_params == a->n_params && memcmp(a->params, b->params, a->n_params * 4) == 0, "parameters survive");
        float x[3 * 8 * 12 * 3], z[3 * 3], oa[3 * 288], ob[3 * 288];
        int labels[3] = {1, 0, 1};
        fill(x, sizeof x / 4, 0, 1), fill(z, 9, -1, 1);
        vae_decode(a, z, labels, 3, oa);
        vae_decode(b, z, labels, 3, ob);
        CHECK(memcmp(oa, ob, sizeof oa) == 0, "same outputs");
    }
    st_file f;
    CHECK(vae__st_read(&f, path) == VAE_OK, "vae__st_read: %s", vae_last_error());
    const st_tensor *t = vae__st_find(&f, "enc.conv1.weight");
    CHECK(t && t->ndim == 4 && t->shape[0] == 4 && t->shape[1] == 3 && t->shape[2] == 3 && t->shape[3] == 3,
          "enc.conv1.weight stored as (4, 3, 3, 3)");
    t = vae__st_find(&f, "dec.deconv2.weight");
    CHECK(t && t->ndim == 4 && t->shape[0] == 4 && t->shape[1] == 3 && t->shape[2] == 4 && t->shape[3] == 4,
          "dec.deconv2.weight stored as (4, 3, 4, 4)");
    int arch_conv = 0, channels = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (!strcmp(f.meta_keys[i], "arch")) arch_conv = !strcmp(f.meta_values[i], "conv");
        if (!strcmp(f.meta_keys[i], "conv_channels")) channels = !strcmp(f.meta_values[i], "4,5");
    }
    CHECK(arch_conv && channels, "metadata arch=conv, conv_channels=4,5");
    vae__st_free(&f);
    // a model file whose metadata asks for other channels than its tensors hold is refused by name
    vae_meta meta;
    memset(&meta, 0, sizeof meta);
    vae_config_to_meta(&cfg, &meta);
    CHECK(!strcmp(vae_meta_get(&meta, "arch"), "conv"), "arch key");
    vae_meta_set(&meta, "conv_channels", "4,x");
    vae_config back;
    CHECK(vae_config_from_meta(&back, &meta, "m.safetensors") == VAE_ERR_FORMAT, "bad conv_channels refused");
    vae_meta_set(&meta, "conv_channels", "4,5");
    vae_meta_set(&meta, "height", "10");
    CHECK(vae_config_from_meta(&back, &meta, "m.safetensors") == VAE_ERR_FORMAT &&
              strstr(vae_last_error(), "divisible"),
          "height 10 with two layers refused: %s", vae_last_error());
    vae_meta_set(&meta, "height", "8");
    vae_meta_set(&meta, "arch", "mlp");
    CHECK(vae_config_from_meta(&back, &meta, "m.safetensors") == VAE_OK && back.arch == VAE_MLP && back.n_conv == 0,
          "arch=mlp reads no conv_channels");
    unlink(path);
    vae_free(a);
    vae_free(b);
}

int main(void) {
    vae_rng_seed(&rng, 4321);
    test_known_values();
    test_against_naive();
    test_adjoint();
    test_layer_grads();
    test_model_grads();
    test_model_batch_independence();
    test_model_iwae();
    test_config_errors();
    test_checkpoint_roundtrip();
    TEST_MAIN_END();
}
