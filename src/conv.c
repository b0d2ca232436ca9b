/* conv.c: conv2d and conv_transpose2d, forward and backward, as im2col + sgemm and as naive direct loops
 * (see conv.h for layouts and conventions, docs/conv.md for the derivations).
 *
 * Letters: B batch, (H, W, C) input, (OH, OW, OC) output, K kernel, S stride, P padding, KK = K*K,
 * M rows of a chunk's column matrix (images in the chunk times grid positions).
 *
 * The fast path's products go through the run-time engine (vae__sgemm, engine.h), which runs its own
 * OpenMP threads; nothing here calls it from an OpenMP region. im2col and col2im loop over the images of a
 * chunk with OpenMP: each image owns its rows of col and its own output pixels, so no two threads write the
 * same float.
 *
 * Two column layouts. The one of conv.h, columns (channel, kh, kw), multiplies PyTorch's weights as they lie
 * but gathers every float with a stride of C; the OpenBLAS engine keeps it, so its results stay what they
 * always were. The other engines use tap-major columns (kh, kw, channel): a row of the column matrix is then
 * K runs of K*C floats copied straight from the NHWC image (one memcpy per kernel row inside the image),
 * and the weights are permuted to match, (OC, K, K, C) for conv2d and (C, K, K, OC) for the transposed
 * convolution, once per call into the end of `col` (their gradients likewise, added back at the end).
 */
#include "conv.h"
#include "engine.h"

#include <string.h>

#define CONV_MAX_SIZE 65536
#define CHUNK_FLOATS ((size_t)1 << 18) /* tap-major columns per chunk: 1 MiB */
#define CONV_MAX_KERNEL 64

static int sizes_ok(int H, int W, int C, int OC, int K, int S, int P) {
    return H >= 1 && W >= 1 && C >= 1 && OC >= 1 && H <= CONV_MAX_SIZE && W <= CONV_MAX_SIZE && C <= CONV_MAX_SIZE &&
           OC <= CONV_MAX_SIZE && K >= 1 && K <= CONV_MAX_KERNEL && S >= 1 && S <= CONV_MAX_KERNEL && P >= 0 && P < K;
}

int vae__conv2d_dims(conv_dims *d, int H, int W, int C, int OC, int K, int S, int P) {
    memset(d, 0, sizeof *d);
    if (!sizes_ok(H, W, C, OC, K, S, P) || H + 2 * P < K || W + 2 * P < K) return -1;
    *d = (conv_dims){.H = H, .W = W, .C = C, .OH = (H + 2 * P - K) / S + 1, .OW = (W + 2 * P - K) / S + 1, .OC = OC,
                     .K = K, .S = S, .P = P, .transposed = 0};
    return 0;
}

int vae__conv_transpose2d_dims(conv_dims *d, int H, int W, int C, int OC, int K, int S, int P) {
    memset(d, 0, sizeof *d);
    if (!sizes_ok(H, W, C, OC, K, S, P)) return -1;
    long OH = (long)(H - 1) * S - 2L * P + K, OW = (long)(W - 1) * S - 2L * P + K;
    if (OH < 1 || OW < 1 || OH > CONV_MAX_SIZE || OW > CONV_MAX_SIZE) return -1;
    *d = (conv_dims){.H = H, .W = W, .C = C, .OH = (int)OH, .OW = (int)OW, .OC = OC, .K = K, .S = S, .P = P,
                     .transposed = 1};
    return 0;
}

size_t vae__conv_col_size(const conv_dims *d) {
    size_t KK = (size_t)d->K * d->K;
    return d->transposed ? (size_t)d->H * d->W * d->OC * KK : (size_t)d->OH * d->OW * d->C * KK;
}

/* ---------------------------------------------------------------- im2col / col2im */

