/* layer_kinds.c: the kinds of entry in the model's list of layers, each a forward / backward pair side by
 * side, and the table that dispatches them (model.h's vae__layer_ops, as kann's operator table does).
 *
 * Letters as in model.h: B rows (n here), C / OC input / output channels (a dense layer's widths), H, W, OH,
 * OW feature map sizes, Z latent size, L classes. Shapes are per call: inp (n, l->in_w), out (n, l->out_w).
 * Conventions as in layers.h: parameter gradients accumulate (+=) into m->grads; a backward pass turns dout
 * (n, out_w) into d inp (n, in_w), in place or in dfree, and returns where it is (NULL when l->need_dinp is
 * 0: nothing before the entry has parameters). The kernels are in ops.c (matrix products), conv.c and
 * layers.c; these wrappers only pick the entry's tensors and buffers. */
#include <string.h>

#include "layers.h"
#include "model.h"

/* The activations that dense and conv entries apply after their product: y in place; dx *= f'(y). */
static void act_forward(act_kind act, float *y, size_t n) {
    if (act == ACT_TANH) vae__tanh_forward(y, n);
    else if (act == ACT_RELU) vae__relu_forward(y, n);
}

static void act_backward(act_kind act, float *dx, const float *y, size_t n) {
    if (act == ACT_TANH) vae__tanh_backward(dx, y, n);
    else if (act == ACT_RELU) vae__relu_backward(dx, y, n);
}

/* dense: out (n, OC) = act(inp (n, C) @ weight (OC, C)^T + bias), bias and activation in one pass */
static void dense_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    vae__matmul_forward_act(l->out, inp, VAE_P(m, l->weight), VAE_P(m, l->bias), n, l->in_w, l->out_w, l->act);
}

static float *dense_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree, int n) {
    act_backward(l->act, dout, l->out, (size_t)n * l->out_w);
    float *dinp = l->need_dinp ? dfree : NULL;
    vae__matmul_backward(dinp, VAE_G(m, l->weight), VAE_G(m, l->bias), dout, inp, VAE_P(m, l->weight), n, l->in_w,
                    l->out_w);
    return dinp;
}

/* conv, deconv: out (n, OH, OW, OC) = act(conv2d(inp (n, H, W, C), weight (OC, C, K, K)) + bias), or with
 * conv_transpose2d and weight (C, OC, K, K) for d.transposed; im2col scratch in m->col. The two kernels share
 * their signatures (conv.h), so one pair of wrappers serves both kinds, the kernel picked by d.transposed. */
static const struct {
    void (*forward)(float *out, float *col, const float *inp, const float *weight, const float *bias, int B,
                    const conv_dims *d, size_t col_cap);
    void (*backward)(float *dinp, float *dweight, float *dbias, float *col, const float *dout, const float *inp,
                     const float *weight, int B, const conv_dims *d, size_t col_cap);
} conv_kernels[2] = {{vae__conv2d_forward, vae__conv2d_backward}, {vae__conv_transpose2d_forward, vae__conv_transpose2d_backward}};

static void conv_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    conv_kernels[l->d.transposed].forward(l->out, m->col, inp, VAE_P(m, l->weight), VAE_P(m, l->bias), n, &l->d,
                                          m->col_cap);
    act_forward(l->act, l->out, (size_t)n * l->out_w);
}

static float *conv_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree, int n) {
    act_backward(l->act, dout, l->out, (size_t)n * l->out_w);
    float *dinp = l->need_dinp ? dfree : NULL;
    conv_kernels[l->d.transposed].backward(dinp, VAE_G(m, l->weight), VAE_G(m, l->bias), m->col, dout, inp,
                                           VAE_P(m, l->weight), n, &l->d, m->col_cap);
    return dinp;
}

/* label: out (n, C + L) = [inp (n, C) | onehot(label)], row r's label p->labels[r / p->rep] */
static void label_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    size_t C = (size_t)l->in_w, L = (size_t)(l->out_w - l->in_w);
    for (int b = 0; b < n; b++) {
        float *row = l->out + b * (C + L);
        memcpy(row, inp + b * C, C * sizeof(float));
        memset(row + C, 0, L * sizeof(float));
        row[C + (size_t)p->labels[b / p->rep]] = 1.0f;
    }
}

