/* bench_eval.c: importance-weighted evaluation (vae eval --iwae-k) against its matrix-product ceiling.
 *
 * Times vae_iwae_nll on real test images (k samples of an image decoded as one product; on the engine
 * VAE_ENGINE or auto picks) and, alternating in rounds with the same threads, the products alone on every
 * engine this machine has: the encoder's dense layers for the images and, per image, the decoder's dense
 * layers over k rows. Best round of each is kept; the ratio is against the fastest engine's ceiling.
 *
 *   build/bench/bench_eval DATA_DIR [k] [images_per_round] [rounds] [threads]
 * Prints a line and a JSON object.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "data.h"
#include "engine.h"
#include "iwae.h"
#include "model.h"
#include "train.h"

/* The forward products of the dense entries [from, to) of the model's list over `rows` rows (entry 0 reads in),
 * on engine e. */
static void dense_products(vae__engine_id e, vae_model *m, int from, int to, const float *in, int rows) {
    for (int i = from; i < to; i++) {
        const vae_layer *l = &m->layers[i];
        if (l->kind != VAE_LAYER_DENSE) continue;
        const float *w = m->params + m->tensors[l->weight].offset;
        vae__sgemm_with(e, 'N', 'T', rows, l->out_w, l->in_w, 1.0f, i ? m->layers[i - 1].out : in, l->in_w, w, l->in_w,
                        0.0f, l->out, l->out_w);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [k] [images_per_round] [rounds] [threads]\n", argv[0]);
        return 2;
    }
    int k = argc > 2 ? atoi(argv[2]) : 5000, n = argc > 3 ? atoi(argv[3]) : 20, rounds = argc > 4 ? atoi(argv[4]) : 3;
    int threads = argc > 5 ? atoi(argv[5]) : 2;
    omp_set_num_threads(threads); // every engine follows OpenMP's thread count
    vae_dataset ds;
    if (vae_dataset_load(&ds, argv[1], "test")) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 2;
    }
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = ds.height, cfg.width = ds.width, cfg.channels = ds.channels;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m;
    if (vae_create(&m, &cfg, k > n ? k : n, &rng)) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 1;
    }
    float *x = vae_malloc((size_t)n * ds.dim * sizeof(float)), *nll = vae_malloc((size_t)n * sizeof(float));
    vae_dataset_batch(&ds, NULL, 0, n, x);
    double best_eval = 0, best_ceil[VAE__N_ENGINES] = {0};
    for (int r = 0; r < rounds; r++) {
        double t0 = vae_now();
        if (vae_iwae_nll(m, x, NULL, n, k, &rng, nll)) {
            fprintf(stderr, "%s\n", vae_last_error());
            return 1;
        }
        double ips = n / (vae_now() - t0);
        best_eval = ips > best_eval ? ips : best_eval;
        for (int e = 0; e < VAE__N_ENGINES; e++) {
            if (!vae__engine_available(e)) continue;
            t0 = vae_now();
            dense_products(e, m, 0, m->i_sample, x, n);
            for (int i = 0; i < n; i++) dense_products(e, m, m->i_sample + 1, m->n_layers, NULL, k);
            ips = n / (vae_now() - t0);
            best_ceil[e] = ips > best_ceil[e] ? ips : best_ceil[e];
        }
    }
    int best = 0;
    for (int e = 0; e < VAE__N_ENGINES; e++) best = best_ceil[e] > best_ceil[best] ? e : best;
    printf("iwae k=%d, %d thread%s: evaluation %.2f images/s on %s; ceilings", k, threads, threads > 1 ? "s" : "",
           best_eval, vae_engine_name());
    for (int e = 0; e < VAE__N_ENGINES; e++)
        if (best_ceil[e] > 0) printf(" %s %.2f", vae__engine_id_name(e), best_ceil[e]);
    printf("; ratio to the fastest (%s) %.2f\n", vae__engine_id_name(best), best_eval / best_ceil[best]);
    printf("{\"iwae_k\": %d, \"threads\": %d, \"engine\": \"%s\", \"eval_ips\": %.3f, \"ceilings\": {", k, threads,
           vae_engine_name(), best_eval);
    for (int e = 0, first = 1; e < VAE__N_ENGINES; e++)
        if (best_ceil[e] > 0) printf("%s\"%s\": %.3f", first ? "" : ", ", vae__engine_id_name(e), best_ceil[e]), first = 0;
    printf("}, \"fastest\": \"%s\", \"ceiling_ips\": %.3f, \"ratio\": %.3f}\n", vae__engine_id_name(best),
           best_ceil[best], best_eval / best_ceil[best]);
    vae_mem_free(x);
    vae_mem_free(nll);
    vae_free(m);
    vae_dataset_free(&ds);
    return 0;
}
