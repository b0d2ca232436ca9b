/* early_stop.c: best.safetensors and --patience for `vae train` (see early_stop.h). */
#include "early_stop.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

void early_stop_init(early_stop *e, int patience, const char *run_dir) {
    memset(e, 0, sizeof *e);
    e->patience = patience;
    e->best = INFINITY;
    snprintf(e->path, sizeof e->path, "%s/%s", run_dir, BEST_FILE);
}

void early_stop_resume(early_stop *e, const char *metrics_jsonl, int upto_epoch) {
    FILE *f = fopen(metrics_jsonl, "r");
    if (!f) return;
    char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(o, "epoch"), *v = cJSON_GetObjectItemCaseSensitive(o, "val_loss");
        if (cJSON_IsNumber(ep) && cJSON_IsNumber(v) && ep->valueint <= upto_epoch && v->valuedouble < e->best) {
            e->best = v->valuedouble;
            e->best_epoch = ep->valueint;
        }
        cJSON_Delete(o);
    }
    fclose(f);
}

int early_stop_exhausted(const early_stop *e, int epoch) {
    return e->patience > 0 && e->best_epoch > 0 && epoch - e->best_epoch >= e->patience;
}

vae_status early_stop_update(early_stop *e, int epoch, double val_loss, const vae_model *m, const vae_meta *meta,
                             int *stop) {
    *stop = 0;
    if (val_loss < e->best) {
        vae_status st = vae_checkpoint_save(m, e->path, meta);
        if (st) return st;
        e->best = val_loss;
        e->best_epoch = epoch;
    }
    *stop = early_stop_exhausted(e, epoch);
    return VAE_OK;
}
