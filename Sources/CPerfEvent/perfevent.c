// CPerfEvent implementation: syscalls, clocks, pinning, host ISA detection, interrupt flag, callgrind.
#define _GNU_SOURCE
#include "cperfevent.h"
#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define FB_HAVE_CALLGRIND 1
#endif
#endif

int fb_perf_event_open(const fb_event_attr *a, int pid, int cpu, int group_fd) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = a->type;
    attr.config = a->config;
    attr.config1 = a->config1;
    attr.config2 = a->config2;
    attr.read_format = a->read_format;
    attr.disabled = a->disabled ? 1 : 0;
    attr.exclude_kernel = a->exclude_kernel ? 1 : 0;
    attr.exclude_hv = a->exclude_hv ? 1 : 0;
    attr.exclude_idle = a->exclude_idle ? 1 : 0;
    attr.inherit = a->inherit ? 1 : 0;
    attr.pinned = a->pinned ? 1 : 0;
    long fd = syscall(SYS_perf_event_open, &attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) return -errno;
    return (int)fd;
}

static int group_ioctl(int fd, unsigned long req) {
    if (ioctl(fd, req, PERF_IOC_FLAG_GROUP) < 0) return -errno;
    return 0;
}
int fb_perf_enable_group(int fd) { return group_ioctl(fd, PERF_EVENT_IOC_ENABLE); }
int fb_perf_disable_group(int fd) { return group_ioctl(fd, PERF_EVENT_IOC_DISABLE); }
int fb_perf_reset_group(int fd) { return group_ioctl(fd, PERF_EVENT_IOC_RESET); }

long fb_read(int fd, void *buf, size_t len) {
    ssize_t n = read(fd, buf, len);
    if (n < 0) return -errno;
    return (long)n;
}
int fb_close(int fd) { return close(fd) < 0 ? -errno : 0; }

uint64_t fb_format_group(void) { return PERF_FORMAT_GROUP; }
uint64_t fb_format_total_time_enabled(void) { return PERF_FORMAT_TOTAL_TIME_ENABLED; }
uint64_t fb_format_total_time_running(void) { return PERF_FORMAT_TOTAL_TIME_RUNNING; }
uint64_t fb_format_id(void) { return PERF_FORMAT_ID; }
uint32_t fb_type_hardware(void) { return PERF_TYPE_HARDWARE; }
uint32_t fb_type_software(void) { return PERF_TYPE_SOFTWARE; }
uint32_t fb_type_raw(void) { return PERF_TYPE_RAW; }
uint32_t fb_type_hw_cache(void) { return PERF_TYPE_HW_CACHE; }

int fb_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) return -errno;
    return 0;
}
int fb_current_cpu(void) { return sched_getcpu(); }

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
uint64_t fb_monotonic_raw_ns(void) { return clock_ns(CLOCK_MONOTONIC_RAW); }
uint64_t fb_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// This runs *before* fusebench knows whether the CPU has the instructions the kernels were built
// for; the target is compiled without -march, and the attribute keeps it baseline even if someone
// adds CPU flags to the shim again.
__attribute__((target("arch=x86-64")))
uint32_t fb_isa_host(void) {
    uint32_t f = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) f |= FB_ISA_SSE42;
    if (__builtin_cpu_supports("avx")) f |= FB_ISA_AVX;
    if (__builtin_cpu_supports("avx2")) f |= FB_ISA_AVX2;
    if (__builtin_cpu_supports("fma")) f |= FB_ISA_FMA;
    if (__builtin_cpu_supports("f16c")) f |= FB_ISA_F16C;
    if (__builtin_cpu_supports("avx512f")) f |= FB_ISA_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= FB_ISA_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= FB_ISA_AVX512VL;
    if (__builtin_cpu_supports("avx512dq")) f |= FB_ISA_AVX512DQ;
    if (__builtin_cpu_supports("avx512vnni")) f |= FB_ISA_AVX512VNNI;
    if (__builtin_cpu_supports("avx512bf16")) f |= FB_ISA_AVX512BF16;
    if (__builtin_cpu_supports("avxvnni")) f |= FB_ISA_AVXVNNI;
    return f;
}

// The comparison and its message: baseline x86-64 like fb_isa_host (see there).
static const struct { uint32_t bit; const char *name; } isa_names[] = {
    {FB_ISA_SSE42, "sse4.2"}, {FB_ISA_AVX, "avx"}, {FB_ISA_AVX2, "avx2"}, {FB_ISA_FMA, "fma"},
    {FB_ISA_F16C, "f16c"}, {FB_ISA_AVX512F, "avx512f"}, {FB_ISA_AVX512BW, "avx512bw"},
    {FB_ISA_AVX512VL, "avx512vl"}, {FB_ISA_AVX512VNNI, "avx512vnni"}, {FB_ISA_AVX512BF16, "avx512bf16"},
    {FB_ISA_AVXVNNI, "avxvnni"}, {FB_ISA_AVX512DQ, "avx512dq"},
};

