/* test_data_formats.c: folders of PNG/JPEG files and CSV files as data sets (src/data.c).
 *
 * Fixtures are written into a fresh folder (under /dev/shm, else $TMPDIR or /tmp) with stb_image_write:
 * images of odd, unequal width and height (6 wide, 5 high) whose every byte differs, so a transpose, a flip
 * or swapped channels shows; files are created out of name order, so the sorting shows; 3,000 files check
 * the order and the time at scale. Then the errors: a size or channel mismatch
 * (naming both files), a file that is no image, a damaged PNG, a header claiming a huge image (refused
 * before decoding), empty folders, mixed layouts; CSV with and without header and label, ragged rows,
 * non-numbers, NaN and infinity. Each failure is checked for its status, for a message naming the file
 * (and line), and for a zeroed data set. Every allocation of a load is made to fail in turn.
 */
#include "data.h"
#include "common.h"
#include "test.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <stb_image_write.h>

#include "asan_cap.h"

static char tmp_dir[256];

/* tmp_dir/fmt..., in one of 8 rotating buffers */
static const char *tmp_path(const char *fmt, ...) VAE_PRINTF(1, 2);
static const char *tmp_path(const char *fmt, ...) {
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    int n = snprintf(p, 1024, "%s/", tmp_dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p + n, 1024 - (size_t)n, fmt, ap);
    va_end(ap);
    return p;
}

static void make_dir(const char *path) {
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "cannot make %s\n", path);
        exit(2);
    }
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write fixture %s\n", path);
        exit(2);
    }
}

