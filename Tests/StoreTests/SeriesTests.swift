// Series queries (Series.swift): which series exist, the points of one series, run tags and the
// v7 migration's backfill of op_variants.
import Foundation
import GRDB
import Testing
import BenchModel
import TestSupport
@testable import Store

/// One two-variant op `gemm` around `median` ns (optimized at half), 2 processes × 3 batches.
private func gemmOp(_ median: Double, seed: UInt64) -> Synthetic.Op {
    Synthetic.op("gemm", median: median, processes: 2, samples: 3, seed: seed)
}

@Test func seriesSplitByMachineCounterModeAndISA() throws {
    let store = try ResultStore.inMemory()
    var other = Synthetic.machine
    other.cpuModel = "Other CPU 1"
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 2)])
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 3)], machine: other)
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 4)], info: { $0.counterMode = .sim })
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 5)], info: { $0.isaBuilt = ["sse4.2"] })

    let all = try store.series(matching: nil, branch: nil, machine: nil)
    // 2 variants × (machine A none avx2, machine B, sim, sse4.2) = 8 series.
    #expect(all.count == 8)
    #expect(Set(all.map(\.id)).count == 8)
    let reference = try store.series(matching: "tiny/gemm/reference$", branch: nil, machine: nil)
    #expect(reference.count == 4)
    let mainSeries = try #require(reference.first { $0.cpuModel == Synthetic.machine.cpuModel && $0.counterMode == "none" && $0.isaFeatures == ["avx2", "fma"] })
    #expect(mainSeries.id.hasPrefix("tiny/gemm/reference@m"))
    #expect(mainSeries.id.hasSuffix("/none/avx2+fma"))
    let points = try store.seriesPoints(mainSeries, branch: nil, last: nil)
    #expect(points.map(\.runID) == [1, 2])
    #expect(points[0].samples.count == 6)
    #expect(points[0].processes == [0, 0, 0, 1, 1, 1])
    #expect(points[0].sampleGroups.count == 2)
    #expect(abs(Median.of(points[0].samples) - 1000) < 10)

    // --machine: by cpu model text (case-insensitive), by key, by id.
    #expect(try store.series(matching: "reference", branch: nil, machine: "other cpu").count == 1)
    #expect(try store.series(matching: "reference", branch: nil, machine: mainSeries.machineKey).count == 3)
    #expect(try store.series(matching: "reference", branch: nil, machine: "m\(mainSeries.machineID)").count == 3)
    #expect(try store.machineExists("Other CPU"))
    #expect(try !store.machineExists("no such machine"))
    // Unknown pattern: no series; a bad regular expression is an error.
    #expect(try store.series(matching: "nope", branch: nil, machine: nil).isEmpty)
    #expect(throws: StoreError.self) { try store.series(matching: "([", branch: nil, machine: nil) }
}

@Test func seriesPointsCarryProvenanceTagsAndHonourBranchAndLast() throws {
    let store = try ResultStore.inMemory()
    var ids: [Int64] = []
    for i in 0..<5 {
        let id = try Synthetic.run(store, ops: [gemmOp(1000 + Double(i) * 100, seed: UInt64(i))], label: "r\(i)", info: {
            $0.gitCommit = String(repeating: "\(i)", count: 40)
            $0.gitBranch = i % 2 == 0 ? "main" : "feature"
            $0.gitDirty = i == 4
        })
        ids.append(id)
    }
    try store.setRunTags(runID: ids[4], tags: ["ci": "nightly", "pr": "17"])
    let key = try #require(store.series(matching: "optimized", branch: nil, machine: nil).first)
    let all = try store.seriesPoints(key, branch: nil, last: nil)
    #expect(all.map(\.runID) == ids)  // oldest first
    #expect(all[4].tags == ["ci": "nightly", "pr": "17"])
    #expect(all[4].gitDirty == true)
    #expect(all[4].label == "r4")
    #expect(all[3].gitCommit == String(repeating: "3", count: 40))
    #expect(all[0].status == "complete")
    // Optimized runs at half the reference median.
    #expect(abs(Median.of(all[4].samples) - 700) < 10)
    let last2 = try store.seriesPoints(key, branch: nil, last: 2)
    #expect(last2.map(\.runID) == Array(ids.suffix(2)))
    let main = try store.seriesPoints(key, branch: "main", last: nil)
    #expect(main.map(\.runID) == [ids[0], ids[2], ids[4]])
    #expect(try store.series(matching: "optimized", branch: "nope", machine: nil).isEmpty)
    #expect(throws: StoreError.self) { try store.seriesPoints(key, branch: nil, last: 0) }
}

