/* pictures.h: subcommands that draw pictures from a model (tools/pictures.c). */
#ifndef VAE_PICTURES_H
#define VAE_PICTURES_H

/* table entries: {"name", function, "summary"}, */
#define PICTURE_COMMANDS

#endif /* VAE_PICTURES_H */
