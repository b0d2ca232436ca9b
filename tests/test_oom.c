/* test_oom.c: every allocation of a tiny train / eval / save / load / sample run may fail, one at a time.
 *
 * The run (run_once) goes through the library as the CLI does, on tests/fixtures/tiny-idx (3 images of 5x7,
 * train raw, test gzip): load both splits, create a 35-8-2 VAE, two epochs with the trainer, save the
 * training state and the model (with extra metadata), evaluate a test batch, load the model back, decode
 * (sample) and encode, load the training state and train one more epoch from it.
 * For N = 1, 2, ... vae_alloc_fail_at(N) makes the N-th allocation of the run fail, until a run makes fewer
 * than N allocations. Each failed run must report VAE_ERR_NOMEM with a message that says "memory", free
 * everything (leaks: `make test` runs this binary under ASan, LeakSanitizer on), leave no temporary file
 * and no file that does not load; the run that succeeds must give exactly the figures of a run without
 * injection. Also checked: an epoch of training allocates nothing.
 * (cJSON's and zlib's own allocations are not injected: see src/safetensors.c.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "train_state.h"
#include "common.h"
#include "data.h"
#include "test.h"
#include "train.h"
#include "vae.h"

#define DATA "tests/fixtures/tiny-idx"

static char dir[64];
static char model_path[128], state_path[128];

/* What a run computes, compared between the reference run and the one that succeeds under injection. */
typedef struct {
    float eval_loss[3];
    float decoded[35];
    float mu[2];
    double loss_sum;
} result;

/* Where and how a run failed. */
typedef struct {
    const char *step;
    vae_status status;
    char message[256];
} failure;

static int count_temp_files(void) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

#define STEP(name, call)                                                            \
    do {                                                                            \
        vae_status st_ = (call);                                                    \
        if (st_ != VAE_OK) {                                                        \
            fail->step = name;                                                      \
            fail->status = st_;                                                     \
            snprintf(fail->message, sizeof fail->message, "%s", vae_last_error()); \
            goto done;                                                              \
        }                                                                           \
    } while (0)

/* One run; returns 0 on success (out filled), -1 with *fail set. Frees everything either way. */
static int run_once(result *out, failure *fail, long *train_allocs) {
    vae_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    vae_model *m = NULL, *m2 = NULL;
    vae_trainer tr, tr2;
    memset(&tr, 0, sizeof tr);
    memset(&tr2, 0, sizeof tr2);
    vae_train_state saved;
    memset(&saved, 0, sizeof saved);
    int rc = -1;
    float x[3 * 35];
    vae_rng rng;
    vae_rng_seed(&rng, 42);

    STEP("load train", vae_dataset_load(&train, DATA, "train"));
    STEP("load test", vae_dataset_load(&test, DATA, "test"));
    vae_config cfg;
    vae_config_default(&cfg);
    cfg.height = train.height, cfg.width = train.width, cfg.channels = train.channels;
    cfg.hidden[0] = 8;
    cfg.n_latent = 2;
    STEP("create", vae_create(&m, &cfg, 3, &rng));
    STEP("trainer", vae_trainer_init(&tr, m, &train, train.n, 2, 0, 7));
    vae_train_opts opts;
    vae_train_opts_default(&opts);
    long before = vae_alloc_count();
    STEP("epoch 1", vae_trainer_run_epoch(&tr, &opts, NULL, NULL, NULL));
    STEP("epoch 2", vae_trainer_run_epoch(&tr, &opts, NULL, NULL, NULL));
    *train_allocs = vae_alloc_count() - before;
    vae_meta meta;
    memset(&meta, 0, sizeof meta);
    STEP("meta", vae_meta_set(&meta, "binarize", "none"));
    STEP("save state", vae_train_state_save(&tr, state_path, &meta));
    STEP("save model", vae_checkpoint_save(m, model_path, &meta));

    vae_dataset_batch(&test, NULL, 0, 3, x);
    vae_rng eps;
    vae_rng_seed(&eps, 5);
    STEP("eval", vae_eval_batch(m, x, NULL, 3, &eps, out->eval_loss, NULL, NULL));

    STEP("load model", vae_load(&m2, model_path, 3));
    float z[2] = {0.5f, -1.0f};
    STEP("decode", vae_decode(m2, z, NULL, 1, out->decoded));
    STEP("encode", vae_encode(m2, x, NULL, 1, out->mu, NULL));

    STEP("load state", vae_train_state_load(&saved, state_path, 3));
    STEP("trainer from state", vae_trainer_init(&tr2, saved.model, &train, train.n, 2, 0, 7));
    STEP("apply state", vae_train_state_apply(&saved, &tr2));
    STEP("epoch 3", vae_trainer_run_epoch(&tr2, &opts, NULL, NULL, NULL));
    out->loss_sum = tr2.loss_sum;
    rc = 0;
done:
    vae_trainer_free(&tr2);
    vae_train_state_free(&saved);
    vae_free(m2);
    vae_trainer_free(&tr);
    vae_free(m);
    vae_dataset_free(&test);
    vae_dataset_free(&train);
    return rc;
}

/* Files the run wrote must load (whole or absent), and none may be a left-over temporary file. */
static void check_files(long n) {
    CHECK(count_temp_files() == 0, "allocation %ld: a temporary file was left behind", n);
    vae_model *m = NULL;
    if (access(model_path, F_OK) == 0) {
        vae_status st = vae_load(&m, model_path, 1);
        CHECK(st == VAE_OK, "allocation %ld: model file does not load: %s", n, vae_last_error());
        vae_free(m);
    }
    unlink(model_path);
    unlink(state_path);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_oom.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", dir);
    snprintf(state_path, sizeof state_path, "%s/train-state.safetensors", dir);

    result ref, got;
    failure fail;
    long train_allocs = -1;
    memset(&ref, 0, sizeof ref);
    vae_alloc_fail_at(0);
    int rc = run_once(&ref, &fail, &train_allocs);
    long total = vae_alloc_count();
    CHECK(rc == 0, "the run without injection fails at %s: %s", fail.step, vae_last_error());
    CHECK(train_allocs == 0, "two epochs of training made %ld allocations, expected none", train_allocs);
    check_files(0);
    if (rc != 0) TEST_MAIN_END();

    long n;
    int n_failed_runs = 0;
    for (n = 1; n <= total + 1; n++) {
        memset(&got, 0, sizeof got);
        memset(&fail, 0, sizeof fail);
        vae_alloc_fail_at(n);
        rc = run_once(&got, &fail, &train_allocs);
        long made = vae_alloc_count();
        vae_alloc_fail_at(0);
        if (rc == 0) {
            CHECK(made < n, "allocation %ld failed but the run reported success", n);
            CHECK(memcmp(&got, &ref, sizeof ref) == 0, "the run after failing allocation %ld computes other figures", n);
            check_files(n);
            break;
        }
        n_failed_runs++;
        CHECK(fail.status == VAE_ERR_NOMEM, "allocation %ld failed in step '%s' with status %d (%s): %s", n, fail.step,
              (int)fail.status, vae_strerror(fail.status), fail.message);
        CHECK(strstr(fail.message, "memory") != NULL, "allocation %ld, step '%s': message '%s' does not say memory", n,
              fail.step, fail.message);
        check_files(n);
    }
    CHECK(n <= total + 1, "the run never succeeded");
    CHECK(n_failed_runs == total, "%d failed runs for %ld allocations", n_failed_runs, total);
    printf("test_oom: %ld allocations in the run, each failed once: %d clean failures\n", total, n_failed_runs);
    rmdir(dir);
    TEST_MAIN_END();
}
