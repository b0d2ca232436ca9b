/* test_engine.c: every matrix-product engine this machine can run (engine.h) against naive references on
 * odd shapes (all four transpositions, padded leading dimensions, beta 0 and 1), through the kernels the
 * layers call (dense and both convolutions, forward and backward); each engine's runs are bit-identical
 * for a fixed seed and thread count (1 and 2 threads, MLP and conv models); and the engine choice itself
 * (names, "auto", errors). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conv.h"
#include "engine.h"
#include "model.h"
#include "ops.h"
#include "test.h"
#include "gradcheck.h"

/* C (M, N) = alpha op(A) op(B) + beta C in double, the reference of vae__sgemm */
static void sgemm_naive(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta == 'N' ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
                double b = tb == 'N' ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
                acc += a * b;
            }
            C[(size_t)i * ldc + j] = (float)(alpha * acc + (beta != 0.0f ? beta * C[(size_t)i * ldc + j] : 0.0));
        }
}

static void test_sgemm(vae__engine_id e) {
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {128, 40, 784}, {3, 129, 2}, {97, 31, 200}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 8; t++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            char ta = t & 1 ? 'T' : 'N', tb = t & 2 ? 'T' : 'N';
            float beta = t & 4 ? 1.0f : 0.0f, alpha = t & 4 ? 0.5f : 1.0f;
            // leading dimensions padded by 3 so that rows are not contiguous
            int lda = (ta == 'N' ? K : M) + 3, ldb = (tb == 'N' ? N : K) + 3, ldc = N + 3;
            size_t na = (size_t)(ta == 'N' ? M : K) * lda, nb = (size_t)(tb == 'N' ? K : N) * ldb, nc = (size_t)M * ldc;
            float *A = vae_malloc(na * 4), *B = vae_malloc(nb * 4), *C1 = vae_malloc(nc * 4), *C2 = vae_malloc(nc * 4);
            fill(A, na, -1, 1), fill(B, nb, -1, 1), fill(C1, nc, -1, 1);
            memcpy(C2, C1, nc * 4);
            vae__sgemm_with(e, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
            sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
            float worst = 0.0f, pad_changed = 0.0f;
            for (int i = 0; i < M; i++) {
                worst = fmaxf(worst, max_abs_diff(C1 + (size_t)i * ldc, C2 + (size_t)i * ldc, N));
                pad_changed = fmaxf(pad_changed, max_abs_diff(C1 + (size_t)i * ldc + N, C2 + (size_t)i * ldc + N, 3));
            }
            CHECK(worst < 2e-6f * K + 1e-6f && pad_changed == 0.0f, "%s sgemm %c%c %dx%dx%d beta %g: max diff %g%s",
                  vae__engine_id_name(e), ta, tb, M, N, K, beta, worst, pad_changed ? ", padding written" : "");
            vae_mem_free(A), vae_mem_free(B), vae_mem_free(C1), vae_mem_free(C2);
        }
}

