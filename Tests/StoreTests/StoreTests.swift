import Foundation
import GRDB
import Testing
import BenchModel
@testable import Store

// MARK: - Fixtures

/// A fresh directory under the system temp dir, removed by the caller.
private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private let machine = MachineFingerprint(cpuModel: "Test CPU 9000", logicalCPUs: 8, isaHost: ["avx2", "fma"],
                                         caches: ["L1d 48K", "L2 1024K"], kernel: "6.8.0", governor: "performance",
                                         perfEventParanoid: 2, virtualization: "none", pmuAvailable: true)

private func runInfo(label: String? = "test", pid: Int32 = 4242, startedAt: Date = Date(timeIntervalSince1970: 1_700_000_000.25)) -> RunInfo {
    RunInfo(startedAt: startedAt, status: .complete, label: label, suites: ["core", "fusion"],
            suiteHash: "abc123", gitCommit: "deadbeef", gitBranch: "main", gitDirty: false,
            harnessVersion: Harness.version, machine: machine, isaBuilt: ["avx2"], counterMode: .none,
            counterNote: "not yet decided", calibration: nil, configJSON: #"{"quick":true}"#, pid: pid)
}

private let gemm = OpRecord(suite: "core", name: "gemm_128", kind: "gemm", shape: ["m": 128, "n": 128, "k": 128],
                            dtype: "f32", flops: 2 * 128 * 128 * 128, bytes: 3 * 128 * 128 * 4, threshold: 0.05)
private let biasRelu = OpRecord(suite: "fusion", name: "bias_relu_4k", kind: "bias_relu", shape: ["n": 4096],
                                dtype: "f32", flops: 8192, bytes: 49152, threshold: 0.03)

private func counter(_ event: String, _ value: Double, multiplexed: Bool = false) -> CounterValue {
    CounterValue(event: event, value: value, raw: UInt64(value / (multiplexed ? 2 : 1)), timeEnabled: 1_000,
                 timeRunning: multiplexed ? 500 : 1_000, backend: .hw)
}

// MARK: - Round trip

@Test func runRoundTripWithOpsSamplesAndAccuracy() throws {
    let store = try ResultStore.inMemory()
    let info = runInfo()
    let runID = try store.beginRun(info)

    var expected = info
    expected.id = runID
    expected.status = .running
    expected.uuid = try #require(try store.run(id: runID)).uuid  // beginRun gives every run a new UUID
    #expect(expected.uuid.count == 36)
    #expect(try store.run(id: runID) == expected)

    let calibration = Calibration(clockPairNs: 25, counterReadNs: 310, emptyBatchNs: 400, perIterationNs: 0.5, targetBatchNs: 1e6)
    try store.updateRun(id: runID, calibration: calibration, counterMode: .hw, counterNote: "perf_event available")
    try store.setRunMeta(runID: runID, key: "overhead.share_1ms", value: "0.0004")
    try store.setRunMeta(runID: runID, key: "counters.unsupported", value: "LLC-load-misses")
    try store.setRunMeta(runID: runID, key: "overhead.share_1ms", value: "0.0005")
    #expect(try store.runMeta(runID: runID) == ["overhead.share_1ms": "0.0005", "counters.unsupported": "LLC-load-misses"])

    let gemmID = try store.recordOp(runID: runID, op: gemm)
    let reluID = try store.recordOp(runID: runID, op: biasRelu)
    #expect(try store.recordOp(runID: runID, op: gemm) == gemmID)
    #expect(gemmID != reluID)
    #expect(try store.ops(runID: runID) == [gemm, biasRelu])

    let gemmSamples = [
        Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: 0, iterations: 10, wallNs: 2_000, cpuNs: 1_900, overheadNs: 200,
               counters: [counter("instructions", 50_000), counter("cycles", 30_000, multiplexed: true)], flags: [.multiplexed]),
        Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "optimized"), sequence: 2, process: 1, iterations: 20, wallNs: 1_500, cpuNs: 1_450,
               overheadNs: 210, counters: [counter("instructions", 20_000)], flags: [.outlier, .throttled]),
    ]
    let reluSamples = [
        Sample(key: BenchmarkKey(suite: "fusion", op: "bias_relu_4k", variant: "reference"), sequence: 1, iterations: 100, wallNs: 9_000, cpuNs: 8_800,
               overheadNs: 150),
        Sample(key: BenchmarkKey(suite: "fusion", op: "bias_relu_4k", variant: "fused"), sequence: 3, iterations: 100, wallNs: 100, cpuNs: 90,
               overheadNs: 150, flags: [.belowOverhead]),
    ]
    try store.insertSamples(runID: runID, opID: gemmID, samples: gemmSamples)
    try store.insertSamples(runID: runID, opID: reluID, samples: reluSamples)
    try store.insertSamples(runID: runID, opID: reluID, samples: [])

    let all = try store.samples(runID: runID)
    #expect(all == [gemmSamples[0], reluSamples[0], gemmSamples[1], reluSamples[1]])
    #expect(try store.samples(runID: runID, op: gemm.key) == gemmSamples)
    #expect(try store.samples(runID: runID, op: OpKey(suite: "core", op: "nope")).isEmpty)
    #expect(try store.samples(runID: runID, op: OpKey(suite: "fusion", op: "gemm_128")).isEmpty, "same name, other suite")
    #expect(all[0].counters[1].multiplexed)

    let passed = AccuracyCheck(suite: "core", op: "gemm_128", variant: "optimized", referenceVariant: "reference", maxAbsError: 1e-6,
                               maxRelError: 2e-6, cosine: 0.999999, tolerance: Tolerance(abs: 1e-5, rel: 1e-4), passed: true)
    let failed = AccuracyCheck(suite: "fusion", op: "bias_relu_4k", variant: "fused", referenceVariant: "reference", maxAbsError: 0.5,
                               maxRelError: 0.25, cosine: 0.98, tolerance: Tolerance(abs: 1e-5, rel: 1e-4, minCosine: 0.999),
                               passed: false, reason: "max abs error 0.5 exceeds 1e-05 at index 17")
    try store.insertAccuracy(runID: runID, opID: gemmID, check: passed)
    try store.insertAccuracy(runID: runID, opID: reluID, check: failed)
    #expect(try store.accuracyChecks(runID: runID) == [passed, failed])

    try store.finishRun(id: runID, status: .complete)
    let finished = try #require(try store.run(id: runID))
    #expect(finished.status == .complete)
    #expect(finished.calibration == calibration)
    #expect(finished.counterMode == .hw)
    #expect(finished.counterNote == "perf_event available")
    #expect(finished.machine == machine)
    let endedAt = try #require(finished.endedAt)
    #expect(abs(endedAt.timeIntervalSinceNow) < 60)
    #expect(try store.run(id: runID + 100) == nil)
}

