/* traverse.c: `vae traverse`, latent traversals (docs/pictures.md). The test split's codes give each latent
 * dimension's KL and activity (tools/diagnose.c, as `vae eval` computes them); the rows follow the KL in
 * decreasing order, each a marker cell (KL bar, crossed out when collapsed) and a decoded sweep of its
 * dimension from -range to +range, every other dimension at the code (mu) of test image --image, or at 0.
 * The layout is src/traverse.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "diagnose.h"
#include "pictures.h"
#include "traverse.h"
#include "traverse_cmd.h"

#define TRAVERSE_BATCH 1000

typedef struct {
    const char *model, *data, *out;
    int image, steps, n, scale, threads, label;
    double range;
} traverse_args;

/* Encode the first n test images; kl, var (Z) per dimension; base (Z) the code of image (or 0). */
static vae_status traverse_codes(vae_model *m, const vae_dataset *ds, const vae_meta *meta, const traverse_args *a,
                                 double *kl, double *var, float *base, int *active) {
    int Z = vae_get_config(m)->n_latent;
    const char *bin = vae_meta_get(meta, "binarize"), *bin_seed = vae_meta_get(meta, "binarize_seed");
    float *mu = vae_malloc((size_t)a->n * Z * sizeof(float)), *lv = vae_malloc((size_t)a->n * Z * sizeof(float));
    float *x = vae_malloc((size_t)TRAVERSE_BATCH * ds->dim * sizeof(float));
    int *labels = vae_malloc(TRAVERSE_BATCH * sizeof(int));
    vae_status st = mu && lv && x && labels ? VAE_OK : vae_fail(VAE_ERR_NOMEM, "out of memory for %d codes", a->n);
    if (!st)
        st = diag_encode(m, ds, a->n, TRAVERSE_BATCH, bin && strcmp(bin, "dynamic") == 0,
                         bin_seed ? strtoull(bin_seed, NULL, 10) : 0, x, labels, mu, lv);
    if (!st) {
        *active = vae_latent_activity(mu, lv, a->n, Z, kl, var);
        if (a->image >= 0) memcpy(base, mu + (size_t)a->image * Z, (size_t)Z * sizeof(float));
        else memset(base, 0, (size_t)Z * sizeof(float));
    }
    vae_mem_free(mu), vae_mem_free(lv), vae_mem_free(x), vae_mem_free(labels);
    return st;
}

/* The mosaic: Z rows of a marker and steps decoded cells. */
static vae_status traverse_build(vae_model *m, const traverse_args *a, const double *kl, const double *var,
                                 const float *base, const int *order, vae_mosaic *mo) {
    const vae_config *c = vae_get_config(m);
    int Z = c->n_latent, cols = a->steps + 1, n = Z * a->steps;
    vae_status st = vae_mosaic_init(mo, Z * cols, cols, c->height, c->width, c->channels);
    if (st) return st;
    size_t D = (size_t)c->height * c->width * c->channels;
    float *z = vae_malloc((size_t)n * Z * sizeof(float)), *img = vae_malloc((size_t)n * D * sizeof(float));
    int *labels = c->n_classes > 0 ? vae_malloc((size_t)n * sizeof(int)) : NULL;
    if (!z || !img || (c->n_classes > 0 && !labels)) {
        vae_mem_free(z), vae_mem_free(img), vae_mem_free(labels);
        return vae_fail(VAE_ERR_NOMEM, "out of memory for %d traversal cells", n);
    }
    for (int i = 0; labels && i < n; i++) labels[i] = a->label;
    vae_traverse_z(z, base, order, Z, Z, a->steps, a->range);
    st = vae_decode_many(m, z, labels, n, img);
    double kl_max = 0.0;
    for (int d = 0; d < Z; d++) kl_max = kl[d] > kl_max ? kl[d] : kl_max;
    for (int r = 0; !st && r < Z; r++) {
        int d = order[r];
        vae_traverse_marker(vae_mosaic_cell(mo, r * cols), c->height, c->width, c->channels,
                            kl_max > 0 ? kl[d] / kl_max : 0.0, !(var[d] > VAE_ACTIVE_THRESHOLD));
        memcpy(vae_mosaic_cell(mo, r * cols + 1), img + (size_t)r * a->steps * D, (size_t)a->steps * D * sizeof(float));
    }
    vae_mem_free(z), vae_mem_free(img), vae_mem_free(labels);
    return st;
}