/* The dense layer's kernels (ops.c) on the current engine against their naive twins. */
static void test_dense(void) {
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {128, 784, 40}, {3, 2, 129}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        size_t nx = (size_t)B * C, nw = (size_t)OC * C, no = (size_t)B * OC;
        float *x = vae_malloc(nx * 4), *w = vae_malloc(nw * 4), *bias = vae_malloc(OC * 4), *dout = vae_malloc(no * 4);
        float *o1 = vae_malloc(no * 4), *o2 = vae_malloc(no * 4), *dx1 = vae_malloc(nx * 4), *dx2 = vae_malloc(nx * 4);
        float *dw1 = vae_malloc(nw * 4), *dw2 = vae_malloc(nw * 4), *db1 = vae_malloc(OC * 4), *db2 = vae_malloc(OC * 4);
        fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(bias, OC, -1, 1), fill(dout, no, -1, 1);
        fill(dw1, nw, -1, 1), fill(db1, OC, -1, 1);
        memcpy(dw2, dw1, nw * 4), memcpy(db2, db1, OC * 4);
        vae__matmul_forward(o1, x, w, bias, B, C, OC);
        vae__matmul_forward_naive(o2, x, w, bias, B, C, OC);
        vae__matmul_backward(dx1, dw1, db1, dout, x, w, B, C, OC);
        vae__matmul_backward_naive(dx2, dw2, db2, dout, x, w, B, C, OC);
        CHECK(max_abs_diff(o1, o2, no) < 2e-6f * C + 1e-6f && max_abs_diff(dx1, dx2, nx) < 2e-6f * OC + 1e-6f &&
                  max_abs_diff(dw1, dw2, nw) < 2e-6f * B + 1e-6f && max_abs_diff(db1, db2, OC) < 2e-6f * B + 1e-6f,
              "%s dense %dx%dx%d: out %g dinp %g dweight %g dbias %g", vae_engine_name(), B, C, OC,
              max_abs_diff(o1, o2, no), max_abs_diff(dx1, dx2, nx), max_abs_diff(dw1, dw2, nw),
              max_abs_diff(db1, db2, OC));
        float *bufs[] = {x, w, bias, dout, o1, o2, dx1, dx2, dw1, dw2, db1, db2};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vae_mem_free(bufs[i]);
    }
}

/* Both convolutions (conv.c) on the current engine against the naive direct loops: odd image sizes,
 * channels, stride and padding; chunks of 2 images (a short last one). */
static void test_conv(void) {
    for (int tr = 0; tr < 2; tr++) {
        const int B = 3, H = 7, W = 5, C = 3, OC = 5, K = tr ? 4 : 3, S = 2, P = 1;
        conv_dims d;
        CHECK((tr ? vae__conv_transpose2d_dims(&d, H, W, C, OC, K, S, P) : vae__conv2d_dims(&d, H, W, C, OC, K, S, P)) == 0,
              "dims");
        size_t nx = (size_t)B * H * W * C, ny = (size_t)B * d.OH * d.OW * OC, nw = (size_t)OC * C * K * K;
        size_t cap = 2 * vae__conv_col_size(&d);
        float *x = vae_malloc(nx * 4), *w = vae_malloc(nw * 4), *b = vae_malloc(OC * 4), *g = vae_malloc(ny * 4);
        float *y1 = vae_malloc(ny * 4), *y2 = vae_malloc(ny * 4), *dx1 = vae_malloc(nx * 4), *dx2 = vae_malloc(nx * 4);
        float *dw1 = vae_calloc(nw, 4), *dw2 = vae_calloc(nw, 4), *db1 = vae_calloc(OC, 4), *db2 = vae_calloc(OC, 4);
        float *col = vae_malloc(cap * 4);
        fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(b, OC, -1, 1), fill(g, ny, -1, 1);
        if (tr) {
            vae__conv_transpose2d_forward(y1, col, x, w, b, B, &d, cap);
            vae__conv_transpose2d_forward_naive(y2, x, w, b, B, &d);
            vae__conv_transpose2d_backward(dx1, dw1, db1, col, g, x, w, B, &d, cap);
            vae__conv_transpose2d_backward_naive(dx2, dw2, db2, g, x, w, B, &d);
        } else {
            vae__conv2d_forward(y1, col, x, w, b, B, &d, cap);
            vae__conv2d_forward_naive(y2, x, w, b, B, &d);
            vae__conv2d_backward(dx1, dw1, db1, col, g, x, w, B, &d, cap);
            vae__conv2d_backward_naive(dx2, dw2, db2, g, x, w, B, &d);
        }
        CHECK(max_abs_diff(y1, y2, ny) < 1e-4f && max_abs_diff(dx1, dx2, nx) < 1e-4f &&
                  max_abs_diff(dw1, dw2, nw) < 1e-4f && max_abs_diff(db1, db2, OC) < 1e-4f,
              "%s %s: out %g dinp %g dweight %g dbias %g", vae_engine_name(), tr ? "conv_transpose2d" : "conv2d",
              max_abs_diff(y1, y2, ny), max_abs_diff(dx1, dx2, nx), max_abs_diff(dw1, dw2, nw),
              max_abs_diff(db1, db2, OC));
        float *bufs[] = {x, w, b, g, y1, y2, dx1, dx2, dw1, dw2, db1, db2, col};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vae_mem_free(bufs[i]);
    }
}

