// CKernels: the C compute kernels — the int8 GEMM with its fused epilogue and the input quantizer
// (qgemm.c), the fp32 GEMM's A packing (packa.c), the axpy of the plug-in overhead figure (axpy.c) — and `fb_isa_built`, the instruction-set features this target was compiled for. Built
// with the same target CPU as the Swift Kernels module (`-march`, see Package.swift), so
// `fb_isa_built` reports what the kernels may execute. The host check (`fb_isa_host`) lives in the
// baseline-built CPerfEvent shim.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Features the compiler was allowed to use when the kernels were built (predefined macros;
/// `FB_ISA_*` bits of cperfevent.h).
uint32_t fb_isa_built(void);

// ---- axpy (axpy.c) ------------------------------------------------------------------------------
/// out[i] = a·x[i] + y[i] for i < n: the kernel of the plug-in overhead measurement
/// (tools/plugin-overhead compiles the same file into a plug-in).
void fb_axpy(float a, const float *x, const float *y, float *out, int64_t n);

// ---- fp32 GEMM A packing (packa.c) -------------------------------------------------------------
/// Packs A[0..<mc, 0..<kc] (row stride `lda`) into mr-tall panels of the fp32 GEMM: panel r (at
/// dst + r·mr·kc) holds, for each p, the mr values A[r·mr + i, p] contiguously; rows past `mc` are
/// zero. Writes exactly ceil(mc / mr)·mr·kc floats. In-register transposes for mr = 14 (AVX-512) and
/// mr = 6 (AVX2) when the build has them, a scalar loop otherwise.
void fb_pack_a_panels(const float *src, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float *dst);

// ---- int8 GEMM (qgemm.c) ----------------------------------------------------------------------
/// Code paths of the int8 GEMM: portable C, AVX2 (vpmaddubsw + vpmaddwd), AVX-512 VNNI (vpdpbusd).
enum {
    FB_QGEMM_SCALAR = 0,
    FB_QGEMM_AVX2 = 1,
    FB_QGEMM_AVX512VNNI = 2,
};
/// The path the dispatching entry points use: the best path compiled into this binary whose
/// instructions the running CPU has (FB_QGEMM_*; 0 = scalar C only).
int fb_qgemm_available(void);
/// Name of `fb_qgemm_available()`'s path: "avx512vnni", "avx2" or "scalar".
const char *fb_qgemm_isa(void);
/// Name of a path ("unknown" for other values).
const char *fb_qgemm_path_name(int path);
/// 1 when `path` is compiled into this binary.
int fb_qgemm_path_compiled(int path);
/// 1 when `path` is compiled in and the running CPU has its instructions.
int fb_qgemm_path_usable(int path);
/// Bytes of the packed W for n channels × k (the same layout for every path).
int64_t fb_qgemm_packed_size(int64_t n, int64_t k);
/// Packs W [n×k] (int8 in [-127, 127], row-major) into 32-channel panels; corr[j] = 128·Σ_k W[j,k] (n entries).
void fb_qgemm_pack(const int8_t *w, int64_t n, int64_t k, int8_t *packed, int32_t *corr);
/// C[m×n] = A[m×k]·Wᵀ (int32, exact) from the packed W, on the dispatched path.
void fb_qgemm(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n, int32_t *c);
/// `fb_qgemm` on an explicit path. Returns 0, or -1 when the path is not usable here (nothing written).
int fb_qgemm_on(int path, const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n,
                int32_t *c);
/// GEMM with the fused epilogue: y = float(acc)·scale[j] + bias[j]; if relu, y = 0 >= y ? 0 : y; then
/// either out_q[i·n+j] = clamp(roundHalfEven(y·out_scale_inv), -127, 127) (out_q non-NULL, out_f NULL)
/// or out_f[i·n+j] = y (out_f non-NULL, out_q NULL). Bit-identical on every path.
void fb_qgemm_fused(const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr, int64_t n,
                    const float *scale, const float *bias, int relu, float out_scale_inv, int8_t *out_q, float *out_f);
/// `fb_qgemm_fused` on an explicit path. Returns 0, -1 when the path is not usable, -2 unless exactly one output is given.
int fb_qgemm_fused_on(int path, const int8_t *a, int64_t m, int64_t k, const int8_t *packed, const int32_t *corr,
                      int64_t n, const float *scale, const float *bias, int relu, float out_scale_inv, int8_t *out_q,
                      float *out_f);
/// out[i] = clamp(roundHalfEven((x[i]·prescale) / scale), -127, 127): the input quantizer (vectorized loop).
void fb_quantize_i8(const float *x, int64_t count, float prescale, float scale, int8_t *out);

#ifdef __cplusplus
}
#endif
#endif
