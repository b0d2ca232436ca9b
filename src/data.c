/* data.c: IDX image and label files (raw or gzip) into memory, and batches as floats (see data.h).
 *
 * An IDX file is a 4-byte magic (0x00 0x00 TYPE NDIMS), NDIMS big-endian uint32 sizes, then the data in
 * row-major order, big-endian for multi-byte types. Accepted here:
 *   images  type 0x08 (uint8) or 0x0D (float32), 3 dims (N, H, W; one channel) or 4 dims (N, H, W, C)
 *   labels  type 0x08, 1 dim (N)
 *
 * A hostile or damaged header must never cause a large allocation, so every size is checked first:
 *   - each size > 0; N <= INT_MAX; H, W, C <= IDX_MAX_SIDE; H*W*C <= IDX_MAX_DIM; total <= IDX_MAX_BYTES
 *   - raw file: the data length the header implies is compared with the file size (fstat) before the
 *     one allocation of the exact size;
 *   - gzip file: the decompressed length is unknown until read, so the buffer starts at IDX_CHUNK bytes and
 *     doubles (never beyond what the header implies) as data arrives; data that ends early is "truncated".
 * Data beyond what the header describes is an error too (for raw and gzip alike): it means the header is
 * wrong, and silently reading part of a file is worse than refusing it. (Bytes after the end of the gzip
 * stream itself are ignored by zlib.) Raw or gzip is decided by the content (gzip magic 1f 8b), not the name.
 */
#include "data.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_SIDE 32768u                 /* largest height, width or channel count */
#define IDX_MAX_DIM (1u << 28)              /* largest H*W*C: one image of floats stays under 1 GiB */
#define IDX_MAX_BYTES ((uint64_t)1 << 34)   /* largest data part of one file: 16 GiB */
#define IDX_CHUNK ((size_t)1 << 20)         /* first buffer size and read size for gzip files */

#define IDX_TYPE_U8 0x08
#define IDX_TYPE_F32 0x0D

/* ---------------------------------------------------------------- one open IDX file */

typedef struct {
    const char *path;
    gzFile gz;          /* reads both gzip and raw files (raw transparently) */
    int compressed;     /* content starts with the gzip magic */
    uint64_t file_size; /* bytes on disk */
} idx_file;

static const char *idx_type_name(int type) {
    switch (type) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "unknown";
}

