/* train.h: the training loop's state and steps: shuffling, batching, binarization, epochs that can stop
 * and resume at any batch, and evaluation over a data set. The caller (the CLI) owns printing, files and
 * signals; it passes a stop flag that the loop checks between steps.
 */
#ifndef VAE_TRAIN_H
#define VAE_TRAIN_H

#include <signal.h>

#include "comm.h"
#include "data.h"
#include "vae.h"

/* Everything that changes during training besides the model, so that a run stopped at any batch and
 * resumed continues bit for bit: generator state, the epoch's data order and the position in it. */
typedef struct {
    vae_model *model;
    const vae_dataset *data;
    int n_train;           /* images 0..n_train-1 of data are trained on (the rest are held out) */
    int batch;
    int binarize;          /* 1: each image's pixels resampled as Bernoulli(grey value) each time it is used */
    vae_rng rng;           /* shuffling, eps, binarization */
    int *order;            /* (n_train) this epoch's order */
    int epoch;             /* epochs completed */
    int next_batch;        /* batches of the current epoch already done (0: epoch not started) */
    double loss_sum;       /* sum of batch losses of the current epoch so far */
    double train_seconds;  /* training time of the current epoch so far */
    float kl_beta;         /* KL weight after warm-up (beta-VAE), 1 by default */
    long kl_warmup_steps;  /* the KL weight rises linearly from 0 to kl_beta over this many steps (0: none) */
    float *x;              /* (batch, D) batch buffer */
    int *labels;           /* (batch) */
    /* Data parallelism and keyed noise (train_parallel.c, docs/scale.md); vae_trainer_parallel sets them. */
    const vae_comm *comm;  /* NULL: one process. Else each step takes this rank's share of the global batch */
    int keyed_noise;       /* 0: binarization and eps drawn in sequence from rng (one process only); 1: each
                              image's drawn from a generator keyed by (seed, step, row in the global batch) */
    int accumulate;        /* micro-batches per step on each rank (1: the rank's whole share at once) */
    int samples;           /* z samples per image (the importance-weighted bound's S, else 1) */
    uint64_t seed;         /* the keyed noise's seed */
    float *eps;            /* keyed noise: (micro-batch * samples, Z) */
    float *grad_sum;       /* accumulate > 1: the micro-batches' summed gradient (vae_num_params) */
} vae_trainer;

/** Allocate buffers; rng seeded from seed; KL weight 1 without warm-up. The first epoch's order is drawn when it starts. */
vae_status vae_trainer_init(vae_trainer *t, vae_model *model, const vae_dataset *data, int n_train, int batch,
                            int binarize, uint64_t seed);
void vae_trainer_free(vae_trainer *t);

/** Number of batches in an epoch (the last one may be smaller). */
int vae_trainer_batches(const vae_trainer *t);

/**
 * Train data-parallel and/or with keyed noise (after vae_trainer_init): comm as above (NULL: one process),
 * keyed_noise (needed when comm has more than one rank), accumulate >= 1, samples = max(iwae_k, 1).
 * Each rank then sums its share's losses and gradient, one sum of a few doubles (loss parts, stop flag) and
 * one of the gradient buffer go over comm, and every rank applies the same Adam step.
 */
vae_status vae_trainer_parallel(vae_trainer *t, const vae_comm *comm, int keyed_noise, int accumulate, int samples);

/** The step of the global batch of rows [start, start + n) of this epoch's order (train_parallel.c); *stop_all
 *  receives whether a stop flag was set on any rank (stop_flag here). */
vae_status vae__trainer_step(vae_trainer *t, const vae_train_opts *opts, int start, int n, int stop_flag,
                             vae_losses *out, int *stop_all);

typedef void (*vae_progress_fn)(void *ud, int batch_done, int n_batches, double mean_loss);

/**
 * Train until the current epoch ends or *stop becomes non-zero (checked before each step; with several ranks,
 * the ranks agree before the epoch's first step and in each step's sum, and stop after the same step).
 * @return VAE_OK with t->next_batch == 0 and t->epoch incremented when the epoch finished;
 *         VAE_OK with t->epoch unchanged when stopped early (t->next_batch batches done, maybe 0);
 *         VAE_ERR_NAN and friends on failure.
 *         On return t->loss_sum / batches gives the epoch's mean training objective.
 */
vae_status vae_trainer_run_epoch(vae_trainer *t, const vae_train_opts *opts, vae_progress_fn progress, void *ud,
                                 volatile sig_atomic_t *stop);

/** Mean per-image figures over a data set (negative ELBO, one z sample per image). */
typedef struct {
    int n;
    double loss, recon, kl;
    double nll;            /* importance-weighted -log p(x) estimate when iwae_k > 0, else NaN */
} vae_eval_result;

/**
 * Evaluate images [first, first + n) of ds in batches of `batch` with eps from seed `seed`.
 * binarize: images binarized once with their own generator seeded by bin_seed (the same every call).
 * per_loss / per_recon / per_kl (n) may be NULL; x (batch, D) and labels (batch) are caller buffers.
 * iwae_k > 0 also estimates -log p(x) with k importance samples per image (per_nll (n) may be NULL);
 * the model's max_batch bounds batch and the rows decoded at once.
 */
vae_status vae_evaluate(vae_model *m, const vae_dataset *ds, int first, int n, int batch, uint64_t seed,
                        int binarize, uint64_t bin_seed, float *x, int *labels, float *per_loss, float *per_recon,
                        float *per_kl, int iwae_k, float *per_nll, vae_eval_result *out);

/**
 * vae_evaluate's figures (no per-image output, no importance sampling) with the batches split over comm's ranks
 * (NULL: all here) and the sums added over them: every rank receives what one process computes alone, each
 * batch with the same noise, up to the order of the additions.
 */
vae_status vae_evaluate_parallel(const vae_comm *comm, vae_model *m, const vae_dataset *ds, int first, int n, int batch,
                                 uint64_t seed, int binarize, uint64_t bin_seed, float *x, int *labels,
                                 vae_eval_result *out);

/** Monotonic clock in seconds. */
double vae_now(void);

#endif /* VAE_TRAIN_H */