/* d inp: the first C columns of each row of dout, moved together in place (rows move forward) */
static float *label_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree, int n) {
    if (!l->need_dinp) return NULL;
    size_t C = (size_t)l->in_w, W = (size_t)l->out_w;
    for (int b = 1; b < n; b++) memmove(dout + b * C, dout + b * W, C * sizeof(float));
    return dout;
}

/* clamp: the logvar half of the head [mu | logvar] (n, 2Z), in place, to [VAE_LOGVAR_MIN, VAE_LOGVAR_MAX] */
static void clamp_layer_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    int Z = l->out_w / 2;
    vae__clamp_forward(l->out + Z, n, Z, 2 * Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);
}

static float *clamp_layer_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree,
                                   int n) {
    int Z = l->out_w / 2;
    vae__clamp_backward(dout + Z, l->out + Z, n, Z, 2 * Z, VAE_LOGVAR_MIN, VAE_LOGVAR_MAX);
    return dout;
}

/* sample: out z (n, Z) = mu + exp(logvar / 2) * eps from inp (n, 2Z) = [mu | logvar]; eps (saved) is the
 * caller's (p->eps), else drawn from p->rng, else 0; always 0 (z = mu) for an entry without noise (--ae) */
static void sample_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    int Z = l->out_w;
    size_t N = (size_t)n * Z;
    if (l->noise && p->eps) memcpy(l->saved, p->eps, N * sizeof(float));
    else if (l->noise && p->rng) vae_rng_normals(p->rng, l->saved, N);
    else memset(l->saved, 0, N * sizeof(float));
    vae__reparam_forward(l->out, inp, inp + Z, l->saved, n, Z, 2 * Z, Z);
}

/* d [mu | logvar] (n, 2Z) into m->dhead (overwritten): dmu = dz, dlogvar = dz * eps * exp(logvar / 2) / 2 */
static float *sample_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree, int n) {
    int Z = l->out_w;
    vae__reparam_backward(m->dhead, m->dhead + Z, dout, inp + Z, l->saved, n, Z, 2 * Z, Z);
    return m->dhead;
}

/* dropout: in a training pass (p->train, with a generator) out = inp * mask, mask (saved) 1 / (1 - p) with
 * probability 1 - p and 0 otherwise; in other passes out = inp */
static void dropout_layer_forward(vae_model *m, vae_layer *l, const float *inp, int n, const vae_pass *p) {
    size_t N = (size_t)n * l->out_w;
    if (p->train && p->rng) vae__dropout_forward(l->out, l->saved, inp, N, l->p, p->rng);
    else memcpy(l->out, inp, N * sizeof(float));
}

/* d inp = dout * mask, in place (after a training pass) */
static float *dropout_layer_backward(vae_model *m, const vae_layer *l, float *dout, const float *inp, float *dfree,
                                     int n) {
    vae__dropout_backward(dout, l->saved, (size_t)n * l->out_w);
    return dout;
}

const vae_layer_ops vae__layer_ops[VAE_LAYER_KINDS] = {
    [VAE_LAYER_DENSE] = {"dense", 0, 0, dense_forward, dense_backward},
    [VAE_LAYER_CONV] = {"conv", 0, 0, conv_forward, conv_backward},
    [VAE_LAYER_DECONV] = {"deconv", 0, 0, conv_forward, conv_backward},
    [VAE_LAYER_LABEL] = {"label", 0, 0, label_forward, label_backward},
    [VAE_LAYER_CLAMP] = {"clamp", 1, 0, clamp_layer_forward, clamp_layer_backward},
    [VAE_LAYER_SAMPLE] = {"sample", 0, 1, sample_forward, sample_backward},
    [VAE_LAYER_DROPOUT] = {"dropout", 0, 1, dropout_layer_forward, dropout_layer_backward},
};
