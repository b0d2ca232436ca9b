/* regularize.c: what vae_step_apply may do to the gradient and the parameters around Adam's update.
 *
 *   clip_grad c > 0      the global norm ||g|| = sqrt(sum_i g_i^2) over the whole flat gradient buffer; when it
 *                        exceeds c, g *= c / ||g|| (torch.nn.utils.clip_grad_norm_)
 *   weight_decay w > 0   decoupled weight decay (AdamW, Loshchilov and Hutter 2019): p *= 1 - lr w before the
 *                        Adam step, on every parameter (torch.optim.AdamW with one parameter group)
 */
#include <math.h>

#include "model.h"
#include "objective.h"

double vae__clip_grad_norm(vae_model *m, float max_norm) {
    float *g = m->grads;
    size_t n = m->n_params;
    double ss = 0.0;
    #pragma omp parallel for simd reduction(+ : ss) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    if (norm > max_norm) {
        float f = (float)(max_norm / norm);
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) g[i] *= f;
    }
    return norm;
}

void vae__decay_weights(vae_model *m, float lr, float weight_decay) {
    float f = 1.0f - lr * weight_decay, *p = m->params;
    size_t n = m->n_params;
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) p[i] *= f;
}
