/* pictures_lib.h: what the picture subcommands draw (vae sample, manifold, interpolate, recon, scatter),
 * kept apart from the CLI so that the layout of each picture can be tested from C, cell by cell.
 *
 * Each mosaic picture is first built in memory as a vae_mosaic (cells in reading order, cols per row),
 * then written by vae_mosaic_write (vae_write_mosaic with a 1-pixel border). Cells that a layout leaves
 * empty hold 0.5, which the writer turns into the border grey 128, so gaps read as background.
 *
 * Layouts (docs/pictures.md shows them):
 *   sample       n decoded prior samples, ceil(sqrt n) per row; a conditional model without a fixed
 *                label: one column per class (cell i has label i mod K)
 *   manifold     grid x grid cells; cell (row r, column c) decodes z with z[dx] = ppf(p_c) and
 *                z[dy] = ppf(p_{grid-1-r}), p_i = 0.05 + 0.9 i / (grid - 1), other dims 0: dx grows
 *                left to right, dy grows bottom to top (as in a plot and in the scatter picture)
 *   interpolate  one row: [input A, steps decoded points z_A + t (z_B - z_A) with t = k / (steps - 1),
 *                input B]; the inputs are original pixels
 *   recon        pairs of rows: a row of up to 8 originals, below it their reconstructions
 */
#ifndef VAE_PICTURES_LIB_H
#define VAE_PICTURES_LIB_H

#include <stdint.h>

#include "data.h"
#include "vae.h"

/* ---------------------------------------------------------------- mosaics in memory */

#define VAE_MOSAIC_BORDER 1     /* pixels between cells and around the picture */
#define VAE_MOSAIC_CELL_PX 48   /* the automatic scale makes a cell's longer side at least this many pixels */
#define VAE_RECON_COLS 8        /* originals per row in the recon picture */

typedef struct {
    float *cells;   /* (n, h, w, c) values, 0.5 where a layout leaves a cell empty */
    int n, cols;    /* cells in reading order, cols per row */
    int h, w, c;
} vae_mosaic;

/** Allocate n cells of h x w x c, all 0.5 (border grey). */
vae_status vae_mosaic_init(vae_mosaic *mo, int n, int cols, int h, int w, int c);
void vae_mosaic_free(vae_mosaic *mo);
/** @return cell i, (h, w, c) floats */
float *vae_mosaic_cell(const vae_mosaic *mo, int i);

/** Scale when --scale is 0: the smallest integer that makes the longer side >= VAE_MOSAIC_CELL_PX (28 -> 2). */
int vae_mosaic_auto_scale(int h, int w);

/** Check, before any work, that a mosaic of this shape can be written (vae_write_mosaic's size limits). */
vae_status vae_mosaic_check(int n, int cols, int h, int w, int scale);

/** Write the mosaic as PNG with a VAE_MOSAIC_BORDER border, each pixel scaled up `scale` times. Atomic. */
vae_status vae_mosaic_write(const vae_mosaic *mo, const char *path, int scale);

/* ---------------------------------------------------------------- layouts (pure) */

/** Columns of the sample picture: n_cycle > 0 (labels cycle over n_cycle classes) gives n_cycle, else ceil(sqrt n). */
int vae_sample_cols(int n, int n_cycle);

/** The manifold's coordinate i of grid: ppf(0.05 + 0.9 i / (grid - 1)); 0 for grid 1. */
double vae_manifold_coord(int i, int grid);

/** Fill z (grid * grid, Z) with the manifold's latent points in reading order (see the top of this file). */
void vae_manifold_z(float *z, int grid, int Z, int dx, int dy);

/** Fill z (steps, Z) with za + t (zb - za), t = k / (steps - 1) (steps >= 2; steps 1 gives t = 1/2). */
void vae_interp_z(float *z, const float *za, const float *zb, int Z, int steps);

/** Rows of the recon picture for n images in rows of `cols`: 2 * ceil(n / cols). */
int vae_recon_rows(int n, int cols);
/** Cell of image i's original (recon 0) or reconstruction (recon 1) in the recon picture. */
int vae_recon_cell(int i, int cols, int recon);

/**
 * How smooth a grid of images is: the mean L2 distance between horizontally or vertically adjacent cells,
 * and between all pairs of distinct cells (a random pair of cells on average). Cells are mo's first
 * rows * mo->cols; rows and cols >= 1, at least 2 cells.
 */
vae_status vae_grid_smoothness(const vae_mosaic *mo, int rows, double *neighbour, double *random_pair);

/** Mean (Z) of the rows of mu (n, Z) whose label is k (left untouched when there is none); *count receives
 * how many; *nearest (may be NULL) the index of the row nearest the mean (L2), -1 when there is none. */
vae_status vae_class_mean(const float *mu, const uint8_t *labels, int n, int Z, int k, float *mean, int *count,
                          int *nearest);

/* ---------------------------------------------------------------- with a model */

/** vae_encode / vae_decode over any n, in chunks of the model's max_batch. labels NULL for unconditional models. */
vae_status vae_encode_many(vae_model *m, const float *x, const int *labels, int n, float *mu);
vae_status vae_decode_many(vae_model *m, const float *z, const int *labels, int n, float *out);

/** Latent means mu (n, Z) of ds's first n images (with their labels for a conditional model). */
vae_status vae_encode_dataset(vae_model *m, const vae_dataset *ds, int n, float *mu);

/**
 * Decoder means for n draws z ~ N(0, I) from a generator seeded with seed (cell by cell, dim by dim).
 * label: the class for every cell of a conditional model, or -1 to cycle (one column per class); -1 for
 * an unconditional model.
 */
vae_status vae_picture_sample(vae_model *m, int n, uint64_t seed, int label, vae_mosaic *out);

/** The manifold (grid x grid) over latent dims dx != dy; label as in vae_picture_sample (>= 0 for a
 * conditional model). */
vae_status vae_picture_manifold(vae_model *m, int grid, int dx, int dy, int label, vae_mosaic *out);

/**
 * The interpolation row between za and zb (Z each), framed by ds's images ia and ib (original pixels).
 * A conditional model decodes the first half of the walk (t < 1/2) with ia's label, the rest with ib's.
 */
vae_status vae_picture_interpolate(vae_model *m, const vae_dataset *ds, int ia, int ib, const float *za,
                                   const float *zb, int steps, vae_mosaic *out);

/** ds's first n images and their reconstructions (decoder mean at z = mu) in pairs of rows. */
vae_status vae_picture_recon(vae_model *m, const vae_dataset *ds, int n, int cols, vae_mosaic *out);

/**
 * Scatter plot of latent dims dx, dy of mu (n, Z), coloured by labels (NULL: one colour), with axes,
 * ticks, axis labels and a legend; width x height pixels.
 */
vae_status vae_picture_scatter(const char *path, const char *title, const float *mu, int n, int Z, int dx, int dy,
                               const int *labels, int width, int height);

#endif /* VAE_PICTURES_LIB_H */
