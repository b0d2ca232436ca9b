/* safetensors.c: reading, validating and atomically writing safetensors files (see safetensors.h and
 * docs/checkpoint.md).
 *
 * Byte order: the 8-byte header length is encoded and decoded byte by byte, so it is little-endian on any
 * host; tensor data is copied as it lies in memory, which is little-endian only on a little-endian host.
 * libvae builds for little-endian hosts (x86-64, arm64) and refuses to compile elsewhere (check below).
 *
 * cJSON allocations: cJSON allocates with plain malloc/free. We do not call cJSON_InitHooks to route them
 * through vae_malloc, because the hooks are process-wide state shared with every other cJSON user (the CLI
 * prints metrics with cJSON) and setting them is not thread-safe; the library must not change global state.
 * So failure injection (vae_alloc_fail_at) reaches every allocation of this file but not cJSON's, and a
 * cJSON_Parse that runs out of memory is reported as an invalid header (cJSON does not tell the two apart).
 * cJSON's memory is bounded by the header length, which is checked against the file size and a 100 MiB cap.
 */
#include "safetensors.h"
#include "common.h"
#include "fileio.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes tensor data in host order; safetensors is little-endian"
#endif

#define ST_MAX_HEADER ((uint64_t)100 << 20)  /* the reference implementation's limit: 100 MiB */
#define ST_MAX_DIM ((uint64_t)1 << 40)        /* largest accepted size of one dimension */
#define ST_MAX_OFFSET ((double)((uint64_t)1 << 53)) /* integers above 2^53 are not exact in a double */

static const char *const dtype_names[] = {"F32", "F64", "I32", "I64", "U8", "U32", "U64"};
static const size_t dtype_sizes[] = {4, 8, 4, 8, 1, 4, 8};
#define N_DTYPES ((int)(sizeof dtype_sizes / sizeof dtype_sizes[0]))

size_t vae__st_dtype_size(st_dtype dtype) {
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES) return 0;
    return dtype_sizes[dtype];
}

size_t vae__st_numel(const st_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

const st_tensor *vae__st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *vae__st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

void vae__st_free(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) vae_mem_free(f->tensors[i].name);
    vae_mem_free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        vae_mem_free(f->meta_keys[i]);
        vae_mem_free(f->meta_values[i]);
    }
    vae_mem_free(f->meta_keys);
    vae_mem_free(f->meta_values);
    vae_mem_free(f->data);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- reader */

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = vae_malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* "[2, 3]" for messages. */
static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

/* A JSON number that is a non-negative integer no larger than max (exactly representable: max <= 2^53).
 * cJSON keeps only the double, so 1e2 and 100.0 pass as 100; 1.5, -1, 1e400 and strings do not. */
static int json_uint(const cJSON *j, double max, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= max)) return 0;  /* also rejects NaN */
    uint64_t u = (uint64_t)v;
    if ((double)u != v) return 0;
    *out = u;
    return 1;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort order for the layout check: by begin, then end (empty tensors before a tensor at the same begin). */
static int cmp_tensor_offsets(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Find a repeated string among names[0..n) (names is reordered). *dup receives it, or NULL. */
static void find_duplicate(const char **names, size_t n, const char **dup) {
    *dup = NULL;
    if (n < 2) return;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            *dup = names[i];
            return;
        }
}