void vae__conv_im2col(float *col, const float *img, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P) {
    const int KK = K * K, row_len = C * KK;
    for (int gh = 0; gh < Hg; gh++)
        for (int gw = 0; gw < Wg; gw++) {
            float *row = col + ((size_t)gh * Wg + gw) * row_len;
            int ih0 = gh * S - P, iw0 = gw * S - P;
            if (ih0 >= 0 && ih0 + K <= Hi && iw0 >= 0 && iw0 + K <= Wi) {
                // interior: no padding, so the row is written in order (c, kh, kw) without a test per tap
                for (int c = 0; c < C; c++)
                    for (int kh = 0; kh < K; kh++) {
                        const float *src = img + ((size_t)(ih0 + kh) * Wi + iw0) * C + c;
                        float *dst = row + (size_t)c * KK + kh * K;
                        for (int kw = 0; kw < K; kw++) dst[kw] = src[(size_t)kw * C];
                    }
                continue;
            }
            for (int kh = 0; kh < K; kh++) {
                int ih = ih0 + kh;
                for (int kw = 0; kw < K; kw++) {
                    int iw = iw0 + kw;
                    float *dst = row + kh * K + kw; // column (c, kh, kw): stride KK over c
                    if (ih < 0 || ih >= Hi || iw < 0 || iw >= Wi) {
                        for (int c = 0; c < C; c++) dst[(size_t)c * KK] = 0.0f;
                    } else {
                        const float *src = img + ((size_t)ih * Wi + iw) * C;
                        for (int c = 0; c < C; c++) dst[(size_t)c * KK] = src[c];
                    }
                }
            }
        }
}

void vae__conv_col2im(float *img, const float *col, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P) {
    const int KK = K * K, row_len = C * KK;
    for (int gh = 0; gh < Hg; gh++)
        for (int gw = 0; gw < Wg; gw++) {
            const float *row = col + ((size_t)gh * Wg + gw) * row_len;
            int ih0 = gh * S - P, iw0 = gw * S - P;
            if (ih0 >= 0 && ih0 + K <= Hi && iw0 >= 0 && iw0 + K <= Wi) {
                // interior: read the row in order (c, kh, kw) without a test per tap
                for (int c = 0; c < C; c++)
                    for (int kh = 0; kh < K; kh++) {
                        float *dst = img + ((size_t)(ih0 + kh) * Wi + iw0) * C + c;
                        const float *src = row + (size_t)c * KK + kh * K;
                        for (int kw = 0; kw < K; kw++) dst[(size_t)kw * C] += src[kw];
                    }
                continue;
            }
            for (int kh = 0; kh < K; kh++) {
                int ih = gh * S - P + kh;
                if (ih < 0 || ih >= Hi) continue;
                for (int kw = 0; kw < K; kw++) {
                    int iw = gw * S - P + kw;
                    if (iw < 0 || iw >= Wi) continue;
                    const float *src = row + kh * K + kw;
                    float *dst = img + ((size_t)ih * Wi + iw) * C;
                    for (int c = 0; c < C; c++) dst[c] += src[(size_t)c * KK];
                }
            }
        }
}

/* Images per chunk: as many as col_cap holds, at most B. */
static int chunk_images(const conv_dims *d, int B, size_t col_cap) {
    size_t per = vae__conv_col_size(d), nb = col_cap / per;
    if (nb < 1) nb = 1; // the caller guarantees col_cap >= per; never loop forever if it did not
    return nb < (size_t)B ? (int)nb : B;
}

/* ---------------------------------------------------------------- tap-major columns */

