/* serve_api.c: the requests of `vae serve` (see serve_api.h): routing, query and body parsing with their
 * bounds, the four API calls, the built-in page, and JSON answers written with one small buffer type.
 *
 * Everything a client sends is checked before it reaches the model: the URI's length and percent-escapes,
 * each query parameter (known names only, each at most once), latent values (finite, |z| <= MAX_Z, a
 * whole number of vectors), labels (a class of a conditional model, none otherwise), bodies (length,
 * content type, PNG size, grey values in [0, 1] for Bernoulli models). Error messages quote what the
 * client sent, escaped, so every JSON answer is valid JSON whatever the input bytes. */
#include "serve_api.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb_image.h>
#include <zlib.h>

#include "cli.h"
#include "common.h"
#include "image.h"

/* ---------------------------------------------------------------- answers */

/* A growing text buffer; after a failed allocation it stays failed and keeps nothing. */
typedef struct {
    char *s;
    size_t len, cap;
    int nomem;
} text_buf;

static int tb_reserve(text_buf *b, size_t more) {
    if (b->nomem) return -1;
    if (b->len + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *grown = vae_realloc(b->s, cap);
    if (!grown) {
        vae_mem_free(b->s);
        *b = (text_buf){.nomem = 1};
        return -1;
    }
    b->s = grown;
    b->cap = cap;
    return 0;
}

static void tb_printf(text_buf *b, const char *fmt, ...) VAE_PRINTF(2, 3);
static void tb_printf(text_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || tb_reserve(b, (size_t)n)) return;
    if ((size_t)n < sizeof small) {
        memcpy(b->s + b->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* A JSON string of arbitrary bytes: quotes, backslashes, control characters and every byte >= 0x80 escaped
 * (bytes, not necessarily UTF-8, become \u00XX), so the text is plain ASCII JSON. */
static void tb_json_string(text_buf *b, const char *s, size_t n) {
    tb_printf(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') tb_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) tb_printf(b, "\\u%04x", c);
        else tb_printf(b, "%c", c);
    }
    tb_printf(b, "\"");
}

/* A JSON array of floats (%.6g: what the page needs; finite by construction). */
static void tb_json_floats(text_buf *b, const float *v, int n) {
    tb_printf(b, "[");
    for (int i = 0; i < n; i++) tb_printf(b, i ? ",%.6g" : "%.6g", isfinite(v[i]) ? v[i] : 0.0f);
    tb_printf(b, "]");
}

static const char nomem_json[] = "{\"error\": \"out of memory\"}";

static void respond_nomem(vae__http_response *res) {
    res->status = 503;
    res->type = "application/json";
    res->body = (const uint8_t *)nomem_json;
    res->len = sizeof nomem_json - 1;
}

/* Hand a finished buffer over to the answer. */
static void respond_text(vae__http_response *res, int status, const char *type, text_buf *b) {
    if (b->nomem || !b->s) {
        respond_nomem(res);
        return;
    }
    res->status = status;
    res->type = type;
    res->owned = (uint8_t *)b->s;
    res->body = res->owned;
    res->len = b->len;
    *b = (text_buf){0};
}

/* {"error": "message"} with the given status. */
static void respond_error(vae__http_response *res, int status, const char *fmt, ...) VAE_PRINTF(3, 4);
static void respond_error(vae__http_response *res, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    text_buf b = {0};
    tb_printf(&b, "{\"error\": ");
    tb_json_string(&b, msg, strlen(msg));
    tb_printf(&b, "}");
    respond_text(res, status, "application/json", &b);
}

/* A library call's failure as an answer (503 out of memory, else 500 with its message); 0 when st is OK. */
static int library_failed(vae_status st, vae__http_response *res) {
    if (st == VAE_OK) return 0;
    if (st == VAE_ERR_NOMEM) respond_nomem(res);
    else respond_error(res, 500, "%s", vae_last_error());
    return 1;
}

void vae__http_response_free(vae__http_response *res) {
    if (!res) return;
    vae_mem_free(res->owned);
    memset(res, 0, sizeof *res);
}

/* A client's text inside an error message: at most 40 bytes, "..." when cut. */
static const char *quote(const char *s, char *buf, size_t n) {
    size_t len = strlen(s);
    if (len < n) return s;
    snprintf(buf, n, "%.*s...", (int)(n - 4), s);
    return buf;
}

/* ---------------------------------------------------------------- the query */

typedef struct {
    const char *z;      /* decoded text of z=, or NULL */
    const char *label;  /* decoded text of label=, or NULL */
    const char *model;  /* decoded text of model=, or NULL */
} api_query;

enum { Q_Z = 1, Q_LABEL = 2, Q_MODEL = 4 };

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode %XX and '+' in place over [s, end); returns the new end, or NULL for a broken escape or a NUL. */
static char *percent_decode(char *s, char *end) {
    char *w = s;
    for (char *r = s; r < end; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%') {
            int hi = r + 2 < end ? hex_digit(r[1]) : -1, lo = r + 2 < end ? hex_digit(r[2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return NULL;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    return w;
}

/* Split "k=v&k=v" (modified in place) into q, accepting the parameters in `allowed`. On error fills res. */
static int parse_query(char *query, int allowed, api_query *q, vae__http_response *res) {
    static const struct {
        const char *name;
        int bit;
        size_t offset;
    } params[] = {{"z", Q_Z, offsetof(api_query, z)},
                  {"label", Q_LABEL, offsetof(api_query, label)},
                  {"model", Q_MODEL, offsetof(api_query, model)}};
    memset(q, 0, sizeof *q);
    if (!query) return 0;
    char *p = query;
    while (*p) {
        char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        char *eq = memchr(p, '=', (size_t)(end - p));
        char *key_end = eq ? eq : end;
        char *k_end = percent_decode(p, key_end);
        char *v = eq ? eq + 1 : end, *v_end = eq ? percent_decode(v, end) : end;
        if (!k_end || !v_end) {
            respond_error(res, 400, "the query holds a broken %%-escape or a NUL byte");
            return -1;
        }
        *k_end = '\0';
        *v_end = '\0';
        if (*p) { // empty pieces ("a=1&&b=2", a trailing '&') are skipped
            size_t i = 0, n = sizeof params / sizeof params[0];
            while (i < n && strcmp(params[i].name, p) != 0) i++;
            char shown[48];
            if (i == n || !(allowed & params[i].bit)) {
                respond_error(res, 400, "unknown query parameter '%s' here", quote(p, shown, sizeof shown));
                return -1;
            }
            const char **slot = (const char **)((char *)q + params[i].offset);
            if (*slot) {
                respond_error(res, 400, "query parameter '%s' given twice", params[i].name);
                return -1;
            }
            if (!eq) {
                respond_error(res, 400, "query parameter '%s' needs a value (%s=...)", params[i].name, params[i].name);
                return -1;
            }
            *slot = v;
        }
        if (!amp) break;
        p = amp + 1;
    }
    return 0;
}

/* The model named by model= ("main", the default, or "compare"); NULL after filling res. */
static vae__serve_model *pick_model(vae__serve *s, const api_query *q, vae__http_response *res) {
    if (!q->model || strcmp(q->model, "main") == 0) return &s->m[0];
    if (strcmp(q->model, "compare") == 0) {
        if (s->m[1].model) return &s->m[1];
        respond_error(res, 404, "model=compare: the server runs without --compare");
        return NULL;
    }
    char shown[48];
    respond_error(res, 400, "model='%s': use main or compare", quote(q->model, shown, sizeof shown));
    return NULL;
}

/* label= against the model: required by a conditional model (0..K-1), refused by the others. Fills
 * sm->labels[0..n) with it; returns -1 after filling res. */
static int pick_label(vae__serve_model *sm, const api_query *q, int n, vae__http_response *res) {
    int K = vae_get_config(sm->model)->n_classes;
    char shown[48];
    if (K == 0) {
        if (!q->label) return 0;
        respond_error(res, 400, "label=%s: the model is not conditional", quote(q->label, shown, sizeof shown));
        return -1;
    }
    if (!q->label) {
        respond_error(res, 400, "label is required: the model is conditional (classes 0..%d)", K - 1);
        return -1;
    }
    char *end;
    long v = strtol(q->label, &end, 10);
    if (end == q->label || *end || !isdigit((unsigned char)q->label[0]) || v < 0 || v >= K) {
        respond_error(res, 400, "label='%s': not a class of the model (0..%d)", quote(q->label, shown, sizeof shown),
                      K - 1);
        return -1;
    }
    for (int i = 0; i < n; i++) sm->labels[i] = (int)v;
    return 0;
}

/* ---------------------------------------------------------------- the calls */

/* GET /api/decode?z=...[&label=L][&model=compare]: a PNG strip of the decoded images. */
static void api_decode(vae__serve *s, const api_query *q, vae__http_response *res) {
    vae__serve_model *sm = pick_model(s, q, res);
    if (!sm) return;
    const vae_config *c = vae_get_config(sm->model);
    int Z = c->n_latent;
    char shown[48];
    if (!q->z) {
        respond_error(res, 400, "z is required: %d comma-separated numbers per image", Z);
        return;
    }
    int nz = vae__parse_float_list(q->z, sm->z, Z * VAE__SERVE_MAX_DECODE);
    if (nz < 0) {
        respond_error(res, 400, "z='%s': not a comma-separated list of finite numbers", quote(q->z, shown, sizeof shown));
        return;
    }
    if (nz == 0 || nz % Z || nz / Z > VAE__SERVE_MAX_DECODE) {
        respond_error(res, 400, "z: %d values given; the model's latent size is %d (1 to %d vectors of %d values)", nz,
                      Z, VAE__SERVE_MAX_DECODE, Z);
        return;
    }
    for (int i = 0; i < nz; i++)
        if (!(fabsf(sm->z[i]) <= VAE__SERVE_MAX_Z)) {
            respond_error(res, 400, "z: value %g is out of range (|z| <= %g)", sm->z[i], VAE__SERVE_MAX_Z);
            return;
        }
    int n = nz / Z;
    if (pick_label(sm, q, n, res)) return;
    vae_status st = vae_decode(sm->model, sm->z, c->n_classes ? sm->labels : NULL, n, sm->x);
    uint8_t *png = NULL;
    size_t len = 0;
    if (st == VAE_OK) st = vae_mosaic_png("decode", &png, &len, sm->x, n, n, c->height, c->width, c->channels, 1, 0);
    if (library_failed(st, res)) return;
    res->status = 200;
    res->type = "image/png";
    res->owned = png;
    res->body = png;
    res->len = len;
}

/* 1 if the media type of content_type (before any ';' parameters, case-insensitive) is `type`. */
static int media_type_is(const char *content_type, const char *type) {
    if (!content_type) return 0;
    size_t n = strlen(type);
    if (strncasecmp(content_type, type, n) != 0) return 0;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Whether a PNG's chunks all lie inside its len bytes (up to IEND) and its pixel data inflates to at most
 * `limit` bytes. stb_image trusts both: it grows its buffer to each chunk's declared length before reading
 * it (a 100-byte file declaring a 3 GB chunk costs 3 GB), and inflates the data into a buffer that grows
 * as far as the stream goes (a 1 MiB deflate bomb inflates to 1 GB). Checked here first with zlib, in a
 * fixed 16 KiB window. */
static int png_bounded(const uint8_t *p, size_t len, size_t limit) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return 0;
    uint8_t window[16384];
    size_t off = 8, total = 0;
    int ok = 0, zrc = Z_OK;
    while (off + 12 <= len) {
        uint32_t n = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 | (uint32_t)p[off + 2] << 8 | p[off + 3];
        if (n > len - off - 12) break;
        const uint8_t *type = p + off + 4, *data = p + off + 8;
        if (memcmp(type, "IEND", 4) == 0) {
            ok = zrc == Z_STREAM_END;
            break;
        }
        if (memcmp(type, "IDAT", 4) == 0 && zrc == Z_OK) {
            zs.next_in = (Bytef *)data;
            zs.avail_in = n;
            while (zrc == Z_OK && zs.avail_in > 0 && total <= limit) {
                zs.next_out = window;
                zs.avail_out = sizeof window;
                zrc = inflate(&zs, Z_NO_FLUSH);
                total += sizeof window - zs.avail_out;
                if (zrc == Z_BUF_ERROR && zs.avail_out > 0) zrc = Z_OK; // needs the next chunk's input
            }
            if (total > limit || (zrc != Z_OK && zrc != Z_STREAM_END)) break;
        }
        off += 12 + (size_t)n;
    }
    inflateEnd(&zs);
    return ok && total <= limit;
}

/* A PNG body of exactly the model's height and width into x (D floats in [0, 1]). */
static int read_png(const vae_config *c, const uint8_t *body, size_t len, float *x, vae__http_response *res) {
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int w, h, comp;
    if (len < 8 || memcmp(body, magic, 8) != 0) {
        respond_error(res, 400, "the body is not a PNG file (Content-Type: image/png)");
        return -1;
    }
    if (!stbi_info_from_memory(body, (int)len, &w, &h, &comp)) {
        respond_error(res, 400, "the PNG's header is damaged");
        return -1;
    }
    if (w != c->width || h != c->height) {
        respond_error(res, 400, "the PNG is %dx%d pixels; the model's images are %dx%d", w, h, c->width, c->height);
        return -1;
    }
    // the most an image of this size can inflate to: 16-bit RGBA, a filter byte per row, Adam7's extra rows
    if (!png_bounded(body, len, 2 * (size_t)h * (1 + (size_t)w * 8) + 1024)) {
        respond_error(res, 400, "the PNG's chunks or pixel data are damaged or larger than its size allows");
        return -1;
    }
    int w2, h2, c2;
    unsigned char *pix = stbi_load_from_memory(body, (int)len, &w2, &h2, &c2, c->channels);
    if (!pix || w2 != w || h2 != h) {
        stbi_image_free(pix);
        respond_error(res, 400, "the PNG cannot be decoded: %s", stbi_failure_reason() ? stbi_failure_reason() : "?");
        return -1;
    }
    size_t D = (size_t)w * (size_t)h * (size_t)c->channels;
    for (size_t i = 0; i < D; i++) x[i] = pix[i] / 255.0f;
    stbi_image_free(pix);
    return 0;
}

/* D numbers as "v1,v2,..." or "[v1, v2, ...]" (whitespace around the list allowed). */
static int read_numbers(const vae_config *c, const uint8_t *body, size_t len, float *x, vae__http_response *res) {
    int D = c->height * c->width * c->channels;
    size_t a = 0, b = len;
    while (a < b && isspace(body[a])) a++;
    while (b > a && isspace(body[b - 1])) b--;
    if (a < b && body[a] == '[') {
        if (body[b - 1] != ']') {
            respond_error(res, 400, "the body opens a JSON array with '[' but does not close it");
            return -1;
        }
        a++, b--;
    }
    if (memchr(body + a, '\0', b - a)) {
        respond_error(res, 400, "the body holds a NUL byte");
        return -1;
    }
    char *text = vae_malloc(b - a + 1);
    if (!text) {
        respond_nomem(res);
        return -1;
    }
    memcpy(text, body + a, b - a);
    text[b - a] = '\0';
    int n = vae__parse_float_list(text, x, D);
    vae_mem_free(text);
    if (n < 0) {
        respond_error(res, 400, "the body is not a comma-separated list of finite numbers");
        return -1;
    }
    if (n != D) {
        respond_error(res, 400, "the body holds %d values; the model's images have %d (%dx%dx%d)", n, D, c->height,
                      c->width, c->channels);
        return -1;
    }
    return 0;
}

/* The body of POST /api/encode into x (D floats), by its content type. */
static int read_image(const vae_config *c, const vae__http_request *req, float *x, vae__http_response *res) {
    int D = c->height * c->width * c->channels;
    if (media_type_is(req->content_type, "image/png")) return read_png(c, req->body, req->body_len, x, res);
    if (media_type_is(req->content_type, "application/octet-stream")) {
        if (req->body_len != (size_t)D) {
            respond_error(res, 400, "the body holds %zu bytes; the model's images have %d grey values (%dx%dx%d)",
                          req->body_len, D, c->height, c->width, c->channels);
            return -1;
        }
        for (int i = 0; i < D; i++) x[i] = req->body[i] / 255.0f;
        return 0;
    }
    if (!req->content_type || media_type_is(req->content_type, "text/plain") ||
        media_type_is(req->content_type, "application/json")) {
        if (read_numbers(c, req->body, req->body_len, x, res)) return -1;
        float hi = c->likelihood == VAE_BERNOULLI ? 1.0f : VAE__SERVE_MAX_Z;
        float lo = c->likelihood == VAE_BERNOULLI ? 0.0f : -VAE__SERVE_MAX_Z;
        for (int i = 0; i < D; i++)
            if (!(x[i] >= lo && x[i] <= hi)) {
                respond_error(res, 400, "value %d of the body, %g, is out of range %g..%g", i + 1, x[i], lo, hi);
                return -1;
            }
        return 0;
    }
    char shown[48];
    respond_error(res, 415, "Content-Type '%s': send image/png, application/octet-stream (grey bytes) or text/plain "
                  "(numbers)", quote(req->content_type, shown, sizeof shown));
    return -1;
}

/* POST /api/encode[?label=L][&model=compare]: {"mu": [...], "logvar": [...]} of the body's image. */
static void api_encode(vae__serve *s, const api_query *q, const vae__http_request *req, vae__http_response *res) {
    vae__serve_model *sm = pick_model(s, q, res);
    if (!sm) return;
    const vae_config *c = vae_get_config(sm->model);
    int Z = c->n_latent;
    if (pick_label(sm, q, 1, res) || read_image(c, req, sm->x, res)) return;
    float *mu = sm->z, *logvar = sm->z + Z; // the scratch holds VAE__SERVE_MAX_DECODE >= 2 vectors
    vae_status st = vae_encode(sm->model, sm->x, c->n_classes ? sm->labels : NULL, 1, mu, logvar);
    if (library_failed(st, res)) return;
    text_buf b = {0};
    tb_printf(&b, "{\"mu\": ");
    tb_json_floats(&b, mu, Z);
    tb_printf(&b, ", \"logvar\": ");
    tb_json_floats(&b, logvar, Z);
    tb_printf(&b, "}");
    respond_text(res, 200, "application/json", &b);
}

/* GET /api/points[?model=compare] and GET /api/info: prepared once. */
static void respond_prepared(vae__http_response *res, const char *json, size_t len) {
    res->status = 200;
    res->type = "application/json";
    res->body = (const uint8_t *)json;
    res->len = len;
}

static const char no_points_json[] = "{\"n\": 0, \"mu\": [], \"labels\": null}";

static void api_points(vae__serve *s, const api_query *q, vae__http_response *res) {
    vae__serve_model *sm = pick_model(s, q, res);
    if (!sm) return;
    if (sm->points_json) respond_prepared(res, sm->points_json, sm->points_len);
    else respond_prepared(res, no_points_json, sizeof no_points_json - 1);
}

/* ---------------------------------------------------------------- routing */

typedef enum { CALL_INFO, CALL_DECODE, CALL_ENCODE, CALL_POINTS } api_call;

static const struct {
    const char *path;
    api_call call;
    const char *method; /* the one method besides HEAD (for GET) */
    int params;         /* the query parameters it takes */
} routes[] = {
    {"/api/info", CALL_INFO, "GET", 0},
    {"/api/decode", CALL_DECODE, "GET", Q_Z | Q_LABEL | Q_MODEL},
    {"/api/encode", CALL_ENCODE, "POST", Q_LABEL | Q_MODEL},
    {"/api/points", CALL_POINTS, "GET", Q_MODEL},
};

static int method_is_get(const char *method) { return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0; }

/* The page's files: GET and HEAD only; a query is ignored. */
static void serve_asset(vae__serve *s, const char *method, const char *path, vae__http_response *res) {
    for (int i = 0; i < s->n_assets; i++) {
        if (strcmp(s->assets[i].path, path) != 0) continue;
        if (!method_is_get(method)) {
            res->allow = "GET, HEAD";
            respond_error(res, 405, "%s takes GET", s->assets[i].path);
            return;
        }
        res->status = 200;
        res->type = s->assets[i].type;
        res->body = s->assets[i].data;
        res->len = s->assets[i].len;
        return;
    }
    char shown[48];
    respond_error(res, 404, "no such path: '%s'", quote(path, shown, sizeof shown));
}

void vae__serve_handle(vae__serve *s, const vae__http_request *req, vae__http_response *res) {
    memset(res, 0, sizeof *res);
    if (!req->method || !req->uri) {
        respond_error(res, 400, "no method or URI");
        return;
    }
    size_t ulen = strlen(req->uri);
    if (ulen > VAE__SERVE_MAX_URI) {
        respond_error(res, 414, "the URI is %zu bytes long; at most %d", ulen, VAE__SERVE_MAX_URI);
        return;
    }
    if (req->uri[0] != '/') {
        respond_error(res, 400, "the URI must start with '/'");
        return;
    }
    char uri[VAE__SERVE_MAX_URI + 1];
    memcpy(uri, req->uri, ulen + 1);
    char *query = strchr(uri, '?');
    if (query) *query++ = '\0';
    size_t n_routes = sizeof routes / sizeof routes[0], r = 0;
    while (r < n_routes && strcmp(routes[r].path, uri) != 0) r++;
    if (r == n_routes) {
        serve_asset(s, req->method, uri, res);
        return;
    }
    int get = strcmp(routes[r].method, "GET") == 0;
    if (get ? !method_is_get(req->method) : strcmp(req->method, routes[r].method) != 0) {
        char shown[48];
        res->allow = get ? "GET, HEAD" : routes[r].method;
        respond_error(res, 405, "%s takes %s, not '%s'", routes[r].path, routes[r].method,
                      quote(req->method, shown, sizeof shown));
        return;
    }
    api_query q;
    if (parse_query(query, routes[r].params, &q, res)) return;
    switch (routes[r].call) {
    case CALL_INFO: respond_prepared(res, s->info_json, s->info_len); break;
    case CALL_DECODE: api_decode(s, &q, res); break;
    case CALL_ENCODE: api_encode(s, &q, req, res); break;
    case CALL_POINTS: api_points(s, &q, res); break;
    }
}

/* ---------------------------------------------------------------- set-up */

static void info_model(text_buf *b, const vae_model *m, const char *path) {
    static const char *const likelihoods[] = {"bernoulli", "gaussian"}, *const activations[] = {"relu", "tanh"},
                             *const archs[] = {"mlp", "conv"};
    const vae_config *c = vae_get_config(m);
    tb_printf(b, "{\"path\": ");
    tb_json_string(b, path, strlen(path));
    tb_printf(b, ", \"height\": %d, \"width\": %d, \"channels\": %d, \"latent\": %d, \"classes\": %d, \"ae\": %s, ",
              c->height, c->width, c->channels, c->n_latent, c->n_classes, c->ae ? "true" : "false");
    tb_printf(b, "\"likelihood\": \"%s\", \"activation\": \"%s\", \"arch\": \"%s\", \"hidden\": [",
              likelihoods[c->likelihood == VAE_GAUSSIAN], activations[c->activation == VAE_TANH],
              archs[c->arch == VAE_CONV]);
    for (int i = 0; i < c->n_hidden; i++) tb_printf(b, i ? ", %d" : "%d", c->hidden[i]);
    tb_printf(b, "], \"params\": %zu}", vae_num_params(m));
}

/* /api/info: {"models": [main, compare?], "max_decode": N, "max_z": X, "points": n}. */
static vae_status build_info(vae__serve *s, int n_points) {
    text_buf b = {0};
    tb_printf(&b, "{\"models\": [");
    for (int i = 0; i < 2; i++)
        if (s->m[i].model) {
            if (i) tb_printf(&b, ", ");
            info_model(&b, s->m[i].model, s->m[i].path);
        }
    tb_printf(&b, "], \"max_decode\": %d, \"max_z\": %g, \"points\": %d}", VAE__SERVE_MAX_DECODE, VAE__SERVE_MAX_Z,
              n_points);
    if (b.nomem) return vae_fail(VAE_ERR_NOMEM, "out of memory for /api/info");
    vae_mem_free(s->info_json);
    s->info_json = b.s;
    s->info_len = b.len;
    return VAE_OK;
}

vae_status vae__serve_init(vae__serve *s, vae_model *m0, const char *path0, vae_model *m1, const char *path1,
                           const vae__asset *assets, int n_assets) {
    memset(s, 0, sizeof *s);
    s->m[0].model = m0, s->m[0].path = path0;
    s->m[1].model = m1, s->m[1].path = m1 ? path1 : NULL;
    s->assets = assets;
    s->n_assets = n_assets;
    if (!m0) return vae_fail(VAE_ERR_ARG, "serve: no model");
    const vae_config *c0 = vae_get_config(m0);
    if (m1) {
        const vae_config *c1 = vae_get_config(m1);
        if (c1->height != c0->height || c1->width != c0->width || c1->channels != c0->channels ||
            c1->n_latent != c0->n_latent || c1->n_classes != c0->n_classes)
            return vae_fail(VAE_ERR_ARG, "%s and %s differ in image shape (%dx%dx%d, %dx%dx%d), latent size (%d, %d) "
                            "or classes (%d, %d): they cannot share one pad", path0, path1, c0->height, c0->width,
                            c0->channels, c1->height, c1->width, c1->channels, c0->n_latent, c1->n_latent,
                            c0->n_classes, c1->n_classes);
    }
    if (c0->channels != 1 && c0->channels != 3)
        return vae_fail(VAE_ERR_ARG, "%s: images of %d channels cannot be shown as PNG", path0, c0->channels);
    for (int i = 0; i < 2; i++) {
        vae__serve_model *sm = &s->m[i];
        if (!sm->model) continue;
        if (vae_max_batch(sm->model) < VAE__SERVE_MAX_DECODE)
            return vae_fail(VAE_ERR_ARG, "%s: loaded for %d images per call; serve needs %d", sm->path,
                            vae_max_batch(sm->model), VAE__SERVE_MAX_DECODE);
        const vae_config *c = vae_get_config(sm->model);
        sm->z = vae_malloc((size_t)VAE__SERVE_MAX_DECODE * (size_t)c->n_latent * sizeof(float));
        sm->x = vae_malloc((size_t)VAE__SERVE_MAX_DECODE * (size_t)c->height * c->width * c->channels * sizeof(float));
        if (!sm->z || !sm->x) return vae_fail(VAE_ERR_NOMEM, "out of memory for the server's buffers");
    }
    return build_info(s, 0);
}

/* The latent means of ds's first n images under one model, as the body of /api/points. */
static vae_status points_json(vae__serve_model *sm, const vae_dataset *ds, int n) {
    const vae_config *c = vae_get_config(sm->model);
    int Z = c->n_latent, B = VAE__SERVE_MAX_DECODE;
    text_buf b = {0};
    tb_printf(&b, "{\"n\": %d, \"latent\": %d, \"mu\": [", n, Z);
    for (int start = 0; start < n; start += B) {
        int nb = n - start < B ? n - start : B;
        vae_dataset_batch(ds, NULL, start, nb, sm->x);
        vae_dataset_batch_labels(ds, NULL, start, nb, sm->labels);
        vae_status st = vae_encode(sm->model, sm->x, c->n_classes ? sm->labels : NULL, nb, sm->z, NULL);
        if (st != VAE_OK) {
            vae_mem_free(b.s);
            return st;
        }
        for (int i = 0; i < nb * Z; i++)
            tb_printf(&b, start + i ? ",%.5g" : "%.5g", isfinite(sm->z[i]) ? sm->z[i] : 0.0f);
    }
    tb_printf(&b, "], \"labels\": ");
    if (ds->labels) {
        tb_printf(&b, "[");
        for (int i = 0; i < n; i++) tb_printf(&b, i ? ",%d" : "%d", ds->labels[i]);
        tb_printf(&b, "]}");
    } else {
        tb_printf(&b, "null}");
    }
    if (b.nomem) return vae_fail(VAE_ERR_NOMEM, "out of memory for the points of %d images", n);
    vae_mem_free(sm->points_json);
    sm->points_json = b.s;
    sm->points_len = b.len;
    return VAE_OK;
}

vae_status vae__serve_points(vae__serve *s, const vae_dataset *ds, int n) {
    const vae_config *c = vae_get_config(s->m[0].model);
    if (ds->height != c->height || ds->width != c->width || ds->channels != c->channels)
        return vae_fail(VAE_ERR_ARG, "the data's images are %dx%dx%d, the model's %dx%dx%d", ds->height, ds->width,
                        ds->channels, c->height, c->width, c->channels);
    if (n > ds->n) n = ds->n;
    for (int i = 0; i < 2; i++) {
        if (!s->m[i].model) continue;
        vae_status st = points_json(&s->m[i], ds, n);
        if (st != VAE_OK) return st;
    }
    return build_info(s, n);
}

void vae__serve_free(vae__serve *s) {
    for (int i = 0; i < 2; i++) {
        vae_free(s->m[i].model);
        vae_mem_free(s->m[i].points_json);
        vae_mem_free(s->m[i].z);
        vae_mem_free(s->m[i].x);
    }
    vae_mem_free(s->info_json);
    memset(s, 0, sizeof *s);
}
