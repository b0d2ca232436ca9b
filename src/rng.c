/* rng.c: the explicit random generator, xoshiro256** seeded through splitmix64.
 * Every random draw of libvae (initialisation, shuffling, eps, sampling, binarization) goes through a
 * vae_rng passed by pointer, so the same seed gives the same run. */
#include <math.h>

#include "common.h"
#include "vae.h"

/* vae.h's argument policy: a NULL generator (or output) is refused with a message; the functions that return
 * numbers return 0. */
static int refused(const void *rng, const void *out, size_t n, const char *fn) {
    if (rng && (out || n == 0)) return 0;
    vae_fail(VAE_ERR_ARG, "%s: %s is NULL", fn, rng ? "the output" : "the generator");
    return 1;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void vae_rng_seed(vae_rng *rng, uint64_t seed) {
    if (refused(rng, NULL, 0, "vae_rng_seed")) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(vae_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t vae_rng_next(vae_rng *rng) { return refused(rng, NULL, 0, "vae_rng_next") ? 0 : next(rng); }

/* 53 random bits -> [0, 1) */
static inline double uniform(vae_rng *rng) { return (double)(next(rng) >> 11) * 0x1.0p-53; }

double vae_rng_uniform(vae_rng *rng) { return refused(rng, NULL, 0, "vae_rng_uniform") ? 0.0 : uniform(rng); }

/* Box-Muller; u1 in (0, 1] so the log is finite. */
static float normal(vae_rng *rng) {
    double u1 = 1.0 - uniform(rng);
    double u2 = uniform(rng);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float vae_rng_normal(vae_rng *rng) { return refused(rng, NULL, 0, "vae_rng_normal") ? 0.0f : normal(rng); }

void vae_rng_normals(vae_rng *rng, float *out, size_t n) {
    if (refused(rng, out, n, "vae_rng_normals")) return;
    // Box-Muller, both values of each pair used; an odd last value takes the cosine only
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        double u1 = 1.0 - uniform(rng), u2 = uniform(rng), s, c;
        double r = sqrt(-2.0 * log(u1));
        sincos(6.283185307179586 * u2, &s, &c);
        out[i] = (float)(r * c);
        out[i + 1] = (float)(r * s);
    }
    if (i < n) out[i] = normal(rng);
}

/* 1 with probability p, from 24 random bits u */
static inline float bernoulli24(uint64_t u, float p) { return (float)u * 0x1.0p-24f < p ? 1.0f : 0.0f; }

void vae_rng_bernoulli(vae_rng *rng, float *x, size_t n) {
    if (refused(rng, x, n, "vae_rng_bernoulli")) return;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t r = next(rng);
        x[i] = bernoulli24(r >> 40, x[i]);
        x[i + 1] = bernoulli24((r >> 16) & 0xFFFFFF, x[i + 1]);
    }
    if (i < n) x[i] = bernoulli24(next(rng) >> 40, x[i]);
}

void vae_rng_shuffle(vae_rng *rng, int *order, int n) {
    if (refused(rng, order, n > 0 ? (size_t)n : 0, "vae_rng_shuffle")) return;
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next(rng) % (uint64_t)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}
