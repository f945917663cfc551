// The store's behaviour, written once against `ResultStore`'s public API so every engine runs the
// same checks: StoreTests runs them on SQLite (`TestStores`), FleetTests on PostgreSQL. The checks
// use no XCTest or swift-testing assertions: each throws a `ConformanceFailure` naming the check,
// the line and what differed, so any test framework can call them.
import BenchModel
import Foundation
import Store

/// Ready-made stores for tests.
public enum TestStores {
    /// A fresh, migrated in-memory SQLite store (samples through the SQLite hot path).
    public static func sqlite() throws -> ResultStore {
        try ResultStore.inMemory()
    }

    /// A fresh in-memory SQLite store that writes samples through the portable path other engines
    /// use (`INSERT ... RETURNING id` and `insertRows`), so that path is tested without PostgreSQL.
    public static func sqlitePortable() throws -> ResultStore {
        try ResultStore.inMemory(nativeSampleWriter: false)
    }
}

/// A conformance check that did not hold: which check, where, and what differed.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// `check: file:line: message`.
    public let description: String
}

/// Store behaviour every engine must show, as named checks over a fresh store each.
public enum StoreConformance {
    /// The checks by name; each gets a fresh, empty store.
    public static var checks: [(name: String, run: (ResultStore) throws -> Void)] { [
        ("runsOpsSamplesCountersAccuracyRoundTrip", runsOpsSamplesCountersAccuracyRoundTrip),
        ("writesToUnknownRunsAreRefused", writesToUnknownRunsAreRefused),
        ("runReferencesAndStaleRuns", runReferencesAndStaleRuns),
        ("baselinesSetMoveRollBackRemove", baselinesSetMoveRollBackRemove),
        ("changePointsInsertOnceAndTriage", changePointsInsertOnceAndTriage),
        ("seriesListingAndPoints", seriesListingAndPoints),
        ("runMetaAndTags", runMetaAndTags),
        ("decisionsTelemetryAndProfiles", decisionsTelemetryAndProfiles),
        ("simCacheAndNoiseRuns", simCacheAndNoiseRuns),
    ] }

    /// Runs every check, each on a store from `make`.
    ///
    /// - Throws: the first `ConformanceFailure` (or store error), prefixed with the check's name.
    public static func runAll(_ make: () throws -> ResultStore) throws {
        for check in checks {
            let store = try make()
            do {
                try check.run(store)
            } catch {
                throw ConformanceFailure(description: "\(check.name): \(error)")
            }
        }
    }

    // MARK: - Fixtures

    /// The machine every run of the checks was measured on (another `cpu` gives another machine).
    public static func machine(cpu: String = "Conformance CPU") -> MachineFingerprint {
        MachineFingerprint(cpuModel: cpu, logicalCPUs: 2, isaHost: ["avx2", "fma"], caches: [], kernel: "6.1",
                           governor: "performance", perfEventParanoid: 2, virtualization: "none", pmuAvailable: false)
    }

