/* stats.h: small statistical functions the pictures need: the standard normal CDF and its inverse
 * (the manifold places its grid at inverse-CDF values), and distances between images.
 */
#ifndef VAE_STATS_H
#define VAE_STATS_H

/** Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, accurate in both tails. */
double vae_normal_cdf(double x);

/**
 * Inverse standard normal CDF Phi^-1(p): Acklam's rational approximation (relative error below
 * 1.2e-9) refined by one Halley step on erfc, which brings it to about 1e-15.
 * @return -INFINITY for p == 0, +INFINITY for p == 1, NaN for p outside [0, 1] or NaN
 */
double vae_normal_ppf(double p);

/** Euclidean distance between two vectors of n floats (accumulated in double). */
double vae_l2_distance(const float *a, const float *b, int n);

#endif /* VAE_STATS_H */
