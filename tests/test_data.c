/* test_data.c: the IDX reader and batching (src/data.c).
 *
 * The test writes its own fixtures into a fresh folder under /tmp: asymmetric images of odd size whose
 * every pixel differs (so a transpose, flip or swapped channel shows), raw and gzip, colour (4 dims),
 * float32, labels; then damaged files, each checked for the status and for a message that names the file
 * and the problem. Hostile headers must fail before anything sized by them is allocated. Every allocation
 * of a load is made to fail in turn (vae_alloc_fail_at); run under ASan to see that nothing leaks.
 * It also reads the committed tiny data folder tests/fixtures/tiny-idx (run from the repository root).
 */
#include "data.h"
#include "common.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "asan_cap.h"

static char tmp_dir[256];

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

/* ---------------------------------------------------------------- writing fixtures */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} bytes;

static void put(bytes *s, const void *p, size_t n) {
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->b = realloc(s->b, s->cap);
        if (!s->b) abort();
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void put_be32(bytes *s, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    put(s, b, 4);
}

static void put_header(bytes *s, int type, int ndims, const uint32_t *dims) {
    unsigned char magic[4] = {0, 0, (unsigned char)type, (unsigned char)ndims};
    put(s, magic, 4);
    for (int i = 0; i < ndims; i++) put_be32(s, dims[i]);
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write fixture %s\n", path);
        exit(2);
    }
}

