/* test_image.c: mosaics checked pixel by pixel (read back with stb_image), plots checked for size,
 * content and class colours, argument and I/O errors, and allocation-failure injection.
 *
 * Every file goes into a fresh temporary folder, removed at the end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* mkdtemp, M_PI */
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>
#include <stb_image.h>

#include "common.h"
#include "image.h"
#include "test.h"

static char dir[256];

static const char *in_dir(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Number of entries in the test folder other than the given one (NULL: all). */
static int count_entries_except(const char *except) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (except && !strcmp(e->d_name, except)) continue;
        count++;
    }
    closedir(d);
    return count;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* 3 grey images 2x3 (h = 2, w = 3) with distinct values k / 255, k = 10 * (1 + i*6 + y*3 + x);
 * cols = 2, scale = 2, border = 1. Every output pixel is checked: each source pixel must fill its
 * 2x2 block at the expected place, and every pixel no block covers must be border grey 128 (the frame,
 * the lines between cells and the empty 4th cell). */
static void test_mosaic_grey(void) {
    enum { N = 3, H = 2, W = 3, COLS = 2, SCALE = 2, BORDER = 1 };
    float images[N * H * W];
    for (int i = 0; i < N; i++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) images[(i * H + y) * W + x] = 10.0f * (1 + i * 6 + y * 3 + x) / 255.0f;
    const char *path = in_dir("grey.png");
    vae_status st = vae_write_mosaic(path, images, N, COLS, H, W, 1, SCALE, BORDER);
    CHECK(st == VAE_OK, "status %d: %s", st, vae_last_error());

    int w, h, comp;
    uint8_t *px = stbi_load(path, &w, &h, &comp, 0);
    CHECK(px != NULL, "stbi_load failed: %s", stbi_failure_reason());
    if (!px) return;
    CHECK(comp == 1, "grey mosaic has %d channels", comp);
    CHECK(w == COLS * (W * SCALE + BORDER) + BORDER, "width %d", w);   /* 15 */
    CHECK(h == 2 * (H * SCALE + BORDER) + BORDER, "height %d", h);     /* 11 */
    CHECK(w == 15 && h == 11, "size %dx%d, expected 15x11", w, h);
    if (comp != 1 || w != 15 || h != 11) {
        stbi_image_free(px);
        return;
    }
    int covered[11][15] = {{0}};
    int bad_cells = 0;
    for (int i = 0; i < N; i++) {
        int ox = 1 + (i % 2) * 7, oy = 1 + (i / 2) * 5;  /* cell origins: (1,1), (8,1), (1,6) */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int X = ox + 2 * x + dx, Y = oy + 2 * y + dy;
                        int want = 10 * (1 + i * 6 + y * 3 + x);
                        covered[Y][X] = 1;
                        if (px[Y * w + X] != want) {
                            if (bad_cells++ < 5)
                                fprintf(stderr, "image %d (%d,%d) at pixel (%d,%d): %d, want %d\n", i, y, x, X, Y,
                                        px[Y * w + X], want);
                        }
                    }
    }
    CHECK(bad_cells == 0, "%d cell pixels wrong", bad_cells);
    int bad_border = 0, n_border = 0;
    for (int Y = 0; Y < h; Y++)
        for (int X = 0; X < w; X++)
            if (!covered[Y][X]) {
                n_border++;
                if (px[Y * w + X] != 128 && bad_border++ < 5)
                    fprintf(stderr, "border pixel (%d,%d) = %d, want 128\n", X, Y, px[Y * w + X]);
            }
    CHECK(bad_border == 0, "%d border pixels wrong", bad_border);
    CHECK(n_border == 15 * 11 - 3 * 24, "%d border pixels", n_border);
    /* Spot checks written out by hand: first pixel of image 0, last of image 2, the empty 4th cell. */
    CHECK(px[1 * w + 1] == 10 && px[1 * w + 2] == 10 && px[2 * w + 1] == 10, "image 0 top-left block");
    CHECK(px[1 * w + 8] == 70, "image 1 top-left = %d", px[1 * w + 8]);
    CHECK(px[9 * w + 6] == 180, "image 2 bottom-right = %d", px[9 * w + 6]);
    CHECK(px[7 * w + 10] == 128, "empty 4th cell = %d", px[7 * w + 10]);
    stbi_image_free(px);

    /* Writing again replaces the file; no temporary file is left. */
    st = vae_write_mosaic(path, images, 1, 1, H, W, 1, 1, 0);
    CHECK(st == VAE_OK, "overwrite: %s", vae_last_error());
    px = stbi_load(path, &w, &h, &comp, 0);
    CHECK(px && w == 3 && h == 2 && px[0] == 10 && px[5] == 60, "overwritten mosaic");
    stbi_image_free(px);
    CHECK(count_entries_except("grey.png") == 0, "stray files in %s", dir);
    unlink(path);
}

