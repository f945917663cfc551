// qgemm.c owns the int8×int8→int32 GEMM of Kernels' `gemm_int8` and the edge int8 model, with an
// optional fused epilogue, in three code paths chosen at run time: AVX-512 VNNI (`vpdpbusd`), AVX2
// (`vpmaddubsw` + `vpmaddwd`) and portable scalar C. It also owns the vectorizable input quantizer.
//
// C[m×n] = A[m×k]·Wᵀ, A and W signed int8 row-major, W [n×k], values in [-127, 127] (-128 is never
// produced by the quantizer; the AVX2 sign trick below relies on W ≠ -128).
//
// Packing (shared by all paths): W is packed once into panels of 32 output channels; inside a panel,
// for every group of 4 k values, 32 channels × 4 bytes = 128 bytes, channel `lane` at byte
// 4·lane + b. k and n are zero-padded. corr[j] = 128·Σ_k W[j,k] (used by the VNNI path only).
//
// AVX-512 VNNI path: vpdpbusd multiplies unsigned bytes by signed bytes, four per 32-bit lane. A is
// made unsigned by flipping its sign bit (a + 128); the extra 128·Σ_k W[j,k] is `corr`. Register tile
// 4 rows × 32 channels (8 zmm accumulators; per k group 2 W loads, 4 broadcasts, 8 vpdpbusd). Rows
// left over (m mod 4, and m = 1 for per-image inference) use a 1-row tile over up to 4 panels
// (128 channels, 8 independent accumulators), so a single row does not pay for a 4-row tile and
// still has 8 independent dependency chains. Compiled only when the build target has AVX-512 VNNI
// (a build for an AVX2 CPU, e.g. `.build-sim` for valgrind, contains no AVX-512 instruction).
//
// AVX2 path: vpmaddubsw (u8 × s8 → pairwise-summed int16, saturating) would saturate with
// u8 = a + 128 (2·255·127 > 32767). The sign trick keeps it exact: |a| (unsigned) × sign(w, a)
// (w negated where a < 0, zeroed where a = 0), so each int16 pair sum is at most 2·127·127 = 32258.
// vpmaddwd with ones then adds pairs into int32. When a block of A has no negative value (post-ReLU
// activations, quantized pixels: every layer of the digits MLP) A is used as the unsigned operand
// directly and the sign step is skipped — exact as well. Register tile 4 rows × 16 channels (8 ymm
// accumulators); leftover rows use a 1-row tile over up to 2 panels. Compiled on every x86-64 build
// with `target("avx2")`, so an AVX-512 build contains — and its tests exercise — the AVX2 path too.
//
// Fused epilogue (`fb_qgemm_fused`), per register tile while the accumulators are in registers:
// y = float(acc) · scale[j] + bias[j] (separate multiply and add, no FMA contraction), ReLU as
// `0 >= y ? 0 : y`, then either int8 q = clamp(roundHalfEven(y · out_scale_inv), -127, 127) or
// float y. This is bit-identical to the Swift reference epilogue (`Int8Epilogue.reference`).
//
// Dispatch: the best compiled path whose instructions the running CPU has (`fb_qgemm_available`);
// `fb_qgemm_on` / `fb_qgemm_fused_on` run an explicit path (tests cover every compiled path).
#include "ckernels.h"
#include "cperfevent.h"
#include <string.h>
#include <math.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define FB_HAVE_AVX2 1
// Not "no-avx512f": clang's headers then refuse the 256-bit intrinsics in AVX-512 builds. In an
// AVX-512 build the compiler may encode these functions' instructions with EVEX (same semantics).
#define FB_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__AVX512VNNI__) && defined(__AVX512F__) && defined(__AVX512BW__)
#define FB_HAVE_VNNI 1
#endif
#endif

#define FB_AI static inline __attribute__((always_inline))

enum { FB_MODE_I32 = 0, FB_MODE_I8 = 1, FB_MODE_F32 = 2 };

