/* test_safetensors.c: the safetensors reader and writer.
 *
 * Round trip of every dtype (scalar and empty tensors included), a byte-exact file laid out by hand the
 * way Python's safetensors writes it, hostile files (each must fail with VAE_ERR_FORMAT or VAE_ERR_IO and
 * a message naming the file), write failures (missing folder, a real EFBIG from RLIMIT_FSIZE) that must
 * leave the old file intact and no temporary file behind, and an out-of-memory sweep over reader and
 * writer (run under ASan to catch leaks).
 */
#include "safetensors.h"
#include "common.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];  /* scratch folder for this run */

static void join(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static int write_file(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int ok = fwrite(buf, 1, len, fp) == len;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Whole file into a malloc'ed buffer (caller frees); NULL if unreadable. */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(fp)) != EOF) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *b = realloc(buf, cap);
            if (!b) break;
            buf = b;
        }
        buf[n++] = (uint8_t)c;
    }
    fclose(fp);
    *len = n;
    return buf ? buf : malloc(1);
}

/* Number of files in the scratch folder whose name contains ".tmp." (left-over temporary files). */
static int count_temp_files(const char *folder) {
    DIR *d = opendir(folder);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int is_zeroed(const st_file *f) {
    return f->n_tensors == 0 && !f->tensors && f->n_meta == 0 && !f->meta_keys && !f->meta_values && !f->data &&
           f->data_len == 0;
}

/* A file image: 8-byte little-endian header length, the header as given, then data. */
static uint8_t *make_image(const char *header, const void *data, size_t data_len, size_t *len) {
    size_t hlen = strlen(header);
    *len = 8 + hlen + data_len;
    uint8_t *buf = malloc(*len);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (data_len) memcpy(buf + 8 + hlen, data, data_len);
    return buf;
}

/* Write image as dir/name, expect vae__st_read and vae__st_parse to fail with status and a message naming the
 * file and containing what. */
static void expect_bad_image(const char *name, const uint8_t *buf, size_t len, vae_status status,
                             const char *what) {
    char path[256];
    join(path, sizeof path, name);
    CHECK(write_file(path, buf, len) == 0, "cannot write %s", path);
    st_file f;
    memset(&f, 0xAB, sizeof f);
    vae_status s = vae__st_read(&f, path);
    const char *msg = vae_last_error();
    CHECK(s == status, "%s: status %d (%s), expected %d", name, s, msg, status);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", name, msg);
    CHECK(strstr(msg, what) != NULL, "%s: message lacks '%s': %s", name, what, msg);
    CHECK(is_zeroed(&f), "%s: st_file not zeroed after failure", name);
    vae__st_free(&f);

    memset(&f, 0xAB, sizeof f);
    s = vae__st_parse(&f, buf, len, name);
    msg = vae_last_error();
    CHECK(s == status, "%s (memory): status %d (%s), expected %d", name, s, msg, status);
    CHECK(strncmp(msg, name, strlen(name)) == 0, "%s (memory): message does not name it: %s", name, msg);
    CHECK(is_zeroed(&f), "%s (memory): st_file not zeroed after failure", name);
    unlink(path);
}

static void expect_bad_header(const char *name, const char *header, size_t data_len, const char *what) {
    uint8_t data[64] = {0};
    size_t len;
    uint8_t *buf = make_image(header, data, data_len, &len);
    expect_bad_image(name, buf, len, VAE_ERR_FORMAT, what);
    free(buf);
}

/* ---------------------------------------------------------------- round trip */

static void test_round_trip(void) {
    float f32[6] = {1.0f, -2.5f, 3.25f, 1e-30f, -0.0f, 65504.0f};
    double f64[3] = {3.141592653589793, -1e300, 5e-324};
    int32_t i32[4] = {INT32_MIN, -1, 0, INT32_MAX};
    int64_t i64[2] = {INT64_MIN, INT64_MAX};
    uint8_t u8[5] = {0, 1, 127, 128, 255};  /* odd size: the next tensor starts unaligned */
    uint32_t u32[2] = {0xDEADBEEFu, 7};
    uint64_t u64 = 0x0123456789ABCDEFull;
    float unused = 0;
    st_entry e[] = {
        {"enc.0.weight", ST_F32, 2, {2, 3}, f32},
        {"f64", ST_F64, 1, {3}, f64},
        {"i32", ST_I32, 3, {1, 2, 2}, i32},
        {"i64", ST_I64, 1, {2}, i64},
        {"u8", ST_U8, 1, {5}, u8},
        {"u32", ST_U32, 2, {2, 1}, u32},
        {"step", ST_U64, 0, {0}, &u64},           /* a scalar: shape [] */
        {"empty", ST_F32, 1, {0}, NULL},          /* shape [0], no bytes */
        {"empty2", ST_F32, 3, {3, 0, 2}, &unused},
        {"we\"ird name\\", ST_U8, 1, {1}, u8},    /* escaped in JSON */
    };
    int n = (int)(sizeof e / sizeof e[0]);
    const char *meta[] = {"format", "pt", "config", "{\"latent\": 20, \"hidden\": [400]}", "unicode", "h\xc3\xa9",
                          "backslash", "C:\\u0000", "empty", "", NULL};
    char path[256];
    join(path, sizeof path, "round.safetensors");
    vae_status s = vae__st_write(path, e, n, meta);
    CHECK(s == VAE_OK, "vae__st_write: %s", vae_last_error());

    st_file f;
    s = vae__st_read(&f, path);
    CHECK(s == VAE_OK, "vae__st_read: %s", vae_last_error());
    if (s != VAE_OK) return;
    CHECK(f.n_tensors == n, "%d tensors, expected %d", f.n_tensors, n);
    size_t at = 0;
    for (int i = 0; i < n && i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        CHECK(strcmp(t->name, e[i].name) == 0, "tensor %d is '%s', expected '%s'", i, t->name, e[i].name);
        CHECK(vae__st_find(&f, e[i].name) == t, "vae__st_find('%s')", e[i].name);
        CHECK(t->dtype == e[i].dtype, "'%s' dtype %d", t->name, t->dtype);
        CHECK(t->ndim == e[i].ndim, "'%s' ndim %d", t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++) CHECK(t->shape[d] == e[i].shape[d], "'%s' dim %d", t->name, d);
        size_t nbytes = vae__st_numel(t) * vae__st_dtype_size(t->dtype);
        CHECK(t->end - t->begin == nbytes, "'%s' byte range", t->name);
        CHECK(t->begin == at, "'%s' begins at %zu, expected %zu (order of writing)", t->name, t->begin, at);
        CHECK(t->data == f.data + t->begin, "'%s' data pointer", t->name);
        CHECK(nbytes == 0 || memcmp(t->data, e[i].data, nbytes) == 0, "'%s' bytes differ", t->name);
        at = t->end;
    }
    CHECK(f.data_len == at, "data_len %zu, tensors end at %zu", f.data_len, at);
    CHECK(vae__st_numel(vae__st_find(&f, "step")) == 1, "scalar numel");
    CHECK(vae__st_numel(vae__st_find(&f, "empty2")) == 0, "empty numel");
    CHECK(vae__st_find(&f, "missing") == NULL, "vae__st_find of a missing name");
    CHECK(f.n_meta == 5, "%d metadata entries", f.n_meta);
    for (int i = 0; meta[i]; i += 2) {
        const char *v = vae__st_meta(&f, meta[i]);
        CHECK(v && strcmp(v, meta[i + 1]) == 0, "metadata '%s' is '%s'", meta[i], v ? v : "(null)");
    }
    CHECK(vae__st_meta(&f, "nope") == NULL, "vae__st_meta of a missing key");
    vae__st_free(&f);
    CHECK(is_zeroed(&f), "vae__st_free zeroes");
    vae__st_free(&f);  /* twice is harmless */

    /* The raw layout: header length a multiple of 8 (so the data starts 8-aligned), padded with spaces. */
    size_t len;
    uint8_t *raw = slurp(path, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    CHECK((8 + hlen) % 8 == 0, "data block starts at %llu", (unsigned long long)(8 + hlen));
    CHECK(8 + hlen + at == len, "file is %zu bytes, expected %llu", len, (unsigned long long)(8 + hlen + at));
    CHECK(raw[8] == '{', "header starts with '{'");
    size_t last = 8 + (size_t)hlen - 1;
    while (raw[last] == ' ') last--;
    CHECK(raw[last] == '}' && 8 + hlen - 1 - last < 8, "header padding is 0..7 spaces after '}'");
    free(raw);

    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0666 & ~mask),
          "new file mode %o follows the umask", (unsigned)(st.st_mode & 0777));

    /* Overwriting keeps the old file's mode and replaces the contents. */
    chmod(path, 0640);
    CHECK(vae__st_write(path, e, 1, NULL) == VAE_OK, "overwrite: %s", vae_last_error());
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "mode kept: %o", (unsigned)(st.st_mode & 0777));
    CHECK(vae__st_read(&f, path) == VAE_OK && f.n_tensors == 1 && f.n_meta == 0, "overwritten file reads back");
    vae__st_free(&f);

    /* No tensors at all is a valid file: "{}" padded to 8. */
    CHECK(vae__st_write(path, NULL, 0, NULL) == VAE_OK, "empty write: %s", vae_last_error());
    CHECK(vae__st_read(&f, path) == VAE_OK && f.n_tensors == 0 && f.data_len == 0, "empty file reads back");
    vae__st_free(&f);
    CHECK(count_temp_files(dir) == 0, "no temporary files left");
    unlink(path);
}

