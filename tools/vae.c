/* vae.c: the command-line tool. main() dispatches to one function per subcommand; this file holds
 * `train` and `eval`, tools/pictures.c the picture subcommands, tools/export.c encode, decode and export-c,
 * tools/cli.c the shared flag parser. The CLI owns printing, exit codes, signals and the thread count. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "checkpoint.h"
#include "train_state.h"
#include "cli.h"
#include "commands.h"
#include "common.h"
#include "diagnose.h"
#include "early_stop.h"
#include "tracking.h"
#include "dist.h"
#include "fileio.h"
#include "image.h"
#include "man.h"
#include "model.h"
#include "runlock.h"
#include "runtime.h"
#include "train.h"

/* ---------------------------------------------------------------- signals */

static volatile sig_atomic_t stop_signal; /* the first SIGINT/SIGTERM/SIGHUP: finish the step, save, exit */

static void on_signal(int sig) {
    if (stop_signal) _exit(128 + sig); // second signal: at once (files on disk are always complete)
    stop_signal = sig;
    vae__dist_on_stop_signal(sig); // vae-mpi: a rank left waiting for a dead one exits
}

/* The signal a stop reports: this process's, or for a rank that the others told to stop, mpirun's SIGTERM. */
static int stop_sig(void) { return stop_signal ? (int)stop_signal : SIGTERM; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); // a closed terminal or a dropped ssh session saves like Ctrl-C
}

/* ---------------------------------------------------------------- train */

typedef struct {
    const char *data, *out, *arch, *hidden, *activation, *lr_schedule, *likelihood, *binarize, *channels, *noise;
    const char *tensorboard;
    int ae, latent, epochs, batch, kl_warmup, conditional, val, seed, threads, save_every, resume, force, iwae_k;
    int accumulate, tb_every, patience;
    double lr, adam_eps, beta, dropout, free_bits, tc_beta, clip_grad, weight_decay;
} train_args;

/* --iwae-k: the most rows (batch times samples) one training step may decode. */
#define MAX_IWAE_ROWS (1 << 20)

/* Files of a run folder. */
#define MODEL_FILE "model.safetensors"
#define STATE_FILE "train-state.safetensors"
#define METRICS_FILE "metrics.jsonl"
#define CURVE_FILE "loss.png"
#define METRICS_CSV_FILE "metrics.csv"

static void join(char *dst, size_t n, const char *dir, const char *file) { snprintf(dst, n, "%s/%s", dir, file); }

/* Progress on stderr: a bar with rate and ETA on a terminal, a plain line every quarter otherwise. */
typedef struct {
    int epoch, epochs, tty, batch, last_quarter;
    double t0;
    int bench_first_step; /* VAE_BENCH_FIRST_STEP set: report the wall clock at the first step and stop */
    tracking *trk;        /* --tensorboard: the step's objective every N steps */
    const long *step;     /* the model's step count */
} progress_state;

static void progress(void *ud, int done, int total, double loss) {
    progress_state *p = ud;
    if (p->bench_first_step) { // bench/run measures process start to first training step with this
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        fprintf(stderr, "first_step_realtime %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
        _exit(0);
    }
    tracking_step(p->trk, *p->step, done, loss * done);
    double el = vae_now() - p->t0, rate = done * (double)p->batch / (el > 0 ? el : 1e-9);
    double eta = done > 0 ? el * (total - done) / done : 0;
    if (p->tty) {
        int w = 30, fill = (int)((double)w * done / total);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.2f %.0f img/s ETA %.0fs ", p->epoch, p->epochs, bar, done, total,
                loss, rate, eta);
        if (done == total) fputc('\n', stderr);
    } else {
        int q = 4 * done / total;
        if (q > p->last_quarter) {
            p->last_quarter = q;
            fprintf(stderr, "epoch %d/%d: %d/%d batches, loss %.2f, %.0f img/s, ETA %.0fs\n", p->epoch, p->epochs, done,
                    total, loss, rate, eta);
        }
    }
}

/* Redraw the loss curves from metrics.jsonl's figures kept in memory. */
typedef struct {
    int n, cap;
    double *epoch, *train, *test, *val;
} curve;

static int curve_add(curve *c, double e, double tr, double te, double va) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        double *p[4] = {c->epoch, c->train, c->test, c->val};
        for (int i = 0; i < 4; i++) {
            double *q = vae_realloc(p[i], (size_t)cap * sizeof(double));
            if (!q) return -1;
            p[i] = q;
        }
        c->epoch = p[0], c->train = p[1], c->test = p[2], c->val = p[3], c->cap = cap;
    }
    c->epoch[c->n] = e, c->train[c->n] = tr, c->test[c->n] = te, c->val[c->n] = va;
    c->n++;
    return 0;
}

static void curve_free(curve *c) {
    vae_mem_free(c->epoch), vae_mem_free(c->train), vae_mem_free(c->test), vae_mem_free(c->val);
}

/* A number of a metrics.jsonl line, NaN when missing. */
static double json_number(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static vae_status curve_draw(const curve *c, const char *path, int with_val) {
    vae_plot_series s[3] = {{"train (objective)", c->epoch, c->train, c->n}, {"test (negative ELBO)", c->epoch, c->test, c->n},
                            {"validation", c->epoch, c->val, c->n}};
    return vae_plot_lines(path, "Loss per epoch", "epoch", "loss (nats per image)", s, with_val ? 3 : 2, 800, 500);
}

/* Training options that must stay the same across --resume, kept in the checkpoints' metadata. */
static vae_status args_to_meta(const train_args *a, uint64_t test_bin_seed, vae_meta *meta) {
    char buf[64];
    vae_status st = vae_meta_set(meta, "binarize", a->binarize);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)test_bin_seed);
    st = st ? st : vae_meta_set(meta, "binarize_seed", buf);
#define SET(key, fmt, v) (snprintf(buf, sizeof buf, fmt, v), st = st ? st : vae_meta_set(meta, key, buf))
    SET("train.batch", "%d", a->batch);
    SET("train.lr", "%.9g", a->lr);
    SET("train.adam_eps", "%.9g", a->adam_eps);
    SET("train.beta", "%.9g", a->beta);
    SET("train.kl_warmup", "%d", a->kl_warmup);
    SET("train.val", "%d", a->val);
    SET("train.seed", "%d", a->seed);
    SET("train.iwae_k", "%d", a->iwae_k);
    SET("train.accumulate", "%d", a->accumulate);
    SET("train.free_bits", "%.9g", a->free_bits);
    SET("train.tc_beta", "%.9g", a->tc_beta);
    SET("train.clip_grad", "%.9g", a->clip_grad);
    SET("train.weight_decay", "%.9g", a->weight_decay);
    SET("train.patience", "%d", a->patience);
#undef SET
    st = st ? st : vae_meta_set(meta, "train.noise", a->noise);
    st = st ? st : vae_meta_set(meta, "train.lr_schedule", a->lr_schedule ? a->lr_schedule : "");
    return st;
}

