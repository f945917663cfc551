// Learned-noise queries (NoiseRuns.swift): which runs count, in which order, with which marks, the
// per-process medians, and that the lookups use indexes.
import Foundation
import GRDB
import Testing
import BenchModel
import TestSupport
@testable import Store

private let gemmReference = BenchmarkKey(suite: "tiny", op: "gemm", variant: "reference")
private let gemmOptimized = BenchmarkKey(suite: "tiny", op: "gemm", variant: "optimized")

/// A run of op `gemm` with per-process values `values` (both variants: optimized at half), started
/// `minute` minutes after a fixed time, with run meta `binary.hash` = `hash` when given.
@discardableResult
private func run(_ store: ResultStore, minute: Double, values: [[Double]], hash: String?, machine: MachineFingerprint = Synthetic.machine,
                 status: RunStatus = .complete, flags: @escaping (String, Int) -> SampleFlags = { _, _ in [] }) throws -> Int64 {
    let op = Synthetic.Op(name: "gemm", values: ["reference": values, "optimized": values.map { $0.map { $0 / 2 } }])
    let id = try Synthetic.run(store, ops: [op], machine: machine, status: status, flags: flags,
                               info: { $0.startedAt = Date(timeIntervalSince1970: 1_700_000_000 + 60 * minute) })
    if let hash { try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: hash) }
    return id
}

@Test func noiseRunsAreCompleteRunsOfTheMachineInStartOrderWithTheirMarks() throws {
    let store = try ResultStore.inMemory()
    var other = Synthetic.machine
    other.cpuModel = "Other CPU 1"
    let late = try run(store, minute: 10, values: [[100, 102, 104]], hash: "aa")
    let early = try run(store, minute: 1, values: [[100, 101, 99]], hash: "aa")       // started first, stored second
    let injected = try run(store, minute: 5, values: [[130]], hash: "aa")
    try store.setRunMeta(runID: injected, key: RunMetaKey.injectSlowdown, value: "tiny/gemm=30.0%")
    let unhashed = try run(store, minute: 6, values: [[100]], hash: nil)
    try run(store, minute: 7, values: [[100]], hash: "aa", machine: other)             // another machine
    try run(store, minute: 8, values: [[100]], hash: "aa", status: .interrupted)       // not complete
    let excluded = try run(store, minute: 9, values: [[100]], hash: "aa")
    try Synthetic.run(store, suite: "other", ops: [Synthetic.Op(name: "solo", values: ["reference": [[5]]])])   // no asked benchmark

    let runs = try store.noiseRuns(machineKey: Synthetic.machine.key, keys: [gemmReference, gemmOptimized], excluding: [excluded])
    #expect(runs.map(\.runID) == [early, injected, unhashed, late])
    #expect(runs.map(\.binaryHash) == ["aa", "aa", nil, "aa"])
    #expect(runs.map(\.injectedSlowdown) == [false, true, false, false])
    #expect(runs.allSatisfy { $0.benchmarks == [gemmReference, gemmOptimized] && $0.machineKey == Synthetic.machine.key })
    #expect(runs.allSatisfy { $0.processMedians.isEmpty })   // read on request only
    #expect(try store.noiseRuns(machineKey: other.key, keys: [gemmReference], excluding: []).count == 1)
    #expect(try store.noiseRuns(machineKey: "nothing", keys: [gemmReference], excluding: []).isEmpty)
    #expect(try store.noiseRuns(machineKey: Synthetic.machine.key, keys: [], excluding: []).isEmpty)
}