    /// A run started at `startedAt` (unix seconds) on branch `branch`.
    public static func runInfo(label: String? = "conformance", branch: String? = "main", startedAt: Double = 1_700_000_000.25,
                               cpu: String = "Conformance CPU", pid: Int32 = 4242) -> RunInfo {
        RunInfo(startedAt: Date(timeIntervalSince1970: startedAt), status: .complete, label: label, suites: ["core", "fusion"],
                suiteHash: "abc123", gitCommit: "deadbeef", gitBranch: branch, gitDirty: false, harnessVersion: Harness.version,
                machine: machine(cpu: cpu), isaBuilt: ["avx2"], counterMode: .none, counterNote: "not yet decided",
                calibration: nil, configJSON: #"{"quick":true}"#, pid: pid)
    }

    static let gemm = OpRecord(suite: "core", name: "gemm_128", kind: "gemm", shape: ["m": 128, "n": 128, "k": 128],
                               dtype: "f32", flops: 2 * 128 * 128 * 128, bytes: 3 * 128 * 128 * 4, threshold: 0.05)
    static let relu = OpRecord(suite: "fusion", name: "bias_relu_4k", kind: "bias_relu", shape: ["n": 4096],
                               dtype: "f32", flops: 8192, bytes: 49152, threshold: 0.03)

    static func counter(_ event: String, _ value: Double, backend: CounterBackend = .hw) -> CounterValue {
        CounterValue(event: event, value: value, raw: UInt64(value), timeEnabled: 1_000, timeRunning: 1_000, backend: backend)
    }

    static func sample(_ op: OpRecord, _ variant: String, sequence: Int, wallNs: Double = 2_000, iterations: Int = 10,
                       process: Int = 0, counters: [CounterValue] = [], flags: SampleFlags = []) -> Sample {
        Sample(key: BenchmarkKey(suite: op.suite, op: op.name, variant: variant), sequence: sequence, process: process,
               iterations: iterations, wallNs: wallNs, cpuNs: wallNs * 0.9, overheadNs: 100, counters: counters, flags: flags)
    }

    /// A complete run of `gemm` (reference and optimized, 3 samples each at `wallNs`); returns its id.
    @discardableResult
    public static func completeRun(_ store: ResultStore, wallNs: Double, branch: String? = "main", startedAt: Double = 1_700_000_000,
                            cpu: String = "Conformance CPU") throws -> Int64 {
        let runID = try store.beginRun(runInfo(branch: branch, startedAt: startedAt, cpu: cpu))
        let opID = try store.recordOp(runID: runID, op: gemm)
        try store.insertSamples(runID: runID, opID: opID, samples: (0..<6).map {
            sample(gemm, $0 % 2 == 0 ? "reference" : "optimized", sequence: $0, wallNs: wallNs + Double($0), process: $0 % 2)
        })
        try store.finishRun(id: runID, status: .complete)
        return runID
    }

    // MARK: - Assertions

    static func check(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) throws {
        if !condition { throw ConformanceFailure(description: "StoreConformance.swift:\(line): \(message())") }
    }

    static func equal<T: Equatable>(_ actual: T, _ expected: T, _ what: String, line: UInt = #line) throws {
        try check(actual == expected, "\(what): got \(actual), expected \(expected)", line: line)
    }

    /// Expects `body` to throw a `StoreError` (matching `expected` when given).
    static func throwsStoreError(_ what: String, _ expected: StoreError? = nil, line: UInt = #line, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as StoreError {
            if let expected { try equal(error, expected, what, line: line) }
            return
        } catch {
            throw ConformanceFailure(description: "StoreConformance.swift:\(line): \(what): expected a StoreError, got \(error)")
        }
        throw ConformanceFailure(description: "StoreConformance.swift:\(line): \(what): expected a StoreError, nothing was thrown")
    }

    // MARK: - Checks