static vae_status idx_open(idx_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return vae_fail(VAE_ERR_IO, "%s: no such file", path);
        return vae_fail(VAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vae_fail(VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return vae_fail(VAE_ERR_IO, "%s: is a directory, expected an IDX file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vae_fail(VAE_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return vae_fail(VAE_ERR_FORMAT, "%s: empty file", path);
    }
    f->file_size = (uint64_t)st.st_size;
    unsigned char magic[2] = {0, 0};
    ssize_t got = pread(fd, magic, 2, 0);
    if (got < 0) {
        int e = errno;
        close(fd);
        return vae_fail(VAE_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    f->compressed = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        return vae_fail(VAE_ERR_NOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(f->gz, 1u << 17);
    return VAE_OK;
}

static void idx_close(idx_file *f) {
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* Read up to len bytes; *got receives how many arrived (fewer only at the end of the data). */
static vae_status idx_read(idx_file *f, void *buf, size_t len, size_t *got) {
    unsigned char *p = buf;
    *got = 0;
    while (len > 0) {
        unsigned want = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int n = gzread(f->gz, p, want);
        if (n < 0) {
            int zerr = 0;
            const char *msg = gzerror(f->gz, &zerr);
            if (zerr == Z_ERRNO)
                return vae_fail(VAE_ERR_IO, "%s: read error: %s", f->path, strerror(errno));
            if (!msg) msg = "?";
            /* zlib names a gzdopen'ed file "<fd:N>": drop that, the path comes first anyway */
            const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
            if (colon) msg = colon + 2;
            return vae_fail(VAE_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path, msg);
        }
        if (n == 0) break;
        p += n;
        *got += (size_t)n;
        len -= (size_t)n;
    }
    return VAE_OK;
}

static uint32_t read_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read and check the magic and the sizes. ndims_ok: the accepted dimension counts ("1", "3 or 4"). */
static vae_status idx_read_header(idx_file *f, int *type, int *ndims, uint32_t dims[4], int ndims_min,
                                  int ndims_max, const char *kind) {
    unsigned char head[4 + 4 * 4];
    size_t got;
    vae_status st = idx_read(f, head, 4, &got);
    if (st != VAE_OK) return st;
    if (got < 4)
        return vae_fail(VAE_ERR_FORMAT, "%s: truncated header: %zu of 4 magic bytes", f->path, got);
    if (head[0] != 0 || head[1] != 0)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: not an IDX file: magic bytes %02x %02x %02x %02x, expected 00 00 TYPE NDIMS",
                        f->path, head[0], head[1], head[2], head[3]);
    *type = head[2];
    *ndims = head[3];
    if (*type != IDX_TYPE_U8 && *type != IDX_TYPE_F32)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: IDX type code 0x%02x (%s) is not supported: %s need 0x08 (uint8)%s", f->path,
                        *type, idx_type_name(*type), kind,
                        ndims_max > 1 ? " or 0x0D (float32)" : "");
    if (*ndims < ndims_min || *ndims > ndims_max) {
        if (ndims_min == ndims_max)
            return vae_fail(VAE_ERR_FORMAT, "%s: %d dimensions, but %s need %d", f->path, *ndims, kind,
                            ndims_min);
        return vae_fail(VAE_ERR_FORMAT, "%s: %d dimensions, but %s need %d or %d", f->path, *ndims, kind,
                        ndims_min, ndims_max);
    }
    size_t need = 4 * (size_t)*ndims;
    st = idx_read(f, head + 4, need, &got);
    if (st != VAE_OK) return st;
    if (got < need)
        return vae_fail(VAE_ERR_FORMAT, "%s: truncated header: %zu of %zu size bytes", f->path, got, need);
    for (int i = 0; i < *ndims; i++) dims[i] = read_be32(head + 4 + 4 * i);
    return VAE_OK;
}

/* Read exactly nbytes of data after the header into a new buffer (see the top of the file).
 * what: the header's description for messages ("3 images of 5x7"). */
static vae_status idx_read_body(idx_file *f, int ndims, uint64_t nbytes, const char *what, void **out) {
    *out = NULL;
    uint64_t header = 4 + 4 * (uint64_t)ndims;
    if (!f->compressed) {
        /* The size on disk tells before any allocation whether the data is all there. */
        uint64_t avail = f->file_size - header;
        if (avail < nbytes)
            return vae_fail(VAE_ERR_FORMAT,
                            "%s: truncated: header says %s (%llu bytes) but the file holds %llu bytes of data",
                            f->path, what, (unsigned long long)nbytes, (unsigned long long)avail);
        if (avail > nbytes)
            return vae_fail(VAE_ERR_FORMAT,
                            "%s: trailing data: header says %s (%llu bytes) but the file holds %llu bytes of "
                            "data (%llu extra)",
                            f->path, what, (unsigned long long)nbytes, (unsigned long long)avail,
                            (unsigned long long)(avail - nbytes));
    }
    /* Raw: one buffer of the exact size. Gzip: start small and double as data arrives. */
    size_t cap = f->compressed && nbytes > IDX_CHUNK ? IDX_CHUNK : (size_t)nbytes;
    unsigned char *buf = vae_malloc(cap);
    if (!buf)
        return vae_fail(VAE_ERR_NOMEM, "%s: out of memory for %zu bytes of data", f->path, cap);
    size_t have = 0;
    for (;;) {
        if (have == cap) {
            if (cap == nbytes) break;
            size_t next = cap * 2 < nbytes ? cap * 2 : (size_t)nbytes;
            unsigned char *grown = vae_realloc(buf, next);
            if (!grown) {
                vae_mem_free(buf);
                return vae_fail(VAE_ERR_NOMEM, "%s: out of memory for %zu bytes of data", f->path, next);
            }
            buf = grown;
            cap = next;
        }
        size_t want = cap - have, got;
        vae_status st = idx_read(f, buf + have, want, &got);
        if (st != VAE_OK) {
            vae_mem_free(buf);
            return st;
        }
        have += got;
        if (got < want) {
            vae_mem_free(buf);
            return vae_fail(VAE_ERR_FORMAT,
                            "%s: truncated: header says %s (%llu bytes) but the file holds %zu bytes of data%s",
                            f->path, what, (unsigned long long)nbytes, have,
                            f->compressed ? " (decompressed)" : "");
        }
    }
    /* One more read: finds trailing data, and makes zlib check the gzip trailer (CRC and length). */
    unsigned char extra;
    size_t got;
    vae_status st = idx_read(f, &extra, 1, &got);
    if (st == VAE_OK && got > 0)
        st = vae_fail(VAE_ERR_FORMAT,
                      "%s: trailing data: header says %s (%llu bytes) but the file holds more data%s",
                      f->path, what, (unsigned long long)nbytes, f->compressed ? " (decompressed)" : "");
    if (st != VAE_OK) {
        vae_mem_free(buf);
        return st;
    }
    *out = buf;
    return VAE_OK;
}

/* ---------------------------------------------------------------- images and labels */

vae_status vae_idx_read_images(vae_dataset *ds, const char *path) {
    memset(ds, 0, sizeof *ds);
    idx_file f;
    vae_status st = idx_open(&f, path);
    if (st != VAE_OK) return st;
    int type, ndims;
    uint32_t dims[4] = {0, 0, 0, 1};
    st = idx_read_header(&f, &type, &ndims, dims, 3, 4, "image files");
    if (st != VAE_OK) goto done;
    if (ndims == 3) dims[3] = 1;

    static const char *const names[4] = {"image count", "height", "width", "channel count"};
    for (int i = 0; i < 4; i++) {
        if (dims[i] == 0) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: %s is 0 in the header", path, names[i]);
            goto done;
        }
    }
    if (dims[0] > INT_MAX) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: header says %lu images, more than the limit %d", path,
                      (unsigned long)dims[0], INT_MAX);
        goto done;
    }
    for (int i = 1; i < 4; i++) {
        if (dims[i] > IDX_MAX_SIDE) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: %s %lu in the header exceeds the limit %u", path, names[i],
                          (unsigned long)dims[i], IDX_MAX_SIDE);
            goto done;
        }
    }
    /* Sides <= 2^15 each, so H*W*C < 2^45 and N*dim*4 < 2^78: use the checked product. */
    uint64_t dim = (uint64_t)dims[1] * dims[2] * dims[3];
    char what[128];
    if (ndims == 3)
        snprintf(what, sizeof what, "%lu images of %lux%lu", (unsigned long)dims[0],
                 (unsigned long)dims[1], (unsigned long)dims[2]);
    else
        snprintf(what, sizeof what, "%lu images of %lux%lux%lu", (unsigned long)dims[0],
                 (unsigned long)dims[1], (unsigned long)dims[2], (unsigned long)dims[3]);
    if (dim > IDX_MAX_DIM) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: header says %s: %llu values per image exceed the limit %u", path,
                      what, (unsigned long long)dim, IDX_MAX_DIM);
        goto done;
    }
    int ok = 1;
    size_t elem = type == IDX_TYPE_U8 ? 1 : 4;
    size_t nbytes = vae_mul_size(vae_mul_size((size_t)dims[0], (size_t)dim, &ok), elem, &ok);
    if (!ok || nbytes > IDX_MAX_BYTES) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: header says %s: %llu bytes of data exceed the limit %llu", path,
                      what, (unsigned long long)dims[0] * dim * elem, (unsigned long long)IDX_MAX_BYTES);
        goto done;
    }

    void *data;
    st = idx_read_body(&f, ndims, nbytes, what, &data);
    if (st != VAE_OK) goto done;
    if (type == IDX_TYPE_F32) {
        /* Big-endian float32 to host floats, in place; a NaN or infinity would poison training. */
        unsigned char *b = data;
        float *v = data;
        size_t count = nbytes / 4;
        for (size_t i = 0; i < count; i++) {
            uint32_t u = read_be32(b + 4 * i);
            memcpy(&v[i], &u, 4);
            if (!isfinite(v[i])) {
                vae_mem_free(data);
                st = vae_fail(VAE_ERR_FORMAT, "%s: value %zu of image %zu is not finite", path,
                              (size_t)(i % dim), (size_t)(i / dim));
                goto done;
            }
        }
        ds->values = v;
    } else {
        ds->pixels = data;
    }
    ds->n = (int)dims[0];
    ds->height = (int)dims[1];
    ds->width = (int)dims[2];
    ds->channels = (int)dims[3];
    ds->dim = (int)dim;
