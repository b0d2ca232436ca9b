/* cli.c: flag parsing with --help, errors, exit codes and loaders shared by the subcommands. */
#include "cli.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vae %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

flag_spec *flag_find(flag_spec *flags, const char *name) {
    for (flag_spec *f = flags; f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

/* Set one flag from text; on error print it and return -1. */
static int flag_set(const char *cmd, flag_spec *f, const char *text) {
    char *end;
    switch (f->type) {
    case FLAG_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno == ERANGE && end != text && !*end) { // digits only, but beyond long long
            cli_error(cmd, "%s: %s is out of range %.0f..%.0f", f->name, text, f->lo, f->hi);
            return -1;
        }
        if (errno || end == text || *end) {
            cli_error(cmd, "%s: '%s' is not an integer", f->name, text);
            return -1;
        }
        if ((double)v < f->lo || (double)v > f->hi) {
            cli_error(cmd, "%s: %lld is out of range %.0f..%.0f", f->name, v, f->lo, f->hi);
            return -1;
        }
        *(int *)f->value = (int)v;
        return 0;
    }
    case FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (errno == ERANGE && end != text && !*end) { // 1e400 or 1e-400: a number, but not a double
            cli_error(cmd, "%s: %s is out of range %g..%g", f->name, text, f->lo, f->hi);
            return -1;
        }
        if (errno || end == text || *end || !isfinite(v)) {
            cli_error(cmd, "%s: '%s' is not a number", f->name, text);
            return -1;
        }
        if (v < f->lo || v > f->hi) {
            cli_error(cmd, "%s: %g is out of range %g..%g", f->name, v, f->lo, f->hi);
            return -1;
        }
        *(double *)f->value = v;
        return 0;
    }
    case FLAG_CHOICE:
        if (!choice_ok(f->choices, text)) {
            cli_error(cmd, "%s: '%s' is not one of %s", f->name, text, f->choices);
            return -1;
        }
        *(const char **)f->value = text;
        return 0;
    case FLAG_STRING:
        if (!*text && f->required) { // --data "": a path was meant, and "" would name no file in the message
            cli_error(cmd, "%s: the value is empty", f->name);
            return -1;
        }
        // an optional flag whose default is none (--per-image ""): as if not given
        *(const char **)f->value = *text || (f->def && *f->def) ? text : NULL;
        return 0;
    case FLAG_BOOL:
        *(int *)f->value = 1;
        return 0;
    }
    return -1;
}

const char *flag_arg_name(const flag_spec *f) {
    return f->type == FLAG_BOOL ? "" : f->type == FLAG_CHOICE ? f->choices
           : f->type == FLAG_INT ? "N" : f->type == FLAG_DOUBLE ? "X" : "VALUE";
}

void flag_default_text(const flag_spec *f, char *buf, size_t size) {
    if (f->required) snprintf(buf, size, "required");
    else if (f->type == FLAG_BOOL) snprintf(buf, size, "default: off");
    else snprintf(buf, size, "default: %s", f->def && *f->def ? f->def : "none");
}

void (*vae__help_hook)(const char *cmd, const char *usage, const flag_spec *flags);

static void print_help(const char *cmd, const char *usage, const flag_spec *flags) {
    if (vae__help_hook) { // another format of the same table (tools/man.c)
        vae__help_hook(cmd, usage, flags);
        return;
    }
    printf("usage: vae %s %s\n\nflags:\n", cmd, usage);
    for (const flag_spec *f = flags; f->name; f++) {
        char left[64], dflt[128];
        snprintf(left, sizeof left, "%s %s", f->name, flag_arg_name(f));
        flag_default_text(f, dflt, sizeof dflt);
        printf("  %-28s %s (%s)\n", left, f->help, dflt);
    }
    printf("  %-28s %s\n", "--help", "print this help and exit");
}

int flags_parse(const char *cmd, const char *usage, flag_spec *flags, int argc, char **argv) {
    for (flag_spec *f = flags; f->name; f++) {
        f->given = 0;
        if (f->type == FLAG_BOOL) *(int *)f->value = 0;
        else if (f->type == FLAG_STRING || f->type == FLAG_CHOICE) *(const char **)f->value = f->def && *f->def ? f->def : NULL;
        else if (f->def && *f->def && flag_set(cmd, f, f->def)) return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(cmd, usage, flags);
            return 1;
        }
        const char *eq = strchr(a, '=');
        char name[64];
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, a, len);
        name[len] = '\0';
        flag_spec *f = strncmp(a, "--", 2) == 0 ? flag_find(flags, name) : NULL;
        if (!f) {
            cli_error(cmd, "unknown %s '%s' (see vae %s --help)", strncmp(a, "-", 1) == 0 ? "flag" : "argument", a, cmd);
            return -1;
        }
        if (f->given) {
            cli_error(cmd, "%s given twice", f->name);
            return -1;
        }
        f->given = 1;
        if (f->type == FLAG_BOOL) {
            if (eq) {
                cli_error(cmd, "%s takes no value", f->name);
                return -1;
            }
            *(int *)f->value = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            cli_error(cmd, "%s needs a value", f->name);
            return -1;
        }
        if (flag_set(cmd, f, val)) return -1;
    }
    for (flag_spec *f = flags; f->name; f++)
        if (f->required && !f->given) {
            cli_error(cmd, "%s is required (see vae %s --help)", f->name, cmd);
            return -1;
        }
    return 0;
}