/* ---------------------------------------------------------------- independent reference */

/* A file laid out byte by byte the way Python's safetensors (PyTorch) writes one: little-endian u64 header
 * length, the JSON header padded with spaces to a multiple of 8, then the raw little-endian floats. */
static void test_reference_file(void) {
    static const char header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t json_len = sizeof header - 1;  /* 85 */
    size_t hlen = (json_len + 7) / 8 * 8; /* 88 */
    uint8_t file[8 + 88 + 8];
    CHECK(hlen == 88 && sizeof file == 8 + hlen + 8, "fixture arithmetic");
    const uint8_t prefix[8] = {88, 0, 0, 0, 0, 0, 0, 0};
    memcpy(file, prefix, 8);
    memcpy(file + 8, header, json_len);
    memset(file + 8 + json_len, ' ', hlen - json_len);
    /* 1.0f = 0x3F800000, -2.5f = 0xC0200000, little-endian */
    const uint8_t values[8] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0};
    memcpy(file + 8 + hlen, values, 8);

    char path[256];
    join(path, sizeof path, "reference.safetensors");
    CHECK(write_file(path, file, sizeof file) == 0, "write fixture");
    st_file f;
    vae_status s = vae__st_read(&f, path);
    CHECK(s == VAE_OK, "reference file: %s", vae_last_error());
    if (s == VAE_OK) {
        const st_tensor *a = vae__st_find(&f, "a");
        CHECK(a && a->dtype == ST_F32 && a->ndim == 1 && a->shape[0] == 2, "tensor a described");
        float v[2] = {0, 0};
        if (a) memcpy(v, a->data, sizeof v);
        CHECK(v[0] == 1.0f && v[1] == -2.5f, "values %g %g", v[0], v[1]);
        CHECK(vae__st_meta(&f, "format") && strcmp(vae__st_meta(&f, "format"), "pt") == 0, "metadata format=pt");
        vae__st_free(&f);
    }
    /* Unpadded headers are valid too, and so is whitespace inside the JSON. */
    size_t len;
    uint8_t *buf = make_image("{ \"a\" : {\"data_offsets\":[0,8], \"shape\":[2], \"dtype\":\"F32\"} }\n", values, 8,
                              &len);
    s = vae__st_parse(&f, buf, len, "unpadded");
    CHECK(s == VAE_OK, "unpadded header: %s", vae_last_error());
    vae__st_free(&f);
    free(buf);
    unlink(path);
}