@Test func seriesPointsTakeDecisionBatchesAndInstructions() throws {
    let store = try ResultStore.inMemory()
    // Batch 0 of each variant is below the overhead, batch 1 simulated: both left out of the times.
    let instructions = { (variant: String, ns: Double, iterations: Int) -> [CounterValue] in
        [CounterValue(event: "instructions", value: Double(iterations) * (variant == "reference" ? 400 : 100), raw: 0,
                      timeEnabled: 1, timeRunning: 1, backend: .sim)]
    }
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 9)], flags: { _, index in
        switch index % 6 {
        case 0: return [.belowOverhead]
        case 1: return [.simulated]
        default: return []
        }
    }, counters: instructions, info: { $0.counterMode = .sim })
    let key = try #require(store.series(matching: "reference", branch: nil, machine: nil).first)
    let point = try #require(store.seriesPoints(key, branch: nil, last: nil).first)
    #expect(point.samples.count == 4)
    #expect(point.instructionsPerOp == 400)
    // A run without counters has no instruction count.
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 10)], info: { $0.counterMode = .sim })
    #expect(try store.seriesPoints(key, branch: nil, last: nil).last?.instructionsPerOp == nil)
}

@Test func seriesLeavesOutRunningRunsAndRunsWithoutUsableBatches() throws {
    let store = try ResultStore.inMemory()
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 2)], status: .running)
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 3)], status: .interrupted)
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 4)], flags: { _, _ in [.simulated] })
    let key = try #require(store.series(matching: "reference", branch: nil, machine: nil).first)
    let points = try store.seriesPoints(key, branch: nil, last: nil)
    #expect(points.map(\.runID) == [1, 3])
    #expect(points[1].status == "interrupted")
}

@Test func seriesPointsAreTheSameWhateverTheChunkOfRunsReadPerRound() throws {
    // Runs 3, 4 and 8 have no usable batch (all simulated); run 6 is tagged; every run counts
    // instructions. Read one run per round, three per round and all at once, in pages of one run,
    // two and more: the same points.
    let store = try ResultStore.inMemory()
    let instructions = { (variant: String, ns: Double, iterations: Int) -> [CounterValue] in
        [CounterValue(event: "instructions", value: Double(iterations) * ns, raw: 0, timeEnabled: 1, timeRunning: 1, backend: .sim)]
    }
    var ids: [Int64] = []
    for i in 0..<10 {
        let unusable = [3, 4, 8].contains(i)
        ids.append(try Synthetic.run(store, ops: [gemmOp(1000 + Double(10 * i), seed: UInt64(i))],
                                     flags: { _, _ in unusable ? [.simulated] : [] }, counters: instructions,
                                     info: { $0.counterMode = .sim }))
    }
    try store.setRunTags(runID: ids[6], tags: ["ci": "nightly"])
    let key = try #require(store.series(matching: "reference", branch: nil, machine: nil).first)
    let usable = ids.enumerated().filter { ![3, 4, 8].contains($0.offset) }.map(\.element)
    for last in [nil, 1, 4, 7, 20] as [Int?] {
        let whole = try store.seriesPoints(key, branch: nil, last: last, chunk: 500)
        #expect(whole.map(\.runID) == Array(usable.suffix(last ?? usable.count)), "last \(String(describing: last))")
        for chunk in [1, 3] {
            for page in [1, 2, 64] {
                #expect(try store.seriesPoints(key, branch: nil, last: last, chunk: chunk, minimumPage: page) == whole,
                        "chunk \(chunk), page \(page), last \(String(describing: last))")
            }
        }
    }
    let all = try store.seriesPoints(key, branch: nil, last: nil)
    #expect(all.first { $0.runID == ids[6] }?.tags == ["ci": "nightly"])
    #expect(all.allSatisfy { $0.tags.isEmpty || $0.runID == ids[6] })
    #expect(all.allSatisfy { $0.instructionsPerOp != nil && $0.samples.count == 6 })
}

