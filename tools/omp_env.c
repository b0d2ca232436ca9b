/* omp_env.c: how long the vae tool's idle OpenMP threads spin before they sleep, decided before the OpenMP
 * runtime starts (the benchmarks link it too, so they measure what the tool does).
 * libgomp reads its environment once, in a constructor that runs before main(), and by default lets an
 * idle thread spin for some 300,000 rounds (milliseconds) before it sleeps. On a machine whose cores are
 * busy with other programs, that spinning steals the time slices the working thread needs: with one core
 * busy, 2 threads trained 6 times slower than 1 (docs/performance.md). Passive waiting (sleep at once)
 * fixes that but costs a wake-up per parallel region on a quiet machine. A short spin, GOMP_SPINCOUNT
 * rounds, keeps the quick hand-offs of a training step on a quiet machine and yields the core within
 * tens of microseconds when the other thread is not running.
 *
 * The setting must be in the environment before libgomp's constructor runs, and nothing the executable does
 * in the same process can put it there in time (C library initialisation resets the environment after the
 * earliest hook, .preinit_array). So that hook starts the tool again (execve of /proc/self/exe, same
 * arguments) with GOMP_SPINCOUNT added, before any library constructor has run: about a millisecond. A
 * user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins (then nothing happens), and when the re-start
 * fails the tool runs on with libgomp's default. Only the tool does this; the library never touches the
 * environment.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Spin rounds before sleeping (bench/run's contention figures and docs/performance.md measure the choice). */
#define VAE_TOOL_SPINCOUNT "GOMP_SPINCOUNT=1000"

static int has_var(char **envp, const char *name, size_t len) {
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, name, len) && (*e)[len] == '=') return 1;
    return 0;
}

static void vae__tool_omp_env(int argc, char **argv, char **envp) {
    (void)argc;
    // the C library's getenv is not ready here (environ is set after this hook): read envp directly
    // nothing to do when the user chose, or when OMP_NUM_THREADS=1 leaves no idle thread to spin (the
    // valgrind test runs so: a re-start would leave valgrind behind)
    if (!envp || has_var(envp, "OMP_WAIT_POLICY", 15) || has_var(envp, "GOMP_SPINCOUNT", 14)) return;
    for (char **e = envp; *e; e++)
        if (!strcmp(*e, "OMP_NUM_THREADS=1")) return;
    size_t n = 0;
    while (envp[n]) n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env) return;
    memcpy(env, envp, n * sizeof *env);
    env[n] = (char *)VAE_TOOL_SPINCOUNT, env[n + 1] = NULL;
    execve("/proc/self/exe", argv, env);
    free(env); // execve failed (no /proc): run on with libgomp's default
}

__attribute__((section(".preinit_array"), used)) static void (*const vae__tool_omp_env_entry)(int, char **, char **) =
    vae__tool_omp_env;
