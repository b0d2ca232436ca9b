/* test_pictures_layout.c: the layout of every picture subcommand (src/pictures_lib.c), checked pixel by
 * pixel by reading the PNG back with stb_image.
 *
 * The pictures are built from a tiny model of odd, non-square images (3 high, 2 wide; one test in RGB)
 * whose parameters are scaled up so that its outputs spread over [0, 1] and cells differ. The expected
 * cells are computed here independently of the layout code: the latent points from the formulas
 * (inverse normal CDF, linear walk, generator draws), decoded in one call in reading order, data
 * pixels straight from the data set. Every PNG pixel is then compared with a reference renderer written
 * here (cells of scale x scale blocks, a 1-pixel grey-128 border, grey 128 in empty cells), so a flip,
 * transpose, swapped channel, shifted cell or wrong orientation fails. The scatter plot is checked for
 * colours at the right places: each class's dot has its class colour, and the dots sit where the chosen
 * latent dims put them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* mkdtemp */
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairo.h>
#include <stb_image.h>

#include "common.h"
#include "data.h"
#include "image.h"
#include "model.h"
#include "pictures_lib.h"
#include "stats.h"
#include "test.h"

static char dir[256];

static const char *in_dir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* The writer's byte for a value, written out again: round(clamp(v, 0, 1) * 255), NaN as 0. */
static int ref_byte(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* Compare the PNG at path with the mosaic cells (n, h, w, c) laid out cols per row at `scale` with a
 * 1-pixel border: every pixel. @return the number of wrong pixels (-1: unreadable or wrong size). */
static int check_png(const char *path, const float *cells, int n, int cols, int h, int w, int c, int scale) {
    int W, H, comp;
    uint8_t *px = stbi_load(path, &W, &H, &comp, 0);
    if (!px) {
        fprintf(stderr, "%s: %s\n", path, stbi_failure_reason());
        return -1;
    }
    int rows = (n + cols - 1) / cols, cw = w * scale + 1, ch = h * scale + 1;
    if (comp != c || W != cols * cw + 1 || H != rows * ch + 1) {
        fprintf(stderr, "%s: %dx%d with %d channels, want %dx%d with %d\n", path, W, H, comp, cols * cw + 1,
                rows * ch + 1, c);
        stbi_image_free(px);
        return -1;
    }
    int bad = 0;
    for (int Y = 0; Y < H; Y++)
        for (int X = 0; X < W; X++)
            for (int k = 0; k < c; k++) {
                int want = 128;  /* border or empty cell */
                int cx = (X - 1) / cw, cy = (Y - 1) / ch, x = (X - 1) % cw, y = (Y - 1) % ch;
                if (X >= 1 && Y >= 1 && x < w * scale && y < h * scale && cy * cols + cx < n) {
                    const float *cell = cells + (size_t)(cy * cols + cx) * h * w * c;
                    want = ref_byte(cell[((y / scale) * w + x / scale) * c + k]);
                }
                int got = px[((size_t)Y * W + X) * c + k];
                if (got != want && bad++ < 5)
                    fprintf(stderr, "%s: pixel (%d,%d) channel %d = %d, want %d\n", path, X, Y, k, got, want);
            }
    stbi_image_free(px);
    return bad;
}

/* A tiny MLP model of h x w x c images; parameters scaled so its outputs spread over [0, 1]. */
static vae_model *tiny_model(int h, int w, int c, int Z, int K, int max_batch) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = h, cfg.width = w, cfg.channels = c;
    cfg.n_hidden = 1, cfg.hidden[0] = 7;
    cfg.n_latent = Z;
    cfg.n_classes = K;
    vae_rng rng;
    vae_rng_seed(&rng, 42);
    vae_model *m = NULL;
    vae_status st = vae_create(&m, &cfg, max_batch, &rng);
    CHECK(st == VAE_OK, "vae_create: %s", vae_last_error());
    if (!m) return NULL;
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 4.0f;
    return m;
}