/// One GEMM call: operands, packed weights and what the epilogue writes.
typedef struct fb_job {
    const int8_t *a;
    int64_t m, k, n;
    const int8_t *packed;
    const int32_t *corr;
    int mode;
    const float *scale, *bias;
    float inv;
    int relu;
    int32_t *out_i;
    int8_t *out_q;
    float *out_f;
} fb_job;

static inline int64_t fb_panels(int64_t n) { return (n + 31) / 32; }
/// Rows per block of the 4-row tiles: the block of A (rows × k bytes) stays in L1 (~16 KB) while
/// every panel of W passes over it (k = 64: 256 rows; k = 512: 32 rows).
static inline int64_t fb_row_block(int64_t k) {
    int64_t rows = (16384 / (k > 0 ? k : 1)) & ~(int64_t)3;
    return rows < 4 ? 4 : rows;
}
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
            packed[(p * G + g) * 128 + lane * 4 + b] = w[j * k + kk];
            s += w[j * k + kk];
        }
        corr[j] = 128 * s;
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar epilogue pieces (also the definition the vector paths reproduce).

static inline float fb_roundeven(float x) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_roundevenf)
    return __builtin_roundevenf(x);
#else
    return nearbyintf(x);  // the default rounding mode is round-half-even
#endif
#else
    return nearbyintf(x);
#endif
}

/// clamp(roundHalfEven(t), -127, 127) (clamping first gives the same result).
// Inputs are finite: weights, biases and scales come from loaders that reject NaN / infinity and
// from calibration (positive scales). A NaN would be undefined behaviour in the cast below, and the
// vector paths' max/convert would map it differently, so it must not get here.
static inline int8_t fb_to_i8(float t) {
    t = t < -127.0f ? -127.0f : t;
    t = t > 127.0f ? 127.0f : t;
    return (int8_t)(int32_t)fb_roundeven(t);
}

static inline void fb_scalar_out(const fb_job *J, int64_t i, int64_t j, int32_t acc) {
    const int64_t off = i * J->n + j;
    if (J->mode == FB_MODE_I32) { J->out_i[off] = acc; return; }
    float y = (float)acc * J->scale[j];
    y = y + J->bias[j];
    if (J->relu) y = 0.0f >= y ? 0.0f : y;
    if (J->mode == FB_MODE_F32) { J->out_f[off] = y; return; }
    float t = y * J->inv;
    J->out_q[off] = fb_to_i8(t);
}

/// Reads k group g of a row (bytes 4g..4g+3), zero-padding past k.
static inline uint32_t fb_load4(const int8_t *a, int64_t g, int64_t k) {
    uint32_t v = 0;
    int64_t rem = k - 4 * g;
    memcpy(&v, a + 4 * g, rem >= 4 ? 4 : (size_t)rem);
    return v;
}