/* n floats; a plain loop for the short runs of images with few channels, where a memcpy call costs more
 * than the copy (the attribute keeps gcc from turning the loop back into that call). */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void copy_floats(float *dst,
                                                                                           const float *src, size_t n) {
    if (n > 32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

/* One image: col (Hg*Wg, K*K*C), columns (kh, kw, c), from img (Hi, Wi, C) (overwrites col). */
static void im2col_taps(float *col, const float *img, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P) {
    const size_t KC = (size_t)K * C, row_len = KC * K;
    for (int gh = 0; gh < Hg; gh++)
        for (int gw = 0; gw < Wg; gw++) {
            float *row = col + ((size_t)gh * Wg + gw) * row_len;
            int ih0 = gh * S - P, iw0 = gw * S - P, whole = iw0 >= 0 && iw0 + K <= Wi;
            for (int kh = 0; kh < K; kh++) {
                int ih = ih0 + kh;
                float *dst = row + kh * KC;
                if (ih < 0 || ih >= Hi) {
                    memset(dst, 0, KC * sizeof(float));
                } else if (whole) { // the kernel row lies inside the image: K*C floats in a row
                    copy_floats(dst, img + ((size_t)ih * Wi + iw0) * C, KC);
                } else {
                    for (int kw = 0; kw < K; kw++) {
                        int iw = iw0 + kw;
                        if (iw < 0 || iw >= Wi) memset(dst + (size_t)kw * C, 0, (size_t)C * sizeof(float));
                        else copy_floats(dst + (size_t)kw * C, img + ((size_t)ih * Wi + iw) * C, (size_t)C);
                    }
                }
            }
        }
}

/* One image: img (Hi, Wi, C) += the scatter of col (Hg*Wg, K*K*C), the adjoint of im2col_taps. Computed as a
 * gather, pixel by pixel over the taps that reach it, so that each pixel's C floats are written by one
 * loop: scattering row after row made vector stores that the next row's loads overlapped in part (stride
 * below K), and such loads wait for the store to reach the cache. */
static void col2im_taps(float *img, const float *col, int Hi, int Wi, int C, int Hg, int Wg, int K, int S, int P) {
    const size_t KK = (size_t)K * K;
    for (int ih = 0; ih < Hi; ih++)
        for (int iw = 0; iw < Wi; iw++) {
            float *dst = img + ((size_t)ih * Wi + iw) * C;
            // tap kh reaches row ih from grid row gh = (ih + P - kh) / S when that is whole and in range
            for (int kh = (ih + P) % S; kh < K; kh += S) {
                int gh = (ih + P - kh) / S;
                if (gh >= Hg) continue;
                if (gh < 0) break;
                for (int kw = (iw + P) % S; kw < K; kw += S) {
                    int gw = (iw + P - kw) / S;
                    if (gw >= Wg) continue;
                    if (gw < 0) break;
                    const float *src = col + (((size_t)gh * Wg + gw) * KK + (size_t)kh * K + kw) * C;
                    #pragma omp simd
                    for (int c = 0; c < C; c++) dst[c] += src[c];
                }
            }
        }
}

/* dst (n, b, a) = src (n, a, b): the weight in tap-major order (a = channels, b = K*K taps). */
static void permute_weight(float *dst, const float *src, int n, int a, int b) {
    for (int o = 0; o < n; o++)
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++) dst[((size_t)o * b + j) * a + i] = src[((size_t)o * a + i) * b + j];
}

/* dst (n, a, b) += src (n, b, a): a tap-major gradient back into the weight's own order. */
static void unpermute_add(float *dst, const float *src, int n, int a, int b) {
    for (int o = 0; o < n; o++)
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++) dst[((size_t)o * a + i) * b + j] += src[((size_t)o * b + j) * a + i];
}

/* How a call lays out its columns. Tap-major needs two weight-sized areas at the end of col (the permuted
 * weight and its gradient) and room for an image's columns besides; else, or on the OpenBLAS engine, the
 * layout of conv.h. */
typedef struct {
    int taps;         /* 1: tap-major columns */
    float *wt, *dwt;  /* tap-major: the permuted weight and its gradient, inside col */
    int step;         /* images per chunk */
} col_plan;