static void write_text(const char *path, const char *text) { write_raw(path, text, strlen(text)); }

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) exit(2);
    unsigned char *b = malloc(1 << 20);
    if (!b) abort();
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static int is_zeroed(const vae_dataset *ds) {
    vae_dataset z;
    memset(&z, 0, sizeof z);
    return memcmp(ds, &z, sizeof z) == 0;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* ---------------------------------------------------------------- image fixtures */

enum { IW = 6, IH = 5 };

/* Byte (r, c, ch) of image k with C channels (C counts alpha): all different within an image and between
 * images 0..3; alpha is 200 + k so that dropping it (rather than keeping it) shows. */
static unsigned char px(int k, int r, int c, int ch, int C) {
    if ((C == 4 && ch == 3) || (C == 2 && ch == 1)) return (unsigned char)(200 + k);
    return (unsigned char)((k * 97 + (r * IW + c) * 3 + ch + 1) % 200);
}

static void write_png(const char *path, int k, int w, int h, int C) {
    unsigned char *p = malloc((size_t)w * h * C);
    if (!p) abort();
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            for (int ch = 0; ch < C; ch++) p[((size_t)r * w + c) * C + ch] = px(k, r % IH, c % IW, ch, C);
    if (!stbi_write_png(path, w, h, C, p, w * C)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    free(p);
}

/* Check image i of ds against fixture image k (stored with C_file channels, alpha dropped). */
static int image_matches(const vae_dataset *ds, int i, int k, int C_file) {
    int C = ds->channels;
    for (int r = 0; r < IH; r++)
        for (int c = 0; c < IW; c++)
            for (int ch = 0; ch < C; ch++)
                if (ds->pixels[(size_t)i * ds->dim + ((size_t)r * IW + c) * C + ch] != px(k, r, c, ch, C_file))
                    return 0;
    return 1;
}

/* ---------------------------------------------------------------- folders of images */

static void test_flat_folder(void) {
    /* created in the order c, a, b: read back in the order a, b, c; a hidden file is skipped */
    const char *dir = tmp_path("flat");
    make_dir(dir);
    write_png(tmp_path("flat/c.png"), 2, IW, IH, 3);
    write_png(tmp_path("flat/a.png"), 0, IW, IH, 3);
    write_png(tmp_path("flat/b.png"), 1, IW, IH, 4); /* RGBA: alpha dropped */
    write_text(tmp_path("flat/.DS_Store"), "junk");
    vae_dataset ds;
    vae_status st = vae_image_folder_read(&ds, dir, NULL);
    CHECK(st == VAE_OK, "flat folder: %s", vae_last_error());
    CHECK(ds.n == 3 && ds.height == IH && ds.width == IW && ds.channels == 3 && ds.dim == IH * IW * 3,
          "flat shape n %d h %d w %d c %d", ds.n, ds.height, ds.width, ds.channels);
    CHECK(ds.pixels && !ds.values && !ds.labels && ds.n_classes == 0, "flat: uint8, no labels");
    if (st == VAE_OK) {
        CHECK(image_matches(&ds, 0, 0, 3), "a.png: every byte in place (no flip, transpose or channel swap)");
        CHECK(image_matches(&ds, 1, 1, 4), "b.png (RGBA): the RGB bytes, alpha dropped");
        CHECK(image_matches(&ds, 2, 2, 3), "c.png in third place");
        /* batches convert uint8 to [0, 1] as for IDX */
        float x[IH * IW * 3];
        int order[1] = {2};
        vae_dataset_batch(&ds, order, 0, 1, x);
        CHECK_CLOSE(x[IW * 3 + 1], px(2, 1, 0, 1, 3) / 255.0, 1e-7);
    }
    vae_dataset_free(&ds);

    /* grey and grey+alpha: one channel */
    make_dir(tmp_path("grey"));
    write_png(tmp_path("grey/1.png"), 0, IW, IH, 1);
    write_png(tmp_path("grey/2.png"), 3, IW, IH, 2);
    st = vae_image_folder_read(&ds, tmp_path("grey"), NULL);
    CHECK(st == VAE_OK && ds.channels == 1 && ds.n == 2, "grey: %s", vae_last_error());
    if (st == VAE_OK) {
        CHECK(image_matches(&ds, 0, 0, 1), "grey image");
        CHECK(image_matches(&ds, 1, 3, 2), "grey+alpha image: alpha dropped");
    }
    vae_dataset_free(&ds);
}

static void test_labelled_folder(void) {
    /* set/train/{dog,cat,emu}, set/test/{dog}: labels cat 0, dog 1, emu 2 in both splits */
    make_dir(tmp_path("set"));
    make_dir(tmp_path("set/train"));
    make_dir(tmp_path("set/test"));
    make_dir(tmp_path("set/train/dog"));
    make_dir(tmp_path("set/train/cat"));
    make_dir(tmp_path("set/train/emu")); /* a class without images in train: allowed, it still counts */
    make_dir(tmp_path("set/test/dog"));
    write_png(tmp_path("set/train/dog/z.png"), 3, IW, IH, 3);
    write_png(tmp_path("set/train/dog/y.png"), 2, IW, IH, 3);
    write_png(tmp_path("set/train/cat/x.png"), 1, IW, IH, 3);
    write_png(tmp_path("set/train/cat/w.png"), 0, IW, IH, 3);
    write_png(tmp_path("set/test/dog/q.png"), 1, IW, IH, 3);
    vae_dataset ds;
    vae_status st = vae_dataset_load(&ds, tmp_path("set"), "train");
    CHECK(st == VAE_OK, "labelled train: %s", vae_last_error());
    CHECK(ds.n == 4 && ds.channels == 3 && ds.labels && ds.n_classes == 3, "train: n %d, n_classes %d", ds.n,
          ds.n_classes);
    if (st == VAE_OK && ds.labels) {
        CHECK(ds.labels[0] == 0 && ds.labels[1] == 0 && ds.labels[2] == 1 && ds.labels[3] == 1,
              "labels by sorted sub-folder: %d %d %d %d", ds.labels[0], ds.labels[1], ds.labels[2], ds.labels[3]);
        CHECK(image_matches(&ds, 0, 0, 3) && image_matches(&ds, 1, 1, 3) && image_matches(&ds, 2, 2, 3) &&
                  image_matches(&ds, 3, 3, 3),
              "images by class, then by file name");
        int y[2], idx[2] = {3, 0};
        vae_dataset_batch_labels(&ds, idx, 0, 2, y);
        CHECK(y[0] == 1 && y[1] == 0, "batch labels");
    }
    vae_dataset_free(&ds);

    st = vae_dataset_load(&ds, tmp_path("set/"), "test");
    CHECK(st == VAE_OK, "labelled test: %s", vae_last_error());
    CHECK(ds.n == 1 && ds.labels && ds.labels[0] == 1 && ds.n_classes == 3,
          "test's dog is train's class 1 of 3 (n_classes %d)", ds.n_classes);
    if (st == VAE_OK) CHECK(image_matches(&ds, 0, 1, 3), "test image");
    vae_dataset_free(&ds);

    /* a test class that train lacks */
    make_dir(tmp_path("set/test/bird"));
    write_png(tmp_path("set/test/bird/b.png"), 1, IW, IH, 3);
    memset(&ds, 0x55, sizeof ds);
    st = vae_dataset_load(&ds, tmp_path("set"), "test");
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "set/test/bird: class 'bird' is not a sub-folder of") &&
              has(vae_last_error(), "set/train"),
          "unknown test class: %s", vae_last_error());
    CHECK(is_zeroed(&ds), "zeroed");

    /* the test split missing */
    make_dir(tmp_path("only-train"));
    make_dir(tmp_path("only-train/train"));
    write_png(tmp_path("only-train/train/a.png"), 0, IW, IH, 3);
    st = vae_dataset_load(&ds, tmp_path("only-train"), "test");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), "only-train/test: no such directory"), "no test/: %s",
          vae_last_error());
    st = vae_dataset_load(&ds, tmp_path("only-train"), "train");
    CHECK(st == VAE_OK && ds.n == 1 && !ds.labels, "only train/, flat: %s", vae_last_error());
    vae_dataset_free(&ds);
}