/* Decoded cells must differ from each other and from the border grey, or a misplaced cell could pass. */
static void check_spread(const float *cells, int n, int D, const char *what) {
    int flat = 0, same = 0;
    for (int i = 0; i < n; i++) {
        double dev = 0;
        for (int j = 0; j < D; j++) dev = fmax(dev, fabs(cells[(size_t)i * D + j] - 0.5));
        flat += dev < 0.05;
        for (int k = i + 1; k < n; k++) same += vae_l2_distance(cells + (size_t)i * D, cells + (size_t)k * D, D) < 0.02;
    }
    CHECK(flat == 0 && same == 0, "%s: %d cells near grey, %d pairs alike: the test could pass by accident", what, flat,
          same);
}

/* An in-memory data set of n images h x w x c with distinct bytes, and labels. */
typedef struct {
    vae_dataset ds;
    uint8_t pixels[16 * 3 * 2 * 3];
    uint8_t labels[16];
} tiny_data;

static void make_data(tiny_data *t, int n, int h, int w, int c, const uint8_t *labels, int n_classes) {
    memset(t, 0, sizeof *t);
    int D = h * w * c;
    for (int i = 0; i < n * D; i++) t->pixels[i] = (uint8_t)((37 * i + 11) % 251);  /* distinct within an image */
    if (labels) memcpy(t->labels, labels, (size_t)n);
    t->ds = (vae_dataset){.n = n, .height = h, .width = w, .channels = c, .dim = D, .pixels = t->pixels,
                          .labels = labels ? t->labels : NULL, .n_classes = n_classes};
}

/* ---------------------------------------------------------------- pure layouts */

static void test_layouts(void) {
    /* manifold: Z = 3, x varies dim 2, y varies dim 0 (asymmetric on purpose), dim 1 stays 0 */
    enum { G = 4, Z = 3 };
    float z[G * G * Z];
    vae_manifold_z(z, G, Z, 2, 0);
    double p[G] = {0.05, 0.35, 0.65, 0.95};
    int bad = 0;
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) {
            const float *zi = z + (r * G + c) * Z;
            float want_x = (float)vae_normal_ppf(p[c]), want_y = (float)vae_normal_ppf(p[G - 1 - r]);
            if (zi[2] != want_x || zi[0] != want_y || zi[1] != 0.0f) {
                if (bad++ < 3) fprintf(stderr, "manifold cell (%d,%d): z = %g %g %g\n", r, c, zi[0], zi[1], zi[2]);
            }
        }
    CHECK(bad == 0, "%d manifold points wrong", bad);
    /* the corners, written out: top-left is (x low, y high), bottom-right (x high, y low) */
    CHECK_CLOSE(z[0 * Z + 2], -1.6448536269514727, 1e-6);
    CHECK_CLOSE(z[0 * Z + 0], 1.6448536269514727, 1e-6);
    CHECK_CLOSE(z[(G * G - 1) * Z + 2], 1.6448536269514727, 1e-6);
    CHECK_CLOSE(z[(G * G - 1) * Z + 0], -1.6448536269514727, 1e-6);
    /* the default 20 x 20 grid: p_i = 0.05 + 0.9 i / 19 */
    for (int i = 0; i < 20; i++) CHECK_CLOSE(vae_manifold_coord(i, 20), vae_normal_ppf(0.05 + 0.9 * i / 19.0), 1e-15);
    CHECK_CLOSE(vae_manifold_coord(19, 20), 1.6448536269514727, 1e-13);
    CHECK(vae_manifold_coord(0, 1) == 0.0, "grid 1: the centre");

    /* interpolation: both ends exact, even steps between */
    float za[2] = {1, -2}, zb[2] = {4, 2}, path[4 * 2];
    vae_interp_z(path, za, zb, 2, 4);
    CHECK(path[0] == 1 && path[1] == -2 && path[6] == 4 && path[7] == 2, "interpolation ends");
    CHECK_CLOSE(path[2], 2.0, 1e-6);
    CHECK_CLOSE(path[5], 2.0 / 3.0, 1e-6);

    /* recon: 5 images, 2 per row: originals in rows 0, 2, 4, reconstructions below them */
    CHECK(vae_recon_rows(5, 2) == 6, "recon rows %d", vae_recon_rows(5, 2));
    int want_orig[5] = {0, 1, 4, 5, 8}, want_rec[5] = {2, 3, 6, 7, 10};
    for (int i = 0; i < 5; i++)
        CHECK(vae_recon_cell(i, 2, 0) == want_orig[i] && vae_recon_cell(i, 2, 1) == want_rec[i], "recon cells of image %d",
              i);

    /* sample columns: square-ish, or one per class when labels cycle */
    CHECK(vae_sample_cols(64, 0) == 8 && vae_sample_cols(65, 0) == 9 && vae_sample_cols(1, 0) == 1 &&
              vae_sample_cols(10, 0) == 4 && vae_sample_cols(64, 10) == 10,
          "sample columns");

    /* automatic scale: a 28x28 digit gets 2, small images more, large ones 1 */
    CHECK(vae_mosaic_auto_scale(28, 28) == 2 && vae_mosaic_auto_scale(7, 5) == 7 && vae_mosaic_auto_scale(64, 64) == 1,
          "auto scale %d %d %d", vae_mosaic_auto_scale(28, 28), vae_mosaic_auto_scale(7, 5), vae_mosaic_auto_scale(64, 64));
    CHECK(vae_mosaic_check(400, 20, 28, 28, 2) == VAE_OK, "20 x 20 manifold fits");
    CHECK(vae_mosaic_check(100000, 317, 28, 28, 16) == VAE_ERR_ARG, "a huge mosaic is refused before work");
}