// Kernel entry points are external, never-inlined symbols so that `tools/check-int8-isa` can find and
// disassemble each path in a binary.
__attribute__((noinline)) void fb_qgemm_kernel_scalar(const fb_job *J);
__attribute__((noinline)) void fb_qgemm_kernel_scalar(const fb_job *J) {
    const int64_t G = fb_groups(J->k);
    for (int64_t i = 0; i < J->m; i++) {
        const int8_t *ar = J->a + i * J->k;
        for (int64_t j = 0; j < J->n; j++) {
            const int8_t *wp = J->packed + (j / 32) * G * 128 + (j % 32) * 4;
            int32_t s = 0;
            for (int64_t kk = 0; kk < J->k; kk++) s += (int32_t)ar[kk] * (int32_t)wp[(kk / 4) * 128 + kk % 4];
            fb_scalar_out(J, i, j, s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI path.
#ifdef FB_HAVE_VNNI

/// Per-panel epilogue operands: correction, scales, bias and the valid-channel masks.
typedef struct v512_consts {
    __m512i c0, c1;
    __m512 s0, s1, b0, b1;
    __mmask16 m0, m1;
} v512_consts;

FB_AI v512_consts v512_load_consts(const fb_job *J, const int mode, int64_t col) {
    int64_t valid = J->n - col;
    if (valid > 32) valid = 32;
    v512_consts c;
    c.m0 = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    c.m1 = valid > 16 ? (__mmask16)((1u << (valid - 16)) - 1) : (__mmask16)0;
    c.c0 = _mm512_maskz_loadu_epi32(c.m0, J->corr + col);
    c.c1 = _mm512_maskz_loadu_epi32(c.m1, J->corr + col + 16);
    if (mode != FB_MODE_I32) {
        c.s0 = _mm512_maskz_loadu_ps(c.m0, J->scale + col);
        c.s1 = _mm512_maskz_loadu_ps(c.m1, J->scale + col + 16);
        c.b0 = _mm512_maskz_loadu_ps(c.m0, J->bias + col);
        c.b1 = _mm512_maskz_loadu_ps(c.m1, J->bias + col + 16);
    } else {
        c.s0 = c.s1 = c.b0 = c.b1 = _mm512_setzero_ps();
    }
    return c;
}

FB_AI void v512_half(const fb_job *J, const int mode, int64_t off, __mmask16 msk, __m512i acc, __m512i corr,
                     __m512 s, __m512 b) {
    __m512i v = _mm512_sub_epi32(acc, corr);
    if (mode == FB_MODE_I32) { _mm512_mask_storeu_epi32(J->out_i + off, msk, v); return; }
    __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), s), b);
    if (J->relu) y = _mm512_max_ps(y, _mm512_setzero_ps());  // y > 0 ? y : 0, like Swift's max(y, 0)
    if (mode == FB_MODE_F32) { _mm512_mask_storeu_ps(J->out_f + off, msk, y); return; }
    __m512 t = _mm512_mul_ps(y, _mm512_set1_ps(J->inv));
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    __m512i q = _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_cvtepi32_storeu_epi8(J->out_q + off, msk, q);  // vpmovdb: values already in [-127, 127]
}

FB_AI void v512_row(const fb_job *J, const int mode, const v512_consts *c, int64_t row, int64_t col, __m512i a0,
                    __m512i a1) {
    const int64_t off = row * J->n + col;
    v512_half(J, mode, off, c->m0, a0, c->c0, c->s0, c->b0);
    if (c->m1) v512_half(J, mode, off + 16, c->m1, a1, c->c1, c->s1, c->b1);
}

FB_AI __m512i v512_bcast(const int8_t *a, int64_t g) {
    uint32_t x;
    memcpy(&x, a + 4 * g, 4);
    return _mm512_set1_epi32((int)(x ^ 0x80808080u));
}

FB_AI __m512i v512_bcast_tail(const int8_t *a, int64_t g, int64_t k) {
    // Padding bytes become 0x80 (= 0 after the +128 shift is undone by corr) times zero-padded W.
    return _mm512_set1_epi32((int)(fb_load4(a, g, k) ^ 0x80808080u));
}

/// 4 rows × 32 channels (one panel).
FB_AI void v512_tile4(const fb_job *J, const int mode, const v512_consts *c, int64_t p, int64_t i) {
    const int64_t k = J->k, G = fb_groups(k), kfull = k / 4;
    const int8_t *wp = J->packed + p * G * 128;
    const int8_t *a0 = J->a + i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
    __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
    __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
    __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
    int64_t g = 0;
#define FB_V512_STEP(B0, B1, B2, B3)                                                                     \
    do {                                                                                                 \
        __m512i w0 = _mm512_loadu_si512(wp + g * 128), w1 = _mm512_loadu_si512(wp + g * 128 + 64);        \
        __m512i b0 = (B0), b1 = (B1), b2 = (B2), b3 = (B3);                                              \
        c00 = _mm512_dpbusd_epi32(c00, b0, w0); c01 = _mm512_dpbusd_epi32(c01, b0, w1);                   \
        c10 = _mm512_dpbusd_epi32(c10, b1, w0); c11 = _mm512_dpbusd_epi32(c11, b1, w1);                   \
        c20 = _mm512_dpbusd_epi32(c20, b2, w0); c21 = _mm512_dpbusd_epi32(c21, b2, w1);                   \
        c30 = _mm512_dpbusd_epi32(c30, b3, w0); c31 = _mm512_dpbusd_epi32(c31, b3, w1);                   \
    } while (0)
    for (; g < kfull; g++) FB_V512_STEP(v512_bcast(a0, g), v512_bcast(a1, g), v512_bcast(a2, g), v512_bcast(a3, g));
    if (g < G)
        FB_V512_STEP(v512_bcast_tail(a0, g, k), v512_bcast_tail(a1, g, k), v512_bcast_tail(a2, g, k),
                     v512_bcast_tail(a3, g, k));
#undef FB_V512_STEP
    const int64_t col = p * 32;
    v512_row(J, mode, c, i + 0, col, c00, c01);
    v512_row(J, mode, c, i + 1, col, c10, c11);
    v512_row(J, mode, c, i + 2, col, c20, c21);
    v512_row(J, mode, c, i + 3, col, c30, c31);
}

/// 1 row × NP panels (NP ≤ 4: up to 128 channels, 2·NP independent accumulators).
FB_AI void v512_row1(const fb_job *J, const int mode, int64_t i, int64_t p0, const int NP) {
    const int64_t k = J->k, G = fb_groups(k), kfull = k / 4;
    const int8_t *ar = J->a + i * k;
    const int8_t *wp = J->packed + p0 * G * 128;
    __m512i acc[4][2];
    for (int q = 0; q < NP; q++) acc[q][0] = acc[q][1] = _mm512_setzero_si512();
    int64_t g = 0;
    for (; g < kfull; g++) {
        __m512i b = v512_bcast(ar, g);
        for (int q = 0; q < NP; q++) {
            const int8_t *w = wp + (q * G + g) * 128;
            acc[q][0] = _mm512_dpbusd_epi32(acc[q][0], b, _mm512_loadu_si512(w));
            acc[q][1] = _mm512_dpbusd_epi32(acc[q][1], b, _mm512_loadu_si512(w + 64));
        }
    }
    if (g < G) {
        __m512i b = v512_bcast_tail(ar, g, k);
        for (int q = 0; q < NP; q++) {
            const int8_t *w = wp + (q * G + g) * 128;
            acc[q][0] = _mm512_dpbusd_epi32(acc[q][0], b, _mm512_loadu_si512(w));
            acc[q][1] = _mm512_dpbusd_epi32(acc[q][1], b, _mm512_loadu_si512(w + 64));
        }
    }
    for (int q = 0; q < NP; q++) {
        v512_consts c = v512_load_consts(J, mode, (p0 + q) * 32);
        v512_row(J, mode, &c, i, (p0 + q) * 32, acc[q][0], acc[q][1]);
    }
}

FB_AI void v512_run_mode(const fb_job *J, const int mode) {
    const int64_t P = fb_panels(J->n), m4 = J->m & ~(int64_t)3;
    const int64_t MB = fb_row_block(J->k);
    for (int64_t i0 = 0; i0 < m4; i0 += MB) {
        const int64_t iend = i0 + MB < m4 ? i0 + MB : m4;
        for (int64_t p = 0; p < P; p++) {
            v512_consts c = v512_load_consts(J, mode, p * 32);
            for (int64_t i = i0; i < iend; i += 4) v512_tile4(J, mode, &c, p, i);
        }
    }
    for (int64_t i = m4; i < J->m; i++) {
        for (int64_t p0 = 0; p0 < P; p0 += 4) {
            switch (P - p0 >= 4 ? 4 : P - p0) {
            case 4: v512_row1(J, mode, i, p0, 4); break;
            case 3: v512_row1(J, mode, i, p0, 3); break;
            case 2: v512_row1(J, mode, i, p0, 2); break;
            default: v512_row1(J, mode, i, p0, 1); break;
            }
        }
    }
}

__attribute__((noinline)) void fb_qgemm_kernel_avx512vnni(const fb_job *J);
__attribute__((noinline)) void fb_qgemm_kernel_avx512vnni(const fb_job *J) {
    switch (J->mode) {
    case FB_MODE_I32: v512_run_mode(J, FB_MODE_I32); break;
    case FB_MODE_I8: v512_run_mode(J, FB_MODE_I8); break;
    default: v512_run_mode(J, FB_MODE_F32); break;
    }
}
#endif  // FB_HAVE_VNNI

// ---------------------------------------------------------------------------------------------
// AVX2 path (vpmaddubsw + vpmaddwd with the sign trick).
#ifdef FB_HAVE_AVX2
#define FB_A2 static inline __attribute__((always_inline)) FB_TARGET_AVX2

/// Σ over 4 bytes per int32 lane of a·w, exact: |a| × sign(w, a) pairs, then pairs of pairs. With
/// `unsig` (every a ≥ 0, e.g. post-ReLU activations), a is already a valid unsigned operand and
/// the sign step is skipped (pair sums still ≤ 2·127·127).
FB_A2 __m256i v256_dot(__m256i acc, __m256i ua, __m256i a, __m256i w, __m256i ones, const int unsig) {
    __m256i p = unsig ? _mm256_maddubs_epi16(a, w) : _mm256_maddubs_epi16(ua, _mm256_sign_epi8(w, a));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
}

/// Whether all n bytes of x are ≥ 0.
FB_A2 int v256_nonneg(const int8_t *x, int64_t n) {
    __m256i any = _mm256_setzero_si256();
    int64_t b = 0;
    for (; b + 32 <= n; b += 32) any = _mm256_or_si256(any, _mm256_loadu_si256((const __m256i *)(const void *)(x + b)));
    int neg = _mm256_movemask_epi8(any) != 0;
    for (; b < n; b++) neg |= x[b] < 0;
    return !neg;
}

/// Epilogue of 8 channels [col, col + 8) of one row (channels ≥ n are not written).
FB_A2 void v256_chunk(const fb_job *J, const int mode, int64_t row, int64_t col, __m256i acc) {
    int64_t valid = J->n - col;
    if (valid <= 0) return;
    const int64_t off = row * J->n + col;
    const int full = valid >= 8;
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(full ? 8 : valid)),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if (mode == FB_MODE_I32) {
        if (full) _mm256_storeu_si256((__m256i *)(void *)(J->out_i + off), acc);
        else _mm256_maskstore_epi32((int *)(J->out_i + off), lanes, acc);
        return;
    }
    __m256 s = full ? _mm256_loadu_ps(J->scale + col) : _mm256_maskload_ps(J->scale + col, lanes);
    __m256 b = full ? _mm256_loadu_ps(J->bias + col) : _mm256_maskload_ps(J->bias + col, lanes);
    __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), s), b);
    if (J->relu) y = _mm256_max_ps(y, _mm256_setzero_ps());  // y > 0 ? y : 0
    if (mode == FB_MODE_F32) {
        if (full) _mm256_storeu_ps(J->out_f + off, y);
        else _mm256_maskstore_ps(J->out_f + off, lanes, y);
        return;
    }
    __m256 t = _mm256_mul_ps(y, _mm256_set1_ps(J->inv));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    t = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i q = _mm256_cvttps_epi32(t);  // exact: t is already an integer in [-127, 127]
    __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    __m128i q8 = _mm_packs_epi16(q16, q16);
    if (full) {
        _mm_storel_epi64((__m128i *)(void *)(J->out_q + off), q8);
    } else {
        int64_t bytes = _mm_cvtsi128_si64(q8);
        memcpy(J->out_q + off, &bytes, (size_t)valid);
    }
}

