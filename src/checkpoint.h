/* checkpoint.h: the model file (safetensors; the layout is in docs/checkpoint.md), part of the core.
 *
 * model.safetensors: one F32 tensor per entry of the model's table (enc.fc1.weight, ...), the
 * configuration in __metadata__, plus whatever string pairs the caller adds (binarization, ...).
 * The training-state file (train_state.h) is built on the vae__checkpoint_* helpers below.
 */
#ifndef VAE_CHECKPOINT_H
#define VAE_CHECKPOINT_H

#include "safetensors.h"
#include "vae.h"

#define VAE_META_MAX 48

/* The "format" metadata of the two files. */
#define VAE_FORMAT_MODEL "libvae-model"
#define VAE_FORMAT_STATE "libvae-train-state"

/** String metadata of a checkpoint beyond the configuration (copies, owned by the struct). */
typedef struct {
    int n;
    char key[VAE_META_MAX][64];
    char value[VAE_META_MAX][256];
} vae_meta;

/** @return the value of key or NULL. */
const char *vae_meta_get(const vae_meta *meta, const char *key);
/** Add or replace a pair; VAE_ERR_ARG when full or too long. */
vae_status vae_meta_set(vae_meta *meta, const char *key, const char *value);

/** Save the model with extra metadata (may be NULL). Atomic. */
vae_status vae_checkpoint_save(const vae_model *m, const char *path, const vae_meta *extra);

/** Load a model; extra (may be NULL) receives the metadata that is not part of the configuration. */
vae_status vae_checkpoint_load(vae_model **out, const char *path, int max_batch, vae_meta *extra);

/** Configuration <-> metadata, shared by both files. */
vae_status vae_config_to_meta(const vae_config *cfg, vae_meta *meta);
vae_status vae_config_from_meta(vae_config *cfg, const vae_meta *meta, const char *path);

/* ---- for the training-state file (train_state.c) */

/** Metadata list for vae__st_write into all / kv (2 * VAE_META_MAX + 1 pointers): format keys, configuration,
 * extra pairs; NULL-terminated. */
vae_status vae__checkpoint_meta_kv(const vae_config *cfg, const char *format, const vae_meta *extra, vae_meta *all,
                                   const char **kv);
/** Read a file of the given format, its metadata and configuration, and allocate the model; copies: how many
 * arrays of all the parameters the file must hold (checked before allocating). On failure f is freed. */
vae_status vae__checkpoint_open(st_file *f, vae_meta *meta, vae_model **m, const char *path, const char *format,
                                int copies, int max_batch);
/** The tensor called name, checked to have dtype and exactly the shape given. */
vae_status vae__checkpoint_tensor(const st_file *f, const char *path, const char *name, st_dtype dtype, int ndim,
                                  const int64_t *shape, const st_tensor **out);

#endif /* VAE_CHECKPOINT_H */
