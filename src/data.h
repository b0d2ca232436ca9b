/* data.h: data sets. IDX files (raw or .gz), folders of PNG/JPEG files and CSV files into memory, batches
 * as floats.
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
 * Load one split ("train" or "test") of a data folder, of one of three kinds (docs/data.md), decided for
 * the folder by what it holds, in this order:
 *   IDX     train-images-idx3-ubyte and train-labels-idx1-ubyte for "train", t10k-* for "test"; each raw
 *           or with .gz (raw preferred); labels optional
 *   images  train/ and test/ folders of PNG or JPEG files (vae_image_folder_read), labels from sub-folders
 *   CSV     train.csv and test.csv (or .csv.gz) of float rows (vae_csv_read)
 * Every size is checked before anything sized by it is allocated. On failure ds is left zeroed and
 * vae_last_error() names the file.
 */
vae_status vae_dataset_load(vae_dataset *ds, const char *dir, const char *split);

/**
 * Read a folder of PNG or JPEG files (decided by content; names starting with '.' are skipped) as uint8
 * images (n, H, W, C): grey (C = 1) or RGB (C = 3), alpha dropped; all of one size and channel count.
 * The folder holds either image files only (no labels) or class sub-folders only, each of image files:
 * label k is the k-th sub-folder name of class_dir in strcmp order (class_dir NULL, or one without
 * sub-folders: dir itself), n_classes their count; a sub-folder of dir missing in class_dir is an error.
 * Images are ordered by label, then by file name (strcmp).
 */
vae_status vae_image_folder_read(vae_dataset *ds, const char *dir, const char *class_dir);

/**
 * Read a CSV file (raw or gzip) of one sample per row as float values (n, 1, D, 1): comma-separated
 * numbers, an optional header row of names (a column named "label" then holds integer labels 0..255),
 * every row with the same count; blank lines skipped; NaN, infinity and non-numbers refused with file:line.
 */
vae_status vae_csv_read(vae_dataset *ds, const char *path);

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