FB_A2 __m256i v256_bcast(const int8_t *a, int64_t g) {
    int32_t x;
    memcpy(&x, a + 4 * g, 4);
    return _mm256_set1_epi32(x);
}

/// One k group of a 4-row × 16-channel tile; a = broadcast A bytes, ua = their absolute values.
FB_A2 void v256_step4(__m256i acc[4][2], const int8_t *w, const __m256i a[4], const __m256i ua[4], __m256i ones,
                      const int unsig) {
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)w);
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(w + 32));
    for (int r = 0; r < 4; r++) {
        acc[r][0] = v256_dot(acc[r][0], ua[r], a[r], w0, ones, unsig);
        acc[r][1] = v256_dot(acc[r][1], ua[r], a[r], w1, ones, unsig);
    }
}

/// 4 rows × 16 channels (half h of panel p). With `u` non-NULL, |A| of these rows is read from u
/// (rows at stride k, precomputed once per row block) instead of being recomputed per broadcast:
/// on Zen 3 vpabsb competes with vpsignb / vpmaddubsw / vpmaddwd for the same two pipes. With
/// `unsig` (these rows have no negative value) neither |A| nor the sign step is needed.
FB_A2 void v256_tile4(const fb_job *J, const int mode, int64_t p, int h, int64_t i, const int8_t *u, const int unsig) {
    const int64_t k = J->k, G = fb_groups(k), kfull = k / 4;
    const int8_t *wp = J->packed + p * G * 128 + h * 64;
    const int8_t *a0 = J->a + i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4][2];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    int64_t g = 0;
    if (unsig) {
        for (; g < kfull; g++) {
            const __m256i a[4] = {v256_bcast(a0, g), v256_bcast(a1, g), v256_bcast(a2, g), v256_bcast(a3, g)};
            v256_step4(acc, wp + g * 128, a, a, ones, 1);
        }
    } else if (u) {
        const int8_t *u0 = u, *u1 = u0 + k, *u2 = u1 + k, *u3 = u2 + k;
        for (; g < kfull; g++) {
            const __m256i a[4] = {v256_bcast(a0, g), v256_bcast(a1, g), v256_bcast(a2, g), v256_bcast(a3, g)};
            const __m256i ua[4] = {v256_bcast(u0, g), v256_bcast(u1, g), v256_bcast(u2, g), v256_bcast(u3, g)};
            v256_step4(acc, wp + g * 128, a, ua, ones, 0);
        }
    } else {
        for (; g < kfull; g++) {
            const __m256i a[4] = {v256_bcast(a0, g), v256_bcast(a1, g), v256_bcast(a2, g), v256_bcast(a3, g)};
            const __m256i ua[4] = {_mm256_abs_epi8(a[0]), _mm256_abs_epi8(a[1]), _mm256_abs_epi8(a[2]), _mm256_abs_epi8(a[3])};
            v256_step4(acc, wp + g * 128, a, ua, ones, 0);
        }
    }
    if (g < G) {  // k not a multiple of 4: A zero-padded (sign(w, 0) = 0), W zero-padded
        const __m256i a[4] = {_mm256_set1_epi32((int)fb_load4(a0, g, k)), _mm256_set1_epi32((int)fb_load4(a1, g, k)),
                              _mm256_set1_epi32((int)fb_load4(a2, g, k)), _mm256_set1_epi32((int)fb_load4(a3, g, k))};
        const __m256i ua[4] = {_mm256_abs_epi8(a[0]), _mm256_abs_epi8(a[1]), _mm256_abs_epi8(a[2]), _mm256_abs_epi8(a[3])};
        v256_step4(acc, wp + g * 128, a, ua, ones, unsig);
    }
    const int64_t col = p * 32 + h * 16;
    if (mode == FB_MODE_I32 && col + 16 <= J->n) {
        // The plain int32 output of a full tile: eight stores, the accumulators straight from registers.
        const int64_t n = J->n;  // read once: the vector stores may alias *J
        int32_t *o = J->out_i + i * n + col;
        for (int r = 0; r < 4; r++, o += n) {
            _mm256_storeu_si256((__m256i *)(void *)o, acc[r][0]);
            _mm256_storeu_si256((__m256i *)(void *)(o + 8), acc[r][1]);
        }
        return;
    }
    for (int r = 0; r < 4; r++) {
        v256_chunk(J, mode, i + r, col, acc[r][0]);
        v256_chunk(J, mode, i + r, col + 8, acc[r][1]);
    }
}

