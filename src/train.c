/* train.c: epochs that shuffle, batch, binarize and step; evaluation over a data set (see train.h). */
#include "train.h"

#include <string.h>
#include <time.h>

#include "common.h"
#include "iwae.h"
#include "model.h"
#include <math.h>

double vae_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vae_status vae_trainer_init(vae_trainer *t, vae_model *model, const vae_dataset *data, int n_train, int batch,
                            int binarize, uint64_t seed) {
    memset(t, 0, sizeof *t);
    if (n_train < 1 || n_train > data->n)
        return vae_fail(VAE_ERR_ARG, "%d training images requested, the data set holds %d", n_train, data->n);
    if (batch < 1 || batch > n_train)
        return vae_fail(VAE_ERR_ARG, "batch size %d larger than the %d training images", batch, n_train);
    if (batch > vae_max_batch(model))
        return vae_fail(VAE_ERR_ARG, "batch size %d larger than the model's buffers (%d)", batch, vae_max_batch(model));
    t->model = model;
    t->data = data;
    t->n_train = n_train;
    t->batch = batch;
    t->binarize = binarize;
    t->kl_beta = 1.0f;
    t->accumulate = 1;
    t->samples = 1;
    t->seed = seed;
    vae_rng_seed(&t->rng, seed);
    t->order = vae_malloc((size_t)n_train * sizeof(int));
    t->x = vae_malloc((size_t)batch * data->dim * sizeof(float));
    t->labels = vae_malloc((size_t)batch * sizeof(int));
    if (!t->order || !t->x || !t->labels) {
        vae_trainer_free(t);
        return vae_fail(VAE_ERR_NOMEM, "out of memory allocating the training buffers");
    }
    return VAE_OK;
}

void vae_trainer_free(vae_trainer *t) {
    vae_mem_free(t->order);
    vae_mem_free(t->x);
    vae_mem_free(t->labels);
    vae_mem_free(t->eps);
    vae_mem_free(t->grad_sum);
    t->order = NULL, t->x = NULL, t->labels = NULL, t->eps = NULL, t->grad_sum = NULL;
}

int vae_trainer_batches(const vae_trainer *t) { return (t->n_train + t->batch - 1) / t->batch; }

vae_status vae_trainer_run_epoch(vae_trainer *t, const vae_train_opts *opts, vae_progress_fn progress, void *ud,
                                 volatile sig_atomic_t *stop) {
    int n_batches = vae_trainer_batches(t);
    int stop_all = stop && *stop;
    if (t->comm) { // every rank takes the same decision
        double flag = stop_all;
        vae_status st = t->comm->sum_doubles(&flag, 1);
        if (st) return st;
        stop_all = flag > 0;
    }
    if (stop_all) return VAE_OK; // before the shuffle, so a resumed run draws the same order
    if (t->next_batch == 0) {
        vae_rng_shuffle(&t->rng, t->order, t->n_train);
        t->loss_sum = 0.0;
        t->train_seconds = 0.0;
    }
    while (t->next_batch < n_batches) {
        if (!t->comm && stop && *stop) return VAE_OK;
        double t0 = vae_now();
        int start = t->next_batch * t->batch;
        int n = t->n_train - start < t->batch ? t->n_train - start : t->batch;
        vae_losses losses;
        vae_status st = vae__trainer_step(t, opts, start, n, stop && *stop, &losses, &stop_all);
        if (st) return st;
        t->loss_sum += losses.loss;
        t->next_batch++;
        t->train_seconds += vae_now() - t0;
        if (progress) progress(ud, t->next_batch, n_batches, t->loss_sum / t->next_batch);
        if (stop_all && t->next_batch < n_batches) return VAE_OK; // several ranks: stop after the same step
    }
    t->next_batch = 0;
    t->epoch++;
    return VAE_OK;
}

/* Batches [b0, b1) of the evaluation of images [first, first + n) in batches of `batch`, their sums of recon, kl
 * and nll added into sums. The draws of the batches before b0 are made and thrown away first (their eps into
 * the model's buffer, their binarization into x), so each batch gets the noise it gets in a whole run: the
 * ranks of a parallel evaluation together compute what one process does. */
