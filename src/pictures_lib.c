/* pictures_lib.c: the pictures of the `vae` tool built in memory (see pictures_lib.h for the layouts).
 *
 * Every function here returns a vae_status and leaves its outputs freed on failure; the CLI
 * (tools/pictures.c) checks flags, loads files, calls these and writes the result.
 */
#include "pictures_lib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "image.h"
#include "stats.h"

/* vae_write_mosaic's limits (src/image.c): checked here before work so the CLI can exit 2 early. */
#define MOSAIC_MAX_SIDE 32768
#define MOSAIC_MAX_PIXELS ((int64_t)1 << 26)

/* ---------------------------------------------------------------- mosaics in memory */

vae_status vae_mosaic_init(vae_mosaic *mo, int n, int cols, int h, int w, int c) {
    memset(mo, 0, sizeof *mo);
    if (n < 1 || cols < 1 || h < 1 || w < 1 || c < 1)
        return vae_fail(VAE_ERR_ARG, "mosaic: bad shape (%d cells, %d columns, %dx%dx%d)", n, cols, h, w, c);
    int ok = 1;
    size_t count = vae_mul_size(vae_mul_size(vae_mul_size((size_t)n, (size_t)h, &ok), (size_t)w, &ok), (size_t)c, &ok);
    size_t bytes = vae_mul_size(count, sizeof(float), &ok);
    float *cells = ok ? vae_malloc(bytes) : NULL;
    if (!cells) return vae_fail(VAE_ERR_NOMEM, "out of memory for a mosaic of %d cells of %dx%dx%d", n, h, w, c);
    for (size_t i = 0; i < count; i++) cells[i] = 0.5f;
    *mo = (vae_mosaic){cells, n, cols, h, w, c};
    return VAE_OK;
}

void vae_mosaic_free(vae_mosaic *mo) {
    vae_mem_free(mo->cells);
    memset(mo, 0, sizeof *mo);
}

float *vae_mosaic_cell(const vae_mosaic *mo, int i) { return mo->cells + (size_t)i * mo->h * mo->w * mo->c; }

int vae_mosaic_auto_scale(int h, int w) {
    int side = h > w ? h : w;
    if (side < 1) return 1;
    int s = (VAE_MOSAIC_CELL_PX + side - 1) / side;
    return s < 1 ? 1 : s > 64 ? 64 : s;
}

vae_status vae_mosaic_check(int n, int cols, int h, int w, int scale) {
    int64_t rows = ((int64_t)n + cols - 1) / cols;
    int64_t out_w = cols * ((int64_t)w * scale + VAE_MOSAIC_BORDER) + VAE_MOSAIC_BORDER;
    int64_t out_h = rows * ((int64_t)h * scale + VAE_MOSAIC_BORDER) + VAE_MOSAIC_BORDER;
    if (out_w > MOSAIC_MAX_SIDE || out_h > MOSAIC_MAX_SIDE || out_w * out_h > MOSAIC_MAX_PIXELS)
        return vae_fail(VAE_ERR_ARG, "the picture would be %lldx%lld pixels (at most %d per side and %lld in all): "
                        "ask for fewer cells or a smaller --scale", (long long)out_w, (long long)out_h,
                        MOSAIC_MAX_SIDE, (long long)MOSAIC_MAX_PIXELS);
    return VAE_OK;
}

vae_status vae_mosaic_write(const vae_mosaic *mo, const char *path, int scale) {
    return vae_write_mosaic(path, mo->cells, mo->n, mo->cols, mo->h, mo->w, mo->c, scale, VAE_MOSAIC_BORDER);
}

/* ---------------------------------------------------------------- layouts */

int vae_sample_cols(int n, int n_cycle) {
    if (n_cycle > 0) return n_cycle;
    int cols = (int)ceil(sqrt((double)n));
    while (cols > 1 && (cols - 1) * (cols - 1) >= n) cols--;  /* guard against sqrt rounding up */
    while (cols * cols < n) cols++;
    return cols < 1 ? 1 : cols;
}

