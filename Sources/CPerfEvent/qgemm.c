// int8×int8→int32 GEMM micro-kernel with AVX-512 VNNI (vpdpbusd), for Kernels' `gemm_int8` and the
// edge int8 model. C[m×n] = A[m×k]·Wᵀ, A and W signed int8 row-major, W [n×k].
//
// vpdpbusd multiplies unsigned bytes by signed bytes, four per 32-bit lane, and adds into the lane.
// A is made unsigned by flipping its sign bit (a + 128), and the extra 128·Σ_k W[j,k] is subtracted
// per output channel in the epilogue (`corr`). W is packed once into panels of 32 channels: for
// every group of 4 k values, 32 channels × 4 bytes = two zmm registers; k and n are zero-padded.
// The micro-kernel keeps 4 rows × 32 channels = 8 zmm accumulators; each k group costs 2 loads,
// 4 broadcasts and 8 vpdpbusd. Compiled only when the target has AVX-512 VNNI (else the functions
// report unavailability and Swift uses its own kernel).
#include "cperfevent.h"
#include <string.h>

#if defined(__AVX512VNNI__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define FB_QGEMM 1
#endif

int fb_qgemm_available(void) {
#ifdef FB_QGEMM
    return 1;
#else
    return 0;
#endif
}

static inline int64_t fb_panels(int64_t n) { return (n + 31) / 32; }
static inline int64_t fb_groups(int64_t k) { return (k + 3) / 4; }

int64_t fb_qgemm_packed_size(int64_t n, int64_t k) { return fb_panels(n) * fb_groups(k) * 128; }

void fb_qgemm_pack(const int8_t *w, int64_t n, int64_t k, int8_t *packed, int32_t *corr) {
    const int64_t G = fb_groups(k);
    memset(packed, 0, (size_t)fb_qgemm_packed_size(n, k));
    for (int64_t j = 0; j < n; j++) {
        int32_t s = 0;
        int64_t p = j / 32, lane = j % 32;
        for (int64_t kk = 0; kk < k; kk++) {
            int64_t g = kk / 4, b = kk % 4;
            // Panel p, group g: channels 0–15 in the first 64 bytes, 16–31 in the next 64.
            int64_t off = (p * G + g) * 128 + (lane / 16) * 64 + (lane % 16) * 4 + b;
            packed[off] = w[j * k + kk];
            s += w[j * k + kk];
        }
        corr[j] = 128 * s;
    }
}

#ifdef FB_QGEMM
static inline uint32_t fb_load4(const int8_t *a, int64_t g, int64_t k) {
    uint32_t v = 0;
    int64_t rem = k - 4 * g;
    memcpy(&v, a + 4 * g, rem >= 4 ? 4 : (size_t)rem);
    return v ^ 0x80808080u;  // padding bytes become 0x80, times zero-padded W: no contribution
}

static inline void fb_store(int32_t *c, int64_t ldc, int64_t col, int64_t n, __m512i v0, __m512i v1,
                            const int32_t *corr) {
    int32_t tmp[32];
    _mm512_storeu_si512(tmp, v0);
    _mm512_storeu_si512(tmp + 16, v1);
    int64_t valid = n - col < 32 ? n - col : 32;
    for (int64_t j = 0; j < valid; j++) c[j] = tmp[j] - corr[col + j];
    (void)ldc;
}
#endif

void fb_qgemm(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n, int32_t *c) {
#ifdef FB_QGEMM
    const int64_t G = fb_groups(k), P = fb_panels(n);
    const int64_t kfull = k / 4;  // groups readable with a plain 4-byte load
    for (int64_t p = 0; p < P; p++) {
        const int8_t *wp = packed + p * G * 128;
        int64_t i = 0;
        for (; i + 4 <= m; i += 4) {
            __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
            __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
            __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
            __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
            const int8_t *a0 = a + i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
            for (int64_t g = 0; g < G; g++) {
                __m512i w0 = _mm512_loadu_si512(wp + g * 128), w1 = _mm512_loadu_si512(wp + g * 128 + 64);
                uint32_t x0, x1, x2, x3;
                if (g < kfull) {
                    memcpy(&x0, a0 + 4 * g, 4); memcpy(&x1, a1 + 4 * g, 4);
                    memcpy(&x2, a2 + 4 * g, 4); memcpy(&x3, a3 + 4 * g, 4);
                    x0 ^= 0x80808080u; x1 ^= 0x80808080u; x2 ^= 0x80808080u; x3 ^= 0x80808080u;
                } else {
                    x0 = fb_load4(a0, g, k); x1 = fb_load4(a1, g, k); x2 = fb_load4(a2, g, k); x3 = fb_load4(a3, g, k);
                }
                __m512i b0 = _mm512_set1_epi32((int)x0), b1 = _mm512_set1_epi32((int)x1);
                __m512i b2 = _mm512_set1_epi32((int)x2), b3 = _mm512_set1_epi32((int)x3);
                c00 = _mm512_dpbusd_epi32(c00, b0, w0); c01 = _mm512_dpbusd_epi32(c01, b0, w1);
                c10 = _mm512_dpbusd_epi32(c10, b1, w0); c11 = _mm512_dpbusd_epi32(c11, b1, w1);
                c20 = _mm512_dpbusd_epi32(c20, b2, w0); c21 = _mm512_dpbusd_epi32(c21, b2, w1);
                c30 = _mm512_dpbusd_epi32(c30, b3, w0); c31 = _mm512_dpbusd_epi32(c31, b3, w1);
            }
            fb_store(c + (i + 0) * n + p * 32, n, p * 32, n, c00, c01, corr);
            fb_store(c + (i + 1) * n + p * 32, n, p * 32, n, c10, c11, corr);
            fb_store(c + (i + 2) * n + p * 32, n, p * 32, n, c20, c21, corr);
            fb_store(c + (i + 3) * n + p * 32, n, p * 32, n, c30, c31, corr);
        }
        for (; i < m; i++) {
            __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
            const int8_t *a0 = a + i * k;
            for (int64_t g = 0; g < G; g++) {
                __m512i b0 = _mm512_set1_epi32((int)fb_load4(a0, g, k));
                c0 = _mm512_dpbusd_epi32(c0, b0, _mm512_loadu_si512(wp + g * 128));
                c1 = _mm512_dpbusd_epi32(c1, b0, _mm512_loadu_si512(wp + g * 128 + 64));
            }
            fb_store(c + i * n + p * 32, n, p * 32, n, c0, c1, corr);
        }
    }
#else
    (void)a; (void)m; (void)k; (void)packed; (void)corr; (void)n; (void)c;
#endif
}
