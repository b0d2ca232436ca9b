/* model.c: configuration -> the list of layers and the parameter table (built once) -> one size table for the
 * activations; the walks over the list (forward in order, backward in reverse) and the encoder / sample /
 * decoder interface the objectives use; vae_encode and vae_decode. The layers' kinds are in layer_kinds.c.
 * See model.h for the lists and the letters. */
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
    if (!c) return vae_fail(VAE_ERR_ARG, "the configuration is NULL");
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
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return vae_fail(VAE_ERR_ARG, "dropout %g: a probability in [0, 1) needed", c->dropout);
    return conv_config_check(c);
}

/* ---------------------------------------------------------------- the parameter table and the list */

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

/* "prefix.weight" of the given shape and "prefix.bias" (OC) for entry l. */
static void add_weight_bias(vae_model *m, vae_layer *l, const char *prefix, int ndim, const int *shape, int OC) {
    char name[32];
    snprintf(name, sizeof name, "%s.weight", prefix);
    l->weight = add_tensor_nd(m, name, ndim, shape);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l->bias = add_tensor_nd(m, name, 1, &OC);
}

/* Append an entry of kind k taking rows of in_w floats to rows of out_w floats. */
static vae_layer *add_layer(vae_model *m, vae_layer_kind k, int in_w, int out_w) {
    vae_layer *l = &m->layers[m->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = k;
    l->in_w = in_w;
    l->out_w = out_w;
    l->act = ACT_NONE;
    l->weight = l->bias = -1;
    return l;
}

/* A dense entry C -> OC with weight (OC, C) as PyTorch's nn.Linear; @return OC. */
static int add_dense(vae_model *m, const char *prefix, int C, int OC, act_kind act) {
    vae_layer *l = add_layer(m, VAE_LAYER_DENSE, C, OC);
    l->act = act;
    int shape[2] = {OC, C};
    add_weight_bias(m, l, prefix, 2, shape, OC);
    return OC;
}

/* A hidden layer: dense + activation, then dropout when the configuration asks for it; @return N. */
static int add_hidden(vae_model *m, const char *prefix, int C, int N, act_kind act, float dropout) {
    add_dense(m, prefix, C, N, act);
    if (dropout > 0.0f) add_layer(m, VAE_LAYER_DROPOUT, N, N)->p = dropout;
    return N;
}

/* A conv or transposed conv entry: weight (OC, C, K, K) or (C, OC, K, K) (PyTorch's layouts), bias (OC). */
static void add_conv(vae_model *m, const char *prefix, const conv_dims *d, act_kind act) {
    vae_layer *l = add_layer(m, d->transposed ? VAE_LAYER_DECONV : VAE_LAYER_CONV, d->H * d->W * d->C,
                             d->OH * d->OW * d->OC);
    l->d = *d;
    l->act = act;
    int shape[4] = {d->transposed ? d->C : d->OC, d->transposed ? d->OC : d->C, d->K, d->K};
    add_weight_bias(m, l, prefix, 4, shape, d->OC);
}

/* The one-hot label after rows of W floats, for a conditional model; @return the new row width. */
static int add_label(vae_model *m, int W) {
    if (m->L == 0) return W;
    add_layer(m, VAE_LAYER_LABEL, W, W + m->L);
    return W + m->L;
}

/* The encoder's entries: convolutions, [label], hidden layers, the head and its logvar clamp. */
static void build_encoder(vae_model *m, const vae_config *cfg, act_kind act, int n_conv) {
    char prefix[24];
    int h = cfg->height, w = cfg->width, c = cfg->channels; // the feature map's shape so far
    for (int i = 0; i < n_conv; i++) {
        conv_dims d;
        vae__conv2d_dims(&d, h, w, c, cfg->conv_channels[i], ENC_KERNEL, CONV_STRIDE, CONV_PAD);
        snprintf(prefix, sizeof prefix, "enc.conv%d", i + 1);
        add_conv(m, prefix, &d, act);
        h = d.OH, w = d.OW, c = d.OC;
    }
    m->F = n_conv ? h * w * c : 0;
    int width = add_label(m, n_conv ? m->F : m->D);
    for (int i = 0; i < cfg->n_hidden; i++) {
        snprintf(prefix, sizeof prefix, "enc.fc%d", i + 1);
        width = add_hidden(m, prefix, width, cfg->hidden[i], act, cfg->dropout);
    }
    add_dense(m, "enc.head", width, 2 * m->Z, ACT_NONE);
    add_layer(m, VAE_LAYER_CLAMP, 2 * m->Z, 2 * m->Z);
}

/* The decoder's entries: [label], hidden layers (widths reversed), the output layer (dec.out), or for conv
 * dec.proj to the feature map and the transposed convolutions back up to the image. */
static void build_decoder(vae_model *m, const vae_config *cfg, act_kind act, int n_conv) {
    char prefix[24];
    int width = add_label(m, m->Z);
    for (int i = 0; i < cfg->n_hidden; i++) {
        snprintf(prefix, sizeof prefix, "dec.fc%d", i + 1);
        width = add_hidden(m, prefix, width, cfg->hidden[cfg->n_hidden - 1 - i], act, cfg->dropout);
    }
    if (n_conv == 0) {
        add_dense(m, "dec.out", width, m->D, ACT_NONE);
        return;
    }
    add_dense(m, "dec.proj", width, m->F, act);
    const conv_dims *e = &m->layers[n_conv - 1].d; // the last convolution's output: the feature map
    int h = e->OH, w = e->OW, c = e->OC;
    for (int i = 0; i < n_conv; i++) { // cn -> ... -> c1 -> C
        int oc = i < n_conv - 1 ? cfg->conv_channels[n_conv - 2 - i] : cfg->channels;
        conv_dims d;
        vae__conv_transpose2d_dims(&d, h, w, c, oc, DEC_KERNEL, CONV_STRIDE, CONV_PAD);
        snprintf(prefix, sizeof prefix, "dec.deconv%d", i + 1);
        add_conv(m, prefix, &d, i < n_conv - 1 ? act : ACT_NONE);
        h = d.OH, w = d.OW, c = d.OC;
    }
}

/* The configuration's list and tensor table, no buffers; cfg has passed vae_config_check. The table's order
 * (encoder convolutions, dense layers, head, decoder dense layers, output or dec.proj, transposed
 * convolutions, dec.logvar) is the checkpoint's. */
static void build_list(vae_model *m, const vae_config *cfg) {
    m->cfg = *cfg;
    m->D = cfg->height * cfg->width * cfg->channels;
    m->Z = cfg->n_latent;
    m->L = cfg->n_classes;
    act_kind act = cfg->activation == VAE_TANH ? ACT_TANH : ACT_RELU;
    int n_conv = cfg->arch == VAE_CONV ? cfg->n_conv : 0;
    build_encoder(m, cfg, act, n_conv);
    m->i_sample = m->n_layers;
    add_layer(m, VAE_LAYER_SAMPLE, 2 * m->Z, m->Z)->noise = !cfg->ae;
    build_decoder(m, cfg, act, n_conv);
    m->logvar_tensor = cfg->likelihood == VAE_GAUSSIAN ? add_tensor_nd(m, "dec.logvar", 1, (int[]){1}) : -1;
    int seen = 0; // an entry needs its input's gradient once some entry before it has parameters
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].need_dinp = seen;
        seen |= m->layers[i].weight >= 0;
    }
}