@Test func writesToUnknownRunsOrOpsAreRefused() throws {
    let store = try ResultStore.inMemory()
    let first = try store.beginRun(runInfo())
    let second = try store.beginRun(runInfo())
    let opID = try store.recordOp(runID: first, op: gemm)
    let sample = Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: 0, iterations: 1, wallNs: 1, cpuNs: 1, overheadNs: 0)

    #expect(throws: StoreError.unknownRun("99")) { try store.recordOp(runID: 99, op: gemm) }
    #expect(throws: StoreError.self) { try store.insertSamples(runID: second, opID: opID, samples: [sample]) }
    #expect(throws: StoreError.self) { try store.insertAccuracy(runID: first, opID: opID + 7, check: AccuracyCheck(
        op: "gemm_128", variant: "o", referenceVariant: "r", maxAbsError: 0, maxRelError: 0, cosine: 1,
        tolerance: Tolerance(abs: 0, rel: 0), passed: true)) }
    #expect(throws: StoreError.unknownRun("99")) { try store.setRunMeta(runID: 99, key: "k", value: "v") }
    #expect(throws: StoreError.unknownRun("99")) { try store.finishRun(id: 99, status: .failed) }
    #expect(throws: StoreError.unknownRun("99")) {
        try store.updateRun(id: 99, calibration: nil, counterMode: .none, counterNote: "")
    }
    #expect(try store.samples(runID: second).isEmpty)
}

@Test func countersKeepTheirOrderAndTheLimitIsEnforced() throws {
    let store = try ResultStore.inMemory()
    let runID = try store.beginRun(runInfo())
    let opID = try store.recordOp(runID: runID, op: gemm)
    let events = ["zeta", "alpha", "mu", "beta", "omega", "cycles", "instructions"]
    let many = Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: 0, iterations: 1, wallNs: 10, cpuNs: 10, overheadNs: 1,
                      counters: events.enumerated().map { counter($1, Double($0 + 1)) })
    try store.insertSamples(runID: runID, opID: opID, samples: [many])
    #expect(try store.samples(runID: runID).first?.counters.map(\.event) == events)

    let tooMany = Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: 1, iterations: 1, wallNs: 10, cpuNs: 10, overheadNs: 1,
                         counters: (0..<1025).map { counter("e\($0)", 1) })
    let ok = Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: 2, iterations: 1, wallNs: 10, cpuNs: 10, overheadNs: 1)
    let error = #expect(throws: StoreError.self) { try store.insertSamples(runID: runID, opID: opID, samples: [ok, tooMany]) }
    #expect(error?.description.contains("at most 1024") == true)
    #expect(try store.samples(runID: runID).count == 1)  // the whole batch was rolled back
}