/* Read one tensor's description into t (name already set). */
static vae_status parse_tensor(st_tensor *t, const cJSON *j, size_t data_len, const char *file) {
    const char *name = t->name;
    if (!cJSON_IsObject(j))
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s' is not a JSON object", file, name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *field = j->child; field; field = field->next) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                          : NULL;
        if (!slot)
            return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': unknown field '%.100s'", file, name,
                            field->string);
        if (*slot)
            return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': field '%s' given twice", file, name,
                            field->string);
        *slot = field;
    }
    if (!dtype) return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': missing \"dtype\"", file, name);
    if (!shape) return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': missing \"shape\"", file, name);
    if (!offsets)
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': missing \"data_offsets\"", file, name);

    if (!cJSON_IsString(dtype))
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': dtype is not a string", file, name);
    int d = 0;
    while (d < N_DTYPES && strcmp(dtype->valuestring, dtype_names[d]) != 0) d++;
    if (d == N_DTYPES)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: tensor '%.200s': unsupported dtype '%.20s' (libvae reads F32 F64 I32 I64 U8 U32 U64)",
                        file, name, dtype->valuestring);
    t->dtype = (st_dtype)d;

    if (!cJSON_IsArray(shape))
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': shape is not an array", file, name);
    int ndim = 0;
    for (const cJSON *e = shape->child; e; e = e->next) {
        if (ndim == ST_MAX_DIMS)
            return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': shape has more than %d dimensions", file,
                            name, ST_MAX_DIMS);
        uint64_t v;
        if (!json_uint(e, (double)ST_MAX_DIM, &v))
            return vae_fail(VAE_ERR_FORMAT,
                            "%s: tensor '%.200s': shape dimension %d is not an integer in [0, 2^40]", file,
                            name, ndim);
        t->shape[ndim++] = (int64_t)v;
    }
    t->ndim = ndim;
    char shape_text[200];
    format_shape(shape_text, sizeof shape_text, t->shape, ndim);
    int ok = 1;
    size_t nbytes = vae__st_dtype_size(t->dtype);
    for (int i = 0; i < ndim; i++) nbytes = vae_mul_size(nbytes, (size_t)t->shape[i], &ok);
    if (!ok)
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': shape %s is too large", file, name,
                        shape_text);

    uint64_t range[2];
    const cJSON *e = cJSON_IsArray(offsets) ? offsets->child : NULL;
    if (!e || !e->next || e->next->next || !json_uint(e, ST_MAX_OFFSET, &range[0]) ||
        !json_uint(e->next, ST_MAX_OFFSET, &range[1]))
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets is not a pair of non-negative integers", file,
                        name);
    if (range[0] > range[1])
        return vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s': data_offsets [%llu, %llu] end before they begin",
                        file, name, (unsigned long long)range[0], (unsigned long long)range[1]);
    if (range[1] > data_len)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%llu, %llu] past the end of the data (%zu bytes)",
                        file, name, (unsigned long long)range[0], (unsigned long long)range[1], data_len);
    if (range[1] - range[0] != nbytes)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s "
                        "needs %zu",
                        file, name, (unsigned long long)range[0], (unsigned long long)range[1],
                        (unsigned long long)(range[1] - range[0]), shape_text, dtype_names[d], nbytes);
    t->begin = (size_t)range[0];
    t->end = (size_t)range[1];
    return VAE_OK;
}

/* Read "__metadata__" (an object of strings) into f. */
static vae_status parse_metadata(st_file *f, const cJSON *j, const char *file) {
    if (!cJSON_IsObject(j)) return vae_fail(VAE_ERR_FORMAT, "%s: __metadata__ is not a JSON object", file);
    int n = 0;
    for (const cJSON *e = j->child; e; e = e->next) n++;
    f->meta_keys = vae_calloc((size_t)n, sizeof *f->meta_keys);
    f->meta_values = vae_calloc((size_t)n, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
    for (const cJSON *e = j->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return vae_fail(VAE_ERR_FORMAT, "%s: __metadata__ value of '%.200s' is not a string", file,
                            e->string);
        char *key = copy_string(e->string), *value = copy_string(e->valuestring);
        if (!key || !value) {
            vae_mem_free(key);
            vae_mem_free(value);
            return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
        }
        f->meta_keys[f->n_meta] = key;
        f->meta_values[f->n_meta] = value;
        f->n_meta++;
    }
    const char **keys = vae_malloc((size_t)n * sizeof *keys);
    if (!keys) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
    for (int i = 0; i < n; i++) keys[i] = f->meta_keys[i];
    const char *dup;
    find_duplicate(keys, (size_t)n, &dup);
    vae_status s = dup ? vae_fail(VAE_ERR_FORMAT, "%s: __metadata__ key '%.200s' given twice", file, dup)
                       : VAE_OK;
    vae_mem_free(keys);
    return s;
}

/* Validate that the tensors tile the data block: sorted by offset, each begins where the previous one
 * ends, and the last ends at the end of the data (the reference implementation's rule; it implies no
 * overlap and no hidden bytes). */
static vae_status check_layout(st_file *f, const char *file) {
    size_t n = (size_t)f->n_tensors;
    st_tensor **order = vae_malloc(n * sizeof *order);
    if (!order) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < n; i++) order[i] = &f->tensors[i];
    qsort(order, n, sizeof *order, cmp_tensor_offsets);
    vae_status s = VAE_OK;
    size_t at = 0;
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < n && s == VAE_OK; i++) {
        const st_tensor *t = order[i];
        if (t->begin < at)
            s = vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s' [%zu, %zu] overlaps tensor '%.200s' [%zu, %zu]",
                         file, t->name, t->begin, t->end, prev->name, prev->begin, prev->end);
        else if (t->begin > at)
            s = vae_fail(VAE_ERR_FORMAT, "%s: %zu unused bytes in the data before tensor '%.200s' [%zu, %zu]",
                         file, t->begin - at, t->name, t->begin, t->end);
        at = t->end;
        prev = t;
    }
    if (s == VAE_OK && at != f->data_len)
        s = vae_fail(VAE_ERR_FORMAT, "%s: %zu unused bytes after the last tensor (data is %zu bytes)", file,
                     f->data_len - at, f->data_len);
    vae_mem_free(order);
    return s;
}