int cmd_traverse(int argc, char **argv) {
    traverse_args a;
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &a.model, "", "checkpoint (model.safetensors)", .required = 1},
        {"--data", FLAG_STRING, &a.data, "", "data folder (its test split ranks the dimensions)", .required = 1},
        {"--out", FLAG_STRING, &a.out, "", "PNG to write", .required = 1},
        {"--image", FLAG_INT, &a.image, "-1", "test image whose code the other dimensions keep (-1: all at 0)", -1,
         1 << 30},
        {"--steps", FLAG_INT, &a.steps, "9", "decoded images per row", 1, 64},
        {"--range", FLAG_DOUBLE, &a.range, "3", "each row sweeps its dimension from -RANGE to +RANGE", 0, 100},
        {"--n", FLAG_INT, &a.n, "0", "test images that rank the dimensions by KL (0: all)", 0, 1 << 30},
        {"--label", FLAG_INT, &a.label, "-1", "class to decode with (conditional models; default: --image's label)",
         -1, 255},
        {"--scale", FLAG_INT, &a.scale, "0", "pixels per image pixel (0: cells at least 48 px, 2 for 28x28)", 0, 64},
        {"--threads", FLAG_INT, &a.threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("traverse", "--model CKPT --data DIR --out PNG [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if ((rc = check_out("traverse", a.out, a.model, a.data))) return rc;
    cli_set_threads(a.threads);
    vae_model *m = NULL;
    vae_meta meta;
    vae_dataset ds;
    if ((rc = cli_load_model("traverse", a.model, TRAVERSE_BATCH, &m, &meta))) return rc;
    if ((rc = cli_load_data("traverse", a.data, "test", m, &ds))) {
        vae_free(m);
        return rc;
    }
    const vae_config *c = vae_get_config(m);
    int Z = c->n_latent, active = 0;
    double *kl = vae_malloc((size_t)Z * sizeof(double)), *var = vae_malloc((size_t)Z * sizeof(double));
    float *base = vae_malloc((size_t)Z * sizeof(float));
    int *order = vae_malloc((size_t)Z * sizeof(int));
    vae_mosaic mo = {0};
    rc = EXIT_USAGE;
    if (a.n == 0) a.n = ds.n;
    if (c->ae) cli_error("traverse", "%s is a plain autoencoder: its dimensions have no KL to rank them by", a.model);
    else if (a.n > ds.n) cli_error("traverse", "--n %d: the test split of %s holds only %d images", a.n, a.data, ds.n);
    else if (a.image >= ds.n) cli_error("traverse", "--image %d: the test split of %s holds %d images", a.image, a.data, ds.n);
    else if (c->n_classes > 0 && a.label < 0 && a.image < 0)
        cli_error("traverse", "--label is required with the conditional model %s unless --image gives one", a.model);
    else if (c->n_classes > 0 && a.label >= c->n_classes)
        cli_error("traverse", "--label %d is out of range: the model %s has %d classes", a.label, a.model, c->n_classes);
    else if (c->n_classes == 0 && a.label >= 0)
        cli_error("traverse", "--label %d: the model %s is not conditional", a.label, a.model);
    else if (!kl || !var || !base || !order) cli_error("traverse", "out of memory"), rc = EXIT_FAIL;
    else if (!(rc = check_size("traverse", Z * (a.steps + 1), a.steps + 1, c, pick_scale(a.scale, c)))) {
        if (c->n_classes > 0 && a.label < 0) a.label = ds.labels[a.image];
        vae_status st = traverse_codes(m, &ds, &meta, &a, kl, var, base, &active);
        if (!st) {
            vae_traverse_order(kl, Z, order);
            st = traverse_build(m, &a, kl, var, base, order, &mo);
        }
        rc = finish("traverse", st, &mo, a.out, pick_scale(a.scale, c));
        if (rc == EXIT_OK) {
            printf("row,dim,kl,var_mu,active\n");
            for (int r = 0; r < Z; r++)
                printf("%d,%d,%.6f,%.6f,%d\n", r, order[r], kl[order[r]], var[order[r]], var[order[r]] > VAE_ACTIVE_THRESHOLD);
            fprintf(stderr, "vae traverse: %d of %d dimensions active (Cov_x(E_q[z_d]) > %g) over %d test images\n", active,
                    Z, VAE_ACTIVE_THRESHOLD, a.n);
        }
    }
    vae_mosaic_free(&mo);
    vae_mem_free(kl), vae_mem_free(var), vae_mem_free(base), vae_mem_free(order);
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}
