/* tfevents.c: TensorBoard event files: TFRecord framing with masked CRC-32C around Event protobufs
 * (see tfevents.h for the format). The protobuf encoder is the few wire types these messages use:
 * varint (0), 64-bit (1), length-delimited (2) and 32-bit (5). */
#include "tfevents.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* ---------------------------------------------------------------- CRC-32C */

uint32_t vae__crc32c(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) { // computed on first use; the same values from every thread, so a race is harmless
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint32_t masked_crc(const uint8_t *p, size_t n) {
    uint32_t c = vae__crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---------------------------------------------------------------- protobuf encoding */

/* A growing byte buffer; ok becomes 0 when an allocation fails (later writes are dropped). */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int ok;
} pb_buf;

static void pb_bytes(pb_buf *b, const void *data, size_t n) {
    if (!b->ok) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = vae_realloc(b->p, cap);
        if (!q) {
            b->ok = 0;
            return;
        }
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void pb_varint(pb_buf *b, uint64_t v) {
    uint8_t t[10];
    int n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(b, t, (size_t)n);
}

static void pb_key(pb_buf *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_le(pb_buf *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    pb_bytes(b, t, (size_t)n);
}

/* field of wire type 2: length, then the bytes */
static void pb_len(pb_buf *b, int field, const void *data, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, data, n);
}

static void pb_double(pb_buf *b, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    pb_key(b, field, 1);
    pb_le(b, u, 8);
}

static void pb_float(pb_buf *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    pb_key(b, field, 5);
    pb_le(b, u, 4);
}

/* ---------------------------------------------------------------- records */

static vae_status write_record(vae_tb_writer *w, const uint8_t *data, size_t n) {
    uint8_t head[12];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)n >> (8 * i));
    uint32_t c = masked_crc(head, 8);
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(c >> (8 * i));
    uint32_t cd = masked_crc(data, n);
    uint8_t tail[4] = {(uint8_t)cd, (uint8_t)(cd >> 8), (uint8_t)(cd >> 16), (uint8_t)(cd >> 24)};
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(data, 1, n, w->f) != n || fwrite(tail, 1, 4, w->f) != 4)
        return vae_fail(VAE_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return VAE_OK;
}

/* Event { wall_time, step, summary { value { tag, <value> } } }: value holds the Value's fields after the tag. */
static vae_status write_event(vae_tb_writer *w, double wall, int64_t step, const char *tag, const pb_buf *value) {
    pb_buf v = {0, 0, 0, 1}, s = {0, 0, 0, 1}, e = {0, 0, 0, 1};
    pb_len(&v, 1, tag, strlen(tag));
    pb_bytes(&v, value->p, value->n);
    pb_len(&s, 1, v.p, v.n);
    pb_double(&e, 1, wall);
    pb_key(&e, 2, 0);
    pb_varint(&e, (uint64_t)step);
    pb_len(&e, 5, s.p, s.n);
    vae_status st = v.ok && s.ok && e.ok && value->ok ? write_record(w, e.p, e.n)
                                                      : vae_fail(VAE_ERR_NOMEM, "out of memory encoding an event");
    vae_mem_free(v.p), vae_mem_free(s.p), vae_mem_free(e.p);
    return st;
}

vae_status vae_tb_open(vae_tb_writer *w, const char *dir, double wall_time) {
    memset(w, 0, sizeof *w);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return vae_fail(VAE_ERR_IO, "--tensorboard %s: cannot create the folder: %s", dir, strerror(errno));
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    for (int k = 0; k < 1000; k++) { // a name no earlier run (or resume) used
        snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%ld.%d", dir, (long long)wall_time, host,
                 (long)getpid(), k);
        if (access(w->path, F_OK) != 0) break;
    }
    w->f = fopen(w->path, "wb");
    if (!w->f) return vae_fail(VAE_ERR_IO, "--tensorboard %s: cannot create %s: %s", dir, w->path, strerror(errno));
    pb_buf e = {0, 0, 0, 1};
    pb_double(&e, 1, wall_time);
    pb_key(&e, 2, 0);
    pb_varint(&e, 0);
    pb_len(&e, 3, "brain.Event:2", 13);
    vae_status st = e.ok ? write_record(w, e.p, e.n) : vae_fail(VAE_ERR_NOMEM, "out of memory encoding an event");
    vae_mem_free(e.p);
    if (!st) st = vae_tb_flush(w);
    if (st) {
        fclose(w->f);
        w->f = NULL;
    }
    return st;
}

vae_status vae_tb_scalar(vae_tb_writer *w, const char *tag, int64_t step, double wall_time, float value) {
    pb_buf v = {0, 0, 0, 1};
    pb_float(&v, 2, value);
    vae_status st = write_event(w, wall_time, step, tag, &v);
    vae_mem_free(v.p);
    return st;
}

vae_status vae_tb_image(vae_tb_writer *w, const char *tag, int64_t step, double wall_time, const uint8_t *png,
                        size_t n, int height, int width, int c) {
    pb_buf im = {0, 0, 0, 1}, v = {0, 0, 0, 1};
    pb_key(&im, 1, 0);
    pb_varint(&im, (uint64_t)height);
    pb_key(&im, 2, 0);
    pb_varint(&im, (uint64_t)width);
    pb_key(&im, 3, 0);
    pb_varint(&im, (uint64_t)c);
    pb_len(&im, 4, png, n);
    pb_len(&v, 4, im.p, im.n);
    v.ok &= im.ok;
    vae_status st = write_event(w, wall_time, step, tag, &v);
    vae_mem_free(im.p), vae_mem_free(v.p);
    return st;
}

vae_status vae_tb_flush(vae_tb_writer *w) {
    if (w->f && fflush(w->f) != 0) return vae_fail(VAE_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return VAE_OK;
}

vae_status vae_tb_close(vae_tb_writer *w) {
    if (!w || !w->f) return VAE_OK;
    int bad = fflush(w->f) != 0 || ferror(w->f);
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    return bad ? vae_fail(VAE_ERR_IO, "%s: write failed", w->path) : VAE_OK;
}
