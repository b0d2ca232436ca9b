/* export.h: subcommands that move latent codes and models in and out (tools/export.c):
 * `encode` (images -> mu, logvar as CSV), `decode` (one z -> PNG or CSV) and `export-c` (the decoder as
 * dependency-free C99 source, float32 or int8). */
#ifndef VAE_EXPORT_H
#define VAE_EXPORT_H

int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_export_c(int argc, char **argv);

/* table entries: {"name", function, "summary"}, */
#define EXPORT_COMMANDS                                                                          \
    {"encode", cmd_encode, "mu and logvar of a data split's images, as CSV"},                   \
    {"decode", cmd_decode, "the decoder's mean for one latent vector, as PNG or CSV"},          \
    {"export-c", cmd_export_c, "the decoder as dependency-free C99 source (float32 or --int8)"},

#endif /* VAE_EXPORT_H */