/* ---------------------------------------------------------------- hostile files */

static void test_short_and_huge_lengths(void) {
    expect_bad_image("empty.st", (const uint8_t *)"", 0, VAE_ERR_FORMAT, "empty file");
    expect_bad_image("short.st", (const uint8_t *)"\x02\0\0\0\0", 5, VAE_ERR_FORMAT, "too short");

    /* Header lengths of 2^63 and 2^40 in a 16-byte file: refused before any allocation. */
    const uint64_t lengths[] = {(uint64_t)1 << 63, (uint64_t)1 << 40, UINT64_MAX, 9};
    for (int k = 0; k < 4; k++) {
        uint8_t buf[16];
        memset(buf, '{', sizeof buf);
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(lengths[k] >> (8 * i));
        char path[256];
        join(path, sizeof path, "huge.st");
        write_file(path, buf, sizeof buf);
        st_file f;
        vae_alloc_fail_at(0);  /* resets the count */
        vae_status s = vae__st_read(&f, path);
        CHECK(s == VAE_ERR_FORMAT && strstr(vae_last_error(), "past the end of the file") &&
                  strstr(vae_last_error(), path),
              "length %llu: %s", (unsigned long long)lengths[k], vae_last_error());
        CHECK(vae_alloc_count() == 0, "length %llu: %ld allocations", (unsigned long long)lengths[k],
              vae_alloc_count());
        vae_alloc_fail_at(0);
        s = vae__st_parse(&f, buf, sizeof buf, "huge");
        CHECK(s == VAE_ERR_FORMAT && vae_alloc_count() == 0, "parse length %llu: %s",
              (unsigned long long)lengths[k], vae_last_error());
        unlink(path);
    }

    /* A header length over 100 MiB that does fit in the (sparse) file: refused without reading it. */
    char path[256];
    join(path, sizeof path, "big.st");
    uint64_t big = ((uint64_t)100 << 20) + 1;
    uint8_t prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (uint8_t)(big >> (8 * i));
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(prefix, 1, 8, fp) == 8, "write big prefix");
    if (fp) fclose(fp);
    CHECK(truncate(path, (off_t)(8 + big + 8)) == 0, "truncate: %s", strerror(errno));
    st_file f;
    vae_alloc_fail_at(0);
    vae_status s = vae__st_read(&f, path);
    CHECK(s == VAE_ERR_FORMAT && strstr(vae_last_error(), "100 MiB") && vae_alloc_count() == 0,
          "over 100 MiB: %s", vae_last_error());
    unlink(path);
}