@Test func deletingARunCascadesToEverything() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("results.sqlite").path
    let store = try ResultStore(path: path)
    var opIDs: [Int64: Int64] = [:]
    for _ in 0..<2 {
        let runID = try store.beginRun(runInfo())
        let opID = try store.recordOp(runID: runID, op: gemm)
        opIDs[runID] = opID
        try store.setRunMeta(runID: runID, key: "k", value: "v")
        try store.insertSamples(runID: runID, opID: opID, samples: (0..<3).map {
            Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "reference"), sequence: $0, iterations: 1, wallNs: 10, cpuNs: 10, overheadNs: 1,
                   counters: [counter("instructions", 5), counter("cycles", 7)])
        })
        try store.insertAccuracy(runID: runID, opID: opID, check: AccuracyCheck(
            op: "gemm_128", variant: "o", referenceVariant: "r", maxAbsError: 0, maxRelError: 0, cosine: 1,
            tolerance: Tolerance(abs: 0, rel: 0), passed: true))
    }
    let (doomed, kept) = (opIDs.keys.min()!, opIDs.keys.max()!)
    let db = try DatabaseQueue(path: path)
    try db.write { try $0.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [doomed]) }
    let counts = try db.read { db in
        try ["ops", "samples", "counter_values", "accuracy_checks", "run_meta"].map {
            try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)") ?? -1
        }
    }
    #expect(counts == [1, 3, 6, 1, 1])
    #expect(try store.samples(runID: kept).flatMap(\.counters).count == 6)
}

// MARK: - Runs

@Test func runsAreListedNewestFirst() throws {
    let store = try ResultStore.inMemory()
    let ids = try (0..<3).map { try store.beginRun(runInfo(label: "run \($0)")) }
    #expect(try store.runs().map(\.id) == ids.reversed())
    #expect(try store.runs(limit: 2).map(\.label) == ["run 2", "run 1"])
}

@Test func resolveRunReferences() throws {
    let store = try ResultStore.inMemory()
    #expect(throws: StoreError.noRuns) { try store.resolveRun("latest") }

    let a = try store.beginRun(runInfo())
    let b = try store.beginRun(runInfo())
    let c = try store.beginRun(runInfo())
    let d = try store.beginRun(runInfo())
    try store.finishRun(id: a, status: .complete)
    try store.finishRun(id: b, status: .failed)
    try store.finishRun(id: c, status: .complete)
    // d stays running: "latest" means the newest *complete* run.

    #expect(try store.resolveRun(String(b)) == b)
    #expect(try store.resolveRun(" \(d) ") == d)
    #expect(try store.resolveRun("latest") == c)
    #expect(try store.resolveRun("latest~0") == c)
    #expect(try store.resolveRun("latest~1") == a)
    #expect(throws: StoreError.unknownRun("latest~2")) { try store.resolveRun("latest~2") }
    #expect(throws: StoreError.unknownRun("999")) { try store.resolveRun("999") }
    #expect(throws: StoreError.unknownRun("release-1.2")) { try store.resolveRun("release-1.2") }
    #expect(throws: StoreError.unknownRun("latest~x")) { try store.resolveRun("latest~x") }
    #expect(StoreError.unknownRun("release-1.2").description.contains("'release-1.2'"))
}

@Test func staleRunsAreMarkedWithInjectedLiveness() throws {
    let store = try ResultStore.inMemory()
    let alive = try store.beginRun(runInfo(pid: 111))
    let dead = try store.beginRun(runInfo(pid: 222))
    let done = try store.beginRun(runInfo(pid: 333))
    try store.finishRun(id: done, status: .complete)

    #expect(try store.markStaleRuns(isAlive: { $0.pid == 111 }) == [dead])
    #expect(try store.run(id: alive)?.status == .running)
    #expect(try store.run(id: dead)?.status == .stale)
    #expect(try store.run(id: dead)?.endedAt == nil)
    #expect(try store.run(id: done)?.status == .complete)
    #expect(try store.markStaleRuns(isAlive: { $0.pid == 111 }).isEmpty)
}