static void test_jpeg(void) {
    /* 16x8 RGB in four flat blocks; JPEG is lossy: values within a few levels inside the blocks.
     * (stb_image_write always writes 3-component JPEGs: a grey JPEG cannot be made here.) */
    enum { JW = 16, JH = 8 };
    static const unsigned char colour[4][3] = {{200, 30, 40}, {20, 180, 60}, {40, 50, 220}, {128, 128, 128}};
    unsigned char p[JW * JH * 3];
    for (int r = 0; r < JH; r++)
        for (int c = 0; c < JW; c++)
            memcpy(p + (r * JW + c) * 3, colour[c / 4], 3);
    make_dir(tmp_path("jpeg"));
    CHECK(stbi_write_jpg(tmp_path("jpeg/a.jpg"), JW, JH, 3, p, 95), "write jpeg");
    vae_dataset ds;
    vae_status st = vae_image_folder_read(&ds, tmp_path("jpeg"), NULL);
    CHECK(st == VAE_OK && ds.n == 1 && ds.width == JW && ds.height == JH && ds.channels == 3, "jpeg: %s",
          vae_last_error());
    if (st == VAE_OK) {
        int worst = 0;
        for (int r = 0; r < JH; r++)
            for (int c = 0; c < JW; c++) {
                if (c % 4 == 0 || c % 4 == 3) continue; /* block edges ring */
                for (int ch = 0; ch < 3; ch++) {
                    int d = abs(ds.pixels[(r * JW + c) * 3 + ch] - colour[c / 4][ch]);
                    if (d > worst) worst = d;
                }
            }
        CHECK(worst <= 8, "jpeg block interiors within 8 levels (worst %d; 2 at quality 95)", worst);
    }
    vae_dataset_free(&ds);
}

/* Read folder name (under tmp_dir) and expect status st with all the parts in the message. */
static void expect_folder_fail(const char *name, vae_status want, const char *part1, const char *part2) {
    vae_dataset ds;
    memset(&ds, 0x55, sizeof ds);
    vae_status st = vae_image_folder_read(&ds, tmp_path("%s", name), NULL);
    const char *msg = vae_last_error();
    CHECK(st == want && has(msg, part1) && (!part2 || has(msg, part2)), "%s: status %d, message: %s", name, st,
          msg);
    CHECK(is_zeroed(&ds), "%s: zeroed after failure", name);
    vae_dataset_free(&ds);
}

