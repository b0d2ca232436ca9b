/* ops.c: matrix products through the run-time engine (engine.h: OpenBLAS, oneDNN or BLIS), with naive
 * references of the same signature that the tests compare against on odd shapes, and elementwise kernels.
 * (No function here may take a name of OpenBLAS's own exported kernels, such as sgemm_nt: the dynamic
 * linker would send OpenBLAS's internal calls to it.) The engines run OpenMP threads of their own; callers
 * must not call these from inside an OpenMP parallel region. */
#include "ops.h"
#include "engine.h"
#include "fastmath.h"

#include <math.h>
#include <omp.h>
#include <string.h>

void vae__matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC) {
    vae__matmul_forward_act(out, inp, weight, bias, B, C, OC, ACT_NONE);
}

void vae__matmul_forward_act(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC,
                        act_kind act) {
    // out (B, OC) = inp @ weight^T in one sgemm, then bias and activation together in one pass over out
    vae__sgemm('N', 'T', B, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    if (!bias && act == ACT_NONE) return;
    static const float zero = 0.0f;
    const float *bb = bias ? bias : &zero;
    size_t bstride = bias ? 1 : 0;
    #pragma omp parallel for schedule(static) if ((size_t)B * OC > 16384)
    for (int b = 0; b < B; b++) {
        float *row = out + (size_t)b * OC;
        if (act == ACT_RELU) {
            #pragma omp simd
            for (int o = 0; o < OC; o++) {
                float v = row[o] + bb[o * bstride];
                row[o] = v > 0.0f ? v : 0.0f;
            }
        } else if (act == ACT_TANH) {
            #pragma omp simd
            for (int o = 0; o < OC; o++) row[o] = tanh_fast(row[o] + bb[o * bstride]);
        } else {
            #pragma omp simd
            for (int o = 0; o < OC; o++) row[o] += bb[o * bstride];
        }
    }
}

void vae__matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC) {
    for (int b = 0; b < B; b++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)inp[(size_t)b * C + c] * weight[(size_t)o * C + c];
            out[(size_t)b * OC + o] = (float)acc;
        }
    }
}

void vae__matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int C, int OC) {
    if (dinp) // dinp (B, C) = dout (B, OC) @ weight (OC, C)
        vae__sgemm('N', 'N', B, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
    // dweight (OC, C) += dout^T (OC, B) @ inp (B, C)
    vae__sgemm('T', 'N', OC, C, B, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias) {
        // column sums; each thread owns a range of columns, so the sums' order does not depend on threads
        #pragma omp parallel if ((size_t)B * OC > 16384)
        {
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int lo = (int)((long)OC * t / nt), hi = (int)((long)OC * (t + 1) / nt);
            for (int b = 0; b < B; b++) {
                const float *row = dout + (size_t)b * OC;
                #pragma omp simd
                for (int o = lo; o < hi; o++) dbias[o] += row[o];
            }
        }
    }
}

void vae__matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int B, int C, int OC) {
    if (dinp) {
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                double acc = 0.0;
                for (int o = 0; o < OC; o++) acc += (double)dout[(size_t)b * OC + o] * weight[(size_t)o * C + c];
                dinp[(size_t)b * C + c] = (float)acc;
            }
    }
    for (int o = 0; o < OC; o++) {
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int b = 0; b < B; b++) acc += (double)dout[(size_t)b * OC + o] * inp[(size_t)b * C + c];
            dweight[(size_t)o * C + c] += (float)acc;
        }
        if (dbias) {
            double acc = 0.0;
            for (int b = 0; b < B; b++) acc += dout[(size_t)b * OC + o];
            dbias[o] += (float)acc;
        }
    }
}

int vae__all_finite(const float *x, size_t n) {
    // x - x is 0 for finite x and NaN for Inf/NaN; the sum is exactly 0 or NaN whatever its order, so it
    // can run in vector lanes and threads
    float acc = 0.0f;
    #pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n > 65536)
    for (size_t i = 0; i < n; i++) acc += x[i] - x[i];
    return acc == 0.0f;
}

void vae__zero_floats(float *x, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] = 0.0f;
}
