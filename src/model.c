/* model.c: configuration -> parameter table -> encoder -> (mu, logvar) -> reparameterize -> decoder -> loss,
 * and the backward pass that walks the same steps in reverse. See model.h for the network. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "ops.h"

void vae_config_default(vae_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->height = 28;
    cfg->width = 28;
    cfg->channels = 1;
    cfg->n_hidden = 1;
    cfg->hidden[0] = 400;
    cfg->n_latent = 20;
    cfg->n_classes = 0;
    cfg->likelihood = VAE_BERNOULLI;
    cfg->activation = VAE_RELU;
    cfg->ae = 0;
}

void vae_train_opts_default(vae_train_opts *o) {
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->adam_eps = 1e-8f;
    o->kl_weight = 1.0f;
}

/* Limits keep every size product far below overflow: D <= 2^24, widths <= 2^16. */
#define MAX_DIM (1 << 24)
#define MAX_WIDTH (1 << 16)

vae_status vae_config_check(const vae_config *c) {
    if (c->height < 1 || c->width < 1 || c->channels < 1 || c->height > 65536 || c->width > 65536 ||
        c->channels > 4096 || (long long)c->height * c->width * c->channels > MAX_DIM)
        return vae_fail(VAE_ERR_ARG, "image shape %dx%dx%d out of range", c->height, c->width, c->channels);
    if (c->n_hidden < 0 || c->n_hidden > VAE_MAX_HIDDEN)
        return vae_fail(VAE_ERR_ARG, "%d hidden layers: between 0 and %d allowed", c->n_hidden, VAE_MAX_HIDDEN);
    for (int i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1 || c->hidden[i] > MAX_WIDTH)
            return vae_fail(VAE_ERR_ARG, "hidden width %d out of range 1..%d", c->hidden[i], MAX_WIDTH);
    if (c->n_latent < 1 || c->n_latent > 4096)
        return vae_fail(VAE_ERR_ARG, "latent size %d out of range 1..4096", c->n_latent);
    if (c->n_classes < 0 || c->n_classes > 256)
        return vae_fail(VAE_ERR_ARG, "%d classes out of range 0..256", c->n_classes);
    if (c->likelihood != VAE_BERNOULLI && c->likelihood != VAE_GAUSSIAN)
        return vae_fail(VAE_ERR_ARG, "unknown likelihood %d", (int)c->likelihood);
    if (c->activation != VAE_RELU && c->activation != VAE_TANH)
        return vae_fail(VAE_ERR_ARG, "unknown activation %d", (int)c->activation);
    if (c->ae != 0 && c->ae != 1) return vae_fail(VAE_ERR_ARG, "ae must be 0 or 1");
    return VAE_OK;
}

static int add_tensor(vae_model *m, const char *name, int ndim, int s0, int s1) {
    vae_tensor_info *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = ndim > 1 ? s1 : 1;
    t->numel = (size_t)s0 * (ndim > 1 ? (size_t)s1 : 1);
    t->offset = m->n_params;
    m->n_params += t->numel;
    return m->n_tensors++;
}

static void add_dense(vae_model *m, vae_dense *d, const char *prefix, int C, int OC) {
    char name[32];
    d->C = C;
    d->OC = OC;
    snprintf(name, sizeof name, "%s.weight", prefix);
    d->weight = add_tensor(m, name, 2, OC, C);
    snprintf(name, sizeof name, "%s.bias", prefix);
    d->bias = add_tensor(m, name, 1, OC, 0);
}

int vae_tensor_index(const vae_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}

void vae_free(vae_model *m) {
    if (!m) return;
    vae_mem_free(m->params);
    vae_mem_free(m->grads);
    vae_mem_free(m->adam_m);
    vae_mem_free(m->adam_v);
    vae_mem_free(m->acts);
    vae_mem_free(m);
}