@Test func defaultLivenessUsesKill() throws {
    #expect(defaultPidAlive(getpid()))
    #expect(!defaultPidAlive(0))
    #expect(!defaultPidAlive(-1))
    #expect(!defaultPidAlive(Int32.max))  // above pid_max on Linux
    let store = try ResultStore.inMemory()
    let id = try store.beginRun(runInfo(pid: getpid()))
    #expect(try store.markStaleRuns() == [])
    #expect(try store.run(id: id)?.status == .running)
}

// MARK: - Files, versions, errors

@Test func fileDatabaseUsesWALAndMigrationsAreIdempotent() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("nested/deeper/results.sqlite").path

    let runID: Int64
    do {
        let store = try ResultStore(path: path)
        #expect(store.path == path)
        #expect(try store.journalMode() == "wal")
        #expect(try store.schemaVersion() == Schema.knownVersion)
        runID = try store.beginRun(runInfo())
    }
    let reopened = try ResultStore(path: path)
    #expect(try reopened.schemaVersion() == Schema.knownVersion)
    #expect(try reopened.journalMode() == "wal")
    #expect(try reopened.run(id: runID)?.label == "test")
    let third = try ResultStore(path: path)
    #expect(try third.runs().count == 1)

    let applied = try DatabaseQueue(path: path).read { db in
        try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
    }
    #expect(applied == Schema.migrations.map(\.identifier))
}

@Test func newerSchemaVersionIsRefused() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("results.sqlite").path
    _ = try ResultStore(path: path)
    let newer = Schema.knownVersion + 1   // computed: every appended migration raises knownVersion
    try DatabaseQueue(path: path).writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = \(newer)") }

    let error = #expect(throws: StoreError.self) { try ResultStore(path: path) }
    #expect(error == .newerSchema(found: newer, known: Schema.knownVersion, path: path))
    #expect(error?.description == "\(path): database schema version \(newer) is newer than this fusebench knows "
        + "(\(Schema.knownVersion)); upgrade fusebench or use another --db")
    // Refusal leaves the file untouched.
    let version = try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
    #expect(version == newer)
}

@Test func unknownAppliedMigrationIsTreatedAsNewer() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("results.sqlite").path
    _ = try ResultStore(path: path)
    try DatabaseQueue(path: path).write { db in
        try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
    }
    let error = #expect(throws: StoreError.self) { try ResultStore(path: path) }
    guard case let .newerSchema(found, known, errorPath) = error else {
        Issue.record("expected newerSchema, got \(String(describing: error))")
        return
    }
    #expect(found > known)
    #expect(errorPath == path)
}

@Test func garbageFileIsUnusable() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("notes.sqlite").path
    try Data(String(repeating: "this is not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))

    let error = #expect(throws: StoreError.self) { try ResultStore(path: path) }
    guard case let .unusable(errorPath, reason) = error else {
        Issue.record("expected unusable, got \(String(describing: error))")
        return
    }
    #expect(errorPath == path)
    #expect(reason.contains("not a SQLite database"))
    #expect(error?.description.hasPrefix("\(path): ") == true)
}

@Test func directoryAndForeignDatabaseAreUnusable() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(throws: StoreError.unusable(path: dir.path, reason: "it is a directory")) { try ResultStore(path: dir.path) }

    let foreign = dir.appendingPathComponent("other.sqlite").path
    try DatabaseQueue(path: foreign).write { db in try db.execute(sql: "CREATE TABLE players (id INTEGER PRIMARY KEY)") }
    let error = #expect(throws: StoreError.self) { try ResultStore(path: foreign) }
    guard case let .unusable(_, reason) = error else {
        Issue.record("expected unusable, got \(String(describing: error))")
        return
    }
    #expect(reason.contains("players"))
}

// MARK: - Views

