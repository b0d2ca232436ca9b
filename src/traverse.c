/* traverse.c: the latent traversal's layout (see traverse.h). */
#include "traverse.h"

#include <math.h>
#include <string.h>

void vae_traverse_order(const double *kl, int Z, int *order) {
    for (int d = 0; d < Z; d++) order[d] = d;
    for (int i = 1; i < Z; i++) { // insertion sort: stable, and Z is small
        int v = order[i], j = i - 1;
        while (j >= 0 && kl[order[j]] < kl[v]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}

double vae_traverse_value(int k, int steps, double range) {
    return steps > 1 ? -range + 2.0 * range * k / (steps - 1) : 0.0;
}

void vae_traverse_z(float *z, const float *base, const int *order, int rows, int Z, int steps, double range) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < steps; k++) {
            float *cell = z + ((size_t)r * steps + k) * Z;
            memcpy(cell, base, (size_t)Z * sizeof(float));
            cell[order[r]] = (float)vae_traverse_value(k, steps, range);
        }
}

void vae_traverse_marker(float *cell, int h, int w, int c, double frac, int collapsed) {
    frac = frac > 1.0 ? 1.0 : (frac > 0.0 ? frac : 0.0);
    int len = (int)lround(w * frac), band = h / 5 > 0 ? h / 5 : 1, top = (h - band) / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float v = (y >= top && y < top + band && x < len) ? 1.0f : 0.0f;
            // the cross: the pixels nearest each diagonal, one per row
            if (collapsed && (x == (int)((double)y * (w - 1) / (h > 1 ? h - 1 : 1) + 0.5) ||
                              x == w - 1 - (int)((double)y * (w - 1) / (h > 1 ? h - 1 : 1) + 0.5)))
                v = 0.5f;
            for (int k = 0; k < c; k++) cell[((size_t)y * w + x) * c + k] = v;
        }
}
