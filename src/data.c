/* data.c: data sets into memory (IDX files raw or gzip, folders of PNG/JPEG files, CSV files of floats),
 * and batches as floats (see data.h and docs/data.md).
 *
 * Folders of images: the names are listed (one growing text buffer, sorted pointers: O(n log n) for n
 * files), then each file is checked by content (PNG or JPEG magic), its header read with stbi_info (size
 * capped at IMG_MAX_PIXELS before anything is decoded) and compared with the first file's, then decoded with
 * stb_image into a pixel buffer that grows by doubling as images arrive. stb_image allocates with malloc
 * (the implementation is in libstb), at most one image's worth at a time.
 * CSV files: read line by line through zlib (raw or gzip), values appended to a buffer that doubles.
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
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb_image.h>

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

/* Open path for reading through zlib; kind names what was expected there ("an IDX file") for messages. */
static vae_status idx_open(idx_file *f, const char *path, const char *kind) {
    memset(f, 0, sizeof *f);
    f->path = path;
    vae_status st;
    long long size = 0;
    int fd = vae__open_regular(path, kind, &size, &st);
    if (fd < 0) return st;
    if (size == 0) {
        close(fd);
        return vae_fail(VAE_ERR_FORMAT, "%s: empty file", path);
    }
    f->file_size = (uint64_t)size;
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
        if (n == 0) {
            /* gzread ends a stream cut short (no trailer, or cut inside the data) like a complete one; only
             * gzerror tells: Z_BUF_ERROR "unexpected end of file". A complete stream has had its CRC-32 and
             * length checked by then (a mismatch is a read error above). */
            int zerr = 0;
            gzerror(f->gz, &zerr);
            if (zerr == Z_BUF_ERROR)
                return vae_fail(VAE_ERR_FORMAT, "%s: truncated gzip file (the stream ends before its end marker "
                                "and checksum)", f->path);
            break;
        }
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
    vae_status st = idx_open(&f, path, "an IDX file");
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
    vae_status st = idx_open(&f, path, "an IDX file");
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

/* ---------------------------------------------------------------- name lists */

/* The names of a folder's entries: the text of all names in one growing buffer, then (once the listing is
 * complete, so growth can no longer move it) an array of pointers into it; ranges are sorted with strcmp.
 * Two growing buffers per list, whatever the number of files: listing is O(n), sorting O(n log n). */
typedef struct {
    char *text;           /* names, each ending in '\0' */
    size_t len, cap;
    size_t *off;          /* offset of each name in text */
    size_t n, n_cap;
    char **names;         /* n pointers into text, after names_index */
} name_list;

static void names_free(name_list *l) {
    vae_mem_free(l->text);
    vae_mem_free(l->off);
    vae_mem_free(l->names);
    memset(l, 0, sizeof *l);
}

/* Grow *buf (of *cap elements of size elem) to hold at least need elements, doubling, but to no more than
 * max elements (max >= need). */
static int grow_max(void **buf, size_t *cap, size_t need, size_t elem, size_t max) {
    if (need <= *cap) return 1;
    size_t next = *cap ? *cap : 64;
    while (next < need) {
        if (next > SIZE_MAX / 2) return 0;
        next *= 2;
    }
    if (next > max && max >= need) next = max;
    int ok = 1;
    size_t bytes = vae_mul_size(next, elem, &ok);
    if (!ok) return 0;
    void *p = vae_realloc(*buf, bytes);
    if (!p) return 0;
    *buf = p;
    *cap = next;
    return 1;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) { return grow_max(buf, cap, need, elem, SIZE_MAX); }

/* Append "prefix/name" (or "name" when prefix is NULL). where: the folder, for the message. */
static vae_status names_add(name_list *l, const char *prefix, const char *name, const char *where) {
    size_t plen = prefix ? strlen(prefix) + 1 : 0, nlen = strlen(name);
    if (l->n >= INT_MAX) return vae_fail(VAE_ERR_FORMAT, "%s: more than %d files", where, INT_MAX);
    if (!grow((void **)&l->text, &l->cap, l->len + plen + nlen + 1, 1) ||
        !grow((void **)&l->off, &l->n_cap, l->n + 1, sizeof *l->off))
        return vae_fail(VAE_ERR_NOMEM, "%s: out of memory listing the folder", where);
    l->off[l->n++] = l->len;
    if (prefix) {
        memcpy(l->text + l->len, prefix, plen - 1);
        l->text[l->len + plen - 1] = '/';
    }
    memcpy(l->text + l->len + plen, name, nlen + 1);
    l->len += plen + nlen + 1;
    return VAE_OK;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sort the names from first on (earlier ones keep their place): pointers into the text are sorted, then
 * written back as offsets, so only the new range costs memory and time. */
static vae_status names_sort(name_list *l, size_t first, const char *where) {
    size_t count = l->n - first;
    if (count < 2) return VAE_OK;
    char **p = vae_malloc(count * sizeof *p);
    if (!p) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory sorting %zu names", where, count);
    for (size_t i = 0; i < count; i++) p[i] = l->text + l->off[first + i];
    qsort(p, count, sizeof *p, cmp_names);
    for (size_t i = 0; i < count; i++) l->off[first + i] = (size_t)(p[i] - l->text);
    vae_mem_free(p);
    return VAE_OK;
}

/* Build the pointer array (once the list is complete: later growth of the text would move it). */
static vae_status names_index(name_list *l, const char *where) {
    vae_mem_free(l->names);
    l->names = NULL;
    if (l->n == 0) return VAE_OK;
    l->names = vae_malloc(l->n * sizeof *l->names);
    if (!l->names) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory listing the folder", where);
    for (size_t i = 0; i < l->n; i++) l->names[i] = l->text + l->off[i];
    return VAE_OK;
}

/* Join a/b into out; -1 when it does not fit. */
static int join_path(char *out, size_t cap, const char *a, const char *b) {
    size_t len = strlen(a);
    const char *sep = len > 0 && a[len - 1] == '/' ? "" : "/";
    int n = snprintf(out, cap, "%s%s%s", a, sep, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* List folder dir: regular files into files (as "prefix/name" when prefix is given), folders into dirs
 * (NULL: a folder is an error). Hidden entries (names starting with '.') are skipped. Neither list is
 * sorted here. */
static vae_status list_folder(const char *dir, const char *prefix, name_list *files, name_list *dirs) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return vae_fail(VAE_ERR_IO, "%s: no such directory", dir);
        if (errno == ENOTDIR) return vae_fail(VAE_ERR_IO, "%s: not a directory", dir);
        return vae_fail(VAE_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    }
    vae_status st = VAE_OK;
    char path[4096];
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) st = vae_fail(VAE_ERR_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.') continue;
        int is_dir = 0;
        if (e->d_type == DT_DIR) {
            is_dir = 1;
        } else if (e->d_type != DT_REG) {
            /* a link, or a file system that does not say: ask stat (which follows links) */
            struct stat sb;
            if (join_path(path, sizeof path, dir, e->d_name) != 0) {
                st = vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
                break;
            }
            if (stat(path, &sb) != 0) {
                st = vae_fail(VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
                break;
            }
            if (S_ISDIR(sb.st_mode)) {
                is_dir = 1;
            } else if (!S_ISREG(sb.st_mode)) {
                st = vae_fail(VAE_ERR_FORMAT, "%s: not a regular file", path);
                break;
            }
        }
        if (is_dir && !dirs) {
            if (join_path(path, sizeof path, dir, e->d_name) != 0) path[0] = '\0';
            st = vae_fail(VAE_ERR_FORMAT, "%s: a folder inside a class folder: class folders hold image files only",
                          path[0] ? path : dir);
            break;
        }
        st = names_add(is_dir ? dirs : files, is_dir ? NULL : prefix, e->d_name, dir);
        if (st != VAE_OK) break;
    }
    closedir(d);
    return st;
}

/* ---------------------------------------------------------------- folders of PNG and JPEG files */

#define IMG_MAX_PIXELS (1u << 24)  /* largest width * height of one image file: 16 Mpixels */
#define IMG_MAX_CLASSES 256        /* labels are stored as uint8 */
#define IMG_FIRST_BYTES ((size_t)1 << 24) /* the pixel buffer starts at 16 MiB (or one image) and doubles */

static const char *colour_name(int comp) {
    switch (comp) {
    case 1: return "grey";
    case 2: return "grey+alpha";
    case 3: return "RGB";
    case 4: return "RGBA";
    }
    return "?";
}

/* The sorted sub-folder names of dir (the class names); an empty list when dir has none or is missing. */
static vae_status class_names(const char *dir, name_list *classes) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return VAE_OK;
    name_list files = {0};
    vae_status st = list_folder(dir, NULL, &files, classes);
    names_free(&files);
    if (st == VAE_OK) st = names_sort(classes, 0, dir);
    if (st == VAE_OK) st = names_index(classes, dir);
    return st;
}

#define IMG_MAX_FILE_BYTES ((long long)64 << 20) /* largest image file: 64 MiB */

/* zlib allocates through the library's allocator, so the failure-injection tests reach it too. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) { return vae_calloc(items, size); }
static void z_free(voidpf opaque, voidpf p) { vae_mem_free(p); }

/*
 * Check a PNG file's integrity, which stb_image does not: every chunk's length within the file and its
 * CRC-32 (zlib's crc32), the IDAT chunks' zlib stream complete with its Adler-32 (zlib's inflate, output
 * discarded), and an IEND chunk. A flipped byte anywhere in a chunk is "corrupt", a file cut short
 * "truncated"; bytes after IEND are ignored.
 */
static vae_status png_verify(const unsigned char *b, size_t len, const char *path) {
    z_stream z;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc, z.zfree = z_free;
    if (inflateInit(&z) != Z_OK) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory checking the PNG data", path);
    unsigned char scratch[16384];
    int z_end = 0, iend = 0, zrc = Z_OK;
    vae_status st = VAE_OK;
    size_t p = 8;
    while (st == VAE_OK && !iend) {
        if (len - p < 12) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: truncated PNG file (%zu bytes; it ends before its IEND chunk)", path,
                          len);
            break;
        }
        uint32_t n = read_be32(b + p);
        const unsigned char *type = b + p + 4, *data = b + p + 8;
        char name[5] = {0};
        for (int i = 0; i < 4; i++) name[i] = type[i] >= 32 && type[i] < 127 ? (char)type[i] : '?';
        if (n > 0x7fffffffu || n > len - p - 12) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: truncated PNG file: chunk '%s' at byte %zu holds %u bytes, the file "
                          "only %zu more", path, name, p, n, len - p - 12);
            break;
        }
        if (crc32(crc32(0L, Z_NULL, 0), type, n + 4) != read_be32(data + n)) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: corrupt PNG file: chunk '%s' at byte %zu fails its CRC check", path,
                          name, p);
            break;
        }
        if (memcmp(type, "IDAT", 4) == 0 && !z_end) {
            z.next_in = (unsigned char *)data; /* zlib's next_in is not const in every version */
            z.avail_in = n;
            while (z.avail_in > 0 && zrc == Z_OK) {
                z.next_out = scratch;
                z.avail_out = sizeof scratch;
                zrc = inflate(&z, Z_NO_FLUSH);
                if (zrc == Z_BUF_ERROR) zrc = Z_OK; /* no progress possible until more input */
            }
            if (zrc == Z_STREAM_END) z_end = 1;
            else if (zrc == Z_MEM_ERROR) st = vae_fail(VAE_ERR_NOMEM, "%s: out of memory checking the PNG data", path);
            else if (zrc != Z_OK)
                st = vae_fail(VAE_ERR_FORMAT, "%s: corrupt PNG file: the image data fails its zlib check (%s)", path,
                              z.msg ? z.msg : "bad stream");
        }
        iend = memcmp(type, "IEND", 4) == 0;
        p += 12 + (size_t)n;
    }
    /* the stream may end inside the last IDAT's data with output still to come: drain it */
    while (st == VAE_OK && !z_end && zrc == Z_OK) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) z_end = 1;
        else if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            st = vae_fail(VAE_ERR_FORMAT, "%s: corrupt PNG file: the image data fails its zlib check (%s)", path,
                          z.msg ? z.msg : "bad stream");
        else if (zrc == Z_BUF_ERROR || z.avail_out > 0) break;
    }
    if (st == VAE_OK && !z_end)
        st = vae_fail(VAE_ERR_FORMAT, "%s: truncated PNG file: the image data ends before its zlib stream does", path);
    inflateEnd(&z);
    return st;
}

