/* bench_bf16.c: would bf16 products (float accumulation, float master weights) make MLP training 1.3x as fast?
 *
 * The 784-400-20 training step's products (bench_train's list: per dense layer the forward product, the
 * weight gradient and, but for the first layer, the input gradient; batch 128) timed three ways in
 * alternating rounds, best round kept: float through dnnl_sgemm (what libvae runs), float through oneDNN's
 * matmul primitive, and bf16 x bf16 -> float through the same primitive (AVX512_BF16 where the CPU has it),
 * plus the conversion of both operands of every product to bf16 (a real bf16 step must convert them each
 * step). A full float training step is timed in the same rounds; the projected bf16 step is the float step
 * with its products replaced by the bf16 products and the conversions.
 *
 *   build/bench/bench_bf16 DATA_DIR [threads] [seconds_per_round]
 * Prints a line and a JSON object.
 */
#include <immintrin.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data.h"
#include "engine.h"
#include "model.h"
#include "train.h"

#define MAX_PRODUCTS 32

typedef struct {
    char ta, tb;
    int M, N, K;
    float *A, *B, *C;            /* float operands (the model's own buffers, values irrelevant to timing) */
    uint16_t *A16, *B16;         /* bf16 copies */
    dnnl_primitive_t p32, p16;   /* matmul primitives, float and bf16 */
} product;

static dnnl_engine_t eng;
static dnnl_stream_t stream;

