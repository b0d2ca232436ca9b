/* runlock.h: one owner per run folder. `vae train` holds an exclusive flock(2) on RUN/.vae-lock for its whole
 * life; the file holds the owner's PID, so another process that finds the folder taken names it.
 *
 * The kernel drops the lock when its holder dies (even by SIGKILL), so a lock file left by a killed process
 * is stale by construction: the next run takes the lock at once and writes its own PID. The file itself is
 * kept (removing a lock file while another process may have it open would let two owners hold two files).
 */
#ifndef VAE_RUNLOCK_H
#define VAE_RUNLOCK_H

#include "vae.h"

#define VAE_LOCK_FILE ".vae-lock"

/**
 * Take the lock of folder dir (which must exist) without waiting.
 * @return VAE_OK with *fd the open lock file (keep it open; vae__run_unlock releases it);
 *         VAE_ERR_IO when another process holds it: vae_last_error() names the folder and that process's PID
 *         (*holder receives the PID, 0 when unknown); VAE_ERR_IO naming the file when it cannot be opened.
 */
vae_status vae__run_lock(const char *dir, int *fd, long *holder);

/** Release the lock (close the file). fd < 0 is ignored. */
void vae__run_unlock(int fd);

#endif /* VAE_RUNLOCK_H */