__attribute__((target("arch=x86-64")))
uint32_t fb_isa_missing(uint32_t built, uint32_t host) { return built & ~host; }

__attribute__((target("arch=x86-64")))
const char *fb_isa_name(uint32_t bit) {
    for (size_t i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++) {
        if (isa_names[i].bit == bit) return isa_names[i].name;
    }
    return NULL;
}

__attribute__((target("arch=x86-64")))
const char *fb_isa_suggested_cpu(uint32_t host) {
    const uint32_t v3 = FB_ISA_AVX | FB_ISA_AVX2 | FB_ISA_FMA | FB_ISA_F16C;
    const uint32_t v4 = v3 | FB_ISA_AVX512F | FB_ISA_AVX512BW | FB_ISA_AVX512VL | FB_ISA_AVX512DQ;
    if ((host & v4) == v4) return "skylake-avx512";
    if ((host & v3) == v3) return "haswell";
    if (host & FB_ISA_SSE42) return "nehalem";
    return "x86-64";
}

/// Appends `text` at `*used` in `buf` (capacity `cap`), keeping it NUL-terminated and truncating.
__attribute__((target("arch=x86-64")))
static void isa_append(char *buf, size_t cap, size_t *used, const char *text) {
    while (*text != 0 && *used + 1 < cap) buf[(*used)++] = *text++;
    if (cap > 0) buf[*used < cap ? *used : cap - 1] = 0;
}

__attribute__((target("arch=x86-64")))
int fb_isa_refusal(uint32_t built, uint32_t host, char *buf, size_t cap) {
    uint32_t missing = fb_isa_missing(built, host);
    size_t used = 0;
    int count = 0;
    if (cap > 0) buf[0] = 0;
    if (missing == 0) return 0;
    isa_append(buf, cap, &used, "this fusebench was built for ");
    for (size_t i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++) {
        if ((missing & isa_names[i].bit) == 0) continue;
        if (count > 0) isa_append(buf, cap, &used, ", ");
        isa_append(buf, cap, &used, isa_names[i].name);
        count++;
    }
    if (count == 0) {  // only bits without a name
        isa_append(buf, cap, &used, "unknown features");
        count = 1;
    }
    isa_append(buf, cap, &used, count == 1 ? " but this CPU lacks it" : " but this CPU lacks them");
    isa_append(buf, cap, &used, "; rebuild on this machine (swift build -c release) or set FUSEBENCH_TARGET_CPU=");
    isa_append(buf, cap, &used, fb_isa_suggested_cpu(host));
    isa_append(buf, cap, &used, " (see README)");
    return count;
}

__attribute__((target("arch=x86-64")))
int fb_isa_refuse(uint32_t built, uint32_t host, int fd) {
    char line[512];
    size_t used = 0;
    isa_append(line, sizeof line, &used, "error: ");
    int count = fb_isa_refusal(built, host, line + used, sizeof line - used - 1);
    if (count == 0) return 0;
    used = strlen(line);
    line[used++] = '\n';
    size_t done = 0;
    while (done < used) {
        ssize_t n = write(fd, line + done, used - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        done += (size_t)n;
    }
    return count;
}

void fb_black_hole(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }
void fb_black_hole_f32(float v) { __asm__ volatile("" : : "x"(v) : "memory"); }

static volatile sig_atomic_t interrupt_signal = 0;
static void on_signal(int sig) { interrupt_signal = sig; }
void fb_install_interrupt_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    // SA_RESTART: reads, writes and waits in progress resume instead of failing with EINTR.
    // SA_RESETHAND: a second signal falls through to the default action (terminate).
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    // A parent may have started us with these signals blocked (some process launchers do).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
int fb_interrupt_signal(void) { return interrupt_signal; }
void fb_reset_interrupt_flag(void) { interrupt_signal = 0; }

#ifdef FB_HAVE_CALLGRIND
int fb_running_on_valgrind(void) { return RUNNING_ON_VALGRIND ? 1 : 0; }
void fb_callgrind_start_instrumentation(void) { CALLGRIND_START_INSTRUMENTATION; }
void fb_callgrind_stop_instrumentation(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void fb_callgrind_toggle_collect(void) { CALLGRIND_TOGGLE_COLLECT; }
void fb_callgrind_zero_stats(void) { CALLGRIND_ZERO_STATS; }
void fb_callgrind_dump_stats(void) { CALLGRIND_DUMP_STATS; }
int fb_has_callgrind_header(void) { return 1; }
#else
int fb_running_on_valgrind(void) { return 0; }
void fb_callgrind_start_instrumentation(void) {}
void fb_callgrind_stop_instrumentation(void) {}
void fb_callgrind_toggle_collect(void) {}
void fb_callgrind_zero_stats(void) {}
void fb_callgrind_dump_stats(void) {}
int fb_has_callgrind_header(void) { return 0; }
#endif