@Test func viewsShowPerIterationNumbers() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("results.sqlite").path
    let store = try ResultStore(path: path)
    let runID = try store.beginRun(runInfo(label: "views"))
    let opID = try store.recordOp(runID: runID, op: gemm)
    try store.insertSamples(runID: runID, opID: opID, samples: [
        Sample(key: BenchmarkKey(suite: "core", op: "gemm_128", variant: "optimized"), sequence: 5, iterations: 10, wallNs: 2_000, cpuNs: 1_000,
               overheadNs: 200, counters: [counter("instructions", 5_000), counter("cycles", 3_000, multiplexed: true)],
               flags: [.multiplexed]),
    ])

    let db = try DatabaseQueue(path: path)
    let sampleRow = try #require(try db.read { try Row.fetchOne($0, sql: "SELECT * FROM v_samples WHERE run_id = ?", arguments: [runID]) })
    #expect(sampleRow["suite"] as String == "core")
    #expect(sampleRow["op"] as String == "gemm_128")
    #expect(sampleRow["variant"] as String == "optimized")
    #expect(sampleRow["sequence"] as Int == 5)
    #expect(sampleRow["iterations"] as Int == 10)
    #expect(sampleRow["ns_per_iter"] as Double == 180)
    #expect(sampleRow["cpu_ns_per_iter"] as Double == 100)
    #expect(sampleRow["flags"] as Int == SampleFlags.multiplexed.rawValue)

    let counterRows = try db.read {
        try Row.fetchAll($0, sql: "SELECT event, per_iter, backend, multiplexed FROM v_counters WHERE run_id = ? ORDER BY event",
                         arguments: [runID])
    }
    #expect(counterRows.count == 2)
    #expect(counterRows[0]["event"] as String == "cycles")
    #expect(counterRows[0]["per_iter"] as Double == 300)
    #expect(counterRows[0]["multiplexed"] as Bool == true)
    #expect(counterRows[1]["event"] as String == "instructions")
    #expect(counterRows[1]["per_iter"] as Double == 500)
    #expect(counterRows[1]["multiplexed"] as Bool == false)
    #expect(counterRows[1]["backend"] as String == "hw")

    let runRow = try #require(try db.read { try Row.fetchOne($0, sql: "SELECT * FROM v_runs WHERE id = ?", arguments: [runID]) })
    #expect(runRow["status"] as String == "running")
    #expect(runRow["started_at"] as String == "2023-11-14T22:13:20.250Z")
    #expect(runRow["label"] as String == "views")
    #expect(runRow["cpu_model"] as String == "Test CPU 9000")
    #expect(runRow["git_commit"] as String == "deadbeef")
}

// MARK: - Benchmark helper

@Test func insertRateBenchmarkWritesTheExpectedRows() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("bench.sqlite").path
    let result = try StoreBenchmark.measureInsertRate(path: path, samples: 2_000, countersPerSample: 4)
    #expect(result.rows == 10_000)
    #expect(result.seconds > 0)
    let store = try ResultStore(path: path)
    let runID = try store.resolveRun("latest")
    #expect(try store.samples(runID: runID).count == 2_000)
    print("store insert rate (debug build, \(result.rows) rows): \(Int(Double(result.rows) / result.seconds)) rows/s")
}

/// A populated database of schema v2 migrates to the current schema in place: its runs and
/// samples stay, and the new tables and views work on it.
@Test func populatedV2DatabaseMigratesToCurrent() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("v2.sqlite").path
    let runID: Int64
    do {
        let store = try ResultStore(path: path)
        runID = try store.beginRun(runInfo())
        let opID = try store.recordOp(runID: runID, op: OpRecord(suite: "s", name: "mlp", kind: "edge", shape: ["batch": 1], dtype: "f32",
                                                                 flops: 1, bytes: 1, threshold: 0.05))
        try store.insertSamples(runID: runID, opID: opID, samples: [
            Sample(key: BenchmarkKey(suite: "s", op: "mlp", variant: "fp32"), sequence: 0, iterations: 4, wallNs: 4_000, cpuNs: 4_000, overheadNs: 10),
        ])
        try store.finishRun(id: runID, status: .complete)
    }
    // Turn it back into a v2 file: drop the objects and migration records of v3 and later (v5's
    // v_counters stays: v5 replaces it again).
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: """
            DROP VIEW v_iteration_latencies; DROP VIEW v_variant_decisions;
            DROP TABLE iteration_latencies; DROP TABLE variant_decisions;
            DELETE FROM grdb_migrations WHERE identifier IN ('\(Schema.migrations[2].identifier)', '\(Schema.migrations[3].identifier)',
                                                              '\(Schema.migrations[4].identifier)');
            ALTER TABLE runs DROP COLUMN owner_lock; ALTER TABLE runs DROP COLUMN pid_start; ALTER TABLE runs DROP COLUMN boot_id;
            PRAGMA user_version = 2;
            """)
    }
    try queue.close()

    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)  // v3 and every later migration
    #expect(try store.run(id: runID)?.status == .complete)
    #expect(try store.samples(runID: runID).map(\.wallNs) == [4_000])
    // The new tables work on the migrated file.
    let opID = try #require(try store.sqliteWrite { db in try Int64.fetchOne(db, sql: "SELECT id FROM ops WHERE run_id = ?", arguments: [runID]) })
    try store.insertSamples(runID: runID, opID: opID, samples: [
        Sample(key: BenchmarkKey(suite: "s", op: "mlp", variant: "int8"), sequence: 1, iterations: 2, wallNs: 200, cpuNs: 200, overheadNs: 10,
               iterationLatencies: IterationLatencies(ns: [90, 110], labels: [1, 2], overheadNs: 5)),
    ])
    let stored = try store.samples(runID: runID, iterationLatencies: true).compactMap(\.iterationLatencies)
    #expect(stored.map(\.ns) == [[90, 110]] && stored.map(\.labels) == [[1, 2]])
    let viewRows = try store.sqliteWrite { db in try Row.fetchAll(db, sql: "SELECT ns, label FROM v_iteration_latencies ORDER BY iteration") }
    #expect(viewRows.map { $0[0] as Double } == [85, 105] && viewRows.map { $0[1] as Int } == [1, 2])
    try store.replaceVariantDecisions(runID: runID, records: [])
    #expect(try store.variantDecisions(runID: runID).isEmpty)
}

