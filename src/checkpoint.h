/* checkpoint.h: model and training-state files (safetensors; the layout is in docs/checkpoint.md).
 *
 * model.safetensors: one F32 tensor per entry of the model's table (enc.fc1.weight, ...), the
 * configuration in __metadata__, plus whatever string pairs the caller adds (binarization, ...).
 * train-state.safetensors: the configuration, the flat parameters, both Adam moments, the step, the
 * trainer's generator state, epoch, position and data order, in one file so one atomic write keeps them
 * consistent.
 */
#ifndef VAE_CHECKPOINT_H
#define VAE_CHECKPOINT_H

#include "train.h"
#include "vae.h"

#define VAE_META_MAX 48

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

/** Save model, Adam state and trainer state in one file. Atomic. */
vae_status vae_train_state_save(const vae_trainer *t, const char *path, const vae_meta *extra);

/**
 * Load a training state: builds the model (max_batch) and reads the metadata; the trainer part
 * (rng, epoch, position, order, partial sums) is applied by vae_train_state_apply once the caller has
 * set up the trainer over the data set.
 */
typedef struct {
    vae_model *model;
    vae_meta meta;
    vae_rng rng;
    int epoch, next_batch, n_order;
    int *order;
    double loss_sum, train_seconds;
} vae_train_state;

vae_status vae_train_state_load(vae_train_state *s, const char *path, int max_batch);
/** Copy the trainer part into t (n_train must match the saved order's length). */
vae_status vae_train_state_apply(const vae_train_state *s, vae_trainer *t);
/** Free what s owns (the model too unless it was taken: set s->model = NULL to keep it). */
void vae_train_state_free(vae_train_state *s);

/** Configuration <-> metadata, shared by both files. */
vae_status vae_config_to_meta(const vae_config *cfg, vae_meta *meta);
vae_status vae_config_from_meta(vae_config *cfg, const vae_meta *meta, const char *path);

#endif /* VAE_CHECKPOINT_H */
