/* test_checkpoint.c: model and training-state files (src/checkpoint.c over src/safetensors.c).
 *
 * - save -> load -> save gives the same bytes, and the loaded model encodes and decodes exactly as the
 *   original (several configurations: hidden layers, conditional, Gaussian, autoencoder);
 * - a training state round-trips its counters, sums, generator, order and Adam moments;
 * - hostile model files, each built with vae__st_write so that only one thing is wrong (an F64 tensor, a
 *   transposed shape, a missing or an extra tensor, metadata that disagrees with the shapes, metadata that
 *   is not a number, a NaN weight, a training state given as a model, a huge architecture claimed by a tiny
 *   file, truncated files): VAE_ERR_FORMAT, a message naming the file, no model, no crash;
 * - out of memory: vae_load, vae_save and vae_train_state_load with the Nth allocation failing, for every
 *   N until success: VAE_ERR_NOMEM each time and nothing leaked (the ASan build of `make test` checks).
 */
#include "checkpoint.h"
#include "train_state.h"
#include "common.h"
#include "model.h"
#include "safetensors.h"
#include "test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static char dir[64]; /* scratch folder for this run */

static void join(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

/* Whole file into a malloc'ed buffer (caller frees); NULL if unreadable. */
static unsigned char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = buf && n >= 0 && fread(buf, 1, (size_t)n, fp) == (size_t)n ? (size_t)n : 0;
    fclose(fp);
    return buf;
}

