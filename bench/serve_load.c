/* serve_load.c: a load client for `vae serve` (bench/serve.sh runs it).
 *
 *   build/bench/serve_load PORT LATENT [CLIENTS 4] [REQUESTS 2000] [SEED 1]
 *
 * CLIENTS threads, each on one keep-alive connection to 127.0.0.1:PORT, share REQUESTS decode requests
 * (GET /api/decode?z=... with LATENT values drawn from N(0, 1), a fixed stream per client). Each answer must
 * be a 200 with a PNG body; anything else counts as an error. The time of each request is from the first
 * byte sent to the last byte of the answer read. Prints one JSON line: clients, requests, errors, median_ms,
 * p90_ms, p99_ms, max_ms, requests_per_s. Exit status 1 when any request failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vae.h"

typedef struct {
    int port, latent, n, seed;
    double *ms;      /* n request times */
    int errors;
} client;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int connect_local(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on fd; returns 0 for a 200 with a PNG body, -1 otherwise (the connection is then unusable). */
static int one_request(int fd, const char *req, size_t len) {
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) return -1;
    char buf[65536];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && got == sizeof buf - 1) return -1;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !cl) return -1;
    size_t body = strtoul(cl + 17, NULL, 10), have = got - (size_t)(end + 4 - buf);
    if (body < 8 || have > body || memcmp(end + 4, "\x89PNG", have < 4 ? have : 4) != 0) return -1;
    while (have < body) {
        ssize_t r = recv(fd, buf, sizeof buf < body - have ? sizeof buf : body - have, 0);
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    return 0;
}

static void *run_client(void *arg) {
    client *c = arg;
    vae_rng rng;
    vae_rng_seed(&rng, (uint64_t)c->seed);
    int fd = connect_local(c->port);
    char req[16384];
    for (int i = 0; i < c->n; i++) {
        int len = snprintf(req, sizeof req, "GET /api/decode?z=");
        for (int d = 0; d < c->latent; d++)
            len += snprintf(req + len, sizeof req - (size_t)len, d ? ",%.4f" : "%.4f", vae_rng_normal(&rng));
        len += snprintf(req + len, sizeof req - (size_t)len, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        double t0 = now_ms();
        int rc = fd < 0 ? -1 : one_request(fd, req, (size_t)len);
        c->ms[i] = now_ms() - t0;
        if (rc) {
            c->errors++;
            if (fd >= 0) close(fd);
            fd = connect_local(c->port);
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: serve_load PORT LATENT [CLIENTS 4] [REQUESTS 2000] [SEED 1]\n");
        return 2;
    }
    int port = atoi(argv[1]), latent = atoi(argv[2]), n_clients = argc > 3 ? atoi(argv[3]) : 4;
    int total = argc > 4 ? atoi(argv[4]) : 2000, seed = argc > 5 ? atoi(argv[5]) : 1;
    if (port < 1 || port > 65535 || latent < 1 || latent > 1024 || n_clients < 1 || n_clients > 256 || total < n_clients) {
        fprintf(stderr, "serve_load: bad arguments\n");
        return 2;
    }
    double *ms = calloc((size_t)total, sizeof *ms);
    client *cs = calloc((size_t)n_clients, sizeof *cs);
    pthread_t *th = calloc((size_t)n_clients, sizeof *th);
    if (!ms || !cs || !th) return 1;
    double t0 = now_ms();
    for (int k = 0, start = 0; k < n_clients; k++) {
        int n = total / n_clients + (k < total % n_clients);
        cs[k] = (client){.port = port, .latent = latent, .n = n, .seed = seed * 1000 + k, .ms = ms + start};
        start += n;
        pthread_create(&th[k], NULL, run_client, &cs[k]);
    }
    int errors = 0;
    for (int k = 0; k < n_clients; k++) {
        pthread_join(th[k], NULL);
        errors += cs[k].errors;
    }
    double wall = now_ms() - t0;
    qsort(ms, (size_t)total, sizeof *ms, cmp_double);
    printf("{\"clients\": %d, \"requests\": %d, \"errors\": %d, \"median_ms\": %.3f, \"p90_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"requests_per_s\": %.0f}\n",
           n_clients, total, errors, ms[total / 2], ms[(int)(total * 0.9)], ms[(int)(total * 0.99)], ms[total - 1],
           total / (wall / 1e3));
    free(ms), free(cs), free(th);
    return errors ? 1 : 0;
}
