/* pictures.c: the picture subcommands of `vae` (sample, manifold, interpolate, recon, scatter).
 *
 * Each one parses its flags, checks everything it can before work starts (exit 2 with the flag or file
 * named), then builds the picture with src/pictures_lib.c and writes it atomically (exit 1 when that
 * fails). The layouts are described in src/pictures_lib.h and docs/pictures.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "pictures.h"
#include "pictures_lib.h"

#define PICTURE_BATCH 1000  /* images per encoder / decoder call */

/* ---------------------------------------------------------------- shared checks */

/* The folder of --out must exist and be writable (the file is written there through a temporary file), and
 * --out must not be one of the inputs (model, or data may be NULL). */
int check_out(const char *cmd, const char *path, const char *model, const char *data) {
    if (!*path) {
        cli_error(cmd, "--out: empty path");
        return EXIT_USAGE;
    }
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (slash && !slash[1]) {
        cli_error(cmd, "--out %s: a file name is needed, not a folder", path);
        return EXIT_USAGE;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error(cmd, "--out %s: cannot write into folder %s: %s", path, dir, strerror(errno));
        return EXIT_USAGE;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_error(cmd, "--out %s is a folder: give a file name such as %s/picture.png", path, path);
        return EXIT_USAGE;
    }
    return cli_check_output(cmd, "--out", path, model, data);
}

/* --scale 0 picks one from the image size. */
int pick_scale(int scale, const vae_config *c) { return scale > 0 ? scale : vae_mosaic_auto_scale(c->height, c->width); }