    /// Runs, ops, samples with counters (order kept), latencies, accuracy checks; status changes.
    public static func runsOpsSamplesCountersAccuracyRoundTrip(_ store: ResultStore) throws {
        let info = runInfo()
        let runID = try store.beginRun(info)
        var expected = info
        expected.id = runID
        expected.status = .running
        try equal(try store.run(id: runID), expected, "run as begun")

        let calibration = Calibration(clockPairNs: 25, counterReadNs: 310, emptyBatchNs: 400, perIterationNs: 0.5, targetBatchNs: 1e6)
        try store.updateRun(id: runID, calibration: calibration, counterMode: .hw, counterNote: "perf_event available")
        let gemmID = try store.recordOp(runID: runID, op: gemm)
        let reluID = try store.recordOp(runID: runID, op: relu)
        try equal(try store.recordOp(runID: runID, op: gemm), gemmID, "recording an op twice returns its id")
        try check(gemmID != reluID, "two ops got the same id \(gemmID)")
        try equal(try store.ops(runID: runID), [gemm, relu], "ops in recording order")

        let events = ["zeta", "alpha", "instructions", "cycles"]
        var timed = sample(gemm, "optimized", sequence: 2, iterations: 4, process: 1, flags: [.outlier, .throttled])
        timed.iterationLatencies = IterationLatencies(ns: [10, 20, 30, 4_000_000_000], labels: [1, 2, 1, 2], overheadNs: 18)
        let gemmSamples = [
            sample(gemm, "reference", sequence: 0, counters: events.enumerated().map { counter($1, Double(1_000 * ($0 + 1))) },
                   flags: [.multiplexed]),
            timed,
        ]
        let reluSamples = [
            sample(relu, "reference", sequence: 1, wallNs: 9_000, iterations: 100),
            sample(relu, "fused", sequence: 3, wallNs: 100, iterations: 100, counters: [counter("instructions", 7, backend: .sim)],
                   flags: [.belowOverhead, .simulated]),
        ]
        try store.insertSamples(runID: runID, opID: gemmID, samples: gemmSamples)
        try store.insertSamples(runID: runID, opID: reluID, samples: reluSamples)
        try store.insertSamples(runID: runID, opID: reluID, samples: [])
        var plain = gemmSamples
        plain[1].iterationLatencies = nil
        try equal(try store.samples(runID: runID), [plain[0], reluSamples[0], plain[1], reluSamples[1]], "samples by sequence")
        try equal(try store.samples(runID: runID, op: gemm.key, iterationLatencies: true), gemmSamples, "one op's samples with latencies")
        try equal(try store.samples(runID: runID, op: OpKey(suite: "fusion", op: "gemm_128")), [], "same name, other suite")

        let tooMany = sample(gemm, "reference", sequence: 9, counters: (0..<1025).map { counter("e\($0)", 1) })
        try throwsStoreError("a sample with 1025 counter values") {
            try store.insertSamples(runID: runID, opID: gemmID, samples: [sample(gemm, "reference", sequence: 8), tooMany])
        }
        try equal(try store.samples(runID: runID, op: gemm.key).count, 2, "a refused batch writes nothing")

        let passed = AccuracyCheck(suite: "core", op: "gemm_128", variant: "optimized", referenceVariant: "reference", maxAbsError: 1e-6,
                                   maxRelError: 2e-6, cosine: 0.999999, tolerance: Tolerance(abs: 1e-5, rel: 1e-4), passed: true)
        let failed = AccuracyCheck(suite: "fusion", op: "bias_relu_4k", variant: "fused", referenceVariant: "reference", maxAbsError: 0.5,
                                   maxRelError: 0.25, cosine: 0.98, tolerance: Tolerance(abs: 1e-5, rel: 1e-4, minCosine: 0.999),
                                   passed: false, reason: "max abs error 0.5 exceeds 1e-05 at index 17")
        try store.insertAccuracy(runID: runID, opID: gemmID, check: passed)
        try store.insertAccuracy(runID: runID, opID: reluID, check: failed)
        try equal(try store.accuracyChecks(runID: runID), [passed, failed], "accuracy checks")
        try equal(try store.accuracyChecks(runID: runID, op: relu.key), [failed], "one op's accuracy checks")

        try store.finishRun(id: runID, status: .complete)
        let finished = try store.run(id: runID)
        try equal(finished?.status, .complete, "status after finishRun")
        try equal(finished?.calibration, calibration, "calibration")
        try equal(finished?.counterMode, .hw, "counter mode")
        try equal(finished?.machine, machine(), "machine fingerprint")
        try check(finished?.endedAt != nil, "finished run has no end time")
        try equal(try store.run(id: runID + 1_000), nil, "an unknown run id")

        // OpResults: everything of one op in one transaction.
        let second = try store.beginRun(runInfo())
        let opID = try store.storeOpResults(OpResults(runID: second, op: gemm, checks: [passed], samples: gemmSamples,
                                                      telemetry: [TelemetryRow(sampleSequence: 0, kind: "cpu_freq", label: "cpu0", value: 3.1e9, unit: "Hz")],
                                                      runMeta: ["fusion.bytes.core/gemm_128/optimized": "12"]))
        try equal(try store.samples(runID: second, iterationLatencies: true), gemmSamples, "samples stored with their op")
        try equal(try store.recordOp(runID: second, op: gemm), opID, "the op stored with its results")
        try equal(try store.runMeta(runID: second), ["fusion.bytes.core/gemm_128/optimized": "12"], "run notes stored with the op")
        try equal(try store.telemetry(runID: second).count, 1, "telemetry stored with the op")
        try equal(try store.runs(limit: 10).map(\.id), [second, runID], "runs newest first")
    }

