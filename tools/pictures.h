/* pictures.h: subcommands that draw pictures from a model (tools/pictures.c): `sample` (decoded prior
 * samples), `manifold` (the decoded 2-D latent grid), `interpolate` (a walk in latent space between two
 * test images or class means), `recon` (originals above their reconstructions) and `scatter` (the test
 * set's latent means coloured by label). What each shows: docs/pictures.md. */
#ifndef VAE_PICTURES_H
#define VAE_PICTURES_H

int cmd_sample(int argc, char **argv);
int cmd_manifold(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_recon(int argc, char **argv);
int cmd_scatter(int argc, char **argv);

/* Shared with the other picture commands (tools/traverse.c). */
#include "pictures_lib.h"
/** --out: its folder must be writable, the path must not be a folder, nor one of the inputs (model, or data
 *  may be NULL) (exit 2 otherwise). */
int check_out(const char *cmd, const char *path, const char *model, const char *data);
/** --scale 0 picks one from the image size. */
int pick_scale(int scale, const vae_config *c);
/** A mosaic of n cells in rows of cols must be writable (exit 2 otherwise). */
int check_size(const char *cmd, int n, int cols, const vae_config *c, int scale);
/** Write the mosaic unless st failed; exit 1 on either failure. */
int finish(const char *cmd, vae_status st, const vae_mosaic *mo, const char *out, int scale);

/* table entries: {"name", function, "summary"}, */
#define PICTURE_COMMANDS                                                                                  \
    {"sample", cmd_sample, "mosaic of images decoded from z ~ N(0, I)"},                                  \
    {"manifold", cmd_manifold, "mosaic of a grid over two latent dims (inverse normal CDF spacing)"},     \
    {"interpolate", cmd_interpolate, "decoded walk in latent space between two test images or classes"}, \
    {"recon", cmd_recon, "test images above their reconstructions"},                                      \
    {"scatter", cmd_scatter, "latent means of the test set, coloured by label"},

#endif /* VAE_PICTURES_H */
