/* fuzz_cli.c: libFuzzer target for the command-line parser (flags_parse and parse_int_list, tools/cli.c).
 *
 * The input is split on NUL and newline bytes into argv (at most 64 arguments; empty ones are kept, as a
 * shell passes ""). The first byte picks the flag table: odd, `vae train`'s (every flag type: strings,
 * choices, booleans, integers and doubles with ranges, required flags); even, `vae eval`'s. The tables
 * mirror those in tools/vae.c. flags_parse prints errors and --help: run with -close_fd_mask=3 (scripts/fuzz
 * does) to keep the terminal quiet; libFuzzer and the sanitizers still report.
 * Oracles beyond the sanitizers: after a successful parse every required flag was given, each integer and
 * double lies in its range, each choice is one of its choices, and string values point into argv (or are
 * the default); --hidden, when given, goes through parse_int_list, whose result must hold in-range values.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_ARGS 64

#define FAIL(...)                              \
    do {                                       \
        fprintf(stderr, "fuzz_cli: ");         \
        fprintf(stderr, __VA_ARGS__);          \
        fputc('\n', stderr);                   \
        abort();                               \
    } while (0)

static int choice_in(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static void check_parsed(flag_spec *flags, char **argv, int argc, const char *text, size_t text_len) {
    for (flag_spec *f = flags; f->name; f++) {
        if (f->required && !f->given) FAIL("%s is required but the parse succeeded", f->name);
        switch (f->type) {
        case FLAG_INT: {
            int v = *(int *)f->value;
            if (v < f->lo || v > f->hi) FAIL("%s = %d outside %g..%g", f->name, v, f->lo, f->hi);
            break;
        }
        case FLAG_DOUBLE: {
            double v = *(double *)f->value;
            if (!isfinite(v) || v < f->lo || v > f->hi) FAIL("%s = %g outside %g..%g", f->name, v, f->lo, f->hi);
            break;
        }
        case FLAG_CHOICE: {
            const char *v = *(const char **)f->value;
            if (!v || !choice_in(f->choices, v)) FAIL("%s = '%s' is not one of %s", f->name, v ? v : "(null)", f->choices);
            break;
        }
        case FLAG_STRING: {
            const char *v = *(const char **)f->value;
            // given as "" with no default, an optional flag reads as not given (NULL): tools/cli.c's rule
            if (f->given && !v && f->def && *f->def) FAIL("%s given as empty but its default '%s' lost", f->name, f->def);
            if (f->given && v && !(v >= text && v < text + text_len)) FAIL("%s points outside argv", f->name);
            if (!f->given && v && v != f->def) FAIL("%s not given but set", f->name);
            break;
        }
        case FLAG_BOOL: {
            int v = *(int *)f->value;
            if (v != f->given) FAIL("%s = %d, given %d", f->name, v, f->given);
            break;
        }
        }
    }
    (void)argv, (void)argc;
}

static int parse_train(int argc, char **argv, const char *text, size_t text_len) {
    const char *data, *out, *arch, *hidden, *activation, *lr_schedule, *likelihood, *binarize;
    int ae, latent, epochs, batch, kl_warmup, conditional, val, seed, threads, save_every, resume, force;
    double lr, adam_eps, beta;
    flag_spec flags[] = {
        {"--data", FLAG_STRING, &data, "", "data folder", .required = 1},
        {"--out", FLAG_STRING, &out, "", "run folder", .required = 1},
        {"--arch", FLAG_CHOICE, &arch, "mlp", "network", .choices = "mlp"},
        {"--ae", FLAG_BOOL, &ae, "", "autoencoder"},
        {"--hidden", FLAG_STRING, &hidden, "400", "hidden widths"},
        {"--activation", FLAG_CHOICE, &activation, "relu", "nonlinearity", .choices = "relu|tanh"},
        {"--latent", FLAG_INT, &latent, "20", "latent size", 1, 4096},
        {"--epochs", FLAG_INT, &epochs, "20", "epochs", 1, 1000000},
        {"--batch", FLAG_INT, &batch, "128", "batch size", 1, 1 << 20},
        {"--lr", FLAG_DOUBLE, &lr, "1e-3", "learning rate", 1e-12, 10},
        {"--adam-eps", FLAG_DOUBLE, &adam_eps, "1e-8", "Adam epsilon", 1e-30, 1},
        {"--lr-schedule", FLAG_STRING, &lr_schedule, "", "schedule"},
        {"--beta", FLAG_DOUBLE, &beta, "1", "KL weight", 0, 1e6},
        {"--kl-warmup", FLAG_INT, &kl_warmup, "0", "warm-up epochs", 0, 1000000},
        {"--likelihood", FLAG_CHOICE, &likelihood, "bernoulli", "decoder", .choices = "bernoulli|gaussian"},
        {"--binarize", FLAG_CHOICE, &binarize, "none", "binarization", .choices = "none|dynamic"},
        {"--conditional", FLAG_BOOL, &conditional, "", "conditional"},
        {"--val", FLAG_INT, &val, "0", "held out", 0, 1 << 30},
        {"--seed", FLAG_INT, &seed, "1", "seed", 0, 2147483647},
        {"--threads", FLAG_INT, &threads, "0", "threads", 0, 1024},
        {"--save-every", FLAG_INT, &save_every, "1", "save every", 1, 1000000},
        {"--resume", FLAG_BOOL, &resume, "", "resume"},
        {"--force", FLAG_BOOL, &force, "", "force"},
        {NULL}};
    int rc = flags_parse("train", "--data DIR --out RUN [flags]", flags, argc, argv);
    if (rc < -1 || rc > 1) FAIL("flags_parse returned %d", rc);
    if (rc == 0) {
        check_parsed(flags, argv, argc, text, text_len);
        int widths[VAE_MAX_HIDDEN];
        int n = parse_int_list(hidden, widths, VAE_MAX_HIDDEN, 1, 65536);
        if (n > VAE_MAX_HIDDEN) FAIL("parse_int_list gave %d widths", n);
        for (int i = 0; i < n; i++)
            if (widths[i] < 1 || widths[i] > 65536) FAIL("width %d out of range", widths[i]);
    }
    return rc;
}

static int parse_eval(int argc, char **argv, const char *text, size_t text_len) {
    const char *model, *data, *split, *per_image;
    int n, threads;
    flag_spec flags[] = {{"--model", FLAG_STRING, &model, "", "checkpoint", .required = 1},
                         {"--data", FLAG_STRING, &data, "", "data folder", .required = 1},
                         {"--split", FLAG_CHOICE, &split, "test", "split", .choices = "test|train"},
                         {"--n", FLAG_INT, &n, "0", "first N images", 0, 1 << 30},
                         {"--per-image", FLAG_STRING, &per_image, "", "CSV"},
                         {"--threads", FLAG_INT, &threads, "0", "threads", 0, 1024},
                         {NULL}};
    int rc = flags_parse("eval", "--model CKPT --data DIR [flags]", flags, argc, argv);
    if (rc < -1 || rc > 1) FAIL("flags_parse returned %d", rc);
    if (rc == 0) check_parsed(flags, argv, argc, text, text_len);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] & 1;
    size_t len = size - 1;
    /* One copy with every separator turned into NUL, plus a final NUL; argv points into it. */
    char *text = malloc(len + 1);
    if (!text) return 0;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    if (len > 0) {
        argv[argc++] = text;
        for (size_t i = 0; i < len; i++)
            if (text[i] == '\0' || text[i] == '\n') {
                text[i] = '\0';
                if (argc == MAX_ARGS) break;
                argv[argc++] = text + i + 1;
            }
    }
    argv[argc] = NULL;
    if (which) parse_train(argc, argv, text, len + 1);
    else parse_eval(argc, argv, text, len + 1);
    free(text);
    return 0;
}
