/* man.c: the vae(1) manual page in troff, written from the subcommands' own flag tables (see man.h).
 * Each subcommand runs with --help while vae__help_hook points here, so the page lists exactly the flags,
 * value names and defaults that --help prints. */
#include "man.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vae.h"

/* Print text with troff's special characters escaped: backslash, hyphen (a minus in flags), and a
 * leading dot or quote that troff would read as a request. */
static void roff(const char *s) {
    if (*s == '.' || *s == '\'') fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\') fputs("\\e", stdout);
        else if (*s == '-') fputs("\\-", stdout);
        else putchar(*s);
    }
}

static void man_flags(const char *cmd, const char *usage, const flag_spec *flags) {
    fputs(".PP\n.B vae ", stdout);
    roff(cmd);
    putchar(' ');
    roff(usage);
    putchar('\n');
    for (const flag_spec *f = flags; f->name; f++) {
        char dflt[128];
        flag_default_text(f, dflt, sizeof dflt);
        fputs(".TP\n.B ", stdout);
        roff(f->name);
        if (*flag_arg_name(f)) {
            fputs(" \\fI", stdout);
            roff(flag_arg_name(f));
            fputs("\\fR", stdout);
        }
        putchar('\n');
        roff(f->help);
        fputs(" (", stdout);
        roff(dflt);
        fputs(")\n", stdout);
    }
    fputs(".TP\n.B \\-\\-help\nprint this help and exit\n", stdout);
}

void vae__man_begin(void) {
    printf(".TH VAE 1 \"\" \"libvae %s\" \"User Commands\"\n", VAE_VERSION_STRING);
    fputs(".SH NAME\nvae \\- train and use variational autoencoders\n"
          ".SH SYNOPSIS\n.B vae\n.I COMMAND\n[\\fIflags\\fR]\n.br\n.B vae \\-\\-help\n.br\n.B vae \\-\\-version\n"
          ".SH DESCRIPTION\n"
          ".B vae\nis the command\\-line tool of libvae: it trains a variational autoencoder (or a plain autoencoder) "
          "on a folder of images, evaluates it, draws its pictures, encodes and decodes, and exports its decoder as C. "
          "Losses are in nats per image. Flags take their value as \\fB\\-\\-flag VALUE\\fR or "
          "\\fB\\-\\-flag=VALUE\\fR; a flag given twice is an error; "
          "\\fBvae \\fICOMMAND\\fB \\-\\-help\\fR lists a command's flags with their defaults, as below.\n"
          ".SH COMMANDS\n",
          stdout);
}

void vae__man_command(const char *name, const char *summary, int (*run)(int argc, char **argv)) {
    char help[] = "--help";
    char *argv[] = {help, NULL};
    fputs(".SS \"vae ", stdout);
    roff(name);
    fputs("\"\n", stdout);
    roff(summary);
    putchar('\n');
    fflush(stdout);
    vae__help_hook = man_flags;
    run(1, argv);
    vae__help_hook = NULL;
}

int vae__man_end(void) {
    fputs(".SH EXIT STATUS\n"
          "0 success; 2 bad usage or bad input, found before work starts; 1 a failure during work (NaN stop, I/O "
          "error, full disk, out of memory); 128 + the signal number when stopped by SIGINT or SIGTERM after saving.\n"
          ".SH FILES\n"
          "A run folder of \\fBvae train\\fR holds model.safetensors, train\\-state.safetensors, metrics.jsonl "
          "and loss.png; every file is replaced atomically.\n"
          ".SH SEE ALSO\n.BR libvae (3)\n",
          stdout);
    return fflush(stdout) != 0 || ferror(stdout) ? 1 : 0;
}
