/* optim.c: Adam over the model's one flat parameter buffer (gradients and both moments share its layout).
 * The update is PyTorch's torch.optim.Adam (no weight decay, no amsgrad):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
#include <math.h>

#include "model.h"

void vae_adam_step(vae_model *m, float lr, float beta1, float beta2, float eps) {
    m->step++;
    float bc1 = 1.0f - powf(beta1, (float)m->step);
    float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)m->step));
    float step_size = lr / bc1;
    float *p = m->params, *g = m->grads, *mm = m->adam_m, *vv = m->adam_v;
    size_t n = m->n_params;
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        mm[i] = beta1 * mm[i] + (1.0f - beta1) * g[i];
        vv[i] = beta2 * vv[i] + (1.0f - beta2) * g[i] * g[i];
        p[i] -= step_size * mm[i] / (sqrtf(vv[i]) / bc2_sqrt + eps);
    }
}