/* A PNG whose IHDR claims w x h (stb_image skips chunk CRCs, so the patched header reads as such). */
static void write_lying_png(const char *path, uint32_t w, uint32_t h) {
    const char *src = tmp_path("lying-source.png");
    write_png(src, 0, IW, IH, 3);
    size_t n;
    unsigned char *b = read_all(src, &n);
    unsigned char *ihdr = b + 16; /* 8 signature bytes, 4 length bytes, "IHDR" */
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)(w >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    uint32_t crc = (uint32_t)crc32(0, b + 12, 17); /* keep the CRC right anyway */
    for (int i = 0; i < 4; i++) b[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
    write_raw(path, b, n);
    free(b);
}

static void test_folder_errors(void) {
    make_dir(tmp_path("size"));
    write_png(tmp_path("size/a.png"), 0, IW, IH, 3);
    write_png(tmp_path("size/b.png"), 0, IW, IH, 3);
    write_png(tmp_path("size/c.png"), 0, IH, IW, 3); /* transposed size */
    write_png(tmp_path("size/d.png"), 0, IW + 1, IH, 3);
    char want[1200];
    snprintf(want, sizeof want, "%s: 5x6 RGB, but the first image %s is 6x5 RGB", tmp_path("size/c.png"),
             tmp_path("size/a.png"));
    expect_folder_fail("size", VAE_ERR_FORMAT, want, "same size");

    make_dir(tmp_path("chan"));
    write_png(tmp_path("chan/a.png"), 0, IW, IH, 3);
    write_png(tmp_path("chan/b.png"), 0, IW, IH, 1);
    expect_folder_fail("chan", VAE_ERR_FORMAT, "chan/b.png: 6x5 grey, but the first image", "6x5 RGB");

    make_dir(tmp_path("text"));
    write_png(tmp_path("text/a.png"), 0, IW, IH, 3);
    write_text(tmp_path("text/notes.txt"), "not an image\n");
    expect_folder_fail("text", VAE_ERR_FORMAT, "text/notes.txt: not a PNG or JPEG file", NULL);

    make_dir(tmp_path("empty-file"));
    write_text(tmp_path("empty-file/a.png"), "");
    expect_folder_fail("empty-file", VAE_ERR_FORMAT, "empty-file/a.png: not a PNG or JPEG file (empty)", NULL);

    /* a GIF is an image, but not one of ours */
    make_dir(tmp_path("gif"));
    write_text(tmp_path("gif/a.gif"), "GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    expect_folder_fail("gif", VAE_ERR_FORMAT, "gif/a.gif: not a PNG or JPEG file", NULL);

    /* a JPEG start followed by junk */
    make_dir(tmp_path("badjpeg"));
    write_raw(tmp_path("badjpeg/a.jpg"), "\xff\xd8\xff\xe0junkjunk", 12);
    expect_folder_fail("badjpeg", VAE_ERR_FORMAT, "badjpeg/a.jpg: damaged JPEG header", NULL);

    /* a PNG cut short after its header */
    make_dir(tmp_path("cut"));
    write_png(tmp_path("cut/a.png"), 0, IW, IH, 3);
    {
        size_t n;
        unsigned char *b = read_all(tmp_path("cut/a.png"), &n);
        write_raw(tmp_path("cut/b.png"), b, 40);
        free(b);
    }
    expect_folder_fail("cut", VAE_ERR_FORMAT, "cut/b.png: truncated PNG file", NULL);

    /* headers claiming huge images: refused from the header, before decoding (the data would not even be there) */
    make_dir(tmp_path("huge"));
    write_lying_png(tmp_path("huge/a.png"), 5000, 4000);
    expect_folder_fail("huge", VAE_ERR_FORMAT, "huge/a.png: 5000x4000 pixels exceed the limit of 16777216", NULL);
    make_dir(tmp_path("huge2"));
    write_lying_png(tmp_path("huge2/a.png"), 60000, 60000);
    expect_folder_fail("huge2", VAE_ERR_FORMAT, "huge2/a.png: 60000x60000 pixels exceed the limit", NULL);

    make_dir(tmp_path("nothing"));
    expect_folder_fail("nothing", VAE_ERR_FORMAT, "nothing: no image files", NULL);
    make_dir(tmp_path("nothing2"));
    make_dir(tmp_path("nothing2/cat"));
    write_text(tmp_path("nothing2/cat/.hidden"), "x");
    expect_folder_fail("nothing2", VAE_ERR_FORMAT, "nothing2: no image files in its sub-folders", NULL);

    make_dir(tmp_path("mixed"));
    make_dir(tmp_path("mixed/cat"));
    write_png(tmp_path("mixed/cat/a.png"), 0, IW, IH, 3);
    write_png(tmp_path("mixed/b.png"), 0, IW, IH, 3);
    expect_folder_fail("mixed", VAE_ERR_FORMAT, "mixed: holds both files (b.png) and sub-folders (cat)", NULL);

    make_dir(tmp_path("nested"));
    make_dir(tmp_path("nested/cat"));
    make_dir(tmp_path("nested/cat/deeper"));
    expect_folder_fail("nested", VAE_ERR_FORMAT, "nested/cat/deeper: a folder inside a class folder", NULL);

    expect_folder_fail("no-such", VAE_ERR_IO, "no-such: no such directory", NULL);

    /* a folder of IDX files and train/ is IDX (IDX is looked for first) */
    make_dir(tmp_path("both"));
    make_dir(tmp_path("both/train"));
    write_png(tmp_path("both/train/a.png"), 0, IW, IH, 3);
    static const unsigned char idx[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9};
    write_raw(tmp_path("both/train-images-idx3-ubyte"), idx, sizeof idx);
    vae_dataset ds;
    vae_status st = vae_dataset_load(&ds, tmp_path("both"), "train");
    CHECK(st == VAE_OK && ds.n == 1 && ds.width == 2 && ds.height == 1 && ds.pixels[1] == 9,
          "IDX wins over train/: %s", vae_last_error());
    vae_dataset_free(&ds);
}

static void test_many_files(void) {
    /* 3000 files of 3x2 grey written in reverse name order: read back in name order, quickly */
    enum { N = 3000 };
    make_dir(tmp_path("many"));
    for (int i = N - 1; i >= 0; i--) {
        unsigned char p[6] = {(unsigned char)(i & 255), (unsigned char)(i >> 8), 7, 8, 9, 10};
        char name[64];
        snprintf(name, sizeof name, "many/img%05d.png", i);
        if (!stbi_write_png(tmp_path("%s", name), 3, 2, 1, p, 3)) exit(2);
    }
    vae_dataset ds;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vae_status st = vae_image_folder_read(&ds, tmp_path("many"), NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(st == VAE_OK && ds.n == N && ds.dim == 6, "many: %s", vae_last_error());
    int bad = 0;
    for (int i = 0; st == VAE_OK && i < N; i++)
        if (ds.pixels[i * 6] != (i & 255) || ds.pixels[i * 6 + 1] != (i >> 8)) bad++;
    CHECK(bad == 0, "%d of %d files out of name order", bad, N);
    CHECK(s < 5.0, "3000 files read in %.2f s", s);
    vae_dataset_free(&ds);
}

/* ---------------------------------------------------------------- CSV */

static void test_csv(void) {
    vae_dataset ds;
    /* header with a label column in the middle; blanks around values; CRLF */
    write_text(tmp_path("h.csv"), "x1, label ,\"x2\"\r\n0.5,3,-1.25\r\n 1e-3 , 0 ,2\r\n");
    vae_status st = vae_csv_read(&ds, tmp_path("h.csv"));
    CHECK(st == VAE_OK, "header and label: %s", vae_last_error());
    CHECK(ds.n == 2 && ds.dim == 2 && ds.height == 1 && ds.width == 2 && ds.channels == 1, "csv shape n %d dim %d",
          ds.n, ds.dim);
    CHECK(ds.values && !ds.pixels && ds.labels && ds.n_classes == 4, "float values, labels, n_classes %d",
          ds.n_classes);
    if (st == VAE_OK) {
        CHECK(ds.values[0] == 0.5f && ds.values[1] == -1.25f && ds.values[2] == 1e-3f && ds.values[3] == 2.0f,
              "values %g %g %g %g", ds.values[0], ds.values[1], ds.values[2], ds.values[3]);
        CHECK(ds.labels[0] == 3 && ds.labels[1] == 0, "labels %d %d", ds.labels[0], ds.labels[1]);
        float x[2];
        int one = 1;
        vae_dataset_batch(&ds, &one, 0, 1, x);
        CHECK(x[0] == 1e-3f && x[1] == 2.0f, "csv batch is a copy");
    }
    vae_dataset_free(&ds);

    /* no header: no labels; a blank line skipped; no newline at the end */
    write_text(tmp_path("n.csv"), "1,2,3\n\n4,5,6\n7,8,-9e-2");
    st = vae_csv_read(&ds, tmp_path("n.csv"));
    CHECK(st == VAE_OK && ds.n == 3 && ds.dim == 3 && !ds.labels && ds.n_classes == 0, "no header: %s",
          vae_last_error());
    if (st == VAE_OK) CHECK(ds.values[5] == 6.0f && ds.values[8] == -9e-2f, "no-header values");
    vae_dataset_free(&ds);

    /* header without label column */
    write_text(tmp_path("nl.csv"), "a,b\n1,2\n");
    st = vae_csv_read(&ds, tmp_path("nl.csv"));
    CHECK(st == VAE_OK && ds.n == 1 && ds.dim == 2 && !ds.labels, "header, no label: %s", vae_last_error());
    vae_dataset_free(&ds);

    /* a data folder of CSV: train.csv.gz and test.csv, found by vae_dataset_load */
    make_dir(tmp_path("csvset"));
    gzFile g = gzopen(tmp_path("csvset/train.csv.gz"), "wb");
    const char *train = "label,a,b,c\n1,0.1,0.2,0.3\n0,1,2,3\n";
    CHECK(g && gzwrite(g, train, (unsigned)strlen(train)) == (int)strlen(train) && gzclose(g) == Z_OK, "gz");
    write_text(tmp_path("csvset/test.csv"), "label,a,b,c\n0,-1,-2,-3\n");
    st = vae_dataset_load(&ds, tmp_path("csvset"), "train");
    CHECK(st == VAE_OK && ds.n == 2 && ds.dim == 3 && ds.labels && ds.labels[0] == 1 && ds.n_classes == 2 &&
              ds.values[2] == 0.3f,
          "csv folder, gzip train: %s", vae_last_error());
    vae_dataset_free(&ds);
    st = vae_dataset_load(&ds, tmp_path("csvset"), "test");
    CHECK(st == VAE_OK && ds.n == 1 && ds.values[2] == -3.0f, "csv folder test: %s", vae_last_error());
    vae_dataset_free(&ds);
    make_dir(tmp_path("csv-train-only"));
    write_text(tmp_path("csv-train-only/train.csv"), "1,2\n");
    st = vae_dataset_load(&ds, tmp_path("csv-train-only"), "test");
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), "csv-train-only: no test.csv or test.csv.gz"),
          "missing test.csv: %s", vae_last_error());
}

