/* serve.c: `vae serve`, the latent-space explorer: libmicrohttpd in front of tools/serve_api.c.
 *
 * One internal polling thread (epoll) serves every connection, so slow or broken clients cost a socket
 * each, never a thread, and the models (which own their activation buffers) see one request at a time.
 * What this file adds to serve_api.c's plain functions is the HTTP side: the raw URI (kept by the URI
 * log callback, before libmicrohttpd splits the query), bodies gathered up to VAE__SERVE_MAX_BODY (a
 * declared longer one is refused with 413 before it is read; an undeclared one that grows past the bound
 * is dropped and refused when it ends, and its connection closed if it never does), an idle timeout per
 * connection, a connection cap, a Host check against DNS rebinding while bound to a loopback address,
 * and a clean stop on SIGINT/SIGTERM (both blocked in every thread and taken by sigwait in main). */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "common.h"
#include "serve_api.h"

/* A body that keeps coming after the bound is dropped; past this many bytes its connection is closed. */
#define DISCARD_LIMIT ((size_t)64 * VAE__SERVE_MAX_BODY)

typedef struct {
    vae__serve api;
    int loopback;     /* bound to a loopback address: check Host */
    int threads;      /* --threads, set once in the server's thread */
} server;

/* What one request gathers before it is answered (created by on_uri, freed by on_completed). */
typedef struct {
    char *uri;        /* path and query as received; NULL when longer than VAE__SERVE_MAX_URI */
    size_t uri_len;
    int started;      /* the first call (headers only) is done */
    uint8_t *body;
    size_t len, cap, dropped;
} request;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    request *r = vae_calloc(1, sizeof *r); // NULL makes on_request close the connection
    if (!r) return NULL;
    r->uri_len = strlen(uri);
    if (r->uri_len <= VAE__SERVE_MAX_URI) {
        if (!(r->uri = vae_malloc(r->uri_len + 1))) {
            vae_mem_free(r);
            return NULL;
        }
        memcpy(r->uri, uri, r->uri_len + 1);
    }
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode t) {
    request *r = *req_cls;
    if (!r) return;
    vae_mem_free(r->uri);
    vae_mem_free(r->body);
    vae_mem_free(r);
    *req_cls = NULL;
}

/* Send an answer with the headers every answer carries. */
static enum MHD_Result send_answer(struct MHD_Connection *conn, const vae__http_response *res) {
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        res->len, (void *)res->body, res->owned ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!mr) return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, res->type);
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
    // the page loads only its own script and style, and images it makes from the API's answers
    MHD_add_response_header(mr, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'");
    if (res->allow) MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, res->allow);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)res->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

/* A JSON error answer made here (before serve_api sees the request). */
static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *json) {
    vae__http_response res = {.status = status, .type = "application/json", .body = (const uint8_t *)json,
                              .len = strlen(json)};
    return send_answer(conn, &res);
}

/* While bound to loopback, only Host names that mean this machine: a web page elsewhere that rebinds its
 * own name to 127.0.0.1 then cannot read the answers. No Host header (HTTP/1.0) passes. */
static int host_ok(const char *host) {
    if (!host) return 1;
    size_t n;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return 0;
        host++;
        n = (size_t)(close - host);
    } else {
        const char *colon = strchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
    }
    static const char *const names[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0) return 1;
    return 0;
}

/* The first call of a request: headers only. Refuses what can be refused before the body is read. */
static enum MHD_Result on_headers(server *srv, struct MHD_Connection *conn, request *r) {
    if (!r->uri) return send_error(conn, 414, "{\"error\": \"the URI is too long\"}");
    if (srv->loopback && !host_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
        return send_error(conn, 421, "{\"error\": \"Host is not this machine's loopback name\"}");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > VAE__SERVE_MAX_BODY)
        return send_error(conn, 413, "{\"error\": \"the body is longer than 1 MiB\"}");
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
    server *srv = cls;
    request *r = *req_cls;
    if (!r) return MHD_NO; // on_uri found no memory: close the connection
    static __thread int threads_set; // OpenMP's thread count belongs to the calling thread
    if (!threads_set) {
        cli_set_threads(srv->threads);
        threads_set = 1;
    }
    if (!r->started) {
        r->started = 1;
        return on_headers(srv, conn, r);
    }
    size_t n = *upload_data_size;
    if (n) { // a piece of the body
        *upload_data_size = 0;
        if (r->dropped || r->len + n > VAE__SERVE_MAX_BODY) {
            r->dropped += n;
            return r->dropped > DISCARD_LIMIT ? MHD_NO : MHD_YES;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n) cap *= 2;
            uint8_t *grown = vae_realloc(r->body, cap);
            if (!grown) return MHD_NO;
            r->body = grown;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->dropped) return send_error(conn, 413, "{\"error\": \"the body is longer than 1 MiB\"}");
    vae__http_request req = {.method = method, .uri = r->uri, .body = r->body, .body_len = r->len,
                             .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                         MHD_HTTP_HEADER_CONTENT_TYPE)};
    vae__http_response res;
    vae__serve_handle(&srv->api, &req, &res);
    enum MHD_Result ok = send_answer(conn, &res);
    vae__http_response_free(&res);
    return ok;
}