vae_status vae_model_alloc(vae_model **out, const vae_config *cfg, int max_batch) {
    *out = NULL;
    vae_status st = vae_config_check(cfg);
    if (st) return st;
    if (max_batch < 1 || max_batch > (1 << 20))
        return vae_fail(VAE_ERR_ARG, "batch size %d out of range 1..%d", max_batch, 1 << 20);
    vae_model *m = vae_calloc(1, sizeof *m);
    if (!m) return vae_fail(VAE_ERR_NOMEM, "out of memory allocating the model");
    m->cfg = *cfg;
    m->max_batch = max_batch;
    m->D = cfg->height * cfg->width * cfg->channels;
    m->Z = cfg->n_latent;
    m->K = cfg->n_classes;
    m->logvar_tensor = -1;

    // parameter table: encoder layers, head, decoder layers, output, then the Gaussian log-variance
    char prefix[24];
    int width = m->D + m->K;
    for (int i = 0; i < cfg->n_hidden; i++) {
        snprintf(prefix, sizeof prefix, "enc.fc%d", i + 1);
        add_dense(m, &m->enc[i], prefix, width, cfg->hidden[i]);
        width = cfg->hidden[i];
    }
    add_dense(m, &m->enc[cfg->n_hidden], "enc.head", width, 2 * m->Z);
    m->n_enc = cfg->n_hidden + 1;
    width = m->Z + m->K;
    for (int i = 0; i < cfg->n_hidden; i++) {
        int h = cfg->hidden[cfg->n_hidden - 1 - i];
        snprintf(prefix, sizeof prefix, "dec.fc%d", i + 1);
        add_dense(m, &m->dec[i], prefix, width, h);
        width = h;
    }
    add_dense(m, &m->dec[cfg->n_hidden], "dec.out", width, m->D);
    m->n_dec = cfg->n_hidden + 1;
    if (cfg->likelihood == VAE_GAUSSIAN) m->logvar_tensor = add_tensor(m, "dec.logvar", 1, 1, 0);

    // activations: one allocation, pointers into it
    size_t B = (size_t)max_batch, widest = (size_t)(m->D + m->K), total = 0;
    total += B * (size_t)(m->D + m->K);                     // xin
    for (int l = 0; l < m->n_enc; l++) total += B * (size_t)m->enc[l].OC;
    total += B * (size_t)m->Z + B * (size_t)(m->Z + m->K); // eps, zin
    for (int l = 0; l < m->n_dec; l++) total += B * (size_t)m->dec[l].OC;
    total += B * 2 * (size_t)m->Z;                          // dhead
    for (int l = 0; l < m->n_dec; l++) widest = widest > (size_t)m->dec[l].OC ? widest : (size_t)m->dec[l].OC;
    for (int l = 0; l < m->n_enc; l++) widest = widest > (size_t)m->enc[l].OC ? widest : (size_t)m->enc[l].OC;
    if (widest < (size_t)(m->Z + m->K)) widest = (size_t)(m->Z + m->K);
    total += 2 * B * widest + 2 * B;                        // grad_a, grad_b, recon, kl
    int ok = 1;
    size_t act_bytes = vae_mul_size(total, sizeof(float), &ok);
    size_t par_bytes = vae_mul_size(m->n_params, sizeof(float), &ok);
    if (!ok) {
        vae_free(m);
        return vae_fail(VAE_ERR_ARG, "model too large for this machine");
    }
    m->params = vae_calloc(1, par_bytes);
    m->grads = m->params ? vae_calloc(1, par_bytes) : NULL;
    m->adam_m = m->grads ? vae_calloc(1, par_bytes) : NULL;
    m->adam_v = m->adam_m ? vae_calloc(1, par_bytes) : NULL;
    m->acts = m->adam_v ? vae_calloc(1, act_bytes) : NULL;
    if (!m->acts) {
        vae_free(m);
        return vae_fail(VAE_ERR_NOMEM, "out of memory: the model needs %.1f MiB of parameters and %.1f MiB of "
                        "activations for batch %d", 4.0 * par_bytes / 1048576.0, act_bytes / 1048576.0, max_batch);
    }
    float *p = m->acts;
    m->xin = p, p += B * (size_t)(m->D + m->K);
    for (int l = 0; l < m->n_enc; l++) m->enc_out[l] = p, p += B * (size_t)m->enc[l].OC;
    m->eps = p, p += B * (size_t)m->Z;
    m->zin = p, p += B * (size_t)(m->Z + m->K);
    for (int l = 0; l < m->n_dec; l++) m->dec_out[l] = p, p += B * (size_t)m->dec[l].OC;
    m->dhead = p, p += B * 2 * (size_t)m->Z;
    m->grad_a = p, p += B * widest;
    m->grad_b = p, p += B * widest;
    m->recon = p, p += B;
    m->kl = p;
    *out = m;
    return VAE_OK;
}

