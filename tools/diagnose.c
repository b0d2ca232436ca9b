/* diagnose.c: the latent diagnostics of `vae eval` and `vae train`'s metrics (see diagnose.h). */
#include "diagnose.h"

#include <string.h>

#include "cli.h"
#include "common.h"

vae_status diag_encode(vae_model *m, const vae_dataset *ds, int n, int batch, int binarize, uint64_t bin_seed,
                       float *x, int *labels, float *mu, float *logvar) {
    int Z = vae_get_config(m)->n_latent, conditional = vae_get_config(m)->n_classes > 0;
    vae_rng bin_rng;
    vae_rng_seed(&bin_rng, bin_seed);
    for (int start = 0; start < n; start += batch) {
        int b = n - start < batch ? n - start : batch;
        vae_dataset_batch(ds, NULL, start, b, x);
        if (binarize) vae_rng_bernoulli(&bin_rng, x, (size_t)b * ds->dim);
        if (conditional) vae_dataset_batch_labels(ds, NULL, start, b, labels);
        vae_status st = vae_encode(m, x, conditional ? labels : NULL, b, mu + (size_t)start * Z,
                                   logvar + (size_t)start * Z);
        if (st) return st;
    }
    return VAE_OK;
}

void diag_free(diag_result *r) {
    vae_mem_free(r->kl_dim);
    vae_mem_free(r->var_mu);
    r->kl_dim = r->var_mu = NULL;
}

vae_status diag_compute(vae_model *m, const vae_dataset *ds, int n, int batch, int binarize, uint64_t bin_seed,
                        float *x, int *labels, diag_result *r) {
    memset(r, 0, sizeof *r);
    int Z = vae_get_config(m)->n_latent;
    if (vae_get_config(m)->ae) return vae_fail(VAE_ERR_ARG, "latent diagnostics need a VAE; this model is an autoencoder");
    r->n = n, r->Z = Z;
    float *mu = vae_malloc((size_t)n * Z * sizeof(float)), *lv = vae_malloc((size_t)n * Z * sizeof(float));
    r->kl_dim = vae_malloc((size_t)Z * sizeof(double));
    r->var_mu = vae_malloc((size_t)Z * sizeof(double));
    vae_status st = mu && lv && r->kl_dim && r->var_mu ? VAE_OK : vae_fail(VAE_ERR_NOMEM, "out of memory for %d codes", n);
    if (!st) st = diag_encode(m, ds, n, batch, binarize, bin_seed, x, labels, mu, lv);
    if (!st) {
        r->active = vae_latent_activity(mu, lv, n, Z, r->kl_dim, r->var_mu);
        st = vae_kl_decompose(mu, lv, n, Z, VAE_DIAG_BATCH, VAE_DIAG_SEED, &r->parts);
    }
    vae_mem_free(mu);
    vae_mem_free(lv);
    if (st) diag_free(r);
    return st;
}

int diag_json_str(char *buf, size_t cap, const diag_result *r) {
    char n[4][32]; // strict JSON: a figure that is not finite is null (cli_json_number)
    size_t len = (size_t)snprintf(buf, cap, ", \"kl_dim\": [");
    for (int d = 0; d < r->Z && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, d ? ", %s" : "%s", cli_json_number(n[0], "%.6f", r->kl_dim[d]));
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "], \"active_units\": %d, \"mi\": %s, \"tc\": %s, \"dwkl\": %s",
                                r->active, cli_json_number(n[1], "%.6f", r->parts.mi),
                                cli_json_number(n[2], "%.6f", r->parts.tc), cli_json_number(n[3], "%.6f", r->parts.dwkl));
    return (int)len;
}

void diag_json(FILE *f, const diag_result *r) {
    size_t cap = 128 + 16 * (size_t)r->Z;
    char *buf = vae_malloc(cap);
    if (!buf) return;
    diag_json_str(buf, cap, r);
    fputs(buf, f);
    vae_mem_free(buf);
}
