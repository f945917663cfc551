// Plug-in kernels that misbehave inside their worker process: a crash (SIGSEGV), a hang and an
// out-of-bounds write into the guard page after the output each fail their op with a clear
// message (signal or hang, op and variant, library), keep every sample the worker streamed, and
// let the run go on with the next op; the run ends `failed` and the command exits 3. Also: a
// plug-in op of a one-process run is measured in a worker (the parent survives its crash).
import Foundation
@testable import FuseBench
import Testing
import TestSupport

/// A plug-in `misbehaving` with one kernel `act` (verified against fusebench's `relu`, shape key
/// `n`) whose variants go wrong on purpose:
/// - `segv` dereferences NULL on its first call 1.5 s after its first call (after verification,
///   warm-up and some batches; the suite asks for far more samples than fit in 1.5 s, so the op
///   never completes first, however fast or loaded the machine — a call count would depend on
///   the batch sizes, which depend on the machine);
/// - `hang` spins forever from 1.5 s after its first call on;
/// - `oob` writes one byte 4095 bytes past the end of its output on its first call, which is
///   always inside the guard page after the output's last page.
private let misbehaving = #"""
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include "fusebench_plugin.h"
#include <stddef.h>
#include <stdint.h>

#include <time.h>

/* Seconds since this variant's first call. */
static double elapsed(void) {
    static struct timespec t0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t0.tv_sec == 0 && t0.tv_nsec == 0) t0 = t;
    return (double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec);
}