double vae_manifold_coord(int i, int grid) {
    if (grid <= 1) return 0.0;
    return vae_normal_ppf(0.05 + 0.9 * (double)i / (double)(grid - 1));
}

void vae_manifold_z(float *z, int grid, int Z, int dx, int dy) {
    memset(z, 0, (size_t)grid * grid * Z * sizeof(float));
    for (int r = 0; r < grid; r++)
        for (int c = 0; c < grid; c++) {
            float *zi = z + ((size_t)r * grid + c) * Z;
            zi[dx] = (float)vae_manifold_coord(c, grid);
            zi[dy] = (float)vae_manifold_coord(grid - 1 - r, grid);  /* top row: the largest value */
        }
}

void vae_interp_z(float *z, const float *za, const float *zb, int Z, int steps) {
    for (int k = 0; k < steps; k++) {
        double t = steps > 1 ? (double)k / (steps - 1) : 0.5;
        for (int j = 0; j < Z; j++) z[(size_t)k * Z + j] = (float)((1.0 - t) * za[j] + t * zb[j]);
    }
}

int vae_recon_rows(int n, int cols) { return 2 * ((n + cols - 1) / cols); }

int vae_recon_cell(int i, int cols, int recon) { return (i / cols) * 2 * cols + recon * cols + i % cols; }

vae_status vae_grid_smoothness(const vae_mosaic *mo, int rows, double *neighbour, double *random_pair) {
    int cols = mo->cols, n = rows * cols, D = mo->h * mo->w * mo->c;
    if (rows < 1 || cols < 1 || n < 2 || n > mo->n)
        return vae_fail(VAE_ERR_ARG, "smoothness: a grid of %dx%d cells does not fit %d cells", rows, cols, mo->n);
    double near = 0.0, all = 0.0;
    long n_near = 0, n_all = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const float *a = vae_mosaic_cell(mo, r * cols + c);
            if (c + 1 < cols) near += vae_l2_distance(a, vae_mosaic_cell(mo, r * cols + c + 1), D), n_near++;
            if (r + 1 < rows) near += vae_l2_distance(a, vae_mosaic_cell(mo, (r + 1) * cols + c), D), n_near++;
        }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) all += vae_l2_distance(vae_mosaic_cell(mo, i), vae_mosaic_cell(mo, j), D), n_all++;
    *neighbour = near / n_near;
    *random_pair = all / n_all;
    return VAE_OK;
}

vae_status vae_class_mean(const float *mu, const uint8_t *labels, int n, int Z, int k, float *mean, int *count,
                          int *nearest) {
    *count = 0;
    if (nearest) *nearest = -1;
    double *sum = vae_calloc((size_t)Z, sizeof(double));
    if (!sum) return vae_fail(VAE_ERR_NOMEM, "out of memory for a class mean of %d dims", Z);
    int cnt = 0;
    for (int i = 0; labels && i < n; i++) {
        if (labels[i] != k) continue;
        cnt++;
        for (int j = 0; j < Z; j++) sum[j] += mu[(size_t)i * Z + j];
    }
    for (int j = 0; j < Z && cnt > 0; j++) mean[j] = (float)(sum[j] / cnt);
    vae_mem_free(sum);
    *count = cnt;
    if (!nearest || cnt == 0) return VAE_OK;
    double best = INFINITY;
    for (int i = 0; i < n; i++) {
        if (labels[i] != k) continue;
        double d = vae_l2_distance(mu + (size_t)i * Z, mean, Z);
        if (d < best) best = d, *nearest = i;
    }
    return VAE_OK;
}

/* ---------------------------------------------------------------- with a model */