/* JSON has no NUL inside strings but "\u0000" decodes to one, which cJSON's C strings would cut short
 * (two different names could become the same one). Refuse it. */
static int has_escaped_nul(const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) return 1;
        i++;  /* skip the escaped character, so "\\u0000" (an escaped backslash) is not a match */
    }
    return 0;
}

/* Parse and validate the header (NUL-terminated, hlen bytes) describing data (data_len bytes).
 * Takes ownership of data, which goes into f on success and is freed on failure. */
static vae_status parse_header(st_file *f, const char *header, size_t hlen, uint8_t *data, size_t data_len,
                               const char *file) {
    memset(f, 0, sizeof *f);
    f->data = data;
    f->data_len = data_len;
    vae_status s = VAE_OK;
    cJSON *root = NULL;
    const char **names = NULL;

    if (memchr(header, 0, hlen)) {
        s = vae_fail(VAE_ERR_FORMAT, "%s: header contains a NUL byte", file);
        goto done;
    }
    if (has_escaped_nul(header, hlen)) {
        s = vae_fail(VAE_ERR_FORMAT, "%s: header contains an escaped NUL character (\\u0000)", file);
        goto done;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(header, hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= header && end <= header + hlen ? (size_t)(end - header) : 0;
        s = vae_fail(VAE_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %zu)", file, at,
                     hlen);
        goto done;
    }
    /* Only whitespace (the writer's padding) may follow the JSON value. */
    for (const char *p = end; p < header + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = vae_fail(VAE_ERR_FORMAT, "%s: unexpected text after the JSON header at byte %zu", file,
                         (size_t)(p - header));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = vae_fail(VAE_ERR_FORMAT, "%s: header is not a JSON object", file);
        goto done;
    }

    size_t n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") != 0) {
            n++;
        } else if (meta) {
            s = vae_fail(VAE_ERR_FORMAT, "%s: __metadata__ given twice", file);
            goto done;
        } else {
            meta = e;
        }
    }
    if (n > (size_t)(1 << 30)) {  /* cannot happen under the 100 MiB header cap; keeps int counts safe */
        s = vae_fail(VAE_ERR_FORMAT, "%s: too many tensors (%zu)", file, n);
        goto done;
    }
    f->tensors = vae_calloc(n, sizeof *f->tensors);
    if (!f->tensors) {
        s = vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta) continue;
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = copy_string(e->string);
        if (!t->name) {
            s = vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
            goto done;
        }
        f->n_tensors++;
        s = parse_tensor(t, e, data_len, file);
        if (s != VAE_OK) goto done;
        t->data = data + t->begin;
    }
    names = vae_malloc(n * sizeof *names);
    if (!names) {
        s = vae_fail(VAE_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    for (size_t i = 0; i < n; i++) names[i] = f->tensors[i].name;
    const char *dup;
    find_duplicate(names, n, &dup);
    if (dup) {
        s = vae_fail(VAE_ERR_FORMAT, "%s: tensor '%.200s' given twice", file, dup);
        goto done;
    }
    if (meta && (s = parse_metadata(f, meta, file)) != VAE_OK) goto done;
    s = check_layout(f, file);

done:
    vae_mem_free(names);
    cJSON_Delete(root);
    if (s != VAE_OK) vae__st_free(f);
    return s;
}

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The header length must fit in the rest of the file and under the cap. */
static vae_status check_header_len(uint64_t hlen, size_t avail, const char *file) {
    if (hlen > avail)
        return vae_fail(VAE_ERR_FORMAT,
                        "%s: header length %llu is past the end of the file (%zu bytes follow the length)",
                        file, (unsigned long long)hlen, avail);
    if (hlen > ST_MAX_HEADER)
        return vae_fail(VAE_ERR_FORMAT, "%s: header length %llu is over the 100 MiB limit", file,
                        (unsigned long long)hlen);
    return VAE_OK;
}

static vae_status too_short(size_t len, const char *file) {
    if (len == 0) return vae_fail(VAE_ERR_FORMAT, "%s: empty file", file);
    return vae_fail(VAE_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length", file,
                    len);
}

vae_status vae__st_parse(st_file *f, const uint8_t *buf, size_t len, const char *name) {
    memset(f, 0, sizeof *f);
    if (len < 8) return too_short(len, name);
    uint64_t hlen = read_le64(buf);
    vae_status s = check_header_len(hlen, len - 8, name);
    if (s != VAE_OK) return s;
    size_t data_len = len - 8 - (size_t)hlen;
    /* Copy the header to terminate it with NUL, so cJSON can never read past it. */
    char *header = vae_malloc((size_t)hlen + 1);
    uint8_t *data = vae_malloc(data_len);
    if (!header || !data) {
        vae_mem_free(header);
        vae_mem_free(data);
        return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(header, buf + 8, (size_t)hlen);
    header[hlen] = '\0';
    if (data_len) memcpy(data, buf + 8 + hlen, data_len);
    s = parse_header(f, header, (size_t)hlen, data, data_len, name);
    vae_mem_free(header);
    return s;
}

/* Read exactly n bytes; returns 0, -1 with errno set on a read error, -2 when the file ends early. */
static int read_full(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) return -2;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

vae_status vae__st_read(st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    vae_status s = VAE_OK;
    long long size = 0;
    int fd = vae__open_regular(path, "a safetensors file", &size, &s);
    if (fd < 0) return s;
    char *header = NULL;
    uint8_t *data = NULL;
    if ((uint64_t)size > SIZE_MAX / 2) {
        s = vae_fail(VAE_ERR_FORMAT, "%s: file too large (%lld bytes)", path, size);
        goto done;
    }
    size_t len = (size_t)size;
    if (len < 8) {
        s = too_short(len, path);
        goto done;
    }
    uint8_t prefix[8];
    int rc = read_full(fd, prefix, 8);
    if (rc != 0) goto read_error;
    uint64_t hlen = read_le64(prefix);
    if ((s = check_header_len(hlen, len - 8, path)) != VAE_OK) goto done;
    size_t data_len = len - 8 - (size_t)hlen;
    header = vae_malloc((size_t)hlen + 1);
    data = vae_malloc(data_len);
    if (!header || !data) {
        s = vae_fail(VAE_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, len);
        goto done;
    }
    if ((rc = read_full(fd, header, (size_t)hlen)) != 0 || (rc = read_full(fd, data, data_len)) != 0)
        goto read_error;
    header[hlen] = '\0';
    uint8_t extra;
    ssize_t more;
    while ((more = read(fd, &extra, 1)) < 0 && errno == EINTR) {
    }
    if (more != 0) {
        s = vae_fail(VAE_ERR_IO, "%s: file changed while being read", path);
        goto done;
    }
    close(fd);
    fd = -1;
    s = parse_header(f, header, (size_t)hlen, data, data_len, path);
    data = NULL;  /* parse_header owns it now */
    goto done;

read_error:
    s = rc == -2 ? vae_fail(VAE_ERR_IO, "%s: file got shorter while being read", path)
                     : vae_fail(VAE_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
done:
    if (fd >= 0) close(fd);
    vae_mem_free(header);
    vae_mem_free(data);
    if (s != VAE_OK) memset(f, 0, sizeof *f);
    return s;
}

/* ---------------------------------------------------------------- writer */

/* Check the caller's entries and metadata before anything is written. */
static vae_status check_entries(const char *path, const st_entry *entries, int n, const char *const *meta_kv,
                                size_t *total) {
    if (n < 0 || (n > 0 && !entries)) return vae_fail(VAE_ERR_ARG, "%s: invalid tensor list", path);
    *total = 0;
    for (int i = 0; i < n; i++) {
        const st_entry *e = &entries[i];
        if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0)
            return vae_fail(VAE_ERR_ARG, "%s: tensor %d has an invalid name", path, i);
        for (int k = 0; k < i; k++)
            if (strcmp(entries[k].name, e->name) == 0)
                return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s' given twice", path, e->name);
        if (vae__st_dtype_size(e->dtype) == 0)
            return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s': invalid dtype %d", path, e->name, (int)e->dtype);
        if (e->ndim < 0 || e->ndim > ST_MAX_DIMS)
            return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s': %d dimensions (at most %d)", path, e->name,
                            e->ndim, ST_MAX_DIMS);
        int ok = 1;
        size_t nbytes = vae__st_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || (uint64_t)e->shape[d] > ST_MAX_DIM)
                return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s': dimension %d is %lld", path, e->name, d,
                                (long long)e->shape[d]);
            nbytes = vae_mul_size(nbytes, (size_t)e->shape[d], &ok);
        }
        if (ok && *total > SIZE_MAX - nbytes) ok = 0;
        if (!ok || (double)(*total + nbytes) > ST_MAX_OFFSET)
            return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s' is too large", path, e->name);
        if (nbytes > 0 && !e->data)
            return vae_fail(VAE_ERR_ARG, "%s: tensor '%.200s' has no data", path, e->name);
        *total += nbytes;
    }
    for (int i = 0; meta_kv && meta_kv[i]; i += 2) {
        if (!meta_kv[i + 1])
            return vae_fail(VAE_ERR_ARG, "%s: metadata key '%.200s' has no value", path, meta_kv[i]);
        for (int k = 0; k < i; k += 2)
            if (strcmp(meta_kv[k], meta_kv[i]) == 0)
                return vae_fail(VAE_ERR_ARG, "%s: metadata key '%.200s' given twice", path, meta_kv[i]);
    }
    return VAE_OK;
}