int cli_status_exit(vae_status st, int before_work) {
    if (st == VAE_OK) return EXIT_OK;
    if (before_work && (st == VAE_ERR_ARG || st == VAE_ERR_FORMAT || st == VAE_ERR_IO)) return EXIT_USAGE;
    return EXIT_FAIL;
}

int cli_load_model(const char *cmd, const char *path, int max_batch, vae_model **m, vae_meta *meta) {
    vae_status st = vae_checkpoint_load(m, path, max_batch, meta);
    if (st) {
        cli_error(cmd, "%s", vae_last_error());
        return st == VAE_ERR_NOMEM ? EXIT_FAIL : EXIT_USAGE;
    }
    return EXIT_OK;
}

int cli_load_data(const char *cmd, const char *dir, const char *split, const vae_model *m, vae_dataset *ds) {
    vae_status st = vae_dataset_load(ds, dir, split);
    if (st) {
        cli_error(cmd, "%s", vae_last_error());
        return st == VAE_ERR_NOMEM ? EXIT_FAIL : EXIT_USAGE;
    }
    if (m) {
        const vae_config *c = vae_get_config(m);
        if (ds->height != c->height || ds->width != c->width || ds->channels != c->channels) {
            cli_error(cmd, "%s: %s images are %dx%dx%d, the model expects %dx%dx%d", dir, split, ds->height, ds->width,
                      ds->channels, c->height, c->width, c->channels);
            vae_dataset_free(ds);
            return EXIT_USAGE;
        }
        if (c->n_classes > 0 && (!ds->labels || ds->n_classes > c->n_classes)) {
            cli_error(cmd, "%s: the conditional model needs %s labels in 0..%d", dir, split, c->n_classes - 1);
            vae_dataset_free(ds);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

int parse_int_list(const char *s, int *out, int max, int lo, int hi) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < lo || v > hi || n == max || (*end && *end != ',')) return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) return -1; // trailing comma
    }
    return n;
}

int vae__parse_float_list(const char *s, float *out, int max) {
    int n = 0;
    const char *p = s;
    if (!*p) return 0;
    for (;;) {
        char *end;
        errno = 0;
        float v = strtof(p, &end);
        if (end == p || !isfinite(v) || (*end && *end != ',')) return -1;
        if (n < max) out[n] = v;
        n++;
        if (!*end) return n;
        p = end + 1;
        if (!*p) return -1; // trailing comma
    }
}

int cli_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cli_set_threads(int n) {
    if (n <= 0) n = cli_cores();
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

const char *cli_json_number(char buf[32], const char *fmt, double v) {
    if (!isfinite(v)) return "null";
    snprintf(buf, 32, fmt, v);
    return buf;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_check_output(const char *cmd, const char *out_flag, const char *out, const char *model, const char *data) {
    if (cli_same_file(out, model)) {
        cli_error(cmd, "%s %s: is the model being read (--model); writing it would destroy the input", out_flag, out);
        return EXIT_USAGE;
    }
    static const char *const data_files[] = {"train.csv", "test.csv", "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", NULL};
    char path[4200];
    for (int i = 0; data && data_files[i]; i++)
        for (int gz = 0; gz < 2; gz++) {
            snprintf(path, sizeof path, "%s/%s%s", data, data_files[i], gz ? ".gz" : "");
            if (cli_same_file(out, path)) {
                cli_error(cmd, "%s %s: is a data file being read (--data); writing it would destroy the input", out_flag,
                          out);
                return EXIT_USAGE;
            }
        }
    return EXIT_OK;
}

int cli_finish_stdout(const char *cmd, int rc) {
    // a full disk or a closed pipe shows only here: the text printed so far may still sit in the buffer
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "cannot write to standard output: %s", strerror(errno ? errno : EIO));
        return rc == EXIT_OK ? EXIT_FAIL : rc;
    }
    return rc;
}
