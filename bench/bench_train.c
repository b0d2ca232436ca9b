/* bench_train.c: training throughput of the MLP VAE against its matrix-product ceiling.
 *
 * For each thread count: images/s of full training steps (batch gather from real MNIST, forward,
 * backward, Adam) and, in the same run with the same BLAS and threads, images/s of the step's matrix
 * products alone (DESIGN.md: the forward product of each dense layer, mu and logvar heads as one product
 * of width 2Z, the weight gradient of each, and the input gradient of every layer but the first).
 * The two are timed alternately in rounds and the best round of each is kept, so the machine's noise
 * hits both alike.
 *
 *   build/bench/bench_train DATA_DIR [hidden] [latent] [batch] [seconds_per_round] [n_thread_counts] [conv]
 * hidden 0 means no hidden dense layer; a last argument "conv" benchmarks --arch conv (channels 32,64) with
 * the convolutions' products, chunk by chunk as conv.c runs them, added to the ceiling.
 * Prints one line per thread count and, last, a JSON object.
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "model.h"
#include "train.h"

static void set_threads(int n) {
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

/* A convolution's three products over the batch in the chunks the layer uses (conv.c: as many images as
 * the column buffer holds): forward, weight gradient, input gradient (skipped for the first layer). */
static void conv_products(vae_model *m, const vae_layer *c, int B, int first) {
    const conv_dims *d = &c->d;
    size_t per = conv_col_size(d), cap = m->col_cap / per;
    int step = cap < 1 ? 1 : cap < (size_t)B ? (int)cap : B;
    const float *w = m->params + m->tensors[c->weight].offset;
    float *dw = m->grads + m->tensors[c->weight].offset;
    for (int b0 = 0; b0 < B; b0 += step) {
        int nb = B - b0 < step ? B - b0 : step;
        if (!d->transposed) { // col (M, CKK), weight (OC, CKK)
            int M = nb * d->OH * d->OW, CKK = d->C * d->K * d->K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, d->OC, CKK, 1.0f, m->col, CKK, w, CKK, 0.0f,
                        m->grad_a, d->OC);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->OC, CKK, M, 1.0f, m->grad_a, d->OC, m->col, CKK,
                        1.0f, dw, CKK);
            if (!first)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, CKK, d->OC, 1.0f, m->grad_a, d->OC, w, CKK,
                            0.0f, m->col, CKK);
        } else { // inp (M, C), weight (C, OCKK), col (M, OCKK)
            int M = nb * d->H * d->W, OCKK = d->OC * d->K * d->K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, OCKK, d->C, 1.0f, m->grad_a, d->C, w, OCKK, 0.0f,
                        m->col, OCKK);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->C, OCKK, M, 1.0f, m->grad_a, d->C, m->col, OCKK,
                        1.0f, dw, OCKK);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, d->C, OCKK, 1.0f, m->col, OCKK, w, OCKK, 0.0f,
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, inp, C, w, C, 0.0f, l->out, OC);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, m->grad_a, OC, inp, C, 1.0f, dw, C);
        if (l->need_dinp)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, m->grad_a, OC, w, C, 0.0f, m->grad_b,
                        C);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [hidden] [latent] [batch] [seconds_per_round]\n", argv[0]);
        return 2;
    }
    int hidden = argc > 2 ? atoi(argv[2]) : 400, latent = argc > 3 ? atoi(argv[3]) : 20;
    int B = argc > 4 ? atoi(argv[4]) : 128;
    double round_s = argc > 5 ? atof(argv[5]) : 1.0;
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
    int conv = argc > 7 && strcmp(argv[7], "conv") == 0;
    if (conv) cfg.arch = VAE_CONV, cfg.n_conv = 2, cfg.conv_channels[0] = 32, cfg.conv_channels[1] = 64;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m;
    vae_trainer t;
    if (vae_create(&m, &cfg, B, &rng) || vae_trainer_init(&t, m, &ds, ds.n, B, 0, 1)) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 1;
    }
    vae_train_opts opts;
    vae_train_opts_default(&opts);
    int n_batches = vae_trainer_batches(&t);
    int thread_counts[2] = {1, 2};
    double train_ips[2] = {0}, ceil_ips[2] = {0};
    int n_counts = argc > 6 ? atoi(argv[6]) : 2; // 1: only the one-thread figures (for profiling)
    for (int ti = 0; ti < n_counts; ti++) {
        set_threads(thread_counts[ti]);
        // warm up both
        for (int i = 0; i < 5; i++) {
            vae_dataset_batch(&ds, NULL, (i % (n_batches - 1)) * B, B, t.x);
            vae_train_step(m, t.x, NULL, B, &opts, &rng, NULL);
            matmuls_only(m, B);
        }
        for (int round = 0; round < 5; round++) {
            int steps = 0;
            double t0 = vae_now(), el;
            do {
                // full training steps over real batches (the gather is part of the training pass)
                vae_dataset_batch(&ds, NULL, (steps % (n_batches - 1)) * B, B, t.x);
                vae_status st = vae_train_step(m, t.x, NULL, B, &opts, &rng, NULL);
                if (st) {
                    fprintf(stderr, "%s\n", vae_last_error());
                    return 1;
                }
                steps++;
            } while ((el = vae_now() - t0) < round_s);
            double ips = steps * (double)B / el;
            if (ips > train_ips[ti]) train_ips[ti] = ips;
            steps = 0;
            t0 = vae_now();
            do {
                matmuls_only(m, B);
                steps++;
            } while ((el = vae_now() - t0) < round_s);
            ips = steps * (double)B / el;
            if (ips > ceil_ips[ti]) ceil_ips[ti] = ips;
        }
        printf("%s %d-%d-%d batch %d, %d thread%s: training %.0f images/s, matmul ceiling %.0f images/s, ratio %.2f\n",
               conv ? "conv 32,64" : "mlp", ds.dim, hidden, latent, B, thread_counts[ti], thread_counts[ti] > 1 ? "s" : "", train_ips[ti], ceil_ips[ti],
               train_ips[ti] / ceil_ips[ti]);
        fflush(stdout);
    }
    double speedup = train_ips[1] / train_ips[0], ceil_speedup = ceil_ips[1] / ceil_ips[0];
    printf("speed-up 1 -> 2 threads: training %.2fx, ceiling %.2fx, ratio %.2f\n", speedup, ceil_speedup,
           speedup / ceil_speedup);
    printf("{\"model\": \"%s-%d-%d-%d\", \"batch\": %d, \"train_ips_1\": %.0f, \"ceiling_ips_1\": %.0f, \"ratio_1\": %.3f, "
           "\"train_ips_2\": %.0f, \"ceiling_ips_2\": %.0f, \"ratio_2\": %.3f, \"speedup\": %.3f, \"ceiling_speedup\": %.3f, "
           "\"speedup_ratio\": %.3f}\n",
           conv ? "conv" : "mlp", ds.dim, hidden, latent, B, train_ips[0], ceil_ips[0], train_ips[0] / ceil_ips[0], train_ips[1], ceil_ips[1],
           train_ips[1] / ceil_ips[1], speedup, ceil_speedup, speedup / ceil_speedup);
    vae_trainer_free(&t);
    vae_free(m);
    vae_dataset_free(&ds);
    return 0;
}