/* The header JSON (cJSON-allocated, free with cJSON_free), or NULL when out of memory.
 * Offsets and dimensions are below 2^53 (checked), so cJSON prints them as exact integers. */
static char *build_header(const st_entry *entries, int n, const char *const *meta_kv) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && meta_kv && meta_kv[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && meta_kv[i]; i += 2) ok = cJSON_AddStringToObject(meta, meta_kv[i], meta_kv[i + 1]) != NULL;
    }
    size_t at = 0;
    for (int i = 0; ok && i < n; i++) {
        const st_entry *e = &entries[i];
        size_t nbytes = vae__st_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++) nbytes *= (size_t)e->shape[d];  /* checked in check_entries */
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *dtype = t ? cJSON_AddStringToObject(t, "dtype", dtype_names[e->dtype]) : NULL;
        cJSON *shape = dtype ? cJSON_AddArrayToObject(t, "shape") : NULL;
        cJSON *offsets = shape ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = offsets != NULL;
        for (int d = 0; ok && d < e->ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)e->shape[d]);
            ok = v && cJSON_AddItemToArray(shape, v);
            if (v && !ok) cJSON_Delete(v);
        }
        double range[2] = {(double)at, (double)(at + nbytes)};
        for (int k = 0; ok && k < 2; k++) {
            cJSON *v = cJSON_CreateNumber(range[k]);
            ok = v && cJSON_AddItemToArray(offsets, v);
            if (v && !ok) cJSON_Delete(v);
        }
        at += nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

