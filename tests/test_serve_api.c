/* test_serve_api.c: the requests of `vae serve` (tools/serve_api.c) without sockets.
 *
 * Two small random models over 7x5 images (odd and not square, so a transposed picture shows), latent 3:
 * a VAE with an autoencoder to compare, and a conditional VAE of 3 classes. Checked:
 *   - every answer with a JSON type parses as JSON (cJSON) and every error carries an "error" string;
 *   - /api/decode's PNG is byte for byte vae_mosaic_png of vae_decode at the same z (one image and a strip),
 *     whether the commas come plain or %-escaped; /api/encode gives vae_encode's mu and logvar for the same
 *     image sent as grey bytes, as text and as a PNG; /api/points gives vae_encode's means and the labels;
 *   - wrong lengths, non-numbers, NaN, infinities, huge values, repeated or unknown parameters, broken
 *     escapes, wrong labels, models, methods, content types, PNG sizes and paths: the 4xx the table says;
 *   - allocation failures at every allocation of a request: the normal answer or a 503, nothing leaked
 *     (ASan's leak check in `make test`).
 * The last line is "N passed, N failed". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <stb_image.h>
#include <zlib.h>

#include "common.h"
#include "image.h"
#include "serve_api.h"
#include "serve_fixture.h"
#include "test.h"

#define H 7
#define W 5
#define Z 3
#define N_POINTS 10

static const unsigned char page[] = "<!doctype html><title>t</title>";
static const vae__asset assets[] = {{"/", "text/html; charset=utf-8", page, sizeof page - 1}};

static vae_model *make_model(int ae, int classes, uint64_t seed) { return serve_fixture_model(H, W, 16, ae, classes, seed); }

/* A data set of N_POINTS images of H x W grey bytes (a fixed pattern) with labels 0..2. */
static void make_data(vae_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    ds->n = N_POINTS, ds->height = H, ds->width = W, ds->channels = 1, ds->dim = H * W, ds->n_classes = 3;
    ds->pixels = vae_malloc(N_POINTS * H * W);
    ds->labels = vae_malloc(N_POINTS);
    for (int i = 0; i < N_POINTS * H * W; i++) ds->pixels[i] = (uint8_t)((i * 37 + i / 11) & 255);
    for (int i = 0; i < N_POINTS; i++) ds->labels[i] = (uint8_t)(i % 3);
}

static vae__http_response res;

/* Answer one request into res (freeing the previous answer); returns the status. */
static int call(vae__serve *s, const char *method, const char *uri, const char *type, const void *body, size_t len) {
    vae__http_response_free(&res);
    vae__http_request req = {.method = method, .uri = uri, .content_type = type, .body = body, .body_len = len};
    vae__serve_handle(s, &req, &res);
    return res.status;
}

/* res's body as JSON (NULL when it does not parse); the caller deletes it. */
static cJSON *body_json(void) { return cJSON_ParseWithLength((const char *)res.body, res.len); }

/* An error answer: the status, and a JSON body holding an "error" string. */
static void check_error(vae__serve *s, int want, const char *method, const char *uri, const char *type,
                        const void *body, size_t len) {
    int got = call(s, method, uri, type, body, len);
    CHECK(got == want, "%s %.60s: status %d, want %d (%.*s)", method, uri, got, want, (int)res.len, res.body);
    cJSON *j = body_json();
    CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "error")) && strcmp(res.type, "application/json") == 0,
          "%s %.60s: not a JSON error: %.*s", method, uri, (int)res.len, res.body);
    cJSON_Delete(j);
}

/* Read a float array of n values from JSON into out; returns 0 when it has exactly n numbers. */
static int json_floats(const cJSON *a, float *out, int n) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return -1;
    for (int i = 0; i < n; i++) out[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    return 0;
}

