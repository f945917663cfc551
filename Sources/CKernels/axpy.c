// axpy.c — out = a·x + y over n floats: the tiny kernel behind the plug-in overhead figure. The
// same file is compiled into fusebench (this target) and, by tools/plugin-overhead, into a plug-in,
// so the two sides of that measurement run identical machine code apart from how they are called.
#include "ckernels.h"

void fb_axpy(float a, const float *restrict x, const float *restrict y, float *restrict out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a * x[i] + y[i];
}
