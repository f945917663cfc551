/* softmax.c — the example plug-in's row softmax over the last axis of a rows×cols matrix
 * (fusebench's `softmax` layout, verified against fusebench's reference softmax). */
#include "example_kernels.h"

#include <math.h>

void example_softmax(const fb_args *args, void *state) {
    (void)state;
    const int64_t rows = args->shape[0], cols = args->shape[1]; /* softmax's keys: rows, cols */
    const float *x = args->inputs[0];
    float *y = args->output;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = xr[0];
        for (int64_t j = 1; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;
        float sum = 0;
        for (int64_t j = 0; j < cols; j++) {
            yr[j] = expf(xr[j] - mx);
            sum += yr[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < cols; j++) yr[j] *= inv;
    }
}