static void write_gz(const char *path, const void *p, size_t n) {
    gzFile g = gzopen(path, "wb9");
    if (!g || (n > 0 && gzwrite(g, p, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
        fprintf(stderr, "cannot write fixture %s\n", path);
        exit(2);
    }
}

static void write_file(const char *path, const bytes *s, int gz) {
    if (gz)
        write_gz(path, s->b, s->n);
    else
        write_raw(path, s->b, s->n);
}

/* The main fixture: 3 images, 5 rows, 7 columns; pixel (n, r, c) holds a different odd value each. */
enum { FN = 3, FH = 5, FW = 7 };
static int pix(int n, int r, int c) { return (n * FH * FW + r * FW + c) * 2 + 1; }

static bytes make_images(void) {
    bytes s = {0};
    uint32_t dims[3] = {FN, FH, FW};
    put_header(&s, 0x08, 3, dims);
    for (int n = 0; n < FN; n++)
        for (int r = 0; r < FH; r++)
            for (int c = 0; c < FW; c++) {
                unsigned char v = (unsigned char)pix(n, r, c);
                put(&s, &v, 1);
            }
    return s;
}

static const uint8_t fixture_labels[FN] = {2, 0, 7};

static bytes make_labels(uint32_t count) {
    bytes s = {0};
    put_header(&s, 0x08, 1, &count);
    for (uint32_t i = 0; i < count; i++) put(&s, &fixture_labels[i % FN], 1);
    return s;
}

static bytes make_header_only(int type, int ndims, const uint32_t *dims, size_t n_data) {
    bytes s = {0};
    put_header(&s, type, ndims, dims);
    for (size_t i = 0; i < n_data; i++) {
        unsigned char v = (unsigned char)i;
        put(&s, &v, 1);
    }
    return s;
}

/* ---------------------------------------------------------------- checks */

static int is_zeroed(const vae_dataset *ds) {
    vae_dataset z;
    memset(&z, 0, sizeof z);
    return memcmp(ds, &z, sizeof z) == 0;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* The set read from the main fixture must hold exactly pix(n, r, c), row-major. */
static void check_main_fixture(const vae_dataset *ds, const char *what) {
    CHECK(ds->n == FN && ds->height == FH && ds->width == FW && ds->channels == 1 && ds->dim == FH * FW,
          "%s: shape n=%d h=%d w=%d c=%d dim=%d", what, ds->n, ds->height, ds->width, ds->channels, ds->dim);
    CHECK(ds->pixels != NULL && ds->values == NULL, "%s: uint8 storage", what);
    if (!ds->pixels || ds->n != FN || ds->dim != FH * FW) return;
    int bad = 0;
    for (int n = 0; n < FN; n++)
        for (int r = 0; r < FH; r++)
            for (int c = 0; c < FW; c++)
                if (ds->pixels[n * FH * FW + r * FW + c] != pix(n, r, c)) bad++;
    CHECK(bad == 0, "%s: %d pixels differ", what, bad);
}

/* Reading path as images must fail with status, a message naming the file and containing part. */
static void expect_images_fail(const char *path, vae_status want, const char *part) {
    vae_dataset ds;
    memset(&ds, 0xAB, sizeof ds);
    vae_clear_error();
    vae_status st = vae_idx_read_images(&ds, path);
    const char *msg = vae_last_error();
    CHECK(st == want, "%s: status %d (%s), want %d; message: %s", path, st, vae_strerror(st), want, msg);
    CHECK(has(msg, path), "message does not name the file %s: %s", path, msg);
    CHECK(has(msg, part), "message for %s lacks \"%s\": %s", path, part, msg);
    CHECK(is_zeroed(&ds), "%s: data set not zeroed after failure", path);
    vae_dataset_free(&ds);
}

/* Same, with no allocation at all (the header alone decides). */
static void expect_images_fail_no_alloc(const char *path, vae_status want, const char *part) {
    vae_alloc_fail_at(0);
    expect_images_fail(path, want, part);
    CHECK(vae_alloc_count() == 0, "%s: %ld allocations before refusing the header", path, vae_alloc_count());
}

/* ---------------------------------------------------------------- good files */

static void test_read_raw_and_gz(void) {
    bytes s = make_images();
    CHECK(s.n == 4 + 3 * 4 + FN * FH * FW, "fixture size %zu", s.n);
    write_file(tmp_path("img.idx"), &s, 0);
    write_file(tmp_path("img.idx.gz"), &s, 1);
    /* gzip content under a name without .gz, and raw content under a .gz name: content decides */
    write_file(tmp_path("gz-content.idx"), &s, 1);
    write_file(tmp_path("raw-content.gz"), &s, 0);
    free(s.b);

    const char *names[] = {"img.idx", "img.idx.gz", "gz-content.idx", "raw-content.gz"};
    for (int i = 0; i < 4; i++) {
        vae_dataset ds;
        vae_status st = vae_idx_read_images(&ds, tmp_path(names[i]));
        CHECK(st == VAE_OK, "%s: %s", names[i], vae_last_error());
        if (st != VAE_OK) continue;
        check_main_fixture(&ds, names[i]);
        CHECK(ds.labels == NULL && ds.n_classes == 0, "%s: no labels yet", names[i]);
        vae_dataset_free(&ds);
        CHECK(is_zeroed(&ds), "free zeroes the set");
    }
}

static void test_batch(void) {
    bytes s = make_images();
    write_file(tmp_path("batch.idx"), &s, 0);
    free(s.b);
    bytes l = make_labels(FN);
    write_file(tmp_path("batch-labels.idx"), &l, 0);
    free(l.b);

    vae_dataset ds;
    CHECK(vae_idx_read_images(&ds, tmp_path("batch.idx")) == VAE_OK, "%s", vae_last_error());
    CHECK(vae_idx_read_labels(&ds, tmp_path("batch-labels.idx")) == VAE_OK, "%s", vae_last_error());
    if (!ds.pixels || !ds.labels) {
        vae_dataset_free(&ds);
        return;
    }
    CHECK(ds.n_classes == 8, "n_classes %d, want 1 + largest label 7", ds.n_classes);
    CHECK(ds.labels[0] == 2 && ds.labels[1] == 0 && ds.labels[2] == 7, "labels %d %d %d", ds.labels[0],
          ds.labels[1], ds.labels[2]);

    /* idx NULL: rows start .. start+n-1 */
    float out[3 * FH * FW];
    vae_dataset_batch(&ds, NULL, 1, 2, out);
    int bad = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < FH * FW; j++)
            if (out[i * FH * FW + j] != pix(1 + i, j / FW, j % FW) / 255.0f) bad++;
    CHECK(bad == 0, "batch without idx: %d values differ", bad);

    /* idx given: rows idx[start + i] */
    int order[4] = {1, 2, 0, 2};
    vae_dataset_batch(&ds, order, 1, 3, out);
    bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < FH * FW; j++)
            if (out[i * FH * FW + j] != pix(order[1 + i], j / FW, j % FW) / 255.0f) bad++;
    CHECK(bad == 0, "batch with idx: %d values differ", bad);
    CHECK_CLOSE(out[0], pix(2, 0, 0) / 255.0, 1e-7);
    CHECK_CLOSE(out[FH * FW - 1], pix(2, FH - 1, FW - 1) / 255.0, 1e-7);

    int lab[3] = {-1, -1, -1};
    vae_dataset_batch_labels(&ds, order, 1, 3, lab);
    CHECK(lab[0] == 7 && lab[1] == 2 && lab[2] == 7, "labels by idx %d %d %d", lab[0], lab[1], lab[2]);
    vae_dataset_batch_labels(&ds, NULL, 0, 3, lab);
    CHECK(lab[0] == 2 && lab[1] == 0 && lab[2] == 7, "labels from start %d %d %d", lab[0], lab[1], lab[2]);

    /* 0 and 255 map to exactly 0 and 1 */
    uint8_t saved0 = ds.pixels[0], saved1 = ds.pixels[1];
    ds.pixels[0] = 0;
    ds.pixels[1] = 255;
    vae_dataset_batch(&ds, NULL, 0, 1, out);
    CHECK(out[0] == 0.0f && out[1] == 1.0f, "0 -> %g, 255 -> %g", out[0], out[1]);
    ds.pixels[0] = saved0;
    ds.pixels[1] = saved1;

    /* without labels: zeros */
    vae_mem_free(ds.labels);
    ds.labels = NULL;
    vae_dataset_batch_labels(&ds, NULL, 0, 3, lab);
    CHECK(lab[0] == 0 && lab[1] == 0 && lab[2] == 0, "no labels gives zeros");
    vae_dataset_free(&ds);
}

static void test_colour(void) {
    /* 2 images, 3 rows, 5 columns, 3 channels (N, H, W, C), channel fastest */
    enum { N = 2, H = 3, W = 5, C = 3 };
    bytes s = {0};
    uint32_t dims[4] = {N, H, W, C};
    put_header(&s, 0x08, 4, dims);
    for (int n = 0; n < N; n++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                for (int ch = 0; ch < C; ch++) {
                    unsigned char v = (unsigned char)(n * 100 + r * 20 + c * 4 + ch);
                    put(&s, &v, 1);
                }
    write_file(tmp_path("colour.idx.gz"), &s, 1);
    free(s.b);
    vae_dataset ds;
    vae_status st = vae_idx_read_images(&ds, tmp_path("colour.idx.gz"));
    CHECK(st == VAE_OK, "%s", vae_last_error());
    CHECK(ds.n == N && ds.height == H && ds.width == W && ds.channels == C && ds.dim == H * W * C,
          "colour shape %d %d %d %d %d", ds.n, ds.height, ds.width, ds.channels, ds.dim);
    if (st == VAE_OK && ds.dim == H * W * C) {
        float out[H * W * C];
        vae_dataset_batch(&ds, NULL, 1, 1, out);
        /* image 1, row 2, column 3, channel 1 */
        int j = (2 * W + 3) * C + 1;
        CHECK(out[j] == (100 + 40 + 12 + 1) / 255.0f, "colour value %g", out[j] * 255.0f);
        CHECK(ds.pixels[H * W * C + j] == 153, "colour pixel %d", ds.pixels[H * W * C + j]);
    }
    vae_dataset_free(&ds);
}

static void put_be_float(bytes *s, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_be32(s, u);
}

static void test_float(void) {
    /* 2 images of 2x3 floats, big-endian */
    const float v[12] = {-1.5f, 0.25f, 1e-3f, 3.14159274f, 0.0f, 1.0f,
                         2.5e-7f, -0.0f, 100.125f, 0.5f, 0.75f, 1e30f};
    bytes s = {0};
    uint32_t dims[3] = {2, 2, 3};
    put_header(&s, 0x0D, 3, dims);
    for (int i = 0; i < 12; i++) put_be_float(&s, v[i]);
    write_file(tmp_path("float.idx"), &s, 0);
    free(s.b);
    vae_dataset ds;
    vae_status st = vae_idx_read_images(&ds, tmp_path("float.idx"));
    CHECK(st == VAE_OK, "%s", vae_last_error());
    CHECK(ds.values != NULL && ds.pixels == NULL, "float storage");
    CHECK(ds.n == 2 && ds.height == 2 && ds.width == 3 && ds.channels == 1 && ds.dim == 6, "float shape");
    if (ds.values) {
        int bad = 0;
        for (int i = 0; i < 12; i++)
            if (memcmp(&ds.values[i], &v[i], 4) != 0) bad++;
        CHECK(bad == 0, "%d float values differ", bad);
        float out[12];
        int order[2] = {1, 0};
        vae_dataset_batch(&ds, order, 0, 2, out);
        CHECK(memcmp(out, v + 6, 6 * sizeof(float)) == 0 && memcmp(out + 6, v, 6 * sizeof(float)) == 0,
              "float batch is a copy of the rows in idx order");
    }
    vae_dataset_free(&ds);

    /* a NaN among the values */
    bytes t = {0};
    put_header(&t, 0x0D, 3, dims);
    for (int i = 0; i < 12; i++) put_be_float(&t, i == 7 ? NAN : v[i]);
    write_file(tmp_path("float-nan.idx"), &t, 0);
    free(t.b);
    expect_images_fail(tmp_path("float-nan.idx"), VAE_ERR_FORMAT, "value 1 of image 1 is not finite");
}

static void test_folder(void) {
    /* folder: train images raw + labels gz; test images gz, no labels */
    const char *dir = tmp_path("folder");
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    char p[600];
    bytes s = make_images(), l = make_labels(FN);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    write_file(p, &s, 0);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    write_file(p, &l, 1);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_file(p, &s, 1);
    /* raw is preferred: a broken .gz beside a good raw file is never read */
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    write_raw(p, "junk", 4);
    free(s.b);
    free(l.b);

    vae_dataset ds;
    vae_status st = vae_dataset_load(&ds, dir, "train");
    CHECK(st == VAE_OK, "train: %s", vae_last_error());
    check_main_fixture(&ds, "folder train");
    CHECK(ds.labels && ds.n_classes == 8, "train labels, n_classes %d", ds.n_classes);
    vae_dataset_free(&ds);

    char slash[600];
    snprintf(slash, sizeof slash, "%s/", dir);
    st = vae_dataset_load(&ds, slash, "test");
    CHECK(st == VAE_OK, "test: %s", vae_last_error());
    check_main_fixture(&ds, "folder test");
    CHECK(ds.labels == NULL && ds.n_classes == 0, "test split has no labels");
    vae_dataset_free(&ds);

    st = vae_dataset_load(&ds, dir, "valid");
    CHECK(st == VAE_ERR_ARG && has(vae_last_error(), "valid"), "bad split: %d %s", st, vae_last_error());
    CHECK(is_zeroed(&ds), "zeroed after a bad split");
}

static void test_committed_fixtures(void) {
    const char *dir = "tests/fixtures/tiny-idx";
    struct stat st_;
    CHECK(stat(dir, &st_) == 0, "%s is missing: run the test from the repository root", dir);
    vae_dataset ds;
    vae_status st = vae_dataset_load(&ds, dir, "train");
    CHECK(st == VAE_OK, "%s", vae_last_error());
    check_main_fixture(&ds, "tiny-idx train (raw)");
    CHECK(ds.labels && ds.labels[0] == 2 && ds.labels[1] == 0 && ds.labels[2] == 7 && ds.n_classes == 8,
          "tiny-idx train labels");
    vae_dataset_free(&ds);
    st = vae_dataset_load(&ds, dir, "test");
    CHECK(st == VAE_OK, "%s", vae_last_error());
    check_main_fixture(&ds, "tiny-idx test (gzip)");
    CHECK(ds.labels && ds.labels[0] == 2 && ds.labels[1] == 0 && ds.labels[2] == 7, "tiny-idx test labels");
    vae_dataset_free(&ds);
}

/* ---------------------------------------------------------------- damaged files */

static void test_damaged(void) {
    bytes s;

    write_raw(tmp_path("empty"), "", 0);
    expect_images_fail_no_alloc(tmp_path("empty"), VAE_ERR_FORMAT, "empty file");
    write_gz(tmp_path("empty.gz"), "", 0);
    expect_images_fail_no_alloc(tmp_path("empty.gz"), VAE_ERR_FORMAT, "truncated header");

    write_raw(tmp_path("short-magic"), "\0\0\x08", 3);
    expect_images_fail_no_alloc(tmp_path("short-magic"), VAE_ERR_FORMAT, "truncated header: 3 of 4");
    write_raw(tmp_path("short-header"), "\0\0\x08\x03\0\0\0\x03\0\0", 10);
    expect_images_fail_no_alloc(tmp_path("short-header"), VAE_ERR_FORMAT, "truncated header: 6 of 12");

    /* body one byte short: raw decided from the file size, gzip after reading */
    s = make_images();
    write_raw(tmp_path("short-body"), s.b, s.n - 1);
    write_gz(tmp_path("short-body.gz"), s.b, s.n - 1);
    expect_images_fail_no_alloc(tmp_path("short-body"), VAE_ERR_FORMAT,
                                "truncated: header says 3 images of 5x7 (105 bytes) but the file holds 104 "
                                "bytes of data");
    expect_images_fail(tmp_path("short-body.gz"), VAE_ERR_FORMAT,
                       "truncated: header says 3 images of 5x7 (105 bytes) but the file holds 104 bytes of "
                       "data (decompressed)");

    /* one byte too many */
    put(&s, "x", 1);
    write_raw(tmp_path("long-body"), s.b, s.n);
    write_gz(tmp_path("long-body.gz"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("long-body"), VAE_ERR_FORMAT, "trailing data");
    expect_images_fail_no_alloc(tmp_path("long-body"), VAE_ERR_FORMAT, "(1 extra)");
    expect_images_fail(tmp_path("long-body.gz"), VAE_ERR_FORMAT, "trailing data");
    s.n--;

    /* wrong magic: first bytes not zero; a PNG; a labels file read as images */
    s.b[1] = 0x01;
    write_raw(tmp_path("magic"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("magic"), VAE_ERR_FORMAT, "not an IDX file: magic bytes 00 01 08 03");
    s.b[1] = 0;
    write_raw(tmp_path("png"), "\x89PNG\r\n\x1a\n", 8);
    expect_images_fail_no_alloc(tmp_path("png"), VAE_ERR_FORMAT, "not an IDX file");
    bytes l = make_labels(FN);
    write_raw(tmp_path("labels-as-images"), l.b, l.n);
    expect_images_fail_no_alloc(tmp_path("labels-as-images"), VAE_ERR_FORMAT, "1 dimensions");
    free(l.b);

    /* wrong type codes */
    s.b[2] = 0x0C;
    write_raw(tmp_path("type-int32"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("type-int32"), VAE_ERR_FORMAT, "0x0c (int32) is not supported");
    s.b[2] = 0x42;
    write_raw(tmp_path("type-junk"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("type-junk"), VAE_ERR_FORMAT, "0x42 (unknown) is not supported");
    s.b[2] = 0x08;
    s.b[3] = 2;
    write_raw(tmp_path("ndims2"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("ndims2"), VAE_ERR_FORMAT, "2 dimensions, but image files need 3 or 4");
    s.b[3] = 5;
    write_raw(tmp_path("ndims5"), s.b, s.n);
    expect_images_fail_no_alloc(tmp_path("ndims5"), VAE_ERR_FORMAT, "5 dimensions");
    s.b[3] = 3;

    /* corrupt gzip: flip bytes inside the deflate stream; cut the stream in half */
    write_gz(tmp_path("corrupt.gz"), s.b, s.n);
    FILE *f = fopen(tmp_path("corrupt.gz"), "rb");
    unsigned char gz[4096];
    size_t gzn = f ? fread(gz, 1, sizeof gz, f) : 0;
    if (f) fclose(f);
    CHECK(gzn > 30, "gzip fixture written (%zu bytes)", gzn);
    unsigned char bad[4096];
    memcpy(bad, gz, gzn);
    for (size_t i = 12; i < gzn - 10; i += 3) bad[i] ^= 0x5A;
    write_raw(tmp_path("corrupt.gz"), bad, gzn);
    expect_images_fail(tmp_path("corrupt.gz"), VAE_ERR_FORMAT, "");
    CHECK(has(vae_last_error(), "gzip") || has(vae_last_error(), "IDX") || has(vae_last_error(), "truncated"),
          "corrupt gzip message: %s", vae_last_error());
    /* only the CRC of the trailer is wrong: the data decompress fine but must not be accepted */
    memcpy(bad, gz, gzn);
    bad[gzn - 8] ^= 0xFF;
    write_raw(tmp_path("bad-crc.gz"), bad, gzn);
    expect_images_fail(tmp_path("bad-crc.gz"), VAE_ERR_FORMAT, "corrupt gzip data");
    write_raw(tmp_path("cut.gz"), gz, gzn / 2);
    expect_images_fail(tmp_path("cut.gz"), VAE_ERR_FORMAT, "");
    CHECK(has(vae_last_error(), "truncated") || has(vae_last_error(), "corrupt gzip"), "cut gzip message: %s",
          vae_last_error());
    free(s.b);

    /* a directory where a file should be; a missing file */
    CHECK(mkdir(tmp_path("a-dir"), 0700) == 0, "mkdir");
    expect_images_fail_no_alloc(tmp_path("a-dir"), VAE_ERR_IO, "is a directory");
    expect_images_fail_no_alloc(tmp_path("missing"), VAE_ERR_IO, "no such file");
}

static void test_absurd_sizes(void) {
    bytes s;
    /* zero sizes */
    uint32_t z1[3] = {0, 28, 28}, z2[3] = {10, 0, 28}, z3[3] = {10, 28, 0}, z4[4] = {1, 2, 2, 0};
    s = make_header_only(0x08, 3, z1, 0);
    write_raw(tmp_path("zero-n"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("zero-n"), VAE_ERR_FORMAT, "image count is 0");
    s = make_header_only(0x08, 3, z2, 0);
    write_raw(tmp_path("zero-h"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("zero-h"), VAE_ERR_FORMAT, "height is 0");
    s = make_header_only(0x08, 3, z3, 0);
    write_raw(tmp_path("zero-w"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("zero-w"), VAE_ERR_FORMAT, "width is 0");
    s = make_header_only(0x08, 4, z4, 4);
    write_raw(tmp_path("zero-c"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("zero-c"), VAE_ERR_FORMAT, "channel count is 0");

    /* 2^31 images: more than an int counts */
    uint32_t big_n[3] = {0x80000000u, 28, 28};
    s = make_header_only(0x08, 3, big_n, 100);
    write_raw(tmp_path("n-2e31"), s.b, s.n);
    write_gz(tmp_path("n-2e31.gz"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("n-2e31"), VAE_ERR_FORMAT, "2147483648 images, more than the limit");
    expect_images_fail_no_alloc(tmp_path("n-2e31.gz"), VAE_ERR_FORMAT, "2147483648 images");

    /* 65536 x 65536 pixels */
    uint32_t big_hw[3] = {1, 65536, 65536};
    s = make_header_only(0x08, 3, big_hw, 100);
    write_raw(tmp_path("hw-65536"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("hw-65536"), VAE_ERR_FORMAT, "height 65536 in the header exceeds");
    uint32_t big_c[4] = {1, 2, 2, 1u << 20};
    s = make_header_only(0x08, 4, big_c, 100);
    write_raw(tmp_path("c-big"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("c-big"), VAE_ERR_FORMAT, "channel count 1048576");

    /* each side allowed, the image too large: 32768 x 32768 x 3 */
    uint32_t big_dim[4] = {1, 32768, 32768, 3};
    s = make_header_only(0x08, 4, big_dim, 100);
    write_raw(tmp_path("dim-big"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("dim-big"), VAE_ERR_FORMAT, "values per image exceed the limit");

    /* INT_MAX images of 28x28 floats: 6.7 TB, over the total cap */
    uint32_t big_total[3] = {0x7fffffffu, 28, 28};
    s = make_header_only(0x0D, 3, big_total, 100);
    write_raw(tmp_path("total-big"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("total-big"), VAE_ERR_FORMAT, "bytes of data exceed the limit");

    /* 2^30 images of 4x4 (16 GiB, just within every limit) but 100 bytes of data: raw files are refused
     * from their size alone; gzip files are read into a buffer that grows only as data arrives. */
    uint32_t lying[3] = {1u << 30, 4, 4};
    s = make_header_only(0x08, 3, lying, 100);
    write_raw(tmp_path("lying"), s.b, s.n);
    write_gz(tmp_path("lying.gz"), s.b, s.n);
    free(s.b);
    expect_images_fail_no_alloc(tmp_path("lying"), VAE_ERR_FORMAT,
                                "truncated: header says 1073741824 images of 4x4 (17179869184 bytes) but the file "
                                "holds 100 bytes of data");
    vae_alloc_fail_at(0);
    expect_images_fail(tmp_path("lying.gz"), VAE_ERR_FORMAT, "but the file holds 100 bytes of data (decompressed)");
    CHECK(vae_alloc_count() <= 1, "gzip with a lying header: %ld allocations", vae_alloc_count());
}

static void test_labels(void) {
    bytes s = make_images();
    write_file(tmp_path("lab-img"), &s, 0);
    free(s.b);
    vae_dataset ds;
    memset(&ds, 0, sizeof ds);
    vae_status st = vae_idx_read_labels(&ds, tmp_path("lab-img"));
    CHECK(st == VAE_ERR_ARG, "labels without images: %d", st);
    CHECK(vae_idx_read_images(&ds, tmp_path("lab-img")) == VAE_OK, "%s", vae_last_error());

    /* count mismatch: refused from the header, before any allocation */
    bytes l = make_labels(FN + 1);
    write_file(tmp_path("lab-4"), &l, 1);
    free(l.b);
    vae_alloc_fail_at(0);
    st = vae_idx_read_labels(&ds, tmp_path("lab-4"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), tmp_path("lab-4")) &&
              has(vae_last_error(), "header says 4 labels but there are 3 images"),
          "label count mismatch: %d %s", st, vae_last_error());
    CHECK(vae_alloc_count() == 0, "label mismatch allocated %ld times", vae_alloc_count());
    CHECK(ds.pixels && ds.labels == NULL && ds.n == FN, "images kept after a label failure");

    /* float labels; 3-dim labels; truncated labels */
    uint32_t n = FN;
    bytes f = {0};
    put_header(&f, 0x0D, 1, &n);
    for (int i = 0; i < FN; i++) put_be_float(&f, 1.0f);
    write_file(tmp_path("lab-float"), &f, 0);
    free(f.b);
    st = vae_idx_read_labels(&ds, tmp_path("lab-float"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "lab-float") && has(vae_last_error(), "0x0d (float32)"),
          "float labels: %s", vae_last_error());
    st = vae_idx_read_labels(&ds, tmp_path("lab-img"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "3 dimensions, but label files need 1"),
          "images as labels: %s", vae_last_error());
    l = make_labels(FN);
    write_raw(tmp_path("lab-short"), l.b, l.n - 1);
    free(l.b);
    st = vae_idx_read_labels(&ds, tmp_path("lab-short"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "lab-short: truncated: header says 3 labels"),
          "short labels: %s", vae_last_error());
    vae_dataset_free(&ds);

    /* a bad label file fails the whole load, and the message names the label file */
    const char *dir = tmp_path("lab-folder");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    char p[600];
    s = make_images();
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_file(p, &s, 1);
    free(s.b);
    l = make_labels(FN - 1);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    write_file(p, &l, 0);
    free(l.b);
    memset(&ds, 0x55, sizeof ds);
    st = vae_dataset_load(&ds, dir, "test");
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), p) && has(vae_last_error(), "2 labels but there are 3"),
          "folder with wrong label count: %s", vae_last_error());
    CHECK(is_zeroed(&ds), "zeroed after a label failure in a folder");
}

static void test_folder_errors(void) {
    vae_dataset ds;
    const char *missing = tmp_path("no-such-folder");
    memset(&ds, 0x55, sizeof ds);
    vae_status st = vae_dataset_load(&ds, missing, "train");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), missing) && has(vae_last_error(), "no such directory"),
          "missing folder: %d %s", st, vae_last_error());
    CHECK(is_zeroed(&ds), "zeroed");

    const char *empty = tmp_path("empty-folder");
    CHECK(mkdir(empty, 0700) == 0, "mkdir");
    st = vae_dataset_load(&ds, empty, "train");
    char want[700];
    snprintf(want, sizeof want, "%s: no train-images-idx3-ubyte or train-images-idx3-ubyte.gz", empty);
    CHECK(st == VAE_ERR_IO && strcmp(vae_last_error(), want) == 0, "empty folder: %d %s", st, vae_last_error());
    st = vae_dataset_load(&ds, empty, "test");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), "no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"),
          "empty folder, test split: %s", vae_last_error());

    /* a file given as the folder */
    const char *file = tmp_path("not-a-folder");
    write_raw(file, "x", 1);
    st = vae_dataset_load(&ds, file, "train");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), file) && has(vae_last_error(), "not a directory"),
          "file as folder: %s", vae_last_error());

    /* a directory where the image file should be */
    const char *dir = tmp_path("dir-folder");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    char p[600];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    CHECK(mkdir(p, 0700) == 0, "mkdir");
    st = vae_dataset_load(&ds, dir, "train");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), p) && has(vae_last_error(), "is a directory"),
          "directory as image file: %s", vae_last_error());
    CHECK(is_zeroed(&ds), "zeroed");
}