/* Train a small model (MLP or conv, on 12x8 random images) for 4 steps; return its parameters (caller frees). */
static float *train_params(int conv, size_t *n_params) {
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 12, cfg.width = 8, cfg.n_latent = 3, cfg.hidden[0] = 37;
    if (conv) cfg.arch = VAE_CONV, cfg.n_conv = 2, cfg.conv_channels[0] = 5, cfg.conv_channels[1] = 7, cfg.n_hidden = 0;
    vae_rng r;
    vae_rng_seed(&r, 11);
    vae_model *m;
    const int B = 24;
    if (vae_create(&m, &cfg, B, &r)) {
        CHECK(0, "create: %s", vae_last_error());
        return NULL;
    }
    float *x = vae_malloc((size_t)B * 96 * 4);
    for (int i = 0; i < B * 96; i++) x[i] = (float)vae_rng_uniform(&r);
    vae_train_opts o;
    vae_train_opts_default(&o);
    for (int s = 0; s < 4; s++) CHECK(vae_train_step(m, x, NULL, B, &o, &r, NULL) == VAE_OK, "step");
    *n_params = m->n_params;
    float *p = vae_malloc(m->n_params * 4);
    memcpy(p, m->params, m->n_params * 4);
    vae_mem_free(x);
    vae_free(m);
    return p;
}

static void test_bit_identical(void) {
    for (int conv = 0; conv < 2; conv++)
        for (int nt = 1; nt <= 2; nt++) {
            omp_set_num_threads(nt);
            size_t n1 = 0, n2 = 0;
            float *a = train_params(conv, &n1), *b = train_params(conv, &n2);
            CHECK(a && b && n1 == n2 && memcmp(a, b, n1 * 4) == 0, "%s, %s, %d thread(s): two runs differ",
                  vae_engine_name(), conv ? "conv" : "mlp", nt);
            vae_mem_free(a), vae_mem_free(b);
        }
}

static void test_choice(void) {
    CHECK(vae_set_engine("no-such-engine") == VAE_ERR_ARG && strstr(vae_last_error(), "no-such-engine"),
          "unknown engine refused: %s", vae_last_error());
    CHECK(vae_set_engine("auto") == VAE_OK, "auto");
    const char *a = vae_engine_name();
    CHECK(!strcmp(a, "openblas") || !strcmp(a, "dnnl") || !strcmp(a, "blis"), "auto resolves to an engine: %s", a);
    CHECK(vae__engine_available(VAE__ENGINE_OPENBLAS), "openblas runs everywhere");
    CHECK(vae_set_engine("openblas") == VAE_OK && vae__engine_current() == VAE__ENGINE_OPENBLAS, "openblas chosen");
}

int main(void) {
    vae_rng_seed(&rng, 99);
    test_choice();
    for (int e = 0; e < VAE__N_ENGINES; e++) {
        if (!vae__engine_available(e)) {
            printf("engine %s: not available here (not installed, or the sanitizer build), skipped\n",
                   vae__engine_id_name(e));
            continue;
        }
        CHECK(vae_set_engine(vae__engine_id_name(e)) == VAE_OK, "set %s", vae__engine_id_name(e));
        for (int nt = 1; nt <= 2; nt++) {
            omp_set_num_threads(nt);
            test_sgemm(e);
            test_dense();
            test_conv();
        }
        test_bit_identical();
    }
    TEST_MAIN_END();
}
