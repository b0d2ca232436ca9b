/* dist_mpi.c: build/vae-mpi's side of dist.h, over Open MPI (MPI_COMM_WORLD; docs/scale.md).
 * Only the thread that called vae__dist_init communicates (MPI_THREAD_FUNNELED): OpenMP's threads compute. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"

static int rank_, size_ = 1;
static double comm_seconds;
static vae_comm comm;

/* The watchdog. When one rank dies (SIGKILL, a crash), mpirun sends SIGTERM to the others, then SIGKILL
 * odls_base_sigkill_timeout seconds later (3 as docs/scale.md advises: Ctrl-C leaves rank 0 that long to save;
 * mpirun itself always waits the whole timeout). A survivor waits inside a collective call for the dead rank
 * and never reaches the step where it would stop, so: after a stop signal, a rank that has been waiting inside
 * one collective call for WATCHDOG_SECONDS exits at once, saying why, whatever the timeout. After a Ctrl-C
 * every rank is alive and the collective calls return in milliseconds (rank 0 saves outside them). */
#define WATCHDOG_SECONDS 2
static volatile sig_atomic_t in_collective, stop_sig;
static char watchdog_msg[160];  /* formatted by vae__dist_init: snprintf is no function for a signal handler */
static volatile long collective_since; /* CLOCK_MONOTONIC seconds at the start of the current collective call */

static long now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); // async-signal-safe
    return (long)ts.tv_sec;
}

static void on_alarm(int sig) {
    if (!in_collective || now_s() - collective_since < WATCHDOG_SECONDS) {
        alarm(1); // look again in a second
        return;
    }
    if (write(2, watchdog_msg, strlen(watchdog_msg)) < 0) stop_sig = SIGTERM;
    _exit(128 + stop_sig);
}

void vae__dist_on_stop_signal(int sig) {
    if (stop_sig) return;
    stop_sig = sig;
    alarm(1);
}

#define COLLECTIVE(call) (collective_since = now_s(), in_collective = 1, (call), in_collective = 0)

/* MPI counts are int: larger buffers go in chunks */
#define CHUNK (1 << 30)

static vae_status sum_floats(float *buf, size_t n) {
    double t0 = MPI_Wtime();
    for (size_t i = 0; i < n; i += CHUNK) {
        int c = n - i < CHUNK ? (int)(n - i) : CHUNK;
        COLLECTIVE(MPI_Allreduce(MPI_IN_PLACE, buf + i, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
    comm_seconds += MPI_Wtime() - t0;
    return VAE_OK;
}

static vae_status sum_doubles(double *buf, int n) {
    double t0 = MPI_Wtime();
    COLLECTIVE(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    comm_seconds += MPI_Wtime() - t0;
    return VAE_OK;
}

int vae__dist_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    comm = (vae_comm){rank_, size_, sum_floats, sum_doubles};
    snprintf(watchdog_msg, sizeof watchdog_msg, "vae train: rank %d: no answer from the other ranks for %d s after a "
             "stop signal (a rank has died?); exiting\n", rank_, WATCHDOG_SECONDS);
    if (rank_ == 0 && size_ > 1 && !getenv("OMPI_MCA_odls_base_sigkill_timeout"))
        fprintf(stderr, "vae train: note: mpirun kills the ranks 1 s after passing on Ctrl-C; give it --mca "
                "odls_base_sigkill_timeout 3 so that rank 0 has the time to save (docs/scale.md)\n");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    return 0;
}

void vae__dist_finalize(void) { MPI_Finalize(); }
const char *vae__dist_kind(void) { return "mpi"; }
int vae__dist_rank(void) { return rank_; }
int vae__dist_size(void) { return size_; }
const vae_comm *vae__dist_comm(void) { return size_ > 1 ? &comm : NULL; }

void vae__dist_abort(int status) {
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status); // not reached
}

int vae__dist_any(int flag) {
    int v = flag != 0, any;
    COLLECTIVE(MPI_Allreduce(&v, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return any;
}

void vae__dist_bcast(void *buf, size_t bytes) {
    for (size_t i = 0; i < bytes; i += CHUNK) {
        int c = bytes - i < CHUNK ? (int)(bytes - i) : CHUNK;
        COLLECTIVE(MPI_Bcast((char *)buf + i, c, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
}

void vae__dist_sum_doubles(double *buf, int n) { sum_doubles(buf, n); }

double vae__dist_take_comm_seconds(void) {
    double s = comm_seconds;
    comm_seconds = 0.0;
    return s;
}