static vae_status evaluate_batches(vae_model *m, const vae_dataset *ds, int first, int n, int batch, uint64_t seed,
                                   int binarize, uint64_t bin_seed, float *x, int *labels, float *per_loss,
                                   float *per_recon, float *per_kl, int iwae_k, float *per_nll, int b0, int b1,
                                   double sums[3]) {
    vae_rng eps_rng, bin_rng;
    vae_rng_seed(&eps_rng, seed);
    vae_rng_seed(&bin_rng, bin_seed);
    int conditional = m->L > 0;
    double recon = 0, kl = 0, nll = 0;
    vae_rng iwae_rng;
    vae_rng_seed(&iwae_rng, seed ^ 0x1a3e1a3eULL);
    float *nll_tmp = NULL; // per-image estimates when the caller keeps none
    if (iwae_k > 0 && !per_nll && !(nll_tmp = vae_malloc((size_t)batch * sizeof(float))))
        return vae_fail(VAE_ERR_NOMEM, "out of memory");
    for (int j = 0, start = 0; j < b0; j++, start += batch) { // what the batches before b0 draw (vae_forward)
        int b = n - start < batch ? n - start : batch;
        if (binarize) vae_rng_bernoulli(&bin_rng, x, (size_t)b * ds->dim);
        if (!m->cfg.ae) vae_rng_normals(&eps_rng, m->eps, (size_t)b * m->Z);
    }
    for (int start = b0 * batch; start < n && start < b1 * batch; start += batch) {
        int b = n - start < batch ? n - start : batch;
        vae_dataset_batch(ds, NULL, first + start, b, x);
        if (binarize) vae_rng_bernoulli(&bin_rng, x, (size_t)b * ds->dim);
        if (conditional) vae_dataset_batch_labels(ds, NULL, first + start, b, labels);
        vae_status st = vae_forward(m, x, conditional ? labels : NULL, b, &eps_rng);
        if (st) {
            vae_mem_free(nll_tmp);
            return st;
        }
        for (int i = 0; i < b; i++) { // the forward pass leaves per-image values in the model
            recon += m->recon[i];
            kl += m->kl[i];
            if (per_loss) per_loss[start + i] = m->recon[i] + m->kl[i];
            if (per_recon) per_recon[start + i] = m->recon[i];
            if (per_kl) per_kl[start + i] = m->kl[i];
        }
        if (iwae_k > 0) {
            float *dst = per_nll ? per_nll + start : nll_tmp;
            st = vae_iwae_nll(m, x, conditional ? labels : NULL, b, iwae_k, &iwae_rng, dst);
            if (st) {
                vae_mem_free(nll_tmp);
                return st;
            }
            for (int i = 0; i < b; i++) nll += dst[i];
        }
    }
    vae_mem_free(nll_tmp);
    sums[0] += recon, sums[1] += kl, sums[2] += nll;
    return VAE_OK;
}

/* The mean figures from the sums over all n images. */
static void eval_result(const double sums[3], int n, int iwae_k, vae_eval_result *out) {
    out->n = n;
    out->recon = sums[0] / n;
    out->kl = sums[1] / n;
    out->loss = out->recon + out->kl;
    out->nll = iwae_k > 0 ? sums[2] / n : NAN;
}

vae_status vae_evaluate(vae_model *m, const vae_dataset *ds, int first, int n, int batch, uint64_t seed,
                        int binarize, uint64_t bin_seed, float *x, int *labels, float *per_loss, float *per_recon,
                        float *per_kl, int iwae_k, float *per_nll, vae_eval_result *out) {
    if (first < 0 || n < 1 || first + n > ds->n)
        return vae_fail(VAE_ERR_ARG, "images %d..%d requested, the data set holds %d", first, first + n - 1, ds->n);
    double sums[3] = {0, 0, 0};
    vae_status st = evaluate_batches(m, ds, first, n, batch, seed, binarize, bin_seed, x, labels, per_loss, per_recon,
                                     per_kl, iwae_k, per_nll, 0, (n + batch - 1) / batch, sums);
    if (st) return st;
    eval_result(sums, n, iwae_k, out);
    return VAE_OK;
}

vae_status vae_evaluate_parallel(const vae_comm *comm, vae_model *m, const vae_dataset *ds, int first, int n, int batch,
                                 uint64_t seed, int binarize, uint64_t bin_seed, float *x, int *labels,
                                 vae_eval_result *out) {
    if (first < 0 || n < 1 || first + n > ds->n)
        return vae_fail(VAE_ERR_ARG, "images %d..%d requested, the data set holds %d", first, first + n - 1, ds->n);
    int rank = comm ? comm->rank : 0, size = comm ? comm->size : 1, n_batches = (n + batch - 1) / batch;
    double sums[3] = {0, 0, 0};
    vae_status st = evaluate_batches(m, ds, first, n, batch, seed, binarize, bin_seed, x, labels, NULL, NULL, NULL, 0,
                                     NULL, n_batches * rank / size, n_batches * (rank + 1) / size, sums);
    if (!st && comm) st = comm->sum_doubles(sums, 3);
    if (st) return st;
    eval_result(sums, n, 0, out);
    return VAE_OK;
}