static void test_decode(vae__serve *s) {
    float z[3 * Z] = {0.5f, -1, 2, 0, 0, 0, -3, 1.25f, 7}, x[3 * H * W];
    for (int n = 1; n <= 3; n += 2) {
        char uri[256] = "/api/decode?z=";
        for (int i = 0; i < n * Z; i++) snprintf(uri + strlen(uri), sizeof uri - strlen(uri), i ? ",%g" : "%g", z[i]);
        CHECK(call(s, "GET", uri, NULL, NULL, 0) == 200 && strcmp(res.type, "image/png") == 0, "%s: %d", uri, res.status);
        uint8_t *png;
        size_t len;
        vae_decode(s->m[0].model, z, NULL, n, x);
        CHECK(vae_mosaic_png("t", &png, &len, x, n, n, H, W, 1, 1, 0) == VAE_OK, "%s", vae_last_error());
        CHECK(len == res.len && memcmp(png, res.body, len) == 0, "%d images: the PNG differs from vae_decode's", n);
        int w, h, c;
        unsigned char *pix = stbi_load_from_memory(res.body, (int)res.len, &w, &h, &c, 1);
        CHECK(pix && w == W * n && h == H, "%d images: PNG %dx%d, want %dx%d", n, w, h, W * n, H);
        stbi_image_free(pix);
        vae_mem_free(png);
    }
    uint8_t first[4096];
    size_t first_len = 0;
    call(s, "GET", "/api/decode?z=0.5,-1,2", NULL, NULL, 0);
    memcpy(first, res.body, first_len = res.len < sizeof first ? res.len : 0);
    CHECK(call(s, "GET", "/api/decode?z=0.5%2C-1%2c2", NULL, NULL, 0) == 200 && res.len == first_len &&
              memcmp(res.body, first, first_len) == 0, "%%-escaped commas decode the same");
    CHECK(call(s, "HEAD", "/api/decode?z=0.5,-1,2&model=compare", NULL, NULL, 0) == 200, "HEAD, compare model");
}

/* The same image as grey bytes, as text and as a PNG: vae_encode's mu and logvar each time. */
static void test_encode(vae__serve *s, const char *uri, vae_model *m, const int *label) {
    uint8_t bytes[H * W];
    float x[H * W], mu[Z], logvar[Z], got[Z];
    char text[H * W * 16] = "[";
    for (int i = 0; i < H * W; i++) {
        bytes[i] = (uint8_t)(i * 7 + 3);
        x[i] = bytes[i] / 255.0f;
        snprintf(text + strlen(text), sizeof text - strlen(text), i ? ", %.9g" : "%.9g", x[i]);
    }
    strcat(text, "]\n");
    vae_encode(m, x, label, 1, mu, logvar);
    uint8_t *png;
    size_t png_len;
    vae_mosaic_png("t", &png, &png_len, x, 1, 1, H, W, 1, 1, 0);
    const struct {
        const char *type;
        const void *body;
        size_t len;
    } forms[] = {{"application/octet-stream", bytes, sizeof bytes}, {"text/plain; charset=utf-8", text, strlen(text)},
                 {NULL, text, strlen(text)}, {"image/png", png, png_len}};
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        int st = call(s, "POST", uri, forms[f].type, forms[f].body, forms[f].len);
        cJSON *j = body_json();
        CHECK(st == 200 && j, "%s as %s: %d %.*s", uri, forms[f].type, st, (int)res.len, res.body);
        int ok = j && json_floats(cJSON_GetObjectItem(j, "mu"), got, Z) == 0;
        for (int i = 0; ok && i < Z; i++) CHECK_CLOSE(got[i], mu[i], 1e-5 * (1 + fabsf(mu[i])));
        ok = ok && json_floats(cJSON_GetObjectItem(j, "logvar"), got, Z) == 0;
        for (int i = 0; ok && i < Z; i++) CHECK_CLOSE(got[i], logvar[i], 1e-5 * (1 + fabsf(logvar[i])));
        CHECK(ok, "%s as %s: no mu and logvar of %d values", uri, forms[f].type, Z);
        cJSON_Delete(j);
    }
    vae_mem_free(png);
}