static void test_bad_headers(void) {
    /* JSON level */
    expect_bad_header("trunc.st", "{\"a\":", 0, "not valid JSON");
    expect_bad_header("garbage.st", "\x01\x02\x03", 0, "not valid JSON");
    expect_bad_header("zerolen.st", "", 0, "not valid JSON");
    expect_bad_header("array.st", "[1, 2]", 0, "not a JSON object");
    expect_bad_header("string.st", "\"x\"", 0, "not a JSON object");
    expect_bad_header("trailing.st", "{} x", 0, "after the JSON header");
    expect_bad_header("two.st", "{}{}", 0, "after the JSON header");
    {
        const char header[] = "{\"a\0b\":1}";
        uint8_t buf[8 + sizeof header - 1];
        memset(buf, 0, 8);
        buf[0] = sizeof header - 1;
        memcpy(buf + 8, header, sizeof header - 1);
        expect_bad_image("nul.st", buf, sizeof buf, VAE_ERR_FORMAT, "NUL byte");
    }
    expect_bad_header("escnul.st", "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "escaped NUL");

    /* tensor entries */
    expect_bad_header("notobj.st", "{\"a\":1}", 0, "tensor 'a' is not a JSON object");
    expect_bad_header("notobj2.st", "{\"a\":[\"F32\"]}", 0, "tensor 'a' is not a JSON object");
    expect_bad_header("nodtype.st", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing \"dtype\"");
    expect_bad_header("noshape.st", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\"");
    expect_bad_header("nooffsets.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\"");
    expect_bad_header("unknown.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offset\":[0,8]}}", 8,
                      "unknown field 'data_offset'");
    expect_bad_header("twicefield.st",
                      "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "field 'dtype' given twice");
    expect_bad_header("f16.st", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                      "unsupported dtype 'F16'");
    expect_bad_header("lower.st", "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "unsupported dtype 'f32'");
    expect_bad_header("dtypenum.st", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "dtype is not a string");
    expect_bad_header("negshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
                      "shape dimension 0 is not an integer");
    expect_bad_header("fracshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                      "shape dimension 0 is not an integer");
    expect_bad_header("strshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                      "shape dimension 0 is not an integer");
    expect_bad_header("infshape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,8]}}", 8,
                      "shape dimension 0 is not an integer");
    expect_bad_header("bigdim.st",
                      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,2199023255552],\"data_offsets\":[0,8]}}", 8,
                      "shape dimension 1 is not an integer in [0, 2^40]");
    expect_bad_header("shapeobj.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,8]}}", 8,
                      "shape is not an array");
    expect_bad_header("ninedims.st",
                      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                      "more than 8 dimensions");
    expect_bad_header("overflow.st",
                      "{\"a\":{\"dtype\":\"F64\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}",
                      8, "shape [1099511627776, 1099511627776] is too large");
    expect_bad_header("mismatch.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                      "hold 8 bytes but shape [3] of F32 needs 12");
    expect_bad_header("mismatch2.st", "{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                      "hold 4 bytes but shape [] of F64 needs 8");
    expect_bad_header("pastend.st",
                      "{\"enc.0.weight\":{\"dtype\":\"F32\",\"shape\":[10,10],\"data_offsets\":[0,400]}}", 60,
                      "tensor 'enc.0.weight': data_offsets [0, 400] past the end of the data (60 bytes)");
    expect_bad_header("backwards.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                      "end before they begin");
    expect_bad_header("oneoffset.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", 8,
                      "not a pair");
    expect_bad_header("threeoffsets.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8,
                      "not a pair");
    expect_bad_header("fracoffset.st", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0.5,2.5]}}", 8,
                      "not a pair");
    expect_bad_header("negoffset.st", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-2,0]}}", 8,
                      "not a pair");
    expect_bad_header("offsetsobj.st", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":{}}}", 8,
                      "not a pair");

    /* layout of the data block */
    expect_bad_header("overlap.st",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      12, "tensor 'b' [4, 12] overlaps tensor 'a' [0, 8]");
    expect_bad_header("same.st",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
                      8, "overlaps");
    expect_bad_header("gap.st",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                      12, "4 unused bytes in the data before tensor 'b'");
    expect_bad_header("tail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
                      "4 unused bytes after the last tensor");
    expect_bad_header("dupname.st",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                      16, "tensor 'a' given twice");

    /* metadata */
    expect_bad_header("metanum.st", "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0,
                      "__metadata__ value of 'epoch' is not a string");
    expect_bad_header("metanull.st", "{\"__metadata__\":{\"k\":null}}", 0, "value of 'k' is not a string");
    expect_bad_header("metaobj.st", "{\"__metadata__\":{\"k\":{}}}", 0, "value of 'k' is not a string");
    expect_bad_header("metaarr.st", "{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not a JSON object");
    expect_bad_header("metadupkey.st", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
                      "__metadata__ key 'k' given twice");
    expect_bad_header("metatwice.st", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ given twice");

    /* still valid: tensor named like an escaped backslash-u0000 text, empty tensors sharing an offset */
    static const char ok_header[] = "{\"x\\\\u0000\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                                    "\"y\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                                    "\"z\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    size_t len;
    uint8_t *buf = make_image(ok_header, "ab", 2, &len);
    st_file f;
    vae_status s = vae__st_parse(&f, buf, len, "ok");
    CHECK(s == VAE_OK && f.n_tensors == 3 && vae__st_find(&f, "x\\u0000"), "valid edge cases: %s", vae_last_error());
    vae__st_free(&f);
    free(buf);
}

static void test_bad_paths(void) {
    st_file f;
    memset(&f, 0xAB, sizeof f);
    vae_status s = vae__st_read(&f, dir);
    CHECK(s == VAE_ERR_IO && strstr(vae_last_error(), dir) && strstr(vae_last_error(), "directory"),
          "directory: %s", vae_last_error());
    CHECK(is_zeroed(&f), "zeroed after directory");
    char path[256];
    join(path, sizeof path, "does-not-exist.safetensors");
    s = vae__st_read(&f, path);
    CHECK(s == VAE_ERR_IO && strstr(vae_last_error(), path) && strstr(vae_last_error(), "no such file"),
          "missing: %s", vae_last_error());
    CHECK(is_zeroed(&f), "zeroed after missing file");
    s = vae__st_read(&f, "/dev/null");
    CHECK(s == VAE_ERR_IO && strstr(vae_last_error(), "not a regular file"), "/dev/null: %s", vae_last_error());
}

/* ---------------------------------------------------------------- write failures */

static void test_write_errors(void) {
    float v[4] = {1, 2, 3, 4};
    st_entry e = {"w", ST_F32, 1, {4}, v};
    char path[256];
    join(path, sizeof path, "no-such-folder/model.safetensors");
    vae_status s = vae__st_write(path, &e, 1, NULL);
    CHECK(s == VAE_ERR_IO && strstr(vae_last_error(), path) && strstr(vae_last_error(), strerror(ENOENT)),
          "missing folder: %s", vae_last_error());
    CHECK(count_temp_files(dir) == 0, "no temporary file");

    /* Invalid requests are refused before any file is touched. */
    st_entry two[2] = {e, e};
    CHECK(vae__st_write(path, two, 2, NULL) == VAE_ERR_ARG && strstr(vae_last_error(), "given twice"), "dup: %s",
          vae_last_error());
    st_entry bad = e;
    bad.shape[0] = -1;
    CHECK(vae__st_write(path, &bad, 1, NULL) == VAE_ERR_ARG, "negative dim: %s", vae_last_error());
    bad = e;
    bad.dtype = (st_dtype)42;
    CHECK(vae__st_write(path, &bad, 1, NULL) == VAE_ERR_ARG, "bad dtype: %s", vae_last_error());
    bad = e;
    bad.ndim = ST_MAX_DIMS + 1;
    CHECK(vae__st_write(path, &bad, 1, NULL) == VAE_ERR_ARG, "too many dims: %s", vae_last_error());
    bad = e;
    bad.name = "__metadata__";
    CHECK(vae__st_write(path, &bad, 1, NULL) == VAE_ERR_ARG, "reserved name: %s", vae_last_error());
    bad = e;
    bad.data = NULL;
    CHECK(vae__st_write(path, &bad, 1, NULL) == VAE_ERR_ARG, "no data: %s", vae_last_error());
    const char *odd_meta[] = {"k", NULL, NULL};
    const char *dup_meta[] = {"k", "1", "k", "2", NULL};
    CHECK(vae__st_write(path, &e, 1, odd_meta) == VAE_ERR_ARG, "meta without value: %s", vae_last_error());
    CHECK(vae__st_write(path, &e, 1, dup_meta) == VAE_ERR_ARG, "meta key twice: %s", vae_last_error());

    /* A real write error (EFBIG, as a full disk would give ENOSPC): the file size limit stops the temporary
     * file at 4 KiB; the old file must survive untouched and no temporary file may remain. */
    join(path, sizeof path, "keep.safetensors");
    CHECK(vae__st_write(path, &e, 1, NULL) == VAE_OK, "first write: %s", vae_last_error());
    size_t old_len, now_len;
    uint8_t *old = slurp(path, &old_len);
    static float big[1 << 14];
    st_entry large = {"big", ST_F32, 1, {1 << 14}, big};
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        s = vae__st_write(path, &large, 1, NULL);
        setrlimit(RLIMIT_FSIZE, &saved);
        CHECK(s == VAE_ERR_IO && strstr(vae_last_error(), path) && strstr(vae_last_error(), strerror(EFBIG)),
              "EFBIG: %s", vae_last_error());
        uint8_t *now = slurp(path, &now_len);
        CHECK(now && now_len == old_len && memcmp(now, old, old_len) == 0, "old file intact after failure");
        free(now);
        CHECK(count_temp_files(dir) == 0, "no temporary file after failure");
    } else {
        printf("skipped: setrlimit(RLIMIT_FSIZE) failed\n");
    }
    signal(SIGXFSZ, prev);
    free(old);
    unlink(path);
}

/* ---------------------------------------------------------------- out of memory */

static void test_out_of_memory(void) {
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint64_t step = 9;
    st_entry e[] = {{"a", ST_F32, 2, {2, 3}, w}, {"b", ST_U64, 0, {0}, &step}, {"c", ST_F32, 1, {0}, NULL}};
    const char *meta[] = {"format", "pt", "x", "y", NULL};
    char path[256];
    join(path, sizeof path, "oom.safetensors");
    CHECK(vae__st_write(path, e, 1, NULL) == VAE_OK, "old file: %s", vae_last_error());
    size_t old_len, now_len;
    uint8_t *old = slurp(path, &old_len);

    /* Writer: fail each allocation in turn; every failure leaves the old file and no temporary one. */
    long n;
    for (n = 1; n < 100; n++) {
        vae_alloc_fail_at(n);
        vae_status s = vae__st_write(path, e, 3, meta);
        vae_alloc_fail_at(0);
        if (s == VAE_OK) break;
        CHECK(s == VAE_ERR_NOMEM && strstr(vae_last_error(), path), "write fail at %ld: %d %s", n, s,
              vae_last_error());
        uint8_t *now = slurp(path, &now_len);
        CHECK(now && now_len == old_len && memcmp(now, old, old_len) == 0, "old file intact at %ld", n);
        free(now);
        CHECK(count_temp_files(dir) == 0, "no temporary file at %ld", n);
    }
    CHECK(n > 1 && n < 100, "writer succeeded after %ld injected failures", n - 1);
    free(old);

    /* Reader and parser: every failure is VAE_ERR_NOMEM with f zeroed (ASan reports any leak). */
    size_t len;
    uint8_t *buf = slurp(path, &len);
    for (int parse = 0; parse < 2; parse++) {
        for (n = 1; n < 100; n++) {
            st_file f;
            vae_alloc_fail_at(n);
            vae_status s = parse ? vae__st_parse(&f, buf, len, "oom") : vae__st_read(&f, path);
            vae_alloc_fail_at(0);
            if (s == VAE_OK) {
                CHECK(f.n_tensors == 3 && f.n_meta == 2, "read after %ld failures", n - 1);
                vae__st_free(&f);
                break;
            }
            CHECK(s == VAE_ERR_NOMEM, "%s fail at %ld: %d %s", parse ? "parse" : "read", n, s, vae_last_error());
            CHECK(is_zeroed(&f), "zeroed at %ld", n);
        }
        CHECK(n > 1 && n < 100, "%s succeeded after %ld injected failures", parse ? "parse" : "read", n - 1);
    }
    free(buf);
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_safetensors.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_reference_file();
    test_short_and_huge_lengths();
    test_bad_headers();
    test_bad_paths();
    test_write_errors();
    test_out_of_memory();
    CHECK(count_temp_files(dir) == 0, "no temporary files at the end");
    CHECK(rmdir(dir) == 0, "scratch folder %s left non-empty: %s", dir, strerror(errno));
    TEST_MAIN_END();
}
