/* vae.h: the public API of libvae, a variational autoencoder library in C.
 *
 * One opaque model (vae_model) owns its parameters, gradients, Adam moments and activation buffers,
 * all allocated once by vae_create / vae_load for at most `max_batch` images per call. Every function
 * returns a vae_status; on failure vae_last_error() holds a one-line message naming the file, flag or
 * tensor at fault. The library never prints, exits, installs signal handlers or changes global state
 * (OpenBLAS thread count included): the caller owns all of that.
 *
 * Dimension letters used in comments (one meaning each, in the code and docs/ too): B batch, D input size
 * (H*W*C), H, W, C image height, width, channels, N hidden width, Z latent size, L number of classes
 * (conditional models), k importance samples (lower case, as Burda et al. write it), K, S, P kernel size,
 * stride and padding (convolutions).
 *
 * Argument policy: every function checks its arguments. A NULL pointer that is not documented as allowed, a
 * size out of range, or an option that is out of range or not finite gives VAE_ERR_ARG with a message
 * naming the argument, and changes nothing. Functions that return a value instead of a status (vae_num_params,
 * vae_get_config, ...) return 0 or NULL for a NULL model and set the message; so do the vae_rng_* functions
 * for a NULL generator or output (doing nothing else). vae_save refuses a model whose parameters are not all
 * finite.
 */
#ifndef VAE_H
#define VAE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version and exports */

/* The version of this header. The shared library's soname is libvae.so.MAJOR; docs/abi.md says what may
 * change between versions (MINOR adds, MAJOR breaks). */
#define VAE_VERSION_MAJOR 0
#define VAE_VERSION_MINOR 1
#define VAE_VERSION_PATCH 0
#define VAE_VERSION_STRING "0.1.0"

/* Exports: libvae is built with -fvisibility=hidden, and everything declared between here and the end of this
 * header has default visibility, so libvae.so exports exactly the functions declared in this file (declare a
 * new public function anywhere below, with its doc comment; nothing else to do). */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

/** @return the library's version, "MAJOR.MINOR.PATCH" (that of the libvae.so in use, which may be newer
 *  than VAE_VERSION_STRING of the header a program was built with). */
const char *vae_version(void);

/* ---------------------------------------------------------------- status */

typedef enum {
    VAE_OK = 0,
    VAE_ERR_ARG,     /* an argument or configuration value is invalid */
    VAE_ERR_NOMEM,   /* an allocation failed */
    VAE_ERR_IO,      /* a file could not be opened, read or written */
    VAE_ERR_FORMAT,  /* a file is corrupt, truncated or of an unsupported kind */
    VAE_ERR_NAN,     /* a loss or gradient became NaN or infinite */
} vae_status;

/** @return a short constant description of a status ("out of memory", ...). */
const char *vae_strerror(vae_status status);

/** @return the detailed message of the last failure in the calling thread ("" if none). */
const char *vae_last_error(void);

/* ---------------------------------------------------------------- random numbers */

/** Explicit, seedable generator (xoshiro256**). Pass it by pointer; copy it to fork a stream. */
typedef struct {
    uint64_t s[4];
} vae_rng;

/** Seed the generator; every seed (0 included) gives a distinct, well-mixed state. */
void vae_rng_seed(vae_rng *rng, uint64_t seed);
/** @return 64 uniformly random bits. */
uint64_t vae_rng_next(vae_rng *rng);
/** @return a uniform double in [0, 1). */
double vae_rng_uniform(vae_rng *rng);
/** @return a standard normal float (Box-Muller, no cached second value, so the state is all there is). */
float vae_rng_normal(vae_rng *rng);
/** Fill out[0..n) with standard normal floats, using both values of each Box-Muller pair (twice as fast). */
void vae_rng_normals(vae_rng *rng, float *out, size_t n);
/** Binarize in place: each x[i], a probability in [0, 1], becomes 1 with that probability and 0 otherwise
 *  (uniforms of 24 bits, two from each 64 random bits). */
void vae_rng_bernoulli(vae_rng *rng, float *x, size_t n);
/** Fill order[0..n) with a uniformly random permutation of 0..n-1 (Fisher-Yates, one vae_rng_next per
 *  position from the last down): the order in which `vae train` visits its training images each epoch. */
