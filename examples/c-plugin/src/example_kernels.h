/* example_kernels.h — the kernels of the example plug-in (see plugin.c for their description). */
#ifndef EXAMPLE_KERNELS_H
#define EXAMPLE_KERNELS_H

#include "fusebench_plugin.h"

/** SGEMM, fusebench's `gemm` layout (A m×k, B k×n, C m×n, row-major). */
void example_sgemm(const fb_args *args, void *state);
/** Row softmax, fusebench's `softmax` layout (x and y rows×cols). */
void example_softmax(const fb_args *args, void *state);

#endif
