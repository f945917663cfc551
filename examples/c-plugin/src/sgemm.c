/* sgemm.c — the example plug-in's SGEMM: C = A·B, row-major, A m×k, B k×n, C m×n (fusebench's
 * `gemm` layout, so fusebench verifies it against its own reference GEMM). Four rows of C at a time,
 * the inner loop over a row of B: with -O3 -march=native the compiler turns it into AVX2 FMAs. */
#include "example_kernels.h"

#include <string.h>

/* C[i..i+3][:] += A[i..i+3][kk] * B[kk][:], for one panel of k. */
static void rows4(const float *restrict a, const float *restrict b, float *restrict c, int64_t n, int64_t k) {
    float *restrict c0 = c, *restrict c1 = c + n, *restrict c2 = c + 2 * n, *restrict c3 = c + 3 * n;
    for (int64_t p = 0; p < k; p++) {
        const float a0 = a[p], a1 = a[k + p], a2 = a[2 * k + p], a3 = a[3 * k + p];
        const float *restrict brow = b + p * n;
        for (int64_t j = 0; j < n; j++) {
            const float bj = brow[j];
            c0[j] += a0 * bj;
            c1[j] += a1 * bj;
            c2[j] += a2 * bj;
            c3[j] += a3 * bj;
        }
    }
}

static void row1(const float *restrict a, const float *restrict b, float *restrict c, int64_t n, int64_t k) {
    for (int64_t p = 0; p < k; p++) {
        const float ap = a[p];
        const float *restrict brow = b + p * n;
        for (int64_t j = 0; j < n; j++) c[j] += ap * brow[j];
    }
}

void example_sgemm(const fb_args *args, void *state) {
    (void)state;
    const int64_t m = args->shape[0], n = args->shape[1], k = args->shape[2]; /* gemm's keys: m, n, k */
    const float *a = args->inputs[0], *b = args->inputs[1];
    float *c = args->output;
    memset(c, 0, (size_t)(m * n) * sizeof(float));
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) rows4(a + i * k, b, c + i * n, n, k);
    for (; i < m; i++) row1(a + i * k, b, c + i * n, n, k);
}
