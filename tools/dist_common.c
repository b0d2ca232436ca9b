/* dist_common.c: what both builds of dist.h share, written over its primitives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dist.h"
#include "model.h"

int vae__dist_same_bytes(const void *buf, size_t bytes, unsigned long long *hash) {
    const unsigned char *p = buf;
    unsigned long long h = 0xcbf29ce484222325ULL, h0; // FNV-1a, 64 bits
    for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    *hash = h0 = h;
    vae__dist_bcast(&h0, sizeof h0);
    return !vae__dist_any(h0 != h);
}

vae_status vae__dist_share_state(vae_train_state *s, const vae_config *cfg, int max_batch) {
    if (vae__dist_size() == 1) return VAE_OK;
    int rank = vae__dist_rank();
    vae_status st = VAE_OK;
    if (rank != 0) {
        memset(s, 0, sizeof *s);
        st = vae_model_alloc(&s->model, cfg, max_batch);
    }
    if (vae__dist_any(st != VAE_OK)) return st ? st : vae_fail(VAE_ERR_NOMEM, "another rank is out of memory");
    vae_model *m = s->model;
    size_t bytes = m->n_params * sizeof(float);
    vae__dist_bcast(m->params, bytes);
    vae__dist_bcast(m->adam_m, bytes);
    vae__dist_bcast(m->adam_v, bytes);
    vae__dist_bcast(&m->step, sizeof m->step);
    vae__dist_bcast(&s->meta, sizeof s->meta);
    vae__dist_bcast(&s->rng, sizeof s->rng);
    int counters[3] = {s->epoch, s->next_batch, s->n_order};
    double sums[2] = {s->loss_sum, s->train_seconds};
    vae__dist_bcast(counters, sizeof counters);
    vae__dist_bcast(sums, sizeof sums);
    s->epoch = counters[0], s->next_batch = counters[1], s->n_order = counters[2];
    s->loss_sum = sums[0], s->train_seconds = sums[1];
    if (rank != 0 && !(s->order = vae_malloc((size_t)s->n_order * sizeof(int)))) st = VAE_ERR_NOMEM;
    if (vae__dist_any(st != VAE_OK)) return vae_fail(VAE_ERR_NOMEM, "out of memory receiving the training state");
    vae__dist_bcast(s->order, (size_t)s->n_order * sizeof(int));
    return VAE_OK;
}

int vae__dist_check_replicas(vae_model *m, const vae_rng *order_rng, int epoch) {
    float *p;
    size_t n;
    unsigned long long hash, rng_hash;
    vae_param_buffer(m, &p, &n);
    int same = vae__dist_same_bytes(p, n * sizeof(float), &hash);
    int same_order = vae__dist_same_bytes(order_rng, sizeof *order_rng, &rng_hash);
    if (!same_order && vae__dist_rank() == 0)
        fprintf(stderr, "vae train: the ranks' data-order generators differ after epoch %d; stopping\n", epoch);
    if (getenv("VAE_PRINT_PARAM_HASH")) // for tests/test_mpi.sh
        fprintf(stderr, "vae train: rank %d: parameters after epoch %d: fnv1a64 %016llx\n", vae__dist_rank(), epoch, hash);
    if (!same && vae__dist_rank() == 0)
        fprintf(stderr, "vae train: the ranks' parameters differ after epoch %d (rank 0: fnv1a64 %016llx): the "
                "replicas diverged; stopping\n", epoch, hash);
    return same && same_order;
}

/* Warn once when communication takes more than half of the steps' time. */
void vae__dist_comm_report(double comm_seconds, double train_seconds, int batch, int ranks) {
    static int warned;
    double share = train_seconds > 0 ? comm_seconds / train_seconds : 0;
    if (warned || share <= 0.5) return;
    warned = 1;
    fprintf(stderr, "vae train: warning: communication took %.0f%% of the training time (%.2f of %.2f s): the ranks "
            "wait more than they compute. Use a larger per-rank batch (now %d images: raise --batch; --accumulate K "
            "keeps each pass at the size of a K times smaller batch), or fewer ranks per host (docs/scale.md)\n", 100 * share, comm_seconds, train_seconds, batch / ranks);
}
