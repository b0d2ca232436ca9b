/* fuzz_images.c: libFuzzer target for the folder-of-images reader (vae_image_folder_read in src/data.c):
 * PNG verification (chunk CRCs, zlib stream, IEND), stb_image's PNG and JPEG decoders, the size checks.
 *
 * The reader takes a folder, so each input becomes image files in a folder under /dev/shm (a tmpfs) when it
 * exists, else $TMPDIR or /tmp. The first byte of the input chooses what the rest becomes:
 *   bit 0   1: two files, a.img and b.img, the second the input cut by (byte >> 4) bytes (size checks across
 *           files, a truncated second file)
 *   bit 1   1: the files go into class sub-folders x/ and y/ (labels)
 *   bits 2-3  0: the rest as it is (broken CRCs and checksums reach the verifier);
 *           1: the rest with every PNG chunk's CRC recomputed, so mutations reach the zlib check and
 *              stb_image's PNG parser;
 *           2: a valid PNG built around the rest: its first 13 bytes are the IHDR fields (width and height
 *              taken modulo 64 + 1), the others the filtered scan lines, zlib-compressed, so mutations reach
 *              stb_image's unfiltering and pixel conversion of every colour type and bit depth;
 *           3: as 0 (JPEG inputs arrive here and at 0)
 * Inputs that declare a valid but large image (1 to 16 Mpixels, within the reader's limit) are skipped: their
 * decoding under ASan takes seconds and would only slow the search (every path they take is reached with
 * small images); over 16 Mpixels they go on, as the reader refuses them before decoding.
 * Oracles beyond the sanitizers: on success the data set is consistent and every pixel is read (a batch of
 * the first and last image is converted); on failure the data set is zeroed and the message names the
 * folder or a file in it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb_image.h>

#include "common.h"
#include "data.h"

static char dir[256];

static void remove_tree(void) {
    if (!dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_images: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/libvae-fuzz-images.%d", base, (int)getpid());
    atexit(remove_tree);
    return 0;
}

static void write_file(const char *path, const uint8_t *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_images: cannot write %s\n", path);
        abort();
    }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Recompute the CRC of every complete chunk after the PNG signature, in place. */
static void fix_crcs(uint8_t *b, size_t len) {
    size_t p = 8;
    while (len >= 12 && p <= len - 12) {
        uint32_t n = be32(b + p);
        if (n > len - p - 12) break;
        put_be32(b + p + 8 + n, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + p + 4, n + 4));
        p += 12 + (size_t)n;
    }
}

static void chunk(uint8_t *out, size_t *at, const char *type, const uint8_t *data, uint32_t n) {
    put_be32(out + *at, n);
    memcpy(out + *at + 4, type, 4);
    if (n) memcpy(out + *at + 8, data, n);
    put_be32(out + *at + 8 + n, (uint32_t)crc32(crc32(0L, Z_NULL, 0), out + *at + 4, n + 4));
    *at += 12 + (size_t)n;
}

/* A PNG around body (see the top): NULL when body is too short. */
static uint8_t *build_png(const uint8_t *body, size_t len, size_t *out_len) {
    if (len < 13) return NULL;
    uint8_t ihdr[13];
    memcpy(ihdr, body, 13);
    put_be32(ihdr, be32(body) % 64 + 1);
    put_be32(ihdr + 4, be32(body + 4) % 64 + 1);
    uLongf zlen = compressBound((uLong)(len - 13));
    uint8_t *z = malloc(zlen), *png = malloc(8 + 25 + 12 + zlen + 12);
    if (!z || !png || compress(z, &zlen, body + 13, (uLong)(len - 13)) != Z_OK) {
        free(z), free(png);
        return NULL;
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(png, sig, 8);
    size_t at = 8;
    chunk(png, &at, "IHDR", ihdr, 13);
    chunk(png, &at, "IDAT", z, (uint32_t)zlen);
    chunk(png, &at, "IEND", NULL, 0);
    free(z);
    *out_len = at;
    return png;
}

static void check_result(vae_status st, const vae_dataset *ds) {
    if (st != VAE_OK) {
        static const vae_dataset zero;
        if (memcmp(ds, &zero, sizeof zero) != 0) {
            fprintf(stderr, "fuzz_images: data set not zeroed after a failure\n");
            abort();
        }
        if (strncmp(vae_last_error(), dir, strlen(dir)) != 0) {
            fprintf(stderr, "fuzz_images: message does not name the folder or file: '%s'\n", vae_last_error());
            abort();
        }
        return;
    }
    if (ds->n < 1 || ds->n > 2 || ds->height < 1 || ds->width < 1 || (ds->channels != 1 && ds->channels != 3) ||
        (long long)ds->dim != (long long)ds->height * ds->width * ds->channels || !ds->pixels || ds->values) {
        fprintf(stderr, "fuzz_images: inconsistent data set n=%d %dx%dx%d dim=%d\n", ds->n, ds->height, ds->width,
                ds->channels, ds->dim);
        abort();
    }
    float *x = malloc((size_t)2 * (size_t)ds->dim * sizeof *x);
    int idx[2] = {ds->n - 1, 0};
    if (!x) abort();
    vae_dataset_batch(ds, idx, 0, 2, x);
    for (size_t i = 0; i < (size_t)2 * (size_t)ds->dim; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f)) {
            fprintf(stderr, "fuzz_images: pixel %zu is %g, outside [0, 1]\n", i, x[i]);
            abort();
        }
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0], kind = (mode >> 2) & 3;
    size_t len = size - 1;
    uint8_t *body = NULL;
    if (kind == 2) {
        body = build_png(data + 1, len, &len);
        if (!body) return 0;
    } else {
        body = malloc(len ? len : 1);
        if (!body) abort();
        memcpy(body, data + 1, len);
        if (kind == 1) fix_crcs(body, len);
    }
    int w, h, comp;
    if (stbi_info_from_memory(body, (int)len, &w, &h, &comp) && (long long)w * h > (1 << 20) &&
        (long long)w * h <= (1 << 24)) {
        free(body);
        return 0;
    }
    char path[512];
    static const char *const old[] = {"a.img", "b.img", "x/a.img", "y/b.img", "x", "y"}; /* the last input's */
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, old[i]);
        if (unlink(path) != 0) rmdir(path);
    }
    int classes = mode & 2;
    mkdir(dir, 0700);
    if (classes) {
        snprintf(path, sizeof path, "%s/x", dir), mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/y", dir), mkdir(path, 0700);
    }
    snprintf(path, sizeof path, "%s/%sa.img", dir, classes ? "x/" : "");
    write_file(path, body, len);
    if (mode & 1) {
        size_t cut = (size_t)(mode >> 4);
        snprintf(path, sizeof path, "%s/%sb.img", dir, classes ? "y/" : "");
        write_file(path, body, len > cut ? len - cut : 0);
    }
    free(body);
    vae_dataset ds;
    vae_clear_error();
    vae_status st = vae_image_folder_read(&ds, dir, NULL);
    check_result(st, &ds);
    vae_dataset_free(&ds);
    return 0;
}