done:
    idx_close(&f);
    return st;
}

vae_status vae_idx_read_labels(vae_dataset *ds, const char *path) {
    if (ds->n <= 0) return vae_fail(VAE_ERR_ARG, "%s: labels need images read first", path);
    idx_file f;
    vae_status st = idx_open(&f, path);
    if (st != VAE_OK) return st;
    int type, ndims;
    uint32_t dims[4] = {0};
    uint8_t *labels = NULL;
    st = idx_read_header(&f, &type, &ndims, dims, 1, 1, "label files");
    if (st != VAE_OK) goto done;
    if (type != IDX_TYPE_U8) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: IDX type code 0x%02x (%s) is not supported: label files need 0x08 "
                      "(uint8)", path, type, idx_type_name(type));
        goto done;
    }
    /* The count must match the images: checked before reading (or allocating) anything. */
    if (dims[0] != (uint32_t)ds->n) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: header says %lu labels but there are %d images", path,
                      (unsigned long)dims[0], ds->n);
        goto done;
    }
    char what[64];
    snprintf(what, sizeof what, "%lu labels", (unsigned long)dims[0]);
    void *data;
    st = idx_read_body(&f, ndims, dims[0], what, &data);
    if (st != VAE_OK) goto done;
    labels = data;
    int max = 0;
    for (int i = 0; i < ds->n; i++)
        if (labels[i] > max) max = labels[i];
    vae_mem_free(ds->labels);
    ds->labels = labels;
    ds->n_classes = max + 1;