/// Creates the database at `path` with one complete run holding ops `(suite, name)` of `kind`:
/// the starting point of the migration tests, which then rewrite it into an older schema.
private func completeRunWithOps(path: String, ops: [(suite: String, name: String)], kind: String) throws -> Int64 {
    let store = try ResultStore(path: path)
    let runID = try store.beginRun(runInfo())
    for (suite, name) in ops {
        _ = try store.recordOp(runID: runID, op: OpRecord(suite: suite, name: name, kind: kind, shape: ["batch": 1],
                                                         dtype: "f32", flops: 1, bytes: 1, threshold: 0.05))
    }
    try store.finishRun(id: runID, status: .complete)
    return runID
}

/// Variant decisions written by schema v3/v4 (op = bare name, or `SUITE/OP` when two suites of
/// the run shared the name) move to v5's (suite, op) columns, so they stay apart after migrating.
@Test func v4VariantDecisionsMigrateToSuiteAndOp() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("v4.sqlite").path
    let runID = try completeRunWithOps(path: path, ops: [("a", "mlp"), ("b", "mlp"), ("a", "solo")], kind: "edge")
    // Turn it back into a v4 file holding v3/v4-style decision rows.
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: """
            DROP VIEW v_iteration_latencies; DROP VIEW v_variant_decisions;
            DROP TABLE iteration_latencies; DROP TABLE variant_decisions;
            """)
        try db.execute(sql: Schema.v3)
        for op in ["a/mlp", "b/mlp", "solo"] {
            try db.execute(sql: """
                INSERT INTO variant_decisions (run_id, op, variant, reference_variant, metric, latency_source, decision, reason, decided_at)
                VALUES (?, ?, 'fp32', 'fp32', 'top-1', 'none', 'reference', 'reference', 0)
                """, arguments: [runID, op])
        }
        try db.execute(sql: """
            DELETE FROM grdb_migrations WHERE identifier = '\(Schema.migrations[4].identifier)';
            PRAGMA user_version = 4;
            """)
    }
    try queue.close()

    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    let keys = try store.variantDecisions(runID: runID).map(\.key.description)
    #expect(keys == ["a/mlp/fp32", "a/solo/fp32", "b/mlp/fp32"])
    let suites = try store.sqliteRead { db in try String.fetchAll(db, sql: "SELECT suite FROM v_variant_decisions ORDER BY suite, op") }
    #expect(suites == ["a", "a", "b"])
}

