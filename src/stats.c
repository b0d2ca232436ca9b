/* stats.c: the standard normal CDF and its inverse, and image distances (see stats.h).
 *
 * The inverse CDF is Peter Acklam's algorithm: a rational approximation in p - 1/2 in the centre and in
 * sqrt(-2 log p) in the tail, with relative error below 1.15e-9, followed by one step of Halley's method
 * on f(x) = Phi(x) - p using erfc, which triples the number of correct digits (to about 1e-15).
 * Only the lower half is computed: for p > 1/2 the result is -ppf(1 - p), where 1 - p is exact in
 * floating point (Sterbenz), so ppf(1 - p) == -ppf(p) holds exactly and the upper tail keeps the
 * lower tail's relative accuracy.
 */
#include "stats.h"

#include <math.h>

#define SQRT2 1.41421356237309504880
#define SQRT2PI 2.50662827463100050242

double vae_normal_cdf(double x) { return 0.5 * erfc(-x / SQRT2); }

/* Acklam's coefficients. */
static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                            1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                            6.680131188771972e+01,  -1.328068155288572e+01};
static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                            -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                            3.754408661907416e+00};
#define P_LOW 0.02425  /* below it the tail formula, above it (up to 1/2) the central one */

/* Phi^-1(p) for 0 < p <= 1/2. */
static double ppf_lower(double p) {
    double x;
    if (p < P_LOW) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    /* Halley: with e = Phi(x) - p and u = e / phi(x), x -= u / (1 + x u / 2). For p near the smallest
     * doubles exp() overflows; the approximation is then kept as it is. */
    double e = vae_normal_cdf(x) - p;
    double u = e * SQRT2PI * exp(0.5 * x * x);
    if (isfinite(u)) x -= u / (1.0 + 0.5 * x * u);
    return x;
}

double vae_normal_ppf(double p) {
    if (!(p >= 0.0 && p <= 1.0)) return NAN;  /* NaN too */
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    if (p > 0.5) return -ppf_lower(1.0 - p);
    return ppf_lower(p);
}

double vae_l2_distance(const float *x, const float *y, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        double t = (double)x[i] - (double)y[i];
        s += t * t;
    }
    return sqrt(s);
}
