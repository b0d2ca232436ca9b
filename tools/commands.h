/* commands.h: the subcommands that live outside vae.c, and their entries for main()'s table. */
#ifndef VAE_COMMANDS_H
#define VAE_COMMANDS_H

#define PICTURE_COMMANDS

#endif /* VAE_COMMANDS_H */
