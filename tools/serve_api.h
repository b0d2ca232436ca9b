/* serve_api.h: the HTTP requests of `vae serve` as plain functions, without sockets.
 *
 * A request is (method, raw URI with its query, content type, body); the answer is (status, content type,
 * body). tools/serve.c connects these functions to libmicrohttpd; tests/fuzz/fuzz_http.c calls them
 * directly. Every request gets an answer: a 4xx or 5xx carries a JSON object {"error": "..."}.
 *
 *   GET  /                 the page (and its /app.js, /style.css), from the assets built into the binary
 *   GET  /api/info         the models' configurations as JSON
 *   GET  /api/decode?z=z1,...,zZ[,...][&label=L][&model=compare]
 *                          the decoder's mean for 1..VAE__SERVE_MAX_DECODE latent vectors (Z values each),
 *                          as one PNG strip at scale 1
 *   POST /api/encode[?label=L][&model=compare]
 *                          body: a PNG of the model's image size (image/png), D grey bytes
 *                          (application/octet-stream) or D numbers as "v1,v2,..." or "[v1, v2, ...]"
 *                          (text/plain, application/json); answer {"mu": [Z], "logvar": [Z]}
 *   GET  /api/points[?model=compare]
 *                          the latent means of the --data test images: {"n", "latent", "mu": [n*Z], "labels"}
 * HEAD is answered as GET. Bounds: the URI (VAE__SERVE_MAX_URI), the body (VAE__SERVE_MAX_BODY), latent
 * values (|z| <= VAE__SERVE_MAX_Z), images per decode (VAE__SERVE_MAX_DECODE).
 *
 * One vae__serve is not safe for concurrent calls (the models own their activation buffers): the server
 * calls it from one thread. */
#ifndef VAE_SERVE_API_H
#define VAE_SERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "vae.h"

#define VAE__SERVE_MAX_URI (16 * 1024)   /* bytes of path + query */
#define VAE__SERVE_MAX_BODY (1 << 20)    /* bytes of a request body */
#define VAE__SERVE_MAX_DECODE 32         /* latent vectors per /api/decode (an interpolation strip) */
#define VAE__SERVE_MAX_Z 1e4f            /* largest |z| accepted */

/** A file of the page, built into the binary (build/web_assets.c, made by scripts/embed-web). */
typedef struct {
    const char *path;          /* "/", "/app.js" */
    const char *type;          /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} vae__asset;

/** The page's files (web/), built into the `vae` binary by scripts/embed-web. */
extern const vae__asset vae__web_assets[];
extern const int vae__web_n_assets;

/** One model the server answers for: the --model one, or the --compare one. */
typedef struct {
    vae_model *model;          /* NULL: no such model */
    const char *path;          /* its checkpoint, shown by /api/info */
    char *points_json;         /* the body of /api/points (vae__serve_points) */
    size_t points_len;
    float *z, *x;              /* scratch: (VAE__SERVE_MAX_DECODE, Z) and (VAE__SERVE_MAX_DECODE, D) */
    int labels[VAE__SERVE_MAX_DECODE];
} vae__serve_model;

typedef struct {
    vae__serve_model m[2];     /* [0] --model, [1] --compare */
    const vae__asset *assets;
    int n_assets;
    char *info_json;           /* the body of /api/info */
    size_t info_len;
} vae__serve;

typedef struct {
    const char *method;        /* "GET", "POST", ... */
    const char *uri;           /* path and query as received: "/api/decode?z=0.5%2C-1" */
    const char *content_type;  /* may be NULL */
    const uint8_t *body;
    size_t body_len;
} vae__http_request;

typedef struct {
    int status;                /* 200, 400, ... */
    const char *type;          /* Content-Type */
    const uint8_t *body;       /* the answer's bytes (points into owned or into long-lived data) */
    size_t len;
    uint8_t *owned;            /* freed by vae__http_response_free */
    const char *allow;         /* the Allow header of a 405, else NULL */
} vae__http_response;

/**
 * Set up a server over models that share their image shape, latent size and classes (m1 may be NULL).
 * The server owns the models from then on (vae__serve_free frees them); the paths are kept by pointer.
 * Without points, /api/points answers n = 0 until vae__serve_points is called.
 */
vae_status vae__serve_init(vae__serve *s, vae_model *m0, const char *path0, vae_model *m1, const char *path1,
                           const vae__asset *assets, int n_assets);

/** Encode the first n images of ds (test images, labels used by conditional models) with each model, for
 *  /api/points. */
vae_status vae__serve_points(vae__serve *s, const vae_dataset *ds, int n);

/** Free what the server owns (models included) and zero it. */
void vae__serve_free(vae__serve *s);

/** Answer one request. res is always filled (on allocation failure with a static 503 JSON body). */
void vae__serve_handle(vae__serve *s, const vae__http_request *req, vae__http_response *res);

/** Free what the answer owns. */
void vae__http_response_free(vae__http_response *res);

#endif /* VAE_SERVE_API_H */
