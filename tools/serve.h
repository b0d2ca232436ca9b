/* serve.h: `vae serve` (tools/serve.c): the latent-space explorer, a page and a JSON/PNG API over HTTP. */
#ifndef VAE_SERVE_H
#define VAE_SERVE_H

int vae__cmd_serve(int argc, char **argv);

/* table entry: {"name", function, "summary"}, */
#define SERVE_COMMANDS {"serve", vae__cmd_serve, "explore the latent space in the browser (a page and a JSON/PNG API)"},

#endif /* VAE_SERVE_H */