/* An "F" (h = 5, w = 4), red on blue: catches flips, transposes and swapped channels. Written once at
 * scale 1 without border, once at scale 3 with border 2 next to a second, all-green image. */
static void test_mosaic_rgb(void) {
    static const char *f[5] = {"XXX.", "X...", "XX..", "X...", "X..."};
    float img[2][5][4][3];
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 4; x++) {
            int on = f[y][x] == 'X';
            img[0][y][x][0] = on ? 1.0f : 0.0f;
            img[0][y][x][1] = 0.0f;
            img[0][y][x][2] = on ? 0.0f : 1.0f;
            img[1][y][x][0] = 0.0f, img[1][y][x][1] = 1.0f, img[1][y][x][2] = 0.0f;
        }
    const char *path = in_dir("f.png");
    vae_status st = vae_write_mosaic(path, &img[0][0][0][0], 1, 1, 5, 4, 3, 1, 0);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    int w, h, comp;
    uint8_t *px = stbi_load(path, &w, &h, &comp, 0);
    CHECK(px && comp == 3 && w == 4 && h == 5, "F: %dx%d, %d channels", px ? w : -1, px ? h : -1, px ? comp : -1);
    if (px && comp == 3 && w == 4 && h == 5) {
        int bad = 0;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 4; x++) {
                const uint8_t *p = px + (y * 4 + x) * 3;
                int on = f[y][x] == 'X';
                if (p[0] != (on ? 255 : 0) || p[1] != 0 || p[2] != (on ? 0 : 255)) bad++;
            }
        CHECK(bad == 0, "%d F pixels wrong", bad);
        CHECK(px[0] == 255 && px[2] == 0, "top-left is red");
        CHECK(px[3 * 3 + 2] == 255 && px[3 * 3] == 0, "top-right is blue");
    }
    stbi_image_free(px);

    /* 2 images, 2 columns, scale 3, border 2: 2*(12+2)+2 = 30 wide, 15+4 = 19 high. */
    st = vae_write_mosaic(path, &img[0][0][0][0], 2, 2, 5, 4, 3, 3, 2);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    px = stbi_load(path, &w, &h, &comp, 0);
    CHECK(px && comp == 3 && w == 30 && h == 19, "F x3: %dx%d, %d channels", px ? w : -1, px ? h : -1, px ? comp : -1);
    if (px && comp == 3 && w == 30 && h == 19) {
        int bad = 0;
        for (int Y = 0; Y < h; Y++)
            for (int X = 0; X < w; X++) {
                const uint8_t *p = px + (Y * w + X) * 3;
                int want[3] = {128, 128, 128};
                int cx = X - 2, cy = Y - 2;
                if (cy >= 0 && cy < 15) {
                    if (cx >= 0 && cx < 12) {
                        int on = f[cy / 3][cx / 3] == 'X';
                        want[0] = on ? 255 : 0, want[1] = 0, want[2] = on ? 0 : 255;
                    } else if (cx >= 14 && cx < 26) {
                        want[0] = 0, want[1] = 255, want[2] = 0;
                    }
                }
                if (p[0] != want[0] || p[1] != want[1] || p[2] != want[2]) {
                    if (bad++ < 5)
                        fprintf(stderr, "F x3 pixel (%d,%d) = %d,%d,%d want %d,%d,%d\n", X, Y, p[0], p[1], p[2],
                                want[0], want[1], want[2]);
                }
            }
        CHECK(bad == 0, "%d pixels wrong", bad);
    }
    stbi_image_free(px);
    unlink(path);
}