/* Check that an image file held in memory is a PNG or JPEG (by content) of sane size, intact (PNG), and
 * read its header. */
static vae_status image_info(const unsigned char *buf, size_t len, const char *path, int *w, int *h, int *comp) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int is_png = len >= 8 && memcmp(buf, png, 8) == 0;
    int is_jpeg = len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff;
    if (!is_png && !is_jpeg)
        return vae_fail(VAE_ERR_FORMAT, "%s: not a PNG or JPEG file%s", path, len == 0 ? " (empty)" : "");
    if (is_png && len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
        /* the IHDR chunk comes first: width and height at bytes 16..23; checked here so that the message
         * names the size (stbi_info refuses sizes whose bytes overflow an int only as "unknown image type") */
        uint64_t pw = read_be32(buf + 16), ph = read_be32(buf + 20);
        if (pw * ph > IMG_MAX_PIXELS)
            return vae_fail(VAE_ERR_FORMAT, "%s: %llux%llu pixels exceed the limit of %u pixels per image", path,
                            (unsigned long long)pw, (unsigned long long)ph, IMG_MAX_PIXELS);
    }
    if (is_png) {
        vae_status st = png_verify(buf, len, path);
        if (st != VAE_OK) return st;
    }
    /* (stbi_info tries every format in turn, so its failure reason is the last one's: not worth showing) */
    if (!stbi_info_from_memory(buf, (int)len, w, h, comp))
        return vae_fail(VAE_ERR_FORMAT, "%s: damaged %s header", path, is_png ? "PNG" : "JPEG");
    /* stb_image refuses sides over 2^24 itself; the pixel cap bounds what one decode allocates */
    if (*w <= 0 || *h <= 0 || *comp < 1 || *comp > 4)
        return vae_fail(VAE_ERR_FORMAT, "%s: bad image header (%dx%d, %d channels)", path, *w, *h, *comp);
    if ((uint64_t)*w * (uint64_t)*h > IMG_MAX_PIXELS)
        return vae_fail(VAE_ERR_FORMAT, "%s: %dx%d pixels exceed the limit of %u pixels per image", path, *w, *h,
                        IMG_MAX_PIXELS);
    return VAE_OK;
}

