/* checkpoint.c: the model file and the training-state file over safetensors (see checkpoint.h and
 * docs/checkpoint.md). Loading checks every tensor's presence, dtype and shape against the configuration
 * read from the metadata before copying anything. */
#include "checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "ops.h"
#include "safetensors.h"

#define FORMAT_MODEL VAE_FORMAT_MODEL
#define FORMAT_VERSION "1"

const char *vae_meta_get(const vae_meta *meta, const char *key) {
    for (int i = 0; i < meta->n; i++)
        if (strcmp(meta->key[i], key) == 0) return meta->value[i];
    return NULL;
}

vae_status vae_meta_set(vae_meta *meta, const char *key, const char *value) {
    if (strlen(key) >= sizeof meta->key[0] || strlen(value) >= sizeof meta->value[0])
        return vae_fail(VAE_ERR_ARG, "metadata '%s' too long", key);
    int i = 0;
    while (i < meta->n && strcmp(meta->key[i], key) != 0) i++;
    if (i == meta->n) {
        if (meta->n == VAE_META_MAX) return vae_fail(VAE_ERR_ARG, "too many metadata entries");
        meta->n++;
    }
    snprintf(meta->key[i], sizeof meta->key[i], "%s", key);
    snprintf(meta->value[i], sizeof meta->value[i], "%s", value);
    return VAE_OK;
}

/* Keys that belong to the configuration (not handed back as extra metadata). */
static const char *config_keys[] = {"format", "format_version", "arch", "height", "width", "channels", "hidden",
                                    "latent", "classes", "likelihood", "activation", "ae", "conv_channels", "dropout",
                                    NULL};

static int is_config_key(const char *k) {
    for (int i = 0; config_keys[i]; i++)
        if (strcmp(config_keys[i], k) == 0) return 1;
    return 0;
}

vae_status vae_config_to_meta(const vae_config *c, vae_meta *meta) {
    char buf[256];
    vae_status st = VAE_OK;
    st = st ? st : vae_meta_set(meta, "arch", c->arch == VAE_CONV ? "conv" : "mlp");
#define SET_INT(key, v) (snprintf(buf, sizeof buf, "%d", (v)), st = st ? st : vae_meta_set(meta, key, buf))
    SET_INT("height", c->height);
    SET_INT("width", c->width);
    SET_INT("channels", c->channels);
    SET_INT("latent", c->n_latent);
    SET_INT("classes", c->n_classes);
    SET_INT("ae", c->ae);
#undef SET_INT
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->n_hidden; i++) len += (size_t)snprintf(buf + len, sizeof buf - len, i ? ",%d" : "%d", c->hidden[i]);
    st = st ? st : vae_meta_set(meta, "hidden", buf);
    st = st ? st : vae_meta_set(meta, "likelihood", c->likelihood == VAE_GAUSSIAN ? "gaussian" : "bernoulli");
    st = st ? st : vae_meta_set(meta, "activation", c->activation == VAE_TANH ? "tanh" : "relu");
    if (c->arch == VAE_CONV) { // written only for conv, so an MLP's file stays as it was
        len = 0;
        buf[0] = '\0';
        for (int i = 0; i < c->n_conv; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, i ? ",%d" : "%d", c->conv_channels[i]);
        st = st ? st : vae_meta_set(meta, "conv_channels", buf);
    }
    if (c->dropout > 0.0f) { // written only when used, so a model without dropout's file stays as it was
        snprintf(buf, sizeof buf, "%.9g", c->dropout);
        st = st ? st : vae_meta_set(meta, "dropout", buf);
    }
    return st;
}

