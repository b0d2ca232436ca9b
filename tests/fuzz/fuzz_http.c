/* fuzz_http.c: libFuzzer target for the requests of `vae serve` (tools/serve_api.c, vae__serve_handle),
 * without sockets.
 *
 * One input is one request: byte 0 picks the server (bit 7: a conditional VAE of 3 classes, else a VAE
 * with an autoencoder to compare) and the method (bits 0-2: GET, HEAD, POST, PUT, DELETE, OPTIONS, "" or
 * "get"), byte 1 the Content-Type (none, image/png, application/octet-stream, text/plain, application/json,
 * "image/png; x=1", "TEXT/PLAIN" or "a/b"), then the URI up to the first newline (a NUL in it ends it
 * early, as a C string), then the body. The models (7x5 images, latent 3) and the points of 10 test images
 * are made once. Oracles beyond the sanitizers: every status is 200 or a 4xx (a 5xx would be a bug: no
 * allocation fails here); every JSON answer parses (cJSON) and every error holds an "error" string; every
 * PNG answer decodes (stb_image) to a strip of 1..32 images of 7x5 pixels. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <stb_image.h>

#include "serve_api.h"
#include "../serve_fixture.h"

#define H 7
#define W 5

static vae__serve servers[2];
static const unsigned char page[] = "<!doctype html><title>fuzz</title>";
static const vae__asset assets[] = {{"/", "text/html; charset=utf-8", page, sizeof page - 1}};

static vae_model *make_model(int ae, int classes, uint64_t seed) { return serve_fixture_model(H, W, 8, ae, classes, seed); }

static void free_servers(void) {
    vae__serve_free(&servers[0]);
    vae__serve_free(&servers[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (vae__serve_init(&servers[0], make_model(0, 0, 1), "vae", make_model(1, 0, 2), "ae", assets, 1) ||
        vae__serve_init(&servers[1], make_model(0, 3, 3), "cond", NULL, NULL, assets, 1))
        abort();
    vae_dataset ds = {.n = 10, .height = H, .width = W, .channels = 1, .dim = H * W, .n_classes = 3};
    uint8_t pixels[10 * H * W], labels[10];
    for (int i = 0; i < 10 * H * W; i++) pixels[i] = (uint8_t)(i * 29);
    for (int i = 0; i < 10; i++) labels[i] = (uint8_t)(i % 3);
    ds.pixels = pixels, ds.labels = labels;
    if (vae__serve_points(&servers[0], &ds, 10) || vae__serve_points(&servers[1], &ds, 10)) abort();
    atexit(free_servers);
    return 0;
}

static void check_answer(const vae__http_response *res) {
    if (res->status != 200 && (res->status < 400 || res->status > 499)) abort();
    if (!res->type || (!res->body && res->len)) abort();
    if (strcmp(res->type, "application/json") == 0) {
        cJSON *j = cJSON_ParseWithLength((const char *)res->body, res->len);
        if (!j) abort();
        if (res->status != 200 && !cJSON_IsString(cJSON_GetObjectItem(j, "error"))) abort();
        cJSON_Delete(j);
    } else if (strcmp(res->type, "image/png") == 0) {
        int w, h, c;
        unsigned char *pix = stbi_load_from_memory(res->body, (int)res->len, &w, &h, &c, 1);
        if (!pix || h != H || w % W || w / W < 1 || w / W > VAE__SERVE_MAX_DECODE) abort();
        stbi_image_free(pix);
    } else if (res->status != 200) {
        abort(); // errors are JSON
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "", "get"};
    static const char *const types[] = {NULL, "image/png", "application/octet-stream", "text/plain",
                                        "application/json", "image/png; x=1", "TEXT/PLAIN", "a/b"};
    if (size < 2) return 0;
    vae__serve *s = &servers[data[0] >> 7];
    const uint8_t *rest = data + 2, *end = data + size;
    const uint8_t *nl = memchr(rest, '\n', (size_t)(end - rest));
    size_t uri_len = nl ? (size_t)(nl - rest) : (size_t)(end - rest);
    char *uri = malloc(uri_len + 1);
    if (!uri) abort();
    memcpy(uri, rest, uri_len);
    uri[uri_len] = '\0';
    const uint8_t *body = nl ? nl + 1 : end;
    vae__http_request req = {.method = methods[data[0] & 7], .uri = uri, .content_type = types[data[1] & 7],
                             .body = body, .body_len = (size_t)(end - body)};
    vae__http_response res;
    vae__serve_handle(s, &req, &res);
    check_answer(&res);
    vae__http_response_free(&res);
    free(uri);
    return 0;
}
