/* test_layer_list.c: the model's list of layers (model.h), entry by entry.
 *   - every kind of entry in the table (vae__layer_ops) is checked against central finite differences through
 *     its own forward / backward pair: the gradient of sum(r * out) with respect to the entry's input and its
 *     parameters, on entries of real lists (MLP and convolutional, conditional, autoencoder, dropout), with the
 *     clamp checked on values on both sides of its bounds;
 *   - dropout's training and evaluation modes, its checkpoint key;
 *   - every kind appears in some list checked here (a kind added to the table without a check fails);
 *   - the lists have the expected shape: the sample entry splits encoder and decoder, widths chain, only
 *     entries after the first one with parameters compute their input's gradient, the one size table puts
 *     every buffer inside the activations' allocation. */
#include <math.h>
#include <string.h>
#include <unistd.h>

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

/* Dropout's modes: training steps draw masks (two steps with other generators differ), evaluation, encode and
 * decode do not (the same result whatever the generator, and the same as the model without dropout, whose
 * parameters are the same); dropout 0 adds no entry; a checkpoint keeps the probability (vae_save, vae_load). */
static void test_dropout_modes(const vae_config *with) {
    vae_config without = *with;
    without.dropout = 0.0f;
    vae_rng r1, r2;
    vae_rng_seed(&r1, 5), vae_rng_seed(&r2, 5);
    vae_model *a, *b;
    if (vae_create(&a, with, 4, &r1) || vae_create(&b, &without, 4, &r2)) {
        CHECK(0, "create: %s", vae_last_error());
        return;
    }
    int hidden = with->n_hidden;
    CHECK(a->n_layers == b->n_layers + 2 * hidden, "one dropout entry per hidden layer: %d vs %d entries", a->n_layers,
          b->n_layers);
    CHECK(a->n_params == b->n_params && memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0,
          "dropout has no parameters: the same initialisation");
    float x[4 * 12], la[4], lb[4], mu_a[8], mu_b[8];
    fill(x, 48, 0, 1);
    vae_rng_seed(&r1, 9), vae_rng_seed(&r2, 9);
    CHECK(vae_eval_batch(a, x, NULL, 4, &r1, la, NULL, NULL) == VAE_OK &&
              vae_eval_batch(b, x, NULL, 4, &r2, lb, NULL, NULL) == VAE_OK,
          "eval: %s", vae_last_error());
    CHECK(memcmp(la, lb, sizeof la) == 0, "evaluation passes values through dropout");
    vae_encode(a, x, NULL, 4, mu_a, NULL);
    vae_encode(b, x, NULL, 4, mu_b, NULL);
    CHECK(memcmp(mu_a, mu_b, sizeof mu_a) == 0, "encode passes values through dropout");
    vae_train_opts o;
    vae_train_opts_default(&o);
    vae_losses s1, s2, s3;
    vae_rng_seed(&r1, 3);
    vae_step_grad(a, x, NULL, 4, &o, &r1, &s1);
    vae_rng_seed(&r1, 3);
    vae_step_grad(a, x, NULL, 4, &o, &r1, &s2);
    vae_rng_seed(&r1, 4);
    vae_step_grad(a, x, NULL, 4, &o, &r1, &s3);
    vae_rng_seed(&r2, 3);
    vae_step_grad(b, x, NULL, 4, &o, &r2, NULL);
    CHECK(s1.loss == s2.loss && s1.loss != s3.loss, "training masks follow the generator: %g %g %g", s1.loss, s2.loss,
          s3.loss);
    // a mask zeroes about p of the values
    const vae_layer *d = &a->layers[1]; // after enc.fc1
    size_t zeros = 0, N = 4 * (size_t)d->out_w;
    for (size_t i = 0; d->kind == VAE_LAYER_DROPOUT && i < N; i++) zeros += d->saved[i] == 0.0f;
    CHECK(d->kind == VAE_LAYER_DROPOUT && zeros > 0 && zeros < N, "entry 1 is dropout; %zu of %zu zeroed", zeros, N);
    char path[] = "/tmp/test_layer_list.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    vae_model *l = NULL;
    CHECK(vae_save(a, path) == VAE_OK && vae_load(&l, path, 4) == VAE_OK, "save and load: %s", vae_last_error());
    CHECK(l && vae_get_config(l)->dropout == with->dropout && l->n_layers == a->n_layers, "the checkpoint keeps dropout %g",
          l ? vae_get_config(l)->dropout : -1.0);
    unlink(path);
    vae_free(l);
    vae_free(a);
    vae_free(b);
    vae_config bad = *with;
    bad.dropout = 1.0f;
    CHECK(vae_create(&a, &bad, 4, &r1) == VAE_ERR_ARG, "dropout 1 refused");
    bad.dropout = NAN;
    CHECK(vae_create(&a, &bad, 4, &r1) == VAE_ERR_ARG, "dropout NaN refused");
    bad.dropout = -0.1f;
    CHECK(vae_create(&a, &bad, 4, &r1) == VAE_ERR_ARG, "dropout -0.1 refused");
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
    cfg.ae = 0, cfg.dropout = 0.4f;
    check_list("mlp dropout", &cfg);
    test_dropout_modes(&cfg);
    vae_config_default(&cfg);
    cfg.height = 4, cfg.width = 8, cfg.channels = 2, cfg.arch = VAE_CONV, cfg.n_conv = 2;
    cfg.conv_channels[0] = 3, cfg.conv_channels[1] = 2, cfg.n_hidden = 1, cfg.hidden[0] = 5, cfg.n_latent = 2;
    cfg.activation = VAE_TANH, cfg.n_classes = 2;
    check_list("conv conditional", &cfg);
    for (int k = 0; k < VAE_LAYER_KINDS; k++)
        CHECK(kinds_checked[k], "kind %d (%s) has no gradient check", k, vae__layer_ops[k].name);
    TEST_MAIN_END();
}