static void expect_csv_fail(const char *name, const char *text, const char *part) {
    write_text(tmp_path("%s", name), text);
    vae_dataset ds;
    memset(&ds, 0x55, sizeof ds);
    vae_status st = vae_csv_read(&ds, tmp_path("%s", name));
    char want[1200];
    snprintf(want, sizeof want, "%s%s", tmp_path("%s", name), part);
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), want), "%s: status %d, message: %s (want %s)", name, st,
          vae_last_error(), want);
    CHECK(is_zeroed(&ds), "%s: zeroed after failure", name);
}

static void test_csv_errors(void) {
    expect_csv_fail("ragged.csv", "1,2,3\n4,5,6\n7,8\n", ":3: 2 values, but line 1 has 3");
    expect_csv_fail("ragged2.csv", "a,b\n1,2\n3,4,5\n", ":3: 3 values, but line 1 has 2");
    expect_csv_fail("word.csv", "1,2\n3,abc\n", ":2: column 2 'abc' is not a number");
    expect_csv_fail("word2.csv", "1,2\n3,4x\n", ":2: column 2 '4x' is not a number");
    expect_csv_fail("nan.csv", "1,2\n3,4\nnan,5\n", ":3: column 1 'nan' is not a finite float");
    expect_csv_fail("inf.csv", "1,-inf\n", ":1: column 2 '-inf' is not a finite float");
    expect_csv_fail("big.csv", "1,1e39\n", ":1: column 2 '1e39' is not a finite float");
    expect_csv_fail("emptyfield.csv", "1,,3\n", ":1: column 2 is empty");
    expect_csv_fail("mixed.csv", "1,x,3\n", ":1: column 2 'x' is not a number (a header row holds names only");
    expect_csv_fail("label.csv", "label,a\n1.5,2\n", ":2: label '1.5' is not an integer in 0..255");
    expect_csv_fail("label2.csv", "a,label\n1,256\n", ":2: label '256' is not an integer in 0..255");
    expect_csv_fail("label3.csv", "a,label\n1,-1\n", ":2: label '-1' is not an integer in 0..255");
    expect_csv_fail("twolabels.csv", "label,a,label\n", ":1: two columns named label (1 and 3)");
    expect_csv_fail("onlylabel.csv", "label\n1\n", ":1: no value columns besides label");
    expect_csv_fail("headeronly.csv", "a,b\n\n", ": no data rows");
    expect_csv_fail("blank.csv", "\n \n", ": no data rows");
    write_raw(tmp_path("nul.csv"), "1,2\n3\0,4\n", 9);
    vae_dataset ds;
    vae_status st = vae_csv_read(&ds, tmp_path("nul.csv"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "nul.csv:2: a NUL byte"), "NUL: %s", vae_last_error());
    write_text(tmp_path("empty.csv"), "");
    st = vae_csv_read(&ds, tmp_path("empty.csv"));
    CHECK(st == VAE_ERR_FORMAT && has(vae_last_error(), "empty.csv: empty file"), "empty: %s", vae_last_error());
    st = vae_csv_read(&ds, tmp_path("missing.csv"));
    CHECK(st == VAE_ERR_IO && has(vae_last_error(), "missing.csv: no such file"), "missing: %s", vae_last_error());
}