/* Read a whole image file into *buf (grown as needed, capacity *cap); *len receives its size. Only regular
 * files are opened (vae__open_regular: a FIFO never blocks). */
static vae_status read_image_file(const char *path, unsigned char **buf, size_t *cap, size_t *len) {
    vae_status st;
    long long size = 0;
    int fd = vae__open_regular(path, "a PNG or JPEG file", &size, &st);
    if (fd < 0) return st;
    if (size > IMG_MAX_FILE_BYTES) {
        close(fd);
        return vae_fail(VAE_ERR_FORMAT, "%s: %lld bytes, more than the limit of %lld bytes per image file", path, size,
                        IMG_MAX_FILE_BYTES);
    }
    if ((size_t)size + 1 > *cap) {
        unsigned char *p = vae_realloc(*buf, (size_t)size + 1);
        if (!p) {
            close(fd);
            return vae_fail(VAE_ERR_NOMEM, "%s: out of memory reading %lld bytes", path, size);
        }
        *buf = p, *cap = (size_t)size + 1;
    }
    size_t have = 0;
    for (;;) { /* read to the end (one byte past the size finds a file that grew) */
        ssize_t n = read(fd, *buf + have, *cap - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return vae_fail(VAE_ERR_IO, "%s: read error: %s", path, strerror(e));
        }
        if (n == 0) break;
        have += (size_t)n;
        if (have == *cap) {
            close(fd);
            return vae_fail(VAE_ERR_IO, "%s: file changed while being read", path);
        }
    }
    close(fd);
    *len = have;
    return VAE_OK;
}