/// One k group of a 1-row × NP-panel tile.
FB_A2 void v256_step1(__m256i acc[2][4], const int8_t *w, int64_t pstride, __m256i a, __m256i ones, const int NP,
                      const int unsig) {
    __m256i ua = unsig ? a : _mm256_abs_epi8(a);
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 4; v++)
            acc[q][v] = v256_dot(acc[q][v], ua, a,
                                 _mm256_loadu_si256((const __m256i *)(const void *)(w + q * pstride + 32 * v)), ones, unsig);
}

/// 1 row × NP panels (NP ≤ 2: up to 64 channels, 4·NP accumulators).
FB_A2 void v256_row1(const fb_job *J, const int mode, int64_t i, int64_t p0, const int NP, const int unsig) {
    const int64_t k = J->k, G = fb_groups(k), kfull = k / 4;
    const int8_t *ar = J->a + i * k;
    const int8_t *wp = J->packed + p0 * G * 128;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[2][4];
    for (int q = 0; q < 2; q++) acc[q][0] = acc[q][1] = acc[q][2] = acc[q][3] = _mm256_setzero_si256();
    int64_t g = 0;
    for (; g < kfull; g++) v256_step1(acc, wp + g * 128, G * 128, v256_bcast(ar, g), ones, NP, unsig);
    if (g < G) v256_step1(acc, wp + g * 128, G * 128, _mm256_set1_epi32((int)fb_load4(ar, g, k)), ones, NP, unsig);
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 4; v++) v256_chunk(J, mode, i, (p0 + q) * 32 + 8 * v, acc[q][v]);
}

