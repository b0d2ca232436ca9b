/* fuzz_csv.c: libFuzzer target for the CSV reader (src/data.c, vae_csv_read: float rows, an optional
 * header, an optional `label` column).
 *
 * The reader takes a path, so each input is written to a file first, in /dev/shm when it exists (a tmpfs:
 * no disk traffic), else $TMPDIR or /tmp. Oracles beyond the sanitizers: on success the data set is
 * consistent (height 1, width = columns, finite values, labels in range) and every value is read; on
 * failure the data set is zeroed and the message names the file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "data.h"

static char path[256];

static void remove_file(void) {
    if (path[0]) unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/libvae-fuzz-csv.%d.csv", dir, (int)getpid());
    atexit(remove_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    vae_dataset ds;
    memset(&ds, 0xab, sizeof ds); // the reader must set every field, on success and on failure
    vae_status st = vae_csv_read(&ds, path);
    if (st == VAE_OK) {
        if (ds.n < 1 || ds.height != 1 || ds.channels != 1 || ds.width < 1 || ds.dim != ds.width || !ds.values ||
            ds.pixels)
            abort();
        double sum = 0;
        for (size_t i = 0; i < (size_t)ds.n * ds.dim; i++) {
            if (!isfinite(ds.values[i])) abort();
            sum += ds.values[i];
        }
        if (ds.labels)
            for (int i = 0; i < ds.n; i++)
                if (ds.labels[i] >= ds.n_classes) abort();
        if (!isfinite(sum)) abort();
        vae_dataset_free(&ds);
    } else {
        static const vae_dataset zero;
        if (memcmp(&ds, &zero, sizeof ds) != 0) abort();
        if (!strstr(vae_last_error(), path)) abort();
    }
    return 0;
}
