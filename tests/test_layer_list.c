/* test_layer_list.c: the model's list of layers (model.h), entry by entry.
 *   - every kind of entry in the table (vae__layer_ops) is checked against central finite differences through
 *     its own forward / backward pair: the gradient of sum(r * out) with respect to the entry's input and its
 *     parameters, on entries of real lists (MLP and convolutional, conditional, autoencoder, dropout), with the
 *     clamp checked on values on both sides of its bounds;
 *   - every kind appears in some list checked here (a kind added to the table without a check fails);
 *   - the lists have the expected shape: the sample entry splits encoder and decoder, widths chain, only
 *     entries after the first one with parameters compute their input's gradient, the one size table puts
 *     every buffer inside the activations' allocation. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"
#include "model.h"
#include "test.h"
#include "gradcheck.h"

/* One entry's check: f(inp, params) = sum over its outputs of r * out, with the same eps / mask every call. */
typedef struct {
    vae_model *m;
    vae_layer *l;
    float *inp;        /* (n, in_w) the entry's input, a copy the check perturbs */
    const float *r;    /* (n, out_w) fixed random weights */
    const int *labels; /* (n) */
    int n;
    uint64_t seed;
} entry_ctx;

static double entry_loss(void *p) {
    entry_ctx *c = p;
    vae_layer *l = c->l;
    vae_rng r;
    vae_rng_seed(&r, c->seed);
    vae_pass pass = vae__pass_of(NULL, c->labels, &r, NULL, 1);
    size_t in = (size_t)c->n * l->in_w, out = (size_t)c->n * l->out_w;
    if (vae__layer_ops[l->kind].in_place) memcpy(l->out, c->inp, in * sizeof(float)); // it reads its own output
    vae__layer_ops[l->kind].forward(c->m, l, c->inp, c->n, &pass);
    double L = 0;
    for (size_t i = 0; i < out; i++) L += (double)c->r[i] * l->out[i];
    return L;
}

static int kinds_checked[VAE_LAYER_KINDS];

/* Check entry i of m: its input gradient and, when it has them, its weight and bias gradients. */
static void check_entry(vae_model *m, int i, const char *what) {
    int n = 3, labels[3] = {2, 0, 1};
    vae_layer *l = &m->layers[i];
    size_t in = (size_t)n * l->in_w, out = (size_t)n * l->out_w;
    float *inp = vae_malloc(in * sizeof(float)), *r = vae_malloc(out * sizeof(float));
    float *dout = vae_malloc(out * sizeof(float)), *dinp = vae_malloc(in * sizeof(float));
    fill(inp, in, -1, 1);
    if (l->kind == VAE_LAYER_CLAMP) // logvar values beyond both bounds (gradient 0) and inside them
        for (int b = 0; b < n; b++) inp[(size_t)b * l->in_w + l->in_w / 2 + b % 2] = b % 2 ? 25.0f : -35.0f;
    fill(r, out, -1, 1);
    entry_ctx c = {m, l, inp, r, labels, n, 17 + (uint64_t)i};
    int need = l->need_dinp;
    l->need_dinp = 1; // the check wants the input's gradient of every entry
    memset(m->grads, 0, m->n_params * sizeof(float));
    entry_loss(&c);
    memcpy(dout, r, out * sizeof(float));
    float *dfree = m->grad_a;
    const float *d = vae__layer_ops[l->kind].backward(m, l, dout, inp, dfree, n);
    memcpy(dinp, d, in * sizeof(float));
    char name[128];
    snprintf(name, sizeof name, "%s: entry %d (%s) d inp", what, i, vae__layer_ops[l->kind].name);
    float *g = vae_malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float)); // later evaluations do not touch grads, but keep a copy
    check_grad(name, entry_loss, &c, inp, dinp, in, 1e-3);
    for (int t = 0; t < 2; t++) {
        int idx = t ? l->bias : l->weight;
        if (idx < 0) continue;
        snprintf(name, sizeof name, "%s: entry %d (%s) %s", what, i, vae__layer_ops[l->kind].name, m->tensors[idx].name);
        check_grad(name, entry_loss, &c, m->params + m->tensors[idx].offset, g + m->tensors[idx].offset,
                   m->tensors[idx].numel, 1e-3);
    }
    l->need_dinp = need;
    kinds_checked[l->kind] = 1;
    vae_mem_free(inp), vae_mem_free(r), vae_mem_free(dout), vae_mem_free(dinp), vae_mem_free(g);
}

