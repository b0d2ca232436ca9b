/* fastmath.h: exp, expm1, log1p and tanh as short polynomials in plain float arithmetic, so the loops
 * over them vectorise (libm's expf, expm1f, log1pf and tanhf are calls). Relative error below 3e-7 for
 * each (tests/test_layers.c sweeps them against double precision through vae_softplus, vae_sigmoid and
 * vae_tanh). */
#ifndef VAE_FASTMATH_H
#define VAE_FASTMATH_H

#include <stdint.h>

/* x = k ln 2 + r with k = round(x / ln 2) and |r| <= ln 2 / 2, for -87 <= x <= 0; returns 2^k. */
static inline float exp_reduce(float x, float *r) {
    const float shifter = 12582912.0f;                        // 1.5 * 2^23: adding it rounds to an integer
    float t = x * 1.44269504f + shifter;
    float k = t - shifter;
    *r = (x - k * 0.693145752f) - k * 1.42860677e-6f;         // x - k ln 2 in two parts
    float kk = k == k ? k : 0.0f;                             // NaN stays in r; converting it to int is UB
    union { float f; int32_t i; } scale = {.i = ((int32_t)kk + 127) << 23};
    return scale.f;
}

/* e^r - 1 for |r| <= ln 2 / 2 (Taylor to r^7; the remainder is below 1e-8 relative). */
static inline float expm1_reduced(float r) {
    return r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f + r * (8.33333377e-3f +
                                                                                  r * (1.38888892e-3f +
                                                                                       r * 1.98412701e-4f))))));
}

/* exp(x) for x <= 0; below e^-87 the result is taken as 0. */
static inline float exp_nonpos(float x) {
    int tiny = x < -87.0f;
    float r, scale = exp_reduce(tiny ? -87.0f : x, &r);
    return tiny ? 0.0f : (1.0f + expm1_reduced(r)) * scale;
}

/* exp(x) - 1 for x <= 0 without the cancellation of exp(x) - 1 near 0; -1 below -87. */
static inline float expm1_nonpos(float x) {
    int tiny = x < -87.0f;
    float r, scale = exp_reduce(tiny ? -87.0f : x, &r);
    return tiny ? -1.0f : expm1_reduced(r) * scale + (scale - 1.0f);
}

/* tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|), from expm1 so small |x| keeps its precision. */
static inline float tanh_fast(float x) {
    float em = expm1_nonpos(-2.0f * (x < 0.0f ? -x : x));
    float t = -em / (2.0f + em);
    return x < 0.0f ? -t : t;
}

/* log(1 + y) for y in [0, 1], given inv_u = 1 / (1 + y) (the sigmoid needs it too). */
static inline float log1p_unit_inv(float y, float inv_u) {
    float u = 1.0f + y;                                       // in [1, 2]
    int big = u > 1.41421356f;
    float m = big ? 0.5f * u : u;                             // in [0.707, 1.414]
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;            // log m = 2 atanh(s)
    float log_m = 2.0f * s * (1.0f + s2 * (0.333333343f + s2 * (0.2f + s2 * (0.142857149f + s2 * 0.111111112f))));
    float c = (y - (u - 1.0f)) * inv_u;                       // what rounding 1 + y lost
    return (big ? 0.693147181f : 0.0f) + log_m + c;
}

#endif
