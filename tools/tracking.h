/* tracking.h: experiment tracking for `vae train`: metrics.csv beside metrics.jsonl (always), and with
 * --tensorboard DIR, TensorBoard event files (src/tfevents.c): every metrics key per epoch, the training
 * objective every N steps, and sample and reconstruction mosaics per epoch (docs/cli.md). */
#ifndef VAE_TRACKING_H
#define VAE_TRACKING_H

#include "data.h"
#include "tfevents.h"
#include "vae.h"

typedef struct {
    int on;                /* --tensorboard given */
    const char *dir;
    int every;             /* log the step's objective every this many steps */
    vae_tb_writer tb;
    double sum_before;     /* the trainer's loss_sum after the previous step of this epoch */
    int failed;            /* a write failed (reported once; training goes on) */
} tracking;

/** Open a new event file in dir (dir NULL: tracking off). Prints the error and returns non-zero on failure. */
int tracking_open(tracking *t, const char *dir, int every);

/** Called after each step: `step` Adam steps taken so far, loss_sum the epoch's sum of batch objectives. */
void tracking_step(tracking *t, long step, int batch_in_epoch, double loss_sum);

/**
 * After an epoch's metrics line: rewrite metrics.csv from metrics.jsonl (atomically), and with tracking
 * on, log the line's figures at step `epoch` with samples and reconstructions of model m on test. Prints
 * the error and returns EXIT_FAIL on failure.
 */
int tracking_epoch(tracking *t, const char *metrics_jsonl, const char *metrics_csv, int epoch, vae_model *m,
                   const vae_dataset *test);

void tracking_close(tracking *t);

/** Rewrite csv from the JSON lines of jsonl: one column per key in order of first appearance, arrays as
 *  key_0, key_1, ...; a line without a key leaves its cell empty. Atomic (temporary file, rename). */
vae_status metrics_csv_write(const char *jsonl, const char *csv);

#endif /* VAE_TRACKING_H */
