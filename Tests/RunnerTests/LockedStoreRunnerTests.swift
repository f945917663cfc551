// The runner's per-op steps against a database another process keeps locked: what was measured
// (worker samples, a family's decision log and run notes) is kept and stored once it is free.
import BenchModel
import Foundation
import GRDB
import Kernels
import Store
import Suite
import TestSupport
import Testing
@testable import Runner

/// Collects the notes a run says.
final class LockedRunNotes: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite struct LockedStoreRunnerTests {
    let machine = MachineFingerprint(cpuModel: "Test CPU", logicalCPUs: 2, isaHost: [], caches: [], kernel: "6.8", governor: "performance",
                                     perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)

    /// A file store (busy timeout 0.05 s) with one running run, its directory, and a context
    /// running `op` with `config`.
    func context(op: PlannedOp, config: RunConfig, dir: URL, notes: LockedRunNotes) throws -> RunContext {
        let store = try ResultStore(path: dir.appendingPathComponent("r.sqlite").path, busyTimeout: 0.05)
        let runID = try store.beginRun(RunInfo(startedAt: Date(), status: .running, label: nil, suites: [op.suite], suiteHash: "h",
                                               gitCommit: nil, gitBranch: nil, gitDirty: nil, harnessVersion: Harness.version,
                                               machine: machine, isaBuilt: [], counterMode: .none, counterNote: "",
                                               calibration: nil, configJSON: "{}", pid: getpid()))
        var plan = try BenchPlan(suites: [])
        plan.ops = [op]
        return RunContext(plan: plan, store: store, spool: OpResultSpool(store: store), config: config,
                          counters: CounterChoice(session: nil, simulator: nil, mode: .none, pmuAvailable: false, note: "", unsupported: [:]),
                          runIDs: [runID], events: [], explicit: false, telemetry: nil, note: notes.add)
    }

    func freshDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-locked-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func spec(_ name: String, kind: String, variants: [String]) -> OpSpec {
        var settings = MeasurementSettings()
        settings.samples = 2
        settings.batchNs = 50_000
        settings.warmupNs = 1_000_000
        return OpSpec(name: name, kind: kind, shape: ["n": 1], dtype: "f32", variants: variants, tolerance: nil, settings: settings, line: 1)
    }

