/* train_state.h: the training-state file (safetensors, layout in docs/checkpoint.md): configuration, flat
 * parameters, both Adam moments, the step, the trainer's generator state, epoch, position and data order,
 * in one file so one atomic write keeps them consistent. Part of the trainer, not of the core library.
 */
#ifndef VAE_TRAIN_STATE_H
#define VAE_TRAIN_STATE_H

#include "checkpoint.h"
#include "train.h"

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

#endif /* VAE_TRAIN_STATE_H */