/* ---------------------------------------------------------------- the listening socket */

/* Bind host:port (port 0: any free one) and listen; fills the URL to print. Returns the socket, or -1 when
 * the address cannot be bound and -2 when --host names no address. */
static int listen_on(const char *host, int port, char *url, size_t url_size, int *loopback) {
    // numeric addresses only (and localhost): no name lookup, so no DNS answer decides where we listen
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV}, *ai;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int rc = getaddrinfo(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port_text, &hints, &ai);
    if (rc) {
        cli_error("serve", "--host %s: not an IPv4 or IPv6 address (or localhost): %s", host, gai_strerror(rc));
        return -2;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
        cli_error("serve", "cannot listen on %s port %d: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    char addr[INET6_ADDRSTRLEN] = "?";
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
        *loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
        snprintf(url, url_size, "http://[%s]:%d/", addr, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
        *loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        snprintf(url, url_size, "http://%s:%d/", addr, ntohs(s4->sin_port));
    }
    return fd;
}

/* ---------------------------------------------------------------- vae serve */

/* Load the models and the points into srv->api; returns an exit status. */
static int serve_load(server *srv, const char *model, const char *compare, const char *data, int n_points) {
    vae_model *m0 = NULL, *m1 = NULL;
    int rc = cli_load_model("serve", model, VAE__SERVE_MAX_DECODE, &m0, NULL);
    if (rc) return rc;
    if (compare && (rc = cli_load_model("serve", compare, VAE__SERVE_MAX_DECODE, &m1, NULL))) {
        vae_free(m0);
        return rc;
    }
    vae_status st = vae__serve_init(&srv->api, m0, model, m1, compare, vae__web_assets, vae__web_n_assets);
    if (st == VAE_OK && data) {
        vae_dataset ds;
        if ((rc = cli_load_data("serve", data, "test", m0, &ds))) return rc;
        st = vae__serve_points(&srv->api, &ds, n_points);
        vae_dataset_free(&ds);
    }
    if (st) {
        cli_error("serve", "%s", vae_last_error());
        return cli_status_exit(st, 1);
    }
    return EXIT_OK;
}

int vae__cmd_serve(int argc, char **argv) {
    const char *model, *compare, *data, *host;
    int port, n_points, timeout;
    server srv;
    memset(&srv, 0, sizeof srv);
    flag_spec flags[] = {
        {"--model", FLAG_STRING, &model, "", "checkpoint to explore (model.safetensors)", .required = 1},
        {"--compare", FLAG_STRING, &compare, "", "a second checkpoint of the same image shape, latent size and "
                                                 "classes, shown beside the first on the same pad"},
        {"--data", FLAG_STRING, &data, "", "data folder: its test images' latent means become the pad's points"},
        {"--points", FLAG_INT, &n_points, "10000", "the first N test images of --data become points", 1, 1000000},
        {"--port", FLAG_INT, &port, "8080", "TCP port (0: any free port; the URL printed says which)", 0, 65535},
        {"--host", FLAG_STRING, &host, "127.0.0.1", "IPv4 or IPv6 address to listen on, or localhost (0.0.0.0 or :: opens it to the network)"},
        {"--timeout", FLAG_INT, &timeout, "10", "seconds a connection may stay idle before it is closed", 1, 3600},
        {"--threads", FLAG_INT, &srv.threads, "1", "threads for each model call (0: one per core)", 0, 1024},
        {NULL}};
    int rc = flags_parse("serve", "--model CKPT [--compare CKPT2] [--data DIR] [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    if ((rc = serve_load(&srv, model, compare, data, n_points))) {
        vae__serve_free(&srv.api);
        return rc;
    }
    char url[128];
    int fd = listen_on(host, port, url, sizeof url, &srv.loopback);
    if (fd < 0) {
        vae__serve_free(&srv.api);
        return fd == -2 ? EXIT_USAGE : EXIT_FAIL;
    }
    // SIGINT and SIGTERM blocked here are blocked in the server's thread too; main takes them with sigwait
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_request, &srv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, &srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
        MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    if (!d) {
        cli_error("serve", "libmicrohttpd could not start on %s", url);
        close(fd);
        vae__serve_free(&srv.api);
        return EXIT_FAIL;
    }
    if (!srv.loopback)
        fprintf(stderr, "vae serve: listening on %s: anyone who can reach this address can use the server\n", host);
    printf("vae serve: %s (Ctrl-C stops)\n", url);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }
    MHD_stop_daemon(d); // closes the listening socket and every connection
    vae__serve_free(&srv.api);
    fprintf(stderr, "vae serve: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + sig;
}
