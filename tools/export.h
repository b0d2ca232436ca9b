/* export.h: subcommands that move latent codes and models in and out (tools/export.c). */
#ifndef VAE_EXPORT_H
#define VAE_EXPORT_H

/* table entries: {"name", function, "summary"}, */
#define EXPORT_COMMANDS

#endif /* VAE_EXPORT_H */