static col_plan plan_columns(const conv_dims *d, int B, float *col, size_t col_cap) {
    size_t per = vae__conv_col_size(d), wsize = (size_t)d->OC * d->C * d->K * d->K;
    col_plan p = {0, NULL, NULL, chunk_images(d, B, col_cap)};
    if (vae__engine_current() == VAE__ENGINE_OPENBLAS || col_cap < 2 * wsize + per) return p;
    p.taps = 1, p.wt = col + col_cap - 2 * wsize, p.dwt = p.wt + wsize;
    // chunks whose columns stay in a core's L2 cache between the product that writes them and the col2im
    // that reads them (a whole batch's columns went to memory and back)
    size_t room = col_cap - 2 * wsize < CHUNK_FLOATS ? col_cap - 2 * wsize : CHUNK_FLOATS;
    int cap = chunk_images(d, B, room > per ? room : per), n_chunks = (B + cap - 1) / cap;
    p.step = (B + n_chunks - 1) / n_chunks; // chunks of equal size: no small last product
    return p;
}

/* rows (R, N) = bias broadcast, or zeros without bias */
static void fill_bias(float *rows, const float *bias, size_t R, int N) {
    if (!bias) {
        memset(rows, 0, R * N * sizeof(float));
        return;
    }
    for (size_t r = 0; r < R; r++) { // a loop, not memcpy: rows of one channel are one float
        float *row = rows + r * N;
        #pragma omp simd
        for (int o = 0; o < N; o++) row[o] = bias[o];
    }
}

/* dbias (N) += column sums of rows (R, N) */
static void bias_grad(float *dbias, const float *rows, size_t R, int N) {
    if (!dbias) return;
    for (size_t r = 0; r < R; r++) {
        const float *row = rows + r * N;
        for (int o = 0; o < N; o++) dbias[o] += row[o];
    }
}

/* ---------------------------------------------------------------- conv2d */

void vae__conv2d_forward(float *out, float *col, const float *inp, const float *weight, const float *bias, int B,
                    const conv_dims *d, size_t col_cap) {
    const int CKK = d->C * d->K * d->K, G = d->OH * d->OW;
    const size_t in_img = (size_t)d->H * d->W * d->C, per = vae__conv_col_size(d);
    const col_plan p = plan_columns(d, B, col, col_cap);
    if (p.taps) permute_weight(p.wt, weight, d->OC, d->C, d->K * d->K);
    const float *w = p.taps ? p.wt : weight;
    for (int b0 = 0; b0 < B; b0 += p.step) {
        int nb = B - b0 < p.step ? B - b0 : p.step, M = nb * G;
        #pragma omp parallel for schedule(static) if (nb > 1 && (size_t)nb * per > 32768)
        for (int i = 0; i < nb; i++)
            (p.taps ? im2col_taps : vae__conv_im2col)(col + (size_t)i * per, inp + (size_t)(b0 + i) * in_img, d->H, d->W,
                                                 d->C, d->OH, d->OW, d->K, d->S, d->P);
        // out (M, OC) = bias rows, then += col (M, CKK) @ weight (OC, CKK)^T
        float *o = out + (size_t)b0 * G * d->OC;
        fill_bias(o, bias, (size_t)M, d->OC);
        vae__sgemm('N', 'T', M, d->OC, CKK, 1.0f, col, CKK, w, CKK, bias ? 1.0f : 0.0f, o, d->OC);
    }
}

