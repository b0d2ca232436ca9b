/* test_stats.c: the inverse normal CDF against values computed with mpmath at 50 digits, its symmetry,
 * monotonicity, round trips through erfc, and its edge cases; the L2 distance. */
#include <math.h>
#include <stdio.h>

#include "stats.h"
#include "test.h"

/* Reference values: mpmath, findroot on log(ncdf(x)) - log(p) at 50 digits. */
static void test_known_values(void) {
    static const struct {
        double p, x;
    } ref[] = {
        {0.975, 1.9599639845400542355},    {0.05, -1.6448536269514727149},  {0.95, 1.6448536269514727149},
        {0.5, 0.0},                        {0.3, -0.52440051270804078404},  {0.001, -3.0902323061678135415},
        {0.9999, 3.7190164854556805644},   {0.02425, -1.9729610513118848503}, /* the formula boundary */
        {1e-10, -6.3613409024040562047},   {1e-20, -9.2623400897984075737}, {1e-300, -37.047096299361199237},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double x = vae_normal_ppf(ref[i].p);
        CHECK(fabs(x - ref[i].x) <= 1e-13 * fmax(1.0, fabs(ref[i].x)), "ppf(%g) = %.17g, want %.17g (diff %.3g)",
              ref[i].p, x, ref[i].x, x - ref[i].x);
    }
    /* The two figures quoted everywhere, to the printed digits. */
    CHECK_CLOSE(vae_normal_ppf(0.975), 1.959963985, 5e-10);
    CHECK_CLOSE(vae_normal_ppf(0.05), -1.644853627, 5e-10);
    CHECK(vae_normal_ppf(0.5) == 0.0, "ppf(0.5) = %.17g", vae_normal_ppf(0.5));
}

static void test_edges(void) {
    CHECK(isinf(vae_normal_ppf(0.0)) && vae_normal_ppf(0.0) < 0, "ppf(0) = %g", vae_normal_ppf(0.0));
    CHECK(isinf(vae_normal_ppf(1.0)) && vae_normal_ppf(1.0) > 0, "ppf(1) = %g", vae_normal_ppf(1.0));
    CHECK(isnan(vae_normal_ppf(-0.1)), "ppf(-0.1) = %g", vae_normal_ppf(-0.1));
    CHECK(isnan(vae_normal_ppf(1.1)), "ppf(1.1) = %g", vae_normal_ppf(1.1));
    CHECK(isnan(vae_normal_ppf(NAN)), "ppf(NaN) = %g", vae_normal_ppf(NAN));
    /* The smallest doubles: finite and in the far tail (Halley's step is skipped where exp overflows). */
    double x = vae_normal_ppf(4.9406564584124654e-324);
    CHECK(isfinite(x) && x < -38.0 && x > -39.0, "ppf(min subnormal) = %g", x);
    x = vae_normal_ppf(2.2250738585072014e-308);
    CHECK(isfinite(x) && x < -37.0 && x > -38.0, "ppf(DBL_MIN) = %g", x);
    CHECK(vae_normal_cdf(0.0) == 0.5, "cdf(0) = %.17g", vae_normal_cdf(0.0));
    CHECK_CLOSE(vae_normal_cdf(1.0), 0.84134474606854293, 1e-15);
}

/* Symmetry (exact by construction), strict monotonicity, and cdf(ppf(p)) == p over a sweep that crosses
 * the central/tail boundary and reaches deep into both tails. */
static void test_sweep(void) {
    int bad_sym = 0, bad_mono = 0, bad_round = 0;
    double prev = -INFINITY, worst = 0.0;
    for (int i = 1; i < 20000; i++) {
        double p = i / 20000.0;
        double x = vae_normal_ppf(p);
        /* for p >= 1/2, 1 - p is exact, so the symmetry must hold bit for bit */
        if (p >= 0.5 && vae_normal_ppf(1.0 - p) != -x && bad_sym++ < 3) fprintf(stderr, "symmetry at p = %.17g\n", p);
        if (!(x > prev) && bad_mono++ < 3) fprintf(stderr, "not increasing at p = %.17g\n", p);
        prev = x;
        /* relative error against the smaller of p and 1 - p, where the information is */
        double q = p <= 0.5 ? vae_normal_cdf(x) : vae_normal_cdf(-x);
        double want = p <= 0.5 ? p : 1.0 - p;
        double rel = fabs(q - want) / want;
        if (rel > worst) worst = rel;
        if (rel > 1e-14 && bad_round++ < 3) fprintf(stderr, "round trip at p = %.17g: rel %.3g\n", p, rel);
    }
    CHECK(bad_sym == 0, "%d asymmetric values", bad_sym);
    CHECK(bad_mono == 0, "%d non-increasing steps", bad_mono);
    CHECK(bad_round == 0, "%d round trips off by more than 1e-14 (worst %.3g)", bad_round, worst);
    /* the tails, one decade at a time */
    int bad_tail = 0;
    for (int k = 1; k <= 300; k++) {
        double p = pow(10.0, -k);
        double x = vae_normal_ppf(p);
        /* an error dx in x moves log Phi by about |x| dx, and dx itself is about |x| ulp: allow x^2 ulp */
        double rel = fabs(vae_normal_cdf(x) - p) / p;
        if (rel > 1e-15 * fmax(1.0, x * x) && bad_tail++ < 3) fprintf(stderr, "tail p = 1e-%d: cdf(ppf(p)) rel error %.3g\n", k, rel);
        /* 1 - p rounds; the upper tail must mirror the lower one at the p that 1 - (1 - p) gives back */
        double upper = 1.0 - p;
        if (upper < 1.0 && vae_normal_ppf(upper) != -vae_normal_ppf(1.0 - upper) && bad_tail++ < 3)
            fprintf(stderr, "upper tail symmetry at 1 - 1e-%d\n", k);
    }
    CHECK(bad_tail == 0, "%d tail values wrong", bad_tail);
}

static void test_l2(void) {
    float a[3] = {1, 2, 3}, b[3] = {4, 6, 3};
    CHECK_CLOSE(vae_l2_distance(a, b, 3), 5.0, 1e-12);
    CHECK(vae_l2_distance(a, a, 3) == 0.0, "distance to itself");
    CHECK(vae_l2_distance(a, b, 0) == 0.0, "empty vectors");
}

int main(void) {
    test_known_values();
    test_edges();
    test_sweep();
    test_l2();
    TEST_MAIN_END();
}