static int same_files(const char *a, const char *b) {
    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && la > 0 && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* A small configuration: 5x7 images, so D = 35. */
static vae_config tiny_config(int n_hidden, int classes, vae_likelihood lik, int ae) {
    vae_config c;
    vae_config_default(&c);
    c.height = 5, c.width = 7, c.channels = 1;
    c.n_hidden = n_hidden;
    memset(c.hidden, 0, sizeof c.hidden);
    for (int i = 0; i < n_hidden; i++) c.hidden[i] = i ? 4 : 6; // 6,4; unused widths stay 0 as after loading
    c.n_latent = 3;
    c.n_classes = classes;
    c.likelihood = lik;
    c.activation = classes ? VAE_TANH : VAE_RELU;
    c.ae = ae;
    return c;
}

/* ---------------------------------------------------------------- round trips */

static void test_round_trip(const vae_config *cfg, const char *what) {
    char a[256], b[256];
    join(a, sizeof a, "a.safetensors");
    join(b, sizeof b, "b.safetensors");
    vae_rng rng;
    vae_rng_seed(&rng, 42);
    vae_model *m = NULL, *l = NULL;
    vae_status st = vae_create(&m, cfg, 4, &rng);
    CHECK(st == VAE_OK, "%s: create: %s", what, vae_last_error());
    if (st) return;
    if (m->logvar_tensor >= 0) m->params[m->tensors[m->logvar_tensor].offset] = -0.75f; // not the default
    st = vae_save(m, a);
    CHECK(st == VAE_OK, "%s: save: %s", what, vae_last_error());
    st = vae_load(&l, a, 4);
    CHECK(st == VAE_OK, "%s: load: %s", what, vae_last_error());
    if (st) {
        vae_free(m);
        return;
    }
    CHECK(memcmp(vae_get_config(l), cfg, sizeof *cfg) == 0, "%s: configuration differs after loading", what);
    CHECK(vae_num_params(l) == vae_num_params(m), "%s: %zu parameters, expected %zu", what, vae_num_params(l),
          vae_num_params(m));
    CHECK(memcmp(l->params, m->params, m->n_params * sizeof(float)) == 0, "%s: parameters differ", what);
    CHECK(vae_save(l, b) == VAE_OK, "%s: save again: %s", what, vae_last_error());
    CHECK(same_files(a, b), "%s: save -> load -> save changed the bytes", what);

    // identical outputs: 4 images, labels for the conditional model
    int D = m->D, Z = m->Z, labels[4] = {0, 1, 2, 1};
    const int *lab = cfg->n_classes ? labels : NULL;
    float x[4 * 35], z[4 * 3], mu1[12], lv1[12], mu2[12], lv2[12], out1[4 * 35], out2[4 * 35];
    for (int i = 0; i < 4 * D; i++) x[i] = (float)((i * 37) % 101) / 100.0f;
    for (int i = 0; i < 4 * Z; i++) z[i] = (float)(i % 5) - 2.0f;
    CHECK(vae_encode(m, x, lab, 4, mu1, lv1) == VAE_OK && vae_encode(l, x, lab, 4, mu2, lv2) == VAE_OK,
          "%s: encode: %s", what, vae_last_error());
    CHECK(memcmp(mu1, mu2, sizeof mu1) == 0 && memcmp(lv1, lv2, sizeof lv1) == 0, "%s: encode differs", what);
    CHECK(vae_decode(m, z, lab, 4, out1) == VAE_OK && vae_decode(l, z, lab, 4, out2) == VAE_OK, "%s: decode: %s",
          what, vae_last_error());
    CHECK(memcmp(out1, out2, sizeof out1) == 0, "%s: decode differs", what);
    vae_free(m);
    vae_free(l);
    unlink(a);
    unlink(b);
}

/* Extra metadata comes back, and configuration keys in it cannot override the configuration. */
static void test_extra_meta(void) {
    char path[256];
    join(path, sizeof path, "extra.safetensors");
    vae_config cfg = tiny_config(1, 0, VAE_BERNOULLI, 0);
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m = NULL, *l = NULL;
    CHECK(vae_create(&m, &cfg, 1, &rng) == VAE_OK, "create: %s", vae_last_error());
    vae_meta extra, back;
    memset(&extra, 0, sizeof extra);
    vae_meta_set(&extra, "binarize", "dynamic");
    vae_meta_set(&extra, "latent", "7"); // a configuration key: ignored
    CHECK(vae_checkpoint_save(m, path, &extra) == VAE_OK, "save: %s", vae_last_error());
    CHECK(vae_checkpoint_load(&l, path, 1, &back) == VAE_OK, "load: %s", vae_last_error());
    const char *v = vae_meta_get(&back, "binarize");
    CHECK(v && strcmp(v, "dynamic") == 0, "extra metadata 'binarize' is '%s'", v ? v : "(null)");
    CHECK(vae_meta_get(&back, "latent") == NULL && vae_meta_get(&back, "format") == NULL,
          "configuration keys are not handed back as extra metadata");
    CHECK(l && vae_get_config(l)->n_latent == 3, "the configuration wins over an extra 'latent'");
    vae_free(m);
    vae_free(l);
    unlink(path);
}

/* A fake trainer over a model (no data set needed to save one). */
static void fake_trainer(vae_trainer *t, vae_model *m, int *order, int n) {
    memset(t, 0, sizeof *t);
    t->model = m;
    t->n_train = n;
    t->batch = 2;
    t->order = order;
    t->epoch = 3;
    t->next_batch = 2;
    t->loss_sum = 123.25;
    t->train_seconds = 4.5;
    vae_rng_seed(&t->rng, 99);
    vae_rng_next(&t->rng);
    for (int i = 0; i < n; i++) order[i] = (i * 3) % n; // n not a multiple of 3: a permutation
}

static void test_train_state(void) {
    char path[256];
    join(path, sizeof path, "state.safetensors");
    vae_config cfg = tiny_config(2, 3, VAE_GAUSSIAN, 0);
    vae_rng rng;
    vae_rng_seed(&rng, 5);
    vae_model *m = NULL;
    CHECK(vae_create(&m, &cfg, 2, &rng) == VAE_OK, "create: %s", vae_last_error());
    if (!m) return;
    for (size_t i = 0; i < m->n_params; i++) m->adam_m[i] = 0.001f * (float)i, m->adam_v[i] = 1e-6f * (float)i;
    m->step = 1234;
    int order[7];
    vae_trainer t;
    fake_trainer(&t, m, order, 7);
    CHECK(vae_train_state_save(&t, path, NULL) == VAE_OK, "save state: %s", vae_last_error());
    vae_train_state s;
    vae_status st = vae_train_state_load(&s, path, 2);
    CHECK(st == VAE_OK, "load state: %s", vae_last_error());
    if (st == VAE_OK) {
        vae_model *l = s.model;
        CHECK(memcmp(l->params, m->params, m->n_params * 4) == 0, "params");
        CHECK(memcmp(l->adam_m, m->adam_m, m->n_params * 4) == 0, "adam_m");
        CHECK(memcmp(l->adam_v, m->adam_v, m->n_params * 4) == 0, "adam_v");
        CHECK(l->step == 1234, "step %ld", l->step);
        CHECK(s.epoch == 3 && s.next_batch == 2 && s.n_order == 7, "epoch %d, batch %d, order of %d", s.epoch,
              s.next_batch, s.n_order);
        CHECK(s.loss_sum == 123.25 && s.train_seconds == 4.5, "sums %g %g", s.loss_sum, s.train_seconds);
        CHECK(memcmp(&s.rng, &t.rng, sizeof t.rng) == 0, "generator state");
        CHECK(s.order && memcmp(s.order, order, sizeof order) == 0, "data order");
        vae_train_state_free(&s);
    }
    // a model file is not a training state, and a training state is not a model
    char model_path[256];
    join(model_path, sizeof model_path, "m.safetensors");
    CHECK(vae_save(m, model_path) == VAE_OK, "save: %s", vae_last_error());
    st = vae_train_state_load(&s, model_path, 2);
    CHECK(st == VAE_ERR_FORMAT && strstr(vae_last_error(), model_path), "model as state: %d %s", st,
          vae_last_error());
    vae_model *l = NULL;
    st = vae_load(&l, path, 2);
    CHECK(st == VAE_ERR_FORMAT && !l && strstr(vae_last_error(), path), "state as model: %d %s", st,
          vae_last_error());

    // a corrupt order (an index out of range) is refused
    order[3] = 7;
    CHECK(vae_train_state_save(&t, path, NULL) == VAE_OK, "save state: %s", vae_last_error());
    st = vae_train_state_load(&s, path, 2);
    CHECK(st == VAE_ERR_FORMAT && strstr(vae_last_error(), "order"), "bad order: %d %s", st, vae_last_error());
    vae_free(m);
    unlink(path);
    unlink(model_path);
}

/* ---------------------------------------------------------------- hostile model files */

/* A model file under construction: entries over a model's table and a metadata list, to spoil one at a time. */
typedef struct {
    st_entry e[VAE_MAX_TENSORS + 2];
    int n;
    vae_meta meta;
    const char *kv[2 * VAE_META_MAX + 1];
} spec;

static void spec_from_model(spec *s, const vae_model *m) {
    memset(s, 0, sizeof *s);
    for (int t = 0; t < m->n_tensors; t++) {
        const vae_tensor_info *ti = &m->tensors[t];
        s->e[t] = (st_entry){.name = ti->name, .dtype = ST_F32, .ndim = ti->ndim, .data = m->params + ti->offset};
        s->e[t].shape[0] = ti->shape[0];
        s->e[t].shape[1] = ti->shape[1];
    }
    s->n = m->n_tensors;
    vae_meta_set(&s->meta, "format", "libvae-model");
    vae_meta_set(&s->meta, "format_version", "1");
    vae_config_to_meta(&m->cfg, &s->meta);
}

static st_entry *spec_find(spec *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0) return &s->e[i];
    return NULL;
}