void vae_model_init(vae_model *m, vae_rng *rng) {
    for (int t = 0; t < m->n_tensors; t++) {
        vae_tensor_info *ti = &m->tensors[t];
        float *w = m->params + ti->offset;
        if (t == m->logvar_tensor) {
            w[0] = 0.0f; // unit variance to start
            continue;
        }
        // weights (OC, C) and their bias (OC) share the bound 1/sqrt(C) of the layer's fan-in
        int fan_in = ti->ndim == 2 ? ti->shape[1] : m->tensors[t - 1].shape[1];
        float bound = 1.0f / sqrtf((float)fan_in);
        for (size_t i = 0; i < ti->numel; i++) w[i] = (float)((2.0 * vae_rng_uniform(rng) - 1.0) * bound);
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
    memset(m->adam_m, 0, m->n_params * sizeof(float));
    memset(m->adam_v, 0, m->n_params * sizeof(float));
    m->step = 0;
}

vae_status vae_create(vae_model **out, const vae_config *cfg, int max_batch, vae_rng *rng) {
    vae_status st = vae_model_alloc(out, cfg, max_batch);
    if (st) return st;
    vae_model_init(*out, rng);
    return VAE_OK;
}

const vae_config *vae_get_config(const vae_model *m) { return &m->cfg; }
size_t vae_num_params(const vae_model *m) { return m->n_params; }
int vae_max_batch(const vae_model *m) { return m->max_batch; }

static vae_status check_call(const vae_model *m, int n, const int *labels) {
    if (n < 1 || n > m->max_batch)
        return vae_fail(VAE_ERR_ARG, "batch of %d images: the model holds 1..%d", n, m->max_batch);
    if (m->K > 0) {
        if (!labels) return vae_fail(VAE_ERR_ARG, "conditional model: labels are required");
        for (int b = 0; b < n; b++)
            if (labels[b] < 0 || labels[b] >= m->K)
                return vae_fail(VAE_ERR_ARG, "label %d out of range 0..%d", labels[b], m->K - 1);
    }
    return VAE_OK;
}

/* Write [rows | onehot(label)] into dst (n, W+K) from src (n, W). */
static void concat_onehot(float *dst, const float *src, const int *labels, int n, int W, int K) {
    for (int b = 0; b < n; b++) {
        float *row = dst + (size_t)b * (W + K);
        if (src) memcpy(row, src + (size_t)b * W, (size_t)W * sizeof(float));
        memset(row + W, 0, (size_t)K * sizeof(float));
        row[W + labels[b]] = 1.0f;
    }
}

static void activation_forward(const vae_model *m, float *y, size_t N) {
    if (m->cfg.activation == VAE_TANH) tanh_forward(y, N);
    else relu_forward(y, N);
}

static void activation_backward(const vae_model *m, float *dx, const float *y, size_t N) {
    if (m->cfg.activation == VAE_TANH) tanh_backward(dx, y, N);
    else relu_backward(dx, y, N);
}

#define P(m, idx) ((m)->params + (m)->tensors[idx].offset)
#define G(m, idx) ((m)->grads + (m)->tensors[idx].offset)

/* encoder: x (n, D) [+ labels] -> head (n, 2Z) with logvar clamped */
static void encoder_forward(vae_model *m, const float *x, const int *labels, int n) {
    const float *inp = x;
    if (m->K > 0) {
        concat_onehot(m->xin, x, labels, n, m->D, m->K);
        inp = m->xin;
    }
    for (int l = 0; l < m->n_enc; l++) {
        const vae_dense *d = &m->enc[l];
        matmul_forward(m->enc_out[l], inp, P(m, d->weight), P(m, d->bias), n, d->C, d->OC);
        if (l < m->n_enc - 1) activation_forward(m, m->enc_out[l], (size_t)n * d->OC);
        inp = m->enc_out[l];
    }
    float *head = m->enc_out[m->n_enc - 1];
    clamp_forward(head + m->Z, n, m->Z, 2 * m->Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);
}

void vae_decoder_forward(vae_model *m, int n) {
    const float *inp = m->zin;
    for (int l = 0; l < m->n_dec; l++) {
        const vae_dense *d = &m->dec[l];
        matmul_forward(m->dec_out[l], inp, P(m, d->weight), P(m, d->bias), n, d->C, d->OC);
        if (l < m->n_dec - 1) activation_forward(m, m->dec_out[l], (size_t)n * d->OC);
        inp = m->dec_out[l];
    }
}

vae_status vae_forward(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng) {
    vae_status st = check_call(m, n, labels);
    if (st) return st;
    int Z = m->Z, K = m->K;
    encoder_forward(m, x, labels, n);
    const float *head = m->enc_out[m->n_enc - 1];
    const float *mu = head, *logvar = head + Z;

    // z: mu + exp(logvar/2) * eps, or mu itself for an autoencoder and for deterministic decoding
    if (rng && !m->cfg.ae) {
        for (size_t i = 0; i < (size_t)n * Z; i++) m->eps[i] = vae_rng_normal(rng);
    } else {
        memset(m->eps, 0, (size_t)n * Z * sizeof(float));
    }
    reparam_forward(m->zin, mu, logvar, m->eps, n, Z, 2 * Z, Z + K);
    if (K > 0)
        for (int b = 0; b < n; b++) {
            float *oh = m->zin + (size_t)b * (Z + K) + Z;
            memset(oh, 0, (size_t)K * sizeof(float));
            oh[labels[b]] = 1.0f;
        }
    vae_decoder_forward(m, n);

    const float *out = m->dec_out[m->n_dec - 1];
    if (m->cfg.likelihood == VAE_GAUSSIAN)
        gaussian_nll_forward(m->recon, out, x, P(m, m->logvar_tensor)[0], n, m->D);
    else
        bernoulli_nll_forward(m->recon, out, x, n, m->D);
    if (m->cfg.ae) memset(m->kl, 0, (size_t)n * sizeof(float));
    else kl_forward(m->kl, mu, logvar, n, Z, 2 * Z);
    return VAE_OK;
}

void vae_backward(vae_model *m, const float *x, int n, float kl_weight) {
    int Z = m->Z, K = m->K;
    float scale = 1.0f / (float)n; // the loss is the batch mean
    const float *head = m->enc_out[m->n_enc - 1];
    const float *mu = head, *logvar = head + Z;

    // loss -> decoder output
    float *dout = m->grad_a, *dinp = m->grad_b;
    const float *out = m->dec_out[m->n_dec - 1];
    if (m->cfg.likelihood == VAE_GAUSSIAN)
        gaussian_nll_backward(dout, G(m, m->logvar_tensor), out, x, P(m, m->logvar_tensor)[0], n, m->D, scale);
    else
        bernoulli_nll_backward(dout, out, x, n, m->D, scale);

    // decoder, last layer first
    for (int l = m->n_dec - 1; l >= 0; l--) {
        const vae_dense *d = &m->dec[l];
        const float *inp = l > 0 ? m->dec_out[l - 1] : m->zin;
        matmul_backward(dinp, G(m, d->weight), G(m, d->bias), dout, inp, P(m, d->weight), n, d->C, d->OC);
        if (l > 0) activation_backward(m, dinp, m->dec_out[l - 1], (size_t)n * d->C);
        float *t = dout;
        dout = dinp;
        dinp = t;
    }
    // dout now holds dzin (n, Z+K): through the reparameterization and the KL into dhead = [dmu | dlogvar]
    float *dmu = m->dhead, *dlogvar = m->dhead + Z;
    reparam_backward(dmu, dlogvar, dout, logvar, m->eps, n, Z, 2 * Z, Z + K);
    if (!m->cfg.ae) kl_backward(dmu, dlogvar, mu, logvar, n, Z, 2 * Z, kl_weight * scale);
    clamp_backward(dlogvar, logvar, n, Z, 2 * Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);

    // encoder, head first; the first layer needs no input gradient
    dout = m->dhead;
    dinp = m->grad_a;
    for (int l = m->n_enc - 1; l >= 0; l--) {
        const vae_dense *d = &m->enc[l];
        const float *inp = l > 0 ? m->enc_out[l - 1] : (K > 0 ? m->xin : x);
        matmul_backward(l > 0 ? dinp : NULL, G(m, d->weight), G(m, d->bias), dout, inp, P(m, d->weight), n, d->C,
                        d->OC);
        if (l > 0) {
            activation_backward(m, dinp, m->enc_out[l - 1], (size_t)n * d->C);
            dout = dinp;
            dinp = dout == m->grad_a ? m->grad_b : m->grad_a;
        }
    }
}

/* Name the first tensor whose gradient is not finite (for the NaN guard's message). */
static const char *nonfinite_tensor(const vae_model *m) {
    for (int t = 0; t < m->n_tensors; t++)
        if (!all_finite(m->grads + m->tensors[t].offset, m->tensors[t].numel)) return m->tensors[t].name;
    return NULL;
}

vae_status vae_train_step(vae_model *m, const float *x, const int *labels, int n, const vae_train_opts *o,
                          vae_rng *rng, vae_losses *out) {
    vae_status st = vae_forward(m, x, labels, n, rng);
    if (st) return st;
    double recon = 0.0, kl = 0.0;
    for (int b = 0; b < n; b++) {
        recon += m->recon[b];
        kl += m->kl[b];
    }
    recon /= n;
    kl /= n;
    double loss = recon + o->kl_weight * kl;
    if (out) {
        out->loss = loss;
        out->recon = recon;
        out->kl = kl;
    }
    if (!isfinite(loss))
        return vae_fail(VAE_ERR_NAN, "step %ld: the loss is %g (reconstruction %g, KL %g)", m->step + 1, loss, recon, kl);
    memset(m->grads, 0, m->n_params * sizeof(float));
    vae_backward(m, x, n, o->kl_weight);
    if (!all_finite(m->grads, m->n_params))
        return vae_fail(VAE_ERR_NAN, "step %ld: the gradient of %s is not finite", m->step + 1, nonfinite_tensor(m));
    vae_adam_step(m, o->lr, o->beta1, o->beta2, o->adam_eps);
    return VAE_OK;
}

vae_status vae_eval_batch(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng, float *loss,
                          float *recon, float *kl) {
    vae_status st = vae_forward(m, x, labels, n, rng);
    if (st) return st;
    for (int b = 0; b < n; b++) {
        if (loss) loss[b] = m->recon[b] + m->kl[b];
        if (recon) recon[b] = m->recon[b];
        if (kl) kl[b] = m->kl[b];
    }
    return VAE_OK;
}

vae_status vae_encode(vae_model *m, const float *x, const int *labels, int n, float *mu, float *logvar) {
    vae_status st = check_call(m, n, labels);
    if (st) return st;
    encoder_forward(m, x, labels, n);
    const float *head = m->enc_out[m->n_enc - 1];
    for (int b = 0; b < n; b++) {
        memcpy(mu + (size_t)b * m->Z, head + (size_t)b * 2 * m->Z, (size_t)m->Z * sizeof(float));
        if (logvar) {
            if (m->cfg.ae) memset(logvar + (size_t)b * m->Z, 0, (size_t)m->Z * sizeof(float));
            else memcpy(logvar + (size_t)b * m->Z, head + (size_t)b * 2 * m->Z + m->Z, (size_t)m->Z * sizeof(float));
        }
    }
    return VAE_OK;
}

vae_status vae_decode(vae_model *m, const float *z, const int *labels, int n, float *out) {
    vae_status st = check_call(m, n, labels);
    if (st) return st;
    if (m->K > 0) concat_onehot(m->zin, z, labels, n, m->Z, m->K);
    else memcpy(m->zin, z, (size_t)n * m->Z * sizeof(float));
    vae_decoder_forward(m, n);
    size_t N = (size_t)n * m->D;
    memcpy(out, m->dec_out[m->n_dec - 1], N * sizeof(float));
    if (m->cfg.likelihood == VAE_BERNOULLI) sigmoid_forward(out, N);
    return VAE_OK;
}
