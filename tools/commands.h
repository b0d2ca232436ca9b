/* commands.h: the subcommands that live outside vae.c, and their entries for main()'s table.
 * Each group's header declares its functions and a macro of table entries. */
#ifndef VAE_COMMANDS_H
#define VAE_COMMANDS_H

#include "pictures.h"
#include "export.h"
#include "serve.h"
#include "traverse_cmd.h"

#define EXTRA_COMMANDS PICTURE_COMMANDS EXPORT_COMMANDS SERVE_COMMANDS TRAVERSE_COMMANDS

#endif /* VAE_COMMANDS_H */
