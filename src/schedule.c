/* schedule.c: the schedules of a training run, in one place: the learning rate per epoch (--lr-schedule) and
 * the KL weight's linear warm-up per step (--kl-warmup). See vae.h. */
#include <errno.h>
#include <stdlib.h>

#include "common.h"
#include "vae.h"

vae_status vae_lr_schedule_parse(vae_lr_schedule *s, const char *spec) {
    if (!s || !spec) return vae_fail(VAE_ERR_ARG, "vae_lr_schedule_parse: %s is NULL", s ? "spec" : "schedule");
    s->n = 0;
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long e = strtol(p, &end, 10);
        if (errno || end == p || *end != ':' || e < 1 || e > 1000000 || s->n == VAE_LR_SCHEDULE_MAX) goto bad;
        p = end + 1;
        double lr = strtod(p, &end);
        if (end == p || !(lr > 0 && lr < 10) || (*end && *end != ',')) goto bad;
        s->epochs[s->n] = (int)e;
        s->lr[s->n++] = lr;
        p = *end ? end + 1 : end;
        if (*end && !*p) goto bad;
    }
    return VAE_OK;
bad:
    s->n = 0;
    return vae_fail(VAE_ERR_ARG, "'%s' is not a list of at most %d EPOCHS:RATE pairs such as 1:1e-3,3:7.2e-4",
                    spec, VAE_LR_SCHEDULE_MAX);
}

double vae_lr_at(const vae_lr_schedule *s, int epoch, double fallback) {
    if (!s || s->n == 0) return fallback;
    int e = 0;
    for (int i = 0; i < s->n; i++) {
        e += s->epochs[i];
        if (epoch <= e) return s->lr[i];
    }
    return s->lr[s->n - 1];
}

float vae_kl_weight_at(float beta, long warmup_steps, long step) {
    if (warmup_steps > 0 && step < warmup_steps) return beta * (float)((double)step / (double)warmup_steps);
    return beta;
}
