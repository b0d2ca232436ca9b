/* bench/mpi/allreduce.c: the time of one MPI_Allreduce (sum) of a float buffer, the training step's
 * communication, for the model of docs/scale.md. Built by `make build/bench/mpi-allreduce` where Open MPI
 * is installed.
 *
 *   mpirun -np 2 build/bench/mpi-allreduce [FLOATS...]   (default: 652824, the 784-400-20 model's size)
 *
 * For each size: 5 warm-up calls, then 30 timed ones; rank 0 prints one line per size with the median and
 * the minimum in milliseconds (each call's time is the slowest rank's). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long def[] = {652824};
    int n_sizes = argc > 1 ? argc - 1 : 1;
    enum { WARM = 5, TIMED = 30 };
    if (rank == 0) printf("ranks %d\nfloats bytes median_ms min_ms\n", size);
    for (int s = 0; s < n_sizes; s++) {
        long n = argc > 1 ? atol(argv[s + 1]) : def[0];
        float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        if (!buf || n < 1) {
            fprintf(stderr, "mpi-allreduce: bad size %s or out of memory\n", argc > 1 ? argv[s + 1] : "");
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        for (long i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 1000);
        double t[TIMED];
        for (int k = 0; k < WARM + TIMED; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double el = MPI_Wtime() - t0, worst;
            MPI_Allreduce(&el, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (k >= WARM) t[k - WARM] = worst;
        }
        qsort(t, TIMED, sizeof t[0], cmp_double);
        if (rank == 0) printf("%ld %ld %.3f %.3f\n", n, 4 * n, 1e3 * t[TIMED / 2], 1e3 * t[0]);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