void vae__conv2d_backward(float *dinp, float *dweight, float *dbias, float *col, const float *dout, const float *inp,
                     const float *weight, int B, const conv_dims *d, size_t col_cap) {
    const int CKK = d->C * d->K * d->K, G = d->OH * d->OW;
    const size_t in_img = (size_t)d->H * d->W * d->C, per = vae__conv_col_size(d);
    const col_plan p = plan_columns(d, B, col, col_cap);
    if (p.taps && dinp) permute_weight(p.wt, weight, d->OC, d->C, d->K * d->K);
    const float *w = p.taps ? p.wt : weight;
    float *dw = p.taps ? p.dwt : dweight; // tap-major: summed over the chunks here, added to dweight at the end
    for (int b0 = 0; b0 < B; b0 += p.step) {
        int nb = B - b0 < p.step ? B - b0 : p.step, M = nb * G;
        const float *g = dout + (size_t)b0 * G * d->OC; // (M, OC)
        #pragma omp parallel for schedule(static) if (nb > 1 && (size_t)nb * per > 32768)
        for (int i = 0; i < nb; i++)
            (p.taps ? im2col_taps : vae__conv_im2col)(col + (size_t)i * per, inp + (size_t)(b0 + i) * in_img, d->H, d->W,
                                                 d->C, d->OH, d->OW, d->K, d->S, d->P);
        // dweight (OC, CKK) += dout^T (OC, M) @ col (M, CKK)
        vae__sgemm('T', 'N', d->OC, CKK, M, 1.0f, g, d->OC, col, CKK, p.taps && b0 == 0 ? 0.0f : 1.0f, dw, CKK);
        bias_grad(dbias, g, (size_t)M, d->OC);
        if (!dinp) continue;
        // dcol (M, CKK) = dout (M, OC) @ weight (OC, CKK), reusing col; then scatter it back onto the input
        vae__sgemm('N', 'N', M, CKK, d->OC, 1.0f, g, d->OC, w, CKK, 0.0f, col, CKK);
        float *di = dinp + (size_t)b0 * in_img;
        memset(di, 0, (size_t)nb * in_img * sizeof(float));
        #pragma omp parallel for schedule(static) if (nb > 1 && (size_t)nb * per > 32768)
        for (int i = 0; i < nb; i++)
            (p.taps ? col2im_taps : vae__conv_col2im)(di + (size_t)i * in_img, col + (size_t)i * per, d->H, d->W, d->C,
                                                 d->OH, d->OW, d->K, d->S, d->P);
    }
    if (p.taps) unpermute_add(dweight, p.dwt, d->OC, d->C, d->K * d->K);
}

/* The naive references gather each output from its definition, in double:
 *   out[b, oh, ow, oc] = bias[oc] + sum_{c, kh, kw} inp[b, oh*S-P+kh, ow*S-P+kw, c] * weight[oc, c, kh, kw]
 * and each gradient from its own formula (not by reversing the forward's loops), so that they check the
 * fast path rather than repeat it. */

#define AT4(p, i, j, k, l, J, K, L) ((p)[(((size_t)(i) * (J) + (j)) * (K) + (k)) * (L) + (l)])

void vae__conv2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B,
                          const conv_dims *d) {
    const int H = d->H, W = d->W, C = d->C, OH = d->OH, OW = d->OW, OC = d->OC, K = d->K, S = d->S, P = d->P;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int oc = 0; oc < OC; oc++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                int ih = oh * S - P + kh, iw = ow * S - P + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)AT4(inp, b, ih, iw, c, H, W, C) * AT4(weight, oc, c, kh, kw, C, K, K);
                            }
                    AT4(out, b, oh, ow, oc, OH, OW, OC) = (float)acc;
                }
}

/* dbias[oc] += sum over the R rows of dout (R, OC), in double: the naive layers' bias gradient. */
static void bias_grad_naive(float *dbias, const float *dout, size_t R, int OC) {
    for (int oc = 0; oc < OC; oc++) {
        double acc = 0.0;
        for (size_t r = 0; r < R; r++) acc += dout[r * OC + oc];
        dbias[oc] += (float)acc;
    }
}