static void test_smoothness_and_means(void) {
    /* 2 x 2 grid of 1-pixel images [0 1; 2 4]: neighbours 1, 2, 3, 2 (mean 2); all pairs 1,2,4,1,3,2 (13/6) */
    vae_mosaic mo;
    CHECK(vae_mosaic_init(&mo, 4, 2, 1, 1, 1) == VAE_OK, "init");
    CHECK(mo.cells[3] == 0.5f, "cells start at border grey");
    mo.cells[0] = 0, mo.cells[1] = 1, mo.cells[2] = 2, mo.cells[3] = 4;
    double near = 0, far = 0;
    CHECK(vae_grid_smoothness(&mo, 2, &near, &far) == VAE_OK, "smoothness");
    CHECK_CLOSE(near, 2.0, 1e-12);
    CHECK_CLOSE(far, 13.0 / 6.0, 1e-12);
    CHECK(vae_grid_smoothness(&mo, 3, &near, &far) == VAE_ERR_ARG, "a grid larger than the mosaic is refused");
    vae_mosaic_free(&mo);

    float mu[5 * 2] = {0, 0, 9, 9, 2, 4, 1, 1, 5, 5};
    uint8_t labels[5] = {1, 0, 1, 1, 3};
    float mean[2] = {-7, -7};
    int count = -1, nearest = -2;
    CHECK(vae_class_mean(mu, labels, 5, 2, 1, mean, &count, &nearest) == VAE_OK, "class mean");
    CHECK(count == 3 && mean[0] == 1.0f && mean[1] == 5.0f / 3.0f && nearest == 3, "class 1: %d, (%g, %g), nearest %d",
          count, mean[0], mean[1], nearest);
    CHECK(vae_class_mean(mu, labels, 5, 2, 2, mean, &count, &nearest) == VAE_OK && count == 0 && nearest == -1,
          "an absent class");
}

/* ---------------------------------------------------------------- pictures from a model */

enum { H = 3, W = 2 };  /* images 3 high, 2 wide (PW, PH: a plot's size in pixels) */

static void test_sample(void) {
    enum { N = 5, Z = 2, SCALE = 2 };
    vae_model *m = tiny_model(H, W, 1, Z, 0, 16);
    if (!m) return;
    vae_mosaic mo;
    vae_status st = vae_picture_sample(m, N, 7, -1, &mo);
    CHECK(st == VAE_OK, "sample: %s", vae_last_error());
    if (st) goto out;
    CHECK(mo.n == N && mo.cols == 3 && mo.h == H && mo.w == W && mo.c == 1, "sample shape %d cells, %d cols", mo.n, mo.cols);
    /* expected: z drawn cell by cell, dim by dim, decoded in reading order */
    vae_rng rng;
    vae_rng_seed(&rng, 7);
    float z[N * Z], want[N * H * W];
    for (int i = 0; i < N * Z; i++) z[i] = vae_rng_normal(&rng);
    CHECK(vae_decode(m, z, NULL, N, want) == VAE_OK, "decode");
    check_spread(want, N, H * W, "sample");
    CHECK(vae_mosaic_write(&mo, in_dir("sample.png"), SCALE) == VAE_OK, "write: %s", vae_last_error());
    int bad = check_png(in_dir("sample.png"), want, N, 3, H, W, 1, SCALE);
    CHECK(bad == 0, "sample: %d pixels wrong", bad);
    vae_mosaic_free(&mo);
    /* a label for an unconditional model is refused */
    CHECK(vae_picture_sample(m, N, 7, 1, &mo) == VAE_ERR_ARG && mo.cells == NULL, "label without classes");
out:
    vae_free(m);
}