vae_status vae_encode_many(vae_model *m, const float *x, const int *labels, int n, float *mu) {
    const vae_config *c = vae_get_config(m);
    int B = vae_max_batch(m), Z = c->n_latent, D = c->height * c->width * c->channels;
    for (int s = 0; s < n; s += B) {
        int k = n - s < B ? n - s : B;
        vae_status st = vae_encode(m, x + (size_t)s * D, labels ? labels + s : NULL, k, mu + (size_t)s * Z, NULL);
        if (st) return st;
    }
    return VAE_OK;
}

vae_status vae_decode_many(vae_model *m, const float *z, const int *labels, int n, float *out) {
    const vae_config *c = vae_get_config(m);
    int B = vae_max_batch(m), Z = c->n_latent, D = c->height * c->width * c->channels;
    for (int s = 0; s < n; s += B) {
        int k = n - s < B ? n - s : B;
        vae_status st = vae_decode(m, z + (size_t)s * Z, labels ? labels + s : NULL, k, out + (size_t)s * D);
        if (st) return st;
    }
    return VAE_OK;
}

/* The images' shape must be the model's. */
static vae_status check_data(const vae_model *m, const vae_dataset *ds) {
    const vae_config *c = vae_get_config(m);
    if (ds->height != c->height || ds->width != c->width || ds->channels != c->channels)
        return vae_fail(VAE_ERR_ARG, "images are %dx%dx%d, the model expects %dx%dx%d", ds->height, ds->width,
                        ds->channels, c->height, c->width, c->channels);
    if (c->n_classes > 0 && (!ds->labels || ds->n_classes > c->n_classes))
        return vae_fail(VAE_ERR_ARG, "the conditional model needs labels in 0..%d", c->n_classes - 1);
    return VAE_OK;
}

vae_status vae_encode_dataset(vae_model *m, const vae_dataset *ds, int n, float *mu) {
    vae_status st = check_data(m, ds);
    if (st) return st;
    if (n < 0 || n > ds->n) return vae_fail(VAE_ERR_ARG, "encode: %d images asked, the set holds %d", n, ds->n);
    int B = vae_max_batch(m), Z = vae_get_config(m)->n_latent, conditional = vae_get_config(m)->n_classes > 0;
    float *x = vae_malloc((size_t)B * ds->dim * sizeof(float));
    int *labels = vae_malloc((size_t)B * sizeof(int));
    if (!x || !labels) {
        vae_mem_free(x), vae_mem_free(labels);
        return vae_fail(VAE_ERR_NOMEM, "out of memory encoding %d images", n);
    }
    for (int s = 0; s < n && !st; s += B) {
        int k = n - s < B ? n - s : B;
        vae_dataset_batch(ds, NULL, s, k, x);
        vae_dataset_batch_labels(ds, NULL, s, k, labels);
        st = vae_encode(m, x, conditional ? labels : NULL, k, mu + (size_t)s * Z, NULL);
    }
    vae_mem_free(x), vae_mem_free(labels);
    return st;
}

/* Decode n latent points z (n, Z) into the cells of out, starting at cell `first`, consecutive cells. */
static vae_status decode_into(vae_model *m, const float *z, const int *labels, int n, vae_mosaic *out, int first) {
    return vae_decode_many(m, z, labels, n, vae_mosaic_cell(out, first));
}

/* Labels for n cells: all `label`, or cycling 0..L-1 (L classes) when label < 0; NULL for an unconditional model. */
static vae_status make_labels(const vae_model *m, int n, int label, int **out) {
    *out = NULL;
    int L = vae_get_config(m)->n_classes;
    if (L == 0) {
        if (label >= 0) return vae_fail(VAE_ERR_ARG, "label %d given for a model that is not conditional", label);
        return VAE_OK;
    }
    if (label >= L) return vae_fail(VAE_ERR_ARG, "label %d is out of range: the model has %d classes", label, L);
    int *l = vae_malloc((size_t)n * sizeof(int));
    if (!l) return vae_fail(VAE_ERR_NOMEM, "out of memory for %d labels", n);
    for (int i = 0; i < n; i++) l[i] = label >= 0 ? label : i % L;
    *out = l;
    return VAE_OK;
}