/* Decode every file of list (paths relative to dir) into ds->pixels (n, h*w*c), in list order. */
static vae_status decode_images(vae_dataset *ds, const char *dir, const name_list *list) {
    size_t n = list->n;
    uint8_t *pixels = NULL;
    size_t cap = 0, dim = 0;
    int H = 0, W = 0, C = 0, first_comp = 0;
    char path[4096], first[4096];
    unsigned char *file = NULL; /* the current file's bytes, one buffer reused */
    size_t file_cap = 0;
    vae_status st = VAE_OK;
    for (size_t i = 0; i < n && st == VAE_OK; i++) {
        if (join_path(path, sizeof path, dir, list->names[i]) != 0) {
            st = vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
            break;
        }
        size_t len = 0;
        st = read_image_file(path, &file, &file_cap, &len);
        if (st != VAE_OK) break;
        int w, h, comp;
        st = image_info(file, len, path, &w, &h, &comp);
        int c = comp >= 3 ? 3 : 1; /* alpha is dropped */
        if (st == VAE_OK && i == 0) {
            H = h, W = w, C = c, first_comp = comp;
            dim = (size_t)h * (size_t)w * (size_t)c;
            memcpy(first, path, strlen(path) + 1);
            int ok = 1;
            size_t total = vae_mul_size(n, dim, &ok);
            if (!ok || total > IDX_MAX_BYTES)
                st = vae_fail(VAE_ERR_FORMAT, "%s: %zu images of %dx%d %s: %llu bytes exceed the limit %llu", dir, n,
                              w, h, colour_name(c), (unsigned long long)n * dim,
                              (unsigned long long)IDX_MAX_BYTES);
        } else if (st == VAE_OK && (w != W || h != H || c != C)) {
            st = vae_fail(VAE_ERR_FORMAT,
                          "%s: %dx%d %s, but the first image %s is %dx%d %s: all images need the same size and "
                          "channels",
                          path, w, h, colour_name(comp), first, W, H, colour_name(first_comp));
        }
        if (st == VAE_OK && i >= cap) {
            /* grow by doubling as images arrive (never beyond n): a folder of broken files whose headers
             * claim large images costs what was decoded, not n times the first header's size */
            size_t next = cap * 2;
            if (cap == 0) next = dim < IMG_FIRST_BYTES ? IMG_FIRST_BYTES / dim : 1;
            if (next < i + 1) next = i + 1;
            if (next > n) next = n;
            uint8_t *p = vae_realloc(pixels, next * dim);
            if (!p)
                st = vae_fail(VAE_ERR_NOMEM, "%s: out of memory for %zu images of %dx%d %s", dir, next, W, H,
                              colour_name(C));
            else
                pixels = p, cap = next;
        }
        if (st == VAE_OK) {
            int w2, h2, c2;
            unsigned char *img = stbi_load_from_memory(file, (int)len, &w2, &h2, &c2, C);
            if (!img) {
                const char *why = stbi_failure_reason() ? stbi_failure_reason() : "?";
                st = strcmp(why, "outofmem") == 0
                         ? vae_fail(VAE_ERR_NOMEM, "%s: out of memory decoding the image", path)
                         : vae_fail(VAE_ERR_FORMAT, "%s: cannot decode the image (%s)", path, why);
            } else {
                if (w2 != W || h2 != H)
                    st = vae_fail(VAE_ERR_FORMAT, "%s: decoded as %dx%d but its header says %dx%d", path, w2, h2,
                                  W, H);
                else
                    memcpy(pixels + i * dim, img, dim);
                stbi_image_free(img);
            }
        }
    }
    vae_mem_free(file);
    if (st != VAE_OK) {
        vae_mem_free(pixels);
        return st;
    }
    ds->pixels = pixels;
    ds->n = (int)n;
    ds->height = H;
    ds->width = W;
    ds->channels = C;
    ds->dim = (int)dim;
    return VAE_OK;
}