/* Strict decimal integer in [lo, hi]. */
static int parse_int(const char *s, int lo, int hi, int *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

vae_status vae_config_from_meta(vae_config *c, const vae_meta *meta, const char *path) {
    memset(c, 0, sizeof *c);
    const char *arch = vae_meta_get(meta, "arch");
    if (arch && strcmp(arch, "mlp") != 0 && strcmp(arch, "conv") != 0)
        return vae_fail(VAE_ERR_FORMAT, "%s: architecture '%s' is not supported by this build (mlp or conv)", path, arch);
    if (arch && strcmp(arch, "conv") == 0) {
        c->arch = VAE_CONV;
        const char *chans = vae_meta_get(meta, "conv_channels");
        if (!chans) return vae_fail(VAE_ERR_FORMAT, "%s: metadata 'conv_channels' is missing (arch conv)", path);
        char cbuf[256];
        snprintf(cbuf, sizeof cbuf, "%s", chans);
        for (char *save = NULL, *tok = strtok_r(cbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (c->n_conv == VAE_MAX_CONV || !parse_int(tok, 1, 4096, &c->conv_channels[c->n_conv]))
                return vae_fail(VAE_ERR_FORMAT, "%s: metadata conv_channels='%s' is not a list of up to %d channel counts",
                                path, chans, VAE_MAX_CONV);
            c->n_conv++;
        }
        if (c->n_conv == 0) return vae_fail(VAE_ERR_FORMAT, "%s: metadata conv_channels is empty", path);
    }
    struct {
        const char *key;
        int *dst, lo, hi;
    } ints[] = {{"height", &c->height, 1, 65536},  {"width", &c->width, 1, 65536}, {"channels", &c->channels, 1, 4096},
                {"latent", &c->n_latent, 1, 4096}, {"classes", &c->n_classes, 0, 256}, {"ae", &c->ae, 0, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const char *v = vae_meta_get(meta, ints[i].key);
        if (!v) return vae_fail(VAE_ERR_FORMAT, "%s: metadata '%s' is missing", path, ints[i].key);
        if (!parse_int(v, ints[i].lo, ints[i].hi, ints[i].dst))
            return vae_fail(VAE_ERR_FORMAT, "%s: metadata %s='%s' is not an integer in %d..%d", path, ints[i].key, v,
                            ints[i].lo, ints[i].hi);
    }
    const char *hidden = vae_meta_get(meta, "hidden");
    if (!hidden) return vae_fail(VAE_ERR_FORMAT, "%s: metadata 'hidden' is missing", path);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", hidden);
    c->n_hidden = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (c->n_hidden == VAE_MAX_HIDDEN || !parse_int(tok, 1, 65536, &c->hidden[c->n_hidden]))
            return vae_fail(VAE_ERR_FORMAT, "%s: metadata hidden='%s' is not a list of up to %d widths", path, hidden,
                            VAE_MAX_HIDDEN);
        c->n_hidden++;
    }
    const char *lik = vae_meta_get(meta, "likelihood"), *act = vae_meta_get(meta, "activation");
    if (!lik || (strcmp(lik, "bernoulli") && strcmp(lik, "gaussian")))
        return vae_fail(VAE_ERR_FORMAT, "%s: metadata likelihood='%s' is not bernoulli or gaussian", path, lik ? lik : "");
    if (!act || (strcmp(act, "relu") && strcmp(act, "tanh")))
        return vae_fail(VAE_ERR_FORMAT, "%s: metadata activation='%s' is not relu or tanh", path, act ? act : "");
    c->likelihood = strcmp(lik, "gaussian") == 0 ? VAE_GAUSSIAN : VAE_BERNOULLI;
    c->activation = strcmp(act, "tanh") == 0 ? VAE_TANH : VAE_RELU;
    const char *dropout = vae_meta_get(meta, "dropout");
    char *end = NULL;
    if (dropout && (c->dropout = strtof(dropout, &end), !*dropout || *end))
        return vae_fail(VAE_ERR_FORMAT, "%s: metadata dropout='%s' is not a number", path, dropout);
    vae_status st = vae_config_check(c);
    if (st) return vae_fail(VAE_ERR_FORMAT, "%s: %s", path, vae_last_error()); // vae_fail copes with its own buffer
    return VAE_OK;
}

/* ---------------------------------------------------------------- writing */

/* Metadata list for vae__st_write: format keys, configuration, extra pairs; NULL-terminated. */
vae_status vae__checkpoint_meta_kv(const vae_config *cfg, const char *format, const vae_meta *extra, vae_meta *all,
                             const char **kv) {
    memset(all, 0, sizeof *all);
    vae_status st = vae_meta_set(all, "format", format);
    st = st ? st : vae_meta_set(all, "format_version", FORMAT_VERSION);
    st = st ? st : vae_config_to_meta(cfg, all);
    for (int i = 0; extra && i < extra->n && !st; i++)
        if (!is_config_key(extra->key[i])) st = vae_meta_set(all, extra->key[i], extra->value[i]);
    if (st) return st;
    int k = 0;
    for (int i = 0; i < all->n; i++) kv[k++] = all->key[i], kv[k++] = all->value[i];
    kv[k] = NULL;
    return VAE_OK;
}

vae_status vae_checkpoint_save(const vae_model *m, const char *path, const vae_meta *extra) {
    st_entry entries[VAE_MAX_TENSORS];
    for (int t = 0; t < m->n_tensors; t++) {
        const vae_tensor_info *ti = &m->tensors[t];
        entries[t] = (st_entry){.name = ti->name, .dtype = ST_F32, .ndim = ti->ndim, .data = m->params + ti->offset};
        for (int d = 0; d < ti->ndim; d++) entries[t].shape[d] = ti->shape[d];
    }
    vae_meta *all = vae_malloc(sizeof *all);
    const char **kv = vae_malloc((2 * VAE_META_MAX + 1) * sizeof *kv);
    vae_status st = all && kv ? VAE_OK : vae_fail(VAE_ERR_NOMEM, "%s: out of memory", path);
    st = st ? st : vae__checkpoint_meta_kv(&m->cfg, FORMAT_MODEL, extra, all, kv);
    st = st ? st : vae__st_write(path, entries, m->n_tensors, kv);
    vae_mem_free(all);
    vae_mem_free(kv);
    return st;
}

vae_status vae_save(const vae_model *m, const char *path) {
    if (!m || !path) return vae_fail(VAE_ERR_ARG, "vae_save: %s is NULL", !m ? "model" : "path");
    if (!vae__all_finite(m->params, m->n_params))
        return vae_fail(VAE_ERR_ARG, "vae_save: %s: the parameters of %s are not all finite; not written", path,
                        vae_nonfinite_tensor(m, m->params));
    return vae_checkpoint_save(m, path, NULL);
}

/* ---------------------------------------------------------------- reading */

static vae_status read_meta(const st_file *f, vae_meta *meta, const char *path) {
    memset(meta, 0, sizeof *meta);
    for (int i = 0; i < f->n_meta; i++) {
        if (vae_meta_set(meta, f->meta_keys[i], f->meta_values[i]))
            return vae_fail(VAE_ERR_FORMAT, "%s: metadata '%.40s' too long or too many entries", path, f->meta_keys[i]);
    }
    return VAE_OK;
}

static vae_status check_format(const vae_meta *meta, const char *want, const char *path) {
    const char *format = vae_meta_get(meta, "format"), *version = vae_meta_get(meta, "format_version");
    if (!format) return VAE_OK; // files written by other tools (the PyTorch script) may omit it
    if (strcmp(format, want) != 0)
        return vae_fail(VAE_ERR_FORMAT, "%s: holds a '%s', expected a '%s'", path, format, want);
    if (version && strcmp(version, FORMAT_VERSION) != 0)
        return vae_fail(VAE_ERR_FORMAT, "%s: format version %s, this build reads version %s", path, version,
                        FORMAT_VERSION);
    return VAE_OK;
}

/* Check that tensor `name` exists with dtype and exactly the shape given, and return it. */
vae_status vae__checkpoint_tensor(const st_file *f, const char *path, const char *name, st_dtype dtype, int ndim,
                             const int64_t *shape, const st_tensor **out) {
    static const char *dtype_names[] = {"F32", "F64", "I32", "I64", "U8", "U32", "U64"};
    const st_tensor *t = vae__st_find(f, name);
    if (!t) return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    if (t->dtype != dtype)
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", path, name, dtype_names[t->dtype],
                        dtype_names[dtype]);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[96] = "", want[96] = "";
        size_t a = 0, b = 0;
        for (int i = 0; i < t->ndim && a < sizeof got; i++)
            a += (size_t)snprintf(got + a, sizeof got - a, i ? ", %lld" : "%lld", (long long)t->shape[i]);
        for (int i = 0; i < ndim && b < sizeof want; i++)
            b += (size_t)snprintf(want + b, sizeof want - b, i ? ", %lld" : "%lld", (long long)shape[i]);
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%s' has shape [%s], the configuration in the metadata needs [%s]",
                        path, name, got, want);
    }
    *out = t;
    return VAE_OK;
}

