/* runtime.c: the vae tool's choice of matrix-product engine (--engine, VAE_ENGINE), a setting the library
 * leaves to its caller. (tools/omp_env.c sets the OpenMP wait policy, before main() runs.) */
#include "runtime.h"

#include <stdlib.h>

int vae__tool_set_engine(const char *cmd, const char *name) {
    const char *from = "--engine";
    if (!name) { // no --engine: VAE_ENGINE when set, else the library's default (auto)
        name = getenv("VAE_ENGINE");
        from = "VAE_ENGINE";
        if (!name || !*name) return EXIT_OK;
    }
    if (vae_set_engine(name) == VAE_OK) return EXIT_OK;
    cli_error(cmd, "%s: %s", from, vae_last_error());
    return EXIT_USAGE;
}