/// Two suites of one run with the same op name: samples, checks and decisions read back keyed
/// by `SUITE/OP/VARIANT`, never merged.
@Test func sameOpNameInTwoSuitesStaysApart() throws {
    let store = try ResultStore.inMemory()
    let runID = try store.beginRun(runInfo())
    var expected: [BenchmarkKey: [Double]] = [:]
    for (suite, wall) in [("smoke", 1_000.0), ("default", 9_000.0)] {
        let op = OpRecord(suite: suite, name: "gemm_128", kind: "gemm", shape: ["m": 128, "n": 128, "k": 128], dtype: "f32",
                          flops: 1, bytes: 1, threshold: 0.05)
        let opID = try store.recordOp(runID: runID, op: op)
        let key = op.benchmarkKey(variant: "optimized")
        try store.insertSamples(runID: runID, opID: opID, samples: [
            Sample(key: key, sequence: suite == "smoke" ? 0 : 1, iterations: 1, wallNs: wall, cpuNs: wall, overheadNs: 0),
        ])
        try store.insertAccuracy(runID: runID, opID: opID, check: AccuracyCheck(
            suite: suite, op: "gemm_128", variant: "optimized", referenceVariant: "reference", maxAbsError: 0, maxRelError: 0,
            cosine: 1, tolerance: Tolerance(abs: 1e-4, rel: 1e-4), passed: suite == "smoke"))
        try store.replaceVariantDecisions(runID: runID, records: [VariantDecisionRecord(
            suite: suite, op: "gemm_128", variant: "optimized", referenceVariant: "reference", metric: "top-1", accuracy: nil,
            accuracyDelta: nil, p50Ns: wall, p90Ns: nil, p99Ns: nil, latencySource: "batches", energyJ: nil, speedup: nil,
            speedupLo: nil, speedupHi: nil, exitRates: nil, decision: "adopt", reason: "adopt", rollbackTo: nil)])
        expected[key] = [wall]
    }
    let samples = try store.samples(runID: runID)
    #expect(Dictionary(grouping: samples, by: \.key).mapValues { $0.map(\.wallNs) } == expected)
    #expect(try store.samples(runID: runID, op: OpKey(suite: "default", op: "gemm_128")).map(\.wallNs) == [9_000])
    let checks = try store.accuracyChecks(runID: runID)
    #expect(checks.map(\.key.description) == ["smoke/gemm_128/optimized", "default/gemm_128/optimized"])
    #expect(checks.map(\.passed) == [true, false])
    #expect(try store.accuracyChecks(runID: runID, op: OpKey(suite: "default", op: "gemm_128")).map(\.passed) == [false])
    // Replacing one suite's decisions keeps the other's.
    let decisions = try store.variantDecisions(runID: runID)
    #expect(decisions.map(\.key.description) == ["default/gemm_128/optimized", "smoke/gemm_128/optimized"])
    #expect(decisions.map(\.p50Ns) == [9_000, 1_000])
}

/// A v4 run holding both a bare `mlp` row and an `a/mlp` row (the same key after v5) migrates:
/// the qualified row wins instead of a primary-key conflict failing the migration.
@Test func v4BareAndQualifiedVariantDecisionRowsMigrate() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("v4-both.sqlite").path
    let runID = try completeRunWithOps(path: path, ops: [("a", "mlp"), ("b", "mlp")], kind: "edge")
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: """
            DROP VIEW v_iteration_latencies; DROP VIEW v_variant_decisions;
            DROP TABLE iteration_latencies; DROP TABLE variant_decisions;
            """)
        try db.execute(sql: Schema.v3)
        for (op, reason) in [("mlp", "bare"), ("a/mlp", "qualified"), ("b/mlp", "qualified")] {
            try db.execute(sql: """
                INSERT INTO variant_decisions (run_id, op, variant, reference_variant, metric, latency_source, decision, reason, decided_at)
                VALUES (?, ?, 'fp32', 'fp32', 'top-1', 'none', 'reference', ?, 0)
                """, arguments: [runID, op, reason])
        }
        try db.execute(sql: """
            DELETE FROM grdb_migrations WHERE identifier = '\(Schema.migrations[4].identifier)';
            PRAGMA user_version = 4;
            """)
    }
    try queue.close()

    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    let decisions = try store.variantDecisions(runID: runID)
    #expect(decisions.map(\.key.description) == ["a/mlp/fp32", "b/mlp/fp32"])
    #expect(decisions.map(\.reason) == ["qualified", "qualified"])
}

/// Fusion decisions are keyed by suite and model: two suites with a `[[model]]` of the same name
/// read back apart.
@Test func fusionDecisionsKeepTheirSuite() throws {
    let store = try ResultStore.inMemory()
    let runID = try store.beginRun(runInfo())
    try store.insertFusionDecisions(runID: runID, decisions: [
        FusionDecision(suite: "a", model: "mlp", group: ["fc1", "relu1"], rule: "gemm-epilogue", outcome: .accepted, reason: "a"),
        FusionDecision(suite: "b", model: "mlp", group: ["fc1", "relu1"], rule: "gemm-epilogue", outcome: .rejectedNoGain, reason: "b"),
    ])
    let back = try store.fusionDecisions(runID: runID)
    #expect(back.map(\.opKey) == [OpKey(suite: "a", op: "mlp"), OpKey(suite: "b", op: "mlp")])
    #expect(back.map(\.outcome) == [.accepted, .rejectedNoGain])
}