vae_status vae_image_folder_read(vae_dataset *ds, const char *dir, const char *class_dir) {
    memset(ds, 0, sizeof *ds);
    name_list files = {0}, dirs = {0}, classes = {0};
    uint8_t *labels = NULL;
    size_t counts[IMG_MAX_CLASSES];
    int n_classes = 0;
    vae_status st = list_folder(dir, NULL, &files, &dirs);
    if (st != VAE_OK) goto done;
    if (files.n > 0 && dirs.n > 0) {
        st = vae_fail(VAE_ERR_FORMAT,
                      "%s: holds both files (%s) and sub-folders (%s): put every image in a class sub-folder, or "
                      "none",
                      dir, files.text + files.off[0], dirs.text + dirs.off[0]);
        goto done;
    }
    if ((st = names_sort(&dirs, 0, dir)) != VAE_OK || (st = names_index(&dirs, dir)) != VAE_OK) goto done;
    if (dirs.n > 0) {
        /* Labelled: the classes are the sorted sub-folders of class_dir when it has some, else of dir. */
        const name_list *cls = &dirs;
        if (class_dir && strcmp(class_dir, dir) != 0) {
            if ((st = class_names(class_dir, &classes)) != VAE_OK) goto done;
            if (classes.n > 0) cls = &classes;
        }
        if (cls->n > IMG_MAX_CLASSES) {
            st = vae_fail(VAE_ERR_FORMAT, "%s: %zu class sub-folders, more than the limit %d",
                          cls == &dirs ? dir : class_dir, cls->n, IMG_MAX_CLASSES);
            goto done;
        }
        n_classes = (int)cls->n;
        memset(counts, 0, sizeof counts);
        char sub[4096];
        for (size_t k = 0; k < dirs.n; k++) {
            const char *name = dirs.names[k];
            char **hit = bsearch(&name, cls->names, cls->n, sizeof *cls->names, cmp_names);
            if (!hit) {
                st = vae_fail(VAE_ERR_FORMAT, "%s/%s: class '%s' is not a sub-folder of %s", dir, name, name,
                              class_dir);
                goto done;
            }
            if (join_path(sub, sizeof sub, dir, name) != 0) {
                st = vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
                goto done;
            }
            size_t before = files.n;
            if ((st = list_folder(sub, name, &files, NULL)) != VAE_OK) goto done;
            if ((st = names_sort(&files, before, sub)) != VAE_OK) goto done;
            counts[hit - cls->names] = files.n - before;
        }
    } else if ((st = names_sort(&files, 0, dir)) != VAE_OK) {
        goto done;
    }
    if (files.n == 0) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: no image files%s", dir, dirs.n ? " in its sub-folders" : "");
        goto done;
    }
    if (n_classes > 0) {
        /* sub-folders were read in sorted order, which is label order */
        labels = vae_malloc(files.n);
        if (!labels) {
            st = vae_fail(VAE_ERR_NOMEM, "%s: out of memory for %zu labels", dir, files.n);
            goto done;
        }
        size_t i = 0;
        for (int k = 0; k < n_classes; k++)
            for (size_t j = 0; j < counts[k]; j++) labels[i++] = (uint8_t)k;
    }
    if ((st = names_index(&files, dir)) != VAE_OK || (st = decode_images(ds, dir, &files)) != VAE_OK) goto done;
    ds->labels = labels;
    ds->n_classes = n_classes;
    labels = NULL;