static void spec_remove(spec *s, const char *name) {
    st_entry *e = spec_find(s, name);
    if (!e) return;
    *e = s->e[--s->n];
}

/* Add a tensor "padding" of 100 floats, so that the file holds at least as much data as the configuration
 * in its metadata needs: the loader's early size check passes and the tensor checks are reached. */
static void spec_pad(spec *s) {
    static const float zeros[100];
    s->e[s->n++] = (st_entry){.name = "padding", .dtype = ST_F32, .ndim = 1, .shape = {100}, .data = zeros};
}

/* Remove a metadata key (by swapping the last one in). */
static void meta_remove(vae_meta *meta, const char *key) {
    for (int i = 0; i < meta->n; i++)
        if (strcmp(meta->key[i], key) == 0) {
            meta->n--;
            memcpy(meta->key[i], meta->key[meta->n], sizeof meta->key[i]);
            memcpy(meta->value[i], meta->value[meta->n], sizeof meta->value[i]);
            return;
        }
}

/* 1 if msg contains one of the alternatives "a|b|c" */
static int mentions(const char *msg, const char *alternatives) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", alternatives);
    for (char *save = NULL, *a = strtok_r(buf, "|", &save); a; a = strtok_r(NULL, "|", &save))
        if (strstr(msg, a)) return 1;
    return !*alternatives;
}