/// v6: fusion decisions stored before they had a suite get the suite of the run's op of that
/// name when exactly one suite has one; an ambiguous model keeps the suite unknown ('').
@Test func v5FusionDecisionsGetTheirSuiteWhereUnambiguous() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("v5.sqlite").path
    let runID = try completeRunWithOps(path: path, ops: [("a", "mlp"), ("b", "mlp"), ("a", "solo")], kind: "model")
    // Turn it back into a v5 file: no suite column, decisions by model name.
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { db in
        try db.execute(sql: """
            DROP INDEX fusion_decisions_run;
            ALTER TABLE fusion_decisions DROP COLUMN suite;
            CREATE INDEX fusion_decisions_run ON fusion_decisions(run_id, model);
            """)
        for model in ["mlp", "solo"] {
            try db.execute(sql: """
                INSERT INTO fusion_decisions (run_id, model, layers, rule, outcome, reason, bytes_saved, launches_saved)
                VALUES (?, ?, '["x","y"]', 'elementwise-chain', 'accepted', 'ok', 8, 1)
                """, arguments: [runID, model])
        }
        try db.execute(sql: """
            DELETE FROM grdb_migrations WHERE identifier = '\(Schema.migrations[5].identifier)';
            PRAGMA user_version = 5;
            """)
    }
    try queue.close()

    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    let decisions = try store.fusionDecisions(runID: runID)
    #expect(decisions.map(\.opKey) == [OpKey(suite: "", op: "mlp"), OpKey(suite: "a", op: "solo")])
}

/// The normalised error and the worst element's context round-trip (schema v13); a row written
/// without them (an older build) reads them as unknown.
@Test func accuracyNormalisedErrorRoundTripsAndOldRowsReadAsUnknown() throws {
    let store = try ResultStore.inMemory()
    let runID = try store.beginRun(runInfo())
    let opID = try store.recordOp(runID: runID, op: gemm)
    let check = AccuracyCheck(suite: "core", op: "gemm_128", variant: "optimized", referenceVariant: "reference", maxAbsError: 3e-5,
                              maxRelError: 8.6e-2, cosine: 1, tolerance: Tolerance(abs: 1e-3, rel: 1e-4), passed: true,
                              normalizedError: 3.1e-7, normalization: .bound, worstRelReference: 2.1e-5, outputRMS: 7.4)
    try store.insertAccuracy(runID: runID, opID: opID, check: check)
    try store.sqliteWrite { db in
        try db.execute(sql: """
            INSERT INTO accuracy_checks (run_id, op_id, variant, reference_variant, max_abs_error, max_rel_error,
                                         cosine, tol_abs, tol_rel, tol_min_cosine, passed, reason)
            VALUES (?, ?, 'old', 'reference', 1e-5, 0.5, 1, 1e-3, 1e-4, 0.9999, 1, NULL)
            """, arguments: [runID, opID])
    }
    let read = try store.accuracyChecks(runID: runID)
    #expect(read.first == check)
    #expect(read.count == 2)
    #expect(read.last?.normalizedError == nil && read.last?.normalization == nil)
    #expect(read.last?.worstRelReference == nil && read.last?.outputRMS == nil)
    #expect(read.last?.maxRelError == 0.5)
}

/// The measured ratio's interval of a fusion decision round-trips (schema v14).
@Test func fusionDecisionMeasuredIntervalRoundTrips() throws {
    let store = try ResultStore.inMemory()
    let runID = try store.beginRun(runInfo())
    let d = FusionDecision(suite: "fusion", model: "linear_chain6", group: ["fc", "bias"], rule: "gemm-epilogue", outcome: .rejectedSlower,
                           reason: "measured 1.012× slower", predictedUnfusedNs: 799_000, predictedFusedNs: 768_000,
                           measuredUnfusedNs: 800_000, measuredFusedNs: 809_600, maxAbsError: 0,
                           measuredRatioLower: 1.006, measuredRatioUpper: 1.018)
    try store.insertFusionDecisions(runID: runID, decisions: [d])
    #expect(try store.fusionDecisions(runID: runID) == [d])
}
