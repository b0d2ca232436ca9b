/* cli.h: what the subcommands of the `vae` tool share: a flag table parser that prints --help with each
 * flag's default, exit codes, and loading of models and data with errors that name the file. */
#ifndef VAE_CLI_H
#define VAE_CLI_H

#include <stdio.h>

#include "checkpoint.h"
#include "data.h"
#include "vae.h"

/* Exit status (DESIGN.md): 0 success, 2 bad usage or bad input found before work starts, 1 failure
 * during work, 128 + signal number when stopped by SIGINT or SIGTERM after saving. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef enum { FLAG_INT, FLAG_DOUBLE, FLAG_STRING, FLAG_BOOL, FLAG_CHOICE } flag_type;

typedef struct {
    const char *name;     /* "--epochs" */
    flag_type type;
    void *value;          /* int*, double*, const char** (STRING and CHOICE), int* (BOOL) */
    const char *def;      /* default as text ("" for none); parsed into value before parsing argv */
    const char *help;
    double lo, hi;        /* range for INT and DOUBLE */
    const char *choices;  /* "relu|tanh" for CHOICE */
    int required;
    int given;            /* set by the parser when the flag appears on the command line */
} flag_spec;

/**
 * Parse argv (after the subcommand) against the table (terminated by a {NULL} entry).
 * Prints help and returns 1 for --help; prints a one-line error naming the flag and returns -1 on bad
 * usage; returns 0 on success.
 */
int flags_parse(const char *cmd, const char *usage, flag_spec *flags, int argc, char **argv);

/** @return the placeholder of a flag's value in help texts: "N", "X", "VALUE", the choices, or "" (BOOL). */
const char *flag_arg_name(const flag_spec *f);

/** Write "required", "default: off" (BOOL) or "default: TEXT" ("none" when empty) into buf. */
void flag_default_text(const flag_spec *f, char *buf, size_t size);

/** When set, --help calls this instead of printing the usual text (tools/man.c writes the man page so). */
extern void (*vae__help_hook)(const char *cmd, const char *usage, const flag_spec *flags);

/** @return the spec of a flag by name (for ->given), or NULL. */
flag_spec *flag_find(flag_spec *flags, const char *name);

/** Print "vae CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Exit code for a library failure: bad input (FORMAT, ARG, IO on open) -> 2 when before_work, else 1. */
int cli_status_exit(vae_status st, int before_work);

/** Load a model checkpoint for up to max_batch images per call, printing the error on failure. */
int cli_load_model(const char *cmd, const char *path, int max_batch, vae_model **m, vae_meta *meta);

/** Load a data split and check it matches the model's image shape (m may be NULL). */
int cli_load_data(const char *cmd, const char *dir, const char *split, const vae_model *m, vae_dataset *ds);

/** Parse "a,b,c" integers into out (max n); returns the count or -1. */
int parse_int_list(const char *s, int *out, int max, int lo, int hi);

/** Parse "z1,z2,..." finite floats into out (the first max of them); returns the count of all of them, or -1
 *  for anything else (an empty string counts 0). */
int vae__parse_float_list(const char *s, float *out, int max);

/** A JSON number: v printed with fmt into buf, or "null" when v is not finite (JSON has no inf or nan). */
const char *cli_json_number(char buf[32], const char *fmt, double v);

/** 1 when paths a and b both exist and are the same file (same device and inode, links followed). */
int cli_same_file(const char *a, const char *b);

/** Refuse (print, EXIT_USAGE) an output path that is an input: the model (may be NULL) or one of the data
 * files of folder data (may be NULL). EXIT_OK otherwise. */
int cli_check_output(const char *cmd, const char *out_flag, const char *out, const char *model, const char *data);

/** At the end of a subcommand: flush stdout; a failed write (a full disk, `> /dev/full`) prints a message
 * and turns rc EXIT_OK into EXIT_FAIL. @return the exit code. */
int cli_finish_stdout(const char *cmd, int rc);

/** Set OpenBLAS's and OpenMP's thread counts (n <= 0: number of cores). */
void cli_set_threads(int n);

/** Number of online cores. */
int cli_cores(void);

#endif /* VAE_CLI_H */
