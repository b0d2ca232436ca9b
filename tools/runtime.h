/* runtime.h: the vae tool's choice of matrix-product engine (tools/runtime.c). */
#ifndef VAE_TOOL_RUNTIME_H
#define VAE_TOOL_RUNTIME_H

#include "cli.h"

/* The --engine flag of the subcommands that run matrix products (the same text everywhere). */
#define VAE_TOOL_ENGINE_FLAG(var)                                                                                   \
    {"--engine", FLAG_CHOICE, &(var), "auto",                                                                       \
     "matrix-product engine (auto: the fastest measured for this CPU; the default comes from VAE_ENGINE when set)", \
     .choices = "auto|openblas|dnnl|blis"}

/** Choose the engine: name is --engine's value when given, else NULL (then VAE_ENGINE, when set, chooses).
 *  @return EXIT_OK, or EXIT_USAGE after printing an error naming the flag or variable. */
int vae__tool_set_engine(const char *cmd, const char *name);

#endif /* VAE_TOOL_RUNTIME_H */
