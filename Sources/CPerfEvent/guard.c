// Guard-page reporting for user kernels' buffers: a fixed table of guarded mappings and one
// SIGSEGV/SIGBUS handler that names the buffer a fault hit, then lets the fault kill the process
// with its signal. Registration is lock-free (a slot is claimed by compare-and-swap, filled, then
// published); the handler only reads the table and uses only async-signal-safe calls
// (write(2), sigaction(2), raise(3)).
#define _GNU_SOURCE
#include "cperfevent.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define FB_GUARD_SLOTS 4096
#define FB_GUARD_LABEL 192

enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_ACTIVE = 2 };

typedef struct {
    _Atomic int state;
    uintptr_t map_lo, map_hi, page, data_lo, data_len;
    int read_only;
    char label[FB_GUARD_LABEL];
} fb_guard_slot;

static fb_guard_slot slots[FB_GUARD_SLOTS];
static _Atomic int installed;           // 0 not yet, 1 installing, 2 installed
static struct sigaction previous_segv, previous_bus;
static _Thread_local int thread_has_altstack;
static char context_label[256];  // what is being measured; written between ops, read by the handler

enum { ALTSTACK_BYTES = 64 * 1024 };

// MARK: - async-signal-safe output

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void put_int(long long v) {
    char buf[32];
    int i = (int)sizeof buf - 1;
    buf[i] = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0 && i > 1);
    if (v < 0) buf[--i] = '-';
    put(buf + i);
}

/// "write", "read" or "access" (x86-64 Linux: page-fault error code bit 1 = write).
static const char *access_kind(void *context) {
#if defined(__linux__) && defined(__x86_64__)
    if (context) {
        const ucontext_t *uc = (const ucontext_t *)context;
        return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";
    }
#endif
    (void)context;
    return "access";
}

/// The buffer's label, then " while measuring <context>" when the runner named one.
static void put_label(const fb_guard_slot *s) {
    put(s->label);
    if (context_label[0]) {
        put(" while measuring ");
        put(context_label);
    }
}

static void reset_to_default(int sig) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static void guard_handler(int sig, siginfo_t *info, void *context) {
    uintptr_t a = (uintptr_t)info->si_addr;
    for (int i = 0; i < FB_GUARD_SLOTS; i++) {
        fb_guard_slot *s = &slots[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_ACTIVE) continue;
        if (a < s->map_lo || a >= s->map_hi) continue;
        long long offset = (long long)(a - s->data_lo);
        const char *kind = access_kind(context);
        put("fusebench: ");
        if (a < s->map_lo + s->page) {
            put("out-of-bounds "); put(kind); put(" before the start of "); put_label(s);
            put(" (at byte offset "); put_int(offset); put(" of a "); put_int((long long)s->data_len);
            put("-byte buffer; guard page)\n");
        } else if (a >= s->map_hi - s->page) {
            put("out-of-bounds "); put(kind); put(" past the end of "); put_label(s);
            put(" (at byte offset "); put_int(offset); put(" of a "); put_int((long long)s->data_len);
            put("-byte buffer, "); put_int(offset - (long long)s->data_len); put(" bytes past the end; guard page)\n");
        } else if (s->read_only) {
            put("write to read-only "); put_label(s);
            put(" (at byte offset "); put_int(offset); put(" of a "); put_int((long long)s->data_len);
            put("-byte buffer; inputs are mapped read-only)\n");
        } else {
            put(kind); put(" fault inside "); put_label(s); put(" (at byte offset "); put_int(offset); put(")\n");
        }
        reset_to_default(sig);
        if (info->si_code <= 0) raise(sig);  // sent by kill/raise: returning would not re-fault
        return;
    }
    // Not a guard page: behave as if this handler were not installed.
    const struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, info, context);
        return;
    }
    if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    reset_to_default(sig);
    if (info->si_code <= 0) raise(sig);
}

static int ensure_altstack(void) {
    if (thread_has_altstack) return 0;
    stack_t current;
    if (sigaltstack(NULL, &current) != 0) return -errno;
    if (!(current.ss_flags & SS_DISABLE)) {
        thread_has_altstack = 1;  // someone (e.g. the Swift runtime) already set one
        return 0;
    }
    void *mem = malloc(ALTSTACK_BYTES);  // kept for the thread's lifetime
    if (!mem) return -ENOMEM;
    stack_t st;
    memset(&st, 0, sizeof st);
    st.ss_sp = mem;
    st.ss_size = ALTSTACK_BYTES;
    if (sigaltstack(&st, NULL) != 0) {
        int e = errno;
        free(mem);
        return -e;
    }
    thread_has_altstack = 1;
    return 0;
}

int fb_guard_install(void) {
    int r = ensure_altstack();
    int expected = 0;
    if (atomic_compare_exchange_strong(&installed, &expected, 1)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = guard_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous_segv) != 0 || sigaction(SIGBUS, &sa, &previous_bus) != 0) {
            int e = errno;
            atomic_store(&installed, 0);
            return -e;
        }
        atomic_store(&installed, 2);
    }
    return r;
}

int fb_guard_register(uintptr_t map_lo, uintptr_t map_hi, uintptr_t page, uintptr_t data_lo, uintptr_t data_len,
                      int read_only, const char *label) {
    for (int i = 0; i < FB_GUARD_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_FILLING)) continue;
        fb_guard_slot *s = &slots[i];
        s->map_lo = map_lo;
        s->map_hi = map_hi;
        s->page = page;
        s->data_lo = data_lo;
        s->data_len = data_len;
        s->read_only = read_only;
        size_t n = label ? strlen(label) : 0;
        if (n >= FB_GUARD_LABEL) n = FB_GUARD_LABEL - 1;
        if (n) memcpy(s->label, label, n);
        s->label[n] = 0;
        atomic_store_explicit(&s->state, SLOT_ACTIVE, memory_order_release);
        return i;
    }
    return -1;
}

void fb_guard_unregister(int slot) {
    if (slot < 0 || slot >= FB_GUARD_SLOTS) return;
    atomic_store_explicit(&slots[slot].state, SLOT_FREE, memory_order_release);
}

void fb_guard_set_context(const char *context) {
    size_t n = context ? strlen(context) : 0;
    if (n >= sizeof context_label) n = sizeof context_label - 1;
    context_label[0] = 0;  // never a half-written name followed by a stale tail
    if (n) memcpy(context_label + 1, context + 1, n - 1);
    context_label[n] = 0;
    if (n) context_label[0] = context[0];
}
