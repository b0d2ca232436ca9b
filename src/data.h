/* data.h: data sets. IDX files (raw or .gz) into memory, batches as floats.
 *
 * Images stay in memory as they are stored (uint8 for type 0x08, float for type 0x0D) and are
 * converted per batch: uint8 v becomes v / 255 in [0, 1].
 */
#ifndef VAE_DATA_H
#define VAE_DATA_H

#include <stdint.h>
#include "vae.h"

typedef struct {
    int n;                 /* number of images */
    int height, width, channels;
    int dim;               /* height * width * channels */
    uint8_t *pixels;       /* (n, dim) uint8 when the file holds unsigned bytes, else NULL */
    float *values;         /* (n, dim) float when the file holds floats (type 0x0D), else NULL */
    uint8_t *labels;       /* (n) or NULL when there is no label file */
    int n_classes;         /* 1 + largest label, 0 without labels */
} vae_dataset;

/**
 * Load one split of a data folder: split "train" reads train-images-idx3-ubyte and
 * train-labels-idx1-ubyte, split "test" reads t10k-*; each raw or with .gz (raw preferred);
 * labels are optional. Every header field and the data length are checked before anything
 * sized by them is allocated. On failure ds is left zeroed and vae_last_error() names the file.
 */
vae_status vae_dataset_load(vae_dataset *ds, const char *dir, const char *split);

/** Read one IDX image file (3 dims N,H,W or 4 dims N,H,W,C; type 0x08 or 0x0D). */
vae_status vae_idx_read_images(vae_dataset *ds, const char *path);

/** Read one IDX label file (1 dim, type 0x08) and attach it to ds (counts must agree). */
vae_status vae_idx_read_labels(vae_dataset *ds, const char *path);

/** Free what the data set owns and zero it. */
void vae_dataset_free(vae_dataset *ds);

/** Gather images idx[0..n) into out (n, dim) as floats (uint8 -> [0, 1]). idx NULL means 0..n-1 from start. */
void vae_dataset_batch(const vae_dataset *ds, const int *idx, int start, int n, float *out);

/** Gather labels idx[0..n) into out (n); all zero when the set has no labels. */
void vae_dataset_batch_labels(const vae_dataset *ds, const int *idx, int start, int n, int *out);

#endif /* VAE_DATA_H */