/* ---------------------------------------------------------------- out of memory */

typedef vae_status (*loader)(vae_dataset *ds, const char *path);

static vae_status load_folder(vae_dataset *ds, const char *path) { return vae_image_folder_read(ds, path, NULL); }
static vae_status load_train(vae_dataset *ds, const char *path) { return vae_dataset_load(ds, path, "train"); }

/* Make allocation 1, 2, ... of a load fail until it succeeds: each failure is VAE_ERR_NOMEM with a zeroed
 * set and a message naming the path (ASan's leak checker reports leaks at exit). */
static void oom_loop(loader load, const char *path, int want_min) {
    int n_fail = 0;
    for (long k = 1; k < 200; k++) {
        vae_dataset ds;
        vae_alloc_fail_at(k);
        vae_status st = load(&ds, path);
        long made = vae_alloc_count();
        vae_alloc_fail_at(0);
        if (st == VAE_OK) {
            CHECK(made < k, "%s: success although allocation %ld was to fail", path, k);
            CHECK(n_fail >= want_min, "%s: only %d allocations failed in turn", path, n_fail);
            vae_dataset_free(&ds);
            return;
        }
        n_fail++;
        CHECK(st == VAE_ERR_NOMEM, "%s: allocation %ld failed, status %d: %s", path, k, st, vae_last_error());
        CHECK(has(vae_last_error(), path), "out-of-memory message names the path: %s", vae_last_error());
        CHECK(is_zeroed(&ds), "zeroed after allocation %ld failed", k);
    }
    CHECK(0, "%s: no success within 200 allocations", path);
}