    /// A worker's calibration that cannot be stored (database locked) no longer throws the op's
    /// samples away: they come back from the fan-out, with a note, to be stored through the spool.
    @Test func lockedCalibrationKeepsWorkerSamples() throws {
        let dir = try freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A fake worker build: answers one sample and a calibration whatever it is asked.
        let encoder = JSONEncoder()
        let sample = Sample(key: BenchmarkKey(suite: "t", op: "w", variant: "ref"), sequence: 0, iterations: 4, wallNs: 400, cpuNs: 400,
                            overheadNs: 1)
        let calibration = Calibration(clockPairNs: 20, counterReadNs: 0, emptyBatchNs: 30, perIterationNs: 1, targetBatchNs: 50_000)
        let lines = try [WorkerMessage(type: .hello, hello: WorkerHello.current), WorkerMessage(type: .sample, sample: sample),
                         WorkerMessage(type: .done, calibration: calibration, interrupted: false)]
            .map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let worker = dir.appendingPathComponent("worker.sh")
        try ("#!/bin/sh\ncat > /dev/null\ncat <<'FUSEBENCH_EOF'\n" + lines.joined(separator: "\n") + "\nFUSEBENCH_EOF\n")
            .write(to: worker, atomically: true, encoding: .utf8)
        #expect(chmod(worker.path, 0o755) == 0)

        var config = RunConfig()
        config.quiet = true
        config.sides = [RunSide(name: "", executable: worker.path)]
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: spec("w", kind: "task_fake", variants: ["ref"]), factory: TaskFactory(),
                           tolerance: Tolerance(abs: 0, rel: 0))
        let notes = LockedRunNotes()
        let context = try context(op: op, config: config, dir: dir, notes: notes)
        let lock = try DatabaseWriteLock(path: context.store.path)
        let measured = try WorkerFanOut(context: context).measure(op: op, index: 0, slowdown: nil, sequencers: [SampleSequencer()],
                                                                  progress: ProgressLine(quiet: true))
        #expect(measured.failure == nil)
        #expect(measured.results[0].samples.map(\.key.description) == ["t/w/ref"])
        #expect(notes.all.contains { $0.contains("t/w: calibration of worker 1/1 not stored yet") && $0.contains("locked") })
        try lock.release()
    }

    /// A family's decision log and run notes go with the op's results through the spool: kept
    /// while the database is locked, stored (under the op's suite) once it is free.
    @Test func lockedDatabaseKeepsTheDecisionLog() throws {
        let dir = try freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = RunConfig()
        config.quiet = true
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: spec("log", kind: "logging_fake", variants: ["ref", "alt"]),
                           factory: OpFamilySeamTests.LoggingFactory(), tolerance: Tolerance(abs: 0, rel: 0))
        let notes = LockedRunNotes()
        let context = try context(op: op, config: config, dir: dir, notes: notes)
        var result = OpResult(samples: [], checks: [], interrupted: false)
        result.fusionDecisions = [FusionDecision(model: "log", group: ["a", "b"], rule: "toy-rule", outcome: .accepted, reason: "test")]
        var extras = FamilyExtras.Output()
        try FamilyExtras(context: context).run(op: op, side: 0, result: result, progress: ProgressLine(quiet: true), into: &extras)
        #expect(extras.fusionDecisions.map(\.opKey) == [OpKey(suite: "t", op: "log")])
        #expect(extras.runMeta == [RunMetaKey.fusionBytes(BenchmarkKey(suite: "t", op: "log", variant: "alt")): "2.0"])

        let lock = try DatabaseWriteLock(path: context.store.path)
        try OpStorage(context: context).store(op: op, side: 0, result: result, extras: extras)
        #expect(notes.all.contains { $0.contains("t/log: not stored") })
        #expect(context.spool.pending.first?.fusionDecisions.count == 1)
        try lock.release()
        #expect(try context.spool.finish() != nil)
        let stored = try context.store.fusionDecisions(runID: context.runIDs[0])
        #expect(stored.map(\.opKey) == [OpKey(suite: "t", op: "log")] && stored.map(\.rule) == ["toy-rule"])
        #expect(try context.store.runMeta(runID: context.runIDs[0])[RunMetaKey.fusionBytes(BenchmarkKey(suite: "t", op: "log", variant: "alt"))] == "2.0")
    }
}

/// A family's extra parts are timed round-robin (batch r of each before batch r + 1 of any), so
/// a fused group and its layers alone see the same stretch of the machine.
@Suite struct FamilyExtrasTests {
    @Test func partsAreTimedRoundRobin() throws {
        let helper = LockedStoreRunnerTests()
        let dir = try helper.freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = RunConfig()
        config.quiet = true
        let op = PlannedOp(suite: "t", suitePath: "/t.toml", spec: helper.spec("parts", kind: "parts_fake", variants: ["ref"]),
                           factory: OpFamilySeamTests.PartsFactory(), tolerance: Tolerance(abs: 0, rel: 0))
        let context = try helper.context(op: op, config: config, dir: dir, notes: LockedRunNotes())
        var extras = FamilyExtras.Output()
        try FamilyExtras(context: context).run(op: op, side: 0, result: OpResult(samples: [], checks: [], interrupted: false),
                                               progress: ProgressLine(quiet: true), into: &extras)
        let pattern = ["layer:p", "layer:p+q"]
        #expect(FamilyExtras.partBatches(samples: op.spec.settings.samples) == 5)   // 2 samples: at least 5
        #expect(FamilyExtras.partBatches(samples: 12) == 12)
        #expect(extras.samples.map(\.key.variant) == Array(repeating: pattern, count: 5).flatMap { $0 })
        #expect(extras.samples.map(\.sequence) == Array(0..<10))
        #expect(extras.samples.allSatisfy { $0.iterations >= 1 && $0.wallNs > 0 })
    }
}
