/* plugin.c — the example plug-in's description for fusebench (include/fusebench_plugin.h): two
 * kernels, each verified against fusebench's own reference of the same kind. */
#include "example_kernels.h"

#include <stdio.h>

/* The blocked SGEMM needs nothing from the shape; refuse what would not fit a 32-bit index anyway,
 * to show how a plug-in refuses a shape with a message. */
static int32_t sgemm_check(const int64_t *shape, char *message, uint32_t message_size) {
    if (shape[0] * shape[1] > (int64_t)1 << 30 || shape[2] > 1 << 20) {
        snprintf(message, message_size, "m*n must be at most 2^30 and k at most 2^20");
        return 1;
    }
    return 0;
}

static const fb_variant sgemm_variants[] = {
    { .name = "blocked", .run = example_sgemm },
};

static const fb_variant softmax_variants[] = {
    { .name = "expf", .run = example_softmax },
};

static const fb_kernel kernels[] = {
    {
        .name = "example_sgemm",
        .summary = "SGEMM, four rows at a time, vectorized by the compiler",
        .verify_against = "gemm",
        .check_shape = sgemm_check,
        .variant_count = 1,
        .variants = sgemm_variants,
    },
    {
        .name = "example_softmax",
        .summary = "row softmax with libm expf",
        .verify_against = "softmax",
        .variant_count = 1,
        .variants = softmax_variants,
    },
};

static const fb_plugin plugin = {
    FUSEBENCH_PLUGIN_HEADER,
    .name = "example_kernels",
    .kernel_count = sizeof kernels / sizeof kernels[0],
    .kernels = kernels,
};

const fb_plugin *fusebench_plugin(void) { return &plugin; }
