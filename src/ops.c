/* ops.c: matrix products through OpenBLAS, with naive references of the same signature that the tests
 * compare against on odd shapes. (No function here may take a name of OpenBLAS's own exported kernels,
 * such as sgemm_nt: the dynamic linker would send OpenBLAS's internal calls to it.) OpenBLAS runs its own threads; callers must not call these from inside
 * an OpenMP parallel region (the pthread OpenBLAS would then start threads per OpenMP thread). */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC) {
    // out (B, OC): start from the bias rows, then out += inp @ weight^T in one sgemm
    float beta = 0.0f;
    if (bias) {
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC) {
    for (int b = 0; b < B; b++) {
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)inp[(size_t)b * C + c] * weight[(size_t)o * C + c];
            out[(size_t)b * OC + o] = (float)acc;
        }
    }
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int C, int OC) {
    if (dinp) // dinp (B, C) = dout (B, OC) @ weight (OC, C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
    // dweight (OC, C) += dout^T (OC, B) @ inp (B, C)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias) {
        for (int b = 0; b < B; b++) {
            const float *row = dout + (size_t)b * OC;
            for (int o = 0; o < OC; o++) dbias[o] += row[o];
        }
    }
}

void matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
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

int all_finite(const float *x, size_t n) {
    // x - x is 0 for finite x and NaN for Inf/NaN; summing keeps the loop branch-free and vectorisable
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++) acc += x[i] - x[i];
    return acc == 0.0f;
}
