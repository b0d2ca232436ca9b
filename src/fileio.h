/* fileio.h: the one way libvae and its tools write and open files.
 *
 * Writing: every output file (checkpoints, training state, pictures, metrics, CSVs, exported sources) is
 * replaced atomically by vae__atomic_*:
 *   1. vae__atomic_open creates "<path>.tmp-<pid>-<k>" in the same folder (O_EXCL: a name unique to this
 *      process and call, so two writers never share a temporary file), with the mode of the file it
 *      replaces, or 0666 less the umask for a new file;
 *   2. the caller writes through a->f (fwrite, fprintf: every error is remembered by the stream);
 *   3. vae__atomic_commit checks the stream, flushes, fsyncs and closes the file, renames it over path and
 *      fsyncs the folder, so the rename survives a crash. On any failure before the rename the temporary
 *      file is removed and path is untouched.
 * A reader therefore sees the old complete file or the new complete file, never a part of one, whenever
 * the process is killed. vae__atomic_commit_set does steps 3 for several files together: every file is
 * written, flushed and synced before the first rename, so a failure leaves all of the old files.
 * Temporary files of processes that died inside a write (kill -9) are removed by vae__atomic_clean_stale.
 *
 * Reading: vae__open_regular opens a file only when it is a regular file (or a symbolic link to one),
 * with O_NONBLOCK so that a FIFO or a device never blocks the open; the flag is cleared once fstat has
 * shown a regular file.
 *
 * Test hook: with VAE_TEST_PAUSE_IN_WRITE=SECONDS in the environment, every commit sleeps that long between
 * the complete, synced temporary file and the rename, so tests can kill the process inside a write.
 */
#ifndef VAE_FILEIO_H
#define VAE_FILEIO_H

#include <stdio.h>

#include "vae.h"

typedef struct {
    const char *path;  /* final name (the caller's string, kept until commit or abort) */
    char *tmp;         /* temporary name in the same folder (vae_malloc) */
    char *dir;         /* the folder, to fsync after the rename (allocated up front: a commit allocates nothing) */
    FILE *f;           /* the temporary file, open for writing */
    int write_errno;   /* first errno seen by vae__atomic_write, 0 if none */
} vae__atomic;

/** Create the temporary file for path. VAE_ERR_IO (naming path and the reason) or VAE_ERR_NOMEM. */
vae_status vae__atomic_open(vae__atomic *a, const char *path);

/** fwrite that remembers the first failure (reported by the commit); for callbacks of encoders. */
void vae__atomic_write(vae__atomic *a, const void *data, size_t size);

/** Flush, fsync, close, rename over path, fsync the folder. On failure the temporary file is removed. */
vae_status vae__atomic_commit(vae__atomic *a);

/** Commit n files as a set: all are flushed and synced before the first rename; on a failure before the
 * renames every temporary file is removed and every old file stays. */
vae_status vae__atomic_commit_set(vae__atomic *a, int n);

/** Close and remove the temporary file (after a failure of the caller's own). Safe on a zeroed struct. */
void vae__atomic_abort(vae__atomic *a);

/** Write len bytes to path atomically (open, write, commit). */
vae_status vae__atomic_write_file(const char *path, const void *data, size_t len);

/** Remove, in folder dir, the temporary files "<name>.tmp-<pid>-<k>" whose process <pid> is gone, and
 * (when legacy is non-zero, for a folder this process owns) the "<name>.tmp.XXXXXX" files of older
 * versions. @return the number of files removed. */
int vae__atomic_clean_stale(const char *dir, int legacy);

/**
 * Open path for reading when it is a regular file or a link to one; never blocks (a FIFO is refused, not
 * waited on). kind says what was expected there ("an IDX file") for the message.
 * @return a file descriptor (close-on-exec, blocking reads), or -1 with vae_last_error() naming path
 *         (*st: VAE_ERR_IO); *size receives the file's size (may be NULL).
 */
int vae__open_regular(const char *path, const char *kind, long long *size, vae_status *st);

/** The folder holding path ("." for a bare name), written into out (cap bytes). -1 when it does not fit. */
int vae__parent_dir(const char *path, char *out, size_t cap);

/** fsync a folder, so a rename inside it survives a crash. 0, or -1 with errno set. */
int vae__sync_dir(const char *dir);

#endif /* VAE_FILEIO_H */