/* The list's shape: widths chain, the sample entry splits encoder and decoder, need_dinp, buffers inside acts. */
static void check_shape(const vae_model *m, const char *what) {
    int ok = m->i_sample > 0 && m->i_sample < m->n_layers - 1 && m->layers[m->i_sample].kind == VAE_LAYER_SAMPLE;
    CHECK(ok, "%s: the sample entry %d splits the list of %d", what, m->i_sample, m->n_layers);
    CHECK(m->layers[0].in_w == m->D && m->layers[m->n_layers - 1].out_w == m->D, "%s: D in, D out", what);
    int seen = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const vae_layer *l = &m->layers[i];
        if (i > 0) CHECK(l->in_w == m->layers[i - 1].out_w, "%s: entry %d's input is entry %d's output", what, i, i - 1);
        CHECK(l->need_dinp == seen, "%s: entry %d need_dinp %d", what, i, l->need_dinp);
        seen |= l->weight >= 0;
        const float *end = m->acts + m->n_acts;
        CHECK(l->out >= m->acts && l->out + (size_t)m->max_batch * l->out_w <= end, "%s: entry %d's output inside", what, i);
        if (vae__layer_ops[l->kind].saves)
            CHECK(l->saved && l->saved >= m->acts && l->saved + (size_t)m->max_batch * l->out_w <= end,
                  "%s: entry %d's saved buffer inside", what, i);
    }
    CHECK(m->head == m->layers[m->i_sample - 1].out && m->z == m->layers[m->i_sample].out &&
              m->out == m->layers[m->n_layers - 1].out,
          "%s: head, z and out are the entries' buffers", what);
}

static void check_list(const char *what, const vae_config *cfg) {
    vae_model *m;
    vae_status st = vae_create(&m, cfg, 4, &rng);
    CHECK(st == VAE_OK, "%s: create: %s", what, vae_last_error());
    if (st) return;
    check_shape(m, what);
    for (int i = 0; i < m->n_layers; i++) check_entry(m, i, what);
    vae_free(m);
}

int main(void) {
    vae_rng_seed(&rng, 2024);
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = 3, cfg.width = 4, cfg.n_hidden = 2, cfg.hidden[0] = 5, cfg.hidden[1] = 4, cfg.n_latent = 2;
    cfg.activation = VAE_TANH; // smooth: finite differences need no care about kinks
    cfg.n_classes = 3;
    check_list("mlp conditional", &cfg);
    cfg.n_classes = 0, cfg.ae = 1, cfg.likelihood = VAE_GAUSSIAN;
    check_list("mlp autoencoder", &cfg);
    vae_config_default(&cfg);
    cfg.height = 4, cfg.width = 8, cfg.channels = 2, cfg.arch = VAE_CONV, cfg.n_conv = 2;
    cfg.conv_channels[0] = 3, cfg.conv_channels[1] = 2, cfg.n_hidden = 1, cfg.hidden[0] = 5, cfg.n_latent = 2;
    cfg.activation = VAE_TANH, cfg.n_classes = 2;
    check_list("conv conditional", &cfg);
    for (int k = 0; k < VAE_LAYER_KINDS; k++)
        CHECK(kinds_checked[k], "kind %d (%s) has no gradient check", k, vae__layer_ops[k].name);
    TEST_MAIN_END();
}