void vae_rng_shuffle(vae_rng *rng, int *order, int n);

/* ---------------------------------------------------------------- configuration */

/* How the public structs grow (docs/abi.md). vae_config and vae_train_opts keep their size and the offsets
 * of their fields for a whole MAJOR version: each ends in a `reserved` array of 4-byte words. A new field
 * goes at the end, just before `reserved`, which shrinks by the field's size in words (an 8-byte field
 * first takes one word to align itself if needed), so sizeof stays VAE_CONFIG_SIZE / VAE_TRAIN_OPTS_SIZE
 * (src/version.c checks both when it compiles). vae_config_default / vae_train_opts_default set every
 * field, the new ones included, so a program built against an older header that starts from them gets
 * the new fields' defaults; a new field's zero value should also mean "as before", for programs that zero
 * the struct instead. Reserved words must be left as the default functions set them (zero). */
#define VAE_CONFIG_SIZE 256
#define VAE_TRAIN_OPTS_SIZE 128

typedef enum { VAE_BERNOULLI = 0, VAE_GAUSSIAN = 1 } vae_likelihood;
typedef enum { VAE_RELU = 0, VAE_TANH = 1 } vae_activation;
typedef enum { VAE_MLP = 0, VAE_CONV = 1 } vae_arch;

#define VAE_MAX_HIDDEN 8
#define VAE_MAX_CONV 6

/** Everything needed to rebuild a model; stored in every checkpoint. */
typedef struct {
    int height, width, channels;     /* input image shape; D = height * width * channels */
    int n_hidden;                    /* number of hidden layers in the encoder (mirrored by the decoder) */
    int hidden[VAE_MAX_HIDDEN];      /* widths, encoder order: 512,256 gives D-512-256-Z and Z-256-512-D */
    int n_latent;                    /* Z */
    int n_classes;                   /* L > 0: conditional model, one-hot label fed to encoder and decoder */
    vae_likelihood likelihood;       /* Bernoulli (logits) or Gaussian (learned scalar variance) */
    vae_activation activation;       /* hidden-layer nonlinearity */
    int ae;                          /* 1: plain deterministic autoencoder (z = mu, no KL) */
    /* Convolutional networks (arch VAE_CONV; docs/conv.md). The encoder runs one 3x3 stride-2 convolution
     * (padding 1) + activation per entry of conv_channels, flattens the feature map and continues with the
     * dense layers above (hidden, then the head); the decoder's dense layers end in the feature map's size
     * + activation, then 4x4 stride-2 transposed convolutions (padding 1) through the channels in reverse
     * and back to the image's channels. Each layer halves (doubles) height and width, so both must be
     * divisible by 2^n_conv. For VAE_MLP, n_conv must be 0. */
    vae_arch arch;                   /* VAE_MLP (default) or VAE_CONV */
    int n_conv;                      /* number of convolutions in the encoder (and transposed ones in the decoder) */
    int conv_channels[VAE_MAX_CONV]; /* output channels, encoder order: 32,64 */
    float dropout;                   /* 0 (default): none; p in (0, 1): after each hidden dense layer's activation
                                        (encoder and decoder), training steps zero each value with probability
                                        p and scale the others by 1 / (1 - p); evaluation, encode and decode
                                        pass values through (inverted dropout, as PyTorch's nn.Dropout) */
    /* new fields here (see "How the public structs grow" above) */
    int32_t reserved[38];            /* zero; sizeof(vae_config) == VAE_CONFIG_SIZE */
} vae_config;

/** Fill cfg with the PyTorch example's model: 28x28x1, hidden 400, latent 20, Bernoulli, ReLU, MLP.
 *  For the default convolutional model set arch = VAE_CONV, n_conv = 2, conv_channels = {32, 64},
 *  n_hidden = 0. */
void vae_config_default(vae_config *cfg);

/* ---------------------------------------------------------------- model */

typedef struct vae_model vae_model;

/**
 * Create a model with freshly initialised parameters.
 * @param out        receives the model; NULL on failure
 * @param cfg        architecture (validated)
 * @param max_batch  largest number of images passed to any later call (activations are sized for it)
 * @param rng        initialisation randomness
 */