static void test_points(vae__serve *s, const vae_dataset *ds) {
    float x[N_POINTS * H * W], mu[N_POINTS * Z], got[N_POINTS * Z];
    vae_dataset_batch(ds, NULL, 0, N_POINTS, x);
    vae_encode(s->m[1].model, x, NULL, N_POINTS, mu, NULL);
    CHECK(call(s, "GET", "/api/points?model=compare", NULL, NULL, 0) == 200, "points: %d", res.status);
    cJSON *j = body_json(), *labels = j ? cJSON_GetObjectItem(j, "labels") : NULL;
    CHECK(j && cJSON_GetObjectItem(j, "n")->valueint == N_POINTS && json_floats(cJSON_GetObjectItem(j, "mu"), got,
          N_POINTS * Z) == 0, "points: %.*s", (int)res.len < 200 ? (int)res.len : 200, res.body);
    for (int i = 0; j && i < N_POINTS * Z; i++) CHECK_CLOSE(got[i], mu[i], 1e-4 * (1 + fabsf(mu[i])));
    CHECK(cJSON_GetArraySize(labels) == N_POINTS, "points: labels");
    for (int i = 0; i < cJSON_GetArraySize(labels); i++)
        CHECK(cJSON_GetArrayItem(labels, i)->valueint == i % 3, "label %d", i);
    cJSON_Delete(j);
    CHECK(call(s, "GET", "/api/info", NULL, NULL, 0) == 200, "info");
    j = body_json();
    cJSON *models = j ? cJSON_GetObjectItem(j, "models") : NULL;
    CHECK(cJSON_GetArraySize(models) == 2 && cJSON_GetObjectItem(j, "points")->valueint == N_POINTS &&
              cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(models, 1), "ae")) &&
              cJSON_GetObjectItem(cJSON_GetArrayItem(models, 0), "latent")->valueint == Z &&
              cJSON_GetObjectItem(cJSON_GetArrayItem(models, 0), "width")->valueint == W,
          "info: %.*s", (int)res.len, res.body);
    cJSON_Delete(j);
}

static void put_chunk(uint8_t *out, size_t *len, const char *type, const uint8_t *data, uint32_t n, uint32_t declared) {
    uint8_t *p = out + *len;
    p[0] = (uint8_t)(declared >> 24), p[1] = (uint8_t)(declared >> 16), p[2] = (uint8_t)(declared >> 8), p[3] = (uint8_t)declared;
    memcpy(p + 4, type, 4);
    if (n) memmove(p + 8, data, n);
    uLong crc = crc32(crc32(0, p + 4, 4), data, n);
    p[8 + n] = (uint8_t)(crc >> 24), p[9 + n] = (uint8_t)(crc >> 16), p[10 + n] = (uint8_t)(crc >> 8), p[11 + n] = (uint8_t)crc;
    *len += 12 + n;
}

/* PNGs of the right size (W x H grey) that would make stb_image allocate far more than their size: a chunk
 * declaring 3.6 GB, and pixel data that inflates to 4 MB (a deflate bomb). Both are refused with 400. */
static void test_hostile_png(vae__serve *s) {
    static uint8_t png[65536], zeros[1 << 22];
    static const uint8_t ihdr[13] = {0, 0, 0, W, 0, 0, 0, H, 8, 0, 0, 0, 0};
    for (int bomb = 0; bomb < 2; bomb++) {
        size_t len = 8;
        memcpy(png, "\x89PNG\r\n\x1a\n", 8);
        put_chunk(png, &len, "IHDR", ihdr, 13, 13);
        uLongf zlen = sizeof png - 100;
        CHECK(compress(png + 200, &zlen, zeros, bomb ? sizeof zeros : (uLong)(H * (W + 1))) == Z_OK, "compress");
        memmove(png + len + 8, png + 200, zlen); // the data where put_chunk puts it
        uint8_t *idat = png + len + 8;
        put_chunk(png, &len, "IDAT", idat, (uint32_t)zlen, bomb ? (uint32_t)zlen : 0xd8320000u);
        put_chunk(png, &len, "IEND", NULL, 0, 0);
        check_error(s, 400, "POST", "/api/encode", "image/png", png, len);
    }
}

