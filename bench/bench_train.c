/* bench_train.c: training throughput of the MLP VAE against its matrix-product ceilings.
 *
 * For each thread count: images/s of full training steps (batch gather from real MNIST, forward,
 * backward, Adam; on the engine VAE_ENGINE or auto picks) and, in the same run with the same threads,
 * images/s of the step's matrix products alone on every engine this machine has (DESIGN.md: the forward
 * product of each dense layer, mu and logvar heads as one product of width 2Z, the weight gradient of
 * each, and the input gradient of every layer but the first). Training and the ceilings are timed
 * alternately in rounds and the best round of each is kept, so the machine's noise hits all alike. The
 * ratio is training against the fastest engine's ceiling.
 *
 *   build/bench/bench_train DATA_DIR [hidden] [latent] [batch] [seconds_per_round] [n_thread_counts] [conv]
 * hidden 0 means no hidden dense layer; a last argument "conv" benchmarks --arch conv (channels 32,64) with
 * the convolutions' products, chunk by chunk as conv.c runs them, added to the ceiling.
 * Prints one line per thread count and, last, a JSON object.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "engine.h"
#include "model.h"
#include "train.h"

static void set_threads(int n) {
    omp_set_num_threads(n); // OpenBLAS's OpenMP build, oneDNN and BLIS (engine.c) all follow it
}

/* The engine the products are timed on, and the floating-point operations of one pass (counted once). */
static vae__engine_id engine;
static double pass_flops;