FB_A2 void v256_run_mode(const fb_job *J, const int mode) {
    const int64_t P = fb_panels(J->n), m4 = J->m & ~(int64_t)3;
    const int64_t MB = fb_row_block(J->k);
    // |A| of one row block, computed once and reused by every panel (when the block fits).
    int8_t absA[16384] __attribute__((aligned(32)));
    for (int64_t i0 = 0; i0 < m4; i0 += MB) {
        const int64_t iend = i0 + MB < m4 ? i0 + MB : m4;
        const int64_t bytes = (iend - i0) * J->k;
        const int8_t *blockA = J->a + i0 * J->k;
        const int unsig = v256_nonneg(blockA, bytes);
        const int pre = !unsig && bytes <= (int64_t)sizeof(absA);
        if (pre) {
            const int8_t *src = J->a + i0 * J->k;
            int64_t b = 0;
            for (; b + 32 <= bytes; b += 32)
                _mm256_store_si256((__m256i *)(void *)(absA + b),
                                   _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(src + b))));
            for (; b < bytes; b++) absA[b] = (int8_t)(src[b] < 0 ? -src[b] : src[b]);
        }
        for (int64_t p = 0; p < P; p++) {
            const int halves = J->n - p * 32 > 16 ? 2 : 1;
            for (int h = 0; h < halves; h++)
                for (int64_t i = i0; i < iend; i += 4) {
                    if (unsig) v256_tile4(J, mode, p, h, i, NULL, 1);
                    else v256_tile4(J, mode, p, h, i, pre ? absA + (i - i0) * J->k : NULL, 0);
                }
        }
    }
    for (int64_t i = m4; i < J->m; i++) {
        const int unsig = v256_nonneg(J->a + i * J->k, J->k);
        for (int64_t p0 = 0; p0 < P; p0 += 2) {
            if (unsig) {
                if (P - p0 >= 2) v256_row1(J, mode, i, p0, 2, 1);
                else v256_row1(J, mode, i, p0, 1, 1);
            } else {
                if (P - p0 >= 2) v256_row1(J, mode, i, p0, 2, 0);
                else v256_row1(J, mode, i, p0, 1, 0);
            }
        }
    }
}