@Test func noiseRunsCarryTheConfiguredProcessCount() throws {
    let store = try ResultStore.inMemory()
    func runWith(_ config: String, minute: Double) throws -> Int64 {
        let op = Synthetic.Op(name: "gemm", values: ["reference": [[100]]])
        let id = try Synthetic.run(store, ops: [op], info: {
            $0.startedAt = Date(timeIntervalSince1970: 1_700_000_000 + 60 * minute)
            $0.configJSON = config
        })
        try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: "aa")
        return id
    }
    let ids = [try runWith(#"{"processes":"10","counters":"none"}"#, minute: 1),   // as the runner writes it
               try runWith(#"{"processes":1}"#, minute: 2),                          // a number is read too
               try runWith("{}", minute: 3),                                        // not recorded
               try runWith(#"{"processes":"0"}"#, minute: 4),                        // not a count
               try runWith("not json", minute: 5)]
    let runs = try store.noiseRuns(machineKey: Synthetic.machine.key, keys: [gemmReference], excluding: [])
    #expect(runs.map(\.runID) == ids)
    #expect(runs.map(\.processes) == [10, 1, nil, nil, nil])
}

@Test func processMediansAreReadPerProcessFromTimeBatchesOfTheWantedRunsOnly() throws {
    let store = try ResultStore.inMemory()
    // Process 0: 100, 300 (simulated), 102 → median 101; process 1: 200, 204, 1 (below overhead) → 202.
    // Process 2: only a simulated batch → no median. Sample index counts over both variants.
    let values: [[Double]] = [[100, 300, 102], [200, 204, 1], [999]]
    let flags: (String, Int) -> SampleFlags = { variant, index in
        guard variant == "reference" else { return [] }
        switch index {
        case 1, 6: return .simulated
        case 5: return .belowOverhead
        default: return []
        }
    }
    let a = try run(store, minute: 1, values: values, hash: "aa", flags: flags)
    let b = try run(store, minute: 2, values: [[50, 60, 70]], hash: "aa")
    let runs = try store.noiseRuns(machineKey: Synthetic.machine.key, keys: [gemmReference, gemmOptimized], excluding: [])
    let filled = try store.readProcessMedians(runs, wanted: [gemmReference: [a]])
    let first = try #require(filled.first { $0.runID == a })
    #expect(first.processMedians[gemmReference] == [101, 202])
    #expect(first.processMedians[gemmOptimized] == nil)          // not asked for
    #expect(filled.first { $0.runID == b }?.processMedians.isEmpty == true)
    let all = try store.noiseRunSummaries(machineKey: Synthetic.machine.key, keys: [gemmOptimized], excluding: [])
    #expect(all.first { $0.runID == a }?.processMedians[gemmOptimized] == [51, 100, 499.5])
    #expect(all.first { $0.runID == b }?.processMedians[gemmOptimized] == [30])
}

@Test func processMediansLeaveOutPerIterationTimedBatchesWhenPlainOnesExist() throws {
    let store = try ResultStore.inMemory()
    // Edge-like op: every second batch is per-iteration timed (at 10× the time, as if its clock
    // reads were counted); the plain batches alone decide.
    let op = Synthetic.Op(name: "gemm", values: ["reference": [[100, 1000, 102, 1020]]])
    let id = try Synthetic.run(store, ops: [op], iterations: 4, latencies: { _, _, ns, n in
        ns < 500 ? nil : IterationLatencies(ns: Array(repeating: UInt32(ns), count: n), labels: Array(repeating: 0, count: n), overheadNs: 0)
    })
    try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: "aa")
    let runs = try store.noiseRunSummaries(machineKey: Synthetic.machine.key, keys: [gemmReference], excluding: [])
    #expect(runs.first?.processMedians[gemmReference] == [101])
}

@Test func noiseQueriesUseIndexes() throws {
    let store = try ResultStore.inMemory()
    let plans = try store.sqliteRead { db in
        func plan(_ sql: String, _ arguments: StatementArguments) throws -> String {
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String? ?? "" }.joined(separator: "\n")
        }
        return (try plan(ResultStore.opRunsSQL, ["tiny", "gemm"]), try plan(ResultStore.processBatchesSQL, [1, "tiny", "gemm", "reference"]))
    }
    // ops by name through the v10 index, never a scan of ops; batches by op through samples_op_sequence.
    #expect(plans.0.contains("ops_benchmark"), "\(plans.0)")
    #expect(!plans.0.contains("SCAN o"), "\(plans.0)")
    #expect(plans.1.contains("samples_op_sequence"), "\(plans.1)")
    #expect(!plans.1.contains("SCAN"), "\(plans.1)")
}

@Test func machineKeysMatchKeyIdOrCPUModel() throws {
    let store = try ResultStore.inMemory()
    var other = Synthetic.machine
    other.cpuModel = "Other CPU 1"
    try run(store, minute: 1, values: [[100]], hash: "aa")
    try run(store, minute: 2, values: [[100]], hash: "aa", machine: other)
    #expect(try store.machineKeys(matching: Synthetic.machine.key) == [Synthetic.machine.key])
    #expect(try store.machineKeys(matching: "other cpu") == [other.key])
    #expect(try store.machineKeys(matching: "CPU").count == 2)
    #expect(try store.machineKeys(matching: "m1") == [Synthetic.machine.key])
    #expect(try store.machineKeys(matching: "nothing").isEmpty)
}
