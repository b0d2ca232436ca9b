/* version.c: the library's version, and the compile-time checks of the ABI rules in include/vae.h
 * ("How the public structs grow", docs/abi.md). */
#include <stddef.h>

#include "vae.h"

/* A field added to a public struct must take the place of reserved words, never grow the struct. */
_Static_assert(sizeof(vae_config) == VAE_CONFIG_SIZE, "vae_config changed size: shrink its reserved[] by the new field's words");
_Static_assert(sizeof(vae_train_opts) == VAE_TRAIN_OPTS_SIZE,
               "vae_train_opts changed size: shrink its reserved[] by the new field's words");
/* Fields of version 0.1 keep their offsets (a sample: the first, one in the middle and the last). */
_Static_assert(offsetof(vae_config, height) == 0 && offsetof(vae_config, n_latent) == 48 &&
                   offsetof(vae_config, conv_channels) == 76,
               "a field of vae_config moved: append new fields before reserved[] only");
_Static_assert(offsetof(vae_train_opts, lr) == 0 && offsetof(vae_train_opts, iwae_k) == 20,
               "a field of vae_train_opts moved: append new fields before reserved[] only");

const char *vae_version(void) { return VAE_VERSION_STRING; }
