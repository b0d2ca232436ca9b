/* tracking.c: metrics.csv and TensorBoard logging for `vae train` (see tracking.h). */
#include "tracking.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "common.h"
#include "fileio.h"
#include "image.h"
#include "pictures_lib.h"

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The whole file as a NUL-terminated string (NULL when it cannot be read); *n its length. */
static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *q = vae_realloc(s, cap);
            if (!q) {
                vae_mem_free(s);
                fclose(f);
                return NULL;
            }
            s = q;
        }
        got = fread(s + len, 1, 4096, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        vae_mem_free(s);
        return NULL;
    }
    s[len] = '\0';
    *n = len;
    return s;
}

/* ---------------------------------------------------------------- metrics.csv */

typedef struct {
    char key[64];
    int index;             /* element of an array value, or -1 for a number */
} csv_column;

static int add_columns(csv_column **cols, int *n, int *cap, const cJSON *obj) {
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next) {
        int len = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : (cJSON_IsNumber(it) ? 1 : 0);
        for (int i = 0; i < len; i++) {
            int idx = cJSON_IsArray(it) ? i : -1, seen = 0;
            for (int c = 0; c < *n && !seen; c++) seen = (*cols)[c].index == idx && strcmp((*cols)[c].key, it->string) == 0;
            if (seen) continue;
            if (*n == *cap) {
                int nc = *cap ? 2 * *cap : 64;
                csv_column *q = vae_realloc(*cols, (size_t)nc * sizeof *q);
                if (!q) return -1;
                *cols = q, *cap = nc;
            }
            snprintf((*cols)[*n].key, sizeof (*cols)[*n].key, "%s", it->string);
            (*cols)[(*n)++].index = idx;
        }
    }
    return 0;
}

static void write_rows(FILE *f, const csv_column *cols, int n_cols, cJSON *const *lines, int n_lines) {
    for (int c = 0; c < n_cols; c++)
        cols[c].index < 0 ? fprintf(f, c ? ",%s" : "%s", cols[c].key) : fprintf(f, c ? ",%s_%d" : "%s_%d", cols[c].key, cols[c].index);
    fputc('\n', f);
    for (int l = 0; l < n_lines; l++) {
        for (int c = 0; c < n_cols; c++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(lines[l], cols[c].key);
            if (v && cols[c].index >= 0) v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, cols[c].index) : NULL;
            if (c) fputc(',', f);
            if (cJSON_IsNumber(v)) fprintf(f, "%.9g", v->valuedouble);
        }
        fputc('\n', f);
    }
}

vae_status metrics_csv_write(const char *jsonl, const char *csv) {
    size_t len = 0;
    char *text = read_file(jsonl, &len);
    if (!text) return vae_fail(VAE_ERR_IO, "%s: cannot read: %s", jsonl, strerror(errno));
    int n_lines = 0, n_cols = 0, cap = 0;
    for (size_t i = 0; i < len; i++) n_lines += text[i] == '\n';
    cJSON **lines = vae_calloc((size_t)n_lines + 1, sizeof *lines);
    csv_column *cols = NULL;
    vae_status st = lines ? VAE_OK : vae_fail(VAE_ERR_NOMEM, "out of memory");
    int k = 0;
    for (char *p = text, *nl; !st && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) nl = p + strlen(p) - 1;
        *nl = '\0';
        if (!*p) continue;
        if (!(lines[k] = cJSON_Parse(p)) || add_columns(&cols, &n_cols, &cap, lines[k]))
            st = vae_fail(VAE_ERR_FORMAT, "%s: line %d is not a JSON object", jsonl, k + 1);
        k++;
    }
    vae__atomic af; // the one atomic writer (fileio.h): temporary file, fsync, rename, folder fsync
    if (!st) st = vae__atomic_open(&af, csv);
    if (!st) {
        write_rows(af.f, cols, n_cols, lines, k);
        st = vae__atomic_commit(&af);
    }
    for (int i = 0; lines && i < k; i++) cJSON_Delete(lines[i]);
    vae_mem_free(lines), vae_mem_free(cols), vae_mem_free(text);
    return st;
}

/* ---------------------------------------------------------------- TensorBoard */

