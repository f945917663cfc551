// CPerfEvent: the thin C layer fusebench needs below Swift — the perf_event_open syscall and its
// ioctls, CPU pinning, raw clocks, the host's ISA (cpuid), an optimizer barrier ("black hole"),
// async-signal-safe interrupt flags, callgrind client requests, and the SIGSEGV/SIGBUS reporter for
// user kernels' guard pages (guard.c). Nothing here allocates or keeps state beyond the interrupt
// flag and the guard table (plus one alternate signal stack per thread that registers guards). Built for baseline x86-64 (no -march): the ISA check must run on
// a CPU older than the one the kernels were built for. The C kernels live in CKernels.
#ifndef CPERFEVENT_H
#define CPERFEVENT_H
#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Flat view of the perf_event_attr fields fusebench sets (filled by Swift, copied into the kernel struct).
typedef struct fb_event_attr {
    uint32_t type;
    uint64_t config;
    uint64_t config1;
    uint64_t config2;
    uint64_t read_format;
    int disabled;
    int exclude_kernel;
    int exclude_hv;
    int exclude_idle;
    int inherit;
    int pinned;
} fb_event_attr;

/// perf_event_open(2). Returns an fd, or -errno on failure.
int fb_perf_event_open(const fb_event_attr *attr, int pid, int cpu, int group_fd);
/// PERF_EVENT_IOC_{ENABLE,DISABLE,RESET} on a group leader with PERF_IOC_FLAG_GROUP. Returns 0 or -errno.
int fb_perf_enable_group(int fd);
int fb_perf_disable_group(int fd);
int fb_perf_reset_group(int fd);
/// read(2) into buf; returns bytes read or -errno.
long fb_read(int fd, void *buf, size_t len);
int fb_close(int fd);

/// The read_format bits fusebench uses.
uint64_t fb_format_group(void);
uint64_t fb_format_total_time_enabled(void);
uint64_t fb_format_total_time_running(void);
uint64_t fb_format_id(void);
/// PERF_TYPE_* constants.
uint32_t fb_type_hardware(void);
uint32_t fb_type_software(void);
uint32_t fb_type_raw(void);
uint32_t fb_type_hw_cache(void);

/// Pin the calling thread to one CPU. Returns 0 or -errno.
int fb_pin_to_cpu(int cpu);
/// The CPU the calling thread runs on now.
int fb_current_cpu(void);

/// CLOCK_MONOTONIC_RAW in nanoseconds.
uint64_t fb_monotonic_raw_ns(void);
/// CLOCK_THREAD_CPUTIME_ID in nanoseconds.
uint64_t fb_thread_cpu_ns(void);

/// ISA feature bits, shared by `fb_isa_host` below and `fb_isa_built` (CKernels).
enum {
    FB_ISA_SSE42 = 1 << 0,
    FB_ISA_AVX = 1 << 1,
    FB_ISA_AVX2 = 1 << 2,
    FB_ISA_FMA = 1 << 3,
    FB_ISA_F16C = 1 << 4,
    FB_ISA_AVX512F = 1 << 5,
    FB_ISA_AVX512BW = 1 << 6,
    FB_ISA_AVX512VL = 1 << 7,
    FB_ISA_AVX512VNNI = 1 << 8,
    FB_ISA_AVX512BF16 = 1 << 9,
    FB_ISA_AVXVNNI = 1 << 10,
    FB_ISA_AVX512DQ = 1 << 11,
};
/// Features the running CPU supports (cpuid via __builtin_cpu_supports). This target is built for
/// baseline x86-64, so the check runs on any CPU, whatever CPU the kernels were built for.
uint32_t fb_isa_host(void);

// The ISA check itself. It runs first thing in the CLI, before any code compiled for the kernels'
// CPU, so the comparison and the refusal message live here, in baseline x86-64 code; the Swift
// `ISA.check()` / `ISAMismatchError` in the Kernels module delegate to these functions.

