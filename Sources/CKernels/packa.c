// packa.c — packing of the fp32 GEMM's A block into the micro-kernel's mr-tall panels, by in-register
// transposes. Panel r holds, for each k index p, the mr values A[r·mr + i, p] contiguously (rows past
// mc are zero). The source rows are contiguous in p, the panel is contiguous in i: a transpose. Done
// one element at a time (the Swift loop this replaces) it cost ~6% of a 512³ GEMM on Zen 4 — 14
// strided loads and 14 stores per k index, the 14 row offsets spilled to the stack.
//
// Vector paths (compile time, by the build's target CPU; the running CPU is the build's, see
// Package.swift):
// - mr = 14 with AVX-512: 16 rows (14 + 2 zero) × 16 k values are loaded as 16 zmm, transposed
//   (unpack ps, unpack pd, two 128-bit lane shuffles: 64 shuffles for 224 values), and each column
//   stored as 14 floats.
// - mr = 6 with AVX2: 8 rows (6 + 2 zero) × 8 k values as 8 ymm, transposed (24 shuffles), each
//   column stored as 6 floats.
// Every other case (SSE's mr = 4, builds without these ISAs, the k tail shorter than one block) is the
// scalar loop. Each column is stored as full vectors in increasing p order: a store's two surplus
// lanes land on the next column's first two floats, which the next store overwrites; the last
// column of a block is stored exactly, so nothing is written past the panel.
#include "ckernels.h"

#if defined(__x86_64__) && (defined(__AVX512F__) || defined(__AVX2__))
#include <immintrin.h>
#endif

/// Columns [p0, kc) of one panel, one element at a time; rows at and past `rows` are zero.
static void pack_columns_scalar(const float *restrict src, int64_t lda, int64_t rows, int64_t mr, int64_t p0,
                                int64_t kc, float *restrict out) {
    for (int64_t p = p0; p < kc; p++) {
        float *restrict o = out + p * mr;
        for (int64_t i = 0; i < rows; i++) o[i] = src[i * lda + p];
        for (int64_t i = rows; i < mr; i++) o[i] = 0;
    }
}

#if defined(__x86_64__) && defined(__AVX512F__)
/// One 14-row panel: 16-column blocks transposed in zmm registers, the tail column by column.
static void pack_panel_14_avx512(const float *restrict src, int64_t lda, int64_t rows, int64_t kc,
                                 float *restrict out) {
    const float *rp[16];
    for (int i = 0; i < 16; i++) rp[i] = i < rows ? src + i * lda : NULL;
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = rp[i] ? _mm512_loadu_ps(rp[i] + p) : _mm512_setzero_ps();
        // 1. interleave row pairs' floats.
        __m512 t[16];
        for (int i = 0; i < 8; i++) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // 2. interleave pairs of pairs (as doubles): each 128-bit lane now holds one column of 4 rows.
        for (int i = 0; i < 4; i++) {
            __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
            __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
            r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
            r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
            r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
            r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
        }
        // r[4·g + c]: 128-bit lane l holds column 4·l + c of rows 4·g ..< 4·g + 4 (c in 0..<4, in
        // the order lo/lo, hi/lo, lo/hi, hi/hi of the two unpacks: columns 0, 1, 2, 3 of the lane).
        // 3. gather, per column c, the lanes of the four row groups: first rows 0–7 / 8–15 pairwise,
        // then across.
        for (int c = 0; c < 4; c++) {
            __m512 g0 = r[c], g1 = r[4 + c], g2 = r[8 + c], g3 = r[12 + c];
            __m512 lo01 = _mm512_shuffle_f32x4(g0, g1, 0x88);  // lanes 0, 2 of g0; 0, 2 of g1
            __m512 hi01 = _mm512_shuffle_f32x4(g0, g1, 0xdd);  // lanes 1, 3 of g0; 1, 3 of g1
            __m512 lo23 = _mm512_shuffle_f32x4(g2, g3, 0x88);
            __m512 hi23 = _mm512_shuffle_f32x4(g2, g3, 0xdd);
            t[c] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);       // lane 0 of each group: column c
            t[8 + c] = _mm512_shuffle_f32x4(lo01, lo23, 0xdd);   // lane 2: column 8 + c
            t[4 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);   // lane 1: column 4 + c
            t[12 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0xdd);  // lane 3: column 12 + c
        }
        float *o = out + p * 14;
        for (int j = 0; j < 15; j++) _mm512_storeu_ps(o + j * 14, t[j]);
        _mm512_mask_storeu_ps(o + 15 * 14, (__mmask16)0x3fff, t[15]);
    }
    pack_columns_scalar(src, lda, rows, 14, p, kc, out);
}
#endif

#if defined(__x86_64__) && defined(__AVX2__)
/// One 6-row panel: 8-column blocks transposed in ymm registers, the tail column by column.
static void pack_panel_6_avx2(const float *restrict src, int64_t lda, int64_t rows, int64_t kc,
                              float *restrict out) {
    const float *rp[8];
    for (int i = 0; i < 8; i++) rp[i] = i < rows ? src + i * lda : NULL;
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = rp[i] ? _mm256_loadu_ps(rp[i] + p) : _mm256_setzero_ps();
        __m256 t[8];
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // Per 128-bit lane, rows 4·g ..< 4·g + 4 of columns (lane·4 + c).
        for (int g = 0; g < 2; g++) {
            __m256 a = t[4 * g], b = t[4 * g + 1], c = t[4 * g + 2], d = t[4 * g + 3];
            r[4 * g] = _mm256_shuffle_ps(a, c, 0x44);      // column 0 (and 4 in the high lane)
            r[4 * g + 1] = _mm256_shuffle_ps(a, c, 0xee);  // column 1 (5)
            r[4 * g + 2] = _mm256_shuffle_ps(b, d, 0x44);  // column 2 (6)
            r[4 * g + 3] = _mm256_shuffle_ps(b, d, 0xee);  // column 3 (7)
        }
        for (int c = 0; c < 4; c++) {
            t[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);      // column c: rows 0–3, 4–7
            t[4 + c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);  // column 4 + c
        }
        float *o = out + p * 6;
        for (int j = 0; j < 7; j++) _mm256_storeu_ps(o + j * 6, t[j]);
        _mm_storeu_ps(o + 7 * 6, _mm256_castps256_ps128(t[7]));
        _mm_storel_pi((__m64 *)(o + 7 * 6 + 4), _mm256_extractf128_ps(t[7], 1));
    }
    pack_columns_scalar(src, lda, rows, 6, p, kc, out);
}
#endif

void fb_pack_a_panels(const float *src, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float *dst) {
    for (int64_t i0 = 0; i0 < mc; i0 += mr) {
        int64_t rows = mc - i0 < mr ? mc - i0 : mr;
        const float *s = src + i0 * lda;
        float *out = dst + i0 * kc;
#if defined(__x86_64__) && defined(__AVX512F__)
        if (mr == 14) { pack_panel_14_avx512(s, lda, rows, kc, out); continue; }
#endif
#if defined(__x86_64__) && defined(__AVX2__)
        if (mr == 6) { pack_panel_6_avx2(s, lda, rows, kc, out); continue; }
#endif
        pack_columns_scalar(s, lda, rows, mr, 0, kc, out);
    }
}
