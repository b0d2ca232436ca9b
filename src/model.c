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
    if (!cfg) return;
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

/* Limits keep every size product far below overflow: D <= 2^24, widths <= 2^16. */
#define MAX_DIM (1 << 24)
#define MAX_WIDTH (1 << 16)

/* The convolutional network's layers (docs/conv.md): 3x3 stride-2 convolutions with padding 1 halve an even
 * size exactly; 4x4 stride-2 transposed convolutions with padding 1 double it exactly. */
#define ENC_KERNEL 3
#define DEC_KERNEL 4
#define CONV_STRIDE 2
#define CONV_PAD 1
#define MAX_CONV_CHANNELS 4096
/* im2col scratch: room for this many floats (16 MiB), or one image of the widest layer if that is more;
 * batches larger than fit are processed in chunks. */
#define COL_BUDGET ((size_t)1 << 22)

static vae_status conv_config_check(const vae_config *c) {
    if (c->arch != VAE_MLP && c->arch != VAE_CONV) return vae_fail(VAE_ERR_ARG, "unknown architecture %d", (int)c->arch);
    if (c->arch == VAE_MLP) {
        if (c->n_conv != 0)
            return vae_fail(VAE_ERR_ARG, "%d conv channel entries given for an mlp model (they need arch conv)", c->n_conv);
        return VAE_OK;
    }
    if (c->n_conv < 1 || c->n_conv > VAE_MAX_CONV)
        return vae_fail(VAE_ERR_ARG, "conv: %d channel entries: between 1 and %d allowed", c->n_conv, VAE_MAX_CONV);
    char list[8 * VAE_MAX_CONV] = "";
    size_t len = 0;
    for (int i = 0; i < c->n_conv; i++) {
        if (c->conv_channels[i] < 1 || c->conv_channels[i] > MAX_CONV_CHANNELS)
            return vae_fail(VAE_ERR_ARG, "conv: %d channels out of range 1..%d", c->conv_channels[i], MAX_CONV_CHANNELS);
        len += (size_t)snprintf(list + len, sizeof list - len, i ? ",%d" : "%d", c->conv_channels[i]);
    }
    int f = 1 << c->n_conv;
    if (c->height % f || c->width % f)
        return vae_fail(VAE_ERR_ARG, "conv: images of %dx%d pixels do not fit channels %s: each of the %d stride-2 "
                        "layers halves height and width, so both must be divisible by %d (crop or pad the images, or "
                        "give fewer channel entries)", c->height, c->width, list, c->n_conv, f);
    long long F = (long long)(c->height / f) * (c->width / f) * c->conv_channels[c->n_conv - 1];
    if (F > MAX_DIM) return vae_fail(VAE_ERR_ARG, "conv: feature map of %lld values too large", F);
    return VAE_OK;
}

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
    return conv_config_check(c);
}

static int add_tensor_nd(vae_model *m, const char *name, int ndim, const int *shape) {
    vae_tensor_info *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < VAE_MAX_NDIM; i++) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->numel *= (size_t)t->shape[i];
    }
    t->offset = m->n_params;
    m->n_params += t->numel;
    return m->n_tensors++;
}

static int add_tensor(vae_model *m, const char *name, int ndim, int s0, int s1) {
    int shape[2] = {s0, s1};
    return add_tensor_nd(m, name, ndim, shape);
}