/* Restore the saved options on --resume; a flag given now that disagrees is an error. */
static int args_from_meta(train_args *a, flag_spec *flags, const vae_meta *meta, const char *path) {
    struct {
        const char *key, *flag;
        int *i;
        double *d;
        const char **s;
        const char *fallback; /* the value when a state written before the key existed lacks it */
    } items[] = {{"train.batch", "--batch", &a->batch, NULL, NULL},       {"train.lr", "--lr", NULL, &a->lr, NULL},
                 {"train.adam_eps", "--adam-eps", NULL, &a->adam_eps, NULL}, {"train.beta", "--beta", NULL, &a->beta, NULL},
                 {"train.kl_warmup", "--kl-warmup", &a->kl_warmup, NULL, NULL}, {"train.val", "--val", &a->val, NULL, NULL},
                 {"train.seed", "--seed", &a->seed, NULL, NULL},            {"binarize", "--binarize", NULL, NULL, &a->binarize},
                 {"train.lr_schedule", "--lr-schedule", NULL, NULL, &a->lr_schedule},
                 {"train.iwae_k", "--iwae-k", &a->iwae_k, NULL, NULL, "0"},
                 {"train.accumulate", "--accumulate", &a->accumulate, NULL, NULL, "1"},
                 {"train.noise", "--noise", NULL, NULL, &a->noise, "stream"},
                 {"train.free_bits", "--free-bits", NULL, &a->free_bits, NULL, "0"},
                 {"train.tc_beta", "--tc-beta", NULL, &a->tc_beta, NULL, "0"},
                 {"train.clip_grad", "--clip-grad", NULL, &a->clip_grad, NULL, "0"},
                 {"train.weight_decay", "--weight-decay", NULL, &a->weight_decay, NULL, "0"},
                 {"train.patience", "--patience", &a->patience, NULL, NULL, "0"}};
    for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
        const char *v = vae_meta_get(meta, items[k].key);
        if (!v) v = items[k].fallback;
        if (!v) {
            cli_error("train", "%s: metadata '%s' is missing: not a training state written by vae train", path, items[k].key);
            return EXIT_USAGE;
        }
        int given = flag_find(flags, items[k].flag)->given;
        if (items[k].i) {
            int saved = atoi(v);
            if (given && *items[k].i != saved) goto conflict;
            *items[k].i = saved;
        } else if (items[k].d) {
            double saved = strtod(v, NULL);
            if (given && fabs(*items[k].d - saved) > 1e-12 * fabs(saved)) goto conflict;
            *items[k].d = saved;
        } else {
            if (given && strcmp(*items[k].s ? *items[k].s : "", v) != 0) goto conflict;
            *items[k].s = *v ? v : NULL;
        }
        continue;
    conflict:
        cli_error("train", "%s %s conflicts with the run being resumed (%s in %s)", items[k].flag,
                  flag_find(flags, items[k].flag)->type == FLAG_STRING || flag_find(flags, items[k].flag)->type == FLAG_CHOICE
                      ? (*items[k].s ? *items[k].s : "")
                      : "as given",
                  v, path);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Architecture flags given with --resume must agree with the checkpoint. */
static int check_arch_flags(flag_spec *flags, const train_args *a, const vae_config *c, const char *path) {
    int hidden[VAE_MAX_HIDDEN], nh = a->hidden ? parse_int_list(a->hidden, hidden, VAE_MAX_HIDDEN, 1, 65536) : -1;
    int same_hidden = nh == c->n_hidden;
    for (int i = 0; same_hidden && i < nh; i++) same_hidden = hidden[i] == c->hidden[i];
    int chans[VAE_MAX_CONV], nc = a->channels ? parse_int_list(a->channels, chans, VAE_MAX_CONV, 1, 4096) : -1;
    int same_chans = c->arch == VAE_CONV && nc == c->n_conv;
    for (int i = 0; same_chans && i < nc; i++) same_chans = chans[i] == c->conv_channels[i];
    struct {
        const char *flag;
        int ok;
    } checks[] = {{"--arch", (strcmp(a->arch, "conv") == 0) == (c->arch == VAE_CONV)},
                  {"--channels", same_chans},
                  {"--hidden", same_hidden},
                  {"--latent", a->latent == c->n_latent},
                  {"--ae", a->ae == c->ae},
                  {"--conditional", (a->conditional != 0) == (c->n_classes > 0)},
                  {"--activation", (strcmp(a->activation, "tanh") == 0) == (c->activation == VAE_TANH)},
                  {"--likelihood", (strcmp(a->likelihood, "gaussian") == 0) == (c->likelihood == VAE_GAUSSIAN)},
                  {"--dropout", (float)a->dropout == c->dropout}};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (flag_find(flags, checks[i].flag)->given && !checks[i].ok) {
            cli_error("train", "%s conflicts with the architecture of the run being resumed (%s)", checks[i].flag, path);
            return EXIT_USAGE;
        }
    return EXIT_OK;
}

/* Everything one `vae train` run holds, so that its steps (flags, run folder, resume, data, model, loop,
 * epoch report) are separate functions over one struct. Each step returns an exit code (EXIT_OK to go on). */
typedef struct {
    train_args a;
    const char *engine;    /* --engine (tools/runtime.h) */
    flag_spec flags[40];
    int rank, size;        /* vae-mpi: this process's rank and the number of ranks (build/vae: 0 and 1) */
    char who[32];          /* "train", or "train (rank 1)" in errors of a rank */
    vae_lr_schedule sched;
    vae_config cfg;
    // the run folder
    char model_path[4096], state_path[4096], metrics_path[4096], curve_path[4096], csv_path[4096];
    int created;           /* the folder was made by this run: removed again when the run fails before work */
    int lock_fd;           /* the run folder's lock (runlock.h), held until the end */
    // data, model, trainer
    vae_dataset train, test;
    int n_train, eval_batch, model_batch;
    vae_model *m;
    vae_trainer tr;
    vae_meta meta;         /* the training options kept in both checkpoints */
    vae_meta resumed;      /* --resume: the saved options (train_args' strings point into it) */
    uint64_t test_bin_seed;
    float *eval_x;
    int *eval_labels;
    // what the run has written so far
    curve cv;
    char *metrics;         /* metrics.jsonl's text: rewritten whole (atomically) after every epoch */
    size_t metrics_len, metrics_cap;
    tracking trk;          /* metrics.csv, and --tensorboard's event file (rank 0) */
    early_stop es;         /* --val: best.safetensors; --patience */
    int stop_early;        /* the patience ran out: the loop ends after this epoch */
} train_run;

static int metrics_append(train_run *r, const char *line) {
    size_t n = strlen(line);
    if (r->metrics_len + n + 1 > r->metrics_cap) {
        size_t cap = r->metrics_cap ? 2 * r->metrics_cap : 4096;
        while (cap < r->metrics_len + n + 1) cap *= 2;
        char *p = vae_realloc(r->metrics, cap);
        if (!p) return -1;
        r->metrics = p, r->metrics_cap = cap;
    }
    memcpy(r->metrics + r->metrics_len, line, n + 1);
    r->metrics_len += n;
    return 0;
}

/* On --resume: keep metrics.jsonl's lines of epochs 1..upto_epoch (later ones belong to epochs the training
 * state does not hold, and are done again) and draw them in the curve. */
static int metrics_load(train_run *r, int upto_epoch) {
    if (access(r->metrics_path, F_OK) != 0) return EXIT_OK;
    vae_status st;
    int fd = vae__open_regular(r->metrics_path, "a metrics.jsonl file", NULL, &st);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        cli_error("train", "%s", fd < 0 ? vae_last_error() : strerror(errno));
        return EXIT_USAGE;
    }
    char line[4096];
    int rc = EXIT_OK;
    while (rc == EXIT_OK && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        double e = json_number(o, "epoch"); // NaN (a damaged line, no epoch) compares false: dropped
        if (e <= upto_epoch && strchr(line, '\n') &&
            (metrics_append(r, line) ||
             curve_add(&r->cv, e, json_number(o, "train_loss"), json_number(o, "test_loss"), json_number(o, "val_loss")))) {
            cli_error("train", "out of memory");
            rc = EXIT_FAIL;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    return rc;
}

/* ---- step 1: flags */

/* Most of this function is the flag table (one row per flag, --help prints it); the rest builds the
 * configuration from the flags. */
static int train_parse(train_run *r, int argc, char **argv) {
    train_args *a = &r->a;
    flag_spec flags[] = {
        {"--data", FLAG_STRING, &a->data, "", "data folder: IDX files, train/ and test/ folders of PNG or JPEG files, or train.csv and test.csv (docs/data.md)", .required = 1},
        {"--out", FLAG_STRING, &a->out, "", "run folder to write (new or empty unless --resume or --force)", .required = 1},
        {"--arch", FLAG_CHOICE, &a->arch, "mlp", "network: dense layers, or convolutions (docs/conv.md)",
         .choices = "mlp|conv"},
        {"--channels", FLAG_STRING, &a->channels, "32,64",
         "--arch conv: channels of the stride-2 conv layers, encoder order (height and width must be divisible by "
         "2^layers)"},
        {"--ae", FLAG_BOOL, &a->ae, "", "train a plain deterministic autoencoder (no sampling, no KL)"},
        {"--hidden", FLAG_STRING, &a->hidden, "400", "hidden layer widths, encoder order, e.g. 512,256 (--arch conv: "
         "none unless given)"},
        {"--activation", FLAG_CHOICE, &a->activation, "relu", "hidden nonlinearity", .choices = "relu|tanh"},
        {"--latent", FLAG_INT, &a->latent, "20", "latent size Z", 1, 4096},
        {"--epochs", FLAG_INT, &a->epochs, "20", "total epochs of the run (also with --resume)", 1, 1000000},
        {"--batch", FLAG_INT, &a->batch, "128", "batch size", 1, 1 << 20},
        {"--lr", FLAG_DOUBLE, &a->lr, "1e-3", "Adam learning rate", 1e-12, 10},
        {"--adam-eps", FLAG_DOUBLE, &a->adam_eps, "1e-8", "Adam epsilon", 1e-30, 1},
        {"--lr-schedule", FLAG_STRING, &a->lr_schedule, "", "epochs:rate list, e.g. 1:1e-3,3:7.2e-4 (last rate continues)"},
        {"--beta", FLAG_DOUBLE, &a->beta, "1", "KL weight (beta-VAE; not with --ae)", 0, 1e6},
        {"--kl-warmup", FLAG_INT, &a->kl_warmup, "0", "epochs over which the KL weight rises linearly from 0 to beta "
         "(not with --ae)", 0, 1000000},
        {"--likelihood", FLAG_CHOICE, &a->likelihood, "bernoulli", "decoder distribution", .choices = "bernoulli|gaussian"},
        {"--binarize", FLAG_CHOICE, &a->binarize, "none", "dynamic: resample binary pixels each time an image is used",
         .choices = "none|dynamic"},
        {"--conditional", FLAG_BOOL, &a->conditional, "", "conditional VAE: one-hot label into encoder and decoder"},
        {"--dropout", FLAG_DOUBLE, &a->dropout, "0", "dropout probability after each hidden layer while training (0: none)",
         0, 0.99},
        {"--iwae-k", FLAG_INT, &a->iwae_k, "0",
         "train on the importance-weighted bound with N samples per image (Burda et al. 2015; 0: the ELBO)", 0, 1 << 20},
        {"--free-bits", FLAG_DOUBLE, &a->free_bits, "0",
         "KL floor per latent dimension in nats (free bits, Kingma et al. 2016; 0: off)", 0, 1e6},
        {"--tc-beta", FLAG_DOUBLE, &a->tc_beta, "0",
         "beta-TC-VAE: weight of the total correlation (Chen et al. 2018; minibatch-weighted sampling; 0: off)", 0, 1e6},
        {"--val", FLAG_INT, &a->val, "0", "hold out the last N training images and report val_loss", 0, 1 << 30},
        {"--patience", FLAG_INT, &a->patience, "0",
         "with --val: stop after P epochs without a better val_loss (0: never); best.safetensors keeps the best", 0,
         1000000},
        {"--clip-grad", FLAG_DOUBLE, &a->clip_grad, "0", "clip the gradient to this global norm (0: off)", 0, 1e30},
        {"--weight-decay", FLAG_DOUBLE, &a->weight_decay, "0", "decoupled weight decay (AdamW; 0: plain Adam)", 0, 1e6},
        {"--seed", FLAG_INT, &a->seed, "1", "random seed (initialisation, order, noise)", 0, 2147483647},
        {"--threads", FLAG_INT, &a->threads, "0", "threads (0: one per core)", 0, 1024},
        VAE_TOOL_ENGINE_FLAG(r->engine),
        {"--save-every", FLAG_INT, &a->save_every, "1", "write the training state every E epochs", 1, 1000000},
        {"--resume", FLAG_BOOL, &a->resume, "", "continue the run in --out from its training state"},
        {"--force", FLAG_BOOL, &a->force, "", "start over in a run folder that is not empty"},
        {"--tensorboard", FLAG_STRING, &a->tensorboard, "", "also write TensorBoard event files into this folder"},
        {"--tensorboard-every", FLAG_INT, &a->tb_every, "100", "--tensorboard: log the training objective every N steps",
         1, 1 << 30},
        {"--noise", FLAG_CHOICE, &a->noise, vae__dist_size() > 1 || strcmp(vae__dist_kind(), "mpi") == 0 ? "keyed" : "stream",
         "stream: binarization and eps drawn in sequence (one process); keyed: per image from (seed, step, row), the "
         "same for any number of ranks (docs/scale.md)", .choices = "stream|keyed"},
        {"--accumulate", FLAG_INT, &a->accumulate, "1",
         "each rank computes its share of a batch in N micro-batches before the one gradient sum (docs/scale.md)", 1,
         1 << 20},
        {NULL}};
    _Static_assert(sizeof flags <= sizeof r->flags, "train_run.flags is too small for the flag table");
    memcpy(r->flags, flags, sizeof flags);
    int rc = flags_parse("train", "--data DIR --out RUN [flags]", r->flags, argc, argv);
    if (rc) return rc > 0 ? -1 /* --help: done */ : EXIT_USAGE;
    if (a->resume && a->force) {
        cli_error("train", "--resume and --force exclude each other");
        return EXIT_USAGE;
    }
    if (r->size > 1 && strcmp(a->noise, "keyed") != 0) {
        cli_error("train", "--noise stream draws in sequence, so it depends on the number of ranks: %d ranks need "
                  "--noise keyed (the default of vae-mpi)", r->size);
        return EXIT_USAGE;
    }
    if (a->ae && (flag_find(r->flags, "--beta")->given || flag_find(r->flags, "--kl-warmup")->given)) {
        cli_error("train", "%s: an autoencoder (--ae) has no KL term to weight", flag_find(r->flags, "--beta")->given
                  ? "--beta" : "--kl-warmup");
        return EXIT_USAGE;
    }
    if (a->lr_schedule && vae_lr_schedule_parse(&r->sched, a->lr_schedule)) {
        cli_error("train", "--lr-schedule: '%s' is not a list of EPOCHS:RATE pairs such as 1:1e-3,3:7.2e-4", a->lr_schedule);
        return EXIT_USAGE;
    }
    vae_config *cfg = &r->cfg;
    vae_config_default(cfg);
    int nh = parse_int_list(a->hidden, cfg->hidden, VAE_MAX_HIDDEN, 1, 65536);
    if (nh < 0) {
        cli_error("train", "--hidden: '%s' is not a list of up to %d widths in 1..65536", a->hidden, VAE_MAX_HIDDEN);
        return EXIT_USAGE;
    }
    cfg->n_hidden = nh;
    cfg->n_latent = a->latent;
    cfg->ae = a->ae;
    cfg->dropout = (float)a->dropout;
    cfg->activation = strcmp(a->activation, "tanh") == 0 ? VAE_TANH : VAE_RELU;
    cfg->likelihood = strcmp(a->likelihood, "gaussian") == 0 ? VAE_GAUSSIAN : VAE_BERNOULLI;
    if (strcmp(a->arch, "conv") == 0) {
        cfg->arch = VAE_CONV;
        cfg->n_conv = parse_int_list(a->channels, cfg->conv_channels, VAE_MAX_CONV, 1, 4096);
        if (cfg->n_conv < 1) {
            cli_error("train", "--channels: '%s' is not a list of 1 to %d channel counts in 1..4096", a->channels,
                      VAE_MAX_CONV);
            return EXIT_USAGE;
        }
        if (!flag_find(r->flags, "--hidden")->given) cfg->n_hidden = 0; // conv straight into the head by default
    } else if (flag_find(r->flags, "--channels")->given && !a->resume) {
        cli_error("train", "--channels applies to --arch conv only");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- step 2: the run folder, created if missing and locked for the life of the run */

/* 1 if dir holds anything besides . and .., the lock file and temporary files of dead writers. */
static int dir_nonempty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, VAE_LOCK_FILE)) n++;
    closedir(d);
    return n > 0;
}

static int run_folder_open(train_run *r) {
    const train_args *a = &r->a;
    join(r->model_path, sizeof r->model_path, a->out, MODEL_FILE);
    join(r->state_path, sizeof r->state_path, a->out, STATE_FILE);
    join(r->metrics_path, sizeof r->metrics_path, a->out, METRICS_FILE);
    join(r->curve_path, sizeof r->curve_path, a->out, CURVE_FILE);
    join(r->csv_path, sizeof r->csv_path, a->out, METRICS_CSV_FILE);
    if (strlen(a->out) + 32 >= sizeof r->model_path) {
        cli_error("train", "--out: the path is too long (%zu bytes)", strlen(a->out));
        return EXIT_USAGE;
    }
    if (r->rank > 0) return EXIT_OK; // the run folder is rank 0's: the other ranks never look at it
    struct stat sb;
    if (stat(a->out, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        cli_error("train", "--out %s: exists and is not a folder", a->out);
        return EXIT_USAGE;
    }
    if (stat(a->out, &sb) != 0) {
        if (a->resume) {
            cli_error("train", "--resume: %s does not exist: nothing to resume", r->state_path);
            return EXIT_USAGE;
        }
        if (mkdir(a->out, 0777) == 0) {
            r->created = 1;
        } else if (errno != EEXIST) { // (EEXIST: another run made it just now; the lock decides)
            cli_error("train", "--out %s: cannot create the folder: %s", a->out, strerror(errno));
            return EXIT_USAGE;
        }
    }
    // one owner at a time: a second `vae train` (also --resume or --force) stops here, naming the first
    long holder;
    if (vae__run_lock(a->out, &r->lock_fd, &holder)) {
        cli_error("train", "--out %s", vae_last_error());
        r->created = 0; // another process's folder now
        return EXIT_USAGE;
    }
    if (a->resume && access(r->state_path, F_OK) != 0) {
        cli_error("train", "--resume: %s does not exist: nothing to resume", r->state_path);
        return EXIT_USAGE;
    }
    vae__atomic_clean_stale(a->out, 1); // ours now: temporary files of killed writes are stale
    if (!a->resume && !a->force && dir_nonempty(a->out)) {
        cli_error("train", "--out %s: the folder is not empty (use --resume to continue or --force to start over)", a->out);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- step 3: --resume reconciles the flags with the run's saved options and architecture */

static int resume_reconcile(train_run *r) {
    // rank 0 reads the state's metadata and configuration (the model itself comes later), the others get a copy
    vae_train_state saved;
    memset(&saved, 0, sizeof saved);
    vae_status st = r->rank == 0 ? vae_train_state_load(&saved, r->state_path, 1) : VAE_OK;
    if (st) cli_error("train", "%s", vae_last_error());
    if (vae__dist_any(st != VAE_OK)) return cli_status_exit(st ? st : VAE_ERR_IO, 1);
    vae_config cfg;
    if (r->rank == 0) cfg = *vae_get_config(saved.model);
    vae_train_state_free(&saved);
    r->resumed = saved.meta; // kept for the whole run: the restored string options point into it
    vae__dist_bcast(&r->resumed, sizeof r->resumed);
    vae__dist_bcast(&cfg, sizeof cfg);
    int rc = args_from_meta(&r->a, r->flags, &r->resumed, r->state_path);
    if (!rc) rc = check_arch_flags(r->flags, &r->a, &cfg, r->state_path);
    if (!rc) r->cfg = cfg;
    // the run's own schedule (the flag, when given, agrees with it)
    if (!rc && r->a.lr_schedule && vae_lr_schedule_parse(&r->sched, r->a.lr_schedule)) {
        cli_error("train", "%s: train.lr_schedule '%s' is not a list of EPOCHS:RATE pairs", r->state_path,
                  r->a.lr_schedule);
        rc = EXIT_USAGE;
    }
    return rc;
}

/* ---- step 4: the data, checked against the model and the flags */

/* The largest |value| of a float data set (0 for uint8 pixels, which are in [0, 1]). */
static double data_max_abs(const vae_dataset *d) {
    double mx = 0;
    for (size_t i = 0; d->values && i < (size_t)d->n * d->dim; i++)
        mx = fabs((double)d->values[i]) > mx ? fabs((double)d->values[i]) : mx;
    return mx;
}

static int train_load_data(train_run *r) {
    const train_args *a = &r->a;
    vae_config *cfg = &r->cfg;
    vae_dataset *train = &r->train, *test = &r->test;
    // every rank reads the data itself; one that cannot stops every rank before training
    int rc = cli_load_data(r->who, a->data, "train", NULL, train);
    if (!rc) rc = cli_load_data(r->who, a->data, "test", NULL, test);
    if (vae__dist_any(rc != 0)) {
        if (!rc && r->rank == 0) cli_error("train", "another rank could not read its data (its message names it); stopping");
        return EXIT_USAGE;
    }
    if (train->height != test->height || train->width != test->width || train->channels != test->channels) {
        cli_error("train", "%s: training images are %dx%dx%d but test images are %dx%dx%d", a->data, train->height,
                  train->width, train->channels, test->height, test->width, test->channels);
        return EXIT_USAGE;
    }
    cfg->height = train->height, cfg->width = train->width, cfg->channels = train->channels;
    if (a->conditional && !a->resume) {
        if (!train->labels || !test->labels) {
            cli_error("train", "--conditional: %s has no label files", a->data);
            return EXIT_USAGE;
        }
        cfg->n_classes = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    }
    if (cfg->n_classes > 0 && (train->n_classes > cfg->n_classes || test->n_classes > cfg->n_classes || !train->labels)) {
        cli_error("train", "%s: labels do not fit the model's %d classes", a->data, cfg->n_classes);
        return EXIT_USAGE;
    }
    if (cfg->likelihood == VAE_BERNOULLI && (train->values || test->values)) {
        // float data may lie outside [0, 1]: check it is a probability for the Bernoulli decoder
        for (int k = 0; k < 2; k++) {
            const vae_dataset *d = k ? test : train;
            for (size_t i = 0; d->values && i < (size_t)d->n * d->dim; i++)
                if (!(d->values[i] >= 0.0f && d->values[i] <= 1.0f)) {
                    cli_error("train", "%s: value %g outside [0, 1]: use --likelihood gaussian for such data", a->data,
                              d->values[i]);
                    return EXIT_USAGE;
                }
        }
    }
    if (a->val >= train->n) {
        cli_error("train", "--val %d: the training set holds only %d images", a->val, train->n);
        return EXIT_USAGE;
    }
    r->n_train = train->n - a->val;
    if (a->batch > r->n_train) {
        cli_error("train", "--batch %d is larger than the %d training images", a->batch, r->n_train);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- step 5: the model (new or from the training state), the trainer and the evaluation buffers */

static int train_sizes(train_run *r) {
    const train_args *a = &r->a;
    const vae_config *cfg = &r->cfg;
    r->eval_batch = 1000 > a->batch ? 1000 : a->batch;
    // --iwae-k: a step decodes batch * k samples at once, so the model holds that many rows (the evaluation
    // buffers stay at eval_batch)
    long long iwae_rows = (long long)a->batch * a->iwae_k;
    if (a->iwae_k > 0 && cfg->ae) {
        cli_error("train", "--iwae-k: the importance-weighted bound needs a VAE; --ae trains a plain autoencoder");
        return EXIT_USAGE;
    }
    if (iwae_rows > MAX_IWAE_ROWS) {
        cli_error("train", "--iwae-k %d: --batch %d times %d samples is %lld rows a step, above the limit of %d", a->iwae_k,
                  a->batch, a->iwae_k, iwae_rows, MAX_IWAE_ROWS);
        return EXIT_USAGE;
    }
    r->model_batch = iwae_rows > r->eval_batch ? (int)iwae_rows : r->eval_batch;
    if ((a->free_bits > 0 || a->tc_beta > 0) && (cfg->ae || a->iwae_k > 0 || (a->free_bits > 0 && a->tc_beta > 0))) {
        cli_error("train", "%s: %s", a->tc_beta > 0 ? "--tc-beta" : "--free-bits", cfg->ae ? "--ae trains without a KL"
                  : a->iwae_k > 0 ? "--iwae-k trains another bound" : "--free-bits and --tc-beta change the KL term apart");
        return EXIT_USAGE;
    }
    if (a->patience > 0 && a->val == 0) {
        cli_error("train", "--patience %d watches the validation loss: give --val N too", a->patience);
        return EXIT_USAGE;
    }
    if (a->weight_decay * a->lr >= 1.0) {
        cli_error("train", "--weight-decay %g with --lr %g: each step would scale the parameters by 1 - lr w <= 0",
                  a->weight_decay, a->lr);
        return EXIT_USAGE;
    }
    // a batch larger than memory could hold: the activations grow with it
    double per_image = 4.0 * (2.0 * (cfg->height * (double)cfg->width * cfg->channels) * 3 + 16.0 * 4096);
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE), gib = 1073741824.0;
    if (phys > 0 && per_image * r->model_batch > 0.5 * phys) {
        if (r->model_batch > r->eval_batch)
            cli_error("train", "--iwae-k %d with --batch %d: the activations of %d rows (%.1f GiB) would not fit in "
                      "this machine's memory", a->iwae_k, a->batch, r->model_batch, per_image * r->model_batch / gib);
        else
            cli_error("train", "--batch %d: its activations (%.1f GiB) would not fit in this machine's memory", a->batch,
                      per_image * r->model_batch / gib);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int train_build(train_run *r) {
    const train_args *a = &r->a;
    int rc = train_sizes(r);
    if (rc) return rc;
    vae_train_state saved;
    memset(&saved, 0, sizeof saved);
    vae_status st;
    if (a->resume) { // rank 0 reads, the others receive
        st = r->rank == 0 ? vae_train_state_load(&saved, r->state_path, r->model_batch) : VAE_OK;
        if (st) cli_error("train", "%s", vae_last_error());
        if (vae__dist_any(st != VAE_OK)) return cli_status_exit(st ? st : VAE_ERR_IO, 1);
        st = vae__dist_share_state(&saved, &r->cfg, r->model_batch);
        r->m = saved.model;
        saved.model = NULL;
    } else {
        vae_rng init;
        vae_rng_seed(&init, (uint64_t)a->seed * 2 + 1); // a stream apart from the trainer's
        st = vae_create(&r->m, &r->cfg, r->model_batch, &init);
    }
    if (!st)
        st = vae_trainer_init(&r->tr, r->m, &r->train, r->n_train, a->batch, strcmp(a->binarize, "dynamic") == 0,
                              (uint64_t)a->seed);
    if (!st && a->resume) st = vae_train_state_apply(&saved, &r->tr);
    if (!st) st = vae_trainer_parallel(&r->tr, vae__dist_comm(), strcmp(a->noise, "keyed") == 0, a->accumulate,
                                       a->iwae_k > 0 ? a->iwae_k : 1);
    vae_train_state_free(&saved);
    if (st) {
        cli_error(r->who, "%s", vae_last_error());
        return cli_status_exit(st, 1);
    }
    r->tr.kl_beta = (float)a->beta;
    r->tr.kl_warmup_steps = (long)a->kl_warmup * vae_trainer_batches(&r->tr);
    r->eval_x = vae_malloc((size_t)r->eval_batch * r->train.dim * sizeof(float));
    r->eval_labels = vae_malloc((size_t)r->eval_batch * sizeof(int));
    if (!r->eval_x || !r->eval_labels) {
        cli_error("train", "out of memory");
        return EXIT_FAIL;
    }
    r->test_bin_seed = 0x5eed0000ULL + (uint64_t)a->seed;
    if (args_to_meta(a, r->test_bin_seed, &r->meta)) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_USAGE;
    }
    early_stop_init(&r->es, a->patience, a->out);
    if (r->rank > 0) return EXIT_OK;
    if (a->force && !a->resume) { // start over: the old run's files go only now that everything is checked
        const char *files[] = {r->model_path, r->state_path, r->metrics_path, r->curve_path, r->csv_path, r->es.path};
        for (int i = 0; i < 6; i++) unlink(files[i]);
    }
    rc = a->resume ? metrics_load(r, r->tr.epoch) : EXIT_OK;
    if (!rc && a->resume) {
        early_stop_resume(&r->es, r->metrics_path, r->tr.epoch);
        if (access(r->metrics_path, F_OK) == 0 && metrics_csv_write(r->metrics_path, r->csv_path)) {
            cli_error("train", "%s", vae_last_error());
            rc = EXIT_FAIL;
        }
    }
    if (!rc) rc = tracking_open(&r->trk, a->tensorboard, a->tb_every); // exit 2: a --tensorboard it cannot use
    return rc;
}

/* ---- step 6: the loop, one epoch at a time */

static void print_header(const train_run *r) {
    const vae_config *cfg = &r->cfg;
    printf("loss: nats per image (train_loss: the training objective; test_loss: negative ELBO on the test set)\n");
    if (r->a.iwae_k > 0)
        printf("objective: importance-weighted bound, k = %d samples per image (train_loss: -log of the mean of the k "
               "importance weights)\n", r->a.iwae_k);
    if (r->a.tc_beta > 0)
        printf("objective: beta-TC-VAE, total correlation weight %g (minibatch-weighted sampling over each batch, "
               "N = %d)\n", r->a.tc_beta, r->n_train);
    if (r->a.free_bits > 0)
        printf("objective: ELBO with free bits, KL term sum_d max(%g, the batch's mean KL of dimension d)\n",
               r->a.free_bits);
    char hid[96] = "none";
    for (int i = 0, len = 0; i < cfg->n_hidden; i++)
        len += snprintf(hid + len, sizeof hid - (size_t)len, i ? ",%d" : "%d", cfg->hidden[i]);
    if (cfg->arch == VAE_CONV) {
        char chans[64] = "";
        for (int i = 0, len = 0; i < cfg->n_conv; i++)
            len += snprintf(chans + len, sizeof chans - (size_t)len, i ? ",%d" : "%d", cfg->conv_channels[i]);
        printf("model: %s conv %dx%dx%d, channels %s, hidden %s, latent %d, %zu parameters, %d training images, "
               "batch %d\n", cfg->ae ? "autoencoder" : "VAE", cfg->height, cfg->width, cfg->channels, chans, hid,
               cfg->n_latent, vae_num_params(r->m), r->n_train, r->a.batch);
    } else {
        printf("model: %s %d-%s-%d, %zu parameters, %d training images, batch %d\n", cfg->ae ? "autoencoder" : "VAE",
               r->train.dim, cfg->n_hidden ? hid : "", cfg->n_latent, vae_num_params(r->m), r->n_train, r->a.batch);
    }
    fflush(stdout);
}

/* The step's loss or gradient turned non-finite: say what is the likely cause. Data first: the failing batch
 * (still in the trainer's buffer) holding huge values; then the learning rate, unless no update was applied
 * yet (the initial parameters' loss), the rate is very small, or it is the lowest of the --lr-schedule. */
static void report_divergence(const train_run *r, double lr) {
    const vae_trainer *tr = &r->tr;
    int rows = r->n_train - tr->next_batch * tr->batch;
    rows = rows < tr->batch ? rows : tr->batch;
    double batch_max = 0;
    for (size_t i = 0; rows > 0 && i < (size_t)rows * r->train.dim; i++)
        batch_max = fabs((double)tr->x[i]) > batch_max ? fabs((double)tr->x[i]) : batch_max;
    double lr_min = r->a.lr;
    for (int i = 0; i < r->sched.n; i++) lr_min = r->sched.lr[i] < lr_min ? r->sched.lr[i] : lr_min;
    int first_step = vae_steps_taken(r->m) == 0, tiny = lr <= 1e-5, lowest = r->sched.n > 1 && lr <= lr_min;
    char why[512], lr_note[96] = "";
    if (lr > 0.01 && !first_step) snprintf(lr_note, sizeof lr_note, " The learning rate (--lr %g) is high too: try a smaller one.", lr);
    if (batch_max > 1e4)
        snprintf(why, sizeof why, "The batch holds values up to %g (the data's largest: %g): scale the data (to [0, 1], "
                 "or to mean 0 and variance 1) before training.%s", batch_max, data_max_abs(&r->train), lr_note);
    else if (first_step)
        snprintf(why, sizeof why, "It happened before any update, so the learning rate is not the cause: check the data "
                 "for extreme values.");
    else if (tiny || lowest)
        snprintf(why, sizeof why, "The learning rate is already %s (--lr %g), so it is an unlikely cause: check the data "
                 "for extreme values, or try a larger --adam-eps.", tiny ? "very small" : "the lowest of the schedule", lr);
    else
        snprintf(why, sizeof why, "A learning rate too high (--lr %g) is the usual cause: try a smaller one.", lr);
    cli_error("train", "%s; stopping. %s holds the last good checkpoint. %s", vae_last_error(), r->model_path, why);
}

/* A signal stopped the epoch: save where it stands, so --resume continues from this batch. */
static int save_on_signal(train_run *r, int epoch) {
    if (isatty(2)) fputc('\n', stderr);
    vae_status st = vae_train_state_save(&r->tr, r->state_path, &r->meta);
    if (!st) st = vae_checkpoint_save(r->m, r->model_path, &r->meta);
    if (st) {
        cli_error("train", "stopped, but saving failed: %s", vae_last_error());
        return EXIT_FAIL;
    }
    fprintf(stderr, "vae train: stopped by signal %d in epoch %d (batch %d of %d); saved %s. Continue with: vae "
            "train --data %s --out %s --resume --epochs %d\n", stop_sig(), epoch, r->tr.next_batch,
            vae_trainer_batches(&r->tr), r->state_path, r->a.data, r->a.out, r->a.epochs);
    return 128 + stop_sig();
}

/* After an epoch: the model, the curve, metrics.jsonl (one more line, the file rewritten atomically), the
 * training state (every --save-every epochs) and the summary line on stdout. */
static int epoch_report(train_run *r, int epoch, double t0, double train_loss, const vae_eval_result *te,
                        const vae_eval_result *va, double comm_seconds) {
    const train_args *a = &r->a;
    double train_seconds = r->tr.train_seconds;
    vae_status st = vae_checkpoint_save(r->m, r->model_path, &r->meta);
    if (!st && a->val > 0) st = early_stop_update(&r->es, epoch, va->loss, r->m, &r->meta, &r->stop_early);
    if (st) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_FAIL;
    }
    if (curve_add(&r->cv, epoch, train_loss, te->loss, a->val > 0 ? va->loss : NAN) ||
        curve_draw(&r->cv, r->curve_path, a->val > 0)) {
        cli_error("train", "%s: %s", r->curve_path, vae_last_error());
        return EXIT_FAIL;
    }
    diag_result dg = {0}; // latent diagnostics of the test set (VAEs only)
    if (!r->cfg.ae && diag_compute(r->m, &r->test, r->test.n, r->eval_batch, strcmp(a->binarize, "dynamic") == 0,
                                   r->test_bin_seed, r->eval_x, r->eval_labels, &dg)) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_FAIL;
    }
    double seconds = vae_now() - t0;
    size_t cap = 1024 + 16 * (size_t)r->cfg.n_latent;
    char *line = vae_malloc(cap), n[6][32];
    if (!line) {
        diag_free(&dg);
        cli_error("train", "out of memory");
        return EXIT_FAIL;
    }
    int len = snprintf(line, cap, "{\"epoch\": %d, \"train_loss\": %s, \"test_loss\": %s, \"test_recon\": %s, "
                       "\"test_kl\": %s", epoch, cli_json_number(n[0], "%.6f", train_loss),
                       cli_json_number(n[1], "%.6f", te->loss), cli_json_number(n[2], "%.6f", te->recon),
                       cli_json_number(n[3], "%.6f", te->kl));
    if (a->val > 0) len += snprintf(line + len, cap - (size_t)len, ", \"val_loss\": %s",
                                    cli_json_number(n[4], "%.6f", va->loss));
    if (!r->cfg.ae) len += diag_json_str(line + len, cap - (size_t)len, &dg);
    diag_free(&dg);
    len += snprintf(line + len, cap - (size_t)len, ", \"seconds\": %.3f, \"train_seconds\": %.3f, "
                    "\"images_per_s\": %s, \"ranks\": %d", seconds, train_seconds,
                    cli_json_number(n[5], "%.1f", r->n_train / train_seconds), r->size);
    if (r->size > 1) len += snprintf(line + len, cap - (size_t)len, ", \"comm_seconds\": %.3f", comm_seconds);
    snprintf(line + len, cap - (size_t)len, "}\n");
    int bad = metrics_append(r, line);
    vae_mem_free(line);
    if (bad) {
        cli_error("train", "out of memory");
        return EXIT_FAIL;
    }
    if (vae__atomic_write_file(r->metrics_path, r->metrics, r->metrics_len)) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_FAIL;
    }
    if (tracking_epoch(&r->trk, r->metrics_path, r->csv_path, epoch, r->m, &r->test)) return EXIT_FAIL;
    // The training state comes after the epoch's metrics line: a run killed before the state is written
    // resumes from the previous state and redoes the epoch (--resume drops metrics lines past the state's
    // epoch), so metrics.jsonl never misses an epoch. (`seconds` thus leaves out this one write.)
    if (epoch % a->save_every == 0 || epoch == a->epochs || stop_signal || r->stop_early) {
        st = vae_train_state_save(&r->tr, r->state_path, &r->meta);
        if (st) {
            cli_error("train", "%s", vae_last_error());
            return EXIT_FAIL;
        }
    }
    printf("epoch %d/%d  train_loss %.3f  test_loss %.3f (recon %.3f, kl %.3f)", epoch, a->epochs, train_loss, te->loss,
           te->recon, te->kl);
    if (a->val > 0) printf("  val_loss %.3f", va->loss);
    printf("  %.1f s  %.0f img/s\n", seconds, r->n_train / train_seconds);
    fflush(stdout);
    return EXIT_OK;
}

/* Every rank runs the loop; rank 0 alone writes the files and the report (vae-mpi: the ranks agree on each
 * stop, and a failure that the others cannot know of ends them all). */
static int train_loop(train_run *r) {
    const train_args *a = &r->a;
    vae_trainer *tr = &r->tr;
    int binarize = strcmp(a->binarize, "dynamic") == 0;
    install_signals();
    print_header(r);
    if (tr->epoch >= a->epochs && r->rank == 0)
        fprintf(stderr, "vae train: the run already has %d epochs (--epochs %d)\n", tr->epoch, a->epochs);
    r->stop_early = vae__dist_any(early_stop_exhausted(&r->es, tr->epoch)); // es is rank 0's
    if (r->stop_early && tr->epoch < a->epochs && r->rank == 0)
        fprintf(stderr, "vae train: the run already stopped early: no better val_loss in the %d epochs after epoch %d "
                "(--patience %d)\n", tr->epoch - r->es.best_epoch, r->es.best_epoch, a->patience);
    while (tr->epoch < a->epochs && !r->stop_early) {
        int epoch = tr->epoch + 1;
        vae_train_opts opts;
        vae_train_opts_default(&opts);
        opts.lr = (float)vae_lr_at(&r->sched, epoch, a->lr);
        opts.adam_eps = (float)a->adam_eps;
        opts.iwae_k = a->iwae_k;
        opts.free_bits = (float)a->free_bits;
        opts.tc_beta = (float)a->tc_beta;
        opts.dataset_size = r->n_train;
        opts.clip_grad = (float)a->clip_grad;
        opts.weight_decay = (float)a->weight_decay;
        double t0 = vae_now() - (tr->next_batch > 0 ? tr->train_seconds : 0); // a resumed epoch keeps its earlier time
        progress_state ps = {epoch, a->epochs, isatty(2), a->batch, 4 * tr->next_batch / vae_trainer_batches(tr), vae_now(),
                             getenv("VAE_BENCH_FIRST_STEP") != NULL, &r->trk, &r->m->step};
        r->trk.sum_before = tr->next_batch > 0 ? tr->loss_sum : 0.0;
        vae_status st = vae_trainer_run_epoch(tr, &opts, r->rank == 0 ? progress : NULL, &ps, &stop_signal);
        if (st == VAE_ERR_NAN) { // every rank sees it at the same step; rank 0 speaks for all
            if (r->rank == 0) report_divergence(r, opts.lr);
            return EXIT_FAIL;
        }
        if (st) {
            cli_error(r->who, "%s", vae_last_error());
            if (r->size > 1) vae__dist_abort(EXIT_FAIL); // the other ranks wait for this one: end them all
            return EXIT_FAIL;
        }
        if (tr->epoch < epoch) // stopped by a signal inside the epoch (every rank after the same step); rank 0 saves
            return r->rank > 0 ? 128 + stop_sig() : save_on_signal(r, epoch);
        double train_loss = tr->loss_sum / vae_trainer_batches(tr);
        double comm_seconds = vae__dist_take_comm_seconds(); // the steps' sums, before evaluation's
        vae_eval_result te, va = {0};
        st = vae_evaluate_parallel(vae__dist_comm(), r->m, &r->test, 0, r->test.n, r->eval_batch, 0x7e57ULL, binarize,
                                   r->test_bin_seed, r->eval_x, r->eval_labels, &te);
        if (!st && a->val > 0)
            st = vae_evaluate_parallel(vae__dist_comm(), r->m, &r->train, r->n_train, a->val, r->eval_batch, 0x7a1ULL,
                                       binarize, r->test_bin_seed + 1, r->eval_x, r->eval_labels, &va);
        if (st) {
            cli_error(r->who, "%s", vae_last_error());
            if (r->size > 1) vae__dist_abort(EXIT_FAIL);
            return EXIT_FAIL;
        }
        if (r->size > 1 && !vae__dist_check_replicas(r->m, &tr->rng, epoch)) return EXIT_FAIL;
        if (r->rank == 0) { // rank 0 owns every file and the report
            if (r->size > 1) vae__dist_comm_report(comm_seconds, tr->train_seconds, a->batch, r->size);
            int rc = epoch_report(r, epoch, t0, train_loss, &te, &va, comm_seconds);
            if (rc && r->size > 1) vae__dist_abort(rc);
            if (rc) return rc;
        }
        if (vae__dist_any(stop_signal)) { // the signal came during evaluation or writing: everything is saved
            if (r->rank == 0)
                fprintf(stderr, "vae train: stopped by signal %d after epoch %d; saved %s. Continue with: vae train "
                        "--data %s --out %s --resume --epochs %d\n", stop_sig(), epoch, r->state_path, a->data, a->out,
                        a->epochs);
            return 128 + stop_sig();
        }
        r->stop_early = vae__dist_any(r->stop_early); // rank 0 decides; every rank stops after the same epoch
        if (r->stop_early && r->rank == 0)
            fprintf(stderr, "vae train: early stop after epoch %d: no better val_loss in %d epochs (--patience); the "
                    "best, %.3f at epoch %d, is in %s\n", epoch, a->patience, r->es.best, r->es.best_epoch, r->es.path);
    }
    return EXIT_OK;
}

static void train_run_free(train_run *r, int before_work_failed) {
    tracking_close(&r->trk);
    curve_free(&r->cv);
    vae_mem_free(r->metrics);
    vae_mem_free(r->eval_x);
    vae_mem_free(r->eval_labels);
    vae_trainer_free(&r->tr);
    vae_free(r->m);
    vae_dataset_free(&r->train);
    vae_dataset_free(&r->test);
    if (before_work_failed && r->created) { // leave no empty folder behind a refused run
        char lock[4200];
        join(lock, sizeof lock, r->a.out, VAE_LOCK_FILE);
        unlink(lock);
        rmdir(r->a.out);
    }
    vae__run_unlock(r->lock_fd);
}

/* vae train: the steps above in order. Failures before the loop are bad usage or input (exit 2, and a run
 * folder made by this run is removed again); the loop's are failures during work (exit 1). */
static int train_command(int argc, char **argv) {
    train_run *r = vae_calloc(1, sizeof *r);
    if (!r) {
        cli_error("train", "out of memory");
        return EXIT_FAIL;
    }
    r->lock_fd = -1;
    r->rank = vae__dist_rank(), r->size = vae__dist_size();
    snprintf(r->who, sizeof r->who, r->size > 1 ? "train (rank %d)" : "train", r->rank);
    int rc = train_parse(r, argc, argv), working = 0; // (the same argv on every rank: the same result)
    if (rc < 0) {
        rc = EXIT_OK; // --help printed
    } else if (!rc) {
        rc = run_folder_open(r); // rank 0's folder: its refusal stops every rank
        if (vae__dist_any(rc != EXIT_OK) && !rc) rc = EXIT_USAGE;
        if (!rc && r->a.resume) rc = resume_reconcile(r);
        if (!rc) {
            cli_set_threads(r->a.threads);
            rc = vae__tool_set_engine("train", flag_find(r->flags, "--engine")->given ? r->engine : NULL);
            if (!rc && !(rc = train_load_data(r)) && !(rc = train_build(r))) {
                working = 1; // from here failures exit 1
                rc = train_loop(r);
            }
        }
    }
    train_run_free(r, rc != EXIT_OK && !working);
    vae_mem_free(r);
    return rc;
}

/* vae-mpi: every rank joins the job first and leaves it last, whatever train_command returns; ranks but 0 print
 * nothing on stdout (rank 0 reports for all). */
static int cmd_train(int argc, char **argv) {
    if (vae__dist_init(&argc, &argv)) {
        cli_error("train", "could not join the MPI job (MPI_Init failed)");
        return EXIT_FAIL;
    }
    if (vae__dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return EXIT_FAIL;
    int rc = train_command(argc, argv);
    vae__dist_finalize();
    return rc;
}

/* ---------------------------------------------------------------- eval */

/* --per-image: index,label,loss,recon,kl (and nll when nll is not NULL), one row per image, atomically. */
static int eval_write_per_image(const char *path, const vae_dataset *ds, int n, const float *loss, const float *recon,
                                const float *kl, const float *nll) {
    vae__atomic af;
    if (vae__atomic_open(&af, path)) {
        cli_error("eval", "--per-image %s", vae_last_error());
        return EXIT_FAIL;
    }
    fprintf(af.f, "index,label,loss,recon,kl%s\n", nll ? ",nll" : "");
    for (int i = 0; i < n; i++) {
        fprintf(af.f, "%d,%d,%.6f,%.6f,%.6f", i, ds->labels ? ds->labels[i] : -1, loss[i], recon[i], kl[i]);
        if (nll) fprintf(af.f, ",%.6f", nll[i]);
        fputc('\n', af.f);
    }
    if (vae__atomic_commit(&af)) {
        cli_error("eval", "--per-image %s", vae_last_error());
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* The figures as one strict JSON object on stdout: a figure that is not finite is null, and the reason goes
 * to stderr (EXIT_FAIL). */
static int eval_print(const vae_eval_result *r, int iwae_k, const vae_dataset *ds, const diag_result *dg) {
    char num[4][32];
    printf("{\"n\": %d, \"loss\": %s, \"recon\": %s, \"kl\": %s", r->n, cli_json_number(num[0], "%.6f", r->loss),
           cli_json_number(num[1], "%.6f", r->recon), cli_json_number(num[2], "%.6f", r->kl));
    if (iwae_k > 0) printf(", \"iwae_k\": %d, \"nll\": %s", iwae_k, cli_json_number(num[3], "%.6f", r->nll));
    if (dg) diag_json(stdout, dg); // the latent diagnostics (VAEs)
    printf("}\n");
    if (isfinite(r->loss) && isfinite(r->recon) && isfinite(r->kl) && (iwae_k == 0 || isfinite(r->nll))) return EXIT_OK;
    double mx = data_max_abs(ds);
    char why[128] = "", nll_text[48] = "";
    if (mx > 1e4) snprintf(why, sizeof why, "; the data holds values up to %g, too large for the model", mx);
    if (iwae_k > 0) snprintf(nll_text, sizeof nll_text, ", nll %g", r->nll);
    cli_error("eval", "not finite: loss %g, recon %g, kl %g%s (printed as null)%s", r->loss, r->recon, r->kl, nll_text, why);
    return EXIT_FAIL;
}

static int cmd_eval(int argc, char **argv) {
    const char *model_path, *data, *split, *per_image, *engine;
    int n, threads, iwae_k;
    flag_spec flags[] = {{"--model", FLAG_STRING, &model_path, "", "checkpoint (model.safetensors)", .required = 1},
                         {"--data", FLAG_STRING, &data, "", "data folder", .required = 1},
                         {"--split", FLAG_CHOICE, &split, "test", "which split", .choices = "test|train"},
                         {"--n", FLAG_INT, &n, "0", "evaluate the first N images (0: all)", 0, 1 << 30},
                         {"--iwae-k", FLAG_INT, &iwae_k, "0",
                          "also estimate -log p(x) with k importance samples per image (0: off)", 0, 1 << 20},
                         {"--per-image", FLAG_STRING, &per_image, "",
                          "write index,label,loss,recon,kl (and nll with --iwae-k) per image to CSV"},
                         {"--threads", FLAG_INT, &threads, "0", "threads (0: one per core)", 0, 1024},
                         VAE_TOOL_ENGINE_FLAG(engine),
                         {NULL}};
    int rc = flags_parse("eval", "--model CKPT --data DIR [flags]", flags, argc, argv);
    if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
    cli_set_threads(threads);
    if ((rc = vae__tool_set_engine("eval", flag_find(flags, "--engine")->given ? engine : NULL))) return rc;
    // images per batch; with --iwae-k the k samples of one image are decoded together (up to 8192 rows)
    const int batch = 1000, rows = iwae_k > batch ? (iwae_k < 8192 ? iwae_k : 8192) : batch;
    vae_model *m = NULL;
    vae_meta meta;
    vae_dataset ds;
    if ((rc = cli_load_model("eval", model_path, rows, &m, &meta))) return rc;
    if (iwae_k > 0 && vae_get_config(m)->ae) {
        cli_error("eval", "--iwae-k: %s is a plain autoencoder; the importance-weighted bound needs a VAE", model_path);
        vae_free(m);
        return EXIT_USAGE;
    }
    if ((rc = cli_load_data("eval", data, split, m, &ds))) {
        vae_free(m);
        return rc;
    }
    rc = EXIT_USAGE;
    float *x = NULL, *loss = NULL, *recon = NULL, *kl = NULL, *nll = NULL;
    int *labels = NULL;
    if (n > ds.n) {
        cli_error("eval", "--n %d: the %s split holds only %d images", n, split, ds.n);
        goto done;
    }
    if (n == 0) n = ds.n;
    const char *bin = vae_meta_get(&meta, "binarize"), *bin_seed = vae_meta_get(&meta, "binarize_seed");
    int binarize = bin && strcmp(bin, "dynamic") == 0;
    uint64_t seed = bin_seed ? strtoull(bin_seed, NULL, 10) : 0;
    if (strcmp(split, "train") == 0) seed += 2; // a stream apart from the test set's and the validation set's
    if (per_image && cli_check_output("eval", "--per-image", per_image, model_path, data)) goto done;
    rc = EXIT_FAIL;
    x = vae_malloc((size_t)batch * ds.dim * sizeof(float));
    labels = vae_malloc(batch * sizeof(int));
    if (per_image) {
        loss = vae_malloc((size_t)n * sizeof(float));
        recon = vae_malloc((size_t)n * sizeof(float));
        kl = vae_malloc((size_t)n * sizeof(float));
        if (iwae_k > 0) nll = vae_malloc((size_t)n * sizeof(float));
    }
    if (!x || !labels || (per_image && (!loss || !recon || !kl || (iwae_k > 0 && !nll)))) {
        cli_error("eval", "out of memory");
        goto done;
    }
    vae_eval_result r;
    vae_status st =
        vae_evaluate(m, &ds, 0, n, batch, 0x7e57ULL, binarize, seed, x, labels, loss, recon, kl, iwae_k, nll, &r);
    if (st) {
        cli_error("eval", "%s", vae_last_error());
        goto done;
    }
    if (per_image && eval_write_per_image(per_image, &ds, n, loss, recon, kl, iwae_k > 0 ? nll : NULL)) goto done;
    diag_result dg = {0}; // latent diagnostics (VAEs only)
    if (!vae_get_config(m)->ae && diag_compute(m, &ds, n, batch, binarize, seed, x, labels, &dg)) {
        cli_error("eval", "%s", vae_last_error());
        goto done;
    }
    int bad = eval_print(&r, iwae_k, &ds, vae_get_config(m)->ae ? NULL : &dg);
    diag_free(&dg);
    if (bad) goto done;
    rc = EXIT_OK;
done:
    vae_mem_free(x), vae_mem_free(labels), vae_mem_free(loss), vae_mem_free(recon), vae_mem_free(kl);
    vae_mem_free(nll);
    vae_dataset_free(&ds);
    vae_free(m);
    return rc;
}

/* ---------------------------------------------------------------- main */

/* In an ASan build (make debug, make test), LeakSanitizer reads these: fontconfig (under cairo's text)
 * keeps its caches for the life of the process by design, which is not a leak of ours. Unused otherwise. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a VAE (or --ae autoencoder) on a data folder"},
    {"eval", cmd_eval, "negative ELBO of a checkpoint on a data split, as JSON"},
    EXTRA_COMMANDS
    {NULL, NULL, NULL}};

static void usage(FILE *f) {
    fprintf(f, "usage: vae COMMAND [flags]   (vae COMMAND --help lists a command's flags and defaults)\n"
               "       vae --version\n\ncommands:\n");
    for (const command *c = commands; c->name; c++) fprintf(f, "  %-12s %s\n", c->name, c->summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vae %s (libvae %s)\n", VAE_VERSION_STRING, vae_version());
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--man") == 0) { // the vae(1) page from the same flag tables (tools/man.c)
        vae__man_begin();
        for (const command *c = commands; c->name; c++) vae__man_command(c->name, c->summary, c->run);
        return vae__man_end();
    }
    for (const command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0) return cli_finish_stdout(c->name, c->run(argc - 2, argv + 2));
    fprintf(stderr, "vae: unknown command '%s' (see vae --help)\n", argv[1]);
    return EXIT_USAGE;
}