done:
    vae_mem_free(labels);
    names_free(&files);
    names_free(&dirs);
    names_free(&classes);
    return st;
}

/* ---------------------------------------------------------------- CSV files of floats */

#define CSV_MAX_LINE ((size_t)1 << 30)  /* longest line: 1 GiB */

typedef struct {
    idx_file f;
    unsigned char *buf;  /* IDX_CHUNK bytes read ahead */
    size_t pos, len;
    int eof;
    char *line;          /* the current line, '\0'-terminated, without '\n' or '\r\n' */
    size_t line_len, line_cap;
    long line_no;
} csv_reader;

/* Next line into r->line; *got = 0 at the end of the file. */
static vae_status csv_next_line(csv_reader *r, int *got) {
    r->line_len = 0;
    *got = 0;
    int any = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof) break;
            size_t n;
            vae_status st = idx_read(&r->f, r->buf, IDX_CHUNK, &n);
            if (st != VAE_OK) return st;
            r->pos = 0;
            r->len = n;
            if (n < IDX_CHUNK) r->eof = 1;
            if (n == 0) break;
        }
        unsigned char *start = r->buf + r->pos;
        unsigned char *nl = memchr(start, '\n', r->len - r->pos);
        size_t take = nl ? (size_t)(nl - start) : r->len - r->pos;
        any = 1;
        if (r->line_len + take + 1 > CSV_MAX_LINE)
            return vae_fail(VAE_ERR_FORMAT, "%s:%ld: line longer than %zu bytes", r->f.path, r->line_no + 1,
                            CSV_MAX_LINE);
        if (!grow((void **)&r->line, &r->line_cap, r->line_len + take + 1, 1))
            return vae_fail(VAE_ERR_NOMEM, "%s:%ld: out of memory for the line", r->f.path, r->line_no + 1);
        memcpy(r->line + r->line_len, start, take);
        r->line_len += take;
        r->pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (!any) return VAE_OK;
    r->line_no++;
    if (r->line_no == 1 && r->line_len >= 3 && memcmp(r->line, "\xef\xbb\xbf", 3) == 0) {
        /* a UTF-8 byte-order mark, as spreadsheets write it: not part of the first name */
        memmove(r->line, r->line + 3, r->line_len - 3);
        r->line_len -= 3;
    }
    if (r->line_len > 0 && r->line[r->line_len - 1] == '\r') r->line_len--;
    r->line[r->line_len] = '\0';
    if (memchr(r->line, '\0', r->line_len))
        return vae_fail(VAE_ERR_FORMAT, "%s:%ld: a NUL byte: not a text file", r->f.path, r->line_no);
    *got = 1;
    return VAE_OK;
}

/* Cut line at its commas ('\0' in their place); returns the number of fields. No array of field pointers:
 * a line of 2^28 commas must not cost 2 GiB of pointers. */
static size_t csv_cut(char *line) {
    size_t n = 1;
    for (char *c = strchr(line, ','); c; c = strchr(c + 1, ',')) {
        *c = '\0';
        n++;
    }
    return n;
}

/* The field after f in a line cut by csv_cut (past the end after the last field: not to be read then). */
static char *csv_next(char *f) { return f + strlen(f) + 1; }

/* Field s as a number: 1 when it is one (whitespace around it allowed), 0 when not. */
static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s) return 0;
    while (*end == ' ' || *end == '\t') end++;
    if (*end) return 0;
    *out = v;
    return 1;
}

