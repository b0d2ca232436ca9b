/* bench_peak.c: the machine's single-precision FMA peak, the limit no engine can pass.
 *
 * Each OpenMP thread runs independent fused multiply-adds on 24 vector registers (enough to cover the FMA
 * latency on two FMA ports) with the widest vectors the CPU has (AVX-512, else AVX2 + FMA, checked at run
 * time; nothing needs AVX-512 at build time). Best of 20 short rounds, for 1 and 2 threads: on a shared
 * machine a short round is more likely to find the cores free.
 *
 *   build/bench/bench_peak [seconds_per_round]
 * Prints a line and a JSON object: {"isa": ..., "gflops_1": ..., "gflops_2": ...}.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "train.h"

#define ACC 24

/* n rounds of ACC independent FMAs on 16-float vectors; returns a value that depends on all of them (so the
 * compiler keeps the work). */
__attribute__((target("avx512f"))) static float fma_avx512(long n) {
    __m512 acc[ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < n; r++)
        #pragma GCC unroll 24 // the accumulators must stay in registers
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long n) {
    __m256 acc[ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < n; r++)
        #pragma GCC unroll 24
        for (int i = 0; i < ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm256_add_ps(s, acc[i]);
    float f[8];
    _mm256_storeu_ps(f, s);
    return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}

int main(int argc, char **argv) {
    double round_s = argc > 1 ? atof(argv[1]) : 0.1;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!avx512 && !avx2) {
        printf("no AVX2 + FMA: peak not measured\n{\"isa\": \"none\"}\n");
        return 0;
    }
    const int lanes = avx512 ? 16 : 8;
    const long n = 1L << 18; // rounds per call: a fraction of a millisecond
    double gflops[3] = {0};
    volatile float sink = 0;
    for (int nt = 1; nt <= 2; nt++) {
        for (int round = 0; round < 20; round++) {
            long calls = 0;
            double t0 = vae_now(), el;
            do {
                #pragma omp parallel num_threads(nt) reduction(+ : sink)
                sink += avx512 ? fma_avx512(n) : fma_avx2(n);
                calls++;
            } while ((el = vae_now() - t0) < round_s);
            double g = calls * (double)nt * n * ACC * lanes * 2 / el / 1e9;
            if (g > gflops[nt]) gflops[nt] = g;
        }
    }
    const char *isa = avx512 ? "avx512" : "avx2";
    printf("FMA peak (%s, float): 1 thread %.0f GFLOP/s, 2 threads %.0f GFLOP/s\n", isa, gflops[1], gflops[2]);
    printf("{\"isa\": \"%s\", \"gflops_1\": %.1f, \"gflops_2\": %.1f}\n", isa, gflops[1], gflops[2]);
    return 0;
}