/* weight (OC, C, K, K) for conv2d, (C, OC, K, K) for a transposed one (PyTorch's layouts), bias (OC) */
static void add_conv(vae_model *m, vae_conv *c, const char *prefix) {
    char name[32];
    const conv_dims *d = &c->d;
    int shape[4] = {d->transposed ? d->C : d->OC, d->transposed ? d->OC : d->C, d->K, d->K};
    snprintf(name, sizeof name, "%s.weight", prefix);
    c->weight = add_tensor_nd(m, name, 4, shape);
    snprintf(name, sizeof name, "%s.bias", prefix);
    c->bias = add_tensor(m, name, 1, d->OC, 0);
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

/* The configuration's tensor table and layer shapes, no buffers; cfg has passed vae_config_check. */
static void build_table(vae_model *m, const vae_config *cfg) {
    m->cfg = *cfg;
    m->D = cfg->height * cfg->width * cfg->channels;
    m->Z = cfg->n_latent;
    m->K = cfg->n_classes;
    m->logvar_tensor = -1;

    // parameter table: encoder convolutions (conv), encoder layers, head, decoder layers, output (dec.out, or
    // dec.proj to the feature map for conv), transposed convolutions (conv), then the Gaussian log-variance
    char prefix[24];
    m->n_conv = cfg->arch == VAE_CONV ? cfg->n_conv : 0;
    int ch = cfg->height, cw = cfg->width, cc = cfg->channels; // the feature map's shape so far
    for (int i = 0; i < m->n_conv; i++) {
        conv2d_dims(&m->conv[i].d, ch, cw, cc, cfg->conv_channels[i], ENC_KERNEL, CONV_STRIDE, CONV_PAD);
        snprintf(prefix, sizeof prefix, "enc.conv%d", i + 1);
        add_conv(m, &m->conv[i], prefix);
        ch = m->conv[i].d.OH, cw = m->conv[i].d.OW, cc = m->conv[i].d.OC;
    }
    m->F = m->n_conv ? ch * cw * cc : 0;
    int width = (m->n_conv ? m->F : m->D) + m->K; // what the encoder's dense layers see
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
    add_dense(m, &m->dec[cfg->n_hidden], m->n_conv ? "dec.proj" : "dec.out", width, m->n_conv ? m->F : m->D);
    m->n_dec = cfg->n_hidden + 1;
    for (int i = 0; i < m->n_conv; i++) { // back up: cn -> ... -> c1 -> C
        int oc = i < m->n_conv - 1 ? cfg->conv_channels[m->n_conv - 2 - i] : cfg->channels;
        conv_transpose2d_dims(&m->deconv[i].d, ch, cw, cc, oc, DEC_KERNEL, CONV_STRIDE, CONV_PAD);
        snprintf(prefix, sizeof prefix, "dec.deconv%d", i + 1);
        add_conv(m, &m->deconv[i], prefix);
        ch = m->deconv[i].d.OH, cw = m->deconv[i].d.OW, cc = m->deconv[i].d.OC;
    }
    if (cfg->likelihood == VAE_GAUSSIAN) m->logvar_tensor = add_tensor(m, "dec.logvar", 1, 1, 0);
}

size_t vae_config_n_params(const vae_config *cfg) {
    vae_model m; // the table only: no buffers
    memset(&m, 0, sizeof m);
    build_table(&m, cfg);
    return m.n_params;
}

vae_status vae_model_alloc(vae_model **out, const vae_config *cfg, int max_batch) {
    *out = NULL;
    vae_status st = vae_config_check(cfg);
    if (st) return st;
    if (max_batch < 1 || max_batch > (1 << 20))
        return vae_fail(VAE_ERR_ARG, "batch size %d out of range 1..%d", max_batch, 1 << 20);
    vae_model *m = vae_calloc(1, sizeof *m);
    if (!m) return vae_fail(VAE_ERR_NOMEM, "out of memory allocating the model");
    m->max_batch = max_batch;
    build_table(m, cfg);
    int feat = m->n_conv ? m->F : m->D; // the flattened input of the encoder's dense layers

    // activations: one allocation, pointers into it
    size_t B = (size_t)max_batch, widest = (size_t)((feat > m->D ? feat : m->D) + m->K), total = 0;
    total += B * (size_t)(feat + m->K);                     // xin
    size_t col_per = 0;                                     // conv: the widest layer's im2col rows of one image
    for (int i = 0; i < m->n_conv; i++) {
        const conv_dims *e = &m->conv[i].d, *t = &m->deconv[i].d;
        size_t ce = (size_t)e->OH * e->OW * e->OC, ct = (size_t)t->OH * t->OW * t->OC;
        total += B * (ce + ct);                             // conv_out, deconv_out
        widest = widest > ce ? widest : ce;
        widest = widest > ct ? widest : ct;
        col_per = col_per > conv_col_size(e) ? col_per : conv_col_size(e);
        col_per = col_per > conv_col_size(t) ? col_per : conv_col_size(t);
    }
    if (col_per) {
        size_t images = COL_BUDGET / col_per;
        images = images < 1 ? 1 : (images > B ? B : images);
        m->col_cap = images * col_per;
        total += m->col_cap;
    }
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
    m->n_acts = total;
    float *p = m->acts;
    m->xin = p, p += B * (size_t)(feat + m->K);
    for (int l = 0; l < m->n_enc; l++) m->enc_out[l] = p, p += B * (size_t)m->enc[l].OC;
    m->eps = p, p += B * (size_t)m->Z;
    m->zin = p, p += B * (size_t)(m->Z + m->K);
    for (int l = 0; l < m->n_dec; l++) m->dec_out[l] = p, p += B * (size_t)m->dec[l].OC;
    m->dhead = p, p += B * 2 * (size_t)m->Z;
    m->grad_a = p, p += B * widest;
    m->grad_b = p, p += B * widest;
    m->recon = p, p += B;
    m->kl = p, p += B;
    for (int i = 0; i < m->n_conv; i++) {
        m->conv_out[i] = p, p += B * m->conv[i].d.OH * m->conv[i].d.OW * m->conv[i].d.OC;
        m->deconv_out[i] = p, p += B * m->deconv[i].d.OH * m->deconv[i].d.OW * m->deconv[i].d.OC;
    }
    m->col = m->n_conv ? p : NULL;
    m->out = m->n_conv ? m->deconv_out[m->n_conv - 1] : m->dec_out[m->n_dec - 1];
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
        // weights (OC, C) and their bias (OC) share the bound 1/sqrt(C) of the layer's fan-in; as in PyTorch,
        // the fan-in of any weight is numel / shape[0]: C*K*K for conv (OC, C, K, K), OC*K*K for a transposed
        // conv (C, OC, K, K)
        const vae_tensor_info *wi = ti->ndim >= 2 ? ti : &m->tensors[t - 1];
        int fan_in = (int)(wi->numel / (size_t)wi->shape[0]);
        float bound = 1.0f / sqrtf((float)fan_in);
        for (size_t i = 0; i < ti->numel; i++) w[i] = (float)((2.0 * vae_rng_uniform(rng) - 1.0) * bound);
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
    memset(m->adam_m, 0, m->n_params * sizeof(float));
    memset(m->adam_v, 0, m->n_params * sizeof(float));
    m->step = 0;
}

vae_status vae_create(vae_model **out, const vae_config *cfg, int max_batch, vae_rng *rng) {
    if (out) *out = NULL;
    if (!out || !cfg || !rng)
        return vae_fail(VAE_ERR_ARG, "vae_create: %s is NULL", !out ? "out" : !cfg ? "cfg" : "rng");
    vae_status st = vae_model_alloc(out, cfg, max_batch);
    if (st) return st;
    vae_model_init(*out, rng);
    return VAE_OK;
}

/* The accessors return a value, not a status: 0 or NULL (with the message) for a NULL model. */
static int null_model(const vae_model *m, const char *fn) {
    if (m) return 0;
    vae_fail(VAE_ERR_ARG, "%s: model is NULL", fn);
    return 1;
}
const vae_config *vae_get_config(const vae_model *m) { return null_model(m, "vae_get_config") ? NULL : &m->cfg; }
size_t vae_num_params(const vae_model *m) { return null_model(m, "vae_num_params") ? 0 : m->n_params; }
int vae_max_batch(const vae_model *m) { return null_model(m, "vae_max_batch") ? 0 : m->max_batch; }

vae_status vae__check_batch(const vae_model *m, int n, const int *labels) {
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

/* The dense layers' activation for matmul_forward_act (bias and activation in one pass). */
static act_kind dense_act(const vae_model *m) { return m->cfg.activation == VAE_TANH ? ACT_TANH : ACT_RELU; }

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
void vae_encoder_forward(vae_model *m, const float *x, const int *labels, int n) {
    const float *inp = x;
    for (int l = 0; l < m->n_conv; l++) { // conv: x (n, H, W, C) -> feature map (n, F)
        const vae_conv *c = &m->conv[l];
        conv2d_forward(m->conv_out[l], m->col, inp, P(m, c->weight), P(m, c->bias), n, &c->d, m->col_cap);
        activation_forward(m, m->conv_out[l], (size_t)n * c->d.OH * c->d.OW * c->d.OC);
        inp = m->conv_out[l];
    }
    if (m->K > 0) {
        concat_onehot(m->xin, inp, labels, n, m->n_conv ? m->F : m->D, m->K);
        inp = m->xin;
    }
    for (int l = 0; l < m->n_enc; l++) {
        const vae_dense *d = &m->enc[l];
        matmul_forward_act(m->enc_out[l], inp, P(m, d->weight), P(m, d->bias), n, d->C, d->OC,
                           l < m->n_enc - 1 ? dense_act(m) : ACT_NONE);
        inp = m->enc_out[l];
    }
    float *head = m->enc_out[m->n_enc - 1];
    clamp_forward(head + m->Z, n, m->Z, 2 * m->Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);
}

void vae_decoder_forward(vae_model *m, int n) {
    const float *inp = m->zin;
    for (int l = 0; l < m->n_dec; l++) {
        const vae_dense *d = &m->dec[l];
        matmul_forward_act(m->dec_out[l], inp, P(m, d->weight), P(m, d->bias), n, d->C, d->OC,
                           l < m->n_dec - 1 || m->n_conv ? dense_act(m) : ACT_NONE);
        inp = m->dec_out[l];
    }
    for (int l = 0; l < m->n_conv; l++) { // conv: feature map (n, F) -> image (n, H, W, C)
        const vae_conv *c = &m->deconv[l];
        conv_transpose2d_forward(m->deconv_out[l], m->col, inp, P(m, c->weight), P(m, c->bias), n, &c->d, m->col_cap);
        if (l < m->n_conv - 1)
            activation_forward(m, m->deconv_out[l], (size_t)n * c->d.OH * c->d.OW * c->d.OC);
        inp = m->deconv_out[l];
    }
}

float *vae_decoder_backward(vae_model *m, int n) {
    float *dout = m->grad_a, *dinp = m->grad_b;
    // conv: the transposed convolutions, last first; each one's input passed through the activation
    // (the first one's input is the last dense layer's output, which has one in a conv model)
    for (int l = m->n_conv - 1; l >= 0; l--) {
        const vae_conv *c = &m->deconv[l];
        const float *inp = l > 0 ? m->deconv_out[l - 1] : m->dec_out[m->n_dec - 1];
        conv_transpose2d_backward(dinp, G(m, c->weight), G(m, c->bias), m->col, dout, inp, P(m, c->weight), n, &c->d,
                                  m->col_cap);
        activation_backward(m, dinp, inp, (size_t)n * c->d.H * c->d.W * c->d.C);
        float *t = dout;
        dout = dinp;
        dinp = t;
    }

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
    return dout; // dzin (n, Z+K)
}

void vae_encoder_backward(vae_model *m, const float *x, int n) {
    int Z = m->Z, K = m->K;
    const float *logvar = m->enc_out[m->n_enc - 1] + Z;
    clamp_backward(m->dhead + Z, logvar, n, Z, 2 * Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);

    // encoder, head first; the first layer needs no input gradient (but in a conv model, the first dense
    // layer's input is the feature map, whose gradient the convolutions need)
    float *dout = m->dhead, *dinp = m->grad_a;
    for (int l = m->n_enc - 1; l >= 0; l--) {
        const vae_dense *d = &m->enc[l];
        const float *inp = l > 0 ? m->enc_out[l - 1] : (K > 0 ? m->xin : (m->n_conv ? m->conv_out[m->n_conv - 1] : x));
        int need_dinp = l > 0 || m->n_conv > 0;
        matmul_backward(need_dinp ? dinp : NULL, G(m, d->weight), G(m, d->bias), dout, inp, P(m, d->weight), n, d->C,
                        d->OC);
        if (l > 0) activation_backward(m, dinp, m->enc_out[l - 1], (size_t)n * d->C);
        if (need_dinp) {
            dout = dinp;
            dinp = dout == m->grad_a ? m->grad_b : m->grad_a;
        }
    }
    if (m->n_conv == 0) return;
    // conv: dout holds d[features | onehot] (n, F+K); drop the label columns in place, rows move forward
    if (K > 0)
        for (int b = 1; b < n; b++) memmove(dout + (size_t)b * m->F, dout + (size_t)b * (m->F + K), (size_t)m->F * sizeof(float));
    for (int l = m->n_conv - 1; l >= 0; l--) {
        const vae_conv *c = &m->conv[l];
        activation_backward(m, dout, m->conv_out[l], (size_t)n * c->d.OH * c->d.OW * c->d.OC);
        conv2d_backward(l > 0 ? dinp : NULL, G(m, c->weight), G(m, c->bias), m->col, dout, l > 0 ? m->conv_out[l - 1] : x,
                        P(m, c->weight), n, &c->d, m->col_cap);
        float *t = dout;
        dout = dinp;
        dinp = t;
    }
}

/* z (n, Z) [| onehot(labels)] into zin: mu + exp(logvar/2) * eps with the caller's eps (n, Z) when given, else
 * eps drawn from rng, or z = mu (eps = 0) when rng is NULL too. */
void vae__sample_z(vae_model *m, const int *labels, int n, vae_rng *rng, const float *eps) {
    int Z = m->Z, L = m->K;
    const float *head = m->enc_out[m->n_enc - 1];
    if (eps) memcpy(m->eps, eps, (size_t)n * Z * sizeof(float));
    else if (rng) vae_rng_normals(rng, m->eps, (size_t)n * Z);
    else memset(m->eps, 0, (size_t)n * Z * sizeof(float));
    reparam_forward(m->zin, head, head + Z, m->eps, n, Z, 2 * Z, Z + L);
    if (L > 0)
        for (int b = 0; b < n; b++) {
            float *oh = m->zin + (size_t)b * (Z + L) + Z;
            memset(oh, 0, (size_t)L * sizeof(float));
            oh[labels[b]] = 1.0f;
        }
}

/* d loss / d [mu | logvar] (n, 2Z) into dhead from d loss / d zin (n, Z+L) through the reparameterization. */
void vae__sample_z_backward(vae_model *m, const float *dzin, int n) {
    int Z = m->Z;
    const float *logvar = m->enc_out[m->n_enc - 1] + Z;
    reparam_backward(m->dhead, m->dhead + Z, dzin, logvar, m->eps, n, Z, 2 * Z, Z + m->K);
}

/* Per-image reconstruction nll (n) into m->recon from the decoder's output m->out and targets x (n, D); with
 * dout, also d (scale * sum of the nll) / d out into dout (n, D) and, for the Gaussian, the log-variance's
 * gradient added into its slot of m->grads. Bernoulli computes both in one pass over the logits. */
void vae__recon_forward(vae_model *m, const float *x, int n, float *dout, float scale) {
    if (m->cfg.likelihood == VAE_GAUSSIAN) {
        float lv = P(m, m->logvar_tensor)[0];
        gaussian_nll_forward(m->recon, m->out, x, lv, n, m->D);
        if (dout) gaussian_nll_backward(dout, G(m, m->logvar_tensor), m->out, x, lv, n, m->D, scale);
    } else if (dout) {
        bernoulli_nll_forward_backward(m->recon, dout, m->out, x, n, m->D, scale);
    } else {
        bernoulli_nll_forward(m->recon, m->out, x, n, m->D);
    }
}

/* One z per image through the model: encode, sample (the caller's eps, else from rng; z = mu when both are
 * NULL), decode, and the
 * per-image reconstruction nll (with its gradient into m->grad_a when want_grad). */
vae_status vae__forward_one(vae_model *m, const float *x, const int *labels, int n, vae_rng *rng, const float *eps,
                            int want_grad, float scale) {
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    vae_encoder_forward(m, x, labels, n);
    vae__sample_z(m, labels, n, rng, eps);
    vae_decoder_forward(m, n);
    vae__recon_forward(m, x, n, want_grad ? m->grad_a : NULL, scale);
    return VAE_OK;
}

/* The backward pass of vae__forward_one from d loss / d out in m->grad_a to d loss / d [mu | logvar] in
 * m->dhead (overwritten); the objective adds its latent term there and calls vae_encoder_backward. */
void vae__backward_to_head(vae_model *m, int n) {
    const float *dzin = vae_decoder_backward(m, n);
    vae__sample_z_backward(m, dzin, n);
}

/* Name the first tensor whose values in buf (the gradients or the parameters) are not finite, for the
 * messages of the NaN guard and of vae_save. */
const char *vae_nonfinite_tensor(const vae_model *m, const float *buf) {
    for (int t = 0; t < m->n_tensors; t++)
        if (!all_finite(buf + m->tensors[t].offset, m->tensors[t].numel)) return m->tensors[t].name;
    return NULL;
}

vae_status vae_encode(vae_model *m, const float *x, const int *labels, int n, float *mu, float *logvar) {
    if (!m || !x || !mu) return vae_fail(VAE_ERR_ARG, "vae_encode: %s is NULL", !m ? "model" : !x ? "x" : "mu");
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    vae_encoder_forward(m, x, labels, n);
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
    if (!m || !z || !out) return vae_fail(VAE_ERR_ARG, "vae_decode: %s is NULL", !m ? "model" : !z ? "z" : "out");
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    if (m->K > 0) concat_onehot(m->zin, z, labels, n, m->Z, m->K);
    else memcpy(m->zin, z, (size_t)n * m->Z * sizeof(float));
    vae_decoder_forward(m, n);
    size_t N = (size_t)n * m->D;
    memcpy(out, m->out, N * sizeof(float));
    if (m->cfg.likelihood == VAE_BERNOULLI) sigmoid_forward(out, N);
    return VAE_OK;
}
