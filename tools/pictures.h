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

/* table entries: {"name", function, "summary"}, */
#define PICTURE_COMMANDS                                                                                  \
    {"sample", cmd_sample, "mosaic of images decoded from z ~ N(0, I)"},                                  \
    {"manifold", cmd_manifold, "mosaic of a grid over two latent dims (inverse normal CDF spacing)"},     \
    {"interpolate", cmd_interpolate, "decoded walk in latent space between two test images or classes"}, \
    {"recon", cmd_recon, "test images above their reconstructions"},                                      \
    {"scatter", cmd_scatter, "latent means of the test set, coloured by label"},

#endif /* VAE_PICTURES_H */