    /// Writes naming unknown runs or another run's op are refused and change nothing.
    public static func writesToUnknownRunsAreRefused(_ store: ResultStore) throws {
        let first = try store.beginRun(runInfo())
        let second = try store.beginRun(runInfo())
        let opID = try store.recordOp(runID: first, op: gemm)
        let missing = first + second + 1_000
        try throwsStoreError("recordOp of an unknown run", .unknownRun(String(missing))) { _ = try store.recordOp(runID: missing, op: gemm) }
        try throwsStoreError("samples under another run's op") {
            try store.insertSamples(runID: second, opID: opID, samples: [sample(gemm, "reference", sequence: 0)])
        }
        try throwsStoreError("setRunMeta of an unknown run", .unknownRun(String(missing))) {
            try store.setRunMeta(runID: missing, key: "k", value: "v")
        }
        try throwsStoreError("finishRun of an unknown run", .unknownRun(String(missing))) { try store.finishRun(id: missing, status: .failed) }
        try throwsStoreError("updateRun of an unknown run", .unknownRun(String(missing))) {
            try store.updateRun(id: missing, calibration: nil, counterMode: .none, counterNote: "")
        }
        try throwsStoreError("tags of an unknown run", .unknownRun(String(missing))) { try store.setRunTags(runID: missing, tags: ["a": "b"]) }
        try equal(try store.samples(runID: second), [], "nothing written under the other run")
    }

    /// `resolveRun` (`N`, `latest`, `latest~N`), owners and stale runs.
    public static func runReferencesAndStaleRuns(_ store: ResultStore) throws {
        try throwsStoreError("latest without runs", .noRuns) { _ = try store.resolveRun("latest") }
        let a = try completeRun(store, wallNs: 1_000)
        let b = try completeRun(store, wallNs: 1_000)
        let running = try store.beginRun(runInfo(pid: 999_999_999))
        try equal(try store.resolveRun("latest"), b, "latest")
        try equal(try store.resolveRun("latest~1"), a, "latest~1")
        try equal(try store.resolveRun(String(running)), running, "a running run by id")
        try throwsStoreError("latest~2", .unknownRun("latest~2")) { _ = try store.resolveRun("latest~2") }
        try throwsStoreError("an unknown id", .unknownRun("123456")) { _ = try store.resolveRun("123456") }
        try equal(try store.runOwner(id: running)?.pid, 999_999_999, "recorded owner pid")
        try equal(try store.markStaleRuns(isAlive: { _ in true }), [], "live owners are not stale")
        try equal(try store.markStaleRuns(isAlive: { $0.pid != 999_999_999 }), [running], "a dead owner's run is stale")
        try equal(try store.run(id: running)?.status, .stale, "stale status")
    }