vae_status vae_picture_sample(vae_model *m, int n, uint64_t seed, int label, vae_mosaic *out) {
    const vae_config *c = vae_get_config(m);
    memset(out, 0, sizeof *out);
    if (n < 1) return vae_fail(VAE_ERR_ARG, "sample: n must be >= 1 (got %d)", n);
    int *labels = NULL;
    vae_status st = make_labels(m, n, label, &labels);
    if (st) return st;
    int cols = vae_sample_cols(n, c->n_classes > 0 && label < 0 ? c->n_classes : 0);
    float *z = vae_malloc((size_t)n * c->n_latent * sizeof(float));
    st = z ? vae_mosaic_init(out, n, cols, c->height, c->width, c->channels)
           : vae_fail(VAE_ERR_NOMEM, "out of memory for %d latent points", n);
    if (!st) {
        vae_rng rng;
        vae_rng_seed(&rng, seed);
        for (size_t i = 0; i < (size_t)n * c->n_latent; i++) z[i] = vae_rng_normal(&rng);
        st = decode_into(m, z, labels, n, out, 0);
    }
    if (st) vae_mosaic_free(out);
    vae_mem_free(z), vae_mem_free(labels);
    return st;
}

vae_status vae_picture_manifold(vae_model *m, int grid, int dx, int dy, int label, vae_mosaic *out) {
    const vae_config *c = vae_get_config(m);
    memset(out, 0, sizeof *out);
    int Z = c->n_latent;
    if (grid < 1) return vae_fail(VAE_ERR_ARG, "manifold: grid must be >= 1 (got %d)", grid);
    if (dx < 0 || dx >= Z || dy < 0 || dy >= Z || dx == dy)
        return vae_fail(VAE_ERR_ARG, "manifold: dims %d,%d must be two different dims in 0..%d", dx, dy, Z - 1);
    if (c->n_classes > 0 && label < 0)
        return vae_fail(VAE_ERR_ARG, "manifold: a conditional model needs a label in 0..%d", c->n_classes - 1);
    int n = grid * grid, *labels = NULL;
    vae_status st = make_labels(m, n, label, &labels);
    if (st) return st;
    float *z = vae_malloc((size_t)n * Z * sizeof(float));
    st = z ? vae_mosaic_init(out, n, grid, c->height, c->width, c->channels)
           : vae_fail(VAE_ERR_NOMEM, "out of memory for %d latent points", n);
    if (!st) {
        vae_manifold_z(z, grid, Z, dx, dy);
        st = decode_into(m, z, labels, n, out, 0);
    }
    if (st) vae_mosaic_free(out);
    vae_mem_free(z), vae_mem_free(labels);
    return st;
}

vae_status vae_picture_interpolate(vae_model *m, const vae_dataset *ds, int ia, int ib, const float *za,
                                   const float *zb, int steps, vae_mosaic *out) {
    const vae_config *c = vae_get_config(m);
    memset(out, 0, sizeof *out);
    vae_status st = check_data(m, ds);
    if (st) return st;
    if (ia < 0 || ia >= ds->n || ib < 0 || ib >= ds->n)
        return vae_fail(VAE_ERR_ARG, "interpolate: images %d and %d must be in 0..%d", ia, ib, ds->n - 1);
    if (steps < 1) return vae_fail(VAE_ERR_ARG, "interpolate: steps must be >= 1 (got %d)", steps);
    int Z = c->n_latent, *labels = NULL;
    float *z = vae_malloc((size_t)steps * Z * sizeof(float));
    if (c->n_classes > 0) labels = vae_malloc((size_t)steps * sizeof(int));
    if (!z || (c->n_classes > 0 && !labels)) st = vae_fail(VAE_ERR_NOMEM, "out of memory for %d latent points", steps);
    if (!st) st = vae_mosaic_init(out, steps + 2, steps + 2, c->height, c->width, c->channels);
    if (!st) {
        vae_interp_z(z, za, zb, Z, steps);
        for (int k = 0; labels && k < steps; k++) {
            double t = steps > 1 ? (double)k / (steps - 1) : 0.5;
            labels[k] = t < 0.5 ? ds->labels[ia] : ds->labels[ib];
        }
        vae_dataset_batch(ds, &ia, 0, 1, vae_mosaic_cell(out, 0));
        vae_dataset_batch(ds, &ib, 0, 1, vae_mosaic_cell(out, steps + 1));
        st = decode_into(m, z, labels, steps, out, 1);
    }
    if (st) vae_mosaic_free(out);
    vae_mem_free(z), vae_mem_free(labels);
    return st;
}