@Test func tagsAreValidated() throws {
    #expect(try RunTags.parse("ci=nightly") == ("ci", "nightly"))
    #expect(try RunTags.parse("pr.number=a=b") == ("pr.number", "a=b"))
    #expect(try RunTags.parse("empty=") == ("empty", ""))
    for bad in ["noequals", "=value", "1key=v", "key with space=v", "ké=v", "k=\u{1}", "k=line\nbreak",
                String(repeating: "k", count: 65) + "=v", "k=" + String(repeating: "v", count: 257)] {
        #expect(throws: StoreError.self, "\(bad)") { try RunTags.parse(bad) }
    }
    let store = try ResultStore.inMemory()
    #expect(throws: StoreError.self) { try store.setRunTags(runID: 99, tags: ["a": "b"]) }
    let id = try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    #expect(throws: StoreError.self) { try store.setRunTags(runID: id, tags: ["bad key": "b"]) }
    try store.setRunTags(runID: id, tags: ["a": "1"])
    try store.setRunTags(runID: id, tags: ["a": "2", "b": "3"])
    #expect(try store.runTags(runID: id) == ["a": "2", "b": "3"])
}

@Test func v7MigrationFillsOpVariantsOfEarlierRuns() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-series-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("r.db").path
    do {
        let store = try ResultStore(path: path)
        try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    }
    // Undo v7 as a database written by the previous build would look.
    let queue = try DatabaseQueue(path: path)
    try queue.write { db in
        try db.execute(sql: """
            DROP TABLE op_variants; DROP TABLE run_tags; DROP TABLE series; DROP INDEX runs_series;
            DELETE FROM grdb_migrations WHERE identifier = 'v7-run-tags-series';
            PRAGMA user_version = \(Schema.knownVersion - 1);
            """)
    }
    try queue.close()
    let store = try ResultStore(path: path)
    #expect(try store.schemaVersion() == Schema.knownVersion)
    let keys = try store.series(matching: nil, branch: nil, machine: nil)
    #expect(keys.map(\.benchmark.description) == ["tiny/gemm/optimized", "tiny/gemm/reference"])
}

@Test func seriesPointsQueryUsesTheSeriesIndex() throws {
    let store = try ResultStore.inMemory()
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    let plan = try store.sqliteRead { db in
        try Row.fetchAll(db, sql: """
            EXPLAIN QUERY PLAN
            SELECT r.id FROM runs r INDEXED BY runs_series JOIN ops o ON o.run_id = r.id AND o.suite = 'a' AND o.name = 'b'
            WHERE r.machine_id = 1 AND r.counter_mode = 'none' AND r.isa_built = '[]' ORDER BY r.id DESC
            """).map { $0["detail"] as String }.joined(separator: "\n")
    }
    #expect(!plan.contains("SCAN"), "\(plan)")
}

@Test func seriesLeavesOutAgainstBaseSidesAndInjectedSlowdowns() throws {
    let store = try ResultStore.inMemory()
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)])
    let base = try Synthetic.run(store, ops: [gemmOp(2000, seed: 2)])
    try store.setRunMeta(runID: base, key: "worker.executable", value: "/tmp/fusebench-base")   // gate --against's base side
    let injected = try Synthetic.run(store, ops: [gemmOp(1050, seed: 3)])
    try store.setRunMeta(runID: injected, key: "inject_slowdown", value: "tiny/gemm=5.0%")
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 4)])
    let key = try #require(store.series(matching: "reference", branch: nil, machine: nil).first)
    #expect(try store.seriesPoints(key, branch: nil, last: nil).map(\.runID) == [1, 4])
}

@Test func numericMachineTextNamesAnIdNotACPUModelSubstring() throws {
    let store = try ResultStore.inMemory()
    var other = Synthetic.machine
    other.cpuModel = "AMD EPYC (family 23, model 1) 3"
    try Synthetic.run(store, ops: [gemmOp(1000, seed: 1)], machine: other)
    let key = try #require(store.series(matching: "reference", branch: nil, machine: nil).first)
    #expect(try store.series(matching: "reference", branch: nil, machine: "\(key.machineID)").count == 1)
    #expect(try store.series(matching: "reference", branch: nil, machine: "3").isEmpty)
    #expect(try store.series(matching: "reference", branch: nil, machine: "m23").isEmpty)
    #expect(try store.series(matching: "reference", branch: nil, machine: "family 23").count == 1)
}