/* ---------------------------------------------------------------- out of memory */

/* Make allocation 1, 2, ... of a load fail until it succeeds: each failure is VAE_ERR_NOMEM with a
 * zeroed set and nothing leaked (ASan's leak checker reports leaks at exit). */
static void oom_loop(const char *dir, const char *split, int want_min_allocs) {
    int n_fail = 0;
    for (long k = 1; k < 100; k++) {
        vae_dataset ds;
        vae_alloc_fail_at(k);
        vae_status st = vae_dataset_load(&ds, dir, split);
        long made = vae_alloc_count();
        vae_alloc_fail_at(0);
        if (st == VAE_OK) {
            CHECK(made < k, "success although allocation %ld was to fail", k);
            CHECK(n_fail >= want_min_allocs, "%s %s: only %d allocations failed in turn", dir, split, n_fail);
            CHECK(ds.n > 0 && (ds.pixels || ds.values), "loaded after the failures");
            vae_dataset_free(&ds);
            return;
        }
        n_fail++;
        CHECK(st == VAE_ERR_NOMEM, "%s %s: allocation %ld failed, status %d: %s", dir, split, k, st,
              vae_last_error());
        CHECK(has(vae_last_error(), dir), "out-of-memory message names the file: %s", vae_last_error());
        CHECK(is_zeroed(&ds), "zeroed after allocation %ld failed", k);
    }
    CHECK(0, "%s %s: no success within 100 allocations", dir, split);
}

