/* traverse.h: the layout of `vae traverse` (latent traversals), kept apart from the CLI so it can be
 * tested cell by cell. One row per latent dimension, in decreasing order of its KL; a row is a marker cell
 * (the dimension's KL as a bar, crossed out when the dimension is collapsed) and then `steps` decoded
 * images, the row's dimension swept from -range to +range with every other dimension at a base code. */
#ifndef VAE_TRAVERSE_H
#define VAE_TRAVERSE_H

/** order (Z) receives the dimensions sorted by decreasing kl (ties: lower index first). */
void vae_traverse_order(const double *kl, int Z, int *order);

/** The sweep's value at step k of steps: -range + 2 range k / (steps - 1) (0 for steps 1). */
double vae_traverse_value(int k, int steps, double range);

/** z (rows * steps, Z): row r's cells copy base (Z) with dimension order[r] set to the sweep's values. */
void vae_traverse_z(float *z, const float *base, const int *order, int rows, int Z, int steps, double range);

/**
 * Draw a row's marker into cell (h, w, c): black, with a white bar over the middle fifth of the rows (at
 * least one) from the left edge, round(w * frac) pixels long (frac clamped to [0, 1]); when collapsed,
 * a grey (0.5) cross corner to corner over it.
 */
void vae_traverse_marker(float *cell, int h, int w, int c, double frac, int collapsed);

#endif /* VAE_TRAVERSE_H */
