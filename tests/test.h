/* test.h: the project's tiny test harness.
 *
 * CHECK(cond, fmt, ...) counts a pass or a failure (printing the failure with its line);
 * CHECK_CLOSE(a, b, tol) compares floats and prints both values and the difference on failure;
 * TEST_MAIN_END prints "N passed, N failed" as the binary's last line and exits non-zero on failure.
 */
#ifndef VAE_TEST_H
#define VAE_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            test_passed++;                                                 \
        } else {                                                           \
            test_failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define CHECK_CLOSE(a, b, tol)                                                        \
    do {                                                                              \
        double check_a_ = (a), check_b_ = (b);                                        \
        CHECK(fabs(check_a_ - check_b_) <= (tol), "%s = %.9g, %s = %.9g, diff %.3g > %.3g", \
              #a, check_a_, #b, check_b_, fabs(check_a_ - check_b_), (double)(tol));   \
    } while (0)

#define TEST_MAIN_END()                                               \
    do {                                                              \
        printf("%d passed, %d failed\n", test_passed, test_failed);   \
        return test_failed ? 1 : 0;                                   \
    } while (0)

#endif /* VAE_TEST_H */