/* Write the spec as name and expect vae_load to refuse it with VAE_ERR_FORMAT, naming the file and `what`. */
static void expect_refused(spec *s, const char *name, const char *what) {
    char path[256];
    join(path, sizeof path, name);
    int k = 0;
    for (int i = 0; i < s->meta.n; i++) s->kv[k++] = s->meta.key[i], s->kv[k++] = s->meta.value[i];
    s->kv[k] = NULL;
    vae_status st = vae__st_write(path, s->e, s->n, s->kv);
    CHECK(st == VAE_OK, "%s: vae__st_write: %s", name, vae_last_error());
    vae_model *m = (vae_model *)&st; // not NULL: vae_load must set it
    st = vae_load(&m, path, 16);
    const char *msg = vae_last_error();
    CHECK(st == VAE_ERR_FORMAT, "%s: status %d (%s), expected VAE_ERR_FORMAT", name, st, msg);
    CHECK(m == NULL, "%s: a model was returned", name);
    CHECK(strstr(msg, path) != NULL, "%s: the message does not name the file: %s", name, msg);
    CHECK(mentions(msg, what), "%s: the message lacks '%s': %s", name, what, msg);
    if (st == VAE_OK) vae_free(m);
    unlink(path);
}

static void test_hostile(void) {
    vae_config cfg = tiny_config(2, 0, VAE_BERNOULLI, 0);
    vae_rng rng;
    vae_rng_seed(&rng, 7);
    vae_model *m = NULL;
    CHECK(vae_create(&m, &cfg, 1, &rng) == VAE_OK, "create: %s", vae_last_error());
    if (!m) return;
    spec s;

    // the untouched spec loads (so each failure below is due to its one change)
    {
        char path[256];
        join(path, sizeof path, "good.safetensors");
        spec_from_model(&s, m);
        int k = 0;
        for (int i = 0; i < s.meta.n; i++) s.kv[k++] = s.meta.key[i], s.kv[k++] = s.meta.value[i];
        s.kv[k] = NULL;
        vae_model *l = NULL;
        CHECK(vae__st_write(path, s.e, s.n, s.kv) == VAE_OK && vae_load(&l, path, 1) == VAE_OK, "the good file: %s",
              vae_last_error());
        vae_free(l);
        unlink(path);
    }

    // wrong dtype: F64 with the right shape
    spec_from_model(&s, m);
    st_entry *e = spec_find(&s, "enc.fc1.weight");
    double *f64 = calloc((size_t)(e->shape[0] * e->shape[1]), sizeof(double));
    e->dtype = ST_F64;
    e->data = f64;
    expect_refused(&s, "f64.safetensors", "dtype F64");
    free(f64);

    // wrong shape: transposed, and flattened
    spec_from_model(&s, m);
    e = spec_find(&s, "dec.out.weight");
    int64_t t0 = e->shape[0];
    e->shape[0] = e->shape[1], e->shape[1] = t0;
    expect_refused(&s, "transposed.safetensors", "dec.out.weight");
    spec_from_model(&s, m);
    e = spec_find(&s, "enc.head.weight");
    e->shape[0] *= e->shape[1], e->ndim = 1;
    expect_refused(&s, "flat.safetensors", "enc.head.weight");

    // missing tensor (with and without other data in its place), extra tensor
    spec_from_model(&s, m);
    spec_remove(&s, "dec.out.bias");
    spec_pad(&s);
    expect_refused(&s, "missing.safetensors", "'dec.out.bias' is missing");
    spec_from_model(&s, m);
    spec_remove(&s, "dec.out.bias");
    expect_refused(&s, "missing-nopad.safetensors", "dec.out.bias|parameters");
    spec_from_model(&s, m);
    float junk[3] = {1, 2, 3};
    s.e[s.n++] = (st_entry){.name = "enc.fc9.weight", .dtype = ST_F32, .ndim = 1, .shape = {3}, .data = junk};
    expect_refused(&s, "extra.safetensors", "enc.fc9.weight");
    spec_from_model(&s, m);
    s.e[s.n++] = (st_entry){.name = "dec.logvar", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = junk};
    expect_refused(&s, "logvar-bernoulli.safetensors", "dec.logvar");

    // metadata that disagrees with the shapes
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "latent", "2");
    expect_refused(&s, "latent.safetensors", "enc.head.weight");
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "hidden", "6,5");
    spec_pad(&s);
    expect_refused(&s, "hidden.safetensors", "shape");
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "hidden", "6");
    expect_refused(&s, "fewer-layers.safetensors", "enc.head.weight");
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "width", "5");
    expect_refused(&s, "width.safetensors", "enc.fc1.weight");
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "classes", "2");
    spec_pad(&s);
    expect_refused(&s, "classes.safetensors", "enc.fc1.weight");
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "likelihood", "gaussian");
    spec_pad(&s);
    expect_refused(&s, "gaussian.safetensors", "dec.logvar");

    // metadata that is not what it should be
    const char *bad_values[][3] = {
        {"latent", "abc", "latent"},     {"latent", "3.5", "latent"},      {"latent", "", "latent"},
        {"latent", "0", "latent"},       {"latent", "-3", "latent"},       {"latent", "99999999999", "latent"},
        {"height", "5x", "height"},      {"channels", "0", "channels"},    {"hidden", "6,x", "hidden"},
        {"hidden", "1,2,3,4,5,6,7,8,9", "hidden"},
        {"ae", "2", "ae"},               {"classes", "-1", "classes"},     {"likelihood", "poisson", "likelihood"},
        {"activation", "gelu", "activation"}, {"arch", "transformer", "transformer"},
        {"format", "libvae-train-state", "libvae-train-state"}, {"format_version", "2", "version 2"},
    };
    char name[64];
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        spec_from_model(&s, m);
        vae_meta_set(&s.meta, bad_values[i][0], bad_values[i][1]);
        snprintf(name, sizeof name, "meta%zu.safetensors", i);
        expect_refused(&s, name, bad_values[i][2]);
    }
    const char *required[] = {"height", "width", "channels", "hidden", "latent", "classes", "likelihood", "activation",
                              "ae"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        spec_from_model(&s, m);
        meta_remove(&s.meta, required[i]);
        snprintf(name, sizeof name, "nometa-%s.safetensors", required[i]);
        expect_refused(&s, name, required[i]);
    }
    // no metadata at all
    spec_from_model(&s, m);
    s.meta.n = 0;
    expect_refused(&s, "nometa.safetensors", "missing");

    // a huge architecture claimed by a tiny file: refused before anything sized by the metadata is allocated
    // (hundreds of GiB here: an attempt would fail with VAE_ERR_NOMEM, or abort under ASan)
    spec_from_model(&s, m);
    vae_meta_set(&s.meta, "height", "4096");
    vae_meta_set(&s.meta, "width", "4096");
    vae_meta_set(&s.meta, "hidden", "65536,65536,65536,65536,65536,65536,65536,65536");
    expect_refused(&s, "huge.safetensors", "parameters");

    // NaN and infinity in the weights
    float *copy = malloc(m->n_params * sizeof(float));
    memcpy(copy, m->params, m->n_params * sizeof(float));
    const float bad[2] = {NAN, -INFINITY};
    for (int k = 0; k < 2; k++) {
        spec_from_model(&s, m);
        e = spec_find(&s, "dec.fc1.bias");
        float *p = copy + (e->data ? (const float *)e->data - m->params : 0);
        float keep = p[1];
        p[1] = bad[k];
        e->data = p;
        expect_refused(&s, k ? "inf.safetensors" : "nan.safetensors", "NaN or infinite");
        p[1] = keep;
    }
    free(copy);

    // truncated files: every cut of a small model's file is refused (FORMAT), never a crash
    {
        char path[256], cut[256];
        join(path, sizeof path, "whole.safetensors");
        join(cut, sizeof cut, "cut.safetensors");
        CHECK(vae_save(m, path) == VAE_OK, "save: %s", vae_last_error());
        size_t len;
        unsigned char *buf = slurp(path, &len);
        int wrong = 0;
        for (size_t n = 0; buf && n < len; n += n < 600 ? 1 : 97) {
            FILE *fp = fopen(cut, "wb");
            if (!fp || fwrite(buf, 1, n, fp) != n) wrong++;
            if (fp) fclose(fp);
            vae_model *l = NULL;
            vae_status st = vae_load(&l, cut, 1);
            if (st != VAE_ERR_FORMAT || l || !strstr(vae_last_error(), cut)) {
                if (!wrong) fprintf(stderr, "cut at %zu of %zu: status %d: %s\n", n, len, st, vae_last_error());
                wrong++;
                vae_free(l);
            }
        }
        CHECK(buf && wrong == 0, "%d truncated files not refused with VAE_ERR_FORMAT", wrong);
        free(buf);
        unlink(path);
        unlink(cut);
    }

    // not a file
    vae_model *l = NULL;
    vae_status st = vae_load(&l, dir, 1);
    CHECK(st == VAE_ERR_IO && !l && strstr(vae_last_error(), dir), "a folder: %d %s", st, vae_last_error());
    char missing[256];
    join(missing, sizeof missing, "no-such.safetensors");
    st = vae_load(&l, missing, 1);
    CHECK(st == VAE_ERR_IO && !l && strstr(vae_last_error(), missing), "a missing file: %d %s", st, vae_last_error());
    vae_free(m);
}