vae_status vae_create(vae_model **out, const vae_config *cfg, int max_batch, vae_rng *rng);

/** Free the model and everything it owns. NULL is allowed. */
void vae_free(vae_model *model);

/** @return the model's configuration (owned by the model). */
const vae_config *vae_get_config(const vae_model *model);

/** @return the number of scalar parameters. */
size_t vae_num_params(const vae_model *model);

/** @return the largest batch the model's buffers hold. */
int vae_max_batch(const vae_model *model);

/* ---------------------------------------------------------------- training */

typedef struct {
    float lr;          /* Adam learning rate (1e-3) */
    float beta1;       /* 0.9 */
    float beta2;       /* 0.999 */
    float adam_eps;    /* 1e-8 */
    float kl_weight;   /* beta of beta-VAE times the warm-up factor (1) */
    int iwae_k;        /* 0: the ELBO with the closed-form KL (default); k >= 1: the importance-weighted bound
                          of Burda et al. (2015) with k samples per image, -log (1/k) sum_s w_s with
                          log w_s = log p(x|z_s) + kl_weight * (log p(z_s) - log q(z_s|x)); k = 1 is the ELBO
                          with a one-sample KL estimate. Needs B * k <= max_batch rows. */
    int grad_rows;     /* the gradient is the sum over the batch's images divided by this (0: by the batch size
                          B, the batch mean). A data-parallel caller sets the global batch, so that the sum of
                          the ranks' gradients is the global batch's mean gradient. */
    const float *eps;  /* NULL: the reparameterization noise is drawn from the step's rng. Else the caller's noise,
                          (B * k, Z) with k = max(iwae_k, 1), image b's samples in rows b*k .. b*k+k-1 (a
                          data-parallel trainer draws it per image, keyed by seed, step and the image's row in
                          the global batch, so that the noise does not depend on the number of ranks) */
    float free_bits;   /* lambda > 0: the ELBO's KL term is sum_d max(lambda, the batch's mean KL of dimension d)
                          ("free bits", Kingma et al. 2016): no gradient towards the prior for a dimension below
                          lambda nats (0: off, the plain KL). ELBO only (not with iwae_k, nor an autoencoder). */
    float tc_beta;     /* B > 0: the beta-TC-VAE objective (Chen et al. 2018): the ELBO with the total correlation of
                          q(z) weighted B (B = 1 is the ELBO), estimated over the batch by minibatch-weighted
                          sampling; 0: off. Not with iwae_k or free_bits, nor an autoencoder. */
    int dataset_size;  /* N of the minibatch-weighted sampling estimate: the training set's size (0: the batch's) */
    float clip_grad;   /* c > 0: vae_step_apply scales the gradient to global norm c when its norm exceeds c (0: off) */
    float weight_decay; /* w > 0: decoupled weight decay (AdamW): vae_step_apply multiplies every parameter by
                          1 - lr w before the Adam step (0: plain Adam) */
    /* new fields here (see "How the public structs grow" above) */
    int32_t reserved[17];  /* zero; sizeof(vae_train_opts) == VAE_TRAIN_OPTS_SIZE */
} vae_train_opts;

/** Fill opts with the defaults listed above. */
void vae_train_opts_default(vae_train_opts *opts);

/** Per-image losses in nats, averaged over a batch: loss = recon + kl_weight * kl. With opts.iwae_k = k > 0,
 *  loss is the importance-weighted bound's -log (1/k) sum_s w_s, and recon and kl are the means over all
 *  k samples of -log p(x|z_s) and log q(z_s|x) - log p(z_s) (so loss <= recon + kl_weight * kl). */
typedef struct {
    double loss;   /* the objective that was minimised */
    double recon;  /* reconstruction negative log-likelihood */
    double kl;     /* KL(q(z|x) || N(0, I)); 0 for an autoencoder */
} vae_losses;