void vae__conv2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int B, const conv_dims *d) {
    const int H = d->H, W = d->W, C = d->C, OH = d->OH, OW = d->OW, OC = d->OC, K = d->K, S = d->S, P = d->P;
    // dweight[oc, c, kh, kw] += sum_{b, oh, ow} dout[b, oh, ow, oc] * inp[b, oh*S-P+kh, ow*S-P+kw, c]
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++)
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    double acc = 0.0;
                    for (int b = 0; b < B; b++)
                        for (int oh = 0; oh < OH; oh++)
                            for (int ow = 0; ow < OW; ow++) {
                                int ih = oh * S - P + kh, iw = ow * S - P + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)AT4(dout, b, oh, ow, oc, OH, OW, OC) * AT4(inp, b, ih, iw, c, H, W, C);
                            }
                    AT4(dweight, oc, c, kh, kw, C, K, K) += (float)acc;
                }
    if (dbias) bias_grad_naive(dbias, dout, (size_t)B * OH * OW, OC);
    if (!dinp) return;
    // dinp[b, ih, iw, c] = sum over (oc, kh, kw) whose output oh = (ih + P - kh) / S is whole and in range
    for (int b = 0; b < B; b++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++)
                for (int c = 0; c < C; c++) {
                    double acc = 0.0;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++) {
                            int th = ih + P - kh, tw = iw + P - kw;
                            if (th < 0 || tw < 0 || th % S || tw % S || th / S >= OH || tw / S >= OW) continue;
                            for (int oc = 0; oc < OC; oc++)
                                acc += (double)AT4(dout, b, th / S, tw / S, oc, OH, OW, OC) *
                                       AT4(weight, oc, c, kh, kw, C, K, K);
                        }
                    AT4(dinp, b, ih, iw, c, H, W, C) = (float)acc;
                }
}

/* ---------------------------------------------------------------- conv_transpose2d */

void vae__conv_transpose2d_forward(float *out, float *col, const float *inp, const float *weight, const float *bias,
                              int B, const conv_dims *d, size_t col_cap) {
    const int OCKK = d->OC * d->K * d->K, G = d->H * d->W;
    const size_t out_img = (size_t)d->OH * d->OW * d->OC, per = vae__conv_col_size(d);
    const col_plan p = plan_columns(d, B, col, col_cap);
    if (p.taps) permute_weight(p.wt, weight, d->C, d->OC, d->K * d->K);
    const float *w = p.taps ? p.wt : weight;
    for (int b0 = 0; b0 < B; b0 += p.step) {
        int nb = B - b0 < p.step ? B - b0 : p.step, M = nb * G;
        // col (M, OCKK) = inp (M, C) @ weight (C, OCKK)
        vae__sgemm('N', 'N', M, OCKK, d->C, 1.0f, inp + (size_t)b0 * G * d->C, d->C, w, OCKK, 0.0f, col, OCKK);
        float *o = out + (size_t)b0 * out_img;
        fill_bias(o, bias, (size_t)nb * d->OH * d->OW, d->OC);
        #pragma omp parallel for schedule(static) if (nb > 1 && (size_t)nb * per > 32768)
        for (int i = 0; i < nb; i++)
            (p.taps ? col2im_taps : vae__conv_col2im)(o + (size_t)i * out_img, col + (size_t)i * per, d->OH, d->OW, d->OC,
                                                 d->H, d->W, d->K, d->S, d->P);
    }
}