    /// Baselines: set, move, history, roll back, remove, resolve by name.
    public static func baselinesSetMoveRollBackRemove(_ store: ResultStore) throws {
        let a = try completeRun(store, wallNs: 1_000)
        let b = try completeRun(store, wallNs: 1_100)
        try store.setBaseline(name: "main", runID: a, note: "first")
        try store.setBaseline(name: "main", runID: b)
        try store.setBaseline(name: "arm/nightly", runID: a)
        try equal(try store.baseline(name: "main")?.runID, b, "moved baseline")
        try equal(try store.baseline(name: "main")?.history.map(\.runID), [a, b], "history of moves")
        try equal(try store.baseline(name: "main")?.history.map(\.previousRunID), [nil, a], "previous runs of moves")
        try equal(try store.baseline(name: "main")?.history.first?.note, "first", "move note")
        try equal(try store.baselines().map(\.name), ["arm/nightly", "main"], "baselines by name")
        try equal(try store.resolve("main"), b, "a baseline name resolves to its run")
        try equal(try store.baselineNamesByRun(), [a: ["arm/nightly"], b: ["main"]], "baseline names by run")
        try equal(try store.rollBackBaseline(name: "main"), a, "roll back")
        try equal(try store.baseline(name: "main")?.runID, a, "rolled-back baseline")
        try store.removeBaseline(name: "main")
        try equal(try store.baseline(name: "main"), nil, "removed baseline")
        try throwsStoreError("removing it twice", .unknownBaseline("main")) { try store.removeBaseline(name: "main") }
        try throwsStoreError("a baseline named like a run", nil) { try store.setBaseline(name: "latest", runID: a) }
        try throwsStoreError("a baseline of an unknown run") { try store.setBaseline(name: "x", runID: a + b + 1_000) }
    }

    /// Change points are stored once per (series, branch, run after); triage changes the state.
    public static func changePointsInsertOnceAndTriage(_ store: ResultStore) throws {
        let a = try completeRun(store, wallNs: 1_000)
        let b = try completeRun(store, wallNs: 1_500)
        let series = try store.series(matching: "gemm_128/reference", branch: nil, machine: nil)
        try equal(series.count, 1, "one reference series")
        guard let key = series.first else { return }
        let candidate = ChangePointCandidate(series: key, branch: nil, runBefore: a, runAfter: b, commitBefore: "deadbeef",
                                             commitAfter: "deadbeef", ratio: 1.5, lower: 1.4, upper: 1.6, p: 0.001)
        var onMain = candidate
        onMain.branch = "main"
        let ids = try store.insertChangePoints([candidate, onMain], detectedAt: Date(timeIntervalSince1970: 1_700_000_100))
        try equal(ids.count, 2, "two new change points")
        try equal(try store.insertChangePoints([candidate]), [], "inserting a stored point again inserts nothing")
        let stored = try store.changePoints(series: key, branch: nil)
        try equal(stored.map(\.candidate), [candidate], "stored point of all branches")
        try equal(stored.first?.state, .new, "new point state")
        try equal(try store.changePoints(series: nil, branch: "main").map(\.id), [ids[1]], "points of branch main")
        try store.triageChangePoint(id: ids[0], state: .acknowledged, note: "looking", at: Date(timeIntervalSince1970: 1_700_000_200))
        try store.triageChangePoint(id: ids[0], state: .accepted, note: nil)
        let triaged = try store.changePoints(series: key, branch: nil).first
        try equal(triaged?.state, .accepted, "triaged state")
        try equal(triaged?.note, "looking", "a nil note keeps the earlier one")
        try equal(try store.changePoints(series: nil, branch: nil, states: [.new]), [], "no new points left")
        try throwsStoreError("triage of an unknown point") { try store.triageChangePoint(id: ids[0] + ids[1] + 1_000, state: .new, note: nil) }
    }