/* ---------------------------------------------------------------- out of memory */

static void test_out_of_memory(void) {
    char path[256], state_path[256], out[256];
    join(path, sizeof path, "oom.safetensors");
    join(state_path, sizeof state_path, "oom-state.safetensors");
    join(out, sizeof out, "oom-out.safetensors");
    vae_config cfg = tiny_config(2, 3, VAE_GAUSSIAN, 0);
    vae_rng rng;
    vae_rng_seed(&rng, 11);
    vae_model *m = NULL;
    CHECK(vae_create(&m, &cfg, 2, &rng) == VAE_OK, "create: %s", vae_last_error());
    if (!m) return;
    int order[5];
    vae_trainer t;
    fake_trainer(&t, m, order, 5);
    CHECK(vae_save(m, path) == VAE_OK && vae_train_state_save(&t, state_path, NULL) == VAE_OK, "save: %s",
          vae_last_error());

    long n, wrong = 0;
    for (n = 1; n < 1000; n++) { // vae_load: every allocation fails once
        vae_alloc_fail_at(n);
        vae_model *l = NULL;
        vae_status st = vae_load(&l, path, 3);
        if (st == VAE_OK) {
            CHECK(l && memcmp(l->params, m->params, m->n_params * 4) == 0, "loaded after %ld failures", n - 1);
            vae_free(l);
            break;
        }
        if (st != VAE_ERR_NOMEM || l) {
            if (!wrong++) fprintf(stderr, "vae_load, allocation %ld failing: status %d: %s\n", n, st, vae_last_error());
            vae_free(l);
        }
    }
    CHECK(n > 1 && n < 1000, "vae_load never succeeded (%ld)", n);
    CHECK(wrong == 0, "vae_load: %ld allocation failures not reported as VAE_ERR_NOMEM", wrong);

    wrong = 0;
    for (n = 1; n < 1000; n++) { // vae_train_state_load
        vae_alloc_fail_at(n);
        vae_train_state s;
        vae_status st = vae_train_state_load(&s, state_path, 3);
        if (st == VAE_OK) {
            CHECK(s.n_order == 5 && memcmp(s.order, order, sizeof order) == 0, "state loaded");
            vae_train_state_free(&s);
            break;
        }
        if (st != VAE_ERR_NOMEM || s.model || s.order) {
            if (!wrong++)
                fprintf(stderr, "vae_train_state_load, allocation %ld failing: status %d: %s\n", n, st,
                        vae_last_error());
        }
    }
    CHECK(n > 1 && n < 1000, "vae_train_state_load never succeeded (%ld)", n);
    CHECK(wrong == 0, "vae_train_state_load: %ld allocation failures not reported as VAE_ERR_NOMEM", wrong);

    wrong = 0;
    for (n = 1; n < 1000; n++) { // vae_save: a failure leaves no file
        vae_alloc_fail_at(n);
        vae_status st = vae_save(m, out);
        if (st == VAE_OK) break;
        if (st != VAE_ERR_NOMEM || access(out, F_OK) == 0) {
            if (!wrong++) fprintf(stderr, "vae_save, allocation %ld failing: status %d: %s\n", n, st, vae_last_error());
            unlink(out);
        }
    }
    vae_alloc_fail_at(0);
    CHECK(n > 1 && n < 1000, "vae_save never succeeded (%ld)", n);
    CHECK(wrong == 0, "vae_save: %ld allocation failures not reported as VAE_ERR_NOMEM", wrong);
    CHECK(same_files(path, out), "the file saved after the failures is the same");
    vae_free(m);
    unlink(path);
    unlink(state_path);
    unlink(out);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_checkpoint.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    vae_config c;
    c = tiny_config(0, 0, VAE_BERNOULLI, 0);
    test_round_trip(&c, "no hidden layer");
    c = tiny_config(1, 0, VAE_BERNOULLI, 0);
    test_round_trip(&c, "one hidden layer");
    c = tiny_config(2, 3, VAE_GAUSSIAN, 0);
    test_round_trip(&c, "conditional Gaussian");
    c = tiny_config(2, 0, VAE_BERNOULLI, 1);
    test_round_trip(&c, "autoencoder");
    test_extra_meta();
    test_train_state();
    test_hostile();
    test_out_of_memory();
    CHECK(rmdir(dir) == 0, "scratch folder %s left non-empty: %s", dir, strerror(errno));
    TEST_MAIN_END();
}
