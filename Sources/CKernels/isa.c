// fb_isa_built: the instruction-set features the compiler was allowed to use for this target, read
// from its predefined macros. CKernels is compiled with the kernels' target CPU, so this is what the
// kernels (C and Swift) may execute; `ISA.check()` compares it with `fb_isa_host()`.
#include "ckernels.h"
#include "cperfevent.h"

uint32_t fb_isa_built(void) {
    uint32_t f = 0;
#ifdef __SSE4_2__
    f |= FB_ISA_SSE42;
#endif
#ifdef __AVX__
    f |= FB_ISA_AVX;
#endif
#ifdef __AVX2__
    f |= FB_ISA_AVX2;
#endif
#ifdef __FMA__
    f |= FB_ISA_FMA;
#endif
#ifdef __F16C__
    f |= FB_ISA_F16C;
#endif
#ifdef __AVX512F__
    f |= FB_ISA_AVX512F;
#endif
#ifdef __AVX512BW__
    f |= FB_ISA_AVX512BW;
#endif
#ifdef __AVX512VL__
    f |= FB_ISA_AVX512VL;
#endif
#ifdef __AVX512DQ__
    f |= FB_ISA_AVX512DQ;
#endif
#ifdef __AVX512VNNI__
    f |= FB_ISA_AVX512VNNI;
#endif
#ifdef __AVX512BF16__
    f |= FB_ISA_AVX512BF16;
#endif
#ifdef __AVXVNNI__
    f |= FB_ISA_AVXVNNI;
#endif
    return f;
}