/// Features in `built` that `host` lacks (`built & ~host`); nonzero means no kernel may run.
uint32_t fb_isa_missing(uint32_t built, uint32_t host);
/// Lower-case name of one FB_ISA_* bit (`"avx2"`), or NULL when `bit` is not exactly one known bit.
const char *fb_isa_name(uint32_t bit);
/// A `FUSEBENCH_TARGET_CPU` value a CPU with features `host` can run: skylake-avx512 (x86-64-v4
/// features), haswell (v3), nehalem (SSE4.2), else x86-64.
const char *fb_isa_suggested_cpu(uint32_t host);
/// Writes the refusal message for `built` on `host` (naming the missing instructions and how to
/// rebuild) into `buf`, NUL-terminated and truncated to `cap` bytes. Returns the number of missing
/// features; when it is 0, `buf` is the empty string.
int fb_isa_refusal(uint32_t built, uint32_t host, char *buf, size_t cap);
/// The CLI's gate: when `host` lacks features of `built`, writes `error: <refusal>\n` to `fd`
/// (retrying on EINTR) and returns the number of missing features; else writes nothing, returns 0.
int fb_isa_refuse(uint32_t built, uint32_t host, int fd);

/// Optimizer barrier: the compiler must assume the pointed-to memory is read.
void fb_black_hole(const void *p);
/// Same for a scalar value.
void fb_black_hole_f32(float v);

/// Install SIGINT/SIGTERM handlers that only set a flag (async-signal-safe), with SA_RESTART
/// (interrupted system calls resume) and SA_RESETHAND (a second signal terminates).
void fb_install_interrupt_handlers(void);
/// Signal number received (0 if none).
int fb_interrupt_signal(void);
/// Clear the flag set by the handlers.
void fb_reset_interrupt_flag(void);

/// 1 if the process runs under valgrind, 0 otherwise (0 also when built without valgrind headers).
int fb_running_on_valgrind(void);
/// callgrind client requests (no-ops when not under valgrind or built without the header).
void fb_callgrind_start_instrumentation(void);
void fb_callgrind_stop_instrumentation(void);
void fb_callgrind_toggle_collect(void);
void fb_callgrind_zero_stats(void);
void fb_callgrind_dump_stats(void);
/// 1 when built with <valgrind/callgrind.h>.
int fb_has_callgrind_header(void);

/// Guard-page reporting for user kernels' buffers (guard.c). Each guarded buffer is one mapping:
/// a PROT_NONE page, the data pages (the tensor's bytes inside them), a PROT_NONE page. A
/// SIGSEGV/SIGBUS whose address lies in a registered mapping prints one line naming the buffer
/// (`fusebench: out-of-bounds write past the end of output 'C' of KIND/VARIANT ...`) on stderr,
/// restores the default action and returns, so the fault re-raises and the process dies with the
/// signal. Other faults go to the handler installed before (or the default action).
///
/// Installs the handler once per process (chaining to the previous one) and an alternate signal
/// stack for the calling thread if it has none (so a stack overflow still reports). Returns 0 or -errno.
int fb_guard_install(void);
/// Registers a guarded mapping [map_lo, map_hi) (its first and last `page` bytes are the guard
/// pages) whose tensor occupies [data_lo, data_lo + data_len). `read_only`: the data pages are
/// PROT_READ (a fault there is a write to an input). `label` (copied, truncated to 191 bytes) names
/// the buffer, e.g. "output 'C' of gemm/blocked". Returns a slot (≥ 0) for `fb_guard_unregister`,
/// or -1 when the table (4096 slots) is full — the buffer is then still guarded, only not named.
int fb_guard_register(uintptr_t map_lo, uintptr_t map_hi, uintptr_t page, uintptr_t data_lo, uintptr_t data_len,
                      int read_only, const char *label);
/// Releases a slot from `fb_guard_register` (before the mapping is unmapped). Ignores -1.
void fb_guard_unregister(int slot);
/// Names what the process is measuring (e.g. "suite/op"; copied, truncated to 255 bytes; NULL or
/// "" clears it): a guard-page report then ends its buffer name with " while measuring <context>".
void fb_guard_set_context(const char *context);

#ifdef __cplusplus
}
#endif
#endif