static void test_sample_conditional(void) {
    enum { N = 7, Z = 2, K = 3 };
    vae_model *m = tiny_model(H, W, 1, Z, K, 16);
    if (!m) return;
    float z[N * Z], want[N * H * W];
    int labels[N];
    for (int pass = 0; pass < 2; pass++) {
        int label = pass == 0 ? -1 : 2;  /* cycle (one column per class), then all class 2 */
        vae_mosaic mo;
        vae_status st = vae_picture_sample(m, N, 3, label, &mo);
        CHECK(st == VAE_OK, "conditional sample: %s", vae_last_error());
        if (st) continue;
        int cols = label < 0 ? K : 3;
        CHECK(mo.cols == cols, "conditional sample: %d columns, want %d", mo.cols, cols);
        vae_rng rng;
        vae_rng_seed(&rng, 3);
        for (int i = 0; i < N * Z; i++) z[i] = vae_rng_normal(&rng);
        for (int i = 0; i < N; i++) labels[i] = label < 0 ? i % K : label;
        CHECK(vae_decode(m, z, labels, N, want) == VAE_OK, "decode");
        CHECK(vae_mosaic_write(&mo, in_dir("csample.png"), 1) == VAE_OK, "write: %s", vae_last_error());
        int bad = check_png(in_dir("csample.png"), want, N, cols, H, W, 1, 1);
        CHECK(bad == 0, "conditional sample (label %d): %d pixels wrong", label, bad);
        vae_mosaic_free(&mo);
    }
    vae_mosaic mo;
    CHECK(vae_picture_sample(m, N, 3, K, &mo) == VAE_ERR_ARG, "label out of range refused");
    CHECK(vae_picture_manifold(m, 3, 0, 1, -1, &mo) == VAE_ERR_ARG, "manifold of a conditional model needs a label");
    vae_free(m);
}

static void test_manifold(void) {
    enum { G = 4, Z = 3, SCALE = 3 };
    vae_model *m = tiny_model(H, W, 1, Z, 0, 64);
    if (!m) return;
    vae_mosaic mo;
    vae_status st = vae_picture_manifold(m, G, 2, 0, -1, &mo);  /* x: dim 2, y: dim 0 */
    CHECK(st == VAE_OK, "manifold: %s", vae_last_error());
    if (st) goto out;
    CHECK(mo.n == G * G && mo.cols == G, "manifold shape %d cells, %d cols", mo.n, mo.cols);
    /* expected: cell (r, c) at z[2] = ppf(p_c), z[0] = ppf(p_{G-1-r}) with p_i = 0.05 + 0.9 i / (G - 1) */
    float z[G * G * Z], want[G * G * H * W];
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) {
            float *zi = z + (r * G + c) * Z;
            zi[0] = (float)vae_normal_ppf(0.05 + 0.9 * (G - 1 - r) / (G - 1));
            zi[1] = 0.0f;
            zi[2] = (float)vae_normal_ppf(0.05 + 0.9 * c / (G - 1));
        }
    CHECK(vae_decode(m, z, NULL, G * G, want) == VAE_OK, "decode");
    check_spread(want, G * G, H * W, "manifold");
    CHECK(vae_mosaic_write(&mo, in_dir("manifold.png"), SCALE) == VAE_OK, "write: %s", vae_last_error());
    int bad = check_png(in_dir("manifold.png"), want, G * G, G, H, W, 1, SCALE);
    CHECK(bad == 0, "manifold: %d pixels wrong", bad);
    vae_mosaic_free(&mo);
    CHECK(vae_picture_manifold(m, G, 0, 3, -1, &mo) == VAE_ERR_ARG, "dim 3 of a 3-D latent refused");
    CHECK(vae_picture_manifold(m, G, 1, 1, -1, &mo) == VAE_ERR_ARG, "equal dims refused");
out:
    vae_free(m);
}

