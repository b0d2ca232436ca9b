/* serve_fixture.h: the small random models that test_serve_api.c and fuzz/fuzz_http.c serve. */
#ifndef VAE_SERVE_FIXTURE_H
#define VAE_SERVE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "serve_api.h"

/* An MLP model of h x w grey images, one hidden layer, latent 3, sized for VAE__SERVE_MAX_DECODE images;
 * exits on failure. */
static vae_model *serve_fixture_model(int h, int w, int hidden, int ae, int classes, uint64_t seed) {
    vae_config c;
    vae_config_default(&c);
    c.height = h, c.width = w, c.channels = 1;
    c.n_hidden = 1, c.hidden[0] = hidden, c.n_latent = 3, c.ae = ae, c.n_classes = classes;
    vae_rng rng;
    vae_rng_seed(&rng, seed);
    vae_model *m = NULL;
    if (vae_create(&m, &c, VAE__SERVE_MAX_DECODE, &rng) != VAE_OK) {
        fprintf(stderr, "vae_create: %s\n", vae_last_error());
        exit(1);
    }
    return m;
}

#endif /* VAE_SERVE_FIXTURE_H */