static void sgemm(char ta, char tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc) {
    vae__sgemm_with(engine, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    pass_flops += 2.0 * M * N * K;
}

/* A convolution's three products over the batch in the chunks the layer uses (conv.c: as many images as
 * the column buffer holds): forward, weight gradient, input gradient (skipped for the first layer). */
static void conv_products(vae_model *m, const vae_layer *c, int B, int first) {
    const conv_dims *d = &c->d;
    size_t per = vae__conv_col_size(d), cap = m->col_cap / per;
    int step = cap < 1 ? 1 : cap < (size_t)B ? (int)cap : B;
    const float *w = m->params + m->tensors[c->weight].offset;
    float *dw = m->grads + m->tensors[c->weight].offset;
    for (int b0 = 0; b0 < B; b0 += step) {
        int nb = B - b0 < step ? B - b0 : step;
        if (!d->transposed) { // col (M, CKK), weight (OC, CKK)
            int M = nb * d->OH * d->OW, CKK = d->C * d->K * d->K;
            sgemm('N', 'T', M, d->OC, CKK, m->col, CKK, w, CKK, 0.0f,
                        m->grad_a, d->OC);
            sgemm('T', 'N', d->OC, CKK, M, m->grad_a, d->OC, m->col, CKK,
                        1.0f, dw, CKK);
            if (!first)
                sgemm('N', 'N', M, CKK, d->OC, m->grad_a, d->OC, w, CKK,
                            0.0f, m->col, CKK);
        } else { // inp (M, C), weight (C, OCKK), col (M, OCKK)
            int M = nb * d->H * d->W, OCKK = d->OC * d->K * d->K;
            sgemm('N', 'N', M, OCKK, d->C, m->grad_a, d->C, w, OCKK, 0.0f,
                        m->col, OCKK);
            sgemm('T', 'N', d->C, OCKK, M, m->grad_a, d->C, m->col, OCKK,
                        1.0f, dw, OCKK);
            sgemm('N', 'T', M, d->C, OCKK, m->col, OCKK, w, OCKK, 0.0f,
                        m->grad_b, d->C);
        }
    }
}

/* The step's matrix products alone, on the model's own buffers (values are irrelevant to timing), entry by
 * entry of the model's list: a dense entry's forward product, weight gradient and (but for the first layer)
 * input gradient; a convolution's three products. */
static void matmuls_only(vae_model *m, int B) {
    for (int i = 0; i < m->n_layers; i++) {
        const vae_layer *l = &m->layers[i];
        if (l->kind == VAE_LAYER_CONV || l->kind == VAE_LAYER_DECONV) conv_products(m, l, B, !l->need_dinp);
        if (l->kind != VAE_LAYER_DENSE) continue;
        int C = l->in_w, OC = l->out_w;
        const float *w = m->params + m->tensors[l->weight].offset;
        float *dw = m->grads + m->tensors[l->weight].offset;
        const float *inp = i > 0 ? m->layers[i - 1].out : m->grad_b; // the data's stand-in for the first entry
        sgemm('N', 'T', B, OC, C, inp, C, w, C, 0.0f, l->out, OC);
        sgemm('T', 'N', OC, C, B, m->grad_a, OC, inp, C, 1.0f, dw, C);
        if (l->need_dinp)
            sgemm('N', 'N', B, C, OC, m->grad_a, OC, w, C, 0.0f, m->grad_b,
                        C);
    }
}

/* Best-of-rounds images/s of full training steps; returns 0 on failure. */
static double time_training(vae_model *m, vae_trainer *t, vae_dataset *ds, int B, double round_s, vae_rng *rng) {
    vae_train_opts opts;
    vae_train_opts_default(&opts);
    int n_batches = vae_trainer_batches(t), steps = 0;
    double t0 = vae_now(), el;
    do {
        // full training steps over real batches (the gather is part of the training pass)
        vae_dataset_batch(ds, NULL, (steps % (n_batches - 1)) * B, B, t->x);
        if (vae_train_step(m, t->x, NULL, B, &opts, rng, NULL)) {
            fprintf(stderr, "%s\n", vae_last_error());
            return 0;
        }
        steps++;
    } while ((el = vae_now() - t0) < round_s);
    return steps * (double)B / el;
}

static double time_products(vae_model *m, int B, double round_s) {
    int steps = 0;
    double t0 = vae_now(), el;
    do {
        matmuls_only(m, B);
        steps++;
    } while ((el = vae_now() - t0) < round_s);
    return steps * (double)B / el;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [hidden] [latent] [batch] [seconds_per_round] [n_thread_counts] [conv]\n",
                argv[0]);
        return 2;
    }
    int hidden = argc > 2 ? atoi(argv[2]) : 400, latent = argc > 3 ? atoi(argv[3]) : 20;
    int B = argc > 4 ? atoi(argv[4]) : 128;
    double round_s = argc > 5 ? atof(argv[5]) : 1.0;
    int n_counts = argc > 6 ? atoi(argv[6]) : 2; // 1: only the one-thread figures (for profiling)
    int conv = argc > 7 && strcmp(argv[7], "conv") == 0;
    vae_dataset ds;
    if (vae_dataset_load(&ds, argv[1], "train")) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 2;
    }
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = ds.height, cfg.width = ds.width, cfg.channels = ds.channels;
    cfg.hidden[0] = hidden, cfg.n_latent = latent;
    cfg.n_hidden = hidden > 0;
    if (conv) cfg.arch = VAE_CONV, cfg.n_conv = 2, cfg.conv_channels[0] = 32, cfg.conv_channels[1] = 64;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m;
    vae_trainer t;
    if (vae_create(&m, &cfg, B, &rng) || vae_trainer_init(&t, m, &ds, ds.n, B, 0, 1)) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 1;
    }
    int engines[VAE__N_ENGINES], n_eng = 0;
    for (int e = 0; e < VAE__N_ENGINES; e++)
        if (vae__engine_available(e)) engines[n_eng++] = e;
    engine = VAE__ENGINE_OPENBLAS;
    pass_flops = 0;
    matmuls_only(m, B);
    double flops_per_image = pass_flops / B;
    const char *name = conv ? "conv" : "mlp";
    printf("%s %d-%d-%d batch %d: training on engine %s; the products: %.2f MFLOP per image\n", name, ds.dim, hidden,
           latent, B, vae_engine_name(), flops_per_image / 1e6);
    char json[4096];
    int len = snprintf(json, sizeof json, "{\"model\": \"%s-%d-%d-%d\", \"batch\": %d, \"engine\": \"%s\", "
                       "\"mflop_per_image\": %.4f", name, ds.dim, hidden, latent, B, vae_engine_name(),
                       flops_per_image / 1e6);
    for (int ti = 0; ti < n_counts && ti < 2; ti++) {
        int nt = ti + 1;
        set_threads(nt);
        double train_ips = 0, ceil_ips[VAE__N_ENGINES] = {0};
        for (int i = 0; i < 5; i++) { // warm up every path
            if (!time_training(m, &t, &ds, B, 0.0, &rng)) return 1;
            for (int k = 0; k < n_eng; k++) engine = engines[k], matmuls_only(m, B);
        }
        for (int round = 0; round < 5; round++) {
            double ips = time_training(m, &t, &ds, B, round_s, &rng);
            if (!ips) return 1;
            if (ips > train_ips) train_ips = ips;
            for (int k = 0; k < n_eng; k++) {
                engine = engines[k];
                ips = time_products(m, B, round_s);
                if (ips > ceil_ips[engine]) ceil_ips[engine] = ips;
            }
        }
        int best = engines[0];
        for (int k = 0; k < n_eng; k++)
            if (ceil_ips[engines[k]] > ceil_ips[best]) best = engines[k];
        printf("%d thread%s: training %.0f images/s; ceilings", nt, nt > 1 ? "s" : "", train_ips);
        len += snprintf(json + len, sizeof json - len, ", \"train_ips_%d\": %.0f, \"ceilings_%d\": {", nt, train_ips, nt);
        for (int k = 0; k < n_eng; k++) {
            int e = engines[k];
            printf(" %s %.0f (%.0f GFLOP/s)", vae__engine_id_name(e), ceil_ips[e], ceil_ips[e] * flops_per_image / 1e9);
            len += snprintf(json + len, sizeof json - len, "%s\"%s\": %.0f", k ? ", " : "", vae__engine_id_name(e),
                            ceil_ips[e]);
        }
        printf("; ratio to the fastest (%s) %.2f\n", vae__engine_id_name(best), train_ips / ceil_ips[best]);
        len += snprintf(json + len, sizeof json - len, "}, \"fastest_%d\": \"%s\", \"ratio_%d\": %.3f", nt,
                        vae__engine_id_name(best), nt, train_ips / ceil_ips[best]);
        fflush(stdout);
    }
    printf("%s}\n", json);
    vae_trainer_free(&t);
    vae_free(m);
    vae_dataset_free(&ds);
    return 0;
}