__attribute__((noinline)) void fb_qgemm_kernel_avx2(const fb_job *J);
__attribute__((noinline)) FB_TARGET_AVX2 void fb_qgemm_kernel_avx2(const fb_job *J) {
    switch (J->mode) {
    case FB_MODE_I32: v256_run_mode(J, FB_MODE_I32); break;
    case FB_MODE_I8: v256_run_mode(J, FB_MODE_I8); break;
    default: v256_run_mode(J, FB_MODE_F32); break;
    }
}
#endif  // FB_HAVE_AVX2

// ---------------------------------------------------------------------------------------------
// Dispatch.

int fb_qgemm_path_compiled(int path) {
    switch (path) {
    case FB_QGEMM_SCALAR: return 1;
#ifdef FB_HAVE_AVX2
    case FB_QGEMM_AVX2: return 1;
#endif
#ifdef FB_HAVE_VNNI
    case FB_QGEMM_AVX512VNNI: return 1;
#endif
    default: return 0;
    }
}

// The host's ISA bits, read once (cpuid is not free, and this runs on every GEMM call, inside
// the timed iterations of the int8 model).
static uint32_t fb_host_isa_cached(void) {
    static uint32_t cached = 0;  // 0 = not read yet (a host has at least SSE4.2 here)
    uint32_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v == 0) {
        v = fb_isa_host() | 0x80000000u;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v & 0x7fffffffu;
}