/* Out-of-range values clamp, NaN becomes 0, rounding is v * 255 + 0.5. */
static void test_mosaic_clamp(void) {
    float v[12] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, NAN, INFINITY, -INFINITY, 0.25f, 0.75f, 0.003f, 1e-3f};
    int want[12] = {0, 0, 128, 255, 255, 0, 255, 0, 64, 191, 1, 0};
    const char *path = in_dir("clamp.png");
    vae_status st = vae_write_mosaic(path, v, 1, 1, 1, 12, 1, 1, 0);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    int w, h, comp;
    uint8_t *px = stbi_load(path, &w, &h, &comp, 0);
    CHECK(px && w == 12 && h == 1 && comp == 1, "clamp image shape");
    if (px && w == 12 && h == 1 && comp == 1)
        for (int i = 0; i < 12; i++) CHECK(px[i] == want[i], "value %g -> %d, want %d", v[i], px[i], want[i]);
    stbi_image_free(px);
    unlink(path);
}

static void test_mosaic_bad_args(void) {
    float img[4 * 4 * 3] = {0};
    const char *path = in_dir("bad.png");
    struct {
        int n, cols, h, w, c, scale, border;
    } cases[] = {
        {0, 1, 4, 4, 1, 1, 1},   {-1, 1, 4, 4, 1, 1, 1}, {1, 0, 4, 4, 1, 1, 1},  {1, 1, 0, 4, 1, 1, 1},
        {1, 1, 4, 0, 1, 1, 1},   {1, 1, 4, 4, 2, 1, 1},  {1, 1, 4, 4, 4, 1, 1},  {1, 1, 4, 4, 0, 1, 1},
        {1, 1, 4, 4, 1, 0, 1},   {1, 1, 4, 4, 1, 65, 1}, {1, 1, 4, 4, 1, 1, -1}, {1, 1, 4, 4, 1, 1, 17},
        {1, 1, 4000, 4, 1, 64, 0}, /* 256,000 pixels high */
        {1, 1, 30000, 30000, 1, 1, 0}, /* 900 Mpx */
        {2000000000, 1000000000, 4, 4, 1, 64, 16}, /* products overflow 32 bits */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        vae_clear_error();
        vae_status st = vae_write_mosaic(path, img, cases[k].n, cases[k].cols, cases[k].h, cases[k].w, cases[k].c,
                                         cases[k].scale, cases[k].border);
        CHECK(st == VAE_ERR_ARG, "case %zu: status %d", k, st);
        CHECK(strstr(vae_last_error(), "bad.png") != NULL, "case %zu: message '%s' names no path", k,
              vae_last_error());
    }
    CHECK(vae_write_mosaic(NULL, img, 1, 1, 4, 4, 1, 1, 1) == VAE_ERR_ARG, "NULL path");
    CHECK(vae_write_mosaic(path, NULL, 1, 1, 4, 4, 1, 1, 1) == VAE_ERR_ARG, "NULL images");
    CHECK(!file_exists(path) && count_entries_except(NULL) == 0, "bad arguments wrote something");
}