/* Read a file, its metadata and configuration, and allocate the model. copies: how many arrays of all the
 * parameters the file holds (1 for a model, 3 for a training state: parameters and both Adam moments).
 * Before the model is allocated, the configuration in the metadata must fit the data the file holds, so a
 * lying header (hidden=65536 over a few bytes) is refused as such instead of costing gigabytes
 * (vae_config_n_params counts the parameters without allocating them). */
vae_status vae__checkpoint_open(st_file *f, vae_meta *meta, vae_model **m, const char *path, const char *format,
                                  int copies, int max_batch) {
    vae_status st = vae__st_read(f, path);
    if (st) return st;
    vae_config cfg;
    st = read_meta(f, meta, path);
    st = st ? st : check_format(meta, format, path);
    st = st ? st : vae_config_from_meta(&cfg, meta, path);
    if (!st) {
        double need = 4.0 * copies * (double)vae_config_n_params(&cfg);
        if (need > (double)f->data_len)
            st = vae_fail(VAE_ERR_FORMAT, "%s: the metadata describes a model of %.0f parameters (%.0f bytes of tensor "
                          "data) but the file holds %zu bytes of data", path, need / (4.0 * copies), need, f->data_len);
    }
    if (!st) {
        st = vae_model_alloc(m, &cfg, max_batch);
        if (st) {
            vae_fail(st, "%s: %s", path, vae_last_error());
        }
    }
    if (st) vae__st_free(f);
    return st;
}

