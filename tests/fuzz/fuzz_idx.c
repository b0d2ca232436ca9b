/* fuzz_idx.c: libFuzzer target for the IDX reader (src/data.c), raw and gzip, images and labels.
 *
 * The reader takes a path and reads through zlib's gzread (which passes raw files through), so each input
 * is written to a file first, in /dev/shm when it exists (a tmpfs: no disk traffic), else $TMPDIR or /tmp.
 * The first byte of the input chooses what the rest becomes:
 *   bit 0   0: an image file (vae_idx_read_images); 1: a label file (vae_idx_read_labels) for a data set of
 *           1 + (byte >> 2) images, so the count check is reached both ways
 *   bit 1   1: gzip-compress the rest before writing it, so the gzip path sees valid streams of any content;
 *           raw inputs that start with 1f 8b reach it with broken ones (bad header, CRC, length, truncation)
 * Oracles beyond the sanitizers: on success the data set is consistent and every byte of it is read (a batch
 * of up to 2 images is converted); on failure the data set is zeroed and the message names the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"
#include "data.h"

static char path[256];

static void remove_file(void) {
    if (path[0]) unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/libvae-fuzz-idx.%d", dir, (int)getpid());
    atexit(remove_file);
    return 0;
}

/* gzip-compress in into a new buffer; NULL when zlib fails (only out of memory). */
static unsigned char *gzip(const uint8_t *in, size_t len, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    unsigned char *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void write_file(const uint8_t *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_idx: cannot write %s\n", path);
        abort();
    }
}

/* The reader's contract on failure: data set zeroed, a message that starts with the path. */
static void check_failure(const vae_dataset *ds) {
    static const vae_dataset zero;
    if (memcmp(ds, &zero, sizeof zero) != 0) {
        fprintf(stderr, "fuzz_idx: data set not zeroed after a failure\n");
        abort();
    }
    if (strncmp(vae_last_error(), path, strlen(path)) != 0) {
        fprintf(stderr, "fuzz_idx: message does not name the file: '%s'\n", vae_last_error());
        abort();
    }
}

static void check_images(const vae_dataset *ds) {
    if (ds->n < 1 || ds->height < 1 || ds->width < 1 || ds->channels < 1 ||
        (long long)ds->dim != (long long)ds->height * ds->width * ds->channels || !ds->pixels == !ds->values) {
        fprintf(stderr, "fuzz_idx: inconsistent data set n=%d %dx%dx%d dim=%d\n", ds->n, ds->height, ds->width,
                ds->channels, ds->dim);
        abort();
    }
    /* Convert the last images (the end of the buffer) and the first: ASan checks every byte touched. */
    int n = ds->n < 2 ? ds->n : 2;
    float *x = malloc((size_t)n * (size_t)ds->dim * sizeof *x);
    int idx[2] = {ds->n - 1, 0};
    if (!x) abort();
    vae_dataset_batch(ds, idx, 0, n, x);
    for (size_t i = 0; i < (size_t)n * (size_t)ds->dim; i++)
        if (x[i] != x[i]) { /* uint8 gives [0, 1]; float data was checked finite */
            fprintf(stderr, "fuzz_idx: NaN in a batch\n");
            abort();
        }
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    unsigned char *packed = NULL;
    if (mode & 2) {
        packed = gzip(body, len, &len);
        if (!packed) return 0;
        body = packed;
    }
    write_file(body, len);
    free(packed);

    vae_dataset ds;
    vae_clear_error();
    if (!(mode & 1)) {
        vae_status st = vae_idx_read_images(&ds, path);
        if (st == VAE_OK) check_images(&ds);
        else check_failure(&ds);
        vae_dataset_free(&ds);
    } else {
        memset(&ds, 0, sizeof ds);
        ds.n = 1 + (mode >> 2);
        vae_status st = vae_idx_read_labels(&ds, path);
        if (st == VAE_OK) {
            int max = 0;
            for (int i = 0; i < ds.n; i++) max = ds.labels[i] > max ? ds.labels[i] : max;
            if (ds.n_classes != max + 1) {
                fprintf(stderr, "fuzz_idx: n_classes %d, largest label %d\n", ds.n_classes, max);
                abort();
            }
        } else if (ds.labels || strncmp(vae_last_error(), path, strlen(path)) != 0) {
            fprintf(stderr, "fuzz_idx: bad label failure: '%s'\n", vae_last_error());
            abort();
        }
        vae_mem_free(ds.labels);
    }
    return 0;
}