int tracking_open(tracking *t, const char *dir, int every) {
    memset(t, 0, sizeof *t);
    if (!dir) return EXIT_OK;
    t->dir = dir;
    t->every = every;
    if (vae_tb_open(&t->tb, dir, wall_now())) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_USAGE;
    }
    t->on = 1;
    return EXIT_OK;
}

static void tracking_failed(tracking *t) {
    if (!t->failed) fprintf(stderr, "vae train: --tensorboard: %s (no more events are written)\n", vae_last_error());
    t->failed = 1;
}

void tracking_step(tracking *t, long step, int batch_in_epoch, double loss_sum) {
    double loss = loss_sum - t->sum_before;
    t->sum_before = loss_sum;
    if (!t->on || t->failed || step % t->every != 0) return;
    if (vae_tb_scalar(&t->tb, "step/train_loss", step, wall_now(), (float)loss)) tracking_failed(t);
}

/* Log a mosaic as a PNG image event. */
static vae_status log_mosaic(tracking *t, const char *tag, int epoch, vae_status built, const vae_mosaic *mo) {
    if (built) return built;
    uint8_t *png = NULL;
    size_t n = 0;
    vae_status st = vae_mosaic_png(tag, &png, &n, mo->cells, mo->n, mo->cols, mo->h, mo->w, mo->c,
                                   vae_mosaic_auto_scale(mo->h, mo->w), VAE_MOSAIC_BORDER);
    if (!st && n < 24) st = vae_fail(VAE_ERR_FORMAT, "%s: PNG of %zu bytes", tag, n);
    if (!st) {
        int width = png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19]; // IHDR, big-endian
        int height = png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
        st = vae_tb_image(&t->tb, tag, epoch, wall_now(), png, n, height, width, mo->c);
    }
    vae_mem_free(png);
    return st;
}

int tracking_epoch(tracking *t, const char *metrics_jsonl, const char *metrics_csv, int epoch, vae_model *m,
                   const vae_dataset *test) {
    if (metrics_csv_write(metrics_jsonl, metrics_csv)) {
        cli_error("train", "%s", vae_last_error());
        return EXIT_FAIL;
    }
    t->sum_before = 0.0;
    if (!t->on || t->failed) return EXIT_OK;
    size_t len = 0;
    char *text = read_file(metrics_jsonl, &len), *last = text;
    for (size_t i = 0; text && i + 1 < len; i++)
        if (text[i] == '\n') last = text + i + 1;
    cJSON *o = last ? cJSON_Parse(last) : NULL;
    vae_status st = o ? VAE_OK : vae_fail(VAE_ERR_FORMAT, "%s: cannot read the last line", metrics_jsonl);
    double wall = wall_now();
    char tag[96];
    for (const cJSON *it = o ? o->child : NULL; !st && it; it = it->next) {
        if (cJSON_IsNumber(it) && strcmp(it->string, "epoch") != 0) {
            snprintf(tag, sizeof tag, "epoch/%s", it->string);
            st = vae_tb_scalar(&t->tb, tag, epoch, wall, (float)it->valuedouble);
        }
        for (int i = 0; cJSON_IsArray(it) && !st && i < cJSON_GetArraySize(it); i++) {
            snprintf(tag, sizeof tag, "%s/%d", it->string, i);
            st = vae_tb_scalar(&t->tb, tag, epoch, wall, (float)cJSON_GetArrayItem(it, i)->valuedouble);
        }
    }
    cJSON_Delete(o);
    vae_mem_free(text);
    vae_mosaic mo = {0};
    if (!st) st = log_mosaic(t, "samples", epoch, vae_picture_sample(m, 64, 1, -1, &mo), &mo);
    vae_mosaic_free(&mo);
    int n_recon = test->n < 16 ? test->n : 16;
    if (!st) st = log_mosaic(t, "reconstructions", epoch, vae_picture_recon(m, test, n_recon, n_recon < 8 ? n_recon : 8, &mo), &mo);
    vae_mosaic_free(&mo);
    if (!st) st = vae_tb_flush(&t->tb);
    if (st) tracking_failed(t);
    return EXIT_OK;
}

void tracking_close(tracking *t) {
    if (t->on && vae_tb_close(&t->tb) && !t->failed) tracking_failed(t);
}