static void test_interpolate(void) {
    enum { N = 3, Z = 2, STEPS = 4, SCALE = 2 };
    vae_model *m = tiny_model(H, W, 1, Z, 0, 16);
    if (!m) return;
    tiny_data t;
    uint8_t labels[N] = {2, 0, 7};
    make_data(&t, N, H, W, 1, labels, 8);
    /* from image 2 to image 0 (the reverse of storage order); the ends in latent space are far apart so
     * that the decoded steps differ (the CLI passes the images' codes or class means) */
    float mu[2 * Z] = {-2.0f, 1.5f, 2.0f, -1.0f};
    vae_mosaic mo;
    vae_status st = vae_picture_interpolate(m, &t.ds, 2, 0, mu, mu + Z, STEPS, &mo);
    CHECK(st == VAE_OK, "interpolate: %s", vae_last_error());
    if (st) goto out;
    CHECK(mo.n == STEPS + 2 && mo.cols == STEPS + 2, "interpolate: %d cells, %d cols", mo.n, mo.cols);
    /* expected row: image 2's pixels, decode(z_A + k/3 (z_B - z_A)) for k = 0..3, image 0's pixels */
    float want[(STEPS + 2) * H * W], z[STEPS * Z];
    for (int k = 0; k < STEPS; k++)
        for (int j = 0; j < Z; j++) z[k * Z + j] = (float)((1.0 - k / 3.0) * mu[j] + k / 3.0 * mu[Z + j]);
    CHECK(vae_decode(m, z, NULL, STEPS, want + H * W) == VAE_OK, "decode");
    check_spread(want + H * W, STEPS, H * W, "interpolation");
    for (int i = 0; i < H * W; i++) {
        want[i] = t.pixels[2 * H * W + i] / 255.0f;
        want[(STEPS + 1) * H * W + i] = t.pixels[i] / 255.0f;
    }
    CHECK(vae_mosaic_write(&mo, in_dir("interp.png"), SCALE) == VAE_OK, "write: %s", vae_last_error());
    int bad = check_png(in_dir("interp.png"), want, STEPS + 2, STEPS + 2, H, W, 1, SCALE);
    CHECK(bad == 0, "interpolate: %d pixels wrong", bad);
    vae_mosaic_free(&mo);
    CHECK(vae_picture_interpolate(m, &t.ds, 0, 3, mu, mu + Z, STEPS, &mo) == VAE_ERR_ARG, "index 3 of 3 images refused");
out:
    vae_free(m);
}

/* RGB: an asymmetric 3x2 colour image catches swapped channels as well as flips. */
static void test_recon_rgb(void) {
    enum { N = 5, COLS = 2, Z = 2, C = 3, SCALE = 2 };
    vae_model *m = tiny_model(H, W, C, Z, 0, 2);  /* max_batch 2 < 5: encoding and decoding go in chunks */
    if (!m) return;
    tiny_data t;
    make_data(&t, 6, H, W, C, NULL, 0);
    vae_mosaic mo;
    vae_status st = vae_picture_recon(m, &t.ds, N, COLS, &mo);
    CHECK(st == VAE_OK, "recon: %s", vae_last_error());
    if (st) goto out;
    int D = H * W * C, cells = 12;  /* 6 rows of 2: originals, reconstructions, ...; cells 9 and 11 empty */
    CHECK(mo.n == cells && mo.cols == COLS, "recon: %d cells, %d cols", mo.n, mo.cols);
    float want[12 * H * W * C], x[N * H * W * C], mu[N * Z];
    for (int i = 0; i < cells * D; i++) want[i] = 0.5f;
    vae_dataset_batch(&t.ds, NULL, 0, N, x);
    for (int s = 0; s < N; s += 2) {  /* the same chunks of max_batch rows */
        int k = N - s < 2 ? N - s : 2;
        CHECK(vae_encode(m, x + s * D, NULL, k, mu + s * Z, NULL) == VAE_OK, "encode");
    }
    float recs[N * H * W * C];
    for (int s = 0; s < N; s += 2) {
        int k = N - s < 2 ? N - s : 2;
        CHECK(vae_decode(m, mu + s * Z, NULL, k, recs + s * D) == VAE_OK, "decode");
    }
    static const int orig_cell[N] = {0, 1, 4, 5, 8}, rec_cell[N] = {2, 3, 6, 7, 10};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) want[orig_cell[i] * D + j] = t.pixels[i * D + j] / 255.0f;
        memcpy(want + rec_cell[i] * D, recs + i * D, D * sizeof(float));
    }
    check_spread(recs, N, D, "reconstructions");
    CHECK(vae_mosaic_write(&mo, in_dir("recon.png"), SCALE) == VAE_OK, "write: %s", vae_last_error());
    int bad = check_png(in_dir("recon.png"), want, cells, COLS, H, W, C, SCALE);
    CHECK(bad == 0, "recon: %d pixels wrong", bad);
    vae_mosaic_free(&mo);
    CHECK(vae_picture_recon(m, &t.ds, 7, COLS, &mo) == VAE_ERR_ARG, "more images than the set holds refused");