vae_status vae_checkpoint_load(vae_model **out, const char *path, int max_batch, vae_meta *extra) {
    *out = NULL;
    st_file f;
    vae_model *m = NULL;
    vae_meta *meta = vae_calloc(1, sizeof *meta);
    if (!meta) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", path);
    vae_status st = vae__checkpoint_open(&f, meta, &m, path, FORMAT_MODEL, 1, max_batch);
    if (st) {
        vae_mem_free(meta);
        return st;
    }
    for (int i = 0; i < m->n_tensors && !st; i++) {
        const vae_tensor_info *ti = &m->tensors[i];
        int64_t shape[VAE_MAX_NDIM];
        for (int d = 0; d < ti->ndim; d++) shape[d] = ti->shape[d];
        const st_tensor *t;
        st = vae__checkpoint_tensor(&f, path, ti->name, ST_F32, ti->ndim, shape, &t);
        if (!st) memcpy(m->params + ti->offset, t->data, ti->numel * sizeof(float));
    }
    if (!st && f.n_tensors != m->n_tensors) {
        for (int i = 0; i < f.n_tensors; i++)
            if (vae_tensor_index(m, f.tensors[i].name) < 0) {
                st = vae_fail(VAE_ERR_FORMAT, "%s: unexpected tensor '%s' for the configuration in the metadata", path,
                              f.tensors[i].name);
                break;
            }
    }
    if (!st && !vae__all_finite(m->params, m->n_params))
        st = vae_fail(VAE_ERR_FORMAT, "%s: parameters hold NaN or infinite values", path);
    vae__st_free(&f);
    if (st) {
        vae_free(m);
        vae_mem_free(meta);
        return st;
    }
    if (extra) {
        memset(extra, 0, sizeof *extra);
        for (int i = 0; i < meta->n; i++)
            if (!is_config_key(meta->key[i])) vae_meta_set(extra, meta->key[i], meta->value[i]);
    }
    vae_mem_free(meta);
    *out = m;
    return VAE_OK;
}

vae_status vae_load(vae_model **out, const char *path, int max_batch) {
    if (out) *out = NULL;
    if (!out || !path) return vae_fail(VAE_ERR_ARG, "vae_load: %s is NULL", !out ? "out" : "path");
    return vae_checkpoint_load(out, path, max_batch, NULL);
}
