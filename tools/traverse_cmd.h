/* traverse_cmd.h: `vae traverse` (tools/traverse.c), latent traversals: one row per latent dimension sorted by
 * its KL on the test set (collapsed ones crossed out), each a decoded sweep of that dimension. */
#ifndef VAE_TRAVERSE_CMD_H
#define VAE_TRAVERSE_CMD_H

int cmd_traverse(int argc, char **argv);

#define TRAVERSE_COMMANDS \
    {"traverse", cmd_traverse, "latent traversals: one row per dimension (sorted by KL), a sweep -3..3 each"},

#endif /* VAE_TRAVERSE_CMD_H */