done:
    idx_close(&f);
    return st;
}

/* ---------------------------------------------------------------- data folders */

/* Find dir/name, else dir/name.gz; any existing entry counts (a directory is reported when read). */
static int find_file(char *out, size_t cap, const char *dir, const char *name) {
    size_t len = strlen(dir);
    const char *sep = len > 0 && dir[len - 1] == '/' ? "" : "/";
    struct stat st;
    int n = snprintf(out, cap, "%s%s%s", dir, sep, name);
    if (n < 0 || (size_t)n >= cap) return -1;
    if (stat(out, &st) == 0 || errno != ENOENT) return 1;
    n = snprintf(out, cap, "%s%s%s.gz", dir, sep, name);
    if (n < 0 || (size_t)n >= cap) return -1;
    if (stat(out, &st) == 0 || errno != ENOENT) return 1;
    return 0;
}

vae_status vae_dataset_load(vae_dataset *ds, const char *dir, const char *split) {
    memset(ds, 0, sizeof *ds);
    const char *prefix;
    if (split && strcmp(split, "train") == 0)
        prefix = "train";
    else if (split && strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return vae_fail(VAE_ERR_ARG, "split must be train or test, not '%s'", split ? split : "(null)");

    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) return vae_fail(VAE_ERR_IO, "%s: no such directory", dir);
        return vae_fail(VAE_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return vae_fail(VAE_ERR_IO, "%s: not a directory", dir);

    char images_name[64], labels_name[64], path[4096];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);

    int found = find_file(path, sizeof path, dir, images_name);
    if (found < 0) return vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
    if (found == 0) return vae_fail(VAE_ERR_IO, "%s: no %s or %s.gz", dir, images_name, images_name);
    vae_status s = vae_idx_read_images(ds, path);
    if (s != VAE_OK) return s;

    found = find_file(path, sizeof path, dir, labels_name);
    if (found < 0) {
        vae_dataset_free(ds);
        return vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
    }
    if (found == 0) return VAE_OK; /* labels are optional */
    s = vae_idx_read_labels(ds, path);
    if (s != VAE_OK) vae_dataset_free(ds);
    return s;
}

void vae_dataset_free(vae_dataset *ds) {
    if (!ds) return;
    vae_mem_free(ds->pixels);
    vae_mem_free(ds->values);
    vae_mem_free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* ---------------------------------------------------------------- batches */

/* Row i of the batch is image idx[start + i], or start + i when idx is NULL; out is (n, dim). */
void vae_dataset_batch(const vae_dataset *ds, const int *idx, int start, int n, float *out) {
    size_t dim = (size_t)ds->dim;
    #pragma omp parallel for schedule(static) if ((size_t)n * dim > 32768)
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)(idx ? idx[start + i] : start + i);
        float *o = out + (size_t)i * dim;
        if (ds->pixels) {
            const uint8_t *p = ds->pixels + row * dim;
            for (size_t j = 0; j < dim; j++) o[j] = p[j] / 255.0f;
        } else {
            memcpy(o, ds->values + row * dim, dim * sizeof *o);
        }
    }
}

void vae_dataset_batch_labels(const vae_dataset *ds, const int *idx, int start, int n, int *out) {
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)(idx ? idx[start + i] : start + i);
        out[i] = ds->labels ? ds->labels[row] : 0;
    }
}
