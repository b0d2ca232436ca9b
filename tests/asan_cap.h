/* asan_cap.h: for the tests of readers that must not trust a lying header. Under ASan an allocation over
 * 256 MiB returns NULL (with a warning) instead of succeeding quietly, so a reader that sized a buffer by a
 * lying header would fail with VAE_ERR_NOMEM, which the tests catch (expecting VAE_ERR_FORMAT). Include once,
 * in the test's main file; without ASan it defines nothing. */
#ifndef VAE_ASAN_CAP_H
#define VAE_ASAN_CAP_H

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=256"; }
#endif

#endif /* VAE_ASAN_CAP_H */