static void test_errors(vae__serve *s, vae__serve *cond) {
    static const struct {
        int status;
        const char *method, *uri;
    } gets[] = {
        {400, "GET", "/api/decode"}, {400, "GET", "/api/decode?z="}, {400, "GET", "/api/decode?z=0.5"},
        {400, "GET", "/api/decode?z=1,2,3,4"}, {400, "GET", "/api/decode?z=a,b,c"}, {400, "GET", "/api/decode?z=nan,0,0"},
        {400, "GET", "/api/decode?z=0,inf,0"}, {400, "GET", "/api/decode?z=0,0,1e30"}, {400, "GET", "/api/decode?z=0,0,10001"},
        {400, "GET", "/api/decode?z=1,,2"}, {400, "GET", "/api/decode?z=1,2,3,"}, {400, "GET", "/api/decode?z=0x1p3,0,0x"},
        {400, "GET", "/api/decode?z=1,2,3&z=1,2,3"}, {400, "GET", "/api/decode?z=1,2,3&foo=1"},
        {400, "GET", "/api/decode?z"}, {400, "GET", "/api/decode?z=1,2,3&label=0"},
        {400, "GET", "/api/decode?z=1,2,3&model=other"}, {400, "GET", "/api/decode?z=%zz"},
        {400, "GET", "/api/decode?z=1%00,2,3"}, {400, "GET", "/api/decode?z=1,2,3%"}, {400, "GET", "/api/info?z=1"},
        {404, "GET", "/nothing"}, {404, "GET", "/api"}, {404, "GET", "/api/decode/"}, {400, "GET", ""},
        {400, "GET", "api/info"}, {405, "PUT", "/api/decode?z=1,2,3"}, {405, "GET", "/api/encode"},
        {405, "POST", "/"}, {405, "DELETE", "/api/info"}, {405, "BREW", "/api/points"},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) check_error(s, gets[i].status, gets[i].method, gets[i].uri, NULL, NULL, 0);
    check_error(s, 405, "GET", "/api/encode", NULL, NULL, 0);
    CHECK(res.allow && strcmp(res.allow, "POST") == 0, "405 names the method: %s", res.allow ? res.allow : "(none)");
    char *long_uri = malloc(VAE__SERVE_MAX_URI + 2);
    memset(long_uri, 'a', VAE__SERVE_MAX_URI + 1);
    long_uri[0] = '/', long_uri[VAE__SERVE_MAX_URI + 1] = '\0';
    check_error(s, 414, "GET", long_uri, NULL, NULL, 0);
    free(long_uri);
    char many[8192] = "/api/decode?z=0";
    for (int i = 1; i < Z * (VAE__SERVE_MAX_DECODE + 1); i++) strcat(many, ",0");
    check_error(s, 400, "GET", many, NULL, NULL, 0);

    uint8_t bytes[H * W + 1] = {0};
    static const uint8_t bad_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 1};
    float x[H * (W + 1)] = {0};
    uint8_t *png;
    size_t png_len;
    vae_mosaic_png("t", &png, &png_len, x, 1, 1, H, W + 1, 1, 1, 0);
    check_error(s, 415, "POST", "/api/encode", "image/jpeg", bytes, H * W);
    check_error(s, 400, "POST", "/api/encode", "application/octet-stream", bytes, H * W - 1);
    check_error(s, 400, "POST", "/api/encode", "application/octet-stream", bytes, H * W + 1);
    check_error(s, 400, "POST", "/api/encode", "text/plain", "1,2", 3);
    check_error(s, 400, "POST", "/api/encode", "text/plain", "[1,2", 4);
    check_error(s, 400, "POST", "/api/encode", "text/plain", "", 0);
    check_error(s, 400, "POST", "/api/encode", "text/plain", "0\0,1", 4);
    check_error(s, 400, "POST", "/api/encode", "image/png", bytes, H * W);
    check_error(s, 400, "POST", "/api/encode", "image/png", bad_png, sizeof bad_png);
    check_error(s, 400, "POST", "/api/encode", "image/png", png, png_len);
    vae_mem_free(png);
    char text[H * W * 4] = "";
    for (int i = 0; i < H * W; i++) strcat(text, i == 5 ? ",1.5" : i ? ",0" : "0"); // 1.5 is no Bernoulli grey value
    check_error(s, 400, "POST", "/api/encode", "application/json", text, strlen(text));
    check_error(s, 400, "POST", "/api/encode?label=1", "application/octet-stream", bytes, H * W);

    // the conditional model: a label in 0..2 is required; no compare model
    check_error(cond, 400, "GET", "/api/decode?z=1,2,3", NULL, NULL, 0);
    check_error(cond, 400, "GET", "/api/decode?z=1,2,3&label=3", NULL, NULL, 0);
    check_error(cond, 400, "GET", "/api/decode?z=1,2,3&label=-1", NULL, NULL, 0);
    check_error(cond, 400, "GET", "/api/decode?z=1,2,3&label=1x", NULL, NULL, 0);
    check_error(cond, 400, "GET", "/api/decode?z=1,2,3&label=", NULL, NULL, 0);
    check_error(cond, 404, "GET", "/api/points?model=compare", NULL, NULL, 0);
    CHECK(call(cond, "GET", "/api/decode?z=1,2,3&label=2", NULL, NULL, 0) == 200, "label 2: %d", res.status);
    CHECK(call(cond, "GET", "/api/points", NULL, NULL, 0) == 200 && strstr((const char *)res.body, "\"n\": 0"),
          "no points without data");
    CHECK(call(s, "GET", "/?v=1", NULL, NULL, 0) == 200 && res.len == sizeof page - 1, "the page");
}