static int blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* A header name without surrounding blanks and quotes, in place. */
static char *trim_name(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) s[--len] = '\0';
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s[len - 1] = '\0';
        s++;
    }
    return s;
}

/* One data row (line, cut at its commas into n_fields fields): the values into row, the label column's
 * integer into *label (and *max_label raised to it). Errors name path:line_no and the column. */
static vae_status csv_parse_row(const char *path, long line_no, char *line, size_t n_fields, long label_col,
                                float *row, uint8_t *label, int *max_label) {
    char *f = line, *next;
    for (size_t j = 0, k = 0; j < n_fields; j++, f = next) {
        next = csv_next(f);
        double v;
        if (blank(f)) return vae_fail(VAE_ERR_FORMAT, "%s:%ld: column %zu is empty", path, line_no, j + 1);
        if (!parse_number(f, &v))
            return vae_fail(VAE_ERR_FORMAT, "%s:%ld: column %zu '%s' is not a number", path, line_no, j + 1,
                            trim_name(f));
        if ((long)j == label_col) {
            if (!(v >= 0 && v < IMG_MAX_CLASSES && v == floor(v)))
                return vae_fail(VAE_ERR_FORMAT, "%s:%ld: label '%s' is not an integer in 0..%d", path, line_no,
                                trim_name(f), IMG_MAX_CLASSES - 1);
            *label = (uint8_t)v;
            if ((int)v > *max_label) *max_label = (int)v;
            continue;
        }
        float fv = (float)v;
        if (!isfinite(fv))
            return vae_fail(VAE_ERR_FORMAT, "%s:%ld: column %zu '%s' is not a finite float", path, line_no, j + 1,
                            trim_name(f));
        row[k++] = fv;
    }
    return VAE_OK;
}

vae_status vae_csv_read(vae_dataset *ds, const char *path) {
    memset(ds, 0, sizeof *ds);
    csv_reader r;
    memset(&r, 0, sizeof r);
    float *values = NULL;
    uint8_t *labels = NULL;
    size_t values_cap = 0, labels_cap = 0;
    vae_status st = idx_open(&r.f, path, "a CSV file");
    if (st != VAE_OK) return st;
    r.buf = vae_malloc(IDX_CHUNK);
    if (!r.buf) {
        st = vae_fail(VAE_ERR_NOMEM, "%s: out of memory for the read buffer", path);
        goto done;
    }
    size_t n_fields = 0;     /* per row, label included; 0 until the first row */
    long label_col = -1;     /* index of the label column, or -1 */
    size_t dim = 0, n = 0;   /* values per row, rows */
    long first_line = 0;     /* the line that set n_fields */
    int max_label = -1;
    for (;;) {
        int got;
        if ((st = csv_next_line(&r, &got)) != VAE_OK) goto done;
        if (!got) break;
        if (blank(r.line)) continue;
        if (n_fields == 0) {
            /* the first row: count the fields; a header when no field is a number */
            size_t count = csv_cut(r.line);
            if (count - 1 > IDX_MAX_DIM) {
                st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: %zu columns exceed the limit %u", path, r.line_no, count,
                              IDX_MAX_DIM);
                goto done;
            }
            size_t numbers = 0;
            double v;
            char *f = r.line;
            for (size_t j = 0; j < count; j++, f = csv_next(f)) numbers += parse_number(f, &v);
            n_fields = count;
            first_line = r.line_no;
            if (numbers == 0) {
                f = r.line;
                for (size_t j = 0; j < count; j++) {
                    char *next = csv_next(f); /* before trim_name shortens f */
                    if (strcmp(trim_name(f), "label") == 0) {
                        if (label_col >= 0) {
                            st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: two columns named label (%ld and %zu)", path,
                                          r.line_no, label_col + 1, j + 1);
                            goto done;
                        }
                        label_col = (long)j;
                    }
                    f = next;
                }
                dim = n_fields - (label_col >= 0);
                if (dim == 0) {
                    st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: no value columns besides label", path, r.line_no);
                    goto done;
                }
                continue;
            }
            if (numbers < count) {
                char *bad = NULL;
                size_t bad_j = 0;
                f = r.line;
                for (size_t j = 0; j < count; j++, f = csv_next(f)) {
                    if (blank(f)) {
                        st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: column %zu is empty", path, r.line_no, j + 1);
                        goto done;
                    }
                    if (!bad && !parse_number(f, &v)) bad = f, bad_j = j;
                }
                st = vae_fail(VAE_ERR_FORMAT,
                              "%s:%ld: column %zu '%s' is not a number (a header row holds names only, a data "
                              "row numbers only)",
                              path, r.line_no, bad_j + 1, trim_name(bad));
                goto done;
            }
            dim = n_fields;
        } else {
            size_t count = csv_cut(r.line);
            if (count != n_fields) {
                st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: %zu values, but line %ld has %zu", path, r.line_no, count,
                              first_line, n_fields);
                goto done;
            }
        }
        /* a data row, cut at its commas */
        if (n >= INT_MAX) {
            st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: more than %d rows", path, r.line_no, INT_MAX);
            goto done;
        }
        if ((uint64_t)(n + 1) * dim * sizeof(float) > IDX_MAX_BYTES) {
            st = vae_fail(VAE_ERR_FORMAT, "%s:%ld: the values exceed the limit of %llu bytes", path, r.line_no,
                          (unsigned long long)IDX_MAX_BYTES);
            goto done;
        }
        if (!grow_max((void **)&values, &values_cap, (n + 1) * dim, sizeof *values, IDX_MAX_BYTES / sizeof *values) ||
            (label_col >= 0 && !grow((void **)&labels, &labels_cap, n + 1, 1))) {
            st = vae_fail(VAE_ERR_NOMEM, "%s:%ld: out of memory for %zu rows of %zu values", path, r.line_no,
                          n + 1, dim);
            goto done;
        }
        st = csv_parse_row(path, r.line_no, r.line, n_fields, label_col, values + n * dim,
                           label_col >= 0 ? &labels[n] : NULL, &max_label);
        if (st != VAE_OK) goto done;
        n++;
    }
    if (n == 0) {
        st = vae_fail(VAE_ERR_FORMAT, "%s: no data rows", path);
        goto done;
    }
    ds->values = values;
    ds->labels = labels;
    ds->n_classes = labels ? max_label + 1 : 0;
    ds->n = (int)n;
    ds->height = 1;
    ds->width = (int)dim;
    ds->channels = 1;
    ds->dim = (int)dim;
    values = NULL;
    labels = NULL;
