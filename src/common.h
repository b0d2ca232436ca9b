/* common.h: what every part of libvae shares: error messages and the allocator indirection.
 *
 * Errors: a function that fails calls vae_fail(status, "fmt", ...) and returns its result, so the
 * status travels up by return value and the message (naming the file, flag or tensor) waits in a
 * thread-local buffer for vae_last_error().
 *
 * Allocation: every allocation goes through vae_malloc / vae_calloc / vae_realloc, so a test can make
 * the Nth allocation fail (vae_alloc_fail_at) and check that each failure is reported and leaks nothing.
 */
#ifndef VAE_COMMON_H
#define VAE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "vae.h"

#if defined(__GNUC__)
#define VAE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VAE_PRINTF(a, b)
#endif

/** Record a formatted message for vae_last_error() and return status. */
vae_status vae_fail(vae_status status, const char *fmt, ...) VAE_PRINTF(2, 3);
/** Clear the thread's last error message. */
void vae_clear_error(void);

void *vae_malloc(size_t size);
void *vae_calloc(size_t n, size_t size);
void *vae_realloc(void *p, size_t size);
void vae_mem_free(void *p);

/** Test hook: make the n-th allocation from now fail (n >= 1); 0 turns failure injection off. */
void vae_alloc_fail_at(long n);
/** Test hook: number of allocations made since the last vae_alloc_fail_at call. */
long vae_alloc_count(void);

/** Overflow-checked size product; returns 0 (and sets *ok = 0) on overflow. */
static inline size_t vae_mul_size(size_t a, size_t b, int *ok) {
    if (a != 0 && b > SIZE_MAX / a) { *ok = 0; return 0; }
    return a * b;
}

#endif /* VAE_COMMON_H */
