/* comm.h: how the library's trainer talks to the other processes of a data-parallel run, without linking
 * any message-passing library: the caller (the CLI's build/vae-mpi, over Open MPI) fills a vae_comm with
 * its rank, the number of ranks and two sums; a NULL vae_comm is one process alone. */
#ifndef VAE_COMM_H
#define VAE_COMM_H

#include <stddef.h>

#include "vae.h"

typedef struct {
    int rank, size;   /* this process's rank in 0..size-1, and the number of ranks */
    /* Sum buf[0..n) element-wise over every rank, in place, the same result on every rank. */
    vae_status (*sum_floats)(float *buf, size_t n);
    vae_status (*sum_doubles)(double *buf, int n);
} vae_comm;

#endif /* VAE_COMM_H */
