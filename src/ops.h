/* ops.h: tensor kernels. Matrix products (OpenBLAS sgemm, and a naive reference for tests) and
 * elementwise kernels over raw float arrays. Matrices are row-major; a weight is stored (OC, C) as in
 * PyTorch's nn.Linear, so out = inp @ weight^T.
 */
#ifndef VAE_OPS_H
#define VAE_OPS_H

#include <stddef.h>

typedef enum { ACT_NONE = 0, ACT_RELU, ACT_TANH } act_kind;

/* out (B, OC) = act(inp (B, C) @ weight (OC, C)^T + bias (OC)): bias and activation in one pass after the
 * product (bias may be NULL). */
void vae__matmul_forward_act(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC,
                        act_kind act);
/* out (B, OC) = inp (B, C) @ weight (OC, C)^T + bias (OC); bias may be NULL. */
void vae__matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC);
void vae__matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B, int C, int OC);

/* dinp (B, C) = dout (B, OC) @ weight (OC, C)   (overwritten; skipped when dinp is NULL)
 * dweight (OC, C) += dout^T @ inp;  dbias (OC) += column sums of dout   (accumulated) */
void vae__matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int C, int OC);
void vae__matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int B, int C, int OC);

/** @return 1 if all n values are finite. */
int vae__all_finite(const float *x, size_t n);
/** x[0..n) = 0, over the threads. */
void vae__zero_floats(float *x, size_t n);

#endif /* VAE_OPS_H */
