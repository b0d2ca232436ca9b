/* tfevents.h: TensorBoard event files (what `vae train --tensorboard DIR` writes; docs/cli.md).
 *
 * A file is a sequence of TFRecords, each
 *   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 * with masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8, c = CRC-32C (Castagnoli) of x. Each data
 * is one Event protobuf (tensorflow/core/util/event.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
 *   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
 * The first record holds file_version "brain.Event:2". Records are appended and flushed by the caller:
 * a run killed mid-write leaves at most a truncated last record, which readers skip.
 */
#ifndef VAE_TFEVENTS_H
#define VAE_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vae.h"

typedef struct {
    FILE *f;
    char path[4096];
} vae_tb_writer;

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes. */
uint32_t vae__crc32c(const uint8_t *p, size_t n);

/**
 * Create dir if it does not exist and open a new event file in it,
 * events.out.tfevents.<seconds>.<host>.<pid>.<k>, writing the file_version record.
 */
vae_status vae_tb_open(vae_tb_writer *w, const char *dir, double wall_time);

/** Append one scalar event. */
vae_status vae_tb_scalar(vae_tb_writer *w, const char *tag, int64_t step, double wall_time, float value);

/** Append one image event: png (n bytes, an encoded PNG) of height x width pixels with c channels (1 or 3). */
vae_status vae_tb_image(vae_tb_writer *w, const char *tag, int64_t step, double wall_time, const uint8_t *png,
                        size_t n, int height, int width, int c);

/** Flush what was appended to the operating system (fflush). */
vae_status vae_tb_flush(vae_tb_writer *w);

/** Close the file (NULL-safe; flushes). @return VAE_ERR_IO when the last writes failed. */
vae_status vae_tb_close(vae_tb_writer *w);

#endif /* VAE_TFEVENTS_H */