    /// Series are listed (pattern, branch, machine filters) and read point by point.
    public static func seriesListingAndPoints(_ store: ResultStore) throws {
        let a = try completeRun(store, wallNs: 1_000, branch: "main", startedAt: 1_700_000_000)
        let b = try completeRun(store, wallNs: 2_000, branch: "dev", startedAt: 1_700_000_100)
        let other = try completeRun(store, wallNs: 3_000, branch: "main", startedAt: 1_700_000_200, cpu: "Other CPU")
        let all = try store.series(matching: nil, branch: nil, machine: nil)
        try equal(all.count, 4, "two variants on two machines")
        try equal(all, all.sorted(), "series sorted")
        try equal(try store.series(matching: "optimized", branch: nil, machine: "other cpu").count, 1, "pattern and CPU model filter")
        try equal(try store.series(matching: nil, branch: "dev", machine: nil).count, 2, "series with a run on dev")
        try check(try store.machineExists("conformance"), "a machine by part of its CPU model")
        try check(try !store.machineExists("no such cpu"), "an unknown machine")
        try equal(try store.machineKeys(matching: "Other").count, 1, "machine keys of a CPU model")
        guard let reference = all.first(where: { $0.benchmark.variant == "reference" && $0.cpuModel == "Conformance CPU" }) else {
            throw ConformanceFailure(description: "no reference series on the first machine in \(all)")
        }
        let points = try store.seriesPoints(reference, branch: nil, last: nil)
        try equal(points.map(\.runID), [a, b], "points oldest first")
        let net: [Double] = [1_000, 1_002, 1_004].map { ($0 - 100) / 10 }
        try equal(points.first?.samples, net, "net ns per iteration")
        try equal(points.first?.processes, [0, 0, 0], "processes")
        try equal(points.last?.gitBranch, "dev", "branch of a point")
        try equal(try store.seriesPoints(reference, branch: "dev", last: nil).map(\.runID), [b], "points of one branch")
        try equal(try store.seriesPoints(reference, branch: nil, last: 1).map(\.runID), [b], "newest point only")
        try equal(try store.seriesKeys(runID: other).map(\.cpuModel), ["Other CPU", "Other CPU"], "series of one run")
        try throwsStoreError("series of an unknown run") { _ = try store.seriesKeys(runID: a + b + other + 1_000) }
    }

    /// Run notes and tags are set, replaced and read back; tags show on series points.
    public static func runMetaAndTags(_ store: ResultStore) throws {
        let run = try completeRun(store, wallNs: 1_000)
        try store.setRunMeta(runID: run, key: "overhead.share_1ms", value: "0.0004")
        try store.setRunMeta(runID: run, key: "overhead.share_1ms", value: "0.0005")
        try store.setRunMeta(runID: run, key: "counters.unsupported", value: "LLC-load-misses")
        try equal(try store.runMeta(runID: run), ["overhead.share_1ms": "0.0005", "counters.unsupported": "LLC-load-misses"], "run notes")
        try store.setRunTags(runID: run, tags: ["pr": "17", "host": "ci-1"])
        try store.setRunTags(runID: run, tags: ["pr": "18"])
        try equal(try store.runTags(runID: run), ["pr": "18", "host": "ci-1"], "run tags")
        let key = try store.series(matching: "reference", branch: nil, machine: nil)
        try equal(try key.first.map { try store.seriesPoints($0, branch: nil, last: nil).first?.tags }, ["pr": "18", "host": "ci-1"], "tags on points")
    }