/* Fail each allocation of a request in turn: the normal status or a 503, never anything else. */
static void test_alloc_failures(vae__serve *s) {
    static const uint8_t bytes[H * W] = {1, 2, 3};
    static const struct {
        const char *method, *uri, *type;
        const void *body;
        size_t len;
        int status;
    } reqs[] = {{"GET", "/api/decode?z=0.5,-1,2,1,1,1", NULL, NULL, 0, 200},
                {"POST", "/api/encode", "application/octet-stream", bytes, sizeof bytes, 200},
                {"POST", "/api/encode", "text/plain", "1,2", 3, 400},
                {"GET", "/api/decode?z=1&foo=2", NULL, NULL, 0, 400},
                {"GET", "/api/info", NULL, NULL, 0, 200}};
    for (size_t r = 0; r < sizeof reqs / sizeof reqs[0]; r++) {
        int bad = 0;
        for (long n = 1; n < 1000; n++) {
            vae_alloc_fail_at(n);
            int st = call(s, reqs[r].method, reqs[r].uri, reqs[r].type, reqs[r].body, reqs[r].len);
            long made = vae_alloc_count();
            vae_alloc_fail_at(0);
            if (st != reqs[r].status && st != 503) bad++;
            if (made < n) break; // the n-th allocation was never reached: every one has failed once
        }
        CHECK(bad == 0, "%s %s: %d answers neither %d nor 503 under allocation failures", reqs[r].method, reqs[r].uri,
              bad, reqs[r].status);
    }
}

static void test_init(void) {
    vae__serve s;
    vae_model *a = make_model(0, 0, 1), *b = make_model(0, 3, 2);
    CHECK(vae__serve_init(&s, a, "a", b, "b", assets, 1) == VAE_ERR_ARG, "models with other classes: %s",
          vae_last_error());
    CHECK(strstr(vae_last_error(), "cannot share one pad") != NULL, "message: %s", vae_last_error());
    vae__serve_free(&s);
}

int main(void) {
    vae__serve s, cond;
    vae_dataset ds;
    make_data(&ds);
    CHECK(vae__serve_init(&s, make_model(0, 0, 1), "vae.safetensors", make_model(1, 0, 2), "ae.safetensors",
                          assets, 1) == VAE_OK, "init: %s", vae_last_error());
    CHECK(vae__serve_points(&s, &ds, 1000) == VAE_OK, "points: %s", vae_last_error());
    CHECK(vae__serve_init(&cond, make_model(0, 3, 3), "cond.safetensors", NULL, NULL, assets, 1) == VAE_OK,
          "init: %s", vae_last_error());
    test_decode(&s);
    test_encode(&s, "/api/encode", s.m[0].model, NULL);
    test_encode(&s, "/api/encode?model=compare", s.m[1].model, NULL);
    int label = 2;
    test_encode(&cond, "/api/encode?label=2", cond.m[0].model, &label);
    test_points(&s, &ds);
    test_errors(&s, &cond);
    test_hostile_png(&s);
    test_alloc_failures(&s);
    test_init();
    vae__http_response_free(&res);
    vae__serve_free(&s);
    vae__serve_free(&cond);
    vae_dataset_free(&ds);
    TEST_MAIN_END();
}
