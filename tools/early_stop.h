/* early_stop.h: `vae train --val N --patience P`: keep the model of the best validation loss as
 * RUN/best.safetensors, and stop when P epochs in a row have not improved on it. On --resume the best epoch
 * so far comes back from metrics.jsonl's val_loss values. */
#ifndef VAE_EARLY_STOP_H
#define VAE_EARLY_STOP_H

#include "checkpoint.h"
#include "vae.h"

#define BEST_FILE "best.safetensors"

typedef struct {
    int patience;          /* 0: never stop early (best.safetensors is still kept with --val) */
    double best;           /* the lowest val_loss so far (INFINITY: none yet) */
    int best_epoch;        /* its epoch, 0 when none */
    char path[4096];       /* RUN/best.safetensors */
} early_stop;

void early_stop_init(early_stop *e, int patience, const char *run_dir);

/** The best val_loss among metrics.jsonl's lines of epochs <= upto_epoch (a resumed run's past). */
void early_stop_resume(early_stop *e, const char *metrics_jsonl, int upto_epoch);

/** 1 when the run has had `patience` epochs without improvement after its best epoch. */
int early_stop_exhausted(const early_stop *e, int epoch);

/**
 * After an epoch's validation: save m as best.safetensors (with meta) when val_loss improves on the best.
 * @return VAE_OK (*stop = 1 when the patience is exhausted), or the save's failure.
 */
vae_status early_stop_update(early_stop *e, int epoch, double val_loss, const vae_model *m, const vae_meta *meta,
                             int *stop);

#endif /* VAE_EARLY_STOP_H */