void vae__conv_transpose2d_backward(float *dinp, float *dweight, float *dbias, float *col, const float *dout,
                               const float *inp, const float *weight, int B, const conv_dims *d, size_t col_cap) {
    const int OCKK = d->OC * d->K * d->K, G = d->H * d->W;
    const size_t out_img = (size_t)d->OH * d->OW * d->OC, per = vae__conv_col_size(d);
    const col_plan p = plan_columns(d, B, col, col_cap);
    if (p.taps && dinp) permute_weight(p.wt, weight, d->C, d->OC, d->K * d->K);
    const float *w = p.taps ? p.wt : weight;
    float *dw = p.taps ? p.dwt : dweight; // tap-major: summed over the chunks here, added to dweight at the end
    for (int b0 = 0; b0 < B; b0 += p.step) {
        int nb = B - b0 < p.step ? B - b0 : p.step, M = nb * G;
        const float *g = dout + (size_t)b0 * out_img;
        #pragma omp parallel for schedule(static) if (nb > 1 && (size_t)nb * per > 32768)
        for (int i = 0; i < nb; i++)
            (p.taps ? im2col_taps : vae__conv_im2col)(col + (size_t)i * per, g + (size_t)i * out_img, d->OH, d->OW, d->OC,
                                                 d->H, d->W, d->K, d->S, d->P);
        bias_grad(dbias, g, (size_t)nb * d->OH * d->OW, d->OC);
        const float *x = inp + (size_t)b0 * G * d->C; // (M, C)
        // dweight (C, OCKK) += inp^T (C, M) @ dcol (M, OCKK)
        vae__sgemm('T', 'N', d->C, OCKK, M, 1.0f, x, d->C, col, OCKK, p.taps && b0 == 0 ? 0.0f : 1.0f, dw, OCKK);
        // dinp (M, C) = dcol (M, OCKK) @ weight (C, OCKK)^T
        if (dinp)
            vae__sgemm('N', 'T', M, d->C, OCKK, 1.0f, col, OCKK, w, OCKK, 0.0f, dinp + (size_t)b0 * G * d->C, d->C);
    }
    if (p.taps) unpermute_add(dweight, p.dwt, d->C, d->OC, d->K * d->K);
}

/*   out[b, oh, ow, oc] = bias[oc] + sum over (c, kh, kw) whose input h = (oh + P - kh) / S is whole and in
 *                        range of inp[b, h, w, c] * weight[c, oc, kh, kw] */
void vae__conv_transpose2d_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int B,
                                    const conv_dims *d) {
    const int H = d->H, W = d->W, C = d->C, OH = d->OH, OW = d->OW, OC = d->OC, K = d->K, S = d->S, P = d->P;
    for (int b = 0; b < B; b++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int oc = 0; oc < OC; oc++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++) {
                            int th = oh + P - kh, tw = ow + P - kw;
                            if (th < 0 || tw < 0 || th % S || tw % S || th / S >= H || tw / S >= W) continue;
                            for (int c = 0; c < C; c++)
                                acc += (double)AT4(inp, b, th / S, tw / S, c, H, W, C) * AT4(weight, c, oc, kh, kw, OC, K, K);
                        }
                    AT4(out, b, oh, ow, oc, OH, OW, OC) = (float)acc;
                }
}

void vae__conv_transpose2d_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout,
                                     const float *inp, const float *weight, int B, const conv_dims *d) {
    const int H = d->H, W = d->W, C = d->C, OH = d->OH, OW = d->OW, OC = d->OC, K = d->K, S = d->S, P = d->P;
    // dweight[c, oc, kh, kw] += sum_{b, h, w} inp[b, h, w, c] * dout[b, h*S-P+kh, w*S-P+kw, oc]
    for (int c = 0; c < C; c++)
        for (int oc = 0; oc < OC; oc++)
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    double acc = 0.0;
                    for (int b = 0; b < B; b++)
                        for (int h = 0; h < H; h++)
                            for (int w = 0; w < W; w++) {
                                int oh = h * S - P + kh, ow = w * S - P + kw;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                                acc += (double)AT4(inp, b, h, w, c, H, W, C) * AT4(dout, b, oh, ow, oc, OH, OW, OC);
                            }
                    AT4(dweight, c, oc, kh, kw, OC, K, K) += (float)acc;
                }
    if (dbias) bias_grad_naive(dbias, dout, (size_t)B * OH * OW, OC);
    if (!dinp) return;
    // dinp[b, h, w, c] = sum_{oc, kh, kw} dout[b, h*S-P+kh, w*S-P+kw, oc] * weight[c, oc, kh, kw]
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) {
                    double acc = 0.0;
                    for (int oc = 0; oc < OC; oc++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                int oh = h * S - P + kh, ow = w * S - P + kw;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                                acc += (double)AT4(dout, b, oh, ow, oc, OH, OW, OC) * AT4(weight, c, oc, kh, kw, OC, K, K);
                            }
                    AT4(dinp, b, h, w, c, H, W, C) = (float)acc;
                }
}
