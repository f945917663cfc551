// Scalar emulation of the AVX-512 intrinsics used by Sources/CKernels/qgemm.c's VNNI path, so that
// tools/check-int8-vnni-emulated can run that path on CPUs without AVX-512 VNNI (verification only:
// it checks the tiling, masks, k/n/m tails and epilogue logic, not the real instructions).
#include <stdint.h>
#include <string.h>
#include <math.h>
typedef struct { int32_t v[16]; } emu512i;
typedef struct { float v[16]; } emu512;
#define __m512i emu512i
#define __m512 emu512
static inline emu512i e_set1_epi32(int x) { emu512i r; for (int i = 0; i < 16; i++) r.v[i] = x; return r; }
static inline emu512i e_setzero_si512(void) { return e_set1_epi32(0); }
static inline emu512 e_set1_ps(float x) { emu512 r; for (int i = 0; i < 16; i++) r.v[i] = x; return r; }
static inline emu512 e_setzero_ps(void) { return e_set1_ps(0.0f); }
static inline emu512i e_loadu_si512(const void *p) { emu512i r; memcpy(r.v, p, 64); return r; }
static inline emu512i e_maskz_loadu_epi32(unsigned short m, const void *p) { emu512i r; for (int i = 0; i < 16; i++) r.v[i] = (m >> i & 1) ? ((const int32_t *)p)[i] : 0; return r; }
static inline emu512 e_maskz_loadu_ps(unsigned short m, const void *p) { emu512 r; for (int i = 0; i < 16; i++) r.v[i] = (m >> i & 1) ? ((const float *)p)[i] : 0.0f; return r; }
static inline emu512i e_sub_epi32(emu512i a, emu512i b) { for (int i = 0; i < 16; i++) a.v[i] = (int32_t)((uint32_t)a.v[i] - (uint32_t)b.v[i]); return a; }
static inline void e_mask_storeu_epi32(void *p, unsigned short m, emu512i a) { for (int i = 0; i < 16; i++) if (m >> i & 1) ((int32_t *)p)[i] = a.v[i]; }
static inline void e_mask_storeu_ps(void *p, unsigned short m, emu512 a) { for (int i = 0; i < 16; i++) if (m >> i & 1) ((float *)p)[i] = a.v[i]; }
static inline emu512 e_cvtepi32_ps(emu512i a) { emu512 r; for (int i = 0; i < 16; i++) r.v[i] = (float)a.v[i]; return r; }
static inline emu512 e_add_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) { volatile float t = a.v[i] + b.v[i]; a.v[i] = t; } return a; }
static inline emu512 e_mul_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) { volatile float t = a.v[i] * b.v[i]; a.v[i] = t; } return a; }
static inline emu512 e_max_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline emu512 e_min_ps(emu512 a, emu512 b) { for (int i = 0; i < 16; i++) a.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline emu512i e_cvt_roundps_epi32(emu512 a, int mode) { (void)mode; emu512i r; for (int i = 0; i < 16; i++) r.v[i] = (int32_t)nearbyintf(a.v[i]); return r; }
static inline void e_mask_cvtepi32_storeu_epi8(void *p, unsigned short m, emu512i a) { for (int i = 0; i < 16; i++) if (m >> i & 1) ((int8_t *)p)[i] = (int8_t)a.v[i]; }
static inline emu512i e_dpbusd_epi32(emu512i acc, emu512i u, emu512i s) {
    for (int i = 0; i < 16; i++) { const uint8_t *ub = (const uint8_t *)&u.v[i]; const int8_t *sb = (const int8_t *)&s.v[i];
        int32_t t = 0; for (int b = 0; b < 4; b++) t += (int32_t)ub[b] * (int32_t)sb[b]; acc.v[i] = (int32_t)((uint32_t)acc.v[i] + (uint32_t)t); }
    return acc;
}
#define _mm512_set1_epi32 e_set1_epi32
#define _mm512_setzero_si512 e_setzero_si512
#define _mm512_set1_ps e_set1_ps
#define _mm512_setzero_ps e_setzero_ps
#define _mm512_loadu_si512 e_loadu_si512
#define _mm512_maskz_loadu_epi32 e_maskz_loadu_epi32
#define _mm512_maskz_loadu_ps e_maskz_loadu_ps
#define _mm512_sub_epi32 e_sub_epi32
#define _mm512_mask_storeu_epi32 e_mask_storeu_epi32
#define _mm512_mask_storeu_ps e_mask_storeu_ps
#define _mm512_cvtepi32_ps e_cvtepi32_ps
#define _mm512_add_ps e_add_ps
#define _mm512_mul_ps e_mul_ps
#define _mm512_max_ps e_max_ps
#define _mm512_min_ps e_min_ps
#define _mm512_cvt_roundps_epi32 e_cvt_roundps_epi32
#define _mm512_mask_cvtepi32_storeu_epi8 e_mask_cvtepi32_storeu_epi8
#define _mm512_dpbusd_epi32 e_dpbusd_epi32
#define FB_HAVE_VNNI 1
