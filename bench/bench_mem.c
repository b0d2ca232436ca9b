/* bench_mem.c: what `vae train` must hold for the default MLP on a data folder, in bytes: the data set as
 * stored, parameters + gradients + two Adam moments, and activations and batch buffers (sized as
 * tools/vae.c sizes them: the model for max(1000, batch) rows, one training batch, one evaluation batch,
 * the data order). bench/run compares it with the peak RSS of a real run.
 *
 *   build/bench/bench_mem DATA_DIR [batch]
 * Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>

#include "data.h"
#include "model.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [batch]\n", argv[0]);
        return 2;
    }
    int batch = argc > 2 ? atoi(argv[2]) : 128, eval_batch = batch > 1000 ? batch : 1000;
    vae_dataset tr, te;
    if (vae_dataset_load(&tr, argv[1], "train") || vae_dataset_load(&te, argv[1], "test")) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 2;
    }
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = tr.height, cfg.width = tr.width, cfg.channels = tr.channels;
    vae_model *m;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    if (vae_create(&m, &cfg, eval_batch, &rng)) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 1;
    }
    size_t elem = tr.pixels ? 1 : sizeof(float);
    double data = (double)tr.n * tr.dim * elem + (double)te.n * te.dim * elem + (tr.labels ? tr.n : 0) + (te.labels ? te.n : 0);
    double params = 4.0 * sizeof(float) * (double)m->n_params;
    double acts = sizeof(float) * (double)m->n_acts + sizeof(float) * (double)(batch + eval_batch) * tr.dim +
                  sizeof(int) * (double)(tr.n + batch + eval_batch);
    printf("{\"data_bytes\": %.0f, \"param_state_bytes\": %.0f, \"activation_bytes\": %.0f, \"sum_bytes\": %.0f}\n", data,
           params, acts, data + params + acts);
    vae_free(m);
    vae_dataset_free(&tr);
    vae_dataset_free(&te);
    return 0;
}