#define CHECK_DNNL(x)                                                                         \
    do {                                                                                      \
        if ((x) != dnnl_success) {                                                            \
            fprintf(stderr, "%s:%d: oneDNN call failed: %s\n", __FILE__, __LINE__, #x);     \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static dnnl_primitive_t make_matmul(const product *q, dnnl_data_type_t in) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {q->M, q->K}, bd = {q->K, q->N}, cd = {q->M, q->N};
    CHECK_DNNL(dnnl_memory_desc_init_by_tag(&a, 2, ad, in, q->ta == 'N' ? dnnl_ab : dnnl_ba));
    CHECK_DNNL(dnnl_memory_desc_init_by_tag(&b, 2, bd, in, q->tb == 'N' ? dnnl_ab : dnnl_ba));
    CHECK_DNNL(dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CHECK_DNNL(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c));
    dnnl_primitive_desc_t pd;
    CHECK_DNNL(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    dnnl_primitive_t p;
    CHECK_DNNL(dnnl_primitive_create(&p, pd));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static void run_matmul(const product *q, int bf16) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {q->M, q->K}, bd = {q->K, q->N}, cd = {q->M, q->N};
    dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_init_by_tag(&a, 2, ad, in, q->ta == 'N' ? dnnl_ab : dnnl_ba);
    dnnl_memory_desc_init_by_tag(&b, 2, bd, in, q->tb == 'N' ? dnnl_ab : dnnl_ba);
    dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_memory_t am, bm, cm;
    dnnl_memory_create(&am, &a, eng, bf16 ? (void *)q->A16 : q->A);
    dnnl_memory_create(&bm, &b, eng, bf16 ? (void *)q->B16 : q->B);
    dnnl_memory_create(&cm, &c, eng, q->C);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    dnnl_primitive_execute(bf16 ? q->p16 : q->p32, stream, 3, args);
    dnnl_stream_wait(stream);
    dnnl_memory_destroy(am), dnnl_memory_destroy(bm), dnnl_memory_destroy(cm);
}

/* float -> bf16, round to nearest even, over the threads */
__attribute__((target("avx512f,avx512bf16"))) static void to_bf16_avx512(uint16_t *dst, const float *src, size_t n) {
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n / 16 * 16; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
    for (size_t i = n / 16 * 16; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        dst[i] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    }
}

static int n_products;
static product products[MAX_PRODUCTS];

static void add_product(char ta, char tb, int M, int N, int K, float *A, float *B, float *C) {
    product *q = &products[n_products++];
    *q = (product){ta, tb, M, N, K, A, B, C, NULL, NULL, NULL, NULL};
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    q->A16 = malloc(na * 2), q->B16 = malloc(nb * 2);
    q->p32 = make_matmul(q, dnnl_f32), q->p16 = make_matmul(q, dnnl_bf16);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [threads] [seconds_per_round]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    double round_s = argc > 3 ? atof(argv[3]) : 1.0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
        printf("no AVX512_BF16 on this CPU: not measured\n{\"bf16\": null}\n");
        return 0;
    }
    omp_set_num_threads(threads);
    vae_dataset ds;
    if (vae_dataset_load(&ds, argv[1], "train")) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 2;
    }
    vae_config cfg;
    vae_config_default(&cfg);
    const int B = 128;
    vae_rng rng;
    vae_rng_seed(&rng, 1);
    vae_model *m;
    vae_trainer t;
    if (vae_create(&m, &cfg, B, &rng) || vae_trainer_init(&t, m, &ds, ds.n, B, 0, 1)) {
        fprintf(stderr, "%s\n", vae_last_error());
        return 1;
    }
    CHECK_DNNL(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK_DNNL(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    // the step's products on the model's buffers: scratch operands big enough for every shape
    size_t big = (size_t)B * 800 + 800 * 800;
    float *s1 = vae_calloc(big, 4), *s2 = vae_calloc(big, 4), *s3 = vae_calloc(big, 4);
    for (int i = 0; i < m->n_layers; i++) {
        const vae_layer *l = &m->layers[i];
        if (l->kind != VAE_LAYER_DENSE) continue;
        int C = l->in_w, OC = l->out_w;
        float *w = m->params + m->tensors[l->weight].offset, *dw = m->grads + m->tensors[l->weight].offset;
        add_product('N', 'T', B, OC, C, s1, w, s3);  // out = inp @ weight^T
        add_product('T', 'N', OC, C, B, s2, s1, dw); // dweight = dout^T @ inp
        if (l->need_dinp) add_product('N', 'N', B, C, OC, s2, w, s3); // dinp = dout @ weight
    }
    double flops = 0;
    for (int k = 0; k < n_products; k++) flops += 2.0 * products[k].M * products[k].N * products[k].K;
    vae_train_opts opts;
    vae_train_opts_default(&opts);
    double best[5] = {0}; // images/s: step, sgemm, matmul f32, matmul bf16, conversions
    for (int round = 0; round < 6; round++) {
        for (int what = 0; what < 5; what++) {
            int steps = 0;
            double t0 = vae_now(), el;
            do {
                if (what == 0) {
                    vae_dataset_batch(&ds, NULL, (steps % 400) * B, B, t.x);
                    if (vae_train_step(m, t.x, NULL, B, &opts, &rng, NULL)) return 1;
                }
                for (int k = 0; k < n_products && what > 0; k++) {
                    product *q = &products[k];
                    if (what == 1)
                        vae__sgemm_with(VAE__ENGINE_DNNL, q->ta, q->tb, q->M, q->N, q->K, 1.0f, q->A,
                                        q->ta == 'N' ? q->K : q->M, q->B, q->tb == 'N' ? q->N : q->K, 0.0f, q->C, q->N);
                    else if (what == 2 || what == 3) run_matmul(q, what == 3);
                    else to_bf16_avx512(q->A16, q->A, (size_t)q->M * q->K), to_bf16_avx512(q->B16, q->B, (size_t)q->K * q->N);
                }
                steps++;
            } while ((el = vae_now() - t0) < round_s);
            double ips = steps * (double)B / el;
            if (round > 0 && ips > best[what]) best[what] = ips; // round 0 warms up
        }
    }
    double t_step = 1 / best[0], t_prod = 1 / best[1], t16 = 1 / best[3] + 1 / best[4];
    double projected = 1 / (t_step - t_prod + t16);
    printf("MLP 784-400-20 batch 128, %d thread%s: float step %.0f images/s; products: dnnl_sgemm %.0f, matmul float %.0f, "
           "matmul bf16 %.0f (%.0f / %.0f / %.0f GFLOP/s), bf16 conversions alone %.0f; projected bf16 step %.0f "
           "images/s (%.2fx)\n",
           threads, threads > 1 ? "s" : "", best[0], best[1], best[2], best[3], best[1] * flops / B / 1e9,
           best[2] * flops / B / 1e9, best[3] * flops / B / 1e9, best[4], projected, projected / best[0]);
    printf("{\"threads\": %d, \"step_ips\": %.0f, \"sgemm_ips\": %.0f, \"matmul_f32_ips\": %.0f, \"matmul_bf16_ips\": %.0f, "
           "\"convert_ips\": %.0f, \"projected_bf16_step_ips\": %.0f, \"projected_speedup\": %.3f}\n",
           threads, best[0], best[1], best[2], best[3], best[4], projected, projected / best[0]);
    return 0;
}