static void test_out_of_memory(void) {
    /* small: raw images + raw labels (2 allocations), gzip images + gzip labels */
    const char *dir = tmp_path("oom");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    char p[600];
    bytes s = make_images(), l = make_labels(FN);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    write_file(p, &s, 0);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir);
    write_file(p, &l, 0);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_file(p, &s, 1);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_file(p, &l, 1);
    free(s.b);
    free(l.b);
    oom_loop(dir, "train", 2);
    oom_loop(dir, "test", 2);

    /* large gzip (3 MiB decompressed): the buffer grows 1 -> 2 -> 3 MiB, so reallocs fail too */
    const char *big = tmp_path("oom-big");
    CHECK(mkdir(big, 0700) == 0, "mkdir");
    bytes b = {0};
    uint32_t dims[3] = {3, 1024, 1024};
    put_header(&b, 0x08, 3, dims);
    size_t n = (size_t)3 << 20;
    unsigned char *px = malloc(n);
    if (!px) abort();
    for (size_t i = 0; i < n; i++) px[i] = (unsigned char)(i * 7 + i / 1000);
    put(&b, px, n);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", big);
    write_file(p, &b, 1);
    free(b.b);
    oom_loop(big, "train", 3);
    vae_dataset ds;
    vae_status st = vae_dataset_load(&ds, big, "train");
    CHECK(st == VAE_OK && ds.n == 3 && ds.dim == 1 << 20 && memcmp(ds.pixels, px, n) == 0,
          "3 MiB gzip read back: %s", vae_last_error());
    vae_dataset_free(&ds);
    free(px);
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_data.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_read_raw_and_gz();
    test_batch();
    test_colour();
    test_float();
    test_folder();
    test_committed_fixtures();
    test_damaged();
    test_absurd_sizes();
    test_labels();
    test_folder_errors();
    test_out_of_memory();
    remove_tree(tmp_dir);
    TEST_MAIN_END();
}