done:
    vae_mem_free(values);
    vae_mem_free(labels);
    vae_mem_free(r.buf);
    vae_mem_free(r.line);
    idx_close(&r.f);
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

static int is_folder(const char *dir, const char *name) {
    char path[4096];
    struct stat st;
    return join_path(path, sizeof path, dir, name) == 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef enum { KIND_IDX, KIND_IMAGES, KIND_CSV } data_kind;

/* What kind of data folder dir is, from what either split has: IDX image files, else train/ or test/
 * sub-folders, else train.csv or test.csv (each possibly .gz); IDX when none (its message then says what is
 * missing). Deciding for the folder, not per split, keeps both splits of one kind. */
static data_kind folder_kind(const char *dir) {
    char path[4096];
    if (find_file(path, sizeof path, dir, "train-images-idx3-ubyte") == 1 ||
        find_file(path, sizeof path, dir, "t10k-images-idx3-ubyte") == 1)
        return KIND_IDX;
    if (is_folder(dir, "train") || is_folder(dir, "test")) return KIND_IMAGES;
    if (find_file(path, sizeof path, dir, "train.csv") == 1 || find_file(path, sizeof path, dir, "test.csv") == 1)
        return KIND_CSV;
    return KIND_IDX;
}

static vae_status load_idx(vae_dataset *ds, const char *dir, const char *prefix) {
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

    char path[4096], classes[4096];
    switch (folder_kind(dir)) {
    case KIND_IDX:
        return load_idx(ds, dir, prefix);
    case KIND_IMAGES:
        if (join_path(path, sizeof path, dir, split) != 0 || join_path(classes, sizeof classes, dir, "train") != 0)
            return vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
        if (!is_folder(dir, split))
            return vae_fail(VAE_ERR_IO, "%s: no such directory (an image data folder needs train/ and test/)",
                            path);
        return vae_image_folder_read(ds, path, classes);
    case KIND_CSV: {
        char name[16];
        snprintf(name, sizeof name, "%s.csv", split);
        int found = find_file(path, sizeof path, dir, name);
        if (found < 0) return vae_fail(VAE_ERR_ARG, "%s: path too long", dir);
        if (found == 0) return vae_fail(VAE_ERR_IO, "%s: no %s or %s.gz", dir, name, name);
        return vae_csv_read(ds, path);
    }
    }
    return vae_fail(VAE_ERR_ARG, "%s: unknown kind of data folder", dir);
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