    /// Variant and fusion decisions, telemetry, per-function profiles.
    public static func decisionsTelemetryAndProfiles(_ store: ResultStore) throws {
        let run = try store.beginRun(runInfo())
        let opID = try store.recordOp(runID: run, op: gemm)
        let reference = VariantDecisionRecord(suite: "core", op: "gemm_128", variant: "reference", referenceVariant: "reference",
                                              metric: "top-1", accuracy: 0.9, accuracyDelta: 0, p50Ns: 100, p90Ns: 110, p99Ns: 120,
                                              latencySource: "iterations", energyJ: nil, speedup: 1, speedupLo: 1, speedupHi: 1,
                                              exitRates: [ExitRate(label: 1, share: 0.25, count: 1, p50Ns: 80)], decision: "reference",
                                              reason: "the reference", rollbackTo: nil)
        var adopted = reference
        adopted.variant = "int8"
        adopted.decision = "adopt"
        adopted.exitRates = nil
        adopted.rollbackTo = "reference"
        try store.replaceVariantDecisions(runID: run, records: [adopted, reference])
        try store.replaceVariantDecisions(runID: run, records: [adopted, reference])
        try equal(try store.variantDecisions(runID: run), [reference, adopted], "variant decisions, reference first")

        let decision = FusionDecision(suite: "fusion", model: "mlp", group: ["fc1", "relu"], rule: "bias+relu", outcome: .accepted,
                                      reason: "saves bytes", bytesSaved: 4096, launchesSaved: 1, predictedUnfusedNs: 10,
                                      predictedFusedNs: 8, measuredUnfusedNs: nil, measuredFusedNs: nil, maxAbsError: nil)
        try store.insertFusionDecisions(runID: run, decisions: [decision, decision])
        try equal(try store.fusionDecisions(runID: run), [decision, decision], "fusion decisions")

        let rows = [TelemetryRow(sampleSequence: 0, kind: "cpu_freq", label: "cpu0", value: 3.1e9, unit: "Hz"),
                    TelemetryRow(sampleSequence: nil, kind: "load", label: "loadavg", value: 0.5, unit: "", note: "start")]
        try store.insertTelemetry(runID: run, rows: rows)
        try equal(try store.telemetry(runID: run), rows, "telemetry")

        var profiled = sample(gemm, "reference", sequence: 0, counters: [counter("instructions", 5_000, backend: .sim)], flags: [.simulated])
        let profile = FunctionProfile(functions: [FunctionCost(function: "gemm", symbol: "_Z4gemm", object: "libk.so", file: "k.c",
                                                               count: 1, instructions: 4_000, d1Misses: 3, llMisses: nil, branchMisses: 1)],
                                      rest: FunctionCost(function: "(other)", symbol: "(other)", object: "???", file: "???", count: 7,
                                                         instructions: 1_000, d1Misses: nil, llMisses: nil, branchMisses: nil))
        profiled.functionProfile = profile
        try store.insertSamples(runID: run, opID: opID, samples: [profiled])
        let profiles = try store.functionProfiles(runID: run)
        try equal(profiles.map(\.profile), [profile], "function profile")
    }

    /// The simulated-counter cache replaces by key; noise runs find complete runs of a machine key.
    public static func simCacheAndNoiseRuns(_ store: ResultStore) throws {
        try equal(try store.simCacheCount(), 0, "empty cache")
        let benchmark = BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference")
        var entry = SimCacheEntry(key: "k1", binaryHash: "h1", benchmark: benchmark, iterations: 10, wallNs: 5e6,
                                  counters: [counter("instructions", 1_000, backend: .sim)], functionProfile: nil,
                                  caches: ["I1 32768 B"], sourceRunID: nil)
        try store.storeSimCacheEntry(entry)
        entry.iterations = 20
        try store.storeSimCacheEntry(entry)
        try equal(try store.simCacheCount(), 1, "one entry per key")
        try equal(try store.simCacheEntry(key: "k1", binaryHash: "h1"), entry, "the replacing entry")
        try equal(try store.simCacheEntry(key: "k1", binaryHash: "h2"), nil, "another binary")

        let a = try completeRun(store, wallNs: 1_000, startedAt: 1_700_000_000)
        let b = try completeRun(store, wallNs: 1_010, startedAt: 1_700_000_100)
        try store.setRunMeta(runID: b, key: RunMetaKey.binaryHash, value: "bin")
        let machineKey = machine().key
        let runs = try store.noiseRunSummaries(machineKey: machineKey, keys: [benchmark], excluding: [])
        try equal(runs.map(\.runID), [a, b], "noise runs oldest first")
        try equal(runs.last?.binaryHash, "bin", "binary hash of a noise run")
        try equal(runs.first?.injectedSlowdown, false, "no injected slowdown")
        let median: [Double] = [(1_002 - 100) / 10]
        try equal(runs.first?.processMedians[benchmark], median, "per-process medians (reference runs on process 0)")
        try equal(try store.noiseRuns(machineKey: machineKey, keys: [benchmark], excluding: [a]).map(\.runID), [b], "excluded run")
    }
}
