/* train_parallel.c: the trainer's step over one global batch, alone or as one rank of several (train.h,
 * docs/scale.md), and the keyed noise that makes a run's randomness independent of the number of ranks.
 *
 * A step over the global batch of n rows: rank r of R takes rows [n r / R, n (r + 1) / R), in `accumulate`
 * micro-batches; each micro-batch's gradient of the summed objective divided by n (opts.grad_rows) goes into
 * the flat gradient buffer (vae_step_grad) and is added up over the micro-batches; one sum of the loss parts
 * and the stop flags, one sum of the gradient buffer over the ranks, then every rank applies the same
 * guarded Adam step (vae_step_apply) to the same summed gradient. A rank with no rows (n < R) adds zeros.
 *
 * Keyed noise: image i of the global batch of step s (s = steps taken before it) is binarized with a generator
 * seeded from (seed, s, i) and draws its eps (S rows of Z) from another, so N = 1, 2 or 4 ranks draw the
 * same numbers for the same image. Without it (one process) both come from the trainer's rng in sequence,
 * as before data parallelism existed. Dropout masks, drawn inside the step, come from a generator keyed by
 * (seed, step, the micro-batch's first row): the same for the same split of a batch, but not across rank
 * counts (they would need a key per row inside the layer). */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "train.h"

vae_status vae_trainer_parallel(vae_trainer *t, const vae_comm *comm, int keyed_noise, int accumulate, int samples) {
    if (comm && comm->size > 1 && !keyed_noise)
        return vae_fail(VAE_ERR_ARG, "%d ranks need keyed noise (the sequential stream depends on the rank count)",
                        comm->size);
    if (accumulate < 1 || samples < 1)
        return vae_fail(VAE_ERR_ARG, "accumulate %d and samples %d: at least 1 each", accumulate, samples);
    int size = comm ? comm->size : 1;
    int share = (t->batch + size - 1) / size, micro = (share + accumulate - 1) / accumulate;
    vae_mem_free(t->eps);
    vae_mem_free(t->grad_sum);
    t->eps = NULL, t->grad_sum = NULL;
    t->comm = comm && comm->size > 1 ? comm : NULL;
    t->keyed_noise = keyed_noise;
    t->accumulate = accumulate;
    t->samples = samples;
    if (keyed_noise) t->eps = vae_malloc((size_t)micro * samples * vae_get_config(t->model)->n_latent * sizeof(float));
    if (accumulate > 1) t->grad_sum = vae_malloc(vae_num_params(t->model) * sizeof(float));
    if ((keyed_noise && !t->eps) || (accumulate > 1 && !t->grad_sum))
        return vae_fail(VAE_ERR_NOMEM, "out of memory allocating the training buffers");
    return VAE_OK;
}

/* A generator for one image's noise of one kind: splitmix64's finalizer over (seed, kind, step, row). */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void keyed_rng(vae_rng *r, uint64_t seed, uint64_t kind, long step, long row) {
    uint64_t k = mix64(seed ^ kind);
    k = mix64(k + 0x9e3779b97f4a7c15ULL * (uint64_t)(step + 1));
    vae_rng_seed(r, mix64(k + (uint64_t)row));
}

#define KEY_BINARIZE 0x62696e6172697a65ULL /* "binarize" */
#define KEY_EPS 0x0000000000657073ULL      /* "eps" */
#define KEY_STEP 0x0000000073746570ULL     /* "step": what the step itself draws (dropout masks) */

/* Load rows [a, b) of the global batch that starts at `start` into t->x / t->labels, binarize, and draw the
 * noise (into t->eps when keyed; from t->rng in the step otherwise). */
