/* runlock.c: the run-folder lock (see runlock.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common.h"

vae_status vae__run_lock(const char *dir, int *fd, long *holder) {
    *fd = -1;
    *holder = 0;
    size_t n = strlen(dir) + sizeof VAE_LOCK_FILE + 2;
    char *path = vae_malloc(n);
    if (!path) return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(path, n, "%s/%s", dir, VAE_LOCK_FILE);
    // O_NOFOLLOW: a link planted in the folder does not make us write the PID elsewhere
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
    if (f < 0) {
        vae_status st = vae_fail(VAE_ERR_IO, "%s: cannot open the run folder's lock file: %s", path, strerror(errno));
        vae_mem_free(path);
        return st;
    }
    vae_mem_free(path);
    int rc;
    while ((rc = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
        int e = errno;
        char buf[32] = {0};
        ssize_t got = pread(f, buf, sizeof buf - 1, 0);
        close(f);
        if (e != EWOULDBLOCK) return vae_fail(VAE_ERR_IO, "%s: cannot lock the run folder: %s", dir, strerror(e));
        long pid = got > 0 ? strtol(buf, NULL, 10) : 0;
        *holder = pid > 0 ? pid : 0;
        if (*holder)
            return vae_fail(VAE_ERR_IO, "%s: the run folder is in use by process %ld (another vae train); wait for it "
                            "to end or stop it first", dir, *holder);
        return vae_fail(VAE_ERR_IO, "%s: the run folder is in use by another process (another vae train); wait for "
                        "it to end or stop it first", dir);
    }
    // ours now: whatever PID the file held belonged to a process that has ended
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, buf, (size_t)len, 0) != len) {
        int e = errno;
        close(f);
        return vae_fail(VAE_ERR_IO, "%s: cannot write the run folder's lock file: %s", dir, strerror(e));
    }
    *fd = f;
    return VAE_OK;
}

void vae__run_unlock(int fd) {
    if (fd >= 0) close(fd);
}
