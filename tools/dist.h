/* dist.h: the processes that run one `vae train` together (ranks). build/vae is one process alone
 * (tools/dist_single.c: every call below is trivial); build/vae-mpi runs one rank per Open MPI process
 * (tools/mpi/dist_mpi.c). The training code calls these the same way in both. Rank 0 owns every file and
 * all output but errors; docs/scale.md describes the protocol. A failure inside Open MPI ends the job
 * (MPI_ERRORS_ARE_FATAL), so the calls that communicate have no error to return. */
#ifndef VAE_DIST_H
#define VAE_DIST_H

#include <stddef.h>

#include "train_state.h"
#include "comm.h"

/** Join the job (MPI_Init) before any other call; 0 on success. */
int vae__dist_init(int *argc, char ***argv);
/** Leave it (MPI_Finalize), after the last call. */
void vae__dist_finalize(void);
/** @return this process's rank, and the number of ranks (1 and 0 for build/vae). */
int vae__dist_rank(void);
int vae__dist_size(void);
/** @return "mpi" in build/vae-mpi, "" in build/vae. */
const char *vae__dist_kind(void);
/** @return the trainer's view (NULL for one process: the trainer then communicates with nobody). */
const vae_comm *vae__dist_comm(void);
/** End every rank at once with this exit status (after an error that the other ranks cannot know of). */
void vae__dist_abort(int status) __attribute__((noreturn));
/** @return non-zero on every rank when flag is non-zero on any rank (a collective: every rank calls it). */
int vae__dist_any(int flag);
/** Copy rank 0's bytes into buf on every other rank. */
void vae__dist_bcast(void *buf, size_t bytes);
/** Sum element-wise over every rank, in place. */
void vae__dist_sum_doubles(double *buf, int n);
/** Called by the CLI's SIGINT / SIGTERM handler (async-signal-safe): a rank still waiting for the others some
 *  seconds later exits (dist_mpi.c's watchdog: a dead rank must not keep the others waiting). */
void vae__dist_on_stop_signal(int sig);
/** @return the seconds spent in the trainer's sums since the last call (the communication of the steps). */
double vae__dist_take_comm_seconds(void);
/** Check that every rank holds the same bytes (the model's parameters): 1 if so. *hash receives a 64-bit
 *  FNV-1a hash of this rank's bytes. */
int vae__dist_same_bytes(const void *buf, size_t bytes, unsigned long long *hash);

/** --resume: rank 0 has read the training state into s; every other rank receives a copy (the model built from
 *  cfg for max_batch images, its parameters, Adam moments and step, the trainer's counters and order). */
vae_status vae__dist_share_state(vae_train_state *s, const vae_config *cfg, int max_batch);

/** At the end of an epoch (a collective): 1 when every rank holds the same parameters and the same trainer
 *  generator (the next epochs' data order), bit for bit; else rank 0 says so and 0. With VAE_PRINT_PARAM_HASH
 *  set, each rank prints its parameters' hash on stderr. */
int vae__dist_check_replicas(vae_model *m, const vae_rng *order_rng, int epoch);
/** Rank 0, at the end of an epoch: warn (once) when the sums took more than half of the training time. */
void vae__dist_comm_report(double comm_seconds, double train_seconds, int batch, int ranks);

#endif /* VAE_DIST_H */
