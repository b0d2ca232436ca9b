/* test_tfevents.c: the TensorBoard event writer (src/tfevents.c): CRC-32C against its published check
 * value, and one file's bytes against a hand encoding of the TFRecord framing and the Event protobuf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "test.h"
#include "tfevents.h"

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t masked(const uint8_t *p, size_t n) {
    uint32_t c = vae__crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* Check one record at *pos of buf (n bytes) and return its data (length in *len). */
static const uint8_t *record(const uint8_t *buf, size_t n, size_t *pos, size_t *len) {
    CHECK(*pos + 12 <= n, "record header inside the file");
    if (*pos + 12 > n) return NULL;
    uint64_t l = 0;
    for (int i = 0; i < 8; i++) l |= (uint64_t)buf[*pos + i] << (8 * i);
    CHECK(le32(buf + *pos + 8) == masked(buf + *pos, 8), "length CRC");
    CHECK(*pos + 16 + l <= n, "record inside the file");
    if (*pos + 16 + l > n) return NULL;
    const uint8_t *d = buf + *pos + 12;
    CHECK(le32(d + l) == masked(d, l), "data CRC");
    *pos += 16 + l;
    *len = l;
    return d;
}

int main(void) {
    const uint8_t check[] = "123456789";
    CHECK(vae__crc32c(check, 9) == 0xe3069283u, "CRC-32C check value %08x", vae__crc32c(check, 9));
    CHECK(vae__crc32c(check, 0) == 0, "CRC-32C of nothing");

    char dir[] = "/tmp/test_tfevents.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    vae_tb_writer w;
    CHECK(vae_tb_open(&w, dir, 1.5) == VAE_OK, "open: %s", vae_last_error());
    CHECK(vae_tb_scalar(&w, "a", 3, 1.5, 2.0f) == VAE_OK, "scalar");
    const uint8_t png[5] = {1, 2, 3, 4, 5};
    CHECK(vae_tb_image(&w, "im", 300, 1.5, png, 5, 7, 9, 1) == VAE_OK, "image");
    CHECK(vae_tb_close(&w) == VAE_OK, "close");

    FILE *f = fopen(w.path, "rb");
    uint8_t buf[512];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    size_t pos = 0, len = 0;
    // wall_time 1.5 (field 1, 64-bit), step 0 (field 2, varint), file_version (field 3)
    const uint8_t ev0[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x00, 0x1a, 13, 'b', 'r', 'a', 'i', 'n', '.', 'E',
                           'v', 'e', 'n', 't', ':', '2'};
    const uint8_t *d = record(buf, n, &pos, &len);
    CHECK(d && len == sizeof ev0 && memcmp(d, ev0, len) == 0, "file_version event bytes");
    // Event { wall_time 1.5, step 3, summary { value { tag "a", simple_value 2.0f } } }
    const uint8_t ev1[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x03, 0x2a, 10, 0x0a, 8, 0x0a, 1, 'a', 0x15, 0, 0, 0, 0x40};
    d = record(buf, n, &pos, &len);
    CHECK(d && len == sizeof ev1 && memcmp(d, ev1, len) == 0, "scalar event bytes");
    // step 300 as a two-byte varint; image { height 7, width 9, colorspace 1, encoded 5 bytes }
    const uint8_t ev2[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xac, 0x02, 0x2a, 21, 0x0a, 19, 0x0a, 2, 'i', 'm', 0x22,
                           13, 0x08, 7, 0x10, 9, 0x18, 1, 0x22, 5, 1, 2, 3, 4, 5};
    d = record(buf, n, &pos, &len);
    CHECK(d && len == sizeof ev2 && memcmp(d, ev2, len) == 0, "image event bytes");
    CHECK(pos == n, "nothing after the three records (%zu of %zu bytes)", pos, n);

    // a second writer in the same folder gets its own file; a folder that cannot be made is an error
    vae_tb_writer w2;
    CHECK(vae_tb_open(&w2, dir, 1.5) == VAE_OK && strcmp(w2.path, w.path) != 0, "a second file");
    vae_tb_close(&w2);
    unlink(w.path);
    unlink(w2.path);
    CHECK(vae_tb_open(&w2, "/proc/no/such/folder", 1.5) == VAE_ERR_IO, "uncreatable folder");
    rmdir(dir);
    TEST_MAIN_END();
}