/**
 * One Adam step on a batch.
 * @param x       (B, D) inputs; grey values in [0, 1] for Bernoulli models
 * @param labels  (B) class labels in [0, L) for conditional models, else NULL
 * @param n       B, 1 <= n <= max_batch (n * k <= max_batch with opts->iwae_k = k > 0)
 * @param rng     source of the reparameterization noise eps
 * @param out     receives the batch's mean losses (may be NULL)
 * @return VAE_ERR_NAN (parameters untouched) when the loss or a gradient is not finite
 */
vae_status vae_train_step(vae_model *model, const float *x, const int *labels, int n,
                          const vae_train_opts *opts, vae_rng *rng, vae_losses *out);

/* ---------------------------------------------------------------- the training step in two calls
 *
 * vae_train_step is vae_step_grad then vae_step_apply. A data-parallel trainer (MPI) calls the two itself
 * and sums the ranks' gradient buffers in between, each rank with opts.grad_rows = the global batch:
 *
 *     vae_step_grad(m, x, labels, n_local, &opts, rng, &losses);   // gradient / global batch
 *     vae_grad_buffer(m, &g, &len);  MPI_Allreduce(MPI_IN_PLACE, g, len, MPI_FLOAT, MPI_SUM, comm);
 *     vae_step_apply(m, &opts);                                     // same update on every rank
 */

/**
 * Forward and backward pass on a batch: the loss parts into *out, and the gradient of the batch's summed
 * objective divided by opts->grad_rows (or by n when it is 0) into the flat gradient buffer (overwritten).
 * Parameters and Adam state are not touched.
 * @param x, labels, n, rng, out  as for vae_train_step
 * @return VAE_ERR_NAN when the loss is not finite: the gradient buffer is then all NaN, so that a sum over
 *         ranks carries the failure to every rank's vae_step_apply
 */
vae_status vae_step_grad(vae_model *model, const float *x, const int *labels, int n, const vae_train_opts *opts,
                         vae_rng *rng, vae_losses *out);

/**
 * The step's guard and update: VAE_ERR_NAN (naming the first tensor at fault, parameters untouched) when the
 * gradient buffer holds a value that is not finite, else one Adam step (opts->lr, beta1, beta2, adam_eps) over
 * the flat parameter buffer with the gradient as it lies in the buffer, after clipping it to global norm
 * opts->clip_grad and decaying the parameters by opts->weight_decay when those are set.
 */
vae_status vae_step_apply(vae_model *model, const vae_train_opts *opts);

/**
 * The flat gradient buffer: *grad receives its address (vae_num_params floats, the layout of the parameters:
 * the tensor table of docs/checkpoint.md), *len its length. Valid until vae_free; vae_step_grad overwrites it,
 * vae_step_apply reads it.
 */
vae_status vae_grad_buffer(vae_model *model, float **grad, size_t *len);

/**
 * The flat parameter buffer, same layout (for a broadcast from one rank to the others, or a checksum).
 * Writing into it changes the model; the Adam moments stay as they are.
 */
vae_status vae_param_buffer(vae_model *model, float **params, size_t *len);

/** @return the number of Adam steps the model has taken (0 for a new model, or when model is NULL). */
long vae_steps_taken(const vae_model *model);

/* ---------------------------------------------------------------- schedules (src/schedule.c) */

#define VAE_LR_SCHEDULE_MAX 32

/** A learning-rate schedule "E1:LR1,E2:LR2,...": E1 epochs at LR1, then E2 epochs at LR2, ...; the last rate
 *  continues. n = 0: the constant rate given to vae_lr_at. */
typedef struct {
    int n;
    int epochs[VAE_LR_SCHEDULE_MAX];
    double lr[VAE_LR_SCHEDULE_MAX];
} vae_lr_schedule;

/** Parse spec ("" gives the empty schedule). VAE_ERR_ARG with a message when it is not a list of
 *  EPOCHS:RATE pairs with 1 <= EPOCHS <= 1000000 and 0 < RATE < 10, at most VAE_LR_SCHEDULE_MAX of them. */
vae_status vae_lr_schedule_parse(vae_lr_schedule *schedule, const char *spec);

/** @return the learning rate of epoch `epoch` (1-based) under the schedule, or `fallback` when it is empty. */
double vae_lr_at(const vae_lr_schedule *schedule, int epoch, double fallback);