static void relu(const fb_args *a) {
    const float *x = a->inputs[0];
    float *y = a->output;
    for (uint64_t i = 0; i < a->output_count; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void segv(const fb_args *a, void *s) {
    (void)s;
    if (elapsed() > 1.5) *(volatile int *)(uintptr_t)0 = 1;
    relu(a);
}

static void hang(const fb_args *a, void *s) {
    (void)s;
    if (elapsed() > 1.5) for (;;) __asm__ volatile("" ::: "memory");
    relu(a);
}

static void oob(const fb_args *a, void *s) {
    (void)s;
    relu(a);
    ((volatile char *)a->output)[a->output_count * sizeof(float) + 4095] = 1;
}

static const fb_variant variants[] = { { .name = "segv", .run = segv }, { .name = "hang", .run = hang }, { .name = "oob", .run = oob } };
static const fb_kernel kernels[] = { { .name = "act", .summary = "relu that goes wrong", .verify_against = "relu",
                                       .variant_count = 3, .variants = variants } };
static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = "misbehaving", .kernel_count = 1, .kernels = kernels };
const fb_plugin *fusebench_plugin(void) { return &plugin; }
"""#

@Suite(.serialized) struct PluginSafetyCLITests {
    /// A suite: plug-in op `bad` running `variant` first, then a built-in op `after`.
    func suite(_ dir: TestPluginDirectory, variant: String) throws -> URL {
        try dir.write("""
            [suite]
            name = "safe"
            [defaults]
            samples = 100000
            batch_ms = 0.5
            warmup_ms = 2
            [[plugin]]
            name = "bad"
            library = "libmisbehaving.so"
            kernel = "act"
            shape = { n = 64 }
            variants = ["reference", "\(variant)"]
            [[op]]
            name = "after"
            kind = "bias_relu"
            shape = { rows = 4, cols = 64 }
            samples = 4
            """, to: "\(variant).toml")
    }

    @Test func crashingPluginFailsItsOpKeepsSamplesAndTheRunGoesOn() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        let lib = try dir.build(misbehaving, name: "misbehaving")
        let suite = try suite(dir, variant: "segv")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        // One process: the plug-in op still runs in a worker, so its crash cannot take fusebench down.
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none"])
        #expect(r.status == 3, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("safe/bad: measured in a worker process"), "\(r.stdout)")
        #expect(r.stderr.contains("safe/bad"), "\(r.stderr)")
        #expect(r.stderr.contains("signal 11 (SIGSEGV)"), "\(r.stderr)")
        #expect(r.stderr.contains("variant segv"), "\(r.stderr)")
        #expect(r.stderr.contains("plug-in library \(lib.path)"), "\(r.stderr)")
        #expect(r.stderr.contains("1 op(s) failed"), "\(r.stderr)")
        let store = try ResultStore(path: db)
        let run = try #require(try store.runs(limit: 1).first)
        #expect(run.status == .failed)
        let samples = try store.samples(runID: run.id)
        // The crashed variant's samples streamed before the crash are stored, and the next op ran.
        #expect(samples.contains { $0.op == "bad" && $0.variant == "segv" }, "\(samples.count)")
        #expect(samples.filter { $0.op == "after" }.count == 8)
        #expect(try store.accuracyChecks(runID: run.id).contains { $0.op == "bad" && $0.variant == "segv" && $0.passed })
    }

    @Test func hungPluginIsKilledAfterTheWorkerTimeout() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        _ = try dir.build(misbehaving, name: "misbehaving")
        let suite = try suite(dir, variant: "hang")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        let start = Date()
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none", "--worker-timeout", "3"])
        #expect(Date().timeIntervalSince(start) < 60)
        #expect(r.status == 3, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("safe/bad") && r.stderr.contains("hung: no progress for 3 s"), "\(r.stderr)")
        #expect(r.stderr.contains("variant hang"), "\(r.stderr)")
        let store = try ResultStore(path: db)
        let run = try #require(try store.runs(limit: 1).first)
        #expect(run.status == .failed)
        let samples = try store.samples(runID: run.id)
        #expect(samples.contains { $0.op == "bad" && $0.variant == "hang" })
        #expect(samples.filter { $0.op == "after" }.count == 8)
        // Out of range: refused before anything runs.
        let bad = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--worker-timeout", "0"])
        #expect(bad.status == 3 && bad.stderr.contains("--worker-timeout"), "\(bad.stderr)")
        let badEnv = try CLI.run(["run", suite.path, "--db", db, "--quiet"], env: ["FUSEBENCH_WORKER_TIMEOUT": "soon"])
        #expect(badEnv.status == 3 && badEnv.stderr.contains("FUSEBENCH_WORKER_TIMEOUT=soon"), "\(badEnv.stderr)")
    }

    @Test func writeIntoTheGuardPageIsReportedInTheError() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        _ = try dir.build(misbehaving, name: "misbehaving")
        let suite = try suite(dir, variant: "oob")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none", "--processes", "2"])
        #expect(r.status == 3, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("signal 11 (SIGSEGV)"), "\(r.stderr)")
        // The worker's own report (its stderr) is part of the parent's error.
        #expect(r.stderr.contains("out-of-bounds write past the end of"), "\(r.stderr)")
        #expect(r.stderr.contains("guard page"), "\(r.stderr)")
        let store = try ResultStore(path: db)
        let run = try #require(try store.runs(limit: 1).first)
        #expect(try store.samples(runID: run.id).filter { $0.op == "after" }.count == 8)
    }

    /// A kernel that prints to stdout (here a plug-in's printf + fflush on every call) must not
    /// corrupt the worker's JSON stream: its text goes to the worker's stderr, the op is measured.
    @Test func pluginPrintingToStdoutDoesNotBreakTheWorkerProtocol() throws {
        let dir = try TestPluginDirectory()
        defer { dir.remove() }
        _ = try dir.build(TestPluginSources.chatty, name: "chatty")
        let suite = try dir.write("""
            [suite]
            name = "talk"
            [defaults]
            samples = 4
            batch_ms = 0.5
            warmup_ms = 2
            [[plugin]]
            name = "chatty"
            library = "libchatty.so"
            kernel = "act"
            shape = { n = 64 }
            variants = ["reference", "talks"]
            """, to: "talk.toml")
        let db = dir.url.appendingPathComponent("r.sqlite").path
        let r = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--counters", "none", "--processes", "1"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let store = try ResultStore(path: db)
        let run = try #require(try store.runs(limit: 1).first)
        #expect(run.status == .complete)
        let samples = try store.samples(runID: run.id)
        #expect(samples.contains { $0.op == "chatty" && $0.variant == "talks" }, "\(samples.count)")
        #expect(try store.accuracyChecks(runID: run.id).contains { $0.op == "chatty" && $0.variant == "talks" && $0.passed })
    }
}