int fb_qgemm_path_usable(int path) {
    if (!fb_qgemm_path_compiled(path)) return 0;
    const uint32_t host = fb_host_isa_cached();
    switch (path) {
    case FB_QGEMM_AVX2: return (host & FB_ISA_AVX2) != 0;
    case FB_QGEMM_AVX512VNNI: {
        const uint32_t need = FB_ISA_AVX512F | FB_ISA_AVX512BW | FB_ISA_AVX512VNNI;
        return (host & need) == need;
    }
    default: return 1;
    }
}

int fb_qgemm_available(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = fb_qgemm_path_usable(FB_QGEMM_AVX512VNNI) ? FB_QGEMM_AVX512VNNI
            : fb_qgemm_path_usable(FB_QGEMM_AVX2)     ? FB_QGEMM_AVX2
                                                      : FB_QGEMM_SCALAR;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

const char *fb_qgemm_path_name(int path) {
    switch (path) {
    case FB_QGEMM_AVX2: return "avx2";
    case FB_QGEMM_AVX512VNNI: return "avx512vnni";
    case FB_QGEMM_SCALAR: return "scalar";
    default: return "unknown";
    }
}

const char *fb_qgemm_isa(void) { return fb_qgemm_path_name(fb_qgemm_available()); }

static int fb_run(int path, const fb_job *J) {
    if (!fb_qgemm_path_usable(path)) return -1;
    if (J->m <= 0 || J->n <= 0) return 0;
    switch (path) {
#ifdef FB_HAVE_VNNI
    case FB_QGEMM_AVX512VNNI: fb_qgemm_kernel_avx512vnni(J); return 0;
#endif
#ifdef FB_HAVE_AVX2
    case FB_QGEMM_AVX2: fb_qgemm_kernel_avx2(J); return 0;
#endif
    default: fb_qgemm_kernel_scalar(J); return 0;
    }
}

int fb_qgemm_on(int path, const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n,
                int32_t *c) {
    fb_job J = {a, m, k, n, packed, corr, FB_MODE_I32, NULL, NULL, 0.0f, 0, c, NULL, NULL};
    return fb_run(path, &J);
}

void fb_qgemm(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n, int32_t *c) {
    (void)fb_qgemm_on(fb_qgemm_available(), a, m, k, packed, corr, n, c);
}

int fb_qgemm_fused_on(int path, const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr,
                      int64_t n, const float *scale, const float *bias, int relu, float out_scale_inv, int8_t *out_q,
                      float *out_f) {
    if ((out_q == NULL) == (out_f == NULL)) return -2;
    fb_job J = {a, m, k, n, packed, corr, out_q ? FB_MODE_I8 : FB_MODE_F32, scale, bias, out_scale_inv, relu != 0,
                NULL, out_q, out_f};
    return fb_run(path, &J);
}

void fb_qgemm_fused(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n,
                    const float *scale, const float *bias, int relu, float out_scale_inv, int8_t *out_q, float *out_f) {
    (void)fb_qgemm_fused_on(fb_qgemm_available(), a, m, k, packed, corr, n, scale, bias, relu, out_scale_inv, out_q,
                            out_f);
}

// Plain loop, vectorized by the compiler for the build's target (divide, round, clamp, narrow).
void fb_quantize_i8(const float *x, int64_t count, float prescale, float scale, int8_t *out) {
    for (int64_t i = 0; i < count; i++) {
        float v = x[i] * prescale;
        float t = v / scale;
        out[i] = fb_to_i8(t);
    }
}
