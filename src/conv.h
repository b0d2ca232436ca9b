/* conv.h: 2-D convolution and transposed convolution layers, forward and backward side by side, each as an
 * im2col + sgemm path and a naive direct reference of the same signature (the tests compare the two on odd
 * shapes, strides and paddings). See docs/conv.md for the derivations.
 *
 * Layout: images are NHWC, (B, H, W, C) row-major, as the data files give them (a row of D = H*W*C per
 * image). Weights keep PyTorch's layouts so a state dict maps one to one:
 *   conv2d            weight (OC, C, K, K), bias (OC)      out (B, OH, OW, OC)
 *   conv_transpose2d  weight (C, OC, K, K), bias (OC)      out (B, OH, OW, OC)
 * Kernels are square (K x K) with one stride S and one zero padding P for both axes; images need not be
 * square. Letters as in model.h's legend (docs/model.md): B images, H, W, C an image's height, width and
 * channels, OH, OW, OC the output's, K, S, P kernel size, stride, padding.
 *
 * The column matrix ("col") has one row per position of a grid and one column per (channel, kh, kw), in
 * that order, so that it multiplies the PyTorch weight as it lies in memory:
 *   conv2d:            grid = output positions, col (OH*OW, C*K*K) gathers the input;
 *                      out (OH*OW, OC) = col @ weight^T
 *   conv_transpose2d:  grid = input positions,  col (H*W, OC*K*K) = inp (H*W, C) @ weight (C, OC*K*K),
 *                      scattered-added into the output (col2im)
 * Grid position (gh, gw) and kernel tap (kh, kw) meet image pixel (gh*S - P + kh, gw*S - P + kw); taps
 * outside the image read 0 (im2col) or are dropped (col2im).
 *
 * Conventions as in layers.h: argument order outputs, scratch, inputs, weights, dimensions; parameter
 * gradients (dweight, dbias) accumulate (+=); the input gradient dinp is overwritten and may be NULL (the
 * first layer needs none). `col` is caller scratch of col_cap floats, col_cap >= the per-image col size
 * (vae__conv_col_size); batches are processed in chunks of col_cap / vae__conv_col_size images, so one buffer sized
 * once serves any batch, and larger buffers give larger (faster) matrix products.
 */
#ifndef VAE_CONV_H
#define VAE_CONV_H

#include <stddef.h>

typedef struct {
    int H, W, C;     /* input height, width, channels */
    int OH, OW, OC;  /* output height, width, channels */
    int K, S, P;     /* kernel size, stride, zero padding */
    int transposed;  /* 0: conv2d, 1: conv_transpose2d */
} conv_dims;

/** Fill d for a conv2d: OH = floor((H + 2P - K) / S) + 1 (PyTorch's rule).
 *  @return 0, or -1 when a size is out of range or the output would be empty. */
int vae__conv2d_dims(conv_dims *d, int H, int W, int C, int OC, int K, int S, int P);

/** Fill d for a conv_transpose2d: OH = (H - 1) S - 2P + K (no output padding).
 *  @return 0, or -1 when a size is out of range, P >= K, or the output would be empty. */
int vae__conv_transpose2d_dims(conv_dims *d, int H, int W, int C, int OC, int K, int S, int P);

/** @return the floats of one image's column matrix: OH*OW*C*K*K (conv2d) or H*W*OC*K*K (transposed). */
size_t vae__conv_col_size(const conv_dims *d);

/* One image: col (Hg*Wg, C*K*K) from img (Hi, Wi, C), grid Hg x Wg (overwrites col). */
void vae__conv_im2col(float *col, const float *img, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P);
/* One image: img (Hi, Wi, C) += the scatter of col (Hg*Wg, C*K*K), the adjoint of vae__conv_im2col. */
void vae__conv_col2im(float *img, const float *col, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P);

/* conv2d: out (B, OH, OW, OC) = conv(inp (B, H, W, C), weight (OC, C, K, K)) + bias (OC); bias may be NULL. */
void vae__conv2d_forward(float *out, float *col, const float *inp, const float *weight, const float *bias, int B,
                    const conv_dims *d, size_t col_cap);
/* dinp (B, H, W, C) = (overwritten, may be NULL); dweight (OC, C, K, K) +=; dbias (OC) += (may be NULL) */
void vae__conv2d_backward(float *dinp, float *dweight, float *dbias, float *col, const float *dout, const float *inp,
                     const float *weight, int B, const conv_dims *d, size_t col_cap);
void vae__conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B,
                          const conv_dims *d);
void vae__conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int B, const conv_dims *d);

/* conv_transpose2d: out (B, OH, OW, OC) = the adjoint of conv2d applied to inp (B, H, W, C) with
 * weight (C, OC, K, K), plus bias (OC); PyTorch's nn.ConvTranspose2d. */
void vae__conv_transpose2d_forward(float *out, float *col, const float *inp, const float *weight, const float *bias,
                              int B, const conv_dims *d, size_t col_cap);
void vae__conv_transpose2d_backward(float *dinp, float *dweight, float *dbias, float *col, const float *dout,
                               const float *inp, const float *weight, int B, const conv_dims *d, size_t col_cap);
void vae__conv_transpose2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B,
                                    const conv_dims *d);
void vae__conv_transpose2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                     const float *inp, const float *weight, int B, const conv_dims *d);

#endif /* VAE_CONV_H */