static void test_out_of_memory(void) {
    oom_loop(load_folder, tmp_path("flat"), 4);
    oom_loop(load_train, tmp_path("set"), 8);
    /* 100 files: the name buffers grow (from 64 bytes and 64 names), so their reallocations fail too */
    make_dir(tmp_path("oom-100"));
    for (int i = 0; i < 100; i++) {
        unsigned char p[6] = {(unsigned char)i, 1, 2, 3, 4, 5};
        if (!stbi_write_png(tmp_path("oom-100/%03d.png", 99 - i), 3, 2, 1, p, 3)) exit(2);
    }
    oom_loop(load_folder, tmp_path("oom-100"), 6);
    oom_loop(vae_csv_read, tmp_path("h.csv"), 4);
    oom_loop(load_train, tmp_path("csvset"), 4);
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    /* in /dev/shm when there is one (a tmpfs: creating thousands of files on a busy disk takes seconds) */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_data_formats.XXXXXX", base);
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_flat_folder();
    test_labelled_folder();
    test_jpeg();
    test_folder_errors();
    test_many_files();
    test_csv();
    test_csv_errors();
    test_out_of_memory();
    if (!getenv("KEEP")) remove_tree(tmp_dir);
    else fprintf(stderr, "kept %s\n", tmp_dir);
    TEST_MAIN_END();
}
