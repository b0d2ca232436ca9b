/* fileio.c: atomic replacement of files, stale temporaries, and opening regular files without blocking
 * (see fileio.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fsync, fdopen, nanosleep */
#endif
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* ---------------------------------------------------------------- atomic replacement */

static atomic_uint tmp_counter; /* the <k> of "<path>.tmp-<pid>-<k>": unique within the process */

static void clean_stale_of(const char *dir, const char *path);

vae_status vae__atomic_open(vae__atomic *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = path;
    size_t len = strlen(path) + 48;
    a->tmp = vae_malloc(len);
    a->dir = vae_malloc(len);
    if (!a->tmp || !a->dir) {
        vae_mem_free(a->tmp), vae_mem_free(a->dir);
        a->tmp = a->dir = NULL;
        return vae_fail(VAE_ERR_NOMEM, "%s: out of memory", path);
    }
    vae__parent_dir(path, a->dir, len);
    clean_stale_of(a->dir, path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(a->tmp, len, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
        /* mode 0666: the umask applies as for any new file (mkstemp would leave the final file at 0600) */
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        vae_mem_free(a->tmp), vae_mem_free(a->dir);
        a->tmp = a->dir = NULL;
        return vae_fail(VAE_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    struct stat old; /* keep the mode of the file being replaced */
    if (stat(path, &old) == 0 && S_ISREG(old.st_mode)) (void)fchmod(fd, old.st_mode & 07777);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        vae_mem_free(a->tmp), vae_mem_free(a->dir);
        a->tmp = a->dir = NULL;
        return vae_fail(e == ENOMEM ? VAE_ERR_NOMEM : VAE_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return VAE_OK;
}

void vae__atomic_write(vae__atomic *a, const void *data, size_t size) {
    if (a->write_errno || size == 0) return;
    errno = 0;
    if (fwrite(data, 1, size, a->f) != size) a->write_errno = errno ? errno : EIO;
}

void vae__atomic_abort(vae__atomic *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp) unlink(a->tmp);
    vae_mem_free(a->tmp), vae_mem_free(a->dir);
    a->tmp = a->dir = NULL;
}

static void test_pause_in_write(void) {
    const char *s = getenv("VAE_TEST_PAUSE_IN_WRITE");
    double sec = s && *s ? strtod(s, NULL) : 0.0;
    if (!(sec > 0 && sec < 3600)) return;
    struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Check, flush, fsync and close one temporary file; 0 or an errno. */
static int finish_file(vae__atomic *a) {
    int e = a->write_errno;
    if (!e && ferror(a->f)) e = errno ? errno : EIO;
    if (!e && fflush(a->f) != 0) e = errno;
    if (!e && fsync(fileno(a->f)) != 0) e = errno;
    int rc = fclose(a->f);
    a->f = NULL;
    if (!e && rc != 0) e = errno;
    return e;
}

int vae__parent_dir(const char *path, char *out, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0) n = 1; /* "/name" */
    if (n + 1 > cap) return -1;
    memcpy(out, slash ? path : ".", n);
    out[n] = '\0';
    return 0;
}

int vae__sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && (e == EINVAL || e == EROFS)) rc = 0; /* file systems that cannot sync a folder */
    errno = e;
    return rc;
}

vae_status vae__atomic_commit_set(vae__atomic *a, int n) {
    int e = 0, bad = -1;
    for (int i = 0; i < n; i++) {
        int ei = a[i].f ? finish_file(&a[i]) : EINVAL;
        if (ei && !e) e = ei, bad = i;
    }
    if (!e) {
        test_pause_in_write();
        for (int i = 0; i < n && !e; i++)
            if (rename(a[i].tmp, a[i].path) != 0) {
                e = errno, bad = i;
                break;
            } else {
                vae_mem_free(a[i].tmp);
                a[i].tmp = NULL;
            }
    }
    if (e) {
        for (int i = 0; i < n; i++) vae__atomic_abort(&a[i]);
        return vae_fail(VAE_ERR_IO, "%s: cannot write: %s", a[bad].path, strerror(e));
    }
    /* the renames themselves must survive a crash: sync each folder (usually one) */
    vae_status st = VAE_OK;
    for (int i = 0; i < n; i++) {
        if (!st && vae__sync_dir(a[i].dir) != 0)
            st = vae_fail(VAE_ERR_IO, "%s: written, but syncing its folder %s failed: %s", a[i].path, a[i].dir,
                          strerror(errno));
        vae_mem_free(a[i].dir);
        a[i].dir = NULL;
    }
    return st;
}

vae_status vae__atomic_commit(vae__atomic *a) { return vae__atomic_commit_set(a, 1); }

vae_status vae__atomic_write_file(const char *path, const void *data, size_t len) {
    vae__atomic a;
    vae_status st = vae__atomic_open(&a, path);
    if (st) return st;
    vae__atomic_write(&a, data, len);
    return vae__atomic_commit(&a);
}

/* "<name>.tmp-<pid>-<k>": the pid, or 0 when name is not of that form. */
static long temp_owner(const char *name) {
    const char *p = strstr(name, ".tmp-");
    if (!p) return 0;
    const char *last = NULL;
    while (p) last = p, p = strstr(p + 1, ".tmp-");
    char *end;
    errno = 0;
    long pid = strtol(last + 5, &end, 10);
    if (errno || pid <= 0 || end == last + 5 || *end != '-' || end[1] < '0' || end[1] > '9') return 0;
    for (const char *q = end + 1; *q; q++)
        if (*q < '0' || *q > '9') return 0;
    return pid;
}

/* "<name>.tmp.XXXXXX" (mkstemp's names of earlier versions). */
static int legacy_temp(const char *name) {
    size_t n = strlen(name);
    return n > 11 && strncmp(name + n - 11, ".tmp.", 5) == 0;
}

/* Remove dir's stale temporaries: of every file (prefix NULL), or of the file whose name starts prefix. */
static int clean_stale(const char *dir, int legacy, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        long pid = temp_owner(e->d_name);
        int stale = pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
        if (!stale && !(legacy && legacy_temp(e->d_name))) continue;
        struct stat sb; /* relative to the open folder: no path to build, nothing to allocate */
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int vae__atomic_clean_stale(const char *dir, int legacy) { return clean_stale(dir, legacy, NULL); }

/* Before a write of path: the temporaries that killed writers of the same path left beside it. */
static void clean_stale_of(const char *dir, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char prefix[300]; /* a name is at most 255 bytes (NAME_MAX) */
    if (snprintf(prefix, sizeof prefix, "%s.tmp-", base) >= (int)sizeof prefix) return;
    clean_stale(dir, 0, prefix);
}

/* ---------------------------------------------------------------- reading */

int vae__open_regular(const char *path, const char *kind, long long *size, vae_status *st) {
    *st = VAE_ERR_IO;
    if (!*path) {
        vae_fail(VAE_ERR_IO, "an empty path given for %s", kind);
        return -1;
    }
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) vae_fail(VAE_ERR_IO, "%s: no such file", path);
        else vae_fail(VAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        vae_fail(VAE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        const char *what = S_ISFIFO(sb.st_mode) ? " (a FIFO)" : S_ISSOCK(sb.st_mode) ? " (a socket)"
                           : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? " (a device)" : "";
        if (S_ISDIR(sb.st_mode)) vae_fail(VAE_ERR_IO, "%s: is a directory, expected %s", path, kind);
        else vae_fail(VAE_ERR_IO, "%s: not a regular file%s, expected %s", path, what, kind);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        vae_fail(VAE_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    if (size) *size = (long long)sb.st_size;
    *st = VAE_OK;
    return fd;
}
