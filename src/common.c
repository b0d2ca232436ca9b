/* common.c: thread-local error messages, status strings and the allocator indirection (see common.h). */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[16384]; /* long enough for two paths of PATH_MAX and the reason */

const char *vae_strerror(vae_status status) {
    switch (status) {
    case VAE_OK: return "success";
    case VAE_ERR_ARG: return "invalid argument";
    case VAE_ERR_NOMEM: return "out of memory";
    case VAE_ERR_IO: return "input/output error";
    case VAE_ERR_FORMAT: return "invalid or corrupt file";
    case VAE_ERR_NAN: return "loss or gradient is not finite";
    }
    return "unknown status";
}

const char *vae_last_error(void) { return last_error; }

void vae_clear_error(void) { last_error[0] = '\0'; }

vae_status vae_fail(vae_status status, const char *fmt, ...) {
    // format into a local buffer first: callers may pass vae_last_error() itself as an argument
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return status;
}

/* Failure injection: alloc_fail_at counts down; the allocation that brings it to zero fails.
 * Plain (not atomic) counters: the hook is for single-threaded tests. */
static long alloc_fail_at;
static long alloc_count;

void vae_alloc_fail_at(long n) {
    alloc_fail_at = n;
    alloc_count = 0;
}

long vae_alloc_count(void) { return alloc_count; }

static int injected_failure(void) {
    alloc_count++;
    return alloc_fail_at > 0 && alloc_count == alloc_fail_at;
}

void *vae_malloc(size_t size) {
    if (injected_failure()) return NULL;
    return malloc(size ? size : 1);
}

void *vae_calloc(size_t n, size_t size) {
    if (injected_failure()) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *vae_realloc(void *p, size_t size) {
    if (injected_failure()) return NULL;
    return realloc(p, size ? size : 1);
}

void vae_mem_free(void *p) { free(p); }
