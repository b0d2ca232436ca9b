/* engine.h: the matrix-product engine behind every product of libvae (ops.c, conv.c), chosen at run time.
 *
 * Engines (docs/performance.md has the measurements behind the choice):
 *   openblas  OpenBLAS as linked (the OpenMP build); follows the user's OPENBLAS_CORETYPE, which libvae never
 *             overrides. Works on any x86-64. VAE_ENGINE=openblas gives exactly the results of the builds
 *             before engines existed.
 *   dnnl      oneDNN's dnnl_sgemm: its own CPU dispatch (AVX-512 JIT kernels where present, AVX2, SSE4.1).
 *   blis      BLIS (Debian's OpenMP build), loaded with dlopen when installed: its BLAS symbols would
 *             otherwise collide with OpenBLAS's.
 *   auto      the fastest one measured on this CPU's feature set (vae_engine_auto).
 * The engine is a process-wide setting of the caller (like a thread count): vae_set_engine, or the
 * environment variable VAE_ENGINE read at the first product when vae_set_engine was never called. Every
 * engine runs on OpenMP's thread count (omp_set_num_threads) and gives the same bits for the same engine,
 * shapes and thread count.
 */
#ifndef VAE_ENGINE_H
#define VAE_ENGINE_H

#include "vae.h"

typedef enum { VAE__ENGINE_OPENBLAS = 0, VAE__ENGINE_DNNL, VAE__ENGINE_BLIS, VAE__N_ENGINES } vae__engine_id;

/* C (M, N) = alpha op(A) op(B) + beta C, all row-major; op(A) is (M, K): A itself when ta == 'N' (lda >= K),
 * A^T of a (K, M) array when ta == 'T' (lda >= M); likewise op(B) (K, N). Through the current engine. */
void vae__sgemm(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);
/* The same through a given engine (which must be available): the tests and benchmarks compare engines. */
void vae__sgemm_with(vae__engine_id e, char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

/** @return the engine products run on now (resolving "auto" and VAE_ENGINE on first use). */
vae__engine_id vae__engine_current(void);
/** @return 1 when engine e can run on this machine. */
int vae__engine_available(vae__engine_id e);
/** @return the engine's name ("openblas", "dnnl", "blis"). */
const char *vae__engine_id_name(vae__engine_id e);

#endif /* VAE_ENGINE_H */