out:
    vae_free(m);
}

/* ---------------------------------------------------------------- scatter */

typedef struct {
    double x, y;
    int n;
} centroid;

/* Centroid of the pixels within 3 of colour (1 - a) * white + a * class colour, skipping any pixel near
 * a pixel of the pure class colour (the legend's opaque dots, whose antialiased edges blend too). */
static centroid find_colour(const uint8_t *px, int PW, int PH, int k, double alpha) {
    double rgb[3];
    vae_class_color(k, rgb);
    int want[3], pure[3];
    for (int j = 0; j < 3; j++) want[j] = (int)lround(255 * ((1 - alpha) + alpha * rgb[j])), pure[j] = (int)lround(255 * rgb[j]);
    centroid c = {0, 0, 0};
    for (int Y = 0; Y < PH; Y++)
        for (int X = 0; X < PW; X++) {
            const uint8_t *p = px + ((size_t)Y * PW + X) * 3;
            if (abs(p[0] - want[0]) > 3 || abs(p[1] - want[1]) > 3 || abs(p[2] - want[2]) > 3) continue;
            int near_pure = 0;
            for (int dy = -6; dy <= 6 && !near_pure; dy++)
                for (int dx = -6; dx <= 6 && !near_pure; dx++) {
                    int x = X + dx, y = Y + dy;
                    if (x < 0 || y < 0 || x >= PW || y >= PH) continue;
                    const uint8_t *q = px + ((size_t)y * PW + x) * 3;
                    near_pure = abs(q[0] - pure[0]) <= 2 && abs(q[1] - pure[1]) <= 2 && abs(q[2] - pure[2]) <= 2;
                }
            if (near_pure) continue;
            c.x += X, c.y += Y, c.n++;
        }
    if (c.n) c.x /= c.n, c.y /= c.n;
    return c;
}

static void test_scatter(void) {
    /* Three points, Z = 3, plotted dims (2, 0). Dim 1 orders them differently, so a wrong dim shows.
     *   label 2 at x = -1, y = -1;  label 0 at x = 1, y = -0.5;  label 5 at x = 0.2, y = 1
     * (not class 7: its grey blends like the grid and the text). 1600x1200 so each dot has a solid core. */
    float mu[3 * 3] = {-1, 5, -1, -0.5f, -3, 1, 1, 0, 0.2f};
    int labels[3] = {2, 0, 5};
    const char *path = in_dir("scatter.png");
    vae_status st = vae_picture_scatter(path, "test", mu, 3, 3, 2, 0, labels, 1600, 1200);
    CHECK(st == VAE_OK, "scatter: %s", vae_last_error());
    int PW, PH, comp;
    uint8_t *px = stbi_load(path, &PW, &PH, &comp, 3);
    CHECK(px && PW == 1600 && PH == 1200, "scatter size");
    if (!px) return;
    centroid c2 = find_colour(px, PW, PH, 2, 0.6), c0 = find_colour(px, PW, PH, 0, 0.6), c5 = find_colour(px, PW, PH, 5, 0.6);
    CHECK(c2.n >= 9 && c0.n >= 9 && c5.n >= 9, "dots of classes 2, 0, 5: %d, %d, %d pixels", c2.n, c0.n, c5.n);
    CHECK(find_colour(px, PW, PH, 4, 0.6).n == 0, "no dot of the absent class 4");
    if (c2.n && c0.n && c5.n) {
        /* x grows to the right, y upwards: fit the pixel scale from classes 2 and 0, predict class 5 */
        double sx = (c0.x - c2.x) / (1 - (-1)), sy = (c0.y - c2.y) / (-0.5 - (-1));
        CHECK(sx > 100 && sy < -100, "axes: %g px per unit in x, %g in y", sx, sy);
        CHECK(fabs(c2.x + sx * (0.2 - (-1)) - c5.x) < 1.5 && fabs(c2.y + sy * (1 - (-1)) - c5.y) < 1.5,
              "class 5 dot at (%.1f, %.1f), expected (%.1f, %.1f)", c5.x, c5.y, c2.x + sx * 1.2, c2.y + sy * 2);
    }
    stbi_image_free(px);

    /* Without labels: one colour (class 0's) */
    st = vae_picture_scatter(path, "test", mu, 3, 3, 2, 0, NULL, 1600, 1200);
    CHECK(st == VAE_OK, "scatter without labels: %s", vae_last_error());
    px = stbi_load(path, &PW, &PH, &comp, 3);
    if (!px) return;
    CHECK(find_colour(px, PW, PH, 0, 0.6).n >= 9, "three dots of one colour");
    CHECK(find_colour(px, PW, PH, 2, 0.6).n == 0 && find_colour(px, PW, PH, 5, 0.6).n == 0, "no class colours");
    stbi_image_free(px);
    CHECK(vae_picture_scatter(path, "test", mu, 3, 3, 3, 0, labels, 1600, 1200) == VAE_ERR_ARG, "dim 3 refused");
}