/** @return the KL weight after `step` steps of a linear warm-up from 0 to beta over warmup_steps steps
 *  (beta itself when warmup_steps is 0 or the warm-up is over). */
float vae_kl_weight_at(float beta, long warmup_steps, long step);

/**
 * Per-image negative ELBO with one z sample per image (KL weight 1), no parameter change.
 * Any of loss, recon, kl may be NULL; each is (B).
 */
vae_status vae_eval_batch(vae_model *model, const float *x, const int *labels, int n, vae_rng *rng,
                          float *loss, float *recon, float *kl);

/* ---------------------------------------------------------------- inference */

/** Encode: mu and logvar are (B, Z); logvar may be NULL. For an autoencoder logvar is 0. */
vae_status vae_encode(vae_model *model, const float *x, const int *labels, int n, float *mu, float *logvar);

/** Decode: out (B, D) receives the decoder's mean (sigmoid of the logits for Bernoulli). */
vae_status vae_decode(vae_model *model, const float *z, const int *labels, int n, float *out);

/* ---------------------------------------------------------------- files */

/** Write parameters and configuration as safetensors, atomically (temporary file, fsync, rename). */
vae_status vae_save(const vae_model *model, const char *path);

/** Read a checkpoint written by vae_save (or by the PyTorch interop script) and build the model. */
vae_status vae_load(vae_model **out, const char *path, int max_batch);

/* ---------------------------------------------------------------- matrix-product engine */

/**
 * Choose the engine of every matrix product in this process (a setting of the caller, like a thread count):
 * "auto" (the fastest measured for this CPU's features; docs/performance.md), "openblas", "dnnl" (oneDNN)
 * or "blis". Without a call, the environment variable VAE_ENGINE chooses, else "auto". A fixed engine,
 * seed and thread count give bit-identical runs; VAE_ENGINE=openblas gives the results of libvae before
 * engines existed.
 * @return VAE_OK, or VAE_ERR_ARG for an unknown name or an engine this machine cannot run.
 */
vae_status vae_set_engine(const char *name);

/** @return the name of the engine products run on now ("openblas", "dnnl" or "blis"). */
const char *vae_engine_name(void);

/* ---------------------------------------------------------------- latent diagnostics */

/** Cov_x(E_q[z_d]) above which a latent dimension counts as active (Burda et al. 2015). */
#define VAE_ACTIVE_THRESHOLD 0.01

/**
 * Per latent dimension of the codes mu, logvar (n, Z) that vae_encode gave for n images:
 * kl[d] = mean_i 0.5 (mu_id^2 + exp(logvar_id) - logvar_id - 1) and var_mu[d] = the variance of mu_id over
 * the images (Cov_x(E_q[z_d])). Either output may be NULL.
 * @return the number of active dimensions (var_mu > VAE_ACTIVE_THRESHOLD)
 */
int vae_latent_activity(const float *mu, const float *logvar, int n, int Z, double *kl, double *var_mu);

/** The average KL(q(z|x) || N(0, I)) split as in Chen et al. (2018), in nats per image. */
typedef struct {
    double mi;    /* index-code mutual information I(x; z) = E[log q(z|x) - log q(z)] */
    double tc;    /* total correlation E[log q(z) - sum_d log q(z_d)] */
    double dwkl;  /* dimension-wise KL E[sum_d log q(z_d) - log p(z_d)] */
    double kl;    /* mi + tc + dwkl: the one-sample estimate of the average KL */
} vae_kl_parts;

/**
 * Estimate vae_kl_parts from codes mu, logvar (n, Z): one z_i ~ q(z|x_i) per image (a generator seeded
 * with seed), and the aggregate posterior q(z) = (1/n) sum_j q(z|x_j) estimated within minibatches of at
 * most `batch` consecutive codes, each image's own term weighted 1/n and each of the m - 1 others
 * (n - 1) / (n (m - 1)) (docs/model.md). batch >= n gives the exact sum over all n codes; the cost is
 * n * min(batch, n) * Z densities. n >= 2, batch >= 2.
 */
vae_status vae_kl_decompose(const float *mu, const float *logvar, int n, int Z, int batch, uint64_t seed,
                            vae_kl_parts *out);

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* VAE_H */
