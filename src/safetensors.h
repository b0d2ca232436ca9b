/* safetensors.h: reading and writing the safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
 * then the data block; offsets are relative to the start of the data block.
 *
 * The reader trusts nothing: header length against the file size, JSON shape, dtype names, shapes
 * against byte lengths (overflow-checked), offsets inside the data block, tensors not overlapping,
 * metadata values strings. Nothing is allocated from a header field before it is checked.
 * The writer is atomic: temporary file in the same folder, fflush + fsync, rename.
 */
#ifndef VAE_SAFETENSORS_H
#define VAE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "vae.h"

typedef enum { ST_F32 = 0, ST_F64, ST_I32, ST_I64, ST_U8, ST_U32, ST_U64 } st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t begin, end;       /* byte range inside the data block */
    const void *data;        /* points into st_file.data (little-endian, possibly unaligned) */
} st_tensor;

typedef struct {
    int n_tensors;
    st_tensor *tensors;
    int n_meta;
    char **meta_keys;
    char **meta_values;
    uint8_t *data;           /* the data block */
    size_t data_len;
} st_file;

/** Read and validate a whole file. On failure f is zeroed and vae_last_error() names path and problem. */
vae_status vae__st_read(st_file *f, const char *path);
/** Same on a memory buffer (for fuzzing); name is used in messages. */
vae_status vae__st_parse(st_file *f, const uint8_t *buf, size_t len, const char *name);
void vae__st_free(st_file *f);

/** @return the tensor called name, or NULL. */
const st_tensor *vae__st_find(const st_file *f, const char *name);
/** @return the metadata value for key, or NULL. */
const char *vae__st_meta(const st_file *f, const char *key);
/** @return bytes per element of a dtype. */
size_t vae__st_dtype_size(st_dtype dtype);
/** @return number of elements of a tensor (its shape's product). */
size_t vae__st_numel(const st_tensor *t);

/** One tensor to write; data is host-order (little-endian on every platform we build for). */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} st_entry;

/**
 * Write tensors and string metadata (meta_kv: key, value, key, value, ..., NULL) atomically to path.
 * Tensors are laid out in the order given.
 */
vae_status vae__st_write(const char *path, const st_entry *entries, int n, const char *const *meta_kv);

#endif /* VAE_SAFETENSORS_H */