/* ---------------------------------------------------------------- allocation failures */

/* Make the k-th allocation fail for k = 1, 2, ... until a call succeeds: every failure must say
 * VAE_ERR_NOMEM and leave the mosaic empty (the ASan build checks that nothing leaks). */
static void test_alloc_failures(void) {
    vae_model *m = tiny_model(H, W, 1, 2, 3, 4);
    if (!m) return;
    tiny_data t;
    uint8_t labels[6] = {2, 0, 1, 1, 0, 2};
    make_data(&t, 6, H, W, 1, labels, 3);
    float za[2] = {0, 1}, zb[2] = {1, 0}, mu[6 * 2];
    for (int which = 0; which < 6; which++) {
        int k, bad = 0;
        vae_status st = VAE_ERR_NOMEM;
        for (k = 1; k < 50 && st == VAE_ERR_NOMEM; k++) {
            vae_mosaic mo;
            memset(&mo, 0, sizeof mo);
            vae_alloc_fail_at(k);
            switch (which) {
            case 0: st = vae_picture_sample(m, 5, 1, -1, &mo); break;
            case 1: st = vae_picture_manifold(m, 3, 0, 1, 2, &mo); break;
            case 2: st = vae_picture_interpolate(m, &t.ds, 0, 5, za, zb, 3, &mo); break;
            case 3: st = vae_picture_recon(m, &t.ds, 5, 2, &mo); break;
            case 4: st = vae_encode_dataset(m, &t.ds, 6, mu); break;
            case 5: {
                int count;
                float mean[2];
                st = vae_class_mean(mu, t.labels, 6, 2, 1, mean, &count, NULL);
                break;
            }
            }
            vae_alloc_fail_at(0);
            if (st == VAE_ERR_NOMEM && mo.cells) bad++;
            vae_mosaic_free(&mo);
        }
        CHECK(st == VAE_OK && bad == 0, "picture %d: status %d after %d allocation failures, %d left cells", which, st,
              k - 1, bad);
    }
    vae_free(m);
}

/* fontconfig (under cairo's toy font API) keeps a one-time cache that it never frees; tell
 * LeakSanitizer so (this hook is only read in ASan builds). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_pictures_layout.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_layouts();
    test_smoothness_and_means();
    test_sample();
    test_sample_conditional();
    test_manifold();
    test_interpolate();
    test_recon_rgb();
    test_scatter();
    test_alloc_failures();
    const char *files[] = {"sample.png", "csample.png", "manifold.png", "interp.png", "recon.png", "scatter.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(in_dir(files[i]));
    if (rmdir(dir) != 0) fprintf(stderr, "note: %s not removed\n", dir);
    cairo_debug_reset_static_data();  /* so LeakSanitizer sees only our own leaks */
    TEST_MAIN_END();
}