static void load_rows(vae_trainer *t, int start, int a, int b) {
    int n = b - a, D = t->data->dim, Z = vae_get_config(t->model)->n_latent, S = t->samples;
    vae_dataset_batch(t->data, t->order, start + a, n, t->x);
    if (vae_get_config(t->model)->n_classes > 0) vae_dataset_batch_labels(t->data, t->order, start + a, n, t->labels);
    long step = vae_steps_taken(t->model);
    for (int i = 0; i < n && t->keyed_noise; i++) {
        vae_rng r;
        if (t->binarize) {
            keyed_rng(&r, t->seed, KEY_BINARIZE, step, a + i);
            vae_rng_bernoulli(&r, t->x + (size_t)i * D, (size_t)D);
        }
        keyed_rng(&r, t->seed, KEY_EPS, step, a + i);
        vae_rng_normals(&r, t->eps + (size_t)i * S * Z, (size_t)S * Z);
    }
    if (!t->keyed_noise && t->binarize) vae_rng_bernoulli(&t->rng, t->x, (size_t)n * D);
}

vae_status vae__trainer_step(vae_trainer *t, const vae_train_opts *opts, int start, int n, int stop_flag,
                             vae_losses *out, int *stop_all) {
    int rank = t->comm ? t->comm->rank : 0, size = t->comm ? t->comm->size : 1;
    int lo = (int)((long long)n * rank / size), hi = (int)((long long)n * (rank + 1) / size);
    int conditional = vae_get_config(t->model)->n_classes > 0;
    vae_train_opts o = *opts;
    o.kl_weight = vae_kl_weight_at(t->kl_beta, t->kl_warmup_steps, vae_steps_taken(t->model));
    o.grad_rows = n; // the global batch: the ranks' gradients sum to its mean
    o.eps = t->keyed_noise ? t->eps : NULL;
    float *grad;
    size_t n_params;
    vae_grad_buffer(t->model, &grad, &n_params);
    double parts[4] = {0.0, 0.0, 0.0, stop_flag ? 1.0 : 0.0}; // summed loss, recon, kl; stop flags
    vae_status local = VAE_OK;
    char local_msg[512] = "";
    int K = t->accumulate, done = 0;
    for (int k = 0; k < K; k++) {
        int a = lo + (hi - lo) * k / K, b = lo + (hi - lo) * (k + 1) / K;
        if (b == a) continue;
        load_rows(t, start, a, b);
        // keyed: the step draws what it still draws (dropout masks) from a generator of its own, keyed by the
        // micro-batch's first row, so that t->rng (the epochs' order) stays the same on every rank
        vae_rng step_rng;
        if (t->keyed_noise) keyed_rng(&step_rng, t->seed, KEY_STEP, vae_steps_taken(t->model), a);
        vae_losses l;
        vae_status st = vae_step_grad(t->model, t->x, conditional ? t->labels : NULL, b - a, &o,
                                      t->keyed_noise ? &step_rng : &t->rng, &l);
        if (st && st != VAE_ERR_NAN) return st;
        if (st && !local) { // a loss that is not finite: the gradient is all NaN, and the sum carries it on
            local = st;
            snprintf(local_msg, sizeof local_msg, "%s", vae_last_error());
        }
        parts[0] += l.loss * (b - a), parts[1] += l.recon * (b - a), parts[2] += l.kl * (b - a);
        if (K > 1) {
            if (done == 0) memcpy(t->grad_sum, grad, n_params * sizeof(float));
            else
                for (size_t j = 0; j < n_params; j++) t->grad_sum[j] += grad[j];
        }
        done++;
    }
    if (done == 0) memset(grad, 0, n_params * sizeof(float)); // fewer rows than ranks: this one adds nothing
    else if (K > 1) memcpy(grad, t->grad_sum, n_params * sizeof(float));
    vae_status st = VAE_OK;
    if (t->comm) {
        st = t->comm->sum_doubles(parts, 4);
        if (!st) st = t->comm->sum_floats(grad, n_params);
        if (st) return st;
    }
    *stop_all = parts[3] > 0;
    out->loss = parts[0] / n, out->recon = parts[1] / n, out->kl = parts[2] / n;
    st = vae_step_apply(t->model, &o);
    if (st == VAE_ERR_NAN && local) return vae_fail(st, "%s", local_msg); // the first cause, as one process says
    return st;
}