static void test_mosaic_io_errors(void) {
    float img[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    char path[600];
    snprintf(path, sizeof path, "%s/no-such-dir/m.png", dir);
    vae_clear_error();
    vae_status st = vae_write_mosaic(path, img, 1, 1, 2, 2, 1, 1, 0);
    CHECK(st == VAE_ERR_IO, "missing folder: status %d", st);
    CHECK(strstr(vae_last_error(), path) != NULL, "message '%s' does not name '%s'", vae_last_error(), path);
    CHECK(strstr(vae_last_error(), "No such file") != NULL, "message '%s' has no reason", vae_last_error());

    /* The target is a folder: the temporary file is written, the rename fails, and it must be removed. */
    const char *sub = in_dir("a-folder");
    CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
    vae_clear_error();
    st = vae_write_mosaic(sub, img, 1, 1, 2, 2, 1, 1, 0);
    CHECK(st == VAE_ERR_IO, "folder target: status %d", st);
    CHECK(strstr(vae_last_error(), sub) != NULL, "message '%s' does not name '%s'", vae_last_error(), sub);
    CHECK(count_entries_except("a-folder") == 0, "a temporary file was left in %s", dir);

    /* Same for plots. */
    double xs[2] = {1, 2}, ys[2] = {3, 4};
    vae_plot_series s = {"loss", xs, ys, 2};
    st = vae_plot_lines(sub, "t", "x", "y", &s, 1, 400, 300);
    CHECK(st == VAE_ERR_IO, "plot onto a folder: status %d", st);
    CHECK(strstr(vae_last_error(), sub) != NULL, "message '%s'", vae_last_error());
    float fx[1] = {0}, fy[1] = {0};
    st = vae_plot_scatter(path, "t", "x", "y", fx, fy, NULL, 1, 400, 300);
    CHECK(st == VAE_ERR_IO && strstr(vae_last_error(), path), "scatter into a missing folder: %d '%s'", st,
          vae_last_error());
    CHECK(count_entries_except("a-folder") == 0, "a temporary file was left in %s", dir);
    rmdir(sub);
}

/* Allocation failure at every allocation of a mosaic write and a scatter plot: each one reports
 * VAE_ERR_NOMEM, leaves no file, and (under ASan) leaks nothing. */
static void test_alloc_failures(void) {
    float img[2 * 3 * 3];
    for (int i = 0; i < 18; i++) img[i] = i / 17.0f;
    const char *path = in_dir("oom.png");
    int failures = 0, succeeded = 0;
    for (long k = 1; k < 100; k++) {
        vae_alloc_fail_at(k);
        vae_status st = vae_write_mosaic(path, img, 2, 2, 3, 3, 1, 2, 1);
        long count = vae_alloc_count();
        vae_alloc_fail_at(0);
        if (count < k) {
            CHECK(st == VAE_OK, "no injected failure but status %d", st);
            succeeded = 1;
            break;
        }
        failures++;
        CHECK(st == VAE_ERR_NOMEM, "failure at allocation %ld: status %d (%s)", k, st, vae_last_error());
        CHECK(!file_exists(path) && count_entries_except(NULL) == 0, "allocation %ld: file left behind", k);
    }
    CHECK(failures >= 2 && succeeded, "mosaic: %d injected failures, succeeded %d", failures, succeeded);
    unlink(path);

    float x[3] = {0, 1, 2}, y[3] = {2, 1, 0};
    int labels[3] = {1, 2, 1};
    failures = 0, succeeded = 0;
    for (long k = 1; k < 100; k++) {
        vae_alloc_fail_at(k);
        vae_status st = vae_plot_scatter(path, "t", "x", "y", x, y, labels, 3, 300, 200);
        long count = vae_alloc_count();
        vae_alloc_fail_at(0);
        if (count < k) {
            CHECK(st == VAE_OK, "no injected failure but status %d", st);
            succeeded = 1;
            break;
        }
        failures++;
        CHECK(st == VAE_ERR_NOMEM, "scatter failure at allocation %ld: status %d (%s)", k, st, vae_last_error());
        CHECK(!file_exists(path) && count_entries_except(NULL) == 0, "allocation %ld: file left behind", k);
    }
    CHECK(failures >= 2 && succeeded, "scatter: %d injected failures, succeeded %d", failures, succeeded);
    unlink(path);
}

static void test_class_color(void) {
    double rgb[3], other[3];
    vae_class_color(0, rgb);  /* tab10 blue #1f77b4 */
    CHECK_CLOSE(rgb[0], 0x1f / 255.0, 1e-12);
    CHECK_CLOSE(rgb[1], 0x77 / 255.0, 1e-12);
    CHECK_CLOSE(rgb[2], 0xb4 / 255.0, 1e-12);
    vae_class_color(3, rgb);  /* tab10 red #d62728 */
    CHECK_CLOSE(rgb[0], 0xd6 / 255.0, 1e-12);
    CHECK_CLOSE(rgb[1], 0x27 / 255.0, 1e-12);
    CHECK_CLOSE(rgb[2], 0x28 / 255.0, 1e-12);
    vae_class_color(13, other);
    CHECK(!memcmp(rgb, other, sizeof rgb), "13 cycles to 3");
    vae_class_color(-1, rgb);
    vae_class_color(9, other);
    CHECK(!memcmp(rgb, other, sizeof rgb), "-1 cycles to 9");
    int distinct = 1;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < i; j++) {
            vae_class_color(i, rgb), vae_class_color(j, other);
            if (!memcmp(rgb, other, sizeof rgb)) distinct = 0;
        }
    CHECK(distinct, "the 10 colours differ");
}