vae_status vae_picture_recon(vae_model *m, const vae_dataset *ds, int n, int cols, vae_mosaic *out) {
    const vae_config *c = vae_get_config(m);
    memset(out, 0, sizeof *out);
    vae_status st = check_data(m, ds);
    if (st) return st;
    if (n < 1 || n > ds->n) return vae_fail(VAE_ERR_ARG, "recon: %d images asked, the set holds %d", n, ds->n);
    if (cols < 1) return vae_fail(VAE_ERR_ARG, "recon: columns must be >= 1 (got %d)", cols);
    if (cols > n) cols = n;
    int Z = c->n_latent, D = ds->dim, conditional = c->n_classes > 0;
    float *x = vae_malloc((size_t)n * D * sizeof(float));
    float *rec = vae_malloc((size_t)n * D * sizeof(float));
    float *mu = vae_malloc((size_t)n * Z * sizeof(float));
    int *labels = vae_malloc((size_t)n * sizeof(int));
    if (!x || !rec || !mu || !labels) st = vae_fail(VAE_ERR_NOMEM, "out of memory for %d reconstructions", n);
    if (!st) st = vae_mosaic_init(out, vae_recon_rows(n, cols) * cols, cols, c->height, c->width, c->channels);
    if (!st) {
        vae_dataset_batch(ds, NULL, 0, n, x);
        vae_dataset_batch_labels(ds, NULL, 0, n, labels);
        st = vae_encode_many(m, x, conditional ? labels : NULL, n, mu);
        if (!st) st = vae_decode_many(m, mu, conditional ? labels : NULL, n, rec);
    }
    if (!st) {
        size_t bytes = (size_t)D * sizeof(float);
        for (int i = 0; i < n; i++) {
            memcpy(vae_mosaic_cell(out, vae_recon_cell(i, cols, 0)), x + (size_t)i * D, bytes);
            memcpy(vae_mosaic_cell(out, vae_recon_cell(i, cols, 1)), rec + (size_t)i * D, bytes);
        }
    }
    if (st) vae_mosaic_free(out);
    vae_mem_free(x), vae_mem_free(rec), vae_mem_free(mu), vae_mem_free(labels);
    return st;
}

vae_status vae_picture_scatter(const char *path, const char *title, const float *mu, int n, int Z, int dx, int dy,
                               const int *labels, int width, int height) {
    if (dx < 0 || dx >= Z || dy < 0 || dy >= Z)
        return vae_fail(VAE_ERR_ARG, "scatter: dims %d,%d must be in 0..%d", dx, dy, Z - 1);
    float *x = vae_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    float *y = vae_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!x || !y) {
        vae_mem_free(x), vae_mem_free(y);
        return vae_fail(VAE_ERR_NOMEM, "out of memory for %d points", n);
    }
    for (int i = 0; i < n; i++) x[i] = mu[(size_t)i * Z + dx], y[i] = mu[(size_t)i * Z + dy];
    char xlabel[32], ylabel[32];
    snprintf(xlabel, sizeof xlabel, "latent dim %d", dx);
    snprintf(ylabel, sizeof ylabel, "latent dim %d", dy);
    vae_status st = vae_plot_scatter(path, title, xlabel, ylabel, x, y, labels, n, width, height);
    vae_mem_free(x), vae_mem_free(y);
    return st;
}
