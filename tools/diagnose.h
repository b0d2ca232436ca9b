/* diagnose.h: the latent diagnostics of `vae eval` and of each epoch's metrics line (vae train): the codes
 * of a data split, encoded as evaluation sees it, and the figures of vae_latent_activity and
 * vae_kl_decompose (docs/model.md, "Latent diagnostics"). */
#ifndef VAE_DIAGNOSE_H
#define VAE_DIAGNOSE_H

#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "vae.h"

/* Codes per minibatch of the KL decomposition, and the seed of its z draws: the same in eval and train, so
 * eval of a run's model repeats the figures of its last metrics line. */
#define VAE_DIAG_BATCH 500
#define VAE_DIAG_SEED 0xd1a6ULL

typedef struct {
    int n, Z;
    double *kl_dim;      /* (Z) mean KL per latent dimension */
    double *var_mu;      /* (Z) Cov_x(E_q[z_d]) */
    int active;          /* dimensions with var_mu > VAE_ACTIVE_THRESHOLD */
    vae_kl_parts parts;  /* mutual information, total correlation, dimension-wise KL */
} diag_result;

/**
 * Encode images [0, n) of ds (binarized once with a generator seeded by bin_seed, in batches of `batch`,
 * exactly as vae_evaluate sees them) into mu and logvar (n, Z), caller buffers; x (batch, dim) and labels
 * (batch) are scratch.
 */
vae_status diag_encode(vae_model *m, const vae_dataset *ds, int n, int batch, int binarize, uint64_t bin_seed,
                       float *x, int *labels, float *mu, float *logvar);

/** diag_encode, then the figures, into r (free it with diag_free). Not for autoencoders. */
vae_status diag_compute(vae_model *m, const vae_dataset *ds, int n, int batch, int binarize, uint64_t bin_seed,
                        float *x, int *labels, diag_result *r);
void diag_free(diag_result *r);

/** Append `, "kl_dim": [...], "active_units": A, "mi": ..., "tc": ..., "dwkl": ...` to a JSON object. */
void diag_json(FILE *f, const diag_result *r);
/** The same text into buf (cap bytes, 64 + 16 Z always suffice); @return its length. */
int diag_json_str(char *buf, size_t cap, const diag_result *r);

#endif /* VAE_DIAGNOSE_H */
