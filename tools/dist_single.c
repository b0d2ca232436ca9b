/* dist_single.c: build/vae's side of dist.h: one process alone, no communication. */
#include <stdlib.h>

#include "dist.h"

int vae__dist_init(int *argc, char ***argv) { return 0; }
void vae__dist_finalize(void) {}
int vae__dist_rank(void) { return 0; }
int vae__dist_size(void) { return 1; }
const vae_comm *vae__dist_comm(void) { return NULL; }
void vae__dist_abort(int status) { exit(status); }
int vae__dist_any(int flag) { return flag != 0; }
void vae__dist_bcast(void *buf, size_t bytes) {}
void vae__dist_sum_doubles(double *buf, int n) {}
double vae__dist_take_comm_seconds(void) { return 0.0; }
void vae__dist_on_stop_signal(int sig) {}
const char *vae__dist_kind(void) { return ""; }