/* --label: only for conditional models, in 0..K-1. */
static int check_label(const char *cmd, const flag_spec *flag, int label, const vae_config *c, const char *model_path) {
    if (!flag->given) return EXIT_OK;
    if (c->n_classes == 0) {
        cli_error(cmd, "--label %d: the model %s is not conditional (it was trained without --conditional)", label,
                  model_path);
        return EXIT_USAGE;
    }
    if (label >= c->n_classes) {
        cli_error(cmd, "--label %d is out of range: the model %s has %d classes (0..%d)", label, model_path,
                  c->n_classes, c->n_classes - 1);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* --dims "i,j": two different latent dims of the model. */
static int parse_dims(const char *cmd, const char *text, int Z, int dims[2]) {
    int n = parse_int_list(text, dims, 2, 0, 1 << 30);
    if (n != 2) {
        cli_error(cmd, "--dims '%s': give two latent dims as I,J (for example 0,1)", text);
        return EXIT_USAGE;
    }
    if (dims[0] >= Z || dims[1] >= Z) {
        cli_error(cmd, "--dims %s is out of range: the model's latent has %d dim%s (0..%d)", text, Z, Z == 1 ? "" : "s",
                  Z - 1);
        return EXIT_USAGE;
    }
    if (dims[0] == dims[1]) {
        cli_error(cmd, "--dims %s: the two dims must differ", text);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int check_size(const char *cmd, int n, int cols, const vae_config *c, int scale) {
    if (vae_mosaic_check(n, cols, c->height, c->width, scale)) {
        cli_error(cmd, "%s", vae_last_error());
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Build failed or write the picture; both after work started, so failures exit 1. */
int finish(const char *cmd, vae_status st, const vae_mosaic *mo, const char *out, int scale) {
    if (!st) st = vae_mosaic_write(mo, out, scale);
    if (st) {
        cli_error(cmd, "%s", vae_last_error());
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---------------------------------------------------------------- sample */

int cmd_sample(int argc, char **argv) {
    const char *model_path, *out;
    int n, seed, label = -1, scale, threads;
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
        {"--out", FLAG_STRING, &out, "", "PNG to write", .required = 1},
        {"--n", FLAG_INT, &n, "64", "number of samples", 1, 100000},
        {"--seed", FLAG_INT, &seed, "1", "seed of the z ~ N(0, I) draws", 0, 2147483647},
        {"--label", FLAG_INT, &label, "", "class of every sample (conditional models; default: one column per class)", 0,
         1000000},
        {"--scale", FLAG_INT, &scale, "0", "pixels per image pixel (0: cells at least 48 px, 2 for 28x28)", 0, 64},
        {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("sample", "--model CKPT --out PNG [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if ((rc = check_out("sample", out, model_path, NULL))) return rc;
    cli_set_threads(threads);
    vae_model *m = NULL;
    if ((rc = cli_load_model("sample", model_path, n < PICTURE_BATCH ? n : PICTURE_BATCH, &m, NULL))) return rc;
    const vae_config *c = vae_get_config(m);
    scale = pick_scale(scale, c);
    if (!flag_find(flags, "--label")->given) label = -1;
    int cols = vae_sample_cols(n, c->n_classes > 0 && label < 0 ? c->n_classes : 0);
    if (!(rc = check_label("sample", flag_find(flags, "--label"), label, c, model_path)) &&
        !(rc = check_size("sample", n, cols, c, scale))) {
        vae_mosaic mo;
        rc = finish("sample", vae_picture_sample(m, n, (uint64_t)seed, label, &mo), &mo, out, scale);
        vae_mosaic_free(&mo);
    }
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- manifold */

int cmd_manifold(int argc, char **argv) {
    const char *model_path, *out, *dims_text;
    int grid, label = -1, scale, threads, dims[2];
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
        {"--out", FLAG_STRING, &out, "", "PNG to write", .required = 1},
        {"--grid", FLAG_INT, &grid, "20", "cells per side", 1, 200},
        {"--dims", FLAG_STRING, &dims_text, "0,1", "the two latent dims varied (x left to right, y bottom to top)"},
        {"--label", FLAG_INT, &label, "", "class to decode with (required for conditional models)", 0, 1000000},
        {"--scale", FLAG_INT, &scale, "0", "pixels per image pixel (0: cells at least 48 px, 2 for 28x28)", 0, 64},
        {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("manifold", "--model CKPT --out PNG [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if ((rc = check_out("manifold", out, model_path, NULL))) return rc;
    cli_set_threads(threads);
    vae_model *m = NULL;
    int n = grid * grid;
    if ((rc = cli_load_model("manifold", model_path, n < PICTURE_BATCH ? n : PICTURE_BATCH, &m, NULL))) return rc;
    const vae_config *c = vae_get_config(m);
    scale = pick_scale(scale, c);
    flag_spec *label_flag = flag_find(flags, "--label");
    if (!label_flag->given) label = -1;
    if ((rc = parse_dims("manifold", dims_text, c->n_latent, dims)) ||
        (rc = check_label("manifold", label_flag, label, c, model_path)) || (rc = check_size("manifold", n, grid, c, scale)))
        goto done;
    if (c->n_classes > 0 && !label_flag->given) {
        cli_error("manifold", "--label is required: the model %s is conditional (classes 0..%d)", model_path,
                  c->n_classes - 1);
        rc = EXIT_USAGE;
        goto done;
    }
    vae_mosaic mo;
    vae_status st = vae_picture_manifold(m, grid, dims[0], dims[1], label, &mo);
    if (!st && grid > 1) {
        // how smooth the decoded grid is: neighbours against random pairs of cells (docs/pictures.md)
        double near, far;
        st = vae_grid_smoothness(&mo, grid, &near, &far);
        if (!st)
            fprintf(stderr, "vae manifold: smoothness: mean L2 distance %.3f between neighbouring cells, %.3f between "
                    "random pairs of cells (ratio %.3f)\n", near, far, near / far);
    }
    rc = finish("manifold", st, &mo, out, scale);
    vae_mosaic_free(&mo);
done:
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- interpolate */

/* interpolate's ends: --from/--to (test images) or --from-class/--to-class, each pair complete.
 * @return 1 by index, 2 by class, 0 after printing the error. */
static int interp_mode(const char *cmd, flag_spec *flags) {
    int from = flag_find(flags, "--from")->given, to = flag_find(flags, "--to")->given;
    int from_class = flag_find(flags, "--from-class")->given, to_class = flag_find(flags, "--to-class")->given;
    int by_index = from || to, by_class = from_class || to_class;
    if (by_index == by_class) {
        cli_error(cmd, by_index ? "give either --from/--to or --from-class/--to-class, not both"
                                : "give --from I --to J (test images) or --from-class A --to-class B");
        return 0;
    }
    if (by_index && !(from && to)) {
        cli_error(cmd, "%s needs %s too", from ? "--from" : "--to", from ? "--to" : "--from");
        return 0;
    }
    if (by_class && !(from_class && to_class)) {
        cli_error(cmd, "%s needs %s too", from_class ? "--from-class" : "--to-class",
                  from_class ? "--to-class" : "--from-class");
        return 0;
    }
    return by_index ? 1 : 2;
}

/* A screen and a half: the flag table, the checks of both ways to give the ends, and the two ways to find
 * their codes read best in one place. */
int cmd_interpolate(int argc, char **argv) {
    const char *model_path, *data, *out;
    int from = 0, to = 0, from_class = 0, to_class = 0, steps, scale, threads;
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
        {"--data", FLAG_STRING, &data, "", "data folder (its test split is used)", .required = 1},
        {"--out", FLAG_STRING, &out, "", "PNG to write", .required = 1},
        {"--from", FLAG_INT, &from, "", "index of the first test image (with --to)", 0, 2147483647},
        {"--to", FLAG_INT, &to, "", "index of the last test image", 0, 2147483647},
        {"--from-class", FLAG_INT, &from_class, "", "start at the mean code of a class (with --to-class)", 0, 255},
        {"--to-class", FLAG_INT, &to_class, "", "end at the mean code of a class", 0, 255},
        {"--steps", FLAG_INT, &steps, "10", "decoded points along the walk, both ends included", 2, 1000},
        {"--scale", FLAG_INT, &scale, "0", "pixels per image pixel (0: cells at least 48 px, 2 for 28x28)", 0, 64},
        {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    const char *cmd = "interpolate";
    int rc = flags_parse(cmd, "--model CKPT --data DIR --out PNG (--from I --to J | --from-class A --to-class B) [flags]",
                         flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    int mode = interp_mode(cmd, flags), by_index = mode == 1, by_class = mode == 2;
    if (!mode) return EXIT_USAGE;
    if ((rc = check_out(cmd, out, model_path, data))) return rc;
    cli_set_threads(threads);
    vae_model *m = NULL;
    vae_dataset ds;
    memset(&ds, 0, sizeof ds);
    float *mu = NULL, *za = NULL, *zb = NULL;
    if ((rc = cli_load_model(cmd, model_path, PICTURE_BATCH, &m, NULL))) return rc;
    if ((rc = cli_load_data(cmd, data, "test", m, &ds))) goto done;
    const vae_config *c = vae_get_config(m);
    int Z = c->n_latent;
    scale = pick_scale(scale, c);
    if ((rc = check_size(cmd, steps + 2, steps + 2, c, scale))) goto done;
    rc = EXIT_USAGE;
    if (by_index) {
        if (from >= ds.n || to >= ds.n) {
            cli_error(cmd, "%s %d is out of range: the test split of %s holds %d images (0..%d)",
                      from >= ds.n ? "--from" : "--to", from >= ds.n ? from : to, data, ds.n, ds.n - 1);
            goto done;
        }
    } else if (!ds.labels) {
        cli_error(cmd, "--from-class: %s has no test labels (t10k-labels-idx1-ubyte)", data);
        goto done;
    }
    rc = EXIT_FAIL; // work starts
    za = vae_malloc((size_t)Z * sizeof(float));
    zb = vae_malloc((size_t)Z * sizeof(float));
    mu = vae_malloc((size_t)(by_class ? ds.n : 2) * Z * sizeof(float));
    if (!za || !zb || !mu) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    vae_status st;
    if (by_index) {
        // the two images' codes, each encoded with its own label for a conditional model
        int idx[2] = {from, to}, labels[2];
        float *x = vae_malloc(2 * (size_t)ds.dim * sizeof(float));
        if (!x) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        vae_dataset_batch(&ds, idx, 0, 2, x);
        vae_dataset_batch_labels(&ds, idx, 0, 2, labels);
        st = vae_encode_many(m, x, c->n_classes > 0 ? labels : NULL, 2, mu);
        vae_mem_free(x);
        memcpy(za, mu, (size_t)Z * sizeof(float));
        memcpy(zb, mu + Z, (size_t)Z * sizeof(float));
    } else {
        // class means of the test set's codes; the ends of the row show each class's test image nearest its mean
        st = vae_encode_dataset(m, &ds, ds.n, mu);
        int na = 0, nb = 0;
        if (!st) st = vae_class_mean(mu, ds.labels, ds.n, Z, from_class, za, &na, &from);
        if (!st) st = vae_class_mean(mu, ds.labels, ds.n, Z, to_class, zb, &nb, &to);
        if (!st && (na == 0 || nb == 0)) {
            cli_error(cmd, "%s %d: no test image of class %d in %s", na == 0 ? "--from-class" : "--to-class",
                      na == 0 ? from_class : to_class, na == 0 ? from_class : to_class, data);
            rc = EXIT_USAGE;
            goto done;
        }
        if (!st)
            fprintf(stderr, "vae interpolate: class %d: mean of %d codes, shown by test image %d; class %d: mean of %d "
                    "codes, shown by test image %d\n", from_class, na, from, to_class, nb, to);
    }
    vae_mosaic mo;
    memset(&mo, 0, sizeof mo);
    if (!st) st = vae_picture_interpolate(m, &ds, from, to, za, zb, steps, &mo);
    rc = finish(cmd, st, &mo, out, scale);
    vae_mosaic_free(&mo);
done:
    vae_mem_free(mu), vae_mem_free(za), vae_mem_free(zb);
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- recon */

int cmd_recon(int argc, char **argv) {
    const char *model_path, *data, *out;
    int n, scale, threads;
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
        {"--data", FLAG_STRING, &data, "", "data folder (its test split is used)", .required = 1},
        {"--out", FLAG_STRING, &out, "", "PNG to write", .required = 1},
        {"--n", FLAG_INT, &n, "16", "the first N test images", 1, 100000},
        {"--scale", FLAG_INT, &scale, "0", "pixels per image pixel (0: cells at least 48 px, 2 for 28x28)", 0, 64},
        {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("recon", "--model CKPT --data DIR --out PNG [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if ((rc = check_out("recon", out, model_path, data))) return rc;
    cli_set_threads(threads);
    vae_model *m = NULL;
    vae_dataset ds;
    if ((rc = cli_load_model("recon", model_path, n < PICTURE_BATCH ? n : PICTURE_BATCH, &m, NULL))) return rc;
    if ((rc = cli_load_data("recon", data, "test", m, &ds))) {
        vae_free(m);
        return rc;
    }
    const vae_config *c = vae_get_config(m);
    scale = pick_scale(scale, c);
    int cols = n < VAE_RECON_COLS ? n : VAE_RECON_COLS;
    if (n > ds.n) {
        cli_error("recon", "--n %d: the test split of %s holds only %d images", n, data, ds.n);
        rc = EXIT_USAGE;
    } else if (!(rc = check_size("recon", vae_recon_rows(n, cols) * cols, cols, c, scale))) {
        vae_mosaic mo;
        rc = finish("recon", vae_picture_recon(m, &ds, n, cols, &mo), &mo, out, scale);
        vae_mosaic_free(&mo);
    }
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- scatter */

int cmd_scatter(int argc, char **argv) {
    const char *model_path, *data, *out, *dims_text, *size_text;
    int threads, dims[2];
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
        {"--data", FLAG_STRING, &data, "", "data folder (its whole test split is encoded)", .required = 1},
        {"--out", FLAG_STRING, &out, "", "PNG to write", .required = 1},
        {"--dims", FLAG_STRING, &dims_text, "0,1", "the two latent dims plotted (x, y)"},
        {"--size", FLAG_STRING, &size_text, "900x800", "picture size WIDTHxHEIGHT in pixels (200..8192 each)"},
        {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("scatter", "--model CKPT --data DIR --out PNG [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    int width = 0, height = 0;
    char end = 0;
    if (sscanf(size_text, "%dx%d%c", &width, &height, &end) != 2 || width < 200 || width > 8192 || height < 200 ||
        height > 8192) {
        cli_error("scatter", "--size '%s': give WIDTHxHEIGHT with each side in 200..8192 (for example 900x800)", size_text);
        return EXIT_USAGE;
    }
    if ((rc = check_out("scatter", out, model_path, data))) return rc;
    cli_set_threads(threads);
    vae_model *m = NULL;
    vae_dataset ds;
    memset(&ds, 0, sizeof ds);
    float *mu = NULL;
    int *labels = NULL;
    if ((rc = cli_load_model("scatter", model_path, PICTURE_BATCH, &m, NULL))) return rc;
    const vae_config *c = vae_get_config(m);
    if ((rc = parse_dims("scatter", dims_text, c->n_latent, dims)) || (rc = cli_load_data("scatter", data, "test", m, &ds)))
        goto done;
    rc = EXIT_FAIL; // work starts
    mu = vae_malloc((size_t)ds.n * c->n_latent * sizeof(float));
    labels = ds.labels ? vae_malloc((size_t)ds.n * sizeof(int)) : NULL;
    if (!mu || (ds.labels && !labels)) {
        cli_error("scatter", "out of memory for %d codes", ds.n);
        goto done;
    }
    if (labels) vae_dataset_batch_labels(&ds, NULL, 0, ds.n, labels);
    char title[160];
    // a VAE's encoder gives the mean of q(z|x); an autoencoder's gives the code itself
    snprintf(title, sizeof title, "%s of %d test images (%s, %d-D latent)", c->ae ? "Latent codes" : "Latent means",
             ds.n, c->ae ? "autoencoder" : c->n_classes > 0 ? "conditional VAE" : "VAE", c->n_latent);
    vae_status st = vae_encode_dataset(m, &ds, ds.n, mu);
    if (!st) st = vae_picture_scatter(out, title, mu, ds.n, c->n_latent, dims[0], dims[1], labels, width, height);
    if (st) {
        cli_error("scatter", "%s", vae_last_error());
        goto done;
    }
    rc = EXIT_OK;
done:
    vae_mem_free(mu), vae_mem_free(labels);
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}
