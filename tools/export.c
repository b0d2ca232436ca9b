/* export.c: the subcommands that move latent codes and models out of libvae.
 *
 *   encode    images of a data split -> CSV of mu and logvar per image (the grey values as they are, never
 *             binarized; logvar 0 for an autoencoder)
 *   decode    one latent vector -> the decoder's mean as a PNG picture or one CSV row (%.9g)
 *   export-c  the decoder as a dependency-free C99 source and header (float32 weights, or int8 weights
 *             with one float scale per output row), for programs that should not link libvae
 *
 * Numbers written as text use %.9g, which gives every float back exactly when read with strtof, so the
 * CSVs can be compared with other implementations (scripts/torch_interop.py) and fed back to `decode`.
 */
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "fileio.h"
#include "image.h"
#include "model.h"

/* 1 if path ends with ext (".png"), ignoring case. */
static int has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

/* ---------------------------------------------------------------- encode */

/* Longer than a screen for its flag table and the checks before work; the work itself is the loop at the end. */
int cmd_encode(int argc, char **argv) {
    const char *model_path, *data, *out, *split;
    int n, threads;
    flag_spec flags[] = {{"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
                         {"--data", FLAG_STRING, &data, "", "data folder", .required = 1},
                         {"--out", FLAG_STRING, &out, "",
                          "CSV to write: index,label,mu_1..mu_Z,logvar_1..logvar_Z (label -1 without label files)",
                          .required = 1},
                         {"--split", FLAG_CHOICE, &split, "test", "which split", .choices = "test|train"},
                         {"--n", FLAG_INT, &n, "0", "encode the first N images (0: all)", 0, 1 << 30},
                         {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
                         {NULL}};
    int rc = flags_parse("encode", "--model CKPT --data DIR --out CSV [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    cli_set_threads(threads);
    const int batch = 1000;
    vae_model *m = NULL;
    vae_dataset ds;
    if ((rc = cli_load_model("encode", model_path, batch, &m, NULL))) return rc;
    if ((rc = cli_load_data("encode", data, split, m, &ds))) {
        vae_free(m);
        return rc;
    }
    rc = EXIT_USAGE;
    vae__atomic out_file = {0};
    FILE *f = NULL;
    float *x = NULL, *mu = NULL, *logvar = NULL;
    int *labels = NULL;
    if (n > ds.n) {
        cli_error("encode", "--n %d: the %s split holds only %d images", n, split, ds.n);
        goto done;
    }
    if (n == 0) n = ds.n;
    if ((rc = cli_check_output("encode", "--out", out, model_path, data))) goto done;
    rc = EXIT_USAGE;
    if (vae__atomic_open(&out_file, out)) { // the old --out stays whole until the new one is complete
        cli_error("encode", "--out %s", vae_last_error());
        goto done;
    }
    f = out_file.f;

    // work starts: from here failures exit 1
    rc = EXIT_FAIL;
    int Z = m->Z, conditional = m->L > 0;
    x = vae_malloc((size_t)batch * ds.dim * sizeof(float));
    labels = vae_malloc((size_t)batch * sizeof(int));
    mu = vae_malloc((size_t)batch * Z * sizeof(float));
    logvar = vae_malloc((size_t)batch * Z * sizeof(float));
    if (!x || !labels || !mu || !logvar) {
        cli_error("encode", "out of memory");
        goto done;
    }
    fprintf(f, "index,label");
    for (int j = 1; j <= Z; j++) fprintf(f, ",mu_%d", j);
    for (int j = 1; j <= Z; j++) fprintf(f, ",logvar_%d", j);
    fputc('\n', f);
    for (int start = 0; start < n; start += batch) {
        int b = n - start < batch ? n - start : batch;
        vae_dataset_batch(&ds, NULL, start, b, x);
        vae_dataset_batch_labels(&ds, NULL, start, b, labels);
        vae_status st = vae_encode(m, x, conditional ? labels : NULL, b, mu, logvar);
        if (st) {
            cli_error("encode", "%s", vae_last_error());
            goto done;
        }
        for (int i = 0; i < b; i++) {
            fprintf(f, "%d,%d", start + i, ds.labels ? labels[i] : -1);
            for (int j = 0; j < Z; j++) fprintf(f, ",%.9g", mu[(size_t)i * Z + j]);
            for (int j = 0; j < Z; j++) fprintf(f, ",%.9g", logvar[(size_t)i * Z + j]);
            fputc('\n', f);
        }
    }
    if (vae__atomic_commit(&out_file)) {
        cli_error("encode", "--out %s", vae_last_error());
        goto done;
    }
    rc = EXIT_OK;
done:
    vae__atomic_abort(&out_file);
    vae_mem_free(x), vae_mem_free(labels), vae_mem_free(mu), vae_mem_free(logvar);
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- decode */

/* Longer than a screen for its flag table and the checks of --z, --label and --out before work. */
int cmd_decode(int argc, char **argv) {
    const char *model_path, *zs, *out;
    int label, scale;
    flag_spec flags[] = {{"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
                         {"--z", FLAG_STRING, &zs, "", "the latent vector: exactly Z comma-separated numbers",
                          .required = 1},
                         {"--out", FLAG_STRING, &out, "",
                          "FILE.png (the image) or FILE.csv (one row of the D mean values, %.9g)", .required = 1},
                         {"--label", FLAG_INT, &label, "-1", "class for a conditional model (required there; -1: none)", -1, 255},
                         {"--scale", FLAG_INT, &scale, "4", "PNG: pixels per image pixel", 1, 64},
                         {NULL}};
    int rc = flags_parse("decode", "--model CKPT --z \"z1,z2,...\" --out FILE [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    int png = has_ext(out, ".png");
    if (!png && !has_ext(out, ".csv")) {
        cli_error("decode", "--out %s: the name must end in .png (a picture) or .csv (the values)", out);
        return EXIT_USAGE;
    }
    if ((rc = cli_check_output("decode", "--out", out, model_path, NULL))) return rc;
    vae_model *m = NULL;
    if ((rc = cli_load_model("decode", model_path, 1, &m, NULL))) return rc;
    rc = EXIT_USAGE;
    float *z = NULL, *x = NULL;
    const vae_config *c = vae_get_config(m);
    int Z = m->Z, D = m->D;
    z = vae_malloc((size_t)Z * sizeof(float));
    x = vae_malloc((size_t)D * sizeof(float));
    if (!z || !x) {
        cli_error("decode", "out of memory");
        rc = EXIT_FAIL;
        goto done;
    }
    int nz = vae__parse_float_list(zs, z, Z);
    if (nz < 0) {
        cli_error("decode", "--z '%s': not a comma-separated list of finite numbers", zs);
        goto done;
    }
    if (nz != Z) {
        cli_error("decode", "--z: %d value%s given, the model's latent size is %d", nz, nz == 1 ? "" : "s", Z);
        goto done;
    }
    if (m->L > 0 && (label < 0 || label >= m->L)) {
        cli_error("decode", "--label: the conditional model %s needs a class in 0..%d", model_path, m->L - 1);
        goto done;
    }
    if (m->L == 0 && label >= 0) {
        cli_error("decode", "--label %d: %s is not a conditional model", label, model_path);
        goto done;
    }
    if (png && c->channels != 1 && c->channels != 3) {
        cli_error("decode", "--out %s: images of %d channels cannot be written as PNG; use .csv", out, c->channels);
        goto done;
    }

    // work starts: from here failures exit 1
    rc = EXIT_FAIL;
    vae_status st = vae_decode(m, z, m->L > 0 ? &label : NULL, 1, x);
    if (st) {
        cli_error("decode", "%s", vae_last_error());
        goto done;
    }
    if (png) {
        st = vae_write_mosaic(out, x, 1, 1, c->height, c->width, c->channels, scale, 0);
        if (st) {
            cli_error("decode", "%s", vae_last_error());
            goto done;
        }
    } else {
        vae__atomic af;
        if (vae__atomic_open(&af, out)) {
            cli_error("decode", "--out %s", vae_last_error());
            goto done;
        }
        for (int i = 0; i < D; i++) fprintf(af.f, i ? ",%.9g" : "%.9g", x[i]);
        fputc('\n', af.f);
        if (vae__atomic_commit(&af)) {
            cli_error("decode", "--out %s", vae_last_error());
            goto done;
        }
    }
    rc = EXIT_OK;
done:
    vae_mem_free(z), vae_mem_free(x);
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- export-c */

/* A float as a C99 literal that reads back as the same float: %.9g, made a floating constant. */
static void put_float(FILE *f, float v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", (double)v);
    fprintf(f, strpbrk(buf, ".e") ? "%sf" : "%s.0f", buf);
}

/* Text inside a C comment: a star followed by a slash would end it early, so a space goes between them
 * (a model path may hold anything). */
static void put_comment_text(FILE *f, const char *s) {
    for (; *s; s++) {
        fputc(*s, f);
        if (*s == '*' && s[1] == '/') fputc(' ', f);
    }
}

/* Symmetric int8 quantization of one row: scale = max|w| / 127, q = round(w / scale) in [-127, 127]. */
static float quantize_row(signed char *q, const float *w, int n) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
    float scale = amax / 127.0f;
    for (int i = 0; i < n; i++) {
        long v = scale > 0.0f ? lroundf(w[i] / scale) : 0;
        q[i] = (signed char)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return scale;
}

typedef struct {
    size_t weight_bytes; /* bytes of every weight, bias and scale array in the .c file */
} export_sizes;

/* One dense layer's arrays: "dec_fc1_weight" (float or int8), "dec_fc1_scale" (int8 only), "dec_fc1_bias". */
static int write_layer(FILE *f, const vae_model *m, const vae_dense *d, const char *name, int int8,
                       export_sizes *sz) {
    const vae_tensor_info *tw = &m->tensors[d->weight], *tb = &m->tensors[d->bias];
    const float *w = m->params + tw->offset, *b = m->params + tb->offset;
    size_t numel = (size_t)d->OC * d->C;
    if (int8)
        fprintf(f, "\n/* %s: weight (%d, %d) as (out, in), row-major as in PyTorch's nn.Linear, stored as int8 q with\n"
                   " * weight[o][i] = q[o][i] * scale[o]; bias (%d) */\n", tw->name, d->OC, d->C, d->OC);
    else
        fprintf(f, "\n/* %s: weight (%d, %d) as (out, in), row-major as in PyTorch's nn.Linear; bias (%d) */\n", tw->name,
                d->OC, d->C, d->OC);
    if (int8) {
        signed char *q = vae_malloc((size_t)d->C);
        float *scales = vae_malloc((size_t)d->OC * sizeof(float));
        if (!q || !scales) {
            vae_mem_free(q), vae_mem_free(scales);
            vae_fail(VAE_ERR_NOMEM, "out of memory quantizing %s", tw->name);
            return -1;
        }
        fprintf(f, "static const signed char %s_weight[%zu] = {", name, numel);
        for (int o = 0; o < d->OC; o++) {
            scales[o] = quantize_row(q, w + (size_t)o * d->C, d->C);
            for (int i = 0; i < d->C; i++) {
                size_t k = (size_t)o * d->C + i;
                fprintf(f, k % 24 ? " %d," : "\n    %d,", q[i]);
            }
        }
        fprintf(f, "\n};\nstatic const float %s_scale[%d] = {", name, d->OC);
        for (int o = 0; o < d->OC; o++) {
            fputs(o % 6 ? " " : "\n    ", f);
            put_float(f, scales[o]);
            fputc(',', f);
        }
        fputs("\n};\n", f);
        vae_mem_free(q), vae_mem_free(scales);
        sz->weight_bytes += numel + (size_t)d->OC * sizeof(float);
    } else {
        fprintf(f, "static const float %s_weight[%zu] = {", name, numel);
        for (size_t k = 0; k < numel; k++) {
            fputs(k % 6 ? " " : "\n    ", f);
            put_float(f, w[k]);
            fputc(',', f);
        }
        fputs("\n};\n", f);
        sz->weight_bytes += numel * sizeof(float);
    }
    fprintf(f, "static const float %s_bias[%d] = {", name, d->OC);
    for (int o = 0; o < d->OC; o++) {
        fputs(o % 6 ? " " : "\n    ", f);
        put_float(f, b[o]);
        fputc(',', f);
    }
    fputs("\n};\n", f);
    sz->weight_bytes += (size_t)d->OC * sizeof(float);
    return 0;
}

/* What ties an exported header to its source: the CRC-32 of the parameters and the weight format. */
static unsigned long export_id(const vae_model *m, int int8) {
    unsigned long crc = crc32(0L, Z_NULL, 0);
    const unsigned char *p = (const unsigned char *)m->params;
    for (size_t left = m->n_params * sizeof(float); left > 0;) { // crc32 takes at most 4 GiB per call
        unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        crc = crc32(crc, p, chunk);
        p += chunk, left -= chunk;
    }
    unsigned char fmt = (unsigned char)int8;
    return crc32(crc, &fmt, 1);
}

static int write_header(FILE *f, const vae_model *m, const char *model_path, int int8, unsigned long id) {
    vae_dense dec[VAE_MAX_DENSE];
    int n_dec = vae__dense_layers(m, 1, dec, VAE_MAX_DENSE);
    const vae_config *c = &m->cfg;
    char arch[256];
    size_t len = (size_t)snprintf(arch, sizeof arch, "%d", m->Z + m->L);
    for (int l = 0; l < n_dec && len < sizeof arch; l++)
        len += (size_t)snprintf(arch + len, sizeof arch - len, "-%d", dec[l].OC);
    fprintf(f, "/* vae_decoder.h: a libvae decoder exported by `vae export-c`%s from\n *   ", int8 ? " --int8" : "");
    put_comment_text(f, model_path);
    fprintf(f,
            "\n"
            " * Network: %s (input: z%s), %s hidden activation, %s output.\n"
            " * Weights: %s.\n"
            " *\n"
            " * Dependency-free C99: vae_decoder.c includes only <math.h> (link with -lm).\n"
            " * Not reentrant: the hidden activations live in static buffers sized at export time, so call it\n"
            " * from one thread at a time.\n"
            " */\n"
            "#ifndef VAE_DECODER_H\n#define VAE_DECODER_H\n\n"
            "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            arch, m->L ? " then the one-hot label" : "",
            c->activation == VAE_TANH ? "tanh" : "ReLU",
            c->likelihood == VAE_GAUSSIAN ? "Gaussian mean" : "Bernoulli (sigmoid of the logits)",
            int8 ? "int8 with one float scale per output row (w = q * scale, scale = max|row| / 127)" : "float32");
    fprintf(f,
            "#define VAE_DECODER_Z %d        /* latent size */\n"
            "#define VAE_DECODER_CLASSES %d  /* classes of a conditional model (0: not conditional) */\n"
            "#define VAE_DECODER_INPUTS %d   /* VAE_DECODER_Z + VAE_DECODER_CLASSES */\n"
            "#define VAE_DECODER_HEIGHT %d\n#define VAE_DECODER_WIDTH %d\n#define VAE_DECODER_CHANNELS %d\n"
            "#define VAE_DECODER_D %d        /* HEIGHT * WIDTH * CHANNELS output values */\n"
            "#define VAE_DECODER_INT8 %d\n"
            "#define VAE_DECODER_EXPORT_ID 0x%08lxUL /* vae_decoder.c checks that it sits beside this header */\n",
            m->Z, m->L, m->Z + m->L, c->height, c->width, c->channels, m->D, int8, id);
    if (m->logvar_tensor >= 0) {
        fputs("/* Gaussian decoder: the learned log-variance of every output value */\n#define VAE_DECODER_LOGVAR ", f);
        put_float(f, m->params[m->tensors[m->logvar_tensor].offset]);
        fputc('\n', f);
    }
    fprintf(f,
            "\n/**\n"
            " * Decode one latent vector.\n"
            " * @param in   VAE_DECODER_INPUTS floats: z (VAE_DECODER_Z values)%s\n"
            " * @param out  VAE_DECODER_D floats: the decoder's mean, the image in row-major order\n"
            " *             (row, column, channel)%s\n"
            " */\n"
            "void vae_decoder_decode(const float *in, float *out);\n",
            m->L ? ", then the label as VAE_DECODER_CLASSES\n *             one-hot values (1 at the class, 0 elsewhere)"
                 : "",
            c->likelihood == VAE_GAUSSIAN ? "" : ", each in [0, 1]");
    if (m->L)
        fputs("\n/**\n"
              " * Decode z (VAE_DECODER_Z floats) for class label in [0, VAE_DECODER_CLASSES) into out\n"
              " * (VAE_DECODER_D floats). @return 0, or -1 (out untouched) when the label is out of range.\n"
              " */\n"
              "int vae_decoder_decode_label(const float *z, int label, float *out);\n",
              f);
    fputs("\n#ifdef __cplusplus\n}\n#endif\n#endif /* VAE_DECODER_H */\n", f);
    return 0;
}

static int write_source(FILE *f, const vae_model *m, const char *model_path, int int8, unsigned long id,
                        export_sizes *sz) {
    vae_dense dec[VAE_MAX_DENSE];
    int n_dec = vae__dense_layers(m, 1, dec, VAE_MAX_DENSE);
    const vae_config *c = &m->cfg;
    int n_hidden = n_dec - 1, widest = 0;
    for (int l = 0; l < n_hidden; l++) widest = dec[l].OC > widest ? dec[l].OC : widest;
    fprintf(f, "/* vae_decoder.c: a libvae decoder exported by `vae export-c`%s from\n *   ", int8 ? " --int8" : "");
    put_comment_text(f, model_path);
    fputs("\n * Generated: edit the model, not this file. See vae_decoder.h for the interface. */\n"
          "#include <math.h>\n\n#include \"vae_decoder.h\"\n",
          f);
    fprintf(f, "\n#if !defined(VAE_DECODER_EXPORT_ID) || VAE_DECODER_EXPORT_ID != 0x%08lxUL\n"
               "#error \"vae_decoder.h does not come from the export of this vae_decoder.c: run vae export-c again\"\n"
               "#endif\n", id);
    char name[40];
    for (int l = 0; l < n_dec; l++) {
        snprintf(name, sizeof name, l < n_hidden ? "dec_fc%d" : "dec_out", l + 1);
        if (write_layer(f, m, &dec[l], name, int8, sz)) return -1;
    }
    if (int8)
        fputs("\n/* y (OC) = (q (OC, C) x (C)) * scale (OC) + b (OC): integer weights, float activations */\n"
              "static void dense(float *y, const float *x, const signed char *q, const float *scale, const float *b,\n"
              "                  int C, int OC) {\n"
              "    for (int o = 0; o < OC; o++) {\n"
              "        const signed char *row = q + (long)o * C;\n"
              "        float acc = 0.0f;\n"
              "        for (int i = 0; i < C; i++) acc += (float)row[i] * x[i];\n"
              "        y[o] = acc * scale[o] + b[o];\n"
              "    }\n"
              "}\n",
              f);
    else
        fputs("\n/* y (OC) = w (OC, C) x (C) + b (OC) */\n"
              "static void dense(float *y, const float *x, const float *w, const float *b, int C, int OC) {\n"
              "    for (int o = 0; o < OC; o++) {\n"
              "        const float *row = w + (long)o * C;\n"
              "        float acc = 0.0f;\n"
              "        for (int i = 0; i < C; i++) acc += row[i] * x[i];\n"
              "        y[o] = acc + b[o];\n"
              "    }\n"
              "}\n",
              f);
    if (n_hidden > 0) {
        if (c->activation == VAE_TANH)
            fputs("\nstatic void activation(float *y, int n) {\n"
                  "    for (int i = 0; i < n; i++) y[i] = tanhf(y[i]);\n}\n",
                  f);
        else
            fputs("\nstatic void activation(float *y, int n) { /* ReLU */\n"
                  "    for (int i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;\n}\n",
                  f);
        fprintf(f, "\n/* hidden activations, ping-pong between the layers (widest hidden layer: %d) */\n"
                   "static float hidden[%d][%d];\n",
                widest, n_hidden > 1 ? 2 : 1, widest);
    }
    if (c->likelihood == VAE_BERNOULLI)
        fputs("\n/* the Bernoulli mean: the sigmoid of the logits */\n"
              "static void sigmoid(float *y, int n) {\n"
              "    for (int i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));\n}\n",
              f);
    fputs("\nvoid vae_decoder_decode(const float *in, float *out) {\n", f);
    const char *inp = "in";
    char bufname[32];
    for (int l = 0; l < n_dec; l++) {
        const vae_dense *d = &dec[l];
        int last = l == n_hidden;
        snprintf(name, sizeof name, last ? "dec_out" : "dec_fc%d", l + 1);
        snprintf(bufname, sizeof bufname, "hidden[%d]", l % 2);
        const char *dst = last ? "out" : bufname;
        if (int8)
            fprintf(f, "    dense(%s, %s, %s_weight, %s_scale, %s_bias, %d, %d);\n", dst, inp, name, name, name, d->C,
                    d->OC);
        else
            fprintf(f, "    dense(%s, %s, %s_weight, %s_bias, %d, %d);\n", dst, inp, name, name, d->C, d->OC);
        if (!last) fprintf(f, "    activation(%s, %d);\n", dst, d->OC);
        inp = l % 2 ? "hidden[1]" : "hidden[0]";
    }
    if (c->likelihood == VAE_BERNOULLI) fprintf(f, "    sigmoid(out, %d);\n", m->D);
    fputs("}\n", f);
    if (m->L)
        fprintf(f,
                "\nint vae_decoder_decode_label(const float *z, int label, float *out) {\n"
                "    static float in[%d];\n"
                "    if (label < 0 || label >= %d) return -1;\n"
                "    for (int i = 0; i < %d; i++) in[i] = i < %d ? z[i] : 0.0f;\n"
                "    in[%d + label] = 1.0f;\n"
                "    vae_decoder_decode(in, out);\n"
                "    return 0;\n"
                "}\n",
                m->Z + m->L, m->L, m->Z + m->L, m->Z, m->Z);
    return 0;
}

/* Open the temporary file for dir/name (path: a buffer of 4096 that must outlive the commit). */
static vae_status open_in(vae__atomic *a, char *path, const char *dir, const char *name) {
    if (snprintf(path, 4096, "%s/%s", dir, name) >= 4096) return vae_fail(VAE_ERR_ARG, "%s/%s: path too long", dir, name);
    return vae__atomic_open(a, path);
}

int cmd_export_c(int argc, char **argv) {
    const char *model_path, *out;
    int int8;
    flag_spec flags[] = {{"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
                         {"--out", FLAG_STRING, &out, "", "folder for vae_decoder.h and vae_decoder.c (created if missing)",
                          .required = 1},
                         {"--int8", FLAG_BOOL, &int8, "", "int8 weights with one float scale per output row"},
                         {NULL}};
    int rc = flags_parse("export-c", "--model CKPT --out DIR [--int8]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    vae_model *m = NULL;
    if ((rc = cli_load_model("export-c", model_path, 1, &m, NULL))) return rc;
    if (m->cfg.arch != VAE_MLP) {
        cli_error("export-c", "%s: only MLP decoders can be exported as C (this model is convolutional)", model_path);
        vae_free(m);
        return EXIT_USAGE;
    }
    struct stat sb;
    if (stat(out, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            cli_error("export-c", "--out %s: exists and is not a folder", out);
            vae_free(m);
            return EXIT_USAGE;
        }
    } else if (mkdir(out, 0777) != 0) {
        cli_error("export-c", "--out %s: cannot create the folder: %s", out, strerror(errno));
        vae_free(m);
        return EXIT_USAGE;
    }
    // the header and the source are written as a set: both complete and synced before either is renamed, and
    // the source checks that it sits beside the header of the same export (VAE_DECODER_EXPORT_ID)
    export_sizes sz = {0};
    char hpath[4096], cpath[4096];
    vae__atomic files[2] = {{0}, {0}};
    snprintf(hpath, sizeof hpath, "%s/vae_decoder.h", out);
    snprintf(cpath, sizeof cpath, "%s/vae_decoder.c", out);
    if ((rc = cli_check_output("export-c", "--out", hpath, model_path, NULL)) ||
        (rc = cli_check_output("export-c", "--out", cpath, model_path, NULL))) {
        vae_free(m);
        return rc;
    }
    rc = EXIT_FAIL;
    unsigned long id = export_id(m, int8);
    if (open_in(&files[0], hpath, out, "vae_decoder.h") || open_in(&files[1], cpath, out, "vae_decoder.c") ||
        write_header(files[0].f, m, model_path, int8, id) || write_source(files[1].f, m, model_path, int8, id, &sz)) {
        cli_error("export-c", "%s", vae_last_error());
    } else {
        long header_bytes = ftell(files[0].f), source_bytes = ftell(files[1].f);
        if (vae__atomic_commit_set(files, 2)) {
            cli_error("export-c", "%s", vae_last_error());
        } else {
            char arch[256];
            vae_dense dec[VAE_MAX_DENSE];
            int n_dec = vae__dense_layers(m, 1, dec, VAE_MAX_DENSE);
            size_t len = (size_t)snprintf(arch, sizeof arch, "%d", m->Z + m->L);
            for (int l = 0; l < n_dec && len < sizeof arch; l++)
                len += (size_t)snprintf(arch + len, sizeof arch - len, "-%d", dec[l].OC);
            printf("wrote %s (%ld bytes) and %s (%ld bytes): decoder %s, %s, %zu bytes of weights, biases%s\n", hpath,
                   header_bytes, cpath, source_bytes, arch, int8 ? "int8" : "float32", sz.weight_bytes,
                   int8 ? " and scales" : "");
            rc = EXIT_OK;
        }
    }
    vae__atomic_abort(&files[0]);
    vae__atomic_abort(&files[1]);
    vae_free(m);
    return rc;
}