size_t vae_config_n_params(const vae_config *cfg) {
    vae_model m; // the table only: no buffers
    memset(&m, 0, sizeof m);
    build_list(&m, cfg);
    return m.n_params;
}

int vae_tensor_index(const vae_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- buffers */

/* The im2col scratch: room for COL_BUDGET floats, or one image of the widest conv entry if that is more, and
 * never more than a whole batch. */
static size_t col_floats(const vae_model *m) {
    size_t per = 0, B = (size_t)m->max_batch;
    for (int i = 0; i < m->n_layers; i++) {
        const vae_layer *l = &m->layers[i];
        if (l->kind != VAE_LAYER_CONV && l->kind != VAE_LAYER_DECONV) continue;
        size_t c = vae__conv_col_size(&l->d);
        per = per > c ? per : c;
    }
    if (per == 0) return 0;
    size_t images = COL_BUDGET / per;
    images = images < 1 ? 1 : (images > B ? B : images);
    return images * per;
}

/* The one size table of the activations: every buffer in order. With base NULL it only counts; with base it
 * also points each buffer into base. @return the floats needed. */
static size_t layout(vae_model *m, float *base) {
    size_t B = (size_t)m->max_batch, off = 0, widest = 0;
#define TAKE(ptr, count) \
    do {                 \
        if (base) (ptr) = base + off; \
        off += (count);  \
    } while (0)
    for (int i = 0; i < m->n_layers; i++) {
        vae_layer *l = &m->layers[i];
        const vae_layer_ops *k = &vae__layer_ops[l->kind];
        if (k->in_place) {
            if (base) l->out = m->layers[i - 1].out;
        } else {
            TAKE(l->out, B * (size_t)l->out_w);
        }
        if (k->saves) TAKE(l->saved, B * (size_t)l->out_w);
        widest = widest > (size_t)l->in_w ? widest : (size_t)l->in_w;
        widest = widest > (size_t)l->out_w ? widest : (size_t)l->out_w;
    }
    TAKE(m->dhead, B * 2 * (size_t)m->Z);
    TAKE(m->grad_a, B * widest);
    TAKE(m->grad_b, B * widest);
    TAKE(m->recon, B);
    TAKE(m->kl, B);
    TAKE(m->col, m->col_cap);
#undef TAKE
    if (base) {
        m->head = m->layers[m->i_sample - 1].out;
        m->z = m->layers[m->i_sample].out;
        m->eps = m->layers[m->i_sample].saved;
        m->out = m->layers[m->n_layers - 1].out;
        if (m->col_cap == 0) m->col = NULL;
    }
    return off;
}

void vae_free(vae_model *m) {
    if (!m) return;
    vae_mem_free(m->params);
    vae_mem_free(m->grads);
    vae_mem_free(m->adam_m);
    vae_mem_free(m->adam_v);
    vae_mem_free(m->acts);
    vae_mem_free(m->obj_scratch);
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
    m->max_batch = max_batch;
    build_list(m, cfg);
    m->col_cap = col_floats(m);
    size_t total = layout(m, NULL);
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
    layout(m, m->acts);
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

int vae__dense_layers(const vae_model *m, int decoder, vae_dense *out, int max) {
    int n = 0, from = decoder ? m->i_sample + 1 : 0, to = decoder ? m->n_layers : m->i_sample;
    for (int i = from; i < to; i++) {
        const vae_layer *l = &m->layers[i];
        if (l->kind == VAE_LAYER_DENSE && n < max) out[n++] = (vae_dense){l->in_w, l->out_w, l->weight, l->bias, l};
    }
    return n;
}

/* ---------------------------------------------------------------- the walks */

void vae__forward(vae_model *m, int from, int to, const vae_pass *p, int n) {
    for (int i = from; i < to; i++) {
        vae_layer *l = &m->layers[i];
        vae__layer_ops[l->kind].forward(m, l, i > 0 ? m->layers[i - 1].out : p->x, n, p);
    }
}

float *vae__backward(vae_model *m, int from, int to, float *dout, const float *x, int n) {
    for (int i = to - 1; i >= from && dout; i--) {
        const vae_layer *l = &m->layers[i];
        float *dfree = dout == m->grad_a ? m->grad_b : m->grad_a; // the ping-pong buffer dout is not in
        dout = vae__layer_ops[l->kind].backward(m, l, dout, i > 0 ? m->layers[i - 1].out : x, dfree, n);
    }
    return dout;
}

void vae__encode(vae_model *m, const vae_pass *p, int n) { vae__forward(m, 0, m->i_sample, p, n); }
void vae__sample(vae_model *m, const vae_pass *p, int n) { vae__forward(m, m->i_sample, m->i_sample + 1, p, n); }
void vae__decode(vae_model *m, const vae_pass *p, int n) { vae__forward(m, m->i_sample + 1, m->n_layers, p, n); }

float *vae__decode_backward(vae_model *m, float *dout, int n) {
    return vae__backward(m, m->i_sample + 1, m->n_layers, dout, NULL, n);
}

void vae__sample_backward(vae_model *m, float *dz, int n) { vae__backward(m, m->i_sample, m->i_sample + 1, dz, NULL, n); }

void vae__encode_backward(vae_model *m, const float *x, int n) { vae__backward(m, 0, m->i_sample, m->dhead, x, n); }

/* ---------------------------------------------------------------- what the objectives share */

vae_status vae__check_batch(const vae_model *m, int n, const int *labels) {
    if (n < 1 || n > m->max_batch)
        return vae_fail(VAE_ERR_ARG, "batch of %d images: the model holds 1..%d", n, m->max_batch);
    if (m->L > 0) {
        if (!labels) return vae_fail(VAE_ERR_ARG, "conditional model: labels are required");
        for (int b = 0; b < n; b++)
            if (labels[b] < 0 || labels[b] >= m->L)
                return vae_fail(VAE_ERR_ARG, "label %d out of range 0..%d", labels[b], m->L - 1);
    }
    return VAE_OK;
}

void vae__recon_forward(vae_model *m, const float *x, int n, float *dout, float scale) {
    if (m->cfg.likelihood == VAE_GAUSSIAN) {
        float lv = VAE_P(m, m->logvar_tensor)[0];
        vae__gaussian_nll_forward(m->recon, m->out, x, lv, n, m->D);
        if (dout) vae__gaussian_nll_backward(dout, VAE_G(m, m->logvar_tensor), m->out, x, lv, n, m->D, scale);
    } else if (dout) { // both in one pass over the logits
        vae__bernoulli_nll_forward_backward(m->recon, dout, m->out, x, n, m->D, scale);
    } else {
        vae__bernoulli_nll_forward(m->recon, m->out, x, n, m->D);
    }
}

vae_status vae__forward_one(vae_model *m, const vae_pass *p, int n, int want_grad, float scale) {
    vae_status st = vae__check_batch(m, n, p->labels);
    if (st) return st;
    vae__encode(m, p, n);
    vae__sample(m, p, n);
    vae__decode(m, p, n);
    vae__recon_forward(m, p->x, n, want_grad ? m->grad_a : NULL, scale);
    return VAE_OK;
}

void vae__backward_to_head(vae_model *m, int n) { vae__sample_backward(m, vae__decode_backward(m, m->grad_a, n), n); }

/* Name the first tensor whose values in buf (the gradients or the parameters) are not finite, for the
 * messages of the NaN guard and of vae_save. */
const char *vae_nonfinite_tensor(const vae_model *m, const float *buf) {
    for (int t = 0; t < m->n_tensors; t++)
        if (!vae__all_finite(buf + m->tensors[t].offset, m->tensors[t].numel)) return m->tensors[t].name;
    return NULL;
}

/* ---------------------------------------------------------------- inference */

vae_status vae_encode(vae_model *m, const float *x, const int *labels, int n, float *mu, float *logvar) {
    if (!m || !x || !mu) return vae_fail(VAE_ERR_ARG, "vae_encode: %s is NULL", !m ? "model" : !x ? "x" : "mu");
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    vae_pass p = vae__pass_of(x, labels, NULL, NULL, 0);
    vae__encode(m, &p, n);
    size_t Z = (size_t)m->Z;
    for (int b = 0; b < n; b++) {
        memcpy(mu + b * Z, m->head + b * 2 * Z, Z * sizeof(float));
        if (logvar) {
            if (m->cfg.ae) memset(logvar + b * Z, 0, Z * sizeof(float));
            else memcpy(logvar + b * Z, m->head + b * 2 * Z + Z, Z * sizeof(float));
        }
    }
    return VAE_OK;
}

vae_status vae_decode(vae_model *m, const float *z, const int *labels, int n, float *out) {
    if (!m || !z || !out) return vae_fail(VAE_ERR_ARG, "vae_decode: %s is NULL", !m ? "model" : !z ? "z" : "out");
    vae_status st = vae__check_batch(m, n, labels);
    if (st) return st;
    memcpy(m->z, z, (size_t)n * m->Z * sizeof(float)); // the sample entry's output: the decoder's input
    vae_pass p = vae__pass_of(NULL, labels, NULL, NULL, 0);
    vae__decode(m, &p, n);
    size_t N = (size_t)n * m->D;
    memcpy(out, m->out, N * sizeof(float));
    if (m->cfg.likelihood == VAE_BERNOULLI) vae__sigmoid_forward(out, N);
    return VAE_OK;
}
