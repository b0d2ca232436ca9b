/* decode.c: the smallest program that uses libvae through its public header alone.
 * It loads a checkpoint, decodes one latent vector and prints the image as text (and, with a third
 * argument, writes it as a binary PGM).
 *
 *   build/examples/decode runs/mnist-2d/model.safetensors "0.5,-1.0" [out.pgm]
 *
 * Missing latent values are 0; a conditional model decodes class 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.safetensors \"z1,z2,...\" [OUT.pgm]\n", argv[0]);
        return 2;
    }
    vae_model *m;
    vae_status st = vae_load(&m, argv[1], 1);
    if (st) {
        fprintf(stderr, "%s: %s\n", vae_strerror(st), vae_last_error());
        return 2;
    }
    const vae_config *cfg = vae_get_config(m);
    int Z = cfg->n_latent, D = cfg->height * cfg->width * cfg->channels;
    float *z = calloc((size_t)Z, sizeof *z), *x = malloc((size_t)D * sizeof *x);
    if (!z || !x) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    char *s = argv[2];
    for (int i = 0; i < Z && *s; i++) {
        z[i] = strtof(s, &s);
        if (*s == ',') s++;
    }
    int label = 0;
    st = vae_decode(m, z, cfg->n_classes > 0 ? &label : NULL, 1, x);
    if (st) {
        fprintf(stderr, "%s: %s\n", vae_strerror(st), vae_last_error());
        return 1;
    }
    // text picture of the first channel: darker characters for higher values
    const char *shades = " .:-=+*#%@";
    for (int r = 0; r < cfg->height; r++) {
        for (int c = 0; c < cfg->width; c++) {
            float v = x[(r * cfg->width + c) * cfg->channels];
            int k = (int)(v * 9.999f);
            putchar(shades[k < 0 ? 0 : k > 9 ? 9 : k]);
        }
        putchar('\n');
    }
    if (argc > 3) {
        FILE *f = fopen(argv[3], "wb");
        int ok = f != NULL;
        if (ok) ok = fprintf(f, "P5\n%d %d\n255\n", cfg->width, cfg->height) > 0;
        for (int i = 0; ok && i < cfg->height * cfg->width; i++) {
            float v = x[i * cfg->channels];
            ok = fputc((int)(v < 0 ? 0 : v > 1 ? 255 : v * 255.0f + 0.5f), f) != EOF;
        }
        if (f && fclose(f)) ok = 0;
        if (!ok) {
            fprintf(stderr, "%s: cannot write\n", argv[3]);
            return 1;
        }
    }
    free(z);
    free(x);
    vae_free(m);
    return 0;
}