vae_status vae__st_write(const char *path, const st_entry *entries, int n, const char *const *meta_kv) {
    size_t total;
    vae_status s = check_entries(path, entries, n, meta_kv, &total);
    if (s != VAE_OK) return s;

    char *json = build_header(entries, n, meta_kv);
    if (!json) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory building the header", path);
    /* Pad with spaces so the data block starts at a multiple of 8 bytes (8 + hlen). */
    size_t json_len = strlen(json);
    size_t hlen = (json_len + 7) / 8 * 8;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (uint8_t)((uint64_t)hlen >> (8 * i));

    vae__atomic a;
    s = vae__atomic_open(&a, path);
    if (s != VAE_OK) {
        cJSON_free(json);
        return s;
    }
    static const char spaces[8] = "       ";
    vae__atomic_write(&a, prefix, 8);
    vae__atomic_write(&a, json, json_len);
    vae__atomic_write(&a, spaces, hlen - json_len);
    cJSON_free(json);
    for (int i = 0; i < n; i++) {
        size_t nbytes = vae__st_dtype_size(entries[i].dtype);
        for (int d = 0; d < entries[i].ndim; d++) nbytes *= (size_t)entries[i].shape[d];
        vae__atomic_write(&a, entries[i].data, nbytes);
    }
    return vae__atomic_commit(&a);
}
