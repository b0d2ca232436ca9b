/* train_state.c: the training-state file (train-state.safetensors) for `vae train --resume`: the model's
 * configuration, its parameters, both Adam moments, the step, and the trainer's generator state, epoch,
 * position and data order, in one file so that one atomic write keeps them consistent (docs/checkpoint.md).
 * Kept apart from checkpoint.c, which the core needs: only a trainer over a data set writes this file. */
#include "train_state.h"

#include <limits.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "safetensors.h"

vae_status vae_train_state_save(const vae_trainer *t, const char *path, const vae_meta *extra) {
    const vae_model *m = t->model;
    int64_t counters[4] = {m->step, t->epoch, t->next_batch, t->n_train};
    double sums[2] = {t->loss_sum, t->train_seconds};
    st_entry e[] = {
        {.name = "params", .dtype = ST_F32, .ndim = 1, .shape = {(int64_t)m->n_params}, .data = m->params},
        {.name = "adam_m", .dtype = ST_F32, .ndim = 1, .shape = {(int64_t)m->n_params}, .data = m->adam_m},
        {.name = "adam_v", .dtype = ST_F32, .ndim = 1, .shape = {(int64_t)m->n_params}, .data = m->adam_v},
        {.name = "counters", .dtype = ST_I64, .ndim = 1, .shape = {4}, .data = counters},
        {.name = "sums", .dtype = ST_F64, .ndim = 1, .shape = {2}, .data = sums},
        {.name = "rng", .dtype = ST_U64, .ndim = 1, .shape = {4}, .data = t->rng.s},
        {.name = "order", .dtype = ST_I32, .ndim = 1, .shape = {t->n_train}, .data = t->order},
    };
    vae_meta *all = vae_malloc(sizeof *all);
    const char **kv = vae_malloc((2 * VAE_META_MAX + 1) * sizeof *kv);
    vae_status st = all && kv ? VAE_OK : vae_fail(VAE_ERR_NOMEM, "%s: out of memory", path);
    st = st ? st : vae__checkpoint_meta_kv(&m->cfg, VAE_FORMAT_STATE, extra, all, kv);
    st = st ? st : vae__st_write(path, e, (int)(sizeof e / sizeof e[0]), kv);
    vae_mem_free(all);
    vae_mem_free(kv);
    return st;
}

vae_status vae_train_state_load(vae_train_state *s, const char *path, int max_batch) {
    memset(s, 0, sizeof *s);
    st_file f;
    vae_status st = vae__checkpoint_open(&f, &s->meta, &s->model, path, VAE_FORMAT_STATE, 3, max_batch);
    if (st) return st;
    vae_model *m = s->model;
    const st_tensor *tp, *tm, *tv, *tc, *ts, *tr, *to;
    int64_t np[1] = {(int64_t)m->n_params}, four[1] = {4}, two[1] = {2};
    st = vae__checkpoint_tensor(&f, path, "params", ST_F32, 1, np, &tp);
    st = st ? st : vae__checkpoint_tensor(&f, path, "adam_m", ST_F32, 1, np, &tm);
    st = st ? st : vae__checkpoint_tensor(&f, path, "adam_v", ST_F32, 1, np, &tv);
    st = st ? st : vae__checkpoint_tensor(&f, path, "counters", ST_I64, 1, four, &tc);
    st = st ? st : vae__checkpoint_tensor(&f, path, "sums", ST_F64, 1, two, &ts);
    st = st ? st : vae__checkpoint_tensor(&f, path, "rng", ST_U64, 1, four, &tr);
    int64_t counters[4] = {0};
    if (!st) {
        memcpy(counters, tc->data, sizeof counters);
        if (counters[0] < 0 || counters[1] < 0 || counters[2] < 0 || counters[3] < 1 || counters[3] > INT_MAX ||
            counters[1] > INT_MAX || counters[2] > counters[3])
            st = vae_fail(VAE_ERR_FORMAT, "%s: counters (step, epoch, batch, images) out of range", path);
    }
    int64_t no[1] = {counters[3]};
    st = st ? st : vae__checkpoint_tensor(&f, path, "order", ST_I32, 1, no, &to);
    if (!st) {
        s->n_order = (int)counters[3];
        s->order = vae_malloc((size_t)s->n_order * sizeof(int));
        if (!s->order) st = vae_fail(VAE_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!st) {
        memcpy(m->params, tp->data, m->n_params * sizeof(float));
        memcpy(m->adam_m, tm->data, m->n_params * sizeof(float));
        memcpy(m->adam_v, tv->data, m->n_params * sizeof(float));
        double sums[2];
        memcpy(sums, ts->data, sizeof sums);
        memcpy(s->rng.s, tr->data, sizeof s->rng.s);
        memcpy(s->order, to->data, (size_t)s->n_order * sizeof(int));
        m->step = (long)counters[0];
        s->epoch = (int)counters[1];
        s->next_batch = (int)counters[2];
        s->loss_sum = sums[0];
        s->train_seconds = sums[1];
        for (int i = 0; i < s->n_order && !st; i++)
            if (s->order[i] < 0 || s->order[i] >= s->n_order)
                st = vae_fail(VAE_ERR_FORMAT, "%s: data order holds %d, out of range 0..%d", path, s->order[i],
                              s->n_order - 1);
    }
    vae__st_free(&f);
    if (st) vae_train_state_free(s);
    return st;
}

vae_status vae_train_state_apply(const vae_train_state *s, vae_trainer *t) {
    if (s->n_order != t->n_train)
        return vae_fail(VAE_ERR_FORMAT, "the training state was made with %d training images, this run has %d",
                        s->n_order, t->n_train);
    if (s->next_batch > vae_trainer_batches(t))
        return vae_fail(VAE_ERR_FORMAT, "the training state's position (batch %d) is past the end of an epoch of %d",
                        s->next_batch, vae_trainer_batches(t));
    t->rng = s->rng;
    t->epoch = s->epoch;
    t->next_batch = s->next_batch;
    t->loss_sum = s->loss_sum;
    t->train_seconds = s->train_seconds;
    memcpy(t->order, s->order, (size_t)s->n_order * sizeof(int));
    return VAE_OK;
}

void vae_train_state_free(vae_train_state *s) {
    vae_free(s->model);
    vae_mem_free(s->order);
    s->model = NULL;
    s->order = NULL;
}
