/* fuzz_safetensors.c: libFuzzer target for the safetensors reader (src/safetensors.c) and the checkpoint
 * loaders on top of it (src/checkpoint.c).
 *
 * Each input is parsed from memory with vae__st_parse, then written to a file (in /dev/shm when it exists) and
 * read again with vae__st_read and, when it is valid safetensors, with vae_checkpoint_load and vae_train_state_load.
 * Oracles beyond the sanitizers:
 *   - vae__st_parse and vae__st_read agree: same status and, the file named the same, the same message;
 *   - an accepted file is consistent: every tensor inside the data block with the byte length its dtype and
 *     shape need, found by name, metadata found by key; every data byte is read;
 *   - a model that loads decodes one latent vector to finite values, and survives vae_save + vae_load with
 *     the same parameters;
 *   - every failure leaves a message that names the file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "train_state.h"
#include "common.h"
#include "model.h"
#include "safetensors.h"

static char path[256], path2[256];

static void remove_files(void) {
    if (path[0]) unlink(path);
    if (path2[0]) unlink(path2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/libvae-fuzz-st.%d", dir, (int)getpid());
    snprintf(path2, sizeof path2, "%s/libvae-fuzz-st2.%d", dir, (int)getpid());
    atexit(remove_files);
    return 0;
}

#define FAIL(...)                                   \
    do {                                            \
        fprintf(stderr, "fuzz_safetensors: ");      \
        fprintf(stderr, __VA_ARGS__);               \
        fputc('\n', stderr);                        \
        abort();                                    \
    } while (0)

static void names_file(const char *what) {
    if (strstr(vae_last_error(), path) == NULL) FAIL("%s: message does not name the file: '%s'", what, vae_last_error());
}

static void check_file(const st_file *f) {
    unsigned sum = 0;
    for (size_t i = 0; i < f->data_len; i++) sum += f->data[i];
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        size_t bytes = vae__st_numel(t) * vae__st_dtype_size(t->dtype);
        if (t->begin > t->end || t->end > f->data_len || t->end - t->begin != bytes)
            FAIL("tensor '%s' [%zu, %zu] of %zu bytes in %zu", t->name, t->begin, t->end, bytes, f->data_len);
        if ((const uint8_t *)t->data != f->data + t->begin) FAIL("tensor '%s' data pointer", t->name);
        if (vae__st_find(f, t->name) == NULL) FAIL("tensor '%s' not found by name", t->name);
        for (size_t k = 0; k < bytes; k++) sum += ((const uint8_t *)t->data)[k];
    }
    for (int i = 0; i < f->n_meta; i++)
        if (vae__st_meta(f, f->meta_keys[i]) != f->meta_values[i]) FAIL("metadata '%s' not found", f->meta_keys[i]);
    volatile unsigned sink = sum;
    (void)sink;
}

static void write_file(const uint8_t *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) FAIL("cannot write %s", path);
}

/* A model that loaded: decode z = 0.5 (label 0), then save, load and compare. */
static void exercise_model(vae_model *m) {
    const vae_config *c = vae_get_config(m);
    size_t D = (size_t)c->height * c->width * c->channels;
    float *z = malloc((size_t)c->n_latent * sizeof *z), *out = malloc(D * sizeof *out);
    int label = 0;
    if (!z || !out) abort();
    for (int i = 0; i < c->n_latent; i++) z[i] = 0.5f;
    vae_status st = vae_decode(m, z, c->n_classes > 0 ? &label : NULL, 1, out);
    if (st != VAE_OK) FAIL("decode failed: %s", vae_last_error());
    /* Finite parameters can still overflow to inf on the way (Gaussian means); a NaN from finite input
     * would be a bug only for the Bernoulli mean, a sigmoid, which is always in [0, 1]. */
    if (c->likelihood == VAE_BERNOULLI)
        for (size_t i = 0; i < D; i++)
            if (!(out[i] >= 0.0f && out[i] <= 1.0f) && !isnan(out[i])) FAIL("decoded value %g outside [0, 1]", out[i]);
    free(z);
    free(out);
    st = vae_save(m, path2);
    if (st != VAE_OK) FAIL("save failed: %s", vae_last_error());
    vae_model *m2 = NULL;
    st = vae_load(&m2, path2, 1);
    if (st != VAE_OK) FAIL("reload failed: %s", vae_last_error());
    if (m2->n_params != m->n_params || memcmp(m2->params, m->params, m->n_params * sizeof(float)) != 0)
        FAIL("parameters differ after save and load");
    if (memcmp(vae_get_config(m2), c, sizeof *c) != 0) FAIL("configuration differs after save and load");
    vae_free(m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f, g;
    vae_clear_error();
    vae_status sp = vae__st_parse(&f, data, size, path);
    char parse_msg[1024];
    snprintf(parse_msg, sizeof parse_msg, "%s", vae_last_error());
    if (sp == VAE_OK) {
        check_file(&f);
        vae__st_free(&f);
    } else {
        names_file("vae__st_parse");
    }

    write_file(data, size);
    vae_clear_error();
    vae_status sr = vae__st_read(&g, path);
    if (sr != sp) FAIL("vae__st_parse gives %d ('%s'), vae__st_read %d ('%s')", sp, parse_msg, sr, vae_last_error());
    if (sr == VAE_OK) {
        check_file(&g);
        vae__st_free(&g);
    } else if (strcmp(parse_msg, vae_last_error()) != 0) {
        FAIL("vae__st_parse says '%s', vae__st_read '%s'", parse_msg, vae_last_error());
    }

    /* The loaders start with vae__st_read: on a file it refuses they can only fail the same way. */
    if (sp != VAE_OK) return 0;
    vae_model *m = NULL;
    vae_meta extra;
    vae_clear_error();
    vae_status st = vae_checkpoint_load(&m, path, 1, &extra);
    if (st == VAE_OK) {
        exercise_model(m);
        vae_free(m);
    } else {
        if (m) FAIL("model left after a failure");
        names_file("vae_checkpoint_load");
    }

    vae_train_state ts;
    vae_clear_error();
    st = vae_train_state_load(&ts, path, 1);
    if (st == VAE_OK) {
        if (!ts.model || ts.n_order < 1 || ts.next_batch > ts.n_order) FAIL("inconsistent training state");
        vae_train_state_free(&ts);
    } else {
        if (ts.model || ts.order) FAIL("training state left after a failure");
        names_file("vae_train_state_load");
    }
    return 0;
}