/* Distinct colours in an RGB image (up to a cap). */
static int count_colours(const uint8_t *px, int n_px) {
    enum { CAP = 4096 };
    static uint32_t seen[CAP];
    int n = 0;
    for (int i = 0; i < n_px && n < CAP; i++) {
        uint32_t c = (uint32_t)px[3 * i] << 16 | (uint32_t)px[3 * i + 1] << 8 | px[3 * i + 2];
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = seen[j] == c;
        if (!found) seen[n++] = c;
    }
    return n;
}

static uint8_t *load_rgb(const char *path, int want_w, int want_h) {
    int w, h, comp;
    uint8_t *px = stbi_load(path, &w, &h, &comp, 3);
    CHECK(px != NULL, "cannot read %s: %s", path, stbi_failure_reason());
    if (!px) return NULL;
    CHECK(w == want_w && h == want_h, "%s is %dx%d, want %dx%d", path, w, h, want_w, want_h);
    if (w != want_w || h != want_h) {
        stbi_image_free(px);
        return NULL;
    }
    return px;
}

static void test_plot_lines(void) {
    double epochs[20], train[20], test[20];
    for (int i = 0; i < 20; i++) {
        epochs[i] = i + 1;
        train[i] = 100 + 80 * exp(-i / 3.0);
        test[i] = 104 + 70 * exp(-i / 3.5);
    }
    test[7] = NAN;  /* skipped, line broken */
    vae_plot_series s[2] = {{"train", epochs, train, 20}, {"test", epochs, test, 20}};
    const char *path = in_dir("loss.png");
    vae_status st = vae_plot_lines(path, "Loss", "epoch", "loss (nats per image)", s, 2, 800, 600);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    uint8_t *px = load_rgb(path, 800, 600);
    if (px) {
        int n = count_colours(px, 800 * 600);
        CHECK(n >= 50, "only %d colours", n);
        /* The two series colours appear. */
        double rgb[3];
        int found[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            vae_class_color(k, rgb);
            for (int i = 0; i < 800 * 600 && !found[k]; i++)
                found[k] = abs(px[3 * i] - (int)(rgb[0] * 255 + 0.5)) <= 2 &&
                           abs(px[3 * i + 1] - (int)(rgb[1] * 255 + 0.5)) <= 2 &&
                           abs(px[3 * i + 2] - (int)(rgb[2] * 255 + 0.5)) <= 2;
        }
        CHECK(found[0] && found[1], "series colours present: %d %d", found[0], found[1]);
        stbi_image_free(px);
    }

    /* One point, a constant series and an all-NaN series: still a plot with a sensible range. */
    double one_x[1] = {3}, one_y[1] = {0.5}, cx[3] = {1, 2, 3}, cy[3] = {7, 7, 7}, nx[2] = {NAN, 1}, ny[2] = {1, NAN};
    vae_plot_series edge[3] = {{"one", one_x, one_y, 1}, {"flat", cx, cy, 3}, {"nan", nx, ny, 2}};
    st = vae_plot_lines(path, "edge cases", "x", "y", edge, 3, 400, 300);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    st = vae_plot_lines(path, NULL, NULL, NULL, edge, 1, 300, 200);
    CHECK(st == VAE_OK, "single point, no labels: %s", vae_last_error());
    st = vae_plot_lines(path, "zero", "x", "y", &edge[1], 1, 300, 200);
    CHECK(st == VAE_OK, "constant: %s", vae_last_error());
    double zx[2] = {0, 0}, zy[2] = {0, 0};
    vae_plot_series zero = {"zero", zx, zy, 2};
    st = vae_plot_lines(path, "zero", "x", "y", &zero, 1, 300, 200);
    CHECK(st == VAE_OK, "all zero: %s", vae_last_error());
    px = load_rgb(path, 300, 200);
    if (px) CHECK(count_colours(px, 300 * 200) >= 20, "all-zero plot is blank");
    stbi_image_free(px);

    /* Bad arguments. */
    vae_clear_error();
    CHECK(vae_plot_lines(path, "t", "x", "y", s, 0, 800, 600) == VAE_ERR_ARG, "no series");
    CHECK(vae_plot_lines(path, "t", "x", "y", s, 1, 10, 600) == VAE_ERR_ARG, "too narrow");
    CHECK(strstr(vae_last_error(), "loss.png") != NULL, "message '%s'", vae_last_error());
    CHECK(vae_plot_lines(path, "t", "x", "y", s, 1, 800, 100000) == VAE_ERR_ARG, "too high");
    vae_plot_series null_data = {"x", NULL, NULL, 3};
    CHECK(vae_plot_lines(path, "t", "x", "y", &null_data, 1, 800, 600) == VAE_ERR_ARG, "NULL data");
    CHECK(vae_plot_lines(path, "t\xff", "x", "y", s, 1, 800, 600) == VAE_ERR_ARG, "invalid UTF-8 title");
    unlink(path);
    CHECK(count_entries_except(NULL) == 0, "stray files");
}

