/* engine.c: one sgemm entry point over the matrix-product engines (engine.h), and the run-time choice.
 *
 * Why each engine is reached as it is:
 *   - OpenBLAS through its CBLAS interface, exactly as libvae always called it (same bits).
 *   - oneDNN through dnnl_sgemm, row-major like CBLAS. Its OpenMP threads are ours (the Debian build uses
 *     libgomp's runtime), so omp_set_num_threads governs it as it governs OpenBLAS's OpenMP build.
 *   - BLIS by dlopen(RTLD_LOCAL) of Debian's OpenMP build: libblis.so also exports cblas_sgemm and
 *     sgemm_, which must not be mixed with OpenBLAS's in one global symbol scope. Its typed API takes
 *     row and column strides, so a transposed operand is the same array with its strides swapped. BLIS
 *     keeps its own thread count, which is set to OpenMP's before each call (it is private to libvae).
 */
#include "engine.h"

#include <cblas.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char *const engine_names[VAE__N_ENGINES] = {"openblas", "dnnl", "blis"};

/* ---------------------------------------------------------------- BLIS, loaded on demand */

/* bli_sgemm's typed API (blis.h, BLIS 0.9): trans_t is an enum (0 = no transpose), dim_t and inc_t are
 * 64-bit integers on x86-64. Declared here so that blis.h (whose cblas.h would clash) is not needed. */
typedef void (*bli_sgemm_fn)(int transa, int transb, int64_t m, int64_t n, int64_t k, const float *alpha,
                             const float *a, int64_t rs_a, int64_t cs_a, const float *b, int64_t rs_b, int64_t cs_b,
                             const float *beta, float *c, int64_t rs_c, int64_t cs_c);
typedef void (*bli_set_threads_fn)(int64_t n);

static struct {
    int state; /* 0 not tried, 1 loaded, -1 unavailable */
    bli_sgemm_fn sgemm;
    bli_set_threads_fn set_threads;
    int threads; /* the count last given to BLIS */
} blis;

static int blis_load(void) {
    int s = __atomic_load_n(&blis.state, __ATOMIC_ACQUIRE);
    if (s) return s > 0;
    static const char *const paths[] = {"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !h; i++) h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
    bli_sgemm_fn g = h ? (bli_sgemm_fn)dlsym(h, "bli_sgemm") : NULL;
    bli_set_threads_fn t = h ? (bli_set_threads_fn)dlsym(h, "bli_thread_set_num_threads") : NULL;
    if (g && t) blis.sgemm = g, blis.set_threads = t;
    __atomic_store_n(&blis.state, g && t ? 1 : -1, __ATOMIC_RELEASE); // the handle stays open for the process
    return g && t;
}

static void blis_sgemm(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    int nt = omp_get_max_threads();
    if (blis.threads != nt) blis.set_threads(nt), blis.threads = nt;
    int64_t rsa = ta == 'N' ? lda : 1, csa = ta == 'N' ? 1 : lda;
    int64_t rsb = tb == 'N' ? ldb : 1, csb = tb == 'N' ? 1 : ldb;
    blis.sgemm(0, 0, M, N, K, &alpha, A, rsa, csa, B, rsb, csb, &beta, C, ldc, 1);
}

/* ---------------------------------------------------------------- choice */

int vae__engine_available(vae__engine_id e) {
    switch (e) {
    case VAE__ENGINE_OPENBLAS: return 1;
    case VAE__ENGINE_DNNL: return __builtin_cpu_supports("sse4.1"); // oneDNN's minimum ISA
    case VAE__ENGINE_BLIS:
#if defined(__SANITIZE_ADDRESS__)
        // gcc 12's LeakSanitizer crashes at exit while scanning the thread-local storage of a dlopen'd BLIS:
        // the sanitizer build runs without it
        return 0;
#else
        return blis_load();
#endif
    default: return 0;
    }
}

const char *vae__engine_id_name(vae__engine_id e) { return e >= 0 && e < VAE__N_ENGINES ? engine_names[e] : "?"; }

/* "auto": the engine measured fastest on the products libvae runs, per CPU feature set
 * (docs/performance.md, bench/bench_engines.c). With AVX-512 (F and BW) and with AVX2 + FMA, oneDNN's JIT
 * kernels lead; below AVX2, OpenBLAS, which runs on any x86-64. */
static vae__engine_id engine_auto(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return VAE__ENGINE_DNNL;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VAE__ENGINE_DNNL;
    return VAE__ENGINE_OPENBLAS;
}

/* name -> engine, "auto" resolved; -1 for an unknown name or an engine this machine cannot run */
static int engine_parse(const char *name) {
    if (!name || !strcmp(name, "auto")) return engine_auto();
    for (int e = 0; e < VAE__N_ENGINES; e++)
        if (!strcmp(name, engine_names[e])) return vae__engine_available(e) ? e : -1;
    return -1;
}

static int current = -1; /* -1: not chosen yet */

vae__engine_id vae__engine_current(void) {
    int e = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
    if (e >= 0) return e;
    // first product without vae_set_engine: VAE_ENGINE, else auto (an unusable VAE_ENGINE falls back to auto;
    // the CLI checks the variable and reports it)
    const char *env = getenv("VAE_ENGINE");
    e = env && *env ? engine_parse(env) : -1;
    if (e < 0) e = engine_auto();
    __atomic_store_n(&current, e, __ATOMIC_RELEASE);
    return e;
}

vae_status vae_set_engine(const char *name) {
    int e = engine_parse(name);
    if (e < 0) {
        int known = !name || !strcmp(name, "auto");
        for (int i = 0; i < VAE__N_ENGINES; i++) known |= name && !strcmp(name, engine_names[i]);
        return vae_fail(VAE_ERR_ARG, known ? "engine %s is not available on this machine"
                                           : "unknown engine '%s' (auto, openblas, dnnl or blis)", name ? name : "");
    }
    __atomic_store_n(&current, e, __ATOMIC_RELEASE);
    return VAE_OK;
}

const char *vae_engine_name(void) { return engine_names[vae__engine_current()]; }

/* ---------------------------------------------------------------- products */

void vae__sgemm_with(vae__engine_id e, char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    switch (e) {
    case VAE__ENGINE_DNNL:
        dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        break;
    case VAE__ENGINE_BLIS:
        blis_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        break;
    default:
        cblas_sgemm(CblasRowMajor, ta == 'N' ? CblasNoTrans : CblasTrans, tb == 'N' ? CblasNoTrans : CblasTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
        break;
    }
}

void vae__sgemm(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc) {
    vae__sgemm_with(vae__engine_current(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
