/* image.h: pictures. Mosaics of images written as PNG with exact pixels (stb_image_write), and
 * plots with axes, ticks, labels and legends (cairo).
 */
#ifndef VAE_IMAGE_H
#define VAE_IMAGE_H

#include <stdint.h>
#include "vae.h"

/**
 * Write n images as a mosaic PNG: cols cells per row, rows = ceil(n / cols).
 * images: (n, h, w, c) floats, clamped to [0, 1]; c is 1 (grey) or 3 (RGB).
 * Each cell is scaled up by `scale` (nearest neighbour); cells are separated by `border` pixels
 * (and framed by it) of grey 128. Cells beyond n are left at the border colour.
 */
vae_status vae_write_mosaic(const char *path, const float *images, int n, int cols, int h, int w, int c,
                            int scale, int border);

/**
 * The same mosaic PNG in memory: on success *png (vae_malloc'ed, the caller frees it with vae_mem_free)
 * holds *png_len bytes. name only labels error messages.
 */
vae_status vae_mosaic_png(const char *name, uint8_t **png, size_t *png_len, const float *images, int n, int cols,
                          int h, int w, int c, int scale, int border);

/** One line of a line plot. */
typedef struct {
    const char *name;   /* legend entry */
    const double *x, *y;
    int n;
} vae_plot_series;

/** Line plot with axes, ticks, axis labels, a title and a legend, as PNG (width x height pixels). */
vae_status vae_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                          const vae_plot_series *series, int n_series, int width, int height);

/**
 * Scatter plot of n points coloured by label (labels NULL: one colour) with axes, ticks, axis labels,
 * a title and a legend of the classes present, as PNG.
 */
vae_status vae_plot_scatter(const char *path, const char *title, const char *xlabel, const char *ylabel,
                            const float *x, const float *y, const int *labels, int n, int width, int height);

/** The colour (r, g, b in [0, 1]) used for class k in scatter plots (a fixed 10-colour palette, cycled). */
void vae_class_color(int k, double rgb[3]);

#endif /* VAE_IMAGE_H */