/* A small local generator (the test links only image.c and common.c): LCG + Box-Muller. */
static float normal(uint64_t *state) {
    double u[2];
    for (int k = 0; k < 2; k++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        u[k] = ((*state >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(2.0 * M_PI * u[1]));
}

static int near_colour(const uint8_t *p, int k, int tol) {
    double rgb[3];
    vae_class_color(k, rgb);
    for (int j = 0; j < 3; j++)
        if (abs(p[j] - (int)(rgb[j] * 255 + 0.5)) > tol) return 0;
    return 1;
}

/* 200 points of label 3 at (0, 0) and 200 of label 9 at (10, 10): the centre of each cluster is drawn
 * 200 times at alpha 0.6, so it is the opaque class colour. Label 3 must appear in the lower-left
 * quarter of the picture and label 9 in the upper-right one (where the legend is too), and never
 * colour 9 in the lower-left: a swapped or shifted palette fails. (Not label 7: tab10's 7 is grey 127,
 * which anti-aliased black text on white also produces.) */
static void test_plot_scatter(void) {
    enum { N = 400, W = 640, H = 480 };
    float x[N], y[N];
    int labels[N];
    for (int i = 0; i < N; i++) {
        int three = i % 2 == 0;  /* interleaved, as in a real data set */
        x[i] = y[i] = three ? 0.0f : 10.0f;
        labels[i] = three ? 3 : 9;
    }
    const char *path = in_dir("scatter.png");
    vae_status st = vae_plot_scatter(path, "Latent space", "z1", "z2", x, y, labels, N, W, H);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    uint8_t *px = load_rgb(path, W, H);
    if (px) {
        int three_ll = 0, nine_ur = 0, nine_ll = 0;
        for (int Y = 0; Y < H; Y++)
            for (int X = 0; X < W; X++) {
                const uint8_t *p = px + 3 * (Y * W + X);
                int lower_left = X < W / 2 && Y >= H / 2, upper_right = X >= W / 2 && Y < H / 2;
                if (lower_left && near_colour(p, 3, 3)) three_ll++;
                if (upper_right && near_colour(p, 9, 3)) nine_ur++;
                if (lower_left && near_colour(p, 9, 3)) nine_ll++;
            }
        CHECK(three_ll >= 3, "colour of class 3 at the class-3 cluster: %d pixels", three_ll);
        CHECK(nine_ur >= 3, "colour of class 9 at the class-9 cluster: %d pixels", nine_ur);
        CHECK(nine_ll == 0, "colour of class 9 near the class-3 cluster: %d pixels", nine_ll);
        CHECK(count_colours(px, W * H) >= 20, "scatter is nearly blank");
        stbi_image_free(px);
    }

    /* No labels: one colour (class 0's), no legend. 10,000 points as in the real use. */
    enum { M = 10000 };
    static float gx[M], gy[M];
    static int gl[M];
    uint64_t seed = 42;
    for (int i = 0; i < M; i++) {
        gl[i] = i % 10;
        gx[i] = 3.0f * cosf(gl[i] * 0.628f) + 0.4f * normal(&seed);
        gy[i] = 3.0f * sinf(gl[i] * 0.628f) + 0.4f * normal(&seed);
    }
    st = vae_plot_scatter(path, "unlabelled", "z1", "z2", gx, gy, NULL, M, 600, 600);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    px = load_rgb(path, 600, 600);
    if (px) {
        int blue = 0, other = 0;
        for (int i = 0; i < 600 * 600; i++) {
            blue += near_colour(px + 3 * i, 0, 3);
            for (int k = 1; k < 10; k++)
                if (k != 7) other += near_colour(px + 3 * i, k, 3);  /* 7 is grey, like anti-aliased text */
        }
        CHECK(blue > 100, "unlabelled points are not class 0's colour (%d pixels)", blue);
        CHECK(other == 0, "unlabelled plot shows class colours (%d pixels)", other);
        stbi_image_free(px);
    }
    st = vae_plot_scatter(path, "ten classes", "z1", "z2", gx, gy, gl, M, 800, 600);
    CHECK(st == VAE_OK, "%s", vae_last_error());
    px = load_rgb(path, 800, 600);
    if (px) {
        for (int k = 0; k < 10; k++) {
            int count = 0;
            for (int i = 0; i < 800 * 600; i++) count += near_colour(px + 3 * i, k, 3);
            CHECK(count > 10, "class %d's colour: %d pixels", k, count);
        }
        stbi_image_free(px);
    }

    /* Edge cases: all points equal, NaN points, no points, many classes; bad arguments. */
    float ex[3] = {1, NAN, 1}, ey[3] = {1, 2, INFINITY};
    int el[3] = {0, 1, 2};
    CHECK(vae_plot_scatter(path, "same", "a", "b", ex, ey, el, 3, 300, 300) == VAE_OK, "%s", vae_last_error());
    CHECK(vae_plot_scatter(path, "none", "a", "b", NULL, NULL, NULL, 0, 300, 300) == VAE_OK, "%s", vae_last_error());
    for (int i = 0; i < M; i++) gl[i] = i % 37 - 5;
    CHECK(vae_plot_scatter(path, "many", "a", "b", gx, gy, gl, M, 800, 600) == VAE_OK, "%s", vae_last_error());
    CHECK(vae_plot_scatter(path, "t", "a", "b", NULL, gy, NULL, 5, 300, 300) == VAE_ERR_ARG, "NULL x");
    CHECK(vae_plot_scatter(path, "t", "a", "b", gx, gy, NULL, -1, 300, 300) == VAE_ERR_ARG, "n < 0");
    CHECK(vae_plot_scatter(path, "t", "a", "b", gx, gy, NULL, 5, 300, 9000) == VAE_ERR_ARG, "too high");
    CHECK(vae_plot_scatter(NULL, "t", "a", "b", gx, gy, NULL, 5, 300, 300) == VAE_ERR_ARG, "NULL path");
    unlink(path);
    CHECK(count_entries_except(NULL) == 0, "stray files");
}

/* fontconfig (under cairo's toy font API) keeps a one-time cache that it never frees; tell
 * LeakSanitizer so (this hook is only read in ASan builds). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_image.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_mosaic_grey();
    test_mosaic_rgb();
    test_mosaic_clamp();
    test_mosaic_bad_args();
    test_mosaic_io_errors();
    test_alloc_failures();
    test_class_color();
    test_plot_lines();
    test_plot_scatter();
    rmdir(dir);
    cairo_debug_reset_static_data();  /* so LeakSanitizer sees only our own leaks */
    TEST_MAIN_END();
}
